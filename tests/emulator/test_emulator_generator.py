"""The generator: determinism, realism of the synthetic SMS follow-up traffic, laziness."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from emulator_helpers import ts_ticks

from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb.emulator import Emulator, events_frame, generate_events

LIFECYCLE = ("queuedAt", "sendingStartedAt", "sentAt", "deliveredAt")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return Emulator(seed=7, n_leads=60)


@pytest.fixture(scope="module")
def items(emu: Emulator) -> list[dict[str, Any]]:
    return [it for lead in emu.lead_ids() for it in emu.ground_truth(lead)]


@pytest.fixture(scope="module")
def seed_items() -> list[dict[str, Any]]:
    e = Emulator(seed=7, n_leads=60, era="seed")
    return [it for lead in e.lead_ids() for it in e.ground_truth(lead)]


def _secs(a: str, b: str) -> float:
    return (ts_ticks(b) - ts_ticks(a)) / 1e7


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = Emulator(seed=3, n_leads=8)
    b = Emulator(seed=3, n_leads=8)
    c = Emulator(seed=4, n_leads=8)
    assert a.lead_ids() == b.lead_ids() == c.lead_ids()
    assert a.leads() == b.leads()
    for lead in a.lead_ids():
        assert a.ground_truth(lead) == b.ground_truth(lead)
    assert a.ground_truth("lead_0001") != c.ground_truth("lead_0001")
    assert a.leads() != c.leads()


def test_lead_ids_and_lead_rows(emu: Emulator) -> None:
    ids = emu.lead_ids()
    assert ids[0] == "lead_0001"
    assert ids[-1] == "lead_0060"
    assert len(set(ids)) == 60
    for lead in emu.leads():
        assert {"id", "firstName", "lastName", "email", "phone", "status", "createdAt"} <= set(lead)
        assert re.match(r"^\+1\d{10}$", lead["phone"])
        assert "@" in lead["email"]
        assert set(lead["source"]) == {"id", "name"}
        assert lead["createdAt"] <= lead["updatedAt"]


def test_event_counts_most_tens_a_few_thousands(emu: Emulator) -> None:
    counts = [len(emu.ground_truth(lead)) for lead in emu.lead_ids()]
    assert sum(counts) == emu.total_events()
    assert 10 <= statistics.median(counts) <= 100
    assert sum(c < 200 for c in counts) >= 0.85 * len(counts)
    assert 1 <= sum(c >= 1000 for c in counts) <= 5
    assert min(counts) >= 3


def test_heavy_leads_parameter() -> None:
    none = Emulator(seed=1, n_leads=10, heavy_leads=0)
    three = Emulator(seed=1, n_leads=10, heavy_leads=3)
    assert max(len(none.ground_truth(x)) for x in none.lead_ids()) < 1000
    assert sum(len(three.ground_truth(x)) >= 1000 for x in three.lead_ids()) == 3


def test_ids_unique_and_events_belong_to_their_lead(
    emu: Emulator, items: list[dict[str, Any]]
) -> None:
    assert len({it["id"] for it in items}) == len(items)
    for lead in emu.lead_ids()[:10]:
        assert {it["leadId"] for it in emu.ground_truth(lead)} == {lead}


def test_first_event_is_lead_creation_then_speed_to_lead(emu: Emulator) -> None:
    for lead in emu.lead_ids():
        gt = emu.ground_truth(lead)
        assert gt[0]["timelineType"] == "LeadCreated"
        assert gt[1]["direction"] == "Outbound"
        # seconds for most; the sending window, an agent or an import run for some
        # (tests/emulator/test_emulator_realism.py pins the spread)
        assert 0 < _secs(gt[0]["createdAt"], gt[1]["createdAt"]) < 25 * 3600


def test_lifecycle_timestamps_are_ordered(items: list[dict[str, Any]]) -> None:
    now = NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    checked = 0
    for it in items:
        stamps = [it[k] for k in LIFECYCLE if it[k] is not None]
        assert stamps == sorted(stamps), it
        if it["queuedAt"]:
            assert it["createdAt"] <= it["queuedAt"]
            checked += 1
        if it["failedAt"]:
            assert it["sendingStartedAt"] <= it["failedAt"]
        if it["undeliverableAt"]:
            assert it["sentAt"] <= it["undeliverableAt"]
        if it["nextRetryAt"]:
            assert it["failedAt"] < it["nextRetryAt"]
            assert it["status"] == "Failed"
        if it["scheduledFor"]:
            assert it["createdAt"] < it["scheduledFor"]
            assert it["scheduledReason"]
        if it["canceledAt"]:
            assert it["createdAt"] <= it["canceledAt"] <= it["scheduledFor"]
            assert it["cancelReason"]
        for k in (
            *LIFECYCLE,
            "failedAt",
            "undeliverableAt",
            "blockedAt",
            "receivedAt",
            "createdAt",
        ):
            assert it[k] is None or it[k] <= now
    assert checked > 500


def test_heavy_tailed_gaps(items: list[dict[str, Any]]) -> None:
    queue = [
        _secs(it["queuedAt"], it["sendingStartedAt"]) for it in items if it["sendingStartedAt"]
    ]
    carrier = [_secs(it["sentAt"], it["deliveredAt"]) for it in items if it["deliveredAt"]]
    assert statistics.median(queue) < 1.0  # sub-second typically
    assert statistics.median(carrier) < 10.0
    assert max(carrier) > 120.0  # a slow carrier now and then
    assert sum(c > 60 for c in carrier) < 0.1 * len(carrier)
    assert min(carrier) < 0.5


def test_outcome_mix(items: list[dict[str, Any]]) -> None:
    outbound = [
        it for it in items if it["direction"] == "Outbound" and it["eventType"] in ("Sms", "Mms")
    ]
    status = Counter(it["status"] for it in outbound)
    assert status["Delivered"] > 0.6 * len(outbound)
    for s in ("Failed", "Undeliverable", "Blocked", "Canceled", "Sent"):
        assert status[s] > 0, s
    inbound = [it for it in items if it["direction"] == "Inbound" and it["eventType"] == "Sms"]
    assert inbound
    assert all(it["status"] == "Received" and it["receivedAt"] == it["createdAt"] for it in inbound)
    kinds = Counter(it["timelineType"] for it in items)
    for k in (
        "Sms",
        "Mms",
        "Call",
        "Voicemail",
        "Note",
        "LeadStatusChange",
        "LeadCreated",
        "Notification",
        "Warmup",
    ):
        assert kinds[k] > 0, k


def test_failures_have_carrier_codes_and_reasons(items: list[dict[str, Any]]) -> None:
    bad = [it for it in items if it["status"] in ("Failed", "Undeliverable", "Blocked")]
    assert bad
    for it in bad:
        assert re.match(r"^\d{5}$", it["errorCode"])
        assert it["statusReason"]
        assert it["billableAmount"] is None
        assert it["billingStatus"] == "NotBilled"
    blocked = [it for it in bad if it["status"] == "Blocked"]
    assert all(it["complianceAction"] and it["blockedAt"] for it in blocked)
    assert {it["errorCode"] for it in bad} >= {"40300"} or len({it["errorCode"] for it in bad}) > 3


def test_retries(items: list[dict[str, Any]]) -> None:
    retried = [it for it in items if it["retryCount"] > 0]
    assert retried
    assert any(it["status"] == "Delivered" for it in retried)
    assert any(it["status"] == "Failed" for it in retried)
    assert all(0 <= it["retryCount"] <= 3 for it in items)
    # a retry still pending is one whose time has not come: in a still world, the past
    # retries were all made (tests/emulator/test_emulator_clock.py has the pending ones)
    now = NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert all(it["nextRetryAt"] > now for it in items if it["nextRetryAt"])


def test_scheduled_sends(items: list[dict[str, Any]]) -> None:
    reasons = Counter(it["scheduledReason"] for it in items if it["scheduledFor"])
    assert reasons["QuietHours"] > 0
    assert len(reasons) >= 3
    # a quiet-hours send goes out after the wait
    quiet = [it for it in items if it["scheduledReason"] == "QuietHours" and it["queuedAt"]]
    assert quiet
    assert all(it["queuedAt"] >= it["scheduledFor"] for it in quiet)


def test_billing_amounts(items: list[dict[str, Any]]) -> None:
    for it in items:
        amount = it["billableAmount"]
        if amount is not None:
            d = Decimal(str(amount))
            assert d == d.quantize(Decimal("0.0001"))
            assert d > 0
            assert it["billingStatus"] == "Billed"
        if it["status"] in ("Failed", "Undeliverable", "Blocked", "Canceled", "Scheduled"):
            assert amount is None
        if it["trafficType"] == "Warmup":
            assert amount is None
            assert it["billingStatus"] != "Billed"
    delivered = [
        it for it in items if it["status"] == "Delivered" and it["trafficType"] == "RealLead"
    ]
    assert all(it["billableAmount"] for it in delivered)
    assert len({it["billableAmount"] for it in delivered}) > 3


def test_seed_amounts_are_four_decimal_strings(seed_items: list[dict[str, Any]]) -> None:
    amounts = [it["billableAmount"] for it in seed_items if it["billableAmount"] is not None]
    assert amounts
    assert all(re.match(r"^\d+\.\d{4}$", a) for a in amounts)


def test_warmup_traffic(items: list[dict[str, Any]], seed_items: list[dict[str, Any]]) -> None:
    warm = [it for it in items if it["timelineType"] == "Warmup"]
    assert warm
    assert all(it["trafficType"] == "Warmup" for it in warm)
    assert all(it["campaignId"] is None for it in warm)
    seed_warm = [it for it in seed_items if it["isWarmup"]]
    assert {it["id"] for it in seed_warm} == {it["id"] for it in warm}
    assert all(it["billableAmount"] is None for it in seed_warm)


def test_pools(items: list[dict[str, Any]], seed_items: list[dict[str, Any]]) -> None:
    campaigns = {it["campaignId"] for it in items} - {None}
    sources = {it["sourceId"] for it in items} - {None}
    numbers = {it["fromPhoneNumberId"] for it in items} - {None}
    ten_dlc = {it["tenDlcCampaignId"] for it in seed_items} - {None}
    assert 3 <= len(campaigns) <= 8
    assert 3 <= len(sources) <= 6
    assert 5 <= len(numbers) <= 60
    assert 1 <= len(ten_dlc) <= 3
    reasons = Counter(it.get("selectionReason") for it in items if it["direction"] == "Outbound")
    assert reasons["StickyConversation"] > reasons["FallbackDefault"] > 0
    overridden = [it for it in items if it["wasManuallyOverridden"]]
    assert overridden
    assert all(it["selectionReason"] == "ManualOverride" for it in overridden)


def test_daily_and_weekly_rhythm(items: list[dict[str, Any]]) -> None:
    stamps = [datetime.fromisoformat(it["createdAt"]) for it in items]
    by_hour = Counter(s.hour for s in stamps)
    # US business hours are ~13:00-04:00 UTC; 07:00-11:00 UTC is the middle of the US night
    night = sum(by_hour[h] for h in range(7, 11))
    day = sum(by_hour[h] for h in range(16, 20))
    assert night * 3 < day
    weekend = sum(s.weekday() >= 5 for s in stamps)
    assert weekend < 0.8 * (2 / 7) * len(stamps)


def test_demo_leads_and_media(emu: Emulator, items: list[dict[str, Any]]) -> None:
    demo = [
        lead["id"]
        for lead in Emulator(seed=7, n_leads=200, heavy_leads=0).leads()
        if lead["isDemo"]
    ]
    assert demo
    mms = [it for it in items if it["media"]]
    assert mms
    for it in mms:
        assert it["timelineType"] == "Mms"
        m = it["media"][0]
        assert m["url"].startswith("https://")
        assert m["contentType"] == "image/jpeg"
        assert m["size"] > 0
        assert re.match(r"^[0-9a-f]{64}$", m["sha256"])


def test_ground_truth_values_are_canonical(emu: Emulator) -> None:
    lead = emu.lead_ids()[3]
    values = emu.ground_truth_values(lead)
    items = emu.ground_truth(lead)
    assert len(values) == len(items)
    assert set(values[0]) == set(EVENT_SCHEMA.names())
    for v, it in zip(values, items, strict=True):
        assert v["id"] == it["id"]
        assert isinstance(v["created_at"], datetime)
        assert v["created_at"].tzinfo is not None
        assert v["created_at"].utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert (
            v["created_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
            == it["createdAt"]
        )
        assert isinstance(v["retry_count"], int)
        assert v["is_warmup"] is (it["trafficType"] == "Warmup")
        assert v["telnyx_id"] is None  # not carried by the current era
        if it["billableAmount"] is None:
            assert v["billable_amount"] is None
        else:
            assert isinstance(v["billable_amount"], Decimal)
            assert v["billable_amount"].as_tuple().exponent == -4
            assert v["billable_amount"] == Decimal(str(it["billableAmount"]))


def test_ground_truth_values_truncate_seven_digits_to_microseconds() -> None:
    e = Emulator(seed=2, n_leads=2, heavy_leads=0, fraction_digits=7)
    for v, it in zip(e.ground_truth_values("lead_0001"), e.ground_truth("lead_0001"), strict=True):
        text = it["createdAt"]
        assert v["created_at"].microsecond == int(text[20:26])


def test_lazy_generation_and_bounded_cache() -> None:
    big = Emulator(seed=1, n_leads=20_000)
    assert big.total_events() > 500_000
    assert big._world._cached_events == 0  # nothing generated yet
    small_cache = Emulator(seed=9, n_leads=30, heavy_leads=0, cache_events=200)
    first = small_cache.ground_truth("lead_0001")
    for lead in small_cache.lead_ids():
        small_cache.ground_truth(lead)
    assert small_cache._world._cached_events <= 200 + 400
    assert small_cache.ground_truth("lead_0001") == first  # regenerated identically


def test_generate_events_and_events_frame() -> None:
    rows = list(generate_events(5, 3000))
    again = list(generate_events(5, 3000))
    assert rows == again
    assert len(rows) == 3000
    assert set(rows[0]) == set(EVENT_SCHEMA.names())
    df = events_frame(5, 3000, chunk=1000)
    assert df.schema == EVENT_SCHEMA
    assert df.height == 3000
    assert df["id"].to_list() == [r["id"] for r in rows]
    assert df["billable_amount"].to_list() == [r["billable_amount"] for r in rows]
    assert df["created_at"].to_list() == [r["created_at"] for r in rows]
    assert df["media"].list.len().to_list() == [len(r["media"]) for r in rows]
    assert df.filter(pl.col("traffic_type") == "Warmup")["is_warmup"].all()
    assert df["telnyx_id"].null_count() == 3000
    seed = events_frame(5, 500, era="seed")
    assert seed["telnyx_id"].null_count() < 500
    assert seed["timeline_type"].null_count() == 500
    assert events_frame(5, 0).height == 0


@pytest.mark.parametrize(
    "module", ["_engine", "_faults", "_handler", "_ratelimit", "_render", "_stream", "_tokens"]
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"leadping_nb.emulator.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_custom_now_moves_the_data_end() -> None:
    naive = Emulator(seed=1, n_leads=4, heavy_leads=0, now=datetime(2025, 1, 1))
    aware = Emulator(seed=1, n_leads=4, heavy_leads=0, now=datetime(2025, 1, 1, tzinfo=UTC))
    default = Emulator(seed=1, n_leads=4, heavy_leads=0)
    for lead in naive.lead_ids():
        gt = naive.ground_truth(lead)
        assert gt == aware.ground_truth(lead)
        assert max(it["createdAt"] for it in gt) < "2025-01-01T00:00:00.000Z"
    assert max(it["createdAt"] for it in default.ground_truth("lead_0001")) > "2026-"
