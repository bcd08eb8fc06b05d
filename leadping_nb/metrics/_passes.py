"""One pass per report: every frame a report reads, planned over one prepared frame and
collected in one ``pl.collect_all``.

A report used to call a frame function per table (a summary, then the delivery summary
per period and again for the total, the billing summary per dimension, a whole summary
for the counts table), each planning and running its own pass over the events. Here the
events are prepared once (:func:`~leadping_nb.metrics._plans.prepare`), one cube carries
the report's period and dimensions, and every table is a re-aggregation of it, so the
per-period rows and the total come from the same cube and agree exactly. The plans that
cannot come from the cube (latency lists, failure pairs, engagement links, a ranking's
groups) run in the same ``collect_all``, which computes their shared inputs once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

import polars as pl

from leadping_nb.metrics._engagement import opt_out_plans, reply_plans, speed_to_lead_plans
from leadping_nb.metrics._exprs import STAGES, Every, TrafficScope, latency_us, receipt_cutoff
from leadping_nb.metrics._latency import latency_plan
from leadping_nb.metrics._plans import (
    COUNT,
    OUT,
    BillingSplit,
    Grouping,
    billing_breakdown_from_cube,
    billing_from_cube,
    countable,
    cube_plan,
    delivery_from_cube,
    events_from_cube,
    money_scale,
    outbound,
    outcomes_from_cube,
    prepare,
    retry_from_cube,
)
from leadping_nb.metrics._ranking import check_min_volume, rank_groups
from leadping_nb.metrics._summary import MetricsSummary, metric_counts, summary_from

__all__ = ["BillingMetrics", "DeliveryMetrics", "Engagement", "billing_metrics", "delivery_metrics"]

#: The dimensions of the billing report's tables (besides the period).
BILLING_DIMS = ("billing_status", "campaign_id", "event_type")
#: The failure outcomes of the delivery report's failure table.
FAILURES = ("failed", "undeliverable", "blocked")


@dataclass(frozen=True)
class Engagement:
    """Reply, opt-out and speed-to-lead frames with one grouping."""

    reply: pl.DataFrame
    opt_out: pl.DataFrame
    speed_to_lead: pl.DataFrame


@dataclass(frozen=True)
class DeliveryMetrics:
    """Every frame of the delivery report, from :func:`delivery_metrics`.

    ``summary`` is ungrouped; ``by_period`` the delivery summary per period (from the
    same cube); ``failures`` the failed messages per failure key (columns: the keys, then
    ``n``); ``engagement`` grouped by the engagement column, ``engagement_total``
    ungrouped; ``ranking`` (:func:`~leadping_nb.metrics.delivery_ranking`) and
    ``ranking_reply`` (the reply summary by the same column) when asked.
    """

    summary: MetricsSummary
    by_period: pl.DataFrame
    failures: pl.DataFrame
    engagement: Engagement
    engagement_total: Engagement
    ranking: pl.DataFrame | None
    ranking_reply: pl.DataFrame | None


@dataclass(frozen=True)
class BillingMetrics:
    """Every frame of the billing report, from :func:`billing_metrics`.

    ``total`` and the ``by_*`` frames are billing summaries; ``whole``, ``channels`` and
    ``states`` billing breakdowns (no split, by channel, by billing state); ``counts``
    the counts of :class:`MetricsSummary`. All are re-aggregations of one cube.
    """

    total: pl.DataFrame
    by_status: pl.DataFrame
    by_period: pl.DataFrame
    by_campaign: pl.DataFrame
    by_event_type: pl.DataFrame
    whole: pl.DataFrame
    channels: pl.DataFrame
    states: pl.DataFrame
    counts: pl.DataFrame


class _Flags(TypedDict):
    include_warmup: bool
    include_test: bool
    include_demo: bool


def _flags(scope: TrafficScope) -> _Flags:
    return _Flags(include_warmup=scope.warmup, include_test=scope.test, include_demo=scope.demo)


def _engagement_plans(
    lf: pl.LazyFrame, by: str, rank_by: str | None, scope: TrafficScope
) -> list[pl.LazyFrame]:
    """Reply, opt-out and speed to lead by ``by`` and in total (then the reply rate by
    ``rank_by`` when it is another column): each metric links its rows once for all its
    groupings."""
    grouped = Grouping((by,), None, "UTC", "created_at")
    total = Grouping((), None, "UTC", "created_at")
    replies = [grouped, total]
    if rank_by is not None and rank_by != by:
        replies.append(Grouping((rank_by,), None, "UTC", "created_at"))
    kw = _flags(scope)
    r, r0, *r_rank = reply_plans(lf, replies, **kw)
    o, o0 = opt_out_plans(lf, [grouped, total], **kw)
    sp, sp0 = speed_to_lead_plans(lf, [grouped, total], **kw)
    return [r, o, sp, r0, o0, sp0, *r_rank]


def _failure_plan(base: pl.LazyFrame, keys: Sequence[pl.Expr], scope: TrafficScope) -> pl.LazyFrame:
    """Failed, undeliverable and blocked outbound messages of the scope per ``keys``."""
    failed = pl.col(OUT).is_in(list(FAILURES)).fill_null(False)
    rows = base.filter(failed & countable(**_flags(scope)))
    return rows.group_by(keys).agg(pl.len().cast(COUNT).alias("n"))


def delivery_metrics(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    every: Every,
    time_zone: str,
    scope: TrafficScope,
    as_of: datetime,
    receipt_timeout: timedelta,
    engagement_by: str,
    failure_keys: Sequence[pl.Expr],
    rank_by: str | None = None,
    min_volume: int = 30,
    billing_by: Sequence[str] = ("billing_status",),
    cost_scale: int = 4,
) -> DeliveryMetrics:
    """Every frame of the delivery report in one ``collect_all``: the summary and the
    per-period delivery from one cube (period and ``billing_by`` as dimensions), the
    latency lists, the failure counts per ``failure_keys`` (expressions over the events),
    engagement by ``engagement_by`` and in total, and the ranking by ``rank_by``."""
    # Long because it lists every plan of the report and unpacks the one collect_all in
    # the same order; the derivations are the *_from_cube functions.
    if rank_by is not None:
        check_min_volume(min_volume)
    receipt_cutoff(as_of, receipt_timeout)  # validate before building the plan
    lf = frame.lazy()
    scale = money_scale(lf)
    total = Grouping((), None, time_zone, "created_at")
    per = Grouping((), every, time_zone, "created_at")
    base = prepare(lf, per, as_of=as_of, receipt_timeout=receipt_timeout)
    dims = [c for c in billing_by if c != "period"]
    plans = [
        cube_plan(base, per, dims),
        latency_plan(base, total, STAGES, **_flags(scope)),
        _failure_plan(base, failure_keys, scope),
        *_engagement_plans(lf, engagement_by, rank_by, scope),
    ]
    ranked = Grouping((rank_by,), None, "UTC", "created_at") if rank_by else None
    if ranked is not None:
        plans.insert(3, cube_plan(base, ranked))
    cube, values, failures, *rest = pl.collect_all(plans)
    ranked_cube = rest.pop(0) if ranked is not None else None
    r, o, sp, r0, o0, sp0, *reply_by_rank = rest
    s = summary_from(
        cube,
        values,
        total,
        dims,
        scope=scope,
        cost_scale=cost_scale,
        scale=scale,
        as_of=as_of,
        receipt_timeout=receipt_timeout,
    )
    ranking = reply = None
    if ranked is not None and ranked_cube is not None:
        d = delivery_from_cube(ranked_cube, ranked, **_flags(scope))
        ranking = rank_groups(d, ranked, min_volume=min_volume)
        reply = reply_by_rank[0] if reply_by_rank else r
    return DeliveryMetrics(
        summary=s,
        by_period=delivery_from_cube(cube, per, **_flags(scope)),
        failures=failures,
        engagement=Engagement(r, o, sp),
        engagement_total=Engagement(r0, o0, sp0),
        ranking=ranking,
        ranking_reply=reply,
    )


def _latency_counts_plan(base: pl.LazyFrame, scope: TrafficScope) -> pl.LazyFrame:
    """Per stage, the latencies a summary would use (outbound, in scope, not negative),
    counted without collecting them: the counts table needs no percentile."""
    rows = base.filter(outbound() & countable(**_flags(scope)))
    return rows.select([(latency_us(s) >= 0).sum().cast(COUNT).alias(s) for s in STAGES])


def billing_metrics(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    every: Every,
    time_zone: str,
    scope: TrafficScope,
    as_of: datetime,
    receipt_timeout: timedelta,
    cost_scale: int,
) -> BillingMetrics:
    """Every frame of the billing report in one ``collect_all``: one cube by period and
    :data:`BILLING_DIMS`, and the latency counts of the counts table."""
    receipt_cutoff(as_of, receipt_timeout)
    lf = frame.lazy()
    scale = money_scale(lf)
    per = Grouping((), every, time_zone, "created_at")
    base = prepare(lf, per, as_of=as_of, receipt_timeout=receipt_timeout)
    cube, used = pl.collect_all(
        [cube_plan(base, per, BILLING_DIMS), _latency_counts_plan(base, scope)]
    )
    flags = _flags(scope)

    def billing(by: Sequence[str], period: Every | None = None) -> pl.DataFrame:
        g = Grouping(tuple(by), period, time_zone, "created_at")
        return billing_from_cube(cube, g, **flags, cost_scale=cost_scale, scale=scale)

    def breakdown(split: BillingSplit | None) -> pl.DataFrame:
        g = Grouping((), None, time_zone, "created_at")
        return billing_breakdown_from_cube(
            cube, g, split=split, **flags, cost_scale=cost_scale, scale=scale
        )

    total = billing(())
    return BillingMetrics(
        total=total,
        by_status=billing(["billing_status"]),
        by_period=billing([], every),
        by_campaign=billing(["campaign_id"]),
        by_event_type=billing(["event_type"]),
        whole=breakdown(None),
        channels=breakdown("channel"),
        states=breakdown("billing_state"),
        counts=_counts(cube, used, total, scope),
    )


def _counts(
    cube: pl.DataFrame, used: pl.DataFrame, billing_total: pl.DataFrame, scope: TrafficScope
) -> pl.DataFrame:
    """The counts table of :class:`MetricsSummary` from the cube and the latency counts."""
    g = Grouping((), None, "UTC", "created_at")
    kw = _flags(scope)
    n_events = events_from_cube(cube, g)["n_events"].item()
    latency = pl.DataFrame(
        {
            "stage": list(STAGES),
            "n_events": [n_events] * len(STAGES),
            "n_used": [used[s].item() for s in STAGES],
        },
        schema={"stage": pl.String, "n_events": COUNT, "n_used": COUNT},
    ).with_columns((pl.col("n_events") - pl.col("n_used")).alias("n_excluded"))
    return metric_counts(
        outcomes_from_cube(cube, g, **kw),
        delivery_from_cube(cube, g, **kw),
        latency,
        retry_from_cube(cube, g, **kw),
        billing_total,
    )
