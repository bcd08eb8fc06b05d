"""Widget logic without a browser or a kernel: set values, click, assert state and outputs.

ipywidgets 8 + comm work in plain pytest: observers fire, ``Button.click()`` runs the
handlers. Every test closes its widgets (``Widget.close_all()``).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import ipywidgets as widgets
import ipywidgets.widgets.widget as widget_module
import numpy as np
import polars as pl
import pytest
import traitlets

from leadping_nb import AuthError, Client, EventQuery, QueryError, figures, metrics
from leadping_nb._http.transport import RetryPolicy
from leadping_nb.emulator import Emulator, FaultConfig, events_frame
from leadping_nb.figures import _base as fb
from leadping_nb.figures import _latency as fl
from leadping_nb.widgets import (
    Debouncer,
    EventCache,
    EventExplorer,
    FigureSpec,
    FilterPanel,
    FilterState,
    LeadPicker,
    check_lead_ids,
    compute_kpis,
    default_figures,
    parse_lead_ids,
    utc_range,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_widgets() -> Iterator[None]:
    yield
    widgets.Widget.close_all()


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return Emulator(seed=1, n_leads=8, heavy_leads=0)


@pytest.fixture
def client(emu: Emulator) -> Iterator[Client]:
    with emu.client() as c:
        yield c


@pytest.fixture(scope="module")
def frame(emu: Emulator) -> pl.DataFrame:
    with emu.client() as c:
        return c.fetch_events(emu.lead_ids()).frame


class FakeTimer:
    def __init__(self, sched: FakeScheduler, delay: float, fn: Callable[[], None]) -> None:
        self.sched, self.delay, self.fn, self.cancelled = sched, delay, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeScheduler:
    """Collects ``call_later`` calls; the test decides when they fire."""

    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self, delay, callback)
        self.timers.append(timer)
        return timer

    def run_due(self) -> int:
        due = [t for t in self.timers if not t.cancelled]
        self.timers = []
        for t in due:
            t.fn()
        return len(due)


class RecordingLeads:
    """A lead source recording its searches (wraps a real client)."""

    def __init__(self, client: Client, delay: Callable[[str | None], float] | None = None):
        self.client = client
        self.searches: list[str | None] = []
        self.delay = delay

    def leads(self, search: str | None = None, **kwargs: Any) -> pl.DataFrame:
        self.searches.append(search)
        if self.delay is not None:
            time.sleep(self.delay(search))
        return self.client.leads(search, **kwargs)


def png_of(out: widgets.Output) -> bytes:
    (output,) = out.outputs
    data = base64.b64decode(output["data"]["image/png"])
    assert data.startswith(PNG)
    return data


def pages_shown(ex: EventExplorer) -> int:
    text = ex.progress_text.value
    return int(text.split('data-pages="')[1].split('"')[0]) if "data-pages" in text else 0


def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


# ---------------------------------------------------------------------------------------
# plain state


def test_utc_range_is_half_open_local_days() -> None:
    lo, hi = utc_range(date(2024, 5, 1), date(2024, 5, 31), "America/New_York")
    assert lo == datetime(2024, 5, 1, 4, tzinfo=UTC)
    assert hi == datetime(2024, 6, 1, 4, tzinfo=UTC)
    assert utc_range(None, None, "UTC") == (None, None)
    assert utc_range(date(2024, 1, 1), None) == (datetime(2024, 1, 1, tzinfo=UTC), None)


@pytest.mark.parametrize(
    ("day", "zone", "hours"),
    [
        (date(2024, 3, 31), "Europe/Berlin", 23),  # spring forward
        (date(2024, 10, 27), "Europe/Berlin", 25),  # fall back
        (date(2024, 3, 10), "America/New_York", 23),
        (date(2018, 11, 4), "America/Sao_Paulo", 23),  # local midnight does not exist
        (date(2024, 3, 31), "UTC", 24),
    ],
)
def test_utc_range_covers_dst_days_exactly(day: date, zone: str, hours: int) -> None:
    lo, hi = utc_range(day, day, zone)
    assert lo is not None and hi is not None
    assert (hi - lo).total_seconds() == hours * 3600
    # the bounds are the first instants of the local days
    assert lo.astimezone(ZoneInfo(zone)).date() == day


def test_utc_range_rejects_end_before_start_and_unknown_zone() -> None:
    with pytest.raises(QueryError, match="before the start"):
        utc_range(date(2024, 5, 2), date(2024, 5, 1))
    with pytest.raises(QueryError, match="not an IANA time zone"):
        utc_range(date(2024, 5, 2), None, "Mars/Olympus")


def test_filter_state_to_query_sends_single_values_and_range() -> None:
    state = FilterState(
        start=date(2024, 3, 31),
        end=date(2024, 3, 31),
        time_zone="Europe/Berlin",
        event_types=("Sms", "Mms"),  # two values: filtered locally, not sent
        directions=("Outbound",),
        campaigns=("cmp_1005",),
        search="stop",
        search_fields=("summary",),
        page_size=500,
    )
    assert state.to_query() == EventQuery(
        page_size=500,
        search="stop",
        search_fields=["summary"],
        filters=[("direction", "Outbound"), ("campaignId", "cmp_1005")],
        range_filters={
            "createdAt": {
                "ge": datetime(2024, 3, 30, 23, tzinfo=UTC),
                "lt": datetime(2024, 3, 31, 22, tzinfo=UTC),
            }
        },
    )
    assert FilterState().to_query().to_body() == {"pageSize": 100}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (FilterState(start=date(2024, 5, 2), end=date(2024, 5, 1)), "before the start"),
        (FilterState(search="x", search_fields=()), "at least one field"),
        (FilterState(page_size=0), "outside 1-1000"),
        (FilterState(page_size=1001), "outside 1-1000"),
    ],
)
def test_filter_state_problems(state: FilterState, message: str) -> None:
    (problem,) = state.problems()
    assert message in problem
    with pytest.raises(QueryError):
        state.to_query()


@pytest.mark.parametrize(
    "state",
    [
        FilterState(directions=("Outbound",)),
        FilterState(event_types=("Sms",), statuses=("Delivered",)),
        FilterState(start=date(2026, 9, 1), end=date(2026, 9, 30), time_zone="Asia/Tokyo"),
        FilterState(search="STOP", search_fields=("summary", "description")),
        FilterState(campaigns=("cmp_1005",), sources=("src_ref5",)),
    ],
)
def test_local_predicate_matches_the_server(
    state: FilterState, emu: Emulator, client: Client, frame: pl.DataFrame
) -> None:
    """Filtering the cache locally gives exactly what the server returns for the query."""
    server = client.fetch_events(emu.lead_ids(), state.to_query()).frame
    predicate = state.local_predicate()
    assert predicate is not None
    local = frame.filter(predicate)
    assert server.height > 0
    assert sorted(local["id"].to_list()) == sorted(server["id"].to_list())


@pytest.mark.parametrize("term", ["STOP", "call", "é", "voicemail (2", "zzz-none"])
def test_cache_search_matches_the_predicate(term: str, frame: pl.DataFrame) -> None:
    """The cache's prepared search (distinct values, lower-cased) equals the plain one."""
    cache = EventCache(frame, fetched=FilterState(), lead_ids=frame["lead_id"].unique())
    fields = ("summary", "description", "eventType", "id")  # "id": mostly distinct values
    state = FilterState(search=term, search_fields=fields)
    predicate = state.local_predicate()
    assert predicate is not None
    expected = frame.filter(predicate)["id"].sort().to_list()
    mask = cache.mask(state, ())
    assert mask is not None
    assert cache.events.filter(mask)["id"].sort().to_list() == expected


