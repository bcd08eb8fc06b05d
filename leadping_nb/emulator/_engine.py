"""Request-body validation and query evaluation (filters, search, order, keyset position).

Body semantics (``RequestDataOptions``), as the emulator implements them:

* ``pageSize``: a JSON integer or an integer string (the seed's ``string<int32>``); absent
  -> the default page size; null (the field is not nullable), below 1 or beyond int32 ->
  400; above the maximum -> capped (the response's ``pageSize`` reports the size applied).
* ``orderBy``: ``[{field, direction}]`` in priority order; ``direction`` is ``asc`` or
  ``desc`` in any letter case (null/absent: ``asc``). Nulls sort first ascending and last
  descending. The event id (ascending) always breaks ties, so every order is total.
  Default order: ``createdAt`` asc, then id.
* ``filters``: exact matches, all ANDed; ``value: null`` matches null; string matches are
  case-sensitive.
* ``rangeFilters``: ``greaterThan``/``greaterThanOrEqual``/``lessThan``/``lessThanOrEqual``,
  all ANDed; a null field never matches a bound. Timestamps take ISO-8601 strings (no zone
  -> UTC), numbers take JSON numbers or numeric strings, strings compare ordinally.
* ``search``: case-insensitive substring, matching when any of ``searchFields`` contains it
  (default fields when none are given: ``description`` and ``summary`` for events).
* Field names: the era's JSON (camelCase) names, or their snake_case columns.
* Any other top-level property, a wrong JSON type, an unknown or unusable field name -> 400
  ``application/problem+json`` with ``errors`` keyed by the JSON path of the offending
  field (``pageSize``, ``filters[0].field``, ...).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from leadping_nb._http.wire import QUERY_BODY_FIELDS

__all__ = [
    "BodyError",
    "FieldSpec",
    "ParsedQuery",
    "parse_body",
    "parse_timestamp",
    "position_after",
    "run_query",
]

INT32_MAX = 2**31 - 1
_INT_RE = re.compile(r"^-?(?:0|[1-9]\d*)$")
_NUM_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_TPS = 10_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TOP_LEVEL_FIELDS = QUERY_BODY_FIELDS
_BOUNDS = ("greaterThan", "greaterThanOrEqual", "lessThan", "lessThanOrEqual")
_SEARCHABLE = ("string", "enum")
_COMPARABLE = ("string", "enum", "timestamp", "money", "integer")
_ORDERABLE = ("string", "enum", "timestamp", "money", "integer", "boolean")


@dataclass(frozen=True)
class FieldSpec:
    """A queryable field: its JSON name, internal slot and kind.

    ``kind`` is one of ``string``, ``enum``, ``timestamp`` (ticks), ``money`` (0.0001
    units), ``integer``, ``boolean``, or ``media``/``object`` (not queryable).
    """

    name: str
    slot: int
    kind: str


class BodyError(Exception):
    """Validation errors, keyed by JSON path (becomes a 400 problem+json)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ParsedQuery:
    """A validated request body."""

    page_size: int
    token: str | None
    include_count: bool
    order: tuple[tuple[int, bool], ...]  # (slot, descending), id tiebreak included
    predicate: Callable[[Sequence[Any]], bool] | None
    fingerprint: str


def parse_timestamp(text: str) -> int:
    """Ticks (100 ns) of an ISO-8601 timestamp; no zone means UTC; > 7 digits truncate.

    Examples
    --------
    >>> parse_timestamp("1970-01-01T00:00:01.5Z")
    15000000
    >>> parse_timestamp("1970-01-01T01:00:00+01:00")
    0
    >>> parse_timestamp("1970-01-02")
    864000000000
    """
    m = _TS_RE.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not an ISO-8601 date-time")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date-time: {exc}") from None
    delta = dt - _EPOCH
    ticks = (delta.days * 86400 + delta.seconds) * _TPS
    if frac:
        ticks += int((frac + "0000000")[:7])
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        hours = int(digits[:2])
        minutes = int(digits[2:4]) if len(digits) > 2 else 0
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text!r} has an invalid UTC offset")
        ticks -= sign * (hours * 3600 + minutes * 60) * _TPS
    return ticks


