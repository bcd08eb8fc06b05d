"""Bytes → typed frame: exactness, both eras, malformed pages, bad values, unknown fields."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from leadping_nb import Client
from leadping_nb._core.errors import SchemaError
from leadping_nb._core.schema import (
    EVENT_FIELDS,
    EVENT_SCHEMA,
    MEDIA_DTYPE,
    MONEY_DTYPE,
    SEED_ITEM_FIELDS,
    TIMESTAMP_DTYPE,
)
from leadping_nb._frame import decode as _frame
from leadping_nb._frame import raw as _frame_raw
from leadping_nb._frame.decode import (
    DecodedPage,
    FrameReport,
    MalformedPageError,
    concat_frames,
    decode_page,
    empty_events_frame,
    events_frame,
    frame_from_pages,
    parse_page,
    schema_table,
)
from leadping_nb._http.wire import WireResponse

from .fakes import KEY, FakeApi, make_pages
from .scan_modes import body_scan  # noqa: F401  (autouse: every test in both scan modes)

TS = "2026-11-07T05:31:56Z"
DT = datetime(2026, 11, 7, 5, 31, 56, tzinfo=UTC)


def body(*items: dict[str, Any], raw: str | None = None, **envelope: Any) -> bytes:
    """A compact JSON page; ``raw`` replaces the items array text verbatim."""
    env: dict[str, Any] = {"items": list(items), **envelope}
    text = json.dumps(env, separators=(",", ":"))
    if raw is not None:
        text = text.replace('"items":[]', f'"items":{raw}', 1)
    return text.encode()


def seed_item(i: int = 1) -> dict[str, Any]:
    """A seed-era item: exactly the seed's 41 fields, numbers as strings."""
    values: dict[str, Any] = {name: f"{name}-{i}" for name in SEED_ITEM_FIELDS}
    values.update(
        isWarmup=True,
        wasManuallyOverridden=False,
        billableAmount="0.0079",
        retryCount="2",
        leadId="lead-seed",
        id=f"seed-{i}",
    )
    for f in EVENT_FIELDS:
        if f.kind == "timestamp" and f.api in values:
            values[f.api] = TS
    return values


def current_item(i: int = 1) -> dict[str, Any]:
    return {
        "id": f"cur-{i}",
        "leadId": "lead-cur",
        "eventType": "Sms",
        "eventCategory": "Messaging",
        "timelineCategory": "Conversation",
        "timelineType": "Sms",
        "description": "Outbound SMS",
        "status": "Delivered",
        "trafficType": "RealLead",
        "selectionReason": "StickyConversation",
        "isDemo": False,
        "wasManuallyOverridden": True,
        "billableAmount": 0.0121,
        "retryCount": 1,
        "createdAt": "2026-11-07T05:31:56.123Z",
        "createdBy": "system",
        "actorUserId": "u-1",
        "actorDisplayName": "Ann",
        "media": [
            {
                "url": "https://cdn.example/a.jpg",
                "contentType": "image/jpeg",
                "size": 12345,
                "sha256": "ab" * 32,
                "fileName": "a.jpg",
                "fileId": "f-1",
            }
        ],
    }


def only(page: DecodedPage) -> dict[str, Any]:
    assert page.frame.height == 1
    return page.frame.row(0, named=True)


# --------------------------------------------------------------------------- envelope & eras


def test_current_era_values_are_exact() -> None:
    p = decode_page(
        body(current_item(), pageSize=100, totalCount=7, continuationToken="tok"), page=1
    )
    assert p.frame.schema == EVENT_SCHEMA
    assert (p.token, p.page_size, p.total_count, p.n_items) == ("tok", 100, 7, 1)
    row = only(p)
    assert row["billable_amount"] == Decimal("0.0121")
    assert row["retry_count"] == 1
    assert row["created_at"] == datetime(2026, 11, 7, 5, 31, 56, 123000, tzinfo=UTC)
    assert row["timeline_category"] == "Conversation"
    assert row["is_warmup"] is False  # bridged from trafficType == "RealLead"
    assert row["is_demo"] is False
    assert row["was_manually_overridden"] is True
    assert row["telnyx_id"] is None
    assert row["media"] == [
        {
            "url": "https://cdn.example/a.jpg",
            "content_type": "image/jpeg",
            "size": 12345,
            "sha256": "ab" * 32,
            "file_name": "a.jpg",
            "file_id": "f-1",
        }
    ]
    assert p.unknown_fields == ()
    assert p.report.clean


def test_seed_era_41_fields_with_numbers_as_strings() -> None:
    item = seed_item()
    assert len(item) == 41
    p = decode_page(
        body(item, pageSize="100", totalCount="3", continuationToken="<string>"), page=2
    )
    row = only(p)
    assert (p.page_size, p.total_count, p.token) == (100, 3, "<string>")
    assert row["timeline_category"] == "activityCategory-1"  # alias
    assert row["is_warmup"] is True
    assert row["billable_amount"] == Decimal("0.0079")
    assert row["retry_count"] == 2
    assert row["telnyx_id"] == "telnyxId-1"
    assert row["ten_dlc_campaign_id"] == "tenDlcCampaignId-1"
    for f in EVENT_FIELDS:
        if f.kind == "timestamp":
            assert row[f.column] == DT, f.column
    # Current-only fields are null columns.
    for col in ("status", "traffic_type", "actor_user_id", "media", "is_demo", "timeline_type"):
        assert row[col] is None
    assert p.unknown_fields == ()


def test_both_eras_concatenate_into_one_canonical_frame() -> None:
    df = events_frame([body(seed_item()), body(current_item())])
    assert df.schema == EVENT_SCHEMA
    assert df.get_column("id").to_list() == ["seed-1", "cur-1"]
    assert df.get_column("billable_amount").to_list() == [Decimal("0.0079"), Decimal("0.0121")]


def test_activity_type_alias_and_current_name_wins() -> None:
    p = decode_page(
        body(
            {"id": "a", "activityType": "Disposition", "activityCategory": "Old"},
            {"id": "b", "timelineType": "Sms", "activityType": "Call", "timelineCategory": "New"},
            {"id": "c", "activityType": "Fax"},
        )
    )
    assert p.frame.get_column("timeline_type").to_list() == ["Disposition", "Sms", "Fax"]
    assert p.frame.get_column("timeline_category").to_list() == ["Old", "New", None]
    assert p.unknown_values == {"timeline_type": frozenset({"Fax"})}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"isWarmup": True, "trafficType": "RealLead"}, True),  # isWarmup wins
        ({"isWarmup": False, "trafficType": "Warmup"}, False),
        ({"trafficType": "Warmup"}, True),
        ({"trafficType": "Test"}, False),
        ({}, None),
        ({"isWarmup": None, "trafficType": None}, None),
    ],
)
def test_is_warmup_bridge(fields: dict[str, Any], expected: bool | None) -> None:
    assert only(decode_page(body({"id": "x", **fields})))["is_warmup"] is expected


def test_envelope_token_normalisation_and_missing_counts() -> None:
    p = decode_page(body(continuationToken=""))
    assert (p.token, p.page_size, p.total_count, p.n_items) == (None, None, None, 0)
    p = decode_page(body(continuationToken=None, pageSize=" 5"), lenient=True)
    assert p.token is None and p.page_size is None and p.nulled == {"pageSize": 1}
    with pytest.raises(SchemaError, match="pageSize") as info:
        decode_page(body(pageSize="ten"), lead_id="L", page=4)
    assert (info.value.field, info.value.value, info.value.lead_id, info.value.page) == (
        "pageSize",
        "ten",
        "L",
        4,
    )


def test_empty_page_has_full_schema() -> None:
    p = decode_page(b'{"items":[],"pageSize":100,"totalCount":0,"continuationToken":null}')
    assert p.frame.schema == EVENT_SCHEMA and p.frame.height == 0
    assert p.total_count == 0
    df, report = events_frame([], with_report=True)
    assert df.schema == EVENT_SCHEMA and df.height == 0
    assert (report.n_pages, report.n_events) == (0, 0)
    assert empty_events_frame().schema == EVENT_SCHEMA


