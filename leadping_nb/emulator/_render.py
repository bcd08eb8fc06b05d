"""Era rendering: internal rows -> API JSON items, and -> canonical Python values.

Two schema eras (docs/api.md §4):

* ``seed``: exactly the seed page's 41 item fields (:data:`SEED_ITEM_FIELDS`, in that
  order), numbers as strings by default (``"retryCount": "2"``, ``"billableAmount":
  "0.0079"``);
* ``current``: today's ``EventTableRow`` (SDK 1.0.83): timelineType/timelineCategory,
  status, trafficType, selectionReason, actor fields, media, isDemo, ...; numbers as JSON
  numbers by default; no isWarmup, telnyxId, providerMessageId or tenDlcCampaignId.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from leadping_nb._core.schema import EVENT_FIELDS, SEED_ITEM_FIELDS, field_by_name

from ._catalog import (
    N_SLOTS,
    S_CARRIER,
    S_SEGMENTS,
    S_TRAFFIC,
    SLOT_OF,
    TICKS_PER_SECOND,
)

__all__ = ["Era", "Renderer", "format_ticks", "quantum_for"]

Era = Literal["seed", "current"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DATES: dict[int, str] = {}


def quantum_for(fraction_digits: int) -> int:
    """Ticks per unit of the last served digit (0 -> 1 s, 3 -> 1 ms, 7 -> 100 ns)."""
    if fraction_digits not in (0, 3, 7):
        raise ValueError("fraction_digits must be 0, 3 or 7")
    return int(10 ** (7 - fraction_digits))


def format_ticks(ticks: int, fraction_digits: int = 3) -> str:
    """ISO-8601 UTC text of a tick count, with 0, 3 or 7 fractional digits.

    Examples
    --------
    >>> format_ticks(17_000_000_000_000_001, 7)
    '2023-11-14T22:13:20.0000001Z'
    >>> format_ticks(17_000_000_000_000_001, 0)
    '2023-11-14T22:13:20Z'
    """
    secs, frac = divmod(ticks, TICKS_PER_SECOND)
    days, sod = divmod(secs, 86400)
    d = _DATES.get(days)
    if d is None:
        d = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        _DATES[days] = d
    h, rem = divmod(sod, 3600)
    m, s = divmod(rem, 60)
    if fraction_digits == 3:
        return f"{d}T{h:02d}:{m:02d}:{s:02d}.{frac // 10000:03d}Z"
    if fraction_digits == 7:
        return f"{d}T{h:02d}:{m:02d}:{s:02d}.{frac:07d}Z"
    return f"{d}T{h:02d}:{m:02d}:{s:02d}Z"


def ticks_to_datetime(ticks: int) -> datetime:
    """Aware UTC datetime (microsecond precision, truncated) of a tick count."""
    return _EPOCH + timedelta(microseconds=ticks // 10)


def money_text(units: int) -> str:
    """0.0001 units as a 4-decimal string: ``79 -> '0.0079'``."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10000)
    return f"{sign}{whole}.{frac:04d}"


def money_decimal(units: int) -> Decimal:
    """0.0001 units as an exact Decimal with 4 places."""
    return Decimal(money_text(units))


#: Current-era fields left out of an item when null: the OpenAPI document types them as
#: ``["null", "string"]`` with an enum that has no null, so a null would not validate.
#: Every event has a status and a traffic type; only non-communication events (lead
#: created, notes, status changes, automation steps) have no selection reason.
OMIT_WHEN_NULL = ("selectionReason", "status", "trafficType")

_EXTRA_FIELDS = (("segmentCount", S_SEGMENTS, "integer"), ("carrierName", S_CARRIER, "string"))


def era_fields(era: Era) -> tuple[tuple[str, int, str], ...]:
    """The ``(json name, slot, kind)`` of every item field an era emits, in order."""
    if era == "seed":
        out = []
        for name in SEED_ITEM_FIELDS:
            f = field_by_name(name)
            assert f is not None
            out.append((name, SLOT_OF[f.api], f.kind))
        return tuple(out)
    return tuple((f.api, SLOT_OF[f.api], f.kind) for f in EVENT_FIELDS if "current" in f.eras)


def media_values(media: tuple[tuple[Any, ...], ...]) -> list[dict[str, Any]]:
    """A row's attachments (internal tuples) as the canonical ``media`` values."""
    return [
        {
            "url": m[0],
            "content_type": m[1],
            "size": m[2],
            "sha256": m[3],
            "file_name": m[4],
            "file_id": m[5],
        }
        for m in media
    ]


