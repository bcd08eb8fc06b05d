"""Every metric at once: :func:`summary` and the :class:`MetricsSummary` it returns.

One cube and one set of latency lists (:mod:`leadping_nb.metrics._plans`), collected
together, from which every frame of the summary is derived (:func:`summary_from`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from leadping_nb._core.window import Window
from leadping_nb.metrics._exprs import (
    RECEIPT_TIMEOUT,
    STAGES,
    Every,
    TrafficScope,
    receipt_cutoff,
)
from leadping_nb.metrics._latency import latency_from_parts, latency_plan
from leadping_nb.metrics._plans import (
    COUNT,
    Grouping,
    billing_from_cube,
    cube_plan,
    delivery_from_cube,
    events_from_cube,
    extra_dims,
    grouping,
    money_scale,
    now_or,
    outcomes_from_cube,
    prepare,
    retry_distribution_from_cube,
    retry_from_cube,
    windowed,
)

__all__ = ["Engine", "MetricsSummary", "metric_counts", "summary", "summary_from"]

Engine = Literal["auto", "in-memory", "streaming"]


@dataclass(frozen=True)
class MetricsSummary:
    """Every metric of an events frame, from :func:`summary`.

    Attributes
    ----------
    outcomes, delivery, latency, retry, retry_distribution
        The frames of :func:`outcome_counts`, :func:`delivery_summary`,
        :func:`latency_summary`, :func:`retry_summary` and :func:`retry_distribution`
        with the summary's grouping.
    billing
        :func:`billing_summary` grouped by the summary's grouping plus ``billing_by``.
    billing_total
        One row: :func:`billing_summary` with no grouping at all; the billing groups add
        up to it exactly.
    counts
        One row per metric (``outcome``, ``delivery``, ``latency.<stage>`` for every
        stage, ``retry``, ``billing``) with ``n_events``, ``n_used`` and ``n_excluded``
        over the whole frame: always these ten rows, whatever the grouping, with zero
        counts for an empty frame.
    as_of
        The instant pending retries and the receipt timeout were judged at (UTC).
    scope
        The :class:`TrafficScope` of every metric, billing included.
    receipt_timeout
        The receipt timeout of the ``no_receipt`` outcome.
    """

    outcomes: pl.DataFrame
    delivery: pl.DataFrame
    latency: pl.DataFrame
    retry: pl.DataFrame
    retry_distribution: pl.DataFrame
    billing: pl.DataFrame
    billing_total: pl.DataFrame
    counts: pl.DataFrame
    as_of: datetime
    scope: TrafficScope = field(default_factory=TrafficScope)
    receipt_timeout: timedelta = RECEIPT_TIMEOUT


def metric_counts(
    outcomes: pl.DataFrame,
    delivery: pl.DataFrame,
    latency: pl.DataFrame,
    retry: pl.DataFrame,
    billing_total: pl.DataFrame,
) -> pl.DataFrame:
    """The ``counts`` frame of :class:`MetricsSummary`: ``n_events``, ``n_used`` and
    ``n_excluded`` summed per metric (``latency`` needs only ``stage`` and those three)."""
    cols = ["n_events", "n_used", "n_excluded"]

    def total(frame: pl.DataFrame, metric: str) -> pl.DataFrame:
        sums = [pl.col(c).sum().cast(COUNT) for c in cols]
        return frame.select(pl.lit(metric).alias("metric"), *sums)

    # One row per stage whether or not the latency frame has rows (a grouped summary of
    # no events has none): a sum over no rows is 0.
    per_stage = [
        total(latency.filter(pl.col("stage") == stage), f"latency.{stage}") for stage in STAGES
    ]
    return pl.concat(
        [
            total(outcomes, "outcome"),
            total(delivery, "delivery"),
            *per_stage,
            total(retry, "retry"),
            total(billing_total, "billing"),
        ]
    )


def _collect(
    base: pl.LazyFrame, g: Grouping, dims: Sequence[str], scope: dict[str, bool], engine: Engine
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The cube and the latency lists. In memory, both plans run together and share the
    per-event columns. Streaming, they run one after the other (the cube, then one stage
    at a time), each re-reading the source, so that neither the per-event columns nor
    more than one stage's latencies are ever held at once."""
    cube_lf = cube_plan(base, g, dims)
    if engine != "streaming":
        cube, values = pl.collect_all(
            [cube_lf, latency_plan(base, g, STAGES, **scope)], engine=engine
        )
        return cube, values
    cube = cube_lf.collect(engine="streaming")
    first, *rest = STAGES
    values = latency_plan(base, g, [first], **scope).collect(engine="streaming")
    for stage in rest:
        part = latency_plan(base, g, [stage], **scope).collect(engine="streaming")
        part = part.drop("n_in_scope")
        if g.keys:
            values = values.join(part, on=g.keys, how="left", nulls_equal=True)
        else:
            values = pl.concat([values, part], how="horizontal")
    return cube, values


