"""A local Parquet store of events with incremental, crash-safe refresh.

Layout under the store's directory::

    manifest.json                          the committed state (the only source of truth)
    data/created_month=2024-05/part-*.parquet   plain Parquet, Hive-partitioned by UTC month
    _staging/                              files being written (never read)
    .lock                                  writer lock (fcntl)

Every refresh writes new Parquet files to ``_staging/``, moves them into ``data/``, then
atomically replaces ``manifest.json`` (write, fsync, ``os.replace``). A process killed at any
point leaves the previous manifest intact; files it did not commit are removed by the next
writer. Readers only read files listed in the manifest, so they always see one committed
snapshot. DuckDB or Spark can read ``data/**/*.parquet`` as is (``hive_partitioning``); do
that while no refresh is running, since a killed refresh may leave uncommitted files there
until the next one cleans up.

Incremental refresh: for each lead the manifest keeps a watermark (the largest ``created_at``
stored) and the ids stored at exactly that instant. A refresh asks only for
``createdAt >= watermark`` (ordered by ``createdAt``) and drops the boundary ids it already
has, so a daily refresh of many leads costs requests in proportion to new events, not to
history. Events are assumed immutable once created; to pick up late changes (a message
delivered after the last refresh), pass ``lookback=``: events created within that window
before the watermark are fetched again and replace their stored versions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ._errors import LeadpingError, QueryError
from ._query import EventQuery, RangeFilter, check_lead_id
from ._schema import EVENT_SCHEMA

if TYPE_CHECKING:
    from ._client import Client, FetchProgress, FetchResult

__all__ = ["EventStore", "RefreshResult", "StoreError"]

_MANIFEST = "manifest.json"
_VERSION = 1


class StoreError(LeadpingError):
    """The store's directory is not a valid store, or is locked by another writer."""


