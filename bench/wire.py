"""Wire benchmark: requests and wall time of a whole account, per lead and by the account
stream, and of a store refresh after one simulated day, against the rate-limit bound.

Run: .venv/bin/python bench/wire.py [--leads 1000] [--latency-ms 50] [--limit 30/6]
     [--skip-per-lead]

The emulator (seed 5, ``--leads`` leads) is served by uvicorn in a subprocess on 127.0.0.1
with ``--latency-ms`` per answer and a compressed rate limit (30 requests / 6 s per key,
Leadping's 300 / 60 s scaled down ten times); the client is set to the same limit, 8
requests in flight. The server generates its data before it listens and takes commands on
stdin (``advance SECONDS``, ``stats``), so the bench can move its clock.

Measured, in one run (requests and 429s are counted by the server):

1. a full fetch per lead (``fetch_events`` of every lead, pages of 1,000);
2. a full fetch by the account stream (``account_events`` over the whole history);
3. a store: a first account-wide refresh, then the clock moves one day and the store is
   refreshed by the account stream, and (unless ``--skip-per-lead``) per lead.

Each measured run starts after one quiet rate-limit window (a fresh budget). Bound =
requests needed / allowed rate, with requests needed = ceil(events / 1,000) (the
largest page). Targets: the account stream within 1.10x the bound and within 1.05x the
needed requests plus one per window; a refresh costs requests in proportion to the events
it had to read (new, and re-read because they could still change); 0 x 429.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from paging import free_port, wait_listening

from leadping_nb import Client, EventQuery, RateLimit
from leadping_nb._http.query import HISTORY_START, WHOLE_HISTORY
from leadping_nb.emulator import EMULATOR_API_KEY
from leadping_nb.store import EventStore

SERVER = """
import json, sys, threading
from datetime import timedelta
from leadping_nb.emulator import Emulator, serve
port, leads, latency, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
n, per = limit.split("/")
emu = Emulator(seed=5, n_leads=leads, latency_ms=latency, rate_limit=(int(n), float(per)))
for lead in emu.lead_ids():
    emu.ground_truth(lead)

def commands():
    for line in sys.stdin:
        cmd, *arg = line.split()
        if cmd == "advance":
            emu.advance(timedelta(seconds=float(arg[0])))
            for lead in emu.lead_ids():
                emu.ground_truth(lead)  # the world is ready before the clients ask
        print(json.dumps({"now": emu.now.isoformat(), "events": emu.total_events(),
                          "leads": len(emu.lead_ids()), "counts": dict(emu.fault_counts)}),
              flush=True)

