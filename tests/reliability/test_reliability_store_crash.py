"""Store crash safety: a child process refreshing the store (a Delta table) is SIGKILLed at
chosen points (while fetching, after the fetch, just before the commit, with a torn data file
or a torn temporary commit left behind, just after the commit) and at random moments, several
times in a row on the same store. After every kill the store reads as a committed version
equal to the state before or after the killed refresh; after each series the next refresh
completes with exactly the emulator's events, and a compaction removes what the killed
writers left."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from leadping_nb import EVENT_SCHEMA
from leadping_nb.store import EventStore

from .reliability_support import SORT, oracle
from .store_crash_child import QUERY, emulator_at

ROOT = Path(__file__).resolve().parents[2]
#: two stores refreshed side by side (one core each); per refresh step, each store is killed
#: at these points back to back, then one refresh completes
LANES = (
    ("progress:3", "torn-data", "hook:before-commit:1", "random", "random"),
    ("hook:fetched:1", "torn-commit", "hook:committed:1", "random"),
)
STEPS = (0, 1, 2)


def start_child(store: Path, step: int, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.reliability.store_crash_child",
            str(store),
            str(step),
            mode,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", line + (proc.stderr.read() if proc.stderr else "")
    return proc


def refresh_seconds(store: Path) -> float:
    """How long an uninterrupted child refresh takes (READY to exit)."""
    proc = start_child(store, 0, "none")
    started = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "DONE" in out, err
    return time.monotonic() - started


def run_child(store: Path, step: int, mode: str, rng: random.Random, budget: float) -> bool:
    """Run one refresh in a child; True when it was killed (by itself or by us)."""
    proc = start_child(store, step, "none" if mode == "random" else mode)
    if mode == "random":
        time.sleep(rng.uniform(0.0, budget))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == -signal.SIGKILL:
        return True
    assert proc.returncode == 0 and mode == "random" and "DONE" in out, (proc.returncode, err)
    return False


def check_consistent(path: Path, step: int, before: pl.DataFrame) -> int:
    """Readable, no duplicates, nothing invented, and exactly the state before or after the
    killed refresh; each lead holds a gap-free prefix of its history up to its watermark."""
    store = EventStore(path)  # opens without error
    frame = store.read()
    assert frame.schema == EVENT_SCHEMA
    assert frame["id"].n_unique() == frame.height, "duplicate ids in the store"
    emu = emulator_at(step)
    truth = oracle(emu, emu.lead_ids()).sort(SORT)
    invented = frame.join(truth, on=list(EVENT_SCHEMA), how="anti", nulls_equal=True)
    assert invented.height == 0, "the store holds events the emulator never served"
    assert frame.equals(before) or frame.equals(truth), "neither before nor after the refresh"
    marks = store.leads(QUERY)
    assert set(frame["lead_id"].unique().to_list()) <= set(marks["lead_id"].to_list())
    for lead, mark, events in marks.select("lead_id", "watermark", "events").iter_rows():
        mine = frame.filter(pl.col("lead_id") == lead)
        assert events == mine.height
        if mine.height:
            assert mark == mine["created_at"].max()
            want = truth.filter((pl.col("lead_id") == lead) & (pl.col("created_at") <= mark))
            assert_frame_equal(mine.sort(SORT), want.sort(SORT))
    return frame.height


def complete(path: Path, step: int) -> int:
    """The next refresh completes with exactly the emulator's events; a compaction with no
    retention then leaves exactly the files of the current version."""
    emu = emulator_at(step)
    store = EventStore(path)
    with emu.client() as client:
        result = store.refresh(client, emu.lead_ids(), QUERY)
    assert not result.failed
    truth = oracle(emu, emu.lead_ids())
    assert_frame_equal(store.read().sort(SORT), truth.sort(SORT))
    store.compact(retention=timedelta(0))
    assert_frame_equal(store.read().sort(SORT), truth.sort(SORT))
    on_disk = {p.resolve() for p in path.rglob("*.parquet") if "_delta_log" not in p.parts}
    assert on_disk == {p.resolve() for p in store.files()}, "files of killed writers were left"
    return truth.height


def lane(path: Path, modes: tuple[str, ...], seed: int, budget: float) -> Counter[str]:
    """Every step: kill each mode in turn (checking the store after each), then complete."""
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    for step in STEPS:
        for mode in modes:
            before = EventStore(path).read()
            if run_child(path, step, mode, rng, budget):
                counts["store: trials killed"] += 1
                counts[f"store: killed at {mode.rsplit(':', 1)[0] if ':' in mode else mode}"] += 1
            else:
                counts["store: random-moment trials that finished first"] += 1
            check_consistent(path, step, before)
        counts["events compared"] += complete(path, step)
        check_consistent(path, step, EventStore(path).read())
    return counts


@pytest.mark.slow
def test_killed_refreshes_leave_a_consistent_store_and_the_next_one_is_exact(
    tmp_path: Path, tally: Counter[str]
) -> None:
    budget = refresh_seconds(tmp_path / "probe")  # random kills land inside a refresh
    with ThreadPoolExecutor(len(LANES)) as pool:
        futures = [
            pool.submit(lane, tmp_path / f"store{i}", modes, 20261126 + i, budget)
            for i, modes in enumerate(LANES)
        ]
        counts = sum((f.result() for f in futures), Counter())
    tally.update(counts)
    assert counts["store: trials killed"] >= 20
    assert counts["store: killed at random"] >= 2
