"""The many-lead machinery behind :meth:`AsyncClient.fetch_events`, and the input checks.

Per lead a :class:`_LeadOutcome` collects the parsed pages and counters; finished leads are
converted to typed rows in batches by :func:`_convert_leads` (a worker thread, one
``frame_from_pages`` call per batch, :func:`_assemble` for a lead that needs its own), and
:func:`_result` builds the :class:`~leadping_nb._client.types.FetchResult`. Also here: the
page helpers :func:`_head` (the ``max_events`` cut) and :func:`_decode_leads` (the lead
list), and the argument checks shared by the clients (:func:`fetch_args`, checked once per
call). The concurrent fetch itself (with its batch size ``_BATCH_EVENTS``) is
:class:`~leadping_nb._client.fanout.FanOut`; the clients are in :mod:`leadping_nb._client`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from leadping_nb._client.types import FetchResult
from leadping_nb._core.errors import FetchError, LeadpingError, QueryError, SchemaError
from leadping_nb._frame.decode import (
    DecodedPage,
    FrameReport,
    MalformedPageError,
    ParsedPage,
    concat_frames,
    empty_events_frame,
    frame_from_pages,
)
from leadping_nb._http.query import EventQuery, check_lead_id


@dataclass
class _LeadOutcome:
    pages: list[ParsedPage] = field(default_factory=list)
    events: int = 0
    duplicates: int = 0
    n_pages: int = 0
    n_events: int = 0
    attempts: int = 0
    complete: bool = True
    error: LeadpingError | None = None
    started: float = 0.0
    elapsed: float = 0.0


def _head(decoded: DecodedPage, keep: int) -> DecodedPage:
    return dataclasses.replace(decoded, frame=decoded.frame.head(keep), n_items=keep)


@dataclass(frozen=True)
class _LeadPage:
    frame: pl.DataFrame
    token: str | None


def _assemble(
    decoded: Sequence[DecodedPage | ParsedPage],
    lead_id: str | None = None,
    max_events: int | None = None,
) -> tuple[pl.DataFrame, FrameReport, int]:
    """Concatenate one lead's pages (typed or parsed, then converted here); drop exact
    duplicates of an event id (counted); keep at most ``max_events`` rows."""
    frame, report = frame_from_pages(decoded)
    first = frame.select(pl.col("id").is_first_distinct()).to_series()
    n_dups = first.len() - int(first.sum())
    if n_dups:
        deduped = frame.filter(first)
        dup_rows = frame.filter(~first)
        conflicts = dup_rows.join(deduped, on=dup_rows.columns, how="anti", nulls_equal=True)
        if conflicts.height:
            bad = conflicts["id"][0]
            raise SchemaError(
                f"event id {bad!r} arrived twice with different content; refusing to pick one",
                field="id",
                value=str(bad),
                lead_id=lead_id,
            )
        frame = deduped
    if max_events is not None and frame.height > max_events:
        frame = frame.head(max_events)
    return frame, report, n_dups


def _per_row(values: list[Any], counts: list[int], dtype: pl.DataType) -> pl.Series:
    """``values[i]`` repeated ``counts[i]`` times, in order (a value per row of a batch)."""
    series = pl.Series(values, dtype=dtype).repeat_by(pl.Series(counts, dtype=pl.UInt32))
    return series.explode(empty_as_null=False)


@dataclass
class _Converted:
    """The typed rows of a batch of leads, and what became of each lead."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    #: per frame: each row's lead, as its position in the fetch's lead list
    positions: list[pl.Series] = field(default_factory=list)
    reports: list[FrameReport] = field(default_factory=list)
    #: lead -> (events kept, duplicates dropped), or the error that failed it (a
    #: SchemaError, or a FetchError around anything unexpected)
    leads: dict[str, tuple[int, int] | LeadpingError] = field(default_factory=dict)

    def add(
        self,
        frame: pl.DataFrame,
        report: FrameReport,
        leads: list[str] | None,
        rows: list[int],
        pos: pl.Series,
    ) -> None:
        """Keep ``frame``: ``rows[i]`` rows of ``leads[i]`` in turn, ``pos`` a value per row
        (``leads=None``: the rows' own ``lead_id`` is kept as it is)."""
        if leads is not None:
            # an item without ``leadId`` belongs to the lead it was fetched for
            owner = _per_row(leads, rows, pl.String())
            frame = frame.with_columns(pl.col("lead_id").fill_null(owner))
        self.frames.append(frame)
        self.positions.append(pos)
        self.reports.append(report)


