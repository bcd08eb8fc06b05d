"""Lazy query plans behind the frame functions of :mod:`leadping_nb.metrics`.

Two passes over the events do all the work:

* :func:`cube_plan` counts events per combination of the group keys and a few small
  dimensions (outcome, warm-up, test, demo, sent, retry count, retry pending, billing
  dimensions),
  with the exact Decimal amount sum. Its result has thousands of rows, not millions;
  every count, rate and money total of every summary is a re-aggregation of it
  (``*_from_cube``), so they all agree exactly.
* :func:`~leadping_nb.metrics._latency.latency_plan` (in
  :mod:`leadping_nb.metrics._latency`) collects, per group and stage, the latencies a
  summary uses (one list per stage, sorted once; all percentiles are read from it) and
  counts the missing and negative ones.

Performance notes (10M events, 2 cores): string categories are matched with ``is_in``
over case variants (not regexes); the period is grouped as an Int32 key and turned into
a tz-aware start on the aggregated rows only; ``quantile`` per percentile and group was
several times slower than one sort per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

import polars as pl

from leadping_nb._core.window import Window
from leadping_nb.metrics._exprs import (
    FINAL_OUTCOMES,
    OUTCOMES,
    RECEIPT_TIMEOUT,
    STAGES,
    Every,
    Stage,
    TrafficScope,
    _ci_in,
    any_outbound_timestamp,
    as_utc,
    check_every,
    check_time_zone,
    decimal_ratio,
    direction_is,
    is_demo_traffic,
    is_test_traffic,
    is_warmup_traffic,
    latency_us,
    message_kinds,
    outcome_from,
    pending_from,
    period_key,
    period_start,
    receipt_cutoff,
    true_divide,
    typed_as_message,
)

COUNT = pl.Int64
MONEY = "billable_amount"

_P = "__lp_"
OUT = f"{_P}outcome"
WARM = f"{_P}warmup"
TEST = f"{_P}test"
DEMO = f"{_P}demo"
SENT = f"{_P}sent"
PENDING = f"{_P}pending"
CHANNEL = f"{_P}channel"
BSTATUS = f"{_P}bstatus"
NEG = f"{_P}negative"
N = f"{_P}n"
AMOUNT_SUM = f"{_P}amount_sum"
AMOUNT_N = f"{_P}amount_n"

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)

#: Billing channels (docs/metrics.md, "Billing"), in display order.
CHANNELS = ("sms", "mms", "message", "inbound", "call", "other")
CHANNEL_DTYPE = pl.Enum(CHANNELS)
#: Billing states (docs/metrics.md, "Billing"), in display order.
BILLING_STATES = ("billed", "pending", "refunded", "other")
BILLING_STATE_DTYPE = pl.Enum(BILLING_STATES)
#: The unit a channel's cost is per (no unit: no cost).
CHANNEL_UNITS = {
    "sms": "delivered message",
    "mms": "delivered message",
    "message": "delivered message",
    "inbound": "received message",
    "call": "charged call",
}


def _lat(s: Stage) -> str:
    return f"{_P}lat_{s}"


@dataclass(frozen=True)
class Grouping:
    """Validated grouping: ``by`` columns, optional calendar period, its zone and column."""

    by: tuple[str, ...]
    every: Every | None
    time_zone: str
    period_column: str

    @property
    def keys(self) -> list[str]:
        """Group columns, ``period`` first when grouping by period."""
        return (["period"] if self.every else []) + list(self.by)

    def with_by(self, extra: Sequence[str]) -> Grouping:
        """This grouping plus ``extra`` columns (those not already in ``by``)."""
        more = tuple(c for c in extra if c not in self.by)
        return Grouping((*self.by, *more), self.every, self.time_zone, self.period_column)


def now_or(as_of: datetime | None) -> datetime:
    """``as_of`` in UTC, or now: the instant a plan judges the receipt timeout at."""
    return datetime.now(UTC) if as_of is None else as_utc(as_of)


def _columns(cols: str | Sequence[str]) -> tuple[str, ...]:
    out = (cols,) if isinstance(cols, str) else tuple(cols)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate columns: {out}")
    if any(c.startswith(_P) for c in out):
        raise ValueError(f"columns starting with {_P!r} are reserved")
    return out


def grouping(
    by: str | Sequence[str], every: Every | None, time_zone: str, period_column: str
) -> Grouping:
    """Validate the grouping arguments of a frame function."""
    cols = _columns(by)
    if every is not None:
        check_every(every)
        if "period" in cols:
            raise ValueError("'period' is added by every=...; do not pass it in by")
    return Grouping(cols, every, check_time_zone(time_zone), period_column)


def extra_dims(g: Grouping, dims: str | Sequence[str]) -> tuple[str, ...]:
    """Validated extra dimensions (billing), minus those already in the grouping."""
    return tuple(c for c in _columns(dims) if c not in g.keys)


# ---------------------------------------------------------------------------------------
# the two passes over the events


def prepare(
    lf: pl.LazyFrame,
    g: Grouping,
    *,
    as_of: datetime | None,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
) -> pl.LazyFrame:
    """Add the per-event working columns: outcome (its receipt timeout judged at
    ``as_of``, default now), traffic flags, sent flag, pending retry (only with
    ``as_of``), latencies and the period key."""
    dir_in, dir_out, typed, any_ts = (f"{_P}{n}" for n in ("dir_in", "dir_out", "typed", "ts"))
    flags = [
        direction_is("inbound").alias(dir_in),
        direction_is("outbound").alias(dir_out),
        typed_as_message().alias(typed),
        any_outbound_timestamp().alias(any_ts),
        is_warmup_traffic().alias(WARM),
        is_test_traffic().alias(TEST),
        is_demo_traffic().alias(DEMO),
        pl.col("sent_at").is_not_null().alias(SENT),
        *[latency_us(s).alias(_lat(s)) for s in STAGES],
    ]
    if g.every is not None:
        flags.append(period_key(g.every, g.time_zone, g.period_column).alias("period"))
    kinds = message_kinds(pl.col(dir_in), pl.col(dir_out), pl.col(typed), pl.col(any_ts))
    pending = pending_from(pl.col(OUT), as_of) if as_of is not None else pl.lit(False)
    return (
        lf.with_columns(flags)
        .with_columns(outcome_from(*kinds, receipt_cutoff(as_of, receipt_timeout)).alias(OUT))
        .with_columns(
            pending.alias(PENDING),
            channel_from(pl.col(OUT)).alias(CHANNEL),
            billing_status_class().alias(BSTATUS),
            (pl.col(MONEY) < 0).fill_null(False).alias(NEG),
        )
        .drop(dir_in, dir_out, typed, any_ts)
    )


def channel_from(out: pl.Expr) -> pl.Expr:
    """The billing channel of an event from its outcome (``CHANNEL_DTYPE``, never null).

    An outbound message is ``mms`` when ``event_type`` or ``timeline_type`` is ``mms``
    (any case), else ``sms`` when either is ``sms`` or ``warmup``, else ``message``; an
    inbound message is ``inbound``; any other event is ``call`` when ``event_type`` or
    ``timeline_type`` is ``call`` or ``voicemail``, else ``other``.
    """

    def typed(*words: str) -> pl.Expr:
        return _ci_in("event_type", *words) | _ci_in("timeline_type", *words)

    def lit(value: str) -> pl.Expr:
        return pl.lit(value, dtype=CHANNEL_DTYPE)

    return (
        pl.when(out == "inbound")
        .then(lit("inbound"))
        .when(out.is_not_null())
        .then(
            pl.when(typed("mms"))
            .then(lit("mms"))
            .when(typed("sms", "warmup"))
            .then(lit("sms"))
            .otherwise(lit("message"))
        )
        .when(typed("call", "voicemail"))
        .then(lit("call"))
        .otherwise(lit("other"))
    )


def billing_status_class() -> pl.Expr:
    """``billing_status`` as ``billed``, ``pending``, ``refunded`` (``refunded`` or
    ``refund``) or ``other`` (anything else, null included), ignoring ASCII case."""

    def lit(value: str) -> pl.Expr:
        return pl.lit(value, dtype=BILLING_STATE_DTYPE)

    col = "billing_status"
    return (
        pl.when(_ci_in(col, "billed"))
        .then(lit("billed"))
        .when(_ci_in(col, "pending"))
        .then(lit("pending"))
        .when(_ci_in(col, "refunded", "refund"))
        .then(lit("refunded"))
        .otherwise(lit("other"))
    )


def cube_plan(base: pl.LazyFrame, g: Grouping, dims: Sequence[str] = ()) -> pl.LazyFrame:
    """Event counts per group key, ``dims``, outcome, traffic flags, sent flag, retry
    count, pending flag and the billing dimensions (channel, status class, negative
    amount), with the exact amount sum and the number of amounts."""
    small = [OUT, WARM, TEST, DEMO, SENT, "retry_count", PENDING, CHANNEL, BSTATUS, NEG]
    keys = list(dict.fromkeys([*g.keys, *dims, *small]))
    aggs = [
        pl.len().cast(COUNT).alias(N),
        pl.col(MONEY).sum().alias(AMOUNT_SUM),
        pl.col(MONEY).count().cast(COUNT).alias(AMOUNT_N),
    ]
    return base.group_by(keys).agg(aggs)


def countable(include_warmup: bool, include_test: bool, include_demo: bool = False) -> pl.Expr:
    """:class:`TrafficScope` over the ``WARM`` / ``TEST`` / ``DEMO`` columns (of the
    prepared frame or the cube)."""
    scope = TrafficScope(warmup=include_warmup, test=include_test, demo=include_demo)
    return scope.over(pl.col(WARM), pl.col(TEST), pl.col(DEMO))


def outbound() -> pl.Expr:
    """Outbound message, from the ``OUT`` column."""
    out = pl.col(OUT)
    return (out.is_not_null() & (out != "inbound")).fill_null(False)


# ---------------------------------------------------------------------------------------
# re-aggregations of the cube (small frames)


def aggregate(frame: F, g: Grouping, aggs: Sequence[pl.Expr]) -> F:
    """Group by ``g.keys`` (a single row when there are none) and sort by the keys."""
    keys = g.keys
    if not keys:
        return frame.select(aggs)
    return frame.group_by(keys).agg(aggs).sort(keys, nulls_last=True)


def finish_period(frame: F, g: Grouping) -> F:
    """Turn the Int32 ``period`` key into the period's tz-aware start."""
    if g.every is None:
        return frame
    return frame.with_columns(period_start(pl.col("period"), g.every, g.time_zone).alias("period"))