def test_missing_fields_are_null_columns() -> None:
    row = only(decode_page(body({"id": "only-id"})))
    assert row["id"] == "only-id"
    assert all(v is None for k, v in row.items() if k != "id")


def test_string_body_and_mapping_body() -> None:
    text = body(current_item()).decode()
    assert only(decode_page(text))["billable_amount"] == Decimal("0.0121")
    mapping = {"items": [{"id": "m", "billableAmount": Decimal("12345678901.123456")}]}
    assert only(decode_page(mapping))["billable_amount"] == Decimal("12345678901.123456")
    dated = {"items": [{"id": "m", "createdAt": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)}]}
    assert only(decode_page(dated))["created_at"] == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    with pytest.raises(TypeError):
        decode_page(12345)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- malformed pages


@pytest.mark.parametrize(
    "raw",
    [
        b'{"items":[{"id":"a"}',  # truncated
        b'{"items":[{"id":"a"}],"pageSize":1',  # truncated envelope
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"",
        b"   ",
        b"[]",
        b'[{"items":[]}]',
        b'{"pageSize":100}',  # no items
        b'{"items":null}',
        b'{"items":{}}',
        b'{"items":"x"}',
        b'{"items":[1,2]}',
        b'{"items":[null]}',
        b'{"items":[{"id":"a"}, null]}',
        b'{"items":[]} trailing',
        b'{"items":[]}{"items":[]}',
        b'{"items":[{"id":"\xff\xfe"}]}',  # not UTF-8
        b'{"items":[{"id":"a","billableAmount":NaN}]}',
        b"null",
    ],
)
def test_malformed_bodies_raise_retryable_error(raw: bytes) -> None:
    with pytest.raises(MalformedPageError) as info:
        decode_page(raw, lead_id="lead-9", page=5)
    err = info.value
    assert isinstance(err, SchemaError)
    assert (err.lead_id, err.page) == ("lead-9", 5)
    assert "lead-9" in str(err) and "page 5" in str(err)


def test_leading_whitespace_and_bom_are_fine() -> None:
    p = decode_page(b'\xef\xbb\xbf \n{"items":[{"id":"a"}]}')
    assert p.frame.get_column("id").to_list() == ["a"]


# --------------------------------------------------------------------------- bad values


BAD_VALUES = [
    # (field, JSON value text, kind of problem)
    ("createdAt", '"yesterday"', "not an ISO-8601"),
    ("createdAt", '"2026-13-01T00:00:00Z"', "not a valid date"),
    ("createdAt", '"2026-02-30T00:00:00Z"', "not a valid date"),
    ("sentAt", '"2026-11-07 05:31:56Z"', "not an ISO-8601"),
    ("sentAt", '"2026-11-07t05:31:56z"', "not an ISO-8601"),
    ("sentAt", '"2026-11-07"', "not an ISO-8601"),
    ("sentAt", '""', "not an ISO-8601"),
    ("billableAmount", '"abc"', "not a decimal number"),
    ("billableAmount", '""', "not a decimal number"),
    ("billableAmount", '"NaN"', "not a decimal number"),
    ("billableAmount", '"1,234"', "not a decimal number"),
    ("billableAmount", '" 2.5"', "not a decimal number"),
    ("billableAmount", "true", "not a decimal number"),
    ("billableAmount", '"0.1234567"', "more than 6 decimal places"),
    ("billableAmount", "0.1234567", "more than 6 decimal places"),
    ("billableAmount", "1E-7", "more than 6 decimal places"),
    ("billableAmount", "0.10000000000000001", "more than 6 decimal places"),
    ("billableAmount", '"1234567890123.5"', "does not fit Decimal(18, 6)"),
    ("billableAmount", "12345678901234567.1234", "does not fit Decimal(18, 6)"),
    ("billableAmount", "0.1234567890123456789", "more than 6 decimal places"),
    ("billableAmount", "1e300", "does not fit Decimal(18, 6)"),
    ("retryCount", "2147483648", "out of range for Int32"),
    ("retryCount", '"-2147483649"', "out of range for Int32"),
    ("retryCount", "2.5", "not an integer"),
    ("retryCount", '"2.0"', "not an integer"),
    ("retryCount", '"two"', "not an integer"),
    ("isDemo", '"yes"', "not a boolean"),
    ("isWarmup", "1", "not a boolean"),
    ("wasManuallyOverridden", '"True"', "not a boolean"),
]


def _bad_page(field: str, value: str, lead: str = "lead-x") -> bytes:
    good = f'{{"id":"ok-1","leadId":"{lead}","billableAmount":"1.5","createdAt":"{TS}"}}'
    bad = f'{{"id":"bad-2","leadId":"{lead}","{field}":{value}}}'
    return (f'{{"items":[{good},{bad}],"pageSize":2}}').encode()


@pytest.mark.parametrize(("field", "value", "problem"), BAD_VALUES)
def test_bad_value_strict_names_field_value_lead_page_event(
    field: str, value: str, problem: str
) -> None:
    with pytest.raises(SchemaError) as info:
        decode_page(_bad_page(field, value, "lead-req"), lead_id="lead-req", page=7)
    err = info.value
    assert not isinstance(err, MalformedPageError)
    shown = json.loads(value) if value.startswith('"') else value
    assert (err.field, err.lead_id, err.page, err.event_id) == (field, "lead-req", 7, "bad-2")
    if value.startswith('"') or value in ("true", "1", "2147483648"):
        assert err.value == (shown if isinstance(shown, str) else value)
    message = str(err)
    for part in (field, "lead-req", "page 7", "bad-2", problem):
        assert part in message, (part, message)
    assert repr(err.value) in message


@pytest.mark.parametrize(("field", "value", "problem"), BAD_VALUES)
def test_bad_value_lenient_nulls_and_counts(field: str, value: str, problem: str) -> None:
    p = decode_page(_bad_page(field, value, "lead-req"), lead_id="lead-req", page=7, lenient=True)
    assert p.nulled == {field: 1}
    column = next(f.column for f in EVENT_FIELDS if f.api == field)
    assert p.frame.get_column(column)[1] is None
    assert p.frame.get_column("id").to_list() == ["ok-1", "bad-2"]
    assert p.frame.get_column("billable_amount")[0] == Decimal("1.5")
    assert not p.report.clean


def test_error_lead_falls_back_to_item_lead_id() -> None:
    with pytest.raises(SchemaError) as info:
        decode_page(_bad_page("retryCount", '"x"'))
    assert (info.value.lead_id, info.value.page, info.value.event_id) == ("lead-x", None, "bad-2")


def test_earliest_row_wins_then_field_order() -> None:
    items = (
        '[{"id":"r0"},{"id":"r1","retryCount":"x","createdAt":"nope"},'
        '{"id":"r2","billableAmount":"y"}]'
    )
    with pytest.raises(SchemaError) as info:
        decode_page(body(raw=items))
    assert (info.value.event_id, info.value.field) == ("r1", "retryCount")
    p = decode_page(body(raw=items), lenient=True)
    assert p.nulled == {"retryCount": 1, "createdAt": 1, "billableAmount": 1}


def test_lenient_invalid_is_warmup_is_not_bridged() -> None:
    p = decode_page(body({"id": "a", "isWarmup": "maybe", "trafficType": "Warmup"}), lenient=True)
    assert only(p)["is_warmup"] is None and p.nulled == {"isWarmup": 1}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"id": "e", "summary": {"text": "hi"}}, "summary"),
        ({"id": "e", "createdAt": ["2026-01-01T00:00:00Z"]}, "createdAt"),
        ({"id": "e", "billableAmount": {"value": 1}}, "billableAmount"),
        ({"id": "e", "media": {"url": "x"}}, "media"),
        ({"id": "e", "media": ["x"]}, "media"),
        ({"id": "e", "media": [{"url": ["x"]}]}, "media.url"),
    ],
)
def test_wrong_json_type_is_a_schema_error(item: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaError) as info:
        decode_page(body(item, {"id": "f"}), lead_id="L", page=1)
    assert not isinstance(info.value, MalformedPageError)
    assert (info.value.field, info.value.event_id, info.value.lead_id) == (field, "e", "L")
    p = decode_page(body(item, {"id": "f"}), lead_id="L", page=1, lenient=True)
    assert p.nulled == {field: 1}
    assert p.frame.get_column("id").to_list() == ["e", "f"]


