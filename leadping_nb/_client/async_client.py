"""``AsyncClient``: the asynchronous client, working on the caller's event loop.

It owns the HTTP session (:class:`~leadping_nb._http.transport.HttpSession`, created on
first use and bound to the loop it first ran in) and offers the calls: :meth:`AsyncClient.events` (a
deferred :class:`~leadping_nb._client.search.AsyncEventSearch`), :meth:`~AsyncClient.fetch_events`
(many leads at once, through :class:`~leadping_nb._client.fanout.FanOut`),
:meth:`~AsyncClient.account_events` (the account stream, :mod:`leadping_nb._client.account`),
:meth:`~AsyncClient.leads` and :meth:`~AsyncClient.lead`. Arguments are checked once, by
the public call, then handed on checked (``_fetch``, ``_account``), which is what the
synchronous :class:`~leadping_nb.Client` calls too.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import polars as pl

from leadping_nb._client.account import _AccountArgs, account_args, fetch_account
from leadping_nb._client.fanout import FanOut
from leadping_nb._client.fetch import (
    _LEADS_SCHEMA,
    _check_cap,
    _check_positive,
    _check_query,
    _decode_leads,
    _FetchArgs,
    _result,
    fetch_args,
)
from leadping_nb._client.paging import _paginate
from leadping_nb._client.search import AsyncEventSearch
from leadping_nb._client.types import FetchResult, ProgressCallback
from leadping_nb._core.errors import (
    CLOSED_MESSAGE,
    KEY_HINT,
    ApiError,
    AuthError,
    FetchError,
    LeadpingError,
    QueryError,
)
from leadping_nb._frame.raw import ReadKeys
from leadping_nb._http.policy import RateLimit, RetryPolicy, Sleep
from leadping_nb._http.query import EventQuery, check_lead_id
from leadping_nb._http.transport import (
    DEFAULT_BASE_URL,
    HttpSession,
    RateLimiter,
    check_api_key,
    check_base_url,
    is_wire_handler,
)

IN_PROCESS_BASE_URL = "http://emulator.localhost"
_LEAD_SEARCH_FIELDS = ("firstName", "lastName", "email", "phone")


__all__ = ["AsyncClient"]


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

    # A long class of short methods: it is the whole public face of the async client (each
    # call's explicit signature and documentation, its argument checks); the work is done in
    # search (one lead), fanout + fetch (many leads) and account (the account stream).

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
        not one long chain (see :mod:`leadping_nb._client.account`). Events are de-duplicated by id
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
