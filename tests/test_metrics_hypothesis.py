"""leadping_nb.metrics against a plain-Python reference over random events.

The reference below re-implements docs/metrics.md with dicts, datetimes, Decimals and
Fractions only (no Polars); events have missing, out-of-order and null-everywhere
timestamps, odd casings, negative retry counts and refunds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadping_nb import metrics as m
from leadping_nb._schema import EVENT_SCHEMA

Event = dict[str, Any]

# ----------------------------------------------------------------------------------------
# the reference implementation (docs/metrics.md, in plain Python)

STAGES = {
    "queue": ("queued_at", "sending_started_at"),
    "send": ("sending_started_at", "sent_at"),
    "carrier": ("sent_at", "delivered_at"),
    "end_to_end": ("queued_at", "delivered_at"),
    "schedule_lag": ("scheduled_for", "sending_started_at"),
}
OUTBOUND_TS = (
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
ORDER = ["delivered", "undeliverable", "failed", "blocked", "canceled", "scheduled"]
ORDER += ["in_flight", "inbound"]
PCTS = (0.5, 0.9, 0.95, 0.99)


def low(value: str | None) -> str | None:
    return None if value is None else value.lower()


def ref_is_message(e: Event) -> bool:
    out_ts = any(e[c] is not None for c in OUTBOUND_TS)
    typed = {low(e["event_type"]), low(e["timeline_type"])} & {"sms", "mms", "message", "warmup"}
    return bool(typed) or out_ts or e["received_at"] is not None


def ref_outcome(e: Event) -> str | None:
    out_ts = any(e[c] is not None for c in OUTBOUND_TS)
    if not ref_is_message(e):
        return None
    direction = low(e["direction"])
    if direction == "inbound" or (e["received_at"] is not None and not out_ts):
        return "inbound"
    if direction != "outbound" and not out_ts:
        return None
    for name in ("delivered", "undeliverable", "failed", "blocked", "canceled"):
        if e[f"{name}_at"] is not None:
            return name
    if e["scheduled_for"] is not None and e["sending_started_at"] is None and e["sent_at"] is None:
        return "scheduled"
    return "in_flight"


def ref_latency_us(e: Event, stage: str) -> int | None:
    start, end = (e[c] for c in STAGES[stage])
    if start is None or end is None:
        return None
    micros: int = (end - start) // timedelta(microseconds=1)
    return micros


def ref_latency(e: Event, stage: str) -> float | None:
    micros = ref_latency_us(e, stage)
    return None if micros is None else micros / 1000


def ref_mean_ms(micros: list[int]) -> float | None:
    """The Float64 nearest to the exact mean in ms (``float(Fraction)`` rounds correctly)."""
    return float(Fraction(sum(micros), 1000 * len(micros))) if micros else None


def is_warm(e: Event) -> bool:
    return low(e["traffic_type"]) == "warmup" or e["is_warmup"] is True


def is_test(e: Event) -> bool:
    return low(e["traffic_type"]) == "test"


def ref_countable(e: Event, include_warmup: bool, include_test: bool) -> bool:
    return not ((is_warm(e) and not include_warmup) or (is_test(e) and not include_test))


def ref_pending(e: Event, as_of: datetime) -> bool:
    due = e["next_retry_at"] is not None and e["next_retry_at"] > as_of
    return due and ref_outcome(e) in ("failed", "scheduled", "in_flight")


def first_instant(day: date, zone: str) -> datetime:
    """The earliest instant whose local date in ``zone`` is ``day``."""
    tz = ZoneInfo(zone)
    candidates = [
        datetime.combine(day, time(0), tzinfo=tz).replace(fold=fold).astimezone(UTC)
        for fold in (0, 1)
    ]
    return min(c for c in candidates if c.astimezone(tz).date() == day)


def ref_period(ts: datetime | None, every: str, zone: str) -> datetime | None:
    if ts is None:
        return None
    local = ts.astimezone(ZoneInfo(zone)).date()
    if every == "week":
        local -= timedelta(days=local.weekday())
    elif every == "month":
        local = local.replace(day=1)
    return first_instant(local, zone)


def ref_percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    h = (len(values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (h - lo) * (values[hi] - values[lo])


def half_even(x: Fraction, scale: int) -> Decimal:
    scaled = x * 10**scale
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    return Decimal(q).scaleb(-scale)


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


class Params:
    def __init__(self, **kw: Any) -> None:
        self.by: tuple[str, ...] = kw["by"]
        self.every: str | None = kw["every"]
        self.zone: str = kw["time_zone"]
        self.include_warmup: bool = kw["include_warmup"]
        self.include_test: bool = kw["include_test"]
        self.billing_by: tuple[str, ...] = kw["billing_by"]
        self.cost_scale: int = kw["cost_scale"]
        self.as_of: datetime = kw["as_of"]

    def key(self, e: Event, by: Sequence[str] | None = None) -> tuple[Hashable, ...]:
        cols = self.by if by is None else by
        head = (ref_period(e["created_at"], self.every, self.zone),) if self.every else ()
        return (*head, *(e[c] for c in cols))

    def countable(self, e: Event) -> bool:
        return ref_countable(e, self.include_warmup, self.include_test)

    @property
    def whole(self) -> bool:
        return not self.by and not self.every

    def scope(self, e: Event) -> bool:
        return ref_outcome(e) not in (None, "inbound") and self.countable(e)


def groups(
    events: list[Event], key: Callable[[Event], tuple[Hashable, ...]], *, whole: bool = False
) -> dict[Any, Any]:
    """Events by key; ``whole``: no grouping at all, one group even without events."""
    out: dict[Any, list[Event]] = defaultdict(list)
    if whole:
        out[()] = list(events)
        return out
    for e in events:
        out[key(e)].append(e)
    return out


def ref_delivery(events: list[Event], p: Params) -> dict[Any, dict[str, Any]]:
    result = {}
    for k, es in groups(events, p.key, whole=p.whole).items():
        out = [ref_outcome(e) for e in es]
        row: dict[str, Any] = {"n_events": len(es)}
        outbound = [o not in (None, "inbound") for o in out]
        row["n_not_outbound"] = outbound.count(False)
        row["n_traffic_excluded"] = sum(
            1 for e, ob in zip(es, outbound, strict=True) if ob and not p.countable(e)
        )
        scoped = [o for e, o in zip(es, out, strict=True) if p.scope(e)]
        row["n_outbound"] = len(scoped)
        for name in ORDER[:-1]:
            row[f"n_{name}"] = scoped.count(name)
        row["n_used"] = row["n_delivered"] + row["n_failed"] + row["n_undeliverable"]
        row["n_excluded"] = len(es) - row["n_used"]
        row["delivery_rate"] = ratio(row["n_delivered"], row["n_used"])
        result[k] = row
    return result


def ref_outcomes(events: list[Event], p: Params) -> dict[Any, dict[str, Any]]:
    result: dict[Any, dict[str, Any]] = {}
    for k, es in groups(events, p.key).items():
        total = sum(1 for e in es if p.countable(e))
        for o, cell in groups(es, lambda e: (ref_outcome(e),)).items():
            n = sum(1 for e in cell if p.countable(e))
            result[(*k, *o)] = {
                "n": n,
                "share": ratio(n, total),
                "n_events": len(cell),
                "n_used": n,
                "n_excluded": len(cell) - n,
            }
    return result


def ref_latency_summary(events: list[Event], p: Params) -> dict[Any, dict[str, Any]]:
    result = {}
    for k, es in groups(events, p.key, whole=p.whole).items():
        scoped = [e for e in es if p.scope(e)]
        for stage in STAGES:
            lats = [ref_latency(e, stage) for e in scoped]
            used = sorted(x for x in lats if x is not None and x >= 0)
            used_us = [x for x in (ref_latency_us(e, stage) for e in scoped) if x is not None]
            used_us = [x for x in used_us if x >= 0]
            row: dict[str, Any] = {
                "n_events": len(es),
                "n_used": len(used),
                "n_excluded": len(es) - len(used),
                "n_out_of_scope": len(es) - len(scoped),
                "n_missing": lats.count(None),
                "n_negative": sum(1 for x in lats if x is not None and x < 0),
                "mean_ms": ref_mean_ms(used_us),
                "min_ms": used[0] if used else None,
                "max_ms": used[-1] if used else None,
            }
            for q in PCTS:
                row[f"p{round(q * 100)}_ms"] = ref_percentile(used, q)
            result[(*k, stage)] = row
    return result


def retry_used(e: Event, p: Params) -> bool:
    return p.scope(e) and e["retry_count"] is not None and e["retry_count"] >= 0


def ref_retry(events: list[Event], p: Params) -> dict[Any, dict[str, Any]]:
    result = {}
    for k, es in groups(events, p.key, whole=p.whole).items():
        used = [e for e in es if retry_used(e, p)]
        n_scope = sum(1 for e in es if p.scope(e))
        total = sum(e["retry_count"] for e in used)
        outs = [ref_outcome(e) for e in used]
        n_delivered = outs.count("delivered")
        n_terminal = n_delivered + outs.count("failed") + outs.count("undeliverable")
        n_retried = sum(1 for e in used if e["retry_count"] > 0)
        result[k] = {
            "n_events": len(es),
            "n_used": len(used),
            "n_excluded": len(es) - len(used),
            "n_out_of_scope": len(es) - n_scope,
            "n_missing_retry_count": n_scope - len(used),
            "n_retried": n_retried,
            "share_retried": ratio(n_retried, len(used)),
            "total_retries": total,
            "mean_retries": ratio(total, len(used)),
            "max_retries": max((e["retry_count"] for e in used), default=None),
            "n_delivered": n_delivered,
            "n_terminal": n_terminal,
            "delivery_rate": ratio(n_delivered, n_terminal),
            "extra_attempts_per_delivered": ratio(total, n_delivered),
            "n_retry_pending": sum(1 for e in used if ref_pending(e, p.as_of)),
        }
    return result


def ref_retry_distribution(events: list[Event], p: Params) -> dict[Any, dict[str, Any]]:
    result: dict[Any, dict[str, Any]] = {}
    for k, es in groups([e for e in events if retry_used(e, p)], p.key).items():
        for rc, cell in groups(es, lambda e: (e["retry_count"],)).items():
            outs = [ref_outcome(e) for e in cell]
            terminal = sum(outs.count(o) for o in ("delivered", "failed", "undeliverable"))
            result[(*k, *rc)] = {
                "n_messages": len(cell),
                "share": len(cell) / len(es),
                "n_delivered": outs.count("delivered"),
                "n_failed": outs.count("failed"),
                "n_undeliverable": outs.count("undeliverable"),
                "n_terminal": terminal,
                "delivery_rate": ratio(outs.count("delivered"), terminal),
                "n_retry_pending": sum(1 for e in cell if ref_pending(e, p.as_of)),
            }
    return result


def ref_billing(events: list[Event], p: Params, by: Sequence[str]) -> dict[Any, dict[str, Any]]:
    result = {}
    for k, es in groups(events, lambda e: p.key(e, by), whole=not by and not p.every).items():
        used = [e for e in es if e["billable_amount"] is not None]  # billing counts all traffic
        total = sum((e["billable_amount"] for e in used), Decimal(0))
        n_delivered = sum(1 for e in es if ref_outcome(e) == "delivered")
        result[k] = {
            "n_events": len(es),
            "n_used": len(used),
            "n_excluded": len(es) - len(used),
            "n_traffic_excluded": 0,
            "n_missing_amount": len(es) - len(used),
            "total_amount": total,
            "n_delivered": n_delivered,
            "cost_per_delivered": (
                half_even(Fraction(total) / n_delivered, p.cost_scale) if n_delivered else None
            ),
        }
    return result


def ref_counts(events: list[Event], p: Params) -> list[tuple[str, int, int, int]]:
    """``summary().counts``: one row per metric, always all of them, each over every event."""
    n = len(events)
    latency = ref_latency_summary(events, p)
    used = {
        "outcome": sum(r["n_used"] for r in ref_outcomes(events, p).values()),
        "delivery": sum(r["n_used"] for r in ref_delivery(events, p).values()),
        **{
            f"latency.{stage}": sum(r["n_used"] for k, r in latency.items() if k[-1] == stage)
            for stage in STAGES
        },
        "retry": sum(r["n_used"] for r in ref_retry(events, p).values()),
        "billing": sum(r["n_used"] for r in ref_billing(events, p, ()).values()),
    }
    return [(metric, n, u, n - u) for metric, u in used.items()]


# ----------------------------------------------------------------------------------------
# comparison helpers


def keyed(frame: pl.DataFrame, keys: Sequence[str]) -> dict[Any, dict[str, Any]]:
    if "period" in frame.columns:
        frame = frame.with_columns(pl.col("period").dt.convert_time_zone("UTC"))
    out = {}
    for row in frame.iter_rows(named=True):
        k = tuple(row.pop(c) for c in keys)
        assert k not in out, f"duplicate group {k}"
        out[k] = row
    return out


def assert_same(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]], what: str) -> None:
    assert set(got) == set(want), f"{what}: groups differ: {set(got) ^ set(want)}"
    for k, expected in want.items():
        row = got[k]
        for col, value in expected.items():
            actual = row[col]
            assert actual == value, f"{what} {k} {col}: got {actual!r}, want {value!r}"
            assert type(actual) is type(value), f"{what} {k} {col}: {type(actual)}"


# ----------------------------------------------------------------------------------------
# strategies

BASES = [
    datetime(2024, 1, 1, 4, 30, tzinfo=UTC),
    datetime(2024, 3, 10, 6, 59, 59, 999_999, tzinfo=UTC),  # New York DST starts at 07:00
    datetime(2024, 9, 8, 3, 59, 59, tzinfo=UTC),  # Santiago: midnight does not exist
    datetime(2024, 11, 3, 4, 30, tzinfo=UTC),  # Havana: midnight happens twice
    datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2025, 4, 6, 15, 0, tzinfo=UTC),  # Lord Howe: 30-minute DST shift
]
ZONES = ["UTC", "America/New_York", "America/Santiago", "America/Havana", "Asia/Kolkata",
         "Australia/Lord_Howe"]  # fmt: skip

timestamps = st.builds(
    lambda base, offset: base + timedelta(microseconds=offset),
    st.sampled_from(BASES),
    st.integers(-2 * 86_400 * 10**6, 2 * 86_400 * 10**6),
)
maybe_ts = st.one_of(st.none(), st.none(), timestamps)
TS_COLS = (*OUTBOUND_TS, "received_at")
DIRECTIONS = [None, "Outbound", "outbound", "OUTBOUND", "Inbound", "inBound", "Internal",
              " Outbound", ""]  # fmt: skip


@st.composite
def event(draw: st.DrawFn) -> Event:
    base = draw(timestamps)
    e: Event = dict.fromkeys(EVENT_SCHEMA.names())
    # lifecycle near one base (realistic order or not), or anywhere
    for c in TS_COLS:
        choice = draw(st.integers(0, 3))
        if choice == 1:
            e[c] = base + timedelta(microseconds=draw(st.integers(-(10**7), 10**8)))
        elif choice == 2:
            e[c] = draw(timestamps)
    lifecycle = draw(st.booleans())
    if lifecycle:  # a whole outbound lifecycle in order: every stage is used
        t = base
        for c in ("scheduled_for", "queued_at", "sending_started_at", "sent_at", "delivered_at"):
            t += timedelta(microseconds=draw(st.integers(0, 10**7)))
            e[c] = t
    if draw(st.booleans()):  # no final verdict: a retry may be open (retry_pending)
        for c in ("delivered_at", "undeliverable_at", "blocked_at", "canceled_at"):
            e[c] = None
    e["created_at"] = draw(st.one_of(st.just(base), maybe_ts))
    e["direction"] = draw(st.sampled_from(DIRECTIONS[:4] if lifecycle else DIRECTIONS))
    e["event_type"] = draw(st.sampled_from([None, "Sms", "SMS", "mms", "Call", "Note", "Message"]))
    e["timeline_type"] = draw(st.sampled_from([None, "Sms", "Warmup", "Call", "Note"]))
    e["traffic_type"] = draw(st.sampled_from(
        [None, "RealLead", "Warmup", "warmup", "Test", "TEST", "FailedAttempt"]
    ))  # fmt: skip
    e["is_warmup"] = draw(st.sampled_from([None, True, False]))
    e["retry_count"] = draw(st.one_of(st.none(), st.integers(-2, 6)))  # null, negative: invalid
    e["billable_amount"] = draw(st.one_of(
        st.none(),
        st.decimals(min_value=-5, max_value=10**6, places=6, allow_nan=False, allow_infinity=False),
    ))  # fmt: skip
    e["billing_status"] = draw(st.sampled_from([None, "Billed", "NotBilled", "Pending"]))
    e["campaign_id"] = draw(st.sampled_from([None, "c1", "c2"]))
    e["source_id"] = draw(st.sampled_from([None, "s1", "s2"]))
    return e


params = st.fixed_dictionaries(
    {
        "by": st.sampled_from([(), ("campaign_id",), ("billing_status", "campaign_id")]),
        "every": st.sampled_from([None, "day", "week", "month"]),
        "time_zone": st.sampled_from(ZONES),
        "include_warmup": st.booleans(),
        "include_test": st.booleans(),
        "billing_by": st.sampled_from([("billing_status",), ("source_id", "campaign_id"), ()]),
        "cost_scale": st.integers(0, 8),
        "as_of": timestamps,
        "engine": st.sampled_from(["auto", "in-memory", "streaming"]),
    }
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(events: list[Event]) -> pl.DataFrame:
    df = pl.DataFrame(events, schema=EVENT_SCHEMA)
    assert df.schema == EVENT_SCHEMA
    return df


# ----------------------------------------------------------------------------------------
# the properties


@SETTINGS
@given(st.lists(event(), max_size=25), st.sampled_from(ZONES), timestamps)
def test_per_event_columns_match_the_reference(
    events: list[Event], zone: str, as_of: datetime
) -> None:
    df = build(events)
    out = m.with_metrics(df, as_of=as_of).with_columns(
        m.period("day", zone).dt.convert_time_zone("UTC").alias("day"),
        m.period("week", zone).dt.convert_time_zone("UTC").alias("week"),
        m.period("month", zone).dt.convert_time_zone("UTC").alias("month"),
        m.is_message(),
    )
    for e, row in zip(events, out.iter_rows(named=True), strict=True):
        o = ref_outcome(e)
        assert row["outcome"] == o
        assert row["is_outbound"] == (o not in (None, "inbound"))
        assert row["is_countable_traffic"] == ref_countable(e, False, False)
        assert row["retry_pending"] == ref_pending(e, as_of)
        assert row["is_message"] == ref_is_message(e)
        for stage in STAGES:
            lat = ref_latency(e, stage)
            assert row[f"latency_{stage}_ms"] == lat
            assert row[f"negative_gap_{stage}"] == (None if lat is None else lat < 0)
        for every in ("day", "week", "month"):
            assert row[every] == ref_period(e["created_at"], every, zone)


@SETTINGS
@given(st.lists(event(), max_size=40), params)
def test_summary_matches_the_reference(events: list[Event], kw: dict[str, Any]) -> None:
    df = build(events)
    p = Params(**kw)
    s = m.summary(df, **kw)
    keys = (["period"] if p.every else []) + list(p.by)

    assert_same(keyed(s.delivery, keys), ref_delivery(events, p), "delivery")
    assert_same(keyed(s.outcomes, [*keys, "outcome"]), ref_outcomes(events, p), "outcomes")
    assert_same(keyed(s.latency, [*keys, "stage"]), ref_latency_summary(events, p), "latency")
    assert_same(keyed(s.retry, keys), ref_retry(events, p), "retry")
    dist = keyed(s.retry_distribution, [*keys, "retry_count"])
    assert_same(dist, ref_retry_distribution(events, p), "retry distribution")

    billing_keys = [*p.by, *(c for c in p.billing_by if c not in p.by)]
    want = ref_billing(events, p, billing_keys)
    assert_same(keyed(s.billing, [*(["period"] if p.every else []), *billing_keys]), want, "bill")
    total = ref_billing(events, Params(**{**kw, "every": None}), ())
    assert_same(keyed(s.billing_total, []), total, "billing total")
    assert s.counts.rows() == ref_counts(events, Params(**{**kw, "every": None}))

    # exact footing: every grouping of the money adds up to the Decimal sum of the inputs
    exact = sum((e["billable_amount"] for e in events if e["billable_amount"] is not None),
                Decimal(0))  # fmt: skip
    assert s.billing_total["total_amount"].item() == exact
    assert sum(s.billing["total_amount"].to_list(), Decimal(0)) == exact
    for frame in (s.delivery, s.retry, s.billing, s.billing_total, s.latency, s.outcomes):
        assert (frame["n_used"] + frame["n_excluded"] == frame["n_events"]).all()


FRAMES = ("outcomes", "delivery", "latency", "retry", "retry_distribution", "billing",
          "billing_total", "counts")  # fmt: skip


@SETTINGS
@given(st.lists(event(), min_size=1, max_size=30), params)
def test_summary_shape_does_not_depend_on_rows(events: list[Event], kw: dict[str, Any]) -> None:
    """The summary of no events has the columns of any other, and the rows of every frame
    that does not group (one row, or one per stage, or per metric): zero counts, null
    statistics."""
    df = build(events)
    full, empty = m.summary(df, **kw), m.summary(df.clear(), **kw)
    for name in FRAMES:
        assert getattr(empty, name).schema == getattr(full, name).schema, name
    assert empty.counts["metric"].to_list() == full.counts["metric"].to_list()
    assert empty.counts.drop("metric").sum_horizontal().sum() == 0
    grouped = bool(kw["by"] or kw["every"])
    one_group = ["billing_total"]
    one_group += [] if grouped else ["delivery", "latency", "retry"]
    one_group += [] if grouped or kw["billing_by"] else ["billing"]
    for name in FRAMES[:-1]:
        frame = getattr(empty, name)
        if name not in one_group:
            assert frame.height == 0, name  # no events, no groups
            continue
        assert frame.height == getattr(full, name).height, name
        zeros = [c for c in frame.columns if c.startswith(("n_", "total_"))]
        nulls = [c for c in frame.columns if c not in zeros and c != "stage"]
        assert all((frame[c] == 0).all() for c in zeros), (name, frame)
        assert all(frame[c].null_count() == frame.height for c in nulls), (name, frame)


@SETTINGS
@given(st.lists(event(), max_size=30), params)
def test_frame_functions_lazy_equals_eager(events: list[Event], kw: dict[str, Any]) -> None:
    df = build(events)
    grouping = {k: kw[k] for k in ("by", "every", "time_zone")}
    traffic = {k: kw[k] for k in ("include_warmup", "include_test")}
    for fn in (m.delivery_summary, m.outcome_counts, m.latency_summary):
        eager = fn(df, **grouping, **traffic)
        assert eager.equals(fn(df.lazy(), **grouping, **traffic).collect())
    for rfn in (m.retry_summary, m.retry_distribution):
        eager = rfn(df, **grouping, **traffic, as_of=kw["as_of"])
        assert eager.equals(rfn(df.lazy(), **grouping, **traffic, as_of=kw["as_of"]).collect())
    bill = m.billing_summary(df, **grouping, cost_scale=kw["cost_scale"])
    assert bill.equals(
        m.billing_summary(df.lazy(), **grouping, cost_scale=kw["cost_scale"]).collect()
    )


@SETTINGS
@given(
    st.lists(st.integers(0, 10**12), min_size=1, max_size=60),
    st.sampled_from(["auto", "streaming"]),
    st.booleans(),
)
def test_latency_mean_is_the_float_nearest_the_exact_mean(
    micros: list[int], engine: Any, grouped: bool
) -> None:
    t = BASES[0]
    events = [
        {**dict.fromkeys(EVENT_SCHEMA.names()), "direction": "Outbound", "created_at": t,
         "sent_at": t, "delivered_at": t + timedelta(microseconds=x), "campaign_id": f"c{i % 2}"}
        for i, x in enumerate(micros)
    ]  # fmt: skip
    by = ("campaign_id",) if grouped else ()
    s = m.summary(build(events).lazy(), by=by, as_of=t, engine=engine)
    frame = m.latency_summary(build(events), by=by, stages=["carrier"])
    for latency in (s.latency.filter(pl.col("stage") == "carrier"), frame):
        for row in latency.iter_rows(named=True):
            group = [
                x for i, x in enumerate(micros) if not grouped or f"c{i % 2}" == row["campaign_id"]
            ]
            assert row["mean_ms"] == ref_mean_ms(group)


@SETTINGS
@given(
    st.lists(st.floats(-1e9, 1e9, allow_nan=False), max_size=60),
    st.floats(0, 1),
)
def test_percentile_matches_the_reference(values: list[float], q: float) -> None:
    df = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    got = df.select(m.percentile("x", q)).item()
    assert got == ref_percentile(sorted(values), q)


@SETTINGS
@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False),
    st.integers(0, 10**6),
    st.integers(0, 12),
)
def test_decimal_ratio_matches_exact_half_even(amount: Decimal, n: int, scale: int) -> None:
    df = pl.DataFrame({"a": [amount], "n": [n]}, schema={"a": pl.Decimal(38, 6), "n": pl.Int64})
    got = df.select(m.decimal_ratio(pl.col("a"), pl.col("n"), scale=scale)).item()
    assert got == (half_even(Fraction(amount) / n, scale) if n else None)


# ----------------------------------------------------------------------------------------
# windows (docs/metrics.md, Windows): the reference bounds, then the summary of the events
# inside them


def ref_window(kind: str, n: int, zone: str, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of ``Window.last`` / ``this_month`` / ``last_month`` from local
    dates and :func:`first_instant` alone."""
    today = now.astimezone(ZoneInfo(zone)).date()
    if kind == "last":
        return first_instant(today - timedelta(days=n), zone), first_instant(today, zone)
    first = today.replace(day=1)
    if kind == "last_month":
        prev = (first - timedelta(days=1)).replace(day=1)
        return first_instant(prev, zone), first_instant(first, zone)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first_instant(first, zone), first_instant(nxt, zone)