def test_wrong_json_type_python_path_keeps_other_values_exact() -> None:
    raw = (
        '[{"id":"e","summary":{"a":1},"billableAmount":12345678901.123456,'
        f'"retryCount":3,"isDemo":true,"createdAt":"{TS}","media":[{{"size":9007199254740993}}]}}]'
    )
    row = only(decode_page(body(raw=raw), lenient=True))
    assert row["billable_amount"] == Decimal("12345678901.123456")
    assert (row["retry_count"], row["is_demo"], row["created_at"]) == (3, True, DT)
    assert row["media"][0]["size"] == 9007199254740993
    assert row["summary"] is None


def test_media_size_errors() -> None:
    raw = '[{"id":"m1","media":[{"url":"u","size":5},{"url":"v","size":"big"}]}]'
    with pytest.raises(SchemaError) as info:
        decode_page(body(raw=raw), lead_id="L", page=2)
    assert (info.value.field, info.value.value, info.value.event_id) == ("media.size", "big", "m1")
    p = decode_page(body(raw=raw), lenient=True)
    assert p.nulled == {"media.size": 1}
    assert [m["size"] for m in only(p)["media"]] == [5, None]


# --------------------------------------------------------------------------- exact numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0079", "0.0079"),
        ('"0.0079"', "0.0079"),
        ("999999999999.999999", "999999999999.999999"),
        ('"999999999999.999999"', "999999999999.999999"),
        ("-999999999999.999999", "-999999999999.999999"),
        ("123456789012.5", "123456789012.5"),
        ("0.10000000", "0.1"),
        ("1E-05", "0.00001"),
        ("1.5e3", "1500"),
        ('"2.5E+2"', "250"),
        ("-0.0", "0"),
        ("0", "0"),
        ('"00012.5"', "12.5"),
        ("0.000001", "0.000001"),
    ],
)
def test_money_is_exact(text: str, expected: str) -> None:
    p = decode_page(body(raw=f'[{{"id":"a","billableAmount":{text}}}]'))
    value = only(p)["billable_amount"]
    assert value == Decimal(expected)
    assert p.frame.schema["billable_amount"] == MONEY_DTYPE


def test_money_float_rounding_would_have_changed_these() -> None:
    # float64 would turn 0.1 + 17 digits into 0.1 and 9007199254740993 into ...992.
    raw = '[{"id":"a","billableAmount":900719925474.099312}]'
    assert only(decode_page(body(raw=raw)))["billable_amount"] == Decimal("900719925474.099312")
    raw = '[{"id":"a","billableAmount":  -100000000000.000001}]'
    assert only(decode_page(body(raw=raw)))["billable_amount"] == Decimal("-100000000000.000001")


