"""Injected faults: every kind happens, is counted, is reproducible by seed, and never makes
the data wrong in a way a correct client cannot detect and recover from."""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import Any

import pytest
from emulator_helpers import post, reference
from hypothesis import given, settings
from hypothesis import strategies as st

from leadping_nb._http.wire import WireResponse
from leadping_nb.emulator import Emulator, FaultConfig


def _emu(faults: FaultConfig | None, **kw: Any) -> Emulator:
    kw.setdefault("clock", lambda: 0.0)
    return Emulator(seed=12, n_leads=4, heavy_leads=0, rate_limit=None, faults=faults, **kw)


def _lead(emu: Emulator) -> str:
    return max(emu.lead_ids(), key=lambda x: len(emu.ground_truth(x)))


def _statuses(emu: Emulator, n: int, body: dict[str, Any] | None = None) -> list[Any]:
    out = []
    for _ in range(n):
        r = post(emu, "/events/leads/lead_0001", body or {"pageSize": 5})
        out.append("drop" if r.fault == "drop" else r.status)
    return out


def test_fault_config_parse_and_validation() -> None:
    c = FaultConfig.parse(
        "429=0.05,5xx=0.02,drop=0.01,slow=0.01,truncate=0.01,dup=0.1,repeat=0.05,empty=0.1,"
        "expired=0.01,seed=7,burst=3,retry_after=2,slow_seconds=0.5"
    )
    assert c == FaultConfig(
        seed=7,
        rate_429=0.05,
        burst=3,
        retry_after=2,
        rate_5xx=0.02,
        rate_drop=0.01,
        rate_slow=0.01,
        slow_seconds=0.5,
        rate_truncate=0.01,
        rate_expired_token=0.01,
        duplicate_boundary=0.1,
        repeat_token=0.05,
        empty_page_with_token=0.1,
    )
    with pytest.raises(ValueError, match="unknown fault"):
        FaultConfig.parse("boom=1")
    with pytest.raises(ValueError, match="NAME=VALUE"):
        FaultConfig.parse("429")
    with pytest.raises(ValueError, match="probability"):
        FaultConfig(rate_5xx=1.5)
    with pytest.raises(ValueError, match="burst"):
        FaultConfig(burst=0)
    assert FaultConfig(only_leads={"a"}).only_leads == frozenset({"a"})  # type: ignore[arg-type]


def test_429_bursts_with_retry_after() -> None:
    emu = _emu(FaultConfig(seed=1, rate_429=0.15, burst=3, retry_after=7))
    statuses = _statuses(emu, 200)
    assert statuses.count(429) == emu.fault_counts["fault_429"] > 0
    # every burst is at least 3 long
    i = 0
    while i < len(statuses):
        if statuses[i] == 429:
            j = i
            while j < len(statuses) and statuses[j] == 429:
                j += 1
            assert j - i >= 3 or j == len(statuses)
            i = j
        else:
            i += 1
    r = None
    emu2 = _emu(FaultConfig(seed=1, rate_429=1.0, retry_after=7))
    r = post(emu2, "/events/leads/lead_0001", {})
    assert r.status == 429
    assert dict(r.headers)["retry-after"] == "7"
    assert dict(r.headers)["content-type"].startswith("application/problem+json")
    assert json.loads(r.body)["status"] == 429
    assert emu.fault_counts["rate_limited"] == 0


def test_5xx_codes_and_counts() -> None:
    emu = _emu(FaultConfig(seed=2, rate_5xx=0.3))
    statuses = _statuses(emu, 100)
    errors = [s for s in statuses if s != 200]
    assert errors
    assert set(errors) <= {500, 502, 503, 504}
    assert len(set(errors)) > 1
    assert emu.fault_counts["fault_5xx"] == len(errors)
    assert sum(emu.fault_counts[str(c)] for c in (500, 502, 503, 504)) == len(errors)
    only_503 = _emu(FaultConfig(seed=2, rate_5xx=1.0, codes_5xx=(503,)))
    assert set(_statuses(only_503, 5)) == {503}


def test_slow_answers_and_latency_go_into_delay() -> None:
    emu = _emu(FaultConfig(seed=3, rate_slow=1.0, slow_seconds=2.5), latency_ms=100)
    r = post(emu, "/events/leads/lead_0001", {})
    assert r.status == 200
    assert r.delay == pytest.approx(2.6)
    assert emu.fault_counts["slow"] == 1
    plain = _emu(None, latency_ms=40)
    assert post(plain, "/events/leads/lead_0001", {}).delay == pytest.approx(0.04)


