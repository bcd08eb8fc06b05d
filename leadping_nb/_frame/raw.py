"""The fast read: ``pl.read_json`` of a body into raw (all-``String``) items, and the key
balance per batch that proves nothing the parser dropped was a value of a declared key.

How a page is read and the rules it keeps are in docs/frame.md; the exact stdlib read this
falls back to is :mod:`leadping_nb._frame.exact`, the typed conversion
:mod:`leadping_nb._frame.typed`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields
from decimal import Decimal

import polars as pl

from leadping_nb._core.errors import SchemaError
from leadping_nb._frame.counts import (
    _WS,
    _colons,
    _inexact_extra,
    _page_counts,
    _quoted_colons,
)
from leadping_nb._frame.exact import (
    _Dup,
    _load_exact,
    _lone_surrogate,
    _parse_python,
    _problem,
    _scan_unknown,
    _unread_keys,
)
from leadping_nb._frame.page import (
    _RAW_ITEM_SCHEMA,
    MalformedPageError,
    ParsedPage,
    ReadKeys,
    _envelope_int,
    _learnable,
    _malformed,
    _read_envelope,
)

__all__ = [  # the names other modules and the tests import from here
    "MalformedPageError",
    "ParsedPage",
    "ReadKeys",
    "_Dup",
    "_body_stats",
    "_check_keys",
    "_load_exact",
    "_parse_raw",
    "_problem",
    "_reread",
    "_reread_exact",
    "_scan_unknown",
]

# Amounts that float64 may not represent exactly: an exponent, or >= 16 digit characters.
# (Starting the pattern at the rare capital "A" makes the scan faster; other keys ending in
# "Amount" only cause a harmless rewrite of the page's billableAmount values.) The same
# pattern text serves Python's ``re`` (bytes) and Polars' Rust regex (explicit classes, so
# both engines match exactly the same bodies).
_LONG_MONEY_PATTERN = rf'Amount"{_WS}:{_WS}-?(?:[0-9.]{{16}}|[0-9.]+[eE])'

_LONG_MONEY_RX = re.compile(_LONG_MONEY_PATTERN.encode())

#: Bodies up to this many bytes per batch are scanned in Python, larger ones by Polars.
_SCAN_IN_PYTHON_BYTES = 256 * 2**10

#: Bodies per Polars scan query (bounds the transient copy of the bodies).
_SCAN_GROUP_BYTES = 16 * 2**20

_QUOTE_MONEY_RX = re.compile(rb'"billableAmount"(\s*):(\s*)(-?[0-9][0-9.eE+-]*)')

#: The same, for Polars' scan of large batches: any high-surrogate escape (candidates only).
_HIGH_SURROGATE_PATTERN = r"\\u[dD][89abAB]"


# ---------------------------------------------------------------------------------------
# Parsing: body → raw (all-String) items
# ---------------------------------------------------------------------------------------


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
    the plain read fails (:func:`_read_failed`). With a ``hint``, only the item keys it has
    learned are read, and the undeclared keys it has learned (``extra``, else the hint's)
    are read as ``String``.
    """
    body = _object_body(body, lead_id=lead_id, page=page)
    read = hint.keys if hint is not None else None
    if extra is None:
        extra = hint.extra if hint is not None else ()
    try:
        env = pl.read_json(
            _quote_money(body) if quote_money else body, schema=_read_envelope(read, extra)
        )
    except pl.exceptions.PolarsError:
        return _read_failed(
            body,
            lead_id=lead_id,
            page=page,
            lenient=lenient,
            keep_unknown=keep_unknown,
            check_items=check_items,
            quote_money=quote_money,
            hint=hint,
            extra=extra,
        )
    if env.height != 1:
        raise _malformed("the body is not one JSON object", body, lead_id, page)
    items = env.get_column("items")
    if items.null_count():
        raise _malformed("there is no 'items' array", body, lead_id, page)
    n_items = -1  # counted per batch in _raw_rows (a per-page list.len() has a fixed cost)
    if check_items:
        exploded = items.explode()
        if exploded.null_count():
            raise _malformed("an item is null, not an object", body, lead_id, page)
        n_items = exploded.len()
    texts = [env.get_column(k)[0] for k in ("pageSize", "totalCount", "continuationToken")]
    ps_text, tc_text, token = texts
    if token is not None and "\x00" in token and _lone_surrogate(body):
        # pl.read_json read a lone surrogate of the token as "\x00": never echo that back
        return _parse_python(
            body, lead_id=lead_id, page=page, lenient=lenient, keep_unknown=keep_unknown
        )
    nulled: dict[str, int] = {}
    page_size = _envelope_int(
        ps_text, "pageSize", lenient=lenient, nulled=nulled, lead_id=lead_id, page=page
    )
    total_count = _envelope_int(
        tc_text, "totalCount", lenient=lenient, nulled=nulled, lead_id=lead_id, page=page
    )
    if hint is not None and read is None:
        hint.learn(body, items)
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
        balance=_envelope_balance(texts),
        colons=_colons(body),
        money_exact=quote_money,
        read=read,
        hint=hint,
        extra=extra,
    )