def _convert_leads(
    batch: Sequence[tuple[int, str, list[ParsedPage]]],
    max_events: int | None,
    *,
    fill_lead: bool = True,
) -> _Converted:
    """Convert the pages of several finished leads (worker thread).

    One conversion for the whole batch; a lead needing more (``max_events`` cuts into its
    last page, a duplicated event id) is converted on its own, and so is every lead of a
    batch that raises (:class:`SchemaError`, or anything unexpected), so that only the
    leads at fault fail (an unexpected exception as a :class:`FetchError` of its lead).
    The "leads" may be any keyed units of pages (the account stream's time windows); with
    ``fill_lead=False`` an item without ``leadId`` keeps a null ``lead_id``.
    """
    out = _Converted()
    together: list[tuple[int, str, list[ParsedPage]]] = []
    alone: list[tuple[int, str, list[ParsedPage]]] = []
    for entry in sorted(batch, key=lambda e: e[0]):  # in the order the leads were asked for
        n = sum(p.n_items for p in entry[2])
        (alone if max_events is not None and n > max_events else together).append(entry)
    if together:
        pages = [p for _pos, _lead, ps in together for p in ps]
        try:
            frame, report = frame_from_pages(pages)
        except Exception:  # SchemaError, or anything unexpected: find the lead at fault
            alone += together
        else:
            sizes = [sum(p.n_items for p in ps) for _pos, _lead, ps in together]
            pos = _per_row([p for p, _l, _ps in together], sizes, pl.UInt32())
            duplicated = frame.height == sum(sizes) and bool(
                frame.select(pl.struct(pl.lit(pos), pl.col("id")).is_duplicated().any()).item()
            )
            if frame.height != sum(sizes) or duplicated:
                alone += together
            else:
                owners = [lead for _p, lead, _ps in together] if fill_lead else None
                out.add(frame, report, owners, sizes, pos)
                for (_pos, lead, _ps), n in zip(together, sizes, strict=True):
                    out.leads[lead] = (n, 0)
    for position, lead, ps in sorted(alone, key=lambda e: e[0]):
        try:
            frame, report, dups = _assemble(ps, lead if fill_lead else None, max_events)
        except SchemaError as exc:
            if fill_lead and exc.lead_id is None:
                exc.lead_id = lead
            out.leads[lead] = exc
            continue
        except Exception as exc:  # a bug or a body nothing expected: this unit only
            wrapped = FetchError.wrap(exc, lead_id=lead) if fill_lead else None
            out.leads[lead] = wrapped or FetchError.wrap(exc, window=lead)
            continue
        rows = [frame.height]
        out.add(
            frame,
            report,
            [lead] if fill_lead else None,
            rows,
            _per_row([position], rows, pl.UInt32()),
        )
        out.leads[lead] = (frame.height, dups)
    return out


