"""Explorer refresh benchmark: a filter change on 1M cached events, answered from memory.

Run: .venv/bin/python bench/widgets.py [--events 1000000] [--runs 7] [--no-readme]

1. 100k events from ``leadping_nb.emulator.events_frame`` are tiled to ``--events`` rows
   (ids, lead ids suffixed per tile, every timestamp shifted by the tile's hour), so the
   cache holds ~8,700 leads over ~13 months.
2. An :class:`~leadping_nb.widgets.EventExplorer` (on an emulator client; no request is
   sent) takes the frame with ``load_frame`` (sort + per-event metric columns, once).
3. Each scenario sets a filter widget's value, alternating between two values so every
   set is a change. The observer runs the same ``refresh()`` a click in the browser runs:
   mask, KPIs, first rows, coverage note, and the visible figure is queued on the figure
   thread. "refresh" is the time until KPIs and table are updated (the set returns);
   "figure ready" is until the figure of the visible tab is drawn (figure cache cleared,
   so it is really drawn). Medians over ``--runs``.

Target (issue 7): refresh <= 150 ms at 1M cached events.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import ipywidgets as widgets
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


def measure(
    explorer: EventExplorer, flip: Callable[[int], None], runs: int
) -> tuple[list[float], list[float]]:
    """Times (ms) of ``flip(i)`` until it returns, and until the figure is drawn."""
    refresh, ready = [], []
    flip(-1)  # warm-up (compiles the plans, draws once)
    explorer.wait_figures()
    for i in range(runs):
        explorer._figure_cache.clear()  # measure real drawing, not the figure cache
        gc.collect()
        t0 = time.perf_counter()
        flip(i)
        t1 = time.perf_counter()
        explorer.wait_figures()
        t2 = time.perf_counter()
        refresh.append((t1 - t0) * 1000)
        ready.append((t2 - t0) * 1000)
    return refresh, ready


def scenarios(ex: EventExplorer, leads: list[str]) -> dict[str, Callable[[int], None]]:
    f = ex.filters
    last = ex.cache.events["created_at"].max() if ex.cache else None
    end = last.date() if last else date(2026, 11, 1)

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
    parser.add_argument("--runs", type=int, default=7)
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

    rows: list[tuple[str, float, float, float]] = []
    for name, flip in scenarios(ex, leads).items():
        refresh, ready = measure(ex, flip, args.runs)
        rows.append(
            (
                name,
                statistics.median(refresh),
                max(refresh),
                statistics.median(ready),
            )
        )
        ex.filters.set_state(FilterState())  # back to no filter
        ex.picker.value = ()
        ex.wait_figures()
    requests_after = emu.fault_counts["requests"]
    assert requests_after == requests_before, "a local refresh sent a request"
    ex.close()
    client.close()
    widgets.Widget.close_all()

    worst = max(r[1] for r in rows)
    worst_figure = max(r[3] for r in rows)
    lines = [
        f"{args.events:,} cached events ({frame['lead_id'].n_unique():,} leads), "
        f"{args.runs} runs per scenario, median (max) ms; "
        f"{platform.python_version()}, polars {pl.__version__}, {os.cpu_count()} cores, "
        f"load avg {os.getloadavg()[0]:.1f}. Data: {gen_s:.1f} s to generate, "
        f"{load_s:.1f} s to load into the explorer (sort + metric columns, once). "
        f"Requests sent by the refreshes: {requests_after - requests_before}.",
        "",
        "| filter change | refresh: KPIs + table (median) | max | figure ready (median) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {n} | {m:.0f} ms | {x:.0f} ms | {r:.0f} ms |" for n, m, x, r in rows]
    verdict = "meets" if worst <= TARGET_MS else "MISSES"
    figure_verdict = "within" if worst_figure <= TARGET_MS else "NOT within"
    lines += [
        "",
        f"KPIs + table: worst median {worst:.0f} ms, {verdict} the {TARGET_MS:.0f} ms target. "
        f"Figure: worst median {worst_figure:.0f} ms, {figure_verdict} {TARGET_MS:.0f} ms. "
        "The visible tab's figure (delivery rate per period, `leadping_nb.figures`) is drawn "
        "on the explorer's figure thread after the refresh, so the controls answer at once "
        "and the figure follows; the figure functions recompute their metrics on the "
        "filtered events (0.1-0.5 s at 1M) and constrained-layout PNG drawing adds about "
        "0.1-0.2 s. Drawn figures are cached per filter state (32), so going back is "
        "instant. A max far above the median is another process taking the 2 cores.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_readme:
        write_section(text)
    return 0 if worst <= TARGET_MS else 1


def write_section(body: str) -> None:
    """Replace (or append) the ``## widgets`` section of bench/README.md."""
    head = (
        "## widgets\n\n"
        "`.venv/bin/python bench/widgets.py`: a filter change in `EventExplorer` on 1M "
        "cached events, answered from memory (no request). See the script's docstring.\n\n"
    )
    section = head + body + "\n"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    start = text.find("\n## widgets\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end + 1 :] if end != -1 else "")
    README.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
