"""Transport, auth, retries and the rate limiter: the only module that imports httpx.

* :class:`HttpSession` sends one logical request with bearer auth, the client-side rate
  limiter, and retries (tenacity): 429 honouring ``Retry-After`` (seconds or HTTP date),
  500/502/503/504, connect/read timeouts, dropped connections and bodies that fail to
  decode (truncated JSON). Backoff is capped exponential with jitter, under a total
  deadline; ``sleep`` is injectable so tests are fast. ``POST /events/leads/{leadId}`` is
  a read-only query, so retrying it is safe.
* The client's :class:`~leadping_nb._http.policy.RateLimiter`, a sliding-window limiter
  (default Leadping's 300 requests / 60 s), is shared by every request of a client; a 429
  pauses it for ``Retry-After``.
* :func:`wire_transport` turns a sans-IO handler (the emulator) into an in-process httpx
  transport: no sockets.

The API key lives only in :class:`HttpSession`'s private attribute and the outgoing
``Authorization`` header. It is never logged, never put into an exception, never shown
in a repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import tenacity

from leadping_nb._core.errors import KEY_HINT, ApiError, AuthError, QueryError, RateLimitError
from leadping_nb._http.checks import _is_loopback, check_api_key, mask_url
from leadping_nb._http.policy import RateLimit, RateLimiter, RetryPolicy, Sleep
from leadping_nb._http.wire import WireHandler, WireRequest

__all__ = [
    "DEFAULT_BASE_URL",
    "HttpResult",
    "HttpSession",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "check_api_key",
    "check_base_url",
    "is_wire_handler",
    "mask_url",
]

log = logging.getLogger("leadping_nb")

DEFAULT_BASE_URL = "https://api.leadping.ai"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


#: The longest base URL accepted (an API root; lead paths are appended to it).
MAX_BASE_URL_LENGTH = 2048


def check_base_url(base_url: str) -> str:
    """Validate a base URL: https anywhere, plain http only to loopback.

    The URL must be ``http(s)://host[:port][/path]``: a host, a port within 1-65535 when
    given, no white space or control characters, no credentials (no ``@`` at all), query
    or fragment, at most 2,048 characters. Every message shows the URL with any
    credentials masked (``***@``).

    Examples
    --------
    >>> check_base_url("https://api.leadping.ai/")
    'https://api.leadping.ai'
    >>> check_base_url("http://127.0.0.1:8080")
    'http://127.0.0.1:8080'
    >>> check_base_url("http://example.com")
    Traceback (most recent call last):
    ...
    leadping_nb._core.errors.QueryError: base_url: plain http:// is refused for ...
    >>> check_base_url("https://user:secret@example.com")
    Traceback (most recent call last):
    ...
    leadping_nb._core.errors.QueryError: base_url: must not carry ... 'https://***@example.com'; ...
    """
    if not isinstance(base_url, str):
        raise QueryError(
            f"base_url: must be a string, got {type(base_url).__name__}", field="base_url"
        )
    shown = mask_url(base_url)
    bad = next((c for c in base_url if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise QueryError(
            f"base_url: contains white space or a control character ({bad!r} at position "
            f"{base_url.index(bad) + 1}): {shown}",
            field="base_url",
        )
    if "@" in base_url:
        raise QueryError(
            f"base_url: must not carry credentials (user:password@): {shown}; the API key "
            "goes in api_key= or LEADPING_API_KEY",
            field="base_url",
        )
    if len(base_url) > MAX_BASE_URL_LENGTH:
        raise QueryError(
            f"base_url: longer than {MAX_BASE_URL_LENGTH:,} characters: {shown}",
            field="base_url",
        )
    try:
        parts = urlsplit(base_url)
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        port_text = "port" in str(exc).lower()
        reason = "the port must be a number within 1-65535" if port_text else "invalid"
        raise QueryError(f"base_url: {reason}: {shown}", field="base_url") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise QueryError(
            f"base_url: expected an http(s) URL with a host, got {shown}", field="base_url"
        )
    if (port is not None and not 1 <= port <= 65535) or parts.netloc.endswith(":"):
        raise QueryError(
            f"base_url: the port must be a number within 1-65535: {shown}", field="base_url"
        )
    if parts.query or parts.fragment or "?" in base_url or "#" in base_url:
        raise QueryError(
            f"base_url: must not carry a query or a fragment: {shown}", field="base_url"
        )
    if parts.scheme.lower() == "http" and not _is_loopback(host):
        raise QueryError(
            f"base_url: plain http:// is refused for {host!r} (the API key would "
            "travel unencrypted); use https://, or http:// only to localhost/127.0.0.1/[::1]",
            field="base_url",
        )
    try:
        httpx.URL(base_url)  # what the session will parse (IDNA host names, lengths)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise QueryError(f"base_url: not a valid URL: {shown}", field="base_url") from None
    return base_url.rstrip("/")


def is_wire_handler(obj: object) -> bool:
    """Whether ``obj`` is a sans-IO handler (has ``handle``) rather than an httpx transport."""
    return callable(getattr(obj, "handle", None)) and not isinstance(
        obj, httpx.AsyncBaseTransport | httpx.BaseTransport
    )


class _WireTransport(httpx.AsyncBaseTransport):
    """In-process transport over a sans-IO handler: no sockets, faults carried out here."""

    def __init__(self, handler: WireHandler, sleep: Sleep) -> None:
        self._handler = handler
        self._sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        wire = WireRequest(
            method=request.method,
            path=request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
            query=request.url.query.decode("ascii"),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        answer = self._handler.handle(wire)
        if answer.delay > 0:
            timeout = request.extensions.get("timeout", {}).get("read")
            if timeout is not None and answer.delay > timeout:
                await self._sleep(timeout)
                raise httpx.ReadTimeout("emulated slow response exceeded the read timeout")
            await self._sleep(answer.delay)
        if answer.fault == "drop":
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(answer.status, headers=list(answer.headers), content=answer.body)


@dataclass(frozen=True)
class HttpResult:
    """One successful response (after retries), with what it took to get it."""

    status: int
    content: bytes
    attempts: int
    elapsed: float


class _RetryableError(Exception):
    """Internal: an attempt failed in a way worth retrying."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        content: bytes = b"",
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.content = content
        self.cause = cause


