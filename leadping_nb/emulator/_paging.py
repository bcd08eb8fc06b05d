"""Paging: one page of a query, from the request body to the page's JSON.

Keyset paging on the full sort key with the item id as the final tiebreaker. A token
carries the id of the last item served, so pages stay exact when events are appended or
the clock moves between pages: no item is served twice and no item that existed when the
first page was served is skipped. :meth:`Pager.page` runs the steps in order: parse the
body (400), resume from the token (400), evaluate the query (cached), cut the page (with
the structural paging faults), write the body.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from leadping_nb._core.schema import EVENT_FIELDS
from leadping_nb._http.wire import WireResponse

from ._catalog import S_ID
from ._engine import (
    BodyError,
    FieldSpec,
    ParsedQuery,
    QueryResult,
    parse_body,
    position_after,
    run_query,
)
from ._faults import FaultDecision
from ._inject import FaultInjector
from ._leads import LEAD_FIELDS, LEAD_ID_SLOT, LEAD_SEARCH, LeadTable
from ._problems import JSON_TYPE, json_response, token_problem, validation_problem
from ._render import Renderer
from ._routes import Route, Window
from ._tokens import TokenError, TokenPayload, TokenSigner
from ._world import World

__all__ = ["ItemJson", "Pager", "event_fields"]

#: Rendered items kept (cleared when full): a page is served from the JSON of its items.
_ITEM_CACHE = 200_000
#: Query results kept (least recently used dropped first).
_RESULT_CACHE = 64
_EVENT_SEARCH = ("description", "summary")
_EXPIRED = "The continuation token has expired; restart from the first page."


def event_fields(renderer: Renderer) -> dict[str, FieldSpec]:
    """The fields an event query may filter, search and order by, by API name and by
    column name (the era's fields; the undeclared extras are not queryable)."""
    out: dict[str, FieldSpec] = {}
    for name, slot, kind in renderer.fields:
        if name in ("segmentCount", "carrierName"):
            continue
        f = EVENT_FIELDS[slot]
        out[name] = FieldSpec(name, slot, kind)
        out.setdefault(f.column, FieldSpec(name, slot, kind))
    return out


class ItemJson:
    """Event states as API items in JSON bytes, cached (states are immutable tuples)."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer
        self._cache: dict[Sequence[Any], bytes] = {}

    def __call__(self, row: Sequence[Any]) -> bytes:
        cache = self._cache
        hit = cache.get(row)
        if hit is None:
            if len(cache) >= _ITEM_CACHE:
                cache.clear()
            hit = cache[row] = json.dumps(
                self._renderer.item(row), ensure_ascii=False, separators=(",", ":")
            ).encode()
        return hit


@dataclass(frozen=True)
class _Scope:
    """What one paged query runs over, and what its tokens are bound to."""

    route: Route
    lead_key: str  # the lead (events) or organization (org) id; "*" on the other routes
    index: int | None  # the lead's index in the world (events route; None: unknown lead)
    fingerprint: str  # the query's, plus the window's on the account routes
    id_slot: int


class Pager:
    """Serve pages of lead events, account events and leads.

    Parameters
    ----------
    world, leads, renderer, items
        The data, the lead table, the era's renderer and the item JSON cache.
    signer
        Signs and checks continuation tokens.
    inject
        The emulator's fault injector (structural paging faults, expired tokens).
    clock, token_ttl
        Monotonic clock (seconds) tokens are issued on, and how long they stay valid.
    default_page_size, max_page_size, latency
        As for the emulator (``latency`` in seconds).
    """

    def __init__(
        self,
        *,
        world: World,
        leads: LeadTable,
        renderer: Renderer,
        items: ItemJson,
        signer: TokenSigner,
        inject: FaultInjector,
        clock: Callable[[], float],
        token_ttl: float,
        default_page_size: int,
        max_page_size: int,
        latency: float,
    ) -> None:
        self._world = world
        self._leads = leads
        self._renderer = renderer
        self._items = items
        self._event_fields = event_fields(renderer)
        self._signer = signer
        self._inject = inject
        self._clock = clock
        self._token_ttl = token_ttl
        self._default_page_size = default_page_size
        self._max_page_size = max_page_size
        self._latency = latency
        self._results: OrderedDict[tuple[Any, ...], QueryResult] = OrderedDict()

    def page(
        self, route: Route, raw: bytes, decision: FaultDecision | None, window: Window | None
    ) -> WireResponse:
        """The page a request body asks for (400 as ``ProblemError`` when the body or its
        token is invalid)."""
        q = self._parse(route, raw)
        scope = self._scope(route, q, window)
        after_row, empty_served = self._resume(scope, q, decision)
        result = self._result(scope, q, window)
        page, next_token = self._cut(scope, q, result, after_row, empty_served)
        return self._write(route, q, page, len(result.rows), next_token)

    # ---------------------------------------------------------------- the steps

    def _parse(self, route: Route, raw: bytes) -> ParsedQuery:
        leads = route.name == "leads"
        try:
            return parse_body(
                raw,
                LEAD_FIELDS if leads else self._event_fields,
                id_slot=LEAD_ID_SLOT if leads else S_ID,
                default_page_size=self._default_page_size,
                max_page_size=self._max_page_size,
                default_search=LEAD_SEARCH if leads else _EVENT_SEARCH,
            )
        except BodyError as exc:
            raise validation_problem(exc.errors) from None

    def _scope(self, route: Route, q: ParsedQuery, window: Window | None) -> _Scope:
        lead_key = route.lead if route.name in ("events", "org") else "*"
        assert lead_key is not None
        return _Scope(
            route,
            lead_key,
            self._world.find(lead_key) if route.name == "events" else None,
            q.fingerprint if window is None else f"{q.fingerprint}|{window.key}",
            LEAD_ID_SLOT if route.name == "leads" else S_ID,
        )

    def _resume(
        self, scope: _Scope, q: ParsedQuery, decision: FaultDecision | None
    ) -> tuple[tuple[Any, ...] | None, bool]:
        """Where the token says to go on: the last row served (``None``: from the start)
        and whether the empty-page fault was served at this position already."""
        if q.token is None:
            return None, False
        try:
            payload = self._signer.decode(q.token)
        except TokenError as exc:
            raise token_problem(exc.reason, str(exc)) from None
        if payload.route != scope.route.name or payload.lead != scope.lead_key:
            raise token_problem(
                "mismatch", "The continuation token was issued for another resource."
            )
        if payload.fingerprint != scope.fingerprint:
            raise token_problem(
                "mismatch",
                "The continuation token was issued for a different query "
                "(orderBy, filters, rangeFilters and search must not change while paging).",
            )
        if self._clock() - payload.issued > self._token_ttl:
            raise token_problem("expired", _EXPIRED)
        if self._inject.expires_token(decision):
            raise token_problem("expired", _EXPIRED)
        after_row = None
        if payload.after is not None:
            after_row = self._row_by_id(scope, payload.after)
            if after_row is None:
                raise token_problem("invalid", "The continuation token is invalid.")
        return after_row, payload.empty_served

    def _row_by_id(self, scope: _Scope, item_id: str) -> tuple[Any, ...] | None:
        w = self._world
        if scope.route.name == "events":
            return None if scope.index is None else w.row_by_id(scope.index, item_id)
        if scope.route.name == "leads":
            found = w.find(item_id)
            return None if found is None else self._leads.row_at(found)
        return w.any_row_by_id(item_id)

    def _result(self, scope: _Scope, q: ParsedQuery, window: Window | None) -> QueryResult:
        """The query's full ordered result, cached per world version."""
        w = self._world
        name, index = scope.route.name, scope.index
        if name == "events" and index is None:
            return run_query([], q)
        ck: tuple[Any, ...] = (name, index, scope.fingerprint, w.version)
        res = self._results.get(ck)
        if res is not None:
            self._results.move_to_end(ck)
            return res
        rows: Sequence[tuple[Any, ...]]
        if name == "events":
            assert index is not None
            rows = w.rows(index)
        elif name == "leads":
            rows = self._leads.rows()
        else:
            assert window is not None
            rows = window.select(*w.all_rows())
        res = self._results[ck] = run_query(rows, q)
        while len(self._results) > _RESULT_CACHE:
            self._results.popitem(last=False)
        return res

    def _cut(
        self,
        scope: _Scope,
        q: ParsedQuery,
        result: QueryResult,
        after_row: tuple[Any, ...] | None,
        empty_served: bool,
    ) -> tuple[list[Sequence[Any]], str | None]:
        """The page's rows and its next token, the structural paging faults applied."""
        rows = result.rows
        pos = position_after(result, after_row) if after_row is not None else 0
        size = q.page_size
        inject = self._inject
        faulty = inject.paging_faults(scope.route.fault_lead)
        key, fp = scope.lead_key, scope.fingerprint
        if faulty and not empty_served and pos < len(rows) and inject.empty_page(key, fp, pos):
            after_id = None if after_row is None else after_row[scope.id_slot]
            return [], self._token(scope, after_id, empty=True)
        real = rows[pos : pos + size]
        page = list(real)
        if (
            faulty
            and pos > 0
            and size >= 2
            and pos < len(rows)
            and inject.duplicate_boundary(key, fp, pos)
        ):
            real = rows[pos : pos + size - 1]
            page = [rows[pos - 1], *real]
        end = pos + len(real)
        next_token = self._token(scope, page[-1][scope.id_slot]) if end < len(rows) else None
        if faulty and q.token is not None and inject.repeat_token(q.token, key, fp, pos):
            next_token = q.token
        return page, next_token

    def _token(self, scope: _Scope, after: str | None, *, empty: bool = False) -> str:
        return self._signer.encode(
            TokenPayload(
                scope.route.name, scope.lead_key, scope.fingerprint, after, self._clock(), empty
            )
        )

    def _write(
        self,
        route: Route,
        q: ParsedQuery,
        page: list[Sequence[Any]],
        total: int,
        next_token: str | None,
    ) -> WireResponse:
        r = self._renderer
        rest = {
            "pageSize": r.number(q.page_size),
            "totalCount": r.number(total) if q.include_count else None,
            "continuationToken": next_token,
        }
        if route.name == "leads":
            items = [self._leads.render(x) for x in page]
            return json_response(200, {"items": items, **rest}, self._latency)
        # the body as json.dumps would write it, from each event state's cached JSON, so
        # the server's own work does not add to the latency it emulates
        tail = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))[1:]
        body = b'{"items":[' + b",".join(self._items(x) for x in page) + b"]," + tail.encode()
        return WireResponse(
            status=200, headers=(("content-type", JSON_TYPE),), body=body, delay=self._latency
        )