def sum_if(cond: pl.Expr, value: pl.Expr) -> pl.Expr:
    """Sum of ``value`` where ``cond`` holds (0 when it never does).

    ``when/then`` is elementwise, so ``group_by`` evaluates it once on the whole column
    rather than group by group as it does ``value.filter(cond)``.
    """
    return pl.when(cond).then(value).sum()


def count_if(cond: pl.Expr) -> pl.Expr:
    """Number of events (sum of the cube's ``N``) where ``cond`` holds, as Int64."""
    return sum_if(cond, pl.col(N)).cast(COUNT)


def rate(num: str, den: str) -> pl.Expr:
    """``num / den`` of two integer counts as Float64, null when ``den`` is 0.

    Each count is exactly a Float64 (below 2^53), and the division is one correctly
    rounded IEEE division (:func:`true_divide`): the Float64 nearest to the exact ratio.
    """
    ratio = true_divide(pl.col(num).cast(pl.Float64), pl.col(den).cast(pl.Float64))
    return pl.when(pl.col(den) > 0).then(ratio)


def _share(col: str, keys: Sequence[str]) -> pl.Expr:
    """``col`` over its group total, Float64 (null when the total is 0)."""
    total = pl.col(col).sum()
    den = total.over(keys) if keys else total  # a scalar without keys: see true_divide
    share = true_divide(pl.col(col).cast(pl.Float64), den.cast(pl.Float64))
    return pl.when(den > 0).then(share)


