"""Exports read back exactly: Parquet losslessly, CSV as exact text, Excel honestly."""

from __future__ import annotations

import errno
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl  # type: ignore[import-untyped]
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._frame.decode import decode_page, events_frame
from leadping_nb.reports import _export
from leadping_nb.reports._export import to_csv, to_excel, to_parquet

BERLIN = ZoneInfo("Europe/Berlin")


def events(*, big: bool = False, keep_unknown: bool = False) -> pl.DataFrame:
    amount = '"123456789012.345678"' if big else '"0.0079"'
    items = [
        f'{{"id":"a","leadId":"L1","billableAmount":{amount},"retryCount":3,"isDemo":true,'
        '"createdAt":"2026-01-15T10:00:00.123456Z","sentAt":"2026-07-01T22:30:00Z",'
        '"summary":"comma, \\"quote\\"\\nnewline","description":"",'
        '"media":[{"url":"https://x/a.png","contentType":"image/png","size":12345}],'
        '"zExtra":{"k":[1,2]}}',
        '{"id":"b","billableAmount":-1.5,"retryCount":0,"isDemo":false,'
        '"createdAt":"2026-03-29T01:30:00.000001Z","media":[]}',
        '{"id":"c","billableAmount":"999999999.999999","createdAt":"2026-10-25T00:59:59.999999Z"}',
        '{"id":"d"}',
    ]
    body = ('{{"items":[{}]}}'.format(",".join(items))).encode()
    return events_frame([body], keep_unknown=keep_unknown)


# --------------------------------------------------------------------------- parquet


def test_parquet_round_trip_is_lossless(tmp_path: Path) -> None:
    df = events(big=True, keep_unknown=True)
    path = to_parquet(df, tmp_path / "sub" / "events.parquet")
    back = pl.read_parquet(path)
    assert back.schema == df.schema
    assert back.schema["billable_amount"] == pl.Decimal(18, 6)
    assert back.schema["created_at"] == pl.Datetime("us", "UTC")
    assert_frame_equal(back, df, check_exact=True)
    assert back.get_column("billable_amount")[0] == Decimal("123456789012.345678")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_export._umask()


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "events.parquet"
    target.write_bytes(b"previous")

    def boom(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        Path(file).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        to_parquet(events(), target)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["events.parquet"]  # no temporary file left behind


def _full_disk_errors() -> list[tuple[str, BaseException, bool]]:
    """What the writers raise on a full disk (as observed on a full tmpfs), and the one
    that does not say so (then the free space decides)."""
    import xlsxwriter.exceptions

    return [
        ("errno", OSError(errno.ENOSPC, "No space left on device"), False),
        (
            "polars",
            pl.exceptions.ComputeError(
                "parquet: File out of specification: underlying IO error: No space left on "
                "device (os error 28)"
            ),
            False,
        ),
        ("csv", OSError("No space left on device (os error 28)"), False),
        (
            "xlsxwriter",
            xlsxwriter.exceptions.FileCreateError(OSError(28, "No space left on device")),
            False,
        ),
        ("quota", OSError(errno.EDQUOT, "Disk quota exceeded"), False),
        ("thrift", pl.exceptions.ComputeError("parquet: Invalid thrift: transport error"), True),
    ]


@pytest.mark.parametrize("case", [c[0] for c in _full_disk_errors()])
@pytest.mark.parametrize("writer", ["parquet", "csv", "excel"])
def test_a_full_disk_is_said_so_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, writer: str
) -> None:
    _name, error, needs_free_space = next(c for c in _full_disk_errors() if c[0] == case)
    target = tmp_path / f"events.{writer}"
    target.write_bytes(b"previous")

    def full(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        path = Path(file) if not hasattr(file, "filename") else Path(file.filename)
        path.write_bytes(b"half")
        raise error

    method = {"parquet": "write_parquet", "csv": "write_csv", "excel": "write_excel"}[writer]
    monkeypatch.setattr(pl.DataFrame, method, full)
    if needs_free_space:
        monkeypatch.setattr(_export, "_free_bytes", lambda _d: 4096)
    write = {"parquet": to_parquet, "csv": to_csv, "excel": to_excel}[writer]
    with pytest.raises(OSError, match="no space left on device") as info:
        write(events(), target)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert "no space left on device: nothing was written" in str(info.value)
    assert info.value.__cause__ is error
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == [target.name]  # no temporary file left behind


def test_another_failure_is_not_called_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        raise pl.exceptions.ComputeError("parquet: Invalid thrift: transport error")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken)
    monkeypatch.setattr(_export, "_free_bytes", lambda _d: 10 << 30)
    with pytest.raises(pl.exceptions.ComputeError, match="thrift"):
        to_parquet(events(), tmp_path / "x.parquet")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- csv


