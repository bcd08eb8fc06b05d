"""Schema eras and rendering options: seed (41 fields, numbers as strings) and current
(validated against the production OpenAPI document with jsonschema)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from emulator_helpers import page_all, post, post_json
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from leadping_nb._core.schema import EVENT_FIELDS, SEED_ITEM_FIELDS
from leadping_nb.emulator import Emulator

# A copy of the events part of Leadping's production OpenAPI document (as copied on
# 2026-08-18), kept with the tests so they do not depend on a folder outside the repository.
OPENAPI = Path(__file__).resolve().parent / "data" / "leadping-events-openapi.json"
INT_RE = re.compile(r"^-?(?:0|[1-9]\d*)$")
MONEY4_RE = re.compile(r"^\d+\.\d{4}$")
CURRENT_FIELDS = [f.api for f in EVENT_FIELDS if "current" in f.eras]
REMOVED = {"isWarmup", "telnyxId", "providerMessageId", "tenDlcCampaignId"}


def _validator(component: str) -> Draft202012Validator:
    doc = json.loads(OPENAPI.read_text())
    registry: Registry[Any] = Registry().with_resource(
        "urn:leadping-openapi", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"urn:leadping-openapi#/components/schemas/{component}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _all_items(emu: Emulator) -> list[dict[str, Any]]:
    return [it for lead in emu.lead_ids() for it in emu.ground_truth(lead)]


@pytest.fixture(scope="module")
def current() -> Emulator:
    return Emulator(seed=21, n_leads=10, heavy_leads=1, rate_limit=None)


@pytest.fixture(scope="module")
def seed_era() -> Emulator:
    return Emulator(seed=21, n_leads=10, heavy_leads=1, rate_limit=None, era="seed")


def test_openapi_reference_is_present() -> None:
    assert OPENAPI.is_file(), f"missing {OPENAPI}"


def test_current_pages_validate_against_openapi(current: Emulator) -> None:
    validator = _validator("PagedResultOfEventTableRow")
    checked = 0
    for lead in current.lead_ids():
        _, envelopes = page_all(current, lead, {"pageSize": 400, "includeCount": True})
        for env in envelopes:
            errors = sorted(validator.iter_errors(env), key=str)
            assert not errors, errors[:3]
            checked += len(env["items"])
    assert checked == current.total_events()


def test_validator_catches_a_wrong_item() -> None:
    validator = _validator("PagedResultOfEventTableRow")
    bad = {"items": [{"id": "x", "retryCount": "2", "createdAt": "not a date"}], "pageSize": 1}
    assert list(validator.iter_errors(bad))


def test_current_items_have_todays_fields_and_json_numbers(current: Emulator) -> None:
    items = _all_items(current)
    for it in items:
        # a null selectionReason is left out (the schema's enum has no null)
        assert list(it) == [f for f in CURRENT_FIELDS if f in it]
        assert set(CURRENT_FIELDS) - set(it) <= {"selectionReason"}
        assert it.get("selectionReason", "x") is not None
        assert it["status"] is not None
        assert it["trafficType"] is not None
        assert not REMOVED & set(it)
        assert isinstance(it["retryCount"], int)
        assert it["billableAmount"] is None or isinstance(it["billableAmount"], float)
        assert isinstance(it["media"], list)
    assert any("selectionReason" not in it for it in items)
    mms = [it for it in items if it["media"]]
    assert mms
    assert all(isinstance(m["size"], int) for it in mms for m in it["media"])
    _status, env = post_json(
        current, f"/events/leads/{current.lead_ids()[0]}", {"includeCount": True}
    )
    assert isinstance(env["pageSize"], int)
    assert isinstance(env["totalCount"], int)


def test_problem_bodies_validate_against_openapi(current: Emulator) -> None:
    validator = _validator("ProblemDetails")
    for r in (
        post(current, "/events/leads/lead_0001", {"pageSize": 0}),
        post(current, "/events/leads/lead_0001", {}, headers={}),
        post(current, "/events/leads/lead_0001", {"continuationToken": "zz"}),
    ):
        assert r.status in (400, 401)
        body = json.loads(r.body)
        assert not list(validator.iter_errors(body))
        assert isinstance(body["traceId"], str)


def test_seed_items_have_exactly_the_seed_fields(seed_era: Emulator) -> None:
    items = _all_items(seed_era)
    assert items
    for it in items:
        assert tuple(it) == SEED_ITEM_FIELDS
        assert INT_RE.match(it["retryCount"])
        amount = it["billableAmount"]
        assert amount is None or MONEY4_RE.match(amount), amount
        assert isinstance(it["isWarmup"], bool)
        assert isinstance(it["wasManuallyOverridden"], bool)
    assert any(it["telnyxId"] for it in items)
    assert any(it["billableAmount"] for it in items)


def test_seed_envelope_numbers_are_strings(seed_era: Emulator) -> None:
    lead = seed_era.lead_ids()[0]
    status, env = post_json(
        seed_era, f"/events/leads/{lead}", {"pageSize": "5", "includeCount": True}
    )
    assert status == 200
    assert env["pageSize"] == "5"
    assert isinstance(env["totalCount"], str)
    assert INT_RE.match(env["totalCount"])
    assert int(env["totalCount"]) == len(seed_era.ground_truth(lead))
    status, env = post_json(seed_era, f"/events/leads/{lead}", {})
    assert env["totalCount"] is None


def test_eras_render_the_same_events(current: Emulator, seed_era: Emulator) -> None:
    lead = current.lead_ids()[2]
    a, b = current.ground_truth(lead), seed_era.ground_truth(lead)
    assert [x["id"] for x in a] == [x["id"] for x in b]
    for x, y in zip(a, b, strict=True):
        assert x["timelineCategory"] == y["activityCategory"]
        assert (x["trafficType"] == "Warmup") == y["isWarmup"]
        assert str(x["retryCount"]) == y["retryCount"]
        if x["billableAmount"] is None:
            assert y["billableAmount"] is None
        else:
            assert f"{x['billableAmount']:.4f}" == y["billableAmount"]


@pytest.mark.parametrize(("era", "flag"), [("current", True), ("seed", False)])
def test_numbers_as_strings_can_be_switched(era: str, flag: bool) -> None:
    emu = Emulator(seed=4, n_leads=3, heavy_leads=0, era=era, numbers_as_strings=flag)  # type: ignore[arg-type]
    items = _all_items(emu)
    want = str if flag else int
    assert all(isinstance(it["retryCount"], want) for it in items)
    amounts = [it["billableAmount"] for it in items if it["billableAmount"] is not None]
    assert amounts
    assert all(isinstance(a, str if flag else float) for a in amounts)
    _, env = post_json(emu, "/events/leads/lead_0001", {"includeCount": True})
    assert isinstance(env["pageSize"], want)
    assert isinstance(env["totalCount"], want)


@pytest.mark.parametrize(
    ("digits", "pattern"),
    [
        (0, r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"),
        (3, r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"),
        (7, r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$"),
    ],
)
def test_fraction_digits(digits: int, pattern: str) -> None:
    emu = Emulator(seed=4, n_leads=4, heavy_leads=0, fraction_digits=digits)  # type: ignore[arg-type]
    rx = re.compile(pattern)
    stamps = [
        v
        for it in _all_items(emu)
        for k, v in it.items()
        if k.endswith(("At", "For")) and v is not None
    ]
    assert len(stamps) > 100
    assert all(rx.match(s) for s in stamps)
    if digits == 7:
        # sub-microsecond digits really occur (a client must truncate, not round)
        assert any(s[-2] != "0" for s in stamps)
    # the same instants, at lower precision (data are stored at the served precision)
    ref = Emulator(seed=4, n_leads=4, heavy_leads=0, fraction_digits=7)
    a = [it["createdAt"] for it in _all_items(emu)]
    b = [it["createdAt"] for it in _all_items(ref)]
    assert [x[:19] for x in a] == [x[:19] for x in b] or digits == 7


def test_extra_fields_are_added_and_kept_out_of_canonical_values() -> None:
    emu = Emulator(seed=4, n_leads=3, heavy_leads=0, extra_fields=True)
    plain = Emulator(seed=4, n_leads=3, heavy_leads=0)
    items = _all_items(emu)
    assert all(list(it)[-2:] == ["segmentCount", "carrierName"] for it in items)
    assert any(it["segmentCount"] for it in items)
    assert any(it["carrierName"] for it in items)
    for it, ref in zip(items, _all_items(plain), strict=True):
        assert {k: v for k, v in it.items() if k not in ("segmentCount", "carrierName")} == ref
    values = emu.ground_truth_values("lead_0001")
    assert "segment_count" not in values[0]
    # and the page items carry them too
    _, env = post_json(emu, "/events/leads/lead_0001", {"pageSize": 3})
    assert env["items"] == emu.ground_truth("lead_0001")[:3]
    seed = Emulator(seed=4, n_leads=2, heavy_leads=0, era="seed", extra_fields=True)
    assert tuple(seed.ground_truth("lead_0001")[0])[:41] == SEED_ITEM_FIELDS
