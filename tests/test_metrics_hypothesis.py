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
from leadping_nb._core.schema import EVENT_SCHEMA

Event = dict[str, Any]

# ----------------------------------------------------------------------------------------
# the reference implementation (docs/metrics.md, in plain Python)

STAGES = {
    "queue": ("queued_at", "sending_started_at"),
    "send": ("sending_started_at", "sent_at"),
    "carrier": ("sent_at", "delivered_at"),
    "end_to_end": ("queued_at", "delivered_at"),
    "schedule_lag": ("scheduled_for", "sending_started_at"),
    "to_failure": ("sending_started_at", "failed_at"),
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
ORDER += ["no_receipt", "in_flight", "inbound"]
FINAL = ("delivered", "undeliverable", "failed", "blocked", "no_receipt")
DAY = timedelta(hours=24)  # the documented default receipt timeout
PCTS = (0.5, 0.9, 0.95, 0.99)


def low(value: str | None) -> str | None:
    return None if value is None else value.lower()


def ref_is_message(e: Event) -> bool:
    out_ts = any(e[c] is not None for c in OUTBOUND_TS)
    typed = {low(e["event_type"]), low(e["timeline_type"])} & {"sms", "mms", "message", "warmup"}
    return bool(typed) or out_ts or e["received_at"] is not None


def ref_outcome(e: Event, as_of: datetime, timeout: timedelta = DAY) -> str | None:
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
    if e["sent_at"] is not None and e["sent_at"] + timeout <= as_of:
        return "no_receipt"
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


def is_warm(e: Event) -> bool:  # trafficType is an enum of exact strings
    return e["traffic_type"] == "Warmup" or e["is_warmup"] is True


def is_test(e: Event) -> bool:
    return bool(e["traffic_type"] == "Test")


def is_demo(e: Event) -> bool:
    return e["is_demo"] is True


def ref_countable(
    e: Event, include_warmup: bool, include_test: bool, include_demo: bool = False
) -> bool:
    return not (
        (is_warm(e) and not include_warmup)
        or (is_test(e) and not include_test)
        or (is_demo(e) and not include_demo)
    )


def ref_pending(e: Event, as_of: datetime, timeout: timedelta = DAY) -> bool:
    due = e["next_retry_at"] is not None and e["next_retry_at"] > as_of
    return due and ref_outcome(e, as_of, timeout) in ("failed", "scheduled", "no_receipt",
                                                       "in_flight")  # fmt: skip


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
        self.include_demo: bool = kw["include_demo"]
        self.receipt_timeout: timedelta = kw["receipt_timeout"]
        self.billing_by: tuple[str, ...] = kw["billing_by"]
        self.cost_scale: int = kw["cost_scale"]
        self.as_of: datetime = kw["as_of"]

    def key(self, e: Event, by: Sequence[str] | None = None) -> tuple[Hashable, ...]:
        cols = self.by if by is None else by
        head = (ref_period(e["created_at"], self.every, self.zone),) if self.every else ()
        return (*head, *(e[c] for c in cols))

    def countable(self, e: Event) -> bool:
        return ref_countable(e, self.include_warmup, self.include_test, self.include_demo)

    def outcome(self, e: Event) -> str | None:
        return ref_outcome(e, self.as_of, self.receipt_timeout)

    def pending(self, e: Event) -> bool:
        return ref_pending(e, self.as_of, self.receipt_timeout)

    @property
    def whole(self) -> bool:
        return not self.by and not self.every

    def scope(self, e: Event) -> bool:
        return self.outcome(e) not in (None, "inbound") and self.countable(e)


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
        out = [p.outcome(e) for e in es]
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
        # reached sent: sent_at set, or a carrier verdict (delivered, undeliverable)
        row["n_sent"] = sum(
            1
            for e in es
            if p.scope(e)
            and (e["sent_at"] is not None or p.outcome(e) in ("delivered", "undeliverable"))
        )
        row["n_used"] = sum(row[f"n_{name}"] for name in FINAL)
        row["n_excluded"] = len(es) - row["n_used"]
        row["delivery_rate"] = ratio(row["n_delivered"], row["n_used"])
        row["sent_delivery_rate"] = ratio(row["n_delivered"], row["n_sent"])
        result[k] = row
    return result


def ref_outcomes(events: list[Event], p: Params) -> dict[Any, dict[str, Any]]:
    result: dict[Any, dict[str, Any]] = {}
    for k, es in groups(events, p.key).items():
        total = sum(1 for e in es if p.countable(e))
        for o, cell in groups(es, lambda e: (p.outcome(e),)).items():
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
        outs = [p.outcome(e) for e in used]
        n_delivered = outs.count("delivered")
        n_terminal = sum(outs.count(o) for o in FINAL)
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
            "n_retry_pending": sum(1 for e in used if p.pending(e)),
        }
    return result


