"""Realism of what engagement reports show on emulator data: opt-outs and speed to lead.

An opt-out is a lead-level state (a lead that replies STOP is opted out from then on, and
only such a lead ever gets an opt-out suppression or an opt-out cancel); a small share of
leads opt out; the first message after a lead's creation takes seconds for most leads and
minutes to hours for some (docs/emulator.md, "Opt-outs and speed to lead").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest

from leadping_nb.emulator import Emulator, events_frame
from leadping_nb.metrics import opt_out_summary, speed_to_lead_summary


def _by_lead(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["lead_id"]].append(r)
    return out


def _check_opt_out_invariants(rows: list[dict[str, Any]]) -> int:
    """Assert the opt-out invariants on one lead's events; return 1 if it opted out."""
    stops = [r["created_at"] for r in rows if r["compliance_action"] == "OptOutRecorded"]
    assert len(stops) <= 1, "a lead replies STOP at most once"
    assert all(
        r["summary"] == "STOP" and r["direction"] == "Inbound"
        for r in rows
        if r["compliance_action"] == "OptOutRecorded"
    )
    assert all(
        r["compliance_action"] == "OptOutRecorded"
        for r in rows
        if r["direction"] == "Inbound" and r["summary"] == "STOP"
    ), "every STOP is recorded"
    stop: datetime | None = stops[0] if stops else None
    for r in rows:
        if r["compliance_action"] == "OptOutSuppressed":
            assert stop is not None and r["blocked_at"] >= stop, r
            assert r["status"] == "Blocked" and r["error_code"] == "40300"
        if r["cancel_reason"] == "LeadOptedOut":
            assert stop is not None and r["canceled_at"] > stop, r
        if stop is None or r["direction"] != "Outbound" or r["is_warmup"]:
            continue
        if r["event_type"] not in ("Sms", "Mms"):
            continue
        # nothing is sent to the lead after its STOP ...
        assert r["sent_at"] is None or r["sent_at"] < stop, r
        assert r["delivered_at"] is None or r["sent_at"] < stop, r
        # ... and what it is sent from then on is suppressed (or canceled, if scheduled)
        if r["created_at"] > stop:
            assert r["status"] in ("Blocked", "Canceled", "Scheduled", "Queued"), r
            assert r["delivered_at"] is None and r["sent_at"] is None
    return 1 if stop is not None else 0


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return events_frame(0, 200_000)


def test_opt_out_invariants_on_the_event_stream(frame: pl.DataFrame) -> None:
    leads = _by_lead(frame.to_dicts())
    opted = sum(_check_opt_out_invariants(rows) for rows in leads.values())
    assert 0.01 * len(leads) <= opted <= 0.05 * len(leads)
    assert frame.filter(pl.col("compliance_action") == "OptOutSuppressed").height > 0


def test_opt_out_invariants_in_a_moving_world() -> None:
    emu = Emulator(seed=3, n_leads=400, heavy_leads=4)
    emu.advance(timedelta(days=3, hours=4))  # existing leads go on, new leads arrive
    opted: list[str] = []
    for lead in emu.lead_ids():
        rows = emu.ground_truth_values(lead)
        if _check_opt_out_invariants(rows):
            opted.append(lead)
    assert 4 <= len(opted) <= 20
    # a lead that opted out stays quiet: appended outbound messages are suppressed
    new = emu.add_events(opted[0], 20)
    assert any(it["direction"] == "Outbound" for it in new)
    assert all(
        it["status"] == "Blocked" and it["complianceAction"] == "OptOutSuppressed"
        for it in new
        if it["direction"] == "Outbound"
    )
    assert not any(it["summary"] == "STOP" for it in new)
    _check_opt_out_invariants(emu.ground_truth_values(opted[0]))


def test_opt_out_rate_is_low_single_digits(frame: pl.DataFrame) -> None:
    overall = opt_out_summary(frame).row(0, named=True)
    assert overall["n_used"] > 1000
    assert 0.01 <= overall["opt_out_rate"] <= 0.04  # was ~0.44 before opt-outs were a state
    per_campaign = opt_out_summary(frame, by="campaign_id").drop_nulls("campaign_id")
    assert per_campaign.height == 8
    assert per_campaign["opt_out_rate"].max() <= 0.08  # type: ignore[operator]


def test_speed_to_lead_has_a_realistic_spread(frame: pl.DataFrame) -> None:
    def share(seconds: int) -> float:
        s = speed_to_lead_summary(frame, within=timedelta(seconds=seconds))
        value = s["share_within"][0]
        assert isinstance(value, float)
        return value

    summary = speed_to_lead_summary(frame).row(0, named=True)
    assert summary["n_used"] > 1000 and summary["n_negative"] == 0
    assert 0.5 <= share(60) <= 0.7  # most leads: the automated reply within a minute
    assert 0.6 <= share(300) <= 0.85  # was 1.0: everyone within 5 minutes
    assert share(3600) <= 0.9  # a share waits hours (sending window, agents, imports)
    assert share(25 * 3600) == 1.0
    assert summary["p50_ms"] < 120_000
    assert summary["p90_ms"] > 3600_000
