"""Delivery, latency, retry and billing metrics over an events frame.

Two layers, both documented with formulas in ``docs/metrics.md``:

* **Expression builders** (:func:`latency_ms`, :func:`negative_gap`, :func:`outcome`,
  :func:`is_message`, :func:`is_outbound`, :func:`is_inbound`,
  :func:`is_countable_traffic`, :func:`is_retried`, :func:`retry_pending`, :func:`period`,
  :func:`percentile`, :func:`decimal_ratio`) that work inside any ``select`` /
  ``with_columns`` / ``filter`` / ``group_by().agg``.
* **Frame functions** (:func:`with_metrics`, :func:`outcome_counts`,
  :func:`delivery_summary`, :func:`latency_summary`, :func:`retry_summary`,
  :func:`retry_distribution`, :func:`billing_summary`) that take a ``DataFrame`` or a
  ``LazyFrame`` and return the same kind, grouped by any columns (``by``) and optionally
  by calendar period (``every`` in ``time_zone``; the ``period`` column comes first),
  plus :func:`summary`, which computes all of them in one query plan. Each takes a
  ``window`` (:class:`~leadping_nb.Window`) that filters the events first.
* **One lead** (:func:`lead_timeline`): its messages in time order with their lifecycle
  timestamps, outcome, retries, step durations and billing.

Every summary row carries ``n_events`` (events in the group) split into ``n_used``
(events the metric used) and ``n_excluded`` (``n_events - n_used``), with the reasons
counted in further ``n_*`` columns. Money stays Decimal: totals are exact Decimal sums,
and a cost per message is an exact quotient rounded half-to-even at a stated scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

import polars as pl

from leadping_nb._metrics_exprs import (
    INTERPOLATION,
    MESSAGE_TYPES,
    OUTBOUND_TIMESTAMPS,
    OUTCOME_DTYPE,
    OUTCOMES,
    PERCENTILES,
    RETRYABLE_OUTCOMES,
    STAGE_COLUMNS,
    STAGE_DTYPE,
    STAGES,
    Every,
    Outcome,
    Stage,
    as_utc,
    decimal_ratio,
    is_countable_traffic,
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
from leadping_nb._metrics_plans import (
    COUNT,
    Grouping,
    billing_from_cube,
    cube_plan,
    delivery_from_cube,
    events_from_cube,
    extra_dims,
    grouping,
    latency_from_parts,
    latency_plan,
    money_scale,
    outcomes_from_cube,
    prepare,
    retry_distribution_from_cube,
    retry_from_cube,
)
from leadping_nb._timeline import LIFECYCLE_COLUMNS, TIMELINE_COLUMNS, lead_timeline
from leadping_nb._window import Window

__all__ = [
    "INTERPOLATION",
    "LIFECYCLE_COLUMNS",
    "MESSAGE_TYPES",
    "OUTBOUND_TIMESTAMPS",
    "OUTCOMES",
    "OUTCOME_DTYPE",
    "PERCENTILES",
    "RETRYABLE_OUTCOMES",
    "STAGES",
    "STAGE_COLUMNS",
    "STAGE_DTYPE",
    "TIMELINE_COLUMNS",
    "Every",
    "MetricsSummary",
    "Outcome",
    "Stage",
    "billing_summary",
    "decimal_ratio",
    "delivery_summary",
    "is_countable_traffic",
    "is_inbound",
    "is_message",
    "is_outbound",
    "is_retried",
    "is_test_traffic",
    "is_warmup_traffic",
    "latency_ms",
    "latency_summary",
    "lead_timeline",
    "negative_gap",
    "outcome",
    "outcome_counts",
    "percentile",
    "period",
    "retry_distribution",
    "retry_pending",
    "retry_summary",
    "summary",
    "with_metrics",
]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
Engine = Literal["auto", "in-memory", "streaming"]


def _lazy(df: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    if isinstance(df, pl.DataFrame):
        return df.lazy()
    if isinstance(df, pl.LazyFrame):
        return df
    raise TypeError(f"expected a polars DataFrame or LazyFrame, got {type(df).__name__}")


def _windowed(
    df: pl.DataFrame | pl.LazyFrame, window: Window | None, period_column: str
) -> pl.LazyFrame:
    """``df`` as a LazyFrame, filtered to ``window`` on ``period_column`` (null: outside)."""
    lf = _lazy(df)
    if window is None:
        return lf
    if not isinstance(window, Window):
        raise TypeError(
            f"window must be a leadping_nb.Window (Window.last(...), Window.parse(...)), "
            f"got {type(window).__name__}"
        )
    return lf.filter(window.predicate(period_column))


def _like(original: FrameT, result: pl.LazyFrame) -> FrameT:
    if isinstance(original, pl.DataFrame):
        return result.collect()
    return result


def _now_or(as_of: datetime | None) -> datetime:
    return datetime.now(UTC) if as_of is None else as_utc(as_of)


def _cube(
    df: pl.DataFrame | pl.LazyFrame,
    g: Grouping,
    *,
    as_of: datetime | None = None,
    dims: Sequence[str] = (),
) -> pl.LazyFrame:
    return cube_plan(prepare(_lazy(df), g, as_of=as_of), g, dims)


def with_metrics(
    df: FrameT,
    *,
    as_of: datetime | None = None,
    include_warmup: bool = False,
    include_test: bool = False,
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
        Timezone-aware instant for ``retry_pending``; without it the column is omitted.
    include_warmup, include_test
        Passed to :func:`is_countable_traffic`.

    Examples
    --------
    >>> from leadping_nb._schema import EVENT_SCHEMA
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
        outcome(),
        is_outbound(),
        is_countable_traffic(include_warmup=include_warmup, include_test=include_test),
        *[latency_ms(s) for s in STAGES],
        *[negative_gap(s) for s in STAGES],
        is_retried(),
    ]
    if as_of is not None:
        cols.append(retry_pending(as_of))
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
    window: Window | None = None,
) -> FrameT:
    """Count events per :func:`outcome`, one row per group and outcome.

    Columns: the group keys (``period`` first when ``every`` is set, then ``by``),
    ``outcome`` (null: the event is not a message), ``n`` (= ``n_used``: countable events
    with that outcome), ``share`` (``n`` over the group's total ``n``), ``n_events``,
    ``n_used``, ``n_excluded`` (events of that outcome excluded as warm-up/test traffic).

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
    include_warmup, include_test
        Count warm-up / test traffic (excluded by default).
    window
        Keep only the events whose ``period_column`` lies in this
        :class:`~leadping_nb.Window` (``[start, end)``; a null instant is outside)
        before anything is counted: the result is that of the filtered frame.

    Examples
    --------
    >>> from leadping_nb._schema import EVENT_SCHEMA
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
    result = outcomes_from_cube(
        _cube(_windowed(df, window, period_column), g),
        g,
        include_warmup=include_warmup,
        include_test=include_test,
    )
    return _like(df, result)


def delivery_summary(
    df: FrameT,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    window: Window | None = None,
) -> FrameT:
    """Delivery rate = delivered ÷ (delivered + failed + undeliverable), per group.

    Scope: outbound messages (:func:`is_outbound`) of countable traffic
    (:func:`is_countable_traffic`). Columns: keys, ``n_events``, ``n_not_outbound``,
    ``n_traffic_excluded`` (outbound warm-up/test), ``n_outbound`` (in scope),
    ``n_delivered``, ``n_undeliverable``, ``n_failed``, ``n_blocked``, ``n_canceled``,
    ``n_scheduled``, ``n_in_flight`` (these seven sum to ``n_outbound``), ``n_used``
    (the denominator), ``n_excluded`` (``n_events - n_used``) and ``delivery_rate``
    (Float64, null when ``n_used`` is 0). Arguments as in :func:`outcome_counts`.

    Examples
    --------
    >>> from leadping_nb._schema import EVENT_SCHEMA
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
    """
    g = grouping(by, every, time_zone, period_column)
    result = delivery_from_cube(
        _cube(_windowed(df, window, period_column), g),
        g,
        include_warmup=include_warmup,
        include_test=include_test,
    )
    return _like(df, result)


def latency_summary(
    df: FrameT,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
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
    >>> from leadping_nb._schema import EVENT_SCHEMA
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
    scope = {"include_warmup": include_warmup, "include_test": include_test}
    base = prepare(_windowed(df, window, period_column), g, as_of=None)
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
    window: Window | None = None,
    as_of: datetime | None = None,
) -> FrameT:
    """Retry statistics per group.

    Scope: outbound messages of countable traffic with a known, non-negative
    ``retry_count`` (``n_used``). Columns: keys, ``n_events``, ``n_used``, ``n_excluded``
    (= ``n_out_of_scope + n_missing_retry_count``), ``n_out_of_scope``,
    ``n_missing_retry_count`` (null or negative), ``n_retried`` (``retry_count > 0``),
    ``share_retried`` (``n_retried / n_used``), ``total_retries`` (sum of
    ``retry_count``), ``mean_retries`` (``total_retries / n_used``), ``max_retries``,
    ``n_delivered``, ``n_terminal`` (delivered + failed + undeliverable),
    ``delivery_rate`` (``n_delivered / n_terminal``), ``extra_attempts_per_delivered``
    (``total_retries / n_delivered``) and ``n_retry_pending`` (:func:`retry_pending` at
    ``as_of``). Every statistic, ``n_retry_pending`` included, is over the ``n_used``
    messages: a retry due on a message whose count is null or negative is not counted.
    Other arguments as in :func:`outcome_counts`.

    Parameters
    ----------
    as_of
        Timezone-aware "now" for pending retries; default: the current time, taken when
        the plan is built.

    Examples
    --------
    >>> from leadping_nb._schema import EVENT_SCHEMA
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
    cube = _cube(_windowed(df, window, period_column), g, as_of=_now_or(as_of))
    result = retry_from_cube(cube, g, include_warmup=include_warmup, include_test=include_test)
    return _like(df, result)


def retry_distribution(
    df: FrameT,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    window: Window | None = None,
    as_of: datetime | None = None,
) -> FrameT:
    """Distribution of retry counts, and the delivery rate by retry count.

    Same scope as :func:`retry_summary`. One row per group and ``retry_count`` with
    ``n_messages``, ``share`` (of the group's messages), ``n_delivered``, ``n_failed``,
    ``n_undeliverable``, ``n_terminal``, ``delivery_rate`` (``n_delivered /
    n_terminal``) and ``n_retry_pending``. Other arguments as in :func:`retry_summary`.

    Examples
    --------
    >>> from leadping_nb._schema import EVENT_SCHEMA
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
    cube = _cube(_windowed(df, window, period_column), g, as_of=_now_or(as_of))
    result = retry_distribution_from_cube(
        cube, g, include_warmup=include_warmup, include_test=include_test
    )
    return _like(df, result)


def billing_summary(
    df: FrameT,
    *,
    by: str | Sequence[str] = ("billing_status",),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    cost_scale: int = 4,
    include_warmup: bool = True,
    include_test: bool = True,
    window: Window | None = None,
) -> FrameT:
    """Exact billing totals per group, and the cost per delivered message.

    Scope: every event; billing counts what was billed, so warm-up and test traffic are
    included unless ``include_warmup`` / ``include_test`` are set to False. Group by
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
    >>> from leadping_nb._schema import EVENT_SCHEMA
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
    lf = _windowed(df, window, period_column)
    scale = money_scale(lf)
    result = billing_from_cube(
        _cube(lf, g),
        g,
        include_warmup=include_warmup,
        include_test=include_test,
        cost_scale=cost_scale,
        scale=scale,
    )
    return _like(df, result)


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
        over the whole frame: always these nine rows, whatever the grouping, with zero
        counts for an empty frame.
    as_of
        The instant pending retries were judged at (UTC).
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


def _counts(
    outcomes: pl.DataFrame,
    delivery: pl.DataFrame,
    latency: pl.DataFrame,
    retry: pl.DataFrame,
    billing_total: pl.DataFrame,
) -> pl.DataFrame:
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
    window: Window | None = None,
    billing_by: str | Sequence[str] = ("billing_status",),
    cost_scale: int = 4,
    as_of: datetime | None = None,
    engine: Engine = "auto",
) -> MetricsSummary:
    """Compute every metric at once.

    One aggregation counts events per group and small dimensions (a "cube" of a few
    thousand rows, with the exact amount sums); a second collects each stage's
    latencies per group. In memory both run together (``polars.collect_all`` computes
    the per-event columns once for both); every frame of the result is then derived
    from these small results, so all counts agree exactly across frames. Billing is
    grouped by the grouping plus ``billing_by`` and includes every traffic type, like
    :func:`billing_summary`; the other metrics exclude warm-up and test traffic unless
    asked.

    Parameters
    ----------
    df
        Canonical events frame; a ``LazyFrame`` (for example ``pl.scan_parquet``) is
        scanned, never materialised whole.
    by, every, time_zone, period_column
        Grouping, as in :func:`outcome_counts`.
    include_warmup, include_test
        Traffic scope of outcome, delivery, latency and retry metrics.
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
        Timezone-aware instant for pending retries (default: now).
    engine
        Polars engine. ``"streaming"`` bounds memory for sources larger than RAM (a
        ``pl.scan_parquet`` store): the passes then run one after the other, each
        re-reading the source, and at most one latency stage's values are held at once
        (exact percentiles need them all).

    Examples
    --------
    >>> from leadping_nb._schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame([{"direction": "Outbound", "delivered_at": t}], schema=EVENT_SCHEMA)
    >>> s = summary(df, as_of=t)
    >>> s.delivery["delivery_rate"].item(), s.counts["metric"].to_list()[:3]
    (1.0, ['outcome', 'delivery', 'latency.queue'])

    The shape does not depend on the rows: no events, grouped, still count every metric.

    >>> empty = summary(df.clear(), by="campaign_id", as_of=t)
    >>> empty.counts.height, empty.counts["n_events"].sum(), empty.latency.columns[:2]
    (9, 0, ['campaign_id', 'stage'])
    """
    g = grouping(by, every, time_zone, period_column)
    dims = extra_dims(g, billing_by)
    when = _now_or(as_of)
    lf = _windowed(df, window, period_column)
    scale = money_scale(lf)
    scope = {"include_warmup": include_warmup, "include_test": include_test}
    base = prepare(lf, g, as_of=when)
    cube, values = _collect(base, g, dims, scope, engine)
    outcomes = outcomes_from_cube(cube, g, **scope)
    delivery = delivery_from_cube(cube, g, **scope)
    latency = latency_from_parts(events_from_cube(cube, g), values, g, STAGES)
    retry = retry_from_cube(cube, g, **scope)
    billing_scope = {"include_warmup": True, "include_test": True}
    billing_total = billing_from_cube(
        cube,
        Grouping((), None, g.time_zone, g.period_column),
        **billing_scope,
        cost_scale=cost_scale,
        scale=scale,
    )
    return MetricsSummary(
        outcomes=outcomes,
        delivery=delivery,
        latency=latency,
        retry=retry,
        retry_distribution=retry_distribution_from_cube(cube, g, **scope),
        billing=billing_from_cube(
            cube, g.with_by(dims), **billing_scope, cost_scale=cost_scale, scale=scale
        ),
        billing_total=billing_total,
        counts=_counts(outcomes, delivery, latency, retry, billing_total),
        as_of=when,
    )