def _retry_after(value: str | None, now: float) -> float | None:
    """Parse Retry-After: delta seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:  # pragma: no cover - parsedate_to_datetime raises instead on 3.11+
        return None
    return max(0.0, when.timestamp() - now)


def _problem(content: bytes) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class _Budget:
    """One call's retry budget under a :class:`RetryPolicy`: how long to wait before the next
    attempt (``Retry-After``, else capped exponential backoff with jitter) and when to stop
    (attempts used up, or the next sleep would end past the deadline: ``out_of_time``)."""

    def __init__(self, policy: RetryPolicy, started: float) -> None:
        self.policy = policy
        self.started = started
        self.out_of_time = False

    def wait(self, state: tenacity.RetryCallState) -> float:
        policy = self.policy
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_retry_after)
        cap = min(policy.max_backoff, policy.backoff * 2 ** (state.attempt_number - 1))
        return random.uniform(cap / 2, cap)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        policy = self.policy
        if state.attempt_number >= policy.attempts:
            return True
        elapsed = time.monotonic() - self.started
        self.out_of_time = elapsed + state.upcoming_sleep >= policy.deadline
        return self.out_of_time


class HttpSession:
    """One httpx.AsyncClient with auth, limiter and retries; bound to the loop that made it.

    Parameters
    ----------
    base_url
        Checked by :func:`check_base_url`.
    api_key
        The bearer credential (never logged or shown).
    transport
        An httpx transport, a sans-IO handler with ``handle`` (the emulator), or ``None``.
    timeout
        Read/write/pool timeout per attempt in seconds (connect: at most 10 s).
    max_connections
        Connection-pool size; callers cap concurrency to the same number.
    limiter
        The shared :class:`RateLimiter`, or ``None`` for no client-side limit.
    retry
        The :class:`RetryPolicy`.
    sleep
        Injectable async sleep (tests pass a fast fake).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        transport: object | None,
        timeout: float,
        max_connections: int,
        limiter: RateLimiter | None,
        retry: RetryPolicy,
        sleep: Sleep = asyncio.sleep,
        user_agent: str = "leadping-nb",
    ) -> None:
        self._api_key = api_key
        self._limiter = limiter
        self._retry = retry
        self._sleep = sleep
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if transport is None:
            # TCP_NODELAY: httpx writes headers and body separately; without it Nagle's
            # algorithm and the peer's delayed ACK add ~40 ms to every POST.
            tx: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(
                limits=limits,
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
        elif is_wire_handler(transport):
            tx = _WireTransport(transport, sleep)  # type: ignore[arg-type,unused-ignore]
        elif isinstance(transport, httpx.AsyncBaseTransport):
            tx = transport
        else:
            raise QueryError(
                "transport must be an httpx.AsyncBaseTransport or an object with "
                f"handle(WireRequest) (such as the Emulator), got {type(transport).__name__}",
                field="transport",
            )
        # requests go straight to the transport: httpx.AsyncClient's cookie, auth, redirect
        # and URL-merging layers cost ~0.3 ms of CPU per request and do nothing for us
        # (no cookies, no redirects followed, the bearer header is set here)
        self._transport = tx
        self._base = httpx.URL(base_url)
        self._prefix = self._base.raw_path.rstrip(b"/")
        # parsed URLs by path: a lead's pages share one (httpx parses a URL in ~50 us)
        self._urls: dict[str, httpx.URL] = {}
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout)).as_dict()
        self._headers = [
            ("Accept", "application/json"),
            ("Accept-Encoding", "gzip, deflate"),
            ("User-Agent", user_agent),
        ]
        if api_key:
            self._headers.append(("Authorization", f"Bearer {api_key}"))

    def __repr__(self) -> str:
        return f"HttpSession(base_url={str(self._base)!r}, api_key=***)"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        lead_id: str | None = None,
        page: int | None = None,
        decode: Callable[[bytes], T] | None = None,
        retryable_decode_errors: tuple[type[BaseException], ...] = (),
        slots: asyncio.Semaphore | None = None,
    ) -> tuple[HttpResult, T | None]:
        """Send one logical request with retries; optionally decode the body in a thread.

        ``decode`` runs in a worker thread (so other requests proceed meanwhile); when it
        raises one of ``retryable_decode_errors`` (a truncated body), the request is retried.
        ``slots`` (shared by the callers of one fetch) is held while an attempt is on the
        wire, not while it waits to retry nor while its body is decoded.

        Returns
        -------
        tuple
            The :class:`HttpResult` and the decoded value (``None`` without ``decode``).

        Raises
        ------
        AuthError
            On 401/403.
        RateLimitError
            When 429 persists through every retry.
        ApiError
            Any other error status, or when the server stays unreachable.
        """
        headers = {}
        content = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(json_body, separators=(",", ":")).encode()
        started = time.monotonic()
        attempts = 0
        budget = _Budget(self._retry, started)
        retrying = self._retrying(budget, method, path, lead_id, page)
        # the deadline bounds the whole call: the attempts run under one timeout that ends
        # at it (a server that never stops sending resets no per-attempt read timeout)
        timeout = asyncio.timeout_at(asyncio.get_running_loop().time() + self._retry.deadline)
        try:
            async with timeout:
                async for attempt in retrying:
                    with attempt:
                        attempts += 1
                        result = await self._attempt(
                            method, path, headers, content, attempts, started, slots
                        )
                        if decode is None:
                            return result, None
                        try:
                            value = await asyncio.to_thread(decode, result.content)
                        except retryable_decode_errors as exc:
                            raise _RetryableError(
                                f"undecodable body: {exc}", status=result.status, cause=exc
                            ) from exc
                        return result, value
        except _RetryableError as exc:
            err = self._give_up(exc, lead_id, page, attempts, out_of_time=budget.out_of_time)
            raise err from exc.cause
        except TimeoutError as exc:
            if not timeout.expired():
                raise
            raise self._deadline_reached(lead_id, page, attempts) from exc
        except ApiError as exc:
            exc.lead_id = lead_id if exc.lead_id is None else exc.lead_id
            exc.page = page if exc.page is None else exc.page
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _retrying(
        self, budget: _Budget, method: str, path: str, lead_id: str | None, page: int | None
    ) -> tenacity.AsyncRetrying:
        """The retry loop of one call: retryable errors only, ``budget``'s stop and wait, the
        session's sleep, a log line before each retry."""
        return tenacity.AsyncRetrying(
            stop=budget.stop,
            wait=budget.wait,
            retry=tenacity.retry_if_exception_type(_RetryableError),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda s: log.info(
                "retrying %s %s (lead %s, page %s) after attempt %d: %s",
                method,
                path,
                lead_id,
                page,
                s.attempt_number,
                s.outcome.exception() if s.outcome else "",
            ),
        )

    async def _attempt(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes | None,
        attempts: int,
        started: float,
        slots: asyncio.Semaphore | None = None,
    ) -> HttpResult:
        try:
            async with slots if slots is not None else contextlib.nullcontext():
                if self._limiter is None:
                    response = await self._send(method, path, headers, content)
                else:
                    async with self._limiter.slot():
                        response = await self._send(method, path, headers, content)
        except httpx.TimeoutException as exc:
            raise _RetryableError(f"timed out ({type(exc).__name__})", cause=exc) from exc
        except httpx.TransportError as exc:
            raise _RetryableError(
                f"connection failed ({type(exc).__name__}: {exc})", cause=exc
            ) from exc
        status = response.status_code
        if status in _RETRY_STATUS:
            ra = _retry_after(response.headers.get("Retry-After"), time.time())
            if status == 429 and self._limiter is not None:
                self._limiter.pause(ra if ra is not None else 1.0)
            raise _RetryableError(
                f"HTTP {status}", status=status, retry_after=ra, content=response.content
            )
        if status >= 400:
            raise self._error(status, response.content, response.headers, attempts)
        return HttpResult(
            status=status,
            content=response.content,
            attempts=attempts,
            elapsed=time.monotonic() - started,
        )

    async def _send(
        self, method: str, path: str, headers: dict[str, str], content: bytes | None
    ) -> httpx.Response:
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= 4096:
                self._urls.clear()
            url = self._urls[path] = self._base.copy_with(
                raw_path=self._prefix + path.encode("ascii")
            )
        request = httpx.Request(
            method,
            url,
            headers=[*self._headers, *headers.items()],
            content=content,
            extensions={"timeout": self._timeout},
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    def _error(
        self, status: int, content: bytes, headers: Mapping[str, str], attempts: int
    ) -> ApiError:
        p = _problem(content)
        kw: dict[str, Any] = {
            "status": status,
            "title": p.get("title") if isinstance(p.get("title"), str) else None,
            "detail": p.get("detail") if isinstance(p.get("detail"), str) else None,
            "trace_id": p.get("traceId") if isinstance(p.get("traceId"), str) else None,
            "errors": p.get("errors") if isinstance(p.get("errors"), dict) else None,
            "attempts": attempts,
        }
        if status in (401, 403):
            hint = (
                "no API key was given"
                if not self._api_key
                else "the API key was refused"
                if status == 401
                else "the API key may not read these events"
            )
            return AuthError(f"authentication failed: {hint}. {KEY_HINT}", **kw)
        return ApiError("request failed", **kw)

    def _give_up(
        self,
        exc: _RetryableError,
        lead_id: str | None,
        page: int | None,
        attempts: int,
        *,
        out_of_time: bool = False,
    ) -> ApiError:
        """The error once retrying stops after ``exc``: the attempts are used up, or
        (``out_of_time``) the next retry could not have ended before the deadline."""
        kw: dict[str, Any] = {"lead_id": lead_id, "page": page, "attempts": attempts}
        if exc.status is not None:
            p = _problem(exc.content)
            kw.update(
                status=exc.status,
                title=p.get("title") if isinstance(p.get("title"), str) else None,
                detail=p.get("detail") if isinstance(p.get("detail"), str) else None,
                trace_id=p.get("traceId") if isinstance(p.get("traceId"), str) else None,
            )
        if out_of_time:
            message = (
                f"gave up: the deadline of {self._retry.deadline:g} s was reached (the next "
                f"retry would end past it); last attempt: {exc}"
            )
        elif exc.status == 429:
            message = "rate limited: the server kept answering 429"
        else:
            message = f"gave up: {exc}"
        if exc.status == 429:
            return RateLimitError(message, retry_after=exc.retry_after, **kw)
        return ApiError(message, **kw)

    def _deadline_reached(self, lead_id: str | None, page: int | None, attempts: int) -> ApiError:
        """The deadline was reached while attempt ``attempts`` was under way."""
        return ApiError(
            f"gave up: the deadline of {self._retry.deadline:g} s was reached during attempt "
            f"{attempts} (RetryPolicy.deadline bounds the whole request)",
            lead_id=lead_id,
            page=page,
            attempts=attempts,
        )
