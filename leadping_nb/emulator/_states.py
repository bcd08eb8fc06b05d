"""An event row's finish (its description and the served precision) and its later
states: :class:`LeadLife` (a lead's rows and the states of those in flight) and
:func:`state_at` (the event as it reads at an instant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._catalog import (
    S_DESC,
    S_DIR,
    S_ETYPE,
    S_STATUS,
    S_TTYPE,
    TIMESTAMP_SLOTS,
)
from ._lifecycle import _Step

_DESCRIPTIONS: dict[tuple[str | None, ...], str] = {}


def _describe(row: list[Any]) -> str:
    key = (row[S_ETYPE], row[S_DIR], row[S_STATUS], row[S_TTYPE])
    d = _DESCRIPTIONS.get(key)
    if d is None:
        etype, direction, status, ttype = key
        if ttype == "Warmup":
            d = "Warm-up SMS " + str(status).lower()
        elif etype in ("Sms", "Mms"):
            d = f"{direction} {etype.upper()} {str(status).lower()}"
        elif etype == "Call":
            d = f"{direction} call {str(status).lower()}"
        elif etype == "Note":
            d = "Note added"
        elif etype == "LeadStatusChange":
            d = "Lead status changed"
        elif etype == "LeadCreated":
            d = "Lead created"
        else:
            d = "Automation step completed"
        _DESCRIPTIONS[key] = d
    return d


def _finish(row: list[Any], q: int) -> tuple[Any, ...]:
    row[S_DESC] = _describe(row)
    if q > 1:
        for s in TIMESTAMP_SLOTS:
            v = row[s]
            if v is not None:
                row[s] = v - v % q
    return tuple(row)


#: A live event's later states, ``((time, row), ...)`` in time order: from ``time`` on, the
#: event reads as ``row`` (until the next state's time).
States = tuple[tuple[int, tuple[Any, ...]], ...]


@dataclass(frozen=True)
class LeadLife:
    """A lead's events: each one's state at the generation's ``now``, plus the later states
    of the events still in flight then (``live``: index in ``rows`` -> states), and when
    the lead replied STOP (``None``: it does not opt out)."""

    rows: list[tuple[Any, ...]]
    live: dict[int, States]
    opted_out_at: int | None = None


_TS_SLOTS = frozenset(TIMESTAMP_SLOTS)


def _states(row: tuple[Any, ...], future: list[_Step], quantum: int) -> States:
    """Materialise a live event's steps after ``now`` into its later states."""
    out: list[tuple[int, tuple[Any, ...]]] = []
    cur = list(row)
    for time, patch in future:
        if not patch:
            continue
        for s, v in patch:
            if quantum > 1 and v is not None and s in _TS_SLOTS:
                v -= v % quantum
            cur[s] = v
        cur[S_DESC] = _describe(cur)
        state = (time, tuple(cur))
        if out and out[-1][0] == time:
            out[-1] = state
        else:
            out.append(state)
    return tuple(out)


def state_at(row: tuple[Any, ...], states: States, now: int) -> tuple[Any, ...]:
    """The event as it reads at ``now``: the last state reached, else ``row``."""
    for time, later in reversed(states):
        if time <= now:
            return later
    return row
