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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from leadping_nb._core.errors import QueryError
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._http.query import EventQuery, check_lead_id
from leadping_nb.reports._export import provenance as _provenance
from leadping_nb.store._delta import (
    PARTITION,
    Snapshot,
    StoreError,
    commit_replace_months,
    month_expr,
)
from leadping_nb.store._delta import compact as _compact
from leadping_nb.store._delta import history as _history
from leadping_nb.store._keys import _lock, _query_key, query_fingerprint
from leadping_nb.store._migrate import migrate_manifest as _migrate_manifest
from leadping_nb.store._refresh import (
    NON_FINAL_STATUSES,
    RefreshResult,
    _aware,
    _parse,
    changeable,
    checked_refresh,
    fetch_account,
    fetch_leads,
    merge,
    oldest_changeable,
)
from leadping_nb.store._repair import _combine, refetch_months

if TYPE_CHECKING:
    from leadping_nb._client import Client, FetchProgress

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
_LEGACY = "manifest.json"
_BACKUP = "_legacy_v1"


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
        ids, at, base, account = checked_refresh(client, lead_ids, query, lookback, now)
        fp = query_fingerprint(base)
        with self._locked():
            snap = self._snapshot()
            state = copy.deepcopy(snap.state())
            entry = state["queries"].setdefault(fp, {"query": _query_key(base), "leads": {}})
            oldest = oldest_changeable(snap, at, lookback)
            window: tuple[datetime, None] | None = None
            if account is not None:
                fetched, frame, n_leads, since = fetch_account(
                    account, base, entry, oldest, on_progress
                )
                window = (since, None)
            else:
                assert ids is not None
                fetched, frame, n_leads = fetch_leads(client, ids, base, entry, oldest, on_progress)
            if _hook:
                _hook("fetched")
            prov = _provenance(
                source=str(getattr(client, "base_url", type(client).__name__)),
                window=window,
                query=base,
            )
            return merge(
                snap, state, fetched, frame, fp, n_leads, "refresh", _hook, provenance=prov
            )

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
            frames, requests, results = refetch_months(
                self.path, client, state, months, on_progress
            )
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
