"""Paging benchmark: leadping_nb vs a plain sequential httpx loop, against a local server.

Run: .venv/bin/python bench/paging.py [--leads 200] [--pages 5] [--latency-ms 50] [--repeat 3]

1. The emulator is served by uvicorn in a subprocess on 127.0.0.1 with 50 ms latency per
   request (each answer leaves 50 ms after its request arrived), its data generated before
   it listens. Both clients fetch up to 5 pages of every lead of 200 (pages of 5 events).
   leadping_nb runs with at most 8 requests in flight, ``--repeat`` times after a warm-up
   (the median is reported, and every run); the sequential loop runs once. The lower bound
   is max(total pages x latency / 8, longest chain x latency); we report wall / bound.
2. Rate limit: the server allows 30 requests / 6 s per key (compressed from 300 / 60 s); the
   client is set to the same limit and fetches many leads. We report 429s seen (attempts that
   were not the page's first) and the achieved share of the allowed rate, where the fastest
   allowed schedule for N requests is (ceil(N / 30) - 1) x 6 s.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from leadping_nb import Client, EventQuery, RateLimit
from leadping_nb.emulator import EMULATOR_API_KEY, Emulator

# The emulator generates a lead's events on first touch; the server generates them all
# before it listens, as a real API has its data ready, so that no client pays for it.
SERVER = """
import sys
from leadping_nb.emulator import Emulator, serve
emu = Emulator(seed=5, n_leads=int(sys.argv[2]), latency_ms=float(sys.argv[3]),
               rate_limit=eval(sys.argv[4]))
for lead in emu.lead_ids():
    emu.ground_truth(lead)
serve("127.0.0.1", int(sys.argv[1]), emulator=emu, banner=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[Any], seconds: float) -> None:
    """Wait until a server subprocess accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start") from None
            time.sleep(0.05)


class Server:
    def __init__(self, leads: int, latency_ms: float, rate_limit: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.port), str(leads), str(latency_ms), rate_limit],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.port, self.proc, 30)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)


def sequential(url: str, leads: list[str], page_size: int, max_pages: int) -> tuple[int, int]:
    pages = events = 0
    headers = {"Authorization": f"Bearer {EMULATOR_API_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        for lead in leads:
            token = None
            for _ in range(max_pages):
                body: dict[str, object] = {"pageSize": page_size}
                if token:
                    body["continuationToken"] = token
                r = http.post(f"/events/leads/{lead}", json=body)
                r.raise_for_status()
                data = json.loads(r.content)
                pages += 1
                events += len(data["items"])
                token = data.get("continuationToken")
                if not token:
                    break
    return pages, events


def latency_run(
    n_leads: int, max_pages: int, latency_ms: float, page_size: int, repeat: int
) -> list[str]:
    leads = Emulator(seed=5, n_leads=n_leads).lead_ids()
    server = Server(n_leads, latency_ms, "None")
    lat = latency_ms / 1000
    rows = []
    walls = []
    try:
        with Client(api_key=EMULATOR_API_KEY, base_url=server.url, rate_limit=None) as c:
            c.fetch_events(leads[:8], EventQuery(page_size=page_size), max_pages=1)  # warm-up
            for _ in range(repeat):
                t = time.perf_counter()
                result = c.fetch_events(leads, EventQuery(page_size=page_size), max_pages=max_pages)
                walls.append(time.perf_counter() - t)
                assert result.ok, result.errors
        ours = statistics.median(walls)
        pages = int(result.status["pages"].sum())
        chain = int(result.status["pages"].max())
        bound = max(pages * lat / 8, chain * lat)
        t = time.perf_counter()
        seq_pages, seq_events = sequential(server.url, leads, page_size, max_pages)
        seq = time.perf_counter() - t
        assert (seq_pages, seq_events) == (pages, result.frame.height)
    finally:
        server.close()
    rows.append(
        f"pages fetched: {pages} ({n_leads} leads, <= {max_pages} each), "
        f"events: {result.frame.height}, lower bound: {bound:.3f} s"
    )
    each = ", ".join(f"{w / bound:.3f}" for w in walls)
    rows.append("| client | wall s | wall / bound |")
    rows.append("|---|---|---|")
    rows.append(
        f"| leadping_nb (8 in flight), median of {len(walls)} runs ({each}) | {ours:.3f} | "
        f"**{ours / bound:.3f}** |"
    )
    rows.append(f"| sequential httpx loop, 1 run | {seq:.3f} | {seq / bound:.3f} |")
    return rows


def limit_run(n_leads: int, requests_: int, per: float) -> list[str]:
    leads = Emulator(seed=5, n_leads=n_leads).lead_ids()
    server = Server(n_leads, 0.0, f"({requests_}, {per})")
    try:
        with Client(
            api_key=EMULATOR_API_KEY,
            base_url=server.url,
            rate_limit=RateLimit(requests_, per),
        ) as c:
            t = time.perf_counter()
            result = c.fetch_events(leads, EventQuery(page_size=20), max_pages=3)
            wall = time.perf_counter() - t
    finally:
        server.close()
    assert result.ok, result.errors
    pages = int(result.status["pages"].sum())
    attempts = int(result.status["attempts"].sum())
    fastest = (math.ceil(pages / requests_) - 1) * per
    return [
        "| limit | requests | 429s | wall s | fastest allowed s | share of allowed rate |",
        "|---|---|---|---|---|---|",
        f"| {requests_} / {per:g} s | {attempts} | {attempts - pages} | {wall:.2f} | "
        f"{fastest:.2f} | **{fastest / wall:.1%}** |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--leads", type=int, default=200)
    ap.add_argument("--pages", type=int, default=5)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--page-size", type=int, default=5)
    ap.add_argument("--limit-leads", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3, help="leadping_nb runs (median)")
    args = ap.parse_args()
    out = [
        "### latency-bound paging",
        *latency_run(args.leads, args.pages, args.latency_ms, args.page_size, args.repeat),
    ]
    out += ["", "### compressed rate limit", *limit_run(args.limit_leads, 30, 6.0)]
    text = "\n".join(out)
    print(text)
    Path(__file__).with_name("paging-latest.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