def summary(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
    billing_by: str | Sequence[str] = ("billing_status",),
    cost_scale: int = 4,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
    engine: Engine = "auto",
) -> MetricsSummary:
    """Compute every metric at once.

    One aggregation counts events per group and small dimensions (a "cube" of a few
    thousand rows, with the exact amount sums); a second collects each stage's
    latencies per group. In memory both run together (``polars.collect_all`` computes
    the per-event columns once for both); every frame of the result is then derived
    from these small results, so all counts agree exactly across frames. Billing is
    grouped by the grouping plus ``billing_by``. Every metric, billing included, has one
    traffic scope (:class:`TrafficScope`): customer traffic unless asked.

    Parameters
    ----------
    df
        Canonical events frame; a ``LazyFrame`` (for example ``pl.scan_parquet``) is
        scanned, never materialised whole.
    by, every, time_zone, period_column
        Grouping, as in :func:`outcome_counts`.
    include_warmup, include_test, include_demo
        Traffic scope of every metric (default: customer traffic).
    window
        Only the events whose ``period_column`` lies in this window, as in
        :func:`outcome_counts`; the filter is part of the one plan, so every frame of
        the result (billing included) covers the same events.
    billing_by
        Billing dimensions (``billing_status``, ``campaign_id``, ``source_id``,
        ``ten_dlc_campaign_id``, ``from_phone_number``, ...).
    cost_scale
        Decimals of ``cost_per_delivered``.
    as_of
        Timezone-aware instant for pending retries and the receipt timeout (default:
        now).
    receipt_timeout
        As in :func:`outcome_counts` (default :data:`RECEIPT_TIMEOUT`).
    engine
        Polars engine. ``"streaming"`` bounds memory for sources larger than RAM (a
        ``pl.scan_parquet`` store): the passes then run one after the other, each
        re-reading the source, and at most one latency stage's values are held at once
        (exact percentiles need them all).

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame([{"direction": "Outbound", "delivered_at": t}], schema=EVENT_SCHEMA)
    >>> s = summary(df, as_of=t)
    >>> s.delivery["delivery_rate"].item(), s.counts["metric"].to_list()[:3]
    (1.0, ['outcome', 'delivery', 'latency.queue'])

    The shape does not depend on the rows: no events, grouped, still count every metric.

    >>> empty = summary(df.clear(), by="campaign_id", as_of=t)
    >>> empty.counts.height, empty.counts["n_events"].sum(), empty.latency.columns[:2]
    (10, 0, ['campaign_id', 'stage'])
    """
    g = grouping(by, every, time_zone, period_column)
    dims = extra_dims(g, billing_by)
    when = now_or(as_of)
    lf = windowed(df, window, period_column)
    scale = money_scale(lf)
    scope = TrafficScope.of(
        include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
    )
    receipt_cutoff(when, receipt_timeout)  # validate before building the plan
    base = prepare(lf, g, as_of=when, receipt_timeout=receipt_timeout)
    cube, values = _collect(base, g, dims, _flags(scope), engine)
    return summary_from(
        cube,
        values,
        g,
        dims,
        scope=scope,
        cost_scale=cost_scale,
        scale=scale,
        as_of=when,
        receipt_timeout=receipt_timeout,
    )


def _flags(scope: TrafficScope) -> dict[str, bool]:
    return {
        "include_warmup": scope.warmup,
        "include_test": scope.test,
        "include_demo": scope.demo,
    }


def summary_from(
    cube: pl.DataFrame,
    values: pl.DataFrame,
    g: Grouping,
    dims: Sequence[str],
    *,
    scope: TrafficScope,
    cost_scale: int,
    scale: int,
    as_of: datetime,
    receipt_timeout: timedelta,
) -> MetricsSummary:
    """The :class:`MetricsSummary` grouped by ``g`` from a collected cube and the latency
    lists (:func:`~leadping_nb.metrics._plans.latency_plan` grouped by ``g``). The cube
    may carry more keys than ``g`` (a period, say): every frame re-aggregates it, so a
    report reads its totals and its per-period rows from one cube."""
    kw = _flags(scope)
    outcomes = outcomes_from_cube(cube, g, **kw)
    delivery = delivery_from_cube(cube, g, **kw)
    latency = latency_from_parts(events_from_cube(cube, g), values, g, STAGES)
    retry = retry_from_cube(cube, g, **kw)
    total = Grouping((), None, g.time_zone, g.period_column)
    billing_total = billing_from_cube(cube, total, **kw, cost_scale=cost_scale, scale=scale)
    return MetricsSummary(
        outcomes=outcomes,
        delivery=delivery,
        latency=latency,
        retry=retry,
        retry_distribution=retry_distribution_from_cube(cube, g, **kw),
        billing=billing_from_cube(cube, g.with_by(dims), **kw, cost_scale=cost_scale, scale=scale),
        billing_total=billing_total,
        counts=metric_counts(outcomes, delivery, latency, retry, billing_total),
        as_of=as_of,
        scope=scope,
        receipt_timeout=receipt_timeout,
    )
