"""The explorer's figure tabs: :class:`FigureSpec`, :func:`default_figures`, and the
default figures' numbers from the cache (no ipywidgets here; matplotlib on first draw).

A default tab runs a :mod:`leadping_nb.figures` function on the matching events when
called (what any custom :class:`FigureSpec` does). The explorer draws it another way: the
numbers come from the cache's :class:`~leadping_nb.metrics.EventCube` (the same metric
frames, from counts instead of a pass over the events), go into the figure's public plot
object (:class:`~leadping_nb.figures.VolumePlot`, ...) and are drawn into a reused
:class:`~leadping_nb.figures.FigurePanel`. So a tab shows exactly the numbers the public
figure function gives for the same events.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from leadping_nb._core.format import DEFAULT_CURRENCY, check_currency

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from leadping_nb.metrics import CubeSelection, Every, Outcome

__all__ = [
    "FigureSpec",
    "Plot",
    "PlotSource",
    "Plottable",
    "default_figures",
    "plot_args",
    "plot_of",
]

#: ``figures.failure_pareto``'s default outcomes.
_FAILURE_OUTCOMES: tuple[Outcome, ...] = ("failed", "undeliverable", "blocked")
#: Figures :func:`plot_of` computes from the cube, and the arguments it honours.
_FAST_FIGURES: dict[str, frozenset[str]] = {
    "delivery_rate_over_time": frozenset(),
    "volume_by_outcome": frozenset(),
    "billed_over_time": frozenset({"currency"}),
    "retries_by_count": frozenset(),
    "latency_histogram": frozenset({"stage", "bins"}),
    "failure_pareto": frozenset({"by", "top"}),
}


class Plot(Protocol):
    """A figure's numbers that draw themselves (the plot objects of
    :mod:`leadping_nb.figures`)."""

    def draw(self, ax: Axes, *, compact: bool = False) -> Figure:
        """Draw into ``ax``."""


class PlotSource(Protocol):
    """What :func:`plot_of` needs of a selection of cached events."""

    def cube(self) -> CubeSelection:
        """The matching events in the cache's cube."""

    def period(self) -> Every:
        """The period of the time figures (chosen from the matching events' span)."""

    @property
    def time_zone(self) -> str:
        """The zone of the periods."""


class Plottable(Protocol):
    """What :meth:`_MetricFigure.draw_view` needs of a view: its figures' plot objects."""

    def figure_plot(
        self,
        name: str,
        *,
        stage: str | None = None,
        bins: int | None = None,
        by: str | None = None,
        top: int | None = None,
        currency: str | None = None,
    ) -> Plot:
        """The plot object of figure ``name`` with the spec's fixed arguments."""


@dataclass(frozen=True)
class FigureSpec:
    """One figure tab: a key, a title and ``build(events, time_zone) -> Figure``."""

    key: str
    title: str
    build: Callable[[pl.LazyFrame, str], Figure]


class _MetricFigure:
    """A default figure tab: :mod:`leadping_nb.figures` ``name`` with ``fixed`` arguments.

    Called as ``build(events, time_zone)`` it runs the public figure function on the
    events (what a custom :class:`FigureSpec` does). :meth:`draw_view` draws the same
    figure for a selection of the cache from its cube instead (the explorer's path).
    """

    def __init__(self, name: str, **fixed: Any) -> None:
        self.name = name
        self.fixed = fixed

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.fixed.items())
        return f"_MetricFigure({self.name!r}{args})"

    @property
    def fast(self) -> bool:
        """Whether :meth:`draw_view` can draw it from the cache's cube."""
        honoured = _FAST_FIGURES.get(self.name)
        return honoured is not None and set(self.fixed) <= honoured

    def __call__(self, events: pl.LazyFrame, time_zone: str) -> Figure:
        from leadping_nb import figures  # matplotlib is imported on the first draw only

        fn = getattr(figures, self.name)
        kwargs = dict(self.fixed)
        if "time_zone" in inspect.signature(fn).parameters:
            kwargs["time_zone"] = time_zone
        figure: Figure = fn(events, **kwargs)
        return figure

    def draw_view(self, view: Plottable, ax: Axes, *, compact: bool = True) -> Figure:
        """Draw the figure of ``view`` (a :class:`~leadping_nb.widgets.LocalView` or a
        selection) into ``ax`` from the cache's cube.

        The numbers equal those of the public function on ``view.events()``;
        ``compact`` draws each bar series as one artist.
        """
        from leadping_nb.figures import BilledPlot

        plot = view.figure_plot(self.name, **self.fixed)
        if isinstance(plot, BilledPlot):
            currency = self.fixed.get("currency", DEFAULT_CURRENCY)
            return plot.draw(ax, compact=compact, currency=currency)
        return plot.draw(ax, compact=compact)


