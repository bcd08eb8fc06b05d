"""matplotlib figures of an events frame: latency, volume, delivery, failures, retries, billing.

Every function takes a canonical events frame (a ``DataFrame`` or a ``LazyFrame``),
computes what it plots with :mod:`leadping_nb.metrics` (so a figure shows exactly the
numbers of the tables), and returns a :class:`matplotlib.figure.Figure`. Pass ``ax=`` to
draw into an existing axes (the function then returns that axes' figure). No function
touches pyplot state: figures are plain ``Figure`` objects, safe in scripts, notebooks,
widgets and reports (pitfalls §4.4, §5.4).

Conventions

* Time axes are plotted in UTC and labelled in ``time_zone`` through
  ``DateFormatter(tz=...)``; calendar periods (day, week, month) are local to
  ``time_zone`` (pitfalls §5.1). ``every="auto"`` picks days for up to 92 days of data,
  weeks for up to two years, months beyond.
* Money is exact Decimal in the frame and in every table; it is converted to Float64
  only to be drawn, and labels that print an amount print the exact Decimal.
* Latency axes are logarithmic: zero values cannot be drawn on a log axis and negative
  gaps are excluded by the metrics, so both are counted in an annotation (pitfalls §5.3).
* Empty input gives a figure that says "No data", never an exception. Large input is
  aggregated before plotting: the ECDF draws at most ``max_points`` exact ECDF points per
  stage, bars are per period or category, so the number of artists stays bounded.

Each figure is computed in two steps: its numbers (from :mod:`leadping_nb.metrics`),
then a private ``_draw_*`` function that draws them. The widgets reuse the drawing on
numbers they aggregate from their cache (:mod:`leadping_nb._widgets_cache`), into a
reusable fixed-layout figure (``_Panel``) that draws each bar series as one artist.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import (
    AutoLocator,
    FuncFormatter,
    MaxNLocator,
    NullFormatter,
    NullLocator,
    PercentFormatter,
    ScalarFormatter,
)

from leadping_nb import metrics as m

__all__ = [
    "OUTCOME_COLORS",
    "PeriodChoice",
    "billed_by_campaign",
    "billed_over_time",
    "choose_period",
    "delivery_rate_over_time",
    "failure_counts",
    "failure_pareto",
    "latency_ecdf",
    "latency_histogram",
    "money_texts",
    "retries_by_count",
    "volume_by_outcome",
]

FrameLike = pl.DataFrame | pl.LazyFrame
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
PeriodChoice = Literal["auto", "day", "week", "month"]

#: One fixed colour per outcome, the same in every figure.
OUTCOME_COLORS: dict[str, str] = {
    "delivered": "#2ca02c",
    "undeliverable": "#9467bd",
    "failed": "#d62728",
    "blocked": "#8c564b",
    "canceled": "#7f7f7f",
    "scheduled": "#17becf",
    "in_flight": "#bcbd22",
    "inbound": "#1f77b4",
}
_STAGE_LABELS: dict[str, str] = {
    "queue": "queue (queued → sending)",
    "send": "send (sending → sent)",
    "carrier": "carrier (sent → delivered)",
    "end_to_end": "end to end (queued → delivered)",
    "schedule_lag": "schedule lag (due → sending)",
}
_PERIOD_LABELS = {"day": "Day", "week": "Week starting", "month": "Month"}
_PERIOD_ADJ = {"day": "daily", "week": "weekly", "month": "monthly"}
_FAILURE_OUTCOMES: tuple[m.Outcome, ...] = ("failed", "undeliverable", "blocked")
_BAR_SHARE = 0.85  # share of a period a bar covers
_DEFAULT_SIZE = (8.0, 4.5)


# ---------------------------------------------------------------------------------------
# shared helpers


def _axes(ax: Axes | None, figsize: tuple[float, float] = _DEFAULT_SIZE) -> Axes:
    """``ax``, or the single axes of a new constrained-layout Figure (no pyplot)."""
    if ax is not None:
        return ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _figure(ax: Axes) -> Figure:
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure):  # pragma: no cover - an Axes always has a figure
        raise TypeError("the axes is not attached to a Figure")
    return fig


def _lazy(df: FrameLike) -> pl.LazyFrame:
    if isinstance(df, pl.DataFrame):
        return df.lazy()
    if isinstance(df, pl.LazyFrame):
        return df
    raise TypeError(f"expected a polars DataFrame or LazyFrame, got {type(df).__name__}")


def _no_data(ax: Axes, title: str, xlabel: str, ylabel: str, why: str = "") -> Figure:
    """Label the axes and say there is nothing to plot."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks([])
    ax.set_yticks([])
    message = "No data" + (f": {why}" if why else "")
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize="large",
        color="0.4",
        gid="no-data",
    )
    return _figure(ax)


def _note(ax: Axes, text: str) -> None:
    """A small grey note in the axes' lower right corner (exclusions, totals)."""
    if text:
        ax.text(
            0.99,
            0.02,
            text,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize="small",
            color="0.35",
            gid="note",
        )


def _split_undated(per: pl.DataFrame, count: str) -> tuple[pl.DataFrame, int]:
    """Rows with a period, and the ``count`` of events without ``created_at`` (no period).

    A time axis cannot place an event without a creation time (a drifted page, or a
    lenient conversion that nulled a bad timestamp): it is left out and counted in a note.
    """
    undated = per.filter(pl.col("period").is_null())
    if undated.height == 0:
        return per, 0
    return per.filter(pl.col("period").is_not_null()), int(undated[count].sum())