class _Batches:
    """Finished units of pages (leads, or the account stream's windows) waiting for their
    typed conversion, converted together by :func:`_convert_leads` in a worker thread.

    A batch is started once ``threshold`` events are pending, or at once for a unit added
    with ``tail=True`` (every unit has started) while no conversion is running, so that
    little is left after the last page; one conversion runs at a time (the other core
    serves the requests meanwhile). ``on_converted`` is called with each converted batch;
    :meth:`flush` converts what is left once the task group is done.
    """

    def __init__(
        self,
        group: asyncio.TaskGroup,
        threshold: int,
        on_converted: Callable[[_Converted], None],
        *,
        max_events: int | None = None,
        fill_lead: bool = True,
    ) -> None:
        self._group = group
        self._threshold = threshold
        self._on_converted = on_converted
        self._max_events = max_events
        self._fill_lead = fill_lead
        self._pending: list[tuple[int, str, list[ParsedPage]]] = []
        self._events = 0
        self._one_at_a_time = asyncio.Lock()
        #: Every converted batch, in the order the conversions finished.
        self.converted: list[_Converted] = []

    def add(
        self, position: int, key: str, pages: list[ParsedPage], n_events: int, *, tail: bool
    ) -> None:
        """Queue a finished unit (``position`` orders the rows of a batch)."""
        self._pending.append((position, key, pages))
        self._events += n_events
        if self._events >= self._threshold or (tail and not self._one_at_a_time.locked()):
            self._group.create_task(self._convert(self._take()))

    async def flush(self) -> None:
        """Convert what is still pending (after the task group has finished)."""
        if self._pending:
            await self._convert(self._take())

    def _take(self) -> list[tuple[int, str, list[ParsedPage]]]:
        batch, self._pending, self._events = self._pending, [], 0
        return batch

    async def _convert(self, batch: list[tuple[int, str, list[ParsedPage]]]) -> None:
        async with self._one_at_a_time:
            done = await asyncio.to_thread(
                _convert_leads, batch, self._max_events, fill_lead=self._fill_lead
            )
        self.converted.append(done)
        self._on_converted(done)


_LEADS_SCHEMA = pl.Schema(
    [
        ("id", pl.String()),
        ("name", pl.String()),
        ("email", pl.String()),
        ("phone", pl.String()),
        ("status", pl.String()),
        ("source", pl.String()),
        ("created_at", pl.Datetime("us", "UTC")),
        ("organization_id", pl.String()),
    ]
)


_LEADS_RAW_SCHEMA = pl.Schema(
    [(n, pl.String() if n == "created_at" else d) for n, d in _LEADS_SCHEMA.items()]
)


