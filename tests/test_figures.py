"""leadping_nb.figures: what is drawn equals what the metrics compute (headless, Agg)."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from leadping_nb import figures as f
from leadping_nb import metrics as m
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb.emulator import events_frame
from leadping_nb.figures import _base as fb

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AS_OF = datetime(2026, 11, 1, 12, tzinfo=UTC)
NY = "America/New_York"

ALL_FIGURES: dict[str, Callable[..., Figure]] = {
    "latency_ecdf": f.latency_ecdf,
    "latency_histogram": f.latency_histogram,
    "volume_by_outcome": f.volume_by_outcome,
    "delivery_rate_over_time": f.delivery_rate_over_time,
    "failure_pareto": f.failure_pareto,
    "retries_by_count": f.retries_by_count,
    "billed_over_time": f.billed_over_time,
    "billed_by_campaign": f.billed_by_campaign,
}


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=EVENT_SCHEMA)


def sms(created: datetime = T0, **kw: Any) -> dict[str, Any]:
    return {"event_type": "Sms", "direction": "Outbound", "created_at": created, **kw}


def delivered(created: datetime = T0, e2e_ms: float = 2300.0, **kw: Any) -> dict[str, Any]:
    life = {
        "queued_at": created,
        "sending_started_at": created + timedelta(milliseconds=100),
        "sent_at": created + timedelta(milliseconds=300),
        "delivered_at": created + timedelta(milliseconds=e2e_ms),
        "billing_status": "Billed",
        "billable_amount": Decimal("0.0079"),
        "campaign_id": "cmp_1",
        "retry_count": 0,
    }
    return sms(created, **{**life, **kw})


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return events_frame(0, 4000)


def by_gid(ax: Axes, gid: str) -> list[Any]:
    return [a for a in (*ax.lines, *ax.patches, *ax.texts) if a.get_gid() == gid]


def line(ax: Axes, gid: str) -> Line2D:
    (found,) = [ln for ln in ax.lines if ln.get_gid() == gid]
    return found


def no_data_text(fig: Figure) -> str:
    texts = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "no-data"]
    return " ".join(texts)


def test_the_library_leaves_pyplot_and_the_backend_alone() -> None:
    # a fresh interpreter with a backend of the user's choosing (not Agg, not pyplot's):
    # importing the package and drawing and saving every figure must neither import pyplot
    # (its figure manager, its state) nor switch the backend
    code = (
        "import sys, io, matplotlib\n"
        "matplotlib.use('svg')\n"
        "import leadping_nb, leadping_nb.figures as f\n"
        "from leadping_nb.emulator import events_frame\n"
        "ev = events_frame(0, 300)\n"
        "figs = [f.volume_by_outcome(ev), f.latency_ecdf(ev), f.billed_over_time(ev)]\n"
        "for fig in figs: fig.savefig(io.BytesIO(), format='png')\n"
        "print(matplotlib.rcParams['backend'], 'matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["svg", "False"], out.stderr


# ---------------------------------------------------------------------------------------
# volume by outcome


def test_volume_bars_are_the_outcome_counts_per_period(events: pl.DataFrame) -> None:
    fig = f.volume_by_outcome(events, every="week", time_zone=NY)
    ax = fig.axes[0]
    counts = (
        m.outcome_counts(events, every="week", time_zone=NY)
        .filter(pl.col("outcome").is_not_null() & (pl.col("n") > 0))
        .with_columns(pl.col("outcome").cast(pl.String))
    )
    periods = counts["period"].unique().sort().to_list()
    outcomes = [o for o in m.OUTCOMES if o in set(counts["outcome"].to_list())]
    assert len(ax.patches) == len(periods) * len(outcomes)
    lefts = [float(x) for x in mdates.date2num(periods)]
    for outcome in outcomes:
        bars = by_gid(ax, f"outcome:{outcome}")
        assert len(bars) == len(periods)
        expected = dict(
            counts.filter(pl.col("outcome") == outcome).select("period", "n").iter_rows()
        )
        assert [b.get_height() for b in bars] == [float(expected.get(p, 0)) for p in periods]
        assert [b.get_x() for b in bars] == pytest.approx(lefts)
        assert bars[0].get_facecolor() == pytest.approx(
            matplotlib.colors.to_rgba(f.OUTCOME_COLORS[outcome])
        )
    total_drawn = sum(p.get_height() for p in ax.patches)
    assert total_drawn == counts["n"].sum()
    assert ax.get_xlabel() == f"Week starting ({NY})"
    assert "count" in ax.get_ylabel()
    assert ax.get_title()
    fmt = ax.xaxis.get_major_formatter()
    assert isinstance(fmt, mdates.DateFormatter)
    assert fmt.tz == ZoneInfo(NY)


def test_volume_days_follow_the_time_zone() -> None:
    # 03:30 UTC on 10 March is still 9 March in New York (docs/notebook-traps.md §5.1)
    df = frame(delivered(datetime(2024, 3, 10, 3, 30, tzinfo=UTC)))
    for tz, day in (("UTC", "2024-03-10"), (NY, "2024-03-09")):
        ax = f.volume_by_outcome(df, every="day", time_zone=tz).axes[0]
        (bar,) = ax.patches
        assert bar.get_height() == 1.0
        local_midnight = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(tz))
        assert bar.get_x() == pytest.approx(float(mdates.date2num(local_midnight)))
        assert ax.xaxis.get_major_formatter()(bar.get_x()) == day
        assert [float(t) for t in ax.get_xticks()] == pytest.approx([bar.get_x()])


def test_auto_period_follows_the_span() -> None:
    short = frame(delivered(T0), delivered(T0 + timedelta(days=10)))
    mid = frame(delivered(T0), delivered(T0 + timedelta(days=300)))
    long = frame(delivered(T0), delivered(T0 + timedelta(days=900)))
    assert [f.choose_period(x) for x in (short, mid, long)] == ["day", "week", "month"]
    assert f.choose_period(frame()) == "day"
    assert f.volume_by_outcome(mid).axes[0].get_xlabel() == "Week starting (UTC)"
    with pytest.raises(ValueError, match="every"):
        f.choose_period(short, "year")  # type: ignore[arg-type]


def test_unknown_time_zone_is_refused(events: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="time zone"):
        f.volume_by_outcome(events, time_zone="Mars/Olympus")


# ---------------------------------------------------------------------------------------
# delivery rate


def test_delivery_rate_line_and_bars_equal_the_summary(events: pl.DataFrame) -> None:
    fig = f.delivery_rate_over_time(events, every="week", time_zone=NY)
    ax, rate_ax = fig.axes
    per = (
        m.delivery_summary(events, every="week", time_zone=NY)
        .filter(pl.col("n_outbound") > 0)
        .sort("period")
    )
    rates = line(rate_ax, "rate").get_ydata()
    expected = [math.nan if r is None else r for r in per["delivery_rate"].to_list()]
    np.testing.assert_array_equal(np.asarray(rates, dtype=float), np.asarray(expected))
    assert [b.get_height() for b in ax.patches] == [float(n) for n in per["n_used"].to_list()]
    overall = m.delivery_summary(events)["delivery_rate"].item()
    assert list(line(rate_ax, "overall").get_ydata()) == [overall, overall]
    assert rate_ax.get_ylabel() == "Delivery rate (%)"
    assert "count" in ax.get_ylabel()
    assert ax.get_xlabel() == f"Week starting ({NY})"
    assert ax.xaxis.get_major_formatter().tz == ZoneInfo(NY)


def test_delivery_rate_gap_where_nothing_reached_an_outcome() -> None:
    day2 = T0 + timedelta(days=1)
    df = frame(delivered(T0), sms(day2, queued_at=day2), sms(day2 + timedelta(days=1)))
    fig = f.delivery_rate_over_time(df, every="day")
    ydata = np.asarray(line(fig.axes[1], "rate").get_ydata(), dtype=float)
    assert ydata[0] == 1.0
    assert math.isnan(ydata[1])  # an in-flight message only: no rate, no invented zero


# ---------------------------------------------------------------------------------------
# latency


def test_ecdf_per_stage_with_metric_percentiles(events: pl.DataFrame) -> None:
    stages = ["queue", "carrier", "end_to_end"]
    fig = f.latency_ecdf(events, stages=stages, max_points=500)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "ms" in ax.get_xlabel()
    assert "%" in ax.get_ylabel()
    summary = m.latency_summary(events, stages=stages)
    for stage in stages:
        row = summary.filter(pl.col("stage") == stage).row(0, named=True)
        curve = line(ax, f"ecdf:{stage}")
        x, y = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
        assert len(x) <= 500
        assert y[-1] == 1.0
        assert x[-1] == row["max_ms"]
        assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0)
        marks = line(ax, f"percentiles:{stage}")
        assert list(marks.get_xdata()) == [row["p50_ms"], row["p90_ms"], row["p99_ms"]]
        assert list(marks.get_ydata()) == [0.5, 0.9, 0.99]
        assert f"n={row['n_used']:,}" in curve.get_label()


def test_ecdf_points_are_exact_ecdf_values() -> None:
    rows = [
        delivered(T0 + timedelta(minutes=i), e2e_ms=float(v))
        for i, v in enumerate([400, 100, 300, 200])
    ]
    ax = f.latency_ecdf(frame(*rows), stages=["end_to_end"]).axes[0]
    curve = line(ax, "ecdf:end_to_end")
    assert list(curve.get_xdata()) == [100.0, 200.0, 300.0, 400.0]
    assert list(curve.get_ydata()) == [0.25, 0.5, 0.75, 1.0]
    p50 = pl.DataFrame({"x": [100.0, 200.0, 300.0, 400.0]}).select(m.percentile("x", 0.5)).item()
    assert line(ax, "percentiles:end_to_end").get_xdata()[0] == p50 == 250.0


def test_ecdf_counts_zero_and_negative_latencies() -> None:
    rows = [
        delivered(T0, e2e_ms=0.0),  # zero: cannot be on a log axis
        delivered(T0, e2e_ms=1000.0),
        delivered(T0, e2e_ms=2000.0),
        sms(T0, queued_at=T0, delivered_at=T0 - timedelta(seconds=1)),  # negative gap
    ]
    ax = f.latency_ecdf(frame(*rows), stages=["end_to_end"]).axes[0]
    curve = line(ax, "ecdf:end_to_end")
    assert list(curve.get_xdata()) == [1000.0, 2000.0]
    assert list(curve.get_ydata()) == pytest.approx([2 / 3, 1.0])
    assert "1 at 0 ms" in curve.get_label()
    notes = " ".join(t.get_text() for t in by_gid(ax, "note"))
    assert "1 negative gaps excluded" in notes


def test_histogram_bins_and_percentile_lines(events: pl.DataFrame) -> None:
    ax = f.latency_histogram(events, stage="carrier", bins=25).axes[0]
    used = (
        events.filter(m.is_outbound() & m.is_countable_traffic())
        .select(m.latency_ms("carrier"))
        .to_series()
        .drop_nulls()
    )
    used = used.filter(used >= 0)
    assert len(ax.patches) == 25
    assert sum(p.get_height() for p in ax.patches) == used.filter(used > 0).len()
    row = m.latency_summary(events, stages=["carrier"]).row(0, named=True)
    assert line(ax, "p50").get_xdata()[0] == row["p50_ms"]
    assert line(ax, "p99").get_xdata()[0] == row["p99_ms"]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "Latency (ms, log scale)"
    assert ax.get_ylabel() == "Messages (count)"
    with pytest.raises(ValueError, match="bins"):
        f.latency_histogram(events, bins=0)


def test_histogram_notes_zeros() -> None:
    ax = f.latency_histogram(frame(delivered(e2e_ms=0.0), delivered(e2e_ms=50.0))).axes[0]
    assert sum(p.get_height() for p in ax.patches) == 1
    assert "1 at 0 ms not shown" in " ".join(t.get_text() for t in by_gid(ax, "note"))


# ---------------------------------------------------------------------------------------
# failures and retries


def test_pareto_bars_sum_to_every_failure(events: pl.DataFrame) -> None:
    fig = f.failure_pareto(events, by="error_code", top=5)
    ax, cum_ax = fig.axes
    counts = f.failure_counts(events, "error_code", top=5)
    assert [b.get_height() for b in ax.patches] == [float(n) for n in counts["n"].to_list()]
    assert len(ax.patches) <= 6
    d = m.delivery_summary(events).row(0, named=True)
    assert sum(b.get_height() for b in ax.patches) == (
        d["n_failed"] + d["n_undeliverable"] + d["n_blocked"]
    )
    heights = [b.get_height() for b in ax.patches[:-1]]
    assert heights == sorted(heights, reverse=True)
    assert line(cum_ax, "cumulative").get_ydata()[-1] == pytest.approx(1.0)
    assert [t.get_text() for t in ax.get_xticklabels()][-1].startswith("other (")
    assert ax.get_ylabel() == "Failed messages (count)"
    assert cum_ax.get_ylabel() == "Cumulative share (%)"
    assert ax.get_xlabel() == "Error code"


def test_failure_counts_fold_the_tail_exactly() -> None:
    rows = [sms(failed_at=T0, error_code=c) for c in ["a", "a", "a", "b", "b", "c", None]]
    got = f.failure_counts(frame(*rows), "error_code", top=2)
    assert got.select("key", "n").rows() == [("a", 3), ("b", 2), ("other (2 values)", 2)]
    assert got["cumulative_share"].to_list() == pytest.approx([3 / 7, 5 / 7, 1.0])
    got = f.failure_counts(frame(*rows), "error_code", top=10)
    assert ("(not given)", 1) in got.select("key", "n").rows()


def test_retries_bars_and_rates_equal_the_distribution(events: pl.DataFrame) -> None:
    fig = f.retries_by_count(events, as_of=AS_OF)
    ax, rate_ax = fig.axes
    dist = m.retry_distribution(events, as_of=AS_OF).sort("retry_count")
    assert [b.get_height() for b in ax.patches] == [float(n) for n in dist["n_messages"]]
    assert [b.get_x() + b.get_width() / 2 for b in ax.patches] == dist["retry_count"].to_list()
    expected = [math.nan if r is None else r for r in dist["delivery_rate"].to_list()]
    np.testing.assert_array_equal(np.asarray(line(rate_ax, "rate").get_ydata()), expected)
    assert ax.get_xlabel() == "Retries made (retry_count)"
    assert rate_ax.get_ylabel() == "Delivery rate (%)"


# ---------------------------------------------------------------------------------------
# billing


def test_billed_over_time_bars_and_exact_total(events: pl.DataFrame) -> None:
    ax = f.billed_over_time(events, every="month", time_zone=NY).axes[0]
    per = (
        m.billing_summary(events, by=(), every="month", time_zone=NY)
        .filter(pl.col("n_used") > 0)
        .sort("period")
    )
    assert [b.get_height() for b in ax.patches] == [float(a) for a in per["total_amount"]]
    total = m.billing_summary(events, by=())["total_amount"].item()
    assert f"(total USD {f.money_texts([total])[0]})" in ax.get_title()
    assert ax.get_ylabel() == "Billed amount (USD)"
    assert ax.get_xlabel() == f"Month ({NY})"
    assert ax.xaxis.get_major_formatter().tz == ZoneInfo(NY)


def test_billed_by_campaign_labels_are_exact_decimals() -> None:
    amounts = {"cmp_a": "0.0079", "cmp_b": "1.1000", "cmp_c": "0.3333", "cmp_d": "0.0001"}
    rows = [
        delivered(T0, campaign_id=c, billable_amount=Decimal(a))
        for c, a in amounts.items()
        for _ in range(3)
    ]
    ax = f.billed_by_campaign(frame(*rows), top=2).axes[0]
    labels = [t.get_text() for t in ax.texts]
    # largest first (drawn bottom-up), the tail folded exactly: 3 × (0.0079 + 0.0001)
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "other (2 campaigns)",
        "cmp_c",
        "cmp_b",
    ]
    assert labels == ["0.0240", "0.9999", "3.3000"]
    assert ax.get_xlabel() == "Billed amount (USD)"
    assert ax.get_ylabel() == "Campaign"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False),
        min_size=1,
        max_size=6,
    )
)
def test_money_texts_are_exact(values: list[Decimal]) -> None:
    texts = f.money_texts(values)
    assert [Decimal(t.replace(",", "")) for t in texts] == values
    assert len({len(t.split(".")[1]) for t in texts}) == 1  # one scale per column
    assert all(len(t.split(".")[1]) >= 4 for t in texts)  # 4 places at least


def test_money_figures_name_the_currency() -> None:
    rows = [delivered(T0, campaign_id="c", billable_amount=Decimal("0.0079"))]
    over = f.billed_over_time(frame(*rows), currency="EUR").axes[0]
    assert over.get_ylabel() == "Billed amount (EUR)"
    assert "(total EUR 0.0079)" in over.get_title()
    by = f.billed_by_campaign(frame(*rows), currency="GBP").axes[0]
    assert by.get_xlabel() == "Billed amount (GBP)"
    for fn in (f.billed_over_time, f.billed_by_campaign):
        with pytest.raises(ValueError, match="currency"):
            fn(frame(*rows), currency="eur")


# ---------------------------------------------------------------------------------------
# edge cases: empty, one event, large, ax=, LazyFrame, no pyplot


@pytest.mark.parametrize("name", ALL_FIGURES)
def test_empty_frame_says_no_data(name: str) -> None:
    fig = ALL_FIGURES[name](frame())
    assert isinstance(fig, Figure)
    assert no_data_text(fig).startswith("No data")
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


@pytest.mark.parametrize("name", ALL_FIGURES)
def test_one_event_draws_it(name: str) -> None:
    one = frame(delivered(T0, retry_count=1))
    if name == "failure_pareto":
        one = frame(sms(T0, failed_at=T0, error_code="40001", status_reason="Carrier error"))
    fig = ALL_FIGURES[name](one)
    assert no_data_text(fig) == ""
    fig.canvas.draw()  # renders without error
    ax = fig.axes[0]
    if name == "latency_ecdf":
        assert list(line(ax, "ecdf:end_to_end").get_ydata()) == [1.0]
    elif name == "latency_histogram":
        assert sum(p.get_height() for p in ax.patches) == 1
    else:
        assert len(ax.patches) == 1


@pytest.mark.slow
def test_large_frame_is_aggregated_before_drawing() -> None:
    base = events_frame(3, 20_000)
    big = pl.concat([base.with_columns(pl.col("id") + f"-{i}") for i in range(10)], how="vertical")
    assert big.height == 200_000
    for name, build in ALL_FIGURES.items():
        fig = build(big)
        n_artists = sum(len(ax.lines) + len(ax.patches) + len(ax.texts) for ax in fig.axes)
        assert n_artists < 2_000, name
        points = sum(len(ln.get_xdata()) for ax in fig.axes for ln in ax.lines)
        assert points <= 5 * 2_000 + 250, name  # latency_ecdf: 5 stages by default


def test_draws_into_a_given_axes(events: pl.DataFrame) -> None:
    host = Figure(figsize=(10, 8), layout="constrained")
    axes = host.subplots(2, 1)
    got1 = f.volume_by_outcome(events, ax=axes[0])
    got2 = f.billed_by_campaign(events, ax=axes[1])
    assert got1 is host and got2 is host
    assert axes[0].patches and axes[1].patches


def test_lazyframe_gives_the_same_figure(events: pl.DataFrame) -> None:
    a = f.retries_by_count(events, as_of=AS_OF).axes[0]
    b = f.retries_by_count(events.lazy(), as_of=AS_OF).axes[0]
    assert [p.get_height() for p in a.patches] == [p.get_height() for p in b.patches]
    with pytest.raises(TypeError, match="polars"):
        f.latency_ecdf([1, 2, 3])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# the widgets' drawing: compact bars, a reusable fixed-layout panel


def rect_corners(ax: Axes, gid: str) -> np.ndarray:
    """``(x, y, width, height)`` of the ``Rectangle`` bars with ``gid``."""
    rects = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == gid]
    return np.array([(r.get_x(), r.get_y(), r.get_width(), r.get_height()) for r in rects])


def collection_corners(ax: Axes, gid: str) -> np.ndarray:
    """``(x, y, width, height)`` of the rectangles of the one collection with ``gid``."""
    (bars,) = [c for c in ax.collections if c.get_gid() == gid]
    v = np.array([np.asarray(path.vertices, dtype=float) for path in bars.get_paths()])
    return np.stack([v[:, 0, 0], v[:, 0, 1], v[:, 2, 0] - v[:, 0, 0], v[:, 1, 1] - v[:, 0, 1]], 1)


def test_compact_bars_are_the_same_rectangles_as_one_artist(events: pl.DataFrame) -> None:
    per = f._delivery_periods(m.delivery_summary(events, every="week", time_zone=NY))
    overall = m.delivery_summary(events)["delivery_rate"].item()
    compact = f._draw_delivery(Figure().add_subplot(), per, overall, "week", NY, compact=True)
    public = f.delivery_rate_over_time(events, every="week", time_zone=NY)
    ax, ref = compact.axes[0], public.axes[0]
    assert len(ax.patches) == 0 and len(ax.collections) == 1
    np.testing.assert_allclose(
        collection_corners(ax, "volume"), rect_corners(ref, "volume"), rtol=0, atol=1e-9
    )
    assert ax.get_legend_handles_labels()[1] == ref.get_legend_handles_labels()[1]
    np.testing.assert_array_equal(
        np.asarray(line(compact.axes[1], "rate").get_ydata(), dtype=float),
        np.asarray(line(public.axes[1], "rate").get_ydata(), dtype=float),
    )
    # like ax.bar, the bars start at 0 when nothing fixes the limits
    billed = f._billed_periods(m.billing_summary(events, by=(), every="month"))
    total = m.billing_summary(events, by=())["total_amount"].item()
    bax = f._draw_billed(Figure().add_subplot(), billed, total, "month", "UTC", compact=True)
    assert bax.axes[0].get_ylim()[0] == 0.0


def test_panel_clear_leaves_a_blank_axes(events: pl.DataFrame) -> None:
    panel = fb._Panel(dpi=50)
    blank = panel.png()
    assert blank.startswith(b"\x89PNG") and blank[16:24] == (400).to_bytes(4, "big") + (
        225
    ).to_bytes(4, "big")  # 8 x 4.5 inches at 50 dpi
    f.latency_histogram(events, ax=panel.clear())  # log x axis, legend, note
    f.retries_by_count(events, as_of=AS_OF, ax=panel.clear())  # twin axes, bar labels
    (twin,) = [a for a in panel.figure.axes if a is not panel.ax]
    assert twin.get_visible() and twin.lines  # the panel's own twin, reused
    panel.ax.set_yscale("log")
    panel.ax.set_xlim(5, 6)
    ax = panel.clear()
    assert ax is panel.ax and panel.figure.axes == [ax, twin]
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "linear")
    for a in (ax, twin):
        assert not (a.lines or a.patches or a.collections or a.texts) and a.get_legend() is None
        assert a.get_title() == a.get_xlabel() == a.get_ylabel() == ""
        assert a.get_autoscalex_on() and a.get_autoscaley_on()
    assert not twin.get_visible()
    assert panel.png() == blank


def test_pyplot_is_never_imported() -> None:
    code = (
        "import sys\n"
        "from leadping_nb import figures as f\n"
        "from leadping_nb.emulator import events_frame\n"
        "df = events_frame(0, 500)\n"
        f"for name in {sorted(ALL_FIGURES)!r}:\n"
        "    getattr(f, name)(df).savefig(__import__('io').BytesIO(), format='png')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_times_are_utc_instants_whatever_the_zone() -> None:
    df = frame(delivered(datetime(2024, 6, 1, 12, tzinfo=UTC)))
    utc = f.billed_over_time(df, every="day", time_zone="UTC").axes[0].patches[0].get_x()
    tokyo = f.billed_over_time(df, every="day", time_zone="Asia/Tokyo").axes[0].patches[0]
    # the Tokyo day starts 9 hours before the UTC day: bars sit at the local midnights
    assert utc - tokyo.get_x() == pytest.approx(9 / 24)
    assert datetime(2024, 6, 1, tzinfo=ZoneInfo("Asia/Tokyo")).astimezone(UTC) == datetime(
        2024, 5, 31, 15, tzinfo=UTC
    )


@pytest.mark.parametrize("name", ["latency_histogram", "retries_by_count"])
def test_small_counts_get_whole_number_ticks_without_repeated_labels(name: str) -> None:
    rows = [delivered(e2e_ms=900.0), delivered(e2e_ms=2300.0, retry_count=1)]
    kwargs = {"as_of": AS_OF} if name == "retries_by_count" else {}
    fig = ALL_FIGURES[name](frame(*rows), **kwargs)
    fig.canvas.draw()
    ax = fig.axes[0]
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) == len(set(labels)), labels


TIME_FIGURES = ["volume_by_outcome", "delivery_rate_over_time", "billed_over_time"]


@pytest.mark.parametrize("name", TIME_FIGURES)
def test_events_without_created_at_are_left_out_and_counted(name: str) -> None:
    """A drifted page or a lenient conversion can leave created_at null."""
    dated = [delivered(T0), delivered(T0 + timedelta(days=1))]
    undated = [delivered(T0, created_at=None) for _ in range(3)]
    ax = ALL_FIGURES[name](frame(*dated, *undated), every="day").axes[0]
    drawn = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert sum(p.get_height() for p in drawn) == (0.0079 * 2 if name == "billed_over_time" else 2)
    notes = [t.get_text() for t in by_gid(ax, "note")]
    what = "billed events" if name == "billed_over_time" else "messages"
    assert notes == [f"3 {what} without created_at not shown"]
    only_undated = ALL_FIGURES[name](frame(*undated), every="day")
    assert "created_at" in no_data_text(only_undated)