def _counted(g: Grouping) -> list[pl.Expr | str]:
    """The head of a summary row: the keys, ``n_events``, ``n_used``, ``n_excluded``."""
    excluded = (pl.col("n_events") - pl.col("n_used")).alias("n_excluded")
    return [*g.keys, "n_events", "n_used", excluded]


def _billing_counts(ok: pl.Expr) -> list[pl.Expr]:
    """``n_events``, ``n_used`` (amounts in scope), ``n_traffic_excluded`` and
    ``n_missing_amount`` of a billing row."""
    return [
        pl.col(N).sum().cast(COUNT).alias("n_events"),
        sum_if(ok, pl.col(AMOUNT_N)).cast(COUNT).alias("n_used"),
        count_if(~ok).alias("n_traffic_excluded"),
        sum_if(ok, pl.col(N) - pl.col(AMOUNT_N)).cast(COUNT).alias("n_missing_amount"),
    ]


def outcomes_from_cube(
    cube: F, g: Grouping, *, include_warmup: bool, include_test: bool, include_demo: bool = False
) -> F:
    """See :func:`leadping_nb.metrics.outcome_counts`."""
    ok = countable(include_warmup, include_test, include_demo)
    counted = aggregate(
        cube,
        g.with_by([OUT]),
        [count_if(ok).alias("n_used"), count_if(~ok).alias("n_excluded")],
    )
    return finish_period(
        counted.select(
            *g.keys,
            pl.col(OUT).alias("outcome"),
            pl.col("n_used").alias("n"),
            _share("n_used", g.keys).alias("share"),
            (pl.col("n_used") + pl.col("n_excluded")).alias("n_events"),
            "n_used",
            "n_excluded",
        ),
        g,
    )


