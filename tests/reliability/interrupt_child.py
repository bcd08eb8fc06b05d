"""A child process for test_reliability_interrupt.py: one long call of the sync Client
against a slow server, interrupted by a real SIGINT from the test.

    python interrupt_child.py MODE BASE_URL      (the key comes from LEADPING_API_KEY)

MODE is ``fetch_events``, ``frame``, ``leads`` or ``account_events``. The child prints
``RUNNING`` once the first page has arrived (so the test sends the signal only when the
call is really under way), then, on ``KeyboardInterrupt``, at once one JSON line
``{"caught": <time.monotonic()>}`` (the clock is system-wide, so the test measures the
delay from its signal), then one JSON line with what is left: the tasks on the client's
loop right after the interrupt, the sockets open then, whether the client still works, and
the threads and sockets once it is closed. ``FINISHED`` means the call ended first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from leadping_nb import Client, EventQuery, FetchProgress

LEADS = [f"lead_{i:04d}" for i in range(1, 41)]
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


def sockets() -> int:
    """Sockets open in this process (from /proc/self/fd)."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the directory's own descriptor
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return n


_running = threading.Event()


def running(*_args: object) -> None:
    """Print RUNNING once (from the loop thread, or a logging call)."""
    if not _running.is_set():
        _running.set()
        print("RUNNING", flush=True)


class _FirstBody(logging.Handler):
    """Calls :func:`running` when httpcore has read the first response body."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("receive_response_body.complete"):
            running()


async def _tasks_left() -> int:
    me = asyncio.current_task()
    return len([t for t in asyncio.all_tasks() if t is not me and not t.done()])


def main(mode: str, base_url: str) -> int:
    before = {"threads": [t.name for t in threading.enumerate()], "sockets": sockets()}
    client = Client(base_url=base_url, rate_limit=None, concurrency=4, timeout=30)
    if mode in ("frame", "leads"):
        log = logging.getLogger("httpcore.http11")
        log.setLevel(logging.DEBUG)
        log.addHandler(_FirstBody())

    def progress(_p: FetchProgress) -> None:
        running()

    calls: dict[str, Any] = {
        "fetch_events": lambda: client.fetch_events(
            LEADS, EventQuery(page_size=5), on_progress=progress
        ),
        "frame": lambda: client.events("lead_0009", EventQuery(page_size=5)).frame(),
        "leads": lambda: client.leads(page_size=1, max_leads=None),
        "account_events": lambda: client.account_events(
            EventQuery(page_size=5),
            since=UNTIL - timedelta(days=365),
            until=UNTIL,
            window=timedelta(days=7),
            on_progress=progress,
        ),
    }
    try:
        calls[mode]()
    except KeyboardInterrupt:
        caught = time.monotonic()
        print(json.dumps({"caught": caught}), flush=True)
        tasks = client._runner.run(_tasks_left())
        open_after_interrupt = sockets()
        works = client.lead("lead_0001")["id"] == "lead_0001"
        client.close()
        after = {
            "threads": [t.name for t in threading.enumerate()],
            "sockets": sockets(),
            "tasks": tasks,
            "sockets_after_interrupt": open_after_interrupt,
            "still_works": works,
            "before": before,
        }
        print(json.dumps(after), flush=True)
        return 0
    print("FINISHED", flush=True)
    client.close()
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
