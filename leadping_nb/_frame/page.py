"""What a page is read as: the declared raw layout, ``ReadKeys``, ``ParsedPage``, error wording.

See docs/frame.md for how a page is read and the rules it keeps.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from leadping_nb._core.errors import SchemaError
from leadping_nb._core.schema import EVENT_FIELDS, EVENT_SCHEMA, Field


class MalformedPageError(SchemaError):
    """The body is not a complete JSON object with an ``items`` array.

    Truncated JSON, an HTML error page, a missing or ``null`` ``items`` and items that are
    not objects all raise this. It is usually transient (a cut connection, a proxy error
    page), so the client may retry the page. ``value`` holds the start of the body.

    Examples
    --------
    >>> from leadping_nb._frame.decode import MalformedPageError, decode_page
    >>> try:
    ...     decode_page(b'{"items": [{"id": "e1"}', lead_id="lead-1", page=3)
    ... except MalformedPageError as exc:
    ...     print(exc.lead_id, exc.page)
    lead-1 3
    """


# ---------------------------------------------------------------------------------------
# Declared raw layout
# ---------------------------------------------------------------------------------------

#: Media attachment keys (API name → struct field of MEDIA_DTYPE).
_MEDIA_FIELDS: dict[str, str] = {
    "url": "url",
    "contentType": "content_type",
    "size": "size",
    "sha256": "sha256",
    "fileName": "file_name",
    "fileId": "file_id",
}

_RAW_MEDIA_DTYPE = pl.List(pl.Struct(dict.fromkeys(_MEDIA_FIELDS, pl.String)))

#: Every item key the parser reads: declared API names, then aliases.
_RAW_KEYS: tuple[str, ...] = tuple(f.api for f in EVENT_FIELDS) + tuple(
    a for f in EVENT_FIELDS for a in f.aliases
)

_RAW_KEY_SET = frozenset(_RAW_KEYS)

_FIELD_OF_KEY: dict[str, Field] = {f.api: f for f in EVENT_FIELDS} | {
    a: f for f in EVENT_FIELDS for a in f.aliases
}

_RAW_ITEM_SCHEMA: dict[str, pl.DataType] = {
    k: (_RAW_MEDIA_DTYPE if _FIELD_OF_KEY[k].kind == "media" else pl.String()) for k in _RAW_KEYS
}

_RAW_ENVELOPE: dict[str, pl.DataType] = {
    "items": pl.List(pl.Struct(_RAW_ITEM_SCHEMA)),
    "pageSize": pl.String(),
    "totalCount": pl.String(),
    "continuationToken": pl.String(),
}

_MEDIA_KEY = next(f.api for f in EVENT_FIELDS if f.kind == "media")

_MONEY_KEY = next(f.api for f in EVENT_FIELDS if f.kind == "money")


@functools.lru_cache(maxsize=64)
def _read_envelope(
    keys: frozenset[str] | None, extra: tuple[str, ...] = ()
) -> dict[str, pl.DataType]:
    """The read schema with only ``keys`` of the item fields (all of them for ``None``),
    plus the undeclared item keys ``extra`` as ``String`` (see :class:`ReadKeys`)."""
    if keys is None and not extra:
        return _RAW_ENVELOPE
    item = {k: t for k, t in _RAW_ITEM_SCHEMA.items() if keys is None or k in keys}
    item.update(dict.fromkeys(extra, pl.String()))
    return {**_RAW_ENVELOPE, "items": pl.List(pl.Struct(item))}


# ---------------------------------------------------------------------------------------
# The keys pages are read with
# ---------------------------------------------------------------------------------------


def _unread_values(body: bytes, items: pl.Series) -> bool:
    """Whether ``body`` may hold values that the parse of ``items`` did not produce.

    An upper bound of the key count of :func:`_check_keys` (media fields and escaped
    ``\\":`` count as unread: a false alarm only costs one scan of the page).
    """
    rows = items.explode().struct.unnest()
    produced: int = rows.height * rows.width - sum(rows.null_count().row(0))
    values = body.count(b'":') - body.count(b'":null') - body.count(b'": null')
    return values > produced + len(_RAW_ENVELOPE)


#: Undeclared keys that are read as String columns (ReadKeys.extra): plain ASCII names, so
#: that the parser's key match and the JSON text agree without any escape in between.
_EXTRA_NAME_RX = re.compile(r"[A-Za-z0-9_.$@-]{1,128}\Z")


def _learnable(doc: Any) -> list[str]:
    """Undeclared item keys of a parsed page worth reading as ``String`` columns.

    A key qualifies when it has a plain name (:data:`_EXTRA_NAME_RX`), at least one
    non-null value, and only scalar values (strings, numbers, booleans, nulls) on the page:
    ``pl.read_json`` reads a scalar into a ``String`` field, but fails on an object or array
    (the page would then be read by the stdlib). In first-seen order.
    """
    items = doc.get("items") if isinstance(doc, dict) else None
    scalar: dict[str, bool] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if value is None or key in _RAW_KEY_SET:
                continue
            scalar[key] = scalar.get(key, True) and isinstance(value, str | int | float | Decimal)
    return [k for k, ok in scalar.items() if ok and _EXTRA_NAME_RX.match(k)]


#: Always read: ``id``, and the enum fields the current era leaves out of an item when null
#: (their OpenAPI enums have no null), which a first page may well not show.
_ALWAYS_READ = frozenset({"id", "status", "trafficType", "selectionReason"})


class ReadKeys:
    """The declared item keys that pages are read with, learned from the pages themselves.

    ``pl.read_json`` pays for every field of the read schema on every item, whether the
    item carries it or not, and the 57 declared keys cover both eras and their aliases
    while a seed-era page sends 41 (docs/frame.md, Which keys are read). So the first page
    read with a ``ReadKeys`` is read with every declared key and teaches it the declared
    keys that occur in its bytes; later pages are read with only those. The read is never
    trusted blindly: a page read with fewer keys that carries a value of another declared
    key fails its key count (:func:`~leadping_nb._frame.raw._check_keys`), is read again
    with every key, and widens the set, so the result is the same as reading every page
    with every key.

    A wrong guess costs time only: a JSON scan and a second read of each page the parser
    threads read with too few keys before the set widened. The fields the current era
    leaves out when null (``status``, ``trafficType``, ``selectionReason``) are always read,
    and :func:`~leadping_nb._frame.decode.events_frame` converts its first batch early (~2 MB
    of pages) to widen the set soon.
    """

    __slots__ = ("_lock", "extra", "keys")

    def __init__(self) -> None:
        self.keys: frozenset[str] | None = None
        #: Undeclared item keys that later pages are read with too, as ``String`` columns.
        self.extra: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def learn(self, body: bytes, items: pl.Series | None = None) -> None:
        """Start from the declared keys in ``body``: the first page read that has any.

        With the page's parsed ``items`` (read with every declared key), the undeclared
        item keys with scalar values on that page (:func:`_learnable`) are learned too, so
        that later pages carrying them are proved by the key count alone instead of a scan
        of each page with :mod:`json`. The page is scanned once, here, and only when its
        ``":`` separators outnumber the values the parse produced (a key it did not read).
        An empty page (a lead without events) teaches nothing, so the next page is read
        with every key and teaches instead.
        """
        if self.keys is None:
            found = [k for k in _RAW_KEYS if b'"' + k.encode() + b'"' in body]
            if found:
                if items is not None and _unread_values(body, items):
                    # invalid JSON: decided later, page by page
                    with contextlib.suppress(ValueError, RecursionError):
                        self.widen_extra(_learnable(json.loads(body)))
                self.widen(found)

    def widen_extra(self, keys: Iterable[str]) -> None:
        """Read later pages with the undeclared ``keys`` too (as ``String`` columns)."""
        with self._lock:
            known = set(self.extra)
            new = tuple(k for k in keys if k not in known and k not in _RAW_KEY_SET)
            if new:
                self.extra = self.extra + new

    def widen(self, keys: Iterable[str]) -> None:
        """Read later pages with ``keys`` too."""
        with self._lock:
            new = frozenset(keys) | _ALWAYS_READ
            self.keys = new if self.keys is None else self.keys | new


# ---------------------------------------------------------------------------------------
# A parsed page, and where and what an error is
# ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class ParsedPage:
    """One events page, parsed and checked but not yet converted (see :func:`parse_page`).

    Parsing is the cheap part (~the JSON parse itself); conversion to typed columns has a
    fixed cost per call, so many parsed pages are best converted together by
    :func:`frame_from_pages` or :func:`events_frame`.

    Attributes
    ----------
    token, page_size, total_count, n_items, page, lead_id
        As on :class:`DecodedPage`. Every other attribute is internal.
    """

    items: pl.Series  # List(Struct(raw item)), one element
    n_items: int
    token: str | None
    page_size: int | None
    total_count: int | None
    nulled: dict[str, int]
    page: int | None
    lead_id: str | None
    body: bytes
    lenient: bool = False
    keep_unknown: bool = False
    #: Minus the envelope's keys and values (see _check_keys, which adds the body's ``":``
    #: separators minus its ``":null`` values, counted per batch).
    balance: int = 0
    #: The body's ``":`` separators minus its ``":null`` values, once counted (_body_stats).
    colons: int | None = None
    #: Whether the items were read with long amounts quoted (or exactly, by the stdlib).
    money_exact: bool = False
    #: Exact unknown fields when already known (stdlib path), else None.
    unknown: tuple[str, ...] | None = None
    kept: dict[str, list[str | None]] = field(default_factory=dict)
    #: Strict stdlib path: the first value of a wrong JSON type (row in page, error).
    type_error: tuple[int, SchemaError] | None = None
    #: The item keys the page was read with (None: every declared key; see ReadKeys).
    read: frozenset[str] | None = None
    #: Where ``read`` came from; widened when the page turns out to carry more keys.
    hint: ReadKeys | None = field(default=None, repr=False)
    #: Undeclared item keys the page was read with, as ``String`` (see ReadKeys.extra).
    extra: tuple[str, ...] = ()


def _where(
    lead_id: str | None,
    page: int | None,
    event_id: str | None = None,
    item: int | None = None,
) -> str:
    """Where a value was found, for error messages: lead, page, event (or item index)."""
    parts = []
    if lead_id is not None:
        parts.append(f"lead {_shown(lead_id)!r}")
    if page is not None:
        parts.append(f"page {page}")
    if event_id is not None:
        parts.append(f"event {_shown(event_id)!r}")
    elif item is not None:
        parts.append(f"items[{item}]")
    return f" ({', '.join(parts)})" if parts else ""


#: Longest value text an error shows (longer values are cut, and say how long they were).
_SHOWN_CHARS = 120


def _shown(text: str) -> str:
    """``text`` safe to print and to store on an error: lone surrogates escaped, cut short.

    Examples
    --------
    >>> from leadping_nb._frame.page import _shown
    >>> _shown("a\\ud800b"), _shown("x" * 200)[-23:]
    ('a\\\\ud800b', 'xxx... (200 characters)')
    """
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > _SHOWN_CHARS:
        text = f"{text[:_SHOWN_CHARS]}... ({len(text):,} characters)"
    return text


def _is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogate, which UTF-8 cannot hold)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _malformed(
    reason: str, body: bytes, lead_id: str | None, page: int | None
) -> MalformedPageError:
    head = body[:200].decode("utf-8", "replace")
    return MalformedPageError(
        f"malformed events page{_where(lead_id, page)}: {reason}; body starts {head[:80]!r}",
        value=head,
        lead_id=lead_id,
        page=page,
    )


def _envelope_int(
    text: str | None,
    name: str,
    *,
    lenient: bool,
    nulled: dict[str, int],
    lead_id: str | None,
    page: int | None,
) -> int | None:
    if text is None:
        return None
    if re.fullmatch(r"-?[0-9]{1,18}", text):
        return int(text)
    _unreadable_envelope(
        name, text, " to an integer", lenient=lenient, nulled=nulled, lead_id=lead_id, page=page
    )
    return None


def _unreadable_envelope(
    name: str,
    shown: str,
    why: str,
    *,
    lenient: bool,
    nulled: dict[str, int],
    lead_id: str | None,
    page: int | None,
) -> None:
    """An envelope value that cannot be read: counted in ``nulled`` (lenient), else raised."""
    if lenient:
        nulled[name] = nulled.get(name, 0) + 1
        return
    raise SchemaError(
        f"cannot convert {name} value {shown!r}{why}{_where(lead_id, page)}",
        field=name,
        value=shown,
        lead_id=lead_id,
        page=page,
    )


def _kept_name(key: str) -> str:
    return f"{key} (unknown)" if key in EVENT_SCHEMA or key in _RAW_KEY_SET else key
