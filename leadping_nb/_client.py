"""``Client`` and ``AsyncClient``: deferred event searches, the paging loop, many leads at once.

``AsyncClient`` does the work on the caller's event loop (top-level ``await`` in Jupyter).
``Client`` has the same method names and runs an ``AsyncClient`` on a private event-loop
thread it owns, so it works in a plain script and inside a running Jupyter kernel alike:
no ``asyncio.run``, no loop patching (notebook-traps §3.4). Ctrl-C / a kernel interrupt cancels
the work on that thread and re-raises ``KeyboardInterrupt`` once it has stopped, within
milliseconds (the caller waits in short slices, :func:`_wait`). A closed client raises
:class:`LeadpingError` (:data:`CLOSED_MESSAGE`) from every method.

:meth:`AsyncEventSearch.pages` holds the one paging loop of the package (the lead list of
the lead picker uses the same private generator, :func:`_paginate`).

The values returned (:class:`Page`, :class:`FetchProgress`, :class:`FetchResult`) are defined
in :mod:`leadping_nb._client_types` and re-exported here; the batch conversion, result
assembly and input checks of :meth:`AsyncClient.fetch_events` are in :mod:`leadping_nb._fetch`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import polars as pl

from ._account import _AccountArgs, account_args, fetch_account
from ._client_fanout import FanOut
from ._client_paging import C, ChainPage, _paginate, _restart_once
from ._client_types import FetchProgress, FetchResult, Page
from ._client_types import ProgressCallback as ProgressCallback  # re-exported
from ._errors import ApiError, FetchError, LeadpingError, QueryError
from ._fetch import (
    _LEADS_SCHEMA,
    _assemble,
    _check_cap,
    _check_positive,
    _check_query,
    _decode_leads,
    _FetchArgs,
    _head,
    _result,
    fetch_args,
)
from ._frame import (
    DecodedPage,
    MalformedPageError,
    ParsedPage,
    decode_page,
    parse_page,
)
from ._frame_raw import ReadKeys
from ._http import (
    DEFAULT_BASE_URL,
    HttpSession,
    RateLimit,
    RateLimiter,
    RetryPolicy,
    Sleep,
    check_api_key,
    check_base_url,
    is_wire_handler,
)
from ._query import EventQuery, check_lead_id

__all__ = [
    "AsyncClient",
    "AsyncEventSearch",
    "Client",
    "EventSearch",
    "FetchJob",
    "FetchProgress",
    "FetchResult",
    "Page",
]

T = TypeVar("T")
IN_PROCESS_BASE_URL = "http://emulator.localhost"
#: What every public method of a closed client raises (as a :class:`LeadpingError`).
CLOSED_MESSAGE = "this client is closed; create a new one"
_LEAD_SEARCH_FIELDS = ("firstName", "lastName", "email", "phone")


class AsyncEventSearch:
    """A deferred search of one lead's events: nothing is sent until you iterate.

    Create it with :meth:`AsyncClient.events`. ``pages()`` is the paging loop; ``items()``,
    ``frame()`` and ``count()`` build on it.
    """

    def __init__(
        self,
        client: AsyncClient,
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


class AsyncClient:
    """Asynchronous Leadping client; use with ``async with`` on the loop that runs it.

    Parameters
    ----------
    api_key
        Bearer credential; defaults to the ``LEADPING_API_KEY`` environment variable.
        It never appears in a repr, log line or exception.
    base_url
        API root, default ``https://api.leadping.ai``. ``http://`` only to loopback.
    transport
        An httpx transport or a sans-IO handler such as :class:`~leadping_nb.Emulator`
        (then the default base URL is ``http://emulator.localhost`` and no socket is used).
    timeout
        Per-attempt read timeout in seconds.
    concurrency
        Requests in flight at most (and connection-pool size), default 8.
    rate_limit
        Client-side limit, default Leadping's 300 requests / 60 s; ``None`` disables it.
    retry
        The :class:`~leadping_nb.RetryPolicy`.
    sleep, clock
        Injectable async sleep and monotonic clock (tests, compressed-time benchmarks).

    Examples
    --------
    >>> import asyncio
    >>> from leadping_nb import AsyncClient, Emulator
    >>> async def main():
    ...     emu = Emulator(seed=1, n_leads=3)
    ...     async with emu.async_client() as client:
    ...         return await client.events(emu.lead_ids()[0]).frame()
    >>> asyncio.run(main()).height > 0
    True
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        transport: object | None = None,
        timeout: float = 30.0,
        concurrency: int = 8,
        rate_limit: RateLimit | None = RateLimit(),  # noqa: B008 - frozen value
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if base_url is None:
            base_url = IN_PROCESS_BASE_URL if is_wire_handler(transport) else DEFAULT_BASE_URL
        self.base_url = check_base_url(base_url)
        _check_positive(concurrency, "concurrency")
        if not timeout > 0:
            raise QueryError(f"timeout must be > 0 seconds, got {timeout!r}", field="timeout")
        # a malformed key (control characters, non-ASCII, white space inside, blank) is
        # refused here, before any request, without showing it; an empty environment
        # variable counts as unset (``export LEADPING_API_KEY=``)
        if api_key is not None:
            self.__api_key = check_api_key(api_key, "api_key")
        else:
            env = os.environ.get("LEADPING_API_KEY") or None
            self.__api_key = check_api_key(env, "LEADPING_API_KEY") if env else None
        self._transport = transport
        self.timeout = timeout
        self.concurrency = concurrency
        self.rate_limit = rate_limit
        self.retry = retry
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        self._http: HttpSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        #: The declared item keys this client's pages carry, learned as pages are parsed.
        self._read_keys = ReadKeys()

    def __repr__(self) -> str:
        key = "***" if self.__api_key else None
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key})"

    @property
    def has_api_key(self) -> bool:
        """Whether a key is configured (the key itself is never exposed)."""
        return self.__api_key is not None

    def _check_open(self) -> None:
        if self._closed:
            raise LeadpingError(CLOSED_MESSAGE)

    async def _session(self) -> HttpSession:
        self._check_open()
        loop = asyncio.get_running_loop()
        if self._http is None:
            if self.__api_key is None:
                from ._errors import KEY_HINT, AuthError

                raise AuthError(f"no API key (nothing was sent). {KEY_HINT}")
            limiter = (
                RateLimiter(self.rate_limit, clock=self._clock, sleep=self._sleep)
                if self.rate_limit is not None
                else None
            )
            self._http = HttpSession(
                base_url=self.base_url,
                api_key=self.__api_key,
                transport=self._transport,
                timeout=self.timeout,
                max_connections=self.concurrency,
                limiter=limiter,
                retry=self.retry,
                sleep=self._sleep,
            )
            self._loop = loop
        elif self._loop is not loop:
            raise LeadpingError(
                "this AsyncClient is bound to the event loop it first ran in; create one "
                "client per event loop (or use the synchronous Client)"
            )
        return self._http

    async def __aenter__(self) -> AsyncClient:
        self._check_open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; every later call raises :class:`LeadpingError`.

        Closing again does nothing.
        """
        self._closed = True
        if self._http is not None:
            await self._http.aclose()
            self._http = None
            self._loop = None

    def events(
        self,
        lead_id: str,
        query: EventQuery | None = None,
        *,
        max_pages: int | None = None,
        max_events: int | None = None,
        lenient: bool = False,
        keep_unknown: bool = False,
    ) -> AsyncEventSearch:
        """A deferred search of one lead's events (nothing is sent yet).

        Parameters
        ----------
        lead_id
            The lead; validated now (see :func:`~leadping_nb.check_lead_id`).
        query
            Filters, order and page size; default ``EventQuery()``.
        max_pages, max_events
            Client-side caps, distinct from the page size.
        lenient
            Turn unconvertible values into counted nulls instead of raising SchemaError.
        keep_unknown
            Keep fields the schema does not declare, as text columns.
        """
        self._check_open()
        return AsyncEventSearch(
            self,
            check_lead_id(lead_id),
            _check_query(query),
            max_pages=_check_cap(max_pages, "max_pages"),
            max_events=_check_cap(max_events, "max_events"),
            lenient=lenient,
            keep_unknown=keep_unknown,
        )

    async def fetch_events(
        self,
        lead_ids: Iterable[str],
        query: EventQuery | Mapping[str, EventQuery] | None = None,
        *,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        max_pages: int | None = None,
        max_events: int | None = None,
        lenient: bool = False,
        keep_unknown: bool = False,
    ) -> FetchResult:
        """Fetch every event of many leads concurrently into one typed frame.

        All lead ids are validated before any request. Leads are paged concurrently (at
        most ``concurrency`` requests in flight, within the client's rate limit); pages
        are parsed, and finished leads converted to typed rows in batches, in worker
        threads while other requests are in flight. The frame's rows follow the order of
        ``lead_ids``. A lead that fails (a request, or a value that does not convert) is
        reported in :attr:`FetchResult.status` and :attr:`FetchResult.errors` and never
        costs the others.

        Parameters
        ----------
        lead_ids
            The leads (duplicates are fetched once).
        query
            Applied to every lead, or a mapping lead id -> query (leads missing from the
            mapping use ``EventQuery()``); the store uses this for per-lead watermarks.
        concurrency
            Requests in flight at most; default: the client's.
        on_progress
            Called with a :class:`FetchProgress` after each page and each finished lead (a
            lead whose values then fail to convert is reported once more, with its error).
        max_pages, max_events
            Per-lead caps.
        lenient, keep_unknown
            As for :meth:`events`.
        """
        self._check_open()
        args = fetch_args(
            lead_ids,
            query,
            concurrency=concurrency,
            max_pages=max_pages,
            max_events=max_events,
            default_concurrency=self.concurrency,
        )
        return await self._fetch(args, on_progress, lenient=lenient, keep_unknown=keep_unknown)

    async def _fetch(
        self,
        args: _FetchArgs,
        on_progress: ProgressCallback | None,
        *,
        lenient: bool,
        keep_unknown: bool,
    ) -> FetchResult:
        """:meth:`fetch_events` with its arguments checked (by :func:`fetch_args`, once)."""
        self._check_open()
        await self._session()
        run = FanOut(args.concurrency, on_progress, max_events=args.max_events)
        for lead in args.ids:
            run.add(lead)

        async def one(lead: str) -> None:
            search = AsyncEventSearch(
                self,
                lead,
                args.queries[lead],
                max_pages=args.max_pages,
                max_events=args.max_events,
                lenient=lenient,
                keep_unknown=keep_unknown,
            )
            ok = await run.fetch_unit(
                lead,
                lambda: search._parsed_pages(run.slots),
                wrap=lambda exc: FetchError.wrap(exc, lead_id=lead),
            )
            if ok:
                run.outcomes[lead].complete = search.complete
            run.finish(lead)

        def start() -> None:
            for lead in args.ids:
                run.spawn(one(lead))

        converted = await run.run(start)
        return await asyncio.to_thread(_result, args.ids, run.outcomes, converted)

    async def account_events(
        self,
        query: EventQuery | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        organization_id: str | None = None,
        window: timedelta | None = None,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        lenient: bool = False,
        keep_unknown: bool = False,
    ) -> FetchResult:
        """Fetch every event of the account with ``since <= createdAt < until``, concurrently.

        The organization's events (``POST /events/organizations/{organizationId}``) are
        paged through disjoint half-open time windows ``[a, b)``, many at once (within the
        client's rate limit, at most ``concurrency`` requests in flight); a window whose
        first page (``includeCount``) says it is large is split further, so one busy day is
        not one long chain (see :mod:`leadping_nb._account`). Events are de-duplicated by id
        across windows and pages. A window that fails never costs the others, and its
        partial pages are not in the frame: then :attr:`FetchResult.ok` is False,
        :attr:`FetchResult.failed` lists the window labels and the frame is **incomplete**
        (the ``complete`` column of ``status`` says which windows are whole). An expired
        continuation token restarts that window from its first page, once.

        Parameters
        ----------
        query
            Filters and search applied to every window (default ``EventQuery()``). It must
            not carry ``order_by`` nor a ``createdAt`` range filter (:class:`QueryError`):
            the stream orders by createdAt and manages the createdAt range itself. Page
            size: 1000 unless the query sets one (``EventQuery(page_size=100)`` is 100).
        since, until
            Time-zone aware datetimes (a naive one raises :class:`QueryError` naming the
            parameter, before any request). ``until`` defaults to now, taken once when
            the call starts, so an event arriving during the fetch is either wholly in
            the result or not at all; ``since`` defaults to ``until`` minus 30 days.
            ``since`` must be before ``until``.
        organization_id
            The organization. ``None``: the organization of the caller's first lead
            (``POST /leads/all/my``, one lead); when the caller has no lead, or the lead
            rows carry no organization, the caller's own events (``POST /events/all/my``).
            The ``organization_id`` column of ``status`` says which was used (null: the
            caller's own events).
        window
            The width of the first windows, cut from ``since`` on (the last one ends at
            ``until``). Default: one window, ``[since, until)``, which splits by its first
            page's ``totalCount`` where the events are (every window costs a request even
            when empty, and the rate limit, not latency, bounds a large fetch).
        concurrency
            Requests in flight at most; default: the client's.
        on_progress
            Called with a :class:`FetchProgress` after each page and each finished window,
            its fields read per window: ``leads_total`` / ``leads_done`` /
            ``leads_failed`` count windows (the total grows when a window is split),
            ``lead_id`` is the window label ``start/end``, ``lead_pages`` /
            ``lead_events`` are that window's; a split window finishes after its first
            page.
        lenient, keep_unknown
            As for :meth:`events`.

        Returns
        -------
        FetchResult
            ``frame``: the events, typed, in (``created_at``, ``id``) order. ``status``: a
            row per window, in time order (a split window's sub-windows follow it):
            ``window`` (label ``start/end``, UTC ISO 8601), ``window_start``,
            ``window_end``, ``parent`` (the label of the window it was split from),
            ``ok``, ``pages``, ``events`` (kept in the frame), ``duplicates_dropped``
            (exact copies of an event id the server sent twice), ``overlap_dropped``
            (events of a split's boundary instant read again by design), ``complete``
            (the window and all its sub-windows succeeded), ``split`` (how many
            sub-windows its rest went to; then its pages are its first page only),
            ``total_count`` (the server's count for the window), ``attempts``,
            ``elapsed_s``, ``error_type``, ``error``, ``organization_id``. ``errors``:
            by window label.

        Raises
        ------
        QueryError
            Bad arguments (before any request).
        ApiError
            When looking the organization up fails (a window's failure is in the result).

        Examples
        --------
        >>> import asyncio
        >>> from datetime import UTC, datetime, timedelta
        >>> from leadping_nb import AsyncClient, Emulator
        >>> async def main():
        ...     emu = Emulator(seed=3, n_leads=20)
        ...     until = datetime(2026, 11, 1, tzinfo=UTC)
        ...     async with emu.async_client() as client:
        ...         return await client.account_events(since=until - timedelta(days=7), until=until)
        >>> result = asyncio.run(main())
        >>> result.ok, result.frame["created_at"].is_sorted(), result.status.height
        (True, True, 1)
        """
        self._check_open()
        args = account_args(
            query,
            since=since,
            until=until,
            organization_id=organization_id,
            window=window,
            concurrency=concurrency,
            default_concurrency=self.concurrency,
        )
        return await self._account(args, on_progress, lenient=lenient, keep_unknown=keep_unknown)

    async def _account(
        self,
        args: _AccountArgs,
        on_progress: ProgressCallback | None,
        *,
        lenient: bool,
        keep_unknown: bool,
    ) -> FetchResult:
        """:meth:`account_events` with its arguments checked (by ``account_args``, once)."""
        self._check_open()
        session = await self._session()
        return await fetch_account(
            session,
            self._read_keys,
            args,
            on_progress=on_progress,
            lenient=lenient,
            keep_unknown=keep_unknown,
        )

    async def leads(
        self,
        search: str | None = None,
        *,
        page_size: int = 100,
        max_leads: int | None = 500,
    ) -> pl.DataFrame:
        """List the caller's leads (``POST /leads/all/my``), optionally searched.

        Parameters
        ----------
        search
            Case-insensitive substring over first name, last name, e-mail and phone.
        page_size
            Leads per request.
        max_leads
            Stop after this many (default 500, what a picker can show); ``None``: all.

        Returns
        -------
        polars.DataFrame
            Columns ``id``, ``name``, ``email``, ``phone``, ``status``, ``source``,
            ``created_at`` (UTC), ``organization_id`` (the lead row's ``organization.id``).
        """
        self._check_open()
        EventQuery(page_size=page_size)  # the same page-size rule
        cap = _check_cap(max_leads, "max_leads")
        session = await self._session()
        rows: list[dict[str, Any]] = []

        def body_for(token: str | None) -> dict[str, Any]:
            body: dict[str, Any] = {"pageSize": page_size}
            if token is not None:
                body["continuationToken"] = token
            if search:
                body["search"] = search
                body["searchFields"] = list(_LEAD_SEARCH_FIELDS)
            return body

        agen = _paginate(session, "/leads/all/my", body_for, _decode_leads, lead_id=None)
        try:
            async for page in agen:
                rows.extend(page.decoded.frame.to_dicts())
                if cap is not None and len(rows) >= cap:
                    rows = rows[:cap]
                    break
        finally:
            await agen.aclose()
        return pl.DataFrame(rows, schema=_LEADS_SCHEMA)

    async def lead(self, lead_id: str) -> dict[str, Any]:
        """One lead (``GET /leads/{id}``) as the API's dict."""
        self._check_open()
        lead_id = check_lead_id(lead_id)
        session = await self._session()
        result, _ = await session.request(
            "GET", "/leads/" + quote(lead_id, safe=""), lead_id=lead_id
        )
        data = json.loads(result.content, parse_float=Decimal)
        if not isinstance(data, dict):
            raise ApiError("GET /leads/{id} did not return an object", lead_id=lead_id)
        return data


#: A thread that waits for the loop thread wakes up this often. Python raises
#: KeyboardInterrupt in the main thread only, between bytecodes; polars replaces the
#: C-level SIGINT handler when it is imported, and from then on (polars 2.1) a main thread
#: blocked in an untimed wait saw Ctrl-C or a kernel interrupt only once the wait ended,
#: after the whole fetch (73 s, 159 s), while a wait in slices sees it within milliseconds
#: (tests/reliability/test_reliability_interrupt.py). Waking every 50 ms costs nothing.
_POLL_S = 0.05
#: After Ctrl-C, how long the caller waits for the cancelled work to stop before re-raising
#: (it stops within milliseconds: every await of the work is cancellable).
_STOP_WAIT_S = 2.0


def _wait(event: threading.Event, timeout: float | None = None) -> bool:
    """``event.wait(timeout)`` in slices of :data:`_POLL_S`, so that a KeyboardInterrupt
    pending for the main thread is raised within that time. True once the event is set."""
    end = None if timeout is None else time.monotonic() + timeout
    while not event.is_set():
        left = _POLL_S if end is None else min(_POLL_S, end - time.monotonic())
        if left <= 0:
            return False
        event.wait(left)
    return True


class _LoopThread:
    """A private event loop on a daemon thread, owned by one sync :class:`Client`.

    :meth:`run` waits for a coroutine in a way Ctrl-C interrupts at once (:func:`_wait`);
    the interrupt cancels the coroutine's task and waits until it has stopped.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        #: True once :meth:`close` was called: then nothing more can be submitted.
        self.closed = False
        # the running tasks, held (the loop keeps only weak references to its tasks)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self._run, name="leadping-nb-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _refuse(self, coro: Coroutine[Any, Any, object]) -> None:
        """Raise if ``coro`` cannot be run here (closing it, so it is not left unawaited)."""
        if self.closed:
            coro.close()
            raise LeadpingError(CLOSED_MESSAGE)
        if threading.current_thread() is self._thread:
            coro.close()
            raise LeadpingError("the synchronous Client cannot be used from its own loop thread")

    def submit(
        self, coro: Coroutine[Any, Any, T]
    ) -> tuple[concurrent.futures.Future[T], threading.Event]:
        """Run ``coro`` as a task on the loop.

        Returns its future, whose ``cancel()`` cancels the task, and an event set once the
        task has stopped (finished, failed or cancelled; or never started).
        """
        self._refuse(coro)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        stopped = threading.Event()

        def finish(task: asyncio.Task[T]) -> None:
            self._tasks.discard(task)
            try:
                if task.cancelled():
                    future.cancel()
                elif (exc := task.exception()) is not None:
                    future.set_exception(exc)
                else:
                    future.set_result(task.result())
            except concurrent.futures.InvalidStateError:
                pass  # cancelled by the caller meanwhile
            finally:
                stopped.set()

        def cancel(f: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
            if not f.cancelled():
                return
            if threading.current_thread() is self._thread:
                task.cancel()
            else:
                with contextlib.suppress(RuntimeError):  # the loop is closed already
                    self.loop.call_soon_threadsafe(task.cancel)

        def start() -> None:
            if future.cancelled():  # before it started
                coro.close()
                stopped.set()
                return
            task = self.loop.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(finish)
            future.add_done_callback(lambda f: cancel(f, task))

        self.loop.call_soon_threadsafe(start)
        return future, stopped

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result; Ctrl-C cancels it."""
        future, stopped = self.submit(coro)
        try:
            _wait(stopped)
        except KeyboardInterrupt as exc:
            future.cancel()
            _wait(stopped, _STOP_WAIT_S)
            # the traceback starts here: the frames of the wait (threading's) tell the user
            # nothing, and IPython parses each frame's source file to show it (threading.py
            # alone: ~0.1 s of a kernel interrupt's ~0.25 s)
            raise exc.with_traceback(None) from None
        if future.cancelled() and self.closed:  # closed from another thread meanwhile
            raise LeadpingError(CLOSED_MESSAGE)
        return future.result()

    def close(self, last: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Cancel the tasks still running and wait for them, await ``last()`` (closing the
        connections), shut the worker threads down and stop the loop and its thread.

        Closing again does nothing.
        """
        if self.closed:
            return
        if threading.current_thread() is self._thread:
            raise LeadpingError("the synchronous Client cannot be closed from its own loop thread")
        self.closed = True

        async def shutdown() -> None:
            me = asyncio.current_task()
            others = [t for t in asyncio.all_tasks() if t is not me]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            if last is not None:
                await last()
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        done = threading.Event()
        future = asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        future.add_done_callback(lambda _f: done.set())
        try:
            _wait(done, 10.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()
        if future.done():
            future.result()


class FetchJob:
    """A fetch running in the background (from :meth:`Client.start_fetch`).

    ``cancel()`` really stops it: in-flight requests are cancelled and no task is left.
    Closing the client cancels it too.
    """

    def __init__(self, future: concurrent.futures.Future[FetchResult], done: threading.Event):
        self._future = future
        self._done = done

    def cancel(self, wait: float = 10.0) -> bool:
        """Cancel the fetch and wait (up to ``wait`` seconds) until it has stopped."""
        cancelled = self._future.cancel()
        _wait(self._done, wait)
        return cancelled

    def cancelled(self) -> bool:
        """Whether the fetch was cancelled."""
        return self._future.cancelled()

    def done(self) -> bool:
        """Whether the fetch finished, failed or was cancelled."""
        return self._future.done() and self._done.is_set()

    def result(self, timeout: float | None = None) -> FetchResult:
        """Wait for and return the :class:`FetchResult`.

        Raises ``TimeoutError`` after ``timeout`` seconds (``None``: wait until it ends),
        ``concurrent.futures.CancelledError`` when the fetch was cancelled. Ctrl-C stops
        the waiting, not the fetch (:meth:`cancel` does).
        """
        finished = threading.Event()
        self._future.add_done_callback(lambda _f: finished.set())
        if not _wait(finished, timeout):
            raise TimeoutError(f"the fetch did not end within {timeout} s")
        return self._future.result()

    def add_done_callback(self, fn: Callable[[FetchJob], None]) -> None:
        """Call ``fn(job)`` when the fetch ends (from the client's loop thread)."""
        self._future.add_done_callback(lambda _f: fn(self))


async def _anext(agen: AsyncGenerator[T, None]) -> T:
    return await agen.__anext__()


class EventSearch:
    """Synchronous twin of :class:`AsyncEventSearch` (same method names)."""

    def __init__(self, client: Client, search: AsyncEventSearch) -> None:
        self._client = client
        self._search = search

    @property
    def lead_id(self) -> str:
        """The lead."""
        return self._search.lead_id

    @property
    def query(self) -> EventQuery:
        """The query."""
        return self._search.query

    @property
    def complete(self) -> bool:
        """False after iteration stopped because of a cap."""
        return self._search.complete

    def __repr__(self) -> str:
        return repr(self._search).replace("AsyncEventSearch", "EventSearch", 1)

    def pages(self) -> Iterator[Page]:
        """Yield the lead's pages in order (see :meth:`AsyncEventSearch.pages`)."""
        runner = self._client._runner
        self._client._check_open()
        agen = self._search.pages()
        try:
            while True:
                try:
                    page = runner.run(_anext(agen))
                except StopAsyncIteration:
                    return
                yield page
        finally:
            if not runner.closed:  # else closing the client closed the generator
                runner.run(agen.aclose())

    def items(self) -> Iterator[dict[str, Any]]:
        """Yield the raw items (dicts, money as ``Decimal``) across all pages."""
        for page in self.pages():
            yield from page.items[: page.decoded.n_items]

    def frame(self) -> pl.DataFrame:
        """All the lead's events as one typed frame."""
        return self._client._runner.run(self._search.frame())

    def count(self) -> int:
        """The number of matching events (server ``totalCount``)."""
        return self._client._runner.run(self._search.count())


class Client:
    """Synchronous Leadping client; works in scripts and inside a running Jupyter kernel.

    Same parameters and method names as :class:`AsyncClient`. Work runs on a private
    event-loop thread; Ctrl-C or a kernel interrupt cancels it cleanly.

    Parameters
    ----------
    api_key
        Bearer credential; defaults to the ``LEADPING_API_KEY`` environment variable.
        It never appears in a repr, log line or exception.
    base_url
        API root, default ``https://api.leadping.ai``. ``http://`` only to loopback.
    transport
        An httpx transport or a sans-IO handler such as :class:`~leadping_nb.Emulator`
        (then the default base URL is ``http://emulator.localhost`` and no socket is used).
    timeout
        Per-attempt read timeout in seconds.
    concurrency
        Requests in flight at most (and connection-pool size), default 8.
    rate_limit
        Client-side limit, default Leadping's 300 requests / 60 s; ``None`` disables it.
    retry
        The :class:`~leadping_nb.RetryPolicy`.
    sleep, clock
        Injectable async sleep and monotonic clock (tests, compressed-time benchmarks).

    Examples
    --------
    >>> from leadping_nb import Client, Emulator
    >>> emu = Emulator(seed=7, n_leads=4)
    >>> with emu.client() as client:  # Client(api_key=..., transport=emu)
    ...     result = client.fetch_events(emu.lead_ids())
    >>> result.ok, result.frame["lead_id"].n_unique()
    (True, 4)
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        transport: object | None = None,
        timeout: float = 30.0,
        concurrency: int = 8,
        rate_limit: RateLimit | None = RateLimit(),  # noqa: B008 - frozen value
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._async = AsyncClient(
            api_key,
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            concurrency=concurrency,
            rate_limit=rate_limit,
            retry=retry,
            sleep=sleep,
            clock=clock,
        )
        self._runner = _LoopThread()

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncClient", "Client", 1)

    @property
    def base_url(self) -> str:
        """The API root."""
        return self._async.base_url

    @property
    def has_api_key(self) -> bool:
        """Whether a key is configured."""
        return self._async.has_api_key

    def __enter__(self) -> Client:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._runner.closed:
            raise LeadpingError(CLOSED_MESSAGE)

    def close(self) -> None:
        """Cancel what still runs (background jobs included), close the connections, and
        stop the loop thread and its worker threads.

        Every later call raises :class:`LeadpingError`; closing again does nothing.
        """
        self._runner.close(self._async.aclose)

    def events(
        self,
        lead_id: str,
        query: EventQuery | None = None,
        *,
        max_pages: int | None = None,
        max_events: int | None = None,
        lenient: bool = False,
        keep_unknown: bool = False,
    ) -> EventSearch:
        """A deferred search of one lead's events (see :meth:`AsyncClient.events`)."""
        self._check_open()
        return EventSearch(
            self,
            self._async.events(
                lead_id,
                query,
                max_pages=max_pages,
                max_events=max_events,
                lenient=lenient,
                keep_unknown=keep_unknown,
            ),
        )

    def fetch_events(
        self,
        lead_ids: Iterable[str],
        query: EventQuery | Mapping[str, EventQuery] | None = None,
        *,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        max_pages: int | None = None,
        max_events: int | None = None,
        lenient: bool = False,
        keep_unknown: bool = False,
    ) -> FetchResult:
        """Fetch many leads concurrently into one typed frame (see
        :meth:`AsyncClient.fetch_events`).

        Parameters
        ----------
        lead_ids
            The leads (duplicates are fetched once); all validated before any request.
        query
            Applied to every lead, or a mapping lead id -> query (leads missing from the
            mapping use ``EventQuery()``).
        concurrency
            Requests in flight at most; default: the client's.
        on_progress
            Called with a :class:`FetchProgress` after each page and each finished lead
            (from the client's loop thread).
        max_pages, max_events
            Per-lead caps.
        lenient
            Turn unconvertible values into counted nulls instead of raising SchemaError.
        keep_unknown
            Keep fields the schema does not declare, as text columns.
        """
        self._check_open()
        args = self._fetch_args(lead_ids, query, concurrency, max_pages, max_events)
        return self._runner.run(
            self._async._fetch(args, on_progress, lenient=lenient, keep_unknown=keep_unknown)
        )

    def _fetch_args(
        self,
        lead_ids: Iterable[str],
        query: EventQuery | Mapping[str, EventQuery] | None,
        concurrency: int | None,
        max_pages: int | None,
        max_events: int | None,
    ) -> _FetchArgs:
        return fetch_args(
            lead_ids,
            query,
            concurrency=concurrency,
            max_pages=max_pages,
            max_events=max_events,
            default_concurrency=self._async.concurrency,
        )

    def start_fetch(
        self,
        lead_ids: Iterable[str],
        query: EventQuery | Mapping[str, EventQuery] | None = None,
        *,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        max_pages: int | None = None,
        max_events: int | None = None,
        lenient: bool = False,
        keep_unknown: bool = False,
    ) -> FetchJob:
        """Start :meth:`fetch_events` in the background and return a cancellable job.

        Input is validated now, so a bad id, query, concurrency or cap raises here, before
        any request.

        Parameters
        ----------
        lead_ids
            The leads (duplicates are fetched once); all validated before any request.
        query
            Applied to every lead, or a mapping lead id -> query (leads missing from the
            mapping use ``EventQuery()``).
        concurrency
            Requests in flight at most; default: the client's.
        on_progress
            Called with a :class:`FetchProgress` after each page and each finished lead
            (from the client's loop thread).
        max_pages, max_events
            Per-lead caps.
        lenient
            Turn unconvertible values into counted nulls instead of raising SchemaError.
        keep_unknown
            Keep fields the schema does not declare, as text columns.
        """
        self._check_open()
        args = self._fetch_args(lead_ids, query, concurrency, max_pages, max_events)
        future, done = self._runner.submit(
            self._async._fetch(args, on_progress, lenient=lenient, keep_unknown=keep_unknown)
        )
        return FetchJob(future, done)

    def account_events(
        self,
        query: EventQuery | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        organization_id: str | None = None,
        window: timedelta | None = None,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        lenient: bool = False,
        keep_unknown: bool = False,
    ) -> FetchResult:
        """Fetch every event of the account in ``[since, until)`` concurrently, in windows.

        Same parameters and result as :meth:`AsyncClient.account_events` (arguments are
        checked, and ``until`` defaults to now, here, before any request).

        Examples
        --------
        >>> from datetime import UTC, datetime, timedelta
        >>> from leadping_nb import Client, Emulator
        >>> emu = Emulator(seed=3, n_leads=20)
        >>> until = datetime(2026, 11, 1, tzinfo=UTC)
        >>> with emu.client() as client:
        ...     result = client.account_events(since=until - timedelta(days=7), until=until)
        ...     leads = client.fetch_events(emu.lead_ids())
        >>> in_window = leads.frame.filter(
        ...     (leads.frame["created_at"] >= until - timedelta(days=7))
        ...     & (leads.frame["created_at"] < until)
        ... )
        >>> result.frame.sort("id").equals(in_window.sort("id"))
        True
        """
        self._check_open()
        return self._runner.run(
            self._account_events(
                query,
                since=since,
                until=until,
                organization_id=organization_id,
                window=window,
                concurrency=concurrency,
                on_progress=on_progress,
                lenient=lenient,
                keep_unknown=keep_unknown,
            )
        )

    def start_account_events(
        self,
        query: EventQuery | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        organization_id: str | None = None,
        window: timedelta | None = None,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        lenient: bool = False,
        keep_unknown: bool = False,
    ) -> FetchJob:
        """Start :meth:`account_events` in the background and return a cancellable job.

        Arguments are checked now (and ``until`` taken now), so a bad one raises here,
        before any request.
        """
        self._check_open()
        future, done = self._runner.submit(
            self._account_events(
                query,
                since=since,
                until=until,
                organization_id=organization_id,
                window=window,
                concurrency=concurrency,
                on_progress=on_progress,
                lenient=lenient,
                keep_unknown=keep_unknown,
            )
        )
        return FetchJob(future, done)

    def _account_events(
        self,
        query: EventQuery | None,
        *,
        since: datetime | None,
        until: datetime | None,
        organization_id: str | None,
        window: timedelta | None,
        concurrency: int | None,
        on_progress: ProgressCallback | None,
        lenient: bool,
        keep_unknown: bool,
    ) -> Coroutine[Any, Any, FetchResult]:
        """Check the arguments here (until: now, once) and return the async fetch."""
        args = account_args(
            query,
            since=since,
            until=until,
            organization_id=organization_id,
            window=window,
            concurrency=concurrency,
            default_concurrency=self._async.concurrency,
        )
        return self._async._account(args, on_progress, lenient=lenient, keep_unknown=keep_unknown)

    def leads(
        self,
        search: str | None = None,
        *,
        page_size: int = 100,
        max_leads: int | None = 500,
    ) -> pl.DataFrame:
        """List the caller's leads (see :meth:`AsyncClient.leads`).

        Parameters
        ----------
        search
            Case-insensitive substring over first name, last name, e-mail and phone.
        page_size
            Leads per request.
        max_leads
            Stop after this many (default 500, what a picker can show); ``None``: all.
        """
        self._check_open()
        return self._runner.run(self._async.leads(search, page_size=page_size, max_leads=max_leads))

    def lead(self, lead_id: str) -> dict[str, Any]:
        """One lead as a dict (see :meth:`AsyncClient.lead`)."""
        self._check_open()
        return self._runner.run(self._async.lead(lead_id))
