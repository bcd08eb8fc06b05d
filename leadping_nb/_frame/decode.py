"""Bytes → typed Polars frame: every number a user sees comes out of this frame.

:func:`decode_page` turns one response body of ``POST /events/leads/{leadId}`` into a
frame with exactly the columns of :data:`~leadping_nb._core.schema.EVENT_SCHEMA` (in order);
:func:`events_frame` does the same for many pages, in parallel, and concatenates them;
:func:`frame_from_pages` assembles pages that are already decoded. This module holds the
public API and the batching; the raw read is in :mod:`leadping_nb._frame.raw`, the typed
conversion in :mod:`leadping_nb._frame.typed`.

How a page is read
------------------
1. The body must be one complete JSON object with an ``items`` array. Anything else
   (truncated JSON, an HTML error page, a missing or ``null`` ``items``, an item that is
   not an object) raises :class:`MalformedPageError`, a :class:`~leadping_nb.SchemaError`
   the client may retry.
2. ``pl.read_json`` parses the body with an explicit schema in which every item field is
   ``String`` (``media`` a list of structs of strings). JSON numbers, booleans and strings
   all arrive as text; nothing is inferred from data. :func:`events_frame` and the clients
   read later pages with only the declared keys their first page carried
   (:class:`~leadping_nb._frame.raw.ReadKeys`); a page that carries a value of another
   declared key fails the key count below and is read again with every key.
3. One explicit, strict conversion (:func:`~leadping_nb._frame.typed._convert`) turns the
   text into the declared dtypes. A value that does not convert raises
   :class:`~leadping_nb.SchemaError` naming the API field, the value, the lead id, the page
   and the event id; with ``lenient=True`` it becomes null and is counted per field in
   ``nulled``.

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
    are errors, and so are instants no datetime holds: year ``0000``, an offset that carries
    ``0001-01-01`` or ``9999-12-31`` out of the years 0001-9999 in UTC, and a leap second
    (``:60``, which would otherwise become the next minute's ``:00``).

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
    Kept as strings; values outside :data:`~leadping_nb._core.schema.KNOWN_VALUES` are kept and
    reported in ``unknown_values``.

Hostile values
--------------
Some bodies are valid JSON that no reading can take at face value. Each raises
:class:`~leadping_nb.SchemaError` naming the field, the value (lone surrogates escaped, long
values cut to 120 characters), the lead, the page and the event (its id, or ``items[i]``
when the id is the problem); with ``lenient=True`` the value becomes null and is counted in
``nulled`` where that loses nothing else:

* a key repeated in one object with different values (``"status": "Sent", "status":
  "Delivered"``; ``pl.read_json`` keeps the first copy, Python's ``json`` the last): never
  resolved by picking one. Found without a second parse: a repeated key makes the page's key
  count (below) disagree, and only such pages are read again exactly, with
  :func:`json.loads` and an ``object_pairs_hook``. Copies with the same JSON text leave
  nothing to pick and are read as one value; an undeclared key is only checked when
  ``keep_unknown=True`` keeps its value. Not found: a copy that is non-null followed only
  by ``null`` copies (``"status": "Sent", "status": null``), which leaves the count equal; the
  first copy is then read (docs/reliability.md, Limits);
* a lone surrogate escape (``"\\ud800"``: ``pl.read_json`` reads it as ``"\\x00"``), found by
  a byte check per batch (``\\u`` escapes of surrogates), after which the page is read exactly;
* a timestamp no datetime holds (above);
* an item without ``id`` (null or missing) — an error also with ``lenient=True``: an event
  without an id cannot be stored or de-duplicated;
* an item whose ``leadId`` is another lead than the page's ``lead_id`` (the per-lead
  endpoint; the account stream reads its pages with ``lead_id=None``, where every lead is
  expected) — also an error with ``lenient=True``: the event would be counted for the lead
  asked for. Items without ``leadId`` are not checked.

A repeated ``id``, a lone surrogate in an ``id``, in a key or in the continuation token, and
a repeated envelope key (``items``, ``pageSize``, ``totalCount``, ``continuationToken``) are
errors in both modes too: nulling them would lose or misfile events, or end the page chain.

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

The API adds fields every few months, so pages carrying undeclared fields are the normal
case. :func:`events_frame` and the clients therefore learn them
(:attr:`~leadping_nb._frame.raw.ReadKeys.extra`): the first page's undeclared item keys with
scalar values (one exact scan of that page), and those of any later page that needed the
exact scan, are read on later pages as ``String`` columns. Their values then count in the
key balance, so such pages are proved without a scan: a page's unknown fields are the
extra columns with a value on its rows, reported as before. A page read before its keys
were learned (the first pages, on the parser threads) is read again with them rather than
scanned. With ``keep_unknown=True`` the
kept values come from those columns, except on a page where such a key may carry a JSON
number with a fraction or an exponent (the parser would give float64's text, not the text
sent): that page is scanned exactly. An object or array in a learned key makes the read
fail; the page is then read without the extra keys and scanned exactly.

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
not per page in Python, where they held the GIL. A timestamp column whose values all share
one ``...SS[.f{1,6}]Z`` layout is parsed with a fixed format (about half the cost of the
general parse; :func:`~leadping_nb._frame.typed._ts_layouts`). Reading only the learned
keys saves ~20 % on seed-era pages (41 of the 57 declared keys). No Python code runs per row
or per value on the normal path. :func:`parse_page` + :func:`frame_from_pages` give a
paging client the same batching. See ``bench/frame.py`` and ``bench/README.md``.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from html import escape
from types import MappingProxyType
from typing import Any, Literal, overload

import polars as pl

from leadping_nb._core.errors import SchemaError
from leadping_nb._core.schema import EVENT_FIELDS, EVENT_SCHEMA
from leadping_nb._frame.raw import (
    _MEDIA_KEY,
    _RAW_ITEM_SCHEMA,
    MalformedPageError,
    ParsedPage,
    ReadKeys,
    _body_stats,
    _check_keys,
    _kept_name,
    _malformed,
    _parse_raw,
    _reread,
    _reread_exact,
    _shown,
    _where,
)
from leadping_nb._frame.typed import _convert, _Converted

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


_BATCH_ROWS = 32_768
#: Page bytes per conversion batch (~_BATCH_ROWS events of ~1.2 kB).
_BATCH_BYTES = 32 * 2**20
#: The first batch is converted early (~1,600 events), so that a page carrying declared
#: keys the first page lacked (ReadKeys) is found, and the keys widened, before the parser
#: threads have read many more pages with too few keys.
_FIRST_BATCH_BYTES = 2 * 2**20


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
# Batch assembly: parsed pages → typed frame
# ---------------------------------------------------------------------------------------


class _NullItemError(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


def _raw_rows(pages: Sequence[ParsedPage]) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The pages' items as one frame with every declared raw column, in page order, then
    the undeclared keys the pages were read with (``String``; returned as the second value).

    Pages read with the same keys (:class:`~leadping_nb._frame.raw.ReadKeys`) are exploded
    together; columns a page was not read with are null. Sets each page's ``n_items``.
    Raises ``_NullItemError(index)`` when a page has a null item (a malformed page).
    """
    runs: list[tuple[int, list[ParsedPage]]] = []
    extra: dict[str, None] = {}
    for index, page in enumerate(pages):
        extra.update(dict.fromkeys(page.extra))
        head = runs[-1][1][0] if runs else None
        if head is not None and head.read == page.read and head.extra == page.extra:
            runs[-1][1].append(page)
        else:
            runs.append((index, [page]))
    extra_dtypes = dict.fromkeys(extra, pl.String())
    frames = []
    for first, run in runs:
        lists = run[0].items if len(run) == 1 else pl.concat([p.items for p in run])
        for page, n in zip(run, lists.list.len().to_list(), strict=True):
            page.n_items = n
        exploded = lists.explode()
        if exploded.null_count():
            for index, page in enumerate(run, start=first):
                if page.items.explode().null_count():
                    raise _NullItemError(index)
        frame = exploded.struct.unnest()
        read, read_extra = run[0].read, run[0].extra
        if read is not None or read_extra != tuple(extra):
            frame = frame.select(
                pl.col(k)
                if (k in read_extra if k in extra_dtypes else read is None or k in read)
                else pl.lit(None, dtype).alias(k)
                for k, dtype in {**_RAW_ITEM_SCHEMA, **extra_dtypes}.items()
            )
        frames.append(frame)
    return (frames[0] if len(frames) == 1 else pl.concat(frames)), tuple(extra)


