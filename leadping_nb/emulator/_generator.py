"""Seeded, lazy generator of synthetic SMS lead follow-up activity: the event rows.

Every event is a compact *internal row*, a tuple indexed by the ``S_*`` slots of
``_catalog`` (which says how values are stored). A lead's events are derived from its
profile (``_profiles``) and depend only on ``(seed, lead index, heavy?, now, quantum)``, so
any lead can be regenerated on demand (the emulator caches them in a bounded LRU).
:class:`._kinds._Gen` builds one lead's rows (each message's lifecycle in
:mod:`._lifecycle`, each row finished in :mod:`._states`); :func:`generate_lead_life`,
:func:`future_events`, :func:`appended_events` and :func:`generate_raw_events` drive it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

from ._catalog import (
    _DAY,
    _HOUR,
    _TPS,
    DEFAULT_NOW,
    S_DESC,
    S_DIR,
    S_ETYPE,
    S_SCHED_REASON,
    S_SCHEDULED,
    S_STATUS,
    S_TTYPE,
    TIMESTAMP_SLOTS,
)
from ._kinds import _exp, _Gen
from ._lifecycle import NEVER
from ._profiles import (
    LeadProfile,
    _lognorm_ticks,
    _rhythm,
    _timeline,
    event_count,
    make_profile,
    to_ticks,
)
from ._states import _DESCRIPTIONS, LeadLife, States, _describe, _finish, _states, state_at

__all__ = [
    "LeadLife",
    "future_events",
    "generate_lead_events",
    "generate_lead_life",
    "generate_raw_events",
    "new_lead_times",
    "state_at",
]


def _event_rows(
    g: _Gen, times: list[int], *, first: bool, live_from_creation: bool, stop: int = 0
) -> LeadLife:
    """Build the events at ``times`` (the kind of each drawn from the lead's stream; the
    one at index ``stop``, when not 0, is the lead's STOP)."""
    rnd = g.rng.random
    quantum = g.q
    outbound, inbound, call = g.outbound, g.inbound, g.call
    out: list[tuple[Any, ...]] = []
    live: dict[int, States] = {}
    append = out.append
    descriptions = _DESCRIPTIONS
    slots = TIMESTAMP_SLOTS if quantum > 1 else ()
    if stop:
        g.stop = times[stop]  # sends due from then on are suppressed or canceled
    for i, t in enumerate(times):
        if live_from_creation:
            g.now = t
        if first and i == 0:
            append(_finish(g.lead_created(t), quantum))
            continue
        r = 0.0 if first and i == 1 else rnd()
        if i == stop and stop:
            row = g.stop_reply(t)
        elif r < 0.55:
            row = outbound(t, False, False)
        elif r < 0.69:
            row = inbound(t)
        elif r < 0.74:
            row = outbound(t, False, True)
        elif r < 0.77:
            row = outbound(t, True, False)
        elif r < 0.84:
            row = call(t)
        elif r < 0.88:
            row = g.note(t)
        elif r < 0.92:
            row = g.status_change(t)
        else:
            row = g.notify(t)
        key = (row[S_ETYPE], row[S_DIR], row[S_STATUS], row[S_TTYPE])
        d = descriptions.get(key)
        row[S_DESC] = d if d is not None else _describe(row)
        for s in slots:
            v = row[s]
            if v is not None:
                row[s] = v - v % quantum
        if g.future:
            live[len(out)] = _states(tuple(row), g.future, quantum)
        g.future = None
        append(tuple(row))
    return LeadLife(out, live, None if g.stop == NEVER else g.stop)


def generate_lead_life(
    p: LeadProfile, now: int | None, quantum: int = 1, *, horizon: int = 30 * _DAY
) -> LeadLife:
    """Every event of one lead: its state at ``now`` and the later states of those in flight.

    Parameters
    ----------
    p
        The lead's profile (:func:`make_profile`).
    now
        The instant the lead's history is generated up to, in ticks: events are created
        before it, and what happens to them after it is kept as later states. ``None``: a
        lead that arrives after the emulator started; its events are created over
        ``horizon`` after the lead, each live from its creation.
    quantum
        Timestamps are truncated to a multiple of this many ticks (the served precision).
    """
    rng = random.Random(f"events:{p.seed}:{p.index}")
    end = p.created + horizon if now is None else now
    times = _timeline(p, end, rng)
    if p.opt_out:
        # a lead that replies STOP gets a few more events, then goes quiet
        del times[event_count(p) :]
    g = _Gen(p, end, quantum, rng)
    return _event_rows(g, times, first=True, live_from_creation=now is None, stop=p.opt_out)


def generate_lead_events(p: LeadProfile, now: int, quantum: int = 1) -> list[tuple[Any, ...]]:
    """Every event of one lead as it reads at ``now``, as internal rows in creation order."""
    return generate_lead_life(p, now, quantum).rows


def future_rate(p: LeadProfile, at: int) -> float:
    """Expected events a day of an existing lead at ``at`` (ticks): heavy leads keep their
    pace, others fade out over their first weeks and come back now and then."""
    age_days = max(0.0, (at - p.created) / _DAY)
    if p.heavy:
        return p.n_events / max(age_days, 30.0)
    return 3.0 * _exp(-age_days / 5.0) + 0.03


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (normal approximation above 30)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit = _exp(-lam)
    k = 0
    prod = rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def future_events(p: LeadProfile, day: int, start: int, quantum: int) -> LeadLife:
    """The events an existing lead gets in ``[start, start + 1 day)`` (day ``day`` after
    the emulator's start), each live from its creation; deterministic in its arguments."""
    if p.opt_out:
        return LeadLife([], {})  # it replied STOP before the clock started: it stays quiet
    rng = random.Random(f"future:{p.seed}:{p.index}:{day}")
    n = poisson(rng, future_rate(p, start + _DAY // 2))
    tz = p.tz_hours * _HOUR
    times = sorted(_rhythm(start + 1 + int(rng.random() * (_DAY - 1)), tz, rng) for _ in range(n))
    g = _Gen(p, start, quantum, rng)
    g.n_out = 1
    return _event_rows(g, times, first=False, live_from_creation=True)


def new_lead_times(seed: int, day: int, start: int, rate: float) -> list[int]:
    """Creation instants (whole seconds) of the leads that arrive in ``[start, start + 1
    day)``; ``rate`` is the expected number a day."""
    rng = random.Random(f"new-leads:{seed}:{day}")
    n = poisson(rng, rate)
    times = sorted(start + 1 + int(rng.random() * (_DAY - 1)) for _ in range(n))
    return [t - t % _TPS + _TPS for t in times]


def appended_events(
    p: LeadProfile,
    start: int,
    n: int,
    counter: int,
    quantum: int,
    opted_out_at: int | None = None,
) -> list[tuple[Any, ...]]:
    """``n`` new outbound/inbound events after ``start`` (ticks), for incremental refreshes.

    Each event is at least one second after the previous one, so they stay strictly after
    the current data end at every served precision. Outbound messages to a lead that
    replied STOP (at ``opted_out_at``) are suppressed from then on.
    """
    rng = random.Random(f"append:{p.seed}:{p.index}:{counter}")
    g = _Gen(p, NEVER, quantum, rng)  # no "now" limit: appended events are complete
    g.n_out = 1
    if opted_out_at is not None:
        g.stop = opted_out_at
    out = []
    t = start
    for _ in range(n):
        t += _TPS + _lognorm_ticks(rng, 120.0, 1.0)
        t -= t % quantum
        row = g.inbound(t) if rng.random() < 0.2 else g.outbound(t, False, False)
        row[S_SCHEDULED] = row[S_SCHED_REASON] = None
        out.append(_finish(row, quantum))
    return out


def generate_raw_events(
    seed: int, n_events: int, *, now: int | None = None, quantum: int = 1
) -> Iterator[tuple[Any, ...]]:
    """Stream ``n_events`` internal rows from an unbounded population of leads.

    About 1 lead in 25 is heavy (thousands of events). Deterministic in ``seed``.
    """
    if now is None:
        now = to_ticks(DEFAULT_NOW)
    produced = 0
    index = 0
    heavy_rng = random.Random(f"heavy-stream:{seed}")
    while produced < n_events:
        heavy = heavy_rng.random() < 0.04
        p = make_profile(seed, index, heavy=heavy, now=now, n_leads=10**7)
        rows = generate_lead_events(p, now, quantum)
        take = min(len(rows), n_events - produced)
        yield from rows[:take]
        produced += take
        index += 1
