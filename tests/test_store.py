"""EventStore as a Delta table: exact types, MERGE of changing events, versions, the refresh
rule and its cost, per-query watermarks, conflicts, readers during writes, confinement,
damage and repair, disk full, the old format's migration."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from leadping_nb import Client, EventQuery, QueryError, RetryPolicy
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._http.wire import WireRequest, WireResponse
from leadping_nb.emulator import Emulator
from leadping_nb.emulator._catalog import DEFAULT_NOW
from leadping_nb.store import (
    NON_FINAL_STATUSES,
    EventStore,
    StoreError,
    changeable,
    query_fingerprint,
)

from .fakes import KEY, FakeApi, item, status

ROOT = Path(__file__).resolve().parents[1]
SORT = ["lead_id", "created_at", "id"]
#: the emulator's data end a little before this: a refresh "now" for its events
NOW = DEFAULT_NOW + timedelta(hours=1)


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=11, n_leads=12)


def _truth(client: Client, leads: list[str]) -> pl.DataFrame:
    return client.fetch_events(leads).frame.sort(SORT)


class Changing:
    """The emulator, with some events changed since they were first served."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.changes: dict[str, dict[str, Any]] = {}

    def handle(self, request: WireRequest) -> WireResponse:
        answer = self.emu.handle(request)
        if not self.changes or answer.status != 200:
            return answer
        body = json.loads(answer.body)
        for it in body.get("items", []):
            it.update(self.changes.get(it["id"], {}))
        return dataclasses.replace(answer, body=json.dumps(body).encode())

    def client(self) -> Client:
        from leadping_nb.emulator._handler import EMULATOR_API_KEY, EMULATOR_BASE_URL

        return Client(api_key=EMULATOR_API_KEY, base_url=EMULATOR_BASE_URL, transport=self)


# --- format and exact values --------------------------------------------------------------


