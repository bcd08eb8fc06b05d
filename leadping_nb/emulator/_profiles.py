"""A generated lead's profile and the timing of its activity (not the event rows).

:class:`LeadProfile` / :func:`make_profile` (everything fixed about one lead, deterministic
in its arguments), lead ids and heavy leads; when things happen: the lead's event times
(with a daily and weekly rhythm), local quiet hours, the log-normal duration tables that
space a message's lifecycle steps; and :func:`to_ticks`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

from ._catalog import (
    _AREA_CODES,
    _DAY,
    _FIRST,
    _HOUR,
    _LAST,
    _MAIL_DOMAINS,
    _MIN,
    _NUMBERS_BY_AREA,
    _SOURCE_WEIGHTS,
    _TPS,
    _TZ_BY_AREA,
    CAMPAIGNS,
    LEAD_STATUSES,
    SENDING_NUMBERS,
    SOURCES,
    TAGS,
    TEN_DLC_CAMPAIGNS,
    USERS,
)

__all__ = ["LeadProfile", "make_profile"]


@dataclass(frozen=True)
class LeadProfile:
    """Everything fixed about one generated lead (its events are derived from it)."""

    index: int
    id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    area: int
    tz_hours: int
    created: int  # ticks
    source: tuple[str, str]
    campaign: tuple[str, str, str]
    ten_dlc: str
    number: tuple[str, str, int]
    n_events: int
    heavy: bool
    is_demo: bool
    conversation_id: str
    user: tuple[str, str, str]
    status: tuple[str, str, str]
    price: int  # cents
    tags: tuple[int, ...]
    archived: bool
    seed: int
    #: index in the lead's timeline of its STOP reply (0: the lead never opts out)
    opt_out: int = 0
    #: how many of its timeline's events the lead still gets after its STOP
    opt_out_tail: int = 0
    #: ticks from creation to the first outbound message (0: the instant automated reply,
    #: drawn with the timeline); see :func:`_first_contact`
    first_contact: int = 0


def lead_id_for(index: int, n_leads: int = 0) -> str:
    """The id of the lead at ``index`` (``lead_0001`` ...)."""
    width = max(4, len(str(n_leads)))
    return f"lead_{index + 1:0{width}d}"


def _choice_w(rng: random.Random, items: tuple[Any, ...], weights: tuple[float, ...]) -> Any:
    r = rng.random()
    acc = 0.0
    for item, w in zip(items, weights, strict=True):
        acc += w
        if r < acc:
            return item
    return items[-1]


def make_profile(
    seed: int,
    index: int,
    *,
    heavy: bool,
    now: int,
    n_leads: int = 0,
    lead_id: str | None = None,
    created: int | None = None,
) -> LeadProfile:
    """Build the profile of lead ``index`` (deterministic in its arguments).

    ``created`` (ticks) fixes the lead's creation instant (a lead that arrives while the
    emulator's clock moves); by default it is drawn as an age before ``now``.
    """
    rng = random.Random(f"lead:{seed}:{index}")
    first = rng.choice(_FIRST)
    last = rng.choice(_LAST)
    area = rng.choice(_AREA_CODES)
    phone = f"+1{area}555{rng.randint(0, 9999):04d}"
    mail_user = (first + "." + last).lower().replace("'", "").replace(" ", "")
    email = f"{mail_user}{rng.randint(1, 99)}@{rng.choice(_MAIL_DOMAINS)}"
    if heavy:
        n_events = int(math.exp(rng.uniform(math.log(1000), math.log(5000))))
        age_days = rng.uniform(200, 400)
    else:
        n_events = max(3, min(400, int(rng.lognormvariate(math.log(28), 0.55))))
        # leads keep arriving: recent leads are more common (exponential age)
        age_days = min(360.0, rng.expovariate(1 / 60) + 0.2)
    if created is None:
        created = now - int(age_days * _DAY)
    created -= created % _TPS  # leads are created at whole seconds
    source = _choice_w(rng, SOURCES, _SOURCE_WEIGHTS)
    campaign = rng.choice(CAMPAIGNS)
    opt_out, tail = _opt_out(seed, index, campaign[0], n_events, heavy)
    numbers = _NUMBERS_BY_AREA.get(area) or list(SENDING_NUMBERS)
    number = rng.choice(numbers) if rng.random() < 0.85 else rng.choice(SENDING_NUMBERS)
    return LeadProfile(
        index=index,
        id=lead_id if lead_id is not None else lead_id_for(index, n_leads),
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        area=area,
        tz_hours=_TZ_BY_AREA[area],
        created=created,
        source=source,
        campaign=campaign,
        ten_dlc=TEN_DLC_CAMPAIGNS[index % len(TEN_DLC_CAMPAIGNS)],
        number=number,
        n_events=n_events,
        heavy=heavy,
        is_demo=rng.random() < 0.06,
        conversation_id=f"conv_{rng.getrandbits(48):012x}",
        user=rng.choice(USERS),
        status=rng.choice(LEAD_STATUSES),
        price=rng.choice((0, 1500, 2500, 3500, 4500, 7500)),
        tags=tuple(sorted(rng.sample(range(len(TAGS)), rng.choice((0, 0, 1, 1, 2))))),
        archived=rng.random() < 0.05,
        seed=seed,
        opt_out=opt_out,
        opt_out_tail=tail,
        first_contact=_first_contact(seed, index, source[0], created, _TZ_BY_AREA[area]),
    )


#: The share of (non-heavy) leads of each campaign that reply STOP at some point.
OPT_OUT_SHARE: dict[str, float] = {
    "cmp_1001": 0.025,  # Speed to Lead
    "cmp_1002": 0.03,  # Refinance Follow-up
    "cmp_1003": 0.02,  # Open House Invites
    "cmp_1004": 0.025,  # Seller Valuation
    "cmp_1005": 0.05,  # Re-engagement 90d: cold leads opt out most
    "cmp_1006": 0.01,  # Appointment Reminders: leads who asked for them
    "cmp_1007": 0.025,  # First-time Buyers
    "cmp_1008": 0.035,  # Rental Leads
}


def _opt_out(seed: int, index: int, campaign: str, n_events: int, heavy: bool) -> tuple[int, int]:
    """Whether and when a lead opts out: ``(index of its STOP in its timeline, events it
    still gets after it)``, ``(0, 0)`` for a lead that never does. Drawn from a stream of
    its own, so the rest of the lead does not depend on it. Heavy leads (long, engaged
    conversations) never opt out; most opt-outs answer one of the first messages."""
    rng = random.Random(f"opt-out:{seed}:{index}")
    if heavy or rng.random() >= OPT_OUT_SHARE.get(campaign, 0.025):
        return 0, 0
    k = 2 + min(int(rng.expovariate(1 / 3.0)), 30)
    tail = (0, 0, 1, 1, 2, 3)[int(rng.random() * 6)]
    return (k, tail) if k < n_events else (0, 0)


#: Sources whose leads get their first message from an agent (no instant automation), and
#: imports, which a campaign run picks up later.
_MANUAL_SOURCES = frozenset({"src_ref5"})
_IMPORT_SOURCES = frozenset({"src_csv6"})


def _first_contact(seed: int, index: int, source: str, created: int, tz_hours: int) -> int:
    """Ticks from a lead's creation to its first outbound message; 0 for the instant
    automated reply (seconds, drawn with the lead's timeline).

    Automated sources answer at once, except that a third of the leads created in local quiet
    hours (21:00-08:00) wait for the sending window (08:00 plus up to 45 minutes) and a few
    (5 %) sit in a queue backlog (minutes); referrals are texted by an agent (a median of 20
    minutes, within sending hours); imports when a campaign run picks them up (a median of
    90 minutes, within sending hours; either at most 12 hours before the sending window is
    applied, so every first message comes within 25 hours). Drawn from a stream of its own.
    """
    rng = random.Random(f"first-contact:{seed}:{index}")
    tz = tz_hours * _HOUR
    if source in _MANUAL_SOURCES or source in _IMPORT_SOURCES:
        median, sigma = (20.0 * 60, 1.0) if source in _MANUAL_SOURCES else (90.0 * 60, 0.8)
        at = created + min(_lognorm_ticks(rng, median, sigma), 12 * _HOUR)
        window = _quiet(at, tz)
        if window:
            at = window + int(rng.random() * 2 * _HOUR)
        return at - created
    r = rng.random()
    window = _quiet(created, tz)
    if window and r < 0.35:
        return window - created + int(rng.random() * 45 * _MIN)
    if r > 0.95:
        return _lognorm_ticks(rng, 180.0, 1.0)
    return 0


def _rhythm(t: int, tz_ticks: int, rng: random.Random) -> int:
    """Push a timestamp towards business hours and weekdays (daily and weekly rhythm)."""
    local = t + tz_ticks
    day_start = local - local % _DAY
    hour = (local - day_start) // _HOUR
    if (hour < 8 or hour >= 21) and rng.random() < 0.82:
        # night: most activity waits for the next morning
        base = day_start + (_DAY if hour >= 21 else 0)
        local = base + 8 * _HOUR + int(rng.random() * 4 * _HOUR)
        day_start = local - local % _DAY
    weekday = (day_start // _DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    if weekday >= 5 and rng.random() < 0.55:
        local += (7 - weekday) * _DAY
    return local - tz_ticks


def _timeline(p: LeadProfile, now: int, rng: random.Random) -> list[int]:
    """Sorted creation times (ticks) of a lead's events, the first being lead creation.

    The second is the first follow-up (speed to lead): seconds after creation, or
    :attr:`LeadProfile.first_contact` later (the events before it move after it; the
    draws are the same either way).
    """
    times = _timeline_draws(p, now, rng)
    delay = p.first_contact
    if delay and len(times) > 1:
        t0 = p.created
        limit = now - _TPS
        old_first = times[1]
        first = t0 + delay
        if first > old_first and first <= limit:
            shift = first - old_first
            times[1:] = sorted(
                t if t >= first else min(t + shift, limit) if t > old_first else first
                for t in times[1:]
            )
            times[1] = first
    return times


def _timeline_draws(p: LeadProfile, now: int, rng: random.Random) -> list[int]:
    n = p.n_events
    t0 = p.created
    times = [t0]
    if n == 1:
        return times
    # the instant automated follow-up lands seconds after creation
    first = t0 + _lognorm_ticks(rng, 25.0, 1.0)
    times.append(first)
    m = n - 2
    if m == 0:
        return times
    room = now - first - _MIN
    if p.heavy:
        span = int(room * rng.uniform(0.8, 0.98))
    else:
        span = int(min(room * rng.uniform(0.5, 0.98), rng.lognormvariate(math.log(9), 0.9) * _DAY))
    span = max(span, m * _TPS)
    rnd = rng.random
    gaps = [_T_GAP[int(rnd() * 4096)] for _ in range(m)]
    scale = span / sum(gaps)
    tz = p.tz_hours * _HOUR
    acc = 0.0
    limit = now - _TPS
    for g in gaps:
        acc += g * scale
        t = _rhythm(first + int(acc) + int(rnd() * _TPS), tz, rng)
        if t > limit:
            t = limit - int(rnd() * 6 * _HOUR)
        if t <= t0:
            t = t0 + 1 + int(rnd() * _MIN)
        times.append(t)
    times.sort()
    return times


def event_count(p: LeadProfile) -> int:
    """How many events a lead's history has (a lead that opted out stops early)."""
    if p.opt_out:
        return min(p.n_events, p.opt_out + 1 + p.opt_out_tail)
    return p.n_events


def _quiet(t: int, tz_ticks: int) -> int:
    """If ``t`` is in local quiet hours (21:00-08:00), the next 08:00 local; else 0."""
    local = t + tz_ticks
    day_start = local - local % _DAY
    hour = (local - day_start) // _HOUR
    if hour >= 21:
        return day_start + _DAY + 8 * _HOUR - tz_ticks
    if hour < 8:
        return day_start + 8 * _HOUR - tz_ticks
    return 0


_exp = math.exp
_TABLE_SIZE = 4096


def _lognorm_table(median_s: float, sigma: float) -> tuple[int, ...]:
    """Quantiles of a log-normal duration in ticks: ``table[int(random() * 4096)]`` draws it.

    A lookup is ~10x faster than ``random.lognormvariate`` and indistinguishable at this
    resolution (the tails reach +-3.7 sigma; the slow-carrier tail is drawn separately).
    """
    nd = NormalDist()
    return tuple(
        1 + int(median_s * _exp(sigma * nd.inv_cdf((i + 0.5) / _TABLE_SIZE)) * _TPS)
        for i in range(_TABLE_SIZE)
    )


def _lognorm_ticks(rng: random.Random, median_s: float, sigma: float) -> int:
    """A log-normal duration in ticks (heavy right tail), at least one tick."""
    return 1 + int(median_s * _exp(sigma * rng.gauss()) * _TPS)


_T_QUEUE = _lognorm_table(0.15, 1.0)  # queued -> sending started
_T_SEND = _lognorm_table(0.4, 0.7)  # sending started -> sent
_T_CARRIER = _lognorm_table(2.5, 1.1)  # sent -> delivered (normal carrier)
_T_FAIL = _lognorm_table(0.8, 1.2)  # sending started -> failed
_T_BLOCK = _lognorm_table(0.05, 0.5)  # compliance check
_T_BILL = _lognorm_table(60.0, 1.2)  # sent -> the charge is billed (Pending until then)
_T_GAP = tuple(
    _exp(1.5 * NormalDist().inv_cdf((i + 0.5) / _TABLE_SIZE)) for i in range(_TABLE_SIZE)
)


def _carrier_gap(rng: random.Random) -> int:
    """sent -> delivered: seconds usually, a slow carrier (minutes) now and then."""
    r = rng.random()
    if r < 0.03:
        # capped at a day: a receipt comes within a day of the send or never
        slow = int((60 + rng.paretovariate(1.1) * 60) * _TPS) + int(rng.random() * _TPS)
        return min(slow, _DAY)
    return _T_CARRIER[int(rng.random() * 4096)]


def heavy_indices(seed: int, n_leads: int, heavy_leads: int | None) -> frozenset[int]:
    """Which lead indices get thousands of events (default: about 1 in 25, at least 1)."""
    if heavy_leads is None:
        heavy_leads = 0 if n_leads < 5 else max(1, round(n_leads / 25))
    heavy_leads = max(0, min(heavy_leads, n_leads))
    rng = random.Random(f"heavy:{seed}")
    return frozenset(rng.sample(range(n_leads), heavy_leads))


def to_ticks(dt: datetime) -> int:
    """Ticks (100 ns since the epoch) of an aware datetime (naive = UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _TPS + delta.microseconds * 10


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
