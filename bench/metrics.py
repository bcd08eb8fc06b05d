"""Benchmark of leadping_nb.metrics: the full summary at 10M events, beside naive pandas,
and the same summary streamed from a 100M-event Parquet store.

Run from the repository root (numbers in bench/README.md, "## metrics")::

    .venv/bin/python bench/metrics.py                        # 10M in memory + pandas
    .venv/bin/python bench/metrics.py --streaming 100000000  # + 100M Parquet, streamed

Steps:

1. Events: ``leadping_nb.emulator.events_frame`` makes ``--base`` canonical events (cached
   as Parquet under ``--work``); they are tiled to ``--events`` with shifted ids and
   timestamps (each copy moves one data span back in time).
2. ``metrics.summary`` (delivery, outcome counts, five latency stages with percentiles,
   retries, retry distribution, billing by status and in total), ungrouped and per UTC
   day; best of ``--repeat`` wall times, CPU time beside them.
3. The same summary written naively in pandas (vectorised, but the obvious way: string
   lowercasing, ``np.select``, ``groupby().quantile``; money as float64, because that is
   what a naive pandas port does — exact Decimal object columns would be far slower).
   The pandas results are checked against ours.
4. ``--streaming N``: writes N events as Parquet files under ``--work`` (tiles of the
   in-memory frame), then a child process runs ``summary(pl.scan_parquet(...),
   engine="streaming")``; its peak RSS is read from ``getrusage(RUSAGE_CHILDREN)``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from leadping_nb import metrics as m
from leadping_nb._core.schema import EVENT_SCHEMA

AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # the emulator's default "now"
TS_COLS = [c for c, t in EVENT_SCHEMA.items() if t == pl.Datetime("us", "UTC")]
STAGES = {
    "queue": ("queued_at", "sending_started_at"),
    "send": ("sending_started_at", "sent_at"),
    "carrier": ("sent_at", "delivered_at"),
    "end_to_end": ("queued_at", "delivered_at"),
    "schedule_lag": ("scheduled_for", "sending_started_at"),
}
PANDAS_COLS = [
    "event_type", "timeline_type", "direction", "traffic_type", "is_warmup", "retry_count",
    "billable_amount", "billing_status", *TS_COLS,
]  # fmt: skip


# ----------------------------------------------------------------------------------------
# events


def base_events(n: int, work: Path, seed: int) -> pl.DataFrame:
    """``n`` emulator events, cached as Parquet (generation is pure Python: ~30 s per 1M)."""
    cache = work / f"emulator-{seed}-{n}.parquet"
    if cache.exists():
        return pl.read_parquet(cache)
    from leadping_nb.emulator import events_frame

    t = time.perf_counter()
    df = events_frame(seed, n)
    print(f"generated {n:,} emulator events in {time.perf_counter() - t:.1f} s", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(cache)
    return df


def tile(base: pl.DataFrame, copy: int, span_us: int) -> pl.DataFrame:
    """Copy ``copy`` of ``base``: ids suffixed, every timestamp ``copy`` spans earlier."""
    if copy == 0:
        return base
    shift = pl.duration(microseconds=copy * span_us)
    return base.with_columns(
        *[(pl.col(c) - shift) for c in TS_COLS],
        pl.col("id") + f"~{copy}",
        pl.col("lead_id") + f"~{copy}",
    )


def span_of(base: pl.DataFrame) -> int:
    """Microseconds from the first to the last timestamp of ``base``, plus a day."""
    lo = base.select(pl.min_horizontal(pl.col(TS_COLS).min())).item()
    hi = base.select(pl.max_horizontal(pl.col(TS_COLS).max())).item()
    return int((hi - lo).total_seconds()) * 1_000_000 + 86_400_000_000


def events(n: int, base: pl.DataFrame) -> pl.DataFrame:
    copies = math.ceil(n / base.height)
    span = span_of(base)
    df = pl.concat([tile(base, k, span) for k in range(copies)], rechunk=True).head(n)
    assert df.schema == EVENT_SCHEMA
    return df


# ----------------------------------------------------------------------------------------
# timing


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall time of ``repeat`` runs, the CPU time of that run, and its result."""
    best = (math.inf, math.inf)
    result = None
    for _ in range(repeat):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        w, c = time.perf_counter() - w, time.process_time() - c
        best = min(best, (w, c))
    return best[0], best[1], result


# ----------------------------------------------------------------------------------------
# the naive pandas version of the same summary


