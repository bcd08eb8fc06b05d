"""The latency pass: per group and stage, the used latencies as one sorted list, and the
latency summary read from those lists (every percentile from one sort).

The other pass, the cube, is in :mod:`leadping_nb.metrics._plans`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import polars as pl

from leadping_nb.metrics._exprs import (
    PERCENTILES,
    STAGE_DTYPE,
    Stage,
    percentile_of_sorted,
    true_divide,
    us_to_ms,
)
from leadping_nb.metrics._plans import (
    _P,
    COUNT,
    Grouping,
    _lat,
    countable,
    finish_period,
    outbound,
)

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


def _used(s: Stage) -> str:
    return f"{_P}used_{s}"


def latency_plan(
    base: pl.LazyFrame,
    g: Grouping,
    stages: Sequence[Stage],
    *,
    include_warmup: bool,
    include_test: bool,
    include_demo: bool = False,
) -> pl.LazyFrame:
    """Per group, over outbound messages of countable traffic: ``n_in_scope`` and, per
    stage, the used latencies in integer microseconds (not null, not negative) as a list
    sorted with the unused ones (null) last, their number and exact Int128 sum, and the
    missing / negative counts. Sorting integers after the aggregation is the cheapest order."""
    rows = base.filter(outbound() & countable(include_warmup, include_test, include_demo))
    rows = rows.with_columns(
        [pl.when(pl.col(_lat(s)) >= 0).then(pl.col(_lat(s))).alias(_used(s)) for s in stages]
    )
    aggs: list[pl.Expr] = [pl.len().cast(COUNT).alias("n_in_scope")]
    for s in stages:
        lat = pl.col(_lat(s))
        used = pl.col(_used(s))
        aggs += [
            used.implode().alias(f"{s}|values"),
            used.count().cast(COUNT).alias(f"{s}|n_used"),
            # exact: Int64 would wrap past 2^63 µs (292,000 years summed), and Polars'
            # own mean is a Float64 sum whose order depends on the engine path
            used.cast(pl.Int128).sum().alias(f"{s}|sum_us"),
            lat.is_null().sum().cast(COUNT).alias(f"{s}|n_missing"),
            (lat < 0).sum().cast(COUNT).alias(f"{s}|n_negative"),
        ]
    agg = rows.group_by(g.keys).agg(aggs) if g.keys else rows.select(aggs)
    return agg.with_columns([pl.col(f"{s}|values").list.sort(nulls_last=True) for s in stages])


#: Statistic columns of the latency summary, in order.
LATENCY_STATS = ("mean_ms", "min_ms", *[f"p{round(q * 100)}_ms" for q in PERCENTILES], "max_ms")


def latency_stage(joined: F, g: Grouping, stage: Stage) -> F:
    """One stage's rows of the latency summary."""
    v = pl.col(f"{stage}|values")
    n_used = pl.col(f"{stage}|n_used").fill_null(0)
    n_in_scope = pl.col("n_in_scope").fill_null(0)
    # the mean: the exact integer sum of microseconds and 1000 times the count, each
    # converted to the nearest Float64 (exactly, below 2^53), then one IEEE division
    sum_us = pl.col(f"{stage}|sum_us").cast(pl.Float64)
    mean_ms = true_divide(sum_us, (n_used * 1000).cast(pl.Float64))
    mean_ms = pl.when(n_used > 0).then(mean_ms)
    return joined.select(
        *g.keys,
        pl.lit(stage, dtype=STAGE_DTYPE).alias("stage"),
        "n_events",
        n_used.alias("n_used"),
        (pl.col("n_events") - n_used).alias("n_excluded"),
        (pl.col("n_events") - n_in_scope).alias("n_out_of_scope"),
        pl.col(f"{stage}|n_missing").fill_null(0).alias("n_missing"),
        pl.col(f"{stage}|n_negative").fill_null(0).alias("n_negative"),
        mean_ms.alias("mean_ms"),
        us_to_ms(v.list.get(0, null_on_oob=True)).alias("min_ms"),
        *[
            percentile_of_sorted(v, q, n=n_used, value=us_to_ms).alias(f"p{round(q * 100)}_ms")
            for q in PERCENTILES
        ],
        us_to_ms(v.list.get(n_used - 1, null_on_oob=True)).alias("max_ms"),
    )


def latency_from_parts(events: F, values: F, g: Grouping, stages: Sequence[Stage]) -> F:
    """The long latency summary from the events per group (:func:`events_from_cube`)
    and the per-group latency lists (:func:`latency_plan`)."""
    if g.keys:
        joined = events.join(values, on=g.keys, how="left", nulls_equal=True)
    else:
        joined = pl.concat([events, values], how="horizontal")
    parts = [latency_stage(joined, g, s) for s in stages]
    return finish_period(pl.concat(parts).sort([*g.keys, "stage"], nulls_last=True), g)
