"""A local Delta Lake table of events that follows the events as they change.

Layout under the store's directory (a plain Delta table: Polars ``pl.read_delta``, Spark,
deltalake, or DuckDB through ``deltalake.DeltaTable(path).to_pyarrow_dataset()`` read it)::

    _delta_log/                       the commits (each one atomic: data and store state)
    created_month=2024-05/part-*.parquet   Parquet, partitioned by the UTC month of created_at
    .lock                             writer lock (fcntl)

**Refresh rule.** Events change after they are first seen (queued -> sent -> delivered,
retries, scheduled sends, billing ``Pending`` -> ``Billed``). For each lead, a refresh asks for
``createdAt >= from`` where ``from = min(watermark, oldest changeable stored event created
within lookback)``: the watermark is the largest ``created_at`` fetched for that lead *with
this query*, and an event is changeable as :func:`changeable` says. ``lookback`` (default
:data:`DEFAULT_LOOKBACK`, 7 days before the refresh's ``now``, or before the newest stored
event when that is earlier) bounds how far back a changeable event is followed; an older
one keeps its last seen version. ``lookback=
timedelta(0)`` fetches from the watermark only. The refetched events are MERGEd on ``id``:
new ids inserted, changed events updated, unchanged ones left alone; a refresh that changes
no event and no watermark commits nothing (no new version, no file rewritten).

**Watermarks belong to their query.** They are keyed by :func:`query_fingerprint` (the
query's filters, search and range filters), so a filtered refresh never makes an unfiltered
one skip events: a query that was never refreshed starts from the beginning. They are kept in
the custom metadata of the commit that wrote the data they describe, so data and watermarks
are committed together or not at all, and every version carries its own.

**Versions.** Every commit is a version: :attr:`EventStore.version`, ``read(version=N)``,
:meth:`EventStore.history`. :meth:`EventStore.compact` compacts small files and then deletes
unreferenced files older than ``retention`` (default 7 days): a reader holding a version
younger than that keeps working. See docs/store.md for the format, repair and migration.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
from leadping_nb.reports._export import provenance as _provenance
from leadping_nb.store._delta import (
    PARTITION,
    Snapshot,
    StoreError,
    commit_replace_months,
    commit_upsert,
    month_expr,
)
from leadping_nb.store._delta import compact as _compact
from leadping_nb.store._delta import history as _history
from leadping_nb.store._keys import _lock, _query_key, query_fingerprint
from leadping_nb.store._migrate import migrate_manifest as _migrate_manifest

if TYPE_CHECKING:
    from leadping_nb._client import Client, FetchProgress, FetchResult

__all__ = [
    "DEFAULT_LOOKBACK",
    "DEFAULT_RETENTION",
    "NON_FINAL_STATUSES",
    "EventStore",
    "RefreshResult",
    "StoreError",
    "changeable",
    "query_fingerprint",
]

#: How far back (before the refresh's ``now``) a changeable event is re-read by default.
DEFAULT_LOOKBACK = timedelta(days=7)
#: How long :meth:`EventStore.compact` keeps files no longer in the current version.
DEFAULT_RETENTION = timedelta(days=7)
#: Statuses after which an event can still change (every other status is final).
NON_FINAL_STATUSES: frozenset[str] = frozenset(
    "Scheduled Queued Sending Sent Pending InProgress Initiated Ringing Active".split()
)
_LEGACY = "manifest.json"
_BACKUP = "_legacy_v1"


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


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _combine(results: list[FetchResult]) -> FetchResult:
    """Several fetches as one result (frames and status rows concatenated)."""
    from leadping_nb._client.fetch import _result
    from leadping_nb._client.types import FetchResult

    if not results:
        return _result([], {}, [])
    return FetchResult(
        frame=pl.concat([r.frame for r in results], how="vertical"),
        status=pl.concat([r.status for r in results], how="diagonal_relaxed"),
        report=results[0].report,
        errors={k: v for r in results for k, v in r.errors.items()},
    )


class EventStore:
    """Events in a local Delta Lake table, kept true by incremental MERGE refreshes.

    Parameters
    ----------
    path
        The store's directory (created if missing). A directory holding the old
        ``manifest.json`` store raises :class:`StoreError` naming :meth:`migrate`.

    Examples
    --------
    >>> import tempfile
    >>> from leadping_nb import Emulator
    >>> from leadping_nb.store import EventStore
    >>> emu = Emulator(seed=2, n_leads=3)
    >>> store = EventStore(tempfile.mkdtemp())
    >>> with emu.client() as client:
    ...     first = store.refresh(client, emu.lead_ids())
    ...     again = store.refresh(client, emu.lead_ids())
    >>> first.added == store.read().height, again.added, again.committed, store.version
    (True, 0, False, 0)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            names = [p.name for p in self.path.iterdir()]
        except OSError as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        if _LEGACY in names:
            raise StoreError(
                f"{self.path} holds a store in the old format (manifest.json and Parquet "
                "files, before Delta Lake); convert it once with "
                f"EventStore.migrate({str(self.path)!r})"
            )
        strangers = [
            n
            for n in names
            if n not in ("_delta_log", _BACKUP) and not n.startswith((".", f"{PARTITION}="))
        ]
        if strangers:
            raise StoreError(
                f"{self.path} is not empty and holds no Delta table ({strangers[0]!r}): not a store"
            )

    def __repr__(self) -> str:
        snap = self._snapshot()
        return (
            f"EventStore({str(self.path)!r}, version={snap.version}, events={snap.rows}, "
            f"files={len(snap.files)})"
        )

    # --- reading ----------------------------------------------------------------------------

    def _snapshot(self, version: int | None = None) -> Snapshot:
        return Snapshot(self.path, version)

    @property
    def version(self) -> int | None:
        """The current Delta version (``None`` while the store is empty)."""
        return self._snapshot().version

    def files(self, version: int | None = None) -> list[Path]:
        """The data files of a version (default: the current one)."""
        return [f.path for f in self._snapshot(version).files]

    def scan(self, version: int | None = None) -> pl.LazyFrame:
        """A lazy scan of every event of a version (default: the current one).

        The frame has exactly the declared event schema (Decimal money, UTC times). A data
        file that cannot be read raises :class:`StoreError` naming it at ``collect()``.

        Examples
        --------
        >>> import tempfile
        >>> from leadping_nb import Emulator
        >>> emu = Emulator(seed=2, n_leads=2)
        >>> store = EventStore(tempfile.mkdtemp())
        >>> with emu.client() as client:
        ...     _ = store.refresh(client, emu.lead_ids())
        >>> store.scan().select(pl.len()).collect().item() == store.read().height
        True
        """
        return self._snapshot(version).scan().select(list(EVENT_SCHEMA))

    def read(
        self,
        lead_ids: Iterable[str] | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        version: int | None = None,
    ) -> pl.DataFrame:
        """Read events, optionally for some leads, a half-open ``[start, end)`` window on
        ``created_at`` (time-zone aware bounds) and an older ``version``.

        Rows are sorted by ``lead_id``, ``created_at``, ``id``.
        """
        if isinstance(lead_ids, str):
            raise QueryError("lead_ids: give a list of lead ids, not one string", field="leads")
        _aware("start", start)
        _aware("end", end)
        lf = self.scan(version)
        if lead_ids is not None:
            ids = [check_lead_id(i) for i in lead_ids]
            lf = lf.filter(pl.col("lead_id").is_in(ids))
        if start is not None:
            lf = lf.filter(pl.col("created_at") >= start.astimezone(UTC))
        if end is not None:
            lf = lf.filter(pl.col("created_at") < end.astimezone(UTC))
        return lf.sort("lead_id", "created_at", "id").collect()

    def leads(self, query: EventQuery | None = None) -> pl.DataFrame:
        """One row per lead refreshed with ``query``: its watermark (largest ``created_at``
        fetched with that query), its stored events, and when its watermark was committed."""
        snap = self._snapshot()
        entry = snap.state()["queries"].get(query_fingerprint(query), {})
        counts: dict[str, int] = {}
        if snap.files:
            agg = snap.scan().group_by("lead_id").agg(pl.len()).collect()
            counts = dict(zip(agg["lead_id"].to_list(), agg["len"].to_list(), strict=True))
        rows = [
            (lead, _parse(info.get("watermark")), counts.get(lead, 0), _parse(info["committed_at"]))
            for lead, info in sorted(entry.get("leads", {}).items())
        ]
        schema: dict[str, pl.DataType] = {
            "lead_id": pl.String(),
            "watermark": pl.Datetime("us", "UTC"),
            "events": pl.Int64(),
            "committed_at": pl.Datetime("us", "UTC"),
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    def history(self) -> pl.DataFrame:
        """One row per version, newest first: ``version``, ``timestamp`` (UTC), the Delta
        ``operation``, and what the store did (``action``: refresh, repair, migrate,
        compact, vacuum; ``added``, ``changed``, ``unchanged``, ``leads``, ``query``
        fingerprint).

        Examples
        --------
        >>> import tempfile
        >>> from leadping_nb import Emulator
        >>> emu = Emulator(seed=2, n_leads=2)
        >>> store = EventStore(tempfile.mkdtemp())
        >>> with emu.client() as client:
        ...     _ = store.refresh(client, emu.lead_ids())
        >>> store.history().select("version", "action", "changed").row(0)
        (0, 'refresh', 0)
        """
        return _history(self._snapshot())

    # --- writing ----------------------------------------------------------------------------

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return _lock(self.path)

    def refresh(
        self,
        client: Client,
        lead_ids: Iterable[str] | None = None,
        query: EventQuery | None = None,
        *,
        lookback: timedelta = DEFAULT_LOOKBACK,
        now: datetime | None = None,
        on_progress: Callable[[FetchProgress], None] | None = None,
        _hook: Callable[[str], None] | None = None,
    ) -> RefreshResult:
        """Fetch what is new or may have changed for each lead, MERGE it, commit once.

        Parameters
        ----------
        client
            A synchronous :class:`~leadping_nb.Client`.
        lead_ids
            Leads to refresh (a lead new to this query is fetched in full). ``None``: the
            whole account through ``client.account_events`` (one stream, one watermark).
        query
            Extra filters; its watermarks are its own (:func:`query_fingerprint`). Its
            order and ``createdAt`` range are managed by the store.
        lookback
            How far before ``now`` changeable events are re-read (see the module docs);
            ``timedelta(0)``: from the watermark only.
        now
            The time of the refresh (default: the clock); it dates the lookback and the
            "scheduled in the future" rule of :func:`changeable`.
        on_progress
            Passed to the fetch.

        Returns
        -------
        RefreshResult
            Counts, the version, and the per-lead fetch status. Failed leads keep their data
            and watermark.

        Examples
        --------
        >>> import tempfile
        >>> from datetime import timedelta
        >>> from leadping_nb import Emulator
        >>> emu = Emulator(seed=2, n_leads=3)
        >>> store = EventStore(tempfile.mkdtemp())
        >>> with emu.client() as client:
        ...     _ = store.refresh(client, emu.lead_ids())
        ...     _ = emu.add_events(emu.lead_ids()[0], 5)
        ...     r = store.refresh(client, emu.lead_ids(), lookback=timedelta(0))
        >>> r.added, r.changed, r.version
        (5, 0, 1)
        """
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
        fp = query_fingerprint(base)
        account = None
        if ids is None:
            account = getattr(client, "account_events", None)
            if account is None:
                raise QueryError(
                    "lead_ids=None refreshes the whole account, which needs "
                    "Client.account_events (not in this version); pass the lead ids",
                    field="leads",
                )
        with self._locked():
            snap = self._snapshot()
            state = copy.deepcopy(snap.state())
            entry = state["queries"].setdefault(fp, {"query": _query_key(base), "leads": {}})
            oldest = self._oldest_changeable(snap, at, lookback)
            if account is not None:
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
            else:
                assert ids is not None
                per_lead = {
                    lead: self._lead_query(base, entry["leads"].get(lead), oldest.get(lead))
                    for lead in ids
                }
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
                n_leads = len(ok)
            if _hook:
                _hook("fetched")
            prov = _provenance(
                source=str(getattr(client, "base_url", type(client).__name__)),
                window=(HISTORY_START if since is None else since, None)
                if account is not None
                else None,
                query=base,
            )
            return self._merge(
                snap, state, fetched, frame, fp, n_leads, "refresh", _hook, provenance=prov
            )

    @staticmethod
    def _lead_query(
        base: EventQuery, info: dict[str, Any] | None, oldest: datetime | None
    ) -> EventQuery:
        mark = _parse(info.get("watermark")) if info else None
        ranges = list(base.range_filters)
        if mark is not None:
            start = mark if oldest is None else min(mark, oldest)
            ranges.append(RangeFilter("createdAt", ge=start))
        return EventQuery(
            page_size=base.page_size,
            order_by=["createdAt", "id"],
            search=base.search,
            search_fields=base.search_fields,
            filters=base.filters,
            range_filters=ranges,
        )

    @staticmethod
    def _oldest_changeable(snap: Snapshot, now: datetime, lookback: timedelta) -> dict[str, Any]:
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

    def _merge(
        self,
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
        requests = (
            int(fetched.status["attempts"].sum()) if "attempts" in fetched.status.columns else 0
        )
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
        version = commit_upsert(snap, source, months.to_list(), state, summary, hook)
        return RefreshResult(fetched, added, changed, unchanged, requests, version, True)

    def compact(self, retention: timedelta = DEFAULT_RETENTION) -> int:
        """Compact small files into larger ones, then delete files no version younger than
        ``retention`` needs (and files a killed writer left). Returns the number of data
        files after.

        A reader holding a version committed less than ``retention`` ago keeps working.
        ``retention`` is rounded up to whole hours; ``timedelta(0)`` deletes every file not
        in the current version (older versions become unreadable).

        Examples
        --------
        >>> import tempfile
        >>> from leadping_nb import Emulator
        >>> emu = Emulator(seed=2, n_leads=3)
        >>> store = EventStore(tempfile.mkdtemp())
        >>> with emu.client() as client:
        ...     _ = store.refresh(client, emu.lead_ids()[:1])
        ...     _ = store.refresh(client, emu.lead_ids())
        >>> before = store.read()
        >>> n = store.compact()
        >>> store.read().equals(before), n == len(store.files())
        (True, True)
        """
        if not isinstance(retention, timedelta) or retention < timedelta(0):
            raise QueryError("retention must be a timedelta >= 0", field="retention")
        with self._locked():
            snap = self._snapshot()
            if snap.table is None:
                return 0
            return _compact(snap, retention, snap.state())

    def repair(
        self,
        client: Client,
        *,
        on_progress: Callable[[FetchProgress], None] | None = None,
    ) -> RefreshResult:
        """Replace the months of damaged data files by events fetched again.

        Every data file of the current version is read in full; the UTC months holding a
        damaged one are dropped from the table (by partition, without reading them) and
        fetched again for every query and lead the store was refreshed with (a
        ``createdAt`` range on each month), in one commit. Watermarks are unchanged. When any
        fetch fails nothing is committed.

        Examples
        --------
        >>> import tempfile
        >>> from leadping_nb import Emulator
        >>> emu = Emulator(seed=2, n_leads=2)
        >>> store = EventStore(tempfile.mkdtemp())
        >>> with emu.client() as client:
        ...     _ = store.refresh(client, emu.lead_ids())
        ...     r = store.repair(client)
        >>> r.committed  # nothing was damaged
        False
        """
        with self._locked():
            snap = self._snapshot()
            bad = snap.damaged()
            if not bad:
                return RefreshResult(_combine([]), 0, 0, 0, 0, snap.version, False)
            months = sorted({f.month for f, _ in bad})
            state = snap.state()
            frames: list[pl.DataFrame] = []
            requests = 0
            results: list[FetchResult] = []
            for entry in state["queries"].values():
                base = EventQuery.from_body({"pageSize": 1000, **entry["query"]})
                leads = sorted(entry["leads"])
                for month in months:
                    start, end = _month_bounds(month)
                    window = RangeFilter("createdAt", ge=start, lt=end)
                    q = EventQuery(
                        page_size=base.page_size,
                        order_by=["createdAt", "id"],
                        search=base.search,
                        search_fields=base.search_fields,
                        filters=base.filters,
                        range_filters=[*base.range_filters, window],
                    )
                    parts = []
                    if leads:
                        parts.append(client.fetch_events(leads, q, on_progress=on_progress))
                    if "account" in entry:
                        fetch = getattr(client, "account_events", None)
                        if fetch is None:
                            raise StoreError("repair of an account stream needs account_events")
                        parts.append(fetch(base, since=start, until=end, on_progress=on_progress))
                    for got in parts:
                        if got.errors:
                            lead, exc = next(iter(got.errors.items()))
                            raise StoreError(
                                f"repair of {self.path}: fetching {lead} for {month} failed "
                                f"({exc}); nothing was changed, run it again"
                            ) from exc
                        if "attempts" in got.status.columns:
                            requests += int(got.status["attempts"].sum())
                        frames.append(got.frame.select(list(EVENT_SCHEMA)))
                        results.append(got)
            frame = pl.concat(frames) if frames else pl.DataFrame(schema=EVENT_SCHEMA)
            frame = frame.unique("id", keep="first", maintain_order=True).with_columns(month_expr())
            frame = frame.filter(pl.col(PARTITION).is_in(months))
            summary = {"action": "repair", "added": frame.height, "months": months}
            version = commit_replace_months(snap, frame, months, state, summary)
            return RefreshResult(_combine(results), frame.height, 0, 0, requests, version, True)

    @classmethod
    def migrate(cls, path: str | os.PathLike[str], query: EventQuery | None = None) -> EventStore:
        """Convert a store of the old format (``manifest.json`` + Parquet) into a Delta table.

        The committed Parquet files the manifest lists (only files inside the directory) are
        written as version 0, with each lead's watermark recorded for ``query`` (the old
        format did not record the query it was refreshed with: pass the one you used, by
        default the unfiltered one). The old ``manifest.json`` and ``data/`` are then moved
        into ``_legacy_v1/`` (delete it once satisfied). Running it again after an
        interruption finishes the move.

        Examples
        --------
        >>> import tempfile
        >>> EventStore.migrate(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        leadping_nb.store.StoreError: ... holds no manifest.json: nothing to migrate
        """
        root = Path(path)
        _migrate_manifest(root, query)
        return cls(root)