@pytest.mark.parametrize(("text", "expected"), [("2.0", 2), ("1e2", 100), ('"007"', 7), ("-0", 0)])
def test_integral_numbers_are_integers(text: str, expected: int) -> None:
    assert only(decode_page(body(raw=f'[{{"id":"a","retryCount":{text}}}]')))["retry_count"] == (
        expected
    )


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-07T05:31:56Z", DT),
        ("2026-11-07T05:31:56.5Z", DT + timedelta(microseconds=500000)),
        ("2026-11-07T05:31:56.123456Z", DT + timedelta(microseconds=123456)),
        ("2026-11-07T07:31:56+02:00", DT),
        ("2026-11-07T00:01:56.000001-05:30", DT + timedelta(microseconds=1)),
        ("2026-11-07T07:31:56+0200", DT),
        ("2026-11-07T05:31:56", DT),  # no offset: documented as UTC
        ("2026-11-07T05:31:56.1234560Z", DT + timedelta(microseconds=123456)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59.9999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_timestamp_forms(text: str, expected: datetime) -> None:
    p = decode_page(body({"id": "a", "createdAt": text}))
    assert only(p)["created_at"] == expected
    assert p.frame.schema["created_at"] == TIMESTAMP_DTYPE
    cut = 1 if text.startswith("9999") else 0
    assert p.truncated == ({"createdAt": 1} if cut else {})


def test_sub_microsecond_digits_are_truncated_and_counted() -> None:
    items = [
        {"id": "a", "createdAt": "2026-11-07T05:31:56.1234567Z", "sentAt": TS},
        {"id": "b", "createdAt": "2026-11-07T05:31:56.9999999Z"},
        {"id": "c", "createdAt": "2026-11-07T05:31:56.1234560Z"},
        {"id": "d", "createdAt": "2026-11-07T05:31:56.123456789+00:00"},
    ]
    p = decode_page(body(*items))
    assert p.frame.get_column("created_at").to_list() == [
        DT + timedelta(microseconds=123456),
        DT + timedelta(microseconds=999999),  # truncated, never rounded into the next second
        DT + timedelta(microseconds=123456),
        DT + timedelta(microseconds=123456),
    ]
    assert p.truncated == {"createdAt": 3}
    _df, report = events_frame([body(*items), body(*items)], with_report=True)
    assert report.truncated == {"createdAt": 6}
    assert "truncated" in str(report)


# --------------------------------------------------------------------------- unknown fields


def test_unknown_field_on_one_item_is_reported() -> None:
    items = [current_item(i) for i in range(50)]
    items[37]["brandNewField"] = "hello"
    p = decode_page(body(*items), page=3)
    assert p.unknown_fields == ("brandNewField",)
    assert p.frame.columns == list(EVENT_SCHEMA)
    _df, report = events_frame([body(current_item()), body(*items)], with_report=True)
    assert report.unknown_fields == {"brandNewField": 2}


@pytest.mark.parametrize(
    "value", ['"text"', "12.50", "0", "false", "{}", "[]", '{"a":[1,{"b":null}]}', '""']
)
def test_unknown_field_any_value_is_detected_and_kept(value: str) -> None:
    raw = f'[{{"id":"a"}},{{"id":"b","zNew":{value}}}]'
    assert decode_page(body(raw=raw)).unknown_fields == ("zNew",)
    kept = decode_page(body(raw=raw), keep_unknown=True)
    assert kept.frame.columns == [*EVENT_SCHEMA, "zNew"]
    assert kept.frame.schema["zNew"] == pl.String
    expected = json.loads(value) if value.startswith('"') else value
    assert kept.frame.get_column("zNew").to_list() == [None, expected]


def test_null_only_unknown_field_is_not_reported() -> None:
    raw = '[{"id":"a","zNew":null},{"id":"b","zNew":null}]'
    assert decode_page(body(raw=raw)).unknown_fields == ()


def test_unknown_media_key_and_envelope_key() -> None:
    raw = '[{"id":"a","media":[{"url":"u","mediaId":"m-1"}]}]'
    p = decode_page(body(raw=raw, hasMore=True))
    assert p.unknown_fields == ("media.mediaId",)
    assert only(p)["media"][0]["url"] == "u"
    p = decode_page(body(raw=raw, hasMore=True), keep_unknown=True)
    assert p.frame.columns == list(EVENT_SCHEMA)  # media keys are reported, not kept


def test_kept_unknown_column_named_like_a_declared_column() -> None:
    raw = '[{"id":"a","lead_id":"snake","leadId":"camel"}]'
    p = decode_page(body(raw=raw), keep_unknown=True)
    assert p.unknown_fields == ("lead_id",)
    row = only(p)
    assert (row["lead_id"], row["lead_id (unknown)"]) == ("camel", "snake")


@pytest.mark.parametrize(
    "text",
    [
        # Escaped quotes and colons inside strings, pretty-printing, identical repeated keys:
        '{"items":[{"id":"a","description":"he said \\"stop\\": ok","summary":"\\":null"}]}',
        '{\n  "items": [\n    {\n      "id": "a",\n      "summary": null,\n      "retryCount": 1\n'
        '    }\n  ],\n  "pageSize": 1\n}',
        '{"items":[{"id":"a","id":"a"}]}',
        '{"items":[{"id":"a","description":"key-looking \\"zNew\\":1 text"}]}',
    ],
)
def test_no_false_unknown_fields(text: str) -> None:
    p = decode_page(text.encode())
    assert p.unknown_fields == ()
    assert p.frame.get_column("id").to_list() == ["a"]


def test_unknown_fields_are_kept_across_pages_in_first_seen_order() -> None:
    p1 = body(raw='[{"id":"a","zB":"1"}]')
    p2 = body(raw='[{"id":"b","zA":{"x":1}}]')
    p3 = body(raw='[{"id":"c"}]')
    df, report = events_frame([p1, p2, p3], keep_unknown=True, with_report=True)
    assert df.columns == [*EVENT_SCHEMA, "zB", "zA"]
    assert df.get_column("zB").to_list() == ["1", None, None]
    assert df.get_column("zA").to_list() == [None, '{"x":1}', None]
    assert report.unknown_fields == {"zB": 1, "zA": 2}


# ---------------------------------------------------------------- learned read keys


@pytest.fixture
def rereads(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The page numbers that were read again with every key (see ReadKeys)."""
    seen: list[int | None] = []
    original = _frame._reread

    def spy(page: _frame_raw.ParsedPage, *, quote_money: bool) -> None:
        seen.append(page.page)
        original(page, quote_money=quote_money)

    monkeypatch.setattr(_frame, "_reread", spy)
    return seen


def test_read_keys_learn_from_the_first_page_and_widen() -> None:
    always = {"id", "status", "trafficType", "selectionReason"}  # left out when null
    hint = _frame_raw.ReadKeys()
    hint.learn(body({"id": "a", "sentAt": None, "unknownZ": "1"}))
    assert hint.keys == always | {"sentAt"}
    hint.learn(body({"id": "b", "failedAt": "x"}))  # learns once
    assert hint.keys == always | {"sentAt"}
    hint.widen(["failedAt"])
    assert hint.keys == always | {"sentAt", "failedAt"}


def test_an_empty_first_page_teaches_nothing(rereads: list[int | None]) -> None:
    hint = _frame_raw.ReadKeys()
    hint.learn(body(pageSize=100, continuationToken=None))
    assert hint.keys is None  # the next page is read with every key and teaches
    pages = [body(), body(seed_item(1)), body(seed_item(2))]
    df = learned_frame(pages, lenient=False, keep_unknown=False)
    assert df.get_column("id").to_list() == ["seed-1", "seed-2"]
    assert rereads == []


def learned_frame(bodies: list[bytes], **options: Any) -> pl.DataFrame:
    """Pages parsed one after another with one ReadKeys (events_frame's threads may race)."""
    hint = _frame_raw.ReadKeys()
    builder = _frame._FrameBuilder()
    for number, b in enumerate(bodies, start=1):
        builder.add(_frame_raw._parse_raw(b, lead_id=None, page=number, hint=hint, **options))
    builder.flush()
    return _frame.concat_frames(builder.chunks)


def test_the_first_batch_is_converted_early_so_the_keys_widen_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages = [body(seed_item(i)) for i in range(1, 6)]
    monkeypatch.setattr(_frame, "_FIRST_BATCH_BYTES", 2 * len(pages[0]))
    hint = _frame_raw.ReadKeys()
    builder = _frame._FrameBuilder()
    flushed = []
    for number, b in enumerate(pages, start=1):
        builder.add(
            _frame_raw._parse_raw(
                b, lead_id=None, page=number, lenient=False, keep_unknown=False, hint=hint
            )
        )
        flushed.append(len(builder.chunks))
    assert flushed == [0, 1, 1, 1, 1]  # later batches wait for _BATCH_ROWS / _BATCH_BYTES


def test_a_declared_key_the_first_page_lacked_is_read_again_not_lost(
    rereads: list[int | None],
) -> None:
    p1 = body({"id": "a", "status": "Sent"}, {"id": "b", "status": "Delivered"})
    p2 = body({"id": "c", "status": "Failed", "failedAt": "2026-01-02T03:04:05Z"})
    p3 = body({"id": "d", "failedAt": "2026-01-03T00:00:00Z", "billableAmount": 0.25})
    df = learned_frame([p1, p2, p3], lenient=False, keep_unknown=False)
    assert rereads == [2, 3]  # page 1 taught id and status; pages 2 and 3 carried more
    assert df.get_column("failed_at").to_list() == [
        None,
        None,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 3, tzinfo=UTC),
    ]
    assert df.get_column("billable_amount").to_list() == [None, None, None, Decimal("0.25")]
    assert_frame_equal(df, events_frame([p1, p2, p3]), check_exact=True)
    whole, _ = frame_from_pages([parse_page(b, page=i) for i, b in enumerate([p1, p2, p3], 1)])
    assert_frame_equal(df, whole, check_exact=True)


def test_pages_within_the_learned_keys_are_not_read_again(rereads: list[int | None]) -> None:
    pages = [body(seed_item(i), seed_item(i + 100)) for i in range(1, 6)]
    pages.append(body(seed_item(6) | {"statusReason": None, "zNew": "1"}))  # null, unknown
    df = learned_frame(pages, lenient=False, keep_unknown=True)
    assert df.height == 11
    assert df.get_column("zNew").to_list() == [None] * 10 + ["1"]
    assert rereads == []
    assert_frame_equal(df, events_frame(pages, keep_unknown=True), check_exact=True)


def test_a_wrong_type_in_an_unlearned_key_is_still_an_error() -> None:
    p1 = body({"id": "a"})
    p2 = body({"id": "b", "status": {"code": 1}})
    with pytest.raises(SchemaError) as info:
        learned_frame([p1, p2], lenient=False, keep_unknown=False)
    assert (info.value.field, info.value.page, info.value.event_id) == ("status", 2, "b")
    df, report = events_frame([p1, p2], lenient=True, with_report=True)
    assert df.get_column("status").to_list() == [None, None]
    assert report.nulled == {"status": 1}


def test_a_long_amount_in_an_unlearned_key_stays_exact() -> None:
    p1 = body({"id": "a"})
    p2 = body(raw='[{"id":"b","billableAmount":123456789012.123456}]')
    df = learned_frame([p1, p2], lenient=False, keep_unknown=False)
    assert df.get_column("billable_amount").to_list() == [None, Decimal("123456789012.123456")]


def test_unknown_enum_values_are_kept_and_reported() -> None:
    p = decode_page(
        body(
            {"id": "a", "status": "Delivered", "trafficType": "Spam", "selectionReason": "Luck"},
            {"id": "b", "status": "Exploded", "timelineType": "Sms"},
        )
    )
    assert p.frame.get_column("status").to_list() == ["Delivered", "Exploded"]
    assert p.unknown_values == {
        "status": frozenset({"Exploded"}),
        "traffic_type": frozenset({"Spam"}),
        "selection_reason": frozenset({"Luck"}),
    }


# --------------------------------------------------------------------------- media


def test_media_empty_null_and_null_element() -> None:
    raw = (
        '[{"id":"a","media":[]},{"id":"b","media":null},{"id":"c"},'
        '{"id":"d","media":[null,{"url":"u","size":"42"}]}]'
    )
    p = decode_page(body(raw=raw))
    assert p.frame.schema["media"] == MEDIA_DTYPE
    media = p.frame.get_column("media").to_list()
    assert media[:3] == [[], None, None]
    assert media[3][0] is None
    assert media[3][1] == {
        "url": "u",
        "content_type": None,
        "size": 42,
        "sha256": None,
        "file_name": None,
        "file_id": None,
    }


def test_media_without_elements_keeps_empty_lists() -> None:
    p = decode_page(body(raw='[{"id":"a","media":[]},{"id":"b"}]'))
    assert p.frame.get_column("media").to_list() == [[], None]
    assert p.frame.schema == EVENT_SCHEMA


# --------------------------------------------------------------------------- assembling pages


def test_concatenation_preserves_scale() -> None:
    pages = [
        decode_page(body(raw='[{"id":"a","billableAmount":1.5}]'), page=1),
        decode_page(body(raw='[{"id":"b","billableAmount":"0.000001"}]'), page=2),
        decode_page(body(raw='[{"id":"c","billableAmount":123456789012.123456}]'), page=3),
    ]
    df, report = frame_from_pages(pages)
    assert df.schema == EVENT_SCHEMA
    assert df.get_column("billable_amount").to_list() == [
        Decimal("1.5"),
        Decimal("0.000001"),
        Decimal("123456789012.123456"),
    ]
    assert df.get_column("billable_amount").sum() == Decimal("123456789013.623457")
    assert (report.n_pages, report.n_events) == (3, 3)
    mixed = events_frame([pages[0], body(raw='[{"id":"z","billableAmount":"0.000002"}]')])
    assert mixed.get_column("billable_amount").to_list() == [Decimal("1.5"), Decimal("0.000002")]


def test_frame_from_pages_of_nothing() -> None:
    df, report = frame_from_pages([])
    assert df.schema == EVENT_SCHEMA and df.height == 0 and report == FrameReport()


class _RawHolder:
    def __init__(self, raw: bytes, page: int | None = None, lead_id: str | None = None) -> None:
        self.raw = raw
        self.page = page
        self.lead_id = lead_id


def test_events_frame_accepts_every_page_form() -> None:
    pages: list[Any] = [
        body({"id": "bytes"}),
        body({"id": "str"}).decode(),
        {"items": [{"id": "mapping", "billableAmount": Decimal("0.5")}]},
        decode_page(body({"id": "decoded"})),
        _RawHolder(body({"id": "raw"})),
        bytearray(body({"id": "bytearray"})),
    ]
    df, report = events_frame(pages, with_report=True)
    assert df.get_column("id").to_list() == [
        "bytes",
        "str",
        "mapping",
        "decoded",
        "raw",
        "bytearray",
    ]
    assert report.n_pages == 6 and report.n_events == 6
    with pytest.raises(TypeError, match="raw"):
        events_frame([object()])


def test_events_frame_error_names_page_position_or_raw_attributes() -> None:
    bad = _bad_page("retryCount", '"x"')
    with pytest.raises(SchemaError) as info:
        events_frame([body({"id": "a"}), body({"id": "b"}), bad])
    assert (info.value.page, info.value.event_id, info.value.lead_id) == (3, "bad-2", "lead-x")
    with pytest.raises(SchemaError) as info:
        events_frame([_RawHolder(bad, page=11, lead_id="lead-req")])
    assert (info.value.page, info.value.lead_id) == (11, "lead-req")


def test_events_frame_earlier_bad_value_beats_later_malformed_page() -> None:
    pages = [body({"id": "a"}), _bad_page("createdAt", '"x"'), b'{"items":[']
    with pytest.raises(SchemaError) as info:
        events_frame(pages)
    assert not isinstance(info.value, MalformedPageError) and info.value.page == 2
    with pytest.raises(MalformedPageError) as info2:
        events_frame(pages, lenient=True)
    assert info2.value.page == 3


def test_events_frame_batches_and_locates_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [body(*(current_item(p * 10 + i) for i in range(5))) for p in range(9)]
    monkeypatch.setattr(_frame, "_BATCH_BYTES", 2 * len(pages[0]))  # batches of 2 pages
    batches: list[int] = []
    real = _frame._assemble

    def spy(batch: Any, **kwargs: Any) -> Any:
        batches.append(len(batch))
        return real(batch, **kwargs)

    monkeypatch.setattr(_frame, "_assemble", spy)
    df, report = events_frame(pages, with_report=True)
    assert df.height == 45 and report.n_pages == 9 and report.clean
    assert batches == [2, 2, 2, 2, 1]
    assert df.get_column("id").to_list() == [
        f"cur-{p * 10 + i}" for p in range(9) for i in range(5)
    ]
    items = [current_item(80 + i) for i in range(5)]
    items[3]["retryCount"] = "oops"
    pages[8] = body(*items)
    with pytest.raises(SchemaError) as info:
        events_frame(pages)
    assert (info.value.page, info.value.event_id) == (9, "cur-83")
    df, report = events_frame(pages, lenient=True, with_report=True)
    assert report.nulled == {"retryCount": 1} and df.height == 45


def test_events_frame_lenient_report_merges_everything() -> None:
    p1 = body(raw='[{"id":"a","retryCount":"x","status":"Weird","zNew":1}]', pageSize="x")
    p2 = body(raw='[{"id":"b","retryCount":"y","createdAt":"2026-01-01T00:00:00.0000001Z"}]')
    _df, report = events_frame([p1, p2], lenient=True, with_report=True)
    assert report.nulled == {"retryCount": 2, "pageSize": 1}
    assert report.unknown_fields == {"zNew": 1}
    assert report.unknown_values == {"status": frozenset({"Weird"})}
    assert report.truncated == {"createdAt": 1}
    text = str(report)
    for part in ("2 events from 2 pages", "zNew", "Weird", "retryCount: 2", "createdAt: 1"):
        assert part in text
    html = report._repr_html_()
    assert "<table>" in html and "zNew" in html


# --------------------------------------------------------------------------- value types


def test_report_merge_and_empty() -> None:
    a = FrameReport(n_pages=1, n_events=1, unknown_fields={"x": 4}, nulled={"retryCount": 1})
    b = FrameReport(
        n_pages=2, n_events=3, unknown_fields={"x": 2, "y": 9}, nulled={"retryCount": 2}
    )
    m = a.merge(b)
    assert (m.n_pages, m.n_events) == (3, 4)
    assert m.unknown_fields == {"x": 2, "y": 9}
    assert m.nulled == {"retryCount": 3}
    assert FrameReport.empty().merge(a) == a
    assert FrameReport.empty().clean and "clean" in str(FrameReport.empty())
    assert "clean" in FrameReport.empty()._repr_html_()
    with pytest.raises(TypeError):
        m.nulled["retryCount"] = 0  # type: ignore[index]


def test_decoded_page_is_frozen() -> None:
    p = decode_page(body({"id": "a"}))
    with pytest.raises(FrozenInstanceError):
        p.token = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.nulled["x"] = 1  # type: ignore[index]


def test_schema_table_lists_every_field() -> None:
    t = schema_table()
    assert t.height == len(EVENT_FIELDS)
    assert t.get_column("column").to_list() == list(EVENT_SCHEMA)
    row = t.filter(pl.col("api") == "timelineCategory").row(0, named=True)
    assert row["aliases"] == "activityCategory" and row["eras"] == "seed, current"
    assert t.filter(pl.col("api") == "createdAt").get_column("dtype")[0] == str(TIMESTAMP_DTYPE)


def test_offsets_are_converted_not_relabelled() -> None:
    p = decode_page(body({"id": "a", "createdAt": "2026-01-01T01:00:00+01:00"}))
    value = only(p)["created_at"]
    assert value == datetime(2026, 1, 1, tzinfo=UTC)
    assert value.astimezone(timezone(timedelta(hours=1))).hour == 1


def test_escaped_json_in_strings_stays_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = _frame_raw._scan_unknown

    def spy(doc: Any, *, keep_unknown: bool) -> Any:
        calls.append(1)
        return real(doc, keep_unknown=keep_unknown)

    monkeypatch.setattr(_frame_raw, "_scan_unknown", spy)
    cosmos = '{"token":"+RID:~abc==#RT:1#TRC:100","range":{"min":"","max":"FF"},"x":null}'
    text = json.dumps(
        {
            "items": [
                {"id": "a", "description": 'he said "stop": ok', "summary": '{"k":null}'},
                {"id": "b", "media": [{"url": "u", "fileName": 'a":b'}], "statusReason": None},
            ],
            "continuationToken": cosmos,
        }
    )
    p = decode_page(text.encode())
    assert p.token == cosmos and p.unknown_fields == ()
    assert calls == []  # no exact scan was needed
    p = decode_page(text.replace('"statusReason"', '"zNew": 1, "statusReason"').encode())
    assert p.unknown_fields == ("zNew",) and calls == [1]


def test_spaced_json_with_nulls_stays_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_frame_raw, "_scan_unknown", None)  # would raise TypeError if called
    text = json.dumps({"items": [current_item(), seed_item()], "totalCount": None}, indent=2)
    assert decode_page(text.encode()).n_items == 2


def test_earliest_row_wins_across_wrong_json_types_and_bad_values() -> None:
    early_bad_value = body(
        {"id": "r0"}, {"id": "r1", "retryCount": "x"}, {"id": "r2", "summary": {"o": 1}}
    )
    with pytest.raises(SchemaError) as info:
        decode_page(early_bad_value)
    assert (info.value.event_id, info.value.field) == ("r1", "retryCount")
    early_wrong_type = body(
        {"id": "r0", "summary": ["x"]}, {"id": "r1", "retryCount": "x"}, {"id": "r2"}
    )
    with pytest.raises(SchemaError) as info:
        decode_page(early_wrong_type)
    assert (info.value.event_id, info.value.field) == ("r0", "summary")
    with pytest.raises(SchemaError) as info:
        events_frame([early_wrong_type, early_bad_value])
    assert (info.value.page, info.value.event_id) == (1, "r0")
    with pytest.raises(SchemaError) as info:
        events_frame([early_bad_value, early_wrong_type])
    assert (info.value.page, info.value.event_id) == (1, "r1")


def test_concat_frames_aligns_kept_columns_and_dtypes() -> None:
    a = decode_page(body(raw='[{"id":"a","billableAmount":"0.5","zA":"x"}]'), keep_unknown=True)
    b = decode_page(body(raw='[{"id":"b","zB":true}]'), keep_unknown=True)
    df = concat_frames([a.frame, b.frame, empty_events_frame()])
    assert df.columns == [*EVENT_SCHEMA, "zA", "zB"]
    assert df.get_column("zA").to_list() == ["x", None]
    assert df.get_column("zB").to_list() == [None, "true"]
    assert df.schema["billable_amount"] == MONEY_DTYPE
    assert concat_frames([]).schema == EVENT_SCHEMA


def test_parse_page_then_frame_from_pages_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_frame, "_BATCH_ROWS", 4)
    bodies = [body(*(current_item(p * 10 + i) for i in range(3))) for p in range(5)]
    parsed = [_frame.parse_page(b, lead_id="lead-cur", page=i + 1) for i, b in enumerate(bodies)]
    assert [p.n_items for p in parsed] == [3] * 5
    df, report = frame_from_pages(parsed)
    assert_frame_equal(df, events_frame(bodies), check_exact=True)
    assert report.n_pages == 5 and report.n_events == 15
    mixed, _ = frame_from_pages([parsed[0], decode_page(bodies[1]), parsed[2]])
    assert mixed.height == 9


