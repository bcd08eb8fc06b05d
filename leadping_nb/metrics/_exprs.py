"""Expression builders behind :mod:`leadping_nb.metrics`.

Every public function here returns a :class:`polars.Expr` over the canonical events
frame (:data:`leadping_nb._core.schema.EVENT_SCHEMA`), so it works inside any ``select``,
``with_columns``, ``filter`` or ``group_by().agg``. The definitions (units, precedence,
exclusions) are documented in ``docs/metrics.md``; this module is their single source of
truth: the frame functions in :mod:`leadping_nb.metrics` only combine these.

Free-string categories (``direction``, ``event_type``, ``timeline_type``) are compared
ignoring ASCII case; ``traffic_type``, an enum of exact strings, is compared exactly.
Case-insensitive matching goes through ``is_in`` over every case variant of the word,
which is several times faster than a case-insensitive regex at 10M rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Final, Literal, get_args

import polars as pl

from leadping_nb.metrics._arith import decimal_ratio as decimal_ratio
from leadping_nb.metrics._arith import percentile as percentile
from leadping_nb.metrics._arith import percentile_of_sorted as percentile_of_sorted
from leadping_nb.metrics._arith import true_divide as true_divide
from leadping_nb.metrics._arith import us_to_ms as us_to_ms
from leadping_nb.metrics._periods import Every as Every
from leadping_nb.metrics._periods import check_every as check_every
from leadping_nb.metrics._periods import check_time_zone as check_time_zone
from leadping_nb.metrics._periods import period as period
from leadping_nb.metrics._periods import period_key as period_key
from leadping_nb.metrics._periods import period_start as period_start

__all__ = [
    "FINAL_OUTCOMES",
    "INTERPOLATION",
    "MESSAGE_TYPES",
    "OUTBOUND_TIMESTAMPS",
    "OUTCOMES",
    "OUTCOME_DTYPE",
    "PERCENTILES",
    "RECEIPT_TIMEOUT",
    "RETRYABLE_OUTCOMES",
    "STAGES",
    "STAGE_COLUMNS",
    "STAGE_DTYPE",
    "Every",
    "Outcome",
    "Stage",
    "TrafficScope",
    "decimal_ratio",
    "is_countable_traffic",
    "is_demo_traffic",
    "is_inbound",
    "is_message",
    "is_outbound",
    "is_retried",
    "is_test_traffic",
    "is_warmup_traffic",
    "latency_ms",
    "negative_gap",
    "outcome",
    "percentile",
    "period",
    "retry_pending",
]

Stage = Literal["queue", "send", "carrier", "end_to_end", "schedule_lag", "to_failure"]
Outcome = Literal[
    "delivered",
    "undeliverable",
    "failed",
    "blocked",
    "canceled",
    "scheduled",
    "no_receipt",
    "in_flight",
    "inbound",
]

#: The latency stages, in display order.
STAGES: Final[tuple[Stage, ...]] = get_args(Stage)
#: ``stage -> (start column, end column)``; a stage is ``end - start``.
STAGE_COLUMNS: Final[dict[Stage, tuple[str, str]]] = {
    "queue": ("queued_at", "sending_started_at"),
    "send": ("sending_started_at", "sent_at"),
    "carrier": ("sent_at", "delivered_at"),
    "end_to_end": ("queued_at", "delivered_at"),
    "schedule_lag": ("scheduled_for", "sending_started_at"),
    "to_failure": ("sending_started_at", "failed_at"),
}
#: Dtype of the ``stage`` column of :func:`~leadping_nb.metrics.latency_summary`.
STAGE_DTYPE: Final = pl.Enum(list(STAGES))

#: The outcomes in display order; the outbound ones are also in precedence order.
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
#: Dtype of :func:`outcome`.
OUTCOME_DTYPE: Final = pl.Enum(list(OUTCOMES))
#: Outcomes that leave a retry open (see :func:`retry_pending`).
RETRYABLE_OUTCOMES: Final[tuple[Outcome, ...]] = ("failed", "scheduled", "no_receipt", "in_flight")
#: Final outcomes: the denominator of the delivery rate. Canceled (the sender's own stop),
#: scheduled and in-flight messages have no final outcome yet.
FINAL_OUTCOMES: Final[tuple[Outcome, ...]] = (
    "delivered",
    "undeliverable",
    "failed",
    "blocked",
    "no_receipt",
)
#: How long after ``sent_at`` a message without a receipt or other final timestamp stays
#: ``in_flight``; after that (at ``as_of``) its outcome is ``no_receipt``. 24 hours: a
#: receipt comes within a day of the send or never (docs/emulator.md).
RECEIPT_TIMEOUT: Final = timedelta(hours=24)

#: The percentiles every summary reports.
PERCENTILES: Final[tuple[float, ...]] = (0.5, 0.9, 0.95, 0.99)
#: The one interpolation method of every percentile: linear between closest ranks
#: (Hyndman & Fan type 7, the default of NumPy, R and Polars), computed as
#: ``h = (n - 1) * q``, ``x[⌊h⌋] + (h - ⌊h⌋) * (x[⌊h⌋ + 1] - x[⌊h⌋])`` on the sorted values.
INTERPOLATION: Final = "linear"

#: Lifecycle timestamps that only an outbound message carries.
OUTBOUND_TIMESTAMPS: Final[tuple[str, ...]] = (
    "queued_at",
    "sending_started_at",
    "sent_at",
    "delivered_at",
    "failed_at",
    "undeliverable_at",
    "blocked_at",
    "canceled_at",
    "scheduled_for",
    "next_retry_at",
)
#: ``event_type`` / ``timeline_type`` values (any case) that mark an event as a message.
MESSAGE_TYPES: Final[tuple[str, ...]] = ("sms", "mms", "message", "warmup")


@cache
def _case_variants(words: tuple[str, ...]) -> tuple[str, ...]:
    """Every ASCII upper/lower-case spelling of ``words``."""
    out: list[str] = []
    for word in words:
        letters = [(c.lower(), c.upper()) if c.isalpha() else (c,) for c in word.lower()]
        out += ["".join(p) for p in itertools.product(*letters)]
    return tuple(out)


def _ci_in(column: str, *words: str) -> pl.Expr:
    """``column`` is one of ``words`` ignoring ASCII case; False for null."""
    return pl.col(column).is_in(list(_case_variants(words))).fill_null(False)


# ---------------------------------------------------------------------------------------
# latency


def latency_ms(stage: Stage) -> pl.Expr:
    """Signed duration of a latency stage in milliseconds (Float64).

    The stage is ``end - start`` (see :data:`STAGE_COLUMNS`), taken in whole
    microseconds and divided by 1000 with one correctly rounded IEEE division (the
    Float64 nearest to the exact decimal number of milliseconds, so
    ``round(ms * 1000)`` gives back the microseconds). It is
    null when either end is null. A negative value (the end precedes the start) is kept,
    never clipped; :func:`negative_gap` flags it and the summaries count it.

    Parameters
    ----------
    stage
        ``"queue"`` (sending started − queued), ``"send"`` (sent − sending started),
        ``"carrier"`` (delivered − sent), ``"end_to_end"`` (delivered − queued),
        ``"schedule_lag"`` (sending started − scheduled for) or ``"to_failure"``
        (failed − sending started).

    Returns
    -------
    polars.Expr
        A Float64 expression named ``latency_<stage>_ms``.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"sent_at": t, "delivered_at": t.replace(second=1, microsecond=500)}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> df.select(latency_ms("carrier")).item()
    1000.5
    """
    return us_to_ms(latency_us(stage)).alias(f"latency_{stage}_ms")


def latency_us(stage: Stage) -> pl.Expr:
    """Signed duration of a stage in whole microseconds (Int64; null when an end is null)."""
    start, end = _stage_columns(stage)
    return (pl.col(end) - pl.col(start)).dt.total_microseconds()


def negative_gap(stage: Stage) -> pl.Expr:
    """Whether a stage's end precedes its start (Boolean; null when an end is missing).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> t = datetime(2024, 1, 2, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"queued_at": t, "sending_started_at": t.replace(day=1)},
    ...      {"sending_started_at": t}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> df.select(negative_gap("queue")).to_series().to_list()
    [True, None]
    """
    start, end = _stage_columns(stage)
    return (pl.col(end) < pl.col(start)).alias(f"negative_gap_{stage}")


def _stage_columns(stage: Stage) -> tuple[str, str]:
    try:
        return STAGE_COLUMNS[stage]
    except KeyError:
        raise ValueError(f"unknown latency stage {stage!r}; expected one of {STAGES}") from None


# ---------------------------------------------------------------------------------------
# message kind and outcome


def any_outbound_timestamp() -> pl.Expr:
    """Whether any of :data:`OUTBOUND_TIMESTAMPS` is set."""
    return pl.any_horizontal([pl.col(c).is_not_null() for c in OUTBOUND_TIMESTAMPS])


def direction_is(word: Literal["inbound", "outbound"]) -> pl.Expr:
    """``direction`` equals ``word`` ignoring case (False for null)."""
    return _ci_in("direction", word)


def typed_as_message() -> pl.Expr:
    """``event_type`` or ``timeline_type`` is one of :data:`MESSAGE_TYPES` (any case)."""
    return _ci_in("event_type", *MESSAGE_TYPES) | _ci_in("timeline_type", *MESSAGE_TYPES)


def message_kinds(
    dir_in: pl.Expr, dir_out: pl.Expr, typed: pl.Expr, any_ts: pl.Expr
) -> tuple[pl.Expr, pl.Expr]:
    """``(inbound, outbound)`` message flags from the four raw flags."""
    message = typed | any_ts | pl.col("received_at").is_not_null()
    inbound = message & (dir_in | (pl.col("received_at").is_not_null() & ~any_ts))
    outbound = message & ~inbound & (dir_out | any_ts)
    return inbound, outbound


def _raw_kinds() -> tuple[pl.Expr, pl.Expr]:
    return message_kinds(
        direction_is("inbound"),
        direction_is("outbound"),
        typed_as_message(),
        any_outbound_timestamp(),
    )


def is_message() -> pl.Expr:
    """Whether an event is an SMS/MMS message (Boolean, never null).

    True when ``event_type`` or ``timeline_type`` is ``Sms``, ``Mms``, ``Message`` or
    ``Warmup`` (any case), or when a message lifecycle timestamp
    (:data:`OUTBOUND_TIMESTAMPS` or ``received_at``) is set. Calls, notes, status
    changes and automation steps are not messages and get no :func:`outcome`.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> df = pl.DataFrame(
    ...     [{"event_type": "SMS"}, {"event_type": "Call", "direction": "Outbound"}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> df.select(is_message()).to_series().to_list()
    [True, False]
    """
    typed = typed_as_message()
    return (typed | any_outbound_timestamp() | pl.col("received_at").is_not_null()).alias(
        "is_message"
    )


def is_inbound() -> pl.Expr:
    """Whether an event is an inbound message (Boolean, never null).

    True for a :func:`is_message` whose ``direction`` is ``inbound`` (any case), or
    whose ``received_at`` is set while none of :data:`OUTBOUND_TIMESTAMPS` is (an
    "Outbound" row that only carries a receipt is a mislabelled inbound message).

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> df = pl.DataFrame(
    ...     [{"event_type": "Sms", "direction": d} for d in ("Inbound", "OUTBOUND", None)],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> df.select(is_inbound()).to_series().to_list()
    [True, False, False]
    """
    return _raw_kinds()[0].alias("is_inbound")


def is_outbound() -> pl.Expr:
    """Whether an event is an outbound message (Boolean, never null).

    True for a :func:`is_message` that is not :func:`is_inbound` and either has
    ``direction`` ``outbound`` (any case) or an outbound lifecycle timestamp. Events
    that are neither (a call, a note, a message with no direction and no timestamp) get
    no :func:`outcome`.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> df = pl.DataFrame(
    ...     [{"event_type": "Sms", "direction": "Inbound"},
    ...      {"event_type": "Sms", "direction": "outbound"},
    ...      {"event_type": "Call", "direction": "Outbound"}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> df.select(is_outbound()).to_series().to_list()
    [False, True, False]
    """
    return _raw_kinds()[1].alias("is_outbound")


def receipt_cutoff(as_of: datetime | None, receipt_timeout: timedelta) -> datetime:
    """The latest ``sent_at`` that counts as ``no_receipt``: ``as_of - receipt_timeout``
    (``as_of`` in UTC, default now; a negative timeout is refused)."""
    if not isinstance(receipt_timeout, timedelta) or receipt_timeout < timedelta(0):
        raise ValueError(f"receipt_timeout must be a timedelta >= 0, got {receipt_timeout!r}")
    when = datetime.now(UTC) if as_of is None else as_utc(as_of)
    return when - receipt_timeout


def outcome_from(inbound: pl.Expr, outbound: pl.Expr, cutoff: datetime) -> pl.Expr:
    """:func:`outcome` given precomputed inbound / outbound flags and the
    :func:`receipt_cutoff`."""

    def lit(value: Outcome) -> pl.Expr:
        return pl.lit(value, dtype=OUTCOME_DTYPE)

    not_started = pl.col("sending_started_at").is_null() & pl.col("sent_at").is_null()
    timed_out = (pl.col("sent_at") <= pl.lit(cutoff, dtype=pl.Datetime("us", "UTC"))).fill_null(
        False
    )
    return (
        pl.when(inbound)
        .then(lit("inbound"))
        .when(~outbound)
        .then(pl.lit(None, dtype=OUTCOME_DTYPE))
        .when(pl.col("delivered_at").is_not_null())
        .then(lit("delivered"))
        .when(pl.col("undeliverable_at").is_not_null())
        .then(lit("undeliverable"))
        .when(pl.col("failed_at").is_not_null())
        .then(lit("failed"))
        .when(pl.col("blocked_at").is_not_null())
        .then(lit("blocked"))
        .when(pl.col("canceled_at").is_not_null())
        .then(lit("canceled"))
        .when(pl.col("scheduled_for").is_not_null() & not_started)
        .then(lit("scheduled"))
        .when(timed_out)
        .then(lit("no_receipt"))
        .otherwise(lit("in_flight"))
    )


def outcome(
    *, as_of: datetime | None = None, receipt_timeout: timedelta = RECEIPT_TIMEOUT
) -> pl.Expr:
    """The outcome of an event, a :data:`OUTCOME_DTYPE` Enum (null for non-messages).

    Precedence, first match wins: ``inbound`` (:func:`is_inbound`); null when the event
    is not :func:`is_outbound`; ``delivered`` (``delivered_at`` set); ``undeliverable``;
    ``failed``; ``blocked``; ``canceled`` (each by its timestamp); ``scheduled``
    (``scheduled_for`` set, sending neither started nor sent); ``no_receipt``
    (``sent_at`` set and ``sent_at + receipt_timeout <= as_of``); otherwise
    ``in_flight``. The ``status`` column is not used.

    Parameters
    ----------
    as_of
        Timezone-aware instant the receipt timeout is judged at (default: now, taken
        when the expression is built).
    receipt_timeout
        How long a sent message waits for its receipt before it counts as
        ``no_receipt`` (default :data:`RECEIPT_TIMEOUT`, 24 hours).

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, timedelta, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "failed_at": t, "delivered_at": t},
    ...      {"direction": "Outbound", "failed_at": t},
    ...      {"direction": "Outbound", "sent_at": t},
    ...      {"direction": "Inbound", "received_at": t},
    ...      {"event_type": "Note"}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> df.select(outcome(as_of=t + timedelta(hours=2))).to_series().to_list()
    ['delivered', 'failed', 'in_flight', 'inbound', None]
    >>> df.select(outcome(as_of=t + timedelta(hours=24)))["outcome"][2]
    'no_receipt'
    """
    cutoff = receipt_cutoff(as_of, receipt_timeout)
    return outcome_from(*_raw_kinds(), cutoff).alias("outcome")


# ---------------------------------------------------------------------------------------
# traffic and retries


#: The ``trafficType`` enum values (exact strings, docs/api.md §5) that mark
#: warm-up and test traffic.
WARMUP_TRAFFIC_TYPE: Final = "Warmup"
TEST_TRAFFIC_TYPE: Final = "Test"


def is_warmup_traffic() -> pl.Expr:
    """Warm-up traffic: ``traffic_type`` is exactly ``Warmup`` or ``is_warmup`` is true.

    ``trafficType`` is an enum of exact strings (``RealLead``, ``Warmup``, ``Test``,
    ``SystemInternal``, ``FailedAttempt``), so it is compared exactly: ``"warmup"`` is
    not an enum value and counts as an unknown traffic type. Never null: missing
    values count as "not warm-up".
    """
    warm = (pl.col("traffic_type") == WARMUP_TRAFFIC_TYPE).fill_null(False)
    return (warm | pl.col("is_warmup").fill_null(False)).alias("is_warmup_traffic")


def is_test_traffic() -> pl.Expr:
    """Test traffic: ``traffic_type`` is exactly ``Test`` (the enum value; ``"TEST"`` is
    not one). Never null."""
    return (pl.col("traffic_type") == TEST_TRAFFIC_TYPE).fill_null(False).alias("is_test_traffic")


def is_demo_traffic() -> pl.Expr:
    """Demo traffic: ``is_demo`` (API ``isDemo``) is true. Never null (null is "not demo").

    Examples
    --------
    >>> df = pl.DataFrame({"is_demo": [True, False, None]})
    >>> df.select(is_demo_traffic()).to_series().to_list()
    [True, False, False]
    """
    return pl.col("is_demo").fill_null(False).alias("is_demo_traffic")


def _join_words(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


@dataclass(frozen=True)
class TrafficScope:
    """Which traffic the metrics count: customer traffic, plus the kinds asked for.

    The one definition of the traffic scope: every metric, figure, report, widget and
    the CLI use it (through their ``include_warmup`` / ``include_test`` /
    ``include_demo`` flags, which build one). The default is customer traffic: warm-up
    (:func:`is_warmup_traffic`), test (:func:`is_test_traffic`) and demo
    (:func:`is_demo_traffic`) traffic excluded. An event is excluded when it is of any
    kind that is not included; every other traffic type (``RealLead``,
    ``SystemInternal``, ``FailedAttempt``, unknown values, null) counts.

    Attributes
    ----------
    warmup, test, demo
        Include warm-up / test / demo traffic.

    Examples
    --------
    >>> TrafficScope().label
    'customer traffic (warm-up, test and demo excluded)'
    >>> TrafficScope(warmup=True).label
    'customer and warm-up traffic (test and demo excluded)'
    >>> TrafficScope(warmup=True, test=True, demo=True).label
    'all traffic (warm-up, test and demo included)'
    >>> df = pl.DataFrame({"traffic_type": ["RealLead", "Test", "RealLead"],
    ...                    "is_warmup": [None, None, None], "is_demo": [None, None, True]},
    ...                   schema={"traffic_type": pl.String, "is_warmup": pl.Boolean,
    ...                           "is_demo": pl.Boolean})
    >>> df.select(TrafficScope().expr()).to_series().to_list()
    [True, False, False]
    """

    warmup: bool = False
    test: bool = False
    demo: bool = False

    @classmethod
    def of(
        cls, *, include_warmup: bool = False, include_test: bool = False, include_demo: bool = False
    ) -> TrafficScope:
        """The scope of the ``include_*`` keyword flags of the metric functions."""
        return cls(warmup=include_warmup, test=include_test, demo=include_demo)

    @property
    def is_customer(self) -> bool:
        """Whether this is the default, customer traffic only."""
        return not (self.warmup or self.test or self.demo)

    @property
    def label(self) -> str:
        """A human description, stated on every report."""
        kinds = (("warm-up", self.warmup), ("test", self.test), ("demo", self.demo))
        included = [name for name, flag in kinds if flag]
        excluded = [name for name, flag in kinds if not flag]
        if not included:
            return f"customer traffic ({_join_words(excluded)} excluded)"
        if not excluded:
            return f"all traffic ({_join_words(included)} included)"
        return f"{_join_words(['customer', *included])} traffic ({_join_words(excluded)} excluded)"

    def over(self, warmup: pl.Expr, test: pl.Expr, demo: pl.Expr) -> pl.Expr:
        """The scope over three never-null Boolean flags (the frame's, or a cube's)."""
        excluded = warmup & pl.lit(False)  # a column, also when nothing is excluded
        if not self.warmup:
            excluded = excluded | warmup
        if not self.test:
            excluded = excluded | test
        if not self.demo:
            excluded = excluded | demo
        return ~excluded

    def expr(self) -> pl.Expr:
        """Whether an event is in the scope (Boolean, never null), named
        ``is_countable_traffic``."""
        flags = self.over(is_warmup_traffic(), is_test_traffic(), is_demo_traffic())
        return flags.alias("is_countable_traffic")


def is_countable_traffic(
    *, include_warmup: bool = False, include_test: bool = False, include_demo: bool = False
) -> pl.Expr:
    """Whether an event counts towards the metrics (Boolean, never null).

    ``TrafficScope.of(...).expr()`` (:class:`TrafficScope`): by default warm-up
    (:func:`is_warmup_traffic`), test (:func:`is_test_traffic`) and demo
    (:func:`is_demo_traffic`) traffic are excluded: they are not customer messages.
    Every other traffic type, and a missing one, counts.

    Examples
    --------
    >>> df = pl.DataFrame(
    ...     {"traffic_type": ["RealLead", "Warmup", "Test", None, "RealLead"],
    ...      "is_warmup": [None, None, None, True, None],
    ...      "is_demo": [None, None, None, None, True]},
    ...     schema={"traffic_type": pl.String, "is_warmup": pl.Boolean, "is_demo": pl.Boolean},
    ... )
    >>> df.select(is_countable_traffic()).to_series().to_list()
    [True, False, False, False, False]
    >>> df.select(is_countable_traffic(include_warmup=True)).to_series().to_list()
    [True, True, False, True, False]
    """
    scope = TrafficScope.of(
        include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
    )
    return scope.expr()


def is_retried() -> pl.Expr:
    """Whether a message was retried: ``retry_count > 0`` (null when the count is null).

    Examples
    --------
    >>> pl.DataFrame({"retry_count": [0, 2, None]}).select(is_retried()).to_series().to_list()
    [False, True, None]
    """
    return (pl.col("retry_count") > 0).alias("is_retried")


def as_utc(as_of: datetime) -> datetime:
    """``as_of`` converted to UTC; a naive datetime is refused (its zone is unknown)."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware (for example datetime.now(UTC))")
    return as_of.astimezone(UTC)


def pending_from(outcome_expr: pl.Expr, as_of: datetime) -> pl.Expr:
    """:func:`retry_pending` given an already computed outcome expression."""
    due_later = (pl.col("next_retry_at") > pl.lit(as_utc(as_of))).fill_null(False)
    return due_later & outcome_expr.is_in(list(RETRYABLE_OUTCOMES)).fill_null(False)


def retry_pending(as_of: datetime, *, receipt_timeout: timedelta = RECEIPT_TIMEOUT) -> pl.Expr:
    """Whether an outbound message still has a retry due after ``as_of`` (never null).

    True when ``next_retry_at`` is strictly after ``as_of`` and the :func:`outcome` (at
    ``as_of``) is one of :data:`RETRYABLE_OUTCOMES` (``failed``, ``scheduled``,
    ``no_receipt``, ``in_flight``): delivered, undeliverable, blocked and canceled
    messages are not retried.

    Parameters
    ----------
    as_of
        A timezone-aware instant, typically the time the data was fetched.
    receipt_timeout
        Passed to :func:`outcome`.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> df = pl.DataFrame(
    ...     [{"direction": "Outbound", "next_retry_at": datetime(2024, 1, 2, tzinfo=UTC)},
    ...      {"direction": "Outbound", "next_retry_at": datetime(2023, 1, 1, tzinfo=UTC)}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> df.select(retry_pending(datetime(2024, 1, 1, tzinfo=UTC))).to_series().to_list()
    [True, False]
    """
    return pending_from(outcome(as_of=as_of, receipt_timeout=receipt_timeout), as_of).alias(
        "retry_pending"
    )