def test_multi_value_dimension_is_filtered_locally(frame: pl.DataFrame) -> None:
    state = FilterState(event_types=("Sms", "Call"))
    assert "filters" not in state.to_query().to_body()
    predicate = state.local_predicate()
    assert predicate is not None
    kept = frame.filter(predicate)
    assert set(kept["event_type"].unique().to_list()) == {"Sms", "Call"}
    assert FilterState().local_predicate() is None


def test_not_covered_by() -> None:
    fetched = FilterState(
        start=date(2024, 5, 1),
        end=date(2024, 5, 31),
        directions=("Outbound",),
        search="stop",
        search_fields=("summary",),
    )
    narrower = FilterState(
        start=date(2024, 5, 10),
        end=date(2024, 5, 20),
        directions=("Outbound",),
        event_types=("Sms",),
        search="Stop now",
        search_fields=("summary",),
    )
    assert narrower.not_covered_by(fetched) == []
    wider = FilterState(start=date(2024, 4, 1), search="st", search_fields=("summary",))
    reasons = wider.not_covered_by(fetched)
    assert reasons == [
        "date range: fetched from 2024-05-01 only",
        "date range: fetched until 2024-05-31 only",
        "direction: fetched only Outbound",
        "search: fetched only events matching 'stop'",
    ]
    # a multi-value selection was not sent, so everything was fetched for that dimension
    assert (
        FilterState(event_types=("Call",)).not_covered_by(FilterState(event_types=("Sms", "Mms")))
        == []
    )


def test_parse_and_check_lead_ids() -> None:
    assert parse_lead_ids(" lead_1,lead_2;\n'lead_3'  lead_1 ") == [
        "lead_1",
        "lead_2",
        "lead_3",
        "lead_1",
    ]
    ok, bad = check_lead_ids(
        ["lead_1", "a/b", "", None, 7, "lead_1", "x"], known={"lead_1"}.__contains__
    )
    assert ok == ["lead_1"]
    assert [(b.value, b.reason.split(" ")[0]) for b in bad] == [
        ("a/b", "lead"),
        ("", "lead"),
        ("None", "empty"),
        ("7", "lead"),
        ("x", "not"),
    ]


def test_debouncer_only_last_value_fires() -> None:
    seen: list[str] = []
    sched = FakeScheduler()
    d = Debouncer(seen.append, delay=0.3, scheduler=sched)
    for text in ("a", "an", "ann"):
        d(text)
    assert seen == [] and d.pending
    assert [t.delay for t in sched.timers] == [0.3, 0.3, 0.3]
    assert sched.run_due() == 1
    assert seen == ["ann"] and not d.pending
    d("b")
    d.cancel()
    assert sched.run_due() == 0 and seen == ["ann"]


def test_debouncer_without_loop_calls_at_once() -> None:
    seen: list[str] = []
    Debouncer(seen.append, delay=5.0)("x")
    assert seen == ["x"]


def test_kpis_equal_the_metrics_functions(frame: pl.DataFrame) -> None:
    for sub in (frame, frame.filter(pl.col("lead_id") == "lead_0002"), frame.head(0)):
        k = compute_kpis(sub)
        delivery = metrics.delivery_summary(sub)
        latency = metrics.latency_summary(sub, stages=["end_to_end"])
        retry = metrics.retry_summary(sub, as_of=datetime(2026, 11, 1, tzinfo=UTC))
        billing = metrics.billing_summary(sub, by=())
        assert k.events == sub.height
        assert k.leads == sub["lead_id"].n_unique()
        assert k.final_outcomes == delivery["n_used"].item()
        assert k.delivery_rate == delivery["delivery_rate"].item()
        assert k.latency_p50_ms == latency["p50_ms"].item()
        assert k.retried_share == retry["share_retried"].item()
        assert k.billed == billing["total_amount"].item()
        assert isinstance(k.billed, Decimal)
    assert compute_kpis(frame.head(0)).delivery_rate is None


def test_event_cache_view_filters_and_reports_coverage(frame: pl.DataFrame) -> None:
    fetched = FilterState(directions=("Outbound",))
    outbound = frame.filter(pl.col("direction") == "Outbound")
    cache = EventCache(outbound, fetched=fetched, lead_ids=["lead_0001", "lead_0002"])
    view = cache.view(
        FilterState(directions=("Outbound",), time_zone="Asia/Tokyo"), ["lead_0002"], rows=5
    )
    expected = outbound.filter(pl.col("lead_id") == "lead_0002")
    assert view.kpis == compute_kpis(expected)
    assert view.not_covered == ()
    assert view.table.height == 5
    assert view.table["lead_id"].unique().to_list() == ["lead_0002"]
    assert (
        str(view.table.schema["created_at"]) == "Datetime(time_unit='us', time_zone='Asia/Tokyo')"
    )
    newest = expected["created_at"].sort(descending=True).head(5).to_list()
    assert view.table["created_at"].to_list() == newest
    assert view.events().collect().height == expected.height
    wide = cache.view(FilterState(), ["lead_0002", "lead_0009"])
    assert wide.not_covered[0].startswith("leads not in the cached events")
    assert "direction: fetched only Outbound" in wide.not_covered


# ---------------------------------------------------------------------------------------
# figure aggregates of the cache: the numbers of the public figures, without recomputing


@pytest.fixture(scope="module")
def many() -> pl.DataFrame:
    return events_frame(0, 5000)  # warm-up and test traffic, negative gaps, many outcomes


