"""The public decoder: page bytes → the typed, checked events frame, batched and in parallel.

:func:`decode_page` decodes one response body, :func:`events_frame` many (parsed on two
threads, converted in batches), :func:`parse_page` + :func:`frame_from_pages` are a paging
client's two halves. How a page is read, the value rules, hostile values and unknown fields
are in docs/frame.md.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, overload

import polars as pl

from leadping_nb._core.errors import SchemaError
from leadping_nb._core.schema import EVENT_FIELDS, EVENT_SCHEMA
from leadping_nb._frame.batch import _integrity_errors, _kept_columns, _NullItemError, _raw_rows
from leadping_nb._frame.page import _MEDIA_KEY, MalformedPageError, ParsedPage, ReadKeys, _malformed
from leadping_nb._frame.raw import _body_stats, _check_keys, _parse_raw, _reread, _reread_exact
from leadping_nb._frame.report import DecodedPage, FrameReport
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


_BATCH_ROWS = 16_384
#: Page bytes per conversion batch (~_BATCH_ROWS events of ~1.2 kB).
_BATCH_BYTES = 16 * 2**20
#: The first batch is converted early (~1,600 events), so that a page carrying declared
#: keys the first page lacked (ReadKeys) is found, and the keys widened, before the parser
#: threads have read many more pages with too few keys.
_FIRST_BATCH_BYTES = 2 * 2**20


# ---------------------------------------------------------------------------------------
# Public value types
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# Batch assembly: parsed pages → typed frame
# ---------------------------------------------------------------------------------------


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
    :class:`~leadping_nb._frame.page.ReadKeys` as ``hint`` for all its pages, so that later
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

    ``pl.read_json`` releases the GIL for most of its work, so two threads parse faster
    than one on two CPUs (bench/README.md, frame). The per-page checks in
    :func:`~leadping_nb._frame.raw._parse_raw` hold the GIL, so more threads would mostly
    contend; the consumer's typed conversion runs without the GIL meanwhile.
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
