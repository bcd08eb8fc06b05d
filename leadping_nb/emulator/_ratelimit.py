"""A sliding-window-log rate limiter (default 300 requests per 60 s per API key)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    """Allow at most ``limit`` requests per ``window`` seconds and key.

    Rejected requests are not recorded, so a client that waits ``Retry-After`` seconds
    is always let through. Not thread-safe on its own (the emulator holds a lock).

    Examples
    --------
    >>> now = [0.0]
    >>> lim = SlidingWindowLimiter(2, 60.0, clock=lambda: now[0])
    >>> lim.check("k"), lim.check("k"), lim.check("k")
    (None, None, 60)
    >>> now[0] = 60.0
    >>> lim.check("k") is None
    True
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._log: dict[str, deque[float]] = {}

    def check(self, key: str) -> int | None:
        """Record a request; ``None`` if allowed, else the whole seconds to wait (>= 1)."""
        now = self._clock()
        log = self._log.setdefault(key, deque())
        edge = now - self.window
        while log and log[0] <= edge:
            log.popleft()
        if len(log) >= self.limit:
            return max(1, math.ceil(log[0] + self.window - now))
        log.append(now)
        return None