def delivery_from_cube(
    cube: F, g: Grouping, *, include_warmup: bool, include_test: bool, include_demo: bool = False
) -> F:
    """See :func:`leadping_nb.metrics.delivery_summary`."""
    ok = countable(include_warmup, include_test, include_demo)
    scope: pl.Expr = outbound() & ok
    out: pl.Expr = pl.col(OUT)
    # reached sent: sent_at set, or a carrier verdict (a receipt implies the send)
    sent = pl.col(SENT) | out.is_in(["delivered", "undeliverable"]).fill_null(False)
    aggs = [
        pl.col(N).sum().cast(COUNT).alias("n_events"),
        count_if(~outbound()).alias("n_not_outbound"),
        count_if(outbound() & ~ok).alias("n_traffic_excluded"),
        count_if(scope).alias("n_outbound"),
        *[count_if(scope & (out == o)).alias(f"n_{o}") for o in OUTCOMES[:-1]],
        count_if(scope & sent).alias("n_sent"),
    ]
    used = pl.sum_horizontal([pl.col(f"n_{o}") for o in FINAL_OUTCOMES])
    return finish_period(
        aggregate(cube, g, aggs)
        .with_columns(used.alias("n_used"))
        .with_columns(
            (pl.col("n_events") - pl.col("n_used")).alias("n_excluded"),
            rate("n_delivered", "n_used").alias("delivery_rate"),
            rate("n_delivered", "n_sent").alias("sent_delivery_rate"),
        ),
        g,
    )


def _retry_scope(
    include_warmup: bool, include_test: bool, include_demo: bool
) -> tuple[pl.Expr, pl.Expr]:
    scope = outbound() & countable(include_warmup, include_test, include_demo)
    known = pl.col("retry_count").is_not_null() & (pl.col("retry_count") >= 0)
    return scope, scope & known.fill_null(False)


def retry_from_cube(
    cube: F, g: Grouping, *, include_warmup: bool, include_test: bool, include_demo: bool = False
) -> F:
    """See :func:`leadping_nb.metrics.retry_summary`."""
    scope, used = _retry_scope(include_warmup, include_test, include_demo)
    rc = pl.col("retry_count").cast(pl.Int64)
    out = pl.col(OUT)
    aggs = [
        pl.col(N).sum().cast(COUNT).alias("n_events"),
        count_if(used).alias("n_used"),
        count_if(~scope).alias("n_out_of_scope"),
        count_if(scope & ~used).alias("n_missing_retry_count"),
        count_if(used & (rc > 0)).alias("n_retried"),
        sum_if(used, pl.col(N) * rc).cast(pl.Int64).alias("total_retries"),
        pl.when(used).then(rc).max().alias("max_retries"),
        count_if(used & (out == "delivered")).alias("n_delivered"),
        count_if(used & out.is_in(list(FINAL_OUTCOMES))).alias("n_terminal"),
        count_if(used & pl.col(PENDING)).alias("n_retry_pending"),
    ]
    return finish_period(
        aggregate(cube, g, aggs).select(
            *_counted(g),
            "n_out_of_scope",
            "n_missing_retry_count",
            "n_retried",
            rate("n_retried", "n_used").alias("share_retried"),
            "total_retries",
            rate("total_retries", "n_used").alias("mean_retries"),
            "max_retries",
            "n_delivered",
            "n_terminal",
            rate("n_delivered", "n_terminal").alias("delivery_rate"),
            rate("total_retries", "n_delivered").alias("extra_attempts_per_delivered"),
            "n_retry_pending",
        ),
        g,
    )


