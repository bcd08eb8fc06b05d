"""The request policies a client is built with: :class:`RateLimit`, :class:`RetryPolicy` and the
injectable ``Sleep`` (plain values, no httpx: the emulator's ``client()`` names them too), and
the :class:`RateLimiter` that enforces a :class:`RateLimit`."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from leadping_nb._core.errors import QueryError

__all__ = ["RateLimit", "RateLimiter", "RetryPolicy", "Sleep"]

#: An injectable async sleep (tests, compressed-time benchmarks).
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RateLimit:
    """A client-side request budget: at most ``requests`` in any ``per_seconds`` window.

    The default is Leadping's published limit, 300 requests per 60 seconds.
    """

    requests: int = 300
    per_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.requests < 1 or not self.per_seconds > 0:
            raise QueryError(
                f"rate limit must be >= 1 request per > 0 seconds, got "
                f"{self.requests}/{self.per_seconds}s",
                field="rate_limit",
            )


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are retried.

    Parameters
    ----------
    attempts
        Attempts per request in total (1 = no retry).
    backoff
        First backoff in seconds; it doubles per attempt, with full jitter.
    max_backoff
        Cap of one backoff.
    max_retry_after
        Cap of a server's ``Retry-After`` (seconds).
    deadline
        Total seconds one request may take with all its retries, waits for the rate
        limiter and for a request slot included. It bounds the whole call, also against a
        server that keeps sending slowly (which no read timeout catches): the attempt under
        way is cut off when it is reached, and no retry sleep starts that would end past
        it. Then :class:`~leadping_nb.ApiError` says the deadline was reached.
    """

    attempts: int = 6
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    deadline: float = 600.0


class RateLimiter:
    """Sliding-window limiter that the server's own count can never exceed.

    No more than ``limit.requests`` requests are charged to any window of
    ``limit.per_seconds``. A request is charged from when it is sent until one window after
    its *answer* arrived: the server counts it somewhere in between, so whatever the network
    and client delays, no window the server looks at holds more than the limit. A small
    margin (1 % of the window, at least 20 ms) absorbs clock granularity. ``pause(seconds)``
    holds every caller back, used when the server answers 429 with ``Retry-After``.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._done: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._released: asyncio.Event | None = None
        self._window = limit.per_seconds + max(0.01 * limit.per_seconds, 0.02)

    async def acquire(self) -> None:
        """Wait until one more request may be sent, and charge it."""
        if self._released is None:
            self._released = asyncio.Event()
        while True:
            now = self._clock()
            while self._done and self._done[0] <= now - self._window:
                self._done.popleft()
            wait = self._paused_until - now
            full = len(self._done) + self._in_flight >= self.limit.requests
            if not full and wait <= 0:
                self._in_flight += 1
                return
            if full and not self._done:
                # every charge is still in flight: wait for an answer, then for its window
                self._released.clear()
                await self._released.wait()
                continue
            if full:
                wait = max(wait, self._done[0] + self._window - now)
            await self._sleep(max(wait, 0.0))

    def release(self) -> None:
        """The request charged by :meth:`acquire` got its answer (or failed)."""
        self._in_flight -= 1
        self._done.append(self._clock())
        if self._released is not None:
            self._released.set()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``async with limiter.slot():`` around one request."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (after a 429)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