def _kept_columns(
    raw: pl.DataFrame,
    pages: Sequence[ParsedPage],
    unknown: Sequence[tuple[str, ...]],
    counted: set[int],
) -> list[pl.Series]:
    """The kept unknown columns of a batch (``keep_unknown=True``), in first-seen order.

    Pages whose unknown fields were proved by the key count (``counted``) take their values
    from the extra columns they were read with; the others from their exact scan
    (``ParsedPage.kept``).
    """
    names: dict[str, str | None] = {}  # kept name -> extra column (None: scanned only)
    for index, page in enumerate(pages):
        if index in counted:
            for extra_key in unknown[index]:
                names[_kept_name(extra_key)] = extra_key  # a scanned page's name keeps its place
        else:
            for kept_name in page.kept:
                names.setdefault(kept_name, None)
    columns = []
    for name, key in names.items():
        parts: list[pl.Series] = []
        start = run_start = 0
        for index, page in enumerate(pages):
            n = page.n_items
            if index not in counted:
                if start > run_start:  # the counted pages before this one
                    parts.append(_extra_slice(raw, key, run_start, start - run_start))
                parts.append(pl.Series(name, page.kept.get(name, [None] * n), dtype=pl.String))
                run_start = start + n
            start += n
        if start > run_start:
            parts.append(_extra_slice(raw, key, run_start, start - run_start))
        column = parts[0] if len(parts) == 1 else pl.concat(parts, rechunk=True)
        columns.append(column.alias(name))
    return columns