@dataclass(frozen=True)
class Renderer:
    """Renders internal event rows in one era with one set of options."""

    era: Era = "current"
    numbers_as_strings: bool = False
    fraction_digits: int = 3
    extra_fields: bool = False

    def __post_init__(self) -> None:
        quantum_for(self.fraction_digits)
        fields = era_fields(self.era)
        if self.extra_fields:
            fields = fields + _EXTRA_FIELDS
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_item", self._compile())
        emitted = {slot for _, slot, _ in fields}
        plan = [
            (
                f.column,
                i if i in emitted else None,
                f.kind if f.kind in ("timestamp", "money", "media") else "plain",
            )
            for i, f in enumerate(EVENT_FIELDS)
        ]
        object.__setattr__(self, "_values_plan", plan)

    @property
    def fields(self) -> tuple[tuple[str, int, str], ...]:
        """``(json name, slot, kind)`` of every emitted item field."""
        fields: tuple[tuple[str, int, str], ...] = self.__dict__["_fields"]
        return fields

    def _compile(self) -> Callable[[Sequence[Any]], dict[str, Any]]:
        digits = self.fraction_digits
        as_str = self.numbers_as_strings
        fmt = format_ticks
        plain: list[tuple[str, int]] = []
        special: list[tuple[str, int, Callable[[Any], Any]]] = []

        def ts(v: Any) -> Any:
            return None if v is None else fmt(v, digits)

        def money(v: Any) -> Any:
            if v is None:
                return None
            return money_text(v) if as_str else v / 10000

        def integer(v: Any) -> Any:
            if v is None:
                return None
            return str(v) if as_str else v

        def media(v: Any) -> Any:
            return [
                {
                    "url": m[0],
                    "contentType": m[1],
                    "size": str(m[2]) if as_str else m[2],
                    "sha256": m[3],
                    "fileName": m[4],
                    "fileId": m[5],
                }
                for m in v
            ]

        for name, slot, kind in self.fields:
            if kind == "timestamp":
                special.append((name, slot, ts))
            elif kind == "money":
                special.append((name, slot, money))
            elif kind == "integer":
                special.append((name, slot, integer))
            elif kind == "media":
                special.append((name, slot, media))
            else:
                plain.append((name, slot))
        order = [name for name, _, _ in self.fields]
        # current era: a null selectionReason is left out (its schema has no null value)
        omit_null = [n for n in OMIT_WHEN_NULL if n in order] if self.era == "current" else []
        if not special:  # pragma: no cover - every era has timestamps

            def item_plain(row: Sequence[Any]) -> dict[str, Any]:
                return {n: row[s] for n, s in plain}

            return item_plain

        def item(row: Sequence[Any]) -> dict[str, Any]:
            d = {n: row[s] for n, s in plain}
            for n, s, f in special:
                d[n] = f(row[s])
            out = {n: d[n] for n in order}
            for n in omit_null:
                if out[n] is None:
                    del out[n]
            return out

        return item

    def item(self, row: Sequence[Any]) -> dict[str, Any]:
        """The API JSON item (a dict ready for ``json.dumps``) of one internal row."""
        render: Callable[[Sequence[Any]], dict[str, Any]] = self.__dict__["_item"]
        return render(row)

    def number(self, v: int | None) -> int | str | None:
        """An envelope integer (pageSize, totalCount) in this renderer's number style."""
        if v is None:
            return None
        return str(v) if self.numbers_as_strings else v

    def values(self, row: Sequence[Any]) -> dict[str, Any]:
        """Canonical Python values of one row, keyed by snake_case column.

        Every column of :data:`~leadping_nb._core.schema.EVENT_SCHEMA` is present; columns the
        era does not carry are ``None``, except ``is_warmup``, bridged from
        ``trafficType == "Warmup"`` in the ``current`` era (as the frame layer does).
        Timestamps are aware UTC datetimes truncated to the served precision, then to
        microseconds; money is a 4-place Decimal.
        """
        plan: list[tuple[str, int | None, str]] = self.__dict__["_values_plan"]
        out: dict[str, Any] = {}
        for column, slot, kind in plan:
            v = None if slot is None else row[slot]
            if v is not None and kind != "plain":
                if kind == "timestamp":
                    v = _EPOCH + timedelta(microseconds=v // 10)
                elif kind == "money":
                    v = money_decimal(v)
                else:
                    v = media_values(v)
            out[column] = v
        if self.era == "current":
            out["is_warmup"] = row[S_TRAFFIC] == "Warmup"
        return out


assert len(EVENT_FIELDS) + 2 == N_SLOTS
