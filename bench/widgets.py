"""Explorer refresh benchmark: a filter change on 1M cached events, answered from memory.

Run: .venv/bin/python bench/widgets.py [--events 1000000] [--runs 9] [--no-readme]

1. 100k events from ``leadping_nb.emulator.events_frame`` are tiled to ``--events`` rows
   (ids, lead ids suffixed per tile, every timestamp shifted by the tile's hour), so the
   cache holds ~8,700 leads over ~13 months.
2. An :class:`~leadping_nb.widgets.EventExplorer` (on an emulator client; no request is
   sent) takes the frame with ``load_frame`` (sort + per-event metric columns, once; the
   first figure also prepares the figure columns once).
3. Each scenario sets a filter widget's value, alternating between two values so every
   set is a change. The observer runs the same ``refresh()`` a click in the browser runs:
   mask, the visible figure started on the figure thread, KPIs, first rows, coverage
   note. "KPIs + table" is the time until the set returns (KPIs and table updated);
   "refresh complete" is until the figure of the visible tab is drawn too (the figure
   cache is cleared before each run, so it is really drawn). Medians over ``--runs``;
   "slower value" takes only the runs of the slower of the two alternating values (e.g.
   Inbound has no delivery rate to draw, so its figure is quicker); "CPU" is the process
   CPU time of the whole refresh (every thread), which other processes on the machine do
   not inflate. The exit status is 1 when a slower-value median exceeds the target.
4. The same is measured for every figure tab on one scenario.

Target (issue 7): a refresh (KPIs + table + visible figure) <= 150 ms at 1M cached events.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import ipywidgets as widgets
import matplotlib
import polars as pl

from leadping_nb.emulator import Emulator, events_frame
from leadping_nb.widgets import EventExplorer, FilterState

TARGET_MS = 150.0
README = Path(__file__).with_name("README.md")


def tiled_events(n_events: int, seed: int = 0, base: int = 100_000) -> pl.DataFrame:
    """``n_events`` canonical events: ``base`` generated ones tiled with shifted ids/times."""
    one = events_frame(seed, min(base, n_events))
    times = [c for c, d in one.schema.items() if isinstance(d, pl.Datetime)]
    tiles = []
    for i in range(-(-n_events // one.height)):
        shift = pl.duration(hours=i)
        tiles.append(
            one.with_columns(
                pl.col("id") + f"~{i}",
                pl.col("lead_id") + f"~{i}",
                *[pl.col(c) + shift for c in times],
            )
        )
    return pl.concat(tiles).head(n_events).rechunk()


@dataclass
class Timing:
    """Per-run times (ms) of one scenario."""

    kpis: list[float] = field(default_factory=list)  # until the set returns
    complete: list[float] = field(default_factory=list)  # until the figure is drawn too
    cpu: list[float] = field(default_factory=list)  # process CPU time of the whole refresh

    def _slower(self) -> int:
        """0 or 1: the runs (``i % 2``) of the value whose refresh is slower."""
        even, odd = statistics.median(self.complete[0::2]), statistics.median(self.complete[1::2])
        return 0 if even >= odd else 1

    def slower_median(self) -> float:
        """Median refresh-complete time of the slower of the two alternating values."""
        return statistics.median(self.complete[self._slower() :: 2])

    def slower_cpu(self) -> float:
        """Median process CPU time of the slower value's refreshes."""
        return statistics.median(self.cpu[self._slower() :: 2])


def measure(explorer: EventExplorer, flip: Callable[[int], None], runs: int) -> Timing:
    """Times of ``flip(i)`` until it returns, and until the visible figure is drawn."""
    timing = Timing()
    flip(-1)  # warm-up (compiles the plans, prepares period keys, draws once)
    explorer.wait_figures()
    for i in range(runs):
        explorer.renderer.clear_cache()  # measure real drawing, not the figure cache
        gc.collect()
        c0 = time.process_time()
        t0 = time.perf_counter()
        flip(i)
        t1 = time.perf_counter()
        explorer.wait_figures()
        t2 = time.perf_counter()
        timing.cpu.append((time.process_time() - c0) * 1000)
        timing.kpis.append((t1 - t0) * 1000)
        timing.complete.append((t2 - t0) * 1000)
    return timing


