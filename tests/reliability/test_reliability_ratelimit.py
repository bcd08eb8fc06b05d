"""Rate limits, in compressed time over real HTTP: the emulator enforces a per-key sliding
window of 20 requests per 2 s. A long many-lead fetch with the client set to the same limit
makes zero 429s and loses no time to the limiter beyond what the requests themselves cost
on this machine now (measured by the same fetch without a limit, just before); when the
server's limit is lower than the client's, the 429s are absorbed by honouring Retry-After
and nothing is lost."""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest

from leadping_nb import Client, EventQuery, RateLimit, RetryPolicy

from .reliability_support import (
    GOOD_KEY,
    LiveServer,
    RecordingEmulator,
    assert_exact,
    pages_needed,
)

PAGE = 10


def leads_for(emu: RecordingEmulator, requests: int) -> list[str]:
    """The first leads whose fault-free fetch takes at least ``requests`` requests."""
    chosen: list[str] = []
    for lead in emu.lead_ids():
        if pages_needed(emu, chosen, PAGE) >= requests:
            break
        chosen.append(lead)
    return chosen


def _server_span(emu: RecordingEmulator) -> float:
    times = [r.t for r in emu.log]
    return times[-1] - times[0]


def test_long_fetch_at_the_limit_makes_no_429_and_wastes_no_window(
    live: LiveServer, tally: Counter[str], capsys: pytest.CaptureFixture[str]
) -> None:
    limit, window = 20, 2.0
    emu = RecordingEmulator(7, 40, heavy_leads=0, api_keys=(GOOD_KEY,), rate_limit=(limit, window))
    leads = leads_for(emu, 3 * limit + 5)  # > 3 windows of traffic
    n = pages_needed(emu, leads, PAGE)
    assert 3 * limit < n <= 4 * limit

    # the baseline, in this process and at this moment: the same fetch with no limit on
    # either side takes what the requests themselves cost on this machine under its load
    free = RecordingEmulator(7, 40, heavy_leads=0, api_keys=(GOOD_KEY,))
    with Client(GOOD_KEY, base_url=live.serve(free), rate_limit=None) as client:
        assert client.fetch_events(leads, EventQuery(page_size=PAGE)).ok
    free_span = _server_span(free)

    base = live.serve(emu)
    with Client(GOOD_KEY, base_url=base, rate_limit=RateLimit(limit, window)) as client:
        started = time.monotonic()
        result = client.fetch_events(leads, EventQuery(page_size=PAGE))
        wall = time.monotonic() - started

    assert result.ok, result.errors
    assert emu.fault_counts["429"] == 0 and emu.fault_counts["rate_limited"] == 0
    assert emu.fault_counts["requests"] == n
    tally["events compared"] += assert_exact(result.frame, emu, leads)
    # the fastest schedule the server allows: a full window between batches of `limit`
    fastest = (math.ceil(n / limit) - 1) * window
    times = [r.t for r in emu.log]
    span = times[-1] - times[0]  # first to last request, as the server saw them
    # no window the server looks at ever held more than the limit
    assert all(sum(1 for u in times if t - window < u <= t) <= limit for t in times), (
        "more than `limit` requests arrived within one window"
    )
    efficiency = fastest / span
    # beyond the fastest schedule, a limiter that wastes nothing adds only the cost of the
    # requests themselves (the last window's batch, the wake-ups at each window's end); a
    # limiter that waited one window too long would add 2 s (bound: twice the baseline)
    extra = span - fastest
    with capsys.disabled():
        print(
            f"\nrate limit {limit}/{window:g}s: {n} requests, fastest allowed {fastest:.2f}s, "
            f"server-side span {span:.2f}s ({efficiency:.1%}), client wall {wall:.2f}s "
            f"({fastest / wall:.1%}), 0 x 429; unlimited baseline {free_span:.2f}s"
        )
    assert extra <= 2 * free_span + 0.05, (extra, free_span)
    tally["rate limit: requests at the limit, 0 x 429"] += n
    tally["rate limit: efficiency (per mille, server-side)"] = round(1000 * efficiency)
    tally["rate limit: efficiency (per mille, client wall)"] = round(1000 * fastest / wall)


def test_a_server_limit_below_the_clients_is_absorbed_with_retry_after(
    live: LiveServer, tally: Counter[str]
) -> None:
    emu = RecordingEmulator(7, 40, heavy_leads=0, api_keys=(GOOD_KEY,), rate_limit=(10, 2.0))
    leads = leads_for(emu, 25)
    n = pages_needed(emu, leads, PAGE)
    base = live.serve(emu)
    retry = RetryPolicy(attempts=30, backoff=0.05, max_backoff=0.5, deadline=120.0)
    with Client(GOOD_KEY, base_url=base, rate_limit=RateLimit(50, 2.0), retry=retry) as client:
        result = client.fetch_events(leads, EventQuery(page_size=PAGE))

    assert result.ok, result.errors
    rejected = emu.fault_counts["rate_limited"]
    assert rejected > 0  # the server's lower limit did bite
    assert emu.fault_counts["requests"] == n + rejected
    assert int(result.status["attempts"].sum()) == n + rejected
    tally["events compared"] += assert_exact(result.frame, emu, leads)
    # every 429'd request was retried no earlier than the Retry-After it was given
    log = emu.log
    for i, rec in enumerate(log):
        if rec.status == 429:
            assert rec.retry_after is not None and int(rec.retry_after) >= 1
            nxt = next(r for r in log[i + 1 :] if (r.lead, r.token) == (rec.lead, rec.token))
            assert nxt.t - rec.t >= int(rec.retry_after) - 0.01, (rec, nxt)
    tally["faults exercised: rate_limited (server limit below the client's)"] += rejected