def test_parse_page_raises_malformed_early_and_bad_values_late() -> None:
    with pytest.raises(MalformedPageError):
        _frame.parse_page(b'{"items":[{"id":"a"},null]}', lead_id="L", page=2)
    bad = _frame.parse_page(_bad_page("retryCount", '"x"', "L"), lead_id="L", page=2)
    assert bad.token is None and bad.n_items == 2
    with pytest.raises(SchemaError) as info:
        frame_from_pages([_frame.parse_page(body({"id": "ok"}), page=1), bad])
    assert (info.value.page, info.value.lead_id, info.value.event_id) == (2, "L", "bad-2")
    lenient = _frame.parse_page(_bad_page("retryCount", '"x"'), page=2, lenient=True)
    strict_ok = _frame.parse_page(body({"id": "ok"}), page=1)
    df, report = frame_from_pages([strict_ok, lenient])
    assert df.height == 3 and report.nulled == {"retryCount": 1}


# --------------------------------------------------------------------------- hostile values
# Each of these was accepted silently before (issue #16, row 6): a repeated key read as its
# first copy, a lone surrogate read as "\x00", year 0000 (then to_list() raised), an event
# without id, an event of another lead, a leap second moved into the next minute.


def _hostile(*items: str, lead: str = "L", **envelope: str) -> bytes:
    """A page from item JSON texts, verbatim (repeated keys, escapes), plus envelope texts."""
    env = "".join(f',"{k}":{v}' for k, v in envelope.items())
    good = f'{{"id":"ok-0","leadId":"{lead}","summary":"fine","createdAt":"{TS}"}}'
    return f'{{"items":[{",".join((good, *items))}]{env}}}'.encode()


