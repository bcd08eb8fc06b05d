"""Shared drawing machinery of :mod:`leadping_nb.figures` (private).

Axes and figure creation, the "No data" and note texts, time axes and bars, the reusable
fixed-layout ``_Panel``, tick formatters, and the colour and label constants.
:mod:`leadping_nb.figures` re-exports its public names (``OUTCOME_COLORS``,
``PeriodChoice``, ``choose_period``). Money text is :mod:`leadping_nb._core.format`'s.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import AutoLocator, NullFormatter, NullLocator, ScalarFormatter

from leadping_nb import metrics as m

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
    "no_receipt": "#ff7f0e",
    "in_flight": "#bcbd22",
    "inbound": "#1f77b4",
}
_STAGE_LABELS: dict[str, str] = {
    "queue": "queue (queued → sending)",
    "send": "send (sending → sent)",
    "carrier": "carrier (sent → delivered)",
    "end_to_end": "end to end (queued → delivered)",
    "schedule_lag": "schedule lag (due → sending)",
    "to_failure": "to failure (sending → failed)",
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
    """Date ticks in ``time_zone`` (UTC instants, notebook-traps §5.1) and the x label."""
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


def _shorten(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
