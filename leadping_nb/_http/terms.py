"""The parts of an events query, checked: field names against the declared schema, typed
values and sizes, and the :class:`OrderBy`, :class:`Filter` and :class:`RangeFilter` values
with their normalisers (what :class:`~leadping_nb._http.query.EventQuery` is built from)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

from leadping_nb._core.errors import QueryError
from leadping_nb._core.schema import (
    EVENT_FIELDS,
    MONEY_PRECISION,
    MONEY_SCALE,
    Field,
    field_by_name,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "MAX_TEXT_LENGTH",
    "Filter",
    "OrderBy",
    "RangeFilter",
]

#: Our default page size for a lead's events (the API publishes none).
DEFAULT_PAGE_SIZE = 100
#: The largest page size we ask for (the API publishes none; the emulator caps at 1000 too).
MAX_PAGE_SIZE = 1000
#: The longest search term or text value of a filter or bound (the body goes with every page).
MAX_TEXT_LENGTH = 4096

Scalar: TypeAlias = str | int | bool | Decimal | datetime
_FILTERABLE = ("string", "enum", "timestamp", "money", "integer", "boolean")
_RANGEABLE = ("timestamp", "money", "integer")
_SEARCHABLE = ("string", "enum")
_ORDERABLE = ("string", "enum", "timestamp", "money", "integer", "boolean")
_BOUNDS = (
    ("gt", "greaterThan"),
    ("ge", "greaterThanOrEqual"),
    ("lt", "lessThan"),
    ("le", "lessThanOrEqual"),
)
_NUMERIC = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _choices(kinds: tuple[str, ...]) -> str:
    names = sorted(f.api for f in EVENT_FIELDS if f.kind in kinds)
    return ", ".join(names)


def _snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _resolve(name: object, kinds: tuple[str, ...], what: str, where: str) -> tuple[str, Field]:
    """Return (api name to send, declared field) or raise QueryError."""
    if not isinstance(name, str) or not name:
        raise QueryError(
            f"{where}: a field name must be a non-empty string, got {name!r}. "
            f"Valid {what} fields: {_choices(kinds)}",
            field=where,
        )
    f = field_by_name(name)
    if f is None:
        raise QueryError(
            f"{where}: unknown field {_shown(name)}. Valid {what} fields: {_choices(kinds)}",
            field=where,
        )
    if f.kind not in kinds:
        raise QueryError(
            f"{where}: field {name!r} is a {f.kind} field and cannot be used for {what}. "
            f"Valid {what} fields: {_choices(kinds)}",
            field=where,
        )
    api = name if name in (f.api, *f.aliases) else _snake_to_camel(name)
    if api not in (f.api, *f.aliases):
        api = f.api
    return api, f


def _shown(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut to ``limit`` characters for a message (a 10 MB value stays out)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def _check_text(value: str, where: str) -> str:
    if len(value) > MAX_TEXT_LENGTH:
        raise QueryError(
            f"{where}: {len(value):,} characters is longer than the {MAX_TEXT_LENGTH:,} "
            "accepted for a search term or a filter value (the body is sent with every page)",
            field=where,
        )
    return value


def _value(f: Field, value: object, where: str) -> Scalar:
    """Check one filter or bound value against the field's declared kind and normalise it."""
    kind = f.kind
    if isinstance(value, str):
        _check_text(value, where)
    if kind == "timestamp":
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise QueryError(
                    f"{where}: naive datetime {value.isoformat()} for {f.api!r}; "
                    "give a time zone, e.g. datetime(..., tzinfo=UTC)",
                    field=where,
                )
            try:
                return value.astimezone(UTC)
            except OverflowError:
                raise QueryError(
                    f"{where}: {value.isoformat()} for {f.api!r} is out of range in UTC",
                    field=where,
                ) from None
        if isinstance(value, date):
            raise QueryError(
                f"{where}: {f.api!r} is a timestamp; a date ({value}) is ambiguous. "
                "Pass an aware datetime (e.g. datetime(2024, 5, 1, tzinfo=UTC))",
                field=where,
            )
        raise QueryError(
            f"{where}: {f.api!r} needs an aware datetime, got {type(value).__name__} {value!r}",
            field=where,
        )
    if kind == "money":
        if isinstance(value, bool | float):
            raise QueryError(
                f"{where}: {f.api!r} is money; pass a Decimal, an int or a numeric string "
                f"(never a float), got {value!r}",
                field=where,
            )
        if isinstance(value, int):
            return _money(Decimal(value), f, where)
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise QueryError(f"{where}: {f.api!r} must be finite, got {value}", field=where)
            return _money(value, f, where)
        if isinstance(value, str) and _NUMERIC.match(value.strip()):
            try:
                return _money(Decimal(value.strip()), f, where)
            except InvalidOperation:  # pragma: no cover - the regex admits only valid text
                pass
        shown = _shown(value) if isinstance(value, str) else repr(value)
        raise QueryError(
            f"{where}: {f.api!r} is money; pass a Decimal, an int or a numeric string, got {shown}",
            field=where,
        )
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            if not -(2**31) <= value < 2**31:
                raise QueryError(f"{where}: {f.api!r} is int32, got {value}", field=where)
            return value
        raise QueryError(f"{where}: {f.api!r} needs an int, got {value!r}", field=where)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise QueryError(f"{where}: {f.api!r} needs True or False, got {value!r}", field=where)
    if isinstance(value, str):
        return value
    raise QueryError(f"{where}: {f.api!r} needs a string, got {value!r}", field=where)