def ref_in_window(e: Event, start: datetime, end: datetime) -> bool:
    ts = e["created_at"]
    return ts is not None and start <= ts < end


@SETTINGS
@given(
    st.lists(event(), max_size=40),
    params,
    st.sampled_from(["last", "this_month", "last_month"]),
    st.integers(1, 3),
    timestamps,
)
def test_summary_of_a_window_matches_the_reference(
    events: list[Event], kw: dict[str, Any], kind: str, n: int, now: datetime
) -> None:
    from leadping_nb import Window

    zone = kw["time_zone"]
    if kind == "last":
        w = Window.last(days=n, time_zone=zone, now=now)
    else:
        w = getattr(Window, kind)(time_zone=zone, now=now)
    start, end = ref_window(kind, n, zone, now)
    assert (w.start, w.end) == (start, end)
    inside = [e for e in events if ref_in_window(e, start, end)]
    p = Params(**kw)
    s = m.summary(build(events), window=w, **kw)
    keys = (["period"] if p.every else []) + list(p.by)
    assert_same(keyed(s.delivery, keys), ref_delivery(inside, p), "delivery")
    assert_same(keyed(s.outcomes, [*keys, "outcome"]), ref_outcomes(inside, p), "outcomes")
    assert_same(keyed(s.latency, [*keys, "stage"]), ref_latency_summary(inside, p), "latency")
    assert_same(keyed(s.retry, keys), ref_retry(inside, p), "retry")
    total = ref_billing(inside, Params(**{**kw, "every": None}), ())
    assert_same(keyed(s.billing_total, []), total, "billing total")
    assert s.counts.rows() == ref_counts(inside, Params(**{**kw, "every": None}))
