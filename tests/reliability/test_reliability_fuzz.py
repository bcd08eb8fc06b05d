"""Fuzzing: hypothesis-generated malformed page bodies, server answers and queries. Only the
documented errors ever come out: ``SchemaError`` (its subclass ``MalformedPageError``) from
the decoder, ``SchemaError`` / ``ApiError`` / ``PaginationError`` from the client,
``QueryError`` from queries and lead ids; anything that is accepted is well-formed.

Each target runs 1,000 examples in the default run and 10,000 behind the opt-in marker
(``pytest tests/reliability -m longfuzz``); the counts are printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadping_nb import (
    EVENT_SCHEMA,
    ApiError,
    AsyncClient,
    AuthError,
    EventQuery,
    Filter,
    LeadpingError,
    OrderBy,
    PaginationError,
    QueryError,
    RangeFilter,
    RetryPolicy,
    SchemaError,
    check_lead_id,
)
from leadping_nb._core.schema import EVENT_FIELDS
from leadping_nb._frame.decode import DecodedPage, MalformedPageError, decode_page
from leadping_nb._http.wire import WireRequest, WireResponse
from leadping_nb.emulator import Emulator

DEFAULT_EXAMPLES = 1_000
LONG_EXAMPLES = 10_000
KEY = "lp_fuzz_0000"


# ---- JSON building blocks -------------------------------------------------------------


class Raw(str):
    """JSON text emitted verbatim (a number spelled exactly as generated)."""


def dump(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + dump(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


TEXT = st.text(max_size=6) | st.sampled_from(['":null', "\\", "", "null", "{}", "NaN", "1,5"])


def _number(mantissa: int, places: int, exponent: int | None) -> str:
    digits = str(abs(mantissa)).rjust(places + 1, "0")
    text = ("-" if mantissa < 0 else "") + (
        digits[: len(digits) - places] + "." + digits[len(digits) - places :] if places else digits
    )
    return text if exponent is None else f"{text}e{exponent}"


NUMBER_TEXT = st.builds(
    _number,
    st.integers(-(10**22), 10**22),
    st.integers(0, 12),
    st.none() | st.integers(-400, 400),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    NUMBER_TEXT,
    NUMBER_TEXT.map(Raw),
    st.sampled_from([Raw("1e400"), Raw("-0"), Raw("1E-05"), Raw("0.10000000")]),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(TEXT, inner, max_size=2),
    max_leaves=3,
)


ZONE_SUFFIXES = st.sampled_from(["Z", "", "+05:30", "-0800", "z", " ", "+25:00"])


@st.composite
def timestamp_text(draw: st.DrawFn) -> str:
    ts = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    text = ts.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0")
    digits = draw(st.integers(0, 9))
    if digits:
        text += "." + str(draw(st.integers(0, 10**digits - 1))).rjust(digits, "0")
    return text + draw(ZONE_SUFFIXES)


def plausible(kind: str) -> st.SearchStrategy[Any]:
    """A value that is often valid for the field's kind, sometimes subtly not."""
    if kind == "timestamp":
        return timestamp_text() | TEXT
    if kind == "money":
        return NUMBER_TEXT | NUMBER_TEXT.map(Raw)
    if kind == "integer":
        ints = st.integers(-(2**33), 2**33)
        return ints | ints.map(str) | NUMBER_TEXT.map(Raw)
    if kind == "boolean":
        return st.booleans() | st.sampled_from(["true", "false", "True", 1, 0, "yes"])
    if kind == "media":
        media = st.dictionaries(
            st.sampled_from(["url", "contentType", "size", "sha256", "fileName", "fileId", "x"]),
            SCALARS,
            max_size=4,
        )
        return st.lists(media, max_size=2) | SCALARS
    return TEXT | st.sampled_from(["Sms", "Delivered", "Outbound", "Warmup"])


FIELD_VALUES = {
    **{f.api: plausible(f.kind) for f in EVENT_FIELDS},
    **{a: plausible(f.kind) for f in EVENT_FIELDS for a in f.aliases},
}
FIELD_VALUES_OR_JUNK = {k: v | JSON_VALUES for k, v in FIELD_VALUES.items()}
ITEM_KEYS = st.lists(
    st.sampled_from([*sorted(FIELD_VALUES), "segmentCount", "carrier", "id "]),
    max_size=10,
    unique=True,
)


