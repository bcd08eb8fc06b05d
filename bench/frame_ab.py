"""In-process A/B of ``events_frame`` on the same events with and without undeclared fields.

Run: /work/main/.venv/bin/python bench/frame_ab.py [--events N] [--page P] [--era E] [--rounds R]
     [--variant V ...]

Builds the events once with ``bench/frame.py``'s generators, then times ``events_frame`` on
pages of the declared fields only and with 1 and 3 undeclared fields per item (or each
``--variant`` named, from ``frame.VARIANTS``; ``declared`` is always first), the variants
interleaved round by round, and prints the minimum and median wall and CPU time (CPU: this
process, every thread) of each. The ratio of the medians to ``declared`` is issue 18's
"within 1.10×" on one kind of page, with less noise than the full table of ``frame.py``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import frame as bench

from leadping_nb._frame.decode import events_frame


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--era", choices=("current", "seed"), default="current")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--variant",
        action="append",
        help=f"a variant to time against declared (repeatable; default +1 and +3 undeclared): "
        f"{'; '.join(bench.VARIANTS[1:])}",
    )
    args = ap.parse_args()
    chosen = args.variant or ["+1 undeclared", "+3 undeclared"]
    names = ["declared", *(v for v in chosen if v != "declared")]
    unknown = [v for v in names if v not in bench.VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {bench.VARIANTS}")
    items = bench.build_items(args.era, args.events)
    variants = {
        k: bench.build_pages(args.era, bench.variant_items(items, k), args.page) for k in names
    }
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for k, pages in variants.items():
            t, c = time.perf_counter(), _cpu()
            events_frame(pages)
            times[k].append((time.perf_counter() - t, _cpu() - c))
    base = statistics.median(w for w, _ in times["declared"])
    base_cpu = statistics.median(c for _, c in times["declared"])
    print(f"{args.events:,} {args.era} events in pages of {args.page:,}, {args.rounds} rounds")
    for k, v in times.items():
        wall = statistics.median(w for w, _ in v)
        cpu = statistics.median(c for _, c in v)
        print(
            f"{k:>16}: wall min {min(w for w, _ in v):.3f} s, median {wall:.3f} s "
            f"({wall / base:.2f}x); CPU median {cpu:.3f} s ({cpu / base_cpu:.2f}x)"
        )


if __name__ == "__main__":
    main()
