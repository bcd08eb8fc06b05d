"""Bytes → typed Polars frame: every number a user sees comes out of this frame.

:func:`decode_page` turns one response body of ``POST /events/leads/{leadId}`` into a
frame with exactly the columns of :data:`~leadping_nb._schema.EVENT_SCHEMA` (in order);
:func:`events_frame` does the same for many pages, in parallel, and concatenates them;
:func:`frame_from_pages` assembles pages that are already decoded.

How a page is read
------------------
1. The body must be one complete JSON object with an ``items`` array. Anything else
   (truncated JSON, an HTML error page, a missing or ``null`` ``items``, an item that is
   not an object) raises :class:`MalformedPageError`, a :class:`~leadping_nb.SchemaError`
   the client may retry.
2. ``pl.read_json`` parses the body with an explicit schema in which every item field is
   ``String`` (``media`` a list of structs of strings). JSON numbers, booleans and strings
   all arrive as text; nothing is inferred from data.
3. One explicit, strict conversion (:func:`_convert`) turns the text into the declared
   dtypes. A value that does not convert raises :class:`~leadping_nb.SchemaError` naming
   the API field, the value, the lead id, the page and the event id; with
   ``lenient=True`` it becomes null and is counted per field in ``nulled``.

Both schema eras land in the same canonical frame: ``activityCategory`` and
``activityType`` (seed era) fill ``timeline_category`` and ``timeline_type``; when both the
old and the new name are present the new one wins. ``is_warmup`` is ``isWarmup`` when the
item carries it, else ``trafficType == "Warmup"`` when ``trafficType`` is present, else null.
Fields an item does not carry are null.

Value rules
-----------
Money (``billableAmount`` → ``Decimal(18, 6)``)
    A JSON number or a numeric string: ``-?digits[.digits]`` with an optional exponent
    (``1E-05``, which .NET writes for small doubles). It never passes through a float:
    Polars parses JSON numbers as float64, so a page whose amounts could lose digits in
    float64 (an exponent, or 16 or more digit characters) is parsed again, before any of
    its values is used, with its amounts rewritten as JSON strings, byte for byte (the
    check runs per batch with the key counts below); shorter amounts have at most 15 significant
    digits, which float64 round-trips exactly (the shortest representation of the double
    *is* the decimal that was sent). More than 6 fractional digits is an error unless the
    extra digits are zeros (``0.10000000`` is fine, ``0.1234567`` is not), and so is an
    amount beyond 18 digits of precision; ``""``, ``"NaN"``, ``"1,234"``, ``" 2.5"``,
    ``"+1"``, ``".5"`` are errors. Nothing is ever rounded.
Integers (``retryCount`` → ``Int32``; ``media[].size`` → ``Int64``)
    A JSON integer or a string of digits with an optional ``-``. Values outside the range
    are errors. A JSON number with a fraction is judged by its float64 value: ``2.0`` and
    ``1e2`` are the integers 2 and 100, ``2.5`` is an error.
Booleans
    JSON ``true``/``false``, or exactly the strings ``"true"``/``"false"`` (the seed era
    sends numbers as strings, so the same tolerance is extended to booleans; the two are
    indistinguishable once read as text). Anything else (``1``, ``"True"``, ``"yes"``) is an
    error.
Timestamps (→ ``Datetime("us", "UTC")``)
    RFC 3339 / ISO 8601 ``YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|±HH:MM|±HHMM]``; offsets are
    converted to UTC. A timestamp without an offset is read as UTC, because the API
    documents every timestamp as UTC and .NET writes ``DateTime`` values of unspecified kind
    without one. Lower-case ``t``/``z``, a space separator, a date alone and impossible dates
    are errors.

    *Sub-microsecond digits.* .NET writes up to 7 fractional digits (100 ns ticks); the
    declared dtype keeps microseconds. The 7th (and any further) digit is **truncated**
    (never rounded, so an instant never moves into the next microsecond or second), and
    every value that lost a non-zero digit is **counted** per field in ``truncated`` on
    :class:`DecodedPage` and :class:`FrameReport` — visible, not silent. Rejecting such
    values would reject ordinary .NET timestamps; switching the column to nanoseconds would
    break the declared schema and the year range (``0001-01-01`` does not fit in ``ns``).
Strings
    Kept as sent. A JSON number in a string field is kept as its text (float64's shortest
    form for non-integers); an object or array where a string (or any scalar) is expected is
    an error.
Enums (``timeline_type``, ``status``, ``traffic_type``, ``selection_reason``)
    Kept as strings; values outside :data:`~leadping_nb._schema.KNOWN_VALUES` are kept and
    reported in ``unknown_values``.

Unknown fields
--------------
``pl.read_json`` with a schema silently drops keys it does not know, so they are detected
separately, without a second parse: per page, the number of ``":`` separators in the body
minus the number of ``":null`` / ``": null`` values must equal the number of non-null
values the parse produced (item fields, media struct fields, envelope). Two substring
counts per body (one Polars query per batch of pages, in Python for a single small page)
and a null count per column do that. An undeclared key with a value
makes the numbers differ, however rarely it occurs; so do duplicate keys and ``\\":``
escaped inside strings (continuation tokens are JSON-in-a-string), which are then
subtracted using the parsed strings. A page whose numbers still differ is scanned exactly
with :mod:`json`. So an unknown field is reported when it carries a non-null value on at
least one item of the page; a field that is null on every item carries no data and is not
reported. Unknown keys inside media objects are reported as ``media.<key>``. The count
assumes no whitespace between a key and its colon, which no JSON serializer produces.

With ``keep_unknown=True`` unknown top-level item fields are kept as ``String`` columns
after the declared ones, named by their API name (``"<name> (unknown)"`` if that collides
with a declared column): a JSON string as its text, numbers (exactly as sent), booleans,
objects and arrays as compact JSON text.

Performance
-----------
:func:`events_frame` parses pages on two worker threads (``pl.read_json`` releases the
GIL for most of its work) and converts them in batches of ~130k rows (~160 MB of pages)
on the calling thread, so the fixed cost of the typed conversion (a few query plans) is
paid per batch rather than per page, and parsing the next batch overlaps converting this
one (the conversion runs without the GIL). The passes over the raw bytes besides the parse
(key counts for unknown fields, the long-amount check) run in the batch's Polars query,
not per page in Python, where they held the GIL. No Python code runs per row or per value
on the normal path. :func:`parse_page` + :func:`frame_from_pages` give a paging client the
same batching. See ``bench/frame.py`` and ``bench/README.md``.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from html import escape
from types import MappingProxyType
from typing import Any, Literal, overload

import polars as pl

from leadping_nb._errors import SchemaError
from leadping_nb._schema import (
    EVENT_FIELDS,
    EVENT_SCHEMA,
    KNOWN_VALUES,
    MEDIA_DTYPE,
    MONEY_DTYPE,
    MONEY_PRECISION,
    MONEY_SCALE,
    Field,
)

__all__ = [
    "DecodedPage",
    "FrameReport",
    "MalformedPageError",
    "ParsedPage",
    "concat_frames",
    "decode_page",
    "empty_events_frame",
    "events_frame",
    "frame_from_pages",
    "parse_page",
    "schema_table",
]


class MalformedPageError(SchemaError):
    """The body is not a complete JSON object with an ``items`` array.

    Truncated JSON, an HTML error page, a missing or ``null`` ``items`` and items that are
    not objects all raise this. It is usually transient (a cut connection, a proxy error
    page), so the client may retry the page. ``value`` holds the start of the body.

    Examples
    --------
    >>> from leadping_nb._frame import MalformedPageError, decode_page
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

#: Where the rows of a raw batch come from: (page number, requested lead id, row count).
_Span = tuple[int | None, str | None, int]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_BATCH_ROWS = 131_072
#: Page bytes per conversion batch (~_BATCH_ROWS events of ~1.2 kB).
_BATCH_BYTES = 160 * 2**20

