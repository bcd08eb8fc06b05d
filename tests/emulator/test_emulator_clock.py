"""The emulator's moving clock and its account-wide endpoints.

The clock: ``advance()`` observes the same world later (same event ids, in-flight
messages progressing, new events and new leads), deterministically; ``clock_speed`` moves
it with a clock. The account routes ``POST /events/organizations/{id}`` and
``POST /events/all/my`` serve every lead's events in a ``[startAt, endAt)`` window with the
lead route's body semantics, tokens and faults; pages validate against the OpenAPI document.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from emulator_helpers import AUTH
from test_emulator_eras import _validator

from leadping_nb._http.wire import WireRequest
from leadping_nb.emulator import Emulator, FaultConfig
from leadping_nb.emulator._catalog import S_NEXT_RETRY

ORG = "org_7f3c2a"
FINAL = {"Delivered", "Undeliverable", "Blocked", "Canceled", "Received", "Completed", "Missed"}
TS = (
    "queuedAt",
    "sendingStartedAt",
    "sentAt",
    "deliveredAt",
    "failedAt",
    "undeliverableAt",
    "blockedAt",
    "canceledAt",
    "receivedAt",
    "createdAt",
)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _world(emu: Emulator) -> dict[str, dict[str, Any]]:
    return {it["id"]: it for lead in emu.lead_ids() for it in emu.ground_truth(lead)}


def _account(
    emu: Emulator, path: str, query: str, body: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    items: list[dict[str, Any]] = []
    envelopes: list[dict[str, Any]] = []
    token = None
    while True:
        b = dict(body or {"pageSize": 700})
        if token:
            b["continuationToken"] = token
        r = emu.handle(WireRequest("POST", path, AUTH, json.dumps(b).encode(), query))
        assert r.status == 200, r.body
        env = json.loads(r.body)
        envelopes.append(env)
        items += env["items"]
        token = env["continuationToken"]
        if not token:
            return items, envelopes


@pytest.fixture(scope="module")
def moved() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], Emulator]:
    emu = Emulator(seed=5, n_leads=120, heavy_leads=2)
    before = _world(emu)
    emu.advance(timedelta(days=3))
    return before, _world(emu), emu


def test_advance_keeps_every_event_and_only_moves_forward(
    moved: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], Emulator],
) -> None:
    before, after, emu = moved
    assert set(before) < set(after)  # nothing disappears, new events arrive
    now = _iso(emu.now)
    changed = 0
    for event_id, old in before.items():
        new = after[event_id]
        assert new["createdAt"] == old["createdAt"]
        assert new["leadId"] == old["leadId"]
        if old["status"] in FINAL:
            assert new == old, event_id  # a final event never changes
        if new != old:
            changed += 1
            assert new["retryCount"] >= old["retryCount"]
        for k in TS:
            assert new[k] is None or new[k] <= now, (k, new)
    assert changed > 0
    with pytest.raises(ValueError, match="forward"):
        emu.advance(timedelta(seconds=-1))
    with pytest.raises(TypeError, match="timedelta"):
        emu.advance(3600)  # type: ignore[arg-type]


def test_in_flight_messages_progress_as_real_traffic(
    moved: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], Emulator],
) -> None:
    before, after, emu = moved
    start = _iso(emu.start)
    moves = Counter(
        (old["status"], after[i]["status"]) for i, old in before.items() if after[i] != old
    )
    # scheduled sends went out, pending charges were billed, receipts arrived
    assert any(a == "Scheduled" and b != "Scheduled" for a, b in moves), moves
    billed = [
        i
        for i, old in before.items()
        if old["billingStatus"] == "Pending" and after[i]["billingStatus"] == "Billed"
    ]
    assert billed
    # a failure whose retry was due after the start was retried at its nextRetryAt (rare
    # in 120 leads: test_pending_retries_exist_and_are_carried_out has them for sure)
    due = [old for old in before.values() if old["nextRetryAt"] and old["nextRetryAt"] > start]
    for old in due:
        new = after[old["id"]]
        assert new["retryCount"] == old["retryCount"] + 1 or new["nextRetryAt"] is None
        assert new["sendingStartedAt"] >= old["nextRetryAt"][:19]
    # new events: existing leads got some, and new leads arrived with their own history
    new_ids = set(after) - set(before)
    new_leads = set(emu.lead_ids()) - {it["leadId"] for it in before.values()}
    assert new_leads
    assert {after[i]["leadId"] for i in new_ids} & {it["leadId"] for it in before.values()}
    for lead in new_leads:
        truth = emu.ground_truth(lead)
        assert truth[0]["timelineType"] == "LeadCreated"
        assert all(it["createdAt"] > start for it in truth)
    assert {r["id"] for r in emu.leads()} == set(emu.lead_ids())


def test_the_same_world_in_one_step_or_many() -> None:
    one = Emulator(seed=8, n_leads=40, heavy_leads=1)
    many = Emulator(seed=8, n_leads=40, heavy_leads=1)
    one.advance(timedelta(days=2, hours=5))
    for step in (timedelta(hours=7), timedelta(days=1), timedelta(minutes=1), timedelta(0)):
        many.advance(step)
        _world(many)  # observe on the way
    many.advance(timedelta(days=2, hours=5) - timedelta(hours=7, days=1, minutes=1))
    assert one.now == many.now
    assert one.lead_ids() == many.lead_ids()
    assert _world(one) == _world(many)
    assert one.total_events() == many.total_events()


def test_pending_retries_exist_and_are_carried_out() -> None:
    emu = Emulator(seed=2, n_leads=300, heavy_leads=3)
    emu.advance(timedelta(days=2))
    # find a failure whose retry is pending (they are short-lived: minutes), white-box
    w = emu._world
    lives = [w._life(i) for i in w.lead_indices()] + list(w._future.values())
    failed_at = min(
        t
        for life in lives
        for states in life.live.values()
        for t, row in states
        if row[S_NEXT_RETRY] is not None and t > w.start
    )
    fresh = Emulator(seed=2, n_leads=300, heavy_leads=3)
    fresh.advance(timedelta(microseconds=-(-(failed_at - w.start) // 10)))
    pending = [it for it in _world(fresh).values() if it["nextRetryAt"]]
    now = _iso(fresh.now)
    assert pending and all(it["status"] == "Failed" for it in pending)
    assert all(it["nextRetryAt"] > now for it in pending)
    assert any(it["trafficType"] == "FailedAttempt" for it in pending)
    fresh.advance(timedelta(hours=2))  # past every retry of the chain (backoff <= 16 min)
    later = _world(fresh)
    for it in pending:
        assert later[it["id"]]["retryCount"] > it["retryCount"]
        assert later[it["id"]]["nextRetryAt"] is None


def test_clock_speed_moves_the_world_with_the_clock() -> None:
    t = [100.0]
    emu = Emulator(seed=1, n_leads=10, heavy_leads=0, clock=lambda: t[0], clock_speed=60.0)
    start = emu.now
    t[0] += 10.0  # ten clock seconds: ten world minutes
    assert emu.now - start == timedelta(minutes=10)
    emu.advance(timedelta(hours=1))
    assert emu.now - start == timedelta(minutes=70)
    with pytest.raises(ValueError, match="clock_speed"):
        Emulator(clock_speed=-1)


@pytest.fixture(scope="module")
def account() -> Emulator:
    return Emulator(seed=4, n_leads=150, heavy_leads=2, rate_limit=None)


def test_organization_window_is_every_leads_events_in_it(account: Emulator) -> None:
    lo, hi = "2026-10-05T00:00:00.000Z", "2026-10-20T00:00:00.000Z"
    items, envelopes = _account(account, f"/events/organizations/{ORG}", f"startAt={lo}&endAt={hi}")
    truth = [it for it in _world(account).values() if lo <= it["createdAt"] < hi]
    assert len(items) == len(truth) > 1000
    assert sorted(items, key=lambda i: i["id"]) == sorted(truth, key=lambda i: i["id"])
    # default order: createdAt, then id
    assert [(i["createdAt"], i["id"]) for i in items] == sorted(
        (i["createdAt"], i["id"]) for i in items
    )
    validator = _validator("PagedResultOfEventTableRow")
    for env in envelopes:
        assert not list(validator.iter_errors(env))
    assert {it["leadId"] for it in items} <= set(account.lead_ids())
    assert all(r["organization"]["id"] == ORG for r in account.leads())


def test_window_bounds_are_half_open_and_all_my_filters_category(account: Emulator) -> None:
    world = _world(account)
    instant = sorted(world.values(), key=lambda i: i["createdAt"])[2000]["createdAt"]
    at, _ = _account(account, f"/events/organizations/{ORG}", f"startAt={instant}")
    before, _ = _account(account, f"/events/organizations/{ORG}", f"endAt={instant}")
    assert {i["id"] for i in at}.isdisjoint({i["id"] for i in before})
    assert len(at) + len(before) == len(world)
    assert min(i["createdAt"] for i in at) == instant
    mine, _ = _account(account, "/events/all/my", "category=Messaging&startAt=2026-10-01")
    assert mine and all(i["eventCategory"] == "Messaging" for i in mine)
    assert len(mine) == sum(
        1
        for i in world.values()
        if i["eventCategory"] == "Messaging" and i["createdAt"] >= "2026-10-01"
    )
    filtered, _ = _account(
        account,
        "/events/all/my",
        "",
        {"pageSize": 1000, "filters": [{"field": "status", "value": "Failed"}]},
    )
    assert filtered and all(i["status"] == "Failed" for i in filtered)


def test_account_routes_refuse_bad_input_and_foreign_tokens(account: Emulator) -> None:
    def call(path: str, query: str, body: dict[str, Any]) -> tuple[int, Any]:
        r = account.handle(WireRequest("POST", path, AUTH, json.dumps(body).encode(), query))
        return r.status, json.loads(r.body)

    status, problem = call("/events/organizations/org_other", "", {})
    assert status == 403 and problem["status"] == 403
    status, problem = call("/events/all/my", "startAt=yesterday", {})
    assert status == 400 and "startAt" in problem["errors"]
    status, page = call(f"/events/organizations/{ORG}", "startAt=2026-10-01", {"pageSize": 5})
    token = page["continuationToken"]
    status, problem = call(
        f"/events/organizations/{ORG}", "startAt=2026-10-02", {"continuationToken": token}
    )
    assert status == 400 and "continuationToken" in problem["errors"]
    status, problem = call("/events/leads/lead_0001", "", {"continuationToken": token})
    assert status == 400
    status, _ = call(
        f"/events/organizations/{ORG}",
        "startAt=2026-10-01",
        {"pageSize": 5, "continuationToken": token},
    )
    assert status == 200


def test_paging_a_window_while_the_clock_moves_loses_and_doubles_nothing() -> None:
    emu = Emulator(seed=6, n_leads=80, heavy_leads=1, rate_limit=None)
    start = _iso(emu.now)
    existing = {i for i, it in _world(emu).items() if it["createdAt"] >= "2026-10-25"}
    items: list[dict[str, Any]] = []
    token = None
    while True:
        body: dict[str, Any] = {"pageSize": 300}
        if token:
            body["continuationToken"] = token
        r = emu.handle(
            WireRequest(
                "POST",
                f"/events/organizations/{ORG}",
                AUTH,
                json.dumps(body).encode(),
                "startAt=2026-10-25",
            )
        )
        env = json.loads(r.body)
        items += env["items"]
        token = env["continuationToken"]
        emu.advance(timedelta(hours=6))  # events arrive between pages
        if not token:
            break
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids))
    assert existing <= set(ids)
    assert any(i["createdAt"] > start for i in items)  # arrivals come at the end


def test_account_routes_share_the_rate_limit_and_faults() -> None:
    emu = Emulator(
        seed=1,
        n_leads=5,
        heavy_leads=0,
        rate_limit=(3, 60.0),
        clock=lambda: 0.0,
        faults=FaultConfig(seed=1, rate_5xx=1.0),
    )
    statuses = [
        emu.handle(WireRequest("POST", path, AUTH, b"{}")).status
        for path in (f"/events/organizations/{ORG}", "/events/all/my", "/events/leads/lead_0001")
    ]
    assert all(500 <= s < 600 for s in statuses)
    assert emu.handle(WireRequest("POST", "/events/all/my", AUTH, b"{}")).status == 429