def pandas_summary(pdf: pd.DataFrame, every: str | None) -> dict[str, pd.DataFrame]:
    """Delivery, outcomes, latency percentiles, retries and billing, the obvious way."""
    low = {c: pdf[c].str.lower() for c in ("direction", "event_type", "timeline_type")}
    tt = pdf["traffic_type"].str.lower()
    out_cols = [
        "queued_at", "sending_started_at", "sent_at", "delivered_at", "failed_at",
        "undeliverable_at", "blocked_at", "canceled_at", "scheduled_for", "next_retry_at",
    ]  # fmt: skip
    any_ts = pdf[out_cols].notna().any(axis=1)
    received = pdf["received_at"].notna()
    message_types = ["sms", "mms", "message", "warmup"]
    typed = low["event_type"].isin(message_types) | low["timeline_type"].isin(message_types)
    message = typed | any_ts | received
    inbound = message & ((low["direction"] == "inbound") | (received & ~any_ts))
    outbound = message & ~inbound & ((low["direction"] == "outbound") | any_ts)
    not_started = pdf["sending_started_at"].isna() & pdf["sent_at"].isna()
    outcome = np.select(
        [
            inbound,
            ~outbound,
            pdf["delivered_at"].notna(),
            pdf["undeliverable_at"].notna(),
            pdf["failed_at"].notna(),
            pdf["blocked_at"].notna(),
            pdf["canceled_at"].notna(),
            pdf["scheduled_for"].notna() & not_started,
        ],
        ["inbound", "none", "delivered", "undeliverable", "failed", "blocked", "canceled",
         "scheduled"],
        "in_flight",
    )  # fmt: skip
    warm = (tt == "warmup") | (pdf["is_warmup"] == True)  # noqa: E712
    countable = ~(warm | (tt == "test"))
    scope = outbound & countable
    df = pd.DataFrame({"outcome": outcome, "scope": scope, "countable": countable})
    if every == "day":
        df["period"] = pdf["created_at"].dt.floor("D")
    keys = ["period"] if every else []

    def grouped(frame: pd.DataFrame) -> Any:
        return frame.groupby(keys, dropna=False) if keys else frame.assign(_all=0).groupby("_all")

    s = df[df["scope"]]
    delivery = pd.crosstab(s["period"], s["outcome"]) if keys else s["outcome"].value_counts()
    outcomes = df[df["countable"]].groupby([*keys, "outcome"]).size()
    lat = {}
    for stage, (a, b) in STAGES.items():
        ms = (pdf[b] - pdf[a]).dt.total_seconds() * 1000
        frame = pd.DataFrame({"ms": ms[scope & (ms >= 0)]})
        if keys:
            frame["period"] = df["period"]
        g = grouped(frame)["ms"]
        lat[stage] = pd.concat(
            [g.count(), g.mean(), g.min(), g.quantile([0.5, 0.9, 0.95, 0.99]).unstack(), g.max()],
            axis=1,
        )
    rc = pdf["retry_count"]
    r = pd.DataFrame({"rc": rc, "delivered": df["outcome"] == "delivered"})[scope & (rc >= 0)]
    if keys:
        r["period"] = df["period"]
    retry = grouped(r).agg(n=("rc", "size"), total=("rc", "sum"), delivered=("delivered", "sum"))
    dist = r.groupby([*keys, "rc"]).agg(n=("rc", "size"), delivered=("delivered", "sum"))
    bill = pd.DataFrame({"amount": pdf["billable_amount"], "status": pdf["billing_status"]})
    bill["delivered"] = df["outcome"] == "delivered"
    if keys:
        bill["period"] = df["period"]
    billing = bill.groupby([*keys, "status"], dropna=False).agg(
        total=("amount", "sum"), n=("amount", "count"), delivered=("delivered", "sum")
    )
    billing["cost_per_delivered"] = (billing["total"] / billing["delivered"]).round(4)
    return {"delivery": delivery, "outcomes": outcomes, "latency": lat, "retry": retry,
            "distribution": dist, "billing": billing}  # fmt: skip


def check_against_pandas(ours: m.MetricsSummary, theirs: dict[str, Any]) -> str:
    """The ungrouped results agree (counts exactly; floats to 1e-9 relative)."""
    d = ours.delivery.row(0, named=True)
    counts = theirs["delivery"]
    for name in ("delivered", "failed", "undeliverable", "blocked", "canceled", "in_flight"):
        assert d[f"n_{name}"] == int(counts.get(name, 0)), name
    for stage, frame in theirs["latency"].items():
        row = ours.latency.filter(pl.col("stage") == stage).row(0, named=True)
        pd_row = frame.iloc[0].tolist()
        assert row["n_used"] == int(pd_row[0]), stage
        for got, want in zip(
            [row[k] for k in ("mean_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms")],
            pd_row[1:7],
            strict=True,
        ):
            assert math.isclose(got, want, rel_tol=1e-9), (stage, got, want)
    total = float(ours.billing_total["total_amount"].item())
    assert math.isclose(total, theirs["billing"]["total"].sum(), rel_tol=1e-12)
    return "pandas agrees (counts exact, latency statistics to 1e-9, money to 1e-12)"


# ----------------------------------------------------------------------------------------
# streaming from a Parquet store