def _extra_slice(raw: pl.DataFrame, key: str | None, start: int, n: int) -> pl.Series:
    if key is None or key not in raw.columns:
        return pl.Series(values=[None] * n, dtype=pl.String)
    return raw.get_column(key).slice(start, n)


def _page_of_row(pages: Sequence[ParsedPage], row: int) -> tuple[ParsedPage, int]:
    """The page a row of a batch comes from, and the row's index in that page's items."""
    start = 0
    for page in pages:
        if row < start + page.n_items:
            return page, row - start
        start += page.n_items
    raise AssertionError(f"row {row} is beyond the batch")  # pragma: no cover


def _integrity_errors(
    raw: pl.DataFrame, pages: Sequence[ParsedPage]
) -> list[tuple[int, SchemaError]]:
    """Errors in both modes, by row of the batch: an item without ``id``, and an item whose
    ``leadId`` is not the lead its page was requested for (pages with a ``lead_id``).

    Neither can be nulled: an event without an id cannot be stored or de-duplicated, and
    an event of another lead would be counted for the requested one.
    """
    errors: list[tuple[int, SchemaError]] = []
    ids = raw.get_column("id")
    if ids.null_count():
        row = int(ids.is_null().arg_true()[0])
        page, index = _page_of_row(pages, row)
        lead = page.lead_id if page.lead_id is not None else raw.get_column("leadId")[row]
        errors.append(
            (
                row,
                SchemaError(
                    f"an event has no id (null or missing){_where(lead, page.page, item=index)}: "
                    "an event without an id cannot be stored or de-duplicated, so this is an "
                    "error also with lenient=True",
                    field="id",
                    value=None,
                    lead_id=lead,
                    page=page.page,
                ),
            )
        )
    leads = raw.get_column("leadId")
    wanted = [p.lead_id for p in pages]
    if leads.null_count() < raw.height and any(w is not None for w in wanted):
        if all(w == wanted[0] for w in wanted):
            other = leads != wanted[0]
        else:
            per_row = pl.Series(wanted, dtype=pl.String).repeat_by(
                pl.Series([p.n_items for p in pages], dtype=pl.UInt32)
            )
            other = leads != per_row.explode(empty_as_null=False)
        if other.any():  # nulls (no leadId, or no lead asked for) are not another lead
            row = int(other.fill_null(False).arg_true()[0])
            page, index = _page_of_row(pages, row)
            value = leads[row]
            event_id = ids[row]
            errors.append(
                (
                    row,
                    SchemaError(
                        f"an event of lead {_shown(value)!r} is on a page of lead "
                        f"{_shown(page.lead_id or '')!r}"
                        f"{_where(page.lead_id, page.page, event_id, index)}: the answer is "
                        "not for the lead asked for (an error also with lenient=True)",
                        field="leadId",
                        value=_shown(value),
                        lead_id=page.lead_id,
                        page=page.page,
                        event_id=event_id,
                    ),
                )
            )
    return errors


