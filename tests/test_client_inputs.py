"""The clients' inputs, checked before any request, and what cannot be checked in advance:
malformed API keys (refused without being shown), base URLs (credentials masked), lead ids
and lead lists, unexpected exceptions while fetching one lead or window (that lead's or
window's ``FetchError``), and leads that return no events (``FetchResult.empty``)."""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from leadping_nb import (
    AsyncClient,
    AuthError,
    Client,
    Emulator,
    EventQuery,
    FetchError,
    LeadpingError,
    QueryError,
    RetryPolicy,
    SchemaError,
)
from leadping_nb._http.transport import check_api_key, mask_url
from leadping_nb._http.wire import WireRequest, WireResponse

from .fakes import KEY, FakeApi, make_pages

FAST = RetryPolicy(attempts=2, backoff=0.0)


def substrings(secret: str, n: int = 6) -> list[str]:
    """Every ``n``-character piece of ``secret`` (a partly shown key leaks too)."""
    return [secret[i : i + n] for i in range(len(secret) - n + 1)]


def shown(exc: BaseException) -> str:
    """Everything a user may see of an exception: text, repr, traceback, attributes."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    chained: BaseException | None = exc
    while chained is not None:
        parts.append(repr(vars(chained)))
        chained = chained.__cause__ or chained.__context__
    return "\n".join(parts)


# --- row 2: malformed keys ------------------------------------------------------------------

MALFORMED_KEYS = {
    "newline": "lp_live_KEYPART\n_9d41c7e2b8f0",
    "crlf": "lp_live_KEYPART\r\n_9d41c7e2b8f0",
    "nul": "lp_live_KEYPART\x00_9d41c7e2b8f0",
    "tab": "lp_live_KEYPART\t_9d41c7e2b8f0",
    "space inside": "lp_live_KEYPART _9d41c7e2b8f0",
    "non-ascii": "lp_live_KEYPARTé_9d41c7e2b8f0",
    "nbsp": "lp_live_KEYPART\u00a0_9d41c7e2b8f0",
    "lone surrogate": "lp_live_KEYPART\ud800_9d41c7e2b8f0",
    # how os.environ shows a byte that is not UTF-8 (a Latin-1 "é" exported in a shell)
    "undecodable byte": "lp_live_KEYPART\udce9_9d41c7e2b8f0",
    "del": "lp_live_KEYPART\x7f_9d41c7e2b8f0",
}


@pytest.mark.parametrize("name", list(MALFORMED_KEYS))
@pytest.mark.parametrize("source", ["api_key", "env"])
@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_a_malformed_key_is_refused_when_the_client_is_made_and_never_shown(
    name: str, source: str, cls: type[Client] | type[AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = MALFORMED_KEYS[name]
    api = FakeApi({"L1": make_pages("L1", [1])})
    if source == "env":
        if name in ("nul", "lone surrogate"):
            pytest.skip("an environment variable cannot hold this character")
        monkeypatch.setenv("LEADPING_API_KEY", key)
        args: tuple[Any, ...] = ()
    else:
        monkeypatch.delenv("LEADPING_API_KEY", raising=False)
        args = (key,)
    with pytest.raises(QueryError) as info:
        cls(*args, transport=api, retry=FAST)
    err = info.value
    where = "api_key" if source == "api_key" else "LEADPING_API_KEY"
    assert err.field == where and str(err).startswith(f"{where}: ")
    assert "printable ASCII without spaces" in str(err) and "not shown" in str(err)
    assert err.__context__ is None and err.__cause__ is None
    text = shown(err)
    assert not [s for s in substrings(key) if s in text], text
    assert api.requests == []


@pytest.mark.parametrize("key", ["", " ", "\t\n"])
def test_a_blank_key_is_refused_and_an_empty_variable_is_no_key(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(QueryError, match="api_key: the API key is empty or blank"):
        Client(key, transport=FakeApi({}))
    monkeypatch.setenv("LEADPING_API_KEY", "")  # `export LEADPING_API_KEY=`: unset
    with Client(transport=FakeApi({})) as c:
        assert not c.has_api_key
    if key:
        monkeypatch.setenv("LEADPING_API_KEY", key)
        with pytest.raises(QueryError, match="LEADPING_API_KEY: the key in LEADPING_API_KEY"):
            Client(transport=FakeApi({}))


def test_a_good_key_is_stripped_and_sent() -> None:
    assert check_api_key(f"  {KEY}\n", "api_key") == KEY
    api = FakeApi({"L1": make_pages("L1", [1])})
    with Client(f" {KEY} ", transport=api, rate_limit=None) as c:
        assert c.events("L1").frame().height == 1
    assert api.requests[0].headers["authorization"] == f"Bearer {KEY}"
    with pytest.raises(QueryError, match="4,096"):
        check_api_key("k" * 4097, "api_key")


# --- rows 2 and 3: base URLs ----------------------------------------------------------------

SECRET = "pw_SECRET_c0ffee"


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://u:{SECRET}@x",
        f"http://u:{SECRET}@127.0.0.1",
        f"https://u:{SECRET}@api.leadping.ai",
        f"https://{SECRET}@api.leadping.ai:99999",
        f"https://u:pw/{SECRET}@api.leadping.ai",
        f"https://u:pw#{SECRET}@api.leadping.ai",
        f"https://u:{SECRET}@api.leadping.ai/\n",
        f"https://u@x:{SECRET}@api.leadping.ai",
    ],
)
def test_credentials_in_a_base_url_are_masked_in_every_message(url: str) -> None:
    with pytest.raises(QueryError) as info:
        Client(api_key=KEY, base_url=url)
    text = shown(info.value)
    assert not [s for s in substrings(SECRET) if s in text], text
    assert "***@" in str(info.value) and info.value.field == "base_url"
    assert SECRET not in mask_url(url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://api.leadping.ai:99999", "port must be a number within 1-65535"),
        ("https://api.leadping.ai:0", "port must be a number within 1-65535"),
        ("https://api.leadping.ai:http", "port must be a number within 1-65535"),
        ("https://api.leadping.ai\n", "white space or a control character"),
        ("https://api.leadping.ai/v1\r\nX-Evil: 1", "white space or a control character"),
        ("https://api.lead ping.ai", "white space or a control character"),
        ("https://api.leadping.ai\x00", "white space or a control character"),
        ("https://api.leadping.ai/?x=1", "query or a fragment"),
        ("https://api.leadping.ai/#top", "query or a fragment"),
        ("mailto:someone", "http(s) URL with a host"),
        ("https://", "http(s) URL with a host"),
        ("https://" + "a" * 3000, "longer than 2,048 characters"),
    ],
)
def test_bad_base_urls_are_refused_before_any_request(url: str, says: str) -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    with pytest.raises(QueryError, match="base_url") as info:
        Client(api_key=KEY, base_url=url, transport=api)
    assert says in str(info.value)
    assert len(str(info.value)) < 600
    assert api.requests == []


def test_good_base_urls_pass() -> None:
    for url in ("https://api.leadping.ai:443/v1/", "http://[::1]:8080", "http://localhost"):
        Client(api_key=KEY, base_url=url).close()


# --- row 3: lead ids and the lead list --------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["a" * 70_000, "a" * 1001, "lead\ud800", "lead\x85x", ".", "lead\u2028x"],
    ids=["70k", "1001", "surrogate", "c1-control", "dot", "line-separator"],
)
def test_lead_ids_that_cannot_be_sent_are_refused_before_any_request(bad: str) -> None:
    api = FakeApi({"L1": make_pages("L1", [1])})
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        with pytest.raises(QueryError) as info:
            c.fetch_events(["L1", bad])
        assert info.value.field == "leadId" and len(str(info.value)) < 300
        with pytest.raises(QueryError):
            c.events(bad)
    assert api.requests == []


def test_a_thousand_character_lead_id_is_sent() -> None:
    lead = "L" * 1000
    api = FakeApi({lead: make_pages(lead, [2])})
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        assert c.fetch_events([lead]).frame.height == 2


@pytest.mark.parametrize("bad", [None, 42, b"lead_0001", object()])
def test_fetch_events_of_no_list_is_a_query_error(bad: Any) -> None:
    api = FakeApi({})
    with Client(api_key=KEY, transport=api) as c:
        with pytest.raises(QueryError, match="lead_ids"):
            c.fetch_events(bad)
        with pytest.raises(QueryError, match="lead_ids"):
            c.start_fetch(bad)
    assert api.requests == []


# --- row 3: anything unexpected costs only its lead or window ---------------------------------

JSON = (("content-type", "application/json"),)


class Hostile:
    """The emulator, except for a few leads: a lone surrogate in a body the stdlib fallback
    parser reads (a wrong JSON type elsewhere on the page), or a transport that raises."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def handle(self, request: WireRequest) -> WireResponse:
        lead = request.path.rsplit("/", 1)[-1]
        if lead == "surrogate":
            body = b'{"items":[{"id":"\\ud800","leadId":"surrogate","summary":{}}]}'
            return WireResponse(200, JSON, body)
        if lead == "boom":
            raise RuntimeError("the transport broke")
        return self.emu.handle(request)