def ref_retry_distribution(events: list[Event], p: Params) -> dict[Any, dict[str, Any]]:
    result: dict[Any, dict[str, Any]] = {}
    for k, es in groups([e for e in events if retry_used(e, p)], p.key).items():
        for rc, cell in groups(es, lambda e: (e["retry_count"],)).items():
            outs = [p.outcome(e) for e in cell]
            terminal = sum(outs.count(o) for o in FINAL)
            result[(*k, *rc)] = {
                "n_messages": len(cell),
                "share": len(cell) / len(es),
                "n_delivered": outs.count("delivered"),
                "n_failed": outs.count("failed"),
                "n_undeliverable": outs.count("undeliverable"),
                "n_terminal": terminal,
                "delivery_rate": ratio(outs.count("delivered"), terminal),
                "n_retry_pending": sum(1 for e in cell if p.pending(e)),
            }
    return result


def ref_billing(events: list[Event], p: Params, by: Sequence[str]) -> dict[Any, dict[str, Any]]:
    result = {}
    for k, es in groups(events, lambda e: p.key(e, by), whole=not by and not p.every).items():
        scoped = [e for e in es if p.countable(e)]  # the one traffic scope, as every metric
        used = [e for e in scoped if e["billable_amount"] is not None]
        total = sum((e["billable_amount"] for e in used), Decimal(0))
        n_delivered = sum(1 for e in scoped if p.outcome(e) == "delivered")
        result[k] = {
            "n_events": len(es),
            "n_used": len(used),
            "n_excluded": len(es) - len(used),
            "n_traffic_excluded": len(es) - len(scoped),
            "n_missing_amount": len(scoped) - len(used),
            "total_amount": total,
            "n_delivered": n_delivered,
            "cost_per_delivered": (
                half_even(Fraction(total) / n_delivered, p.cost_scale) if n_delivered else None
            ),
        }
    return result


def ref_channel(e: Event, p: Params) -> str:
    o = p.outcome(e)
    types = {low(e["event_type"]), low(e["timeline_type"])}
    if o == "inbound":
        return "inbound"
    if o is not None:
        return "mms" if "mms" in types else "sms" if types & {"sms", "warmup"} else "message"
    return "call" if types & {"call", "voicemail"} else "other"


def ref_status(e: Event) -> str:
    status = low(e["billing_status"])
    if status in ("billed", "pending"):
        return status
    return "refunded" if status in ("refunded", "refund") else "other"


def ref_state(e: Event) -> str:
    amount = e["billable_amount"]
    return "refunded" if amount is not None and amount < 0 else ref_status(e)


UNITS = {"sms": "delivered message", "mms": "delivered message", "message": "delivered message",
         "inbound": "received message", "call": "charged call"}  # fmt: skip


