"""The raw read of events pages: bytes → raw (all-``String``) items, and unknown fields.

:func:`_parse_raw` parses one body with ``pl.read_json`` against the declared raw layout
(every item field ``String``), :func:`_parse_python` is the exact stdlib fallback, and
:func:`_body_stats` / :func:`_check_keys` count keys per batch of pages to find unknown
fields. How a page is read, the value rules and the unknown-field count are described in
the module docstring of :mod:`leadping_nb._frame.decode`, which holds the public API; the typed
conversion is in :mod:`leadping_nb._frame.typed`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
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
    item carries it or not: reading all 57 declared keys (both eras and their aliases)
    costs ~0.9 µs more per seed-era event than reading the 41 keys that era sends. So the
    first page read with a ``ReadKeys`` is read with every declared key and teaches it the
    declared keys that occur in its bytes; later pages are read with only those. The read
    is never trusted blindly: a page read with fewer keys that carries a value of another
    declared key fails its key count (:func:`_check_keys`), is read again with every key,
    and widens the set, so the result is the same as reading every page with every key.

    A wrong guess costs time only: a JSON scan and a second read of each page the parser
    threads read with too few keys before the set widened. The fields the current era
    leaves out when null (``status``, ``trafficType``, ``selectionReason``) are always read,
    and :func:`~leadping_nb._frame.decode.events_frame` converts its first batch early (~2 MB of
    pages) to widen the set soon. Measured with 600 current-era pages whose first page has
    no ``campaignId``: 93-183 pages read again (598-599 without the early batch),
    0.66-1.10 s instead of 0.41-0.45 s (1.74-1.92 s without it).
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


_MONEY_KEY = next(f.api for f in EVENT_FIELDS if f.kind == "money")

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

# A surrogate escape (``\uD800``-``\uDFFF``), with the low half of a pair when there is one:
# group 1 is None for a lone surrogate. Whether the backslash is itself escaped (``\\uD800``
# is text) is decided by counting the backslashes before it (_lone_surrogate).
_SURROGATE_RX = re.compile(
    rb"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|[c-fC-F][0-9a-fA-F]{2})"
)
#: The same, for Polars' scan of large batches: any high-surrogate escape (candidates only).
_HIGH_SURROGATE_PATTERN = r"\\u[dD][89abAB]"


def _lone_surrogate(body: bytes) -> bool:
    """Whether ``body`` has a ``\\uXXXX`` escape of a surrogate that is not half of a pair.

    ``pl.read_json`` turns a lone high surrogate into ``"\\x00"`` (and fails on a lone low
    one); a JSON string with one is not valid Unicode, so such a page is read exactly
    (:func:`_parse_python`), which names the value.

    Examples
    --------
    >>> from leadping_nb._frame.raw import _lone_surrogate
    >>> _lone_surrogate(rb'{"a":"\\ud83d\\ude00 \\u00e9"}'), _lone_surrogate(rb'{"a":"\\ud800"}')
    (False, True)
    >>> _lone_surrogate(rb'{"a":"\\\\ud800"}')  # an escaped backslash, then text
    False
    """
    pos = 0
    while (m := _SURROGATE_RX.search(body, pos)) is not None:
        start = back = m.start()
        while back and body[back - 1] == 0x5C:  # backslash
            back -= 1
        if (start - back) % 2:  # this backslash is escaped: the "u..." after it is text
            pos = start + 1
            continue
        if m.group(1) is None:
            return True
        pos = m.end()
    return False


class _Dup(dict[str, Any]):
    """A JSON object with a key repeated with different values (made by :func:`_pairs`);
    ``dups`` holds every copy of those keys."""

    dups: dict[str, list[Any]]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that keeps the copies of a key repeated with different values.

    ``json`` keeps the last copy and ``pl.read_json`` the first; copies with the same JSON
    text leave nothing to choose, so only differing copies make a :class:`_Dup`.
    """
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    copies: dict[str, list[Any]] = {}
    for key, value in pairs:
        copies.setdefault(key, []).append(value)
    dups = {k: v for k, v in copies.items() if len(v) > 1 and len({_json_text(c) for c in v}) > 1}
    if not dups:
        return obj
    dup = _Dup(pairs)
    dup.dups = dups
    return dup