def write_store(frame: pl.DataFrame, n: int, store: Path) -> float:
    """``n`` events as Parquet files of ``frame.height`` rows (tiles of ``frame``)."""
    store.mkdir(parents=True, exist_ok=True)
    for old in store.glob("*.parquet"):
        old.unlink()
    span = span_of(frame)
    t = time.perf_counter()
    for k in range(math.ceil(n / frame.height)):
        part = tile(frame, k, span).head(n - k * frame.height)
        part.write_parquet(store / f"part-{k:04d}.parquet", row_group_size=1_000_000)
        print(f"  wrote part {k} ({(k + 1) * frame.height:,} events)", flush=True)
        del part
        gc.collect()
    return time.perf_counter() - t


def peak_rss_kb() -> int:
    """This process's peak resident set size, in KiB.

    ``VmHWM`` belongs to the process's own address space; ``ru_maxrss`` would also carry
    the high-water mark of the big benchmark parent across fork and exec on Linux.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def stream_child(store: str, every: str | None) -> None:
    """Child process: the summary over the Parquet store, streamed; prints JSON."""
    lf = pl.scan_parquet(f"{store}/*.parquet")
    w, c = time.perf_counter(), time.process_time()
    s = m.summary(lf, every=every, as_of=AS_OF, engine="streaming")  # type: ignore[arg-type]
    w, c = time.perf_counter() - w, time.process_time() - c
    print(json.dumps({
        "wall_s": w, "cpu_s": c, "peak_rss_gb": peak_rss_kb() / 1024**2,
        "n_events": s.delivery["n_events"].sum(),
        "delivery_rate": s.delivery["delivery_rate"].to_list()[:1],
        "total_amount": str(s.billing_total["total_amount"].item()),
    }))  # fmt: skip


def run_streaming(store: Path, every: str | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--stream-child", str(store)]
    if every:
        cmd += ["--every", every]
    w = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - w
    return result


# ----------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--base", type=int, default=1_000_000, help="emulator events to tile")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/leadping_bench"))
    ap.add_argument("--streaming", type=int, default=0, help="events in the Parquet store")
    ap.add_argument("--reuse-store", action="store_true", help="keep an existing store")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--stream-child", help=argparse.SUPPRESS)
    ap.add_argument("--every", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stream_child:
        stream_child(args.stream_child, args.every)
        return

    print(f"python {platform.python_version()}, polars {pl.__version__}, pandas {pd.__version__}, "
          f"{os.cpu_count()} cores, POLARS_MAX_THREADS={pl.thread_pool_size()}")  # fmt: skip
    base = base_events(args.base, args.work, args.seed)
    t = time.perf_counter()
    df = events(args.events, base)
    print(f"tiled to {df.height:,} events in {time.perf_counter() - t:.1f} s "
          f"({df.estimated_size() / 1e9:.1f} GB in memory)", flush=True)  # fmt: skip

    results: dict[str | None, m.MetricsSummary] = {}
    best: dict[str | None, float] = {}
    for every in (None, "day"):
        label = "per day" if every else "ungrouped"
        w, c, ours = timed(partial(m.summary, df, every=every, as_of=AS_OF), args.repeat)
        results[every], best[every] = ours, w
        print(f"polars  summary {label:>9}: {w:6.2f} s wall, {c:6.2f} s CPU", flush=True)
    print(results[None].counts)

    if not args.skip_pandas:
        t = time.perf_counter()
        floats = df.select(PANDAS_COLS).with_columns(pl.col("billable_amount").cast(pl.Float64))
        pdf = floats.to_pandas()
        del floats
        print(f"(to_pandas of {len(PANDAS_COLS)} columns: {time.perf_counter() - t:.1f} s, "
              "not counted)")  # fmt: skip
        for every in (None, "day"):
            label = "per day" if every else "ungrouped"
            w, c, theirs = timed(partial(pandas_summary, pdf, every), max(1, args.repeat - 2))
            print(f"pandas  summary {label:>9}: {w:6.2f} s wall, {c:6.2f} s CPU "
                  f"-> polars is {w / best[every]:.1f}x faster (best of each, same run)",
                  flush=True)  # fmt: skip
            if every is None:
                print(check_against_pandas(results[None], theirs))
        del pdf
        gc.collect()

    if args.streaming:
        store = args.work / f"store-{args.streaming}"
        if not (args.reuse_store and any(store.glob("*.parquet"))):
            print(f"writing {args.streaming:,} events to {store} ...", flush=True)
            secs = write_store(df, args.streaming, store)
            print(f"wrote the store in {secs:.0f} s", flush=True)
        size = sum(p.stat().st_size for p in store.glob("*.parquet"))
        print(f"store: {len(list(store.glob('*.parquet')))} files, {size / 1e9:.1f} GB")
        del df, base, results
        gc.collect()
        for every in (None, "day"):
            r = run_streaming(store, every)
            label = "per day" if every else "ungrouped"
            print(f"streamed summary {label:>9} over {r['n_events']:,} events: "
                  f"{r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
                  f"peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
