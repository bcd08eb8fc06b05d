"""The emulator: generated data plus the sans-IO request semantics of the Leadping API.

Routes
------
* ``POST /events/leads/{leadId}``: a lead's events, paged (``RequestDataOptions`` body).
* ``POST /leads/all/my``: the leads (``LeadTableRow``), same body semantics (query
  parameters such as ``archiveFilter`` are accepted and ignored).
* ``GET /leads/{id}``: one lead; ``404`` problem+json when unknown.

Order of checks: route (404/405) -> bearer auth (401 + ``WWW-Authenticate``) -> per-key
rate limit (429 + ``Retry-After``) -> injected transient faults -> body validation (400)
-> continuation token (400) -> the page.

Unknown leads
-------------
``POST /events/leads/{leadId}`` for a lead id the emulator did not generate answers
**200 with an empty page** (``items: []``, ``continuationToken: null``, ``totalCount: 0``
when asked), like a query over an empty partition: the API declares no 404 for this
operation. Body and token validation still apply. ``GET /leads/{id}`` (which declares a
404) answers 404 for unknown ids.

Paging
------
Keyset paging on the full sort key with the event id as a final tiebreaker. A token
carries the id of the last item served, so pages stay exact when events are appended
between pages (:meth:`Emulator.add_events`): no item is served twice and no item that
existed when the first page was served is skipped; in the default order (``createdAt``
asc) appended events come at the end, so the concatenated pages equal the full result.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, unquote

from leadping_nb._schema import EVENT_FIELDS
from leadping_nb._wire import WireRequest, WireResponse

from ._catalog import DEFAULT_NOW, ORGANIZATION, S_CREATED, S_ECAT, S_ID, TAGS, TICKS_PER_SECOND
from ._engine import (
    BodyError,
    FieldSpec,
    ParsedQuery,
    QueryResult,
    parse_body,
    parse_timestamp,
    peek_token,
    position_after,
    run_query,
    sort_key,
)
from ._faults import FaultConfig, FaultDecision, FaultState
from ._profiles import LeadProfile, to_ticks
from ._ratelimit import SlidingWindowLimiter
from ._render import Renderer, format_ticks, money_text, quantum_for
from ._tokens import TokenError, TokenPayload, TokenSigner
from ._world import World

if TYPE_CHECKING:
    from leadping_nb._client import AsyncClient, Client

__all__ = ["EMULATOR_API_KEY", "EMULATOR_BASE_URL", "Emulator"]

#: The emulator's default API key (not a secret: it only opens the local emulator).
EMULATOR_API_KEY = "lp_emulator_0000"
#: The base URL the convenience clients use with the in-process transport.
EMULATOR_BASE_URL = "http://emulator.localhost"

#: Kestrel's default limits: a request body of at most 30,000,000 bytes (413 beyond) and a
#: request line of at most 8 KiB (414 beyond; checked on the path and query here).
MAX_BODY_BYTES = 30_000_000
MAX_URL_BYTES = 8192
#: Rendered items kept (cleared when full): a page is served from the JSON of its items.
_ITEM_CACHE = 200_000
#: The media types the API's request bodies accept (parameters such as charset allowed).
_JSON_TYPES = re.compile(r"^application/(?:json|[\w.+-]+\+json)\s*(?:;.*)?$", re.IGNORECASE)

_RESOURCE_METADATA = "https://api.leadping.ai/.well-known/oauth-protected-resource"
_ERR = "https://leadping.ai/docs/errors/"
_JSON = "application/json; charset=utf-8"
_PROBLEM = "application/problem+json; charset=utf-8"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    429: "Too many requests.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# ---- lead table (LeadTableRow) --------------------------------------------------------

_LEAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "string"),
    ("firstName", "string"),
    ("lastName", "string"),
    ("email", "string"),
    ("phone", "string"),
    ("status", "string"),
    ("statusTone", "string"),
    ("createdAt", "timestamp"),
    ("updatedAt", "timestamp"),
    ("enabled", "boolean"),
    ("isArchived", "boolean"),
    ("archivedAt", "timestamp"),
    ("archiveReason", "integer"),
    ("archivedByUserId", "string"),
    ("assignedToUserId", "string"),
    ("assignedTo", "object"),
    ("organization", "object"),
    ("source", "object"),
    ("currentLeadStatus", "object"),
    ("processingStatus", "string"),
    ("processingStatusChangedAt", "timestamp"),
    ("processingStatusReason", "string"),
    ("price", "money"),
    ("tags", "object"),
    ("avatarUrl", "string"),
    ("phoneIdentityId", "string"),
    ("isDemo", "boolean"),
)
_LEAD_SLOT = {name: i for i, (name, _) in enumerate(_LEAD_COLUMNS)}
# virtual (filter/sort only) fields of nested objects
_LEAD_VIRTUAL = (("source.id", "string"), ("source.name", "string"), ("assignedTo.name", "string"))
for _i, (_name, _) in enumerate(_LEAD_VIRTUAL):
    _LEAD_SLOT[_name] = len(_LEAD_COLUMNS) + _i
LEAD_FIELDS: dict[str, FieldSpec] = {
    name: FieldSpec(name, _LEAD_SLOT[name], kind) for name, kind in _LEAD_COLUMNS + _LEAD_VIRTUAL
}


def _event_fields(renderer: Renderer) -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for name, slot, kind in renderer.fields:
        if name in ("segmentCount", "carrierName"):
            continue
        f = EVENT_FIELDS[slot]
        out[name] = FieldSpec(name, slot, kind)
        out.setdefault(f.column, FieldSpec(name, slot, kind))
    return out


class _ProblemError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str,
        errors: dict[str, list[str]] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type_ = type_
        self.errors = errors
        self.headers = headers
        self.title = title


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
        self._clock = clock
        self._lock = threading.RLock()
        self._renderer = Renderer(era, self.numbers_as_strings, fraction_digits, extra_fields)
        self._event_fields = _event_fields(self._renderer)
        self._limiter = (
            SlidingWindowLimiter(rate_limit[0], rate_limit[1], clock) if rate_limit else None
        )
        self._ip_limiter = (
            SlidingWindowLimiter(rate_limit[0], rate_limit[1], clock) if rate_limit else None
        )
        self._faults = FaultState(faults) if faults is not None else None
        self._signer = TokenSigner(seed)
        #: Counts of requests, response statuses (``"200"``, ``"429"``, ...), the rate
        #: limiter's 429s (``"rate_limited"``) and every injected fault by kind
        #: (``"fault_429"``, ``"fault_5xx"``, ``"slow"``, ``"drop"``, ``"truncate"``,
        #: ``"expired_token"``, ``"duplicate_boundary"``, ``"repeat_token"``, ``"empty_page"``).
        self.fault_counts: Counter[str] = Counter()
        self._world = World(seed, n_leads, heavy_leads, to_ticks(start), self.quantum, cache_events)
        if clock_speed < 0:
            raise ValueError("clock_speed must be >= 0")
        self.clock_speed = clock_speed
        self._clock_origin = clock()
        self._advanced = 0  # ticks moved by advance()
        self._results: OrderedDict[tuple[Any, ...], QueryResult] = OrderedDict()
        self._lead_cache: dict[int, tuple[Any, ...]] = {}
        self._item_cache: dict[Sequence[Any], bytes] = {}
        self._asgi: Any = None

    # ---------------------------------------------------------------- the clock

    def _sync_clock(self) -> None:
        """Bring the world to the clock's time (a no-op unless ``clock_speed`` is set)."""
        w = self._world
        target = w.start + self._advanced
        if self.clock_speed:
            elapsed = max(0.0, self._clock() - self._clock_origin) * self.clock_speed
            target += int(elapsed) * TICKS_PER_SECOND  # whole seconds of world time
        if target > w.now:
            w.advance_to(target)

    @property
    def now(self) -> datetime:
        """The emulator's current instant (UTC): the world is served as it reads then."""
        with self._lock:
            self._sync_clock()
            return _from_ticks(self._world.now)

    @property
    def start(self) -> datetime:
        """The instant the generated history ends at (``now`` when the emulator was made)."""
        return _from_ticks(self._world.start)

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
        ticks = (delta.days * 86400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10
        with self._lock:
            self._advanced += ticks
            self._sync_clock()
            return _from_ticks(self._world.now)

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
            self._sync_clock()
            w = self._world
            return [w.profiles[i].id for i in w.lead_indices()]

    def leads(self) -> list[dict[str, Any]]:
        """Every lead as the API renders it (``LeadTableRow``), in id order."""
        with self._lock:
            rows = self._lead_rows()
        return [self._render_lead(r) for r in rows]

    def total_events(self) -> int:
        """How many events exist now (generated, arrived since and appended)."""
        with self._lock:
            self._sync_clock()
            return self._world.total_events()

    def _sorted_rows(self, lead_id: str) -> list[tuple[Any, ...]]:
        self._sync_clock()
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
            return [json.loads(self._item_json(r)) for r in rows]

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
            self._sync_clock()
            index = self._world.find(lead_id)
            if index is None:
                raise KeyError(f"unknown lead {lead_id!r}")
            rows = self._world.add_events(index, n, None if after is None else to_ticks(after))
        return [json.loads(json.dumps(self._renderer.item(r))) for r in rows]

    # ---------------------------------------------------------------- leads

    def _lead_rows(self) -> list[tuple[Any, ...]]:
        self._sync_clock()
        return [self._lead_row_at(i) for i in self._world.lead_indices()]

    def _lead_row_at(self, index: int) -> tuple[Any, ...]:
        row = self._lead_cache.get(index)
        if row is None:
            row = self._lead_cache[index] = self._lead_row(self._world.profiles[index])
        return row

    def _lead_row(self, p: LeadProfile) -> tuple[Any, ...]:
        rng = random.Random(f"leadrow:{p.seed}:{p.index}")
        tps = TICKS_PER_SECOND
        q = self.quantum
        created = p.created - p.created % q
        start = self._world.start
        updated = created + int(rng.uniform(1, 40) * 86400 * tps)
        updated = min(max(start, created), updated)
        updated -= updated % q
        archived_at = None
        if p.archived:
            archived_at = updated - updated % q
        user = p.user
        values: dict[str, Any] = {
            "id": p.id,
            "firstName": p.first_name,
            "lastName": p.last_name,
            "email": p.email,
            "phone": p.phone,
            "status": p.status[1],
            "statusTone": p.status[2],
            "createdAt": created,
            "updatedAt": updated,
            "enabled": True,
            "isArchived": p.archived,
            "archivedAt": archived_at,
            "archiveReason": rng.choice((1, 2, 3)) if p.archived else None,
            "archivedByUserId": user[0] if p.archived else None,
            "assignedToUserId": user[0],
            "assignedTo": {"id": user[0], "name": user[1]},
            "organization": {"id": ORGANIZATION[0], "name": ORGANIZATION[1]},
            "source": {"id": p.source[0], "name": p.source[1]},
            "currentLeadStatus": {"id": p.status[0], "name": p.status[1], "tone": p.status[2]},
            "processingStatus": "Completed",
            "processingStatusChangedAt": created + 2 * tps,
            "processingStatusReason": None,
            "price": p.price * 100,
            "tags": [{"id": TAGS[t][0], "name": TAGS[t][1], "color": TAGS[t][2]} for t in p.tags],
            "avatarUrl": None,
            "phoneIdentityId": f"pid_{rng.getrandbits(40):010x}",
            "isDemo": p.is_demo,
            "source.id": p.source[0],
            "source.name": p.source[1],
            "assignedTo.name": user[1],
        }
        row: list[Any] = [None] * len(LEAD_FIELDS)
        for name, v in values.items():
            row[_LEAD_SLOT[name]] = v
        return tuple(row)

    def _render_lead(self, row: Sequence[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        as_str = self.numbers_as_strings
        for name, kind in _LEAD_COLUMNS:
            v = row[_LEAD_SLOT[name]]
            if v is not None:
                if kind == "timestamp":
                    v = format_ticks(v, self.fraction_digits)
                elif kind == "money":
                    v = money_text(v) if as_str else v / 10000
                elif kind == "integer":
                    v = str(v) if as_str else v
                elif kind == "object":
                    v = json.loads(json.dumps(v))
            out[name] = v
        return out

    # ---------------------------------------------------------------- clients, ASGI

    def client(self, **kwargs: Any) -> Client:
        """A :class:`leadping_nb.Client` wired to this emulator in-process (no sockets)."""
        from leadping_nb._client import Client

        return Client(
            api_key=EMULATOR_API_KEY, base_url=EMULATOR_BASE_URL, transport=self, **kwargs
        )

    def async_client(self, **kwargs: Any) -> AsyncClient:
        """A :class:`leadping_nb.AsyncClient` wired to this emulator in-process."""
        from leadping_nb._client import AsyncClient

        return AsyncClient(
            api_key=EMULATOR_API_KEY, base_url=EMULATOR_BASE_URL, transport=self, **kwargs
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
                resp = self._handle(request)
            except _ProblemError as p:
                resp = self._problem(request, p)
            if resp.fault == "drop":
                self.fault_counts["drop"] += 1
            else:
                self.fault_counts[str(resp.status)] += 1
            return resp

    def _trace_id(self) -> str:
        n = self.fault_counts["requests"]
        h = hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=24).hexdigest()
        return f"00-{h[:32]}-{h[32:48]}-00"

    def _problem(self, request: WireRequest, p: _ProblemError) -> WireResponse:
        body: dict[str, Any] = {
            "type": p.type_,
            "title": p.title or _TITLES.get(p.status, "Error"),
            "status": p.status,
            "detail": p.detail,
            "instance": request.path,
        }
        if p.errors is not None:
            body["errors"] = p.errors
        body["traceId"] = self._trace_id()
        return WireResponse(
            status=p.status,
            headers=(("content-type", _PROBLEM), *p.headers),
            body=json.dumps(body, ensure_ascii=False).encode(),
            delay=self.latency,
        )

    def _handle(self, request: WireRequest) -> WireResponse:
        method = request.method.upper()
        if len(request.path) + len(request.query) + 1 > MAX_URL_BYTES:
            raise _ProblemError(414, "The request line is too long.", type_=_ERR + "uri-too-long")
        path = request.path.split("?", 1)[0]
        parts = path.split("/")
        headers = {k.lower(): v for k, v in request.headers.items()}
        route: str | None = None
        lead: str | None = None
        allowed = "POST"
        if len(parts) == 4 and parts[1] == "events" and parts[2] == "leads" and parts[3]:
            route, lead = "events", unquote(parts[3])
        elif len(parts) == 4 and parts[1] == "events" and parts[2] == "organizations" and parts[3]:
            route, lead = "org", unquote(parts[3])
        elif path.rstrip("/") == "/events/all/my":
            route = "my"
        elif path.rstrip("/") == "/leads/all/my":
            route = "leads"
        elif len(parts) == 3 and parts[1] == "leads" and parts[2] and parts[2] != "all":
            route, lead, allowed = "lead", unquote(parts[2]), "GET"
        if route is None:
            raise _ProblemError(404, f"No route matches {path!r}.", type_=_ERR + "not-found")
        if method != allowed:
            raise _ProblemError(
                405,
                f"{method} is not allowed on {path!r}; use {allowed}.",
                type_=_ERR + "method-not-allowed",
                headers=(("allow", allowed),),
            )
        key = self._authenticate(headers, request.client)
        if self._limiter is not None:
            wait = self._limiter.check(key)
            if wait is not None:
                self.fault_counts["rate_limited"] += 1
                raise _ProblemError(
                    429,
                    "The API rate limit for this account has been exceeded.",
                    type_=_ERR + "rate-limited",
                    headers=(("retry-after", str(wait)),),
                )
        decision: FaultDecision | None = None
        fs = self._faults
        if (
            fs is not None
            and fs.config.any_transient
            and fs.applies_to(lead if route == "events" else None)
        ):
            decision = fs.draw(peek_token(request.body) is not None)
            self._apply_transient(decision)
        if decision is not None and decision.drop:
            return WireResponse(status=0, delay=self.latency, fault="drop")
        if method == "POST":
            if len(request.body) > MAX_BODY_BYTES:
                raise _ProblemError(
                    413,
                    f"The request body is larger than {MAX_BODY_BYTES:,} bytes.",
                    type_=_ERR + "payload-too-large",
                )
            content_type = headers.get("content-type", "")
            if not _JSON_TYPES.match(content_type.strip()):
                raise _ProblemError(
                    415,
                    "The request body must be JSON (Content-Type: application/json), "
                    f"got {content_type[:80]!r}.",
                    type_=_ERR + "unsupported-media-type",
                )
        self._sync_clock()
        if route == "lead":
            assert lead is not None
            index = self._world.find(lead)
            if index is None:
                raise _ProblemError(404, f"Lead {lead!r} was not found.", type_=_ERR + "not-found")
            resp = self._json(200, self._render_lead(self._lead_row_at(index)))
        else:
            if route == "org" and lead != ORGANIZATION[0]:
                raise _ProblemError(
                    403,
                    "The caller has no permission for this organization.",
                    type_=_ERR + "forbidden",
                )
            window = _window(route, request) if route in ("org", "my") else None
            resp = self._paged(route, lead, request.body, decision, window)
        if decision is not None:
            if decision.slow:
                resp = WireResponse(
                    resp.status, resp.headers, resp.body, resp.delay + decision.slow, resp.fault
                )
            if decision.truncate_at is not None and resp.status == 200:
                self.fault_counts["truncate"] += 1
                cut = max(1, int(len(resp.body) * decision.truncate_at))
                resp = WireResponse(resp.status, resp.headers, resp.body[:cut], resp.delay)
        return resp

    def _apply_transient(self, d: FaultDecision) -> None:
        if d.status == 429:
            self.fault_counts["fault_429"] += 1
            raise _ProblemError(
                429,
                "The API rate limit for this account has been exceeded.",
                type_=_ERR + "rate-limited",
                headers=(("retry-after", str(d.retry_after or 0)),),
            )
        if d.status is not None:
            self.fault_counts["fault_5xx"] += 1
            raise _ProblemError(
                d.status,
                "An injected server error (emulator fault); retry the same request.",
                type_=_ERR + "server-error",
            )
        if d.drop:
            return
        if d.slow:
            self.fault_counts["slow"] += 1

    def _authenticate(self, headers: dict[str, str], client: str) -> str:
        try:
            return self._credential(headers)
        except _ProblemError:
            # traffic without valid credentials is limited per client address (the API's
            # IP partition), so guessing keys is throttled too
            if self._ip_limiter is not None:
                wait = self._ip_limiter.check(client or "in-process")
                if wait is not None:
                    self.fault_counts["rate_limited"] += 1
                    raise _ProblemError(
                        429,
                        "Too many unauthenticated requests from this address.",
                        type_=_ERR + "rate-limited",
                        headers=(("retry-after", str(wait)),),
                    ) from None
            raise

    def _credential(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization")
        key: str | None = None
        if auth is not None:
            scheme, _, cred = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and cred.strip():
                key = cred.strip()
        elif headers.get("x-leadping-api-key"):
            key = headers["x-leadping-api-key"].strip()
        challenge = f'Bearer resource_metadata="{_RESOURCE_METADATA}"'
        if key is None:
            raise _ProblemError(
                401,
                "Authentication credentials are missing: send 'Authorization: Bearer <key>'.",
                type_=_ERR + "unauthorized",
                headers=(("www-authenticate", challenge),),
            )
        if key not in self.api_keys:
            raise _ProblemError(
                401,
                "The API key is invalid.",
                type_=_ERR + "unauthorized",
                headers=(
                    (
                        "www-authenticate",
                        f'Bearer error="invalid_token", resource_metadata="{_RESOURCE_METADATA}"',
                    ),
                ),
            )
        return key

    def _json(self, status: int, obj: Any) -> WireResponse:
        return WireResponse(
            status=status,
            headers=(("content-type", _JSON),),
            body=json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(),
            delay=self.latency,
        )

    def _token_problem(self, reason: str, message: str) -> _ProblemError:
        kind = "continuation-token-expired" if reason == "expired" else "continuation-token"
        return _ProblemError(
            400,
            message,
            type_=_ERR + kind,
            title="Continuation token expired"
            if reason == "expired"
            else "Invalid continuation token",
            errors={"continuationToken": [message]},
        )

    def _paged(
        self,
        route: str,
        lead: str | None,
        raw: bytes,
        decision: FaultDecision | None,
        window: _Window | None = None,
    ) -> WireResponse:
        default_search: tuple[str, ...]
        if route == "leads":
            fields, id_slot = LEAD_FIELDS, _LEAD_SLOT["id"]
            default_search = ("firstName", "lastName", "email", "phone")
        else:
            fields, id_slot = self._event_fields, S_ID
            default_search = ("description", "summary")
        try:
            q = parse_body(
                raw,
                fields,
                id_slot=id_slot,
                default_page_size=self.default_page_size,
                max_page_size=self.max_page_size,
                default_search=default_search,
            )
        except BodyError as exc:
            raise _ProblemError(
                400,
                "One or more request fields are invalid.",
                type_=_ERR + "validation",
                title="Request validation failed",
                errors=exc.errors,
            ) from None
        lead_key = lead if route in ("events", "org") else "*"
        assert lead_key is not None
        w = self._world
        index = w.find(lead_key) if route == "events" else None
        fp = q.fingerprint if window is None else f"{q.fingerprint}|{window.key}"

        def by_id(item_id: str) -> tuple[Any, ...] | None:
            if route == "events":
                return None if index is None else w.row_by_id(index, item_id)
            if route == "leads":
                found = w.find(item_id)
                return None if found is None else self._lead_row_at(found)
            return w.any_row_by_id(item_id)

        after_row: tuple[Any, ...] | None = None
        empty_served = False
        if q.token is not None:
            try:
                payload = self._signer.decode(q.token)
            except TokenError as exc:
                raise self._token_problem(exc.reason, str(exc)) from None
            if payload.route != route or payload.lead != lead_key:
                raise self._token_problem(
                    "mismatch", "The continuation token was issued for another resource."
                )
            if payload.fingerprint != fp:
                raise self._token_problem(
                    "mismatch",
                    "The continuation token was issued for a different query "
                    "(orderBy, filters, rangeFilters and search must not change while paging).",
                )
            if self._clock() - payload.issued > self.token_ttl:
                raise self._token_problem(
                    "expired", "The continuation token has expired; restart from the first page."
                )
            if decision is not None and decision.expire_token:
                self.fault_counts["expired_token"] += 1
                raise self._token_problem(
                    "expired", "The continuation token has expired; restart from the first page."
                )
            if payload.after is not None:
                after_row = by_id(payload.after)
                if after_row is None:
                    raise self._token_problem("invalid", "The continuation token is invalid.")
            empty_served = payload.empty_served

        result = self._result(route, index, q, fp, window)
        rows = result.rows
        pos = position_after(result, after_row) if after_row is not None else 0
        size = q.page_size
        fs = self._faults
        faulty = fs is not None and fs.applies_to(lead if route == "events" else None)

        def token(after: str | None, empty: bool = False) -> str:
            return self._signer.encode(
                TokenPayload(route, lead_key, fp, after, self._clock(), empty)
            )

        page: list[Sequence[Any]]
        next_token: str | None
        if (
            faulty
            and fs is not None
            and not empty_served
            and pos < len(rows)
            and fs.structural("empty_page", lead_key, fp, pos)
        ):
            self.fault_counts["empty_page"] += 1
            after_id = None if after_row is None else after_row[id_slot]
            page, next_token = [], token(after_id, True)
        else:
            real = rows[pos : pos + size]
            page = list(real)
            if (
                faulty
                and fs is not None
                and pos > 0
                and size >= 2
                and pos < len(rows)
                and fs.structural("duplicate_boundary", lead_key, fp, pos)
            ):
                self.fault_counts["duplicate_boundary"] += 1
                real = rows[pos : pos + size - 1]
                page = [rows[pos - 1], *real]
            end = pos + len(real)
            next_token = token(page[-1][id_slot]) if end < len(rows) else None
            if (
                faulty
                and fs is not None
                and q.token is not None
                and q.token not in fs.repeated_tokens
                and fs.structural("repeat_token", lead_key, fp, pos)
            ):
                self.fault_counts["repeat_token"] += 1
                fs.repeated_tokens.add(q.token)
                next_token = q.token
        r = self._renderer
        rest = {
            "pageSize": r.number(size),
            "totalCount": r.number(len(rows)) if q.include_count else None,
            "continuationToken": next_token,
        }
        if route == "leads":
            return self._json(200, {"items": [self._render_lead(x) for x in page], **rest})
        # the body as json.dumps would write it, from each event state's cached JSON (a
        # 1,000-item page costs ~2 ms instead of ~50 ms, so the server's own work does not
        # add to the latency it emulates)
        tail = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))[1:]
        body = b'{"items":[' + b",".join(self._item_json(x) for x in page) + b"]," + tail.encode()
        return WireResponse(
            status=200, headers=(("content-type", _JSON),), body=body, delay=self.latency
        )

    def _item_json(self, row: Sequence[Any]) -> bytes:
        """One event state's item as JSON bytes, cached (states are immutable tuples)."""
        cache = self._item_cache
        hit = cache.get(row)
        if hit is None:
            if len(cache) >= _ITEM_CACHE:
                cache.clear()
            hit = cache[row] = json.dumps(
                self._renderer.item(row), ensure_ascii=False, separators=(",", ":")
            ).encode()
        return hit

    def _result(
        self,
        route: str,
        index: int | None,
        q: ParsedQuery,
        fp: str,
        window: _Window | None,
    ) -> QueryResult:
        w = self._world
        if route == "events" and index is None:
            return run_query([], q)
        ck: tuple[Any, ...] = (route, index, fp, w.version)
        res = self._results.get(ck)
        if res is None:
            rows: Sequence[tuple[Any, ...]]
            if route == "events":
                assert index is not None
                rows = w.rows(index)
            elif route == "leads":
                rows = self._lead_rows()
            else:
                assert window is not None
                rows = window.select(*w.all_rows())
            res = run_query(rows, q)
            self._results[ck] = res
            while len(self._results) > 64:
                self._results.popitem(last=False)
        else:
            self._results.move_to_end(ck)
        return res

    def __repr__(self) -> str:
        return (
            f"Emulator(seed={self.seed}, n_leads={self.n_leads}, era={self.era!r}, "
            f"now={format_ticks(self._world.now, 0)}, events={self.total_events()})"
        )


@dataclass(frozen=True)
class _Window:
    """The query parameters of an account-wide route: ``startAt`` (inclusive), ``endAt``
    (exclusive) and, on ``/events/all/my``, ``category`` (exact ``eventCategory``)."""

    start: int | None
    end: int | None
    category: str | None

    @property
    def key(self) -> str:
        return f"{self.start}:{self.end}:{self.category}"

    def select(self, rows: list[tuple[Any, ...]], created: list[int]) -> Sequence[tuple[Any, ...]]:
        """The rows (ordered by createdAt, id) inside the window."""
        lo = 0 if self.start is None else bisect.bisect_left(created, self.start)
        hi = len(rows) if self.end is None else bisect.bisect_left(created, self.end)
        out = rows[lo:hi]
        if self.category is not None:
            out = [r for r in out if r[S_ECAT] == self.category]
        return out


def _window(route: str, request: WireRequest) -> _Window:
    """Parse the account routes' query parameters (400 with ``errors`` when invalid)."""
    params = parse_qs(request.query, keep_blank_values=True)
    errors: dict[str, list[str]] = {}
    bounds: dict[str, int | None] = {"startAt": None, "endAt": None}
    for name in bounds:
        values = params.get(name)
        if not values or values[-1] == "":
            continue
        try:
            bounds[name] = parse_timestamp(values[-1])
        except ValueError:
            errors[name] = [f"The value {values[-1]!r} is not a valid date-time."]
    category = None
    if route == "my":
        cats = params.get("category")
        category = cats[-1] if cats and cats[-1] != "" else None
    if errors:
        raise _ProblemError(
            400,
            "One or more request fields are invalid.",
            type_=_ERR + "validation",
            title="Request validation failed",
            errors=errors,
        )
    return _Window(bounds["startAt"], bounds["endAt"], category)


def _from_ticks(ticks: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ticks // 10)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
