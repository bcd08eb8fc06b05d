"""The one-time conversion of the manifest-format store (before Delta Lake), behind
:meth:`leadping_nb.store.EventStore.migrate`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import polars as pl

from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._http.query import EventQuery
from leadping_nb.store._delta import (
    Snapshot,
    StoreError,
    commit_upsert,
    confined,
    damage_message,
    empty_state,
    month_expr,
)
from leadping_nb.store._keys import _lock, _query_key, query_fingerprint

_LEGACY = "manifest.json"
_BACKUP = "_legacy_v1"


def migrate_manifest(root: Path, query: EventQuery | None) -> None:
    """Write the old store's committed files as version 0, then move the old files into
    ``_legacy_v1/`` (see :meth:`~leadping_nb.store.EventStore.migrate`)."""

    manifest_path = root / _LEGACY
    if not manifest_path.is_file():
        raise StoreError(f"{root} holds no {_LEGACY}: nothing to migrate")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{manifest_path}: unreadable old manifest ({exc})") from exc
    if manifest.get("version") != 1:
        raise StoreError(f"{manifest_path}: unknown old store version {manifest.get('version')!r}")
    with _lock(root):
        snap = Snapshot(root)
        if snap.table is None:
            files = [confined(root, f["path"]) for f in manifest.get("files", [])]
            bad = [(p, "missing") for p in files if not p.is_file()]
            if bad:
                raise StoreError(damage_message(root, bad))
            frame = (
                pl.read_parquet(files, schema=EVENT_SCHEMA, hive_partitioning=False)
                if files
                else pl.DataFrame(schema=EVENT_SCHEMA)
            )
            frame = (
                frame.select(list(EVENT_SCHEMA))
                .unique("id", keep="first")
                .with_columns(month_expr())
            )
            state = empty_state()
            base = query or EventQuery()
            leads = {
                lead: {"watermark": info.get("watermark"), "committed_at": info["refreshed_at"]}
                for lead, info in manifest.get("leads", {}).items()
            }
            state["queries"][query_fingerprint(base)] = {
                "query": _query_key(base),
                "leads": leads,
            }
            summary = {"action": "migrate", "added": frame.height, "leads": len(leads)}
            commit_upsert(snap, frame, [], state, summary)
        backup = root / _BACKUP
        backup.mkdir(exist_ok=True)
        if (root / "data").exists():
            os.replace(root / "data", backup / "data")
        shutil.rmtree(root / "_staging", ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (root / (_LEGACY + ".tmp")).unlink()
        os.replace(manifest_path, backup / _LEGACY)
