"""Benchmark of report building: DeliveryReport and BillingReport from 1M events, this
checkout against another checkout of leadping_nb (e.g. an older commit), in one run.

Run from the repository root (numbers in bench/README.md, "## reports")::

    git worktree add /tmp/lp-before <commit>           # the code to compare against
    .venv/bin/python bench/reports.py --before /tmp/lp-before
    .venv/bin/python bench/reports.py --before /tmp/lp-before --also main=/tmp/lp-main

Steps:

1. Events: ``--base`` emulator events (cached as Parquet under ``--work``, shared with
   bench/metrics.py), tiled to ``--events`` with shifted ids and timestamps.
2. For each of ``--repeat`` rounds, one child process per checkout (alternating, so both
   see the same machine load) reads the Parquet file, then times
   ``DeliveryReport.from_frame`` and ``BillingReport.from_frame`` (the metrics and tables;
   figures are drawn lazily, on ``to_html``) and, separately, ``to_html`` of each (figures
   drawn and encoded). The child prints its times as JSON.
3. The table shows the median of the rounds per checkout and the ratio after / before.

``--also NAME=PATH`` (repeatable) adds further checkouts as columns between "before" and
"after", run in the same rounds (for example the main branch before a change).

Only the API both checkouts share is used: ``from_frame(frame, as_of=...)`` and
``to_html()``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def child(parquet: str) -> None:
    """Time the reports over ``parquet`` with whatever leadping_nb is on sys.path."""
    import polars as pl

    import leadping_nb

    try:
        from leadping_nb._core.schema import EVENT_SCHEMA
    except ImportError:  # a checkout from before the stage packages
        from leadping_nb._schema import EVENT_SCHEMA  # type: ignore[no-redef]
    from leadping_nb.reports import BillingReport, DeliveryReport

    frame = pl.read_parquet(parquet).select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)
    out: dict[str, float | str | int] = {"version": leadping_nb.__version__, "rows": frame.height}
    for name, cls in (("delivery", DeliveryReport), ("billing", BillingReport)):
        t = time.perf_counter()
        report = cls.from_frame(frame, as_of=AS_OF)
        out[f"{name}_build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        report.to_html()
        out[f"{name}_html_s"] = time.perf_counter() - t
    print(json.dumps(out))


def run_child(code: Path, parquet: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(code), MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(parquet)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=str(code),
    )
    if proc.returncode != 0:
        raise SystemExit(f"child for {code} failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=False, help="checkout to compare against")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--base", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a further checkout to time (repeatable), shown between before and after",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/leadping-bench"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return

    sys.path.insert(0, str(HERE))
    from metrics import base_events, events  # bench/metrics.py: the same tiled events

    parquet = args.work / f"reports-{args.events}.parquet"
    if not parquet.exists():
        frame = events(args.events, base_events(args.base, args.work, seed=7))
        frame.write_parquet(parquet)
    checkouts: dict[str, Path] = {}
    if args.before is not None:
        checkouts["before"] = args.before.resolve()
    for spec in args.also:
        name, sep, path = spec.partition("=")
        if not sep or not name or name in ("before", "after"):
            raise SystemExit(f"--also takes NAME=PATH with a new NAME, got {spec!r}")
        checkouts[name] = Path(path).resolve()
    checkouts["after"] = ROOT
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in checkouts}
    load = os.getloadavg()[0]
    for _ in range(args.repeat):
        for name, code in checkouts.items():
            runs[name].append(run_child(code, parquet))
    keys = ["delivery_build_s", "billing_build_s", "delivery_html_s", "billing_html_s"]
    print(f"\n{args.events:,} events, median of {args.repeat}, load average {load:.1f} at start")
    others = [k for k in checkouts if k != "after"]  # each gets an "after / k" column
    header = "| step | " + " | ".join(f"{k} s" for k in checkouts)
    header += "".join(f" | after / {k}" for k in others) + " |"
    print(header)
    print("|---" + "|---:" * (len(checkouts) + len(others)) + "|")
    for key in keys:
        med = {k: statistics.median(r[key] for r in runs[k]) for k in checkouts}
        row = f"| {key.removesuffix('_s')} | " + " | ".join(f"{med[k]:.2f}" for k in checkouts)
        row += "".join(f" | {med['after'] / med[k]:.2f}" for k in others) + " |"
        print(row)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    for k in checkouts:
        print(f"{k}: leadping_nb {runs[k][0]['version']} from {checkouts[k]}")


if __name__ == "__main__":
    main()