def _strict_error(raw: bytes, lead_id: str | None = "L", page: int = 3) -> SchemaError:
    """The error of ``raw``, the same through decode_page, parse_page + frame_from_pages and
    events_frame (where the page is the 2nd, after a clean one)."""
    with pytest.raises(SchemaError) as info:
        decode_page(raw, lead_id=lead_id, page=page)
    err = info.value
    assert not isinstance(err, MalformedPageError)
    with pytest.raises(SchemaError) as again:
        frame_from_pages([parse_page(raw, lead_id=lead_id, page=page)])
    with pytest.raises(SchemaError) as batched:
        events_frame(
            [_RawHolder(_hostile(lead=lead_id or "L"), 1, lead_id), _RawHolder(raw, page, lead_id)]
        )
    for other in (again.value, batched.value):
        assert (other.field, other.value, other.lead_id, other.page, other.event_id) == (
            err.field,
            err.value,
            err.lead_id,
            err.page,
            err.event_id,
        )
    text = str(err)
    text.encode("utf-8")  # printable: a surrogate is escaped, never raw
    assert err.value is None or err.value.encode("utf-8")
    return err


REPEATED = [
    # (item text, field, value shown)
    ('{"id":"e1","status":"Sent","status":"Delivered"}', "status", '"Sent", "Delivered"'),
    ('{"id":"e1","status":null,"status":"Delivered"}', "status", 'null, "Delivered"'),
    ('{"id":"e1","retryCount":1,"retryCount":"2"}', "retryCount", '1, "2"'),
    ('{"id":"e1","billableAmount":0.5,"billableAmount":0.50}', "billableAmount", "0.5, 0.50"),
    ('{"id":"e1","media":[{"url":"u","size":1,"size":2}]}', "media.size", "1, 2"),
]


@pytest.mark.parametrize(("item", "field", "shown"), REPEATED)
def test_a_key_repeated_with_different_values_is_an_error(
    item: str, field: str, shown: str
) -> None:
    err = _strict_error(_hostile(item))
    assert (err.field, err.value, err.lead_id, err.page, err.event_id) == (
        field,
        shown,
        "L",
        3,
        "e1",
    )
    assert "refusing to pick one" in str(err) and "event 'e1'" in str(err)


@pytest.mark.parametrize(("item", "field", "shown"), REPEATED)
def test_a_key_repeated_with_different_values_is_a_counted_null_when_lenient(
    item: str, field: str, shown: str
) -> None:
    p = decode_page(_hostile(item), lead_id="L", page=3, lenient=True)
    assert p.nulled == {field: 1} and not p.report.clean
    row = p.frame.row(1, named=True)
    if field == "media.size":
        assert row["media"][0] == {**row["media"][0], "url": "u", "size": None}
    else:
        assert row[next(f.column for f in EVENT_FIELDS if f.api == field)] is None
    assert p.frame.get_column("summary").to_list() == ["fine", None]


def test_identical_copies_of_a_key_leave_nothing_to_pick() -> None:
    p = decode_page(_hostile('{"id":"e1","status":"Sent","status":"Sent"}'), lead_id="L")
    assert p.frame.get_column("status").to_list() == [None, "Sent"] and p.report.clean