@st.composite
def item(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in draw(ITEM_KEYS):
        junk = draw(st.integers(0, 9)) == 0
        out[key] = draw(
            FIELD_VALUES_OR_JUNK.get(key, JSON_VALUES)
            if junk
            else FIELD_VALUES.get(key, JSON_VALUES)
        )
    return out


@st.composite
def page_body(draw: st.DrawFn) -> bytes:
    envelope: dict[str, Any] = {}
    if draw(st.integers(0, 19)):
        envelope["items"] = draw(st.lists(item(), max_size=4))
    else:
        envelope["items"] = draw(JSON_VALUES)
    for key in ("pageSize", "totalCount", "continuationToken"):
        if draw(st.booleans()):
            envelope[key] = draw(SCALARS)
    if draw(st.integers(0, 9)) == 0:
        envelope[draw(TEXT)] = draw(JSON_VALUES)
    text = dump(envelope) if draw(st.integers(0, 19)) else dump(draw(JSON_VALUES))
    return text.encode()


def _real_pages() -> list[bytes]:
    pages = []
    eras: tuple[tuple[Literal["seed", "current"], bool], ...] = (
        ("current", False),
        ("seed", True),
        ("current", True),
    )
    for era, strings in eras:
        emu = Emulator(5, 2, heavy_leads=0, era=era, numbers_as_strings=strings, extra_fields=True)
        for lead in emu.lead_ids():
            truth = emu.ground_truth(lead)
            for start in (0, 3):
                body = {"items": truth[start : start + 3], "pageSize": 3, "continuationToken": "t"}
                pages.append(json.dumps(body, separators=(",", ":")).encode())
                REAL_LEAD[pages[-1]] = lead
    return pages


#: The lead each real page belongs to (a page is decoded as that lead's: a per-lead page
#: with another lead's events is refused).
REAL_LEAD: dict[bytes, str] = {}
REAL_PAGES = _real_pages()


@st.composite
def mutated_page(draw: st.DrawFn) -> tuple[str, bytes, str]:
    body = draw(st.sampled_from(REAL_PAGES))
    lead = REAL_LEAD[body]
    how = draw(
        st.sampled_from(
            ["truncate", "splice", "flip", "value", "drop-key", "envelope", "repeat-key"]
        )
    )
    if how == "truncate":
        return how, body[: draw(st.integers(0, len(body) - 1))], lead
    if how == "splice":
        i = draw(st.integers(0, len(body)))
        j = draw(st.integers(i, min(len(body), i + 20)))
        return how, body[:i] + draw(st.binary(max_size=12)) + body[j:], lead
    if how == "flip":
        i = draw(st.integers(0, len(body) - 1))
        return how, body[:i] + bytes([body[i] ^ draw(st.integers(1, 255))]) + body[i + 1 :], lead
    if how == "repeat-key":
        # a key of an item sent twice, the copy with another value (a hostile serializer)
        at = body.index(b'"', body.index(b'"items":[{') + 10)
        key = body[at : body.index(b'"', at + 1) + 1]
        name = key.decode()[1:-1]
        value = dump(draw(FIELD_VALUES_OR_JUNK.get(name, JSON_VALUES)))
        if value == json.dumps(json.loads(body)["items"][0][name], separators=(",", ":")):
            how = "repeat-key (same text)"  # the same JSON text twice: nothing to pick
        return how, body[:at] + key + b":" + value.encode() + b"," + body[at:], lead
    data = json.loads(body)
    items = data["items"]
    it = items[draw(st.integers(0, len(items) - 1))]
    key = draw(st.sampled_from(sorted(it)))
    if how == "value":
        it[key] = draw(FIELD_VALUES_OR_JUNK.get(key, JSON_VALUES))
    elif how == "drop-key":
        del it[key]
    else:
        data[draw(st.sampled_from(["items", "pageSize", "totalCount", "continuationToken"]))] = (
            draw(JSON_VALUES)
        )
    return how, dump(data).encode(), lead


# ---- the properties ------------------------------------------------------------------------


def check_decoded(d: DecodedPage, body: bytes) -> None:
    """What an accepted page must look like: the declared schema, one row per item, ids kept."""
    assert isinstance(d, DecodedPage)
    assert list(d.frame.schema.items())[: len(EVENT_SCHEMA)] == list(EVENT_SCHEMA.items())
    assert d.frame.height == d.n_items
    items = json.loads(body, parse_float=Decimal)["items"]
    assert len(items) == d.n_items
    for row, it in zip(d.frame["id"].to_list(), items, strict=True):
        if isinstance(it.get("id"), str):
            assert row == it["id"]
    assert d.token is None or isinstance(d.token, str)
    # every event has an id, and every value reads back (no year 0000, no lone surrogate)
    assert d.frame["id"].null_count() == 0
    assert len(d.frame.rows()) == d.n_items
    lead = d.lead_id
    if lead is not None:
        assert set(d.frame["lead_id"].drop_nulls().to_list()) <= {lead}


def decode_or_schema_error(
    body: bytes, lenient: bool, keep_unknown: bool, lead: str = "lead_fuzz"
) -> None:
    """Decoded and well-formed, or a SchemaError that says where (lead and page)."""
    error: SchemaError | None = None
    try:
        d = decode_page(body, lead_id=lead, page=3, lenient=lenient, keep_unknown=keep_unknown)
    except SchemaError as exc:
        error = exc
    if error is not None:
        assert (error.lead_id, error.page) == (lead, 3), repr(error)
        str(error).encode("utf-8")  # printable (a lone surrogate is shown escaped)
        return
    check_decoded(d, body)


def target_bytes(data: st.DataObject) -> None:
    body = data.draw(st.binary(max_size=200) | st.text(max_size=60).map(str.encode))
    decode_or_schema_error(body, data.draw(st.booleans()), data.draw(st.booleans()))


def target_pages(data: st.DataObject) -> None:
    body = data.draw(page_body())
    decode_or_schema_error(body, data.draw(st.booleans()), data.draw(st.booleans()))


def target_mutations(data: st.DataObject) -> None:
    how, body, lead = data.draw(mutated_page())
    lenient = data.draw(st.booleans())
    if how == "truncate":
        # a cut body is never a shorter page: it is always refused, and retried by the client
        with pytest.raises(MalformedPageError):
            decode_page(body, lead_id=lead, page=3, lenient=lenient)
        return
    if how == "repeat-key" and not lenient:
        # a key repeated with another value is never read as one of its copies
        with pytest.raises(SchemaError):
            decode_page(body, lead_id=lead, page=3)
        return
    decode_or_schema_error(body, lenient, data.draw(st.booleans()), lead)


# -- through the client: scripted server answers, in-process transport -------------------


class Script:
    """A server that answers the n-th request with the n-th scripted answer, then ends the
    chain with an empty last page."""

    def __init__(self) -> None:
        self.answers: list[WireResponse] = []
        self.served = 0
        self.lock = threading.Lock()

    def handle(self, request: WireRequest) -> WireResponse:
        with self.lock:
            n = self.served
            self.served += 1
        if n < len(self.answers):
            return self.answers[n]
        return WireResponse(200, (("content-type", "application/json"),), b'{"items":[]}')


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


RETRY_AFTER = (
    st.integers(-5, 10**9).map(str)
    | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8)
    | st.just(email.utils.format_datetime(datetime(2030, 1, 1, tzinfo=UTC), usegmt=True))
    | st.just("Wed, 21 Oct 2015 07:28:00 GMT")
)