def read_csv_text(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def test_csv_money_is_exact_text(tmp_path: Path) -> None:
    df = events(big=True)
    back = read_csv_text(to_csv(df, tmp_path / "e.csv"))
    assert back.get_column("billable_amount").to_list() == [
        "123456789012.345678",
        "-1.500000",
        "999999999.999999",
        None,
    ]
    assert [Decimal(v) if v else None for v in back.get_column("billable_amount")] == (
        df.get_column("billable_amount").to_list()
    )


def test_csv_timestamps_carry_their_offset(tmp_path: Path) -> None:
    df = events()
    back = read_csv_text(to_csv(df, tmp_path / "e.csv", time_zone="Europe/Berlin"))
    assert back.get_column("created_at").to_list() == [
        "2026-01-15T11:00:00.123456+01:00",
        "2026-03-29T03:30:00.000001+02:00",  # the DST switch happens at 01:00 UTC that day
        "2026-10-25T02:59:59.999999+02:00",
        None,
    ]
    for text, original in zip(
        back.get_column("created_at").drop_nulls(),
        df.get_column("created_at").drop_nulls(),
        strict=True,
    ):
        assert datetime.fromisoformat(text) == original
    utc = read_csv_text(to_csv(df, tmp_path / "u.csv"))
    assert utc.get_column("sent_at")[0] == "2026-07-01T22:30:00.000000+00:00"


def test_csv_strings_nulls_and_nested_columns(tmp_path: Path) -> None:
    df = events(keep_unknown=True)
    back = read_csv_text(to_csv(df, tmp_path / "e.csv"))
    assert back.columns == df.columns
    assert back.get_column("summary")[0] == 'comma, "quote"\nnewline'
    assert back.get_column("description")[0] == ""  # empty string stays distinct from null
    assert back.get_column("description")[1] is None
    assert back.get_column("is_demo").to_list() == ["true", "false", None, None]
    media = back.get_column("media").to_list()
    assert json.loads(media[0]) == [
        {
            "url": "https://x/a.png",
            "content_type": "image/png",
            "size": 12345,
            "sha256": None,
            "file_name": None,
            "file_id": None,
        }
    ]
    assert media[1] == "[]" and media[2] is None
    assert back.get_column("zExtra")[0] == '{"k":[1,2]}'


def test_unknown_time_zone_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        to_csv(events(), tmp_path / "e.csv", time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="Mars/Olympus"):
        to_excel(events(), tmp_path / "e.xlsx", time_zone="Mars/Olympus")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- excel


def sheet_rows(path: Path, sheet: str = "events") -> tuple[list[str], list[dict[str, Any]]]:
    ws = openpyxl.load_workbook(path)[sheet]
    rows = list(ws.iter_rows())
    header = [c.value for c in rows[0]]
    return header, [dict(zip(header, row, strict=True)) for row in rows[1:]]


def header_notes(path: Path, sheet: str = "events") -> dict[str, str]:
    """Column name -> the text of the note on its header cell."""
    ws = openpyxl.load_workbook(path)[sheet]
    return {c.value: c.comment.text for c in next(ws.iter_rows()) if c.comment is not None}


def test_excel_and_csv_have_the_same_column_names(tmp_path: Path) -> None:
    df = events(big=True, keep_unknown=True)
    excel, _ = sheet_rows(to_excel(df, tmp_path / "e.xlsx", time_zone="Europe/Berlin"))
    csv = read_csv_text(to_csv(df, tmp_path / "e.csv", time_zone="Europe/Berlin")).columns
    assert excel == csv == df.columns
    notes = header_notes(tmp_path / "e.xlsx")
    times = [n for n, t in df.schema.items() if isinstance(t, pl.Datetime)]
    assert times and {n: notes[n] for n in times} == dict.fromkeys(
        times, "wall-clock time in Europe/Berlin"
    )
    assert notes["billable_amount"].startswith("exact decimal text")
    about = dict(openpyxl.load_workbook(tmp_path / "e.xlsx")["about"].iter_rows(values_only=True))
    assert {n: about[n] for n in notes} == notes  # the same notes in the about sheet


def test_excel_times_are_converted_and_labelled(tmp_path: Path) -> None:
    df = events()
    header, rows = sheet_rows(to_excel(df, tmp_path / "e.xlsx", time_zone="Europe/Berlin"))
    assert "created_at" in header and not any("(" in h for h in header)
    notes = header_notes(tmp_path / "e.xlsx")
    assert all(notes[h] == "wall-clock time in Europe/Berlin" for h in header if h.endswith("_at"))
    cells = [r["created_at"] for r in rows]
    assert cells[0].number_format == "yyyy-mm-dd hh:mm:ss.000"
    expected = [
        v.astimezone(BERLIN).replace(tzinfo=None) if v else None
        for v in df.get_column("created_at")
    ]
    for cell, want in zip(cells, expected, strict=True):
        if want is None:
            assert cell.value is None
        else:  # truncated to the millisecond, never rounded into the next second
            assert cell.value == want.replace(microsecond=want.microsecond // 1000 * 1000)
    about = dict(openpyxl.load_workbook(tmp_path / "e.xlsx")["about"].iter_rows(values_only=True))
    assert "Europe/Berlin" in about["time zone"]
    assert cells[2].value == datetime(2026, 10, 25, 2, 59, 59, 999000)


def test_excel_money_as_exact_numbers_when_excel_can_show_them(tmp_path: Path) -> None:
    df = events()
    header, rows = sheet_rows(to_excel(df, tmp_path / "e.xlsx"))
    assert "billable_amount" in header
    cells = [r["billable_amount"] for r in rows]
    assert [c.value for c in cells] == [0.0079, -1.5, 999999999.999999, None]
    assert cells[0].number_format == "0.0000##"
    # Every number shows back as exactly the decimal (at most 15 significant digits).
    for cell, want in zip(cells, df.get_column("billable_amount"), strict=True):
        if want is not None:
            assert Decimal(repr(cell.value)) == want
    assert rows[0]["retry_count"].value == 3
    assert rows[0]["is_demo"].value is True
    assert rows[3]["is_demo"].value is None


def test_excel_money_beyond_15_digits_becomes_exact_text(tmp_path: Path) -> None:
    df = events(big=True)
    header, rows = sheet_rows(to_excel(df, tmp_path / "e.xlsx"))
    assert "billable_amount" in header
    values = [r["billable_amount"].value for r in rows]
    assert values == ["123456789012.345678", "-1.500000", "999999999.999999", None]
    assert all(r["billable_amount"].data_type == "s" for r in rows[:3])
    about = dict(openpyxl.load_workbook(tmp_path / "e.xlsx")["about"].iter_rows(values_only=True))
    assert about["billable_amount"].startswith("exact decimal text")
    assert header_notes(tmp_path / "e.xlsx")["billable_amount"] == about["billable_amount"]
    with pytest.raises(ValueError, match=r"123456789012\.345678"):
        to_excel(df, tmp_path / "f.xlsx", money_as="number")
    assert not (tmp_path / "f.xlsx").exists()
    header, rows = sheet_rows(to_excel(events(), tmp_path / "g.xlsx", money_as="text"))
    assert rows[0]["billable_amount"].value == "0.007900"


def test_excel_nested_and_unknown_columns_and_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = events(keep_unknown=True)
    header, rows = sheet_rows(to_excel(df, tmp_path / "e.xlsx"))
    assert header[-1] == "zExtra" and len(header) == len(EVENT_SCHEMA) + 1
    assert json.loads(rows[0]["media"].value)[0]["size"] == 12345
    assert rows[0]["zExtra"].value == '{"k":[1,2]}'
    assert rows[0]["summary"].value == 'comma, "quote"\nnewline'
    monkeypatch.setattr(_export, "EXCEL_MAX_ROWS", 3)
    with pytest.raises(ValueError, match="do not fit"):
        to_excel(df, tmp_path / "big.xlsx")
    with pytest.raises(ValueError, match="money_as"):
        to_excel(df.head(1), tmp_path / "x.xlsx", money_as="float")  # type: ignore[arg-type]


def test_exports_of_an_empty_frame(tmp_path: Path) -> None:
    empty = decode_page(b'{"items":[]}').frame
    assert pl.read_parquet(to_parquet(empty, tmp_path / "e.parquet")).schema == EVENT_SCHEMA
    assert read_csv_text(to_csv(empty, tmp_path / "e.csv")).columns == list(EVENT_SCHEMA)
    header, rows = sheet_rows(to_excel(empty, tmp_path / "e.xlsx"))
    assert rows == [] and "created_at" in header
    assert header_notes(tmp_path / "e.xlsx")["created_at"] == "wall-clock time in UTC"


def test_naive_datetimes_are_labelled_as_zoneless(tmp_path: Path) -> None:
    df = pl.DataFrame({"when": [datetime(2026, 1, 1, 12, 0)]})
    header, rows = sheet_rows(to_excel(df, tmp_path / "n.xlsx", time_zone="Asia/Tokyo"))
    assert header == ["when"] and rows[0]["when"].value == datetime(2026, 1, 1, 12)
    assert header_notes(tmp_path / "n.xlsx") == {"when": "no time zone"}
    text = read_csv_text(to_csv(df, tmp_path / "n.csv", time_zone="Asia/Tokyo"))
    assert text.get_column("when").to_list() == ["2026-01-01T12:00:00.000000"]
    aware = pl.DataFrame({"when": [datetime(2026, 1, 1, 12, 0, tzinfo=UTC)]})
    header, rows = sheet_rows(to_excel(aware, tmp_path / "a.xlsx", time_zone="Asia/Tokyo"))
    assert rows[0]["when"].value == datetime(2026, 1, 1, 21)


# --------------------------------------------------------------------------- provenance


def test_provenance_is_written_into_parquet_and_the_excel_about_sheet(tmp_path: Path) -> None:
    from leadping_nb import EventQuery, __version__
    from leadping_nb.reports._export import PROVENANCE_KEYS, provenance

    prov = provenance(
        source="Leadping API at https://api.example.com/v1",
        window=(datetime(2026, 5, 1, tzinfo=BERLIN), None),
        query=EventQuery(filters={"direction": "Outbound"}),
        store_version=4,
        built_at=datetime(2026, 6, 1, 12, 30, tzinfo=UTC),
    )
    assert prov == {
        "source": "Leadping API at https://api.example.com/v1",
        "window": "[2026-04-30T22:00:00Z, open) on created_at",
        "query": "direction = Outbound",
        "store_version": "4",
        "package_version": __version__,
        "built_at": "2026-06-01T12:30:00Z",
    }
    assert tuple(prov) == PROVENANCE_KEYS
    meta = pl.read_parquet_metadata(to_parquet(events(), tmp_path / "e.parquet", metadata=prov))
    assert {k: meta[f"leadping_nb.{k}"] for k in prov} == prov
    assert not any(
        k.startswith("leadping_nb.")
        for k in pl.read_parquet_metadata(to_parquet(events(), tmp_path / "plain.parquet"))
    )
    to_excel(events(), tmp_path / "e.xlsx", metadata=prov)
    about = dict(openpyxl.load_workbook(tmp_path / "e.xlsx")["about"].iter_rows(values_only=True))
    assert {k: about[k] for k in prov} == prov
    with pytest.raises(TypeError, match="text to text"):
        to_parquet(events(), tmp_path / "bad.parquet", metadata={"n": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("https://user:pw@api.example.com/v1", "https://***@api.example.com/v1"),
        ("https://a@b:c@host/p?x=1", "https://***@host/p"),
        ("http://127.0.0.1:8000/?api_key=SECRET#frag", "http://127.0.0.1:8000/"),
        ("key=SECRET and Bearer SECRET", "key=*** and Bearer ***"),
        ("local store /data/store (version 3)", "local store /data/store (version 3)"),
    ],
)
def test_safe_source_removes_credentials(source: str, shown: str) -> None:
    from leadping_nb.reports._export import safe_source

    assert safe_source(source) == shown
    assert "SECRET" not in safe_source(source) and "pw" not in safe_source(source)
