"""Client / AsyncClient: paging, caps, retries, errors, isolation, cancellation, secrets."""

from __future__ import annotations

import asyncio
import email.utils
import gc
import inspect
import logging
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from leadping_nb import (
    ApiError,
    AsyncClient,
    AuthError,
    Client,
    Emulator,
    EventQuery,
    LeadpingError,
    PaginationError,
    QueryError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    SchemaError,
)
from leadping_nb._client import AsyncEventSearch, EventSearch
from leadping_nb._client import fanout as _client_fanout
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._http.wire import WireRequest, WireResponse

from .fakes import KEY, FakeApi, drop, item, make_pages, slow, status, truncated


class FakeSleep:
    """Records requested sleeps and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def client_for(api: FakeApi, **kw: Any) -> Client:
    kw.setdefault("sleep", FakeSleep())
    kw.setdefault("retry", RetryPolicy(attempts=4, backoff=0.1))
    kw.setdefault("rate_limit", None)
    return Client(api_key=KEY, transport=api, **kw)


# --- the paging loop --------------------------------------------------------------------


def test_one_page() -> None:
    api = FakeApi({"L1": make_pages("L1", [3])})
    with client_for(api) as c:
        pages = list(c.events("L1").pages())
    assert [len(p) for p in pages] == [3]
    assert pages[0].number == 1 and pages[0].token is None and pages[0].request_token is None
    assert pages[0].attempts == 1
    assert pages[0].frame.schema == EVENT_SCHEMA
    assert len(api.requests) == 1


def test_many_pages_echo_the_token_unchanged_and_keep_order() -> None:
    api = FakeApi({"L1": make_pages("L1", [2, 2, 1])})
    with client_for(api) as c:
        frame = c.events("L1", EventQuery(page_size=2, order_by="createdAt")).frame()
    assert frame["id"].to_list() == [f"L1-ev{i:04d}" for i in range(5)]
    bodies = api.bodies()
    assert [b.get("continuationToken") for b in bodies] == [None, "p2", "p3"]
    assert all(
        b["pageSize"] == 2 and b["orderBy"] == [{"field": "createdAt", "direction": "asc"}]
        for b in bodies
    )


def test_empty_first_page_gives_an_empty_typed_frame() -> None:
    api = FakeApi({"L1": [[]]})
    with client_for(api) as c:
        frame = c.events("L1").frame()
    assert frame.height == 0
    assert frame.schema == EVENT_SCHEMA


def test_empty_string_token_stops() -> None:
    api = FakeApi({"L1": make_pages("L1", [1, 1])}, token_override={("L1", 1): ""})
    with client_for(api) as c:
        assert c.events("L1").frame().height == 1
    assert len(api.requests) == 1


def test_empty_page_with_a_token_continues() -> None:
    api = FakeApi({"L1": [[], *make_pages("L1", [2])]})
    with client_for(api) as c:
        assert c.events("L1").frame().height == 2
    assert len(api.requests) == 2


def test_repeated_token_raises_pagination_error() -> None:
    api = FakeApi({"L1": make_pages("L1", [1, 1, 1, 1])}, token_override={("L1", 3): "p2"})
    with client_for(api) as c, pytest.raises(PaginationError) as exc:
        c.events("L1").frame()
    assert exc.value.lead_id == "L1" and exc.value.page == 3
    assert len(api.requests) == 3


def test_max_pages_and_max_events_are_caps_apart_from_page_size() -> None:
    api = FakeApi({"L1": make_pages("L1", [3, 3, 3])})
    with client_for(api) as c:
        s = c.events("L1", EventQuery(page_size=3), max_pages=2)
        assert s.frame().height == 6
        assert s.complete is False
        s2 = c.events("L1", EventQuery(page_size=3), max_events=4)
        assert s2.frame()["id"].to_list() == [f"L1-ev{i:04d}" for i in range(4)]
        assert s2.complete is False
        s3 = c.events("L1", EventQuery(page_size=3), max_events=9)
        assert s3.frame().height == 9 and s3.complete is True
    with pytest.raises(QueryError):
        client_for(api).events("L1", max_pages=0)


def test_items_are_raw_dicts_with_exact_money() -> None:
    from decimal import Decimal

    api = FakeApi({"L1": make_pages("L1", [2])})
    with client_for(api) as c:
        items = list(c.events("L1").items())
    assert [i["billableAmount"] for i in items] == [Decimal("0.0079")] * 2


def test_count_uses_include_count() -> None:
    api = FakeApi({"L1": make_pages("L1", [5, 5, 2])})
    with client_for(api) as c:
        assert c.events("L1", EventQuery(filters={"direction": "Outbound"})).count() == 12
    body = api.bodies()[-1]
    assert body["includeCount"] is True and body["pageSize"] == 1
    assert body["filters"] == [{"field": "direction", "value": "Outbound"}]


def test_duplicates_across_a_page_boundary_are_dropped_and_counted() -> None:
    pages = make_pages("L1", [3, 3])
    pages[1].insert(0, dict(pages[0][-1]))
    api = FakeApi({"L1": pages})
    with client_for(api) as c:
        result = c.fetch_events(["L1"])
    assert result.frame.height == 6
    assert result.frame["id"].is_unique().all()
    assert result.status["duplicates_dropped"].to_list() == [1]


# --- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(code: int) -> None:
    api = FakeApi({"L1": make_pages("L1", [2, 2])}, script={2: status(code), 3: status(code)})
    sleep = FakeSleep()
    with client_for(api, sleep=sleep) as c:
        pages = list(c.events("L1").pages())
    assert [p.attempts for p in pages] == [1, 3]
    assert sum(len(p) for p in pages) == 4
    assert len(sleep.calls) == 2


def test_retry_after_seconds_is_honoured_exactly() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])}, script={1: status(429, retry_after="7")})
    sleep = FakeSleep()
    with client_for(api, sleep=sleep) as c:
        c.events("L1").frame()
    assert sleep.calls == [7.0]


def test_retry_after_http_date_is_honoured() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    api = FakeApi({"L1": make_pages("L1", [1])}, script={1: status(503, retry_after=when)})
    sleep = FakeSleep()
    with client_for(api, sleep=sleep) as c:
        c.events("L1").frame()
    assert len(sleep.calls) == 1 and 27 <= sleep.calls[0] <= 31


def test_backoff_is_capped_exponential_with_jitter() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])}, script={i: status(500) for i in range(1, 6)})
    sleep = FakeSleep()
    with client_for(
        api, sleep=sleep, retry=RetryPolicy(attempts=6, backoff=1.0, max_backoff=4.0)
    ) as c:
        c.events("L1").frame()
    caps = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleep.calls) == 5
    assert all(cap / 2 <= s <= cap for s, cap in zip(sleep.calls, caps, strict=True))


@pytest.mark.parametrize(
    "fault", [drop, truncated, slow(60.0)], ids=["dropped", "truncated", "read-timeout"]
)
def test_transport_faults_are_retried(fault: Any) -> None:
    api = FakeApi({"L1": make_pages("L1", [2, 2])}, script={2: fault})
    with client_for(api, timeout=5.0) as c:
        frame = c.events("L1").frame()
    assert frame.height == 4
    assert len(api.requests) == 3  # page 1, the failed attempt at page 2, its retry


def test_giving_up_raises_api_error_with_context() -> None:
    api = FakeApi({"L1": make_pages("L1", [1, 1])}, script={i: status(503) for i in range(2, 10)})
    with client_for(api) as c, pytest.raises(ApiError) as exc:
        c.events("L1").frame()
    e = exc.value
    assert (e.status, e.lead_id, e.page, e.attempts) == (503, "L1", 2, 4)
    assert e.trace_id == "t-1"
    assert "lead 'L1'" in str(e) and "page 2" in str(e) and "503" in str(e)


def test_persistent_429_raises_rate_limit_error() -> None:
    api = FakeApi(
        {"L1": make_pages("L1", [1])},
        script={i: status(429, retry_after="1") for i in range(1, 10)},
    )
    with client_for(api) as c, pytest.raises(RateLimitError) as exc:
        c.events("L1").frame()
    assert exc.value.retry_after == 1.0 and exc.value.status == 429


def test_client_errors_are_not_retried() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])}, script={1: status(400)})
    with client_for(api) as c, pytest.raises(ApiError) as exc:
        c.events("L1").frame()
    assert exc.value.status == 400 and exc.value.attempts == 1
    assert len(api.requests) == 1


def test_total_deadline_stops_retrying() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    api.per_lead_script["L1"] = lambda r, n: status(503)(r)
    policy = RetryPolicy(attempts=100, backoff=0.05, max_backoff=0.05, deadline=0.3)
    with (
        Client(api_key=KEY, transport=api, rate_limit=None, retry=policy) as c,
        pytest.raises(ApiError) as exc,
    ):
        c.events("L1").frame()
    assert 2 <= exc.value.attempts < 20
    assert len(api.requests) == exc.value.attempts
    assert "deadline of 0.3 s was reached" in str(exc.value)


def test_no_retry_sleep_starts_that_would_end_past_the_deadline() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    api.per_lead_script["L1"] = lambda r, n: status(503, retry_after="30")(r)
    policy = RetryPolicy(attempts=5, deadline=3.0)
    sleeps = FakeSleep()
    with (
        Client(api_key=KEY, transport=api, rate_limit=None, retry=policy, sleep=sleeps) as c,
        pytest.raises(ApiError) as exc,
    ):
        c.events("L1").frame()
    assert sleeps.calls == []  # gave up at once instead of sleeping 30 s
    assert exc.value.attempts == 1 and exc.value.status == 503
    assert exc.value.lead_id == "L1" and exc.value.page == 1
    assert "deadline of 3 s was reached" in str(exc.value)


# --- auth and secrets ----------------------------------------------------------------------

SENTINEL = "sk_live_SENTINEL_d0_not_leak_4242"


def test_wrong_key_gives_auth_error_with_a_hint() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    with (
        Client(api_key=SENTINEL, transport=api, rate_limit=None) as c,
        pytest.raises(AuthError) as exc,
    ):
        c.events("L1").frame()
    assert "LEADPING_API_KEY" in str(exc.value) and exc.value.status == 401
    assert SENTINEL not in str(exc.value) and SENTINEL not in repr(exc.value)


def test_missing_key_fails_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADPING_API_KEY", raising=False)
    api = FakeApi({"L1": make_pages("L1", [1])})
    with Client(transport=api) as c, pytest.raises(AuthError, match="LEADPING_API_KEY"):
        c.events("L1").frame()
    assert api.requests == []


def test_key_from_environment_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADPING_API_KEY", KEY)
    api = FakeApi({"L1": make_pages("L1", [1])})
    with Client(transport=api, rate_limit=None) as c:
        assert c.events("L1").frame().height == 1
    assert api.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_key_never_appears_in_repr_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = FakeApi({"L1": make_pages("L1", [1])}, script={1: status(500), 2: drop})
    progress: list[str] = []
    c = Client(api_key=SENTINEL, transport=api, rate_limit=None, sleep=FakeSleep())
    try:
        texts = [repr(c), str(c), repr(c.events("L1")), repr(c._async)]
        result = c.fetch_events(["L1", "L2"], on_progress=lambda p: progress.append(repr(p)))
        texts += [repr(result), str(result.status.to_dicts()), *map(str, result.errors.values())]
        texts += [repr(e) for e in result.errors.values()]
    finally:
        c.close()
    texts += [r.getMessage() for r in caplog.records] + progress
    assert result.errors  # 401s happened
    assert not [t for t in texts if SENTINEL in t]


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(QueryError, match="http://"):
        Client(api_key=KEY, base_url="http://api.leadping.ai")
    Client(api_key=KEY, base_url="http://127.0.0.1:9").close()
    Client(api_key=KEY, base_url="http://[::1]:9").close()


@pytest.mark.parametrize("bad", ["", " ", "a/b", "../x", "x?y=1", "x#f", "x%2Fy", "a b"])
def test_bad_lead_ids_fail_before_any_request(bad: str) -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    with client_for(api) as c:
        with pytest.raises(QueryError):
            c.events(bad)
        with pytest.raises(QueryError):
            c.fetch_events(["L1", bad])
    assert api.requests == []


def test_lead_id_is_percent_encoded_into_one_path_segment() -> None:
    api = FakeApi({"a:b@c": make_pages("a:b@c", [1])})
    api.pages["a%3Ab%40c"] = api.pages["a:b@c"]
    with client_for(api) as c:
        c.events("a:b@c").frame()
    assert api.requests[0].path == "/events/leads/a%3Ab%40c"


# --- many leads ---------------------------------------------------------------------------


def test_fetch_events_many_leads_one_frame_with_lead_ids() -> None:
    api = FakeApi({f"L{i}": make_pages(f"L{i}", [2, 2]) for i in range(10)})
    seen: list[Any] = []
    with client_for(api) as c:
        result = c.fetch_events(
            [f"L{i}" for i in range(10)], EventQuery(page_size=2), on_progress=seen.append
        )
    assert result.ok and result.frame.height == 40
    assert result.frame.group_by("lead_id").len().sort("lead_id")["len"].to_list() == [4] * 10
    assert result.status["ok"].all() and result.status["pages"].to_list() == [2] * 10
    final = seen[-1]
    assert (final.leads_done, final.leads_total, final.pages, final.events) == (10, 10, 20, 40)
    assert sum(p.lead_finished for p in seen) == 10


def test_pages_read_with_learned_keys_lose_nothing_of_a_later_lead() -> None:
    # The client learns the declared keys from the first page it parses (L1's); L2 carries
    # more declared keys, so its pages fail the key count and are read again in full.
    late = {"failedAt": "2024-05-01T01:00:00Z", "statusReason": "carrier", "isWarmup": True}
    api = FakeApi(
        {
            "L1": make_pages("L1", [2, 2]),
            "L2": [[item("L2", 0, **late), item("L2", 1)], [item("L2", 2, **late)]],
        }
    )
    with client_for(api, concurrency=1) as c:
        result = c.fetch_events(["L1", "L2"], EventQuery(page_size=2))
        learned = c._async._read_keys.keys
    assert result.ok and result.frame.height == 7
    l2 = result.frame.filter(pl.col("lead_id") == "L2")
    assert l2.get_column("status_reason").to_list() == ["carrier", None, "carrier"]
    assert l2.get_column("is_warmup").to_list() == [True, None, True]
    assert l2.get_column("failed_at").null_count() == 1
    assert learned is not None and {"failedAt", "statusReason", "isWarmup"} <= learned
    assert "activityCategory" not in learned  # never sent, so never read


def test_fetch_events_fills_a_missing_lead_id_with_the_lead_fetched() -> None:
    sizes = {"A": [3, 1], "B": [0], "C": [2], "D": [1, 1]}
    pages = {lead: make_pages(lead, s) for lead, s in sizes.items()}
    for lead in ("A", "C"):  # these leads' items do not carry leadId
        for page in pages[lead]:
            for it in page:
                del it["leadId"]
    api = FakeApi(pages)
    with client_for(api) as c:
        result = c.fetch_events(list(sizes), EventQuery(page_size=3))
    assert result.ok
    got = result.frame.select("id", "lead_id").rows()
    assert sorted(got) == sorted(
        (f"{lead}-ev{n:04d}", lead) for lead, s in sizes.items() for n in range(sum(s))
    )


# Finished leads are converted in batches of at least _BATCH_EVENTS events, or at once when
# every lead has started and the converter is idle; 1 converts nearly every lead on its own,
# 10_000 only ever batches by that second rule (2-4 batches for these five leads).
BATCHINGS = [1, 3, 10_000]


@pytest.mark.parametrize("batch_events", BATCHINGS)
def test_fetch_events_rows_follow_the_lead_order_whatever_the_batching(
    monkeypatch: pytest.MonkeyPatch, batch_events: int
) -> None:
    monkeypatch.setattr(_client_fanout, "_BATCH_EVENTS", batch_events)
    # A needs four requests, so the others finish (and may be converted) before it
    sizes = {"A": [2, 2, 2, 1], "B": [1], "C": [2, 1], "D": [], "E": [2]}
    api = FakeApi({lead: make_pages(lead, s) for lead, s in sizes.items()})
    with client_for(api) as c:
        result = c.fetch_events(list(sizes), EventQuery(page_size=2))
        one_by_one = [c.events(lead, EventQuery(page_size=2)).frame() for lead in sizes]
    assert result.ok
    assert result.frame["id"].to_list() == [
        f"{lead}-ev{n:04d}" for lead, s in sizes.items() for n in range(sum(s))
    ]
    assert result.frame.equals(pl.concat(one_by_one))
    assert result.frame.schema == pl.Schema(EVENT_SCHEMA)
    assert result.status["events"].to_list() == [7, 1, 3, 0, 2]
    assert result.report.n_events == 13 and result.report.n_pages == 9


@pytest.mark.parametrize("batch_events", BATCHINGS)
def test_a_lead_with_a_bad_value_fails_alone_in_its_batch(
    monkeypatch: pytest.MonkeyPatch, batch_events: int
) -> None:
    monkeypatch.setattr(_client_fanout, "_BATCH_EVENTS", batch_events)
    pages = {lead: make_pages(lead, [2, 1]) for lead in "ABC"}
    pages["B"][1][0]["billableAmount"] = "12,5"
    api = FakeApi(pages)
    seen: list[Any] = []
    with client_for(api) as c:
        result = c.fetch_events(list("ABC"), EventQuery(page_size=2), on_progress=seen.append)
    assert result.failed == ["B"]
    err = result.errors["B"]
    assert isinstance(err, SchemaError)
    assert (err.lead_id, err.page, err.field, err.value) == ("B", 2, "billableAmount", "12,5")
    assert result.frame["lead_id"].to_list() == ["A"] * 3 + ["C"] * 3
    row = result.status.filter(pl.col("lead_id") == "B").row(0, named=True)
    assert row["ok"] is False and row["events"] == 0 and row["error_type"] == "SchemaError"
    assert seen[-1].leads_failed == 1 and seen[-1].leads_done == 3


@pytest.mark.parametrize("batch_events", BATCHINGS)
def test_boundary_duplicates_are_dropped_per_lead_in_a_batch(
    monkeypatch: pytest.MonkeyPatch, batch_events: int
) -> None:
    monkeypatch.setattr(_client_fanout, "_BATCH_EVENTS", batch_events)
    pages = {lead: make_pages(lead, [3, 3]) for lead in "ABC"}
    pages["B"][1].insert(0, dict(pages["B"][0][-1]))
    # the same event id under two leads is not a duplicate of either
    pages["C"][0][0]["id"] = pages["A"][0][0]["id"]
    api = FakeApi(pages)
    with client_for(api) as c:
        result = c.fetch_events(list("ABC"), EventQuery(page_size=3))
    assert result.ok
    assert result.status["duplicates_dropped"].to_list() == [0, 1, 0]
    assert result.status["events"].to_list() == [6, 6, 6]
    assert result.frame.height == 18
    assert result.frame.select(pl.struct("lead_id", "id").is_unique().all()).item()


@pytest.mark.parametrize("batch_events", BATCHINGS)
def test_fetch_events_max_events_caps_each_lead(
    monkeypatch: pytest.MonkeyPatch, batch_events: int
) -> None:
    monkeypatch.setattr(_client_fanout, "_BATCH_EVENTS", batch_events)
    api = FakeApi({lead: make_pages(lead, s) for lead, s in {"A": [3, 3], "B": [2]}.items()})
    with client_for(api) as c:
        result = c.fetch_events(["A", "B"], EventQuery(page_size=3), max_events=4)
    assert result.frame["id"].to_list() == [f"A-ev{n:04d}" for n in range(4)] + [
        "B-ev0000",
        "B-ev0001",
    ]
    assert result.status["events"].to_list() == [4, 2]
    assert result.status["complete"].to_list() == [False, True]


def test_one_failing_lead_never_costs_the_others() -> None:
    api = FakeApi({f"L{i}": make_pages(f"L{i}", [1, 1]) for i in range(5)})
    api.per_lead_script["L2"] = lambda r, n: status(500)(r)
    with client_for(api) as c:
        result = c.fetch_events([f"L{i}" for i in range(5)] + ["NOPE"])
    assert sorted(result.failed) == ["L2", "NOPE"]
    assert result.frame.height == 8
    assert set(result.frame["lead_id"].unique()) == {"L0", "L1", "L3", "L4"}
    row = result.status.filter(pl.col("lead_id") == "NOPE").row(0, named=True)
    assert row["ok"] is False and row["error_type"] == "ApiError" and "404" in row["error"]
    with pytest.raises(ApiError):
        result.raise_for_errors()


def test_concurrency_cap_is_respected() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    api = FakeApi({f"L{i}": make_pages(f"L{i}", [1, 1]) for i in range(12)})
    inner = api.handle

    def counting(req: WireRequest) -> WireResponse:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.01)
        with lock:
            in_flight -= 1
        return inner(req)

    api.handle = counting  # type: ignore[method-assign]
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        c.fetch_events([f"L{i}" for i in range(12)], concurrency=3)
    assert peak <= 3


def test_cancel_really_stops_and_leaves_no_tasks() -> None:
    api = FakeApi({f"L{i}": make_pages(f"L{i}", [1] * 50) for i in range(20)}, delay=0.05)
    c = Client(api_key=KEY, transport=api, rate_limit=None)
    try:
        job = c.start_fetch([f"L{i}" for i in range(20)])
        time.sleep(0.3)
        assert not job.done()
        job.cancel()
        assert job.cancelled() and job.done()
        n = len(api.requests)
        time.sleep(0.3)
        assert len(api.requests) == n  # nothing more was sent
        tasks = c._runner.run(_other_tasks())
        assert tasks == 0
    finally:
        c.close()
    assert n < 20 * 50


async def _other_tasks() -> int:
    me = asyncio.current_task()
    return len([t for t in asyncio.all_tasks() if t is not me and not t.done()])


def test_keyboard_interrupt_cancels_the_fetch() -> None:
    import _thread

    api = FakeApi({f"L{i}": make_pages(f"L{i}", [1] * 50) for i in range(10)}, delay=0.05)
    c = Client(api_key=KEY, transport=api, rate_limit=None)
    fired: list[float] = []
    timer = threading.Timer(0.3, lambda: (fired.append(time.monotonic()), _thread.interrupt_main()))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            c.fetch_events([f"L{i}" for i in range(10)])
        # stopped mid-way (10 x 50 pages, ~3 s), not when the fetch would have ended: counted
        # in requests, which a loaded machine slows down just as much as the interrupt
        n = len(api.requests)
        assert fired and n < 10 * 50 // 2, n
        time.sleep(0.3)
        assert len(api.requests) == n
        assert c._runner.run(_other_tasks()) == 0
    finally:
        timer.cancel()
        c.close()


def test_waiting_for_a_job_is_interruptible_and_leaves_the_job_running() -> None:
    import _thread

    api = FakeApi({f"L{i}": make_pages(f"L{i}", [1] * 50) for i in range(10)}, delay=0.05)
    fired: list[float] = []
    timer = threading.Timer(0.3, lambda: (fired.append(time.monotonic()), _thread.interrupt_main()))
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        job = c.start_fetch([f"L{i}" for i in range(10)])
        try:
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                job.result()
            # the waiting ended mid-fetch (10 x 50 pages), not when the fetch ended
            assert fired and len(api.requests) < 10 * 50 // 2, len(api.requests)
            assert not job.done()  # Ctrl-C stopped the waiting, not the fetch
            with pytest.raises(TimeoutError):
                job.result(timeout=0.05)
        finally:
            timer.cancel()
        assert job.cancel() and job.done()
        assert c._runner.run(_other_tasks()) == 0


def test_closing_the_client_cancels_a_running_job() -> None:
    api = FakeApi({f"L{i}": make_pages(f"L{i}", [1] * 50) for i in range(10)}, delay=0.05)
    c = Client(api_key=KEY, transport=api, rate_limit=None)
    job = c.start_fetch([f"L{i}" for i in range(10)])
    time.sleep(0.2)
    c.close()
    assert job.cancelled() and job.done()
    n = len(api.requests)
    time.sleep(0.2)
    assert len(api.requests) == n < 500
    assert not c._runner._thread.is_alive()


def test_sync_client_works_inside_a_running_event_loop() -> None:
    """As in a Jupyter cell: a loop is running in this thread; no asyncio.run, no patching."""
    api = FakeApi({"L1": make_pages("L1", [2, 1])})

    async def cell() -> int:
        with client_for(api) as c:
            return c.events("L1").frame().height

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(cell()) == 3
    finally:
        loop.close()


async def _async_fetch(api: FakeApi) -> tuple[int, int]:
    async with AsyncClient(api_key=KEY, transport=api, rate_limit=None) as c:
        frame = await c.events("L1").frame()
        pages = [p async for p in c.events("L1").pages()]
        result = await c.fetch_events(["L1"])
        return frame.height + result.frame.height, len(pages)


def test_async_client_has_the_same_methods() -> None:
    api = FakeApi({"L1": make_pages("L1", [2, 1])})
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(_async_fetch(api)) == (6, 2)
    finally:
        loop.close()


def _params(fn: Any) -> list[tuple[str, Any, Any, Any]]:
    sig = inspect.signature(fn)
    return [(p.name, p.kind, p.default, p.annotation) for p in sig.parameters.values()]


def test_the_sync_and_async_clients_take_the_same_parameters() -> None:
    # every public method both clients have, parameter by parameter: name, kind, default and
    # annotation (the return types differ by design: EventSearch / AsyncEventSearch, awaitables)
    sync_names = {n for n in dir(Client) if not n.startswith("_")}
    async_names = {n for n in dir(AsyncClient) if not n.startswith("_")}
    shared = {n for n in sync_names & async_names if callable(getattr(Client, n))}
    assert shared >= {"account_events", "events", "fetch_events", "lead", "leads"}
    for name in sorted(shared | {"__init__"}):
        assert _params(getattr(Client, name)) == _params(getattr(AsyncClient, name)), name
    # the background twins take what the calls they start take
    assert _params(Client.start_fetch) == _params(Client.fetch_events)
    assert _params(Client.start_account_events) == _params(Client.account_events)
    assert {"close", "start_account_events", "start_fetch"} <= sync_names - async_names
    assert "aclose" in async_names - sync_names
    for name in ("__init__", "fetch_events", "start_fetch", "leads"):
        kinds = {p.kind for p in inspect.signature(getattr(Client, name)).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, name


def test_the_emulator_clients_take_the_clients_parameters() -> None:
    # Emulator.client() / async_client() wire api_key, base_url and transport themselves and
    # take every other parameter of Client / AsyncClient, with the same kind, default and
    # annotation (so a new client parameter cannot be forgotten here)
    wired = {"self", "api_key", "base_url", "transport"}
    for method, cls in ((Emulator.client, Client), (Emulator.async_client, AsyncClient)):
        theirs = [p for p in _params(cls.__init__) if p[0] not in wired]
        ours = _params(method)
        assert ours[0][0] == "self"
        assert ours[1:] == theirs, method.__name__
        kinds = {p[1] for p in ours}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, method.__name__
    # and they are handed on, not dropped
    emu = Emulator(seed=1, n_leads=2)
    with emu.client(timeout=5.0, concurrency=3, rate_limit=None) as c:
        a = c._async
        assert (a.timeout, a.concurrency, a.rate_limit, a._transport) == (5.0, 3, None, emu)
    ac = emu.async_client(timeout=7.0, concurrency=2, retry=RetryPolicy(attempts=1))
    assert (ac.timeout, ac.concurrency, ac.retry.attempts, ac._transport) == (7.0, 2, 1, emu)


def test_rate_limit_error_takes_api_errors_parameters() -> None:
    # RateLimitError spells out ApiError's keyword parameters (no **kwargs) and adds one
    theirs = _params(ApiError.__init__)
    ours = [p for p in _params(RateLimitError.__init__) if p[0] != "retry_after"]
    assert ours == theirs
    err = RateLimitError("slow down", retry_after=3.0, status=429, lead_id="L1", page=2)
    assert (err.retry_after, err.status, err.lead_id, err.page) == (3.0, 429, "L1", 2)


def test_async_client_refuses_a_second_event_loop() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    c = AsyncClient(api_key=KEY, transport=api, rate_limit=None)
    loop1, loop2 = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        loop1.run_until_complete(c.events("L1").frame())
        with pytest.raises(Exception, match="bound to the event loop"):
            loop2.run_until_complete(c.events("L1").frame())
        loop1.run_until_complete(c.aclose())
    finally:
        loop1.close()
        loop2.close()


# --- the rate limiter ---------------------------------------------------------------------


def test_limiter_keeps_to_the_window_with_a_fake_clock() -> None:
    from leadping_nb._http.transport import RateLimiter

    now = [0.0]
    starts: list[float] = []

    async def sleep(s: float) -> None:
        now[0] += s

    async def run() -> None:
        lim = RateLimiter(RateLimit(5, 1.0), clock=lambda: now[0], sleep=sleep)
        for _ in range(23):
            async with lim.slot():
                starts.append(now[0])

    _run(run())
    for i, t in enumerate(starts):
        in_window = [s for s in starts[: i + 1] if s > t - 1.0]
        assert len(in_window) <= 5
    # and it does not waste the budget: 23 starts take a bit over 4 windows
    assert 4.0 <= starts[-1] <= 4.0 * 1.02 + 0.1


def test_limiter_charges_in_flight_requests_until_their_answer_plus_a_window() -> None:
    from leadping_nb._http.transport import RateLimiter

    now = [0.0]
    sent: list[float] = []

    async def sleep(s: float) -> None:
        now[0] += s

    async def run() -> None:
        lim = RateLimiter(RateLimit(2, 1.0), clock=lambda: now[0], sleep=sleep)

        async def request(duration: float) -> None:
            async with lim.slot():
                sent.append(now[0])
                await asyncio.sleep(0)  # in flight
                now[0] += duration  # the answer arrives later

        await asyncio.gather(request(0.5), request(0.5), request(0.0))

    _run(run())
    # the third waits for an answer (t=0.5 or 1.0) plus one window (1.02)
    assert sent[2] >= 1.5


def test_a_429_pauses_every_request() -> None:
    from leadping_nb._http.transport import RateLimiter

    now = [0.0]

    async def sleep(s: float) -> None:
        now[0] += s

    async def run() -> float:
        lim = RateLimiter(RateLimit(100, 1.0), clock=lambda: now[0], sleep=sleep)
        async with lim.slot():
            lim.pause(3.0)
        async with lim.slot():
            return now[0]

    assert _run(run()) == 3.0


def _run(coro: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# --- a closed client -----------------------------------------------------------------------

CLOSED = "this client is closed; create a new one"
_UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


def _public_methods(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}


def _sync_calls(c: Client, search: EventSearch) -> dict[str, Callable[[], object]]:
    """Every public method of a closed Client (and of a search made while it was open)."""
    since = _UNTIL - timedelta(days=1)
    return {
        "events": lambda: c.events("L1"),
        "fetch_events": lambda: c.fetch_events(["L1"]),
        "start_fetch": lambda: c.start_fetch(["L1"]),
        "account_events": lambda: c.account_events(since=since, until=_UNTIL),
        "start_account_events": lambda: c.start_account_events(since=since, until=_UNTIL),
        "leads": lambda: c.leads(),
        "lead": lambda: c.lead("L1"),
        "__enter__": lambda: c.__enter__(),
        "search.pages": lambda: list(search.pages()),
        "search.items": lambda: list(search.items()),
        "search.frame": lambda: search.frame(),
        "search.count": lambda: search.count(),
    }


def test_a_closed_client_says_so_for_every_public_method() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with client_for(api) as c:
            assert c.events("L1").frame().height == 1
            search = c.events("L1")
        calls = _sync_calls(c, search)
        covered = {n for n in calls if "." not in n} | {"close", "__enter__"}
        assert _public_methods(Client) | {"__enter__"} == covered
        assert _public_methods(EventSearch) == {n.split(".")[1] for n in calls if "." in n}
        n_requests = len(api.requests)
        for name, call in calls.items():
            with pytest.raises(LeadpingError, match=CLOSED) as exc:
                call()
            assert type(exc.value) is LeadpingError, name
        c.close()  # closing again is fine
        gc.collect()
    assert len(api.requests) == n_requests  # nothing was sent
    assert [str(w.message) for w in caught] == []


async def _closed_async_calls(api: FakeApi) -> list[str]:
    failed: list[str] = []
    async with AsyncClient(api_key=KEY, transport=api, rate_limit=None) as c:
        assert (await c.events("L1").frame()).height == 1
        search = c.events("L1")
    since = _UNTIL - timedelta(days=1)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "events": lambda: _call(c.events, "L1"),
        "fetch_events": lambda: c.fetch_events(["L1"]),
        "account_events": lambda: c.account_events(since=since, until=_UNTIL),
        "leads": lambda: c.leads(),
        "lead": lambda: c.lead("L1"),
        "__aenter__": lambda: c.__aenter__(),
        "search.pages": lambda: _drain(search.pages()),
        "search.items": lambda: _drain(search.items()),
        "search.frame": lambda: search.frame(),
        "search.count": lambda: search.count(),
    }
    assert _public_methods(AsyncClient) | {"__aenter__"} == {n for n in calls if "." not in n} | {
        "aclose",
        "__aenter__",
    }
    assert _public_methods(AsyncEventSearch) == {n.split(".")[1] for n in calls if "." in n}
    for name, call in calls.items():
        try:
            await call()
        except LeadpingError as exc:
            if type(exc) is LeadpingError and CLOSED in str(exc):
                continue
        failed.append(name)
    await c.aclose()  # closing again is fine
    return failed


async def _call(fn: Callable[..., object], *args: object) -> object:
    return fn(*args)


async def _drain(agen: AsyncIterator[object]) -> list[object]:
    return [x async for x in agen]


def test_a_closed_async_client_says_so_for_every_public_method() -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    loop = asyncio.new_event_loop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            assert loop.run_until_complete(_closed_async_calls(api)) == []
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        gc.collect()
    assert len(api.requests) == 1
    assert [str(w.message) for w in caught] == []


# --- the shape of the client modules --------------------------------------------------------


def _client_imports() -> dict[str, set[str]]:
    """module of ``leadping_nb._client`` -> the ``_client`` modules it imports (at any
    depth of its code; ``__init__`` for the package itself)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "leadping_nb" / "_client"
    prefix = "leadping_nb._client"
    graph: dict[str, set[str]] = {}
    for path in root.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == prefix:
                    deps.update(
                        a.name if (root / f"{a.name}.py").exists() else "__init__"
                        for a in node.names
                    )
                elif node.module.startswith(prefix + "."):
                    deps.add(node.module.removeprefix(prefix + ".").split(".")[0])
        graph[path.stem] = deps - {path.stem}
    return graph


def test_the_client_modules_import_one_way() -> None:
    graph = _client_imports()
    assert {"__init__", "account", "search", "fanout", "paging", "fetch"} <= set(graph)
    for start in sorted(graph):
        stack, seen = [start], set()
        while stack:
            for dep in graph.get(stack.pop(), set()):
                assert dep != start, f"{start} imports itself back (through {sorted(seen)})"
                if dep not in seen and dep in graph:
                    seen.add(dep)
                    stack.append(dep)
    # the account stream and the search know the session, never a client
    for low in ("account", "search", "fanout", "paging", "fetch"):
        assert not graph[low] & {"__init__", "async_client", "sync_client"}, low
    assert "async_client" in graph["sync_client"]  # the graph is read, not empty