FIGURE_STATES = [
    FilterState(),
    FilterState(directions=("Outbound",), time_zone="America/New_York"),
    FilterState(statuses=("Failed", "Undeliverable", "Delivered"), time_zone="Asia/Tokyo"),
    FilterState(start=date(2026, 10, 1), end=date(2026, 10, 20)),  # daily periods
    FilterState(event_types=("Call",)),  # no messages: most figures say "No data"
    FilterState(search="no such text anywhere"),  # no events at all
]


def expected_figure_data(lf: pl.LazyFrame, name: str, tz: str) -> tuple[Any, ...]:
    """What the public figure function computes (the arguments of its ``_draw_*``)."""
    if name in ("delivery_rate_over_time", "volume_by_outcome", "billed_over_time"):
        every = figures.choose_period(lf)
        if name == "delivery_rate_over_time":
            per = figures._delivery_periods(
                metrics.delivery_summary(lf, every=every, time_zone=tz)
            ).collect()
            overall = metrics.delivery_summary(lf).collect()["delivery_rate"].item()
            return (per, overall if figures._has_delivery(per) else None, every, tz)
        if name == "volume_by_outcome":
            counts = metrics.outcome_counts(lf, every=every, time_zone=tz)
            return (figures._volume_counts(counts).collect(), every, tz)
        per = figures._billed_periods(
            metrics.billing_summary(lf, by=(), every=every, time_zone=tz)
        ).collect()
        total = metrics.billing_summary(lf, by=()).collect()["total_amount"].item()
        return (per, total, every, tz)
    if name == "retries_by_count":
        dist = metrics.retry_distribution(lf).sort("retry_count").collect()
        return (dist.drop("n_retry_pending"),)  # pending depends on "now"; not drawn
    if name == "failure_pareto":
        return (figures.failure_counts(lf, "status_reason"), "status_reason")
    values = fl._latency_values(lf, "end_to_end", False, False).to_numpy()
    row = metrics.latency_summary(lf, stages=["end_to_end"]).collect().row(0, named=True)
    return (fl._LatencyHistogram.of(values, row, "end_to_end", 40),)


@pytest.mark.parametrize("state", FIGURE_STATES, ids=lambda s: repr(s)[12:60])
def test_cached_figure_data_equals_the_public_figures(
    many: pl.DataFrame, state: FilterState
) -> None:
    cache = EventCache(many, fetched=FilterState(), lead_ids=[])
    selection = cache.select(state)
    lf = selection.events()
    for spec in default_figures():
        name = spec.build.name  # type: ignore[attr-defined]
        got = selection.figure_data(name, **spec.build.fixed)  # type: ignore[attr-defined]
        want = expected_figure_data(lf, name, state.time_zone)
        if name == "retries_by_count":
            assert got[0].drop("n_retry_pending").equals(want[0]), name
        elif name == "latency_histogram":
            g, w = got[0], want[0]
            assert np.array_equal(g.counts, w.counts) and np.array_equal(g.edges, w.edges)
            assert g.percentiles == w.percentiles  # the summary's, to the last bit
            assert (g.n_used, g.n_zero, g.n_negative) == (w.n_used, w.n_zero, w.n_negative)
        else:
            assert got[0].equals(want[0]), name
            assert got[1 : len(want)] == want[1:], name
    assert selection.mask is None or selection.mask.sum() == lf.collect().height


def test_cached_figure_data_of_a_lead_subset_in_another_zone(many: pl.DataFrame) -> None:
    leads = many["lead_id"].unique().sort().to_list()
    cache = EventCache(many, fetched=FilterState(), lead_ids=leads)
    state = FilterState(time_zone="Australia/Lord_Howe")  # half-hour DST shifts
    selection = cache.select(state, leads[:3])
    for name in ("delivery_rate_over_time", "volume_by_outcome", "billed_over_time"):
        got = selection.figure_data(name)
        want = expected_figure_data(selection.events(), name, state.time_zone)
        assert got[0].equals(want[0]) and got[1:] == want[1:], name
    with pytest.raises(ValueError, match="no cached aggregates"):
        selection.figure_data("latency_ecdf")


def test_default_figure_drawn_from_the_cache_looks_like_the_public_one(
    many: pl.DataFrame,
) -> None:
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Rectangle

    cache = EventCache(many, fetched=FilterState(), lead_ids=[])
    selection = cache.select(FilterState(directions=("Outbound",)))
    spec = default_figures()[1]  # volume: stacked bars
    panel = fb._Panel(margins=fb._PANEL_MARGINS["volume_by_outcome"])
    fig = spec.build.draw_view(selection, panel.clear())  # type: ignore[attr-defined]
    public = spec.build(selection.events(), "UTC").axes[0]
    ax = fig.axes[0]
    assert ax.get_title() == public.get_title() and ax.get_xlabel() == public.get_xlabel()
    for outcome in metrics.OUTCOMES:
        gid = f"outcome:{outcome}"
        rects = [p for p in public.patches if isinstance(p, Rectangle) and p.get_gid() == gid]
        found = [c for c in ax.collections if c.get_gid() == gid]
        if not rects:
            assert found == []
            continue
        (bars,) = found
        assert isinstance(bars, PolyCollection)
        corners = [(r.get_x(), r.get_y(), r.get_width(), r.get_height()) for r in rects]
        v = np.array([np.asarray(path.vertices, dtype=float) for path in bars.get_paths()])
        drawn = np.stack(
            [v[:, 0, 0], v[:, 0, 1], v[:, 2, 0] - v[:, 0, 0], v[:, 1, 1] - v[:, 0, 1]], 1
        )
        np.testing.assert_allclose(drawn, np.array(corners), rtol=0, atol=1e-9)
    assert panel.png().startswith(PNG)


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))


@pytest.mark.parametrize("index", range(6), ids=[s.key for s in default_figures()])
def test_a_reused_panel_draws_like_a_fresh_one(many: pl.DataFrame, index: int) -> None:
    # a panel is cleared and redrawn on every refresh: nothing of an earlier drawing
    # (log scale, fixed ticks, limits, twin axes, "No data") may leak into the next one
    cache = EventCache(many, fetched=FilterState(), lead_ids=[])
    build = default_figures()[index].build
    margins = fb._PANEL_MARGINS[build.name]  # type: ignore[attr-defined]
    reused = fb._Panel(margins=margins)
    images = []
    for state in [*FIGURE_STATES, FIGURE_STATES[0]]:
        selection = cache.select(state)
        build.draw_view(selection, reused.clear())  # type: ignore[attr-defined]
        images.append(reused.png())
        fresh = fb._Panel(margins=margins)
        build.draw_view(selection, fresh.clear())  # type: ignore[attr-defined]
        np.testing.assert_array_equal(pixels(images[-1]), pixels(fresh.png()))
    assert len({len(i) for i in images}) > 1  # the states really draw different figures


