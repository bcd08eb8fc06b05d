"""The numbers of each figure as an object that draws itself, and a reusable figure panel.

Every figure of :mod:`leadping_nb.figures` is computed in two steps: its numbers (from
:mod:`leadping_nb.metrics`), then the drawing. The classes here, and
:class:`~leadping_nb.figures.VolumePlot`, :class:`~leadping_nb.figures.DeliveryRatePlot`
and :class:`~leadping_nb.figures.BilledPlot` next to their figures, are that second
step, for callers that get the numbers another way, e.g. from a
:class:`~leadping_nb.metrics.EventCube` (the explorer's cache): build one from the metric
frames the public figure function would compute, then ``draw(ax)``. The
drawing is the public function's, so the figure is the same.
:class:`FigurePanel` is a figure drawn again and again (fixed layout, no pyplot), for
redrawing one kind of figure fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from leadping_nb import metrics as m
from leadping_nb.figures import _base
from leadping_nb.figures._base import _FAILURE_OUTCOMES, _PANEL_MARGINS
from leadping_nb.figures._latency import (
    _draw_failure_pareto,
    _draw_latency_histogram,
    _draw_retries,
    _LatencyHistogram,
    _tally,
)

__all__ = ["FailureParetoPlot", "FigurePanel", "LatencyHistogram", "RetriesPlot"]


class LatencyHistogram(_LatencyHistogram):
    """What :func:`~leadping_nb.figures.latency_histogram` draws: counts per log bin,
    p50/p90/p99 and the zero / negative counts.

    Attributes: ``stage``, ``counts`` (per bin), ``edges`` (``bins + 1`` log-spaced
    edges; empty when no latency is positive), ``percentiles`` (0.5, 0.9, 0.99 to ms,
    :func:`leadping_nb.metrics.percentile` of the used latencies, as
    :func:`~leadping_nb.metrics.latency_summary`), ``n_used``, ``n_zero``,
    ``n_negative``.

    Examples
    --------
    >>> import numpy as np
    >>> hist = LatencyHistogram.from_latencies(np.array([-5.0, 0.0, 10.0, 100.0, 1000.0]),
    ...                                        stage="end_to_end", bins=2)
    >>> hist.counts.tolist(), hist.n_used, hist.n_zero, hist.n_negative
    ([1, 2], 4, 1, 1)
    >>> hist.percentiles[0.5]
    55.0
    """

    @classmethod
    def from_latencies(
        cls, latencies: np.ndarray, *, stage: m.Stage, bins: int = 40
    ) -> LatencyHistogram:
        """From the in-scope latencies (ms) of ``stage`` sorted ascending, negative gaps
        included (they are counted, not used), e.g.
        :meth:`leadping_nb.metrics.CubeSelection.latencies`."""
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        n_negative = int(np.searchsorted(latencies, 0.0, side="left"))
        used = latencies[n_negative:]
        qs = (0.5, 0.9, 0.99)
        row = (
            pl.DataFrame({"v": used}, schema={"v": pl.Float64})
            .with_columns(pl.col("v").set_sorted())
            .select([m.percentile("v", q).alias(f"p{round(q * 100)}_ms") for q in qs])
            .row(0, named=True)
        )
        row["n_negative"] = n_negative
        hist = cls.of(used, row, stage, bins)
        assert isinstance(hist, LatencyHistogram)
        return hist

    def draw(self, ax: Axes, *, compact: bool = False) -> Figure:
        """Draw into ``ax``; ``compact`` draws the bins as one artist."""
        return _draw_latency_histogram(ax, self, compact=compact)


@dataclass(frozen=True)
class FailureParetoPlot:
    """What :func:`~leadping_nb.figures.failure_pareto` draws.

    Attributes
    ----------
    counts
        :func:`~leadping_nb.figures.failure_counts` of the events.
    by
        The column counted.
    outcomes
        The failure outcomes counted.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> from leadping_nb.figures import failure_counts
    >>> frame = events_frame(0, 300)
    >>> plot = FailureParetoPlot(failure_counts(frame, "error_code"), "error_code")
    >>> plot.draw(FigurePanel().clear()).axes[0].get_xlabel()
    'Error code'
    >>> from leadping_nb.metrics import EventCube
    >>> failed = EventCube(frame).select().events_with_outcome(plot.outcomes)
    >>> FailureParetoPlot.of(failed, by="error_code").counts.equals(plot.counts)
    True
    """

    counts: pl.DataFrame
    by: str
    outcomes: tuple[m.Outcome, ...] = _FAILURE_OUTCOMES

    @classmethod
    def of(
        cls,
        failures: pl.DataFrame | pl.LazyFrame,
        *,
        by: str = "status_reason",
        top: int = 10,
        outcomes: Sequence[m.Outcome] = _FAILURE_OUTCOMES,
    ) -> FailureParetoPlot:
        """From the events already in the scope of :func:`~leadping_nb.figures.failure_counts`
        (outbound messages of countable traffic with an outcome in ``outcomes``, e.g.
        :meth:`leadping_nb.metrics.CubeSelection.events_with_outcome`): only ``by`` is
        read, so the outcome is not judged again."""
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        return cls(_tally(failures.lazy(), by, top), by, tuple(outcomes))

    def draw(self, ax: Axes, *, compact: bool = False) -> Figure:
        """Draw into ``ax`` (a few labelled bars: ``compact`` changes nothing)."""
        return _draw_failure_pareto(ax, self.counts, self.by, self.outcomes)


@dataclass(frozen=True)
class RetriesPlot:
    """What :func:`~leadping_nb.figures.retries_by_count` draws.

    Attributes
    ----------
    distribution
        :func:`leadping_nb.metrics.retry_distribution` rows sorted by ``retry_count``.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> from leadping_nb.metrics import retry_distribution
    >>> dist = retry_distribution(events_frame(0, 300)).sort("retry_count")
    >>> RetriesPlot(dist).draw(FigurePanel().clear()).axes[0].get_xlabel()
    'Retries made (retry_count)'
    """

    distribution: pl.DataFrame

    def draw(self, ax: Axes, *, compact: bool = False) -> Figure:
        """Draw into ``ax`` (a few labelled bars: ``compact`` changes nothing)."""
        return _draw_retries(ax, self.distribution)


class FigurePanel(_base._Panel):
    """A figure drawn again and again: fixed layout, no pyplot, PNG straight from Agg.

    Creating a figure, its axes and ticks and running a layout engine cost more than
    drawing a small figure; a panel keeps one figure with fixed margins, :meth:`clear`
    resets its axes (and the twin axes it keeps for the right-hand scale) before each
    drawing, and :meth:`png` renders it. Meant for one kind of figure (the margins are
    chosen for it: :meth:`for_figure`). Not thread-safe: one panel per thread.

    Parameters
    ----------
    figsize
        Inches (the figures' default size).
    dpi
        Resolution of :meth:`png`.
    margins
        ``(left, right, bottom, top)`` as figure fractions.

    Examples
    --------
    >>> panel = FigurePanel.for_figure("retries_by_count", dpi=50)
    >>> ax = panel.clear()
    >>> panel.png()[:4]
    b'\\x89PNG'
    """

    @classmethod
    def for_figure(cls, name: str, *, dpi: float = 72) -> FigurePanel:
        """A panel with the margins chosen for figure function ``name`` (e.g.
        ``"delivery_rate_over_time"``; another name gets general margins)."""
        return cls(dpi=dpi, margins=_PANEL_MARGINS.get(name, (0.11, 0.9, 0.2, 0.935)))
