"""The refresh rule behind :meth:`EventStore.refresh`: what each lead re-reads (watermarks,
lookback, :func:`changeable`), the fetch, the new watermarks, and the MERGE of what came back
into added / changed / unchanged events (module docs of :mod:`leadping_nb.store`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from leadping_nb._core.errors import QueryError
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._http.query import (
    HISTORY_START,
    WHOLE_HISTORY,
    EventQuery,
    RangeFilter,
    check_lead_id,
)
from leadping_nb.store._delta import PARTITION, Snapshot, commit_upsert, month_expr

if TYPE_CHECKING:
    from leadping_nb._client import Client, FetchProgress, FetchResult

__all__ = ["NON_FINAL_STATUSES", "RefreshResult", "changeable"]

#: Statuses after which an event can still change (every other status is final).
NON_FINAL_STATUSES: frozenset[str] = frozenset(
    "Scheduled Queued Sending Sent Pending InProgress Initiated Ringing Active".split()
)


def changeable(now: datetime) -> pl.Expr:
    """Whether a stored event can still change: the one rule of what a refresh re-reads.

    An event is changeable when its ``status`` is in :data:`NON_FINAL_STATUSES` (a null
    status is not), or ``next_retry_at`` is set (a retry is due), or ``scheduled_for`` is
    after ``now`` (a scheduled send has not gone out), or ``billing_status`` is
    ``"Pending"``.

    Parameters
    ----------
    now
        The time of the refresh (time-zone aware).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> now = datetime(2026, 11, 1, tzinfo=UTC)
    >>> frame = pl.DataFrame(
    ...     {
    ...         "status": ["Delivered", "Queued", None, "Failed", "Delivered"],
    ...         "next_retry_at": [None, None, None, now, None],
    ...         "scheduled_for": [None, None, datetime(2026, 11, 2, tzinfo=UTC), None, None],
    ...         "billing_status": ["Billed", None, None, None, "Pending"],
    ...     }
    ... )
    >>> frame.select(changeable(now))["changeable"].to_list()
    [False, True, True, True, True]
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise QueryError("now: naive datetime; give a time zone", field="now")
    return (
        pl.col("status").is_in(sorted(NON_FINAL_STATUSES)).fill_null(False)
        | pl.col("next_retry_at").is_not_null()
        | (pl.col("scheduled_for") > now.astimezone(UTC)).fill_null(False)
        | (pl.col("billing_status") == "Pending").fill_null(False)
    ).alias("changeable")


@dataclass(frozen=True)
class RefreshResult:
    """What :meth:`EventStore.refresh` (or :meth:`EventStore.repair`) did.

    Attributes
    ----------
    fetch
        The underlying :class:`~leadping_nb.FetchResult` (status per lead, errors).
    added, changed, unchanged
        Fetched events new to the store, stored events updated to a newer version, and
        fetched events equal to their stored version (left alone).
    requests
        HTTP attempts made.
    version
        The store version after the call: the one it committed, or the unchanged one
        (``None`` while the store is empty).
    committed
        Whether the call created a new version.
    """

    fetch: FetchResult
    added: int
    changed: int
    unchanged: int
    requests: int
    version: int | None
    committed: bool

    @property
    def failed(self) -> list[str]:
        """Leads whose refresh failed (their stored data and watermark are unchanged)."""
        return self.fetch.failed

    def __repr__(self) -> str:
        return (
            f"RefreshResult(added={self.added}, changed={self.changed}, "
            f"unchanged={self.unchanged}, requests={self.requests}, version={self.version}, "
            f"committed={self.committed}, failed={self.failed})"
        )


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise QueryError(f"{name}: naive datetime; give a time zone", field=name)


def ordered_query(base: EventQuery, ranges: Iterable[RangeFilter]) -> EventQuery:
    """``base`` in the store's order (``createdAt``, ``id``) with ``ranges`` (its own and the
    store's ``createdAt`` range): what the store asks for, per lead or per repaired month."""
    return EventQuery(
        page_size=base.page_size,
        order_by=["createdAt", "id"],
        search=base.search,
        search_fields=base.search_fields,
        filters=base.filters,
        range_filters=list(ranges),
    )