def test_an_unexpected_exception_is_that_leads_error_and_the_others_are_exact() -> None:
    emu = Emulator(seed=3, n_leads=3, heavy_leads=0)
    good = emu.lead_ids()
    with emu.client() as c:
        want = c.fetch_events(good).frame
    with Client(api_key="lp_emulator_0000", transport=Hostile(emu), retry=FAST) as c:
        result = c.fetch_events([good[0], "surrogate", good[1], "boom", good[2]])
    assert sorted(result.failed) == ["boom", "surrogate"]
    assert result.frame.equals(want)
    # an exception the client does not know becomes the lead's FetchError
    err = result.errors["boom"]
    assert isinstance(err, FetchError) and err.lead_id == "boom"
    assert err.__cause__ is err.cause and isinstance(err.cause, RuntimeError)
    row = result.status.filter(pl.col("lead_id") == "boom").row(0, named=True)
    assert row["ok"] is False and row["error_type"] == "FetchError"
    assert "while fetching lead 'boom'" in row["error"]
    # a lone surrogate is no longer unexpected: the parser names it (a SchemaError)
    bad = result.errors["surrogate"]
    assert isinstance(bad, SchemaError) and bad.lead_id == "surrogate"
    assert "lone surrogate" in str(bad)
    for lead in ("surrogate", "boom"):
        message = result.status.filter(pl.col("lead_id") == lead).row(0, named=True)["error"]
        message.encode("utf-8")  # printable, whatever the cause held


