"""Routing and request parsing: which operation a request asks for, and whether its line,
headers and query parameters are acceptable (no auth, no data).

Routes: ``POST /events/leads/{leadId}`` (``"events"``), ``POST
/events/organizations/{organizationId}`` (``"org"``), ``POST /events/all/my`` (``"my"``),
``POST /leads/all/my`` (``"leads"``), ``GET /leads/{id}`` (``"lead"``). The limits are
Kestrel's defaults, which the real service keeps.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from leadping_nb._http.wire import WireRequest

from ._catalog import S_ECAT
from ._engine import parse_timestamp
from ._problems import ERR, ProblemError, validation_problem

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_URL_BYTES",
    "Route",
    "Window",
    "check_body",
    "match_route",
    "parse_window",
]

#: Kestrel's default limits: a request body of at most 30,000,000 bytes (413 beyond) and a
#: request line of at most 8 KiB (414 beyond; checked on the path and query here).
MAX_BODY_BYTES = 30_000_000
MAX_URL_BYTES = 8192
#: The media types the API's request bodies accept (parameters such as charset allowed).
_JSON_TYPES = re.compile(r"^application/(?:json|[\w.+-]+\+json)\s*(?:;.*)?$", re.IGNORECASE)

RouteName = Literal["events", "org", "my", "leads", "lead"]


@dataclass(frozen=True)
class Route:
    """The operation a request asks for: its ``name``, the id in its path (the lead or the
    organization; ``None`` on ``my`` and ``leads``) and its HTTP ``method``."""

    name: RouteName
    lead: str | None
    method: str

    @property
    def fault_lead(self) -> str | None:
        """The lead a fault's ``only_leads`` is matched against (lead events only)."""
        return self.lead if self.name == "events" else None


def match_route(request: WireRequest) -> Route:
    """The route of a request: 414 (request line too long), 404 (no route) or 405 (wrong
    method) as :class:`ProblemError`."""
    method = request.method.upper()
    if len(request.path) + len(request.query) + 1 > MAX_URL_BYTES:
        raise ProblemError(414, "The request line is too long.", type_=ERR + "uri-too-long")
    path = request.path.split("?", 1)[0]
    parts = path.split("/")
    name: RouteName | None = None
    lead: str | None = None
    allowed = "POST"
    if len(parts) == 4 and parts[1] == "events" and parts[2] == "leads" and parts[3]:
        name, lead = "events", unquote(parts[3])
    elif len(parts) == 4 and parts[1] == "events" and parts[2] == "organizations" and parts[3]:
        name, lead = "org", unquote(parts[3])
    elif path.rstrip("/") == "/events/all/my":
        name = "my"
    elif path.rstrip("/") == "/leads/all/my":
        name = "leads"
    elif len(parts) == 3 and parts[1] == "leads" and parts[2] and parts[2] != "all":
        name, lead, allowed = "lead", unquote(parts[2]), "GET"
    if name is None:
        raise ProblemError(404, f"No route matches {path!r}.", type_=ERR + "not-found")
    if method != allowed:
        raise ProblemError(
            405,
            f"{method} is not allowed on {path!r}; use {allowed}.",
            type_=ERR + "method-not-allowed",
            headers=(("allow", allowed),),
        )
    return Route(name, lead, method)


def check_body(route: Route, body: bytes, headers: Mapping[str, str]) -> None:
    """A POST's body size (413) and media type (415); ``headers`` lower-cased."""
    if route.method != "POST":
        return
    if len(body) > MAX_BODY_BYTES:
        raise ProblemError(
            413,
            f"The request body is larger than {MAX_BODY_BYTES:,} bytes.",
            type_=ERR + "payload-too-large",
        )
    content_type = headers.get("content-type", "")
    if not _JSON_TYPES.match(content_type.strip()):
        raise ProblemError(
            415,
            "The request body must be JSON (Content-Type: application/json), "
            f"got {content_type[:80]!r}.",
            type_=ERR + "unsupported-media-type",
        )


@dataclass(frozen=True)
class Window:
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


def parse_window(route: Route, query: str) -> Window:
    """Parse the account routes' query parameters (400 with ``errors`` when invalid)."""
    params = parse_qs(query, keep_blank_values=True)
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
    if route.name == "my":
        cats = params.get("category")
        category = cats[-1] if cats and cats[-1] != "" else None
    if errors:
        raise validation_problem(errors)
    return Window(bounds["startAt"], bounds["endAt"], category)
