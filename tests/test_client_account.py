"""Client.account_events: windows, splitting, edges, failure isolation, discovery, faults.

``AccountFake`` implements the account endpoints' semantics (half-open ``startAt``/``endAt``,
default order createdAt then id, keyset tokens bound to path + query + body filters,
``includeCount``, a server-side page-size cap) over a list of events with 100 ns times.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, unquote

import polars as pl
import pytest

from leadping_nb import (
    ApiError,
    AsyncClient,
    AuthError,
    Client,
    Emulator,
    EventQuery,
    FetchProgress,
    QueryError,
    RetryPolicy,
    SchemaError,
)
from leadping_nb._client import account as _account
from leadping_nb._http.wire import WireRequest, WireResponse
from leadping_nb.emulator import FaultConfig
from leadping_nb.emulator._engine import parse_timestamp

from .fakes import KEY, _problem


@pytest.fixture(autouse=True)
def small_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The split mechanics are tested at 4 pages a window, so that the fakes stay small;
    test_the_default_split_size_keeps_windows_few checks the default."""
    monkeypatch.setattr(_account, "_SPLIT_PAGES", 4)


T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts(dt: datetime, extra_ticks: int = 0) -> str:
    """ISO text of ``dt`` plus 100 ns ticks, with seven fraction digits."""
    ticks = _ticks(dt) + extra_ticks
    secs, frac = divmod(ticks, 10_000_000)
    whole = _EPOCH + timedelta(seconds=secs)
    return whole.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:07d}Z"


