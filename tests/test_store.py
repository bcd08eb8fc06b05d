"""EventStore: exact round trip, incremental refresh cost, lookback, isolation, crash safety."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from leadping_nb import Client, EventQuery, QueryError, RetryPolicy
from leadping_nb._schema import EVENT_SCHEMA
from leadping_nb.emulator import Emulator
from leadping_nb.store import EventStore, StoreError

from .fakes import KEY, FakeApi, item, status


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=11, n_leads=12)


def _truth(client: Client, leads: list[str]) -> pl.DataFrame:
    return client.fetch_events(leads).frame.sort("lead_id", "created_at", "id")


def test_round_trip_is_exact(emu: Emulator, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        r = store.refresh(c, emu.lead_ids())
        truth = _truth(c, emu.lead_ids())
    back = store.read()
    assert back.schema == EVENT_SCHEMA
    assert_frame_equal(back, truth)
    assert r.added == truth.height
    assert store.scan().collect().height == truth.height
    assert sorted(store.leads()["lead_id"]) == sorted(emu.lead_ids())


def test_incremental_refresh_adds_exactly_the_new_events_with_few_requests(
    emu: Emulator, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "s")
    leads = emu.lead_ids()
    with emu.client() as c:
        store.refresh(c, leads)
        before = store.read()
        added = {leads[0]: 7, leads[3]: 1200, leads[5]: 1}
        for lead, n in added.items():
            emu.add_events(lead, n)
        r = store.refresh(c, leads)
        truth = _truth(c, leads)
    assert r.added == sum(added.values())
    # page size 1000: each lead asks once, plus the extra pages of leads with > 1000 rows
    # from its watermark (the boundary events at the watermark are refetched and dropped)
    after = store.read()
    assert_frame_equal(after, truth)
    new_ids = set(after["id"]) - set(before["id"])
    assert len(new_ids) == sum(added.values())
    boundary = before.group_by("lead_id").agg(
        (pl.col("created_at") == pl.col("created_at").max()).sum().alias("b")
    )
    b = dict(zip(boundary["lead_id"], boundary["b"], strict=True))
    expected = sum(max(1, math.ceil((added.get(lead, 0) + b[lead]) / 1000)) for lead in leads)
    assert r.requests == expected


def test_refresh_of_nothing_new_costs_one_request_per_lead(emu: Emulator, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids())
        files = store.files()
        r = store.refresh(c, emu.lead_ids())
    assert (r.added, r.replaced, r.requests) == (0, 0, len(emu.lead_ids()))
    assert store.files() == files


def test_dataset_is_plain_parquet_for_duckdb(emu: Emulator, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids())
    path = str(tmp_path / "s" / "data" / "**" / "*.parquet")
    n, total, months = duckdb.sql(
        f"select count(*), sum(billable_amount), count(distinct created_month) "
        f"from read_parquet('{path}', hive_partitioning=true)"
    ).fetchall()[0]
    frame = store.read()
    assert n == frame.height
    assert total == frame["billable_amount"].sum()
    assert months == frame["created_at"].dt.strftime("%Y-%m").n_unique()


def test_failed_lead_keeps_its_data_and_watermark(tmp_path: Path) -> None:
    api = FakeApi({"A": [[item("A", 0), item("A", 1)]], "B": [[item("B", 0)]]})
    store = EventStore(tmp_path / "s")
    with Client(api_key=KEY, transport=api, rate_limit=None, retry=RetryPolicy(attempts=1)) as c:
        store.refresh(c, ["A", "B"])
        before = store.leads()
        api.pages["A"][0].append(item("A", 2))
        api.pages["B"][0].append(item("B", 5))
        api.per_lead_script["B"] = lambda r, n: status(500)(r)
        r = store.refresh(c, ["A", "B"])
    assert r.failed == ["B"]
    assert r.added == 1
    frame = store.read()
    assert sorted(frame["id"]) == ["A-ev0000", "A-ev0001", "A-ev0002", "B-ev0000"]
    after = store.leads()
    assert after.filter(pl.col("lead_id") == "B")["watermark"].equals(
        before.filter(pl.col("lead_id") == "B")["watermark"]
    )


def test_lookback_replaces_changed_events(tmp_path: Path) -> None:
    t = "2024-05-01T00:00:00.000Z"
    api = FakeApi({"A": [[item("A", 0), item("A", 1, createdAt=t)]]})
    store = EventStore(tmp_path / "s")
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        store.refresh(c, ["A"])
        api.pages["A"][0][1]["deliveredAt"] = "2024-05-01T00:00:05Z"
        plain = store.refresh(c, ["A"])
        assert store.read()["delivered_at"].null_count() == 2
        r = store.refresh(c, ["A"], lookback=timedelta(hours=1))
    assert (plain.replaced, r.replaced, r.added) == (0, 1, 0)
    frame = store.read()
    assert frame.height == 2
    assert frame.filter(pl.col("id") == "A-ev0001")["delivered_at"][0] == datetime(
        2024, 5, 1, 0, 0, 5, tzinfo=UTC
    )


def test_store_manages_the_created_at_range(tmp_path: Path, emu: Emulator) -> None:
    store = EventStore(tmp_path / "s")
    q = EventQuery(range_filters={"createdAt": {"ge": datetime(2024, 1, 1, tzinfo=UTC)}})
    with emu.client() as c, pytest.raises(QueryError, match="createdAt"):
        store.refresh(c, emu.lead_ids(), q)


def test_query_filters_pass_through(emu: Emulator, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids(), EventQuery(filters={"direction": "Inbound"}))
    frame = store.read()
    assert frame.height > 0
    assert set(frame["direction"].unique()) == {"Inbound"}


@pytest.mark.parametrize("point", ["staged", "moved", "before-manifest"])
def test_a_crash_before_the_manifest_leaves_the_old_snapshot(
    emu: Emulator, tmp_path: Path, point: str
) -> None:
    store = EventStore(tmp_path / "s")
    leads = emu.lead_ids()

    def crash(at: str) -> None:
        if at == point:
            raise SystemExit("simulated crash")

    with emu.client() as c:
        store.refresh(c, leads[:4])
        before = store.read()
        emu.add_events(leads[0], 3)
        with pytest.raises(SystemExit):
            store.refresh(c, leads, _hook=crash)
        assert_frame_equal(EventStore(tmp_path / "s").read(), before)
        r = store.refresh(c, leads)
        truth = _truth(c, leads)
    assert_frame_equal(store.read(), truth)
    assert r.added == truth.height - before.height
    listed = {str(p) for p in store.files()}
    on_disk = {str(p) for p in (tmp_path / "s" / "data").rglob("*.parquet")}
    assert listed == on_disk
    assert not (tmp_path / "s" / "_staging").exists() or not any(
        (tmp_path / "s" / "_staging").iterdir()
    )


def test_not_a_store_and_locking(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("hi")
    with pytest.raises(StoreError, match="not a store"):
        EventStore(tmp_path / "x")
    store = EventStore(tmp_path / "s")
    with store._locked(), pytest.raises(StoreError, match="another process"):
        EventStore(tmp_path / "s")._locked().__enter__()


def test_compact_keeps_the_data(emu: Emulator, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids()[:6])
        store.refresh(c, emu.lead_ids())
    before = store.read()
    n = store.compact()
    assert n == len(store.files())
    assert_frame_equal(store.read(), before)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert sum(f["rows"] for f in manifest["files"]) == before.height
