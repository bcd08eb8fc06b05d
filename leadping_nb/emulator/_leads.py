"""The lead table (``LeadTableRow``): a generated lead's row, and the row as the API
renders it.

Lead rows are internal tuples indexed like :data:`LEAD_FIELDS` (the API's columns, then
three virtual filter/sort fields of nested objects), derived from the lead's profile and
the world's start only, so they are cached per lead.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from ._catalog import ORGANIZATION, TAGS, TICKS_PER_SECOND
from ._clock import WorldClock
from ._engine import FieldSpec
from ._profiles import LeadProfile
from ._render import format_ticks, money_text
from ._world import World

__all__ = ["LEAD_FIELDS", "LEAD_ID_SLOT", "LEAD_SEARCH", "LeadTable"]

_LEAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "string"),
    ("firstName", "string"),
    ("lastName", "string"),
    ("email", "string"),
    ("phone", "string"),
    ("status", "string"),
    ("statusTone", "string"),
    ("createdAt", "timestamp"),
    ("updatedAt", "timestamp"),
    ("enabled", "boolean"),
    ("isArchived", "boolean"),
    ("archivedAt", "timestamp"),
    ("archiveReason", "integer"),
    ("archivedByUserId", "string"),
    ("assignedToUserId", "string"),
    ("assignedTo", "object"),
    ("organization", "object"),
    ("source", "object"),
    ("currentLeadStatus", "object"),
    ("processingStatus", "string"),
    ("processingStatusChangedAt", "timestamp"),
    ("processingStatusReason", "string"),
    ("price", "money"),
    ("tags", "object"),
    ("avatarUrl", "string"),
    ("phoneIdentityId", "string"),
    ("isDemo", "boolean"),
)
_LEAD_SLOT = {name: i for i, (name, _) in enumerate(_LEAD_COLUMNS)}
# virtual (filter/sort only) fields of nested objects
_LEAD_VIRTUAL = (("source.id", "string"), ("source.name", "string"), ("assignedTo.name", "string"))
for _i, (_name, _) in enumerate(_LEAD_VIRTUAL):
    _LEAD_SLOT[_name] = len(_LEAD_COLUMNS) + _i
#: The fields a lead query may filter, search and order by.
LEAD_FIELDS: dict[str, FieldSpec] = {
    name: FieldSpec(name, _LEAD_SLOT[name], kind) for name, kind in _LEAD_COLUMNS + _LEAD_VIRTUAL
}
#: The slot of the lead id (the keyset tiebreaker) and the default search fields.
LEAD_ID_SLOT = _LEAD_SLOT["id"]
LEAD_SEARCH = ("firstName", "lastName", "email", "phone")


class LeadTable:
    """The world's leads as ``LeadTableRow`` rows (cached per lead) and their rendering.

    Examples
    --------
    >>> from leadping_nb.emulator._catalog import DEFAULT_NOW
    >>> from leadping_nb.emulator._profiles import to_ticks
    >>> world = World(1, 2, 0, to_ticks(DEFAULT_NOW), 1, 1000)
    >>> table = LeadTable(world, WorldClock(world, lambda: 0.0, 0.0), False, 3)
    >>> table.render(table.row_at(0))["id"]
    'lead_0001'
    """

    def __init__(
        self, world: World, clock: WorldClock, numbers_as_strings: bool, fraction_digits: int
    ) -> None:
        self._world = world
        self._clock = clock
        self._as_str = numbers_as_strings
        self._digits = fraction_digits
        self._cache: dict[int, tuple[Any, ...]] = {}

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows of the leads that exist now (the clock synced first), in id order."""
        self._clock.sync()
        return [self.row_at(i) for i in self._world.lead_indices()]

    def row_at(self, index: int) -> tuple[Any, ...]:
        """The row of the lead at ``index``."""
        row = self._cache.get(index)
        if row is None:
            w = self._world
            row = self._cache[index] = lead_row(w.profiles[index], w.start, w.quantum)
        return row

    def render(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row as the API's ``LeadTableRow`` item."""
        out: dict[str, Any] = {}
        as_str = self._as_str
        for name, kind in _LEAD_COLUMNS:
            v = row[_LEAD_SLOT[name]]
            if v is not None:
                if kind == "timestamp":
                    v = format_ticks(v, self._digits)
                elif kind == "money":
                    v = money_text(v) if as_str else v / 10000
                elif kind == "integer":
                    v = str(v) if as_str else v
                elif kind == "object":
                    v = json.loads(json.dumps(v))
            out[name] = v
        return out


def lead_row(p: LeadProfile, start: int, quantum: int) -> tuple[Any, ...]:
    """The lead row of a profile, in a world that started at ``start`` (ticks), with
    timestamps truncated to ``quantum``."""
    rng = random.Random(f"leadrow:{p.seed}:{p.index}")
    tps = TICKS_PER_SECOND
    q = quantum
    created = p.created - p.created % q
    updated = created + int(rng.uniform(1, 40) * 86400 * tps)
    updated = min(max(start, created), updated)
    updated -= updated % q
    archived_at = None
    if p.archived:
        archived_at = updated - updated % q
    user = p.user
    values: dict[str, Any] = {
        "id": p.id,
        "firstName": p.first_name,
        "lastName": p.last_name,
        "email": p.email,
        "phone": p.phone,
        "status": p.status[1],
        "statusTone": p.status[2],
        "createdAt": created,
        "updatedAt": updated,
        "enabled": True,
        "isArchived": p.archived,
        "archivedAt": archived_at,
        "archiveReason": rng.choice((1, 2, 3)) if p.archived else None,
        "archivedByUserId": user[0] if p.archived else None,
        "assignedToUserId": user[0],
        "assignedTo": {"id": user[0], "name": user[1]},
        "organization": {"id": ORGANIZATION[0], "name": ORGANIZATION[1]},
        "source": {"id": p.source[0], "name": p.source[1]},
        "currentLeadStatus": {"id": p.status[0], "name": p.status[1], "tone": p.status[2]},
        "processingStatus": "Completed",
        "processingStatusChangedAt": created + 2 * tps,
        "processingStatusReason": None,
        "price": p.price * 100,
        "tags": [{"id": TAGS[t][0], "name": TAGS[t][1], "color": TAGS[t][2]} for t in p.tags],
        "avatarUrl": None,
        "phoneIdentityId": f"pid_{rng.getrandbits(40):010x}",
        "isDemo": p.is_demo,
        "source.id": p.source[0],
        "source.name": p.source[1],
        "assignedTo.name": user[1],
    }
    row: list[Any] = [None] * len(LEAD_FIELDS)
    for name, v in values.items():
        row[_LEAD_SLOT[name]] = v
    return tuple(row)
