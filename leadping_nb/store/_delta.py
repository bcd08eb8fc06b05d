"""The Delta Lake mechanics behind :mod:`leadping_nb.store`.

One :class:`Snapshot` is one committed version of the table: its data files (each checked to
lie inside the store's directory), its store state (the watermarks, kept in the custom
metadata of the newest commit that carries it), and a lazy, file-by-file checked scan.
Every commit goes through :func:`commit`, which attaches the state and a summary of what the
commit did, refuses to retry over another writer's commit (``max_commit_retries=0``), and
turns deltalake's errors into :class:`StoreError`. Nothing here knows about the API.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl

from leadping_nb._core.errors import LeadpingError
from leadping_nb._core.schema import EVENT_SCHEMA

PARTITION = "created_month"
STATE_KEY = "leadping.state"
ACTION_KEY = "leadping.action"
STATE_FORMAT = 1
#: a partition value for an event without ``created_at`` (the API always sends one)
NO_MONTH = "unknown"


class StoreError(LeadpingError):
    """The store cannot be read or written: not a store, old format, another writer, damaged
    or foreign files, a full disk, no permission."""


StoreError.__module__ = "leadping_nb.store"


def month_expr() -> pl.Expr:
    """The partition value of each event: the UTC month of ``created_at`` as ``YYYY-MM``."""
    return pl.col("created_at").dt.strftime("%Y-%m").fill_null(NO_MONTH).alias(PARTITION)


def empty_state() -> dict[str, Any]:
    return {"format": STATE_FORMAT, "queries": {}}


def _is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".lower()


@contextlib.contextmanager
def guard(root: Path, doing: str, version: int | None) -> Iterator[None]:
    """Turn what deltalake and the OS raise while writing into a :class:`StoreError`."""
    from deltalake.exceptions import CommitFailedError

    intact = (
        "the store is unchanged (no version yet)"
        if version is None
        else f"version {version} is intact"
    )
    try:
        yield
    except StoreError:
        raise
    except CommitFailedError as exc:
        raise StoreError(
            f"another writer committed to {root} meanwhile; nothing of this {doing} was "
            "committed, run it again"
        ) from exc
    except BaseException as exc:
        if not (isinstance(exc, Exception) or _is_panic(exc)):
            raise
        text = _text(exc)
        code = exc.errno if isinstance(exc, OSError) else None
        if code == errno.ENOSPC or "no space left on device" in text or "os error 28" in text:
            raise StoreError(
                f"no space left on device while writing {root}: nothing of this {doing} was "
                f"committed ({intact}); free some space and run it again"
            ) from exc
        if (
            code in (errno.EACCES, errno.EPERM, errno.EROFS)
            or "permission denied" in text
            or "read-only file system" in text
            or "os error 13" in text
            or "os error 30" in text
        ):
            raise StoreError(
                f"cannot write to {root}: permission denied or read-only file system; nothing "
                f"of this {doing} was committed ({intact})"
            ) from exc
        raise StoreError(f"{doing} of {root} failed ({intact}): {exc}") from exc


def confined(root: Path, raw: str) -> Path:
    """The file a log path names, refusing any path that is absolute or leaves ``root``."""
    path = unquote(raw)
    parts = Path(path).parts
    if "://" in raw or path.startswith(("/", "\\")) or Path(path).is_absolute() or ".." in parts:
        raise StoreError(
            f"{root}: the Delta log references {raw!r}, outside the store's directory; "
            "the store reads and deletes only its own files (the log was edited or written "
            "by another tool): restore the log or rebuild the store"
        )
    full = root / path
    resolved = full.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise StoreError(
            f"{root}: the Delta log references {raw!r}, which resolves outside the store's "
            f"directory ({resolved}); the store reads and deletes only its own files"
        )
    return full


def log_paths(root: Path) -> list[str]:
    """Every ``add`` and ``remove`` path of the JSON commits (what vacuum may touch)."""
    out: list[str] = []
    log = root / "_delta_log"
    for f in sorted(log.glob("*.json")):
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            for kind in ("add", "remove"):
                if kind in action and "path" in action[kind]:
                    out.append(action[kind]["path"])
    return out


@dataclass(frozen=True)
class DataFile:
    """One data file of a snapshot."""

    path: Path
    month: str
    size: int
    rows: int


def damage_message(root: Path, bad: Sequence[tuple[Path, str]]) -> str:
    names = "; ".join(f"{p.relative_to(root)} ({why})" for p, why in bad)
    return (
        f"{root}: damaged data file(s): {names}. Repair with store.repair(client) (it drops "
        "the damaged months and fetches them again), or restore the file(s)"
    )


def check_file(f: DataFile) -> str | None:
    """Why a data file cannot be read in full, or ``None`` when it reads."""
    try:
        size = f.path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if size != f.size:
        return f"{size} bytes on disk, {f.size} committed"
    try:
        n = pl.read_parquet(f.path, hive_partitioning=False).height
    except BaseException as exc:
        if not (isinstance(exc, Exception) or _is_panic(exc)):
            raise
        return f"unreadable: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
    if n != f.rows:
        return f"{n} rows, {f.rows} committed"
    return None


class Snapshot:
    """One committed version of the table (or the empty store before the first commit)."""

    def __init__(self, root: Path, version: int | None = None) -> None:
        from deltalake import DeltaTable

        self.root = root
        self.table: DeltaTable | None = None
        self.files: list[DataFile] = []
        if not (root / "_delta_log").is_dir() or not any((root / "_delta_log").glob("*.json")):
            if version is not None:
                raise StoreError(f"{root} has no version {version}: the store is empty")
            self.version: int | None = None
            return
        try:
            self.table = DeltaTable(root, version=version)
        except BaseException as exc:
            if not (isinstance(exc, Exception) or _is_panic(exc)):
                raise
            what = "the current version" if version is None else f"version {version}"
            raise StoreError(
                f"{root}: cannot load {what} of the Delta table: {exc} (versions older than the "
                "log retention, 30 days by default, are no longer kept)"
            ) from exc
        self.version = self.table.version()
        actions = self.table.get_add_actions(flatten=True)
        names = actions.schema.names
        cols = {
            n: actions.column(n).to_pylist()
            for n in ("path", "size_bytes", "num_records", f"partition.{PARTITION}")
            if n in names
        }
        for i, raw in enumerate(cols.get("path", [])):
            month = cols.get(f"partition.{PARTITION}", [None] * (i + 1))[i]
            rows = cols.get("num_records", [None] * (i + 1))[i]
            self.files.append(
                DataFile(
                    confined(root, raw),
                    str(month),
                    int(cols["size_bytes"][i]),
                    -1 if rows is None else int(rows),
                )
            )

    @property
    def rows(self) -> int:
        return sum(max(f.rows, 0) for f in self.files)

    def state(self) -> dict[str, Any]:
        """The store state committed with this version (the newest commit carrying one)."""
        if self.table is None:
            return empty_state()
        for limit in (5, None):
            for entry in self.table.history(limit):
                state = entry.get(STATE_KEY)
                if isinstance(state, dict) and state.get("format") == STATE_FORMAT:
                    return state
        return empty_state()

    def scan(self, months: Sequence[str] | None = None) -> pl.LazyFrame:
        """A lazy frame of this version's events (``EVENT_SCHEMA`` plus ``created_month``).

        Files are read one month at a time; a file that cannot be read raises
        :class:`StoreError` naming it (at ``collect()``).
        """
        from polars.io.plugins import register_io_source

        files = [f for f in self.files if months is None or f.month in months]
        by_month: dict[str, list[DataFile]] = {}
        for f in files:
            by_month.setdefault(f.month, []).append(f)
        schema = {**EVENT_SCHEMA, PARTITION: pl.String()}
        root = self.root

        def source(
            with_columns: list[str] | None,
            predicate: pl.Expr | None,
            n_rows: int | None,
            _batch_size: int | None,
        ) -> Iterator[pl.DataFrame]:
            left = n_rows
            for month in sorted(by_month):
                if left is not None and left <= 0:
                    return
                group = by_month[month]
                try:
                    lf = pl.scan_parquet(
                        [f.path for f in group],
                        schema=EVENT_SCHEMA,
                        hive_partitioning=False,
                    ).with_columns(pl.lit(month, pl.String).alias(PARTITION))
                    if predicate is not None:
                        lf = lf.filter(predicate)
                    if with_columns is not None:
                        lf = lf.select(with_columns)
                    if left is not None:
                        lf = lf.head(left)
                    part = lf.collect()
                except BaseException as exc:
                    if not (isinstance(exc, Exception) or _is_panic(exc)):
                        raise
                    bad = [(f.path, why) for f in group if (why := check_file(f))]
                    if not bad:
                        bad = [(f.path, f"read failed: {exc}") for f in group]
                    raise StoreError(damage_message(root, bad)) from exc
                if left is not None:
                    left -= part.height
                yield part

        return register_io_source(source, schema=schema)

    def damaged(self) -> list[tuple[DataFile, str]]:
        """Every data file of this version that does not read in full, with the reason."""
        return [(f, why) for f in self.files if (why := check_file(f))]


def _arrow(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as deltalake takes it (through the Arrow C stream: no pyarrow needed)."""
    return frame.select([*EVENT_SCHEMA, PARTITION])