STATUSES = st.sampled_from([200] * 6 + [204, 301, 400, 401, 403, 404, 418, 429, 500, 502, 503, 599])
CONTENT_TYPES = st.sampled_from(["application/json", "application/problem+json", "text/html"])
ANSWER_BODIES = (
    page_body()
    | mutated_page().map(lambda hb: hb[1])
    | st.sampled_from(REAL_PAGES)
    | st.binary(max_size=40)
    | st.builds(
        lambda t, d, e: dump({"type": "x", "title": t, "detail": d, "errors": e}).encode(),
        JSON_VALUES,
        JSON_VALUES,
        JSON_VALUES,
    )
)
TOKENS = st.sampled_from(["t1", "t2", "", None])
DELAYS = st.sampled_from([0.0] * 9 + [5.0])  # 5 s: past the 1 s read timeout


@st.composite
def answer(draw: st.DrawFn) -> WireResponse:
    status = draw(STATUSES)
    headers: list[tuple[str, str]] = [("content-type", draw(CONTENT_TYPES))]
    if draw(st.booleans()):
        headers.append(("retry-after", draw(RETRY_AFTER)))
    if status == 200 and draw(st.booleans()):
        # a chain of tokens from a tiny alphabet, so tokens repeat
        body = dump({"items": [], "continuationToken": draw(TOKENS)}).encode()
    else:
        body = draw(ANSWER_BODIES)
    delay = draw(DELAYS)
    fault = "drop" if draw(st.integers(0, 14)) == 0 else None
    return WireResponse(status, tuple(headers), body, delay, fault)  # type: ignore[arg-type]


