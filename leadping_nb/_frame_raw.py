"""The raw read of events pages: bytes → raw (all-``String``) items, and unknown fields.

:func:`_parse_raw` parses one body with ``pl.read_json`` against the declared raw layout
(every item field ``String``), :func:`_parse_python` is the exact stdlib fallback, and
:func:`_body_stats` / :func:`_check_keys` count keys per batch of pages to find unknown
fields. How a page is read, the value rules and the unknown-field count are described in
the module docstring of :mod:`leadping_nb._frame`, which holds the public API; the typed
conversion is in :mod:`leadping_nb._frame_typed`.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

import polars as pl

from leadping_nb._errors import SchemaError
from leadping_nb._schema import EVENT_FIELDS, EVENT_SCHEMA, Field


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


@functools.lru_cache(maxsize=64)
def _read_envelope(keys: frozenset[str] | None) -> dict[str, pl.DataType]:
    """The read schema with only ``keys`` of the item fields (all of them for ``None``)."""
    if keys is None:
        return _RAW_ENVELOPE
    item = {k: t for k, t in _RAW_ITEM_SCHEMA.items() if k in keys}
    return {**_RAW_ENVELOPE, "items": pl.List(pl.Struct(item))}


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
    and :func:`~leadping_nb._frame.events_frame` converts its first batch early (~2 MB of
    pages) to widen the set soon. Measured with 600 current-era pages whose first page has
    no ``campaignId``: 93-183 pages read again (598-599 without the early batch),
    0.66-1.10 s instead of 0.41-0.45 s (1.74-1.92 s without it).
    """

    __slots__ = ("_lock", "keys")

    def __init__(self) -> None:
        self.keys: frozenset[str] | None = None
        self._lock = threading.Lock()

    def learn(self, body: bytes) -> None:
        """Start from the declared keys in ``body``: the first page read that has any.

        An empty page (a lead without events) teaches nothing, so the next page is read
        with every key and teaches instead.
        """
        if self.keys is None:
            found = [k for k in _RAW_KEYS if b'"' + k.encode() + b'"' in body]
            if found:
                self.widen(found)

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
    hint: ReadKeys | None = None,
) -> ParsedPage:
    """Parse one body (worker thread): Series operations only, no query plans.

    ``check_items`` looks for null items now (a malformed page the client may retry);
    batches check them anyway when they are converted. The body is read as sent; a page
    whose amounts float64 might not hold exactly is read again with its amounts quoted
    (``quote_money``) when its batch is assembled (:func:`_body_stats`), or right away if
    the plain read fails. With a ``hint``, only the item keys it has learned are read.
    """
    start = body[:64].lstrip()
    if start.startswith(b"\xef\xbb\xbf"):
        body = body.lstrip()[3:]
        start = body[:64].lstrip()
    if not start.startswith(b"{"):
        raise _malformed("the body is not a JSON object", body, lead_id, page)
    read = hint.keys if hint is not None else None
    try:
        env = pl.read_json(_quote_money(body) if quote_money else body, schema=_read_envelope(read))
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
                hint=hint,
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
    if hint is not None and read is None:
        hint.learn(body)
    # Key balance for unknown-field detection (_frame's docstring; finished in _check_keys).
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
        read=read,
        hint=hint,
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
# Unknown fields: key counts per batch, exact scan where they disagree
# ---------------------------------------------------------------------------------------


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
) -> tuple[list[tuple[str, ...]], dict[int, frozenset[str]]]:
    """Unknown fields of every page: the fast count, then an exact scan where it disagrees.

    Per page, the body's ``":`` separators minus its ``":null`` values (and the envelope's
    keys) must equal the number of non-null values the parse produced. Undeclared keys,
    duplicate keys and escaped ``\\":`` inside strings make them differ; the escaped ones
    are then subtracted using the parsed strings, and if the page still disagrees it is
    scanned exactly with :mod:`json`.

    Also returns, by index in ``pages``, the declared keys with values that a page read with
    fewer keys (:class:`ReadKeys`) did not read: such pages must be read again.
    """
    per_row = raw.select(_count_expr(present)).get_column("n")
    if media_elements:
        per_row = per_row + _media_counts(raw)
    cum = per_row.cum_sum().to_list() if raw.height else []
    found: list[tuple[str, ...]] = []
    missed: dict[int, frozenset[str]] = {}
    start = 0
    for index, page in enumerate(pages):
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
            if page.read is not None:
                unread = _unread_keys(doc, page.read)
                if unread:
                    missed[index] = unread
            unknown, page.kept = _scan_unknown(doc, keep_unknown=keep_unknown)
            found.append(unknown)
        start = end
    return found, missed


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
    )
    again.colons = page.colons
    n_items = page.n_items
    for f in fields(ParsedPage):
        setattr(page, f.name, getattr(again, f.name))
    if page.n_items < 0:
        page.n_items = n_items