# ---------------------------------------------------------------------------------------
# LeadPicker


def test_picker_lists_and_searches_without_a_loop(client: Client) -> None:
    source = RecordingLeads(client)
    picker = LeadPicker(source, max_options=500)
    assert source.searches == [None]
    assert len(picker.options.options) == 8
    assert "8 leads in total" in picker.status.value
    picker.search.value = "karen"  # no loop running: the search runs at once
    assert source.searches == [None, "karen"]
    labels = [label for label, _ in picker.options.options]
    assert labels and all("karen" in label.lower() for label in labels)
    picker.search.value = "zzz-nobody"
    assert picker.options.options == ()
    assert "No lead matches" in picker.status.value


def test_picker_caps_options(client: Client) -> None:
    picker = LeadPicker(client, max_options=3)
    assert len(picker.options.options) == 3
    assert "first 3 leads" in picker.status.value


def test_picker_debounces_with_an_injected_scheduler(client: Client) -> None:
    source = RecordingLeads(client)
    sched = FakeScheduler()
    picker = LeadPicker(source, debounce=0.3, scheduler=sched)
    for text in ("k", "ka", "kar", "karen"):
        picker.search.value = text
    assert source.searches == [None]  # nothing yet: still typing
    assert sched.run_due() == 1
    assert source.searches == [None, "karen"]
    assert all("karen" in label.lower() for label, _ in picker.options.options)


def test_picker_drops_answers_to_an_older_text(client: Client) -> None:
    """On a running loop the search is debounced and runs off the loop; late answers drop."""
    release = threading.Event()
    returned = threading.Event()

    class SlowForK(RecordingLeads):
        def leads(self, search: str | None = None, **kwargs: Any) -> pl.DataFrame:
            if search != "k":
                return super().leads(search, **kwargs)
            self.searches.append(search)
            release.wait(10)  # answers only after "karen" has been shown
            try:
                return self.client.leads(search, **kwargs)
            finally:
                returned.set()

    source = SlowForK(client)

    async def until(cond: Callable[[], bool]) -> None:
        for _ in range(1000):
            if cond():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached in time")

    async def main() -> list[str]:
        picker = LeadPicker(source, debounce=0.05)  # built inside the loop: debounced
        picker.search.value = "k"
        await until(lambda: source.searches == [None, "k"])  # "k" runs in a worker thread
        picker.search.value = "karen"
        await until(lambda: "karen" in picker.status.value)
        shown = list(picker.options.options)
        release.set()
        await until(returned.is_set)
        await asyncio.sleep(0.1)  # the late answer's callback has run on the loop
        assert list(picker.options.options) == shown
        return [label for label, _ in shown]

    labels = asyncio.run(main())
    assert source.searches == [None, "k", "karen"]
    assert labels and all("karen" in label.lower() for label in labels)


def test_picker_selection_survives_searches_and_counts(client: Client) -> None:
    picker = LeadPicker(client)
    picker.options.value = ("lead_0001", "lead_0003")
    assert picker.value == ("lead_0001", "lead_0003")
    assert 'data-selected="2"' in picker.count.value
    picker.search.value = "zzz-nobody"
    assert picker.value == ("lead_0001", "lead_0003")
    picker.search.value = ""
    assert set(picker.options.value) == {"lead_0001", "lead_0003"}
    picker.options.value = ("lead_0003",)  # deselect one in the list
    assert picker.value == ("lead_0003",)
    picker.clear_button.click()
    assert picker.value == () and picker.options.value == ()
    assert "<b>0</b> leads selected" in picker.count.value


def test_picker_paste_flags_invalid_ids_inline(client: Client) -> None:
    picker = LeadPicker(client)
    picker.paste_box.value = "lead_0002, lead_0005\n../etc/passwd lead_9999 lead_0002"
    picker.add_button.click()
    assert picker.value == ("lead_0002", "lead_0005")
    assert set(picker.options.value) == {"lead_0002", "lead_0005"}
    assert [b.value for b in picker.invalid] == ["../etc/passwd", "lead_9999"]
    assert "2 ids not added" in picker.invalid_html.value
    assert "not among your leads" in picker.invalid_html.value
    assert "&#x27;..&#x27;" in picker.invalid_html.value  # escaped, inline
    assert picker.paste_box.value == "../etc/passwd\nlead_9999"  # left to fix
    picker.paste("lead_0001")
    assert picker.invalid == () and picker.invalid_html.value == ""
    assert picker.value == ("lead_0002", "lead_0005", "lead_0001")


def test_picker_unknown_ids_accepted_while_the_list_is_incomplete(client: Client) -> None:
    picker = LeadPicker(client, max_options=3)  # only 3 of 8 listed: cannot tell
    assert picker.paste("lead_9999 lead_0008") == []
    assert picker.value == ("lead_9999", "lead_0008")


def test_picker_takes_a_dataframe_column(client: Client, frame: pl.DataFrame) -> None:
    picker = LeadPicker(client)
    assert picker.add_from(frame.head(300)) == []  # default column lead_id
    assert picker.value == tuple(frame.head(300)["lead_id"].unique(maintain_order=True))
    picker.clear()
    bad = picker.add_from(pl.DataFrame({"id": ["lead_0004", None, "a b"]}))
    assert picker.value == ("lead_0004",)
    assert [b.value for b in bad] == ["None", "a b"]
    picker.add_from(pl.Series(["lead_0006"]))
    assert picker.value[-1] == "lead_0006"
    picker.add_from(pl.DataFrame({"lead": ["lead_0007"]}), column="lead")
    assert picker.value[-1] == "lead_0007"
    with pytest.raises(ValueError, match="no column"):
        picker.add_from(pl.DataFrame({"x": ["lead_0001"]}))


def test_picker_value_is_validated(client: Client) -> None:
    picker = LeadPicker(client)
    with pytest.raises(traitlets.TraitError, match="contains"):
        picker.value = ("../x",)
    picker.value = ("lead_0001", "lead_0001", "lead_0002")
    assert picker.value == ("lead_0001", "lead_0002")


def test_picker_shows_search_errors_inline(emu: Emulator) -> None:
    with Client(api_key="wrong", transport=emu) as bad_client:
        picker = LeadPicker(bad_client)
        assert "Search failed: AuthError" in picker.status.value
        assert "lp-error" in picker.status.value
        picker.search.value = "x"  # no exception escapes the callback
        assert "AuthError" in picker.status.value


# ---------------------------------------------------------------------------------------
# FilterPanel


