"""``Client`` and ``EventSearch``: the synchronous twins of the async client and search.

:class:`Client` has the same parameters and method names as
:class:`~leadping_nb.AsyncClient` and runs one on a private event-loop thread it owns
(:class:`~leadping_nb._client.loop._LoopThread`), so it works in a plain script and inside a
running Jupyter kernel alike: no ``asyncio.run``, no loop patching (notebook-traps §3.4).
It checks every call's arguments before submitting the checked call to that thread.

The signatures and parameter docs repeat :class:`AsyncClient`'s on purpose (explicit
keyword parameters on both faces); ``tests/test_client.py::
test_the_sync_and_async_clients_take_the_same_parameters`` pins them to each other,
parameter by parameter, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import polars as pl

from leadping_nb._client.account import account_args
from leadping_nb._client.async_client import AsyncClient
from leadping_nb._client.fetch import _FetchArgs, fetch_args
from leadping_nb._client.loop import FetchJob, _LoopThread
from leadping_nb._client.search import AsyncEventSearch
from leadping_nb._client.types import FetchResult, Page, ProgressCallback
from leadping_nb._core.errors import CLOSED_MESSAGE, LeadpingError
from leadping_nb._http.policy import RateLimit, RetryPolicy, Sleep
from leadping_nb._http.query import EventQuery

__all__ = ["Client", "EventSearch"]

T = TypeVar("T")


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