# Amounts that float64 may not represent exactly: an exponent, or >= 16 digit characters.
# (Starting the pattern at the rare capital "A" makes the scan faster; other keys ending in
# "Amount" only cause a harmless rewrite of the page's billableAmount values.) The same
# pattern text serves Python's ``re`` (bytes) and Polars' Rust regex (explicit classes, so
# both engines match exactly the same bodies).
_WS = r"[ \t\n\r\x0B\x0C]*"
_LONG_MONEY_PATTERN = rf'Amount"{_WS}:{_WS}-?(?:[0-9.]{{16}}|[0-9.]+[eE])'
_LONG_MONEY_RX = re.compile(_LONG_MONEY_PATTERN.encode())
#: Bodies up to this many bytes per batch are scanned in Python, larger ones by Polars.
_SCAN_IN_PYTHON_BYTES = 256 * 2**10
#: Bodies per Polars scan query (bounds the transient copy of the bodies).
_SCAN_GROUP_BYTES = 16 * 2**20
_QUOTE_MONEY_RX = re.compile(rb'"billableAmount"(\s*):(\s*)(-?[0-9][0-9.eE+-]*)')

_MONEY_TEXT_RX = rf"^-?[0-9]+(?:\.[0-9]{{1,{MONEY_SCALE}}}0*)?$"
_INT_TEXT_RX = r"^-?[0-9]+$"
_TS_TEXT_RX = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_TS_ZONED_RX = r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$"
_TS_SUBMICRO_RX = r"\.[0-9]{6}[0-9]*[1-9]"
_MONEY_NUMBER_PY = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


# ---------------------------------------------------------------------------------------
# Public value types
# ---------------------------------------------------------------------------------------


def _frozen_map(m: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class FrameReport:
    """What the conversion noticed across pages: drift, unknown values, nulled values.

    Attributes
    ----------
    n_pages, n_events
        Pages and events converted.
    unknown_fields
        Item fields the schema does not declare → the first page number they were seen on.
    nulled
        Lenient mode: per API field, how many values could not be converted and became null.
    unknown_values
        Enum columns → values outside the documented set (kept in the frame).
    truncated
        Timestamp fields → how many values lost a non-zero sub-microsecond digit.

    Examples
    --------
    >>> a = FrameReport(n_pages=1, n_events=2, nulled={"retryCount": 1})
    >>> b = FrameReport(n_pages=2, n_events=5, unknown_values={"status": frozenset({"X"})})
    >>> m = a.merge(b)
    >>> (m.n_pages, m.n_events, dict(m.nulled), sorted(m.unknown_values["status"]))
    (3, 7, {'retryCount': 1}, ['X'])
    >>> m.clean
    False
    """

    n_pages: int = 0
    n_events: int = 0
    unknown_fields: Mapping[str, int] = field(default_factory=_frozen_map)
    nulled: Mapping[str, int] = field(default_factory=_frozen_map)
    unknown_values: Mapping[str, frozenset[str]] = field(default_factory=_frozen_map)
    truncated: Mapping[str, int] = field(default_factory=_frozen_map)

    def __post_init__(self) -> None:
        for name in ("unknown_fields", "nulled", "unknown_values", "truncated"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))

    @classmethod
    def empty(cls) -> FrameReport:
        """A report of nothing (the neutral element of :meth:`merge`)."""
        return cls()

    @property
    def clean(self) -> bool:
        """True when nothing was unknown, nulled or truncated."""
        return not (self.unknown_fields or self.nulled or self.unknown_values or self.truncated)

    def merge(self, *others: FrameReport) -> FrameReport:
        """Combine reports: counts add up, sets unite, the earliest first page wins."""
        unknown = dict(self.unknown_fields)
        nulled = dict(self.nulled)
        values = {k: set(v) for k, v in self.unknown_values.items()}
        truncated = dict(self.truncated)
        n_pages, n_events = self.n_pages, self.n_events
        for o in others:
            n_pages += o.n_pages
            n_events += o.n_events
            for k, p in o.unknown_fields.items():
                unknown[k] = min(p, unknown.get(k, p))
            for k, n in o.nulled.items():
                nulled[k] = nulled.get(k, 0) + n
            for k, n in o.truncated.items():
                truncated[k] = truncated.get(k, 0) + n
            for k, vs in o.unknown_values.items():
                values.setdefault(k, set()).update(vs)
        return FrameReport(
            n_pages=n_pages,
            n_events=n_events,
            unknown_fields=unknown,
            nulled=nulled,
            unknown_values={k: frozenset(v) for k, v in values.items()},
            truncated=truncated,
        )

    def _lines(self) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        if self.unknown_fields:
            lines.append(
                (
                    "Unknown fields (not in the schema; keep_unknown=True keeps them)",
                    ", ".join(f"{k} (first on page {p})" for k, p in self.unknown_fields.items()),
                )
            )
        if self.unknown_values:
            lines.append(
                (
                    "Undocumented enum values (kept)",
                    "; ".join(
                        f"{k}: {', '.join(sorted(v))}" for k, v in self.unknown_values.items()
                    ),
                )
            )
        if self.nulled:
            lines.append(
                (
                    "Values that could not be converted and became null",
                    ", ".join(f"{k}: {n}" for k, n in self.nulled.items()),
                )
            )
        if self.truncated:
            lines.append(
                (
                    "Timestamps truncated to microseconds (non-zero 100 ns digit dropped)",
                    ", ".join(f"{k}: {n}" for k, n in self.truncated.items()),
                )
            )
        return lines

    def __str__(self) -> str:
        head = f"{self.n_events:,} events from {self.n_pages:,} pages"
        lines = self._lines()
        if not lines:
            return head + ": clean (no unknown fields or values, nothing nulled or truncated)."
        return head + "\n" + "\n".join(f"- {title}: {text}" for title, text in lines)

    def _repr_html_(self) -> str:
        head = escape(f"{self.n_events:,} events from {self.n_pages:,} pages")
        lines = self._lines()
        if not lines:
            return f"<p><b>{head}</b>: clean.</p>"
        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(t)}</th><td style='text-align:left'>"
            f"{escape(x)}</td></tr>"
            for t, x in lines
        )
        return f"<p><b>{head}</b></p><table>{rows}</table>"


@dataclass(frozen=True)
class DecodedPage:
    """One decoded response page.

    Attributes
    ----------
    frame
        The events, with exactly the columns of ``EVENT_SCHEMA`` (plus kept unknown
        ``String`` columns at the end when ``keep_unknown=True``).
    token
        ``continuationToken``; ``None`` (also for ``""``) means this was the last page.
    page_size, total_count
        ``pageSize`` and ``totalCount`` as ints (``None`` when absent or null).
    n_items
        Number of items on the page.
    unknown_fields
        Item fields (API names) carrying a value that the schema does not declare.
    nulled
        Lenient mode: per API field, values that could not be converted and became null.
    unknown_values
        Enum columns → values outside the documented set.
    truncated
        Timestamp fields → values that lost a non-zero sub-microsecond digit.
    page, lead_id
        The page number and lead id the page was decoded with (for error messages).
    """

    frame: pl.DataFrame
    token: str | None
    page_size: int | None
    total_count: int | None
    n_items: int
    unknown_fields: tuple[str, ...] = ()
    nulled: Mapping[str, int] = field(default_factory=_frozen_map)
    unknown_values: Mapping[str, frozenset[str]] = field(default_factory=_frozen_map)
    truncated: Mapping[str, int] = field(default_factory=_frozen_map)
    page: int | None = None
    lead_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("nulled", "unknown_values", "truncated"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))

    @property
    def report(self) -> FrameReport:
        """This page's findings as a one-page :class:`FrameReport`."""
        first = self.page if self.page is not None else 1
        return FrameReport(
            n_pages=1,
            n_events=self.n_items,
            unknown_fields=dict.fromkeys(self.unknown_fields, first),
            nulled=self.nulled,
            unknown_values=self.unknown_values,
            truncated=self.truncated,
        )


# ---------------------------------------------------------------------------------------
# Parsing: body → raw (all-String) items frame
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


def _where(lead_id: str | None, page: int | None, event_id: str | None = None) -> str:
    parts = []
    if lead_id is not None:
        parts.append(f"lead {lead_id!r}")
    if page is not None:
        parts.append(f"page {page}")
    if event_id is not None:
        parts.append(f"event {event_id!r}")
    return f" ({', '.join(parts)})" if parts else ""


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


def _quote_money(body: bytes) -> bytes:
    """Rewrite ``"billableAmount": 12.5`` as ``"billableAmount":"12.5"`` (every amount)."""
    return _QUOTE_MONEY_RX.sub(rb'"billableAmount"\1:\2"\3"', body)


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
    if lenient:
        nulled[name] = nulled.get(name, 0) + 1
        return None
    raise SchemaError(
        f"cannot convert {name} value {text!r} to an integer{_where(lead_id, page)}",
        field=name,
        value=text,
        lead_id=lead_id,
        page=page,
    )