def ref_billing_breakdown(
    events: list[Event], p: Params, split: str | None, by: Sequence[str]
) -> dict[Any, dict[str, Any]]:
    """docs/metrics.md "Billing": charges, refunds (both forms), gross, net, cost per unit."""
    along: dict[str | None, Callable[[Event], tuple[Hashable, ...]]] = {
        "channel": lambda e: (ref_channel(e, p),),
        "billing_state": lambda e: (ref_state(e),),
        None: lambda e: (),
    }
    key = along[split]
    whole = not by and not p.every and split is None
    result = {}
    for k, es in groups(events, lambda e: (*p.key(e, by), *key(e)), whole=whole).items():
        ok = [e for e in es if p.countable(e)]
        used = [e for e in ok if e["billable_amount"] is not None]
        charges = [e for e in used if e["billable_amount"] >= 0]

        def total(rows: list[Event]) -> Decimal:
            return sum((e["billable_amount"] for e in rows), Decimal(0))

        gross = total(charges)
        refunded = -total([e for e in used if e["billable_amount"] < 0])
        refunded += total([e for e in charges if ref_status(e) == "refunded"])
        row = {
            "n_events": len(es),
            "n_used": len(used),
            "n_excluded": len(es) - len(used),
            "n_traffic_excluded": len(es) - len(ok),
            "n_missing_amount": len(ok) - len(used),
            "billed_amount": total([e for e in charges if ref_status(e) == "billed"]),
            "pending_amount": total([e for e in charges if ref_status(e) == "pending"]),
            "gross_amount": gross,
            "refunded_amount": refunded,
            "net_amount": gross - refunded,
            "total_amount": total(used),
        }
        if split == "channel":
            channel = k[-1]
            units: int | None = None
            if channel in ("sms", "mms", "message"):
                units = sum(1 for e in ok if p.outcome(e) == "delivered")
            elif channel == "inbound":
                units = len(ok)
            elif channel == "call":
                units = len(charges)
            row["unit"] = UNITS.get(channel)
            row["n_units"] = units
            row["cost_per_unit"] = (
                half_even(Fraction(gross - refunded) / units, p.cost_scale) if units else None
            )
        result[k] = row
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


# engagement (docs/metrics.md, "Engagement" and "Rankings")

OPT_OUT_ACTIONS = ("OptOutRecorded", "OptOutSuppressed")


def ref_delivered_with_lead(e: Event, p: Params) -> bool:
    return p.scope(e) and p.outcome(e) == "delivered" and e["lead_id"] is not None


def ref_reply(events: list[Event], p: Params, window: timedelta) -> dict[Any, dict[str, Any]]:
    used = [e for e in events if ref_delivered_with_lead(e, p)]
    answered: set[tuple[str, datetime]] = set()
    for i in events:
        if p.outcome(i) != "inbound" or not p.countable(i) or i["lead_id"] is None:
            continue
        t = i["received_at"] if i["received_at"] is not None else i["created_at"]
        if t is None:
            continue
        before = [d["delivered_at"] for d in used if d["lead_id"] == i["lead_id"]]
        before = [x for x in before if x < t]
        if before and t - max(before) <= window:
            answered.add((i["lead_id"], max(before)))
    result = {}
    for k, es in groups(events, p.key, whole=p.whole).items():
        outbound = [e for e in es if p.scope(e)]
        delivered = [e for e in outbound if p.outcome(e) == "delivered"]
        mine = [e for e in delivered if e["lead_id"] is not None]
        n_replied = sum(1 for e in mine if (e["lead_id"], e["delivered_at"]) in answered)
        result[k] = {
            "n_events": len(es),
            "n_used": len(mine),
            "n_excluded": len(es) - len(mine),
            "n_outbound": len(outbound),
            "n_not_delivered": len(outbound) - len(delivered),
            "n_missing_lead": len(delivered) - len(mine),
            "n_replied": n_replied,
            "reply_rate": ratio(n_replied, len(mine)),
        }
    return result


def ref_opt_out_signal(e: Event) -> bool:
    return (
        low(e["status"]) == "opted out"
        or e["compliance_action"] in OPT_OUT_ACTIONS
        or e["cancel_reason"] == "LeadOptedOut"
    )


def ref_opt_out(events: list[Event], p: Params) -> dict[Any, dict[str, Any]]:
    opted = {
        e["lead_id"]
        for e in events
        if p.countable(e) and e["lead_id"] is not None and ref_opt_out_signal(e)
    }
    result = {}
    for k, es in groups(events, p.key, whole=p.whole).items():
        contacted = {e["lead_id"] for e in es if ref_delivered_with_lead(e, p)}
        n_opted = len(contacted & opted)
        result[k] = {
            "n_events": len(es),
            "n_used": len(contacted),
            "n_excluded": len(es) - len(contacted),
            "n_opt_out_events": sum(1 for e in es if p.countable(e) and ref_opt_out_signal(e)),
            "n_opted_out": n_opted,
            "opt_out_rate": ratio(n_opted, len(contacted)),
        }
    return result


def ref_lead_created(e: Event) -> bool:
    return "leadcreated" in (low(e["timeline_type"]), low(e["event_type"]))