def test_an_unexpected_exception_in_the_batch_conversion_costs_only_its_lead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from leadping_nb._client import fetch as _fetch

    real_assemble, real_convert = _fetch._assemble, _fetch.frame_from_pages

    def assemble(decoded: Any, lead_id: str | None = None, max_events: int | None = None) -> Any:
        if lead_id == "L2":
            raise MemoryError("no room for L2")
        return real_assemble(decoded, lead_id, max_events)

    def frame_from_pages(pages: Any) -> Any:
        if any(p.lead_id == "L2" for p in pages):  # the batch that holds L2 fails as one
            raise ValueError("the batch failed")
        return real_convert(pages)

    monkeypatch.setattr(_fetch, "_assemble", assemble)
    monkeypatch.setattr(_fetch, "frame_from_pages", frame_from_pages)
    api = FakeApi({f"L{i}": make_pages(f"L{i}", [2]) for i in range(4)})
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        result = c.fetch_events([f"L{i}" for i in range(4)])
    assert result.failed == ["L2"]
    assert isinstance(result.errors["L2"], FetchError)
    assert isinstance(result.errors["L2"].cause, MemoryError)
    assert result.frame.height == 6


class HostileWindow:
    """The emulator, except that the account window starting at ``bad_start`` raises."""

    def __init__(self, emu: Emulator, bad_start: str) -> None:
        self.emu = emu
        self.bad_start = bad_start

    def handle(self, request: WireRequest) -> WireResponse:
        if f"startAt={self.bad_start}" in request.query.replace("%3A", ":"):
            raise RuntimeError("this window broke")
        return self.emu.handle(request)


def test_an_unexpected_exception_costs_only_its_account_window() -> None:
    emu = Emulator(seed=3, n_leads=10, heavy_leads=0)
    until = emu.now
    since = until - timedelta(days=4)
    bad = (since + timedelta(days=2)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    transport = HostileWindow(emu, bad)
    with Client(api_key="lp_emulator_0000", transport=transport, retry=FAST) as c:
        result = c.account_events(since=since, until=until, window=timedelta(days=1))
    assert len(result.failed) == 1
    label = result.failed[0]
    assert label.startswith(bad)
    err = result.errors[label]
    assert isinstance(err, FetchError) and f"window {label}" in str(err)
    assert isinstance(err.cause, RuntimeError)
    row = result.status.filter(pl.col("window") == label).row(0, named=True)
    assert row["ok"] is False and row["error_type"] == "FetchError"
    # the other windows are there, exactly
    with emu.client() as c:
        whole = c.account_events(since=since, until=until).frame
    start = datetime.fromisoformat(bad + "+00:00")
    missing = (pl.col("created_at") >= start) & (pl.col("created_at") < start + timedelta(days=1))
    assert result.frame.equals(whole.filter(~missing))


# --- row 9: leads that returned nothing -------------------------------------------------------


def test_unknown_leads_are_named_as_empty() -> None:
    emu = Emulator(seed=1, n_leads=3, heavy_leads=0)
    with emu.client() as c:
        result = c.fetch_events(["lead_0001", "lead_9999", "lead_1"])
        account = c.account_events(since=emu.now - timedelta(days=1), until=emu.now)
    assert result.ok and result.empty == ["lead_9999", "lead_1"]
    assert result.status.filter(pl.col("events") == 0)["lead_id"].to_list() == result.empty
    assert "no events: ['lead_9999', 'lead_1']" in repr(result)
    assert account.empty == []
    failed = FakeApi({"L1": make_pages("L1", [1])})
    with Client(api_key="wrong", transport=failed, retry=FAST) as c:
        refused = c.fetch_events(["L1"])
    assert isinstance(refused.errors["L1"], AuthError) and refused.empty == []


def test_every_error_stays_a_leadping_error() -> None:
    assert issubclass(FetchError, LeadpingError)
    err = FetchError.wrap(ValueError("x" * 10_000), lead_id="L1")
    assert len(str(err)) < 700 and "10,000 characters" in str(err)
    assert json.dumps(str(FetchError.wrap(ValueError("\ud800"), lead_id="L1")))
    assert EventQuery()  # the module imports what the tests above need