def _undated_note(ax: Axes, n: int, what: str = "message") -> None:
    if n:
        _note(ax, f"{n:,} {what}{'' if n == 1 else 's'} without created_at not shown")


def _check_tz(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {time_zone!r}") from exc


def choose_period(df: FrameLike, every: PeriodChoice = "auto") -> m.Every:
    """The calendar period to bucket by: ``every`` itself, or one chosen from the data span.

    ``"auto"`` gives ``"day"`` for up to 92 days between the first and the last
    ``created_at``, ``"week"`` for up to 730 days, ``"month"`` beyond (and ``"day"`` for
    an empty frame), so a time axis has at most about a hundred bars.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> df = pl.DataFrame({"created_at": [datetime(2024, 1, 1, tzinfo=UTC),
    ...                                   datetime(2024, 12, 1, tzinfo=UTC)]})
    >>> choose_period(df), choose_period(df, "month")
    ('week', 'month')
    """
    if every != "auto":
        if every not in get_args(m.Every):
            raise ValueError(f"every must be 'auto', 'day', 'week' or 'month', got {every!r}")
        return every
    span = (
        _lazy(df)
        .select((pl.col("created_at").max() - pl.col("created_at").min()).dt.total_days())
        .collect()
        .item()
    )
    if span is None or span <= 92:
        return "day"
    return "week" if span <= 730 else "month"


def _nominal_days(every: m.Every, start: datetime) -> float:
    if every == "day":
        return 1.0
    if every == "week":
        return 7.0
    nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else None
    nxt = nxt or start.replace(month=start.month + 1)
    return float((nxt.date() - start.date()).days)


def _date_nums(values: Sequence[datetime]) -> list[float]:
    """matplotlib date numbers of aware datetimes (the instants, i.e. UTC)."""
    nums = mdates.date2num(list(values))  # type: ignore[no-untyped-call]
    return [float(v) for v in nums]


def _time_axis(ax: Axes, starts: Sequence[datetime], every: m.Every, time_zone: str) -> None:
    """Date ticks in ``time_zone`` (values are UTC instants, pitfalls §5.1) and the x label."""
    zone = _check_tz(time_zone)
    fmt = "%Y-%m" if every == "month" else "%Y-%m-%d"
    if len(starts) <= 12:
        ax.set_xticks(_date_nums(starts))
    else:
        locator = mdates.AutoDateLocator(tz=zone, minticks=3, maxticks=9)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
    formatter = mdates.DateFormatter(fmt, tz=zone)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_xlabel(f"{_PERIOD_LABELS[every]} ({time_zone})")
    if starts:
        first, last = _date_nums([starts[0], starts[-1]])
        last += _nominal_days(every, starts[-1])
        pad = max((last - first) * 0.02, _nominal_days(every, starts[0]) * 0.5)
        ax.set_xlim(first - pad, last + pad)


def _bar_geometry(starts: Sequence[datetime], every: m.Every) -> tuple[list[float], list[float]]:
    """Left edges (matplotlib date numbers) and widths (days) of one bar per period."""
    x = _date_nums(starts)
    widths = [_nominal_days(every, s) * _BAR_SHARE for s in starts]
    return x, widths


def _bars(
    ax: Axes,
    left: Sequence[float] | np.ndarray,
    heights: Sequence[float] | np.ndarray,
    widths: Sequence[float] | np.ndarray | float,
    *,
    compact: bool,
    bottom: np.ndarray | None = None,
    color: str,
    label: str | None = None,
    gid: str | None = None,
    alpha: float | None = None,
) -> None:
    """Bars with their left edge at ``left``: one ``Rectangle`` per bar, or (``compact``)
    the same rectangles as one ``PolyCollection`` (one artist to create and draw instead of
    one per bar; the widgets' figures)."""
    if not compact:
        given = {"bottom": bottom, "label": label, "gid": gid, "alpha": alpha}
        style: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        ax.bar(left, heights, width=widths, align="edge", color=color, **style)
        return
    x0 = np.asarray(left, dtype=float)
    h = np.asarray(heights, dtype=float)
    x1 = x0 + np.broadcast_to(np.asarray(widths, dtype=float), x0.shape)
    y0 = np.zeros_like(h) if bottom is None else np.asarray(bottom, dtype=float)
    y1 = y0 + h
    verts = np.stack(
        [
            np.stack([x0, y0], 1),
            np.stack([x0, y1], 1),
            np.stack([x1, y1], 1),
            np.stack([x1, y0], 1),
        ],
        axis=1,
    )
    bars = PolyCollection(
        list(verts), facecolors=color, edgecolors="none", linewidths=0, alpha=alpha
    )
    bars.set_label(label or "_nolegend_")
    bars.set_gid(gid)
    bars.sticky_edges.y.append(0.0)  # like ax.bar: no margin below the baseline
    ax.add_collection(bars, autolim=True)
    ax.autoscale_view()


#: Twin axes kept by a ``_Panel`` for its main axes (reused by every redraw).
_PANEL_TWINS: weakref.WeakKeyDictionary[Axes, Axes] = weakref.WeakKeyDictionary()


def _twinx(ax: Axes) -> Axes:
    """``ax.twinx()``, or the twin a :class:`_Panel` keeps for ``ax`` (shown again)."""
    twin = _PANEL_TWINS.get(ax)
    if twin is None:
        return ax.twinx()
    twin.set_visible(True)
    return twin


def _reset_axes(ax: Axes) -> None:
    """Bring a drawn axes back to a blank one, keeping its tick objects (cheaper than
    ``cla()``, which builds every tick again)."""
    for artist in [*ax.lines, *ax.patches, *ax.collections, *ax.texts, *ax.images]:
        artist.remove()
    legend = ax.get_legend()
    if legend is not None:
        legend.remove()
    for loc in ("left", "center", "right"):
        ax.set_title("", loc=loc)
    ax.set_xlabel("")
    ax.set_ylabel("")
    if ax.get_xscale() != "linear":
        ax.set_xscale("linear")
    if ax.get_yscale() != "linear":
        ax.set_yscale("linear")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(AutoLocator())
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_locator(NullLocator())
        axis.set_minor_formatter(NullFormatter())
    ax.grid(False)
    ax.relim()  # no artist left: empty data limits
    ax.set_autoscale_on(True)
    # the view of a new axes; auto=None keeps autoscaling on, here and on a shared twin
    ax.set_xlim(0.0, 1.0, auto=None)
    ax.set_ylim(0.0, 1.0, auto=None)


#: Fixed margins (left, right, bottom, top) of each figure in a ``_Panel`` of the default
#: size: room for its tick labels, axis labels and title without a layout engine.
_PANEL_MARGINS: dict[str, tuple[float, float, float, float]] = {
    "delivery_rate_over_time": (0.105, 0.905, 0.2, 0.935),
    "volume_by_outcome": (0.105, 0.965, 0.2, 0.935),
    "latency_histogram": (0.11, 0.985, 0.12, 0.935),
    "failure_pareto": (0.2, 0.905, 0.37, 0.935),
    "retries_by_count": (0.12, 0.905, 0.11, 0.935),
    "billed_over_time": (0.085, 0.965, 0.2, 0.935),
}


class _Panel:
    """A figure drawn again and again (the explorer's tabs): fixed layout, no pyplot.

    Creating a figure, its axes and their ticks and running a layout engine cost more
    than drawing a small figure; a panel keeps one figure with fixed margins, clears its
    axes (and the twin it keeps) before each drawing and renders it to PNG directly on
    the Agg canvas. Meant for one kind of figure (the margins are chosen for it; text
    properties a figure sets on its tick labels are not undone). Not thread-safe: use
    one panel per thread.
    """

    def __init__(
        self,
        *,
        figsize: tuple[float, float] = _DEFAULT_SIZE,
        dpi: float = 72,
        margins: tuple[float, float, float, float] = (0.11, 0.9, 0.2, 0.935),
    ) -> None:
        self.figure = Figure(figsize=figsize, dpi=dpi)
        left, right, bottom, top = margins
        self.figure.subplots_adjust(left=left, right=right, bottom=bottom, top=top)
        self.ax: Axes = self.figure.add_subplot()
        _PANEL_TWINS[self.ax] = self.ax.twinx()
        self.canvas = FigureCanvasAgg(self.figure)
        self.clear()

    def clear(self) -> Axes:
        """Clear the panel for a new drawing and return its (blank) axes."""
        _reset_axes(self.ax)
        twin = _PANEL_TWINS[self.ax]
        _reset_axes(twin)
        twin.set_visible(False)
        return self.ax

    def png(self, *, compress_level: int = 1) -> bytes:
        """The figure as PNG (fast zlib level: a few percent larger, several ms less)."""
        buf = io.BytesIO()
        self.canvas.print_png(buf, pil_kwargs={"compress_level": compress_level})  # type: ignore[no-untyped-call]
        return buf.getvalue()


def _count_formatter(value: float, _pos: int) -> str:
    return f"{value:,.0f}"


def _fmt_ms(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def _shorten(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def money_texts(values: Sequence[Decimal | None], *, min_digits: int = 2) -> list[str]:
    """Exact text of Decimal amounts, all with the same number of decimals.

    The number of decimals is the smallest that shows every value exactly (at least
    ``min_digits``): trailing zeros of the column's scale are dropped, no digit is ever
    rounded away, and nothing goes through float. ``None`` becomes ``"—"``.

    Examples
    --------
    >>> money_texts([Decimal("1234.500000"), Decimal("0.007900"), None])
    ['1,234.5000', '0.0079', '—']
    """
    digits = min_digits
    for v in values:
        if v is not None and v.is_finite():
            exponent = v.normalize().as_tuple().exponent
            if isinstance(exponent, int):
                digits = max(digits, -exponent)
    quantum = Decimal(1).scaleb(-digits)
    return ["—" if v is None else format(v.quantize(quantum), ",f") for v in values]


def _decimal_text(value: Decimal | None) -> str:
    """One exact Decimal amount as text (never through float)."""
    return money_texts([value])[0]


# ---------------------------------------------------------------------------------------
# latency


def _latency_values(
    lf: pl.LazyFrame, stage: m.Stage, include_warmup: bool, include_test: bool
) -> pl.Series:
    """The used latencies of ``stage`` (the metrics' scope: outbound, countable, both ends
    set, not negative), sorted ascending."""
    name = f"latency_{stage}_ms"
    scope = m.is_outbound() & m.is_countable_traffic(
        include_warmup=include_warmup, include_test=include_test
    )
    return (
        lf.filter(scope)
        .select(m.latency_ms(stage).alias(name))
        .filter(pl.col(name) >= 0)
        .collect()
        .to_series()
        .sort()
    )


def _ecdf_points(values: pl.Series, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ECDF points ``(x_i, (i + 1) / n)`` of sorted ``values``, at most ``max_points``
    of them (evenly spaced ranks, always the first and the last)."""
    n = values.len()
    idx = np.arange(n) if n <= max_points else np.unique(np.linspace(0, n - 1, max_points).round())
    idx = idx.astype(np.int64)
    x = values.gather(idx).to_numpy().astype(float)
    y = (idx + 1) / n
    return x, y


def latency_ecdf(
    df: FrameLike,
    *,
    stages: Sequence[m.Stage] = ("queue", "send", "carrier", "end_to_end"),
    include_warmup: bool = False,
    include_test: bool = False,
    max_points: int = 2000,
    ax: Axes | None = None,
) -> Figure:
    """ECDF of latency per stage on a log axis, with p50, p90 and p99 marked.

    Scope and values are those of :func:`leadping_nb.metrics.latency_summary`; the
    markers are its ``p50_ms`` / ``p90_ms`` / ``p99_ms`` (same interpolation). Zero
    latencies (off a log axis) are counted in the legend; the curve of a stage starts at
    the share of its zeros.

    Parameters
    ----------
    df
        Canonical events frame.
    stages
        Stages to draw (see :data:`leadping_nb.metrics.STAGES`).
    include_warmup, include_test
        Traffic scope, as in the metrics.
    max_points
        At most this many exact ECDF points per stage are drawn.
    ax
        Axes to draw into; default: a new figure.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> fig = latency_ecdf(frame)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    ax = _axes(ax)
    title = "Latency ECDF by stage"
    xlabel, ylabel = "Latency (ms, log scale)", "Share of messages ≤ latency (%)"
    lf = _lazy(df)
    stats = m.latency_summary(
        lf, stages=stages, include_warmup=include_warmup, include_test=include_test
    ).collect()
    drawn = 0
    notes: list[str] = []
    for i, stage in enumerate(stages):
        values = _latency_values(lf, stage, include_warmup, include_test)
        positive = values.filter(values > 0)
        row = stats.filter(pl.col("stage") == stage).row(0, named=True)
        n_zero = values.len() - positive.len()
        if row["n_negative"]:
            notes.append(f"{stage}: {row['n_negative']:,} negative gaps excluded")
        if positive.len() == 0:
            continue
        drawn += 1
        color = f"C{i}"
        x, y = _ecdf_points(values, max_points)
        keep = x > 0
        label = f"{_STAGE_LABELS.get(stage, stage)}, n={values.len():,}"
        if n_zero:
            label += f" ({n_zero:,} at 0 ms, off-axis)"
        ax.step(x[keep], y[keep], where="post", color=color, label=label, gid=f"ecdf:{stage}")
        qs = [(q, row[f"p{round(q * 100)}_ms"]) for q in (0.5, 0.9, 0.99)]
        shown = [(q, v) for q, v in qs if v is not None and v > 0]
        ax.plot(
            [v for _, v in shown],
            [q for q, _ in shown],
            linestyle="none",
            marker="o",
            markersize=5,
            color=color,
            gid=f"percentiles:{stage}",
        )
    if drawn == 0:
        return _no_data(ax, title, xlabel, ylabel, "no positive latencies")
    for q in (0.5, 0.9, 0.99):
        ax.axhline(q, color="0.75", linewidth=0.8, linestyle=":", zorder=0)
        ax.annotate(
            f"p{round(q * 100)}",
            xy=(1.0, q),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
            color="0.4",
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(title + " (dots: p50, p90, p99)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    # with a note in the lower right corner, keep the legend clear of it
    ax.legend(loc="center right" if notes else "lower right", fontsize="small")
    _note(ax, "; ".join(notes))
    return _figure(ax)


def latency_histogram(
    df: FrameLike,
    *,
    stage: m.Stage = "end_to_end",
    bins: int = 40,
    include_warmup: bool = False,
    include_test: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Histogram of one stage's latency with logarithmic bins, p50/p90/p99 as lines.

    Zero latencies cannot be placed in a log bin and negative gaps are excluded by the
    metrics: both are counted in a note (pitfalls §5.3).

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> ax = latency_histogram(frame, bins=20).axes[0]
    >>> len(ax.patches)
    20
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    ax = _axes(ax)
    lf = _lazy(df)
    values = _latency_values(lf, stage, include_warmup, include_test)
    row = (
        m.latency_summary(
            lf, stages=[stage], include_warmup=include_warmup, include_test=include_test
        )
        .collect()
        .row(0, named=True)
    )
    hist = _LatencyHistogram.of(values.to_numpy().astype(float), row, stage, bins)
    return _draw_latency_histogram(ax, hist)


@dataclass(frozen=True)
class _LatencyHistogram:
    """What :func:`latency_histogram` draws: counts per log bin, percentiles, notes."""

    stage: m.Stage
    counts: np.ndarray  # per bin, of the positive latencies
    edges: np.ndarray  # bins + 1 log-spaced edges (empty: no positive latency)
    percentiles: dict[float, float | None]  # 0.5, 0.9, 0.99 -> ms (the summary's)
    n_used: int  # latencies used (zero included)
    n_zero: int  # zero latencies (off a log axis)
    n_negative: int

    @classmethod
    def of(
        cls, used: np.ndarray, row: dict[str, Any], stage: m.Stage, bins: int
    ) -> _LatencyHistogram:
        """From the used latencies sorted ascending (``>= 0``) and the summary ``row``
        (``p50_ms``, ``p90_ms``, ``p99_ms``, ``n_negative``)."""
        positive = used[np.searchsorted(used, 0.0, side="right") :]
        percentiles = {q: row[f"p{round(q * 100)}_ms"] for q in (0.5, 0.9, 0.99)}
        counts = (int(used.size), int(used.size - positive.size), int(row["n_negative"]))
        if positive.size == 0:
            empty = np.zeros(0)
            return cls(stage, empty, empty, percentiles, *counts)
        lo, hi = float(positive[0]), float(positive[-1])
        if lo == hi:
            lo, hi = lo / 1.5, hi * 1.5
        edges = np.logspace(np.log10(lo), np.log10(hi), bins + 1)
        edges[0], edges[-1] = lo, hi  # exact ends: 10 ** log10(x) may miss x by one ulp
        per_bin, _ = np.histogram(positive, bins=edges)
        return cls(stage, per_bin, edges, percentiles, *counts)


def _draw_latency_histogram(ax: Axes, hist: _LatencyHistogram, *, compact: bool = False) -> Figure:
    title = f"Latency histogram: {_STAGE_LABELS.get(hist.stage, hist.stage)}"
    xlabel, ylabel = "Latency (ms, log scale)", "Messages (count)"
    if hist.edges.size == 0:
        return _no_data(ax, title, xlabel, ylabel, "no positive latencies")
    edges = hist.edges
    if compact:
        _bars(
            ax,
            edges[:-1],
            hist.counts,
            np.diff(edges),
            compact=True,
            color="C0",
            alpha=0.8,
            gid="histogram",
        )
    else:
        # one Rectangle per bin, exactly as ax.hist(values, bins=edges) draws them
        ax.hist(
            edges[:-1],
            bins=edges.tolist(),
            weights=hist.counts,
            color="C0",
            alpha=0.8,
            gid="histogram",
        )
    for q, style in ((0.5, "-"), (0.9, "--"), (0.99, ":")):
        v = hist.percentiles[q]
        if v is not None and v > 0:
            ax.axvline(
                v,
                color="C3",
                linestyle=style,
                linewidth=1.2,
                label=f"p{round(q * 100)} = {_fmt_ms(v)}",
                gid=f"p{round(q * 100)}",
            )
    ax.set_xscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # small counts: 0, 1, 2, not 0.5
    ax.yaxis.set_major_formatter(FuncFormatter(_count_formatter))
    ax.legend(loc="upper right", fontsize="small")
    parts = [f"n={hist.n_used:,}"]
    if hist.n_zero:
        parts.append(f"{hist.n_zero:,} at 0 ms not shown")
    if hist.n_negative:
        parts.append(f"{hist.n_negative:,} negative gaps excluded")
    _note(ax, "; ".join(parts))
    return _figure(ax)


# ---------------------------------------------------------------------------------------
# volume and delivery over time


def volume_by_outcome(
    df: FrameLike,
    *,
    every: PeriodChoice = "auto",
    time_zone: str = "UTC",
    include_warmup: bool = False,
    include_test: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Messages per period (local to ``time_zone``), stacked by outcome.

    Counts are :func:`leadping_nb.metrics.outcome_counts` ``n`` (countable traffic);
    events that are not messages (calls, notes) have no outcome and are not drawn. One
    bar segment per period and outcome present, in :data:`OUTCOME_COLORS`. Messages without
    ``created_at`` have no period: they are left out and counted in a note.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> fig = volume_by_outcome(frame, every="month", time_zone="America/New_York")
    >>> fig.axes[0].get_xlabel()
    'Month (America/New_York)'
    """
    ax = _axes(ax)
    lf = _lazy(df)
    period = choose_period(lf, every)
    counts = _volume_counts(
        m.outcome_counts(
            lf,
            every=period,
            time_zone=time_zone,
            include_warmup=include_warmup,
            include_test=include_test,
        )
    ).collect()
    return _draw_volume(ax, counts, period, time_zone)


def _volume_counts(frame: FrameT) -> FrameT:
    """The drawn rows of :func:`leadping_nb.metrics.outcome_counts` per period."""
    return frame.filter(pl.col("outcome").is_not_null() & (pl.col("n") > 0))


def _draw_volume(
    ax: Axes, counts: pl.DataFrame, period: m.Every, time_zone: str, *, compact: bool = False
) -> Figure:
    title = f"Messages per {period} by outcome"
    ylabel = "Messages (count)"
    counts, undated = _split_undated(counts, "n")
    if counts.height == 0:
        _check_tz(time_zone)
        why = "no message has a created_at" if undated else ""
        return _no_data(ax, title, f"{_PERIOD_LABELS[period]} ({time_zone})", ylabel, why)
    wide = counts.pivot(on="outcome", index="period", values="n").sort("period").fill_null(0)
    starts: list[datetime] = wide["period"].to_list()
    x, widths = _bar_geometry(starts, period)
    bottom = np.zeros(len(starts))
    for outcome in m.OUTCOMES:
        if outcome not in wide.columns:
            continue
        heights = wide[outcome].to_numpy().astype(float)
        _bars(
            ax,
            x,
            heights,
            widths,
            compact=compact,
            bottom=bottom.copy(),
            color=OUTCOME_COLORS[outcome],
            label=outcome.replace("_", " "),
            gid=f"outcome:{outcome}",
        )
        bottom += heights
    _time_axis(ax, starts, period, time_zone)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(float(bottom.max()), 1.0) * 1.3)  # headroom for the legend
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_count_formatter))
    ax.legend(loc="upper left", fontsize="small", ncols=4)
    _undated_note(ax, undated)
    return _figure(ax)


def delivery_rate_over_time(
    df: FrameLike,
    *,
    every: PeriodChoice = "auto",
    time_zone: str = "UTC",
    include_warmup: bool = False,
    include_test: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Delivery rate per period (line, right axis) over the messages it counts (bars).

    Values are :func:`leadping_nb.metrics.delivery_summary` per period: the line is
    ``delivery_rate`` (a gap where nothing reached a final outcome), the bars ``n_used``
    (delivered + failed + undeliverable); the dashed line is the overall rate (of every
    message, dated or not). Messages without ``created_at`` are left out of the bars and
    counted in a note.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> fig = delivery_rate_over_time(frame, every="week")
    >>> [a.get_ylabel() for a in fig.axes]
    ['Messages with a final outcome (count)', 'Delivery rate (%)']
    """
    ax = _axes(ax)
    lf = _lazy(df)
    period = choose_period(lf, every)
    kw: dict[str, Any] = {"include_warmup": include_warmup, "include_test": include_test}
    per = _delivery_periods(
        m.delivery_summary(lf, every=period, time_zone=time_zone, **kw)
    ).collect()
    overall = None
    if _has_delivery(per):
        overall = m.delivery_summary(lf, **kw).collect()["delivery_rate"].item()
    return _draw_delivery(ax, per, overall, period, time_zone)


def _delivery_periods(frame: FrameT) -> FrameT:
    """The drawn rows of :func:`leadping_nb.metrics.delivery_summary` per period."""
    return frame.filter(pl.col("n_outbound") > 0).sort("period")


def _has_delivery(per: pl.DataFrame) -> bool:
    return per.height > 0 and per["n_used"].sum() > 0


def _draw_delivery(
    ax: Axes,
    per: pl.DataFrame,
    overall: float | None,
    period: m.Every,
    time_zone: str,
    *,
    compact: bool = False,
) -> Figure:
    title = f"Delivery rate per {period}"
    ylabel = "Messages with a final outcome (count)"
    per, undated = _split_undated(per, "n_used")
    if not _has_delivery(per) or overall is None:
        _check_tz(time_zone)
        why = "no message has a created_at" if undated else ""
        return _no_data(ax, title, f"{_PERIOD_LABELS[period]} ({time_zone})", ylabel, why)
    starts: list[datetime] = per["period"].to_list()
    x, widths = _bar_geometry(starts, period)
    _bars(
        ax,
        x,
        per["n_used"].to_numpy().astype(float),
        widths,
        compact=compact,
        color="0.82",
        label="messages with a final outcome",
        gid="volume",
    )
    ax.set_ylabel(ylabel)
    top = max([1, *per["n_used"].to_list()])
    ax.set_ylim(0, top * 1.4)  # bars stay below the line
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_count_formatter))
    rate_ax = _twinx(ax)
    centers = [xi + w / 2 for xi, w in zip(x, widths, strict=True)]
    rates = per["delivery_rate"].fill_null(float("nan")).to_numpy().astype(float)
    rate_ax.plot(
        centers, rates, color="C2", marker="o", markersize=3, label="delivery rate", gid="rate"
    )
    rate_ax.axhline(
        overall,
        color="C2",
        linestyle="--",
        linewidth=0.9,
        label=f"overall {overall:.2%}",
        gid="overall",
    )
    rate_ax.set_ylim(0, 1.15)  # room for the legend above 100 %
    rate_ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    rate_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    rate_ax.set_ylabel("Delivery rate (%)")
    _time_axis(ax, starts, period, time_zone)
    ax.set_title(title + " (delivered ÷ delivered + failed + undeliverable)")
    handles = ax.get_legend_handles_labels()
    more = rate_ax.get_legend_handles_labels()
    rate_ax.legend(
        handles[0] + more[0], handles[1] + more[1], loc="upper center", ncols=3, fontsize="small"
    )
    _undated_note(ax, undated)
    return _figure(ax)


# ---------------------------------------------------------------------------------------
# failures and retries


def failure_counts(
    df: FrameLike,
    by: str,
    *,
    top: int = 10,
    outcomes: Sequence[m.Outcome] = _FAILURE_OUTCOMES,
    include_warmup: bool = False,
    include_test: bool = False,
) -> pl.DataFrame:
    """Failed messages per value of ``by``, largest first, the tail folded into "other".

    Scope: outbound messages of countable traffic whose
    :func:`~leadping_nb.metrics.outcome` is in ``outcomes`` (default failed,
    undeliverable, blocked). Columns ``key`` (String; ``"(not given)"`` for null,
    ``"other (k values)"`` for the folded tail), ``n`` (Int64), ``share`` and
    ``cumulative_share`` (Float64). The counts add up to every failure in scope.

    Examples
    --------
    >>> from leadping_nb._schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "failed_at": t, "error_code": c}
    ...      for c in ("40001", "40001", "40002", None)],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> failure_counts(df, "error_code", top=1).select("key", "n").rows()
    [('40001', 2), ('other (2 values)', 2)]
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    scope = m.outcome().is_in(list(outcomes)).fill_null(False) & m.is_countable_traffic(
        include_warmup=include_warmup, include_test=include_test
    )
    return _tally(_lazy(df).filter(scope), by, top)


def _tally(failures: pl.LazyFrame, by: str, top: int) -> pl.DataFrame:
    """:func:`failure_counts` of frame rows already restricted to its scope."""
    counts = (
        failures.group_by(pl.col(by).cast(pl.String).fill_null("(not given)").alias("key"))
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .sort(["n", "key"], descending=[True, False])
        .collect()
    )
    head, tail = counts.head(top), counts.slice(top)
    if tail.height:
        other = pl.DataFrame(
            {"key": [f"other ({tail.height} values)"], "n": [int(tail["n"].sum())]},
            schema={"key": pl.String, "n": pl.Int64},
        )
        head = pl.concat([head, other])
    total = head["n"].sum()
    return head.with_columns(
        (pl.col("n") / total).alias("share"),
        (pl.col("n").cum_sum() / total).alias("cumulative_share"),
    )


def failure_pareto(
    df: FrameLike,
    *,
    by: str = "status_reason",
    top: int = 10,
    outcomes: Sequence[m.Outcome] = _FAILURE_OUTCOMES,
    include_warmup: bool = False,
    include_test: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Pareto chart of failures by ``by`` (``status_reason``, ``error_code``, ...).

    Bars: failed messages per value, largest first (:func:`failure_counts`, the tail
    beyond ``top`` folded into one "other" bar); line (right axis): cumulative share,
    with the 80 % line.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=20)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> fig = failure_pareto(frame, by="error_code", top=5)
    >>> len(fig.axes[0].patches) <= 6
    True
    """
    ax = _axes(ax)
    counts = failure_counts(
        df, by, top=top, outcomes=outcomes, include_warmup=include_warmup, include_test=include_test
    )
    return _draw_failure_pareto(ax, counts, by, outcomes)


def _draw_failure_pareto(
    ax: Axes, counts: pl.DataFrame, by: str, outcomes: Sequence[m.Outcome]
) -> Figure:
    name = by.replace("_", " ")
    title = f"Failures by {name} (Pareto)"
    xlabel, ylabel = name.capitalize(), "Failed messages (count)"
    if counts.height == 0:
        return _no_data(ax, title, xlabel, ylabel, "no failed messages")
    positions = list(range(counts.height))
    ax.bar(positions, counts["n"].to_numpy().astype(float), color="C3", alpha=0.85, gid="bars")
    ax.set_xticks(
        positions,
        [_shorten(k) for k in counts["key"].to_list()],
        rotation=35,
        ha="right",
        fontsize="small",
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_count_formatter))
    cum_ax = _twinx(ax)
    cum_ax.plot(
        positions,
        counts["cumulative_share"].to_numpy(),
        color="0.2",
        marker="o",
        markersize=3,
        gid="cumulative",
    )
    cum_ax.axhline(0.8, color="0.6", linestyle=":", linewidth=0.9)
    cum_ax.set_ylim(0, 1.05)
    cum_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    cum_ax.set_ylabel("Cumulative share (%)")
    ax.set_title(f"{title}: {int(counts['n'].sum()):,} messages {', '.join(outcomes)}")
    return _figure(ax)


def retries_by_count(
    df: FrameLike,
    *,
    include_warmup: bool = False,
    include_test: bool = False,
    as_of: datetime | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Messages per retry count (bars) and the delivery rate at each count (line).

    Values are :func:`leadping_nb.metrics.retry_distribution`: ``n_messages`` and
    ``delivery_rate`` (delivered ÷ delivered + failed + undeliverable) per
    ``retry_count``.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> fig = retries_by_count(frame)
    >>> fig.axes[0].get_xlabel()
    'Retries made (retry_count)'
    """
    ax = _axes(ax)
    dist = (
        m.retry_distribution(
            _lazy(df), include_warmup=include_warmup, include_test=include_test, as_of=as_of
        )
        .sort("retry_count")
        .collect()
    )
    return _draw_retries(ax, dist)


def _draw_retries(ax: Axes, dist: pl.DataFrame) -> Figure:
    """Draw :func:`leadping_nb.metrics.retry_distribution` rows sorted by retry count
    (a few bars, each labelled: always one ``Rectangle`` per bar)."""
    title = "Retries: messages and delivery rate by retry count"
    xlabel, ylabel = "Retries made (retry_count)", "Messages (count)"
    if dist.height == 0:
        return _no_data(ax, title, xlabel, ylabel, "no outbound messages with a retry count")
    counts = dist["retry_count"].to_list()
    bars = ax.bar(
        counts, dist["n_messages"].to_numpy().astype(float), color="C0", alpha=0.8, gid="bars"
    )
    ax.bar_label(bars, labels=[f"{n:,}" for n in dist["n_messages"].to_list()], fontsize="small")
    ax.set_xticks(counts)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # a log scale below replaces it
    ax.yaxis.set_major_formatter(FuncFormatter(_count_formatter))
    rate_ax = _twinx(ax)
    rates = dist["delivery_rate"].fill_null(float("nan")).to_numpy().astype(float)
    rate_ax.plot(counts, rates, color="C2", marker="o", gid="rate", label="delivery rate")
    rate_ax.set_ylim(0, 1.05)
    rate_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    rate_ax.set_ylabel("Delivery rate (%)")
    n: list[int] = dist["n_messages"].to_list()
    if max(n) > 100 * max(min(n), 1):  # small counts stay visible
        ax.set_yscale("log")
        ax.set_ylabel("Messages (count, log scale)")
    ax.set_title(title)
    return _figure(ax)


# ---------------------------------------------------------------------------------------
# billing


def billed_over_time(
    df: FrameLike,
    *,
    every: PeriodChoice = "auto",
    time_zone: str = "UTC",
    include_warmup: bool = True,
    include_test: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Billed amount per period (local to ``time_zone``), with the exact total.

    Values are :func:`leadping_nb.metrics.billing_summary` ``total_amount`` per period.
    They are exact Decimals, converted to floats only to draw the bars; the total in the
    title is the exact Decimal (of every billed event). Billed events without
    ``created_at`` are left out of the bars and counted in a note.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> billed_over_time(frame, every="month").axes[0].get_ylabel()
    'Billed amount'
    """
    ax = _axes(ax)
    lf = _lazy(df)
    period = choose_period(lf, every)
    kw: dict[str, Any] = {"include_warmup": include_warmup, "include_test": include_test}
    per = _billed_periods(
        m.billing_summary(lf, by=(), every=period, time_zone=time_zone, **kw)
    ).collect()
    total = m.billing_summary(lf, by=(), **kw).collect()["total_amount"].item()
    return _draw_billed(ax, per, total, period, time_zone)


def _billed_periods(frame: FrameT) -> FrameT:
    """The drawn rows of :func:`leadping_nb.metrics.billing_summary` per period."""
    return frame.filter(pl.col("n_used") > 0).sort("period")


def _draw_billed(
    ax: Axes,
    per: pl.DataFrame,
    total: Decimal | None,
    period: m.Every,
    time_zone: str,
    *,
    compact: bool = False,
) -> Figure:
    ylabel = "Billed amount"
    title = f"Billed amount per {period} (total {_decimal_text(total)})"
    per, undated = _split_undated(per, "n_used")
    if per.height == 0:
        _check_tz(time_zone)
        why = "no billed event has a created_at" if undated else "nothing billed"
        return _no_data(ax, title, f"{_PERIOD_LABELS[period]} ({time_zone})", ylabel, why)
    starts: list[datetime] = per["period"].to_list()
    x, widths = _bar_geometry(starts, period)
    # Decimal -> Float64 for drawing only; every printed amount stays the exact Decimal.
    heights = per["total_amount"].cast(pl.Float64).to_numpy()
    _bars(ax, x, heights, widths, compact=compact, color="C4", gid="billed")
    _time_axis(ax, starts, period, time_zone)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    _undated_note(ax, undated, "billed event")
    return _figure(ax)


def billed_by_campaign(
    df: FrameLike,
    *,
    top: int = 12,
    include_warmup: bool = True,
    include_test: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Billed amount per campaign (horizontal bars, largest first, exact labels).

    Values are :func:`leadping_nb.metrics.billing_summary` ``by="campaign_id"``; the
    campaigns beyond ``top`` are folded into one "other" bar (an exact Decimal sum).

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> billed_by_campaign(frame).axes[0].get_xlabel()
    'Billed amount'
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    ax = _axes(ax)
    title, xlabel, ylabel = "Billed amount by campaign", "Billed amount", "Campaign"
    per = (
        m.billing_summary(
            _lazy(df), by="campaign_id", include_warmup=include_warmup, include_test=include_test
        )
        .filter(pl.col("n_used") > 0)
        .with_columns(pl.col("campaign_id").fill_null("(no campaign)"))
        .sort(["total_amount", "campaign_id"], descending=[True, False])
        .collect()
    )
    if per.height == 0:
        return _no_data(ax, title, xlabel, ylabel, "nothing billed")
    rows = list(zip(per["campaign_id"].to_list(), per["total_amount"].to_list(), strict=True))
    if len(rows) > top:
        rest = rows[top:]
        rows = [*rows[:top], (f"other ({len(rest)} campaigns)", sum(a for _, a in rest))]
    labels = [k for k, _ in rows][::-1]
    amounts = [a for _, a in rows][::-1]
    # Decimal -> float for drawing only; the bar labels print the exact Decimal.
    bars = ax.barh(labels, [float(a) for a in amounts], color="C4", gid="billed")
    ax.bar_label(bars, labels=money_texts(amounts), padding=3, fontsize="small")
    ax.margins(x=0.15)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _figure(ax)