class Scripted:
    """An AsyncClient over a :class:`Script`, on an event loop of this thread (no hop to a
    loop thread per example: the sync twin runs the same coroutines)."""

    def __init__(self) -> None:
        self.script = Script()
        self.loop = asyncio.new_event_loop()
        self.client = AsyncClient(
            KEY,
            transport=self.script,
            timeout=1.0,
            rate_limit=None,
            retry=RetryPolicy(attempts=2, backoff=0.0, max_retry_after=0.0),
            sleep=_no_sleep,
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


@pytest.fixture(scope="module")
def scripted() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.close()


ANSWERS = st.lists(answer(), min_size=1, max_size=4)


def run_client_target(s: Scripted, data: st.DataObject) -> None:
    s.script.answers = data.draw(ANSWERS)
    s.script.served = 0
    search = s.client.events("lead_fuzz", EventQuery(page_size=7), lenient=data.draw(st.booleans()))
    try:
        frame = s.loop.run_until_complete(search.frame())
    except (SchemaError, ApiError, PaginationError):
        return
    assert list(frame.schema.items())[: len(EVENT_SCHEMA)] == list(EVENT_SCHEMA.items())
    assert frame["id"].n_unique() == frame.height or frame["id"].null_count() > 0


# -- queries and lead ids -------------------------------------------------------------------

NAMES = (
    st.sampled_from(sorted({f.api for f in EVENT_FIELDS} | {f.column for f in EVENT_FIELDS})) | TEXT
)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
VALUES = (
    SCALARS
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.builds(
        lambda m, e: Decimal(f"{m}e{e}"),
        st.integers(-(10**6), 10**6),
        st.sampled_from([-(10**9), -400, -7, -6, 0, 6, 12, 30, 400, 10**9]),
    )
    | st.datetimes()
    | st.datetimes(timezones=ZONES)
    | st.sampled_from(
        [
            datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
            datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
        ]
    )
    | st.dates()
    | st.lists(SCALARS, max_size=2)
)
JUNK = st.none() | st.integers() | st.floats() | st.booleans() | TEXT | st.just(object())
BOUNDS = st.sampled_from(["gt", "ge", "lt", "le", "greaterThan", "lessThanOrEqual", "x"])
ORDER_BY = (
    NAMES
    | NAMES.map(lambda n: "-" + n)
    | st.lists(
        NAMES
        | st.tuples(NAMES, st.sampled_from(["asc", "DESC", "up", 1]))
        | st.builds(OrderBy, NAMES, st.booleans())
        | JUNK,
        max_size=3,
    )
    | JUNK
)
FILTERS = (
    st.dictionaries(NAMES, VALUES, max_size=3)
    | st.lists(st.tuples(NAMES, VALUES) | st.builds(Filter, NAMES, VALUES) | JUNK, max_size=3)
    | JUNK
)
RANGES = (
    st.dictionaries(NAMES, st.dictionaries(BOUNDS, VALUES, max_size=3) | JUNK, max_size=2)
    | st.lists(
        st.builds(RangeFilter, NAMES, VALUES | st.none(), VALUES | st.none(), VALUES | st.none())
        | JUNK,
        max_size=2,
    )
    | JUNK
)
QUERY_KWARGS = st.fixed_dictionaries(
    {},
    optional={
        "page_size": st.integers(-5, 2_000) | JUNK,
        "order_by": ORDER_BY,
        "include_count": st.booleans() | JUNK,
        "search": TEXT | JUNK,
        "search_fields": st.lists(NAMES, max_size=3) | NAMES | JUNK,
        "filters": FILTERS,
        "range_filters": RANGES,
    },
)


def check_query(q: EventQuery) -> None:
    """An accepted query renders a small JSON body that parses back to the same query."""
    body = q.to_body()
    text = json.dumps(body)
    assert len(text) < 100_000
    assert EventQuery.from_body(json.loads(text)) == q


def target_query(data: st.DataObject) -> None:
    kwargs: dict[str, Any] = data.draw(QUERY_KWARGS)  # deliberately ill-typed values
    try:
        q = EventQuery(**kwargs)
    except QueryError:
        return
    check_query(q)


BODY_VALUES = JSON_VALUES | st.builds(
    lambda n, v: {"field": n, "value": v, "greaterThan": v, "direction": v}, NAMES, SCALARS
)


BODY_KEYS = (
    "pageSize",
    "continuationToken",
    "orderBy",
    "includeCount",
    "search",
    "searchFields",
    "filters",
    "rangeFilters",
    "extra",
)
QUERY_BODIES = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(BODY_KEYS, BODY_VALUES | st.lists(BODY_VALUES, max_size=2))
)