def convert_value(value: Any, kind: str) -> Any:
    """A JSON value converted to the internal representation of ``kind`` (or ValueError)."""
    if kind in ("string", "enum"):
        if isinstance(value, str):
            return value
        raise ValueError("Expected a string.")
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INT_RE.match(value.strip()):
            return int(value)
        raise ValueError("Expected an integer (a JSON number or an integer string).")
    if kind == "money":
        if isinstance(value, bool):
            raise ValueError("Expected a number.")
        if isinstance(value, int | Decimal):
            d = Decimal(value)
        elif isinstance(value, str) and _NUM_RE.match(value.strip()):
            d = Decimal(value.strip())
        else:
            raise ValueError("Expected a number (a JSON number or a numeric string).")
        if not d.is_finite():  # pragma: no cover - excluded by the regex
            raise ValueError("Expected a finite number.")
        return d.scaleb(4)
    if kind == "timestamp":
        if isinstance(value, str):
            return parse_timestamp(value)
        raise ValueError("Expected an ISO-8601 date-time string.")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("Expected true or false.")
    raise ValueError(f"Fields of kind {kind} cannot be filtered.")  # pragma: no cover


def _canon(v: Any) -> Any:
    if isinstance(v, Decimal):
        return f"D{v.normalize()}"
    return v


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | Decimal):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _load(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise BodyError({"$": ["A non-empty request body is required."]})
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise BodyError({"$": [f"The request body is not valid JSON: {exc}"]}) from None
    if not isinstance(body, dict):
        raise BodyError({"$": [f"Expected a JSON object, got {_type_name(body)}."]})
    return body


def peek_token(raw: bytes) -> str | None:
    """The continuationToken of a body, if it has a usable one (no validation)."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(body, dict):
        tok = body.get("continuationToken")
        if isinstance(tok, str) and tok:
            return tok
    return None


def parse_body(
    raw: bytes,
    fields: Mapping[str, FieldSpec],
    *,
    id_slot: int,
    default_page_size: int,
    max_page_size: int,
    default_search: Sequence[str],
) -> ParsedQuery:
    """Validate a ``RequestDataOptions`` body against a field set.

    Raises
    ------
    BodyError
        With every problem found, keyed by JSON path (in the order the fields are checked:
        unknown keys, ``pageSize``, ``continuationToken``, ``includeCount``, ``orderBy``,
        ``filters``, ``rangeFilters``, ``search`` and ``searchFields``).
    """
    b = _BodyParser(_load(raw), fields)
    b.unknown_keys()
    page_size = b.page_size(default_page_size, max_page_size)
    token = b.token()
    include_count = b.include_count()
    order, order_fp = b.order(id_slot)
    b.filters()
    b.range_filters()
    b.search(default_search)
    if b.errors:
        raise BodyError(b.errors)
    fp_src = json.dumps([order_fp, b.fp_filters], sort_keys=True, default=str)
    fingerprint = hashlib.blake2b(fp_src.encode(), digest_size=8).hexdigest()
    return ParsedQuery(
        page_size=page_size,
        token=token,
        include_count=include_count,
        order=order,
        predicate=_all(b.preds),
        fingerprint=fingerprint,
    )


class _BodyParser:
    """One body's validation: each method checks one field, collecting every problem in
    ``errors`` and every row test in ``preds`` (with its fingerprint in ``fp_filters``)."""

    def __init__(self, body: dict[str, Any], fields: Mapping[str, FieldSpec]) -> None:
        self.body = body
        self.fields = fields
        self.errors: dict[str, list[str]] = {}
        self.preds: list[Callable[[Sequence[Any]], bool]] = []
        self.fp_filters: list[Any] = []

    def err(self, path: str, msg: str) -> None:
        self.errors.setdefault(path, []).append(msg)

    def resolve(self, path: str, name: Any, allowed: Sequence[str], use: str) -> FieldSpec | None:
        if not isinstance(name, str):
            self.err(path, f"Expected a string field name, got {_type_name(name)}.")
            return None
        spec = self.fields.get(name)
        if spec is None:
            self.err(path, f"Unknown field '{name}'.")
            return None
        if spec.kind not in allowed:
            self.err(path, f"Field '{name}' cannot be used {use}.")
            return None
        return spec

    def as_list(self, key: str) -> list[Any]:
        v = self.body.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            self.err(key, f"Expected an array or null, got {_type_name(v)}.")
            return []
        return v

    def unknown_keys(self) -> None:
        for key in self.body:
            if key not in TOP_LEVEL_FIELDS:
                self.err(key, f"Unknown field '{key}'.")

    def page_size(self, default_page_size: int, max_page_size: int) -> int:
        body, err = self.body, self.err
        page_size = default_page_size
        ps = body.get("pageSize")
        if "pageSize" in body and ps is None:
            # the API's pageSize is a non-nullable int32: System.Text.Json refuses null
            err("pageSize", "The JSON value null could not be converted to an integer.")
        if ps is not None:
            n: int | None = None
            if isinstance(ps, int) and not isinstance(ps, bool):
                n = ps
            elif isinstance(ps, str) and _INT_RE.match(ps):
                n = int(ps)
            else:
                err("pageSize", f"Expected an integer (or an integer string), got {ps!r}.")
            if n is not None:
                if n < 1:
                    err("pageSize", f"The page size must be at least 1, got {n}.")
                elif n > INT32_MAX:
                    err("pageSize", f"The page size must be a 32-bit integer, got {n}.")
                else:
                    page_size = min(n, max_page_size)
        return page_size

    def token(self) -> str | None:
        token = self.body.get("continuationToken")
        if token is not None and not isinstance(token, str):
            self.err("continuationToken", f"Expected a string or null, got {_type_name(token)}.")
            token = None
        if token == "":
            token = None
        return token

    def include_count(self) -> bool:
        include_count = self.body.get("includeCount")
        if include_count is not None and not isinstance(include_count, bool):
            self.err(
                "includeCount", f"Expected true, false or null, got {_type_name(include_count)}."
            )
            include_count = None
        return bool(include_count)

    def order(self, id_slot: int) -> tuple[tuple[tuple[int, bool], ...], list[Any]]:
        """The order (``(slot, descending)``, the id tiebreak appended) and its fingerprint."""
        err = self.err
        order: list[tuple[int, bool]] = []
        order_fp: list[Any] = []
        for i, ob in enumerate(self.as_list("orderBy")):
            path = f"orderBy[{i}]"
            if not isinstance(ob, dict):
                err(path, f"Expected an object, got {_type_name(ob)}.")
                continue
            for k in ob:
                if k not in ("field", "direction"):
                    err(f"{path}.{k}", f"Unknown field '{k}'.")
            if "field" not in ob:
                err(f"{path}.field", "A field name is required.")
                continue
            spec = self.resolve(f"{path}.field", ob["field"], _ORDERABLE, "for ordering")
            direction = ob.get("direction")
            desc = False
            if direction is not None:
                if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
                    err(f"{path}.direction", f"Expected 'asc' or 'desc', got {direction!r}.")
                else:
                    desc = direction.lower() == "desc"
            if spec is not None:
                order.append((spec.slot, desc))
                order_fp.append([spec.slot, desc])
        if not order:
            created = self.fields.get("createdAt")
            if created is not None:
                order.append((created.slot, False))
        if all(slot != id_slot for slot, _ in order):
            order.append((id_slot, False))
        return tuple(order), order_fp

    def filters(self) -> None:
        err = self.err
        for i, flt in enumerate(self.as_list("filters")):
            path = f"filters[{i}]"
            if not isinstance(flt, dict):
                err(path, f"Expected an object, got {_type_name(flt)}.")
                continue
            for k in flt:
                if k not in ("field", "value"):
                    err(f"{path}.{k}", f"Unknown field '{k}'.")
            if "field" not in flt:
                err(f"{path}.field", "A field name is required.")
                continue
            spec = self.resolve(f"{path}.field", flt["field"], _ORDERABLE, "in filters")
            if "value" not in flt:
                err(f"{path}.value", "A value is required (use null to match nulls).")
                continue
            if spec is None:
                continue
            raw_v = flt["value"]
            if raw_v is None:
                v = None
            else:
                try:
                    v = convert_value(raw_v, spec.kind)
                except ValueError as exc:
                    err(f"{path}.value", f"{exc} Field '{spec.name}' is {spec.kind}.")
                    continue
            self.preds.append(_eq(spec.slot, v))
            self.fp_filters.append(["eq", spec.slot, _canon(v)])

    def range_filters(self) -> None:
        err = self.err
        for i, rf in enumerate(self.as_list("rangeFilters")):
            path = f"rangeFilters[{i}]"
            if not isinstance(rf, dict):
                err(path, f"Expected an object, got {_type_name(rf)}.")
                continue
            for k in rf:
                if k != "field" and k not in _BOUNDS:
                    err(f"{path}.{k}", f"Unknown field '{k}'.")
            if "field" not in rf:
                err(f"{path}.field", "A field name is required.")
                continue
            spec = self.resolve(f"{path}.field", rf["field"], _COMPARABLE, "in range filters")
            if spec is None:
                continue
            for bound in _BOUNDS:
                raw_b = rf.get(bound)
                if raw_b is None:
                    continue
                try:
                    b = convert_value(raw_b, spec.kind)
                except ValueError as exc:
                    err(f"{path}.{bound}", f"{exc} Field '{spec.name}' is {spec.kind}.")
                    continue
                self.preds.append(_cmp(spec.slot, bound, b))
                self.fp_filters.append([bound, spec.slot, _canon(b)])

    def search(self, default_search: Sequence[str]) -> None:
        search = self.body.get("search")
        if search is not None and not isinstance(search, str):
            self.err("search", f"Expected a string or null, got {_type_name(search)}.")
            search = None
        search_specs: list[FieldSpec] = []
        sf_given = self.body.get("searchFields")
        for i, name in enumerate(self.as_list("searchFields")):
            spec = self.resolve(
                f"searchFields[{i}]", name, _SEARCHABLE, "for search (not a string)"
            )
            if spec is not None:
                search_specs.append(spec)
        if search:
            if not search_specs and not sf_given:
                search_specs = [self.fields[n] for n in default_search]
            term = search.casefold()
            slots = tuple(sorted({s.slot for s in search_specs}))
            self.preds.append(_search(slots, term))
            self.fp_filters.append(["search", list(slots), term])


def _eq(slot: int, v: Any) -> Callable[[Sequence[Any]], bool]:
    if v is None:
        return lambda r: r[slot] is None
    return lambda r: r[slot] is not None and r[slot] == v


def _cmp(slot: int, bound: str, b: Any) -> Callable[[Sequence[Any]], bool]:
    if bound == "greaterThan":
        return lambda r: r[slot] is not None and r[slot] > b
    if bound == "greaterThanOrEqual":
        return lambda r: r[slot] is not None and r[slot] >= b
    if bound == "lessThan":
        return lambda r: r[slot] is not None and r[slot] < b
    return lambda r: r[slot] is not None and r[slot] <= b


def _search(slots: tuple[int, ...], term: str) -> Callable[[Sequence[Any]], bool]:
    def match(r: Sequence[Any]) -> bool:
        for s in slots:
            v = r[s]
            if v is not None and term in v.casefold():
                return True
        return False

    return match


def _all(
    preds: list[Callable[[Sequence[Any]], bool]],
) -> Callable[[Sequence[Any]], bool] | None:
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    return lambda r: all(p(r) for p in preds)


class _Desc:
    """Reverses the order of the wrapped (comparable) value."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.v < self.v)

    def __gt__(self, other: _Desc) -> bool:
        return bool(other.v > self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.v == other.v)

    def __hash__(self) -> int:  # pragma: no cover - never hashed
        return hash(self.v)


def sort_key(order: tuple[tuple[int, bool], ...]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A total-order key: nulls first ascending, last descending; id breaks ties."""

    def key(r: Sequence[Any]) -> tuple[Any, ...]:
        out: list[Any] = []
        for slot, desc in order:
            v = r[slot]
            k = (v is not None, v)
            out.append(_Desc(k) if desc else k)
        return tuple(out)

    return key


@dataclass
class QueryResult:
    """The full ordered result of one query over one lead (or the lead list)."""

    rows: list[Sequence[Any]]
    keys: list[tuple[Any, ...]]
    key: Callable[[Sequence[Any]], tuple[Any, ...]]


def run_query(rows: Sequence[Sequence[Any]], q: ParsedQuery) -> QueryResult:
    """Filter and order rows (the brute force the emulator serves pages from)."""
    pred = q.predicate
    selected = [r for r in rows if pred(r)] if pred is not None else list(rows)
    keyf = sort_key(q.order)
    if len(q.order) == 2 and not (q.order[0][1] or q.order[1][1]):
        # ascending on two never-null slots (createdAt, id: the default order): the same
        # keys as ``keyf`` makes, ten times faster
        a, b = q.order[0][0], q.order[1][0]
        if all(r[a] is not None and r[b] is not None for r in selected):
            keys = [((True, r[a]), (True, r[b])) for r in selected]
        else:
            keys = [keyf(r) for r in selected]
    else:
        keys = [keyf(r) for r in selected]
    idx = sorted(range(len(selected)), key=keys.__getitem__)
    return QueryResult([selected[i] for i in idx], [keys[i] for i in idx], keyf)


def position_after(result: QueryResult, row: Sequence[Any]) -> int:
    """Index of the first result row strictly after ``row`` in the query's order."""
    return bisect.bisect_right(result.keys, result.key(row))
