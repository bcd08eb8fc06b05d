"""Request semantics of POST /events/leads/{leadId} against a brute-force reference."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from emulator_helpers import (
    AUTH,
    kind_of,
    page_all,
    parse_value,
    post,
    post_json,
    reference,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadping_nb._http.wire import WireRequest
from leadping_nb.emulator import EMULATOR_API_KEY, Emulator
from leadping_nb.emulator._render import era_fields

EMUS = {
    "current": Emulator(seed=11, n_leads=12, heavy_leads=1, rate_limit=None),
    "seed": Emulator(seed=11, n_leads=12, heavy_leads=1, rate_limit=None, era="seed"),
    "current7": Emulator(seed=5, n_leads=6, heavy_leads=0, rate_limit=None, fraction_digits=7),
    "seed0": Emulator(
        seed=5, n_leads=6, heavy_leads=0, rate_limit=None, era="seed", fraction_digits=0
    ),
}


def _names(emu: Emulator) -> list[tuple[str, str]]:
    era = emu.era
    return [(n, k) for n, _, k in era_fields(era) if k != "media"]


def _light_leads(emu: Emulator) -> list[str]:
    return [lid for lid in emu.lead_ids() if len(emu.ground_truth(lid)) < 300]


@st.composite
def queries(draw: st.DrawFn, emu: Emulator, lead: str) -> dict[str, Any]:
    items = emu.ground_truth(lead)
    names = _names(emu)
    sortable = [n for n, k in names]
    comparable = [n for n, k in names if k != "boolean"]
    strings = [n for n, k in names if k in ("string", "enum")]
    body: dict[str, Any] = {}

    def sample_value(name: str) -> Any:
        vals = [it.get(name) for it in items]
        return draw(st.sampled_from(vals)) if vals else None

    if draw(st.booleans()):
        order = []
        for name in draw(st.lists(st.sampled_from(sortable), min_size=1, max_size=3, unique=True)):
            d = draw(st.sampled_from([None, "asc", "desc", "ASC", "Desc", "dEsC"]))
            order.append({"field": name} if d is None else {"field": name, "direction": d})
        body["orderBy"] = order
    if draw(st.integers(0, 3)) == 0:
        filters = []
        for name in draw(st.lists(st.sampled_from(sortable), max_size=2)):
            filters.append({"field": name, "value": sample_value(name)})
        body["filters"] = filters
    if draw(st.integers(0, 2)) == 0:
        ranges = []
        for name in draw(st.lists(st.sampled_from(comparable), min_size=1, max_size=2)):
            rf: dict[str, Any] = {"field": name}
            for bound in draw(
                st.lists(
                    st.sampled_from(
                        ["greaterThan", "greaterThanOrEqual", "lessThan", "lessThanOrEqual"]
                    ),
                    min_size=1,
                    max_size=4,
                    unique=True,
                )
            ):
                v = sample_value(name)
                if v is None:
                    continue
                if kind_of(name) in ("money", "integer") and draw(st.booleans()):
                    v = str(v)  # numbers may come as strings
                rf[bound] = v
            ranges.append(rf)
        body["rangeFilters"] = ranges
    if draw(st.integers(0, 3)) == 0:
        fields = draw(st.lists(st.sampled_from(strings), max_size=3, unique=True))
        source = [
            it[f] for it in items for f in (fields or ["description", "summary"]) if it.get(f)
        ]
        if source:
            text = draw(st.sampled_from(source))
            start = draw(st.integers(0, max(0, len(text) - 1)))
            term = text[start : start + draw(st.integers(1, 6))]
            term = draw(st.sampled_from([term, term.upper(), term.lower(), term.swapcase()]))
        else:
            term = draw(st.text(min_size=1, max_size=3))
        body["search"] = term
        if fields:
            body["searchFields"] = fields
    size = draw(st.integers(1, 40))
    body["pageSize"] = draw(st.sampled_from([size, str(size)]))
    if draw(st.booleans()):
        body["includeCount"] = True
    return body


def _check(emu: Emulator, lead: str, body: dict[str, Any]) -> None:
    got, envelopes = page_all(emu, lead, body)
    want = reference(emu.ground_truth(lead), body)
    assert [it["id"] for it in got] == [it["id"] for it in want]
    assert got == want  # same content too
    assert len({it["id"] for it in got}) == len(got)
    size = int(body["pageSize"])
    for env in envelopes:
        assert int(env["pageSize"]) == size
        assert len(env["items"]) <= size
        if body.get("includeCount"):
            assert int(env["totalCount"]) == len(want)
        else:
            assert env["totalCount"] is None
    # every page but the last is full
    assert all(len(env["items"]) == size for env in envelopes[:-1])


@pytest.mark.parametrize("which", sorted(EMUS))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_paging_matches_brute_force_reference(which: str, data: st.DataObject) -> None:
    emu = EMUS[which]
    lead = data.draw(st.sampled_from(_light_leads(emu)))
    body = data.draw(queries(emu, lead))
    _check(emu, lead, body)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_paging_heavy_lead_matches_reference(data: st.DataObject) -> None:
    emu = EMUS["current"]
    heavy = max(emu.lead_ids(), key=lambda lid: len(emu.ground_truth(lid)))
    body = data.draw(queries(emu, heavy))
    body["pageSize"] = data.draw(st.integers(200, 1000))
    _check(emu, heavy, body)


def test_default_order_and_page_size() -> None:
    emu = EMUS["current"]
    lead = _light_leads(emu)[0]
    status, env = post_json(emu, f"/events/leads/{lead}", {})
    assert status == 200
    assert env["pageSize"] == 50
    assert env["totalCount"] is None
    gt = emu.ground_truth(lead)
    assert env["items"] == gt[:50]
    stamps = [(it["createdAt"], it["id"]) for it in gt]
    assert stamps == sorted(stamps)


def test_page_size_is_capped_at_the_maximum() -> None:
    emu = EMUS["current"]
    heavy = max(emu.lead_ids(), key=lambda lid: len(emu.ground_truth(lid)))
    status, env = post_json(emu, f"/events/leads/{heavy}", {"pageSize": 5000})
    assert status == 200
    assert env["pageSize"] == 1000
    assert len(env["items"]) == 1000


def test_snake_case_field_names_are_accepted() -> None:
    emu = EMUS["current"]
    lead = _light_leads(emu)[1]
    camel = {
        "orderBy": [{"field": "billableAmount", "direction": "desc"}],
        "filters": [{"field": "direction", "value": "Outbound"}],
        "rangeFilters": [{"field": "createdAt", "greaterThan": "2020-01-01T00:00:00Z"}],
        "pageSize": 7,
    }
    snake = {
        "orderBy": [{"field": "billable_amount", "direction": "desc"}],
        "filters": [{"field": "direction", "value": "Outbound"}],
        "rangeFilters": [{"field": "created_at", "greaterThan": "2020-01-01T00:00:00Z"}],
        "pageSize": 7,
    }
    a, _ = page_all(emu, lead, camel)
    b, _ = page_all(emu, lead, snake)
    assert a == b
    assert a == reference(emu.ground_truth(lead), camel)
    assert a  # the lead has outbound events


def test_timestamp_bounds_with_offsets_and_fractions() -> None:
    emu = EMUS["current7"]
    lead = emu.lead_ids()[0]
    gt = emu.ground_truth(lead)
    mid = gt[len(gt) // 2]["createdAt"]  # 7 fractional digits
    body = {"rangeFilters": [{"field": "createdAt", "greaterThanOrEqual": mid}], "pageSize": 500}
    got, _ = page_all(emu, lead, body)
    assert got[0]["createdAt"] == mid
    assert got == reference(gt, body)
    # the same instant written with a +02:00 offset selects the same events
    ticks = parse_value("createdAt", mid)
    secs, frac = divmod(ticks, 10_000_000)
    from datetime import UTC, datetime, timedelta, timezone

    local = datetime.fromtimestamp(secs, UTC).astimezone(timezone(timedelta(hours=2)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:07d}+02:00"
    got2, _ = page_all(
        emu,
        lead,
        {"rangeFilters": [{"field": "createdAt", "greaterThanOrEqual": text}], "pageSize": 500},
    )
    assert got2 == got


def test_filter_on_null_and_booleans() -> None:
    emu = EMUS["seed"]
    lead = _light_leads(emu)[0]
    gt = emu.ground_truth(lead)
    for body in (
        {"filters": [{"field": "deliveredAt", "value": None}], "pageSize": 500},
        {"filters": [{"field": "isWarmup", "value": True}], "pageSize": 500},
        {"filters": [{"field": "isWarmup", "value": "false"}], "pageSize": 500},
        {"filters": [{"field": "retryCount", "value": 0}], "pageSize": 500},
        {"filters": [{"field": "retryCount", "value": "0"}], "pageSize": 500},
    ):
        got, _ = page_all(emu, lead, body)
        assert got == reference(gt, body)
    nulls, _ = page_all(emu, lead, {"filters": [{"field": "deliveredAt", "value": None}]})
    assert nulls
    assert all(it["deliveredAt"] is None for it in nulls)


def test_search_is_case_insensitive_substring() -> None:
    emu = EMUS["current"]
    lead = _light_leads(emu)[0]
    gt = emu.ground_truth(lead)
    body = {"search": "oUtBoUnD sMs", "searchFields": ["description"], "pageSize": 500}
    got, _ = page_all(emu, lead, body)
    assert got
    assert all("outbound sms" in it["description"].lower() for it in got)
    assert len(got) == sum("outbound sms" in it["description"].lower() for it in gt)


def test_unknown_lead_answers_an_empty_page() -> None:
    emu = EMUS["current"]
    status, env = post_json(emu, "/events/leads/lead_9999", {"includeCount": True})
    assert status == 200
    assert env == {"items": [], "pageSize": 50, "totalCount": 0, "continuationToken": None}
    assert emu.ground_truth("lead_9999") == []
    # validation still applies
    status, env = post_json(emu, "/events/leads/lead_9999", {"pageSize": -1})
    assert status == 400


# ---- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": -3}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"pageSize": 2.5}, "pageSize"),
        ({"pageSize": True}, "pageSize"),
        ({"pageSize": "07"}, "pageSize"),
        ({"pageSize": 2**31}, "pageSize"),
        ({"nope": 1}, "nope"),
        ({"includeCount": "yes"}, "includeCount"),
        ({"search": 5}, "search"),
        ({"continuationToken": 5}, "continuationToken"),
        ({"orderBy": {"field": "createdAt"}}, "orderBy"),
        ({"orderBy": [{"field": "x"}]}, "orderBy[0].field"),
        ({"orderBy": [{"field": "media"}]}, "orderBy[0].field"),
        ({"orderBy": [{"field": "createdAt", "direction": "up"}]}, "orderBy[0].direction"),
        ({"orderBy": [{"field": "createdAt", "dir": "asc"}]}, "orderBy[0].dir"),
        ({"orderBy": [{}]}, "orderBy[0].field"),
        ({"filters": [{"field": "x", "value": 1}]}, "filters[0].field"),
        ({"filters": [{"field": "retryCount", "value": "two"}]}, "filters[0].value"),
        ({"filters": [{"field": "eventType", "value": 3}]}, "filters[0].value"),
        ({"filters": [{"field": "createdAt", "value": "yesterday"}]}, "filters[0].value"),
        ({"filters": [{"field": "isDemo", "value": "maybe"}]}, "filters[0].value"),
        ({"filters": [{"field": "eventType"}]}, "filters[0].value"),
        ({"filters": ["eventType"]}, "filters[0]"),
        ({"rangeFilters": [{"field": "createdAt", "lessThan": 5}]}, "rangeFilters[0].lessThan"),
        ({"rangeFilters": [{"field": "isDemo", "lessThan": True}]}, "rangeFilters[0].field"),
        ({"rangeFilters": [{"field": "retryCount", "above": 1}]}, "rangeFilters[0].above"),
        ({"rangeFilters": [{"field": "billableAmount", "gte": 1}]}, "rangeFilters[0].gte"),
        ({"searchFields": ["retryCount"], "search": "x"}, "searchFields[0]"),
        ({"searchFields": ["nope"], "search": "x"}, "searchFields[0]"),
        ({"filters": [{"field": "isWarmup", "value": True}]}, "filters[0].field"),  # seed-only
    ],
)
def test_validation_errors_are_problem_json_keyed_by_field(body: dict[str, Any], path: str) -> None:
    emu = EMUS["current"]
    r = post(emu, "/events/leads/lead_0001", body)
    assert r.status == 400
    headers = dict(r.headers)
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(r.body)
    assert problem["status"] == 400
    assert problem["title"]
    assert problem["type"].startswith("https://")
    assert path in problem["errors"], problem
    assert all(isinstance(m, str) for m in problem["errors"][path])


def test_several_errors_are_reported_at_once() -> None:
    emu = EMUS["current"]
    r = post(
        emu,
        "/events/leads/lead_0001",
        {"pageSize": 0, "bogus": 1, "filters": [{"field": "x", "value": 1}]},
    )
    problem = json.loads(r.body)
    assert set(problem["errors"]) == {"pageSize", "bogus", "filters[0].field"}
    assert "Unknown field 'x'" in problem["errors"]["filters[0].field"][0]


@pytest.mark.parametrize("raw", [b"", b"   ", b"{not json", b"[1, 2]", b'"text"'])
def test_bodies_that_are_not_objects_are_rejected(raw: bytes) -> None:
    emu = EMUS["current"]
    r = post(emu, "/events/leads/lead_0001", raw)
    assert r.status == 400
    assert "$" in json.loads(r.body)["errors"]


def test_seed_era_field_set_for_queries() -> None:
    emu = EMUS["seed"]
    ok = post(emu, "/events/leads/lead_0001", {"orderBy": [{"field": "activityCategory"}]})
    assert ok.status == 200
    bad = post(emu, "/events/leads/lead_0001", {"orderBy": [{"field": "timelineType"}]})
    assert bad.status == 400
    assert "orderBy[0].field" in json.loads(bad.body)["errors"]


# ---- auth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "Basic " + EMULATOR_API_KEY},
        {"authorization": "Bearer "},
    ],
)
def test_missing_or_wrong_credentials_get_401_with_challenge(headers: dict[str, str]) -> None:
    emu = Emulator(seed=1, n_leads=2, heavy_leads=0)
    r = post(emu, "/events/leads/lead_0001", {}, headers=headers)
    assert r.status == 401
    h = dict(r.headers)
    assert h["www-authenticate"].startswith("Bearer")
    assert "resource_metadata=" in h["www-authenticate"]
    assert h["content-type"].startswith("application/problem+json")
    body = json.loads(r.body)
    assert body["status"] == 401
    assert "wrong" not in r.body.decode()  # the key is never echoed
    assert emu.fault_counts["401"] == 1


def test_bearer_scheme_is_case_insensitive_and_alternate_header_works() -> None:
    emu = Emulator(seed=1, n_leads=2, heavy_leads=0)
    for headers in (
        {"authorization": f"bearer {EMULATOR_API_KEY}"},
        {"x-leadping-api-key": EMULATOR_API_KEY},
    ):
        assert post(emu, "/events/leads/lead_0001", {}, headers=headers).status == 200


def test_custom_api_keys() -> None:
    emu = Emulator(seed=1, n_leads=2, heavy_leads=0, api_keys=("sk_a", "sk_b"))
    assert (
        post(emu, "/events/leads/lead_0001", {}, headers={"authorization": "Bearer sk_b"}).status
        == 200
    )
    assert post(emu, "/events/leads/lead_0001", {}).status == 401


# ---- rate limit ------------------------------------------------------------------------


def test_rate_limit_300_per_60s_per_key_with_fake_clock() -> None:
    now = [1000.0]
    emu = Emulator(seed=1, n_leads=2, heavy_leads=0, clock=lambda: now[0], api_keys=("k1", "k2"))
    h1 = {"authorization": "Bearer k1"}
    for i in range(300):
        now[0] = 1000.0 + i * 0.1  # 300 requests within 30 s
        assert post(emu, "/events/leads/lead_0001", {"pageSize": 1}, headers=h1).status == 200
    now[0] = 1030.0
    r = post(emu, "/events/leads/lead_0001", {"pageSize": 1}, headers=h1)
    assert r.status == 429
    h = dict(r.headers)
    assert h["content-type"].startswith("application/problem+json")
    assert int(h["retry-after"]) == 30  # the oldest request leaves the window at t=1060
    assert json.loads(r.body)["status"] == 429
    # another key has its own budget
    assert (
        post(emu, "/events/leads/lead_0001", {}, headers={"authorization": "Bearer k2"}).status
        == 200
    )
    # still limited just before the window passes, fine after
    now[0] = 1059.9
    assert post(emu, "/events/leads/lead_0001", {}, headers=h1).status == 429
    now[0] = 1060.05
    assert post(emu, "/events/leads/lead_0001", {}, headers=h1).status == 200
    assert emu.fault_counts["rate_limited"] == 2
    assert emu.fault_counts["429"] == 2


def test_rate_limit_can_be_disabled_and_configured() -> None:
    now = [0.0]
    emu = Emulator(seed=1, n_leads=1, heavy_leads=0, rate_limit=(2, 10.0), clock=lambda: now[0])
    codes = [post(emu, "/leads/all/my", {}).status for _ in range(3)]
    assert codes == [200, 200, 429]
    free = Emulator(seed=1, n_leads=1, heavy_leads=0, rate_limit=None)
    assert all(post(free, "/leads/all/my", {}).status == 200 for _ in range(400))


# ---- tokens ------------------------------------------------------------------------------


def _first_token(emu: Emulator, lead: str, body: dict[str, Any]) -> str:
    status, env = post_json(emu, f"/events/leads/{lead}", body)
    assert status == 200
    assert env["continuationToken"]
    return str(env["continuationToken"])


def _token_error(emu: Emulator, lead: str, body: dict[str, Any]) -> dict[str, Any]:
    r = post(emu, f"/events/leads/{lead}", body)
    assert r.status == 400
    assert dict(r.headers)["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = json.loads(r.body)
    assert "continuationToken" in problem["errors"]
    return problem


def test_tampered_token_is_rejected() -> None:
    emu = EMUS["current"]
    lead = emu.lead_ids()[0]
    tok = _first_token(emu, lead, {"pageSize": 2})
    for bad in (
        tok[:-2] + ("AA" if tok[-2:] != "AA" else "BB"),
        tok[:10] + ("x" if tok[10] != "x" else "y") + tok[11:],
        "garbage!!",
        "",  # empty is "no token": first page
    ):
        if bad == "":
            assert (
                post(emu, f"/events/leads/{lead}", {"pageSize": 2, "continuationToken": bad}).status
                == 200
            )
            continue
        problem = _token_error(emu, lead, {"pageSize": 2, "continuationToken": bad})
        assert "continuation-token" in problem["type"]


def test_token_for_other_query_or_lead_is_rejected() -> None:
    emu = EMUS["current"]
    a, b = emu.lead_ids()[:2]
    tok = _first_token(emu, a, {"pageSize": 2})
    _token_error(emu, b, {"pageSize": 2, "continuationToken": tok})
    _token_error(emu, a, {"pageSize": 2, "continuationToken": tok, "orderBy": [{"field": "id"}]})
    _token_error(
        emu, a, {"continuationToken": tok, "filters": [{"field": "eventType", "value": "Sms"}]}
    )
    # page size and includeCount may change between pages
    r = post(
        emu, f"/events/leads/{a}", {"pageSize": 5, "continuationToken": tok, "includeCount": True}
    )
    assert r.status == 200
    # a token of the leads list is not an events token
    _, env = post_json(emu, "/leads/all/my", {"pageSize": 1})
    _token_error(emu, a, {"continuationToken": env["continuationToken"]})


def test_expired_token_with_fake_clock() -> None:
    now = [0.0]
    emu = Emulator(seed=3, n_leads=3, heavy_leads=0, clock=lambda: now[0], token_ttl=900.0)
    lead = emu.lead_ids()[0]
    tok = _first_token(emu, lead, {"pageSize": 2})
    now[0] = 899.0
    assert (
        post(emu, f"/events/leads/{lead}", {"pageSize": 2, "continuationToken": tok}).status == 200
    )
    now[0] = 901.0
    problem = _token_error(emu, lead, {"pageSize": 2, "continuationToken": tok})
    assert problem["type"].endswith("continuation-token-expired")
    assert problem["title"] == "Continuation token expired"


def test_same_token_twice_gives_the_same_page() -> None:
    emu = EMUS["current"]
    lead = emu.lead_ids()[0]
    tok = _first_token(emu, lead, {"pageSize": 3})
    a = post(emu, f"/events/leads/{lead}", {"pageSize": 3, "continuationToken": tok})
    b = post(emu, f"/events/leads/{lead}", {"pageSize": 3, "continuationToken": tok})
    assert json.loads(a.body)["items"] == json.loads(b.body)["items"]


# ---- appended events between pages -----------------------------------------------------


@pytest.mark.parametrize("order", [None, "asc", "desc"])
def test_paging_is_stable_when_events_are_appended(order: str | None) -> None:
    emu = Emulator(seed=8, n_leads=3, heavy_leads=0, rate_limit=None)
    lead = emu.lead_ids()[1]
    before = emu.ground_truth(lead)
    body: dict[str, Any] = {"pageSize": 4}
    if order:
        body["orderBy"] = [{"field": "createdAt", "direction": order}]
    status, env = post_json(emu, f"/events/leads/{lead}", body)
    got = list(env["items"])
    token = env["continuationToken"]
    new = emu.add_events(lead, 5)
    assert len(new) == 5
    while token:
        status, env = post_json(emu, f"/events/leads/{lead}", {**body, "continuationToken": token})
        assert status == 200
        got.extend(env["items"])
        token = env["continuationToken"]
    ids = [it["id"] for it in got]
    assert len(ids) == len(set(ids))
    assert {it["id"] for it in before} <= set(ids)  # nothing that existed is missing
    if order != "desc":
        assert got == reference(emu.ground_truth(lead), body)  # appended come at the end
    else:
        assert got == reference(before, body)


def test_add_events_appends_after_the_data_end() -> None:
    emu = Emulator(seed=8, n_leads=3, heavy_leads=0)
    lead = emu.lead_ids()[0]
    total = emu.total_events()
    last_before = max(
        it["createdAt"] for lead_id in emu.lead_ids() for it in emu.ground_truth(lead_id)
    )
    new = emu.add_events(lead, 3)
    assert emu.total_events() == total + 3
    assert all(it["createdAt"] > last_before for it in new)
    more = emu.add_events(emu.lead_ids()[2], 2)
    assert min(it["createdAt"] for it in more) > max(it["createdAt"] for it in new)
    gt = emu.ground_truth(lead)
    assert gt[-3:] == new
    with pytest.raises(KeyError):
        emu.add_events("lead_9999", 1)


# ---- other routes ------------------------------------------------------------------------


def test_leads_list_pages_with_the_same_semantics() -> None:
    emu = Emulator(seed=2, n_leads=23, heavy_leads=0, rate_limit=None)
    leads = emu.leads()
    assert [x["id"] for x in leads] == emu.lead_ids()
    got: list[dict[str, Any]] = []
    token = None
    body: dict[str, Any] = {
        "pageSize": 5,
        "orderBy": [{"field": "lastName"}, {"field": "firstName", "direction": "desc"}],
        "includeCount": True,
    }
    while True:
        status, env = post_json(emu, "/leads/all/my", {**body, "continuationToken": token})
        assert status == 200
        assert env["totalCount"] == 23
        got.extend(env["items"])
        token = env["continuationToken"]
        if token is None:
            break
    assert sorted(x["id"] for x in got) == sorted(emu.lead_ids())
    keys = [(x["lastName"], _Neg(x["firstName"]), x["id"]) for x in got]
    assert keys == sorted(keys)
    status, env = post_json(
        emu, "/leads/all/my", {"search": got[0]["lastName"].upper(), "pageSize": 100}
    )
    assert status == 200
    assert got[0]["id"] in [x["id"] for x in env["items"]]
    status, env = post_json(
        emu,
        "/leads/all/my",
        {"filters": [{"field": "source.id", "value": leads[0]["source"]["id"]}]},
    )
    assert status == 200
    assert {x["source"]["id"] for x in env["items"]} == {leads[0]["source"]["id"]}
    assert (
        post(emu, "/leads/all/my", {"filters": [{"field": "source", "value": "x"}]}).status == 400
    )


class _Neg:
    def __init__(self, v: str) -> None:
        self.v = v

    def __lt__(self, other: _Neg) -> bool:
        return other.v < self.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Neg) and self.v == other.v

    __hash__ = None  # type: ignore[assignment]


def test_get_lead_by_id() -> None:
    emu = Emulator(seed=2, n_leads=3, heavy_leads=0)
    r = emu.handle(WireRequest("GET", "/leads/lead_0002", AUTH))
    assert r.status == 200
    assert json.loads(r.body) == emu.leads()[1]
    r = emu.handle(WireRequest("GET", "/leads/lead_0099", AUTH))
    assert r.status == 404
    assert dict(r.headers)["content-type"].startswith("application/problem+json")
    assert emu.handle(WireRequest("GET", "/leads/lead_0002", {})).status == 401


def test_unknown_routes_and_methods() -> None:
    emu = Emulator(seed=2, n_leads=1, heavy_leads=0)
    assert emu.handle(WireRequest("POST", "/nope", AUTH, b"{}")).status == 404
    assert emu.handle(WireRequest("POST", "/events/leads/", AUTH, b"{}")).status == 404
    r = emu.handle(WireRequest("GET", "/events/leads/lead_0001", AUTH))
    assert r.status == 405
    assert dict(r.headers)["allow"] == "POST"


def test_percent_encoded_lead_ids() -> None:
    emu = Emulator(seed=2, n_leads=2, heavy_leads=0)
    a = post(emu, "/events/leads/lead%5F0001", {"pageSize": 3})
    b = post(emu, "/events/leads/lead_0001", {"pageSize": 3})
    assert a.status == 200
    assert json.loads(a.body)["items"] == json.loads(b.body)["items"]


# ---- what the real service refuses (Kestrel / ASP.NET limits) ------------------------


def test_refuses_what_the_real_service_refuses() -> None:
    emu = Emulator(seed=1, n_leads=2, heavy_leads=0)
    lead = "/events/leads/lead_0001"
    r = post(emu, lead, {"pageSize": None})
    assert r.status == 400 and "pageSize" in json.loads(r.body)["errors"]
    for ctype in ("image/png", "text/plain", ""):
        r = post(emu, lead, {}, headers={**AUTH, "content-type": ctype})
        assert r.status == 415, ctype
        assert json.loads(r.body)["status"] == 415
    for ctype in ("application/json; charset=utf-8", "application/problem+json"):
        assert post(emu, lead, {}, headers={**AUTH, "content-type": ctype}).status == 200
    big = b'{"search": "' + b"x" * 30_000_000 + b'"}'
    assert post(emu, lead, big).status == 413
    assert post(emu, "/events/leads/" + "a" * 9000, {}).status == 414


def test_unauthenticated_traffic_is_rate_limited_per_address() -> None:
    now = [0.0]
    emu = Emulator(seed=1, n_leads=2, heavy_leads=0, rate_limit=(5, 60.0), clock=lambda: now[0])

    def anon(client: str) -> int:
        req = WireRequest("POST", "/events/leads/lead_0001", {"authorization": "Bearer x"}, b"{}")
        return emu.handle(replace(req, client=client)).status

    assert [anon("10.0.0.1") for _ in range(5)] == [401] * 5
    assert anon("10.0.0.1") == 429
    assert anon("10.0.0.2") == 401  # another address has its own window
    assert post(emu, "/events/leads/lead_0001", {}).status == 200  # the key's own window
    now[0] = 61.0
    assert anon("10.0.0.1") == 401
