"""The fault matrix: every fault kind of the emulator, with the sync and the async client, over
real HTTP on loopback (uvicorn on 127.0.0.1). For each fault the fetched events equal the
emulator's ground truth exactly (0 lost, 0 duplicated, 0 invented, every value equal), or
the affected lead fails with a clear, typed error and every other lead is kept exactly.
A many-lead run with a mix of faults ends with the exact ground truth."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
import pytest

from leadping_nb import (
    ApiError,
    AsyncClient,
    Client,
    EventQuery,
    FetchProgress,
    FetchResult,
    PaginationError,
    RetryPolicy,
)
from leadping_nb.emulator import FaultConfig
from leadping_nb.emulator._faults import FAULT_KINDS

from .reliability_support import GOOD_KEY, LiveServer, RecordingEmulator, assert_exact

SEED = 3  # lead_0001: 93 events, lead_0002: 38, lead_0003: 16, lead_0004: 8 (heavy_leads=0)
PAGE = 10
FAST_RETRY = RetryPolicy(attempts=12, backoff=0.02, max_backoff=0.2, max_retry_after=5.0)
Mode = Literal["sync", "async"]
MODES: tuple[Mode, ...] = ("sync", "async")


def fetch(
    mode: Mode,
    base_url: str,
    leads: list[str],
    *,
    query: EventQuery | None = None,
    on_progress: Callable[[FetchProgress], None] | None = None,
    keep_unknown: bool = False,
    **client_kw: Any,
) -> FetchResult:
    """One ``fetch_events`` over HTTP with the sync or the async client."""
    query = query or EventQuery(page_size=PAGE)
    client_kw.setdefault("retry", FAST_RETRY)
    fetch_kw: dict[str, Any] = {"on_progress": on_progress, "keep_unknown": keep_unknown}
    if mode == "sync":
        with Client(GOOD_KEY, base_url=base_url, **client_kw) as client:
            return client.fetch_events(leads, query, **fetch_kw)

    async def main() -> FetchResult:
        async with AsyncClient(GOOD_KEY, base_url=base_url, **client_kw) as client:
            return await client.fetch_events(leads, query, **fetch_kw)

    return asyncio.run(main())


def count_faults(emu: RecordingEmulator, tally: Counter[str]) -> None:
    for kind in (*FAULT_KINDS, "rate_limited"):
        if emu.fault_counts[kind]:
            tally[f"faults exercised: {kind}"] += emu.fault_counts[kind]
    tally["requests served (fault tests)"] += emu.fault_counts["requests"]


def check_failed_lead(result: FetchResult, lead: str, exc_type: type[Exception]) -> Exception:
    """A failed lead: a typed error naming the lead and page, no events in the frame, and a
    status row that says so."""
    err = result.errors[lead]
    assert isinstance(err, exc_type), repr(err)
    assert getattr(err, "lead_id", None) == lead and isinstance(getattr(err, "page", None), int)
    text = str(err)
    assert "page" in text, text
    if isinstance(err, ApiError):
        assert lead in text, text
    assert result.frame.filter(pl.col("lead_id") == lead).height == 0
    row = result.status.filter(pl.col("lead_id") == lead).row(0, named=True)
    assert row["ok"] is False and row["complete"] is False
    assert row["error_type"] == type(err).__name__ and row["error"] == text
    return err


def check_expired(err: Exception) -> None:
    assert isinstance(err, ApiError) and err.status == 400
    assert err.title == "Continuation token expired"
    assert err.errors is not None and "continuationToken" in err.errors
    assert "restart from the first page" in str(err)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# ---- the matrix -------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    fault: str  # fault_counts key that must be > 0 (proves the fault happened)
    faults: FaultConfig | None = None
    transient: bool = False  # answered by retrying the same request
    emulator: dict[str, Any] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    keep_unknown: bool = False


def _numbers(era: str, as_strings: bool, digits: int = 3) -> Case:
    return Case(
        f"numbers-as-{'strings' if as_strings else 'numbers'}-{era}-era-{digits}-digits",
        "200",
        emulator={"era": era, "numbers_as_strings": as_strings, "fraction_digits": digits},
    )


CASES = [
    Case(
        "429-retry-after-1s",
        "fault_429",
        FaultConfig(seed=5, rate_429=0.12, retry_after=1),
        transient=True,
    ),
    Case(
        "429-bursts",
        "fault_429",
        FaultConfig(seed=1, rate_429=0.3, burst=3, retry_after=0),
        transient=True,
    ),
    *(
        Case(
            f"http-{code}",
            str(code),
            FaultConfig(seed=1, rate_5xx=0.3, codes_5xx=(code,)),
            transient=True,
        )
        for code in (500, 502, 503, 504)
    ),
    Case(
        "slow-past-read-timeout",
        "slow",
        FaultConfig(seed=1, rate_slow=0.2, slow_seconds=1.0),
        transient=True,
        client={"timeout": 0.3},
    ),
    Case("dropped-connection", "drop", FaultConfig(seed=1, rate_drop=0.3), transient=True),
    Case("truncated-json", "truncate", FaultConfig(seed=1, rate_truncate=0.3), transient=True),
    Case("duplicate-across-boundary", "duplicate_boundary", FaultConfig(duplicate_boundary=0.5)),
    Case("empty-page-with-token", "empty_page", FaultConfig(empty_page_with_token=0.5)),
    _numbers("current", False),
    _numbers("current", True, 7),
    _numbers("seed", True),
    _numbers("seed", False, 0),
    Case("unknown-fields", "200", emulator={"extra_fields": True}),
    Case("unknown-fields-kept", "200", emulator={"extra_fields": True}, keep_unknown=True),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fault_is_absorbed_exactly(
    case: Case, mode: Mode, live: LiveServer, tally: Counter[str]
) -> None:
    emu = RecordingEmulator(
        SEED, 4, heavy_leads=0, api_keys=(GOOD_KEY,), faults=case.faults, **case.emulator
    )
    leads = emu.lead_ids()
    result = fetch(mode, live.serve(emu), leads, keep_unknown=case.keep_unknown, **case.client)

    assert result.ok, result.errors
    assert emu.fault_counts[case.fault] >= 1, dict(emu.fault_counts)
    tally["events compared"] += assert_exact(result.frame, emu, leads)
    assert result.status["ok"].all() and result.status["complete"].all()
    count_faults(emu, tally)

    status = result.status
    if case.transient:
        # every failed attempt was retried and counted; nothing else was sent
        assert int(status["attempts"].sum()) == emu.fault_counts["requests"]
        assert int(status["attempts"].sum()) > int(status["pages"].sum())
    if case.name == "429-retry-after-1s":
        # the retry of a 429'd request comes no earlier than Retry-After (1 s)
        log = emu.log
        checked = 0
        for i, rec in enumerate(log):
            if rec.status == 429:
                nxt = next(r for r in log[i + 1 :] if (r.lead, r.token) == (rec.lead, rec.token))
                assert nxt.t - rec.t >= 1.0 - 0.01, (rec, nxt)
                checked += 1
        assert checked == emu.fault_counts["fault_429"]
    if case.fault == "duplicate_boundary":
        assert int(status["duplicates_dropped"].sum()) == emu.fault_counts["duplicate_boundary"]
    if case.fault == "empty_page":
        assert int(status["pages"].sum()) == emu.fault_counts["200"]
    if "numbers_as_strings" in case.emulator:
        retry_counts = [it["retryCount"] for lead in leads for it in emu.ground_truth(lead)]
        wanted = str if case.emulator["numbers_as_strings"] else int
        assert all(type(v) is wanted for v in retry_counts if v is not None)
    if case.emulator.get("extra_fields"):
        assert {"segmentCount", "carrierName"} <= set(result.report.unknown_fields)
        kept = {"segmentCount", "carrierName"} <= set(result.frame.columns)
        assert kept == case.keep_unknown
        if kept:
            want = {
                it["id"]: (_text(it["segmentCount"]), it["carrierName"])
                for lead in leads
                for it in emu.ground_truth(lead)
            }
            got = {
                r[0]: (r[1], r[2])
                for r in result.frame.select("id", "segmentCount", "carrierName").rows()
            }
            assert got == want


# ---- faults that end a lead's chain: a clear error, every other lead kept -------------


@pytest.mark.parametrize("mode", MODES)
def test_expired_token_fails_that_lead_clearly_and_keeps_the_others(
    mode: Mode, live: LiveServer, tally: Counter[str]
) -> None:
    faults = FaultConfig(seed=2, rate_expired_token=0.5, only_leads=frozenset({"lead_0001"}))
    emu = RecordingEmulator(SEED, 4, heavy_leads=0, api_keys=(GOOD_KEY,), faults=faults)
    leads = emu.lead_ids()
    result = fetch(mode, live.serve(emu), leads)

    assert emu.fault_counts["expired_token"] >= 1
    others = [lead for lead in leads if lead != "lead_0001"]
    assert set(result.errors) <= {"lead_0001"}
    if "lead_0001" in result.errors:
        check_expired(check_failed_lead(result, "lead_0001", ApiError))
        tally["events compared"] += assert_exact(result.frame, emu, others)
    else:  # a client that restarts an expired chain from the first page
        tally["events compared"] += assert_exact(result.frame, emu, leads)
    count_faults(emu, tally)


@pytest.mark.parametrize("mode", MODES)
def test_token_past_its_ttl_fails_clearly_and_keeps_the_others(
    mode: Mode, live: LiveServer, tally: Counter[str]
) -> None:
    offset = [0.0]
    emu = RecordingEmulator(
        SEED,
        4,
        heavy_leads=0,
        api_keys=(GOOD_KEY,),
        token_ttl=30.0,
        clock=lambda: time.monotonic() + offset[0],
    )
    leads = emu.lead_ids()

    def age_tokens(p: FetchProgress) -> None:
        if p.lead_id == "lead_0001" and p.lead_pages == 2:
            offset[0] = 3600.0  # every token issued so far is now an hour old

    result = fetch(mode, live.serve(emu), leads, on_progress=age_tokens, concurrency=1)

    assert offset[0] == 3600.0
    # lead_0004 has one page (no token) and cannot fail; lead_0001 was mid-chain
    assert "lead_0004" not in result.errors
    for lead in result.errors:
        check_expired(check_failed_lead(result, lead, ApiError))
    ok = [lead for lead in leads if lead not in result.errors]
    tally["events compared"] += assert_exact(result.frame, emu, ok)
    tally["faults exercised: token past ttl"] += len(result.errors)


@pytest.mark.parametrize("mode", MODES)
def test_invalid_token_fails_that_lead_clearly_and_keeps_the_others(
    mode: Mode, live: LiveServer, tally: Counter[str]
) -> None:
    emu = RecordingEmulator(
        SEED, 4, heavy_leads=0, api_keys=(GOOD_KEY,), tamper_leads=["lead_0002"]
    )
    leads = emu.lead_ids()
    result = fetch(mode, live.serve(emu), leads)

    assert set(result.errors) == {"lead_0002"}
    err = check_failed_lead(result, "lead_0002", ApiError)
    assert isinstance(err, ApiError) and err.status == 400 and err.page == 2
    assert err.title == "Invalid continuation token"
    assert err.errors is not None and "continuationToken" in err.errors
    assert emu.fault_counts["400"] == 1  # a client error is not retried
    others = [lead for lead in leads if lead != "lead_0002"]
    tally["events compared"] += assert_exact(result.frame, emu, others)
    tally["faults exercised: invalid token"] += 1


@pytest.mark.parametrize("mode", MODES)
def test_repeated_token_fails_that_lead_clearly_and_keeps_the_others(
    mode: Mode, live: LiveServer, tally: Counter[str]
) -> None:
    emu = RecordingEmulator(
        SEED, 6, heavy_leads=0, api_keys=(GOOD_KEY,), faults=FaultConfig(repeat_token=0.25)
    )
    leads = emu.lead_ids()
    result = fetch(mode, live.serve(emu), leads)

    failed = set(result.errors)
    assert failed and len(failed) < len(leads)
    # each repeat stops exactly one lead, before it could return duplicated events
    assert len(failed) == emu.fault_counts["repeat_token"]
    for lead in failed:
        err = check_failed_lead(result, lead, PaginationError)
        assert "already returned" in str(err)
    ok = [lead for lead in leads if lead not in failed]
    tally["events compared"] += assert_exact(result.frame, emu, ok)
    count_faults(emu, tally)


# ---- many leads, a mix of faults ----------------------------------------------------------

ABSORBABLE_MIX = FaultConfig(
    seed=11,
    rate_429=0.04,
    burst=2,
    retry_after=0,
    rate_5xx=0.05,
    rate_slow=0.02,
    slow_seconds=1.0,
    rate_drop=0.05,
    rate_truncate=0.05,
    duplicate_boundary=0.2,
    empty_page_with_token=0.2,
)


@pytest.mark.parametrize(
    ("mode", "era"), [("sync", "current"), ("async", "seed")], ids=["sync-current", "async-seed"]
)
def test_many_leads_with_a_mix_of_faults_end_with_the_exact_ground_truth(
    mode: Mode, era: str, live: LiveServer, tally: Counter[str]
) -> None:
    emu = RecordingEmulator(
        SEED,
        30,
        heavy_leads=0,
        era=era,
        extra_fields=era == "current",
        api_keys=(GOOD_KEY,),
        faults=ABSORBABLE_MIX,
    )
    leads = emu.lead_ids()
    result = fetch(mode, live.serve(emu), leads, timeout=0.4)

    assert result.ok, result.errors
    kinds = [k for k in FAULT_KINDS if emu.fault_counts[k]]
    assert len(kinds) >= 6, dict(emu.fault_counts)
    tally["events compared"] += assert_exact(result.frame, emu, leads)
    assert int(result.status["attempts"].sum()) == emu.fault_counts["requests"]
    count_faults(emu, tally)


@pytest.mark.parametrize("mode", MODES)
def test_many_leads_with_chain_breaking_faults_lose_only_the_failed_leads(
    mode: Mode, live: LiveServer, tally: Counter[str]
) -> None:
    faults = FaultConfig(
        seed=12,
        rate_5xx=0.05,
        rate_drop=0.05,
        rate_truncate=0.05,
        rate_expired_token=0.04,
        repeat_token=0.05,
        duplicate_boundary=0.2,
    )
    emu = RecordingEmulator(SEED, 30, heavy_leads=0, api_keys=(GOOD_KEY,), faults=faults)
    leads = emu.lead_ids()
    result = fetch(mode, live.serve(emu), leads)

    repeats = [lead for lead, e in result.errors.items() if isinstance(e, PaginationError)]
    expired = [lead for lead, e in result.errors.items() if not isinstance(e, PaginationError)]
    # a repeat stops its lead, unless that answer was also truncated and retried (the
    # emulator repeats a token once)
    assert 1 <= len(repeats) <= emu.fault_counts["repeat_token"]
    for lead in repeats:
        check_failed_lead(result, lead, PaginationError)
    for lead in expired:
        check_expired(check_failed_lead(result, lead, ApiError))
    if emu.fault_counts["expired_token"]:
        # the current client fails the lead; a restarting client would complete it
        assert len(expired) <= emu.fault_counts["expired_token"]
    ok = [lead for lead in leads if lead not in result.errors]
    assert len(ok) >= len(leads) // 2
    tally["events compared"] += assert_exact(result.frame, emu, ok)
    count_faults(emu, tally)