def retry_distribution_from_cube(
    cube: F, g: Grouping, *, include_warmup: bool, include_test: bool, include_demo: bool = False
) -> F:
    """See :func:`leadping_nb.metrics.retry_distribution`."""
    _, used = _retry_scope(include_warmup, include_test, include_demo)
    out = pl.col(OUT)
    inner = g.with_by(["retry_count"])
    agg = aggregate(
        cube.filter(used),
        inner,
        [
            pl.col(N).sum().cast(COUNT).alias("n_messages"),
            count_if(out == "delivered").alias("n_delivered"),
            count_if(out == "failed").alias("n_failed"),
            count_if(out == "undeliverable").alias("n_undeliverable"),
            count_if(out.is_in(list(FINAL_OUTCOMES))).alias("n_terminal"),
            count_if(pl.col(PENDING)).alias("n_retry_pending"),
        ],
    )
    return finish_period(
        agg.select(
            *inner.keys,
            "n_messages",
            _share("n_messages", g.keys).alias("share"),
            "n_delivered",
            "n_failed",
            "n_undeliverable",
            "n_terminal",
            rate("n_delivered", "n_terminal").alias("delivery_rate"),
            "n_retry_pending",
        ),
        g,
    )


def money_scale(lf: pl.LazyFrame) -> int:
    """Scale of the ``billable_amount`` column; refuse anything but Decimal."""
    dtype = lf.collect_schema().get(MONEY)
    if not isinstance(dtype, pl.Decimal):
        raise TypeError(
            f"{MONEY} must be a Decimal column (money is never float), got {dtype}; "
            "build the frame with leadping_nb's EVENT_SCHEMA"
        )
    return dtype.scale


def billing_from_cube(
    cube: F,
    g: Grouping,
    *,
    include_warmup: bool,
    include_test: bool,
    include_demo: bool = False,
    cost_scale: int,
    scale: int,
) -> F:
    """See :func:`leadping_nb.metrics.billing_summary`."""
    ok = countable(include_warmup, include_test, include_demo)
    aggs = _billing_counts(ok)
    aggs += [
        sum_if(ok, pl.col(AMOUNT_SUM)).alias("total_amount"),
        count_if(ok & (pl.col(OUT) == "delivered")).alias("n_delivered"),
    ]
    cost = decimal_ratio(
        pl.col("total_amount"), pl.col("n_delivered"), scale=cost_scale, numerator_scale=scale
    )
    return finish_period(
        aggregate(cube, g, aggs).select(
            *_counted(g),
            "n_traffic_excluded",
            "n_missing_amount",
            "total_amount",
            "n_delivered",
            cost.alias("cost_per_delivered"),
        ),
        g,
    )


def billing_state() -> pl.Expr:
    """The billing state of a cube row: ``refunded`` for a negative amount, whatever its
    status, else the status class (``BSTATUS``)."""
    return (
        pl.when(pl.col(NEG))
        .then(pl.lit("refunded", dtype=BILLING_STATE_DTYPE))
        .otherwise(pl.col(BSTATUS))
    )


BillingSplit = Literal["channel", "billing_state"]


def billing_breakdown_from_cube(
    cube: F,
    g: Grouping,
    *,
    split: BillingSplit | None,
    include_warmup: bool,
    include_test: bool,
    include_demo: bool = False,
    cost_scale: int,
    scale: int,
) -> F:
    """See :func:`leadping_nb.metrics.billing_breakdown`."""
    ok = countable(include_warmup, include_test, include_demo)
    charge = ok & ~pl.col(NEG)  # the cube's NEG cells hold exactly the negative amounts
    aggs = _amount_aggs(ok, charge)
    inner, along, tail = g, [], []
    if split == "channel":
        aggs += _unit_aggs(ok, charge)
        inner = g.with_by([CHANNEL])
        along = [pl.col(CHANNEL).alias("channel")]
        tail = _unit_columns()
    elif split == "billing_state":
        cube = cube.with_columns(billing_state().alias(STATE))
        inner = g.with_by([STATE])
        along = [pl.col(STATE).alias("billing_state")]
    out = (
        aggregate(cube, inner, aggs)
        .with_columns((pl.col("gross_amount") - pl.col("refunded_amount")).alias("net_amount"))
        .select(*_counted(g), *along, *_BREAKDOWN_COLUMNS, *tail)
    )
    if split == "channel":
        cost = decimal_ratio(
            pl.col("net_amount"), pl.col("n_units"), scale=cost_scale, numerator_scale=scale
        )
        out = out.with_columns(cost.alias("cost_per_unit"))
    return finish_period(out, g)