def test_round_trip_is_exact(emu: Emulator, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        r = store.refresh(c, emu.lead_ids())
        truth = _truth(c, emu.lead_ids())
    back = store.read()
    assert back.schema == EVENT_SCHEMA
    assert_frame_equal(back, truth)
    assert (r.added, r.changed, r.unchanged, r.version, r.committed) == (
        truth.height,
        0,
        0,
        0,
        True,
    )
    assert store.scan().collect().height == truth.height
    assert sorted(store.leads()["lead_id"]) == sorted(emu.lead_ids())
    assert (tmp_path / "s" / "_delta_log" / "00000000000000000000.json").is_file()
    months = {p.name for p in (tmp_path / "s").glob("created_month=*")}
    assert months == {f"created_month={m}" for m in truth["created_at"].dt.strftime("%Y-%m")}


def test_exact_decimals_and_microseconds_survive_every_reader(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    from deltalake import DeltaTable

    api = FakeApi(
        {
            "A": [
                [
                    item("A", 0, billableAmount="123456789012.123456"),
                    item("A", 1, billableAmount="0.000001"),
                    item("A", 2, createdAt="2024-06-30T23:59:59.000007Z"),
                ]
            ]
        }
    )
    store = EventStore(tmp_path / "s")
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        store.refresh(c, ["A"])
    back = store.read()
    assert back.schema == EVENT_SCHEMA
    money = dict(zip(back["id"], back["billable_amount"], strict=True))
    assert money["A-ev0000"] == Decimal("123456789012.123456")
    assert money["A-ev0001"] == Decimal("0.000001")
    ts = back.filter(pl.col("id") == "A-ev0002")["created_at"][0]
    assert ts == datetime(2024, 6, 30, 23, 59, 59, 7, tzinfo=UTC)
    # Polars' own Delta reader
    plain = pl.read_delta(str(tmp_path / "s"))
    assert_frame_equal(plain.drop("created_month").select(list(EVENT_SCHEMA)).sort(SORT), back)
    assert set(plain["created_month"]) == {"2024-05", "2024-06"}
    # DuckDB through the Arrow dataset of deltalake (no delta extension)
    dataset = DeltaTable(str(tmp_path / "s")).to_pyarrow_dataset()
    con = duckdb.connect()
    con.register("events", dataset)
    via = con.sql("select * exclude (created_month) from events").pl()
    assert_frame_equal(via.select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA).sort(SORT), back)
    assert con.sql("select sum(billable_amount) from events").fetchall()[0] == (
        Decimal("123456789012.123456") + Decimal("0.000001") + Decimal("0.0079"),
    )


def test_duckdb_reads_the_same_rows(emu: Emulator, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    from deltalake import DeltaTable

    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids())
    con = duckdb.connect()
    con.register("events", DeltaTable(str(tmp_path / "s")).to_pyarrow_dataset())
    n, total, months = con.sql(
        "select count(*), sum(billable_amount), count(distinct created_month) from events"
    ).fetchall()[0]
    frame = store.read()
    assert n == frame.height
    assert total == frame["billable_amount"].sum()
    assert months == frame["created_at"].dt.strftime("%Y-%m").n_unique()
    ids = con.sql("select id from events order by id").pl()["id"]
    assert ids.to_list() == sorted(frame["id"].to_list())


# --- the refresh rule --------------------------------------------------------------------


def test_changeable_rule_by_hand() -> None:
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    later, earlier = now + timedelta(minutes=1), now - timedelta(minutes=1)
    cases = [
        # status, next_retry_at, scheduled_for, billing_status, expected
        ("Delivered", None, None, "Billed", False),
        ("Failed", None, None, None, False),
        (None, None, None, None, False),  # no status (seed era): not by status
        ("Sent", None, None, "Billed", True),  # sent, no receipt yet
        ("Queued", None, None, None, True),
        ("Failed", earlier, None, None, True),  # a retry is due
        ("Delivered", None, later, None, True),  # scheduled in the future
        ("Delivered", None, earlier, None, False),  # scheduled in the past: sent
        ("Delivered", None, now, None, False),  # due exactly now: not in the future
        ("Delivered", None, None, "Pending", True),
        ("Completed", None, None, "NotBilled", False),
    ]
    frame = pl.DataFrame(
        [c[:4] for c in cases],
        schema={
            "status": pl.String,
            "next_retry_at": pl.Datetime("us", "UTC"),
            "scheduled_for": pl.Datetime("us", "UTC"),
            "billing_status": pl.String,
        },
        orient="row",
    )
    assert frame.select(changeable(now))["changeable"].to_list() == [c[4] for c in cases]
    for s in NON_FINAL_STATUSES:
        assert (
            pl.DataFrame(
                {
                    "status": [s],
                    "next_retry_at": [None],
                    "scheduled_for": [None],
                    "billing_status": [None],
                }
            )
            .select(changeable(now))
            .item()
        )
    with pytest.raises(QueryError, match="naive"):
        changeable(datetime(2026, 1, 1))


def _window_cost(
    stored: pl.DataFrame, truth: pl.DataFrame, now: datetime, lookback: timedelta, page: int = 1000
) -> int:
    """Requests a refresh should make: per lead one request plus the extra pages of what it
    asks for (from min(watermark, oldest changeable stored event within lookback))."""
    cost = 0
    for lead in truth["lead_id"].unique().to_list():
        mine = stored.filter(pl.col("lead_id") == lead)
        start = mine["created_at"].max()
        window = mine.filter((pl.col("created_at") >= now - lookback) & changeable(now))
        if window.height:
            start = min(start, window["created_at"].min())  # type: ignore[type-var]
        n = truth.filter((pl.col("lead_id") == lead) & (pl.col("created_at") >= start)).height
        cost += max(1, math.ceil(n / page))
    return cost


def test_a_refresh_costs_one_request_per_lead_plus_its_changeable_window(
    emu: Emulator, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "s")
    leads = emu.lead_ids()
    lookback = timedelta(days=120)  # reaches back to several changeable events
    with emu.client() as c:
        store.refresh(c, leads, now=NOW)
        stored = store.read()
        files = store.files()
        on_disk = sorted((tmp_path / "s").rglob("*.parquet"))
        truth = _truth(c, leads)
        window = stored.filter((pl.col("created_at") >= NOW - lookback) & changeable(NOW))
        assert window.height > 0 and window["lead_id"].n_unique() > 1
        quiet = store.refresh(c, leads, now=NOW, lookback=lookback)
        assert store.files() == files and sorted((tmp_path / "s").rglob("*.parquet")) == on_disk
        added = {leads[0]: 7, leads[3]: 1200, leads[5]: 1}
        for lead, n in added.items():
            emu.add_events(lead, n, after=NOW - timedelta(minutes=30))
        busy = store.refresh(c, leads, now=NOW, lookback=lookback)
        new_truth = _truth(c, leads)
    # nothing new: no version, no file rewritten, only the changeable windows re-read
    assert (quiet.added, quiet.changed, quiet.committed, quiet.version) == (0, 0, False, 0)
    assert quiet.requests == _window_cost(stored, truth, NOW, lookback)
    assert quiet.unchanged == sum(
        truth.filter((pl.col("lead_id") == lead) & (pl.col("created_at") >= start)).height
        for lead, start in _starts(stored, NOW, lookback).items()
    )
    assert (busy.added, busy.changed, busy.version) == (sum(added.values()), 0, 1)
    assert busy.requests == _window_cost(stored, new_truth, NOW, lookback)
    assert_frame_equal(store.read(), new_truth)


def _starts(stored: pl.DataFrame, now: datetime, lookback: timedelta) -> dict[str, Any]:
    out = {}
    for lead in stored["lead_id"].unique().to_list():
        mine = stored.filter(pl.col("lead_id") == lead)
        window = mine.filter((pl.col("created_at") >= now - lookback) & changeable(now))
        out[lead] = min([mine["created_at"].max(), *window["created_at"].to_list()])
    return out


def test_changed_events_are_merged_and_old_versions_stay_readable(
    emu: Emulator, tmp_path: Path
) -> None:
    world = Changing(emu)
    store = EventStore(tmp_path / "s")
    leads = emu.lead_ids()
    with world.client() as c:
        store.refresh(c, leads, now=NOW)
        v0 = store.read()
        recent = v0.filter(pl.col("created_at") >= NOW - timedelta(days=30))
        moving = recent.filter(changeable(NOW)).sort("created_at")
        assert moving.height >= 2, "the emulator should have recent changeable events"
        old_one = v0.filter(changeable(NOW) & (pl.col("created_at") < NOW - timedelta(days=60)))
        assert old_one.height > 0
        delivered = "2026-11-01T12:30:00.000001Z"
        for ev in moving["id"].to_list():
            world.changes[ev] = {
                "status": "Delivered",
                "deliveredAt": delivered,
                "nextRetryAt": None,
                "billingStatus": "Billed",
                "scheduledFor": None,
            }
        stale = old_one["id"][0]
        world.changes[stale] = {"status": "Delivered", "nextRetryAt": None}
        emu.add_events(leads[1], 4, after=NOW - timedelta(minutes=30))
        r = store.refresh(c, leads, now=NOW, lookback=timedelta(days=30))
        v1 = store.read()
        truth = _truth(c, leads)
    assert (r.added, r.changed, r.version, r.committed) == (4, moving.height, 1, True)
    assert v1["id"].n_unique() == v1.height == v0.height + 4
    assert v1.filter(pl.col("id").is_in(moving["id"].implode()))["status"].unique().to_list() == [
        "Delivered"
    ]
    # older than the lookback: not re-read, keeps its last seen version
    assert v1.filter(pl.col("id") == stale)["status"][0] == old_one["status"][0]
    expected = truth.filter(pl.col("id") != stale).vstack(v0.filter(pl.col("id") == stale))
    assert_frame_equal(v1, expected.sort(SORT))
    assert_frame_equal(store.read(version=0), v0)
    assert_frame_equal(store.scan(version=0).sort(SORT).collect(), v0)
    assert store.version == 1
    hist = store.history()
    assert hist["version"].to_list() == [1, 0]
    assert hist.row(0, named=True)["added"] == 4
    assert hist.row(0, named=True)["changed"] == moving.height
    assert hist.row(0, named=True)["action"] == "refresh"
    assert hist["timestamp"].dtype == pl.Datetime("us", "UTC")
    # a wider lookback picks the stale one up
    with world.client() as c:
        wide = store.refresh(c, leads, now=NOW, lookback=timedelta(days=4000))
        assert_frame_equal(store.read(), _truth(c, leads))
    assert (wide.added, wide.changed, wide.version) == (0, 1, 2)


_MIN = timedelta(minutes=1)


def test_lookback_zero_reads_only_from_the_watermark(tmp_path: Path) -> None:
    t = "2024-05-01T00:05:00.000Z"
    api = FakeApi({"A": [[item("A", 0, status="Queued"), item("A", 1, createdAt=t)]]})
    store = EventStore(tmp_path / "s")
    now = datetime(2024, 5, 2, tzinfo=UTC)

    def since() -> datetime:
        (body,) = api.bodies()
        (window,) = body["rangeFilters"]
        api.requests.clear()
        return datetime.fromisoformat(window["greaterThanOrEqual"].replace("Z", "+00:00"))

    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        store.refresh(c, ["A"], now=now)
        api.requests.clear()
        store.refresh(c, ["A"], now=now, lookback=timedelta(0))
        assert since() == datetime(2024, 5, 1, 0, 5, tzinfo=UTC)  # the watermark
        store.refresh(c, ["A"], now=now, lookback=timedelta(days=7))
        # the Queued event is the oldest changeable one within 7 days
        assert since() == datetime(2024, 5, 1, 0, 0, 0, 123000, tzinfo=UTC)
        # the age is counted back from the newest stored event when that is earlier than
        # now (an account gone quiet): a week later the Queued event is still followed...
        store.refresh(c, ["A"], now=now + timedelta(days=7), lookback=timedelta(days=6))
        assert since() == datetime(2024, 5, 1, 0, 0, 0, 123000, tzinfo=UTC)
        # ... until it is older than lookback before the newest data (00:05)
        store.refresh(c, ["A"], now=now + timedelta(days=7), lookback=timedelta(minutes=4))
        assert since() == datetime(2024, 5, 1, 0, 5, tzinfo=UTC)  # out of reach
        store.refresh(c, ["A"], now=datetime(2024, 5, 1, 0, 3, tzinfo=UTC), lookback=_MIN * 2)
        assert since() == datetime(2024, 5, 1, 0, 5, tzinfo=UTC)  # now earlier: counts from now


def test_a_filtered_refresh_does_not_hide_events_from_an_unfiltered_one(
    emu: Emulator, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "s")
    leads = emu.lead_ids()
    outbound = EventQuery(filters={"direction": "Outbound"})
    with emu.client() as c:
        first = store.refresh(c, leads, outbound)
        assert set(store.read()["direction"]) == {"Outbound"}
        full = store.refresh(c, leads)
        truth = _truth(c, leads)
        again = store.refresh(c, leads, outbound)  # already stored: only its watermark moves
        quiet = store.refresh(c, leads, outbound)
    assert_frame_equal(store.read(), truth)
    assert full.added == truth.height - first.added
    assert (again.added, again.changed, again.committed) == (0, 0, False)
    assert quiet.committed is False
    assert query_fingerprint(outbound) != query_fingerprint(None)
    marks = store.leads(outbound)
    assert marks.height == len(leads)
    assert store.leads(EventQuery(filters={"direction": "Inbound"})).height == 0


def test_a_new_query_on_stored_events_commits_its_watermarks_only(tmp_path: Path) -> None:
    api = FakeApi({"A": [[item("A", 0), item("A", 1)]]})
    store = EventStore(tmp_path / "s")
    q = EventQuery(filters={"direction": "Outbound"})
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        store.refresh(c, ["A"])
        files = store.files()
        r = store.refresh(c, ["A"], q)
    assert (r.added, r.changed, r.unchanged, r.committed, r.version) == (0, 0, 2, True, 1)
    assert store.files() == files  # no data file written
    assert store.leads(q)["watermark"][0] == datetime(2024, 5, 1, 0, 0, 1, 123000, tzinfo=UTC)


def test_a_bare_string_is_refused_before_any_request(tmp_path: Path) -> None:
    api = FakeApi({"lead_0001": [[item("lead_0001", 0)]]})
    store = EventStore(tmp_path / "s")
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        with pytest.raises(QueryError, match="not one string"):
            store.refresh(c, "lead_0001")
        with pytest.raises(QueryError, match="lookback"):
            store.refresh(c, ["lead_0001"], lookback=timedelta(-1))
        with pytest.raises(QueryError, match="naive"):
            store.refresh(c, ["lead_0001"], now=datetime(2026, 1, 1))
    assert api.requests == []
    assert store.version is None


def test_account_wide_refresh(emu: Emulator, tmp_path: Path) -> None:
    if not hasattr(Client, "account_events"):
        pytest.skip("Client.account_events is not there yet")
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        first = store.refresh(c, None, now=NOW)
        truth = _truth(c, emu.lead_ids())
        emu.add_events(emu.lead_ids()[2], 3, after=NOW - timedelta(minutes=30))
        second = store.refresh(c, now=NOW)
        truth2 = _truth(c, emu.lead_ids())
    assert first.added == truth.height
    assert second.added == 3
    assert_frame_equal(store.read(), truth2)


def test_account_mode_needs_the_client_method(tmp_path: Path) -> None:
    class Bare:
        pass

    with pytest.raises(QueryError, match="account_events"):
        EventStore(tmp_path / "s").refresh(Bare(), None)  # type: ignore[arg-type]


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
    assert sorted(store.read()["id"]) == ["A-ev0000", "A-ev0001", "A-ev0002", "B-ev0000"]
    after = store.leads()
    assert after.filter(pl.col("lead_id") == "B")["watermark"].equals(
        before.filter(pl.col("lead_id") == "B")["watermark"]
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


# --- writers, readers, compaction ----------------------------------------------------------


def test_another_writer_meanwhile_is_a_clear_error(tmp_path: Path) -> None:
    emu = Emulator(seed=5, n_leads=3)
    path = tmp_path / "s"
    store = EventStore(path)
    with emu.client() as c:
        store.refresh(c, emu.lead_ids())
    emu.add_events(emu.lead_ids()[1], 2)

    def other_writer(point: str) -> None:
        if point == "before-commit":
            out = subprocess.run(
                [sys.executable, "-m", "tests.store_writer_child", str(path), "5", "3"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            assert "COMMITTED 1" in out.stdout, out.stderr

    with emu.client() as c:
        with pytest.raises(
            StoreError,
            match=r"another writer committed to .* meanwhile; "
            r"nothing of this refresh was committed, run it again",
        ):
            store.refresh(c, emu.lead_ids(), _hook=other_writer)
        assert store.version == 1  # the other writer's version, nothing of ours
        assert store.history()["action"].to_list() == ["refresh", "refresh"]
        r = store.refresh(c, emu.lead_ids())
        truth = _truth(c, emu.lead_ids())
    other = Emulator(seed=5, n_leads=3)
    extra = other.add_events(other.lead_ids()[0], 5)
    assert r.version == 2
    stored = store.read()
    assert stored["id"].n_unique() == stored.height
    assert set(stored["id"]) == set(truth["id"]) | {e["id"] for e in extra}


def test_not_a_store_and_locking(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("hi")
    with pytest.raises(StoreError, match="not a store"):
        EventStore(tmp_path / "x")
    store = EventStore(tmp_path / "s")
    with store._locked(), pytest.raises(StoreError, match="another process"):
        EventStore(tmp_path / "s")._locked().__enter__()


def test_readers_never_fail_during_refresh_and_compaction(tmp_path: Path) -> None:
    emu = Emulator(seed=7, n_leads=6)
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids())
    first = store.read()
    stop = threading.Event()
    failures: list[BaseException] = []
    reads = [0]

    def reader() -> None:
        other = EventStore(tmp_path / "s")
        while not stop.is_set():
            try:
                now = other.read()
                assert now["id"].n_unique() == now.height
                assert now.height >= first.height
                assert other.read(version=0).height == first.height
                reads[0] += 1
            except BaseException as exc:  # every failure counts
                failures.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with emu.client() as c:
            for i in range(4):
                emu.add_events(emu.lead_ids()[i], 30)
                store.refresh(c, emu.lead_ids())
                store.compact()
            truth = _truth(c, emu.lead_ids())
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert reads[0] >= 3
    assert_frame_equal(store.read(), truth)
    assert_frame_equal(store.read(version=0), first)  # vacuum kept what version 0 needs


def test_compact_keeps_the_data_and_vacuums_only_past_retention(
    emu: Emulator, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids()[:6])
        store.refresh(c, emu.lead_ids())
    before = store.read()
    v = store.version
    n_before = len(store.files())
    orphan = tmp_path / "s" / "created_month=2026-10" / "part-killed-writer.parquet"
    before.head(3).write_parquet(orphan)
    n = store.compact()
    assert n == len(store.files()) < n_before
    assert_frame_equal(store.read(), before)
    assert_frame_equal(store.read(version=v), before)  # old files kept (7 days)
    assert orphan.exists()  # young: maybe a writer's file in flight
    assert store.history()["action"][0] == "compact"
    store.compact(retention=timedelta(0))
    on_disk = {p.resolve() for p in (tmp_path / "s").rglob("*.parquet")}
    assert on_disk == {p.resolve() for p in store.files()}
    with pytest.raises(StoreError, match="missing"):
        store.read(version=v)
    assert_frame_equal(store.read(), before)


# --- confinement, damage, repair -----------------------------------------------------------


def _first_log_path(path: Path) -> tuple[Path, str]:
    log = path / "_delta_log" / "00000000000000000000.json"
    for line in log.read_text().splitlines():
        action = json.loads(line)
        if "add" in action:
            return log, action["add"]["path"]
    raise AssertionError("no add action")


@pytest.mark.parametrize(
    "bad", ["../outside.parquet", "ABS", "created_month=2024-05/../../x.parquet"]
)
def test_log_paths_outside_the_store_are_refused(tmp_path: Path, bad: str) -> None:
    api = FakeApi({"A": [[item("A", 0), item("A", 1)]]})
    path = tmp_path / "s"
    store = EventStore(path)
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        store.refresh(c, ["A"])
    log, rel = _first_log_path(path)
    outside = tmp_path / "outside.parquet"
    (path / rel.replace("%3D", "=")).rename(outside)
    target = str(outside) if bad == "ABS" else bad
    log.write_text(log.read_text().replace(rel, target))
    for call in (store.read, lambda: store.scan().collect(), store.compact, lambda: store.version):
        with pytest.raises(StoreError, match="outside the store"):
            call()
    with (
        Client(api_key=KEY, transport=api, rate_limit=None) as c,
        pytest.raises(StoreError, match=target.replace(".", r"\.")),
    ):
        store.refresh(c, ["A"])
    assert outside.exists()


def _damage(store: EventStore) -> Path:
    victim = max(store.files(), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    mid = len(data) // 3
    data[mid : mid + 64] = b"\xff" * 64
    victim.write_bytes(bytes(data))
    return victim


def test_a_damaged_file_is_named_and_repair_restores_the_truth(
    emu: Emulator, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "s")
    leads = emu.lead_ids()
    outbound = EventQuery(filters={"direction": "Outbound"})
    with emu.client() as c:
        store.refresh(c, leads[:8], outbound)
        store.refresh(c, leads[4:])
        expected = store.read()
        victim = _damage(store)
        name = str(victim.relative_to(tmp_path / "s"))
        for call in (store.read, lambda: store.scan().collect()):
            with pytest.raises(StoreError, match="damaged") as info:
                call()
            assert name in str(info.value) and "store.repair(client)" in str(info.value)
        with pytest.raises(StoreError, match="damaged"):
            store.refresh(c, leads)
        r = store.repair(c)
        fresh = (
            pl.concat(
                [
                    c.fetch_events(leads[:8], outbound).frame,
                    c.fetch_events(leads[4:]).frame,
                ]
            )
            .unique("id")
            .sort(SORT)
        )
    assert r.committed and r.added > 0
    assert_frame_equal(store.read(), fresh)
    assert_frame_equal(store.read(), expected)
    assert store.history()["action"][0] == "repair"
    assert victim.exists()  # dropped from the table, deleted only by vacuum
    assert victim.resolve() not in {p.resolve() for p in store.files()}


def test_a_truncated_file_is_damage_too(tmp_path: Path) -> None:
    api = FakeApi({"A": [[item("A", 0), item("A", 1)]]})
    store = EventStore(tmp_path / "s")
    with Client(api_key=KEY, transport=api, rate_limit=None) as c:
        store.refresh(c, ["A"])
        victim = store.files()[0]
        victim.write_bytes(victim.read_bytes()[:100])
        with pytest.raises(StoreError, match="bytes on disk"):
            store.read()
        store.repair(c)
        assert_frame_equal(store.read(), _truth(c, ["A"]))


# --- disk full, read-only -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["oserror", "delta"])
def test_a_full_disk_commits_nothing(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake.exceptions import DeltaError
    from deltalake.table import TableMerger

    emu = Emulator(seed=3, n_leads=3)
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids())
        before = store.read()
        emu.add_events(emu.lead_ids()[0], 5)

        def full(self: Any) -> None:
            if kind == "oserror":
                raise OSError(errno.ENOSPC, "No space left on device")
            raise DeltaError("Generic LocalFileSystem error: No space left on device (os error 28)")

        monkeypatch.setattr(TableMerger, "execute", full)
        with pytest.raises(StoreError, match="no space left on device") as info:
            store.refresh(c, emu.lead_ids())
        assert "version 0 is intact" in str(info.value)
        assert store.version == 0
        assert_frame_equal(store.read(), before)
        monkeypatch.undo()
        r = store.refresh(c, emu.lead_ids())
    assert (r.added, r.version) == (5, 1)


def test_a_read_only_store_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake.table import TableMerger

    emu = Emulator(seed=3, n_leads=2)
    store = EventStore(tmp_path / "s")
    with emu.client() as c:
        store.refresh(c, emu.lead_ids())
        emu.add_events(emu.lead_ids()[0], 2)

        def denied(self: Any) -> None:
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(TableMerger, "execute", denied)
        with pytest.raises(StoreError, match="cannot write to"):
            store.refresh(c, emu.lead_ids())
        monkeypatch.undo()
        if os.geteuid() != 0:  # root ignores file modes
            os.chmod(tmp_path / "s", 0o555)
            try:
                assert store.read().height > 0  # reading still works
                with pytest.raises(StoreError, match="cannot write to"):
                    store.refresh(c, emu.lead_ids())
            finally:
                os.chmod(tmp_path / "s", 0o755)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / ".lock").mkdir()  # cannot be opened for writing, even by root
    ro = EventStore(tmp_path / "ro")
    with emu.client() as c, pytest.raises(StoreError, match="cannot write to"):
        ro.refresh(c, emu.lead_ids())


# --- the old format -------------------------------------------------------------------------


def write_old_store(path: Path, frame: pl.DataFrame) -> None:
    """What the manifest-based store (before Delta) wrote: data/created_month=*/part-*.parquet
    and a manifest.json with the files and each lead's watermark."""
    path.mkdir(parents=True)
    files = []
    month = pl.col("created_at").dt.strftime("%Y-%m")
    for (key,), part in frame.with_columns(_month=month).group_by("_month", maintain_order=True):
        rel = f"data/created_month={key}/part-20261101T000000-{uuid.uuid4().hex[:8]}.parquet"
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        part.drop("_month").write_parquet(path / rel, compression="zstd", statistics=True)
        files.append({"path": rel, "rows": part.height})
    leads = {}
    for lead in frame["lead_id"].unique().to_list():
        mine = frame.filter(pl.col("lead_id") == lead)
        top = mine["created_at"].max()
        assert isinstance(top, datetime)
        leads[lead] = {
            "events": mine.height,
            "watermark": top.isoformat().replace("+00:00", "Z"),
            "refreshed_at": "2026-11-01T00:00:00Z",
        }
    manifest = {"version": 1, "files": files, "leads": leads}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


def test_the_old_format_is_named_and_migrated(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "old"
    leads = emu.lead_ids()
    with emu.client() as c:
        old = _truth(c, leads)
    write_old_store(path, old)
    with pytest.raises(StoreError, match=r"old format.*EventStore\.migrate\("):
        EventStore(path)
    store = EventStore.migrate(path)
    assert_frame_equal(store.read(), old)
    assert store.version == 0 and store.history()["action"].to_list() == ["migrate"]
    assert (path / "_legacy_v1" / "manifest.json").is_file()
    assert any((path / "_legacy_v1" / "data").rglob("*.parquet"))
    assert not (path / "manifest.json").exists() and not (path / "data").exists()
    marks = store.leads()
    assert marks.height == len(leads) and marks["watermark"].null_count() == 0
    with emu.client() as c:
        emu.add_events(leads[0], 3)
        r = store.refresh(c, leads, lookback=timedelta(0))
        truth = _truth(c, leads)
    assert r.added == 3
    assert r.requests == len(leads)  # from the migrated watermarks, not from the start
    assert_frame_equal(store.read(), truth)
    store.compact(retention=timedelta(0))
    assert (path / "_legacy_v1" / "manifest.json").is_file()  # vacuum leaves the backup alone


def test_migration_reads_nothing_outside_the_directory(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        [dict.fromkeys(EVENT_SCHEMA) | {"id": "x", "lead_id": "A"}], schema=EVENT_SCHEMA
    )
    path = tmp_path / "old"
    write_old_store(path, frame.with_columns(created_at=pl.lit(datetime(2024, 1, 1, tzinfo=UTC))))
    manifest = json.loads((path / "manifest.json").read_text())
    frame.write_parquet(tmp_path / "secret.parquet")
    manifest["files"].append({"path": "../secret.parquet", "rows": 1})
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="outside the store"):
        EventStore.migrate(path)
    assert (path / "manifest.json").exists() and not (path / "_delta_log").exists()


def test_an_interrupted_migration_finishes(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "old"
    with emu.client() as c:
        old = _truth(c, emu.lead_ids()[:3])
    write_old_store(path, old)
    real = os.replace
    calls = [0]

    def dies_on_manifest(src: Any, dst: Any) -> None:
        if str(src).endswith("manifest.json"):
            calls[0] += 1
            raise KeyboardInterrupt
        real(src, dst)

    os.replace = dies_on_manifest  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            EventStore.migrate(path)
    finally:
        os.replace = real
    with pytest.raises(StoreError, match="migrate"):
        EventStore(path)
    store = EventStore.migrate(path)
    assert_frame_equal(store.read(), old)
    assert store.version == 0