def _load_exact(
    body: bytes,
    *,
    parse_float: Callable[[str], Any],
    parse_constant: Callable[[str], Any] | None = None,
) -> tuple[Any, bool]:
    """``json.loads`` of ``body`` that also says whether any object repeats a key."""
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        obj = _pairs(pairs)
        found = found or isinstance(obj, _Dup)
        return obj

    doc = json.loads(
        body, parse_float=parse_float, parse_constant=parse_constant, object_pairs_hook=hook
    )
    return doc, found


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
    >>> from leadping_nb._frame.raw import _shown
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
    hint: ReadKeys | None = None,
    extra: tuple[str, ...] | None = None,
) -> ParsedPage:
    """Parse one body (worker thread): Series operations only, no query plans.

    ``check_items`` looks for null items now (a malformed page the client may retry);
    batches check them anyway when they are converted. The body is read as sent; a page
    whose amounts float64 might not hold exactly is read again with its amounts quoted
    (``quote_money``) when its batch is assembled (:func:`_body_stats`), or right away if
    the plain read fails. With a ``hint``, only the item keys it has learned are read, and
    the undeclared keys it has learned (``extra``, else the hint's) are read as ``String``.
    """
    start = body[:64].lstrip()
    if start.startswith(b"\xef\xbb\xbf"):
        body = body.lstrip()[3:]
        start = body[:64].lstrip()
    if not start.startswith(b"{"):
        raise _malformed("the body is not a JSON object", body, lead_id, page)
    read = hint.keys if hint is not None else None
    if extra is None:
        extra = hint.extra if hint is not None else ()
    try:
        env = pl.read_json(
            _quote_money(body) if quote_money else body, schema=_read_envelope(read, extra)
        )
    except pl.exceptions.PolarsError:
        if extra:
            # e.g. an object in a learned undeclared key: read the page without them (its
            # unknown fields are then found by the exact scan of _check_keys).
            return _parse_raw(
                body,
                lead_id=lead_id,
                page=page,
                lenient=lenient,
                keep_unknown=keep_unknown,
                check_items=check_items,
                quote_money=quote_money,
                hint=hint,
                extra=(),
            )
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
                hint=hint,
                extra=extra,
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
    if token is not None and "\x00" in token and _lone_surrogate(body):
        # pl.read_json read a lone surrogate of the token as "\x00": never echo that back
        return _parse_python(
            body, lead_id=lead_id, page=page, lenient=lenient, keep_unknown=keep_unknown
        )
    if hint is not None and read is None:
        hint.learn(body, items)
    # Key balance for unknown-field detection (_frame's docstring; finished in _check_keys).
    envelope = [v for v in (ps_text, tc_text, token) if v is not None]
    balance = (
        -1  # "items"
        - len(envelope)
        - sum(v.count('":') - v.count('":n') for v in envelope)  # escaped in the body
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
        colons=_colons(body),
        money_exact=quote_money,
        read=read,
        hint=hint,
        extra=extra,
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


#: Why a value cannot be read (messages of _parse_python's checks).
_NOT_UNICODE = "not valid Unicode (a lone surrogate escape, which UTF-8 cannot hold)"
_KEY_NOT_UNICODE = f"the key is {_NOT_UNICODE}"
_ENVELOPE_KEYS = ("items", "pageSize", "totalCount", "continuationToken")


def _repeated(key: str, copies: Sequence[Any]) -> tuple[str, str]:
    """(value text, reason) of a key an object repeats."""
    text = ", ".join(_json_text(v) for v in copies)
    return text, f"the key appears {len(copies)} times in one object; refusing to pick one"


def _problem(value: Any) -> str | None:
    """Why a JSON value cannot be kept exactly: a repeated key or a lone surrogate in it."""
    if isinstance(value, str):
        return None if _is_unicode(value) else _NOT_UNICODE
    if isinstance(value, list):
        for v in value:
            reason = _problem(v)
            if reason is not None:
                return reason
    elif isinstance(value, dict):
        if isinstance(value, _Dup):
            return "a key appears more than once in one object; refusing to pick one"
        for k, v in value.items():
            reason = _NOT_UNICODE if not _is_unicode(k) else _problem(v)
            if reason is not None:
                return reason
    return None


def _parse_python(
    body: bytes,
    *,
    lead_id: str | None,
    page: int | None,
    lenient: bool,
    keep_unknown: bool,
) -> ParsedPage:
    """Exact read with :mod:`json`: invalid JSON, a value of the wrong JSON type, a repeated
    key or a lone surrogate.

    Values that cannot be read (wrong type, a key repeated in one item, not valid Unicode)
    raise :class:`~leadping_nb.SchemaError` after conversion (the earliest row wins), or
    become null and are counted with ``lenient=True``; except where nulling would lose or
    misfile data (an item's ``id``, a key that is not valid Unicode, the envelope's keys),
    which raise in both modes.
    """
    try:
        doc, _ = _load_exact(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _malformed(f"invalid JSON ({exc})", body, lead_id, page) from None
    if not isinstance(doc, dict):
        raise _malformed("the body is not a JSON object", body, lead_id, page)
    if isinstance(doc, _Dup):
        for name in _ENVELOPE_KEYS:
            if name in doc.dups:
                copies, _ = _repeated(name, doc.dups[name])
                raise SchemaError(
                    f"the page has {len(doc.dups[name])} copies of {name} ({_shown(copies)}): "
                    f"refusing to pick one{_where(lead_id, page)}",
                    field=name,
                    value=_shown(copies),
                    lead_id=lead_id,
                    page=page,
                )
    items = doc.get("items")
    if not isinstance(items, list):
        raise _malformed("there is no 'items' array", body, lead_id, page)
    if not all(isinstance(item, dict) for item in items):
        raise _malformed("an item is not a JSON object", body, lead_id, page)

    nulled: dict[str, int] = {}
    type_error: list[tuple[int, SchemaError]] = []

    def bad(
        key: str, text: str, row: int, reason: str | None = None, *, always: bool = False
    ) -> None:
        """A value that cannot be read: null and counted (lenient), or the page's error."""
        if lenient and not always:
            nulled[key] = nulled.get(key, 0) + 1
            return
        if type_error:  # only the first one (in row order) is raised
            return
        item = items[row]
        event_id = item.get("id")
        if (
            not isinstance(event_id, str)
            or not _is_unicode(event_id)
            or "id" in getattr(item, "dups", ())
        ):
            event_id = None
        lead = lead_id if lead_id is not None else item.get("leadId")
        lead = lead if isinstance(lead, str) and _is_unicode(lead) else None
        if reason is None:
            kind = _FIELD_OF_KEY[key.split(".")[0]].kind
            reason = f"a JSON object or array where a {kind} is expected"
        shown = _shown(text)
        what = (
            f"an item key {shown!r} is {_NOT_UNICODE}"
            if reason is _KEY_NOT_UNICODE
            else f"cannot convert {_shown(key)} value {shown!r}: {reason}"
        )
        error = SchemaError(
            f"{what}{_where(lead, page, event_id, row)}",
            field=_shown(key),
            value=shown,
            lead_id=lead,
            page=page,
            event_id=event_id,
        )
        # Raised after conversion, unless an earlier row has a conversion error (_assemble).
        type_error.append((row, error))

    columns: dict[str, list[Any]] = {k: [] for k in _RAW_KEYS}
    for row, item in enumerate(items):
        dups: dict[str, list[Any]] = getattr(item, "dups", {})
        for key in item:
            if not _is_unicode(key):
                bad(key, key, row, _KEY_NOT_UNICODE, always=True)
        for key in _RAW_KEYS:
            value = item.get(key)
            if key in dups:
                copies, why = _repeated(key, dups[key])
                bad(key, copies, row, why, always=key == "id")
                columns[key].append(None)
                continue
            if key == _MEDIA_KEY:
                columns[key].append(_media_value(value, row, bad))
                continue
            text = _scalar_text(value, money=key == _MONEY_KEY)
            if isinstance(text, _WrongType):
                bad(key, text.text, row)
                text = None
            elif text is not None and not _is_unicode(text):
                bad(key, text, row, _NOT_UNICODE, always=key == "id")
                text = None
            columns[key].append(text)
    frame = pl.DataFrame(
        [pl.Series(k, columns[k], dtype=_RAW_ITEM_SCHEMA[k]) for k in _RAW_KEYS],
    )
    unknown, kept = _scan_unknown(doc, keep_unknown=keep_unknown)
    unknown = tuple(k for k in unknown if _is_unicode(k))  # the others raise (above)
    for name in list(kept):
        if not _is_unicode(name):
            del kept[name]
            continue
        base = name.removesuffix(" (unknown)")
        key = base if base != name and (base in EVENT_SCHEMA or base in _RAW_KEY_SET) else name
        for row, item in enumerate(items):
            value = item.get(key)
            problem = (
                _repeated(key, item.dups[key])[1]
                if isinstance(item, _Dup) and key in item.dups
                else _problem(value)
            )
            if problem is not None:
                bad(key, _shown(_kept_text(value) or ""), row, problem)
                kept[name][row] = None

    def envelope_text(name: str) -> str | None:
        text = _scalar_text(doc.get(name), money=False)
        if isinstance(text, _WrongType):
            if lenient:
                nulled[name] = nulled.get(name, 0) + 1
                return None
            raise SchemaError(
                f"cannot convert {name} value {_shown(text.text)!r}{_where(lead_id, page)}",
                field=name,
                value=_shown(text.text),
                lead_id=lead_id,
                page=page,
            )
        if text is not None and not _is_unicode(text):
            # never nulled: a changed or dropped continuation token would lose pages
            raise SchemaError(
                f"cannot convert {name} value {_shown(text)!r}: {_NOT_UNICODE}"
                f"{_where(lead_id, page)}",
                field=name,
                value=_shown(text),
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
    value: Any, row: int, bad: Callable[..., None]
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
        dups: dict[str, list[Any]] = getattr(m, "dups", {})
        for key in m:
            if not _is_unicode(key):
                bad(f"{_MEDIA_KEY}.{key}", key, row, _KEY_NOT_UNICODE, always=True)
        struct: dict[str, str | None] = {}
        for key in _MEDIA_FIELDS:
            name = f"{_MEDIA_KEY}.{key}"
            if key in dups:
                copies, reason = _repeated(key, dups[key])
                bad(name, copies, row, reason)
                struct[key] = None
                continue
            text = _scalar_text(m.get(key), money=False)
            if isinstance(text, _WrongType):
                bad(name, text.text, row)
                text = None
            elif text is not None and not _is_unicode(text):
                bad(name, text, row, _NOT_UNICODE)
                text = None
            struct[key] = text
        out.append(struct)
    return out


# ---------------------------------------------------------------------------------------
# Unknown fields: key counts per batch, exact scan where they disagree
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _count_expr(present: frozenset[str], extra: tuple[str, ...] = ()) -> pl.Expr:
    """Per row: the number of non-null values the parse produced (top level)."""
    keys = [k for k in _RAW_KEYS if k in present] + [k for k in extra if k in present]
    parts = [pl.col(k).is_not_null().cast(pl.Int64) for k in keys]
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
    """``":`` minus ``":n`` inside the parsed strings of some rows (escaped in the body)."""
    columns = [rows.get_column(k) for k in rows.columns if k != _MEDIA_KEY]
    media = rows.get_column(_MEDIA_KEY).explode().drop_nulls()
    if media.len():
        columns += media.struct.unnest().get_columns()
    total = 0
    for s in columns:
        s = s.drop_nulls()
        if s.len():
            total += int(s.str.count_matches('":', literal=True).sum())
            total -= int(s.str.count_matches('":n', literal=True).sum())
    return total


def _page_counts(
    raw: pl.DataFrame,
    pages: Sequence[ParsedPage],
    present: frozenset[str],
    media_elements: bool,
    extra: tuple[str, ...],
) -> tuple[list[int], dict[str, list[int]]]:
    """Per page of the batch: the non-null values the parse produced, and per undeclared
    key read (``extra``) the rows with a value: running sums gathered at the pages' ends
    (one value per page leaves the query, not one per row)."""
    ends = list(itertools.accumulate(p.n_items for p in pages))
    if not raw.height:
        return [0] * len(pages), {k: [0] * len(pages) for k in extra}
    per_row = raw.select(_count_expr(present, extra)).get_column("n")
    if media_elements:
        per_row = per_row + _media_counts(raw)
    columns = [per_row.alias("\x00n"), *(raw.get_column(k).is_not_null().alias(k) for k in extra)]
    at = pl.Series([max(e - 1, 0) for e in ends], dtype=pl.Int64)
    cums = pl.DataFrame(columns).select(pl.all().cast(pl.Int64).cum_sum().gather(at))

    def per_page(name: str) -> list[int]:
        totals = [c if e else 0 for c, e in zip(cums.get_column(name).to_list(), ends, strict=True)]
        return [t - (totals[i - 1] if i else 0) for i, t in enumerate(totals)]

    return per_page("\x00n"), {k: per_page(k) for k in extra}


def _check_keys(
    raw: pl.DataFrame,
    pages: Sequence[ParsedPage],
    present: frozenset[str],
    media_elements: bool,
    *,
    keep_unknown: bool,
    extra: tuple[str, ...] = (),
) -> tuple[list[tuple[str, ...]], dict[int, frozenset[str]], set[int], set[int]]:
    """Unknown fields of every page: the fast count, then an exact scan where it disagrees.

    Per page, the body's ``":`` separators minus its ``":null`` values (and the envelope's
    keys) must equal the number of non-null values the parse produced. Undeclared keys,
    repeated keys and escaped ``\\":`` inside strings make them differ; the escaped ones
    are then subtracted using the parsed strings, and if the page still disagrees it is
    scanned exactly with :mod:`json`. The undeclared keys a page was read with
    (``extra``, :attr:`ReadKeys.extra`) count as produced values, so a page whose unknown
    fields are all among them agrees and is not scanned: its unknown fields are the extra
    columns with a value on its rows. With ``keep_unknown`` such a page is still scanned
    when a JSON number in one of those keys may not be kept exactly as sent by the
    parser's text (a fraction or an exponent; :func:`_inexact_extra`).

    Also returns, by index in ``pages``, the declared keys with values that a page read with
    fewer keys (:class:`ReadKeys`) did not read: such pages must be read again; the pages
    whose exact scan found a key repeated in one object, which ``pl.read_json`` reads as
    its first copy: they must be read exactly (:func:`_reread_exact`); and the pages whose
    unknown fields were proved by the count (their kept values are the extra columns).
    """
    extra = tuple(k for k in extra if k in present)
    produced_per_page, extra_per_page = _page_counts(raw, pages, present, media_elements, extra)
    found: list[tuple[str, ...]] = []
    missed: dict[int, frozenset[str]] = {}
    exact: set[int] = set()
    counted: set[int] = set()
    start = 0
    for index, page in enumerate(pages):
        end = start + page.n_items
        if page.unknown is not None:
            found.append(page.unknown)
            start = end
            continue
        produced = produced_per_page[index]
        assert page.colons is not None  # counted by _body_stats
        surplus = page.balance + page.colons - produced
        if surplus > 0:
            surplus -= page.body.count(b'": null')
        if surplus > 0 and b'\\"' in page.body:
            surplus -= _quoted_colons(raw.slice(start, page.n_items))
        names = tuple(k for k in extra if extra_per_page[k][index])
        if surplus == 0 and names and keep_unknown and _inexact_extra(page.body, names):
            surplus = -1  # keep the values exactly as sent: scan the page
        if surplus == 0:
            found.append(names)
            if names:
                counted.add(index)
        elif surplus > 0 and page.hint is not None and not set(page.hint.extra) <= set(page.extra):
            # Read before its hint learned undeclared keys (the first pages, on the parser
            # threads): reading it again with them is cheaper than the exact scan.
            missed[index] = frozenset()
            found.append(())
        else:
            try:
                # Decimal: copies of a key are compared by their text (0.5 is not 0.50)
                doc, repeated = _load_exact(page.body, parse_float=Decimal)
            except (ValueError, RecursionError) as exc:  # e.g. a 5,000-digit number
                raise _malformed(
                    f"invalid JSON ({exc})", page.body, page.lead_id, page.page
                ) from None
            if repeated:
                # pl.read_json kept the first copy of a repeated key: read the page exactly
                exact.add(index)
                found.append(())
                start = end
                continue
            if page.read is not None:
                unread = _unread_keys(doc, page.read)
                if unread:
                    missed[index] = unread
            if page.hint is not None:
                page.hint.widen_extra(_learnable(doc))  # later pages: proved by the count
            unknown, page.kept = _scan_unknown(doc, keep_unknown=keep_unknown)
            found.append(unknown)
        start = end
    return found, missed, exact, counted


@functools.lru_cache(maxsize=64)
def _extra_number_rx(names: tuple[str, ...]) -> re.Pattern[bytes]:
    keys = b"|".join(re.escape(k.encode()) for k in names)
    return re.compile(
        rb'"(?:' + keys + rb')"' + _WS.encode() + rb":" + _WS.encode() + rb"-?[0-9]+[.eE]"
    )


def _inexact_extra(body: bytes, names: tuple[str, ...]) -> bool:
    """Whether a key of ``names`` may carry a JSON number with a fraction or an exponent.

    ``pl.read_json`` writes such a number into a ``String`` field as float64's shortest
    text (``1.10`` → ``"1.1"``, ``1e2`` → ``"100"``), so a kept value would not be the text
    sent; integers (any length) and the other scalars are kept exactly. (A match inside a
    string only costs an exact scan.)
    """
    return _extra_number_rx(names).search(body) is not None


def _unread_keys(doc: Any, read: frozenset[str]) -> frozenset[str]:
    """Declared item keys with a value in ``doc`` that are not in ``read``."""
    unread: set[str] = set()
    items = doc.get("items") if isinstance(doc, dict) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            unread.update(
                k for k, v in item.items() if v is not None and k in _RAW_KEY_SET and k not in read
            )
    return frozenset(unread)


def _colons(body: bytes) -> int:
    """The body's ``":`` separators minus those followed by ``n`` (``":null``).

    Outside strings a value that starts with ``n`` is ``null``; inside strings the same
    count is taken of the parsed text (:func:`_quoted_colons`), so the two agree. Counted
    with numpy over the bytes seen as 16-bit pairs at both alignments (~4× faster than
    ``bytes.count`` or a Polars ``count_matches``, and without the GIL for the compare).

    Examples
    --------
    >>> from leadping_nb._frame.raw import _colons
    >>> _colons(b'{"a": 1, "b":null, "c":"d"}')
    2
    """
    import numpy as np  # loaded with the first page, not with the package

    a = np.frombuffer(body, dtype=np.uint8)
    total = 0
    for offset in (0, 1):
        n = (len(a) - offset) // 2
        if n <= 0:
            continue
        hits = np.flatnonzero(a[offset : offset + 2 * n].view(np.uint16) == _QUOTE_COLON)
        after = hits * 2 + (offset + 2)
        after = after[after < len(a)]
        total += len(hits) - int(np.count_nonzero(a[after] == 0x6E))  # "n"
    return total


#: ``":`` as one 16-bit value in the machine's byte order (for :func:`_colons`).
_QUOTE_COLON = int.from_bytes(b'":', sys.byteorder)


def _scan_bodies(bodies: list[bytes]) -> list[bool]:
    """Per body: a possibly long amount or a high-surrogate escape (candidates; one Polars
    query, parallel and without the GIL)."""
    # Bodies that pl.read_json accepted are valid UTF-8 (it rejects anything else).
    series = pl.Series("b", bodies, dtype=pl.Binary).cast(pl.String)
    flags = series.str.contains(f"{_LONG_MONEY_PATTERN}|{_HIGH_SURROGATE_PATTERN}")
    return flags.to_list()


def _body_stats(pages: Sequence[ParsedPage]) -> None:
    """Count each body's ``":`` (:func:`_colons`) and re-read pages whose amounts need quoting.

    A page with a lone surrogate escape (:func:`_lone_surrogate`) is read exactly instead.
    These are the only passes over the raw bytes besides the parse itself. The parser
    threads count the colons already; the long-amount and escape check runs per batch in
    one Polars regex query (parallel, without the GIL) rather than per page in Python,
    where it held the GIL. Small batches (a single page from :func:`decode_page`) are
    checked in Python instead.
    """
    todo = [p for p in pages if p.unknown is None and (p.colons is None or not p.money_exact)]
    if not todo:
        return
    for page in todo:
        if page.colons is None:
            page.colons = _colons(page.body)
    todo = [p for p in todo if not p.money_exact]
    flags: list[bool]
    if sum(len(p.body) for p in todo) <= _SCAN_IN_PYTHON_BYTES:
        flags = [
            # one byte: memchr, unlike a two-byte search
            _LONG_MONEY_RX.search(p.body) is not None or b"\\" in p.body
            for p in todo
        ]
    else:
        # In groups of ~_SCAN_GROUP_BYTES, so the copy of the bodies stays small.
        flags = []
        start = size = 0
        for end, page in enumerate(todo, start=1):
            size += len(page.body)
            if size >= _SCAN_GROUP_BYTES or end == len(todo):
                flags.extend(_scan_bodies([p.body for p in todo[start:end]]))
                start, size = end, 0
    for page, flagged in zip(todo, flags, strict=True):
        if flagged and b"\\u" in page.body and _lone_surrogate(page.body):
            # pl.read_json read a lone surrogate as "\x00" (or another character)
            _reread_exact(page)
            continue
        if flagged and _LONG_MONEY_RX.search(page.body) is not None:
            # float64 may not hold these amounts: read the page again, amounts quoted.
            _reread(page, quote_money=True)
        page.money_exact = True


def _reread(page: ParsedPage, *, quote_money: bool) -> None:
    """Read ``page`` again in place, with every declared key (amounts quoted if asked)."""
    again = _parse_raw(
        page.body,
        lead_id=page.lead_id,
        page=page.page,
        lenient=page.lenient,
        keep_unknown=page.keep_unknown,
        quote_money=quote_money,
        extra=page.hint.extra if page.hint is not None else page.extra,
    )
    again.colons = page.colons
    n_items = page.n_items
    for f in fields(ParsedPage):
        setattr(page, f.name, getattr(again, f.name))
    if page.n_items < 0:
        page.n_items = n_items


def _reread_exact(page: ParsedPage) -> None:
    """Read ``page`` again in place with :func:`_parse_python` (repeated keys, surrogates).

    An error of the whole page (its envelope) is kept as the page's error at its first row,
    so that an earlier page's error still comes first (the page then has no items).
    """
    try:
        again = _parse_python(
            page.body,
            lead_id=page.lead_id,
            page=page.page,
            lenient=page.lenient,
            keep_unknown=page.keep_unknown,
        )
    except SchemaError as error:
        again = ParsedPage(
            items=pl.Series("items", [[]], dtype=pl.List(pl.Struct(_RAW_ITEM_SCHEMA))),
            n_items=0,
            token=None,
            page_size=None,
            total_count=None,
            nulled={},
            page=page.page,
            lead_id=page.lead_id,
            body=page.body,
            lenient=page.lenient,
            keep_unknown=page.keep_unknown,
            unknown=(),
            type_error=(0, error),
            money_exact=True,
        )
    again.colons = page.colons
    for f in fields(ParsedPage):
        setattr(page, f.name, getattr(again, f.name))
