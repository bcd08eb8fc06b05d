"""The emulator's world and its clock: which leads and events exist, as they read *now*.

The world starts at ``start`` (the emulator's ``now`` when it was made) with the history
the generator builds up to that instant. Its clock only moves forward
(:meth:`World.advance_to`), and the same world is then observed later:

* events in flight at ``start`` progress through their later states (a scheduled send
  goes out, a queued message is sent, a receipt arrives, a retry is made, a pending charge
  is billed): :func:`~._generator.state_at`;
* existing leads get new events day by day (:func:`~._generator.future_events`: heavy
  leads keep their pace, others fade and come back now and then), and new leads arrive
  (about ``n_leads / 60`` a day, each with its own history from its creation);
* events appended with :meth:`World.add_events` are always there (tests of refreshes).

Everything is deterministic in ``(seed, n_leads, start)``: advancing in one step or in
many gives the same world, event ids included. Nothing is served before it exists: an
event is visible once its ``createdAt`` is reached, and it reads as its latest state
reached.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ._catalog import _DAY, S_CREATED, S_ID
from ._generator import (
    LeadLife,
    appended_events,
    future_events,
    generate_lead_life,
    new_lead_times,
    state_at,
)
from ._profiles import LeadProfile, event_count, heavy_indices, make_profile

__all__ = ["World"]

#: New leads arrive at ``n_leads / _LEAD_ARRIVAL_DAYS`` a day: the generated leads' ages
#: are exponential with a mean of 60 days, so this keeps the same rate.
_LEAD_ARRIVAL_DAYS = 60.0


def _observe(life: LeadLife, now: int) -> list[tuple[Any, ...]]:
    """The events of ``life`` created by ``now``, each in its state at ``now``."""
    rows = life.rows
    if rows and rows[-1][S_CREATED] > now:
        created = [r[S_CREATED] for r in rows]
        rows = rows[: bisect.bisect_right(created, now)]
    if not life.live:
        return rows
    out = list(rows)
    n = len(out)
    for i, states in life.live.items():
        if i < n:
            out[i] = state_at(out[i], states, now)
    return out


class World:
    """The leads and events of one emulator, observed at its clock (``now``, in ticks).

    Parameters
    ----------
    seed, n_leads, heavy_leads
        As for the emulator.
    start
        The instant the generated history ends at (ticks); the clock starts there.
    quantum
        Served timestamp precision (ticks).
    cache_events
        Bound of the cache of generated lead histories (regenerated beyond it).
    """

    def __init__(
        self,
        seed: int,
        n_leads: int,
        heavy_leads: int | None,
        start: int,
        quantum: int,
        cache_events: int,
    ) -> None:
        self.seed = seed
        self.n_leads = n_leads
        self.start = start
        self.now = start
        self.quantum = quantum
        heavy = heavy_indices(seed, n_leads, heavy_leads)
        self.profiles: list[LeadProfile] = [
            make_profile(seed, i, heavy=i in heavy, now=start, n_leads=n_leads)
            for i in range(n_leads)
        ]
        self.index: dict[str, int] = {p.id: i for i, p in enumerate(self.profiles)}
        #: changes whenever what the world serves may have changed (clock, appended events)
        self.version = 0
        self._new_days = 0  # days after ``start`` whose arriving leads are in ``profiles``
        self._cache: OrderedDict[int, LeadLife] = OrderedDict()
        self._cached_events = 0
        self._cache_limit = cache_events
        self._future: dict[tuple[int, int], LeadLife] = {}
        self._appended: dict[int, list[tuple[Any, ...]]] = {}
        self._append_counter = 0
        self._data_end = start
        self._observed_events = 0
        self._observed: OrderedDict[int, tuple[tuple[int, int], list[tuple[Any, ...]]]] = (
            OrderedDict()
        )
        self._by_id: OrderedDict[int, tuple[tuple[int, int], dict[str, tuple[Any, ...]]]] = (
            OrderedDict()
        )
        self._all: tuple[int, list[tuple[Any, ...]], list[int]] | None = None
        self._all_ids: tuple[int, dict[str, tuple[Any, ...]]] | None = None

    # ------------------------------------------------------------------ the clock

    def advance_to(self, now: int) -> None:
        """Move the clock forward to ``now`` (ticks); earlier instants are refused."""
        if now < self.now:
            raise ValueError("the emulator's clock only moves forward")
        if now == self.now:
            return
        self.now = now
        self.version += 1
        days = (now - self.start) // _DAY + 1
        rate = self.n_leads / _LEAD_ARRIVAL_DAYS
        while self._new_days < days:
            day = self._new_days
            for created in new_lead_times(self.seed, day, self.start + day * _DAY, rate):
                i = len(self.profiles)
                p = make_profile(
                    self.seed, i, heavy=False, now=created, n_leads=self.n_leads, created=created
                )
                self.profiles.append(p)
                self.index[p.id] = i
            self._new_days += 1

    # ------------------------------------------------------------------ leads

    def visible(self, index: int) -> bool:
        """Whether lead ``index`` exists at ``now``."""
        return self.profiles[index].created <= self.now

    def lead_indices(self) -> list[int]:
        """Indices of the leads that exist at ``now``, in id order."""
        return [i for i, p in enumerate(self.profiles) if p.created <= self.now]

    def find(self, lead_id: str) -> int | None:
        """The index of an existing lead, or ``None``."""
        i = self.index.get(lead_id)
        return i if i is not None and self.visible(i) else None

    # ------------------------------------------------------------------ events

    def _life(self, index: int) -> LeadLife:
        life = self._cache.get(index)
        if life is None:
            p = self.profiles[index]
            base = index < self.n_leads
            life = generate_lead_life(p, self.start if base else None, self.quantum)
            self._cache[index] = life
            self._cached_events += len(life.rows)
            while self._cached_events > self._cache_limit and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_events -= len(old.rows)
        else:
            self._cache.move_to_end(index)
        return life

    def _key(self, index: int) -> tuple[int, int]:
        return (self.now, len(self._appended.get(index, ())))

    def rows(self, index: int) -> list[tuple[Any, ...]]:
        """Every event of lead ``index`` at ``now`` (creation order within each part)."""
        key = self._key(index)
        hit = self._observed.get(index)
        if hit is not None and hit[0] == key:
            self._observed.move_to_end(index)
            return hit[1]
        # (the cached histories and these observations are each bounded by cache_events)
        rows = _observe(self._life(index), self.now)
        if index < self.n_leads and self.now > self.start:
            rows = list(rows)
            p = self.profiles[index]
            for day in range((self.now - self.start) // _DAY + 1):
                life = self._future.get((index, day))
                if life is None:
                    life = future_events(p, day, self.start + day * _DAY, self.quantum)
                    self._future[(index, day)] = life
                rows.extend(_observe(life, self.now))
        extra = self._appended.get(index)
        if extra:
            rows = [*rows, *extra]
        old = self._observed.pop(index, None)
        if old is not None:
            self._observed_events -= len(old[1])
        self._observed[index] = (key, rows)
        self._observed_events += len(rows)
        while self._observed_events > self._cache_limit and len(self._observed) > 1:
            _, (_k, dropped) = self._observed.popitem(last=False)
            self._observed_events -= len(dropped)
        return rows

    def row_by_id(self, index: int, event_id: str) -> tuple[Any, ...] | None:
        """One event of lead ``index`` at ``now``, by id."""
        key = self._key(index)
        hit = self._by_id.get(index)
        if hit is None or hit[0] != key:
            hit = (key, {r[S_ID]: r for r in self.rows(index)})
            self._by_id[index] = hit
            while len(self._by_id) > 16:
                self._by_id.popitem(last=False)
        return hit[1].get(event_id)

    def all_rows(self) -> tuple[list[tuple[Any, ...]], list[int]]:
        """Every event of every lead at ``now``, ordered by (createdAt, id), with the
        ``createdAt`` column (for windows by bisection)."""
        if self._all is not None and self._all[0] == self.version:
            return self._all[1], self._all[2]
        rows: list[tuple[Any, ...]] = []
        for i in self.lead_indices():
            rows.extend(self.rows(i))
        rows.sort(key=_created_id)
        created = [r[S_CREATED] for r in rows]
        self._all = (self.version, rows, created)
        return rows, created

    def any_row_by_id(self, event_id: str) -> tuple[Any, ...] | None:
        """An event of any lead at ``now``, by id."""
        if self._all_ids is None or self._all_ids[0] != self.version:
            self._all_ids = (self.version, {r[S_ID]: r for r in self.all_rows()[0]})
        return self._all_ids[1].get(event_id)

    def total_events(self) -> int:
        """How many events exist at ``now``."""
        appended = sum(len(v) for v in self._appended.values())
        if self.now == self.start:
            return sum(event_count(p) for p in self.profiles[: self.n_leads]) + appended
        return sum(len(self.rows(i)) for i in self.lead_indices())

    def add_events(self, index: int, n: int, after: int | None) -> list[tuple[Any, ...]]:
        """Append ``n`` settled events to lead ``index`` after the data end (or ``after``)."""
        start = max(self._data_end, self.now)
        if after is not None:
            start = max(start, after)
        self._append_counter += 1
        p = self.profiles[index]
        stop = self._life(index).opted_out_at if p.opt_out else None
        rows = appended_events(p, start, n, self._append_counter, self.quantum, stop)
        self._appended.setdefault(index, []).extend(rows)
        if rows:
            self._data_end = max(self._data_end, max(r[S_CREATED] for r in rows))
        self.version += 1
        return rows


def _created_id(row: Sequence[Any]) -> tuple[Any, Any]:
    return (row[S_CREATED], row[S_ID])