STATE = f"{_P}state"
_BREAKDOWN_COLUMNS = (
    "n_traffic_excluded",
    "n_missing_amount",
    "billed_amount",
    "pending_amount",
    "gross_amount",
    "refunded_amount",
    "net_amount",
    "total_amount",
)


def _amount_aggs(ok: pl.Expr, charge: pl.Expr) -> list[pl.Expr]:
    """The counts and amounts of a billing breakdown (docs/metrics.md, "Billing")."""
    status, amount = pl.col(BSTATUS), pl.col(AMOUNT_SUM)
    return [
        *_billing_counts(ok),
        sum_if(charge & (status == "billed"), amount).alias("billed_amount"),
        sum_if(charge & (status == "pending"), amount).alias("pending_amount"),
        sum_if(charge, amount).alias("gross_amount"),
        # a refund's size: minus a negative amount, or a charge whose status is refunded
        (sum_if(charge & (status == "refunded"), amount) - sum_if(ok & pl.col(NEG), amount)).alias(
            "refunded_amount"
        ),
        sum_if(ok, amount).alias("total_amount"),
    ]


def _unit_aggs(ok: pl.Expr, charge: pl.Expr) -> list[pl.Expr]:
    """The three unit counts a channel may be costed per (:data:`CHANNEL_UNITS`)."""
    return [
        count_if(ok & (pl.col(OUT) == "delivered")).alias(f"{_P}units_message"),
        count_if(ok).alias(f"{_P}units_inbound"),
        sum_if(charge, pl.col(AMOUNT_N)).cast(COUNT).alias(f"{_P}units_call"),
    ]


def _unit_columns() -> list[pl.Expr]:
    """``unit`` and ``n_units`` of a channel row: the unit count its channel is costed per."""
    channel = pl.col(CHANNEL)
    units = (
        pl.when(channel.is_in(["sms", "mms", "message"]))
        .then(pl.col(f"{_P}units_message"))
        .when(channel == "inbound")
        .then(pl.col(f"{_P}units_inbound"))
        .when(channel == "call")
        .then(pl.col(f"{_P}units_call"))
    )
    unit = channel.cast(pl.String).replace_strict(
        CHANNEL_UNITS, default=None, return_dtype=pl.String
    )
    return [unit.alias("unit"), units.alias("n_units")]


def events_from_cube(cube: F, g: Grouping) -> F:
    """Events per group (every event, in or out of any scope)."""
    return aggregate(cube, g, [pl.col(N).sum().cast(COUNT).alias("n_events")])


def windowed(
    df: pl.DataFrame | pl.LazyFrame, window: Window | None, period_column: str
) -> pl.LazyFrame:
    """``df`` as a LazyFrame, filtered to ``window`` on ``period_column`` (null: outside)."""
    lf = lazy(df)
    if window is None:
        return lf
    if not isinstance(window, Window):
        raise TypeError(
            f"window must be a leadping_nb.Window (Window.last(...), Window.parse(...)), "
            f"got {type(window).__name__}"
        )
    return lf.filter(window.predicate(period_column))


def lazy(df: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """``df`` as a LazyFrame (a clear ``TypeError`` for anything else)."""
    if isinstance(df, pl.DataFrame):
        return df.lazy()
    if isinstance(df, pl.LazyFrame):
        return df
    raise TypeError(f"expected a polars DataFrame or LazyFrame, got {type(df).__name__}")


def like(original: F, result: pl.LazyFrame) -> F:
    """``result`` as the kind of frame ``original`` is (collected for a DataFrame)."""
    if isinstance(original, pl.DataFrame):
        return result.collect()
    return result
