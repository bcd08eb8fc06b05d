"""matplotlib figures of an events frame: latency, volume, delivery, failures, retries, billing.

Every function takes a canonical events frame (a ``DataFrame`` or a ``LazyFrame``),
computes what it plots with :mod:`leadping_nb.metrics` (so a figure shows exactly the
numbers of the tables), and returns a :class:`matplotlib.figure.Figure`. Pass ``ax=`` to
draw into an existing axes (the function then returns that axes' figure). No function
touches pyplot state: figures are plain ``Figure`` objects, safe in scripts, notebooks,
widgets and reports (notebook-traps §4.4, §5.4).

Conventions

* Time axes are plotted in UTC and labelled in ``time_zone`` through
  ``DateFormatter(tz=...)``; calendar periods (day, week, month) are local to
  ``time_zone`` (notebook-traps §5.1). ``every="auto"`` picks days for up to 92 days of data,
  weeks for up to two years, months beyond.
* Money is exact Decimal in the frame and in every table; it is converted to Float64
  only to be drawn, and labels that print an amount print the exact Decimal.
* Latency axes are logarithmic: zero values cannot be drawn on a log axis and negative
  gaps are excluded by the metrics, so both are counted in an annotation (notebook-traps §5.3).
* Empty input gives a figure that says "No data", never an exception. Large input is
  aggregated before plotting: the ECDF draws at most ``max_points`` exact ECDF points per
  stage, bars are per period or category, so the number of artists stays bounded.

Each figure is computed in two steps: its numbers (from :mod:`leadping_nb.metrics`),
then a private ``_draw_*`` function that draws them. The second step is public as one
object per figure (:class:`VolumePlot`, :class:`DeliveryRatePlot`, :class:`BilledPlot`,
:class:`LatencyHistogram`, :class:`FailureParetoPlot`, :class:`RetriesPlot`: built with
``of(...)`` from the metric frames, then ``draw(ax)``), with :class:`FigurePanel`, a
reusable fixed-layout figure; the widgets draw numbers they aggregate from their cache
(a :class:`~leadping_nb.metrics.EventCube`) that way, each bar series as one artist.

The shared drawing machinery (axes, time axes, bars, ``_Panel``, money text) is in
:mod:`leadping_nb.figures._base`, the latency, failure and retry figures with their
``_draw_*`` functions in :mod:`leadping_nb.figures._latency`, the lead timeline in
:mod:`leadping_nb.figures._timeline`; this module keeps the
volume, delivery and billing figures and re-exports every public name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from leadping_nb import metrics as m
from leadping_nb._core.format import DEFAULT_CURRENCY, check_currency, money_label, money_text
from leadping_nb._core.format import money_texts as money_texts
from leadping_nb.figures._base import (
    _PERIOD_LABELS,
    FrameLike,
    FrameT,
    _axes,
    _bar_geometry,
    _bars,
    _check_tz,
    _count_formatter,
    _figure,
    _lazy,
    _no_data,
    _split_undated,
    _time_axis,
    _twinx,
    _undated_note,
)
from leadping_nb.figures._base import OUTCOME_COLORS as OUTCOME_COLORS
from leadping_nb.figures._base import PeriodChoice as PeriodChoice
from leadping_nb.figures._base import choose_period as choose_period
from leadping_nb.figures._latency import failure_counts as failure_counts
from leadping_nb.figures._latency import failure_pareto as failure_pareto
from leadping_nb.figures._latency import latency_ecdf as latency_ecdf
from leadping_nb.figures._latency import latency_histogram as latency_histogram
from leadping_nb.figures._latency import retries_by_count as retries_by_count
from leadping_nb.figures._plots import FailureParetoPlot as FailureParetoPlot
from leadping_nb.figures._plots import FigurePanel as FigurePanel
from leadping_nb.figures._plots import LatencyHistogram as LatencyHistogram
from leadping_nb.figures._plots import RetriesPlot as RetriesPlot
from leadping_nb.figures._timeline import STEP_MARKERS as STEP_MARKERS
from leadping_nb.figures._timeline import lead_timeline_figure as lead_timeline_figure

__all__ = [
    "OUTCOME_COLORS",
    "STEP_MARKERS",
    "BilledPlot",
    "DeliveryRatePlot",
    "FailureParetoPlot",
    "FigurePanel",
    "LatencyHistogram",
    "PeriodChoice",
    "RetriesPlot",
    "VolumePlot",
    "billed_by_campaign",
    "billed_over_time",
    "choose_period",
    "delivery_rate_over_time",
    "failure_counts",
    "failure_pareto",
    "latency_ecdf",
    "latency_histogram",
    "lead_timeline_figure",
    "money_texts",
    "retries_by_count",
    "volume_by_outcome",
]


# ---------------------------------------------------------------------------------------
# volume and delivery over time


def volume_by_outcome(
    df: FrameLike,
    *,
    every: PeriodChoice = "auto",
    time_zone: str = "UTC",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = m.RECEIPT_TIMEOUT,
    ax: Axes | None = None,
) -> Figure:
    """Messages per period (local to ``time_zone``), stacked by outcome.

    Counts are :func:`leadping_nb.metrics.outcome_counts` ``n`` (countable traffic;
    ``as_of`` and ``receipt_timeout`` judge the ``no_receipt`` outcome, as there);
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
            include_demo=include_demo,
            as_of=as_of,
            receipt_timeout=receipt_timeout,
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
    include_demo: bool = False,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = m.RECEIPT_TIMEOUT,
    ax: Axes | None = None,
) -> Figure:
    """Delivery rate per period (line, right axis) over the messages it counts (bars).

    Values are :func:`leadping_nb.metrics.delivery_summary` per period: the line is
    ``delivery_rate`` (a gap where nothing reached a final outcome), the bars ``n_used``
    (delivered + undeliverable + failed + blocked + no receipt); the dashed line is the
    overall rate (of every message, dated or not). Messages without ``created_at`` are
    left out of the bars and counted in a note. ``as_of`` and ``receipt_timeout`` judge the
    ``no_receipt`` outcome, as in the delivery summary (default: now, 24 hours).

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
    kw: dict[str, Any] = {
        "include_warmup": include_warmup,
        "include_test": include_test,
        "include_demo": include_demo,
    }
    clock: dict[str, Any] = {"as_of": as_of, "receipt_timeout": receipt_timeout}
    per = _delivery_periods(
        m.delivery_summary(lf, every=period, time_zone=time_zone, **kw, **clock)
    ).collect()
    overall = None
    if _has_delivery(per):
        overall = m.delivery_summary(lf, **kw, **clock).collect()["delivery_rate"].item()
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
    ax.set_title(title + " (delivered ÷ final outcomes)")
    handles = ax.get_legend_handles_labels()
    more = rate_ax.get_legend_handles_labels()
    rate_ax.legend(
        handles[0] + more[0], handles[1] + more[1], loc="upper center", ncols=3, fontsize="small"
    )
    _undated_note(ax, undated)
    return _figure(ax)


# ---------------------------------------------------------------------------------------
# billing


def billed_over_time(
    df: FrameLike,
    *,
    every: PeriodChoice = "auto",
    time_zone: str = "UTC",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    currency: str = DEFAULT_CURRENCY,
    ax: Axes | None = None,
) -> Figure:
    """Billed amount per period (local to ``time_zone``), with the exact total.

    Values are :func:`leadping_nb.metrics.billing_summary` ``total_amount`` per period.
    They are exact Decimals, converted to floats only to draw the bars; the total in the
    title is the exact Decimal (of every billed event), with ``currency`` (three
    upper-case letters; the API states none, so ``"USD"`` by default), which also labels
    the axis. Billed events without ``created_at`` are left out of the bars and counted
    in a note.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> billed_over_time(frame, every="month").axes[0].get_ylabel()
    'Billed amount (USD)'
    """
    check_currency(currency)
    ax = _axes(ax)
    lf = _lazy(df)
    period = choose_period(lf, every)
    kw: dict[str, Any] = {
        "include_warmup": include_warmup,
        "include_test": include_test,
        "include_demo": include_demo,
    }
    per = _billed_periods(
        m.billing_summary(lf, by=(), every=period, time_zone=time_zone, **kw)
    ).collect()
    total = m.billing_summary(lf, by=(), **kw).collect()["total_amount"].item()
    return _draw_billed(ax, per, total, period, time_zone, currency=currency)


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
    currency: str = DEFAULT_CURRENCY,
) -> Figure:
    ylabel = money_label("Billed amount", currency)
    title = f"Billed amount per {period} (total {money_text(total, currency)})"
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
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    currency: str = DEFAULT_CURRENCY,
    ax: Axes | None = None,
) -> Figure:
    """Billed amount per campaign (horizontal bars, largest first, exact labels).

    Values are :func:`leadping_nb.metrics.billing_summary` ``by="campaign_id"``; the
    campaigns beyond ``top`` are folded into one "other" bar (an exact Decimal sum).
    The axis names ``currency`` (default ``"USD"``); the bar labels are the exact amounts.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> billed_by_campaign(frame).axes[0].get_xlabel()
    'Billed amount (USD)'
    """
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    xlabel = money_label("Billed amount", currency)
    ax = _axes(ax)
    title, ylabel = "Billed amount by campaign", "Campaign"
    per = (
        m.billing_summary(
            _lazy(df),
            by="campaign_id",
            include_warmup=include_warmup,
            include_test=include_test,
            include_demo=include_demo,
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


# ---------------------------------------------------------------------------------------
# the numbers of the volume, delivery and billing figures, drawn again (widgets)


def _eager(frame: FrameLike) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


@dataclass(frozen=True)
class VolumePlot:
    """What :func:`~leadping_nb.figures.volume_by_outcome` draws.

    Attributes
    ----------
    counts
        :func:`leadping_nb.metrics.outcome_counts` rows per period that are drawn (an
        outcome, ``n > 0``).
    every, time_zone
        The period and its zone.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> from leadping_nb.metrics import outcome_counts
    >>> frame = events_frame(0, 300)
    >>> plot = VolumePlot.of(outcome_counts(frame, every="week"), every="week", time_zone="UTC")
    >>> plot.draw(FigurePanel.for_figure("volume_by_outcome").clear()).axes[0].get_title()
    'Messages per week by outcome'
    """

    counts: pl.DataFrame
    every: m.Every
    time_zone: str

    @classmethod
    def of(cls, counts: FrameLike, *, every: m.Every, time_zone: str) -> VolumePlot:
        """From :func:`leadping_nb.metrics.outcome_counts` per ``every`` in ``time_zone``."""
        return cls(_volume_counts(_eager(counts)), every, time_zone)

    def draw(self, ax: Axes, *, compact: bool = False) -> Figure:
        """Draw into ``ax``; ``compact`` draws each bar series as one artist."""
        return _draw_volume(ax, self.counts, self.every, self.time_zone, compact=compact)


@dataclass(frozen=True)
class DeliveryRatePlot:
    """What :func:`~leadping_nb.figures.delivery_rate_over_time` draws.

    Attributes
    ----------
    per
        :func:`leadping_nb.metrics.delivery_summary` rows per period with outbound
        messages, by period.
    overall
        The overall delivery rate (``None``: nothing reached a final outcome).
    every, time_zone
        The period and its zone.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> from leadping_nb.metrics import delivery_summary
    >>> frame = events_frame(0, 300)
    >>> rate = delivery_summary(frame)["delivery_rate"].item()
    >>> plot = DeliveryRatePlot.of(delivery_summary(frame, every="week"), rate,
    ...                            every="week", time_zone="UTC")
    >>> plot.overall == rate
    True
    """

    per: pl.DataFrame
    overall: float | None
    every: m.Every
    time_zone: str

    @classmethod
    def of(
        cls, per_period: FrameLike, overall: float | None, *, every: m.Every, time_zone: str
    ) -> DeliveryRatePlot:
        """From :func:`leadping_nb.metrics.delivery_summary` per ``every`` in ``time_zone``
        and the overall ``delivery_rate``."""
        per = _delivery_periods(_eager(per_period))
        return cls(per, overall if _has_delivery(per) else None, every, time_zone)

    def draw(self, ax: Axes, *, compact: bool = False) -> Figure:
        """Draw into ``ax``; ``compact`` draws the bars as one artist."""
        return _draw_delivery(
            ax, self.per, self.overall, self.every, self.time_zone, compact=compact
        )


@dataclass(frozen=True)
class BilledPlot:
    """What :func:`~leadping_nb.figures.billed_over_time` draws.

    Attributes
    ----------
    per
        :func:`leadping_nb.metrics.billing_summary` rows per period with billed events,
        by period.
    total
        The exact total (of every billed event, dated or not).
    every, time_zone
        The period and its zone.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> from leadping_nb.metrics import billing_summary
    >>> frame = events_frame(0, 300)
    >>> total = billing_summary(frame, by=())["total_amount"].item()
    >>> plot = BilledPlot.of(billing_summary(frame, by=(), every="month"), total,
    ...                      every="month", time_zone="UTC")
    >>> plot.draw(FigurePanel().clear(), currency="EUR").axes[0].get_ylabel()
    'Billed amount (EUR)'
    """

    per: pl.DataFrame
    total: Decimal | None
    every: m.Every
    time_zone: str

    @classmethod
    def of(
        cls, per_period: FrameLike, total: Decimal | None, *, every: m.Every, time_zone: str
    ) -> BilledPlot:
        """From :func:`leadping_nb.metrics.billing_summary` (``by=()``) per ``every`` in
        ``time_zone`` and the exact ``total_amount``."""
        return cls(_billed_periods(_eager(per_period)), total, every, time_zone)

    def draw(self, ax: Axes, *, compact: bool = False, currency: str = DEFAULT_CURRENCY) -> Figure:
        """Draw into ``ax``, amounts in ``currency``; ``compact``: the bars as one artist."""
        return _draw_billed(
            ax, self.per, self.total, self.every, self.time_zone, compact=compact, currency=currency
        )