def test_dropped_connections() -> None:
    emu = _emu(FaultConfig(seed=4, rate_drop=0.5))
    statuses = _statuses(emu, 40)
    assert statuses.count("drop") == emu.fault_counts["drop"] > 0
    r = _emu(FaultConfig(seed=4, rate_drop=1.0))
    ans = post(r, "/events/leads/lead_0001", {})
    assert ans.fault == "drop"
    assert ans.body == b""


def test_truncated_bodies_are_cut_200s() -> None:
    faulty = _emu(FaultConfig(seed=5, rate_truncate=1.0))
    clean = _emu(None)
    a = post(faulty, "/events/leads/lead_0001", {"pageSize": 20})
    b = post(clean, "/events/leads/lead_0001", {"pageSize": 20})
    assert a.status == 200
    assert 0 < len(a.body) < len(b.body)
    assert b.body.startswith(a.body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(a.body)
    assert faulty.fault_counts["truncate"] == 1
    # errors are never truncated
    assert (
        json.loads(post(faulty, "/events/leads/lead_0001", {"pageSize": 0}).body)["status"] == 400
    )


def test_expired_token_fault() -> None:
    emu = _emu(FaultConfig(seed=6, rate_expired_token=1.0))
    lead = _lead(emu)
    first = post(emu, f"/events/leads/{lead}", {"pageSize": 3})
    assert first.status == 200  # no token, no expiry
    token = json.loads(first.body)["continuationToken"]
    r = post(emu, f"/events/leads/{lead}", {"pageSize": 3, "continuationToken": token})
    assert r.status == 400
    problem = json.loads(r.body)
    assert problem["type"].endswith("continuation-token-expired")
    assert "continuationToken" in problem["errors"]
    assert emu.fault_counts["expired_token"] == 1


def _pages(emu: Emulator, lead: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    envs = []
    token = None
    for _ in range(500):
        r = post(emu, f"/events/leads/{lead}", {**body, "continuationToken": token})
        assert r.status == 200
        env = json.loads(r.body)
        envs.append(env)
        token = env["continuationToken"]
        if token is None:
            return envs
        if envs[-1]["continuationToken"] == (
            envs[-2]["continuationToken"] if len(envs) > 1 else None
        ):
            # a repeated token: ask again once, as a careful client would
            continue
    raise AssertionError("no end")


def test_duplicate_across_page_boundary_is_a_true_duplicate() -> None:
    emu = _emu(FaultConfig(seed=7, duplicate_boundary=1.0))
    lead = _lead(emu)
    envs = _pages(emu, lead, {"pageSize": 4})
    assert len(envs) > 2
    for prev, nxt in itertools.pairwise(envs):
        if nxt["items"]:
            assert nxt["items"][0] == prev["items"][-1]  # same id, same content
    assert emu.fault_counts["duplicate_boundary"] == len(envs) - 1
    seen: dict[str, dict[str, Any]] = {}
    for env in envs:
        assert len(env["items"]) <= 4
        for it in env["items"]:
            seen.setdefault(it["id"], it)
    assert list(seen.values()) == emu.ground_truth(lead)


def test_repeated_token_once_per_token() -> None:
    emu = _emu(FaultConfig(seed=8, repeat_token=1.0))
    lead = _lead(emu)
    r1 = json.loads(post(emu, f"/events/leads/{lead}", {"pageSize": 4}).body)
    t1 = r1["continuationToken"]
    r2 = json.loads(
        post(emu, f"/events/leads/{lead}", {"pageSize": 4, "continuationToken": t1}).body
    )
    assert r2["continuationToken"] == t1  # the token it was called with
    r3 = json.loads(
        post(emu, f"/events/leads/{lead}", {"pageSize": 4, "continuationToken": t1}).body
    )
    assert r3["items"] == r2["items"]
    assert r3["continuationToken"] not in (None, t1)  # once only: now it leads on
    assert emu.fault_counts["repeat_token"] == 1
    gt = emu.ground_truth(lead)
    assert r1["items"] + r3["items"] == gt[:8]


def test_empty_page_with_a_token_that_leads_on() -> None:
    emu = _emu(FaultConfig(seed=9, empty_page_with_token=1.0))
    lead = _lead(emu)
    envs = _pages(emu, lead, {"pageSize": 5, "includeCount": True})
    empties = [e for e in envs if not e["items"]]
    assert empties
    assert all(e["continuationToken"] for e in empties)
    assert emu.fault_counts["empty_page"] == len(empties)
    got = [it for e in envs for it in e["items"]]
    assert got == emu.ground_truth(lead)
    assert all(e["totalCount"] == len(got) for e in envs)


def test_only_leads_restricts_faults() -> None:
    emu = _emu(FaultConfig(seed=10, rate_5xx=1.0, only_leads=frozenset({"lead_0002"})))
    assert post(emu, "/events/leads/lead_0001", {}).status == 200
    assert post(emu, "/leads/all/my", {}).status == 200
    assert post(emu, "/events/leads/lead_0002", {}).status >= 500
    assert emu.fault_counts["fault_5xx"] == 1


def _trace(faults: FaultConfig) -> list[tuple[Any, ...]]:
    emu = _emu(faults)
    out = []
    token = None
    lead = _lead(emu)
    for _ in range(80):
        r = post(emu, f"/events/leads/{lead}", {"pageSize": 3, "continuationToken": token})
        out.append((r.status, r.fault, r.delay, r.body))
        if r.status == 200 and r.fault is None:
            with contextlib.suppress(json.JSONDecodeError):
                token = json.loads(r.body)["continuationToken"]
        elif r.status == 400:
            token = None
    return out


ALL = {
    "rate_429": 0.05,
    "burst": 2,
    "rate_5xx": 0.05,
    "rate_slow": 0.05,
    "rate_drop": 0.05,
    "rate_truncate": 0.05,
    "rate_expired_token": 0.05,
    "duplicate_boundary": 0.2,
    "repeat_token": 0.1,
    "empty_page_with_token": 0.2,
}


def test_faults_are_reproducible_by_seed() -> None:
    a = _trace(FaultConfig(seed=42, **ALL))  # type: ignore[arg-type]
    b = _trace(FaultConfig(seed=42, **ALL))  # type: ignore[arg-type]
    c = _trace(FaultConfig(seed=43, **ALL))  # type: ignore[arg-type]
    assert a == b
    assert a != c


def test_fault_counts_are_reproducible_and_cover_every_kind() -> None:
    def run(seed: int) -> dict[str, int]:
        emu = _emu(FaultConfig(seed=seed, **ALL))  # type: ignore[arg-type]
        for lead in emu.lead_ids():
            _robust_fetch(emu, lead, {"pageSize": 3})
        return dict(emu.fault_counts)

    a, b = run(5), run(5)
    assert a == b
    for kind in (
        "fault_429",
        "fault_5xx",
        "slow",
        "drop",
        "truncate",
        "expired_token",
        "duplicate_boundary",
        "repeat_token",
        "empty_page",
    ):
        assert a.get(kind, 0) > 0, kind


def _robust_fetch(emu: Emulator, lead: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """A correct client: retries transient failures with the same token, restarts on an
    expired token, follows empty pages, re-asks once on a repeated token, dedups by id."""
    seen: dict[str, dict[str, Any]] = {}
    token = None
    last_token = None
    for _ in range(5000):
        r: WireResponse = post(emu, f"/events/leads/{lead}", {**body, "continuationToken": token})
        if r.fault == "drop" or r.status in (429, 500, 502, 503, 504):
            continue
        if r.status == 400:
            problem = json.loads(r.body)
            assert problem["type"].endswith("continuation-token-expired")
            token = last_token = None
            continue
        assert r.status == 200
        try:
            env = json.loads(r.body)
        except json.JSONDecodeError:
            continue  # truncated: retry
        for it in env["items"]:
            if it["id"] in seen:
                assert seen[it["id"]] == it  # a duplicate is a true duplicate
            seen.setdefault(it["id"], it)
        nxt = env["continuationToken"]
        if nxt is None:
            return sorted(seen.values(), key=lambda it: (it["createdAt"], it["id"]))
        if nxt == token and token == last_token:
            raise AssertionError("a token repeated twice in a row")
        last_token, token = token, nxt
    raise AssertionError("no end")


# Pages of at least 3: an expired token (5 % of requests) restarts the whole chain, so
# pages of 1 over the 77-event lead would need ~1/0.95**77 = 50 restarts and more than
# the 5,000 requests _robust_fetch allows (hypothesis found fault_seed=51, size=1).
@settings(max_examples=25, deadline=None)
@given(fault_seed=st.integers(0, 10_000), size=st.integers(3, 12), desc=st.booleans())
def test_a_correct_client_recovers_exact_data_under_all_faults(
    fault_seed: int, size: int, desc: bool
) -> None:
    emu = _emu(FaultConfig(seed=fault_seed, **ALL))  # type: ignore[arg-type]
    lead = emu.lead_ids()[fault_seed % 4]
    body: dict[str, Any] = {"pageSize": size}
    if desc:
        body["orderBy"] = [{"field": "createdAt", "direction": "desc"}]
    got = _robust_fetch(emu, lead, body)
    assert got == reference(emu.ground_truth(lead), {})