def target_query_body(data: st.DataObject) -> None:
    body: Any = data.draw(QUERY_BODIES | JSON_VALUES)  # not always a mapping
    try:
        q = EventQuery.from_body(body)
    except QueryError:
        return
    check_query(q)


def target_lead_id(data: st.DataObject) -> None:
    value = data.draw(
        st.text(max_size=12) | st.sampled_from(["../x", "a/b", "a%2F", " ", "é"]) | JUNK
    )
    try:
        lead = check_lead_id(value)
    except QueryError:
        return
    from urllib.parse import quote

    assert lead == value and "/" not in quote(lead, safe="") and ".." not in lead


# -- fetch_events with random lead ids, base URLs and keys, against the in-process emulator -

FETCH_EXAMPLES = 500  # a client and, mostly, a fetch of three leads (~15 ms each)


class Counted:
    """The emulator, counting the requests that reach it."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.requests = 0
        self.lock = threading.Lock()

    def handle(self, request: WireRequest) -> WireResponse:
        with self.lock:
            self.requests += 1
        return self.emu.handle(request)


class FetchFuzz:
    """An emulator (no rate limit), the exact frame of two good leads, an event loop."""

    def __init__(self) -> None:
        self.emu = Emulator(seed=11, n_leads=3, heavy_leads=0, rate_limit=None)
        self.server = Counted(self.emu)
        self.good = self.emu.lead_ids()[:2]
        self.loop = asyncio.new_event_loop()
        with self.emu.client() as c:
            self.want = c.fetch_events(self.good).frame
        self.outcomes: Counter[str] = Counter()

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


@pytest.fixture(scope="module")
def fetch_fuzz() -> Iterator[FetchFuzz]:
    f = FetchFuzz()
    yield f
    f.close()


ODD_CHARS = st.characters() | st.sampled_from(
    ["\n", "\r", "\x00", "\t", " ", "\u00a0", "\x85", "\u2028", "\ud800", "\udce9", "é", "@"]
)
ODD_TEXT = st.text(ODD_CHARS, max_size=12)
EMULATOR_KEY = "lp_emulator_0000"
OTHER_KEYS = (
    st.sampled_from([None, "", " ", f" {EMULATOR_KEY}\n", "lp_other_key"])
    | ODD_TEXT
    | st.builds(lambda a, b, c: a + b + c, st.just("lp_"), ODD_TEXT, st.just("_key"))
)


def mostly(good: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` two times in three, else ``other`` (so most fetches get sent)."""
    return st.sampled_from([True, True, False]).flatmap(lambda ok: good if ok else other)


KEYS = mostly(st.just(EMULATOR_KEY), OTHER_KEYS)
LEAD_IDS = mostly(
    st.text(st.sampled_from("abcXYZ019_-.:@~é😀"), min_size=1, max_size=12),
    ODD_TEXT
    | st.sampled_from(
        [".", "..", "a/b", "%2e", "lead_9999", "lead_0003", " lead_0001", "lead_0001\n", "é"]
    )
    | st.integers(990, 1010).map(lambda n: "L" * n)
    | st.integers(60_000, 70_000).map(lambda n: "x" * n)
    | JUNK,
)
GOOD_ROOTS = ["http://emulator.localhost", "https://api.leadping.ai", "http://127.0.0.1:8080/"]
ODD_URLS = ODD_TEXT | st.builds(
    lambda scheme, user, host, port, path, tail: f"{scheme}{user}{host}{port}{path}{tail}",
    st.sampled_from(["https://", "http://", "ftp://", "HTTPS://", "", "https:/"]),
    st.sampled_from(["", "", "u:pw@", "u@", ":@"]),
    st.sampled_from(["api.leadping.ai", "localhost", "127.0.0.1", "[::1]", "", "bücher.de"])
    | ODD_TEXT,
    st.sampled_from(["", ""]) | st.integers(-5, 70_000).map(lambda p: f":{p}") | ODD_TEXT,
    st.sampled_from(["", "/", "/v1", "/v1/"]) | ODD_TEXT.map(lambda t: "/" + t),
    st.sampled_from(["", "", "?q=1", "#f", "\n", " "]),
)
BASE_URLS = mostly(st.none() | st.sampled_from(GOOD_ROOTS), ODD_URLS)