def _object_body(body: bytes, *, lead_id: str | None, page: int | None) -> bytes:
    """``body`` without a UTF-8 byte-order mark; raises unless it starts as a JSON object."""
    start = body[:64].lstrip()
    if start.startswith(b"\xef\xbb\xbf"):
        body = body.lstrip()[3:]
        start = body[:64].lstrip()
    if not start.startswith(b"{"):
        raise _malformed("the body is not a JSON object", body, lead_id, page)
    return body


def _read_failed(
    body: bytes,
    *,
    lead_id: str | None,
    page: int | None,
    lenient: bool,
    keep_unknown: bool,
    check_items: bool,
    quote_money: bool,
    hint: ReadKeys | None,
    extra: tuple[str, ...],
) -> ParsedPage:
    """``pl.read_json`` refused the body: read it again without the learned undeclared
    keys, or with its amounts quoted, or exactly with the stdlib, whichever comes first."""
    if extra or (not quote_money and _LONG_MONEY_RX.search(body) is not None):
        return _parse_raw(
            body,
            lead_id=lead_id,
            page=page,
            lenient=lenient,
            keep_unknown=keep_unknown,
            check_items=check_items,
            hint=hint,
            # An object in a learned undeclared key: read the page without them (its
            # unknown fields are then found by the exact scan of _check_keys). Else an
            # amount beyond float64's range: read the amounts as text.
            quote_money=quote_money if extra else True,
            extra=(),
        )
    # Invalid JSON, or a value of the wrong JSON type: decide exactly with the stdlib.
    return _parse_python(
        body, lead_id=lead_id, page=page, lenient=lenient, keep_unknown=keep_unknown
    )


def _envelope_balance(texts: Sequence[str | None]) -> int:
    """Minus the envelope's keys and values in the key balance (see :func:`_check_keys`,
    which adds the body's ``":`` separators)."""
    envelope = [v for v in texts if v is not None]
    return (
        -1  # "items"
        - len(envelope)
        - sum(v.count('":') - v.count('":n') for v in envelope)  # escaped in the body
    )


def _quote_money(body: bytes) -> bytes:
    """Rewrite ``"billableAmount": 12.5`` as ``"billableAmount":"12.5"`` (every amount)."""
    return _QUOTE_MONEY_RX.sub(rb'"billableAmount"\1:\2"\3"', body)


# ---------------------------------------------------------------------------------------
# Unknown fields: the key balance per page, the exact scan where it disagrees
# ---------------------------------------------------------------------------------------


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
    produced, extra_rows = _page_counts(raw, pages, present, media_elements, extra)
    found: list[tuple[str, ...]] = []
    missed: dict[int, frozenset[str]] = {}
    exact: set[int] = set()
    counted: set[int] = set()
    start = 0
    for index, page in enumerate(pages):
        first, start = start, start + page.n_items
        if page.unknown is not None:
            found.append(page.unknown)
            continue
        names = tuple(k for k in extra if extra_rows[k][index])
        surplus = _surplus(page, produced[index], raw, first)
        if surplus == 0 and names and keep_unknown and _inexact_extra(page.body, names):
            surplus = -1  # keep the values exactly as sent: scan the page
        if surplus == 0:
            found.append(names)
            if names:
                counted.add(index)
        elif surplus > 0 and page.hint is not None and not set(page.hint.extra) <= set(page.extra):
            # Read before its hint learned undeclared keys (a key first seen on a later
            # page): reading it again with them is cheaper than the exact scan.
            missed[index] = frozenset()
            found.append(())
        else:
            scanned = _scan_page(page, keep_unknown=keep_unknown)
            if scanned is None:
                # pl.read_json kept the first copy of a repeated key: read the page exactly
                exact.add(index)
                found.append(())
                continue
            unknown, unread = scanned
            if unread:
                missed[index] = unread
            found.append(unknown)
    return found, missed, exact, counted


def _surplus(page: ParsedPage, produced: int, raw: pl.DataFrame, first: int) -> int:
    """Key-value pairs in the body beyond the values the parse produced (the page's rows
    start at row ``first`` of the batch's ``raw``); 0 proves the page."""
    assert page.colons is not None  # counted by _parse_raw or _body_stats
    surplus = page.balance + page.colons - produced
    if surplus > 0:
        surplus -= page.body.count(b'": null')
    if surplus > 0 and b'\\"' in page.body:
        surplus -= _quoted_colons(raw.slice(first, page.n_items))
    return surplus


def _scan_page(
    page: ParsedPage, *, keep_unknown: bool
) -> tuple[tuple[str, ...], frozenset[str]] | None:
    """Scan a page whose count disagrees exactly with :mod:`json`: its unknown fields and
    the declared keys with values it was not read with (``page.kept`` set; the hint learns
    its undeclared keys). ``None`` when an object repeats a key (read the page exactly)."""
    try:
        # Decimal: copies of a key are compared by their text (0.5 is not 0.50)
        doc, repeated = _load_exact(page.body, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:  # e.g. a 5,000-digit number
        raise _malformed(f"invalid JSON ({exc})", page.body, page.lead_id, page.page) from None
    if repeated:
        return None
    unread = _unread_keys(doc, page.read) if page.read is not None else frozenset()
    if page.hint is not None:
        page.hint.widen_extra(_learnable(doc))  # later pages: proved by the count
    unknown, page.kept = _scan_unknown(doc, keep_unknown=keep_unknown)
    return unknown, unread


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
