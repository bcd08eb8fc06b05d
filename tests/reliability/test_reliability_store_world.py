"""A store that stays true while the world moves: after each of 10 random ``advance()``
steps of the emulator's clock, with faults on, a refreshed store equals a fresh read of
the world at that moment (every column of every event, nothing missing, nothing doubled),
in both eras, refreshed per lead and through the account stream."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest

from leadping_nb import EventQuery, RetryPolicy
from leadping_nb.emulator import Emulator, FaultConfig
from leadping_nb.store import EventStore

from .reliability_support import assert_exact

#: Faults the clients recover from (a repeated token or a second expiry in one chain is an
#: error for that lead or window, by design: tests/reliability/test_reliability_faults.py)
FAULTS = FaultConfig(
    seed=3,
    rate_429=0.03,
    burst=2,
    retry_after=0,
    rate_5xx=0.03,
    rate_drop=0.02,
    rate_truncate=0.02,
    duplicate_boundary=0.1,
    empty_page_with_token=0.1,
)


@pytest.mark.parametrize("mode", ["account", "leads"])
@pytest.mark.parametrize("era", ["current", "seed"])
def test_after_each_advance_a_refreshed_store_equals_the_world(
    era: Literal["current", "seed"], mode: str, tmp_path: Path
) -> None:
    rng = random.Random(f"store-world:{era}:{mode}")
    emu = Emulator(seed=12, n_leads=60, heavy_leads=1, era=era, faults=FAULTS, rate_limit=None)
    emu.advance(timedelta(hours=8))  # 20:00 UTC: US business hours, messages in flight
    store = EventStore(tmp_path / "store")
    # 12 attempts: at ~13 % of attempts faulted, 6 in a row happen about once in 200,000
    # requests (a run makes ~7,000); 12 in a row, never
    retry = RetryPolicy(attempts=12, backoff=0.001, max_backoff=0.01)
    query = EventQuery(page_size=80)  # more pages: more faults, boundaries and splits
    changed = added = 0
    with emu.client(retry=retry, rate_limit=None) as client:
        first = store.refresh(
            client, None if mode == "account" else emu.lead_ids(), query, now=emu.now
        )
        assert not first.failed
        assert_exact(store.read(), emu, emu.lead_ids())
        for _ in range(10):
            # from a few seconds (messages mid-flight) to a day and a half (new leads)
            emu.advance(
                timedelta(seconds=rng.choice([rng.uniform(1, 600), rng.uniform(600, 1.3e5)]))
            )
            leads = None if mode == "account" else emu.lead_ids()
            r = store.refresh(client, leads, query, now=emu.now)
            assert not r.failed, r.fetch.errors
            n = assert_exact(store.read(), emu, emu.lead_ids())
            assert r.added + r.changed + r.unchanged <= n
            changed += r.changed
            added += r.added
    assert changed > 0 and added > 0  # the world did move, and the store followed
    # Faults were on. Which kinds land depends on the order requests arrive in (concurrent
    # requests): the account variant makes ~80 requests, and one kind can miss a run
    # (duplicate_boundary did, once, in a CI run; that run still had 17 faults). Their total
    # cannot: at ~17 expected, fewer than 5 has a Poisson probability of ~2e-4. Each kind
    # is pinned by tests/reliability/test_reliability_faults.py.
    kinds = ("fault_429", "fault_5xx", "drop", "truncate", "duplicate_boundary", "empty_page")
    assert sum(emu.fault_counts[k] for k in kinds) >= 5, emu.fault_counts