def lead_query(
    base: EventQuery, info: dict[str, Any] | None, oldest: datetime | None
) -> EventQuery:
    """A lead's query: from its watermark, or its oldest changeable event if earlier (a lead
    new to this query, without a watermark, is read in full)."""
    mark = _parse(info.get("watermark")) if info else None
    ranges = list(base.range_filters)
    if mark is not None:
        start = mark if oldest is None else min(mark, oldest)
        ranges.append(RangeFilter("createdAt", ge=start))
    return ordered_query(base, ranges)


def oldest_changeable(snap: Snapshot, now: datetime, lookback: timedelta) -> dict[str, Any]:
    """Per lead, the ``created_at`` of its oldest stored changeable event within
    ``lookback`` before ``now``, or before the newest stored event when that is earlier
    (an account gone quiet, or an emulator whose clock is behind the wall clock: the
    events that can still change are the ones around the newest data)."""
    if lookback <= timedelta(0) or not snap.files:
        return {}
    last = max(f.month for f in snap.files)
    newest = snap.scan([last]).select(pl.col("created_at").max()).collect().item()
    ref = min(now, newest) if isinstance(newest, datetime) else now
    floor = ref - lookback
    months = sorted({f.month for f in snap.files if f.month >= floor.strftime("%Y-%m")})
    found = (
        snap.scan(months)
        .filter((pl.col("created_at") >= floor) & changeable(ref))
        .group_by("lead_id")
        .agg(pl.col("created_at").min())
        .collect()
    )
    return dict(found.iter_rows())


def checked_refresh(
    client: Client,
    lead_ids: Iterable[str] | None,
    query: EventQuery | None,
    lookback: timedelta,
    now: datetime | None,
) -> tuple[list[str] | None, datetime, EventQuery, Callable[..., FetchResult] | None]:
    """``refresh``'s arguments, checked before the lock: the lead ids (``None``: the
    account), the refresh time in UTC, the query, and ``client.account_events`` when the
    whole account is refreshed."""
    if isinstance(lead_ids, str):
        raise QueryError(
            f"lead_ids: give a list of lead ids, not one string ({lead_ids!r} would be "
            "read letter by letter); for one lead pass [lead_id]",
            field="leads",
        )
    ids = None if lead_ids is None else list(dict.fromkeys(check_lead_id(i) for i in lead_ids))
    if not isinstance(lookback, timedelta) or lookback < timedelta(0):
        raise QueryError("lookback must be a timedelta >= 0", field="lookback")
    _aware("now", now)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    base = query or EventQuery(page_size=1000)
    if any(r.field == "createdAt" for r in base.range_filters):
        raise QueryError(
            "the store manages the createdAt range; remove it from the query",
            field="rangeFilters",
        )
    account = None
    if ids is None:
        account = getattr(client, "account_events", None)
        if account is None:
            raise QueryError(
                "lead_ids=None refreshes the whole account, which needs "
                "Client.account_events (not in this version); pass the lead ids",
                field="leads",
            )
    return ids, at, base, account


def fetch_account(
    account: Callable[..., FetchResult],
    base: EventQuery,
    entry: dict[str, Any],
    oldest: dict[str, Any],
    on_progress: Callable[[FetchProgress], None] | None,
) -> tuple[FetchResult, pl.DataFrame, int, datetime]:
    """The account stream from its watermark (or the oldest changeable event); updates the
    account's watermark in ``entry`` unless the fetch failed. Returns the fetch, its frame,
    its number of leads and where it started."""
    info = entry.get("account") or {}
    mark = _parse(info.get("watermark"))
    since = None if mark is None else min([mark, *oldest.values()])
    # a first refresh reads the whole history: one window from the beginning,
    # which splits where the events are (by its first page's totalCount)
    fetched: FetchResult = account(
        base,
        since=HISTORY_START if since is None else since,
        until=None,
        window=WHOLE_HISTORY if since is None else None,
        on_progress=on_progress,
    )
    frame = fetched.frame
    if not fetched.errors:
        top = frame["created_at"].max() if frame.height else None
        seen = [m for m in (mark, top) if isinstance(m, datetime)]
        new = {"watermark": _iso(max(seen)) if seen else None}
        if info.get("watermark") != new["watermark"] or not info:
            entry["account"] = {**new, "committed_at": _iso(datetime.now(UTC))}
    n_leads = frame["lead_id"].n_unique() if frame.height else 0
    return fetched, frame, n_leads, HISTORY_START if since is None else since


