"""The request policies a client is built with: :class:`RateLimit`, :class:`RetryPolicy` and the
injectable ``Sleep`` (plain values, no httpx: the emulator's ``client()`` names them too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from leadping_nb._core.errors import QueryError

__all__ = ["RateLimit", "RetryPolicy", "Sleep"]

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