threading.Thread(target=commands, daemon=True).start()
serve("127.0.0.1", port, emulator=emu, banner=False)
"""


class Server:
    """The emulator over HTTP in a subprocess, with its clock driven over stdin."""

    def __init__(self, leads: int, latency_ms: float, limit: str) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.port), str(leads), str(latency_ms), limit],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        wait_listening(self.port, self.proc, 300)  # 1,000 leads are generated first
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)


def fresh_budget(per: float) -> None:
    """Wait one rate-limit window (and the limiter's margin), so each run starts with the
    budget a client has after a quiet minute, as the bound assumes."""
    time.sleep(per * 1.05 + 0.5)


def delta(before: dict[str, Any], after: dict[str, Any], key: str) -> int:
    return int(after["counts"].get(key, 0)) - int(before["counts"].get(key, 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--leads", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--limit", default="30/6", help="requests/seconds, server and client")
    ap.add_argument("--skip-per-lead", action="store_true", help="skip the per-lead runs")
    args = ap.parse_args()
    n, per = args.limit.split("/")
    rate = int(n) / float(per)
    print(
        f"wire: {args.leads} leads, {args.latency_ms:g} ms latency, limit {args.limit} s "
        f"({rate:g} requests/s), load average {os.getloadavg()[0]:.1f}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    server = Server(args.leads, args.latency_ms, args.limit)
    rows: list[tuple[str, int, int, int, float, str]] = []
    try:
        state = server.command("stats")
        events = int(state["events"])
        needed = math.ceil(events / 1000)
        bound = needed / rate
        print(f"{events:,} events; needed {needed} requests; bound {bound:.1f} s")
        client = Client(
            api_key=EMULATOR_API_KEY,
            base_url=server.url,
            rate_limit=RateLimit(int(n), float(per)),
            concurrency=8,
            timeout=60,
        )
        query = EventQuery(page_size=1000)
        with client:
            if not args.skip_per_lead:
                ids = client.leads(max_leads=None)["id"].to_list()
                before = server.command("stats")
                t = time.perf_counter()
                per_lead = client.fetch_events(ids, query)
                wall = time.perf_counter() - t
                after = server.command("stats")
                assert per_lead.frame.height == events, (per_lead.frame.height, events)
                rows.append(
                    (
                        "full fetch, per lead",
                        delta(before, after, "requests"),
                        delta(before, after, "429"),
                        per_lead.frame.height,
                        wall,
                        f"{len(ids)} leads",
                    )
                )

            until = datetime.fromisoformat(state["now"]) + timedelta(seconds=1)
            fresh_budget(float(per))
            before = server.command("stats")
            t = time.perf_counter()
            account = client.account_events(
                query, since=HISTORY_START, until=until, window=WHOLE_HISTORY
            )
            wall = account_wall = time.perf_counter() - t
            after = server.command("stats")
            assert account.frame.height == events
            assert not account.errors
            windows = account.status.height
            account_requests = delta(before, after, "requests")
            rows.append(
                (
                    "full fetch, account stream",
                    account_requests,
                    delta(before, after, "429"),
                    account.frame.height,
                    wall,
                    f"{windows} windows",
                )
            )

            with tempfile.TemporaryDirectory() as tmp:
                stores = {"account": EventStore(Path(tmp) / "account")}
                if not args.skip_per_lead:
                    stores["per lead"] = EventStore(Path(tmp) / "leads")
                now = datetime.fromisoformat(state["now"])
                for name, store in stores.items():
                    leads = None if name == "account" else client.leads(max_leads=None)["id"]
                    store.refresh(client, None if leads is None else leads.to_list(), now=now)
                day = server.command("advance 86400")
                now = datetime.fromisoformat(day["now"])
                print(
                    f"one day later: {int(day['events']) - events:,} new events, "
                    f"{int(day['leads']) - args.leads} new leads"
                )
                for name, store in stores.items():
                    ids = None if name == "account" else client.leads(max_leads=None)["id"]
                    fresh_budget(float(per))
                    before = server.command("stats")
                    t = time.perf_counter()
                    r = store.refresh(client, None if ids is None else ids.to_list(), now=now)
                    wall = time.perf_counter() - t
                    after = server.command("stats")
                    assert not r.failed
                    read = r.added + r.changed + r.unchanged
                    rows.append(
                        (
                            f"refresh after 1 day, {name}",
                            delta(before, after, "requests"),
                            delta(before, after, "429"),
                            read,
                            wall,
                            f"{r.added} new, {r.changed} changed, {r.unchanged} re-read "
                            f"unchanged; {math.ceil(read / 1000)} needed",
                        )
                    )
    finally:
        server.close()

    print()
    print("| run | requests | 429s | events read | wall s | wall / bound | notes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, requests, n429, read, wall, note in rows:
        own_bound = math.ceil(read / 1000) / rate
        print(
            f"| {name} | {requests:,} | {n429} | {read:,} | {wall:.1f} | "
            f"{wall / max(own_bound, 1 / rate):.2f} | {note} |"
        )
    allowed = 1.05 * needed + windows
    verdict = "met" if account_requests <= allowed else "NOT met"
    print()
    print(
        f"account stream: {account_requests} requests for {needed} needed + {windows} "
        f"windows (target <= {allowed:.0f}: {verdict}); wall / bound "
        f"{account_wall / bound:.2f} (target <= 1.10)"
    )


if __name__ == "__main__":
    main()