def _money(value: Decimal, f: Field, where: str) -> Decimal:
    """A money value must fit the declared money type (never rounded)."""
    digits = value.normalize().as_tuple()
    exponent = digits.exponent if isinstance(digits.exponent, int) else 0
    places = max(0, -exponent)
    whole = len(digits.digits) + exponent if value else 0
    if places > MONEY_SCALE or whole > MONEY_PRECISION - MONEY_SCALE:
        raise QueryError(
            f"{where}: {f.api!r} is Decimal({MONEY_PRECISION}, {MONEY_SCALE}): at most "
            f"{MONEY_PRECISION - MONEY_SCALE} integer digits and {MONEY_SCALE} decimal places, "
            f"got {value}",
            field=where,
        )
    return value


def _render(value: Scalar) -> Any:
    if isinstance(value, datetime):
        # isoformat, not strftime: years before 1000 keep their four digits
        text = value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()
        if value.microsecond:
            text += f".{value.microsecond:06d}"
        return text + "Z"
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


@dataclass(frozen=True)
class OrderBy:
    """One sort key. ``field`` is the API name; ``descending`` flips the direction.

    Examples
    --------
    >>> OrderBy("createdAt", descending=True).to_body()
    {'field': 'createdAt', 'direction': 'desc'}
    """

    field: str
    descending: bool = False

    def to_body(self) -> dict[str, str]:
        """Render as the API's ``OrderByOption``."""
        return {"field": self.field, "direction": "desc" if self.descending else "asc"}


@dataclass(frozen=True)
class Filter:
    """An exact-match condition: ``field`` equals ``value`` (all filters AND together)."""

    field: str
    value: Scalar

    def to_body(self) -> dict[str, Any]:
        """Render as the API's ``ExactMatchFilter``."""
        return {"field": self.field, "value": _render(self.value)}


@dataclass(frozen=True)
class RangeFilter:
    """A range condition on a timestamp or numeric field; all given bounds AND together.

    Parameters
    ----------
    field
        The API field name.
    gt, ge, lt, le
        Exclusive lower, inclusive lower, exclusive upper and inclusive upper bounds.
    """

    field: str
    gt: Scalar | None = None
    ge: Scalar | None = None
    lt: Scalar | None = None
    le: Scalar | None = None

    def to_body(self) -> dict[str, Any]:
        """Render as the API's ``RangeFilter``, omitting unset bounds."""
        body: dict[str, Any] = {"field": self.field}
        for attr, key in _BOUNDS:
            v = getattr(self, attr)
            if v is not None:
                body[key] = _render(v)
        return body


OrderByLike: TypeAlias = str | OrderBy | tuple[str, str]
OrdersLike: TypeAlias = Iterable[OrderByLike] | OrderByLike | Mapping[str, str]
FiltersLike: TypeAlias = Mapping[str, Any] | Iterable[Filter | tuple[str, Any]]
RangesLike: TypeAlias = Mapping[str, Mapping[str, Any]] | Iterable[RangeFilter]


def _iterable(value: object, where: str) -> list[Any]:
    if not isinstance(value, Iterable):
        raise QueryError(f"{where}: expected a list, got {value!r}", field=where)
    return list(value)


def _check_page_size(page_size: object) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise QueryError(
            f"pageSize: must be an int from 1 to {MAX_PAGE_SIZE}, got {page_size!r}",
            field="pageSize",
        )
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise QueryError(
            f"pageSize: {page_size} is outside 1-{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
            field="pageSize",
        )
    return page_size


_ORDER_FORMS = (
    "'field', '-field' (descending), '+field', ('field', 'asc'|'desc'), OrderBy, "
    "or a mapping {'field': 'asc'|'desc'}"
)


