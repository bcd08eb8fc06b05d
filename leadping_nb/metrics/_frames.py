"""The frame functions of :mod:`leadping_nb.metrics`: one metric each, over a frame.

Each takes a ``DataFrame`` or a ``LazyFrame`` and returns the same kind, planned over the
cube or the latency lists of :mod:`leadping_nb.metrics._plans`; the definitions are in
``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import polars as pl

from leadping_nb._core.window import Window
from leadping_nb.metrics._exprs import (
    RECEIPT_TIMEOUT,
    STAGES,
    Every,
    Stage,
    TrafficScope,
    is_outbound,
    is_retried,
    latency_ms,
    negative_gap,
    outcome,
    retry_pending,
)
from leadping_nb.metrics._latency import latency_from_parts, latency_plan
from leadping_nb.metrics._plans import (
    BillingSplit,
    Grouping,
    billing_breakdown_from_cube,
    billing_from_cube,
    cube_plan,
    delivery_from_cube,
    events_from_cube,
    grouping,
    money_scale,
    now_or,
    outcomes_from_cube,
    prepare,
    retry_distribution_from_cube,
    retry_from_cube,
    windowed,
)
from leadping_nb.metrics._plans import (
    lazy as _lazy,
)
from leadping_nb.metrics._plans import (
    like as _like,
)

__all__ = [
    "billing_breakdown",
    "billing_summary",
    "delivery_summary",
    "latency_summary",
    "outcome_counts",
    "retry_distribution",
    "retry_summary",
    "with_metrics",
]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def _windowed_cube(
    df: pl.DataFrame | pl.LazyFrame,
    g: Grouping,
    window: Window | None,
    *,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
) -> pl.LazyFrame:
    """The cube of the events of ``df`` in ``window`` (on ``g.period_column``)."""
    lf = windowed(df, window, g.period_column)
    base = prepare(lf, g, as_of=as_of, receipt_timeout=receipt_timeout)
    return cube_plan(base, g)


def _scope(include_warmup: bool, include_test: bool, include_demo: bool) -> dict[str, bool]:
    return {
        "include_warmup": include_warmup,
        "include_test": include_test,
        "include_demo": include_demo,
    }


def with_metrics(
    df: FrameT,
    *,
    as_of: datetime | None = None,
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
) -> FrameT:
    """Add the per-event metric columns to an events frame.

    Adds ``outcome`` (:data:`OUTCOME_DTYPE`), ``is_outbound``,
    ``is_countable_traffic``, ``latency_<stage>_ms`` and ``negative_gap_<stage>`` for
    every stage in :data:`STAGES`, ``is_retried``, and ``retry_pending`` when ``as_of``
    is given.

    Parameters
    ----------
    df
        A canonical events ``DataFrame`` or ``LazyFrame``; the result is the same kind.
    as_of
        Timezone-aware instant for ``retry_pending`` (without it the column is omitted)
        and for the receipt timeout of ``outcome`` (default: now).
    include_warmup, include_test, include_demo
        Passed to :func:`is_countable_traffic`.
    receipt_timeout
        Passed to :func:`outcome` (default :data:`RECEIPT_TIMEOUT`).

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"id": "e1", "direction": "Outbound", "queued_at": t, "delivered_at": t}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> with_metrics(df).select("outcome", "latency_end_to_end_ms").row(0)
    ('delivered', 0.0)
    """
    cols = [
        outcome(as_of=as_of, receipt_timeout=receipt_timeout),
        is_outbound(),
        TrafficScope.of(
            include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
        ).expr(),
        *[latency_ms(s) for s in STAGES],
        *[negative_gap(s) for s in STAGES],
        is_retried(),
    ]
    if as_of is not None:
        cols.append(retry_pending(as_of, receipt_timeout=receipt_timeout))
    return _like(df, _lazy(df).with_columns(cols))


def outcome_counts(
    df: FrameT,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
    window: Window | None = None,
) -> FrameT:
    """Count events per :func:`outcome`, one row per group and outcome.

    Columns: the group keys (``period`` first when ``every`` is set, then ``by``),
    ``outcome`` (null: the event is not a message), ``n`` (= ``n_used``: countable events
    with that outcome), ``share`` (``n`` over the group's total ``n``), ``n_events``,
    ``n_used``, ``n_excluded`` (events of that outcome excluded as warm-up, test or demo
    traffic).

    Parameters
    ----------
    df
        A canonical events ``DataFrame`` or ``LazyFrame``; the result is the same kind.
    by
        Columns to group by (any columns of ``df``).
    every
        Also group by calendar period: ``"day"``, ``"week"`` (from Monday) or
        ``"month"``, adding a tz-aware ``period`` column (the period's start).
    time_zone
        IANA zone the periods are cut in.
    period_column
        Timestamp column that places an event in a period.
    include_warmup, include_test, include_demo
        Count warm-up / test / demo traffic (excluded by default: the
        :class:`TrafficScope` of customer traffic).
    as_of
        Timezone-aware instant the receipt timeout is judged at (default: now, taken
        when the plan is built).
    receipt_timeout
        A message sent this long before ``as_of`` without a receipt or other final
        timestamp counts as ``no_receipt`` (default :data:`RECEIPT_TIMEOUT`, 24 hours).
    window
        Keep only the events whose ``period_column`` lies in this
        :class:`~leadping_nb.Window` (``[start, end)``; a null instant is outside)
        before anything is counted: the result is that of the filtered frame.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "delivered_at": t, "created_at": t},
    ...      {"direction": "Inbound", "event_type": "Sms"}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> outcome_counts(df).select("outcome", "n").rows()
    [('delivered', 1), ('inbound', 1)]
    >>> from leadping_nb import Window
    >>> jan = Window.parse("2024-01-01..2024-02-01")
    >>> outcome_counts(df, window=jan).select("outcome", "n").rows()
    [('delivered', 1)]
    """
    g = grouping(by, every, time_zone, period_column)
    scope = _scope(include_warmup, include_test, include_demo)
    cube = _windowed_cube(df, g, window, as_of=now_or(as_of), receipt_timeout=receipt_timeout)
    return _like(df, outcomes_from_cube(cube, g, **scope))


def delivery_summary(
    df: FrameT,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
    window: Window | None = None,
) -> FrameT:
    """Two delivery rates per group: of final outcomes, and of messages sent.

    Scope: outbound messages (:func:`is_outbound`) of countable traffic
    (:func:`is_countable_traffic`). ``delivery_rate`` = delivered ÷ (delivered +
    undeliverable + failed + blocked + no_receipt), the :data:`FINAL_OUTCOMES`;
    ``sent_delivery_rate`` = delivered ÷ ``n_sent``, the messages that reached sent
    (``sent_at`` set, or delivered or undeliverable: a receipt implies the send).

    Columns: keys, ``n_events``, ``n_not_outbound``, ``n_traffic_excluded`` (outbound
    warm-up/test/demo out of scope), ``n_outbound`` (in scope), ``n_delivered``,
    ``n_undeliverable``, ``n_failed``, ``n_blocked``, ``n_canceled``, ``n_scheduled``,
    ``n_no_receipt``, ``n_in_flight`` (these eight sum to ``n_outbound``), ``n_sent``,
    ``n_used`` (the denominator of ``delivery_rate``), ``n_excluded`` (``n_events -
    n_used``), ``delivery_rate`` and ``sent_delivery_rate`` (Float64, null when the
    denominator is 0). Arguments as in :func:`outcome_counts`.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "delivered_at": t},
    ...      {"direction": "Outbound", "failed_at": t},
    ...      {"direction": "Outbound", "delivered_at": t, "traffic_type": "Warmup"}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> delivery_summary(df).select("n_used", "n_excluded", "delivery_rate").row(0)
    (2, 1, 0.5)

    A message sent without a receipt is in flight for 24 hours, then ``no_receipt``:
    it enters both denominators.

    >>> from datetime import timedelta
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "sent_at": t, "delivered_at": t},
    ...      {"direction": "Outbound", "sent_at": t}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> cols = ["n_in_flight", "n_no_receipt", "delivery_rate", "sent_delivery_rate"]
    >>> delivery_summary(df, as_of=t + timedelta(hours=1)).select(cols).row(0)
    (1, 0, 1.0, 0.5)
    >>> delivery_summary(df, as_of=t + timedelta(hours=24)).select(cols).row(0)
    (0, 1, 0.5, 0.5)
    """
    g = grouping(by, every, time_zone, period_column)
    scope = _scope(include_warmup, include_test, include_demo)
    cube = _windowed_cube(df, g, window, as_of=now_or(as_of), receipt_timeout=receipt_timeout)
    return _like(df, delivery_from_cube(cube, g, **scope))


def latency_summary(
    df: FrameT,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
    stages: Sequence[Stage] = STAGES,
) -> FrameT:
    """Latency statistics in milliseconds, one row per group and stage.

    Scope: outbound messages of countable traffic. A stage value is used when both ends
    are set and the gap is not negative. Columns: keys, ``stage`` (:data:`STAGE_DTYPE`),
    ``n_events``, ``n_used``, ``n_excluded`` (= ``n_out_of_scope + n_missing +
    n_negative``), ``n_out_of_scope``, ``n_missing`` (an end is null), ``n_negative``
    (end before start), ``mean_ms``, ``min_ms``, ``p50_ms``, ``p90_ms``, ``p95_ms``,
    ``p99_ms``, ``max_ms`` (Float64; null when ``n_used`` is 0; percentiles with
    :data:`INTERPOLATION`). ``mean_ms`` is the exact (Int128) sum of the used latencies
    in microseconds divided by ``1000 * n_used`` in one Float64 division: the Float64
    nearest to the exact mean (below 2^53 µs summed). Other arguments as in
    :func:`outcome_counts`.

    Parameters
    ----------
    stages
        The stages to report (default: all of :data:`STAGES`).

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, timedelta, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "sent_at": t, "delivered_at": t + timedelta(seconds=s)}
    ...      for s in (1, 2, 3, -1)],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> latency_summary(df, stages=["carrier"]).select("n_used", "n_negative", "p50_ms").row(0)
    (3, 1, 2000.0)

    The mean of 1 µs and six 0 µs is 1/7000 ms, to the nearest Float64 (a mean in µs
    divided by 1000 would round twice, to 0.00014285714285714284):

    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "sent_at": t, "delivered_at": t + timedelta(microseconds=x)}
    ...      for x in (1, 0, 0, 0, 0, 0, 0)],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> latency_summary(df, stages=["carrier"])["mean_ms"].item()
    0.00014285714285714287
    """
    g = grouping(by, every, time_zone, period_column)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown latency stages {unknown}; expected some of {STAGES}")
    scope = _scope(include_warmup, include_test, include_demo)
    base = prepare(windowed(df, window, period_column), g, as_of=None)
    events = events_from_cube(cube_plan(base, g), g)
    values = latency_plan(base, g, stages, **scope)
    return _like(df, latency_from_parts(events, values, g, stages))


def retry_summary(
    df: FrameT,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
) -> FrameT:
    """Retry statistics per group.

    Scope: outbound messages of countable traffic with a known, non-negative
    ``retry_count`` (``n_used``). Columns: keys, ``n_events``, ``n_used``, ``n_excluded``
    (= ``n_out_of_scope + n_missing_retry_count``), ``n_out_of_scope``,
    ``n_missing_retry_count`` (null or negative), ``n_retried`` (``retry_count > 0``),
    ``share_retried`` (``n_retried / n_used``), ``total_retries`` (sum of
    ``retry_count``), ``mean_retries`` (``total_retries / n_used``), ``max_retries``,
    ``n_delivered``, ``n_terminal`` (final outcomes: delivered + undeliverable + failed
    + blocked + no_receipt, :data:`FINAL_OUTCOMES`), ``delivery_rate``
    (``n_delivered / n_terminal``), ``extra_attempts_per_delivered``
    (``total_retries / n_delivered``) and ``n_retry_pending`` (:func:`retry_pending` at
    ``as_of``). Every statistic, ``n_retry_pending`` included, is over the ``n_used``
    messages: a retry due on a message whose count is null or negative is not counted.
    Other arguments as in :func:`outcome_counts`.

    Parameters
    ----------
    as_of
        Timezone-aware "now" for pending retries and the receipt timeout; default: the
        current time, taken when the plan is built.
    receipt_timeout
        As in :func:`outcome_counts`.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "delivered_at": t, "retry_count": 2},
    ...      {"direction": "Outbound", "delivered_at": t, "retry_count": 0}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> retry_summary(df, as_of=t).select("share_retried", "extra_attempts_per_delivered").row(0)
    (0.5, 1.0)

    A pending retry counts only on a message with a valid retry count:

    >>> later = datetime(2024, 1, 2, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "failed_at": t, "retry_count": rc, "next_retry_at": later}
    ...      for rc in (1, None, -1)],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> cols = ["n_used", "n_missing_retry_count", "n_retry_pending"]
    >>> retry_summary(df, as_of=t).select(cols).row(0)
    (1, 2, 1)
    """
    g = grouping(by, every, time_zone, period_column)
    scope = _scope(include_warmup, include_test, include_demo)
    cube = _windowed_cube(df, g, window, as_of=now_or(as_of), receipt_timeout=receipt_timeout)
    return _like(df, retry_from_cube(cube, g, **scope))


def retry_distribution(
    df: FrameT,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
) -> FrameT:
    """Distribution of retry counts, and the delivery rate by retry count.

    Same scope as :func:`retry_summary`. One row per group and ``retry_count`` with
    ``n_messages``, ``share`` (of the group's messages), ``n_delivered``, ``n_failed``,
    ``n_undeliverable``, ``n_terminal`` (final outcomes, :data:`FINAL_OUTCOMES`),
    ``delivery_rate`` (``n_delivered / n_terminal``) and ``n_retry_pending``. Other
    arguments as in :func:`retry_summary`.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "delivered_at": t, "retry_count": 1},
    ...      {"direction": "Outbound", "failed_at": t, "retry_count": 1}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> retry_distribution(df, as_of=t).select("retry_count", "n_messages", "delivery_rate").row(0)
    (1, 2, 0.5)
    """
    g = grouping(by, every, time_zone, period_column)
    scope = _scope(include_warmup, include_test, include_demo)
    cube = _windowed_cube(df, g, window, as_of=now_or(as_of), receipt_timeout=receipt_timeout)
    return _like(df, retry_distribution_from_cube(cube, g, **scope))


def billing_summary(
    df: FrameT,
    *,
    by: str | Sequence[str] = ("billing_status",),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    cost_scale: int = 4,
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
) -> FrameT:
    """Exact billing totals per group, and the cost per delivered message.

    Scope: every event of the traffic scope (:class:`TrafficScope`), by default
    customer traffic like every other metric, so that the delivery and billing reports
    show one "Delivered" and one billed total per scope; set ``include_warmup`` /
    ``include_test`` / ``include_demo`` to bill those too. Group by
    ``billing_status``, ``campaign_id``, ``source_id``, ``ten_dlc_campaign_id``,
    ``from_phone_number`` / ``outbound_phone_number_id`` or any other columns.

    Columns: keys, ``n_events``, ``n_used`` (amount set and traffic in scope),
    ``n_excluded`` (= ``n_traffic_excluded + n_missing_amount``),
    ``n_traffic_excluded``, ``n_missing_amount``, ``total_amount`` (exact Decimal sum of
    the used amounts, ``Decimal(38, s)``; 0 when none), ``n_delivered`` (delivered
    outbound messages in scope) and ``cost_per_delivered`` (``total_amount /
    n_delivered`` exactly, rounded half-to-even to ``cost_scale`` decimals; null when
    nothing was delivered). The groups' totals add up to the ungrouped total exactly.

    Parameters
    ----------
    cost_scale
        Decimals of ``cost_per_delivered`` (0 to 18).
    window
        Only the events whose ``period_column`` lies in this window (as in
        :func:`outcome_counts`); other arguments as there.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from decimal import Decimal
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "delivered_at": t, "billing_status": "Billed",
    ...       "billable_amount": Decimal("0.0079")},
    ...      {"direction": "Outbound", "failed_at": t, "billing_status": "Billed",
    ...       "billable_amount": Decimal("0.0079")}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> billing_summary(df).select("total_amount", "cost_per_delivered").row(0)
    (Decimal('0.015800'), Decimal('0.0158'))
    """
    g = grouping(by, every, time_zone, period_column)
    lf = windowed(df, window, period_column)
    scale = money_scale(lf)
    result = billing_from_cube(
        cube_plan(prepare(lf, g, as_of=None), g),
        g,
        **_scope(include_warmup, include_test, include_demo),
        cost_scale=cost_scale,
        scale=scale,
    )
    return _like(df, result)


def billing_breakdown(
    df: FrameT,
    *,
    split: BillingSplit | None = "channel",
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    cost_scale: int = 4,
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
) -> FrameT:
    """Billing that finance can use: gross, refunded and net amounts, billed vs pending,
    and the cost per unit of each channel.

    Scope: events of countable traffic (:class:`TrafficScope`: warm-up, test and demo
    excluded unless ``include_warmup`` / ``include_test`` / ``include_demo``). Definitions
    (``docs/metrics.md``, "Billing"): a **charge** is a non-negative amount; a **refund** is
    a negative amount (its size is minus the amount) or a charge whose ``billing_status`` is
    ``Refunded`` (any case; its size is the amount). ``gross_amount`` sums the charges,
    ``refunded_amount`` the refunds' sizes, ``net_amount = gross_amount - refunded_amount``;
    ``billed_amount`` / ``pending_amount`` are the charges whose status is ``Billed`` /
    ``Pending``; ``total_amount`` is the plain sum of the amounts, as
    :func:`billing_summary`. Every amount is an exact Decimal sum, and the split rows add up
    exactly to the unsplit ones.

    Parameters
    ----------
    split
        ``"channel"``: one row per group and :data:`CHANNELS` value (``sms``, ``mms``,
        ``message`` — outbound messages by type —, ``inbound`` messages, ``call``,
        ``other``), with ``unit`` (:data:`CHANNEL_UNITS`), ``n_units`` (delivered
        messages; received messages for ``inbound``; calls with a charge for ``call``;
        null for ``other``) and ``cost_per_unit`` (``net_amount / n_units`` exactly,
        rounded half-to-even to ``cost_scale`` decimals; null without units).
        ``"billing_state"``: one row per group and :data:`BILLING_STATES` value
        (``refunded`` for a negative amount, else the status: ``billed``, ``pending``,
        ``refunded``, ``other``). ``None``: one row per group.
    by, every, time_zone, period_column
        Grouping, as in :func:`billing_summary`.
    cost_scale
        Decimals of ``cost_per_unit`` (0 to 18).
    include_warmup, include_test, include_demo
        Traffic scope (:class:`TrafficScope`).
    window
        Only the events whose ``period_column`` lies in this window (as in
        :func:`outcome_counts`).

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from decimal import Decimal
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"event_type": "Sms", "direction": "Outbound", "delivered_at": t,
    ...       "billing_status": "Billed", "billable_amount": Decimal("0.0079")},
    ...      {"event_type": "Sms", "direction": "Outbound", "sent_at": t,
    ...       "billing_status": "Pending", "billable_amount": Decimal("0.0079")},
    ...      {"event_type": "Sms", "direction": "Outbound", "delivered_at": t,
    ...       "billing_status": "Billed", "billable_amount": Decimal("-0.0079")}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> row = billing_breakdown(df).row(0, named=True)
    >>> row["channel"], row["gross_amount"], row["refunded_amount"], row["net_amount"]
    ('sms', Decimal('0.015800'), Decimal('0.007900'), Decimal('0.007900'))
    >>> row["n_units"], row["cost_per_unit"]
    (2, Decimal('0.0040'))
    >>> billing_breakdown(df, split="billing_state")["billing_state"].to_list()
    ['billed', 'pending', 'refunded']
    """
    if split not in ("channel", "billing_state", None):
        raise ValueError(f"split must be 'channel', 'billing_state' or None, got {split!r}")
    if not 0 <= cost_scale <= 18:
        raise ValueError(f"cost_scale must be within [0, 18], got {cost_scale}")
    g = grouping(by, every, time_zone, period_column)
    lf = windowed(df, window, period_column)
    scale = money_scale(lf)
    result = billing_breakdown_from_cube(
        cube_plan(prepare(lf, g, as_of=None), g),
        g,
        split=split,
        include_warmup=include_warmup,
        include_test=include_test,
        include_demo=include_demo,
        cost_scale=cost_scale,
        scale=scale,
    )
    return _like(df, result)
