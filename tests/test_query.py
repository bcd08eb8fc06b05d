"""EventQuery: validation before any request, exact body rendering, round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadping_nb import EventQuery, Filter, OrderBy, QueryError, RangeFilter, check_lead_id
from leadping_nb._core.schema import EVENT_FIELDS

T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def test_default_body_is_page_size_only() -> None:
    assert EventQuery().to_body() == {"pageSize": 100}


def test_every_field_renders_in_seed_camel_case() -> None:
    q = EventQuery(
        page_size=250,
        order_by=["-created_at", ("id", "ASC")],
        include_count=True,
        search="Stop",
        search_fields=["summary", "statusReason"],
        filters={"direction": "Outbound", "retry_count": 2, "isWarmup": False},
        range_filters={
            "createdAt": {"ge": T0, "lt": T0 + timedelta(days=1)},
            "billableAmount": {"greaterThan": Decimal("0.0079"), "le": "1.5"},
        },
    )
    assert q.to_body(continuation_token="tok==") == {
        "pageSize": 250,
        "continuationToken": "tok==",
        "orderBy": [
            {"field": "createdAt", "direction": "desc"},
            {"field": "id", "direction": "asc"},
        ],
        "includeCount": True,
        "search": "Stop",
        "searchFields": ["summary", "statusReason"],
        "filters": [
            {"field": "direction", "value": "Outbound"},
            {"field": "retryCount", "value": 2},
            {"field": "isWarmup", "value": False},
        ],
        "rangeFilters": [
            {
                "field": "createdAt",
                "greaterThanOrEqual": "2024-05-01T12:30:00Z",
                "lessThan": "2024-05-02T12:30:00Z",
            },
            {"field": "billableAmount", "greaterThan": "0.0079", "lessThanOrEqual": "1.5"},
        ],
    }


def test_datetimes_are_converted_to_utc_with_z_and_microseconds() -> None:
    berlin = timezone(timedelta(hours=2))
    q = EventQuery(
        range_filters=[RangeFilter("queued_at", ge=datetime(2024, 5, 1, 2, 0, 0, 5, berlin))]
    )
    assert q.to_body()["rangeFilters"][0]["greaterThanOrEqual"] == "2024-05-01T00:00:00.000005Z"


def test_query_is_hashable_and_equal_by_value() -> None:
    a = EventQuery(filters={"direction": "Outbound"}, order_by="createdAt")
    b = EventQuery(filters=[Filter("direction", "Outbound")], order_by=[OrderBy("createdAt")])
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.page_size = 5  # type: ignore[misc]


@pytest.mark.parametrize("size", [0, -1, 1001, 10**9, "100", 1.5, True])
def test_page_size_outside_range_is_refused(size: object) -> None:
    with pytest.raises(QueryError) as exc:
        EventQuery(page_size=size)  # type: ignore[arg-type]
    assert exc.value.field == "pageSize"
    assert "1" in str(exc.value) and "1000" in str(exc.value)


def test_an_unset_page_size_is_the_endpoints_default_and_distinguishable() -> None:
    unset, hundred = EventQuery(), EventQuery(page_size=100)
    assert unset.page_size is None and hundred.page_size == 100
    assert unset.to_body() == hundred.to_body() == {"pageSize": 100}
    assert unset == hundred and hash(unset) == hash(hundred)  # the same lead-events body
    assert unset.to_body(default_page_size=1000) == {"pageSize": 1000}
    assert hundred.to_body(default_page_size=1000) == {"pageSize": 100}
    assert EventQuery(page_size=None) == unset
    assert EventQuery.from_body({}).page_size is None
    with pytest.raises(QueryError, match="pageSize"):
        EventQuery.from_body({"pageSize": None})


@pytest.mark.parametrize("size", [1, 100, 1000])
def test_page_size_bounds_are_accepted(size: int) -> None:
    assert EventQuery(page_size=size).to_body() == {"pageSize": size}


def test_unknown_field_names_the_field_and_the_choices() -> None:
    with pytest.raises(QueryError) as exc:
        EventQuery(filters={"colour": "red"})
    msg = str(exc.value)
    assert "'colour'" in msg and "filters[0].field" in msg
    assert "eventType" in msg and "createdAt" in msg


def test_search_field_must_be_a_string_field() -> None:
    with pytest.raises(QueryError, match=r"retryCount.*integer field.*search"):
        EventQuery(search="x", search_fields=["retryCount"])
    with pytest.raises(QueryError, match="createdAt"):
        EventQuery(search="x", search_fields=["createdAt"])


def test_search_without_fields_is_refused() -> None:
    with pytest.raises(QueryError, match="searchFields"):
        EventQuery(search="stop")


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(QueryError, match="naive datetime") as exc:
        EventQuery(range_filters={"createdAt": {"ge": datetime(2024, 5, 1)}})
    assert exc.value.field == "rangeFilters[0].greaterThanOrEqual"


def test_date_for_timestamp_is_refused_with_a_hint() -> None:
    with pytest.raises(QueryError, match="ambiguous"):
        EventQuery(range_filters={"createdAt": {"ge": date(2024, 5, 1)}})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retryCount", "2"),
        ("retryCount", 2.0),
        ("retryCount", True),
        ("retryCount", 2**31),
        ("billableAmount", 0.1),
        ("billableAmount", "abc"),
        ("billableAmount", Decimal("NaN")),
        ("isWarmup", "false"),
        ("direction", 5),
        ("createdAt", "2024-05-01"),
    ],
)
def test_bound_or_value_of_the_wrong_type_is_refused(field: str, value: object) -> None:
    with pytest.raises(QueryError, match=field):
        EventQuery(filters={field: value})


def test_range_on_a_string_field_is_refused() -> None:
    with pytest.raises(QueryError, match="range"):
        EventQuery(range_filters={"direction": {"ge": "A"}})


def test_range_needs_a_bound_and_no_double_bounds() -> None:
    with pytest.raises(QueryError, match="at least one bound"):
        EventQuery(range_filters=[RangeFilter("createdAt")])
    with pytest.raises(QueryError, match="gt or ge"):
        EventQuery(range_filters={"createdAt": {"gt": T0, "ge": T0}})
    with pytest.raises(QueryError, match="unknown bound"):
        EventQuery(range_filters={"createdAt": {"after": T0}})


def test_order_by_direction_any_case_and_bad_direction() -> None:
    q = EventQuery(order_by=[("createdAt", "DESC"), ("id", "Asc")])
    assert [o.descending for o in q.order_by] == [True, False]
    with pytest.raises(QueryError, match="direction"):
        EventQuery(order_by=[("createdAt", "down")])
    with pytest.raises(QueryError, match="more than once"):
        EventQuery(order_by=["createdAt", "-created_at"])


def test_order_by_mapping_is_honoured_in_its_order() -> None:
    q = EventQuery(order_by={"createdAt": "desc", "id": "ASC"})
    assert q.to_body()["orderBy"] == [
        {"field": "createdAt", "direction": "desc"},
        {"field": "id", "direction": "asc"},
    ]
    assert q == EventQuery(order_by=["-createdAt", "id"])
    with pytest.raises(QueryError, match=r"orderBy\[0\]\.direction: .*got True for 'createdAt'"):
        EventQuery(order_by={"createdAt": True})
    with pytest.raises(QueryError, match="unknown field 'nope'"):
        EventQuery(order_by={"nope": "asc"})


@pytest.mark.parametrize("bad", ["+-createdAt", "--createdAt", "-+createdAt", "++id", "-"])
def test_order_by_takes_one_sign_at_most(bad: str) -> None:
    with pytest.raises(QueryError) as info:
        EventQuery(order_by=bad)
    assert info.value.field is not None and info.value.field.startswith("orderBy[0]")
    text = str(info.value)
    assert bad in text or "non-empty string" in text
    assert "'-field' (descending)" in text or "non-empty string" in text


def test_order_by_plus_sign_is_ascending() -> None:
    assert EventQuery(order_by="+createdAt") == EventQuery(order_by="createdAt")


def test_search_and_filter_values_are_size_limited() -> None:
    from leadping_nb._http.query import MAX_TEXT_LENGTH

    assert MAX_TEXT_LENGTH == 4096
    ok = "x" * MAX_TEXT_LENGTH
    assert EventQuery(filters={"summary": ok}).to_body()["filters"][0]["value"] == ok
    assert EventQuery(search=ok, search_fields=["summary"]).search == ok
    huge = "x" * 10_000_000
    for kwargs, where in (
        ({"filters": {"summary": huge}}, "filters[0].value"),
        ({"search": huge, "search_fields": ["summary"]}, "search"),
        ({"filters": {"billableAmount": "1" + "0" * 5000}}, "filters[0].value"),
        ({"range_filters": {"retryCount": {"ge": huge}}}, "rangeFilters[0].greaterThanOrEqual"),
    ):
        with pytest.raises(QueryError) as info:
            EventQuery(**kwargs)
        assert info.value.field == where
        assert len(str(info.value)) < 300
    with pytest.raises(QueryError, match="4,096"):
        EventQuery(search="y" * 4097, search_fields=["summary"])
    with pytest.raises(QueryError) as unknown:
        EventQuery(filters={huge: "x"})
    assert len(str(unknown.value)) < 2000


def test_alias_names_are_kept_for_the_server() -> None:
    q = EventQuery(filters={"activityCategory": "Messaging"})
    assert q.to_body()["filters"] == [{"field": "activityCategory", "value": "Messaging"}]
    q2 = EventQuery(filters={"timeline_category": "Messaging"})
    assert q2.to_body()["filters"] == [{"field": "timelineCategory", "value": "Messaging"}]


def test_from_body_rejects_unknown_body_fields() -> None:
    with pytest.raises(QueryError, match="unknown body field"):
        EventQuery.from_body({"pageSize": 5, "colour": "red"})


def test_from_body_accepts_seed_string_page_size() -> None:
    assert EventQuery.from_body({"pageSize": "20"}).page_size == 20


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "  ",
        "a/b",
        "..",
        "a..b",
        "x?y",
        "x#y",
        "x%2F",
        "a b",
        "tab\t",
        "new\nline",
        "back\\slash",
        ".",
        "a" * 1001,
        "lone\ud800surrogate",
        "c1\x85control",
        5,
        None,
    ],
)
def test_bad_lead_ids_are_refused(bad: object) -> None:
    with pytest.raises(QueryError):
        check_lead_id(bad)


def test_a_dot_lead_id_is_refused_like_dot_dot() -> None:
    """``/events/leads/.`` is ``/events/leads`` to every URL normaliser."""
    with pytest.raises(QueryError, match=r"lead id '\.' would name the parent path"):
        check_lead_id(".")
    assert check_lead_id(".x") == ".x" and check_lead_id("x.") == "x."


def test_lead_id_messages_stay_short() -> None:
    with pytest.raises(QueryError) as info:
        check_lead_id("a" * 70_000)
    assert "70,000 characters" in str(info.value) and len(str(info.value)) < 200
    with pytest.raises(QueryError) as info:
        check_lead_id("/" * 70_000)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("good", ["lead_0001", "3f2a-bc", "L.1", "émile", "a:b@c"])
def test_good_lead_ids_pass_unchanged(good: str) -> None:
    assert check_lead_id(good) == good


# --- hypothesis: query -> body -> parsed back equal --------------------------------------

_by_kind: dict[str, list[str]] = {}
for f in EVENT_FIELDS:
    _by_kind.setdefault(f.kind, []).append(f.api)
_utc = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_aware = st.datetimes(
    min_value=datetime(2000, 1, 2),
    max_value=datetime(2099, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-7))]
    ),
)
_money = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6, allow_nan=False)
_int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
_text = st.text(min_size=1, max_size=20)


def _value_for(kind: str) -> st.SearchStrategy[object]:
    return {
        "timestamp": _aware,
        "money": _money,
        "integer": _int32,
        "boolean": st.booleans(),
    }.get(kind, _text)


@st.composite
def _filters(draw: st.DrawFn) -> list[tuple[str, object]]:
    kinds = ["string", "enum", "timestamp", "money", "integer", "boolean"]
    out = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(kinds))
        out.append((draw(st.sampled_from(_by_kind[kind])), draw(_value_for(kind))))
    return out


@st.composite
def _ranges(draw: st.DrawFn) -> list[RangeFilter]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["timestamp", "money", "integer"]))
        name = draw(st.sampled_from(_by_kind[kind]))
        lower = draw(st.sampled_from(["gt", "ge", None]))
        upper = draw(st.sampled_from(["lt", "le", None] if lower else ["lt", "le"]))
        kw = {k: draw(_value_for(kind)) for k in (lower, upper) if k}
        out.append(RangeFilter(name, **kw))  # type: ignore[arg-type]
    return out


@st.composite
def queries(draw: st.DrawFn) -> EventQuery:
    orderable = [f.api for f in EVENT_FIELDS if f.kind != "media"]
    order_fields = draw(st.lists(st.sampled_from(orderable), max_size=3, unique=True))
    search = draw(st.none() | _text)
    fields = draw(
        st.lists(
            st.sampled_from(_by_kind["string"] + _by_kind["enum"]),
            min_size=1 if search else 0,
            max_size=3,
        )
    )
    return EventQuery(
        page_size=draw(st.integers(1, 1000)),
        order_by=[(f, draw(st.sampled_from(["asc", "desc", "ASC", "Desc"]))) for f in order_fields],
        include_count=draw(st.none() | st.booleans()),
        search=search,
        search_fields=fields,
        filters=draw(_filters()),
        range_filters=draw(_ranges()),
    )


@settings(max_examples=300, deadline=None)
@given(queries(), st.none() | st.text(min_size=1, max_size=40))
def test_query_to_body_from_body_round_trip(q: EventQuery, token: str | None) -> None:
    import json

    body = q.to_body(continuation_token=token)
    wire = json.loads(json.dumps(body))  # what actually travels
    assert wire == body
    back = EventQuery.from_body(wire)
    assert back == q
    assert hash(back) == hash(q)
    assert back.to_body(continuation_token=token) == body
    assert ("continuationToken" in body) == (token is not None)
    # every timestamp bound travels as UTC text ("...Z") naming the very instant given
    bounds = (("gt", "greaterThan"), ("ge", "greaterThanOrEqual"))
    bounds += (("lt", "lessThan"), ("le", "lessThanOrEqual"))
    for r, sent in zip(q.range_filters, body.get("rangeFilters", []), strict=True):
        assert sent["field"] == r.field
        for attr, key in bounds:
            value = getattr(r, attr)
            if isinstance(value, datetime):
                text = sent[key]
                assert isinstance(text, str) and text.endswith("Z") and "+" not in text
                assert datetime.fromisoformat(text.replace("Z", "+00:00")) == value
