"""Delivery, latency, retry and billing metrics over an events frame.

Two layers, both documented with formulas in ``docs/metrics.md``:

* **Expression builders** (:func:`latency_ms`, :func:`negative_gap`, :func:`outcome`,
  :func:`is_message`, :func:`is_outbound`, :func:`is_inbound`,
  :func:`is_countable_traffic` (:class:`TrafficScope`), :func:`is_retried`,
  :func:`retry_pending`, :func:`period`,
  :func:`percentile`, :func:`decimal_ratio`) that work inside any ``select`` /
  ``with_columns`` / ``filter`` / ``group_by().agg``.
* **Frame functions** (:func:`with_metrics`, :func:`outcome_counts`,
  :func:`delivery_summary`, :func:`latency_summary`, :func:`retry_summary`,
  :func:`retry_distribution`, :func:`billing_summary`, :func:`billing_breakdown`) that
  take a ``DataFrame`` or a
  ``LazyFrame`` and return the same kind, grouped by any columns (``by``) and optionally
  by calendar period (``every`` in ``time_zone``; the ``period`` column comes first),
  plus :func:`summary`, which computes all of them in one query plan. Each takes a
  ``window`` (:class:`~leadping_nb.Window`) that filters the events first.
* **Engagement** (:func:`reply_summary`, :func:`opt_out_summary`,
  :func:`speed_to_lead_summary`) and **rankings** (:func:`delivery_ranking`, with
  :func:`wilson_bounds`), with the same grouping and traffic-scope conventions.
* **Many selections of one frame** (:class:`EventCube`, :class:`CubeSelection`): the
  frame reduced once, then the outcome, delivery, retry and billing summaries of any row
  mask answered from counts (an interactive explorer's filters).
* **One lead** (:func:`lead_timeline`): its messages in time order with their lifecycle
  timestamps, outcome, retries, step durations and billing.

Every summary row carries ``n_events`` (events in the group) split into ``n_used``
(events the metric used) and ``n_excluded`` (``n_events - n_used``), with the reasons
counted in further ``n_*`` columns. Money stays Decimal: totals are exact Decimal sums,
and a cost per message is an exact quotient rounded half-to-even at a stated scale.
"""

from __future__ import annotations

from leadping_nb.metrics._cube import CubeSelection, EventCube
from leadping_nb.metrics._engagement import (
    LEAD_CREATED_TYPES,
    OPT_OUT_CANCEL_REASONS,
    OPT_OUT_COMPLIANCE_ACTIONS,
    OPT_OUT_STATUSES,
    REPLY_WINDOW,
    SPEED_TO_LEAD_WITHIN,
    is_lead_created,
    is_opt_out_signal,
    opt_out_summary,
    reply_summary,
    speed_to_lead_summary,
)
from leadping_nb.metrics._exprs import (
    FINAL_OUTCOMES,
    INTERPOLATION,
    MESSAGE_TYPES,
    OUTBOUND_TIMESTAMPS,
    OUTCOME_DTYPE,
    OUTCOMES,
    PERCENTILES,
    RECEIPT_TIMEOUT,
    RETRYABLE_OUTCOMES,
    STAGE_COLUMNS,
    STAGE_DTYPE,
    STAGES,
    Every,
    Outcome,
    Stage,
    TrafficScope,
    decimal_ratio,
    is_countable_traffic,
    is_demo_traffic,
    is_inbound,
    is_message,
    is_outbound,
    is_retried,
    is_test_traffic,
    is_warmup_traffic,
    latency_ms,
    negative_gap,
    outcome,
    percentile,
    period,
    retry_pending,
)
from leadping_nb.metrics._frames import (
    billing_breakdown,
    billing_summary,
    delivery_summary,
    latency_summary,
    outcome_counts,
    retry_distribution,
    retry_summary,
    with_metrics,
)
from leadping_nb.metrics._plans import (
    BILLING_STATE_DTYPE,
    BILLING_STATES,
    CHANNEL_DTYPE,
    CHANNEL_UNITS,
    CHANNELS,
)
from leadping_nb.metrics._ranking import MIN_VOLUME, WILSON_Z, delivery_ranking, wilson_bounds
from leadping_nb.metrics._summary import MetricsSummary, summary
from leadping_nb.metrics._timeline import LIFECYCLE_COLUMNS, TIMELINE_COLUMNS, lead_timeline

__all__ = [
    "BILLING_STATES",
    "BILLING_STATE_DTYPE",
    "CHANNELS",
    "CHANNEL_DTYPE",
    "CHANNEL_UNITS",
    "FINAL_OUTCOMES",
    "INTERPOLATION",
    "LEAD_CREATED_TYPES",
    "LIFECYCLE_COLUMNS",
    "MESSAGE_TYPES",
    "MIN_VOLUME",
    "OPT_OUT_CANCEL_REASONS",
    "OPT_OUT_COMPLIANCE_ACTIONS",
    "OPT_OUT_STATUSES",
    "OUTBOUND_TIMESTAMPS",
    "OUTCOMES",
    "OUTCOME_DTYPE",
    "PERCENTILES",
    "RECEIPT_TIMEOUT",
    "REPLY_WINDOW",
    "RETRYABLE_OUTCOMES",
    "SPEED_TO_LEAD_WITHIN",
    "STAGES",
    "STAGE_COLUMNS",
    "STAGE_DTYPE",
    "TIMELINE_COLUMNS",
    "WILSON_Z",
    "CubeSelection",
    "EventCube",
    "Every",
    "MetricsSummary",
    "Outcome",
    "Stage",
    "TrafficScope",
    "billing_breakdown",
    "billing_summary",
    "decimal_ratio",
    "delivery_ranking",
    "delivery_summary",
    "is_countable_traffic",
    "is_demo_traffic",
    "is_inbound",
    "is_lead_created",
    "is_message",
    "is_opt_out_signal",
    "is_outbound",
    "is_retried",
    "is_test_traffic",
    "is_warmup_traffic",
    "latency_ms",
    "latency_summary",
    "lead_timeline",
    "negative_gap",
    "opt_out_summary",
    "outcome",
    "outcome_counts",
    "percentile",
    "period",
    "reply_summary",
    "retry_distribution",
    "retry_pending",
    "retry_summary",
    "speed_to_lead_summary",
    "summary",
    "wilson_bounds",
    "with_metrics",
]