def default_figures(*, currency: str = DEFAULT_CURRENCY) -> list[FigureSpec]:
    """The explorer's figure tabs, drawn by :mod:`leadping_nb.figures` (amounts in
    ``currency``)."""
    check_currency(currency)
    return [
        FigureSpec("delivery", "Delivery rate", _MetricFigure("delivery_rate_over_time")),
        FigureSpec("volume", "Volume", _MetricFigure("volume_by_outcome")),
        FigureSpec("latency", "Latency", _MetricFigure("latency_histogram", stage="end_to_end")),
        FigureSpec("failures", "Failures", _MetricFigure("failure_pareto")),
        FigureSpec("retries", "Retries", _MetricFigure("retries_by_count")),
        FigureSpec("billing", "Billing", _MetricFigure("billed_over_time", currency=currency)),
    ]


def plot_of(source: PlotSource, name: str, **fixed: Any) -> Plot:
    """The plot object of :mod:`leadping_nb.figures` ``name`` for the events of
    ``source``, from its cube (equal to what the public figure function computes).

    Raises ``ValueError`` for a figure (or an argument) the cube does not serve.
    """
    from leadping_nb import figures as f

    unknown = set(fixed) - _FAST_FIGURES.get(name, frozenset())
    if name not in _FAST_FIGURES or unknown:
        raise ValueError(f"no cached aggregates for {name} with {sorted(unknown)}")
    cube = source.cube()
    if name == "retries_by_count":
        return f.RetriesPlot(cube.retry_distribution().collect())
    if name == "latency_histogram":
        stage = fixed.get("stage", "end_to_end")
        latencies = cube.latencies(stage)
        return f.LatencyHistogram.from_latencies(latencies, stage=stage, bins=fixed.get("bins", 40))
    if name == "failure_pareto":
        by = fixed.get("by", "status_reason")
        failures = cube.events_with_outcome(_FAILURE_OUTCOMES)
        return f.FailureParetoPlot.of(
            failures, by=by, top=fixed.get("top", 10), outcomes=_FAILURE_OUTCOMES
        )
    every, zone = source.period(), source.time_zone
    if name == "billed_over_time":
        per_period = cube.billing_summary(every=every, time_zone=zone)
        per, total = pl.collect_all([per_period, cube.billing_summary().select("total_amount")])
        return f.BilledPlot.of(per, total.item(), every=every, time_zone=zone)
    if name == "volume_by_outcome":
        counts = cube.outcome_counts(every=every, time_zone=zone).collect()
        return f.VolumePlot.of(counts, every=every, time_zone=zone)
    per_period = cube.delivery_summary(every=every, time_zone=zone)
    overall = cube.delivery_summary().select("delivery_rate")
    per, rate = pl.collect_all([per_period, overall])
    return f.DeliveryRatePlot.of(per, rate.item(), every=every, time_zone=zone)


def plot_args(plot: Plot) -> tuple[Any, ...]:
    """A plot's fields in order (the latency histogram: the histogram itself)."""
    from leadping_nb.figures import LatencyHistogram

    if isinstance(plot, LatencyHistogram) or not is_dataclass(plot):
        return (plot,)
    return tuple(getattr(plot, f.name) for f in fields(plot))