def _ticks(dt: datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def event(n: int, created: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"ev{n:06d}",
        "leadId": f"L{n % 7}",
        "eventType": "Sms",
        "eventCategory": "Message" if n % 3 else "Call",
        "direction": "Outbound",
        "billableAmount": 0.0079,
        "retryCount": 0,
        "createdAt": created,
        **extra,
    }


def spread(n: int, start: datetime, span: timedelta, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` events at random 100 ns instants of ``[start, start + span)``."""
    rng = random.Random(seed)
    width = _ticks(start + span) - _ticks(start)
    return [event(i, ts(start, rng.randrange(width))) for i in range(n)]


Hook = Callable[[WireRequest, dict[str, Any]], WireResponse | None]


@dataclass
class AccountFake:
    events: list[dict[str, Any]]
    org: str | None = "org-1"
    n_leads: int = 3
    max_page_size: int = 1000
    #: called before answering a routed request: (request, info) -> an answer or None
    hook: Hook | None = None
    requests: list[WireRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def truth(self, since: datetime, until: datetime) -> list[str]:
        lo, hi = _ticks(since), _ticks(until)
        rows = sorted(
            (parse_timestamp(e["createdAt"]) // 10, e["id"])
            for e in self.events
            if lo <= parse_timestamp(e["createdAt"]) < hi
        )
        return [i for _us, i in rows]  # in (created_at to the microsecond, id) order

    def event_requests(self) -> list[WireRequest]:
        return [r for r in self.requests if r.path.startswith("/events/")]

    def handle(self, request: WireRequest) -> WireResponse:
        with self._lock:
            self.requests.append(request)
            n = len(self.requests)
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _problem(401, "Unauthorized")
        body = json.loads(request.body or b"{}")
        params = {k: v[0] for k, v in parse_qs(request.query).items()}
        info = {"n": n, "body": body, "params": params}
        if self.hook is not None:
            answer = self.hook(request, info)
            if answer is not None:
                return answer
        path = request.path
        if path == "/leads/all/my":
            leads = [
                {
                    "id": f"L{i}",
                    **({"organization": {"id": self.org, "name": "Org"}} if self.org else {}),
                }
                for i in range(self.n_leads)
            ]
            return _json({"items": leads[: body.get("pageSize", 100)], "continuationToken": None})
        if path.startswith("/events/organizations/"):
            if unquote(path.rsplit("/", 1)[-1]) != self.org:
                return _problem(403, "Forbidden", detail="not your organization")
        elif path != "/events/all/my":
            return _problem(404, "Not Found")
        return self._page(request, body, params)

    def _page(
        self, request: WireRequest, body: dict[str, Any], params: dict[str, str]
    ) -> WireResponse:
        lo = parse_timestamp(params["startAt"]) if "startAt" in params else -(2**62)
        hi = parse_timestamp(params["endAt"]) if "endAt" in params else 2**62
        category = params.get("category")
        filters = {f["field"]: f["value"] for f in body.get("filters", [])}
        with self._lock:
            snapshot = list(self.events)
        rows = sorted(
            (
                (parse_timestamp(e["createdAt"]), e["id"], e)
                for e in snapshot
                if lo <= parse_timestamp(e["createdAt"]) < hi
                and (category is None or e.get("eventCategory") == category)
                and all(e.get(k) == v for k, v in filters.items())
            ),
            key=lambda r: (r[0], r[1]),
        )
        order = body.get("orderBy") or [{"field": "createdAt", "direction": "asc"}]
        assert order == [{"field": "createdAt", "direction": "asc"}], order
        fp = hashlib.sha256(
            json.dumps([request.path, request.query, body.get("filters"), order]).encode()
        ).hexdigest()[:12]
        start = 0
        token = body.get("continuationToken")
        if token is not None:
            state = json.loads(base64.b64decode(token))
            if state["fp"] != fp:
                return _problem(400, "Invalid continuation token")
            after = (state["ticks"], state["id"])
            start = next((i for i, r in enumerate(rows) if (r[0], r[1]) > after), len(rows))
        size = min(int(body.get("pageSize", 100)), self.max_page_size)
        page = rows[start : start + size]
        nxt = None
        if start + size < len(rows):
            last = page[-1]
            nxt = base64.b64encode(
                json.dumps({"fp": fp, "ticks": last[0], "id": last[1]}).encode()
            ).decode()
        return _json(
            {
                "items": [r[2] for r in page],
                "pageSize": size,
                "totalCount": len(rows) if body.get("includeCount") else None,
                "continuationToken": nxt,
            }
        )


def _json(payload: dict[str, Any]) -> WireResponse:
    return WireResponse(200, (("content-type", "application/json"),), json.dumps(payload).encode())


class FakeSleep:
    async def __call__(self, seconds: float) -> None:
        await asyncio.sleep(0)


def client_for(api: AccountFake, **kw: Any) -> Client:
    kw.setdefault("sleep", FakeSleep())
    kw.setdefault("retry", RetryPolicy(attempts=8, backoff=0.01))
    kw.setdefault("rate_limit", None)
    return Client(api_key=KEY, transport=api, **kw)


def window_of(r: WireRequest) -> tuple[str, str]:
    p = {k: v[0] for k, v in parse_qs(r.query).items()}
    return p["startAt"], p["endAt"]


def check_truth(api: AccountFake, result: Any, since: datetime, until: datetime) -> None:
    assert result.ok, result.errors
    assert result.frame["id"].to_list() == api.truth(since, until)
    assert result.frame["id"].is_unique().all()
    assert int(result.status["events"].sum()) == result.frame.height


# --- windows and their edges ----------------------------------------------------------------


def test_events_exactly_on_window_edges_belong_to_one_window() -> None:
    since, until = T0, T0 + timedelta(hours=6)
    edges = [T0 + timedelta(hours=h) for h in range(7)]
    events = []
    for i, edge in enumerate(edges):
        events.append(event(3 * i, ts(edge)))  # exactly on the edge
        events.append(event(3 * i + 1, ts(edge, -1)))  # 100 ns before it
        events.append(event(3 * i + 2, ts(edge, 1)))  # 100 ns after it
    api = AccountFake(events)
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=timedelta(hours=1))
    check_truth(api, result, since, until)
    # out: 100 ns before ``since``, and ``until`` (the last edge) and 100 ns after it
    assert result.frame.height == 7 * 3 - 3
    assert result.status.height == 6 and result.status["split"].sum() == 0
    assert result.status["events"].to_list() == [3] * 6
    assert [window_of(r) for r in api.event_requests()] == [
        (f"{a:%Y-%m-%dT%H:%M:%S}Z", f"{b:%Y-%m-%dT%H:%M:%S}Z") for a, b in pairwise(edges)
    ]
    assert result.status["window"][0] == "2024-05-01T00:00:00Z/2024-05-01T01:00:00Z"


def test_the_default_split_size_keeps_windows_few(monkeypatch: pytest.MonkeyPatch) -> None:
    # the rate limit, not latency, bounds a large fetch, and every window ends on a partial
    # page: windows of up to 16 pages keep the requests within ~5 % of the pages needed
    monkeypatch.undo()
    assert _account._SPLIT_PAGES == 16
    api = AccountFake(spread(20_000, T0, timedelta(days=20)), max_page_size=100)
    with client_for(api, concurrency=4) as c:
        result = c.account_events(
            EventQuery(page_size=100), since=T0, until=T0 + timedelta(days=20)
        )
    check_truth(api, result, T0, T0 + timedelta(days=20))
    assert result.status["pages"].max() <= 17
    assert len(api.event_requests()) <= 1.05 * 200 + result.status.height
    assert result.status.height <= 2 + 2 * 200 // 16


def test_the_default_is_one_window_that_splits_where_the_events_are() -> None:
    few = AccountFake(spread(50, T0, timedelta(days=2)))
    with client_for(few, concurrency=3) as c:
        result = c.account_events(since=T0, until=T0 + timedelta(days=2))
    check_truth(few, result, T0, T0 + timedelta(days=2))
    assert result.status.height == 1  # 50 events: one request, not one per window
    assert len(few.event_requests()) == 1
    many = AccountFake(spread(5000, T0, timedelta(days=2)), max_page_size=100)
    with client_for(many, concurrency=3) as c:
        result = c.account_events(EventQuery(page_size=100), since=T0, until=T0 + timedelta(days=2))
    check_truth(many, result, T0, T0 + timedelta(days=2))
    assert result.status.height > 10  # split by its first page's count
    assert len(many.event_requests()) <= 1.1 * 50 + result.status.height


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        (None, 1000),
        (EventQuery(), 1000),
        (EventQuery(page_size=100), 100),
        (EventQuery(page_size=7), 7),
    ],
)
def test_the_account_page_size_is_1000_unless_the_query_sets_one(
    query: EventQuery | None, sent: int
) -> None:
    api = AccountFake(spread(30, T0, timedelta(hours=1)), max_page_size=1000)
    with client_for(api) as c:
        result = c.account_events(query, since=T0, until=T0 + timedelta(hours=1))
    check_truth(api, result, T0, T0 + timedelta(hours=1))
    bodies = [json.loads(r.body) for r in api.event_requests()]
    assert {b["pageSize"] for b in bodies} == {sent}


def test_request_bodies_ask_a_count_on_first_pages_only_and_keep_the_query() -> None:
    api = AccountFake(spread(30, T0, timedelta(hours=1)), max_page_size=10)
    q = EventQuery(filters={"direction": "Outbound"})
    with client_for(api) as c:
        result = c.account_events(
            q, since=T0, until=T0 + timedelta(hours=1), window=timedelta(hours=1)
        )
    check_truth(api, result, T0, T0 + timedelta(hours=1))
    bodies = [json.loads(r.body) for r in api.event_requests()]
    assert [b.get("includeCount") for b in bodies] == [True, None, None]
    assert all(b["pageSize"] == 1000 for b in bodies)  # the server capped it at 10
    assert all(b["filters"] == [{"field": "direction", "value": "Outbound"}] for b in bodies)
    assert result.status["total_count"].to_list() == [30]


# --- splitting large windows ------------------------------------------------------------------


def _chains(api: AccountFake) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for r in api.event_requests():
        out[window_of(r)] = out.get(window_of(r), 0) + 1
    return out


def test_a_large_window_is_split_and_requests_stay_within_budget() -> None:
    since, until = T0, T0 + timedelta(days=1)
    api = AccountFake(spread(3_000, since, timedelta(days=1), seed=5), max_page_size=100)
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=timedelta(days=1))
    check_truth(api, result, since, until)
    status = result.status
    first = status.row(0, named=True)
    assert first["split"] == 8  # ceil(29 pages left / 4)
    assert first["pages"] == 1 and first["total_count"] == 3_000
    assert status["parent"].to_list()[1:] == [first["window"]] * 8
    n_requests = len(api.event_requests())
    assert n_requests <= 1.05 * 30 + status.height
    assert max(_chains(api).values()) <= 6  # no long chain left
    assert status["overlap_dropped"].sum() >= 1  # the first page's last instant, read again
    assert status["complete"].all()


def test_skewed_windows_split_again_where_they_are_dense() -> None:
    since, until = T0, T0 + timedelta(days=1)
    busy = spread(2_500, T0 + timedelta(hours=20), timedelta(minutes=30), seed=1)
    calm = [event(10_000 + i, ts(T0 + timedelta(hours=i))) for i in range(24)]
    api = AccountFake(busy + calm, max_page_size=100)
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=timedelta(days=1))
    check_truth(api, result, since, until)
    assert (result.status["split"] > 0).sum() >= 2  # a sub-window split again
    assert max(_chains(api).values()) <= 6
    assert len(api.event_requests()) <= 1.05 * 26 + result.status.height


def test_more_events_at_one_instant_than_a_page_at_the_window_start() -> None:
    since, until = T0, T0 + timedelta(hours=1)
    same = [event(i, ts(T0)) for i in range(37)]  # 7+ pages of 5 at the very first instant
    rest = [event(100 + i, ts(T0, 10 * (i + 1))) for i in range(40)]  # µs after µs
    api = AccountFake(same + rest, max_page_size=5)
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=timedelta(hours=1))
    check_truth(api, result, since, until)
    instant = result.status.filter(
        pl.col("window_end") - pl.col("window_start") == timedelta(microseconds=1)
    )
    assert instant.height == 1 and instant["events"][0] == 37 - 5
    assert instant["overlap_dropped"][0] == 5 and instant["split"][0] == 0


def test_more_events_at_one_instant_than_a_page_inside_the_window() -> None:
    since, until = T0, T0 + timedelta(hours=1)
    before = [event(i, ts(T0, 10 * i + 3)) for i in range(3)]
    # 23 events in one microsecond (100 ns apart or equal), across the first page's end
    same = [event(50 + i, ts(T0 + timedelta(minutes=7), i % 4)) for i in range(23)]
    after = [event(200 + i, ts(T0 + timedelta(minutes=8 + i))) for i in range(30)]
    api = AccountFake(before + same + after, max_page_size=5)
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=timedelta(hours=1))
    check_truth(api, result, since, until)
    assert result.status["split"][0] > 0
    # the first page's two at that µs come again in the first sub-window, which is all
    # at that µs from its start: that µs gets a window of its own (five read again)
    assert result.status["overlap_dropped"].to_list()[:3] == [0, 2, 5]
    assert result.status["window_end"][2] - result.status["window_start"][2] == timedelta(
        microseconds=1
    )
    # the sub-second digits were cut to microseconds, and counted
    assert result.report.truncated


def test_windows_never_split_without_a_count_or_a_token() -> None:
    api = AccountFake(spread(60, T0, timedelta(hours=1)), max_page_size=10)
    original = api._page

    def page(request: WireRequest, body: dict[str, Any], params: dict[str, str]) -> WireResponse:
        body.pop("includeCount", None)
        return original(request, body, params)

    api._page = page  # type: ignore[method-assign]
    with client_for(api) as c:
        result = c.account_events(
            since=T0, until=T0 + timedelta(hours=1), window=timedelta(hours=1)
        )
    check_truth(api, result, T0, T0 + timedelta(hours=1))
    assert result.status["split"].to_list() == [0] and result.status["pages"][0] == 6


# --- arrivals, duplicates, token expiry -------------------------------------------------------


def test_events_arriving_during_the_fetch_are_all_out() -> None:
    start = datetime.now(UTC) - timedelta(days=10)
    api = AccountFake(spread(400, start, timedelta(days=9), seed=2), max_page_size=20)
    arrived: list[str] = []

    def arrive(request: WireRequest, info: dict[str, Any]) -> WireResponse | None:
        if request.path.startswith("/events/") and info["n"] % 3 == 0:
            e = event(90_000 + info["n"], ts(datetime.now(UTC)))
            with api._lock:
                api.events.append(e)
            arrived.append(e["id"])
        return None

    api.hook = arrive
    with client_for(api) as c:
        result = c.account_events()  # until: now, once; since: 30 days before
    assert arrived
    until = result.status["window_end"].max()
    assert isinstance(until, datetime)
    assert until <= datetime.now(UTC)
    check_truth(api, result, until - timedelta(days=30), until)
    assert not set(arrived) & set(result.frame["id"])


def test_events_arriving_mid_chain_in_a_window_leave_pages_exact() -> None:
    since, until = T0, T0 + timedelta(hours=2)
    api = AccountFake(spread(40, since, timedelta(hours=1)), max_page_size=10)

    def arrive(request: WireRequest, info: dict[str, Any]) -> WireResponse | None:
        if info["body"].get("continuationToken") and info["n"] < 5:
            with api._lock:  # lands after everything served so far in the window
                api.events.append(event(80_000 + info["n"], ts(T0 + timedelta(minutes=61))))
        return None

    api.hook = arrive
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=timedelta(hours=2))
    check_truth(api, result, since, until)  # the arrivals came in, once each


def test_server_duplicates_are_dropped_and_counted() -> None:
    events = spread(30, T0, timedelta(hours=1))
    api = AccountFake(events, max_page_size=10)
    original = api._page

    def dup(request: WireRequest, body: dict[str, Any], params: dict[str, str]) -> WireResponse:
        answer = original(request, body, params)
        if body.get("continuationToken"):
            data = json.loads(answer.body)
            first = data["items"][0]
            data["items"].insert(0, dict(next(e for e in events if e["id"] != first["id"])))
            return _json(data)
        return answer

    api._page = dup  # type: ignore[method-assign]
    with client_for(api) as c:
        result = c.account_events(
            since=T0, until=T0 + timedelta(hours=1), window=timedelta(hours=1)
        )
    check_truth(api, result, T0, T0 + timedelta(hours=1))
    assert result.status["duplicates_dropped"].to_list() == [2]


def test_a_different_body_under_one_id_fails_the_later_window() -> None:
    events = [event(i, ts(T0 + timedelta(minutes=10 * i))) for i in range(12)]
    twin = dict(events[0], createdAt=ts(T0 + timedelta(minutes=95)), retryCount=3)
    api = AccountFake([*events, twin])
    with client_for(api) as c:
        result = c.account_events(
            since=T0, until=T0 + timedelta(hours=2), window=timedelta(hours=1)
        )
    assert result.failed == ["2024-05-01T01:00:00Z/2024-05-01T02:00:00Z"]
    err = result.errors[result.failed[0]]
    assert isinstance(err, SchemaError) and err.field == "id" and err.value == "ev000000"
    assert result.frame["id"].to_list() == [f"ev{i:06d}" for i in range(6)]
    assert result.status["complete"].to_list() == [True, False]


def test_an_expired_token_restarts_that_window_once() -> None:
    api = AccountFake(spread(50, T0, timedelta(hours=1)), max_page_size=10)
    expired = {"n": 0}

    def expire(request: WireRequest, info: dict[str, Any]) -> WireResponse | None:
        if info["body"].get("continuationToken") and expired["n"] < 1 and info["n"] > 3:
            expired["n"] += 1
            body = {
                "title": "Continuation token expired",
                "status": 400,
                "detail": "The continuation token has expired; restart from the first page.",
                "errors": {"continuationToken": ["expired"]},
            }
            return WireResponse(
                400, (("content-type", "application/problem+json"),), json.dumps(body).encode()
            )
        return None

    api.hook = expire
    seen: list[FetchProgress] = []
    with client_for(api) as c:
        result = c.account_events(
            since=T0,
            until=T0 + timedelta(hours=1),
            window=timedelta(hours=1),
            on_progress=seen.append,
        )
    check_truth(api, result, T0, T0 + timedelta(hours=1))
    assert expired["n"] == 1
    assert result.status["pages"].to_list() == [5]  # counted once, after the restart
    assert seen[-1].pages == 5 and seen[-1].events == 50


# --- failure isolation ------------------------------------------------------------------------


def test_a_window_failing_forever_costs_only_itself() -> None:
    since, until = T0, T0 + timedelta(hours=4)
    api = AccountFake(spread(80, since, timedelta(hours=4), seed=3), max_page_size=10)
    bad = "2024-05-01T02:00:00Z"

    def fail(request: WireRequest, info: dict[str, Any]) -> WireResponse | None:
        if info["params"].get("startAt") == bad:
            return _problem(500, "boom")
        return None

    api.hook = fail
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=timedelta(hours=1))
    label = "2024-05-01T02:00:00Z/2024-05-01T03:00:00Z"
    assert result.failed == [label] and not result.ok
    assert isinstance(result.errors[label], ApiError)
    lost = set(api.truth(T0 + timedelta(hours=2), T0 + timedelta(hours=3)))
    assert result.frame["id"].to_list() == [i for i in api.truth(since, until) if i not in lost]
    row = result.status.filter(pl.col("window") == label).row(0, named=True)
    assert (row["ok"], row["complete"], row["events"], row["error_type"]) == (
        False,
        False,
        0,
        "ApiError",
    )
    assert "3/4 windows" in repr(result)
    with pytest.raises(ApiError):
        result.raise_for_errors()


def test_a_failing_sub_window_marks_its_parent_incomplete() -> None:
    since, until = T0, T0 + timedelta(hours=1)
    api = AccountFake(spread(300, since, timedelta(hours=1), seed=4), max_page_size=10)
    calls: dict[str, int] = {}

    def fail_second_sub_window(request: WireRequest, info: dict[str, Any]) -> WireResponse | None:
        start = info["params"].get("startAt", "")
        if request.path.startswith("/events/") and start != "2024-05-01T00:00:00Z":
            calls.setdefault(start, len(calls))
            if calls[start] == 1 and not info["body"].get("continuationToken"):
                return _problem(503, "down")
        return None

    api.hook = fail_second_sub_window
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=timedelta(hours=1))
    assert len(result.failed) == 1
    status = result.status
    assert status["complete"][0] is False and status["ok"][0] is True
    failed = status.filter(~pl.col("ok")).row(0, named=True)
    assert failed["parent"] == status["window"][0]
    lo, hi = failed["window_start"], failed["window_end"]
    lost = set(api.truth(lo, hi))
    assert lost
    assert result.frame["id"].to_list() == [i for i in api.truth(since, until) if i not in lost]


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"since": datetime(2024, 5, 1)}, "since"),
        ({"since": T0, "until": datetime(2024, 5, 2)}, "until"),
        ({"since": date(2024, 5, 1)}, "since"),
        ({"since": T0, "until": T0}, "since"),
        ({"since": T0 + timedelta(days=1), "until": T0}, "since"),
        ({"since": T0, "until": T0 + timedelta(days=1), "window": timedelta(0)}, "window"),
        (
            {"since": T0, "until": T0 + timedelta(days=365), "window": timedelta(seconds=1)},
            "window",
        ),
        ({"concurrency": 0}, "concurrency"),
        ({"organization_id": "../x"}, "organizationId"),
        ({"query": EventQuery(order_by="createdAt")}, "orderBy"),
        ({"query": EventQuery(range_filters={"created_at": {"ge": T0}})}, "rangeFilters"),
    ],
)
def test_bad_arguments_fail_before_any_request(kwargs: dict[str, Any], field_name: str) -> None:
    api = AccountFake([])
    with client_for(api) as c:
        with pytest.raises(QueryError) as exc:
            c.account_events(**kwargs)
        assert exc.value.field == field_name
        with pytest.raises(QueryError):
            c.start_account_events(**kwargs)

    async def run() -> None:
        async with AsyncClient(api_key=KEY, transport=api, rate_limit=None) as ac:
            with pytest.raises(QueryError):
                await ac.account_events(**kwargs)

    asyncio.run(run())
    assert api.requests == []


def test_other_range_filters_are_kept() -> None:
    events = spread(40, T0, timedelta(hours=1))
    api = AccountFake(events)
    q = EventQuery(range_filters={"retryCount": {"ge": 0}})
    with client_for(api) as c:
        result = c.account_events(q, since=T0, until=T0 + timedelta(hours=1))
    assert result.ok and result.frame.height == 40
    assert json.loads(api.event_requests()[0].body)["rangeFilters"][0]["field"] == "retryCount"


# --- the organization -------------------------------------------------------------------------


def test_the_organization_comes_from_the_first_lead() -> None:
    api = AccountFake(spread(20, T0, timedelta(hours=1)), org="org/1 x")
    with client_for(api) as c:
        result = c.account_events(since=T0, until=T0 + timedelta(hours=1))
    check_truth(api, result, T0, T0 + timedelta(hours=1))
    first = api.requests[0]
    assert first.path == "/leads/all/my" and json.loads(first.body) == {"pageSize": 1}
    assert {r.path for r in api.requests[1:]} == {"/events/organizations/org%2F1%20x"}
    assert set(result.status["organization_id"]) == {"org/1 x"}


@pytest.mark.parametrize("case", ["no leads", "no organization"])
def test_without_an_organization_the_callers_own_events_are_read(case: str) -> None:
    api = AccountFake(spread(20, T0, timedelta(hours=1)), n_leads=0 if case == "no leads" else 2)
    if case == "no organization":
        api.org = None
    with client_for(api) as c:
        result = c.account_events(since=T0, until=T0 + timedelta(hours=1))
    check_truth(api, result, T0, T0 + timedelta(hours=1))
    assert {r.path for r in api.requests[1:]} == {"/events/all/my"}
    assert result.status["organization_id"].null_count() == result.status.height


def test_an_explicit_organization_skips_the_lookup_and_a_foreign_one_fails_every_window() -> None:
    api = AccountFake(spread(20, T0, timedelta(hours=1)))
    with client_for(api) as c:
        ok = c.account_events(since=T0, until=T0 + timedelta(hours=1), organization_id="org-1")
        n = len(api.requests)
        bad = c.account_events(since=T0, until=T0 + timedelta(hours=1), organization_id="org-2")
    assert ok.ok and all(r.path.startswith("/events/organizations/org-1") for r in api.requests[:n])
    assert not bad.ok and bad.frame.height == 0
    assert len(bad.failed) == bad.status.height
    assert all(isinstance(e, AuthError) and e.status == 403 for e in bad.errors.values())


# --- clients, progress, faults, cancellation --------------------------------------------------


def test_sync_and_async_clients_agree() -> None:
    since, until = T0, T0 + timedelta(days=1)
    api = AccountFake(spread(1_500, since, timedelta(days=1), seed=9), max_page_size=50)
    with client_for(api) as c:
        sync = c.account_events(since=since, until=until)

    async def run() -> Any:
        async with AsyncClient(
            api_key=KEY, transport=api, rate_limit=None, sleep=FakeSleep()
        ) as ac:
            return await ac.account_events(since=since, until=until)

    asyn = asyncio.run(run())
    check_truth(api, sync, since, until)
    assert sync.frame.equals(asyn.frame)
    assert sync.status.drop("elapsed_s").equals(asyn.status.drop("elapsed_s"))


def test_progress_counts_windows() -> None:
    api = AccountFake(spread(300, T0, timedelta(hours=2)), max_page_size=10)
    seen: list[FetchProgress] = []
    with client_for(api) as c:
        result = c.account_events(
            since=T0,
            until=T0 + timedelta(hours=2),
            window=timedelta(hours=1),
            on_progress=seen.append,
        )
    assert result.ok
    final = seen[-1]
    assert final.leads_total == result.status.height > 2  # grew with the splits
    assert final.leads_done == result.status.height and final.leads_failed == 0
    assert final.pages == int(result.status["pages"].sum()) == len(api.event_requests())
    assert sum(p.lead_finished for p in seen) == result.status.height
    assert {p.lead_id for p in seen} == set(result.status["window"])


def test_a_fault_mix_still_yields_exactly_the_truth() -> None:
    since, until = T0, T0 + timedelta(days=1)
    api = AccountFake(spread(2_000, since, timedelta(days=1), seed=11), max_page_size=100)
    rng = random.Random(7)

    def faults(request: WireRequest, info: dict[str, Any]) -> WireResponse | None:
        r = rng.random()
        if r < 0.1:
            return _problem(429, "Too Many Requests", headers=(("Retry-After", "0"),))
        if r < 0.2:
            return _problem(rng.choice([500, 502, 503, 504]), "oops")
        if r < 0.28:
            return WireResponse(200, fault="drop")
        if r < 0.33:
            return WireResponse(200, (("content-type", "application/json"),), b'{"items": [{"id"')
        return None

    api.hook = faults
    with client_for(api, retry=RetryPolicy(attempts=12, backoff=0.01)) as c:
        result = c.account_events(since=since, until=until)
    check_truth(api, result, since, until)
    assert result.status["attempts"].sum() > result.status["pages"].sum()


def test_cancel_stops_the_account_fetch_and_leaves_no_tasks() -> None:
    api = AccountFake(spread(3_000, T0, timedelta(days=1)), max_page_size=10)

    def slow(request: WireRequest, info: dict[str, Any]) -> WireResponse | None:
        time.sleep(0.01)
        return None

    api.hook = slow
    c = client_for(api, sleep=None)
    try:
        job = c.start_account_events(since=T0, until=T0 + timedelta(days=1))
        time.sleep(0.3)
        assert not job.done()
        job.cancel()
        assert job.cancelled() and job.done()
        n = len(api.requests)
        time.sleep(0.3)
        assert len(api.requests) == n

        async def others() -> int:
            me = asyncio.current_task()
            return len([t for t in asyncio.all_tasks() if t is not me and not t.done()])

        assert c._runner.run(others()) == 0
    finally:
        c.close()
    assert n < 300


def test_items_without_a_lead_id_keep_a_null_lead_id() -> None:
    events = spread(5, T0, timedelta(hours=1))
    del events[2]["leadId"]
    api = AccountFake(events)
    with client_for(api) as c:
        result = c.account_events(since=T0, until=T0 + timedelta(hours=1))
    assert result.ok and result.frame["lead_id"].null_count() == 1


def test_boundary_re_reads_keep_the_first_read_when_the_event_moved_on() -> None:
    # a live account: an event of the first page's last instant changes state before the
    # first sub-window reads it again; that is no conflict, and it is counted as overlap
    since, until = T0, T0 + HOUR
    api = AccountFake(spread(60, since, HOUR, seed=8), max_page_size=10)
    last = api.truth(since, until)[9]
    original = api._page

    def moving(request: WireRequest, body: dict[str, Any], params: dict[str, str]) -> WireResponse:
        answer = original(request, body, params)
        if params["startAt"] != "2024-05-01T00:00:00Z":
            data = json.loads(answer.body)
            for it in data["items"]:
                if it["id"] == last:
                    it["retryCount"] = 1
            return _json(data)
        return answer

    api._page = moving  # type: ignore[method-assign]
    with client_for(api) as c:
        result = c.account_events(since=since, until=until, window=HOUR)
    check_truth(api, result, since, until)
    assert result.status["overlap_dropped"].sum() == 1
    assert result.frame.filter(pl.col("id") == last)["retry_count"].to_list() == [0]


# --- against the built-in emulator ------------------------------------------------------------

EMULATOR_FAULTS = FaultConfig(
    seed=4,
    rate_429=0.03,
    retry_after=0,
    rate_5xx=0.04,
    rate_drop=0.03,
    rate_truncate=0.03,
    duplicate_boundary=0.05,
    empty_page_with_token=0.05,
)


class Recorder:
    """Forwards to an emulator and keeps the account requests' windows."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.windows: list[tuple[str, str]] = []

    def handle(self, request: WireRequest) -> WireResponse:
        if request.path.startswith("/events/organizations/"):
            self.windows.append(window_of(request))
        return self.emu.handle(request)


def emulator_client(transport: Any) -> Client:
    from leadping_nb.emulator import EMULATOR_API_KEY

    return Client(
        api_key=EMULATOR_API_KEY,
        transport=transport,
        rate_limit=None,
        sleep=FakeSleep(),
        retry=RetryPolicy(attempts=10, backoff=0.01),
    )


@pytest.fixture(scope="module")
def emulator_leads() -> pl.DataFrame:
    """Every event of Emulator(seed=3, n_leads=200), lead by lead, through faults."""
    emu = Emulator(seed=3, n_leads=200, faults=EMULATOR_FAULTS, rate_limit=None)
    with emulator_client(emu) as c:
        leads = c.fetch_events(emu.lead_ids())
    assert leads.ok
    return leads.frame


@pytest.mark.parametrize(("days", "max_page_size"), [(30, 1000), (1000, 100)])
def test_emulator_account_stream_equals_the_leads_in_the_window(
    emulator_leads: pl.DataFrame, days: int, max_page_size: int
) -> None:
    emu = Emulator(
        seed=3, n_leads=200, faults=EMULATOR_FAULTS, rate_limit=None, max_page_size=max_page_size
    )
    org = emu.leads()[0]["organization"]["id"]
    until = emu.now
    since = until - timedelta(days=days)
    recorder = Recorder(emu)
    with emulator_client(recorder) as c:
        result = c.account_events(since=since, until=until)
    assert result.ok, result.errors
    assert set(result.status["organization_id"]) == {org}
    expected = emulator_leads.filter(
        (pl.col("created_at") >= since) & (pl.col("created_at") < until)
    )
    assert result.frame.height == expected.height > 0
    assert result.frame.sort("id").equals(expected.sort("id"))
    assert result.frame.select(pl.col("created_at").is_sorted()).item()
    # requests: the pages the events need, plus at most one per window (and the empty
    # pages the faults insert); with small pages the large windows split
    status = result.status
    n_pages = -(-result.frame.height // max_page_size)
    assert len(set(recorder.windows)) == status.height
    assert (
        status["pages"].sum() <= 1.05 * (n_pages + status.height) + emu.fault_counts["empty_page"]
    )
    if max_page_size == 100:
        assert (status["split"] > 0).sum() >= 5
        assert max(recorder.windows.count(w) for w in set(recorder.windows)) <= 12


def test_emulator_with_a_moving_clock_events_arriving_during_the_fetch_stay_out() -> None:
    # a day of world time per second: events arrive and change state while windows page
    moving = Emulator(
        seed=3,
        n_leads=60,
        rate_limit=None,
        default_page_size=20,
        max_page_size=20,
        clock_speed=86_400,
    )
    until = moving.now
    since = until - timedelta(days=20)
    with emulator_client(moving) as c:
        result = c.account_events(since=since, until=until)
    assert moving.now > until + timedelta(hours=1)  # the world moved on meanwhile
    still = Emulator(seed=3, n_leads=60, rate_limit=None)
    still.advance(until - still.start)
    with emulator_client(still) as c:
        expected = c.account_events(since=since, until=until)
    assert result.ok and expected.ok
    assert (result.status["split"] > 0).any()
    assert result.frame["id"].to_list() == expected.frame["id"].to_list()
    assert result.frame.select(pl.col("created_at").max()).item() < until


def test_the_lead_list_carries_the_organization_id() -> None:
    emu = Emulator(seed=3, n_leads=5, rate_limit=None)
    with emulator_client(emu) as c:
        leads = c.leads()
    assert leads.columns[-1] == "organization_id"
    assert set(leads["organization_id"]) == {emu.leads()[0]["organization"]["id"]}
