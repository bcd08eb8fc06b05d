"""The emulator's facade: :class:`Emulator` ties the world to the request semantics.

Each job has its own module, and this one only wires them together and holds the lock:

* :mod:`._routes`: which operation a request asks for, and its line, body and query checks;
* :mod:`._auth`: bearer keys and the per-key and per-address rate limits;
* :mod:`._inject`: the injected faults (:mod:`._faults` draws them);
* :mod:`._paging`: one page of a query, continuation tokens (:mod:`._tokens`) included;
* :mod:`._problems`: the answers (JSON and problem details);
* :mod:`._world`, :mod:`._clock`, :mod:`._leads`: the data, its clock and the lead table.

Order of checks (:meth:`Emulator._answer`): request line (414) -> route (404/405) -> auth
(401, or 429 per client address) -> per-key rate limit (429 + ``Retry-After``) -> injected
transient faults -> body size (413) -> media type (415) -> organization (403) -> query
parameters (400) -> body (400) -> continuation token (400) -> the page.

Unknown leads
-------------
``POST /events/leads/{leadId}`` for a lead id the emulator did not generate answers
**200 with an empty page** (``items: []``, ``continuationToken: null``, ``totalCount: 0``
when asked), like a query over an empty partition: the API declares no 404 for this
operation. Body and token validation still apply. ``GET /leads/{id}`` (which declares a
404) answers 404 for unknown ids.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from leadping_nb._http.policy import RateLimit, RetryPolicy, Sleep
from leadping_nb._http.wire import WireRequest, WireResponse

from ._auth import Gatekeeper
from ._catalog import DEFAULT_NOW, ORGANIZATION, S_CREATED, S_ID
from ._clock import WorldClock, from_ticks, timedelta_ticks
from ._engine import sort_key
from ._faults import FaultConfig
from ._inject import FaultInjector
from ._leads import LeadTable
from ._paging import ItemJson, Pager
from ._problems import ERR, ProblemError, json_response, problem_response
from ._profiles import to_ticks
from ._render import Renderer, format_ticks, quantum_for
from ._routes import MAX_BODY_BYTES, MAX_URL_BYTES, check_body, match_route, parse_window
from ._tokens import TokenSigner
from ._world import World

if TYPE_CHECKING:
    from leadping_nb._client import AsyncClient, Client

__all__ = ["EMULATOR_API_KEY", "EMULATOR_BASE_URL", "MAX_BODY_BYTES", "MAX_URL_BYTES", "Emulator"]

#: The emulator's default API key (not a secret: it only opens the local emulator).
EMULATOR_API_KEY = "lp_emulator_0000"
#: The base URL the convenience clients use with the in-process transport.
EMULATOR_BASE_URL = "http://emulator.localhost"


class Emulator:
    """An offline Leadping API: seeded synthetic lead activity behind the real request semantics.

    Parameters
    ----------
    seed
        Seed of the generated data (same seed, same data).
    n_leads
        How many leads to generate.
    era
        ``"current"`` (today's ``EventTableRow``) or ``"seed"`` (the seed page's 41 fields).
    numbers_as_strings
        Emit ``pageSize``, ``totalCount``, ``retryCount``, ``billableAmount`` (and media
        sizes, lead prices) as strings. ``None``: the era's default (seed: on, current: off).
    fraction_digits
        Fractional-second digits of timestamps: 0, 3 or 7. Data are stored at that
        precision, so filters and order see what clients see.
    extra_fields
        Add fields no schema declares (``segmentCount``, ``carrierName``) to every item.
    api_keys
        Accepted bearer keys.
    rate_limit
        ``(requests, seconds)`` per key (sliding window), or ``None`` for no limit.
    default_page_size, max_page_size
        Page size when none is asked for, and the cap (larger requests are capped).
    latency_ms
        Latency of every answer (``WireResponse.delay``; never slept here). Served over
        HTTP, an answer leaves ``latency_ms`` after its request arrived (handling counts
        towards it); in-process, the transport sleeps it after handling.
    faults
        Injected faults (:class:`FaultConfig`), or ``None``.
    now
        The instant the generated history ends at and the emulator's clock starts from
        (default 2026-11-01T12:00Z). The clock moves with :meth:`advance`, and with
        ``clock_speed``.
    clock
        Monotonic clock (seconds) for the rate limiter, token expiry and ``clock_speed``.
    clock_speed
        World seconds per ``clock`` second: ``0`` (default) keeps the world still between
        :meth:`advance` calls, ``1`` moves it with real time, ``60`` a minute a second.
    token_ttl
        Seconds a continuation token stays valid.
    heavy_leads
        How many leads get thousands of events (default: about 1 in 25, at least 1 when
        ``n_leads >= 5``).
    cache_events
        Bound of the per-lead event cache (events are regenerated on demand beyond it).

    Examples
    --------
    >>> emu = Emulator(seed=1, n_leads=3, heavy_leads=0)
    >>> emu.lead_ids()
    ['lead_0001', 'lead_0002', 'lead_0003']
    >>> first = emu.ground_truth("lead_0001")[0]
    >>> first["timelineType"], first["leadId"]
    ('LeadCreated', 'lead_0001')
    """

    def __init__(
        self,
        seed: int = 0,
        n_leads: int = 50,
        *,
        era: Literal["seed", "current"] = "current",
        numbers_as_strings: bool | None = None,
        fraction_digits: Literal[0, 3, 7] = 3,
        extra_fields: bool = False,
        api_keys: Sequence[str] = (EMULATOR_API_KEY,),
        rate_limit: tuple[int, float] | None = (300, 60.0),
        default_page_size: int = 50,
        max_page_size: int = 1000,
        latency_ms: float = 0.0,
        faults: FaultConfig | None = None,
        now: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
        clock_speed: float = 0.0,
        token_ttl: float = 900.0,
        heavy_leads: int | None = None,
        cache_events: int = 500_000,
    ) -> None:
        if era not in ("seed", "current"):
            raise ValueError(f"era must be 'seed' or 'current', got {era!r}")
        if n_leads < 0:
            raise ValueError("n_leads must be >= 0")
        if not 1 <= default_page_size <= max_page_size:
            raise ValueError("need 1 <= default_page_size <= max_page_size")
        if isinstance(api_keys, str):
            api_keys = (api_keys,)
        self.seed = seed
        self.n_leads = n_leads
        self.era: Literal["seed", "current"] = era
        self.numbers_as_strings = (
            (era == "seed") if numbers_as_strings is None else bool(numbers_as_strings)
        )
        self.fraction_digits = fraction_digits
        self.quantum = quantum_for(fraction_digits)
        self.extra_fields = extra_fields
        self.api_keys = tuple(api_keys)
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.latency = max(0.0, latency_ms) / 1000.0
        self.faults = faults
        self.token_ttl = token_ttl
        start = now or DEFAULT_NOW
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
        self._lock = threading.RLock()
        #: Counts of requests, response statuses (``"200"``, ``"429"``, ...), the rate
        #: limiter's 429s (``"rate_limited"``) and every injected fault by kind
        #: (``"fault_429"``, ``"fault_5xx"``, ``"slow"``, ``"drop"``, ``"truncate"``,
        #: ``"expired_token"``, ``"duplicate_boundary"``, ``"repeat_token"``, ``"empty_page"``).
        self.fault_counts: Counter[str] = Counter()
        self._renderer = Renderer(era, self.numbers_as_strings, fraction_digits, extra_fields)
        self._gate = Gatekeeper(self.api_keys, rate_limit, clock, self.fault_counts)
        self._inject = FaultInjector(faults, self.fault_counts)
        self._world = World(seed, n_leads, heavy_leads, to_ticks(start), self.quantum, cache_events)
        self._clock = WorldClock(self._world, clock, clock_speed)
        self._leads = LeadTable(self._world, self._clock, self.numbers_as_strings, fraction_digits)
        self._items = ItemJson(self._renderer)
        self._pager = Pager(
            world=self._world,
            leads=self._leads,
            renderer=self._renderer,
            items=self._items,
            signer=TokenSigner(seed),
            inject=self._inject,
            clock=clock,
            token_ttl=token_ttl,
            default_page_size=default_page_size,
            max_page_size=max_page_size,
            latency=self.latency,
        )
        self._asgi: Any = None

    @property
    def clock_speed(self) -> float:
        """World seconds per ``clock`` second (``0``: still between :meth:`advance` calls)."""
        return self._clock.speed

    @clock_speed.setter
    def clock_speed(self, speed: float) -> None:
        self._clock.speed = speed

    # ---------------------------------------------------------------- the clock

    @property
    def now(self) -> datetime:
        """The emulator's current instant (UTC): the world is served as it reads then."""
        with self._lock:
            self._clock.sync()
            return from_ticks(self._world.now)

    @property
    def start(self) -> datetime:
        """The instant the generated history ends at (``now`` when the emulator was made)."""
        return from_ticks(self._world.start)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new ``now``.

        The same world, later: events in flight progress (queued messages are sent,
        receipts arrive, failed messages are retried at their ``nextRetryAt``, scheduled
        sends go out, pending charges are billed), existing leads get new events and new
        leads arrive. Advancing in one step or in several gives the same world.

        Examples
        --------
        >>> emu = Emulator(seed=1, n_leads=20, heavy_leads=0)
        >>> before = emu.total_events()
        >>> emu.advance(timedelta(days=2)) - emu.start
        datetime.timedelta(days=2)
        >>> emu.total_events() > before
        True
        """
        if not isinstance(delta, timedelta):
            raise TypeError(f"advance() takes a datetime.timedelta, got {type(delta).__name__}")
        if delta < timedelta(0):
            raise ValueError("the emulator's clock only moves forward")
        with self._lock:
            self._clock.advance(timedelta_ticks(delta))
            return from_ticks(self._world.now)

    # ---------------------------------------------------------------- data access

    def lead_ids(self) -> list[str]:
        """Ids of the leads that exist now (stable per seed; new leads arrive as the clock
        moves).

        Examples
        --------
        >>> Emulator(seed=0, n_leads=2).lead_ids()
        ['lead_0001', 'lead_0002']
        """
        with self._lock:
            self._clock.sync()
            w = self._world
            return [w.profiles[i].id for i in w.lead_indices()]

    def leads(self) -> list[dict[str, Any]]:
        """Every lead as the API renders it (``LeadTableRow``), in id order."""
        with self._lock:
            rows = self._leads.rows()
        return [self._leads.render(r) for r in rows]

    def total_events(self) -> int:
        """How many events exist now (generated, arrived since and appended)."""
        with self._lock:
            self._clock.sync()
            return self._world.total_events()

    def _sorted_rows(self, lead_id: str) -> list[tuple[Any, ...]]:
        self._clock.sync()
        index = self._world.find(lead_id)
        if index is None:
            return []
        key = sort_key(((S_CREATED, False), (S_ID, False)))
        return sorted(self._world.rows(index), key=key)

    def ground_truth(self, lead_id: str) -> list[dict[str, Any]]:
        """Every event of a lead exactly as API items in this era, as they read now (no
        faults, no paging), in the default order (``createdAt`` asc, then id). Unknown
        lead: ``[]``.

        Examples
        --------
        >>> emu = Emulator(seed=1, n_leads=2, heavy_leads=0, era="seed")
        >>> item = emu.ground_truth("lead_0001")[1]
        >>> len(item), item["retryCount"]
        (41, '0')
        """
        with self._lock:
            rows = self._sorted_rows(lead_id)
            return [json.loads(self._items(r)) for r in rows]

    def ground_truth_values(self, lead_id: str) -> list[dict[str, Any]]:
        """Every event of a lead as canonical Python values keyed by snake_case column
        (aware UTC datetimes, 4-place Decimals, ints, bools), as they read now, default
        order."""
        with self._lock:
            rows = self._sorted_rows(lead_id)
        return [self._renderer.values(r) for r in rows]

    def add_events(
        self, lead_id: str, n: int, *, after: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Append ``n`` new, settled events to a lead, created after the current data end.

        The data end is the later of ``now``, every event appended so far and ``after``.
        Returns the new events as API items. Raises ``KeyError`` for an unknown lead.

        Examples
        --------
        >>> emu = Emulator(seed=1, n_leads=2, heavy_leads=0)
        >>> before = emu.total_events()
        >>> new = emu.add_events("lead_0002", 3)
        >>> emu.total_events() - before, new[0]["createdAt"] > "2026-11-01T12:00:00Z"
        (3, True)
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._clock.sync()
            index = self._world.find(lead_id)
            if index is None:
                raise KeyError(f"unknown lead {lead_id!r}")
            rows = self._world.add_events(index, n, None if after is None else to_ticks(after))
        return [json.loads(json.dumps(self._renderer.item(r))) for r in rows]

    # ---------------------------------------------------------------- clients, ASGI

    # client() and async_client() take the clients' keyword parameters but the three that
    # wire them here (api_key, base_url, transport), with the same defaults and annotations:
    # tests/test_client.py pins them to Client / AsyncClient parameter by parameter.

    def client(
        self,
        *,
        timeout: float = 30.0,
        concurrency: int = 8,
        rate_limit: RateLimit | None = RateLimit(),  # noqa: B008 - frozen value
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Client:
        """A :class:`leadping_nb.Client` wired to this emulator in-process (no sockets).

        Parameters
        ----------
        timeout, concurrency, rate_limit, retry, sleep, clock
            As :class:`~leadping_nb.Client`'s (the key, base URL and transport are this
            emulator's).

        Examples
        --------
        >>> emu = Emulator(seed=1, n_leads=2)
        >>> with emu.client(concurrency=2, rate_limit=None) as client:
        ...     client.events(emu.lead_ids()[0]).count() > 0
        True
        """
        from leadping_nb._client import Client

        return Client(
            api_key=EMULATOR_API_KEY,
            base_url=EMULATOR_BASE_URL,
            transport=self,
            timeout=timeout,
            concurrency=concurrency,
            rate_limit=rate_limit,
            retry=retry,
            sleep=sleep,
            clock=clock,
        )

    def async_client(
        self,
        *,
        timeout: float = 30.0,
        concurrency: int = 8,
        rate_limit: RateLimit | None = RateLimit(),  # noqa: B008 - frozen value
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
    ) -> AsyncClient:
        """A :class:`leadping_nb.AsyncClient` wired to this emulator in-process.

        Parameters
        ----------
        timeout, concurrency, rate_limit, retry, sleep, clock
            As :class:`~leadping_nb.AsyncClient`'s (the key, base URL and transport are this
            emulator's).

        Examples
        --------
        >>> import asyncio
        >>> async def count() -> int:
        ...     emu = Emulator(seed=1, n_leads=2)
        ...     async with emu.async_client(concurrency=2) as client:
        ...         return await client.events(emu.lead_ids()[0]).count()
        >>> asyncio.run(count()) > 0
        True
        """
        from leadping_nb._client import AsyncClient

        return AsyncClient(
            api_key=EMULATOR_API_KEY,
            base_url=EMULATOR_BASE_URL,
            transport=self,
            timeout=timeout,
            concurrency=concurrency,
            rate_limit=rate_limit,
            retry=retry,
            sleep=sleep,
            clock=clock,
        )

    @property
    def asgi_app(self) -> Callable[..., Any]:
        """This emulator as an ASGI 3 application (serve it with uvicorn)."""
        if self._asgi is None:
            from ._asgi import make_asgi_app

            self._asgi = make_asgi_app(self)
        return self._asgi  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- request handling

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer one request (sans-IO, thread-safe, never sleeps).

        Latency and slow faults are returned in ``delay`` (seconds) for the I/O side to
        carry out; a dropped connection is ``fault="drop"`` (status 0, empty body).

        Examples
        --------
        >>> emu = Emulator(seed=1, n_leads=2, heavy_leads=0)
        >>> auth = {
        ...     "authorization": f"Bearer {EMULATOR_API_KEY}",
        ...     "content-type": "application/json",
        ... }
        >>> r = emu.handle(WireRequest("POST", "/events/leads/lead_0001", auth, b'{"pageSize": 2}'))
        >>> r.status, len(json.loads(r.body)["items"])
        (200, 2)
        >>> emu.handle(WireRequest("POST", "/events/leads/lead_0001", {}, b"{}")).status
        401
        """
        with self._lock:
            self.fault_counts["requests"] += 1
            try:
                resp = self._answer(request)
            except ProblemError as p:
                resp = problem_response(request, p, self._trace_id(), self.latency)
            if resp.fault == "drop":
                self.fault_counts["drop"] += 1
            else:
                self.fault_counts[str(resp.status)] += 1
            return resp

    def _trace_id(self) -> str:
        n = self.fault_counts["requests"]
        h = hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=24).hexdigest()
        return f"00-{h[:32]}-{h[32:48]}-00"

    def _answer(self, request: WireRequest) -> WireResponse:
        """The checks in the documented order, then the answer (``ProblemError`` when
        refused)."""
        route = match_route(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self._gate.admit(headers, request.client)
        decision = self._inject.draw(route.fault_lead, request.body)
        if decision is not None and decision.drop:
            return WireResponse(status=0, delay=self.latency, fault="drop")
        check_body(route, request.body, headers)
        self._clock.sync()
        if route.name == "lead":
            assert route.lead is not None
            index = self._world.find(route.lead)
            if index is None:
                raise ProblemError(
                    404, f"Lead {route.lead!r} was not found.", type_=ERR + "not-found"
                )
            resp = json_response(200, self._leads.render(self._leads.row_at(index)), self.latency)
        else:
            if route.name == "org" and route.lead != ORGANIZATION[0]:
                raise ProblemError(
                    403,
                    "The caller has no permission for this organization.",
                    type_=ERR + "forbidden",
                )
            window = parse_window(route, request.query) if route.name in ("org", "my") else None
            resp = self._pager.page(route, request.body, decision, window)
        return self._inject.finish(resp, decision)

    def __repr__(self) -> str:
        return (
            f"Emulator(seed={self.seed}, n_leads={self.n_leads}, era={self.era!r}, "
            f"now={format_ticks(self._world.now, 0)}, events={self.total_events()})"
        )