def _assemble(
    pages: Sequence[ParsedPage], *, lenient: bool, keep_unknown: bool
) -> tuple[_Converted, list[tuple[str, ...]]]:
    """Explode, check and convert a batch of parsed pages in one pass.

    Raises ``_NullItemError(index)`` when a page has a null item (a malformed page).
    """
    _body_stats(pages)
    raw, extra = _raw_rows(pages)
    null_counts = raw.null_count().row(0)
    present = frozenset(k for k, n in zip(raw.columns, null_counts, strict=True) if n < raw.height)
    media_elements = _MEDIA_KEY in present and bool(raw.get_column(_MEDIA_KEY).list.len().sum())
    unknown, missed, exact, counted = _check_keys(
        raw, pages, present, media_elements, keep_unknown=keep_unknown, extra=extra
    )
    if missed or exact:
        # Pages read with fewer keys than they carry: read them again with every key.
        for index, keys in missed.items():
            hint = pages[index].hint
            if hint is not None and keys:
                hint.widen(keys)
            if index not in exact:
                _reread(pages[index], quote_money=True)  # quoting is exact for any amount
        # Pages with a key repeated in one object: read them exactly.
        for index in exact:
            _reread_exact(pages[index])
        return _assemble(pages, lenient=lenient, keep_unknown=keep_unknown)
    kept = _kept_columns(raw, pages, unknown, counted) if keep_unknown else []
    if extra:
        raw = raw.drop(extra)
        present = present - frozenset(extra)
    if kept:
        raw = raw.hstack(kept)
    spans = [(p.page, p.lead_id, p.n_items) for p in pages]
    pending: list[tuple[int, SchemaError]] = []
    start = 0
    for page in pages:
        if page.type_error is not None:
            pending.append((start + page.type_error[0], page.type_error[1]))
        start += page.n_items
    # The earliest row first; on one row, the page's own error (it says why an id is null).
    pending = sorted(pending + _integrity_errors(raw, pages), key=lambda p: p[0])
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
    >>> from leadping_nb._frame.decode import empty_events_frame
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
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
    >>> from leadping_nb._frame.decode import decode_page
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
    hint: ReadKeys | None = None,
) -> ParsedPage:
    """Parse and check one events page without converting it yet (the fast half of decoding).

    Use it where pages arrive one by one (a paging client): ``.token`` is available at
    once, a body that is not a complete page raises :class:`MalformedPageError` here (so
    the page can be retried), and the typed conversion is done later for many pages at a
    time by :func:`frame_from_pages` — several times cheaper than :func:`decode_page` per
    page of 100 events. Bad values raise :class:`~leadping_nb.SchemaError` (or are counted,
    with ``lenient=True``) at that later step, naming the same field, value, lead, page and
    event. Arguments as :func:`decode_page`; a paging client passes one
    :class:`~leadping_nb._frame.raw.ReadKeys` as ``hint`` for all its pages, so that later
    pages are read with only the declared keys its pages carry.

    Examples
    --------
    >>> from leadping_nb._frame.decode import frame_from_pages, parse_page
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
        hint=hint,
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
    >>> from leadping_nb._frame.decode import concat_frames, decode_page
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
    >>> from leadping_nb._frame.decode import decode_page, frame_from_pages
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
    >>> from leadping_nb._frame.decode import events_frame
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
    for item in _parse_all(pages, lenient=lenient, keep_unknown=keep_unknown, hint=ReadKeys()):
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
        if (
            self.pending_rows >= _BATCH_ROWS
            or self.pending_bytes >= _BATCH_BYTES
            or (not self.chunks and self.pending_bytes >= _FIRST_BATCH_BYTES)
        ):
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
    pages: Iterable[_Page], *, lenient: bool, keep_unknown: bool, hint: ReadKeys | None = None
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
                future = pool.submit(
                    _parse_raw,
                    body,
                    lead_id=lead,
                    page=page,
                    lenient=lenient,
                    keep_unknown=keep_unknown,
                    hint=hint,
                )
                window.append(future)
                if hint is not None and hint.keys is None:
                    # Until a page has taught the hint its keys, parse one page at a time:
                    # a page read alongside would be read with every declared key and
                    # without the undeclared ones, then read again (ReadKeys).
                    wait([future])
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
    >>> from leadping_nb._frame.decode import schema_table
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
