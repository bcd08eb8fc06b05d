"""The account stream behind :meth:`leadping_nb.AsyncClient.account_events`.

Every event of the caller's organization (``POST /events/organizations/{organizationId}``,
or ``POST /events/all/my`` when no organization is known) with ``since <= createdAt <
until``. One continuation-token chain cannot be paged in parallel, so the range is cut
into disjoint half-open time windows ``[a, b)`` (``startAt=a&endAt=b``), each paged by
:func:`~leadping_nb._client.paging._paginate` at once, within the client's rate limiter and the
fetch's FIFO request slots, exactly like the leads of ``fetch_events``.

Splitting. Each window's first page asks ``includeCount: true``. When ``totalCount`` says
the rest of the window needs more than :data:`_SPLIT_PAGES` pages, the window stops after
that first page and its rest is cut into ``ceil(rest pages / _SPLIT_PAGES)`` sub-windows
paged concurrently (and split again by the same rule when one of them turns out large).
The rest starts at ``t``, the ``createdAt`` of the first page's last item (the page is
ordered by createdAt, so every event not on it has ``createdAt >= t``), *inclusive*: the
events at instant ``t`` that the first page already holds come again on the first
sub-window's first page and are dropped there by id (``overlap_dropped``). When the whole
first page is at the window's first instant (``t == a``, more events at one instant than a
page), the instant gets a window of its own, ``[t, t + 1 µs)``, which is never split.

Nothing is lost or doubled at an edge: windows are half-open and abut exactly (bounds are
microseconds, as the frame's times; the server compares its own, possibly finer, times
against them, so an event belongs to exactly one window), and the frame is de-duplicated by
event id across every window (an exact copy dropped and counted; a different body under one
id fails the later window with :class:`~leadping_nb.SchemaError`, except for the boundary
re-reads of a split, whose first read is kept: in a live account an event's state may move
on between the two reads).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import quote, urlencode

import polars as pl

from leadping_nb._client.fanout import FanOut
from leadping_nb._client.fetch import (
    _check_positive,
    _check_query,
    _Converted,
    _LeadOutcome,
    _merge_reports,
)
from leadping_nb._client.paging import ChainPage, _paginate
from leadping_nb._client.types import FetchResult, ProgressCallback
from leadping_nb._core.errors import FetchError, LeadpingError, QueryError, SchemaError
from leadping_nb._core.schema import field_by_name
from leadping_nb._frame.decode import (
    MalformedPageError,
    ParsedPage,
    concat_frames,
    empty_events_frame,
    frame_from_pages,
    parse_page,
)
from leadping_nb._frame.raw import ReadKeys
from leadping_nb._http.query import EventQuery, check_lead_id
from leadping_nb._http.terms import _render
from leadping_nb._http.transport import HttpSession

__all__ = ["ACCOUNT_PAGE_SIZE", "DEFAULT_ACCOUNT_SPAN"]

#: The account stream's page size unless the query sets one (``EventQuery.page_size``).
ACCOUNT_PAGE_SIZE = 1000
#: ``since`` when not given: ``until`` minus this.
DEFAULT_ACCOUNT_SPAN = timedelta(days=30)
#: A window whose events after its first page need more than this many pages is split.
_SPLIT_PAGES = 16
#: At most this many windows from ``window=`` (more would only cost requests).
_MAX_WINDOWS = 10_000
_US = timedelta(microseconds=1)
_W, _R = "__window", "__rank"
_ORDER = [{"field": "createdAt", "direction": "asc"}]


@dataclass(frozen=True)
class _AccountArgs:
    """The checked arguments of an account fetch (all checked before any request)."""

    query: EventQuery
    since: datetime
    until: datetime
    edges: tuple[datetime, ...]
    organization_id: str | None
    concurrency: int
    page_size: int


def _aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise QueryError(
            f"{name}: needs a time-zone aware datetime, got {type(value).__name__} {value!r}",
            field=name,
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise QueryError(
            f"{name}: naive datetime {value.isoformat()}; give a time zone, "
            "e.g. datetime(..., tzinfo=UTC)",
            field=name,
        )
    return value.astimezone(UTC)


def _micros(delta: timedelta) -> int:
    return delta // _US


def account_args(
    query: EventQuery | None,
    *,
    since: datetime | None,
    until: datetime | None,
    organization_id: str | None,
    window: timedelta | None,
    concurrency: int | None,
    default_concurrency: int,
) -> _AccountArgs:
    """Check an account fetch's arguments; ``until=None`` is now, taken here, once."""
    q = _check_query(query)
    if q.order_by:
        raise QueryError(
            "orderBy: the account stream orders by createdAt, then id, itself (its windows "
            "are createdAt ranges); leave order_by unset",
            field="orderBy",
        )
    for r in q.range_filters:
        f = field_by_name(r.field)
        if f is not None and f.api == "createdAt":
            raise QueryError(
                "rangeFilters: the account stream manages the createdAt range itself; "
                "give since= and until= instead of a createdAt range filter",
                field="rangeFilters",
            )
    end = datetime.now(UTC) if until is None else _aware(until, "until")
    start = end - DEFAULT_ACCOUNT_SPAN if since is None else _aware(since, "since")
    if start >= end:
        raise QueryError(
            f"since ({start.isoformat()}) must be before until ({end.isoformat()})",
            field="since",
        )
    limit = (
        default_concurrency if concurrency is None else _check_positive(concurrency, "concurrency")
    )
    span = _micros(end - start)
    if window is None:
        # one window, split by its first page's totalCount where the events are: the rate
        # limit, not the latency, bounds a real account, and every window costs a request
        # even when it is empty (16 windows over a quiet week: 16 requests for 500 events)
        step = span
    else:
        if not isinstance(window, timedelta) or window < _US:
            raise QueryError(
                f"window: must be a timedelta of at least 1 microsecond, got {window!r}",
                field="window",
            )
        step = _micros(window)
        if -(-span // step) > _MAX_WINDOWS:
            raise QueryError(
                f"window: {window} cuts {end - start} into more than {_MAX_WINDOWS} windows",
                field="window",
            )
    n = -(-span // step)
    edges = (*(start + timedelta(microseconds=step * i) for i in range(n)), end)
    org = None
    if organization_id is not None:
        try:
            org = check_lead_id(organization_id)
        except QueryError as exc:
            raise QueryError(
                f"organization_id: {exc}".replace("lead id", "id"), field="organizationId"
            ) from None
    page_size = q.resolved_page_size(ACCOUNT_PAGE_SIZE)
    return _AccountArgs(q, start, end, edges, org, limit, page_size)


@dataclass
class _Window:
    """One time window ``[start, end)`` of the account stream and what became of it."""

    index: int  # creation order (a split appends its sub-windows)
    key: tuple[int, ...]  # time order: a parent's first page, then its sub-windows in turn
    start: datetime
    end: datetime
    parent: int | None = None
    #: Ids the parent's first page already holds at this window's first instant.
    boundary: frozenset[str] = frozenset()
    outcome: _LeadOutcome = field(default_factory=_LeadOutcome)
    total_count: int | None = None
    children: list[int] = field(default_factory=list)
    overlap: int = 0
    kept: int = 0

    @property
    def label(self) -> str:
        """``start/end`` (ISO 8601 interval, UTC): the window's key in ``errors``."""
        return f"{_render(self.start)}/{_render(self.end)}"


def _decode_organizations(raw: bytes) -> list[str]:
    """The organization id of the first lead of a ``/leads/all/my`` page (or none)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPageError(f"lead list page 1 is not valid JSON: {exc}", page=1) from exc
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise MalformedPageError("lead list page 1 has no items array", page=1)
    out = []
    for item in data["items"][:1]:
        org = item.get("organization") if isinstance(item, dict) else None
        oid = org.get("id") if isinstance(org, dict) else None
        if isinstance(oid, str) and oid.strip():
            out.append(oid)
    return out


async def discover_organization(session: HttpSession) -> str | None:
    """The caller's organization, from its first lead (``None``: no lead, or no organization)."""
    _result, found = await session.request(
        "POST",
        "/leads/all/my",
        json_body={"pageSize": 1},
        page=1,
        decode=_decode_organizations,
        retryable_decode_errors=(MalformedPageError,),
    )
    return found[0] if found else None


def _rest_pages(w: _Window, page: ParsedPage, page_size: int) -> int:
    """How many pages the window still needs after its first page, by its totalCount."""
    if w.total_count is None or w.end - w.start <= _US:
        return 0
    size = min(page_size, page.page_size) if page.page_size and page.page_size > 0 else page_size
    rest = w.total_count - page.n_items
    return -(-rest // size) if rest > 0 else 0


def _cut(page: ParsedPage, w: _Window) -> tuple[datetime, frozenset[str]] | None:
    """The first page's last instant ``t`` and its ids at ``t`` (None: do not split)."""
    try:
        frame, _report = frame_from_pages([page])
    except SchemaError:
        return None  # the window fails at its conversion anyway; page it as one chain
    created, ids = frame.get_column("created_at"), frame.get_column("id")
    if frame.height == 0 or created.null_count() or ids.null_count() or not created.is_sorted():
        return None
    t = created[-1]
    if not isinstance(t, datetime) or not w.start <= t < w.end:
        return None
    return t, frozenset(ids.filter(created == t).to_list())


def _split(
    w: _Window, t: datetime, ids: frozenset[str], rest_pages: int, first_index: int
) -> list[_Window]:
    """The sub-windows of ``[t, w.end)`` (see the module docstring)."""
    pieces: list[tuple[datetime, datetime, frozenset[str]]] = []
    lo, boundary = t, ids
    if t == w.start:
        # the whole first page is at the window's first instant: that instant on its own
        pieces.append((t, t + _US, ids))
        lo, boundary = t + _US, frozenset()
    if lo < w.end:
        span = _micros(w.end - lo)
        k = min(max(2, -(-rest_pages // _SPLIT_PAGES)), span)
        edges = [lo + timedelta(microseconds=span * i // k) for i in range(k)] + [w.end]
        for j, (a, b) in enumerate(pairwise(edges)):
            pieces.append((a, b, boundary if j == 0 else frozenset()))
    return [
        _Window(first_index + j, (*w.key, j), a, b, parent=w.index, boundary=bnd)
        for j, (a, b, bnd) in enumerate(pieces)
    ]


async def fetch_account(
    session: HttpSession,
    read_keys: ReadKeys,
    args: _AccountArgs,
    *,
    on_progress: ProgressCallback | None,
    lenient: bool,
    keep_unknown: bool,
) -> FetchResult:
    """Page every window of ``args`` concurrently into one :class:`FetchResult`.

    ``read_keys`` is the client's :class:`~leadping_nb._frame.raw.ReadKeys` (the item keys
    its pages carry, learned as pages are parsed)."""
    org = args.organization_id
    if org is None:
        org = await discover_organization(session)
    base = "/events/all/my" if org is None else "/events/organizations/" + quote(org, safe="")
    page_size = args.page_size
    windows = [_Window(i, (i,), a, b) for i, (a, b) in enumerate(pairwise(args.edges))]
    run = FanOut(args.concurrency, on_progress, fill_lead=False)
    for w in windows:
        run.add(w.label, w.outcome)

    def body_for(token: str | None) -> dict[str, Any]:
        body = args.query.to_body(token, default_page_size=ACCOUNT_PAGE_SIZE)
        body["orderBy"] = _ORDER
        if token is None:
            body["includeCount"] = True  # the first page says whether to split
        else:
            body.pop("includeCount", None)
        return body

    def parse(raw: bytes, number: int) -> ParsedPage:
        return parse_page(
            raw, page=number, lenient=lenient, keep_unknown=keep_unknown, hint=read_keys
        )

    async def one(w: _Window) -> None:
        path = f"{base}?{urlencode({'startAt': _render(w.start), 'endAt': _render(w.end)})}"
        cut: tuple[datetime, frozenset[str]] | None = None
        rest = 0

        async def split_after(page: ChainPage[ParsedPage]) -> bool:
            """After the first page: whether the rest goes to sub-windows (then stop)."""
            nonlocal cut, rest
            if page.number != 1:
                return False
            parsed = page.decoded
            w.total_count = parsed.total_count
            rest = _rest_pages(w, parsed, page_size)
            if parsed.token and rest > _SPLIT_PAGES:
                cut = await asyncio.to_thread(_cut, parsed, w)
            return cut is not None

        ok = await run.fetch_unit(
            w.label,
            lambda: _paginate(session, path, body_for, parse, lead_id=None, slots=run.slots),
            wrap=lambda exc: FetchError.wrap(exc, window=w.label),
            stop_after=split_after,
        )
        if ok and cut is not None:
            for sub in _split(w, *cut, rest, len(windows)):
                windows.append(sub)
                run.add(sub.label, sub.outcome)
                w.children.append(sub.index)
                run.spawn(one(sub))
        run.finish(w.label)

    def start() -> None:
        for w in list(windows):
            run.spawn(one(w))

    converted = await run.run(start)
    return await asyncio.to_thread(_account_result, windows, converted, org)


def _dedupe(frame: pl.DataFrame, windows: Sequence[_Window]) -> pl.DataFrame:
    """Drop the later copies of an event id across windows (rows in time order of windows).

    A split's boundary re-reads count as ``overlap`` and the first read is kept, even when
    the event's state moved on between the two reads (a live account); other exact copies
    count as duplicates, and a different body under one id fails the later window (its
    rows are removed)."""
    cols = [c for c in frame.columns if c not in (_W, _R)]
    pairs = pl.DataFrame(
        [(w.index, i) for w in windows for i in w.boundary],
        schema={_W: pl.UInt32(), "id": pl.String()},
        orient="row",
    )
    while True:
        first = frame.select(pl.col("id").is_first_distinct()).to_series()
        if first.all():
            return frame
        extra, kept = frame.filter(~first), frame.filter(first)
        overlap = extra.join(pairs, on=[_W, "id"], how="semi")
        others = extra.join(pairs, on=[_W, "id"], how="anti")
        conflicts = others.join(kept.select(cols), on=cols, how="anti", nulls_equal=True)
        if conflicts.height:
            per_window = conflicts.group_by(_W, maintain_order=True).agg(pl.col("id").first())
            for index, bad in per_window.rows():
                windows[index].outcome.error = SchemaError(
                    f"event id {bad!r} arrived twice with different content (in window "
                    f"{windows[index].label} and an earlier one); refusing to pick one",
                    field="id",
                    value=str(bad),
                )
            frame = frame.filter(~pl.col(_W).is_in(per_window.get_column(_W).implode()))
            continue
        for index, n in overlap.group_by(_W).len().rows():
            windows[index].overlap += n
        for index, n in others.group_by(_W).len().rows():
            windows[index].outcome.duplicates += n
        return kept


def _in_time_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in (created_at, id) order; sorted only when they are not already."""
    c, i = pl.col("created_at"), pl.col("id")
    disorder = (c < c.shift(1)) | ((c == c.shift(1)) & (i <= i.shift(1)))
    bad = frame.select(disorder.any() | c.is_null().any() | i.is_null().any()).item()
    if bad:
        frame = frame.sort(["created_at", "id"], nulls_last=True, maintain_order=True)
    return frame


_STATUS_SCHEMA = {
    "window": pl.String(),
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "parent": pl.String(),
    "ok": pl.Boolean(),
    "pages": pl.Int64(),
    "events": pl.Int64(),
    "duplicates_dropped": pl.Int64(),
    "overlap_dropped": pl.Int64(),
    "complete": pl.Boolean(),
    "split": pl.Int64(),
    "total_count": pl.Int64(),
    "attempts": pl.Int64(),
    "elapsed_s": pl.Float64(),
    "error_type": pl.String(),
    "error": pl.String(),
    "organization_id": pl.String(),
}


def _account_result(
    windows: list[_Window], converted: Sequence[_Converted], organization_id: str | None
) -> FetchResult:
    order = sorted(windows, key=lambda w: w.key)
    frames = [f for c in converted for f in c.frames]
    if frames:
        ranks = [0] * len(windows)
        for r, w in enumerate(order):
            ranks[w.index] = r
        rank = pl.Series(ranks, dtype=pl.UInt32())
        pos = pl.concat([p for c in converted for p in c.positions]).cast(pl.UInt32())
        frame = concat_frames(frames).with_columns(pos.alias(_W), rank.gather(pos).alias(_R))
        if not frame.get_column(_R).is_sorted():
            frame = frame.sort(_R, maintain_order=True)
        frame = _dedupe(frame, windows)
        for index, n in frame.group_by(_W).len().rows():
            windows[index].kept = n
        frame = _in_time_order(frame.drop(_W, _R))
    else:
        frame = empty_events_frame()

    def complete(w: _Window) -> bool:
        return w.outcome.error is None and all(complete(windows[c]) for c in w.children)

    rows = []
    errors: dict[str, LeadpingError] = {}
    for w in order:
        o = w.outcome
        ok = o.error is None
        if o.error is not None:
            errors[w.label] = o.error
        rows.append(
            {
                "window": w.label,
                "window_start": w.start,
                "window_end": w.end,
                "parent": None if w.parent is None else windows[w.parent].label,
                "ok": ok,
                "pages": o.n_pages,
                "events": w.kept if ok else 0,
                "duplicates_dropped": o.duplicates if ok else 0,
                "overlap_dropped": w.overlap if ok else 0,
                "complete": complete(w),
                "split": len(w.children),
                "total_count": w.total_count,
                "attempts": o.attempts,
                "elapsed_s": round(o.elapsed, 6),
                "error_type": None if ok else type(o.error).__name__,
                "error": None if ok else str(o.error),
                "organization_id": organization_id,
            }
        )
    status = pl.DataFrame(rows, schema=_STATUS_SCHEMA, orient="row")
    report = _merge_reports([r for c in converted for r in c.reports])
    return FetchResult(frame=frame, status=status, report=report, errors=errors)
