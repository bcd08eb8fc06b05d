"""Window (leadping_nb._core.window), the metric functions' window=, and the lead timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import leadping_nb as lp
from leadping_nb import metrics as m
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb.emulator import events_frame
from leadping_nb.figures import STEP_MARKERS, lead_timeline_figure
from leadping_nb.reports import BillingReport, DeliveryReport

Window = lp.Window
BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------
# constructors


def test_last_days_are_whole_local_days_before_today() -> None:
    w = Window.last(days=7, time_zone=BERLIN, now=utc(2026, 12, 2, 9, 30))
    assert (w.start, w.end) == (utc(2026, 11, 24, 23), utc(2026, 12, 1, 23))
    assert w.label == "last 7 days (Europe/Berlin): 2026-11-25 – 2026-12-01"
    assert w.days == (date(2026, 11, 25), date(2026, 12, 1))
    assert w.name == "last 7 days" and str(w) == w.label


def test_today_is_read_in_the_zone() -> None:
    # 23:30 UTC on 30 November is already 1 December in Berlin
    now = utc(2026, 11, 30, 23, 30)
    assert Window.last(days=1, time_zone=BERLIN, now=now).days == (
        date(2026, 11, 30),
        date(2026, 11, 30),
    )
    assert Window.last(days=1, time_zone="UTC", now=now).days == (
        date(2026, 11, 29),
        date(2026, 11, 29),
    )
    assert Window.today(time_zone=BERLIN, now=now).label == "today (Europe/Berlin): 2026-12-01"


def test_last_days_across_the_spring_dst_change_in_berlin() -> None:
    # 29 March 2026: clocks go from 02:00 CET to 03:00 CEST, a 23-hour day
    w = Window.last(days=1, time_zone=BERLIN, now=utc(2026, 3, 30, 12))
    assert (w.start, w.end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert w.end - w.start == timedelta(hours=23)
    week = Window.last(days=7, time_zone=BERLIN, now=utc(2026, 3, 30, 12))
    assert week.end - week.start == timedelta(days=7, hours=-1)


def test_last_days_across_the_autumn_dst_change_in_berlin() -> None:
    # 25 October 2026: clocks go from 03:00 CEST back to 02:00 CET, a 25-hour day
    w = Window.last(days=1, time_zone=BERLIN, now=utc(2026, 10, 26, 12))
    assert (w.start, w.end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert w.end - w.start == timedelta(hours=25)


def test_last_month_in_berlin_spans_the_autumn_change() -> None:
    w = Window.last_month(time_zone=BERLIN, now=utc(2026, 11, 1, 12))
    assert (w.start, w.end) == (utc(2026, 9, 30, 22), utc(2026, 10, 31, 23))
    assert w.end - w.start == timedelta(days=31, hours=1)
    assert w.label == "last month (Europe/Berlin): 2026-10-01 – 2026-10-31"


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        (utc(2026, 1, 15), date(2025, 12, 1), date(2025, 12, 31)),  # across the year
        (utc(2026, 3, 10), date(2026, 2, 1), date(2026, 2, 28)),
        (utc(2024, 3, 10), date(2024, 2, 1), date(2024, 2, 29)),  # leap year
        (utc(2026, 5, 31, 23), date(2026, 5, 1), date(2026, 5, 31)),  # 1 June in Berlin
        (utc(2026, 12, 31, 23), date(2026, 12, 1), date(2026, 12, 31)),  # 1 Jan in Berlin
    ],
)
def test_last_month_ends(now: datetime, first: date, last: date) -> None:
    w = Window.last_month(time_zone=BERLIN, now=now)
    assert w.days == (first, last)
    zone = ZoneInfo(BERLIN)
    assert w.start == datetime.combine(first, datetime.min.time(), zone).astimezone(UTC)
    after = last + timedelta(days=1)
    assert w.end == datetime.combine(after, datetime.min.time(), zone).astimezone(UTC)


def test_this_month_at_a_month_end() -> None:
    w = Window.this_month(time_zone=BERLIN, now=utc(2026, 10, 31, 23, 30))  # 1 Nov local
    assert w.days == (date(2026, 11, 1), date(2026, 11, 30))
    assert Window.this_month(time_zone="UTC", now=utc(2026, 12, 31, 23, 59)).days == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )


def test_a_midnight_that_dst_skips_starts_at_the_end_of_the_gap() -> None:
    # America/Havana skipped 00:00-01:00 on 13 March 2022: the day starts at 01:00 CDT
    w = Window.between(date(2022, 3, 13), date(2022, 3, 14), time_zone="America/Havana")
    assert w.start == utc(2022, 3, 13, 5)  # 01:00 CDT, the first instant of the day
    assert w.end - w.start == timedelta(hours=23)
    # the same rule as metrics.period: the day's period starts there too
    frame = pl.DataFrame({"created_at": [w.start]}, schema={"created_at": pl.Datetime("us", "UTC")})
    assert frame.select(m.period("day", "America/Havana")).item() == w.start


def test_between_dates_and_aware_datetimes() -> None:
    w = Window.between(date(2026, 11, 1), date(2026, 12, 1), time_zone=BERLIN)
    assert (w.start, w.end) == (utc(2026, 10, 31, 23), utc(2026, 11, 30, 23))
    assert w.label == "2026-11-01 – 2026-11-30 (Europe/Berlin)"
    plus2 = datetime(2026, 11, 1, 8, tzinfo=ZoneInfo("Africa/Cairo"))
    x = Window.between(plus2, utc(2026, 11, 2, 17, 30, 5), time_zone=BERLIN)
    assert x.start == utc(2026, 11, 1, 6) and x.start.tzinfo is UTC
    assert x.label == "2026-11-01 07:00 – 2026-11-02 18:30:05 (end excluded) (Europe/Berlin)"
    assert x.days is None
    assert Window.between(None, date(2026, 1, 1)).label == "open – 2025-12-31 (UTC)"


def test_contains_and_predicate_are_half_open() -> None:
    w = Window.between(utc(2026, 1, 1), utc(2026, 1, 2))
    assert w.contains(utc(2026, 1, 1)) and not w.contains(utc(2026, 1, 2))
    assert w.contains(utc(2026, 1, 1, 23, 59, 59, 999999))
    ts = [utc(2025, 12, 31, 23, 59, 59, 999999), utc(2026, 1, 1), utc(2026, 1, 2), None]
    df = pl.DataFrame({"created_at": ts}, schema={"created_at": pl.Datetime("us", "UTC")})
    assert df.select(w.predicate()).to_series().to_list() == [False, True, False, False]


# ---------------------------------------------------------------------------------------
# the parser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("last 7 days", ("last 7 days", date(2026, 11, 25), date(2026, 12, 1))),
        ("  LAST   30  DAYS ", ("last 30 days", date(2026, 11, 2), date(2026, 12, 1))),
        ("last 1 day", ("last day", date(2026, 12, 1), date(2026, 12, 1))),
        ("last day", ("last day", date(2026, 12, 1), date(2026, 12, 1))),
        ("today", ("today", date(2026, 12, 2), date(2026, 12, 2))),
        ("this month", ("this month", date(2026, 12, 1), date(2026, 12, 31))),
        ("Last Month", ("last month", date(2026, 11, 1), date(2026, 11, 30))),
        ("2026-11-01..2026-12-01", ("", date(2026, 11, 1), date(2026, 11, 30))),
        (" 2026-11-01 .. 2026-11-02 ", ("", date(2026, 11, 1), date(2026, 11, 1))),
    ],
)
def test_parse(text: str, expected: tuple[str, date, date]) -> None:
    w = Window.parse(text, time_zone=BERLIN, now=utc(2026, 12, 2, 9))
    assert (w.name, *(w.days or ())) == expected
    assert w.time_zone == BERLIN


def test_parse_explicit_bounds() -> None:
    w = Window.parse("2026-11-01T06:00Z..2026-11-01T12:00+01:00", time_zone=BERLIN)
    assert (w.start, w.end) == (utc(2026, 11, 1, 6), utc(2026, 11, 1, 11))
    # without an offset a date-time is read in the zone
    naive = Window.parse("2026-07-01T08:00..", time_zone=BERLIN)
    assert (naive.start, naive.end) == (utc(2026, 7, 1, 6), None)
    assert Window.parse("..2026-01-01").bounds == (None, utc(2026, 1, 1))
    assert Window.parse("2026-11-01..").label == "2026-11-01 – open (UTC)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("last week", "expected one of"),
        ("last 0 days", "at least 1"),
        ("last -3 days", "expected one of"),
        ("", "expected one of"),
        ("..", "give a start, an end or both"),
        ("2026-12-01..2026-11-01", "must be before"),
        ("2026-11-01..2026-11-01", "must be before"),
        ("2026-02-30..2026-03-01", "not an ISO date"),
        ("2026-11-01..2026-12-01..2027-01-01", "one '..'"),
        ("yesterday..today", "not an ISO date"),
    ],
)
def test_parse_refuses_bad_text(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window.parse(text, time_zone=BERLIN, now=utc(2026, 12, 2))


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        Window.between(datetime(2026, 1, 1), None)
    with pytest.raises(ValueError, match="naive datetime"):
        Window.between(date(2026, 1, 1), datetime(2026, 2, 1))
    with pytest.raises(ValueError, match="needs a start or an end"):
        Window.between(None, None)
    with pytest.raises(ValueError, match="must be before"):
        Window.between(date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        Window.last(time_zone="Mars/Base")
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        Window.last_month(now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="at least 1"):
        Window.last(days=0)
    with pytest.raises(TypeError, match="days must be an int"):
        Window.last(days=7.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="date or a timezone-aware datetime"):
        Window.between("2026-01-01", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a str"):
        Window.parse(7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), None)


def test_window_is_frozen_and_hashable() -> None:
    w = Window.parse("2026-11-01..2026-12-01")
    assert w == Window.between(date(2026, 11, 1), date(2026, 12, 1))
    assert len({w, Window.between(date(2026, 11, 1), date(2026, 12, 1))}) == 1
    with pytest.raises(AttributeError):
        w.start = None  # type: ignore[misc]


def test_last_uses_the_current_time_by_default() -> None:
    before = datetime.now(UTC)
    w = Window.last(days=3, time_zone=BERLIN)
    after = datetime.now(UTC)
    assert w.end is not None and before - timedelta(days=1) <= w.end <= after


# ---------------------------------------------------------------------------------------
# the metric functions' window=


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return events_frame(0, 4000)


WINDOW = Window.last_month(time_zone=BERLIN, now=utc(2026, 11, 1, 12))


def test_window_counts_equal_filtering_by_hand(frame: pl.DataFrame) -> None:
    start, end = WINDOW.bounds
    assert start is not None and end is not None
    by_hand = frame.filter((pl.col("created_at") >= start) & (pl.col("created_at") < end))
    assert 0 < by_hand.height < frame.height
    as_of = utc(2026, 11, 1, 12)
    cases = [
        (m.outcome_counts, {}),
        (m.delivery_summary, {"by": "campaign_id"}),
        (m.latency_summary, {"every": "week", "time_zone": BERLIN}),
        (m.retry_summary, {"as_of": as_of}),
        (m.retry_distribution, {"as_of": as_of}),
        (m.billing_summary, {}),
    ]
    for fn, kw in cases:
        got = fn(frame, window=WINDOW, **kw)  # type: ignore[operator]
        assert_frame_equal(got, fn(by_hand, **kw))  # type: ignore[operator]
        lazy = fn(frame.lazy(), window=WINDOW, **kw).collect()  # type: ignore[operator]
        assert_frame_equal(lazy, got)
    s = m.summary(frame, window=WINDOW, as_of=as_of, by="source_id")
    t = m.summary(by_hand, as_of=as_of, by="source_id")
    for name in ("outcomes", "delivery", "latency", "retry", "billing", "billing_total", "counts"):
        assert_frame_equal(getattr(s, name), getattr(t, name))
    assert s.counts["n_events"][0] == by_hand.height


def test_window_uses_period_column(frame: pl.DataFrame) -> None:
    start, end = WINDOW.bounds
    by_sent = frame.filter(WINDOW.predicate("sent_at"))
    got = m.delivery_summary(frame, window=WINDOW, period_column="sent_at")
    assert_frame_equal(got, m.delivery_summary(by_sent, period_column="sent_at"))
    assert start is not None and end is not None


def test_window_must_be_a_window(frame: pl.DataFrame) -> None:
    with pytest.raises(TypeError, match=r"leadping_nb\.Window"):
        m.summary(frame, window=(utc(2026, 1, 1), None))  # type: ignore[arg-type]


def test_hand_built_window_filter() -> None:
    # 3 outbound messages: one before, one inside, one at the (excluded) end
    w = Window.between(date(2026, 1, 1), date(2026, 1, 2))
    times = [utc(2025, 12, 31, 23, 59), utc(2026, 1, 1, 12), utc(2026, 1, 2)]
    df = pl.DataFrame(
        [{"direction": "Outbound", "created_at": t, "delivered_at": t} for t in times],
        schema=EVENT_SCHEMA,
    )
    assert m.delivery_summary(df, window=w)["n_delivered"].item() == 1
    assert m.delivery_summary(df)["n_delivered"].item() == 3


# ---------------------------------------------------------------------------------------
# reports


def test_reports_accept_a_window_and_record_its_label(frame: pl.DataFrame) -> None:
    as_of = utc(2026, 11, 1, 12)
    d = DeliveryReport.from_frame(frame, window=WINDOW, time_zone=BERLIN, as_of=as_of)
    pair = DeliveryReport.from_frame(frame, window=WINDOW.bounds, time_zone=BERLIN, as_of=as_of)
    assert d.meta.window == WINDOW.bounds == pair.meta.window
    assert d.meta.window_label == WINDOW.label and pair.meta.window_label == ""
    assert d.meta.n_events == pair.meta.n_events == frame.filter(WINDOW.predicate()).height
    assert d.meta.n_outside_window == frame.height - d.meta.n_events
    assert d.kpis["delivery_rate"].value == pair.kpis["delivery_rate"].value
    html = d.to_html()
    assert "last month (Europe/Berlin): 2026-10-01 – 2026-10-31" in html
    b = BillingReport.from_frame(frame, window=WINDOW, time_zone=BERLIN, as_of=as_of)
    assert b.meta.window_label == WINDOW.label
    assert (
        b.kpis["total_amount"].value
        == m.billing_summary(frame, window=WINDOW, by=())["total_amount"].item()
    )


# ---------------------------------------------------------------------------------------
# lead_timeline


T0 = utc(2026, 11, 2, 9)
S = timedelta(seconds=1)


def timeline_frame() -> pl.DataFrame:
    rows = [
        # a failed first attempt with a retry due, created second
        {
            "id": "m2",
            "lead_id": "L1",
            "event_type": "Sms",
            "direction": "Outbound",
            "traffic_type": "RealLead",
            "status": "Failed",
            "created_at": T0 + 60 * S,
            "queued_at": T0 + 60 * S,
            "sending_started_at": T0 + 61 * S,
            "failed_at": T0 + 63 * S,
            "retry_count": 2,
            "next_retry_at": T0 + 900 * S,
            "error_code": "30003",
            "billing_status": "NotBillable",
        },
        # a scheduled, delivered message created first
        {
            "id": "m1",
            "lead_id": "L1",
            "event_type": "Sms",
            "direction": "Outbound",
            "status": "Delivered",
            "created_at": T0,
            "scheduled_for": T0 + 10 * S,
            "queued_at": T0 + 10 * S,
            "sending_started_at": T0 + 12 * S,
            "sent_at": T0 + 13 * S,
            "delivered_at": T0 + 20 * S,
            "retry_count": 0,
            "billing_status": "Billed",
            "billable_amount": Decimal("0.0079"),
        },
        # the lead's reply
        {
            "id": "m3",
            "lead_id": "L1",
            "event_type": "Sms",
            "direction": "Inbound",
            "created_at": T0 + 120 * S,
            "received_at": T0 + 120 * S,
            "billing_status": "Billed",
            "billable_amount": Decimal("0.004"),
        },
        # not messages: a call of the lead, and another lead's message
        {"id": "c1", "lead_id": "L1", "event_type": "Call", "created_at": T0 + 5 * S},
        {
            "id": "x1",
            "lead_id": "L2",
            "event_type": "Mms",
            "direction": "Outbound",
            "created_at": T0,
            "delivered_at": T0,
        },
    ]
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


def test_lead_timeline_rows_exactly() -> None:
    tl = m.lead_timeline(timeline_frame(), "L1")
    assert tl.columns == list(m.TIMELINE_COLUMNS)
    assert tl.schema["message"] == pl.UInt32
    assert tl.schema["billable_amount"] == lp.MONEY_DTYPE
    assert tl.schema["queued_at"] == lp.TIMESTAMP_DTYPE
    cols = ["message", "id", "direction", "outcome", "retry_count", "next_retry_at"]
    assert tl.select(cols).rows() == [
        (1, "m1", "Outbound", "delivered", 0, None),
        (2, "m2", "Outbound", "failed", 2, T0 + 900 * S),
        (3, "m3", "Inbound", "inbound", None, None),
    ]
    durations = ["queue_ms", "send_ms", "carrier_ms", "end_to_end_ms", "schedule_lag_ms"]
    assert tl.select(durations).rows() == [
        (2000.0, 1000.0, 7000.0, 10000.0, 2000.0),
        (1000.0, None, None, None, None),
        (None, None, None, None, None),
    ]
    assert tl.select("billing_status", "billable_amount").rows() == [
        ("Billed", Decimal("0.0079")),
        ("NotBillable", None),
        ("Billed", Decimal("0.004")),
    ]
    first = tl.row(0, named=True)
    assert [first[c] for c in m.LIFECYCLE_COLUMNS] == [
        T0 + 10 * S,
        T0 + 10 * S,
        T0 + 12 * S,
        T0 + 13 * S,
        T0 + 20 * S,
        None,
        None,
        None,
        None,
        None,
    ]
    assert tl.row(1, named=True)["error_code"] == "30003"
    assert tl.row(2, named=True)["received_at"] == T0 + 120 * S
    # a LazyFrame gives the same
    assert_frame_equal(m.lead_timeline(timeline_frame().lazy(), "L1"), tl)


def test_lead_timeline_ties_and_missing_created_at() -> None:
    rows = [
        {"id": i, "lead_id": "L", "event_type": "Sms", "direction": "Outbound", "created_at": t}
        for i, t in (("b", T0), ("z", None), ("a", T0), ("c", T0 - S))
    ]
    tl = m.lead_timeline(pl.DataFrame(rows, schema=EVENT_SCHEMA), "L")
    assert tl["id"].to_list() == ["c", "a", "b", "z"]


def test_lead_timeline_of_a_lead_without_messages_is_empty() -> None:
    df = timeline_frame().filter(pl.col("id") == "c1")
    tl = m.lead_timeline(df, "L1")
    assert tl.height == 0 and tl.columns == list(m.TIMELINE_COLUMNS)


def test_lead_timeline_unknown_lead_is_a_clear_error() -> None:
    with pytest.raises(
        ValueError, match=r"lead 'L9' is not in the frame \(2 leads in it: 'L1', 'L2'\)"
    ):
        m.lead_timeline(timeline_frame(), "L9")
    with pytest.raises(ValueError, match="it holds no lead ids"):
        m.lead_timeline(timeline_frame().clear(), "L1")
    with pytest.raises(TypeError, match="lead_id must be a str"):
        m.lead_timeline(timeline_frame(), 1)  # type: ignore[arg-type]


def test_lead_timeline_of_emulator_data_follows_the_frame(frame: pl.DataFrame) -> None:
    lead = frame["lead_id"][0]
    tl = m.lead_timeline(frame, lead)
    mine = frame.filter((pl.col("lead_id") == lead) & m.is_message())
    assert tl.height == mine.height and set(tl["id"]) == set(mine["id"])
    assert tl["created_at"].is_sorted()
    assert tl["message"].to_list() == list(range(1, tl.height + 1))


# ---------------------------------------------------------------------------------------
# the figure


def _lanes(fig: object) -> list[str]:
    ax = fig.axes[0]  # type: ignore[attr-defined]
    return [str(a.get_gid()) for a in ax.get_lines() if str(a.get_gid()).startswith("lane-")]


def test_timeline_figure_draws_one_lane_per_message() -> None:
    from matplotlib.figure import Figure

    fig = lead_timeline_figure(timeline_frame(), "L1", time_zone=BERLIN)
    assert isinstance(fig, Figure)
    assert _lanes(fig) == ["lane-1", "lane-2", "lane-3"]
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "#1 Sms outbound (delivered)",
        "#2 Sms outbound (failed, 2 retries)",
        "#3 Sms inbound (inbound)",
    ]
    gids = [str(a.get_gid()) for a in ax.get_lines()]
    # the steps each message passed, and the pending retry
    assert gids.count("step-queued_at") == 2 and gids.count("step-delivered_at") == 1
    assert gids.count("step-failed_at") == 1 and gids.count("step-received_at") == 1
    assert gids.count("step-next_retry_at") == 1 and gids.count("step-scheduled_for") == 1
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == [  # the steps drawn, in lifecycle order
        "scheduled for",
        "queued",
        "sending",
        "sent",
        "delivered",
        "failed",
        "received (inbound)",
        "next retry due",
    ]
    assert set(texts) <= {label for _m, _c, label in STEP_MARKERS.values()}
    assert "Europe/Berlin" in ax.get_xlabel()


def test_timeline_figure_caps_lanes_and_handles_no_messages() -> None:
    fig = lead_timeline_figure(timeline_frame(), "L1", max_lanes=2)
    assert _lanes(fig) == ["lane-1", "lane-2"]
    assert "first 2 of 3 messages" in fig.axes[0].get_title()
    empty = lead_timeline_figure(timeline_frame().filter(pl.col("id") == "c1"), "L1")
    texts = [t.get_text() for t in empty.axes[0].texts]
    assert any(t.startswith("No data") for t in texts)
    with pytest.raises(ValueError, match="not in the frame"):
        lead_timeline_figure(timeline_frame(), "nobody")
    with pytest.raises(ValueError, match="max_lanes"):
        lead_timeline_figure(timeline_frame(), "L1", max_lanes=0)