def _parse_raw(
    body: bytes,
    *,
    lead_id: str | None,
    page: int | None,
    lenient: bool,
    keep_unknown: bool,
    check_items: bool = False,
    quote_money: bool = False,
) -> ParsedPage:
    """Parse one body (worker thread): Series operations only, no query plans.

    ``check_items`` looks for null items now (a malformed page the client may retry);
    batches check them anyway when they are converted. The body is read as sent; a page
    whose amounts float64 might not hold exactly is read again with its amounts quoted
    (``quote_money``) when its batch is assembled (:func:`_body_stats`), or right away if
    the plain read fails.
    """
    start = body[:64].lstrip()
    if start.startswith(b"\xef\xbb\xbf"):
        body = body.lstrip()[3:]
        start = body[:64].lstrip()
    if not start.startswith(b"{"):
        raise _malformed("the body is not a JSON object", body, lead_id, page)
    try:
        env = pl.read_json(_quote_money(body) if quote_money else body, schema=_RAW_ENVELOPE)
    except pl.exceptions.PolarsError:
        if not quote_money and _LONG_MONEY_RX.search(body) is not None:
            # e.g. an amount beyond float64's range: read it as text.
            return _parse_raw(
                body,
                lead_id=lead_id,
                page=page,
                lenient=lenient,
                keep_unknown=keep_unknown,
                check_items=check_items,
                quote_money=True,
            )
        # Invalid JSON, or a value of the wrong JSON type: decide exactly with the stdlib.
        return _parse_python(
            body, lead_id=lead_id, page=page, lenient=lenient, keep_unknown=keep_unknown
        )
    if env.height != 1:
        raise _malformed("the body is not one JSON object", body, lead_id, page)
    items = env.get_column("items")
    if items.null_count():
        raise _malformed("there is no 'items' array", body, lead_id, page)
    n_items = -1  # counted per batch in _assemble (a per-page list.len() costs ~60 µs)
    if check_items:
        exploded = items.explode()
        if exploded.null_count():
            raise _malformed("an item is null, not an object", body, lead_id, page)
        n_items = exploded.len()
    ps_text = env.get_column("pageSize")[0]
    tc_text = env.get_column("totalCount")[0]
    token = env.get_column("continuationToken")[0]
    nulled: dict[str, int] = {}
    page_size = _envelope_int(
        ps_text, "pageSize", lenient=lenient, nulled=nulled, lead_id=lead_id, page=page
    )
    total_count = _envelope_int(
        tc_text, "totalCount", lenient=lenient, nulled=nulled, lead_id=lead_id, page=page
    )
    # Key balance for unknown-field detection (module docstring; finished in _check_keys).
    envelope = [v for v in (ps_text, tc_text, token) if v is not None]
    balance = (
        -1  # "items"
        - len(envelope)
        - sum(v.count('":') - v.count('":null') for v in envelope)  # escaped in the body
    )
    return ParsedPage(
        items=items,
        n_items=n_items,
        token=token or None,
        page_size=page_size,
        total_count=total_count,
        nulled=nulled,
        page=page,
        lead_id=lead_id,
        body=body,
        lenient=lenient,
        keep_unknown=keep_unknown,
        balance=balance,
        money_exact=quote_money,
    )


def _kept_name(key: str) -> str:
    return f"{key} (unknown)" if key in EVENT_SCHEMA or key in _RAW_KEY_SET else key


def _scan_unknown(
    doc: Any, *, keep_unknown: bool
) -> tuple[tuple[str, ...], dict[str, list[str | None]]]:
    """Exact unknown keys of a parsed page (only when the fast count disagrees)."""
    items: list[dict[str, Any]] = doc["items"]
    found: dict[str, None] = {}
    for item in items:
        for key, value in item.items():
            if value is not None and key not in _RAW_KEY_SET:
                found[key] = None
        media = item.get(_MEDIA_KEY)
        if isinstance(media, list):
            for m in media:
                if isinstance(m, dict):
                    for key, value in m.items():
                        if value is not None and key not in _MEDIA_FIELDS:
                            found[f"{_MEDIA_KEY}.{key}"] = None
    kept: dict[str, list[str | None]] = {}
    if keep_unknown:
        for key in found:
            if not key.startswith(f"{_MEDIA_KEY}."):
                kept[_kept_name(key)] = [_kept_text(item.get(key)) for item in items]
    return tuple(found), kept


def _kept_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return _json_text(value)


