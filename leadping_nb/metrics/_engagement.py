"""Engagement metrics (reply rate, opt-out rate, speed to lead) and delivery rankings.

The definitions are in ``docs/metrics.md`` ("Engagement"; the rankings are in
:mod:`leadping_nb.metrics._ranking`); the frame
functions follow the conventions of :mod:`leadping_nb.metrics`: a ``DataFrame`` or a
``LazyFrame`` in, the same kind out, grouped by ``by`` columns and optionally by calendar
period (``every`` in ``time_zone``, placed by ``period_column``; ``period`` first), with
``n_events`` = ``n_used`` + ``n_excluded`` on every row and warm-up and test traffic
excluded unless asked (:func:`~leadping_nb.metrics.is_countable_traffic`).

Engagement looks across events: a reply is an inbound message answering an earlier
outbound one of the same lead, speed to lead joins a lead's creation to its first
outbound message. These links are made over the whole frame, then each unit (a delivered
message, a contacted lead, a created lead) is counted in the group of its own event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final, TypedDict, TypeVar

import polars as pl

from leadping_nb._core.window import Window
from leadping_nb.metrics._exprs import (
    Every,
    _ci_in,
    is_countable_traffic,
    is_inbound,
    outcome,
    percentile_of_sorted,
    period_key,
    us_to_ms,
)
from leadping_nb.metrics._plans import (
    COUNT,
    Grouping,
    aggregate,
    finish_period,
    grouping,
    rate,
    windowed,
)
from leadping_nb.metrics._plans import (
    like as _like,
)

__all__ = [
    "LEAD_CREATED_TYPES",
    "OPT_OUT_CANCEL_REASONS",
    "OPT_OUT_COMPLIANCE_ACTIONS",
    "OPT_OUT_STATUSES",
    "REPLY_WINDOW",
    "SPEED_TO_LEAD_WITHIN",
    "is_lead_created",
    "is_opt_out_signal",
    "opt_out_summary",
    "reply_summary",
    "speed_to_lead_summary",
]

#: Default reply window: an inbound message up to 24 hours after an outbound one answers it.
REPLY_WINDOW: Final = timedelta(hours=24)
#: Default speed-to-lead threshold: a lead first messaged within 5 minutes of its creation.
SPEED_TO_LEAD_WITHIN: Final = timedelta(minutes=5)
#: ``status`` values (ASCII case ignored) that mark a lead as opted out; note the space.
OPT_OUT_STATUSES: Final[tuple[str, ...]] = ("Opted out",)
#: ``compliance_action`` values (exact) that mark a lead as opted out: a recorded STOP, and
#: a send suppressed because the recipient had opted out.
OPT_OUT_COMPLIANCE_ACTIONS: Final[tuple[str, ...]] = ("OptOutRecorded", "OptOutSuppressed")
#: ``cancel_reason`` values (exact) that mark a lead as opted out.
OPT_OUT_CANCEL_REASONS: Final[tuple[str, ...]] = ("LeadOptedOut",)
#: ``timeline_type`` / ``event_type`` values (ASCII case ignored) of a lead's creation.
LEAD_CREATED_TYPES: Final[tuple[str, ...]] = ("LeadCreated",)

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


class _Flags(TypedDict):
    include_warmup: bool
    include_test: bool
    include_demo: bool


_P = "__lpe_"
_OUT, _OK, _IN, _ROW = f"{_P}out", f"{_P}ok", f"{_P}in", f"{_P}row"
_T_OUT, _T_IN, _REPLIED, _OPTED = f"{_P}t_out", f"{_P}t_in", f"{_P}replied", f"{_P}opted"
_T_CREATED, _T_FIRST, _GAP = f"{_P}t_created", f"{_P}t_first", f"{_P}gap_us"


# ---------------------------------------------------------------------------------------
# expression builders


def is_lead_created() -> pl.Expr:
    """Whether an event is a lead's creation (Boolean, never null).

    True when ``timeline_type`` or ``event_type`` is ``LeadCreated`` (ASCII case ignored,
    :data:`LEAD_CREATED_TYPES`).

    Examples
    --------
    >>> df = pl.DataFrame({"timeline_type": ["LeadCreated", "Sms", None],
    ...                    "event_type": [None, None, "leadcreated"]})
    >>> df.select(is_lead_created()).to_series().to_list()
    [True, False, True]
    """
    created = _ci_in("timeline_type", *LEAD_CREATED_TYPES) | _ci_in(
        "event_type", *LEAD_CREATED_TYPES
    )
    return created.alias("is_lead_created")


def is_opt_out_signal() -> pl.Expr:
    """Whether an event says its lead opted out (Boolean, never null).

    True when ``status`` is ``Opted out`` (ASCII case ignored; :data:`OPT_OUT_STATUSES`),
    ``compliance_action`` is one of :data:`OPT_OUT_COMPLIANCE_ACTIONS` or
    ``cancel_reason`` one of :data:`OPT_OUT_CANCEL_REASONS` (exact strings).

    Examples
    --------
    >>> df = pl.DataFrame(
    ...     {"status": ["Opted out", "Delivered", None, None],
    ...      "compliance_action": [None, "OptOutFooterAppended", "OptOutRecorded", None],
    ...      "cancel_reason": [None, None, None, "LeadOptedOut"]})
    >>> df.select(is_opt_out_signal()).to_series().to_list()
    [True, False, True, True]
    """
    signal = (
        _ci_in("status", *OPT_OUT_STATUSES)
        | pl.col("compliance_action").is_in(list(OPT_OUT_COMPLIANCE_ACTIONS)).fill_null(False)
        | pl.col("cancel_reason").is_in(list(OPT_OUT_CANCEL_REASONS)).fill_null(False)
    )
    return signal.alias("is_opt_out_signal")


# ---------------------------------------------------------------------------------------
# plumbing


def _positive(value: timedelta, name: str, *, strict: bool) -> int:
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a datetime.timedelta, got {type(value).__name__}")
    micros = value // timedelta(microseconds=1)
    if micros < 0 or (strict and micros == 0):
        raise ValueError(f"{name} must be {'positive' if strict else 'at least 0'}, got {value}")
    return micros


def _base(
    lf: pl.LazyFrame, g: Grouping, include_warmup: bool, include_test: bool, include_demo: bool
) -> pl.LazyFrame:
    """Per-event working columns: outcome, traffic scope, inbound flag, period key."""
    ok = is_countable_traffic(
        include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
    )
    cols = [
        outcome().alias(_OUT),
        ok.alias(_OK),
        is_inbound().alias(_IN),
    ]
    if g.every is not None:
        cols.append(period_key(g.every, g.time_zone, g.period_column).alias("period"))
    return lf.with_columns(cols)


def _outbound() -> pl.Expr:
    out = pl.col(_OUT)
    return (out.is_not_null() & (out != "inbound")).fill_null(False) & pl.col(_OK)


def _delivered() -> pl.Expr:
    return _outbound() & (pl.col(_OUT) == "delivered").fill_null(False)


def _has_lead() -> pl.Expr:
    return pl.col("lead_id").is_not_null()


def _cols(*names: str) -> list[str]:
    return list(dict.fromkeys(names))


def _assemble(
    base: pl.LazyFrame,
    stats: pl.LazyFrame,
    g: Grouping,
    counts: Sequence[str],
    select: Sequence[pl.Expr | str],
) -> pl.LazyFrame:
    """Every group of the events (``n_events``) with the unit statistics joined on:
    a group without units has 0 counts and null statistics."""
    keys = g.keys
    events = aggregate(base, g, [pl.len().cast(COUNT).alias("n_events")])
    if keys:
        joined = events.join(stats, on=keys, how="left", nulls_equal=True)
    else:
        joined = pl.concat([events, stats], how="horizontal")
    joined = joined.with_columns([pl.col(c).fill_null(0).cast(COUNT) for c in counts])
    out = joined.with_columns((pl.col("n_events") - pl.col("n_used")).alias("n_excluded"))
    if keys:
        out = out.sort(keys, nulls_last=True)
    return finish_period(out.select(*keys, *select), g)


def _per_group(units: pl.LazyFrame, g: Grouping, aggs: Sequence[pl.Expr]) -> pl.LazyFrame:
    return units.group_by(g.keys).agg(aggs) if g.keys else units.select(aggs)


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.fill_null(False).sum().cast(COUNT)


# ---------------------------------------------------------------------------------------
# reply rate


def reply_summary(
    df: F,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
    reply_window: timedelta = REPLY_WINDOW,
) -> F:
    """Reply rate: the share of delivered outbound messages the lead answered.

    Used messages (the denominator): outbound messages of countable traffic whose
    outcome is ``delivered`` and whose ``lead_id`` is set. Each inbound message of
    countable traffic (its time: ``received_at``, else ``created_at``) answers the lead's
    latest used message delivered strictly before it (all such messages when several
    share that ``delivered_at``), if it arrived within ``reply_window`` (inclusive) of that
    delivery; a used message is **replied** when at least one inbound message answers it.
    Links are made over the whole frame; a message counts in its own group.

    Columns: keys, ``n_events``, ``n_used``, ``n_excluded`` (``n_events - n_used``),
    ``n_outbound`` (outbound messages of countable traffic), ``n_not_delivered``
    (of those, not delivered), ``n_missing_lead`` (delivered, no ``lead_id``),
    ``n_replied``, ``reply_rate`` (``n_replied / n_used``; null when ``n_used`` is 0).

    Parameters
    ----------
    df
        A canonical events ``DataFrame`` or ``LazyFrame``; the result is the same kind.
    by, every, time_zone, period_column
        Grouping, as in :func:`~leadping_nb.metrics.outcome_counts`.
    include_warmup, include_test, include_demo
        Count warm-up / test / demo traffic (excluded by default; :class:`TrafficScope`).
    window
        Keep only the events whose ``period_column`` lies in this
        :class:`~leadping_nb.Window` before anything is linked or counted.
    reply_window
        How long after a delivery an inbound message still answers it (default
        :data:`REPLY_WINDOW`, 24 hours; must be positive).

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, timedelta, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"lead_id": "a", "direction": "Outbound", "delivered_at": t},
    ...      {"lead_id": "a", "direction": "Inbound", "received_at": t + timedelta(hours=1)},
    ...      {"lead_id": "b", "direction": "Outbound", "delivered_at": t}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> reply_summary(df).select("n_used", "n_replied", "reply_rate").row(0)
    (2, 1, 0.5)
    """
    g = grouping(by, every, time_zone, period_column)
    lf = windowed(df, window, period_column)
    scope = _Flags(
        include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
    )
    return _like(df, reply_plans(lf, [g], **scope, reply_window=reply_window)[0])


def reply_plans(
    lf: pl.LazyFrame,
    groupings: Sequence[Grouping],
    *,
    include_warmup: bool,
    include_test: bool,
    include_demo: bool,
    reply_window: timedelta = REPLY_WINDOW,
) -> list[pl.LazyFrame]:
    """:func:`reply_summary` of ``lf`` for each grouping (all with the same period), the
    replies linked once for all of them."""
    g = groupings[0]
    keys = _cols(*[k for h in groupings for k in h.keys])
    window_us = _positive(reply_window, "reply_window", strict=True)
    # Long because the definition has four steps, each a named LazyFrame of the one plan:
    # the used deliveries, the inbound messages, the as-of join that links an answer to
    # the delivery it answers, and the units counted per group.
    base = _base(lf, g, include_warmup, include_test, include_demo)
    used = _delivered() & _has_lead()
    deliveries = (
        base.filter(used)
        .select("lead_id", pl.col("delivered_at").alias(_T_OUT))
        .unique()
        .sort(_T_OUT)
    )
    inbound = (
        base.filter(pl.col(_IN) & pl.col(_OK) & _has_lead())
        .select("lead_id", pl.coalesce("received_at", "created_at").alias(_T_IN))
        .drop_nulls(_T_IN)
        .sort(_T_IN)
    )
    answered = (
        inbound.join_asof(
            deliveries,
            left_on=_T_IN,
            right_on=_T_OUT,
            by="lead_id",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,  # sorted by time overall, so within every lead
        )
        .filter(
            pl.col(_T_OUT).is_not_null()
            & ((pl.col(_T_IN) - pl.col(_T_OUT)).dt.total_microseconds() <= window_us)
        )
        .select("lead_id", _T_OUT)
        .unique()
        .with_columns(pl.lit(True).alias(_REPLIED))
    )
    units = (
        base.filter(_outbound())
        .select(*_cols(*keys, "lead_id"), _OUT, pl.col("delivered_at").alias(_T_OUT))
        .join(answered, on=["lead_id", _T_OUT], how="left")
    )
    delivered = pl.col(_OUT) == "delivered"
    aggs = [
        pl.len().cast(COUNT).alias("n_outbound"),
        _count(~delivered).alias("n_not_delivered"),
        _count(delivered & ~_has_lead()).alias("n_missing_lead"),
        _count(delivered & _has_lead()).alias("n_used"),
        _count(delivered & _has_lead() & pl.col(_REPLIED)).alias("n_replied"),
    ]
    counts: list[str] = ["n_outbound", "n_not_delivered", "n_missing_lead", "n_used", "n_replied"]
    select: list[pl.Expr | str] = ["n_events", "n_used", "n_excluded", *counts[:3], "n_replied"]
    select.append(rate("n_replied", "n_used").alias("reply_rate"))
    return [_assemble(base, _per_group(units, h, aggs), h, counts, select) for h in groupings]


# ---------------------------------------------------------------------------------------
# opt-out rate


def opt_out_summary(
    df: F,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
) -> F:
    """Opt-out rate: the share of contacted leads that opted out.

    A lead is **contacted** in a group when it has a delivered outbound message of
    countable traffic in that group (the unit is the lead: ``n_used`` counts distinct
    ``lead_id`` values, and a lead contacted in two groups counts in both). It **opted
    out** when any of its events of countable traffic, anywhere in the frame and at any
    time, is an :func:`is_opt_out_signal` (``status`` "Opted out", ``compliance_action``
    ``OptOutRecorded`` / ``OptOutSuppressed``, ``cancel_reason`` ``LeadOptedOut``).

    Columns: keys, ``n_events``, ``n_used`` (contacted leads), ``n_excluded``
    (``n_events - n_used``), ``n_opt_out_events`` (events of countable traffic in the
    group that carry a signal, any lead), ``n_opted_out`` (contacted leads that opted
    out), ``opt_out_rate`` (``n_opted_out / n_used``; null when ``n_used`` is 0).
    Arguments as in :func:`reply_summary`.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"lead_id": "a", "direction": "Outbound", "delivered_at": t},
    ...      {"lead_id": "a", "direction": "Outbound", "delivered_at": t},
    ...      {"lead_id": "a", "direction": "Inbound", "received_at": t,
    ...       "compliance_action": "OptOutRecorded"},
    ...      {"lead_id": "b", "direction": "Outbound", "delivered_at": t}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> opt_out_summary(df).select("n_used", "n_opted_out", "opt_out_rate").row(0)
    (2, 1, 0.5)
    """
    g = grouping(by, every, time_zone, period_column)
    lf = windowed(df, window, period_column)
    scope = _Flags(
        include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
    )
    return _like(df, opt_out_plans(lf, [g], **scope)[0])


def opt_out_plans(
    lf: pl.LazyFrame,
    groupings: Sequence[Grouping],
    *,
    include_warmup: bool,
    include_test: bool,
    include_demo: bool,
) -> list[pl.LazyFrame]:
    """:func:`opt_out_summary` of ``lf`` for each grouping (all with the same period),
    the opted-out leads found once for all of them."""
    base = _base(lf, groupings[0], include_warmup, include_test, include_demo)
    signal = is_opt_out_signal()
    opted = (
        base.filter(pl.col(_OK) & _has_lead() & signal)
        .select("lead_id")
        .unique()
        .with_columns(pl.lit(True).alias(_OPTED))
    )
    return [_opt_out_plan(base, opted, signal, h) for h in groupings]


def _opt_out_plan(
    base: pl.LazyFrame, opted: pl.LazyFrame, signal: pl.Expr, g: Grouping
) -> pl.LazyFrame:
    contacted = (
        base.filter(_delivered() & _has_lead())
        .select(_cols(*g.keys, "lead_id"))
        .unique()
        .join(opted, on="lead_id", how="left")
    )
    stats = _per_group(
        contacted,
        g,
        [pl.len().cast(COUNT).alias("n_used"), _count(pl.col(_OPTED)).alias("n_opted_out")],
    )
    signals = _per_group(
        base.filter(pl.col(_OK) & signal),
        g,
        [pl.len().cast(COUNT).alias("n_opt_out_events")],
    )
    if g.keys:
        stats = signals.join(stats, on=g.keys, how="full", coalesce=True, nulls_equal=True)
    else:
        stats = pl.concat([signals, stats], how="horizontal")
    counts: list[str] = ["n_used", "n_opted_out", "n_opt_out_events"]
    select: list[pl.Expr | str] = [
        "n_events",
        "n_used",
        "n_excluded",
        "n_opt_out_events",
        "n_opted_out",
    ]
    select.append(rate("n_opted_out", "n_used").alias("opt_out_rate"))
    return _assemble(base, stats, g, counts, select)


# ---------------------------------------------------------------------------------------
# speed to lead


def speed_to_lead_summary(
    df: F,
    *,
    by: str | Sequence[str] = (),
    every: Every | None = None,
    time_zone: str = "UTC",
    period_column: str = "created_at",
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
    within: timedelta = SPEED_TO_LEAD_WITHIN,
) -> F:
    """Speed to lead: from a lead's creation to its first outbound message.

    A lead's **creation** is its earliest :func:`is_lead_created` event of countable
    traffic with ``lead_id`` and ``created_at`` set; its **first outbound message** the
    earliest (by ``created_at``) outbound message of countable traffic of the same lead,
    any outcome, anywhere in the frame (ties: the first in the frame's order). The speed
    is ``first.created_at - creation.created_at``. A lead counts in the group of its
    first outbound message (``by`` values and ``period`` from that message), or of its
    creation event when it has none.

    Columns: keys, ``n_events``, ``n_used`` (leads with a speed ≥ 0), ``n_excluded``
    (``n_events - n_used``), ``n_leads`` (created leads), ``n_not_contacted`` (no
    outbound message), ``n_negative`` (first message before the creation), ``n_within``
    (speed ≤ ``within``), ``share_within`` (``n_within / n_used``), ``p50_ms``,
    ``p90_ms`` (Float64 milliseconds, the package's percentile; null when ``n_used``
    is 0).

    Parameters
    ----------
    within
        The threshold of ``n_within`` (default :data:`SPEED_TO_LEAD_WITHIN`, 5 minutes;
        inclusive; at least 0).

    Other arguments as in :func:`reply_summary`.

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, timedelta, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> rows = []
    >>> for lead, s in (("a", 30), ("b", 600)):
    ...     rows += [{"lead_id": lead, "timeline_type": "LeadCreated", "created_at": t},
    ...              {"lead_id": lead, "direction": "Outbound", "event_type": "Sms",
    ...               "created_at": t + timedelta(seconds=s)}]
    >>> df = pl.DataFrame(rows, schema=EVENT_SCHEMA)
    >>> speed_to_lead_summary(df).select("n_used", "share_within", "p50_ms").row(0)
    (2, 0.5, 315000.0)
    """
    g = grouping(by, every, time_zone, period_column)
    lf = windowed(df, window, period_column)
    scope = _Flags(
        include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
    )
    return _like(df, speed_to_lead_plans(lf, [g], **scope, within=within)[0])


def speed_to_lead_plans(
    lf: pl.LazyFrame,
    groupings: Sequence[Grouping],
    *,
    include_warmup: bool,
    include_test: bool,
    include_demo: bool,
    within: timedelta = SPEED_TO_LEAD_WITHIN,
) -> list[pl.LazyFrame]:
    """:func:`speed_to_lead_summary` of ``lf`` for each grouping (all with the same
    period), each lead's creation and first message found once for all of them."""
    g = groupings[0]
    keys = _cols(*[k for h in groupings for k in h.keys])
    within_us = _positive(within, "within", strict=False)
    # Long for the same reason as reply_summary: creation, first message, their join and
    # the per-group statistics are the steps of the definition, in order.
    base = _base(lf, g, include_warmup, include_test, include_demo).with_row_index(_ROW)
    timed = pl.col(_OK) & _has_lead() & pl.col("created_at").is_not_null()

    def first(cond: pl.Expr, t: str, prefix: str) -> pl.LazyFrame:
        rows = base.filter(cond & timed).sort(["created_at", _ROW])
        rows = rows.unique(subset="lead_id", keep="first", maintain_order=True)
        return rows.select(
            "lead_id",
            pl.col("created_at").alias(t),
            *[pl.col(k).alias(f"{prefix}{k}") for k in keys],
        )

    created = first(is_lead_created(), _T_CREATED, f"{_P}c_")
    firsts = first(_outbound(), _T_FIRST, f"{_P}f_")
    contacted = pl.col(_T_FIRST).is_not_null()
    units = created.join(firsts, on="lead_id", how="left").select(
        *[
            pl.when(contacted).then(pl.col(f"{_P}f_{k}")).otherwise(pl.col(f"{_P}c_{k}")).alias(k)
            for k in keys
        ],
        (pl.col(_T_FIRST) - pl.col(_T_CREATED)).dt.total_microseconds().alias(_GAP),
    )
    gap = pl.col(_GAP)
    good = pl.when(gap >= 0).then(gap)
    aggs = [
        pl.len().cast(COUNT).alias("n_leads"),
        _count(gap.is_null()).alias("n_not_contacted"),
        _count(gap < 0).alias("n_negative"),
        _count(gap >= 0).alias("n_used"),
        _count((gap >= 0) & (gap <= within_us)).alias("n_within"),
        good.implode().list.sort(nulls_last=True).alias(f"{_P}values"),
    ]
    values = pl.col(f"{_P}values")
    n_used = pl.col("n_used")
    pcts: list[pl.Expr] = [
        percentile_of_sorted(values, q, n=n_used, value=us_to_ms).alias(f"p{round(q * 100)}_ms")
        for q in (0.5, 0.9)
    ]
    counts: list[str] = ["n_leads", "n_not_contacted", "n_negative", "n_used", "n_within"]
    select: list[pl.Expr | str] = ["n_events", "n_used", "n_excluded", *counts[:3], "n_within"]
    select += [rate("n_within", "n_used").alias("share_within"), *pcts]
    events = base.drop(_ROW)
    return [_assemble(events, _per_group(units, h, aggs), h, counts, select) for h in groupings]
