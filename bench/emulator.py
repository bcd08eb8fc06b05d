"""Benchmark of the emulator's generator and request handling (prints events/s).

Usage::

    .venv/bin/python bench/emulator.py            # 1M raw events + smaller runs
    .venv/bin/python bench/emulator.py --events 200000

Measures (single process; numbers are machine-dependent, so this is a benchmark, not a test):

* raw generation: the internal compact rows, lazily per lead (the issue's "1M events in
  <= 10 s" target);
* ``generate_events``: canonical Python rows (datetimes, Decimals);
* ``events_frame``: the canonical Polars frame;
* serving: paging every event of an emulator through ``Emulator.handle`` (JSON bodies).
"""

from __future__ import annotations

import argparse
import json
import time

from leadping_nb._http.wire import WireRequest
from leadping_nb.emulator import EMULATOR_API_KEY, Emulator, events_frame, generate_events
from leadping_nb.emulator._generator import generate_raw_events

_CPU = [0.0]


def _rate(label: str, n: int, seconds: float) -> None:
    cpu = time.process_time() - _CPU[0]
    print(
        f"{label:<38} {n:>10,} events in {seconds:7.2f} s (CPU {cpu:6.2f} s) = "
        f"{n / seconds:>10,.0f} events/s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=1_000_000, help="raw events to generate")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    t = time.perf_counter()
    _CPU[0] = time.process_time()
    n = sum(1 for _ in generate_raw_events(args.seed, args.events))
    _rate("raw generation (lazy per lead)", n, time.perf_counter() - t)

    m = max(1, args.events // 10)
    t = time.perf_counter()
    _CPU[0] = time.process_time()
    n = sum(1 for _ in generate_events(args.seed, m))
    _rate("generate_events (canonical dicts)", n, time.perf_counter() - t)

    t = time.perf_counter()
    _CPU[0] = time.process_time()
    df = events_frame(args.seed, m)
    _rate("events_frame (Polars, EVENT_SCHEMA)", df.height, time.perf_counter() - t)

    emu = Emulator(args.seed, n_leads=40, rate_limit=None)
    headers = {"authorization": f"Bearer {EMULATOR_API_KEY}", "content-type": "application/json"}
    t = time.perf_counter()
    _CPU[0] = time.process_time()
    served = 0
    for lead in emu.lead_ids():
        token = None
        while True:
            body = json.dumps({"pageSize": 1000, "continuationToken": token}).encode()
            r = emu.handle(WireRequest("POST", f"/events/leads/{lead}", headers, body))
            env = json.loads(r.body)
            served += len(env["items"])
            token = env["continuationToken"]
            if token is None:
                break
    _rate("serving pages of 1000 (handle + JSON)", served, time.perf_counter() - t)


if __name__ == "__main__":
    main()
