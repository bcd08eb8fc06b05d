"""Shared helpers of the emulator tests: request plumbing and an independent brute-force
reference of the body semantics (written against the JSON items, not the emulator's code)."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from leadping_nb._core.schema import field_by_name
from leadping_nb._http.wire import WireRequest, WireResponse
from leadping_nb.emulator import EMULATOR_API_KEY, Emulator

AUTH = {"authorization": f"Bearer {EMULATOR_API_KEY}", "content-type": "application/json"}


def post(
    emu: Emulator, path: str, body: Any, headers: dict[str, str] | None = None
) -> WireResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    if headers is None:
        headers = AUTH
    elif "content-type" not in headers:
        headers = {**headers, "content-type": "application/json"}
    return emu.handle(WireRequest("POST", path, headers, raw))


def post_json(emu: Emulator, path: str, body: Any) -> tuple[int, Any]:
    r = post(emu, path, body)
    return r.status, json.loads(r.body)


def page_all(
    emu: Emulator, lead: str, body: dict[str, Any], *, max_pages: int = 10_000
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow continuation tokens; return (all items, all envelopes)."""
    items: list[dict[str, Any]] = []
    envelopes: list[dict[str, Any]] = []
    token = None
    for _ in range(max_pages):
        req = dict(body)
        if token is not None:
            req["continuationToken"] = token
        status, env = post_json(emu, f"/events/leads/{lead}", req)
        assert status == 200, env
        envelopes.append(env)
        items.extend(env["items"])
        token = env["continuationToken"]
        if token is None:
            return items, envelopes
    raise AssertionError("paging did not end")


# ---- independent value parsing -------------------------------------------------------


def ts_ticks(text: str) -> int:
    """Ticks (100 ns) of an ISO-8601 string (Z, offset or naive=UTC; any digits)."""
    s = text.strip()
    frac = ""
    tz = "+00:00"
    if s.endswith(("Z", "z")):
        s = s[:-1]
    elif len(s) > 10 and s[-6] in "+-" and s[-3] == ":":
        s, tz = s[:-6], s[-6:]
    if "." in s:
        s, frac = s.split(".", 1)
    if len(s) == 10:
        s += "T00:00:00"
    dt = datetime.fromisoformat(s + tz).astimezone(UTC)
    whole = int((dt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    return whole * 10_000_000 + int((frac + "0000000")[:7])


def kind_of(name: str) -> str:
    f = field_by_name(name)
    if f is None:
        return "string"
    return f.kind


def parse_value(name: str, v: Any) -> Any:
    """A JSON item value (or filter value) as a comparable Python value."""
    if v is None:
        return None
    kind = kind_of(name)
    if kind == "timestamp":
        return ts_ticks(v)
    if kind == "money":
        return Decimal(str(v))
    if kind == "integer":
        return int(v)
    if kind == "boolean":
        return v if isinstance(v, bool) else str(v).lower() == "true"
    return v


_OPS = {
    "greaterThan": lambda a, b: a > b,
    "greaterThanOrEqual": lambda a, b: a >= b,
    "lessThan": lambda a, b: a < b,
    "lessThanOrEqual": lambda a, b: a <= b,
}


def reference(items: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    """What the body should select from ``items`` and in which order (brute force)."""
    out = []
    for it in items:
        ok = True
        for f in body.get("filters") or []:
            if parse_value(f["field"], it.get(f["field"])) != parse_value(f["field"], f["value"]):
                ok = False
        for rf in body.get("rangeFilters") or []:
            v = parse_value(rf["field"], it.get(rf["field"]))
            for op, fn in _OPS.items():
                if rf.get(op) is not None and (
                    v is None or not fn(v, parse_value(rf["field"], rf[op]))
                ):
                    ok = False
        term = body.get("search")
        if term:
            fields = body.get("searchFields") or ["description", "summary"]
            if not any(
                it.get(f) is not None and term.casefold() in it[f].casefold() for f in fields
            ):
                ok = False
        if ok:
            out.append(it)
    order = [
        (o["field"], (o.get("direction") or "asc").lower() == "desc")
        for o in body.get("orderBy") or []
    ]
    if not order:
        order = [("createdAt", False)]
    if "id" not in [f for f, _ in order]:
        order.append(("id", False))

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for name, desc in order:
            x, y = parse_value(name, a.get(name)), parse_value(name, b.get(name))
            if x == y:
                continue
            if x is None:
                c = -1
            elif y is None:
                c = 1
            else:
                c = -1 if x < y else 1
            return -c if desc else c
        return 0

    return sorted(out, key=functools.cmp_to_key(cmp))