def _json_text(value: Any) -> str:
    """Compact JSON text, numbers exactly as parsed (Decimal keeps the sent digits)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                json.dumps(k, ensure_ascii=False) + ":" + _json_text(v) for k, v in value.items()
            )
            + "}"
        )
    return json.dumps(value)  # float (from Mapping input)


class _WrongType:
    """Marker: a JSON object/array where a scalar is expected."""

    def __init__(self, text: str) -> None:
        self.text = text


def _f64_text(value: Decimal) -> str:
    """Render a JSON number the way Polars does for a String schema (float64, positional)."""
    as_float = float(value)
    if as_float != as_float or as_float in (float("inf"), float("-inf")):
        return str(value)
    d = Decimal(repr(as_float))
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _scalar_text(value: Any, *, money: bool) -> str | _WrongType | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if money and value.is_finite() else _f64_text(value)
    return _WrongType(_json_text(value))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_python(
    body: bytes,
    *,
    lead_id: str | None,
    page: int | None,
    lenient: bool,
    keep_unknown: bool,
) -> ParsedPage:
    """Exact fallback with :mod:`json`: invalid JSON or a value of the wrong JSON type."""
    try:
        doc = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _malformed(f"invalid JSON ({exc})", body, lead_id, page) from None
    if not isinstance(doc, dict):
        raise _malformed("the body is not a JSON object", body, lead_id, page)
    items = doc.get("items")
    if not isinstance(items, list):
        raise _malformed("there is no 'items' array", body, lead_id, page)
    if not all(isinstance(item, dict) for item in items):
        raise _malformed("an item is not a JSON object", body, lead_id, page)

    nulled: dict[str, int] = {}
    type_error: list[tuple[int, SchemaError]] = []

    def bad(key: str, text: str, row: int) -> None:
        if lenient:
            nulled[key] = nulled.get(key, 0) + 1
            return
        if type_error:  # only the first one (in row order) is raised
            return
        item = items[row]
        event_id = item.get("id") if isinstance(item.get("id"), str) else None
        lead = lead_id if lead_id is not None else item.get("leadId")
        lead = lead if isinstance(lead, str) else None
        kind = _FIELD_OF_KEY[key.split(".")[0]].kind
        error = SchemaError(
            f"cannot convert {key} value {text!r}: a JSON object or array where a "
            f"{kind} is expected{_where(lead, page, event_id)}",
            field=key,
            value=text,
            lead_id=lead,
            page=page,
            event_id=event_id,
        )
        # Raised after conversion, unless an earlier row has a conversion error (_assemble).
        type_error.append((row, error))

    columns: dict[str, list[Any]] = {k: [] for k in _RAW_KEYS}
    for row, item in enumerate(items):
        for key in _RAW_KEYS:
            value = item.get(key)
            if key == _MEDIA_KEY:
                columns[key].append(_media_value(value, row, bad))
                continue
            text = _scalar_text(value, money=key == _MONEY_KEY)
            if isinstance(text, _WrongType):
                bad(key, text.text, row)
                text = None
            columns[key].append(text)
    frame = pl.DataFrame(
        [pl.Series(k, columns[k], dtype=_RAW_ITEM_SCHEMA[k]) for k in _RAW_KEYS],
    )
    unknown, kept = _scan_unknown(doc, keep_unknown=keep_unknown)

    def envelope_text(name: str) -> str | None:
        text = _scalar_text(doc.get(name), money=False)
        if isinstance(text, _WrongType):
            if lenient:
                nulled[name] = nulled.get(name, 0) + 1
                return None
            raise SchemaError(
                f"cannot convert {name} value {text.text!r}{_where(lead_id, page)}",
                field=name,
                value=text.text,
                lead_id=lead_id,
                page=page,
            )
        return text

    ps_text = envelope_text("pageSize")
    tc_text = envelope_text("totalCount")
    token = envelope_text("continuationToken")
    page_size = _envelope_int(
        ps_text, "pageSize", lenient=lenient, nulled=nulled, lead_id=lead_id, page=page
    )
    total_count = _envelope_int(
        tc_text, "totalCount", lenient=lenient, nulled=nulled, lead_id=lead_id, page=page
    )
    return ParsedPage(
        items=frame.to_struct("items").implode(),
        n_items=frame.height,
        token=token or None,
        page_size=page_size,
        total_count=total_count,
        nulled=nulled,
        page=page,
        lead_id=lead_id,
        body=body,
        lenient=lenient,
        keep_unknown=keep_unknown,
        unknown=unknown,
        kept=kept,
        type_error=type_error[0] if type_error else None,
        money_exact=True,
    )


def _media_value(
    value: Any, row: int, bad: Callable[[str, str, int], None]
) -> list[dict[str, str | None] | None] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        bad(_MEDIA_KEY, _json_text(value), row)
        return None
    out: list[dict[str, str | None] | None] = []
    for m in value:
        if m is None:
            out.append(None)
            continue
        if not isinstance(m, dict):
            bad(_MEDIA_KEY, _json_text(m), row)
            out.append(None)
            continue
        struct: dict[str, str | None] = {}
        for key in _MEDIA_FIELDS:
            text = _scalar_text(m.get(key), money=False)
            if isinstance(text, _WrongType):
                bad(f"{_MEDIA_KEY}.{key}", text.text, row)
                text = None
            struct[key] = text
        out.append(struct)
    return out


# ---------------------------------------------------------------------------------------
# Typed conversion: raw (all-String) items → EVENT_SCHEMA
# ---------------------------------------------------------------------------------------


def _money_expr(e: pl.Expr) -> pl.Expr:
    return pl.when(e.str.contains(_MONEY_TEXT_RX)).then(e.cast(MONEY_DTYPE, strict=False))


def _int_expr(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    as_int = pl.when(e.str.contains(_INT_TEXT_RX)).then(e.cast(pl.Int64, strict=False))
    if dtype == pl.Int32:
        return pl.when(as_int.is_between(_INT32_MIN, _INT32_MAX)).then(as_int).cast(pl.Int32)
    return as_int


def _bool_expr(e: pl.Expr) -> pl.Expr:
    return e.replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)


def _ts_expr(e: pl.Expr, digits: int | None = None) -> pl.Expr:
    """Timestamp text → ``Datetime("us", "UTC")``; null where the text is not valid.

    ``digits`` says that every value of the column is ``YYYY-MM-DDTHH:MM:SS[.f…]Z`` with
    exactly that many fractional digits (0-6; see :func:`_ts_layouts`). Such columns are
    parsed as the date-time part with Polars' fixed-format parser plus the fraction as an
    integer, ~2× cheaper than the general ``%+`` parse and equal to it on every valid text
    (tests compare both). Anything else takes the general parse (offsets, naive times read
    as UTC, mixed layouts, sub-microsecond digits).
    """
    if digits is None:
        text = pl.when(e.str.contains(_TS_ZONED_RX)).then(e).otherwise(e + "Z")
        parsed = text.str.to_datetime("%+", time_unit="us", time_zone="UTC", strict=False)
    else:
        parsed = e.str.slice(0, 19).str.to_datetime(
            "%Y-%m-%dT%H:%M:%S", time_unit="us", time_zone="UTC", strict=False
        )
        if digits:
            fraction = e.str.slice(20, digits).cast(pl.Int64) * 10 ** (6 - digits)
            parsed = parsed + pl.duration(microseconds=fraction)
    return pl.when(e.str.contains(_TS_TEXT_RX)).then(parsed)


#: Lengths of ``YYYY-MM-DDTHH:MM:SSZ`` with 0 and with 1-6 fractional digits.
_TS_FIXED_LENGTHS = {20: 0, **{21 + d: d for d in range(1, 7)}}


def _ts_layouts(raw: pl.DataFrame, present: frozenset[str]) -> frozenset[tuple[str, int]]:
    """Timestamp keys whose every value has one ``Z`` layout: (key, fractional digits).

    One cheap query (lengths and last characters) per batch; see :func:`_ts_expr`.
    """
    keys = [k for k in _TIMESTAMP_KEYS if k in present and k in raw.columns]
    if not keys:
        return frozenset()
    exprs: list[pl.Expr] = []
    for k in keys:
        n = pl.col(k).str.len_bytes()
        exprs += [
            n.min().alias(f"min:{k}"),
            n.max().alias(f"max:{k}"),
            pl.col(k).str.ends_with("Z").all().alias(f"z:{k}"),
        ]
    row = raw.select(exprs).row(0, named=True)
    found = set()
    for k in keys:
        length = row[f"min:{k}"]
        if length == row[f"max:{k}"] and row[f"z:{k}"] and length in _TS_FIXED_LENGTHS:
            found.add((k, _TS_FIXED_LENGTHS[length]))
    return frozenset(found)


def _media_expr(e: pl.Expr) -> pl.Expr:
    el = pl.element()
    parts = [
        (
            _int_expr(el.struct.field(api), pl.Int64()) if api == "size" else el.struct.field(api)
        ).alias(col)
        for api, col in _MEDIA_FIELDS.items()
    ]
    return e.list.eval(pl.when(el.is_not_null()).then(pl.struct(parts))).cast(MEDIA_DTYPE)


def _source(f: Field, present: frozenset[str]) -> pl.Expr | None:
    """The raw column(s) feeding a field; ``None`` when none of them carries a value."""
    keys = [k for k in (f.api, *f.aliases) if k in present]
    if not keys:
        return None
    if len(keys) == 1:
        return pl.col(keys[0])
    return pl.coalesce(*(pl.col(k) for k in keys))


@functools.lru_cache(maxsize=256)
def _typed_exprs(
    present: frozenset[str],
    media_elements: bool,
    ts_layouts: frozenset[tuple[str, int]] = frozenset(),
) -> tuple[pl.Expr, ...]:
    """One expression per declared column, for raw frames whose non-null keys are *present*.

    Columns without any value become typed null literals, which skips their parsing (a
    page usually has most lifecycle timestamps empty). ``id`` is always a column
    reference, so literal columns broadcast to the frame's height. ``ts_layouts`` names
    the timestamp keys with one fixed layout (:func:`_ts_layouts`).
    """
    fixed = dict(ts_layouts)
    exprs: list[pl.Expr] = []
    for f in EVENT_FIELDS:
        src = _source(f, present)
        if f.column == "is_warmup":
            traffic = pl.col("trafficType") == "Warmup" if "trafficType" in present else None
            if src is None:
                expr = traffic if traffic is not None else pl.lit(None, dtype=pl.Boolean)
            elif traffic is None:
                expr = _bool_expr(src)
            else:
                expr = pl.when(src.is_not_null()).then(_bool_expr(src)).otherwise(traffic)
        elif src is None:
            expr = pl.col(f.api) if f.kind in ("string", "enum") else pl.lit(None, dtype=f.dtype)
        elif f.kind == "money":
            expr = _money_expr(src)
        elif f.kind == "integer":
            expr = _int_expr(src, pl.Int32())
        elif f.kind == "boolean":
            expr = _bool_expr(src)
        elif f.kind == "timestamp":
            expr = _ts_expr(src, fixed.get(f.api))
        elif f.kind == "media":
            # Without elements the (empty or null) lists only need their dtype changed.
            expr = _media_expr(src) if media_elements else src.cast(MEDIA_DTYPE, strict=False)
        else:
            expr = src
        exprs.append(expr.cast(f.dtype).alias(f.column))
    return tuple(exprs)


#: Fields whose text is validated: (API key, column).
_CHECKED: tuple[tuple[str, str], ...] = tuple(
    (f.api, f.column)
    for f in EVENT_FIELDS
    if f.kind in ("money", "integer", "boolean", "timestamp")
)
_TIMESTAMP_KEYS = frozenset(f.api for f in EVENT_FIELDS if f.kind == "timestamp")
_ENUM_COLUMNS: tuple[str, ...] = tuple(f.column for f in EVENT_FIELDS if f.kind == "enum")
_RAW_PREFIX = "\x00raw:"


def _describe(key: str, value: str) -> str:
    """Why one raw value failed (only called to build an error message)."""
    f = _FIELD_OF_KEY[key.split(".")[0]]
    kind = "integer" if key == f"{_MEDIA_KEY}.size" else f.kind
    if kind == "money":
        if not _MONEY_NUMBER_PY.match(value):
            return "not a decimal number"
        exponent = Decimal(value).normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MONEY_SCALE:
            return f"more than {MONEY_SCALE} decimal places (amounts are never rounded)"
        return f"does not fit Decimal({MONEY_PRECISION}, {MONEY_SCALE})"
    if kind == "integer":
        if not re.fullmatch(_INT_TEXT_RX, value):
            return "not an integer"
        return "out of range for Int64" if key == f"{_MEDIA_KEY}.size" else "out of range for Int32"
    if kind == "boolean":
        return 'not a boolean (true/false or "true"/"false")'
    if kind == "timestamp":
        if not re.fullmatch(_TS_TEXT_RX, value):
            return "not an ISO-8601 timestamp (YYYY-MM-DDTHH:MM:SS[.fffffff][Z|±HH:MM])"
        return "not a valid date or time"
    return "invalid value"  # pragma: no cover - only checked kinds fail


def _dtype_name(key: str) -> str:
    if key == f"{_MEDIA_KEY}.size":
        return "Int64"
    return str(_FIELD_OF_KEY[key].dtype)


def _normalise_money(raw: pl.DataFrame) -> pl.DataFrame:
    """Rewrite exponent amounts (``1E-05``) as exact positional text (rare; Python)."""
    col = raw.get_column(_MONEY_KEY)
    if not col.str.contains("[eE]").any():
        return raw

    def plain(text: str | None) -> str | None:
        if text is None or not _MONEY_NUMBER_PY.match(text):
            return text
        return format(Decimal(text), "f")

    return raw.with_columns(pl.Series(_MONEY_KEY, [plain(t) for t in col.to_list()], pl.String))


@dataclass
class _Converted:
    frame: pl.DataFrame
    nulled: dict[str, int]
    truncated: dict[str, int]
    unknown_values: dict[str, frozenset[str]]


def _convert(
    raw: pl.DataFrame,
    spans: Sequence[_Span],
    *,
    lenient: bool,
    present: frozenset[str] | None = None,
    media_elements: bool | None = None,
) -> _Converted:
    """Raw items (plus kept unknown columns) → the canonical typed frame.

    Two query plans per call, whatever the number of rows: the typed ``select``, and one
    ``select`` of statistics (failed conversions, truncated timestamps, enum values).
    """
    kept = [c for c in raw.columns if c not in _RAW_ITEM_SCHEMA]
    if raw.height == 0:
        frame = pl.DataFrame(schema={**EVENT_SCHEMA, **dict.fromkeys(kept, pl.String())})
        return _Converted(frame, {}, {}, {})
    if present is None:
        null_counts = raw.null_count().row(0, named=True)
        present = frozenset(k for k, n in null_counts.items() if n < raw.height)
    if media_elements is None:
        media_elements = _MEDIA_KEY in present and bool(raw.get_column(_MEDIA_KEY).list.len().sum())
    source = _normalise_money(raw) if _MONEY_KEY in present else raw
    layouts = _ts_layouts(source, present)
    typed = source.select(*_typed_exprs(present, media_elements, layouts), *kept)

    checked = [(k, c) for k, c in _CHECKED if k in present]
    stats: list[pl.Expr] = []
    for key, column in checked:
        rawc = pl.col(_RAW_PREFIX + key)
        stats.append((rawc.is_not_null() & pl.col(column).is_null()).sum().alias(f"bad:{key}"))
        if key in _TIMESTAMP_KEYS:
            stats.append(
                rawc.filter(pl.col(column).is_not_null() & (rawc.str.len_bytes() > 26))
                .str.contains(_TS_SUBMICRO_RX)
                .sum()
                .alias(f"cut:{key}")
            )
    for column in _ENUM_COLUMNS:
        if typed.get_column(column).null_count() < typed.height:
            stats.append(pl.col(column).drop_nulls().unique().implode().alias(f"enum:{column}"))
    row: dict[str, Any] = {}
    if stats:
        both = typed.hstack([raw.get_column(k).alias(_RAW_PREFIX + k) for k, _ in checked])
        row = both.select(stats).row(0, named=True)

    counts = {k[4:]: int(v) for k, v in row.items() if k.startswith("bad:") and v}
    media_rows, media_values = _media_failures(raw, typed) if media_elements else ([], [])
    if media_rows:
        counts[f"{_MEDIA_KEY}.size"] = len(media_rows)
    if counts and not lenient:
        raise _first_error(raw, typed, counts, media_rows, media_values, spans)
    truncated = {k[4:]: int(v) for k, v in row.items() if k.startswith("cut:") and v}
    unknown_values: dict[str, frozenset[str]] = {}
    for k, values in row.items():
        if k.startswith("enum:"):
            column = k[5:]
            extra = frozenset(v for v in values if v not in KNOWN_VALUES[column])
            if extra:
                unknown_values[column] = extra
    return _Converted(typed, counts, truncated, unknown_values)


def _media_failures(raw: pl.DataFrame, typed: pl.DataFrame) -> tuple[list[int], list[str]]:
    index = pl.int_range(pl.len(), dtype=pl.Int64).alias("row")
    raw_sizes = raw.select(index, pl.col(_MEDIA_KEY)).explode(_MEDIA_KEY)
    typed_sizes = typed.get_column("media").explode()
    raw_size = raw_sizes.get_column(_MEDIA_KEY).struct.field("size")
    mask = raw_size.is_not_null() & typed_sizes.struct.field("size").is_null()
    if not mask.any():
        return [], []
    rows = raw_sizes.get_column("row").filter(mask).to_list()
    return rows, raw_size.filter(mask).to_list()


def _locate(spans: Sequence[_Span], row: int) -> tuple[int | None, str | None]:
    """Page number and requested lead id of a row of a batch."""
    end = 0
    for page, lead, n in spans:
        end += n
        if row < end:
            return page, lead
    return None, None  # pragma: no cover - rows always fall inside the spans


def _first_error(
    raw: pl.DataFrame,
    typed: pl.DataFrame,
    counts: Mapping[str, int],
    media_rows: Sequence[int],
    media_values: Sequence[str],
    spans: Sequence[_Span],
) -> SchemaError:
    """The error of the earliest failing row (ties: declared field order)."""
    candidates: list[tuple[int, int, str, str]] = []
    columns = dict(_CHECKED)
    for order, (key, column) in enumerate(_CHECKED):
        if key in counts:
            mask = raw.get_column(key).is_not_null() & typed.get_column(column).is_null()
            row = int(mask.arg_true()[0])
            candidates.append((row, order, key, raw.get_column(key)[row]))
    if media_rows:
        candidates.append((media_rows[0], len(columns), f"{_MEDIA_KEY}.size", media_values[0]))
    row, _, key, value = min(candidates)
    event_id = raw.get_column("id")[row]
    page, lead = _locate(spans, row)
    if lead is None:
        lead = raw.get_column("leadId")[row]
    error = SchemaError(
        f"cannot convert {key} value {value!r} to {_dtype_name(key)}: "
        f"{_describe(key, value)}{_where(lead, page, event_id)}",
        field=key,
        value=value,
        lead_id=lead,
        page=page,
        event_id=event_id,
    )
    error._leadping_row = row  # type: ignore[attr-defined]  # for _assemble's ordering
    return error


@functools.lru_cache(maxsize=256)
def _count_expr(present: frozenset[str]) -> pl.Expr:
    """Per row: the number of non-null values the parse produced (top level)."""
    parts = [pl.col(k).is_not_null().cast(pl.Int64) for k in _RAW_KEYS if k in present]
    if not parts:
        return pl.repeat(0, pl.len(), dtype=pl.Int64).alias("n")
    return pl.sum_horizontal(parts).alias("n")


def _media_counts(raw: pl.DataFrame) -> pl.Series:
    """Per row: the number of non-null values inside the media structs."""
    el = pl.col(_MEDIA_KEY)
    per_element = (
        raw.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), el)
        .explode(_MEDIA_KEY)
        .filter(el.is_not_null())
        .select(
            "row",
            pl.sum_horizontal(
                [el.struct.field(k).is_not_null().cast(pl.Int64) for k in _MEDIA_FIELDS]
            ).alias("n"),
        )
        .group_by("row")
        .agg(pl.col("n").sum())
    )
    counts = pl.zeros(raw.height, dtype=pl.Int64, eager=True)
    return counts.scatter(per_element.get_column("row"), per_element.get_column("n"))


def _quoted_colons(rows: pl.DataFrame) -> int:
    """``":`` minus ``":null`` inside the parsed strings of some rows (escaped in the body)."""
    columns = [rows.get_column(k) for k in _RAW_KEYS if k != _MEDIA_KEY]
    media = rows.get_column(_MEDIA_KEY).explode().drop_nulls()
    if media.len():
        columns += media.struct.unnest().get_columns()
    total = 0
    for s in columns:
        s = s.drop_nulls()
        if s.len():
            total += int(s.str.count_matches('":', literal=True).sum())
            total -= int(s.str.count_matches('":null', literal=True).sum())
    return total


def _check_keys(
    raw: pl.DataFrame,
    pages: Sequence[ParsedPage],
    present: frozenset[str],
    media_elements: bool,
    *,
    keep_unknown: bool,
) -> list[tuple[str, ...]]:
    """Unknown fields of every page: the fast count, then an exact scan where it disagrees.

    Per page, the body's ``":`` separators minus its ``":null`` values (and the envelope's
    keys) must equal the number of non-null values the parse produced. Undeclared keys,
    duplicate keys and escaped ``\\":`` inside strings make them differ; the escaped ones
    are then subtracted using the parsed strings, and if the page still disagrees it is
    scanned exactly with :mod:`json`.
    """
    per_row = raw.select(_count_expr(present)).get_column("n")
    if media_elements:
        per_row = per_row + _media_counts(raw)
    cum = per_row.cum_sum().to_list() if raw.height else []
    found: list[tuple[str, ...]] = []
    start = 0
    for page in pages:
        end = start + page.n_items
        if page.unknown is not None:
            found.append(page.unknown)
            start = end
            continue
        produced = (cum[end - 1] if end else 0) - (cum[start - 1] if start else 0)
        assert page.colons is not None  # counted by _body_stats
        surplus = page.balance + page.colons - produced
        if surplus > 0:
            surplus -= page.body.count(b'": null')
        if surplus > 0 and b'\\"' in page.body:
            surplus -= _quoted_colons(raw.slice(start, page.n_items))
        if surplus == 0:
            found.append(())
        else:
            try:
                doc = json.loads(page.body, parse_float=Decimal if keep_unknown else float)
            except (ValueError, RecursionError) as exc:  # e.g. a 5,000-digit number
                raise _malformed(
                    f"invalid JSON ({exc})", page.body, page.lead_id, page.page
                ) from None
            unknown, page.kept = _scan_unknown(doc, keep_unknown=keep_unknown)
            found.append(unknown)
        start = end
    return found


def _scan_bodies(bodies: list[bytes]) -> list[tuple[int, int, bool]]:
    """(``":`` count, ``":null`` count, long amount?) per body, in one Polars query."""
    # Bodies that pl.read_json accepted are valid UTF-8 (it rejects anything else).
    series = pl.Series("b", bodies, dtype=pl.Binary).cast(pl.String)
    b = pl.col("b")
    frame = pl.DataFrame([series]).select(
        b.str.count_matches('":', literal=True).alias("k"),
        b.str.count_matches('":null', literal=True).alias("n"),
        b.str.contains(_LONG_MONEY_PATTERN).alias("m"),
    )
    return list(frame.iter_rows())


def _body_stats(pages: Sequence[ParsedPage]) -> None:
    """Count each body's ``":`` and ``":null`` and re-read pages whose amounts need quoting.

    These are the only passes over the raw bytes besides the parse itself. Done per batch
    in one Polars query (parallel, without the GIL) rather than per page in Python, where
    they held the GIL for ~2.5 µs per event and serialised the parser threads. Small
    batches (a single page from :func:`decode_page`) are scanned in Python instead.
    """
    todo = [p for p in pages if p.unknown is None and (p.colons is None or not p.money_exact)]
    if not todo:
        return
    stats: list[tuple[int, int, bool]]
    if sum(len(p.body) for p in todo) <= _SCAN_IN_PYTHON_BYTES:
        stats = [
            (
                p.body.count(b'":'),
                p.body.count(b'":null'),
                _LONG_MONEY_RX.search(p.body) is not None,
            )
            for p in todo
        ]
    else:
        # In groups of ~_SCAN_GROUP_BYTES, so the copy of the bodies stays small.
        stats = []
        start = size = 0
        for end, page in enumerate(todo, start=1):
            size += len(page.body)
            if size >= _SCAN_GROUP_BYTES or end == len(todo):
                stats.extend(_scan_bodies([p.body for p in todo[start:end]]))
                start, size = end, 0
    for page, (keys, nulls, long_money) in zip(todo, stats, strict=True):
        page.colons = keys - nulls
        if long_money and not page.money_exact:
            # float64 may not hold these amounts: read the page again, amounts quoted.
            again = _parse_raw(
                page.body,
                lead_id=page.lead_id,
                page=page.page,
                lenient=page.lenient,
                keep_unknown=page.keep_unknown,
                quote_money=True,
            )
            again.colons = page.colons
            n_items = page.n_items
            for f in fields(ParsedPage):
                setattr(page, f.name, getattr(again, f.name))
            if page.n_items < 0:
                page.n_items = n_items
        page.money_exact = True


class _NullItemError(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


def _assemble(
    pages: Sequence[ParsedPage], *, lenient: bool, keep_unknown: bool
) -> tuple[_Converted, list[tuple[str, ...]]]:
    """Explode, check and convert a batch of parsed pages in one pass.

    Raises ``_NullItemError(index)`` when a page has a null item (a malformed page).
    """
    _body_stats(pages)
    lists = pages[0].items if len(pages) == 1 else pl.concat([p.items for p in pages])
    for page, n in zip(pages, lists.list.len().to_list(), strict=True):
        page.n_items = n
    exploded = lists.explode()
    if exploded.null_count():
        for index, page in enumerate(pages):
            if page.items.explode().null_count():
                raise _NullItemError(index)
    raw = exploded.struct.unnest()
    null_counts = raw.null_count().row(0)
    present = frozenset(k for k, n in zip(raw.columns, null_counts, strict=True) if n < raw.height)
    media_elements = _MEDIA_KEY in present and bool(raw.get_column(_MEDIA_KEY).list.len().sum())
    unknown = _check_keys(raw, pages, present, media_elements, keep_unknown=keep_unknown)
    kept_names: dict[str, None] = {}
    for page in pages:
        kept_names.update(dict.fromkeys(page.kept))
    if kept_names:
        columns = []
        for name in kept_names:
            values: list[str | None] = []
            for page in pages:
                values.extend(page.kept.get(name, [None] * page.n_items))
            columns.append(pl.Series(name, values, dtype=pl.String))
        raw = raw.hstack(columns)
    spans = [(p.page, p.lead_id, p.n_items) for p in pages]
    pending: list[tuple[int, SchemaError]] = []
    start = 0
    for page in pages:
        if page.type_error is not None:
            pending.append((start + page.type_error[0], page.type_error[1]))
        start += page.n_items
    try:
        converted = _convert(
            raw, spans, lenient=lenient, present=present, media_elements=media_elements
        )
    except SchemaError as error:
        # The earliest failing row wins, whichever check found it.
        if pending and pending[0][0] < getattr(error, "_leadping_row", raw.height):
            raise pending[0][1] from None
        raise
    if pending:
        raise pending[0][1]
    return converted, unknown


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def empty_events_frame() -> pl.DataFrame:
    """An events frame with no rows and the full canonical schema.

    Examples
    --------
    >>> from leadping_nb._frame import empty_events_frame
    >>> from leadping_nb._schema import EVENT_SCHEMA
    >>> df = empty_events_frame()
    >>> df.height, df.schema == EVENT_SCHEMA
    (0, True)
    """
    return pl.DataFrame(schema=EVENT_SCHEMA)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _body_bytes(body: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, Mapping):
        try:
            return json.dumps(
                dict(body), default=_json_default, ensure_ascii=False, allow_nan=False
            ).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise MalformedPageError(f"the page mapping is not JSON-serialisable: {exc}") from None
    raise TypeError(
        f"expected bytes, str or a mapping for an events page, got {type(body).__name__}"
    )


def _to_decoded(raw: ParsedPage) -> DecodedPage:
    try:
        converted, (unknown,) = _assemble([raw], lenient=raw.lenient, keep_unknown=raw.keep_unknown)
    except _NullItemError:
        raise _malformed(
            "an item is null, not an object", raw.body, raw.lead_id, raw.page
        ) from None
    nulled = dict(raw.nulled)
    for k, n in converted.nulled.items():
        nulled[k] = nulled.get(k, 0) + n
    return DecodedPage(
        frame=converted.frame,
        token=raw.token,
        page_size=raw.page_size,
        total_count=raw.total_count,
        n_items=converted.frame.height,
        unknown_fields=unknown,
        nulled=nulled,
        unknown_values=converted.unknown_values,
        truncated=converted.truncated,
        page=raw.page,
        lead_id=raw.lead_id,
    )


def decode_page(
    body: bytes | str | Mapping[str, Any],
    *,
    lead_id: str | None = None,
    page: int | None = None,
    lenient: bool = False,
    keep_unknown: bool = False,
) -> DecodedPage:
    """Decode one events page into a typed frame plus its paging fields.

    Parameters
    ----------
    body
        The response body: bytes (preferred), text, or an already parsed mapping (floats
        in a mapping have already lost any digits beyond float64; pass ``Decimal`` or
        strings for exact money).
    lead_id, page
        Where the page comes from; used in error messages and reports.
    lenient
        Turn values that cannot be converted into nulls (counted in ``nulled``) instead of
        raising :class:`~leadping_nb.SchemaError`.
    keep_unknown
        Keep item fields the schema does not declare, as ``String`` columns at the end.

    Returns
    -------
    DecodedPage

    Raises
    ------
    MalformedPageError
        The body is not a complete JSON object with an ``items`` array.
    SchemaError
        A value cannot be converted (strict mode).

    Examples
    --------
    >>> from leadping_nb._frame import decode_page
    >>> body = b'''{"items": [{"id": "e1", "billableAmount": 0.0079, "retryCount": "2",
    ...   "createdAt": "2026-11-07T05:31:56.1234567Z", "trafficType": "Warmup"}],
    ...   "pageSize": 100, "totalCount": null, "continuationToken": "abc"}'''
    >>> p = decode_page(body, lead_id="lead-1", page=1)
    >>> p.token, p.page_size, p.n_items
    ('abc', 100, 1)
    >>> row = p.frame.row(0, named=True)
    >>> row["billable_amount"], row["retry_count"], row["is_warmup"]
    (Decimal('0.007900'), 2, True)
    >>> row["created_at"].isoformat(), dict(p.truncated)
    ('2026-11-07T05:31:56.123456+00:00', {'createdAt': 1})
    """
    raw = parse_page(body, lead_id=lead_id, page=page, lenient=lenient, keep_unknown=keep_unknown)
    return _to_decoded(raw)


def parse_page(
    body: bytes | str | Mapping[str, Any],
    *,
    lead_id: str | None = None,
    page: int | None = None,
    lenient: bool = False,
    keep_unknown: bool = False,
) -> ParsedPage:
    """Parse and check one events page without converting it yet (the fast half of decoding).

    Use it where pages arrive one by one (a paging client): ``.token`` is available at
    once, a body that is not a complete page raises :class:`MalformedPageError` here (so
    the page can be retried), and the typed conversion is done later for many pages at a
    time by :func:`frame_from_pages` — several times cheaper than :func:`decode_page` per
    page of 100 events. Bad values raise :class:`~leadping_nb.SchemaError` (or are counted,
    with ``lenient=True``) at that later step, naming the same field, value, lead, page and
    event. Arguments as :func:`decode_page`.

    Examples
    --------
    >>> from leadping_nb._frame import frame_from_pages, parse_page
    >>> p1 = parse_page(b'{"items":[{"id":"a"}],"continuationToken":"t2"}', page=1)
    >>> p2 = parse_page(b'{"items":[{"id":"b","retryCount":3}]}', page=2)
    >>> p1.token, p2.token, p1.n_items
    ('t2', None, 1)
    >>> df, report = frame_from_pages([p1, p2])
    >>> df.get_column("retry_count").to_list(), report.n_pages
    ([None, 3], 2)
    """
    return _parse_raw(
        _body_bytes(body),
        lead_id=lead_id,
        page=page,
        lenient=lenient,
        keep_unknown=keep_unknown,
        check_items=True,
    )


def _align(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate typed frames: canonical columns first, then kept unknown columns."""
    extra: dict[str, None] = {}
    for f in frames:
        for c in f.columns:
            if c not in EVENT_SCHEMA:
                extra[c] = None
    target = pl.Schema({**EVENT_SCHEMA, **dict.fromkeys(extra, pl.String())})
    if not frames:
        return pl.DataFrame(schema=target)
    names, dtypes = list(target), list(target.values())
    parts = []
    for f in frames:
        # columns and dtypes compared as lists: 3x cheaper than Schema equality
        if f.columns != names or f.dtypes != dtypes:
            f = f.select(
                [
                    pl.col(c).cast(dt) if c in f.columns else pl.lit(None, dtype=dt).alias(c)
                    for c, dt in target.items()
                ]
            )
        parts.append(f)
    out = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical", rechunk=False)
    if out.schema != target:  # pragma: no cover - guarded by construction
        raise AssertionError(f"events frame schema drifted: {out.schema}")
    return out


