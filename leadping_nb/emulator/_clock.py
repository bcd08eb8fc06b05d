"""The emulator's clock: when the world is observed.

The world's instant is its start plus every :meth:`WorldClock.advance`, plus, with a
``speed``, the whole seconds of world time the monotonic ``clock`` has run since the
emulator was made. :meth:`WorldClock.sync` brings the world there before it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ._catalog import TICKS_PER_SECOND
from ._world import World

__all__ = ["WorldClock", "from_ticks", "timedelta_ticks"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WorldClock:
    """Moves a :class:`World` forward with :meth:`advance` and with ``speed``.

    Examples
    --------
    >>> from leadping_nb.emulator._catalog import DEFAULT_NOW
    >>> from leadping_nb.emulator._profiles import to_ticks
    >>> world = World(1, 2, 0, to_ticks(DEFAULT_NOW), 1, 1000)
    >>> clock = WorldClock(world, lambda: 0.0, 0.0)
    >>> clock.advance(timedelta_ticks(timedelta(hours=1)))
    >>> from_ticks(world.now)
    datetime.datetime(2026, 11, 1, 13, 0, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, world: World, clock: Callable[[], float], speed: float) -> None:
        if speed < 0:
            raise ValueError("clock_speed must be >= 0")
        self._world = world
        self._clock = clock
        self.speed = speed
        self._origin = clock()
        self._advanced = 0  # ticks moved by advance()

    def sync(self) -> None:
        """Bring the world to the clock's time (a no-op unless ``speed`` is set)."""
        w = self._world
        target = w.start + self._advanced
        if self.speed:
            elapsed = max(0.0, self._clock() - self._origin) * self.speed
            target += int(elapsed) * TICKS_PER_SECOND  # whole seconds of world time
        if target > w.now:
            w.advance_to(target)

    def advance(self, ticks: int) -> None:
        """Move the clock forward by ``ticks`` and bring the world there."""
        self._advanced += ticks
        self.sync()


def timedelta_ticks(delta: timedelta) -> int:
    """A duration in ticks (100 ns), exactly."""
    return (delta.days * 86400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def from_ticks(ticks: int) -> datetime:
    """The aware UTC instant of ``ticks``, truncated to the microsecond."""
    return _EPOCH + timedelta(microseconds=ticks // 10)