def test_filter_panel_produces_the_query() -> None:
    panel = FilterPanel(time_zone="Europe/Berlin")
    assert panel.query == EventQuery()
    seen: list[FilterState] = []
    panel.observe(lambda c: seen.append(c["new"]), names="state")
    panel.start.value = date(2024, 10, 27)
    panel.end.value = date(2024, 10, 27)
    panel.selects["event_types"].value = ("Sms",)
    panel.selects["directions"].value = ("Inbound", "Outbound")
    panel.search.value = "stop"
    panel.search_fields.value = ("summary",)
    panel.page_size.value = 250
    assert panel.error == ""
    assert panel.query is not None
    assert panel.query.to_body() == {
        "pageSize": 250,
        "search": "stop",
        "searchFields": ["summary"],
        "filters": [{"field": "eventType", "value": "Sms"}],
        "rangeFilters": [
            {
                "field": "createdAt",
                "greaterThanOrEqual": "2024-10-26T22:00:00Z",
                "lessThan": "2024-10-27T23:00:00Z",  # a 25-hour day
            }
        ],
    }
    assert seen[-1] == panel.state
    assert seen[-1].directions == ("Inbound", "Outbound")
    assert "[2024-10-26T22:00:00Z, 2024-10-27T23:00:00Z)" in panel.range_note.value
    panel.time_zone.value = "UTC"
    assert panel.query.to_body()["rangeFilters"][0]["lessThan"] == "2024-10-28T00:00:00Z"


def test_filter_panel_shows_invalid_combinations_inline(capsys: pytest.CaptureFixture[str]) -> None:
    panel = FilterPanel()
    panel.start.value = date(2024, 5, 2)
    panel.end.value = date(2024, 5, 1)  # no exception: shown inline
    assert panel.query is None
    assert "before the start" in panel.error
    assert "lp-error" in panel.error_html.value and "before the start" in panel.error_html.value
    panel.end.value = date(2024, 5, 3)
    assert panel.error == "" and panel.error_html.value == "" and panel.query is not None
    panel.search.value = "x"
    panel.search_fields.value = ()
    assert "at least one field" in panel.error_html.value
    panel.search_fields.value = ("summary",)
    panel.page_size.value = 0
    assert "outside 1-1000" in panel.error_html.value
    panel.page_size.value = 1000
    assert panel.error == ""
    assert capsys.readouterr() == ("", "")


def test_filter_panel_options_and_set_state() -> None:
    panel = FilterPanel()
    panel.selects["campaigns"].value = ()
    panel.add_options({"campaigns": ["cmp_2", "cmp_1"], "statuses": ["Delivered"]})
    assert panel.selects["campaigns"].options == ("cmp_1", "cmp_2")
    panel.selects["campaigns"].value = ("cmp_2",)
    panel.add_options({"campaigns": ["cmp_0"]})
    assert panel.selects["campaigns"].options == ("cmp_0", "cmp_1", "cmp_2")
    assert panel.selects["campaigns"].value == ("cmp_2",)
    state = FilterState(
        start=date(2024, 1, 1),
        time_zone="Asia/Kolkata",
        sources=("src_new",),
        search="hi",
        search_fields=("summary",),
        page_size=42,
    )
    panel.set_state(state)
    assert panel.state == state
    assert "src_new" in panel.selects["sources"].options


def test_filter_panel_date_presets_produce_a_window() -> None:
    from leadping_nb import Window
    from leadping_nb.widgets import DATE_PRESETS

    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert [v for v, _label in DATE_PRESETS][:1] == ["custom"]
    assert {"last 7 days", "last month"} <= {v for v, _label in DATE_PRESETS}
    panel = FilterPanel(time_zone="Europe/Berlin", now=now)
    assert panel.preset.value == "custom" and panel.window is None
    panel.preset.value = "last 7 days"
    assert (panel.start.value, panel.end.value) == (date(2026, 10, 25), date(2026, 10, 31))
    assert panel.window == Window.last(days=7, time_zone="Europe/Berlin", now=now)
    assert panel.state.preset == "last 7 days"
    assert "last 7 days (Europe/Berlin): 2026-10-25 – 2026-10-31" in panel.range_note.value
    panel.preset.value = "last month"
    w = panel.window
    assert w == Window.last_month(time_zone="Europe/Berlin", now=now)
    assert w is not None and w.label == "last month (Europe/Berlin): 2026-10-01 – 2026-10-31"
    # the query sends the window's UTC bounds: CEST at the start, CET at the end
    assert panel.query is not None
    assert panel.query.to_body()["rangeFilters"] == [
        {
            "field": "createdAt",
            "greaterThanOrEqual": "2026-09-30T22:00:00Z",
            "lessThan": "2026-10-31T23:00:00Z",
        }
    ]
    # a preset follows the zone
    panel.time_zone.value = "America/New_York"
    assert panel.window == Window.last_month(time_zone="America/New_York", now=now)
    # a date set by hand makes it custom, the window unnamed
    panel.end.value = date(2026, 10, 15)
    assert panel.preset.value == "custom" and panel.state.preset == "custom"
    custom = panel.window
    assert custom == Window.between(
        date(2026, 10, 1), date(2026, 10, 16), time_zone="America/New_York"
    )
    assert custom is not None and custom.label == "2026-10-01 – 2026-10-15 (America/New_York)"
    # set_state shows a preset without recomputing it
    state = FilterState(
        start=date(2026, 9, 1), end=date(2026, 9, 30), time_zone="UTC", preset="last month"
    )
    panel.set_state(state)
    assert panel.state == state and panel.preset.value == "last month"
    assert FilterPanel(preset="this month", now=now).window == Window.this_month(now=now)
    with pytest.raises(ValueError, match="preset must be one of"):
        FilterPanel(preset="last week")


def test_filter_state_window() -> None:
    from leadping_nb import Window

    s = FilterState(start=date(2024, 3, 31), end=date(2024, 3, 31), time_zone="Europe/Berlin")
    assert s.window() == Window(*s.utc_range(), "Europe/Berlin", "")
    assert FilterState(end=date(2024, 1, 1)).window() == Window.between(None, date(2024, 1, 2))
    assert FilterState().window() is None


# ---------------------------------------------------------------------------------------
# EventExplorer


def make_explorer(client: Client, **kwargs: Any) -> EventExplorer:
    kwargs.setdefault("background_figures", False)
    kwargs.setdefault("progress_interval", 0.0)
    return EventExplorer(client, **kwargs)