def _norm_order(order_by: OrdersLike) -> tuple[OrderBy, ...]:
    items: Iterable[Any]
    if isinstance(order_by, Mapping):
        # {"createdAt": "desc", "id": "asc"}: the mapping's order is the priority
        items = list(order_by.items())
    elif isinstance(order_by, str | OrderBy) or (
        isinstance(order_by, tuple)
        and len(order_by) == 2
        and isinstance(order_by[1], str)
        and order_by[1].lower() in ("asc", "desc")
    ):
        items = [order_by]
    else:
        items = _iterable(order_by, "orderBy")
    out: list[OrderBy] = []
    for i, item in enumerate(items):
        where = f"orderBy[{i}]"
        if isinstance(item, OrderBy):
            name, desc = item.field, item.descending
        elif isinstance(item, str):
            desc = item.startswith("-")
            name = item[1:] if item[:1] in ("+", "-") else item
            if name[:1] in ("+", "-"):
                raise QueryError(
                    f"{where}: {_shown(item)} has more than one sign; expected {_ORDER_FORMS}",
                    field=where,
                )
        elif isinstance(item, tuple | list) and len(item) == 2:
            name, direction = item
            if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
                raise QueryError(
                    f"{where}.direction: must be 'asc' or 'desc' (any case), got {direction!r} "
                    f"for {name!r}",
                    field=f"{where}.direction",
                )
            desc = direction.lower() == "desc"
        else:
            raise QueryError(f"{where}: expected {_ORDER_FORMS}, got {item!r}", field=where)
        api, _ = _resolve(name, _ORDERABLE, "ordering", f"{where}.field")
        out.append(OrderBy(api, desc))
    seen = [o.field for o in out]
    dup = {n for n in seen if seen.count(n) > 1}
    if dup:
        raise QueryError(f"orderBy: field(s) {sorted(dup)} given more than once", field="orderBy")
    return tuple(out)


def _norm_search_fields(search_fields: Iterable[str] | str) -> tuple[str, ...]:
    items = (
        [search_fields]
        if isinstance(search_fields, str)
        else _iterable(search_fields, "searchFields")
    )
    out = []
    for i, name in enumerate(items):
        api, _ = _resolve(name, _SEARCHABLE, "search", f"searchFields[{i}]")
        if api not in out:
            out.append(api)
    return tuple(out)


def _norm_filters(filters: FiltersLike) -> tuple[Filter, ...]:
    pairs: list[Any]
    pairs = list(filters.items()) if isinstance(filters, Mapping) else _iterable(filters, "filters")
    out = []
    for i, item in enumerate(pairs):
        where = f"filters[{i}]"
        if isinstance(item, Filter):
            name, value = item.field, item.value
        elif isinstance(item, tuple) and len(item) == 2:
            name, value = item
        else:
            raise QueryError(
                f"{where}: expected (field, value) or Filter, got {item!r}", field=where
            )
        api, f = _resolve(name, _FILTERABLE, "filter", f"{where}.field")
        if value is None:
            raise QueryError(f"{where}.value: a filter value cannot be None", field=where)
        out.append(Filter(api, _value(f, value, f"{where}.value")))
    return tuple(out)


#: Every accepted name of a bound -> its short name: ``ge``, ``greaterThanOrEqual`` and
#: ``greater_than_or_equal`` all mean ``ge``.
_BOUND_NAMES = {
    name: short
    for short, api in _BOUNDS
    for name in (short, api, re.sub(r"(?<!^)([A-Z])", r"_\1", api).lower())
}


def _norm_ranges(ranges: RangesLike) -> tuple[RangeFilter, ...]:
    items: list[Any]
    if isinstance(ranges, Mapping):
        items = []
        for name, bounds in ranges.items():
            if not isinstance(bounds, Mapping):
                raise QueryError(
                    f"rangeFilters[{name!r}]: expected a mapping of bounds "
                    f"({', '.join(k for k, _ in _BOUNDS)}), got {bounds!r}",
                    field="rangeFilters",
                )
            kw: dict[str, Any] = {}
            for key, v in bounds.items():
                if key not in _BOUND_NAMES:
                    raise QueryError(
                        f"rangeFilters[{name!r}]: unknown bound {key!r}; valid: "
                        f"gt, ge, lt, le, {', '.join(k for _, k in _BOUNDS)}",
                        field="rangeFilters",
                    )
                kw[_BOUND_NAMES[key]] = v
            items.append(RangeFilter(name, **kw))
    else:
        items = _iterable(ranges, "rangeFilters")
    out = []
    for i, r in enumerate(items):
        where = f"rangeFilters[{i}]"
        if not isinstance(r, RangeFilter):
            raise QueryError(f"{where}: expected a RangeFilter, got {r!r}", field=where)
        api, f = _resolve(r.field, _RANGEABLE, "range", f"{where}.field")
        kw = {}
        for attr, key in _BOUNDS:
            v = getattr(r, attr)
            if v is not None:
                kw[attr] = _value(f, v, f"{where}.{key}")
        if not kw:
            raise QueryError(f"{where}: give at least one bound for {api!r}", field=where)
        if "gt" in kw and "ge" in kw:
            raise QueryError(f"{where}: give gt or ge, not both", field=where)
        if "lt" in kw and "le" in kw:
            raise QueryError(f"{where}: give lt or le, not both", field=where)
        out.append(RangeFilter(api, **kw))
    return tuple(out)


#: The API key of each bound (``ge`` -> ``greaterThanOrEqual``).
_BOUND_KEYS = dict(_BOUNDS)