def _props(state: dict[str, Any], action: dict[str, Any]) -> Any:
    from deltalake import CommitProperties

    return CommitProperties(
        custom_metadata={STATE_KEY: state, ACTION_KEY: action}, max_commit_retries=0
    )


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(set(values)))


def commit_upsert(
    snap: Snapshot,
    source: pl.DataFrame,
    match_months: Sequence[str],
    state: dict[str, Any],
    action: dict[str, Any],
    hook: Callable[[str], None] | None = None,
) -> int:
    """MERGE ``source`` on ``id`` (update matched, insert the rest) in one commit.

    ``match_months`` must hold every partition where a stored version of a source id lives
    (the merge reads only those). With an empty source the commit carries the state alone.
    Creates the table when there is none. Returns the new version.
    """
    from deltalake import DeltaTable, write_deltalake

    doing = action.get("action", "refresh")
    with guard(snap.root, str(doing), snap.version):
        if hook:
            hook("before-commit")
        if snap.table is None:
            write_deltalake(
                snap.root,
                _arrow(source),
                partition_by=[PARTITION],
                mode="error",
                commit_properties=_props(state, action),
            )
        elif source.height == 0:
            snap.table.create_write_transaction(
                [],
                mode="append",
                schema=snap.table.schema(),
                partition_by=[PARTITION],
                commit_properties=_props(state, action),
            )
        else:
            months = sorted(set(match_months) | set(source[PARTITION].to_list()))
            (
                snap.table.merge(
                    _arrow(source),
                    predicate=f"t.{PARTITION} IN ({_sql_list(months)}) AND s.id = t.id",
                    source_alias="s",
                    target_alias="t",
                    commit_properties=_props(state, action),
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        version = DeltaTable(snap.root).version()
        if hook:
            hook("committed")
        return version


def commit_replace_months(
    snap: Snapshot,
    frame: pl.DataFrame,
    months: Sequence[str],
    state: dict[str, Any],
    action: dict[str, Any],
) -> int:
    """Replace whole month partitions by ``frame`` in one commit (a partition predicate: the
    old files are dropped from the log without being read)."""
    from deltalake import DeltaTable, write_deltalake

    assert snap.table is not None
    with guard(snap.root, "repair", snap.version):
        write_deltalake(
            snap.table,
            _arrow(frame),
            partition_by=[PARTITION],
            mode="overwrite",
            predicate=f"{PARTITION} IN ({_sql_list(months)})",
            commit_properties=_props(state, action),
        )
        return DeltaTable(snap.root).version()


def compact(snap: Snapshot, retention: timedelta, state: dict[str, Any]) -> int:
    """Optimize (compact small files), then vacuum unreferenced files older than
    ``retention``. Returns the number of data files of the new current version."""
    from deltalake import DeltaTable

    assert snap.table is not None
    for raw in log_paths(snap.root):
        confined(snap.root, raw)
    dt = snap.table
    with guard(snap.root, "compaction", snap.version):
        dt.optimize.compact(commit_properties=_props(state, {"action": "compact"}))
        hours = max(0, math.ceil(retention.total_seconds() / 3600))
        doomed = dt.vacuum(
            retention_hours=hours, dry_run=True, enforce_retention_duration=False, full=True
        )
        for raw in doomed:
            confined(snap.root, raw)
        if doomed:
            dt.vacuum(
                retention_hours=hours,
                dry_run=False,
                enforce_retention_duration=False,
                full=True,
                commit_properties=_props(state, {"action": "vacuum", "deleted": len(doomed)}),
            )
        return len(DeltaTable(snap.root).file_uris())


def history(snap: Snapshot) -> pl.DataFrame:
    """One row per version, newest first: when, the Delta operation, and what it did."""
    rows: list[dict[str, Any]] = []
    entries = [] if snap.table is None else snap.table.history()
    for e in entries:
        act = e.get(ACTION_KEY) if isinstance(e.get(ACTION_KEY), dict) else {}
        assert isinstance(act, dict)
        rows.append(
            {
                "version": e.get("version"),
                "timestamp": datetime.fromtimestamp(e.get("timestamp", 0) / 1000, UTC),
                "operation": e.get("operation"),
                "action": act.get("action"),
                "added": act.get("added"),
                "changed": act.get("changed"),
                "unchanged": act.get("unchanged"),
                "leads": act.get("leads"),
                "query": act.get("query"),
            }
        )
    ints = ("version", "added", "changed", "unchanged", "leads")
    schema: dict[str, pl.DataType] = {
        "version": pl.Int64(),
        "timestamp": pl.Datetime("us", "UTC"),
        "operation": pl.String(),
        "action": pl.String(),
        **{k: pl.Int64() for k in ints[1:]},
        "query": pl.String(),
    }
    return pl.DataFrame(rows, schema=schema, orient="row").sort("version", descending=True)
