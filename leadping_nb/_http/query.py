"""``EventQuery``: the validated, immutable body of ``POST /events/leads/{leadId}`` (no I/O).

Every body field of the seed page is modelled: ``pageSize``, ``orderBy`` (several keys,
asc/desc), ``includeCount``, ``search`` + ``searchFields``, exact ``filters`` and
``rangeFilters``. The continuation token is not part of the query: the paging loop adds
it. Field names are accepted in API camelCase or snake_case and checked against the
declared event schema (:mod:`leadping_nb._core.schema`); every mistake raises
:class:`~leadping_nb.QueryError` naming the field and the valid choices, before any
request is sent.

Page size: the API publishes no default and no maximum. We accept 1-1000; a query that
sets none (``page_size=None``) gets the endpoint's default, resolved in one place,
:meth:`EventQuery.resolved_page_size`: 100 for a lead's events, 1000 for the account
stream. The server may still apply a lower cap (the response's ``pageSize`` says which).

Sizes: a search term and every text value of a filter or bound may hold at most
:data:`MAX_TEXT_LENGTH` (4,096) characters, since the body is sent with every page; a lead
id at most :data:`MAX_LEAD_ID_LENGTH` (1,000) characters (it is part of the request line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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
from leadping_nb._http.wire import QUERY_BODY_FIELDS

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_LEAD_ID_LENGTH",
    "MAX_PAGE_SIZE",
    "MAX_TEXT_LENGTH",
    "EventQuery",
    "Filter",
    "OrderBy",
    "RangeFilter",
    "check_lead_id",
]

#: Our default page size for a lead's events (the API publishes none).
DEFAULT_PAGE_SIZE = 100
#: ``account_events(since=HISTORY_START, window=WHOLE_HISTORY)`` reads the whole history as
#: one first window, which splits where the events are (the store's first account refresh,
#: the CLI's ``--account`` without ``--since``).
HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)
WHOLE_HISTORY = timedelta(days=366 * 200)
#: The largest page size we ask for (the API publishes none; the emulator caps at 1000 too).
MAX_PAGE_SIZE = 1000
#: The longest search term or text value of a filter or bound (the body goes with every page).
MAX_TEXT_LENGTH = 4096
#: The longest lead (or organization) id: it is part of the request line, which servers cap
#: (the emulator answers 414 past 8 KiB, as common front ends do).
MAX_LEAD_ID_LENGTH = 1000

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


@dataclass(frozen=True)
class EventQuery:
    """What to ask ``POST /events/leads/{leadId}`` for: a frozen, hashable value object.

    Loose inputs are normalised in the constructor and every mistake raises
    :class:`~leadping_nb.QueryError` before any request is sent. ``to_body()`` renders the
    seed's camelCase body, omitting what is unset.

    Two queries are equal when they send the same body to a lead's events: an unset page
    size equals ``page_size=100`` there (only the account stream, whose default is 1000,
    tells them apart, through :attr:`page_size`).

    Parameters
    ----------
    page_size
        Items per page, 1-1000. ``None`` (default): the endpoint's default, 100 for a
        lead's events (our choice: the API publishes none), 1000 for the account stream.
    order_by
        Sort keys in priority order: ``"createdAt"``, ``"-createdAt"`` (descending),
        ``"+createdAt"``, ``("createdAt", "desc")``, :class:`OrderBy`, or a mapping
        ``{"createdAt": "desc", "id": "asc"}`` (its order is the priority). One sign at
        most: ``"--createdAt"`` is refused.
    include_count
        Ask the server for ``totalCount``.
    search, search_fields
        A case-insensitive substring searched in the given string fields (at most
        4,096 characters, as every text value of a filter).
    filters
        Exact matches: ``{"eventType": "Sms"}`` or ``[("direction", "Outbound")]``.
    range_filters
        ``{"createdAt": {"ge": start, "lt": end}}`` (keys ``gt``/``ge``/``lt``/``le`` or the
        API's ``greaterThan``/``greaterThanOrEqual``/``lessThan``/``lessThanOrEqual``),
        or :class:`RangeFilter` objects. Timestamps must be time-zone aware.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> q = EventQuery(
    ...     page_size=500,
    ...     order_by=["-created_at"],
    ...     filters={"direction": "Outbound"},
    ...     range_filters={"createdAt": {"ge": datetime(2024, 5, 1, tzinfo=UTC)}},
    ... )
    >>> q.to_body()["rangeFilters"]
    [{'field': 'createdAt', 'greaterThanOrEqual': '2024-05-01T00:00:00Z'}]
    >>> q.to_body()["orderBy"]
    [{'field': 'createdAt', 'direction': 'desc'}]
    >>> EventQuery(page_size=5000)
    Traceback (most recent call last):
    ...
    leadping_nb._core.errors.QueryError: pageSize: 5000 is outside 1-1000 (default 100)
    """

    page_size: int | None = None
    order_by: tuple[OrderBy, ...] = field(default=())
    include_count: bool | None = None
    search: str | None = None
    search_fields: tuple[str, ...] = field(default=())
    filters: tuple[Filter, ...] = field(default=())
    range_filters: tuple[RangeFilter, ...] = field(default=())

    def __init__(
        self,
        page_size: int | None = None,
        order_by: OrdersLike = (),
        include_count: bool | None = None,
        search: str | None = None,
        search_fields: Iterable[str] | str = (),
        filters: FiltersLike = (),
        range_filters: RangesLike = (),
    ) -> None:
        set_ = object.__setattr__
        set_(self, "page_size", None if page_size is None else _check_page_size(page_size))
        set_(self, "order_by", _norm_order(order_by))
        if include_count is not None and not isinstance(include_count, bool):
            raise QueryError(
                f"includeCount: must be True, False or None, got {include_count!r}",
                field="includeCount",
            )
        set_(self, "include_count", include_count)
        if search is not None and not isinstance(search, str):
            raise QueryError(f"search: must be a string, got {search!r}", field="search")
        if search is not None:
            _check_text(search, "search")
        set_(self, "search", search if search else None)
        fields = _norm_search_fields(search_fields)
        set_(self, "search_fields", fields)
        if self.search is not None and not fields:
            raise QueryError(
                "searchFields: a search term needs at least one field to search in. "
                f"Valid search fields: {_choices(_SEARCHABLE)}",
                field="searchFields",
            )
        set_(self, "filters", _norm_filters(filters))
        set_(self, "range_filters", _norm_ranges(range_filters))

    def resolved_page_size(self, default: int = DEFAULT_PAGE_SIZE) -> int:
        """The page size to ask for: the query's own, or the endpoint's ``default``.

        Examples
        --------
        >>> EventQuery().resolved_page_size(), EventQuery().resolved_page_size(1000)
        (100, 1000)
        >>> EventQuery(page_size=100).resolved_page_size(1000)
        100
        """
        return default if self.page_size is None else self.page_size

    def _identity(self) -> tuple[object, ...]:
        return (
            self.resolved_page_size(),
            self.order_by,
            self.include_count,
            self.search,
            self.search_fields,
            self.filters,
            self.range_filters,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventQuery):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def to_body(
        self, continuation_token: str | None = None, *, default_page_size: int = DEFAULT_PAGE_SIZE
    ) -> dict[str, Any]:
        """Render the request body in the API's camelCase, omitting what is unset.

        Parameters
        ----------
        continuation_token
            The token of the previous page, echoed unchanged (the paging loop passes it).
        default_page_size
            The endpoint's page size when the query sets none (:meth:`resolved_page_size`).

        Examples
        --------
        >>> EventQuery().to_body()
        {'pageSize': 100}
        >>> EventQuery(search="stop", search_fields=["summary"]).to_body(continuation_token="t1")
        {'pageSize': 100, 'continuationToken': 't1', 'search': 'stop', 'searchFields': ['summary']}
        """
        body: dict[str, Any] = {"pageSize": self.resolved_page_size(default_page_size)}
        if continuation_token is not None:
            body["continuationToken"] = continuation_token
        if self.order_by:
            body["orderBy"] = [o.to_body() for o in self.order_by]
        if self.include_count is not None:
            body["includeCount"] = self.include_count
        if self.search is not None:
            body["search"] = self.search
        if self.search_fields:
            body["searchFields"] = list(self.search_fields)
        if self.filters:
            body["filters"] = [f.to_body() for f in self.filters]
        if self.range_filters:
            body["rangeFilters"] = [r.to_body() for r in self.range_filters]
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> EventQuery:
        """Parse a camelCase request body back into a query (the inverse of :meth:`to_body`).

        Timestamps are read from ISO-8601 strings, money from numeric strings.

        Examples
        --------
        >>> q = EventQuery(order_by=["-createdAt"], include_count=True)
        >>> EventQuery.from_body(q.to_body()) == q
        True
        """
        if not isinstance(body, Mapping):
            raise QueryError(f"the body must be a JSON object, got {body!r}", field="body")
        known = set(QUERY_BODY_FIELDS)
        extra = sorted(set(body) - known)
        if extra:
            raise QueryError(
                f"unknown body field(s) {extra}; valid: {sorted(known)}", field=extra[0]
            )
        if "pageSize" in body and body["pageSize"] is None:
            raise QueryError(
                f"pageSize: must be an int from 1 to {MAX_PAGE_SIZE}, got None", field="pageSize"
            )
        page_size = body.get("pageSize")
        if isinstance(page_size, str) and re.fullmatch(r"-?(0|[1-9]\d*)", page_size):
            page_size = int(page_size)
        order = [(o.get("field"), o.get("direction") or "asc") for o in _objects(body, "orderBy")]
        filters = []
        for i, raw in enumerate(_objects(body, "filters")):
            name = raw.get("field")
            f = field_by_name(name) if isinstance(name, str) else None
            filters.append((name, _parse_value(f, raw.get("value"), f"filters[{i}].value")))
        ranges = []
        for i, raw in enumerate(_objects(body, "rangeFilters")):
            name = raw.get("field")
            f = field_by_name(name) if isinstance(name, str) else None
            kw: dict[str, Any] = {}
            for attr, key in _BOUNDS:
                if raw.get(key) is not None:
                    kw[attr] = _parse_value(f, raw[key], f"rangeFilters[{i}].{key}")
            ranges.append(RangeFilter(name, **kw))
        return cls(
            page_size=page_size,
            order_by=order,
            include_count=body.get("includeCount"),
            search=body.get("search"),
            search_fields=_search_fields(body.get("searchFields")),
            filters=filters,
            range_filters=ranges,
        )


def _search_fields(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, list | str):
        raise QueryError(
            f"searchFields: expected a list of names, got {value!r}", field="searchFields"
        )
    return value


def _parse_value(f: Field | None, value: Any, where: str) -> Any:
    if f is None or not isinstance(value, str):
        return value
    if f.kind == "timestamp":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise QueryError(f"{where}: not an ISO-8601 timestamp: {value!r}", field=where) from exc
    if f.kind == "money" and _NUMERIC.match(value):
        return Decimal(value)
    return value


def _iterable(value: object, where: str) -> list[Any]:
    if not isinstance(value, Iterable):
        raise QueryError(f"{where}: expected a list, got {value!r}", field=where)
    return list(value)


def _objects(body: Mapping[str, Any], key: str) -> list[Any]:
    """``body[key]`` as a list of JSON objects (missing or null: empty)."""
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise QueryError(f"{key}: expected a list of objects, got {value!r}", field=key)
    return value


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


_BOUND_NAMES = {
    "gt": "gt",
    "ge": "ge",
    "lt": "lt",
    "le": "le",
    "greaterThan": "gt",
    "greaterThanOrEqual": "ge",
    "lessThan": "lt",
    "lessThanOrEqual": "le",
    "greater_than": "gt",
    "greater_than_or_equal": "ge",
    "less_than": "lt",
    "less_than_or_equal": "le",
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


_FORBIDDEN_IN_ID = re.compile(r"[/?#%\s\\]|\.\.|[\x00-\x1f\x7f-\x9f]")


def check_lead_id(lead_id: object) -> str:
    """Validate a lead id before it is put into a request path.

    Lead ids are opaque strings. Empty or blank ids, ``.``, ids longer than 1,000
    characters, ids that are not valid Unicode text (a lone surrogate) and ids containing
    ``/``, ``..``, ``?``, ``#``, ``%``, ``\\``, white space or control characters are
    rejected, so an id can never change the request path nor fail while it is sent.

    Examples
    --------
    >>> check_lead_id("lead_0001")
    'lead_0001'
    >>> check_lead_id("../admin")
    Traceback (most recent call last):
    ...
    leadping_nb._core.errors.QueryError: lead id '../admin' contains '..'; ...
    """
    if not isinstance(lead_id, str):
        shown = repr(lead_id)
        if len(shown) > 60:
            shown = shown[:60] + "..."
        raise QueryError(
            f"lead id must be a string, got {type(lead_id).__name__} {shown}", field="leadId"
        )
    if not lead_id.strip():
        raise QueryError("lead id is empty or blank", field="leadId")
    if len(lead_id) > MAX_LEAD_ID_LENGTH:
        raise QueryError(
            f"lead id {_shown(lead_id, 20)} is longer than {MAX_LEAD_ID_LENGTH:,} characters",
            field="leadId",
        )
    if lead_id == ".":
        raise QueryError(
            "lead id '.' would name the parent path (/events/leads); give a real lead id",
            field="leadId",
        )
    m = _FORBIDDEN_IN_ID.search(lead_id)
    if m:
        raise QueryError(
            f"lead id {_shown(lead_id)} contains {m.group()!r}; lead ids may not contain '/', "
            "'..', '?', '#', '%', '\\', white space or control characters",
            field="leadId",
        )
    try:
        lead_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.start
    else:
        return lead_id
    raise QueryError(
        f"lead id {_shown(lead_id)} is not valid Unicode text (a lone surrogate at "
        f"position {bad}); it cannot be sent",
        field="leadId",
    )


def describe_filters(filters: EventQuery | str | None) -> str:
    """Human-readable text of the filters of an :class:`~leadping_nb.EventQuery`.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> q = EventQuery(filters={"direction": "Outbound"},
    ...                range_filters={"createdAt": {"ge": datetime(2024, 5, 1, tzinfo=UTC)}})
    >>> describe_filters(q)
    'direction = Outbound; createdAt ≥ 2024-05-01T00:00:00Z'
    >>> describe_filters(None)
    'none'
    """
    if filters is None:
        return "none"
    if isinstance(filters, str):
        return filters or "none"
    parts = [f"{f.field} = {f.to_body()['value']}" for f in filters.filters]
    ops = (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))
    for r in filters.range_filters:
        body = r.to_body()
        for attr, sym in ops:
            if getattr(r, attr) is not None:
                parts.append(f"{r.field} {sym} {body[_BOUND_KEYS[attr]]}")
    if filters.search:
        parts.append(f"search {filters.search!r} in {', '.join(filters.search_fields)}")
    return "; ".join(parts) or "none"


_BOUND_KEYS = {
    "gt": "greaterThan",
    "ge": "greaterThanOrEqual",
    "lt": "lessThan",
    "le": "lessThanOrEqual",
}
