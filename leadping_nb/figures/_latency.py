"""The latency, failure and retry figures of :mod:`leadping_nb.figures` (private).

``latency_ecdf``, ``latency_histogram``, ``failure_counts``, ``failure_pareto`` and
``retries_by_count`` (re-exported by :mod:`leadping_nb.figures`), with the ``_draw_*``
functions and the aggregates (``_LatencyHistogram``, ``_tally``) the widgets reuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from leadping_nb import metrics as m
from leadping_nb._core.format import fmt_duration
from leadping_nb.figures._base import (
    _FAILURE_OUTCOMES,
    _STAGE_LABELS,
    FrameLike,
    _axes,
    _bars,
    _count_formatter,
    _figure,
    _lazy,
    _no_data,
    _note,
    _shorten,
    _twinx,
)

# ---------------------------------------------------------------------------------------
# latency


def _latency_values(
    lf: pl.LazyFrame,
    stage: m.Stage,
    include_warmup: bool,
    include_test: bool,
    include_demo: bool = False,
) -> pl.Series:
    """The used latencies of ``stage`` (the metrics' scope: outbound, countable, both ends
    set, not negative), sorted ascending."""
    name = f"latency_{stage}_ms"
    scope = m.is_outbound() & m.is_countable_traffic(
        include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
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
    stages: Sequence[m.Stage] = ("queue", "send", "carrier", "end_to_end", "to_failure"),
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
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
    include_warmup, include_test, include_demo
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
        lf,
        stages=stages,
        include_warmup=include_warmup,
        include_test=include_test,
        include_demo=include_demo,
    ).collect()
    drawn = 0
    notes: list[str] = []
    for i, stage in enumerate(stages):
        values = _latency_values(lf, stage, include_warmup, include_test, include_demo)
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
    include_demo: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Histogram of one stage's latency with logarithmic bins, p50/p90/p99 as lines.

    Zero latencies cannot be placed in a log bin and negative gaps are excluded by the
    metrics: both are counted in a note (notebook-traps §5.3).

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
    values = _latency_values(lf, stage, include_warmup, include_test, include_demo)
    row = (
        m.latency_summary(
            lf,
            stages=[stage],
            include_warmup=include_warmup,
            include_test=include_test,
            include_demo=include_demo,
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
                label=f"p{round(q * 100)} = {fmt_duration(v)}",
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
# failures and retries


def failure_counts(
    df: FrameLike,
    by: str,
    *,
    top: int = 10,
    outcomes: Sequence[m.Outcome] = _FAILURE_OUTCOMES,
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
) -> pl.DataFrame:
    """Failed messages per value of ``by``, largest first, the tail folded into "other".

    Scope: outbound messages of countable traffic whose
    :func:`~leadping_nb.metrics.outcome` is in ``outcomes`` (default failed,
    undeliverable, blocked). Columns ``key`` (String; ``"(not given)"`` for null,
    ``"other (k values)"`` for the folded tail), ``n`` (Int64), ``share`` and
    ``cumulative_share`` (Float64). The counts add up to every failure in scope.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
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
        include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
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
    include_demo: bool = False,
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
        df,
        by,
        top=top,
        outcomes=outcomes,
        include_warmup=include_warmup,
        include_test=include_test,
        include_demo=include_demo,
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
    include_demo: bool = False,
    as_of: datetime | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Messages per retry count (bars) and the delivery rate at each count (line).

    Values are :func:`leadping_nb.metrics.retry_distribution`: ``n_messages`` and
    ``delivery_rate`` (delivered ÷ final outcomes: delivered + undeliverable + failed +
    blocked + no receipt) per
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
            _lazy(df),
            include_warmup=include_warmup,
            include_test=include_test,
            include_demo=include_demo,
            as_of=as_of,
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
