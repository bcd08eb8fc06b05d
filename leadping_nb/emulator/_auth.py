"""Who may ask: bearer-key authentication and the two rate limits.

A request with a valid key (``Authorization: Bearer <key>`` or ``X-Leadping-Api-Key``)
counts against its key's sliding window; a request without valid credentials counts
against its client address's window (the API's IP partition, so guessing keys is
throttled too) and is refused with 401, or 429 past that window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from ._problems import ERR, ProblemError, rate_limited
from ._ratelimit import SlidingWindowLimiter

__all__ = ["Gatekeeper"]

_RESOURCE_METADATA = "https://api.leadping.ai/.well-known/oauth-protected-resource"


class Gatekeeper:
    """Authenticate a request and apply the per-key and per-address rate limits.

    Parameters
    ----------
    api_keys
        Accepted bearer keys.
    rate_limit
        ``(requests, seconds)`` per key and per unauthenticated address, or ``None``.
    clock
        Monotonic clock (seconds) of the limiters.
    counts
        The emulator's counters: every 429 of a limiter adds to ``"rate_limited"``.

    Examples
    --------
    >>> from collections import Counter
    >>> gate = Gatekeeper(("k",), (1, 60.0), lambda: 0.0, Counter())
    >>> gate.admit({"authorization": "Bearer k"}, "")
    'k'
    >>> try:
    ...     gate.admit({"authorization": "Bearer k"}, "")
    ... except ProblemError as exc:
    ...     print(exc.status, exc.headers)
    429 (('retry-after', '60'),)
    """

    def __init__(
        self,
        api_keys: Sequence[str],
        rate_limit: tuple[int, float] | None,
        clock: Callable[[], float],
        counts: Counter[str],
    ) -> None:
        self.api_keys = tuple(api_keys)
        self._counts = counts
        self._limiter = (
            SlidingWindowLimiter(rate_limit[0], rate_limit[1], clock) if rate_limit else None
        )
        self._ip_limiter = (
            SlidingWindowLimiter(rate_limit[0], rate_limit[1], clock) if rate_limit else None
        )

    def admit(self, headers: Mapping[str, str], client: str) -> str:
        """The request's key, once authenticated and within its rate limit (``headers``
        lower-cased; ``client`` the peer address, ``""`` in-process); else 401 or 429 as
        :class:`ProblemError`."""
        key = self._authenticate(headers, client)
        if self._limiter is not None:
            wait = self._limiter.check(key)
            if wait is not None:
                self._counts["rate_limited"] += 1
                raise rate_limited("The API rate limit for this account has been exceeded.", wait)
        return key

    def _authenticate(self, headers: Mapping[str, str], client: str) -> str:
        try:
            return self._credential(headers)
        except ProblemError:
            if self._ip_limiter is not None:
                wait = self._ip_limiter.check(client or "in-process")
                if wait is not None:
                    self._counts["rate_limited"] += 1
                    raise rate_limited(
                        "Too many unauthenticated requests from this address.", wait
                    ) from None
            raise

    def _credential(self, headers: Mapping[str, str]) -> str:
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
            raise ProblemError(
                401,
                "Authentication credentials are missing: send 'Authorization: Bearer <key>'.",
                type_=ERR + "unauthorized",
                headers=(("www-authenticate", challenge),),
            )
        if key not in self.api_keys:
            raise ProblemError(
                401,
                "The API key is invalid.",
                type_=ERR + "unauthorized",
                headers=(
                    (
                        "www-authenticate",
                        f'Bearer error="invalid_token", resource_metadata="{_RESOURCE_METADATA}"',
                    ),
                ),
            )
        return key