@dataclass(frozen=True)
class RefreshResult:
    """What :meth:`EventStore.refresh` did.

    Attributes
    ----------
    fetch
        The underlying :class:`~leadping_nb.FetchResult` (status per lead, errors).
    added
        Events new to the store.
    replaced
        Stored events replaced by a newer version (only with ``lookback``).
    requests
        HTTP attempts made.
    """

    fetch: FetchResult
    added: int
    replaced: int
    requests: int

    @property
    def failed(self) -> list[str]:
        """Leads whose refresh failed (their stored data and watermark are unchanged)."""
        return self.fetch.failed

    def __repr__(self) -> str:
        return (
            f"RefreshResult(added={self.added}, replaced={self.replaced}, "
            f"requests={self.requests}, failed={self.failed})"
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class EventStore:
    """Events persisted as a Hive-partitioned Parquet dataset, refreshed incrementally.

    Parameters
    ----------
    path
        The store's directory (created if missing).

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
    >>> first.added == store.read().height, again.added
    (True, 0)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.path / _MANIFEST
        if not manifest.exists() and any(
            p.name not in ("data", "_staging", ".lock", _MANIFEST + ".tmp")
            for p in self.path.iterdir()
        ):
            raise StoreError(f"{self.path} is not empty and has no {_MANIFEST}: not a store")

    def __repr__(self) -> str:
        m = self._manifest()
        return (
            f"EventStore({str(self.path)!r}, leads={len(m['leads'])}, "
            f"events={sum(f['rows'] for f in m['files'])}, files={len(m['files'])})"
        )

    # --- reading ----------------------------------------------------------------------------

    def _manifest(self) -> dict[str, Any]:
        path = self.path / _MANIFEST
        if not path.exists():
            return {"version": _VERSION, "files": [], "leads": {}}
        data: dict[str, Any] = json.loads(path.read_text())
        if data.get("version") != _VERSION:
            raise StoreError(f"{path}: unsupported store version {data.get('version')!r}")
        return data

    def files(self) -> list[Path]:
        """The committed Parquet files."""
        return [self.path / f["path"] for f in self._manifest()["files"]]

    def scan(self) -> pl.LazyFrame:
        """A lazy scan of every committed event (for data larger than memory).

        The frame has exactly the declared event schema (Decimal money, UTC times).
        """
        files = self.files()
        if not files:
            return pl.LazyFrame(schema=EVENT_SCHEMA)
        lf = pl.scan_parquet(files, schema=EVENT_SCHEMA, hive_partitioning=False)
        return lf.select(list(EVENT_SCHEMA))

    def read(
        self,
        lead_ids: Iterable[str] | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        """Read events, optionally for some leads and a half-open ``[start, end)`` window.

        Bounds apply to ``created_at`` and must be time-zone aware.
        """
        lf = self.scan()
        if lead_ids is not None:
            ids = [check_lead_id(i) for i in lead_ids]
            lf = lf.filter(pl.col("lead_id").is_in(ids))
        for name, bound in (("start", start), ("end", end)):
            if bound is not None and (bound.tzinfo is None or bound.utcoffset() is None):
                raise QueryError(f"{name}: naive datetime; give a time zone", field=name)
        if start is not None:
            lf = lf.filter(pl.col("created_at") >= start.astimezone(UTC))
        if end is not None:
            lf = lf.filter(pl.col("created_at") < end.astimezone(UTC))
        return lf.sort("lead_id", "created_at", "id").collect()

    def leads(self) -> pl.DataFrame:
        """One row per stored lead: watermark, stored events, last refresh time."""
        rows = [
            {
                "lead_id": lead,
                "watermark": _parse_iso(info["watermark"]) if info.get("watermark") else None,
                "events": info.get("events", 0),
                "refreshed_at": _parse_iso(info["refreshed_at"]),
            }
            for lead, info in sorted(self._manifest()["leads"].items())
        ]
        return pl.DataFrame(
            rows,
            schema={
                "lead_id": pl.String,
                "watermark": pl.Datetime("us", "UTC"),
                "events": pl.Int64,
                "refreshed_at": pl.Datetime("us", "UTC"),
            },
            orient="row",
        )

    # --- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.path / ".lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StoreError(f"{self.path} is being refreshed by another process") from exc
            try:
                self._cleanup()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _cleanup(self) -> None:
        """Remove what a killed writer left behind: staging files and uncommitted data files."""
        shutil.rmtree(self.path / "_staging", ignore_errors=True)
        committed = {f["path"] for f in self._manifest()["files"]}
        data = self.path / "data"
        if data.exists():
            for p in data.rglob("*"):
                if p.is_file() and str(p.relative_to(self.path)) not in committed:
                    p.unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.path / (_MANIFEST + ".tmp")).unlink()

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        tmp = self.path / (_MANIFEST + ".tmp")
        with tmp.open("w") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / _MANIFEST)
        _fsync_dir(self.path)

    def _stage(self, frame: pl.DataFrame, tag: str) -> list[tuple[Path, str, int]]:
        """Write one file per UTC month to staging; return (staged, final relative path, rows)."""
        staging = self.path / "_staging"
        staging.mkdir(exist_ok=True)
        out = []
        month = pl.col("created_at").dt.strftime("%Y-%m").fill_null("unknown")
        for (key,), part in frame.with_columns(_month=month).group_by(
            "_month", maintain_order=True
        ):
            part = part.drop("_month").sort("lead_id", "created_at", "id")
            name = f"part-{tag}-{uuid.uuid4().hex[:8]}.parquet"
            staged = staging / name
            part.write_parquet(staged, compression="zstd", statistics=True)
            with staged.open("rb+") as fh:
                os.fsync(fh.fileno())
            out.append((staged, f"data/created_month={key}/{name}", part.height))
        return out

    def _commit(
        self,
        manifest: dict[str, Any],
        staged: Sequence[tuple[Path, str, int]],
        drop_files: set[str],
        hook: Callable[[str], None] | None,
    ) -> None:
        for src, rel, _rows in staged:
            dest = self.path / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            if hook:
                hook("moved")
        for d in {(self.path / rel).parent for _s, rel, _r in staged}:
            _fsync_dir(d)
        manifest["files"] = [f for f in manifest["files"] if f["path"] not in drop_files] + [
            {"path": rel, "rows": rows} for _s, rel, rows in staged
        ]
        if hook:
            hook("before-manifest")
        self._write_manifest(manifest)
        if hook:
            hook("after-manifest")
        for rel in drop_files:
            with contextlib.suppress(FileNotFoundError):
                (self.path / rel).unlink()

    def refresh(
        self,
        client: Client,
        lead_ids: Iterable[str],
        query: EventQuery | None = None,
        *,
        lookback: timedelta = timedelta(0),
        on_progress: Callable[[FetchProgress], None] | None = None,
        _hook: Callable[[str], None] | None = None,
    ) -> RefreshResult:
        """Fetch what is new for each lead and commit it atomically.

        Parameters
        ----------
        client
            A synchronous :class:`~leadping_nb.Client`.
        lead_ids
            Leads to refresh (new leads are fetched in full).
        query
            Extra filters (its order and ``createdAt`` range are managed by the store).
        lookback
            Re-fetch events created up to this long before each watermark and replace the
            stored versions (to catch late status changes). Default: none.
        on_progress
            Passed to :meth:`~leadping_nb.Client.fetch_events`.

        Returns
        -------
        RefreshResult
            Counts and the per-lead fetch status. Failed leads keep their old data.
        """
        ids = [check_lead_id(i) for i in lead_ids]
        if lookback < timedelta(0):
            raise QueryError("lookback must be >= 0", field="lookback")
        base = query or EventQuery(page_size=1000)
        if any(r.field == "createdAt" for r in base.range_filters):
            raise QueryError(
                "the store manages the createdAt range; remove it from the query",
                field="rangeFilters",
            )
        with self._locked():
            manifest = self._manifest()
            per_lead: dict[str, EventQuery] = {}
            for lead in ids:
                info = manifest["leads"].get(lead)
                ranges = list(base.range_filters)
                if info and info.get("watermark"):
                    since = _parse_iso(info["watermark"]) - lookback
                    ranges.append(RangeFilter("createdAt", ge=since))
                per_lead[lead] = EventQuery(
                    page_size=base.page_size,
                    order_by=["createdAt", "id"],
                    search=base.search,
                    search_fields=base.search_fields,
                    filters=base.filters,
                    range_filters=ranges,
                )
            fetched = client.fetch_events(ids, per_lead, on_progress=on_progress)
            return self._apply(manifest, ids, fetched, lookback, _hook)

    def _apply(
        self,
        manifest: dict[str, Any],
        ids: list[str],
        fetched: FetchResult,
        lookback: timedelta,
        hook: Callable[[str], None] | None,
    ) -> RefreshResult:
        ok = [lead for lead in ids if lead not in fetched.errors]
        frame = fetched.frame.filter(pl.col("lead_id").is_in(ok))
        requests = int(fetched.status["attempts"].sum())
        existing_ids = self._stored_ids(manifest, ok)
        new_mask = ~pl.col("id").is_in(existing_ids) if existing_ids else pl.lit(True)
        new = frame.filter(new_mask)
        updates = frame.filter(~new_mask) if existing_ids else frame.clear()
        changed = self._changed(updates) if lookback > timedelta(0) else updates.clear()
        tag = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        drop_files: set[str] = set()
        rewrite = pl.DataFrame(schema=EVENT_SCHEMA)
        if changed.height:
            drop_files, rewrite = self._rewrite_without(manifest, changed["id"])
        staged = self._stage(pl.concat([new, changed, rewrite], how="vertical"), tag)
        if hook:
            hook("staged")
        now = _iso(datetime.now(UTC))
        for lead in ok:
            lead_rows = frame.filter(pl.col("lead_id") == lead)
            info = manifest["leads"].setdefault(lead, {"events": 0, "watermark": None})
            info["events"] = info.get("events", 0) + new.filter(pl.col("lead_id") == lead).height
            info["refreshed_at"] = now
            if lead_rows.height:
                top = lead_rows["created_at"].max()
                old = _parse_iso(info["watermark"]) if info.get("watermark") else None
                if isinstance(top, datetime) and (old is None or top > old):
                    info["watermark"] = _iso(top)
        self._commit(manifest, staged, drop_files, hook)
        return RefreshResult(
            fetch=fetched, added=new.height, replaced=changed.height, requests=requests
        )

    def _stored_ids(self, manifest: dict[str, Any], leads: list[str]) -> list[str]:
        """Every stored id of these leads: a refetched event is never stored twice, even if a
        server ignored the ``createdAt`` range."""
        if not manifest["files"] or not leads:
            return []
        files = [self.path / f["path"] for f in manifest["files"]]
        ids = (
            pl.scan_parquet(files, schema=EVENT_SCHEMA, hive_partitioning=False)
            .filter(pl.col("lead_id").is_in(leads))
            .select("id")
            .collect()
        )
        return ids["id"].to_list()

    def _changed(self, updates: pl.DataFrame) -> pl.DataFrame:
        """Refetched events whose content differs from the stored version."""
        if updates.height == 0:
            return updates
        stored = self.scan().filter(pl.col("id").is_in(updates["id"].to_list())).collect()
        cols = list(EVENT_SCHEMA)
        return updates.select(cols).join(stored, on=cols, how="anti", nulls_equal=True)

    def _rewrite_without(
        self, manifest: dict[str, Any], ids: pl.Series
    ) -> tuple[set[str], pl.DataFrame]:
        """Files holding any of ``ids``, and their rows minus those ids (to be rewritten)."""
        drop: set[str] = set()
        keep = []
        for f in manifest["files"]:
            part = pl.read_parquet(self.path / f["path"], hive_partitioning=False)
            hit = part["id"].is_in(ids.to_list())
            if hit.any():
                drop.add(f["path"])
                keep.append(part.filter(~hit))
        rest = pl.concat(keep, how="vertical") if keep else pl.DataFrame(schema=EVENT_SCHEMA)
        return drop, rest.select(list(EVENT_SCHEMA))

    def compact(self) -> int:
        """Rewrite the store as one file per month; returns the number of files after."""
        with self._locked():
            manifest = self._manifest()
            if len(manifest["files"]) <= 1:
                return len(manifest["files"])
            frame = self.scan().collect()
            staged = self._stage(frame, "compact")
            drop = {f["path"] for f in manifest["files"]}
            self._commit(manifest, staged, drop, None)
            return len(staged)