@pytest.mark.parametrize(
    ("item", "envelope", "field"),
    [
        ('{"id":"e1","id":"e2"}', {}, "id"),
        ('{"id":"e1"}', {"continuationToken": '"a","continuationToken":"b"'}, "continuationToken"),
        ('{"id":"e1"}', {"pageSize": '1,"pageSize":2'}, "pageSize"),
        ('{"id":"e1"}', {"items": "[]"}, "items"),
    ],
)
def test_a_repeated_id_or_envelope_key_is_an_error_in_both_modes(
    item: str, envelope: dict[str, str], field: str
) -> None:
    raw = _hostile(item, **envelope)
    err = _strict_error(raw)
    assert (err.field, err.lead_id, err.page) == (field, "L", 3)
    assert err.event_id is None  # the id is the problem, or the page is
    if field == "id":
        assert "items[1]" in str(err) and err.value == '"e1", "e2"'
    with pytest.raises(SchemaError):
        decode_page(raw, lead_id="L", page=3, lenient=True)


SURROGATES = [
    # (item text, field, value shown): a high and a low half, alone; inside media
    ('{"id":"e1","summary":"x\\ud800y"}', "summary", "x\\ud800y"),
    ('{"id":"e1","summary":"\\uDC00"}', "summary", "\\udc00"),
    ('{"id":"e1","summary":"\\ud83d\\ud83d"}', "summary", "\\ud83d\\ud83d"),
    ('{"id":"e1","media":[{"url":"\\ud800"}]}', "media.url", "\\ud800"),
]


@pytest.mark.parametrize(("item", "field", "shown"), SURROGATES)
def test_a_lone_surrogate_is_an_error_or_a_counted_null(item: str, field: str, shown: str) -> None:
    err = _strict_error(_hostile(item))
    assert (err.field, err.value, err.lead_id, err.page, err.event_id) == (
        field,
        shown,
        "L",
        3,
        "e1",
    )
    assert "not valid Unicode" in str(err)
    p = decode_page(_hostile(item), lead_id="L", page=3, lenient=True)
    assert p.nulled == {field: 1}
    assert p.frame.get_column("id").to_list() == ["ok-0", "e1"]
    assert p.frame.get_column("summary")[0] == "fine"
    assert p.frame.rows()  # every value can be read back (no "\x00", no surrogate)


@pytest.mark.parametrize(
    ("item", "envelope", "field"),
    [
        ('{"id":"\\ud800"}', {}, "id"),
        ('{"id":"e1","\\ud800x":1}', {}, "\\ud800x"),
        ('{"id":"e1"}', {"continuationToken": '"t\\ud800"'}, "continuationToken"),
    ],
)
def test_a_lone_surrogate_in_an_id_key_or_token_is_an_error_in_both_modes(
    item: str, envelope: dict[str, str], field: str
) -> None:
    raw = _hostile(item, **envelope)
    err = _strict_error(raw)
    assert (err.field, err.lead_id, err.page) == (field, "L", 3)
    with pytest.raises(SchemaError):
        decode_page(raw, lead_id="L", page=3, lenient=True)
    if field == "continuationToken":  # refused at once, never echoed back as "\x00"
        with pytest.raises(SchemaError):
            parse_page(raw, lead_id="L", page=3)


def test_surrogate_pairs_and_escaped_backslashes_are_kept() -> None:
    raw = _hostile(r'{"id":"e1","summary":"\ud83d\ude00 \u00e9 \\ud800 \\\\\ud83d\ude00"}')
    p = decode_page(raw, lead_id="L")
    assert p.frame.get_column("summary")[1] == "\U0001f600 \u00e9 \\ud800 \\\\\U0001f600"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0000-01-01T00:00:00Z", "year 0000"),
        ("0000-12-31T23:59:59.999999Z", "year 0000"),
        ("0001-01-01T00:30:00+01:00", "outside 0001-01-01"),
        ("9999-12-31T23:00:00-02:00", "outside 0001-01-01"),
        ("2026-11-07T05:31:60Z", "a leap second"),
        ("2026-12-31T23:59:60.5+00:00", "a leap second"),
    ],
)
def test_timestamps_no_datetime_holds_are_an_error_or_a_counted_null(
    text: str, problem: str
) -> None:
    item = f'{{"id":"e1","sentAt":"{text}"}}'
    err = _strict_error(_hostile(item))
    assert (err.field, err.value, err.lead_id, err.page, err.event_id) == (
        "sentAt",
        text,
        "L",
        3,
        "e1",
    )
    assert problem in str(err)
    p = decode_page(_hostile(item), lead_id="L", page=3, lenient=True)
    assert p.nulled == {"sentAt": 1}
    assert p.frame.get_column("sent_at").to_list() == [None, None]  # readable, not moved
    assert p.frame.get_column("created_at").to_list() == [DT, None]


def test_the_first_and_last_instants_are_kept() -> None:
    first, last = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"
    p = decode_page(_hostile(f'{{"id":"e1","sentAt":"{first}","failedAt":"{last}"}}'))
    row = p.frame.row(1, named=True)
    assert row["sent_at"] == datetime(1, 1, 1, tzinfo=UTC)
    assert row["failed_at"] == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize("item", ['{"id":null,"leadId":"L"}', '{"leadId":"L","summary":"x"}'])
def test_an_event_without_id_is_an_error_in_both_modes(item: str) -> None:
    raw = _hostile(item)
    err = _strict_error(raw)
    assert (err.field, err.value, err.lead_id, err.page, err.event_id) == ("id", None, "L", 3, None)
    assert "items[1]" in str(err) and "cannot be stored or de-duplicated" in str(err)
    with pytest.raises(SchemaError) as info:
        decode_page(raw, lead_id="L", page=3, lenient=True)
    assert info.value.field == "id"


def test_an_event_of_another_lead_is_an_error_where_a_lead_was_asked_for() -> None:
    raw = _hostile('{"id":"e1","leadId":"M"}')
    err = _strict_error(raw)
    assert (err.field, err.value, err.lead_id, err.page, err.event_id) == (
        "leadId",
        "M",
        "L",
        3,
        "e1",
    )
    with pytest.raises(SchemaError):
        decode_page(raw, lead_id="L", page=3, lenient=True)
    # No lead asked for (the account stream), or an item without leadId: nothing to check.
    assert decode_page(raw, page=3).frame.get_column("lead_id").to_list() == ["L", "M"]
    assert decode_page(_hostile('{"id":"e1"}'), lead_id="L").n_items == 2
    # In a batch of several leads' pages each page is held to its own lead.
    ok_l, ok_m = (
        parse_page(_hostile(), lead_id="L", page=1),
        parse_page(_hostile('{"id":"m1","leadId":"M"}', lead="M"), lead_id="M", page=1),
    )
    df, _ = frame_from_pages([ok_l, ok_m])
    assert df.get_column("lead_id").to_list() == ["L", "M", "M"]
    with pytest.raises(SchemaError) as info:
        frame_from_pages(
            [ok_l, parse_page(_hostile('{"id":"x1","leadId":"L"}', lead="M"), lead_id="M", page=2)]
        )
    assert (info.value.lead_id, info.value.page, info.value.event_id) == ("M", 2, "x1")


def test_error_values_are_cut_short_and_escaped() -> None:
    long = "9" * 500
    err = _strict_error(_hostile(f'{{"id":"e1","retryCount":"{long}\\ud800"}}'))
    assert err.field == "retryCount" and err.value is not None
    assert len(err.value) < 200 and err.value.endswith("... (506 characters)")  # as escaped
    assert len(str(err)) < 600


def test_the_earliest_row_wins_across_hostile_and_bad_values() -> None:
    raw = _hostile('{"id":"e1","retryCount":"x"}', '{"id":"e2","status":"A","status":"B"}')
    assert _strict_error(raw).event_id == "e1"
    raw = _hostile('{"id":"e1","status":"A","status":"B"}', '{"id":"e2","retryCount":"x"}')
    assert _strict_error(raw).event_id == "e1"
    raw = _hostile('{"id":"e1","retryCount":"x"}', '{"leadId":"L"}')
    assert _strict_error(raw).event_id == "e1"