def ref_first_per_lead(
    events: list[Event], p: Params, cond: Callable[[Event], bool]
) -> dict[str, Event]:
    """Per lead, its earliest event (by created_at, then frame order) meeting ``cond``."""
    first: dict[str, tuple[datetime, int, Event]] = {}
    for i, e in enumerate(events):
        if not (cond(e) and p.countable(e) and e["lead_id"] is not None):
            continue
        if e["created_at"] is None:
            continue
        best = first.get(e["lead_id"])
        if best is None or (e["created_at"], i) < best[:2]:
            first[e["lead_id"]] = (e["created_at"], i, e)
    return {lead: v[2] for lead, v in first.items()}


def ref_speed(events: list[Event], p: Params, within: timedelta) -> dict[Any, dict[str, Any]]:
    created = ref_first_per_lead(events, p, ref_lead_created)
    firsts = ref_first_per_lead(events, p, lambda e: p.outcome(e) not in (None, "inbound"))
    units: dict[Any, list[int | None]] = defaultdict(list)
    for lead, c in created.items():
        f = firsts.get(lead)
        gap = (
            None if f is None else (f["created_at"] - c["created_at"]) // timedelta(microseconds=1)
        )
        units[() if p.whole else p.key(c if f is None else f)].append(gap)
    limit = within // timedelta(microseconds=1)
    result = {}
    for k, es in groups(events, p.key, whole=p.whole).items():
        gaps = units.get(k, [])
        used = sorted(g for g in gaps if g is not None and g >= 0)
        ms = [g / 1000 for g in used]
        n_within = sum(1 for g in used if g <= limit)
        result[k] = {
            "n_events": len(es),
            "n_used": len(used),
            "n_excluded": len(es) - len(used),
            "n_leads": len(gaps),
            "n_not_contacted": gaps.count(None),
            "n_negative": sum(1 for g in gaps if g is not None and g < 0),
            "n_within": n_within,
            "share_within": ratio(n_within, len(used)),
            "p50_ms": ref_percentile(ms, 0.5),
            "p90_ms": ref_percentile(ms, 0.9),
        }
    return result


def ref_wilson(k: int, n: int, z: float) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = k / n
    d = 1.0 + z * z / n
    c = (p + z * z / (2.0 * n)) / d
    h = (z / d) * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return max(c - h, 0.0), min(c + h, 1.0)