def fetch_leads(
    client: Client,
    ids: list[str],
    base: EventQuery,
    entry: dict[str, Any],
    oldest: dict[str, Any],
    on_progress: Callable[[FetchProgress], None] | None,
) -> tuple[FetchResult, pl.DataFrame, int]:
    """Each lead from its own watermark; the watermarks of the leads that did not fail are
    updated in ``entry``. Returns the fetch, the frame of those leads and their number."""
    per_lead = {lead: lead_query(base, entry["leads"].get(lead), oldest.get(lead)) for lead in ids}
    fetched = client.fetch_events(ids, per_lead, on_progress=on_progress)
    ok = [lead for lead in ids if lead not in fetched.errors]
    frame = fetched.frame.filter(pl.col("lead_id").is_in(ok))
    tops = dict(frame.group_by("lead_id").agg(pl.col("created_at").max()).iter_rows())
    stamp = _iso(datetime.now(UTC))
    for lead in ok:
        info = entry["leads"].get(lead)
        marks: list[Any] = [_parse(info["watermark"]) if info else None, tops.get(lead)]
        best = [m for m in marks if isinstance(m, datetime)]
        mark_text = _iso(max(best)) if best else None
        if info is None or info.get("watermark") != mark_text:
            entry["leads"][lead] = {"watermark": mark_text, "committed_at": stamp}
    return fetched, frame, len(ok)


def merge(
    snap: Snapshot,
    state: dict[str, Any],
    fetched: FetchResult,
    frame: pl.DataFrame,
    fp: str,
    n_leads: int,
    action: str,
    hook: Callable[[str], None] | None,
    *,
    provenance: dict[str, str] | None = None,
) -> RefreshResult:
    """Sort fetched events into added / changed / unchanged and commit what is not
    unchanged, with ``state``; commit nothing when neither data nor state changed."""
    source, added, changed, unchanged, months = _classify(snap, frame)
    requests = int(fetched.status["attempts"].sum()) if "attempts" in fetched.status.columns else 0
    if source.height == 0 and state == snap.state():
        return RefreshResult(fetched, 0, 0, unchanged, requests, snap.version, False)
    summary = {
        "action": action,
        "added": added,
        "changed": changed,
        "unchanged": unchanged,
        "leads": n_leads,
        "query": fp,
    }
    if provenance is not None:
        # where the data came from (no key: _export.safe_source), like Parquet metadata
        summary["provenance"] = provenance
    version = commit_upsert(snap, source, months, state, summary, hook)
    return RefreshResult(fetched, added, changed, unchanged, requests, version, True)


def _classify(snap: Snapshot, frame: pl.DataFrame) -> tuple[pl.DataFrame, int, int, int, list[str]]:
    """The fetched events against their stored versions: the rows to write (new or changed),
    the added / changed / unchanged counts, and the months of the changed rows' old files."""
    cols = list(EVENT_SCHEMA)
    frame = frame.select(cols).unique("id", keep="first", maintain_order=True)
    frame = frame.with_columns(month_expr())
    if snap.files and frame.height:
        ids = frame["id"].implode()
        stored = snap.scan().filter(pl.col("id").is_in(ids)).collect()
    else:
        stored = pl.DataFrame(schema={**EVENT_SCHEMA, PARTITION: pl.String()})
    joined = frame.join(
        stored.rename({c: f"{c}__stored" for c in stored.columns if c != "id"}),
        on="id",
        how="left",
    )
    known = pl.col(f"{PARTITION}__stored").is_not_null()
    same = pl.all_horizontal(
        [pl.col(c).eq_missing(pl.col(f"{c}__stored")) for c in cols if c != "id"]
    )
    joined = joined.with_columns(_known=known, _same=known & same)
    source = joined.filter(~pl.col("_same")).select([*cols, PARTITION])
    added = joined.filter(~pl.col("_known")).height
    unchanged = joined.filter(pl.col("_same")).height
    changed = joined.height - added - unchanged
    months = joined.filter(pl.col("_known") & ~pl.col("_same"))[f"{PARTITION}__stored"]
    return source, added, changed, unchanged, months.to_list()