# --------------------------------------------------------------------------- hostile, end to end


def _served(hostile: bytes) -> FakeApi:
    """L1's only page is ``hostile``; L2 has two clean pages."""
    api = FakeApi({"L1": [[]], "L2": make_pages("L2", [2, 1])})
    api.per_lead_script["L1"] = lambda _r, _n: WireResponse(
        200, (("content-type", "application/json"),), hostile
    )
    return api


E2E = [
    # (L1's item text, field, can be lenient)
    ('{"id":"e1","leadId":"L1","status":"Sent","status":"Delivered"}', "status", True),
    ('{"id":"e1","leadId":"L1","summary":"\\ud800"}', "summary", True),
    ('{"id":"e1","leadId":"L1","sentAt":"0000-01-01T00:00:00Z"}', "sentAt", True),
    ('{"id":"e1","leadId":"L1","sentAt":"2026-11-07T05:31:60Z"}', "sentAt", True),
    ('{"id":null,"leadId":"L1"}', "id", False),
    ('{"leadId":"L1"}', "id", False),
    ('{"id":"e1","leadId":"L2"}', "leadId", False),
]


@pytest.mark.parametrize(("item", "field", "lenient_ok"), E2E)
def test_hostile_values_through_the_client(item: str, field: str, lenient_ok: bool) -> None:
    hostile = _hostile(item, lead="L1")
    with Client(api_key=KEY, transport=_served(hostile), rate_limit=None) as c:
        result = c.fetch_events(["L1", "L2"])
        assert result.failed == ["L1"]
        err = result.errors["L1"]
        assert isinstance(err, SchemaError) and not isinstance(err, MalformedPageError)
        assert (err.field, err.lead_id, err.page) == (field, "L1", 1)
        assert result.frame.get_column("id").to_list() == ["L2-ev0000", "L2-ev0001", "L2-ev0002"]
        with pytest.raises(SchemaError) as info:
            c.events("L1").frame()
        assert (info.value.field, info.value.lead_id, info.value.page) == (field, "L1", 1)
        lenient = c.fetch_events(["L1", "L2"], lenient=True)
        if lenient_ok:
            assert lenient.ok and lenient.report.nulled == {field: 1}
            assert lenient.frame.filter(pl.col("lead_id") == "L1").get_column("id").to_list() == [
                "ok-0",
                "e1",
            ]
        else:
            assert lenient.failed == ["L1"] and lenient.errors["L1"].field == field  # type: ignore[attr-defined]


# ------------------------------------------------- undeclared fields on every item (issue 18)


def with_new_fields(item: dict[str, Any], i: int) -> dict[str, Any]:
    """An item with the kinds of fields the API adds: text, boolean, integer, and nulls."""
    return item | {
        "newText": f"run-{i}",
        "newFlag": i % 2 == 0,
        "newCount": i * 1_000_000_007,  # beyond Int32; kept as its digits
        "newMaybe": None if i % 3 else "x",
    }


@pytest.mark.parametrize("era", ["seed", "current"])
def test_undeclared_fields_on_every_item_keep_every_value_and_the_report(
    era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make = seed_item if era == "seed" else current_item
    plain = [[make(10 * p + j) for j in range(3)] for p in range(4)]
    pages = [
        body(*(with_new_fields(it, 10 * p + j) for j, it in enumerate(items)))
        for p, items in enumerate(plain)
    ]
    scans: list[int] = []
    real = _frame_raw._scan_unknown

    def spy(doc: Any, *, keep_unknown: bool) -> Any:
        scans.append(1)
        return real(doc, keep_unknown=keep_unknown)

    monkeypatch.setattr(_frame_raw, "_scan_unknown", spy)
    declared_only = events_frame([body(*items) for items in plain])
    scans.clear()
    # The first page teaches the new keys (ReadKeys.learn) and is read again with them;
    # every page is then proved by the key count alone, none is scanned exactly.
    learned = learned_frame(pages, lenient=False, keep_unknown=False)
    assert scans == []
    assert_frame_equal(learned, declared_only, check_exact=True)
    df, report = events_frame(pages, with_report=True)
    assert_frame_equal(df, declared_only, check_exact=True)  # every declared value, exact
    assert report.unknown_fields == {"newText": 1, "newFlag": 1, "newCount": 1, "newMaybe": 1}
    assert report.n_events == 12

    kept, kept_report = events_frame(pages, keep_unknown=True, with_report=True)
    assert kept.columns == [*EVENT_SCHEMA, "newText", "newFlag", "newCount", "newMaybe"]
    assert_frame_equal(kept.select(list(EVENT_SCHEMA)), declared_only, check_exact=True)
    ids = [10 * p + j for p in range(4) for j in range(3)]
    assert kept.get_column("newText").to_list() == [f"run-{i}" for i in ids]
    assert kept.get_column("newFlag").to_list() == ["true" if i % 2 == 0 else "false" for i in ids]
    assert kept.get_column("newCount").to_list() == [str(i * 1_000_000_007) for i in ids]
    assert kept.get_column("newMaybe").to_list() == [None if i % 3 else "x" for i in ids]
    assert kept_report.unknown_fields == report.unknown_fields
    assert_frame_equal(learned_frame(pages, lenient=False, keep_unknown=True), kept)


def test_learned_undeclared_keys_keep_numbers_and_objects_exactly() -> None:
    p1 = body(raw='[{"id":"a","zNum":1,"zObj":"s"},{"id":"b","zNum":2}]')
    p2 = body(raw='[{"id":"c","zNum":-2.50},{"id":"d","zNum":1E+5}]')  # not float text
    p3 = body(raw='[{"id":"e","zObj":{"k":[1,null]}},{"id":"f","zNew":"late"}]')
    p4 = body(raw='[{"id":"g","zNum":3,"zNew":"again"}]')
    df = learned_frame([p1, p2, p3, p4], lenient=False, keep_unknown=True)
    assert df.columns == [*EVENT_SCHEMA, "zNum", "zObj", "zNew"]
    assert df.get_column("zNum").to_list() == ["1", "2", "-2.50", "1E+5", None, None, "3"]
    assert df.get_column("zObj").to_list() == ["s", None, None, None, '{"k":[1,null]}', None, None]
    assert df.get_column("zNew").to_list() == [None] * 5 + ["late", "again"]
    _df, report = events_frame([p1, p2, p3, p4], with_report=True)
    assert report.unknown_fields == {"zNum": 1, "zObj": 1, "zNew": 3}


@pytest.mark.parametrize("lenient", [False, True])
def test_a_wrong_type_next_to_undeclared_fields_is_still_a_clear_error(lenient: bool) -> None:
    pages = [body(*(with_new_fields(seed_item(10 * p + j), j) for j in range(3))) for p in range(3)]
    bad = [with_new_fields(seed_item(30 + j), j) for j in range(3)]
    bad[1]["retryCount"] = "two"
    pages.append(body(*bad))
    sources = [SimpleNamespace(raw=b, page=n, lead_id="lead-seed") for n, b in enumerate(pages, 1)]
    if lenient:
        df, report = events_frame(sources, lenient=True, with_report=True)
        assert df.get_column("retry_count").null_count() == 1
        assert report.nulled == {"retryCount": 1}
        assert set(report.unknown_fields) == {"newText", "newFlag", "newCount", "newMaybe"}
        return
    with pytest.raises(SchemaError) as info:
        events_frame(sources)
    error = info.value
    assert (error.field, error.value, error.lead_id, error.page, error.event_id) == (
        "retryCount",
        "two",
        "lead-seed",
        4,
        "seed-31",
    )
    assert "retryCount" in str(error) and "'two'" in str(error) and "page 4" in str(error)
    # An object where a declared scalar is expected, next to learned undeclared keys.
    bad[1]["retryCount"] = "2"
    bad[2]["status"] = {"code": 1}
    with pytest.raises(SchemaError) as info:
        learned_frame([*pages[:3], body(*bad)], lenient=False, keep_unknown=False)
    assert (info.value.field, info.value.page, info.value.event_id) == ("status", 4, "seed-32")