def test_explorer_fetch_progress_kpis_table_and_figure(
    emu: Emulator, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = make_explorer(client)
    ex.picker.options.value = ("lead_0001", "lead_0002")
    ex.filters.page_size.value = 10
    texts: list[str] = []
    bars: list[int] = []
    ex.progress_text.observe(lambda c: texts.append(c["new"]), names="value")
    ex.progress.observe(lambda c: bars.append(c["new"]), names="value")
    ex.fetch_button.click()
    result = ex.wait(timeout=30)
    assert result is not None and result.ok
    n = result.frame.height
    pages = sum(math.ceil(len(emu.ground_truth(lead)) / 10) for lead in ("lead_0001", "lead_0002"))
    # progress: advanced per page and per lead, ends at the totals
    assert ex.progress.value == ex.progress.max == 2
    assert bars[-1] == 2 and 1 in bars
    assert f'data-pages="{pages}" data-events="{n}"' in ex.progress_text.value
    page_counts = [
        int(t.split('data-pages="')[1].split('"')[0]) for t in texts if "data-pages" in t
    ]
    assert page_counts == sorted(page_counts) and len(set(page_counts)) >= pages // 2
    assert "lead_0001" in ex.lead_progress.value and "✓ done" in ex.lead_progress.value
    assert ex.progress.bar_style == "success"
    assert ex.failed.value == ""
    assert f"Fetched {n:,} events from 2 of 2 leads" in ex.status.value
    assert ex.fetch_button.disabled is False and ex.cancel_button.disabled is True
    # KPIs, table, figure
    assert f'data-kpi="events" style="font-size:1.5em;font-weight:600">{n}<' in ex.kpis.value
    assert 'data-kpi="leads" style="font-size:1.5em;font-weight:600">2<' in ex.kpis.value
    assert f"All {n} matching events" in ex.table.value
    grid = ex.grid.df  # the interactive table: every matching row, as text
    assert grid is not None and grid.height == n and "lead_0001" in grid["lead_id"].to_list()
    assert ex.grid._dt_args.get("downsampling_warning", "") == ""
    png_of(ex.figure_outputs[0])
    assert all(o.outputs == () for o in ex.figure_outputs[1:])  # only the visible tab
    # campaign / source options come from the fetched events
    assert set(result.frame["campaign_id"].drop_nulls().unique()) <= set(
        ex.filters.selects["campaigns"].options
    )
    assert capsys.readouterr() == ("", "")


def test_explorer_filter_change_refreshes_from_cache_without_requests(
    emu: Emulator, client: Client
) -> None:
    ex = make_explorer(client, lead_ids=["lead_0001", "lead_0002", "lead_0003"])
    ex.fetch()
    result = ex.wait(timeout=30)
    assert result is not None
    before_kpis, before_table, before_png = (
        ex.kpis.value,
        ex.table.value,
        png_of(ex.figure_outputs[0]),
    )
    requests = emu.fault_counts["requests"]

    ex.filters.selects["directions"].value = ("Inbound",)
    assert emu.fault_counts["requests"] == requests  # local: no request
    inbound = result.frame.filter(pl.col("direction") == "Inbound")
    assert ex.view is not None and ex.view.kpis == compute_kpis(inbound)
    assert ex.kpis.value != before_kpis
    assert ex.table.value != before_table
    assert ex.grid.df is not None and set(ex.grid.df["direction"]) == {"Inbound"}
    assert ex.grid.df.height == inbound.height
    assert png_of(ex.figure_outputs[0]) != before_png
    assert ex.notice.value == ""  # everything was fetched: the view is exact

    ex.picker.options.value = ("lead_0002",)  # a subset of the fetched leads: local too
    assert ex.view.kpis.leads == 1
    ex.figure_tabs.selected_index = 3  # another tab is drawn when shown
    png_of(ex.figure_outputs[3])
    assert emu.fault_counts["requests"] == requests


def test_explorer_wider_filters_ask_for_a_fetch(emu: Emulator, client: Client) -> None:
    ex = make_explorer(client, lead_ids=["lead_0001"])
    ex.filters.selects["event_types"].value = ("Sms",)
    ex.fetch()
    ex.wait(timeout=30)
    assert ex.notice.value == "" and ex.fetch_button.button_style == "primary"
    requests = emu.fault_counts["requests"]
    ex.filters.selects["event_types"].value = ("Sms", "Call")
    assert "fetched only Sms" in ex.notice.value
    assert ex.fetch_button.button_style == "warning"
    ex.picker.paste("lead_0004")
    assert "lead_0004" in ex.notice.value
    assert emu.fault_counts["requests"] == requests
    ex.fetch()
    ex.wait(timeout=30)
    assert ex.notice.value == "" and ex.fetch_button.button_style == "primary"
    assert ex.view is not None and ex.view.kpis.leads == 2


def test_explorer_cancel_really_stops_the_fetch() -> None:
    emu = Emulator(seed=1, n_leads=3, heavy_leads=0, latency_ms=80)
    per_page = 5
    total_pages = sum(math.ceil(len(emu.ground_truth(lead)) / per_page) for lead in emu.lead_ids())
    with emu.client() as client:
        ex = make_explorer(client, fetch_options={"concurrency": 1})
        ex.picker.paste(" ".join(emu.lead_ids()))
        ex.filters.page_size.value = per_page
        ex.fetch_button.click()
        assert ex.cancel_button.disabled is False and ex.fetch_button.disabled is True
        assert ex.fetch() is None and "A fetch is running" in ex.status.value  # inline
        wait_until(lambda: pages_shown(ex) >= 3)
        ex.cancel_button.click()
        job = ex.job
        assert job is not None and job.cancelled() and job.done()
        stopped_at = emu.fault_counts["requests"]
        time.sleep(0.3)  # nothing more is sent after the cancel
        assert emu.fault_counts["requests"] == stopped_at
        assert stopped_at < total_pages // 2
        assert "Cancelled after" in ex.status.value
        assert ex.progress.bar_style == "warning"
        assert ex.cache is None and ex.result is None  # nothing half-fetched is shown
        assert ex.fetch_button.disabled is False and ex.cancel_button.disabled is True
        # a new fetch works after a cancel
        ex.fetch_options = {}
        ex.fetch()
        result = ex.wait(timeout=60)
        assert result is not None and result.ok and ex.cache is not None


def test_explorer_lists_failed_leads_with_their_errors() -> None:
    emu = Emulator(seed=1, n_leads=4, faults=FaultConfig(only_leads={"lead_0002"}, rate_5xx=1.0))
    with emu.client(retry=RetryPolicy(attempts=2, backoff=0.01)) as client:
        ex = make_explorer(client, lead_ids=["lead_0001", "lead_0002", "lead_0003"])
        ex.fetch_button.click()
        result = ex.wait(timeout=30)
        assert result is not None and result.failed == ["lead_0002"]
        panel = ex.failed.value
        assert "1 lead failed" in panel
        assert "<code>lead_0002</code>" in panel and "ApiError" in panel and "HTTP 5" in panel
        assert "lead_0001" not in panel
        assert ex.progress.bar_style == "warning"
        assert "1 failed" in ex.progress_text.value and "✗ failed" in ex.lead_progress.value
        assert "2 of 3 leads" in ex.status.value
        assert ex.view is not None and ex.view.kpis.leads == 2
        assert "lead_0002" in ex.notice.value  # selected, but not in the cache


def test_explorer_names_leads_that_returned_no_events() -> None:
    """An unknown lead id is answered with an empty page: the explorer names it (the
    picker only refuses ids itself when it holds the whole lead list: not here, where the
    list is as long as ``max_options``)."""
    emu = Emulator(seed=1, n_leads=3)
    with emu.client() as client:
        ex = make_explorer(client, max_options=3)
        ex.picker.paste("lead_0001 lead_1 lead_2")
        ex.fetch()
        result = ex.wait(timeout=30)
        assert result is not None and result.ok and result.empty == ["lead_1", "lead_2"]
        panel = ex.failed.value
        assert "2 leads returned no events" in panel
        assert "<code>lead_1</code>, <code>lead_2</code>" in panel
        assert "unknown ids? the API answers an unknown lead with an empty page" in panel
        assert "lead_0001" not in panel and "failed" not in panel
        assert "from 3 of 3 leads" in ex.status.value
        assert "2 returned no events" in ex.status.value
        ex.picker.clear()
        ex.picker.paste("lead_0002")
        ex.fetch()
        again = ex.wait(timeout=30)
        assert again is not None and again.empty == []
        assert ex.failed.value == ""
        ex.close()


def test_explorer_refuses_inline(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    ex = make_explorer(client)
    ex.fetch_button.click()
    assert "Pick at least one lead" in ex.status.value and ex.job is None
    ex.picker.paste("lead_0001")
    ex.filters.start.value = date(2024, 5, 2)
    ex.filters.end.value = date(2024, 5, 1)
    ex.fetch_button.click()
    assert "Fix the filters first" in ex.status.value and ex.job is None
    assert capsys.readouterr() == ("", "")


def test_explorer_invalid_filter_after_fetch_keeps_the_view(client: Client) -> None:
    ex = make_explorer(client, lead_ids=["lead_0001"])
    ex.fetch()
    ex.wait(timeout=30)
    ex.filters.search_fields.value = ()  # still valid: no search text
    shown = ex.kpis.value
    ex.filters.search.value = "x"  # a search without fields: invalid
    assert "Filters not applied" in ex.notice.value
    assert ex.kpis.value == shown


def test_explorer_figures_on_a_worker_thread(client: Client) -> None:
    calls: list[tuple[int, str]] = []

    def build(lf: pl.LazyFrame, tz: str) -> Any:
        from matplotlib.figure import Figure

        n = lf.select(pl.len()).collect().item()
        calls.append((n, tz))
        fig = Figure(figsize=(2, 1))
        fig.add_subplot().bar([0], [n])
        return fig

    ex = EventExplorer(
        client,
        lead_ids=["lead_0001"],
        figures=[FigureSpec("n", "Count", build), FigureSpec("m", "Other", build)],
        time_zone="Asia/Tokyo",
    )
    ex.fetch()
    result = ex.wait(timeout=30)
    assert result is not None
    assert calls == [(result.frame.height, "Asia/Tokyo")]
    first = ex.figure_outputs[0].outputs
    png_of(ex.figure_outputs[0])
    ex.filters.selects["directions"].value = ("Outbound",)
    ex.filters.selects["directions"].value = ()  # back: shown from the figure cache
    assert ex.figure_outputs[0].outputs == first
    ex.wait_figures(timeout=30)
    assert ex.figure_outputs[0].outputs == first  # the superseded drawing is not shown
    assert len(calls) <= 2
    ex.close()


def test_explorer_draws_default_figures_from_the_cache(emu: Emulator, frame: pl.DataFrame) -> None:
    with emu.client() as client:
        ex = EventExplorer(client, figure_dpi=60)  # figures on the worker thread
        ex.load_frame(frame)
        ex.filters.selects["directions"].value = ("Outbound",)
        ex.wait_figures(timeout=30)
        assert set(ex._panels) == {"delivery"}  # only the visible tab is drawn
        assert ex.view is not None and ex.view._selection is not None
        fresh = fb._Panel(dpi=60, margins=fb._PANEL_MARGINS["delivery_rate_over_time"])
        ex.figure_specs[0].build.draw_view(ex.view._selection, fresh.clear())  # type: ignore[attr-defined]
        shown = png_of(ex.figure_outputs[0])
        assert shown[16:24] == (480).to_bytes(4, "big") + (270).to_bytes(4, "big")
        np.testing.assert_array_equal(pixels(shown), pixels(fresh.png()))
        ex.close()


def test_explorer_load_frame_without_fetching(emu: Emulator, frame: pl.DataFrame) -> None:
    with emu.client() as client:
        ex = make_explorer(client)
        requests = emu.fault_counts["requests"]
        view = ex.load_frame(frame)
        assert view is not None and view.kpis == compute_kpis(frame)
        assert view.kpis.leads == 8
        assert emu.fault_counts["requests"] == requests


def test_api_key_never_in_widget_state() -> None:
    secret = "sk_live_SENTINEL_do_not_leak_1234"
    emu = Emulator(seed=1, n_leads=3, api_keys=(secret,))
    with Client(api_key=secret, transport=emu) as client:
        ex = make_explorer(client, lead_ids=["lead_0001"])
        ex.fetch()
        assert ex.wait(timeout=30) is not None
        ex.figure_tabs.selected_index = 1
        live = list(widget_module._instances.values())  # Widget.widgets, without the warning
        states = [w.get_state() for w in live]
    blob = json.dumps(states, default=repr)
    assert len(states) > 20
    assert secret not in blob
    assert secret not in repr(ex.__dict__)


def test_auth_error_is_reported_not_raised(emu: Emulator) -> None:
    with Client(api_key="nope", transport=emu) as client:
        ex = make_explorer(client, lead_ids=["lead_0001"])
        ex.fetch_button.click()
        result = ex.wait(timeout=30)
        assert result is not None and isinstance(result.errors["lead_0001"], AuthError)
        assert "AuthError" in ex.failed.value


def test_explorer_draws_every_tab_when_some_events_lack_created_at(
    emu: Emulator, frame: pl.DataFrame
) -> None:
    undated = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(None)
        .otherwise(pl.col("created_at"))
        .alias("created_at")
    )
    with emu.client() as client:
        ex = make_explorer(client)
        ex.load_frame(undated)
        for index in range(len(ex.figure_specs)):
            ex.figure_tabs.selected_index = index
            assert "could not be drawn" not in ex.figure_status.value, ex.figure_status.value
            assert ex.figure_outputs[index].outputs, ex.figure_specs[index].key
        ex.close()


def test_explorer_shows_money_in_its_currency(emu: Emulator, frame: pl.DataFrame) -> None:
    k = compute_kpis(frame)
    assert {key: text for key, _, text in k.items()}["billed"].startswith("USD ")
    assert 'data-kpi="billed" style="font-size:1.5em;font-weight:600">EUR ' in k.to_html(
        currency="EUR"
    )
    with emu.client() as client:
        ex = make_explorer(client, currency="EUR")
        ex.load_frame(frame)
        assert "EUR " in ex.kpis.value and "USD" not in ex.kpis.value
        billing = next(s for s in ex.figure_specs if s.key == "billing")
        assert billing.build.fixed == {"currency": "EUR"}  # type: ignore[attr-defined]
        assert ex.view is not None and ex.view._selection is not None
        panel = fb._Panel(margins=fb._PANEL_MARGINS["billed_over_time"])
        fig = billing.build.draw_view(ex.view._selection, panel.clear())  # type: ignore[attr-defined]
        assert fig.axes[0].get_ylabel() == "Billed amount (EUR)"
        ex.close()
        with pytest.raises(ValueError, match="currency"):
            make_explorer(client, currency="eur")
    with pytest.raises(ValueError, match="currency"):
        default_figures(currency="E")


def test_explorer_lead_view_shows_a_timeline(emu: Emulator, client: Client) -> None:
    ex = make_explorer(client, now=emu.now)
    assert ex.lead_view.lead_id is None and ex.lead_view.timeline is None
    ex.picker.options.value = ("lead_0001", "lead_0002", "lead_0003")
    ex.fetch()
    result = ex.wait(timeout=30)
    assert result is not None and result.ok
    view = ex.lead_view
    # the leads of the current rows
    assert view.lead.options[1:] == ("lead_0001", "lead_0002", "lead_0003")
    assert "Pick one of the 3 leads" in view.note.value
    timeline = view.show("lead_0002")
    assert timeline.equals(metrics.lead_timeline(result.frame, "lead_0002"))
    assert timeline.height > 0
    assert f"{timeline.height:,} messages of <code>lead_0002</code>" in view.note.value
    assert view.table.value.count("<tr>") == min(timeline.height, 200) + 1
    png_of(view.figure)
    # fewer rows: only lead_0001 left; the picked lead is gone, so is its timeline
    ex.picker.options.value = ("lead_0001",)
    assert view.lead.options[1:] == ("lead_0001",)
    assert view.lead_id is None and view.timeline is None and view.figure.outputs == ()
    view.lead.value = "lead_0001"
    assert view.timeline is not None and set(view.timeline["id"]) <= set(result.frame["id"])
    # filters narrow the timeline too: outbound messages only
    ex.filters.selects["directions"].value = ("Outbound",)
    assert view.lead_id == "lead_0001"
    assert view.timeline is not None and set(view.timeline["direction"]) <= {"Outbound"}
    with pytest.raises(ValueError, match="not among the current rows"):
        view.show("lead_0009")


def test_one_canceled_status_in_the_filter_matching_both_spellings() -> None:
    """The API spells it ``Canceled`` and ``Cancelled``: the filter offers one option,
    matches both, and never sends it as an exact filter (which would miss one)."""
    from leadping_nb.widgets._state import DIMENSIONS, canonical_status

    statuses = next(d for d in DIMENSIONS if d.attr == "statuses").defaults
    assert "Canceled" in statuses and "Cancelled" not in statuses
    frame = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "status": ["Canceled", "Cancelled", "Delivered"],
            "created_at": [datetime(2026, 1, 1, tzinfo=UTC)] * 3,
        },
        schema={"id": pl.String, "status": pl.String, "created_at": pl.Datetime("us", "UTC")},
    )
    state = FilterState(statuses=("Canceled",))
    predicate = state.local_predicate()
    assert predicate is not None
    assert frame.filter(predicate)["id"].to_list() == ["a", "b"]  # the frame keeps both
    assert not any(f.field == "status" for f in state.to_query().filters)
    assert FilterState(statuses=("Delivered",)).to_query().filters[0].field == "status"
    assert state.not_covered_by(FilterState()) == []
    assert canonical_status("Cancelled") == "Canceled"
    events = events_frame(3, 400)
    spelled = ["Canceled", "Cancelled"] + [None] * (events.height - 2)
    events = (
        events.with_columns(pl.Series("spelled", spelled, dtype=pl.String))
        .with_columns(pl.coalesce("spelled", "status").alias("status"))
        .drop("spelled")
    )
    leads = events["lead_id"].unique().to_list()
    cache = EventCache(events, fetched=FilterState(), lead_ids=leads)
    options = cache.options()["statuses"]
    assert "Cancelled" not in options and options.count("Canceled") == 1
    view = cache.view(FilterState(statuses=("Canceled",)), rows=None)
    assert set(view.table["status"]) == {"Canceled", "Cancelled"}


def test_grid_frame_keeps_money_exact_text() -> None:
    from leadping_nb.widgets._html import grid_frame

    t = pl.DataFrame(
        {"billable_amount": [Decimal("0.007900"), Decimal("123456789012.345678"), None]},
        schema={"billable_amount": pl.Decimal(18, 6)},
    )
    assert grid_frame(t)["billable_amount"].to_list() == ["0.007900", "123,456,789,012.345678", "—"]


def test_explorer_table_holds_every_matching_row_never_downsampled(client: Client) -> None:
    ex = make_explorer(client)
    frame = events_frame(5, 3000)  # far more than itables' default 64 KB
    ex.load_frame(frame)
    assert ex.grid.df is not None and ex.grid.df.height == frame.height
    assert not ex.grid._dt_args.get("downsampling_warning")
    assert len(json.loads(ex.grid._dt_args["data_json"])) == frame.height
    assert f"All {frame.height:,} matching events" in ex.table.value
    ex.filters.selects["directions"].value = ("Outbound",)
    outbound = frame.filter(pl.col("direction") == "Outbound").height
    assert len(json.loads(ex.grid._dt_args["data_json"])) == outbound == ex.grid.df.height
    assert not ex.grid._dt_args.get("downsampling_warning")
    ex.close()
