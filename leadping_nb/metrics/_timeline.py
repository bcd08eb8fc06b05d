"""``lead_timeline``: one lead's messages in time order, with their lifecycle and retries.

Public through :mod:`leadping_nb.metrics` (it is a frame function over the same
per-event expressions: :func:`~leadping_nb.metrics.outcome`,
:func:`~leadping_nb.metrics.latency_ms`); the figure is
:func:`leadping_nb.figures.lead_timeline_figure`.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from leadping_nb.metrics._exprs import STAGES, is_message, latency_ms, outcome

__all__ = ["LIFECYCLE_COLUMNS", "TIMELINE_COLUMNS", "lead_timeline"]

#: The lifecycle timestamps of a message, in the order a message passes them (the
#: final ones, of which a message has at most one, after ``sent_at``).
LIFECYCLE_COLUMNS: Final[tuple[str, ...]] = (
    "scheduled_for",
    "queued_at",
    "sending_started_at",
    "sent_at",
    "delivered_at",
    "failed_at",
    "undeliverable_at",
    "blocked_at",
    "canceled_at",
    "received_at",
)

_HEAD: Final[tuple[str, ...]] = (
    "id",
    "event_type",
    "direction",
    "traffic_type",
    "status",
    "created_at",
)
_TAIL: Final[tuple[str, ...]] = (
    "retry_count",
    "next_retry_at",
    "error_code",
    "status_reason",
    "billing_status",
    "billable_amount",
)
#: The columns of :func:`lead_timeline`, in order.
TIMELINE_COLUMNS: Final[tuple[str, ...]] = (
    "message",
    *_HEAD,
    "outcome",
    *LIFECYCLE_COLUMNS,
    *_TAIL,
    *(f"{s}_ms" for s in STAGES),
)


def lead_timeline(df: pl.DataFrame | pl.LazyFrame, lead_id: str) -> pl.DataFrame:
    """One lead's messages, one row each in time order, with lifecycle and retries.

    The rows are the lead's messages (:func:`~leadping_nb.metrics.is_message`: SMS and
    MMS, outbound and inbound, every traffic type), sorted by ``created_at`` then
    ``id`` (a message without ``created_at`` last). Columns (:data:`TIMELINE_COLUMNS`):

    * ``message``: 1, 2, ... in that order (``UInt32``);
    * ``id``, ``event_type``, ``direction``, ``traffic_type``, ``status``,
      ``created_at`` as in the frame;
    * ``outcome`` (:func:`~leadping_nb.metrics.outcome`);
    * the lifecycle timestamps :data:`LIFECYCLE_COLUMNS` (UTC): ``scheduled_for``,
      ``queued_at``, ``sending_started_at``, ``sent_at``, the final one
      (``delivered_at``, ``failed_at``, ``undeliverable_at``, ``blocked_at``,
      ``canceled_at``) and ``received_at`` for an inbound message;
    * ``retry_count``, ``next_retry_at``, ``error_code``, ``status_reason``;
    * ``billing_status`` and ``billable_amount`` (exact Decimal);
    * the step durations ``queue_ms``, ``send_ms``, ``carrier_ms``, ``end_to_end_ms``
      and ``schedule_lag_ms`` (:func:`~leadping_nb.metrics.latency_ms`: null when an end
      is missing, negative when the clock ran backwards, never clipped).

    Parameters
    ----------
    df
        A canonical events ``DataFrame`` or ``LazyFrame`` (several leads are fine).
    lead_id
        The lead to show.

    Returns
    -------
    polars.DataFrame
        Empty (with these columns) when the lead has events but no messages.

    Raises
    ------
    ValueError
        When no event of the frame belongs to ``lead_id``.

    Examples
    --------
    >>> from datetime import datetime, timedelta, UTC
    >>> from decimal import Decimal
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> t = datetime(2026, 11, 2, 9, tzinfo=UTC)
    >>> s = timedelta(seconds=1)
    >>> df = pl.DataFrame(
    ...     [{"id": "m2", "lead_id": "L", "event_type": "Sms", "direction": "Outbound",
    ...       "created_at": t + 60 * s, "queued_at": t + 60 * s, "failed_at": t + 62 * s,
    ...       "retry_count": 1, "next_retry_at": t + 600 * s},
    ...      {"id": "m1", "lead_id": "L", "event_type": "Sms", "direction": "Outbound",
    ...       "created_at": t, "queued_at": t, "sending_started_at": t + s,
    ...       "sent_at": t + 2 * s, "delivered_at": t + 5 * s, "retry_count": 0,
    ...       "billing_status": "Billed", "billable_amount": Decimal("0.0079")},
    ...      {"id": "c1", "lead_id": "L", "event_type": "Call", "created_at": t}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> tl = lead_timeline(df, "L")
    >>> tl.select("message", "id", "outcome", "end_to_end_ms", "retry_count").rows()
    [(1, 'm1', 'delivered', 5000.0, 0), (2, 'm2', 'failed', None, 1)]
    >>> tl["billable_amount"][0]
    Decimal('0.007900')
    >>> lead_timeline(df, "nobody")
    Traceback (most recent call last):
    ...
    ValueError: lead 'nobody' is not in the frame (1 lead in it: 'L')
    """
    if not isinstance(lead_id, str):
        raise TypeError(f"lead_id must be a str, got {type(lead_id).__name__}")
    if isinstance(df, pl.DataFrame):
        lf = df.lazy()
    elif isinstance(df, pl.LazyFrame):
        lf = df
    else:
        raise TypeError(f"expected a polars DataFrame or LazyFrame, got {type(df).__name__}")
    events = lf.filter(pl.col("lead_id") == lead_id).collect()
    if events.height == 0:
        leads = lf.select(pl.col("lead_id").drop_nulls().unique().sort()).collect().to_series()
        shown = ", ".join(repr(v) for v in leads.head(5).to_list())
        more = f", ... ({leads.len():,} leads)" if leads.len() > 5 else ""
        which = (
            f"{leads.len()} lead{'s' if leads.len() != 1 else ''} in it: {shown}{more}"
            if leads.len()
            else "it holds no lead ids"
        )
        raise ValueError(f"lead {lead_id!r} is not in the frame ({which})")
    return (
        events.lazy()
        .filter(is_message())
        .sort(["created_at", "id"], nulls_last=True, maintain_order=True)
        .select(
            pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).alias("message"),
            *_HEAD,
            outcome(),
            *LIFECYCLE_COLUMNS,
            *_TAIL,
            *(latency_ms(s).alias(f"{s}_ms") for s in STAGES),
        )
        .collect()
    )