def scenarios(ex: EventExplorer, leads: list[str]) -> dict[str, Callable[[int], None]]:
    f = ex.filters
    last = ex.cache.events["created_at"].max() if ex.cache else None
    end = last.date() if isinstance(last, datetime) else date(2026, 11, 1)

    def select(attr: str, a: tuple[str, ...], b: tuple[str, ...]) -> Callable[[int], None]:
        return lambda i: setattr(f.selects[attr], "value", a if i % 2 else b)

    def dates(i: int) -> None:
        f.start.value = end - timedelta(days=30 if i % 2 else 90)
        f.end.value = end

    def search(i: int) -> None:
        f.search.value = "stop" if i % 2 else "reply"

    def pick(i: int) -> None:
        ex.picker.value = tuple(leads[:100] if i % 2 else leads[100:300])

    return {
        "direction = Outbound / Inbound": select("directions", ("Outbound",), ("Inbound",)),
        "event type = {Sms, Mms} / {Call}": select("event_types", ("Sms", "Mms"), ("Call",)),
        "status = Delivered / Failed": select("statuses", ("Delivered",), ("Failed",)),
        "date range: last 30 / 90 days": dates,
        "text search 'stop' / 'reply' in summary, description": search,
        "leads: 100 / 200 of the cached": pick,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = parser.parse_args(argv)

    t = time.perf_counter()
    frame = tiled_events(args.events)
    gen_s = time.perf_counter() - t
    emu = Emulator(seed=0, n_leads=3)
    client = emu.client()
    ex = EventExplorer(client, progress_interval=0.1)
    t = time.perf_counter()
    ex.load_frame(frame)
    ex.wait_figures()
    load_s = time.perf_counter() - t
    requests_before = emu.fault_counts["requests"]
    leads = frame["lead_id"].unique(maintain_order=True).to_list()

    load_before = os.getloadavg()[0]
    rows: list[tuple[str, Timing]] = []
    for name, flip in scenarios(ex, leads).items():
        rows.append((name, measure(ex, flip, args.runs)))
        ex.filters.set_state(FilterState())  # back to no filter
        ex.picker.value = ()
        ex.wait_figures()
    tab_scenario = "status = Delivered / Failed"
    tabs: list[tuple[str, Timing]] = []
    for index, spec in enumerate(ex.figure_specs):
        ex.figure_tabs.selected_index = index
        ex.wait_figures()
        tabs.append((spec.title, measure(ex, scenarios(ex, leads)[tab_scenario], args.runs)))
        ex.filters.set_state(FilterState())
        ex.wait_figures()
    load_after = os.getloadavg()[0]
    requests_after = emu.fault_counts["requests"]
    assert requests_after == requests_before, "a local refresh sent a request"
    ex.close()
    client.close()
    widgets.Widget.close_all()

    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.0f} ms"

    worst = max(statistics.median(t.complete) for _, t in rows)
    worst_slower = max(t.slower_median() for _, t in rows)
    worst_tab = max(statistics.median(t.complete) for _, t in tabs)
    lines = [
        f"{args.events:,} cached events ({frame['lead_id'].n_unique():,} leads), "
        f"{args.runs} runs per scenario; {platform.python_version()}, polars {pl.__version__}, "
        f"matplotlib {matplotlib.__version__}, {os.cpu_count()} cores shared with other "
        f"work: load average {load_before:.1f} before and {load_after:.1f} after the runs. "
        f"Data: {gen_s:.1f} s to generate, {load_s:.1f} s to load into the explorer (sort, "
        "metric and figure columns, first figure; once). Requests sent by the refreshes: "
        f"{requests_after - requests_before}.",
        "",
        "| filter change | KPIs + table (median) | refresh complete (KPIs + table + figure), "
        "median | slower value: refresh complete, median | slower value: CPU, median | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {n} | {med(t.kpis)} | {med(t.complete)} | {t.slower_median():.0f} ms | "
        f"{t.slower_cpu():.0f} ms | {max(t.complete):.0f} ms |"
        for n, t in rows
    ]
    lines += [
        "",
        f"Every figure tab, scenario '{tab_scenario}':",
        "",
        "| visible tab | KPIs + table (median) | refresh complete, median | slower value: "
        "refresh complete, median | slower value: CPU, median | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {n} | {med(t.kpis)} | {med(t.complete)} | {t.slower_median():.0f} ms | "
        f"{t.slower_cpu():.0f} ms | {max(t.complete):.0f} ms |"
        for n, t in tabs
    ]
    worst_cpu = max(t.slower_cpu() for _, t in [*rows, *tabs])
    verdict = "meets" if worst_slower <= TARGET_MS else "MISSES"
    lines += [
        "",
        f"Refresh complete (delivery tab): worst median {worst:.0f} ms; worst median of the "
        f"slower value {worst_slower:.0f} ms, which {verdict} the {TARGET_MS:.0f} ms target "
        f"at this load; every tab: worst median {worst_tab:.0f} ms. The CPU time of a "
        f"refresh (every thread of the process) is at most {worst_cpu:.0f} ms (median, "
        "slower value), so on a 2-core machine to itself a refresh completes in about that "
        "time or less (the figure and the KPIs run in parallel); wall times above the CPU "
        "time are other processes taking the cores. The "
        "visible figure is started on the "
        "explorer's figure thread before the KPIs are computed and drawn from the cache's "
        "figure aggregates (events grouped by a per-event code of outcome, traffic flags "
        "and retry count and by period: the cube the metrics derive their summaries from), "
        "into a reused fixed-layout figure with one artist per bar series; matplotlib's "
        "tick and text drawing is most of what remains (about 60 ms of CPU). Drawn figures "
        "are cached per filter state (32), so going back is instant.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_readme:
        write_section(text)
    return 0 if worst_slower <= TARGET_MS else 1


def write_section(body: str) -> None:
    """Replace (or append) the ``## widgets`` section of bench/README.md."""
    head = (
        "## widgets\n\n"
        "`.venv/bin/python bench/widgets.py` (options `--events 1000000 --runs 9`): a filter "
        "change in `EventExplorer` on 1M cached events, answered from memory (no request). "
        "See the script's docstring.\n\n"
        "Before the figures were drawn from the cache's aggregates (the figures and widgets "
        "of commit 671b76e measured by this script just before the run below, load average "
        "4.2-4.5): refresh complete 252-370 ms (median), slower value 262-824 ms, its CPU "
        "241-371 ms; the figure functions recomputed the per-event metrics on the filtered "
        "events and drew a constrained-layout figure with one artist per bar.\n\n"
    )
    section = head + body + "\n"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    start = text.find("\n## widgets\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        rest = text[end + 1 :] if end != -1 else ""
        text = text[: start + 1] + section + ("\n" + rest if rest else "")
    README.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
