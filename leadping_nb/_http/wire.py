"""Plain request/response values shared by the emulator and the HTTP layer (no I/O).

The emulator is a sans-IO handler ``WireRequest -> WireResponse``. The HTTP layer
(:mod:`leadping_nb._http.transport`) turns it into an in-process transport, and the ASGI app serves
it over real HTTP. Faults that cannot be expressed as bytes (a dropped connection, a
slow answer) are described by :attr:`WireResponse.fault` and :attr:`WireResponse.delay`
and carried out by whichever side does the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["QUERY_BODY_FIELDS", "WireHandler", "WireRequest", "WireResponse"]

#: The top-level fields of an events query body (``POST /events/...``), in the API's order:
#: what :meth:`EventQuery.from_body` accepts and what the emulator's parser knows.
QUERY_BODY_FIELDS = (
    "pageSize",
    "continuationToken",
    "orderBy",
    "includeCount",
    "search",
    "searchFields",
    "filters",
    "rangeFilters",
)


@dataclass(frozen=True)
class WireRequest:
    """One HTTP request as plain values.

    Parameters
    ----------
    method
        Upper-case HTTP method.
    path
        The raw (still percent-encoded) path, e.g. ``/events/leads/lead-0001``.
    headers
        Header names in lower case.
    body
        The request body.
    query
        The raw query string, without ``?``.
    client
        The client's address (``""`` in-process): the emulator rate-limits traffic without
        valid credentials per address.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""
    query: str = ""
    client: str = ""


@dataclass(frozen=True)
class WireResponse:
    """One HTTP response as plain values.

    Parameters
    ----------
    status
        HTTP status code.
    headers
        Response headers as ``(name, value)`` pairs.
    body
        The body bytes (possibly deliberately truncated by a fault).
    delay
        Seconds to wait before answering (slow-response faults, emulated latency).
    fault
        ``"drop"`` closes the connection without an answer.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0
    fault: Literal["drop"] | None = None


class WireHandler(Protocol):
    """Anything that answers wire requests: the emulator, or a test's fake server."""

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer one request."""
        ...