def _root_path(url: str | None) -> bool:
    """Whether requests to ``url`` reach the emulator's own paths (no path prefix)."""
    if url is None:
        return True
    from urllib.parse import urlsplit

    return urlsplit(url).path in ("", "/")


def run_fetch_target(f: FetchFuzz, data: st.DataObject) -> None:
    """Only LeadpingErrors come out, refusals come before any request, and the good leads
    of the same call are returned exactly whatever the odd lead does."""
    key = data.draw(KEYS, label="api_key")
    url = data.draw(BASE_URLS, label="base_url")
    odd = data.draw(LEAD_IDS, label="lead id")
    ids = [f.good[0], odd, f.good[1]]
    before = f.server.requests
    try:
        client = AsyncClient(
            key,
            base_url=url,
            transport=f.server,
            rate_limit=None,
            retry=RetryPolicy(attempts=2, backoff=0.0),
            sleep=_no_sleep,
        )
    except QueryError:
        assert f.server.requests == before
        f.outcomes["client refused (QueryError)"] += 1
        return
    try:
        result = f.loop.run_until_complete(client.fetch_events(ids))
    except (QueryError, AuthError) as exc:
        # refused before any request: the lead list, or no key at all
        assert f.server.requests == before
        f.outcomes[f"fetch refused ({type(exc).__name__})"] += 1
        return
    finally:
        f.loop.run_until_complete(client.aclose())
    assert all(isinstance(e, LeadpingError) for e in result.errors.values())
    assert set(result.status["lead_id"].to_list()) == set(ids)
    if key is not None and key.strip() == EMULATOR_KEY and _root_path(url):
        assert not set(f.good) & set(result.errors), result.errors
        got = result.frame.filter(pl.col("lead_id").is_in(f.good))
        assert got.equals(f.want)
        f.outcomes["fetched, good leads exact"] += 1
    else:  # a wrong key or a path the API does not have: every lead fails, typed
        assert set(result.errors) == set(ids) or not set(f.good) & set(result.errors)
        f.outcomes["fetched, every lead failed (typed)"] += 1


TARGETS: dict[str, Callable[[st.DataObject], None]] = {
    "decode_page: arbitrary bytes": target_bytes,
    "decode_page: generated pages": target_pages,
    "decode_page: mutated real pages": target_mutations,
    "EventQuery(...)": target_query,
    "EventQuery.from_body": target_query_body,
    "check_lead_id": target_lead_id,
}


def run(name: str, fn: Callable[[st.DataObject], None], n: int, tally: Counter[str]) -> None:
    count = [0]

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        fn(data)
        count[0] += 1  # examples that ran to the end

    fuzz()
    assert count[0] >= n, f"only {count[0]} examples ran"
    tally[f"fuzz examples: {name}"] += count[0]


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz(name: str, tally: Counter[str]) -> None:
    run(name, TARGETS[name], DEFAULT_EXAMPLES, tally)


def test_fuzz_client_answers(scripted: Scripted, tally: Counter[str]) -> None:
    run(
        "client: scripted server answers",
        lambda d: run_client_target(scripted, d),
        DEFAULT_EXAMPLES,
        tally,
    )


def test_fuzz_fetch_events_inputs(fetch_fuzz: FetchFuzz, tally: Counter[str]) -> None:
    run(
        "fetch_events: lead ids, base URLs, keys",
        lambda d: run_fetch_target(fetch_fuzz, d),
        FETCH_EXAMPLES,
        tally,
    )
    for outcome, n in fetch_fuzz.outcomes.items():
        tally[f"fuzz fetch_events: {outcome}"] += n
    # the generator reaches every outcome, not only the refusals
    assert fetch_fuzz.outcomes["fetched, good leads exact"] >= FETCH_EXAMPLES // 10


@pytest.mark.longfuzz
def test_long_fuzz_fetch_events_inputs(fetch_fuzz: FetchFuzz, tally: Counter[str]) -> None:
    run(
        "fetch_events: lead ids, base URLs, keys",
        lambda d: run_fetch_target(fetch_fuzz, d),
        LONG_EXAMPLES,
        tally,
    )


@pytest.mark.longfuzz
@pytest.mark.parametrize("name", list(TARGETS))
def test_long_fuzz(name: str, tally: Counter[str]) -> None:
    run(name, TARGETS[name], LONG_EXAMPLES, tally)


@pytest.mark.longfuzz
def test_long_fuzz_client_answers(scripted: Scripted, tally: Counter[str]) -> None:
    run(
        "client: scripted server answers",
        lambda d: run_client_target(scripted, d),
        LONG_EXAMPLES,
        tally,
    )
