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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from leadping_nb._core.errors import QueryError
from leadping_nb._core.schema import (
    Field,
    field_by_name,
)
from leadping_nb._http.terms import (
    _BOUND_KEYS,
    _BOUNDS,
    _NUMERIC,
    _SEARCHABLE,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_TEXT_LENGTH,
    Filter,
    FiltersLike,
    OrderBy,
    OrdersLike,
    RangeFilter,
    RangesLike,
    _check_page_size,
    _check_text,
    _choices,
    _norm_filters,
    _norm_order,
    _norm_ranges,
    _norm_search_fields,
    _shown,
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

#: ``account_events(since=HISTORY_START, window=WHOLE_HISTORY)`` reads the whole history as
#: one first window, which splits where the events are (the store's first account refresh,
#: the CLI's ``--account`` without ``--since``).
HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)
WHOLE_HISTORY = timedelta(days=366 * 200)
#: The longest lead (or organization) id: it is part of the request line, which servers cap
#: (the emulator answers 414 past 8 KiB, as common front ends do).
MAX_LEAD_ID_LENGTH = 1000


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


def _objects(body: Mapping[str, Any], key: str) -> list[Any]:
    """``body[key]`` as a list of JSON objects (missing or null: empty)."""
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise QueryError(f"{key}: expected a list of objects, got {value!r}", field=key)
    return value


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
