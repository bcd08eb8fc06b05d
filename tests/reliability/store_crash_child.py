"""The child process of the store crash test: refresh a store and die at a chosen point.

``python -m tests.reliability.store_crash_child STORE STEP MODE`` builds the emulator as it
is at ``STEP`` (the parent builds the very same one to know the ground truth), prints
``READY``, runs ``EventStore(STORE).refresh(...)`` and SIGKILLs itself at ``MODE``:

* ``progress:K``: at the K-th progress callback (while pages are being fetched);
* ``hook:NAME:K``: at the K-th call of the store's ``_hook`` with NAME (``fetched``,
  ``before-commit``, ``committed``);
* ``torn-data``: just before the commit, after a half-written Parquet file was left in a
  partition directory (as a writer killed while deltalake writes its data files);
* ``torn-commit``: just before the commit, after a half-written temporary commit file was
  left in ``_delta_log/`` (as a writer killed while deltalake writes its commit);
* ``none``: no kill (the parent may kill it at a random moment); prints ``DONE``.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leadping_nb import EventQuery
from leadping_nb.emulator import Emulator

SEED = 21
N_LEADS = 6
PAGE = 50
#: events appended before each step (lead index, how many); step 0 is the initial history
APPENDS: dict[int, list[tuple[int, int]]] = {
    1: [(0, 12), (2, 3), (5, 25)],
    2: [(1, 7), (3, 1), (4, 30)],
    3: [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)],
}
QUERY = EventQuery(page_size=PAGE)


def emulator_at(step: int) -> Emulator:
    """The emulator as it is at ``step`` (deterministic: same calls, same events)."""
    emu = Emulator(SEED, N_LEADS, heavy_leads=0)
    for s in range(1, step + 1):
        for index, n in APPENDS.get(s, []):
            emu.add_events(emu.lead_ids()[index], n)
    return emu


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(store_dir: str, step: int, mode: str) -> None:
    import polars as pl

    from leadping_nb.store import EventStore

    emu = emulator_at(step)
    hook: Callable[[str], None] | None = None
    progress: Callable[[Any], None] | None = None
    kind, _, arg = mode.partition(":")
    if kind == "progress":
        seen = [0]

        def progress(_p: Any) -> None:
            seen[0] += 1
            if seen[0] == int(arg):
                _die()

    elif kind == "hook":
        name, _, k = arg.partition(":")
        calls = [0]

        def hook(point: str) -> None:
            if point == name:
                calls[0] += 1
                if calls[0] == int(k):
                    _die()

    elif kind in ("torn-data", "torn-commit"):
        root = Path(store_dir)

        def hook(point: str) -> None:
            if point != "before-commit":
                return
            if kind == "torn-data":
                part = root / "created_month=2026-10" / f"part-00000-{uuid.uuid4()}-c000.parquet"
                part.parent.mkdir(exist_ok=True)
                pl.DataFrame({"id": ["x"] * 100}).write_parquet(part)
                part.write_bytes(part.read_bytes()[:200])
            else:
                log = root / "_delta_log"
                log.mkdir(exist_ok=True)
                (log / f"_commit_{uuid.uuid4()}.json.tmp").write_text('{"commitInfo":{"timest')
            _die()

    elif kind != "none":
        raise SystemExit(f"unknown mode {mode!r}")

    store = EventStore(store_dir)
    print("READY", flush=True)
    with emu.client() as client:
        store.refresh(client, emu.lead_ids(), QUERY, on_progress=progress, _hook=hook)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
