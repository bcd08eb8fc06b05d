"""``AsyncEventSearch``: a deferred search of one lead's events, and its one cap loop.

Nothing is sent until it is iterated. :meth:`AsyncEventSearch._capped` pages the lead's
chain (:func:`~leadping_nb._client.paging._paginate`) up to the client-side caps
``max_pages`` / ``max_events``; :meth:`~AsyncEventSearch.pages` (typed pages) and
:meth:`~AsyncEventSearch._parsed_pages` (parsed pages, typed later in batches by
``fetch_events``) both go through it. The search needs only a connection from its client
(:class:`_Connection`: the HTTP session and the item keys learned so far), so it depends on
no client module.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Protocol
from urllib.parse import quote

import polars as pl

from leadping_nb._client.fetch import _assemble, _head
from leadping_nb._client.paging import C, ChainPage, _paginate, _restart_once
from leadping_nb._client.types import Page
from leadping_nb._core.errors import ApiError
from leadping_nb._frame.decode import (
    DecodedPage,
    MalformedPageError,
    ParsedPage,
    decode_page,
    parse_page,
)
from leadping_nb._frame.raw import ReadKeys
from leadping_nb._http.query import EventQuery
from leadping_nb._http.transport import HttpSession


class _Connection(Protocol):
    """What a search needs from its client (:class:`~leadping_nb.AsyncClient` is one)."""

    _read_keys: ReadKeys

    async def _session(self) -> HttpSession: ...


__all__ = ["AsyncEventSearch"]


class AsyncEventSearch:
    """A deferred search of one lead's events: nothing is sent until you iterate.

    Create it with :meth:`AsyncClient.events`. ``pages()`` is the paging loop; ``items()``,
    ``frame()`` and ``count()`` build on it.
    """

    def __init__(
        self,
        client: _Connection,
        lead_id: str,
        query: EventQuery,
        *,
        max_pages: int | None,
        max_events: int | None,
        lenient: bool,
        keep_unknown: bool,
    ) -> None:
        self._client = client
        self.lead_id = lead_id
        self.query = query
        self.max_pages = max_pages
        self.max_events = max_events
        self.lenient = lenient
        self.keep_unknown = keep_unknown
        #: False after iteration stopped because of ``max_pages`` / ``max_events``.
        self.complete = True

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(lead_id={self.lead_id!r}, query={self.query!r}, "
            f"max_pages={self.max_pages}, max_events={self.max_events})"
        )

    def _path(self) -> str:
        return "/events/leads/" + quote(self.lead_id, safe="")

    def _decode(self, raw: bytes, number: int) -> DecodedPage:
        return decode_page(
            raw,
            lead_id=self.lead_id,
            page=number,
            lenient=self.lenient,
            keep_unknown=self.keep_unknown,
        )

    async def _capped(
        self,
        decode: Callable[[bytes, int], C],
        cut: Callable[[C, int], C] | None,
        slots: asyncio.Semaphore | None = None,
    ) -> AsyncGenerator[ChainPage[C], None]:
        """The one cap loop: the pages of :func:`_paginate` up to ``max_pages`` /
        ``max_events``, setting :attr:`complete` (False when a cap stopped a chain that
        had more). The page where ``max_events`` is reached is passed through
        ``cut(page, keep)`` when given (else the conversion cuts it later)."""
        session = await self._client._session()
        self.complete = True
        events = 0
        agen = _paginate(
            session, self._path(), self.query.to_body, decode, lead_id=self.lead_id, slots=slots
        )
        try:
            async for got in agen:
                n, more = got.decoded.n_items, bool(got.decoded.token)
                last = self.max_events is not None and events + n >= self.max_events
                if last:
                    assert self.max_events is not None
                    keep = self.max_events - events
                    if keep < n or more:
                        self.complete = False
                    if cut is not None:
                        got = dataclasses.replace(got, decoded=cut(got.decoded, keep))
                    n = keep
                elif self.max_pages is not None and got.number >= self.max_pages:
                    last = True
                    if more:
                        self.complete = False
                events += n
                yield got
                if last:
                    return
        finally:
            await agen.aclose()

    async def pages(self) -> AsyncGenerator[Page, None]:
        """Yield the lead's pages in order, following continuation tokens.

        Stops on a null or empty token, or at ``max_pages`` / ``max_events`` (then
        :attr:`complete` is False). Raises :class:`~leadping_nb.PaginationError` when a
        token repeats.
        """
        async with contextlib.aclosing(self._capped(self._decode, _head)) as chain:
            async for got in chain:
                yield Page(
                    self.lead_id,
                    got.number,
                    got.decoded,
                    got.raw,
                    got.request_token,
                    got.attempts,
                    got.elapsed,
                )

    def _parse(self, raw: bytes, number: int) -> ParsedPage:
        return parse_page(
            raw,
            lead_id=self.lead_id,
            page=number,
            lenient=self.lenient,
            keep_unknown=self.keep_unknown,
            hint=self._client._read_keys,
        )

    def _parsed_pages(
        self, slots: asyncio.Semaphore | None = None
    ) -> AsyncGenerator[ChainPage[ParsedPage], None]:
        """Like :meth:`pages`, but each page is only parsed and checked (token, complete
        JSON); the typed conversion (and the ``max_events`` cut) is left to
        :func:`_assemble`, many pages at a time. ``slots`` bounds the requests in flight
        across the leads of one fetch."""
        return self._capped(self._parse, None, slots)

    async def items(self) -> AsyncIterator[dict[str, Any]]:
        """Yield the raw items (dicts, money as ``Decimal``) across all pages."""
        async for page in self.pages():
            for item in page.items[: page.decoded.n_items]:
                yield item

    async def frame(self) -> pl.DataFrame:
        """All the lead's events as one typed frame (duplicates across pages dropped).

        When the continuation token expires mid-way, the lead is fetched again from the
        first page, once.
        """
        parsed: list[ParsedPage] = []
        async with contextlib.aclosing(_restart_once(self._parsed_pages, parsed.clear)) as pages:
            async for page in pages:
                parsed.append(page.decoded)
        frame, _report, _dups = await asyncio.to_thread(
            _assemble, parsed, self.lead_id, self.max_events
        )
        return frame

    async def count(self) -> int:
        """The number of matching events, from the server's ``totalCount`` (one request)."""
        session = await self._client._session()
        q = self.query
        body = EventQuery(
            page_size=1,
            include_count=True,
            search=q.search,
            search_fields=q.search_fields,
            filters=q.filters,
            range_filters=q.range_filters,
        ).to_body()
        _result, decoded = await session.request(
            "POST",
            self._path(),
            json_body=body,
            lead_id=self.lead_id,
            page=1,
            decode=lambda raw: self._decode(raw, 1),
            retryable_decode_errors=(MalformedPageError,),
        )
        assert decoded is not None
        if decoded.total_count is None:
            raise ApiError(
                "the server did not return totalCount although includeCount was sent",
                lead_id=self.lead_id,
                page=1,
            )
        return decoded.total_count