def _decode_leads(raw: bytes, number: int) -> _LeadPage:
    """Decode a LeadTableRow page into the small picker frame."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPageError(
            f"lead list page {number} is not valid JSON: {exc}", page=number
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise MalformedPageError(f"lead list page {number} has no items array", page=number)
    rows = []
    for item in data["items"]:
        first = item.get("firstName") or ""
        last = item.get("lastName") or ""
        source = item.get("source")
        org = item.get("organization")
        rows.append(
            {
                "id": item.get("id"),
                "name": f"{first} {last}".strip() or None,
                "email": item.get("email"),
                "phone": item.get("phone"),
                "status": item.get("status"),
                "source": source.get("name") if isinstance(source, dict) else None,
                "created_at": item.get("createdAt"),
                "organization_id": org.get("id") if isinstance(org, dict) else None,
            }
        )
    frame = pl.DataFrame(rows, schema=_LEADS_RAW_SCHEMA, orient="row").with_columns(
        pl.col("created_at").str.to_datetime(time_zone="UTC", time_unit="us")
    )
    token = data.get("continuationToken") or None
    return _LeadPage(frame, token if isinstance(token, str) else None)


def _result(
    ids: list[str], outcomes: Mapping[str, _LeadOutcome], converted: Sequence[_Converted]
) -> FetchResult:
    status_rows = []
    errors: dict[str, LeadpingError] = {}
    for lead in ids:
        o = outcomes[lead]
        row: dict[str, Any] = {
            "lead_id": lead,
            "ok": o.error is None,
            "pages": o.n_pages,
            "events": o.events if o.error is None else 0,
            "duplicates_dropped": o.duplicates if o.error is None else 0,
            "complete": o.complete and o.error is None,
            "attempts": o.attempts,
            "elapsed_s": round(o.elapsed, 6),
            "error_type": None,
            "error": None,
        }
        if o.error is not None:
            errors[lead] = o.error
            row.update(
                ok=False,
                complete=False,
                error_type=type(o.error).__name__,
                error=str(o.error),
            )
        status_rows.append(row)
    frames = [f for c in converted for f in c.frames]
    frame = concat_frames(frames) if frames else empty_events_frame()
    if frames:
        # rows in the order of the lead ids asked for (pages in order within a lead),
        # whatever order the leads finished in
        pos = pl.concat([p for c in converted for p in c.positions])
        if not pos.is_sorted():
            frame = frame.with_columns(pos.alias("__pos")).sort("__pos", maintain_order=True)
            frame = frame.drop("__pos")
    status = pl.DataFrame(
        status_rows,
        schema={
            "lead_id": pl.String,
            "ok": pl.Boolean,
            "pages": pl.Int64,
            "events": pl.Int64,
            "duplicates_dropped": pl.Int64,
            "complete": pl.Boolean,
            "attempts": pl.Int64,
            "elapsed_s": pl.Float64,
            "error_type": pl.String,
            "error": pl.String,
        },
        orient="row",
    )
    report = _merge_reports([r for c in converted for r in c.reports])
    return FetchResult(frame=frame, status=status, report=report, errors=errors)


def _merge_reports(reports: list[FrameReport]) -> FrameReport:
    merged = FrameReport.empty()
    for rep in reports:
        merged = merged.merge(rep)
    return merged


@dataclass(frozen=True)
class _FetchArgs:
    """The checked arguments of a many-lead fetch (checked once, before any request)."""

    ids: list[str]
    queries: dict[str, EventQuery]
    concurrency: int
    max_pages: int | None
    max_events: int | None


def fetch_args(
    lead_ids: Iterable[str],
    query: EventQuery | Mapping[str, EventQuery] | None,
    *,
    concurrency: int | None,
    max_pages: int | None,
    max_events: int | None,
    default_concurrency: int,
) -> _FetchArgs:
    """Check a fetch's arguments, once: the ids, the query (or the query per lead), the
    concurrency (default: the client's) and the caps."""
    ids = _check_ids(lead_ids)
    queries = _queries_for(ids, query)
    limit = (
        default_concurrency if concurrency is None else _check_positive(concurrency, "concurrency")
    )
    return _FetchArgs(
        ids,
        queries,
        limit,
        _check_cap(max_pages, "max_pages"),
        _check_cap(max_events, "max_events"),
    )


def _check_query(query: EventQuery | None) -> EventQuery:
    if query is None:
        return EventQuery()
    if not isinstance(query, EventQuery):
        raise QueryError(f"query must be an EventQuery, got {type(query).__name__}", field="query")
    return query


def _queries_for(
    ids: list[str], query: EventQuery | Mapping[str, EventQuery] | None
) -> dict[str, EventQuery]:
    if isinstance(query, Mapping):
        unknown = set(query) - set(ids)
        if unknown:
            raise QueryError(
                f"queries given for leads that are not fetched: {sorted(unknown)}", field="query"
            )
        return {lead: _check_query(query.get(lead)) for lead in ids}
    q = _check_query(query)
    return dict.fromkeys(ids, q)


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QueryError(f"{name} must be an int >= 1, got {value!r}", field=name)
    return value


def _check_cap(value: int | None, name: str) -> int | None:
    return None if value is None else _check_positive(value, name)


def _check_ids(lead_ids: Iterable[str]) -> list[str]:
    if isinstance(lead_ids, str | bytes):
        raise QueryError(
            "lead_ids must be a list of ids, not one string (wrap it: [lead_id])",
            field="lead_ids",
        )
    if not isinstance(lead_ids, Iterable):
        raise QueryError(
            f"lead_ids must be a list of lead ids, got {type(lead_ids).__name__}",
            field="lead_ids",
        )
    ids: list[str] = []
    seen: set[str] = set()
    for lead in lead_ids:
        lead = check_lead_id(lead)
        if lead not in seen:
            seen.add(lead)
            ids.append(lead)
    return ids