def ref_ranking(
    events: list[Event], p: Params, min_volume: int
) -> list[tuple[Any, dict[str, Any]]]:
    """Rows of delivery_ranking in order: the delivery summary plus the ranking columns."""
    rows = []
    for k, row in ref_delivery(events, p).items():
        low_b, high_b = ref_wilson(row["n_delivered"], row["n_used"], m.WILSON_Z)
        extra = {"n_failures": row["n_used"] - row["n_delivered"], "wilson_low": low_b,
                 "wilson_high": high_b, "rankable": row["n_used"] >= min_volume}  # fmt: skip
        row = {**row, **extra}
        rows.append((k, row))

    def nulls_last(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
        return tuple((v is None, "" if v is None else v) for v in key)

    def order(item: tuple[Any, dict[str, Any]]) -> tuple[Any, ...]:
        k, r = item
        if r["rankable"]:
            return (0, r["wilson_high"], r["delivery_rate"], -r["n_used"], nulls_last(k))
        return (1, 0.0, 0.0, -r["n_used"], nulls_last(k))

    rows.sort(key=order)
    rank = 0
    for _, r in rows:
        if r["rankable"]:
            rank += 1
        r["rank"] = rank if r["rankable"] else None
    return rows


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
    e["timeline_type"] = draw(st.sampled_from(
        [None, "Sms", "Warmup", "Call", "Note", "MMS", "Voicemail", "LeadCreated", "leadcreated"]
    ))  # fmt: skip
    e["traffic_type"] = draw(st.sampled_from(
        [None, "RealLead", "Warmup", "warmup", "Test", "TEST", "FailedAttempt", "SystemInternal"]
    ))  # fmt: skip
    e["is_warmup"] = draw(st.sampled_from([None, True, False]))
    e["is_demo"] = draw(st.sampled_from([None, True, False, False]))
    e["retry_count"] = draw(st.one_of(st.none(), st.integers(-2, 6)))  # null, negative: invalid
    e["billable_amount"] = draw(st.one_of(
        st.none(),
        st.decimals(min_value=-5, max_value=10**6, places=6, allow_nan=False, allow_infinity=False),
    ))  # fmt: skip
    e["billing_status"] = draw(st.sampled_from(
        [None, "Billed", "NotBilled", "Pending", "BILLED", "pending", "Refunded", "refund", "Void"]
    ))  # fmt: skip
    e["campaign_id"] = draw(st.sampled_from([None, "c1", "c2"]))
    e["source_id"] = draw(st.sampled_from([None, "s1", "s2"]))
    # engagement: a few leads, opt-out signals (and near misses), lead creations
    e["lead_id"] = draw(st.sampled_from([None, "l1", "l2", "l3"]))
    e["status"] = draw(st.sampled_from([None, "Opted out", "OPTED OUT", "Opted  out", "Delivered"]))
    e["compliance_action"] = draw(st.sampled_from(
        [None, "OptOutRecorded", "OptOutSuppressed", "OptOutFooterAppended", "optoutrecorded"]
    ))  # fmt: skip
    e["cancel_reason"] = draw(st.sampled_from([None, "LeadOptedOut", "CampaignPaused"]))
    if draw(st.booleans()):  # replies and first messages close to a delivery
        e["created_at"] = base + timedelta(microseconds=draw(st.integers(-(10**7), 10**8)))
    return e


params = st.fixed_dictionaries(
    {
        "by": st.sampled_from([(), ("campaign_id",), ("billing_status", "campaign_id")]),
        "every": st.sampled_from([None, "day", "week", "month"]),
        "time_zone": st.sampled_from(ZONES),
        "include_warmup": st.booleans(),
        "include_test": st.booleans(),
        "include_demo": st.booleans(),
        "receipt_timeout": st.sampled_from(
            [DAY, timedelta(0), timedelta(hours=1), timedelta(microseconds=1), timedelta(days=3)]
        ),
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
        o = ref_outcome(e, as_of)
        assert row["outcome"] == o
        assert row["is_outbound"] == (o not in (None, "inbound"))
        assert row["is_countable_traffic"] == ref_countable(e, False, False, False)
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
    # in scope, and the delivery and billing totals agree on "Delivered"
    exact = sum((e["billable_amount"] for e in events
                 if e["billable_amount"] is not None and p.countable(e)), Decimal(0))  # fmt: skip
    assert s.billing_total["n_delivered"].item() == s.delivery["n_delivered"].sum()
    assert s.billing_total["total_amount"].item() == exact
    assert sum(s.billing["total_amount"].to_list(), Decimal(0)) == exact
    for frame in (s.delivery, s.retry, s.billing, s.billing_total, s.latency, s.outcomes):
        assert (frame["n_used"] + frame["n_excluded"] == frame["n_events"]).all()


@SETTINGS
@given(
    st.lists(event(), max_size=40),
    params,
    st.sampled_from(["channel", "billing_state", None]),
)
def test_billing_breakdown_matches_the_reference(
    events: list[Event], kw: dict[str, Any], split: Any
) -> None:
    df = build(events)
    p = Params(**kw)
    grouping = {k: kw[k] for k in ("by", "every", "time_zone")}
    traffic = {k: kw[k] for k in ("include_warmup", "include_test", "include_demo")}
    out = m.billing_breakdown(df, split=split, cost_scale=kw["cost_scale"], **grouping, **traffic)
    keys = [*(["period"] if p.every else []), *p.by, *([split] if split else [])]
    assert_same(keyed(out, keys), ref_billing_breakdown(events, p, split, p.by), "breakdown")
    lazy = m.billing_breakdown(
        df.lazy(), split=split, cost_scale=kw["cost_scale"], **grouping, **traffic
    )
    assert lazy.collect().equals(out)
    # the groups foot to the total, exactly, and the total to the inputs
    whole = m.billing_breakdown(df, split=None, **traffic).row(0, named=True)
    for col in ("gross_amount", "refunded_amount", "net_amount", "total_amount"):
        assert sum(out[col].to_list(), Decimal(0)) == whole[col], col
    scoped = [e["billable_amount"] for e in events
              if p.countable(e) and e["billable_amount"] is not None]  # fmt: skip
    assert whole["total_amount"] == sum(scoped, Decimal(0))
    assert whole["gross_amount"] == sum((a for a in scoped if a >= 0), Decimal(0))


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
    traffic = {k: kw[k] for k in ("include_warmup", "include_test", "include_demo")}
    clock = {k: kw[k] for k in ("as_of", "receipt_timeout")}
    for fn in (m.delivery_summary, m.outcome_counts, m.retry_summary, m.retry_distribution):
        eager = fn(df, **grouping, **traffic, **clock)
        assert eager.equals(fn(df.lazy(), **grouping, **traffic, **clock).collect())
    eager = m.latency_summary(df, **grouping, **traffic)
    assert eager.equals(m.latency_summary(df.lazy(), **grouping, **traffic).collect())
    bill = m.billing_summary(df, **grouping, **traffic, cost_scale=kw["cost_scale"])
    assert bill.equals(
        m.billing_summary(df.lazy(), **grouping, **traffic, cost_scale=kw["cost_scale"]).collect()
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


engagement_params = st.fixed_dictionaries(
    {
        "by": st.sampled_from(
            [(), ("campaign_id",), ("billing_status", "campaign_id"), ("source_id",)]
        ),
        "every": st.sampled_from([None, "day", "week", "month"]),
        "time_zone": st.sampled_from(ZONES),
        "include_warmup": st.booleans(),
        "include_test": st.booleans(),
        "include_demo": st.booleans(),
    }
)


def engagement_p(kw: dict[str, Any]) -> Params:
    kw = {"include_demo": False, "receipt_timeout": DAY, **kw}
    return Params(**kw, billing_by=(), cost_scale=4, as_of=BASES[0])


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
    engagement_params,
    st.integers(1, 10**8).map(lambda us: timedelta(microseconds=us)),
    st.integers(0, 10**8).map(lambda us: timedelta(microseconds=us)),
    st.booleans(),
)
def test_engagement_matches_the_reference(
    events: list[Event], kw: dict[str, Any], window: timedelta, within: timedelta, lazy: bool
) -> None:
    df = build(events)
    src: pl.DataFrame | pl.LazyFrame = df.lazy() if lazy else df
    p = engagement_p(kw)
    keys = (["period"] if p.every else []) + list(p.by)

    def run(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        return frame.collect() if isinstance(frame, pl.LazyFrame) else frame

    reply = run(m.reply_summary(src, **kw, reply_window=window))
    assert_same(keyed(reply, keys), ref_reply(events, p, window), "reply")
    opt = run(m.opt_out_summary(src, **kw))
    assert_same(keyed(opt, keys), ref_opt_out(events, p), "opt-out")
    speed = run(m.speed_to_lead_summary(src, **kw, within=within))
    assert_same(keyed(speed, keys), ref_speed(events, p, within), "speed to lead")
    for frame in (reply, opt, speed):
        assert (frame["n_used"] + frame["n_excluded"] == frame["n_events"]).all()


@SETTINGS
@given(
    st.lists(event(), max_size=40),
    st.sampled_from([("campaign_id",), ("billing_status", "campaign_id"), ("source_id",)]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(1, 4),
    st.integers(0, 10**11).map(lambda us: timedelta(microseconds=us)),
)
def test_ranking_matches_the_reference(
    events: list[Event],
    by: tuple[str, ...],
    warm: bool,
    test: bool,
    demo: bool,
    min_volume: int,
    timeout: timedelta,
) -> None:
    kw = {"by": by, "every": None, "time_zone": "UTC", "include_warmup": warm,
          "include_test": test, "include_demo": demo, "receipt_timeout": timeout}  # fmt: skip
    p = engagement_p(kw)
    got = m.delivery_ranking(build(events), by=by, min_volume=min_volume, include_warmup=warm,
                             include_test=test, include_demo=demo, as_of=BASES[0],
                             receipt_timeout=timeout)  # fmt: skip
    want = ref_ranking(events, p, min_volume)
    assert [tuple(r[c] for c in by) for r in got.iter_rows(named=True)] == [k for k, _ in want]
    assert_same(keyed(got, list(by)), dict(want), "ranking")


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