def concat_frames(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate events frames (e.g. of several leads) into one canonical frame.

    Declared columns come first with their exact dtypes (a plain vertical concat of
    different Decimal scales would round silently), then the kept unknown ``String``
    columns of any frame, in first-seen order (null where a frame lacks them).

    Examples
    --------
    >>> from leadping_nb._frame import concat_frames, decode_page
    >>> a = decode_page(b'{"items": [{"id": "a", "zNew": 1}]}', keep_unknown=True).frame
    >>> b = decode_page(b'{"items": [{"id": "b"}]}').frame
    >>> df = concat_frames([a, b])
    >>> df.get_column("id").to_list(), df.get_column("zNew").to_list()
    (['a', 'b'], ['1', None])
    """
    return _align(frames)


def frame_from_pages(
    decoded: Sequence[DecodedPage | ParsedPage],
) -> tuple[pl.DataFrame, FrameReport]:
    """Assemble decoded or parsed pages into one frame and report, without re-parsing.

    :class:`ParsedPage` objects are converted here, many at a time; every page frame is
    brought to the exact canonical schema before concatenation (a vertical concat of
    different Decimal scales would round silently).

    Raises
    ------
    SchemaError
        For parsed pages: the first value (in page and row order) that does not convert,
        unless the page was parsed with ``lenient=True``.

    Examples
    --------
    >>> from leadping_nb._frame import decode_page, frame_from_pages
    >>> p1 = decode_page(b'{"items": [{"id": "a", "billableAmount": "1.5"}]}', page=1)
    >>> p2 = decode_page(b'{"items": [{"id": "b", "billableAmount": "0.000001"}]}', page=2)
    >>> df, report = frame_from_pages([p1, p2])
    >>> df.get_column("billable_amount").to_list()
    [Decimal('1.500000'), Decimal('0.000001')]
    >>> report.n_pages, report.n_events
    (2, 2)
    """
    builder = _FrameBuilder()
    for page in decoded:
        builder.add(page)
    builder.flush()
    return _align(builder.chunks), builder.report


_Page = bytes | str | Mapping[str, Any] | DecodedPage | ParsedPage | Any


@overload
def events_frame(
    pages: Iterable[_Page],
    *,
    lenient: bool = ...,
    keep_unknown: bool = ...,
    with_report: Literal[False] = ...,
) -> pl.DataFrame: ...


@overload
def events_frame(
    pages: Iterable[_Page],
    *,
    lenient: bool = ...,
    keep_unknown: bool = ...,
    with_report: Literal[True],
) -> tuple[pl.DataFrame, FrameReport]: ...


def events_frame(
    pages: Iterable[_Page],
    *,
    lenient: bool = False,
    keep_unknown: bool = False,
    with_report: bool = False,
) -> pl.DataFrame | tuple[pl.DataFrame, FrameReport]:
    """Convert many events pages into one typed frame.

    Parameters
    ----------
    pages
        Page bodies in query order: bytes, text, parsed mappings, :class:`DecodedPage`
        objects, or any object with a ``raw`` bytes attribute (and optionally ``page`` and
        ``lead_id``). Pages without a number are numbered 1, 2, ... by position.
    lenient
        Null out (and count) values that cannot be converted instead of raising.
    keep_unknown
        Keep undeclared item fields as ``String`` columns after the declared ones.
    with_report
        Also return a :class:`FrameReport`.

    Returns
    -------
    polars.DataFrame or (polars.DataFrame, FrameReport)
        Exactly ``EVENT_SCHEMA`` (plus kept unknown columns); an empty frame with the full
        schema when there are no events.

    Raises
    ------
    MalformedPageError, SchemaError
        As :func:`decode_page`; in strict mode the error of the earliest page wins.

    Examples
    --------
    >>> from leadping_nb._frame import events_frame
    >>> seed = b'{"items": [{"id": "s1", "activityCategory": "Sms", "isWarmup": true,'
    >>> seed += b' "billableAmount": "0.0079"}], "pageSize": "100", "continuationToken": null}'
    >>> now = b'{"items": [{"id": "c1", "timelineCategory": "Sms", "trafficType": "RealLead",'
    >>> now += b' "billableAmount": 0.0121}], "pageSize": 100}'
    >>> df, report = events_frame([seed, now], with_report=True)
    >>> df.select("id", "timeline_category", "is_warmup", "billable_amount").rows()
    [('s1', 'Sms', True, Decimal('0.007900')), ('c1', 'Sms', False, Decimal('0.012100'))]
    >>> report.n_pages, report.clean
    (2, True)
    """
    builder = _FrameBuilder()
    for item in _parse_all(pages, lenient=lenient, keep_unknown=keep_unknown):
        if isinstance(item, BaseException):
            builder.flush()  # an earlier page's conversion error comes first
            raise item
        builder.add(item)
    builder.flush()
    frame = _align(builder.chunks)
    return (frame, builder.report) if with_report else frame


class _FrameBuilder:
    """Collects pages in order; converts parsed pages in batches of ~_BATCH_ROWS rows."""

    def __init__(self) -> None:
        self.lenient = False
        self.keep_unknown = False
        self.chunks: list[pl.DataFrame] = []
        self.pending: list[ParsedPage] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.report = FrameReport()

    def add(self, item: ParsedPage | DecodedPage) -> None:
        if isinstance(item, DecodedPage):
            self.flush()
            self.chunks.append(item.frame)
            self.report = self.report.merge(item.report)
            return
        if (item.lenient, item.keep_unknown) != (self.lenient, self.keep_unknown):
            self.flush()  # a batch is converted with one set of options
            self.lenient, self.keep_unknown = item.lenient, item.keep_unknown
        self.pending.append(item)
        self.pending_rows += max(item.n_items, 0)
        self.pending_bytes += len(item.body)
        if self.pending_rows >= _BATCH_ROWS or self.pending_bytes >= _BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        pages, self.pending, self.pending_rows, self.pending_bytes = self.pending, [], 0, 0
        try:
            converted, unknown = _assemble(
                pages, lenient=self.lenient, keep_unknown=self.keep_unknown
            )
        except _NullItemError as null:
            # Earlier pages of the batch come first (their errors, then this page's).
            self.pending = pages[: null.index]
            self.flush()
            bad = pages[null.index]
            raise _malformed(
                "an item is null, not an object", bad.body, bad.lead_id, bad.page
            ) from None
        self.chunks.append(converted.frame)
        first_seen: dict[str, int] = {}
        nulled: dict[str, int] = dict(converted.nulled)
        for p, names in zip(pages, unknown, strict=True):
            first = p.page if p.page is not None else 1
            for name in names:
                first_seen[name] = min(first, first_seen.get(name, first))
            for k, n in p.nulled.items():
                nulled[k] = nulled.get(k, 0) + n
        self.report = self.report.merge(
            FrameReport(
                n_pages=len(pages),
                n_events=converted.frame.height,
                unknown_fields=first_seen,
                nulled=nulled,
                unknown_values=converted.unknown_values,
                truncated=converted.truncated,
            )
        )


def _page_source(obj: Any, position: int) -> tuple[bytes, int | None, str | None]:
    if isinstance(obj, bytes | bytearray | memoryview | str | Mapping):
        return _body_bytes(obj), position, None
    raw = getattr(obj, "raw", None)
    if isinstance(raw, bytes | bytearray | memoryview | str):
        page = getattr(obj, "page", None)
        lead = getattr(obj, "lead_id", None)
        return (
            _body_bytes(raw),
            page if isinstance(page, int) else position,
            lead if isinstance(lead, str) else None,
        )
    raise TypeError(
        "events_frame expects bytes, str, mappings, DecodedPage objects or objects with a "
        f"'raw' bytes attribute; got {type(obj).__name__}"
    )


def _workers() -> int:
    """Parser threads: two (one on a single-CPU machine).

    ``pl.read_json`` releases the GIL for most of its work (polars 2.1): two threads parse
    pages of 100 events ~1.5× and pages of 1,000 events ~1.5-1.9× faster than one on two
    CPUs. The per-page checks in :func:`_parse_raw` hold the GIL, so more threads would
    mostly contend; the consumer's typed conversion runs without the GIL meanwhile.
    """
    return 2 if (os.cpu_count() or 1) > 1 else 1


def _parse_all(
    pages: Iterable[_Page], *, lenient: bool, keep_unknown: bool
) -> Iterator[ParsedPage | DecodedPage | BaseException]:
    """Parse pages on the worker thread(s), in order, with a bounded number in flight.

    About one conversion batch of pages stays in flight, so the workers keep parsing the
    next batch while the consumer converts the current one.
    """
    workers = _workers()
    window: deque[Future[ParsedPage] | ParsedPage | DecodedPage] = deque()
    base = 4 * workers
    limit = base
    seen_pages = seen_bytes = 0
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="leadping-frame")

    def drain_one() -> ParsedPage | DecodedPage | BaseException:
        nonlocal limit, seen_pages, seen_bytes
        head = window.popleft()
        if isinstance(head, DecodedPage | ParsedPage):
            return head
        try:
            result = head.result()
        except Exception as exc:  # handed to the consumer, raised in page order
            return exc
        seen_pages += 1
        seen_bytes += len(result.body)
        limit = base + _BATCH_BYTES * seen_pages // max(seen_bytes, 1)
        return result

    try:
        for position, obj in enumerate(pages, start=1):
            if isinstance(obj, DecodedPage | ParsedPage):
                window.append(obj)
            else:
                body, page, lead = _page_source(obj, position)
                window.append(
                    pool.submit(
                        _parse_raw,
                        body,
                        lead_id=lead,
                        page=page,
                        lenient=lenient,
                        keep_unknown=keep_unknown,
                    )
                )
            while len(window) >= limit:
                result = drain_one()
                yield result
                if isinstance(result, BaseException):
                    return
        while window:
            result = drain_one()
            yield result
            if isinstance(result, BaseException):
                return
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def schema_table() -> pl.DataFrame:
    """The declared event schema as a frame, for docs and notebooks.

    Examples
    --------
    >>> from leadping_nb._frame import schema_table
    >>> t = schema_table()
    >>> t.columns
    ['api', 'column', 'dtype', 'kind', 'eras', 'aliases', 'meaning']
    >>> t.filter(t["api"] == "billableAmount").select("column", "dtype").row(0)
    ('billable_amount', 'Decimal(precision=18, scale=6)')
    """
    return pl.DataFrame(
        {
            "api": [f.api for f in EVENT_FIELDS],
            "column": [f.column for f in EVENT_FIELDS],
            "dtype": [str(f.dtype) for f in EVENT_FIELDS],
            "kind": [f.kind for f in EVENT_FIELDS],
            "eras": [", ".join(f.eras) for f in EVENT_FIELDS],
            "aliases": [", ".join(f.aliases) for f in EVENT_FIELDS],
            "meaning": [f.meaning for f in EVENT_FIELDS],
        },
        schema={
            "api": pl.String,
            "column": pl.String,
            "dtype": pl.String,
            "kind": pl.String,
            "eras": pl.String,
            "aliases": pl.String,
            "meaning": pl.String,
        },
    )
