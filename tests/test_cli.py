"""The leadping-nb command end to end on the emulator (in-process, and over real HTTP)."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import leadping_nb.emulator as emulator_pkg
from leadping_nb import EventQuery
from leadping_nb import metrics as m
from leadping_nb._core.format import money_text
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._http.transport import RetryPolicy
from leadping_nb.cli import main
from leadping_nb.emulator import EMULATOR_API_KEY, Emulator, FaultConfig
from leadping_nb.store import EventStore

BIN = Path(sys.executable).parent
EMU_NOW = Emulator(seed=0, n_leads=1).now


class Kpis(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.meta: dict[str, str] = {}
        self._meta: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "data-kpi" in a:
            self.values[a["data-kpi"]] = a["data-value"]
        if "data-meta" in a:
            self._meta = a["data-meta"]
            self.meta[self._meta] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "dd":
            self._meta = None

    def handle_data(self, data: str) -> None:
        if self._meta is not None:
            self.meta[self._meta] += data


def billing_scope() -> dict[str, bool]:
    """The traffic scope the CLI's billing report uses: BillingReport's defaults."""
    import inspect

    from leadping_nb.reports import BillingReport

    params = inspect.signature(BillingReport.from_frame).parameters
    return {k: params[k].default for k in ("include_warmup", "include_test")}


def kpis(path: Path) -> Kpis:
    return Kpis(path.read_text(encoding="utf-8"))


def fetch_like_cli(
    ids: list[str], query: EventQuery | None = None, seed: int = 0, n_leads: int = 120
) -> pl.DataFrame:
    emu = Emulator(seed=seed, n_leads=n_leads)
    with emu.client() as client:
        result = client.fetch_events(ids, query or EventQuery(page_size=1000))
    return result.frame.sort("lead_id", "created_at", "id")


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADPING_API_KEY", raising=False)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LEADPING_API_KEY"}
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------
# demo


def test_demo_writes_both_reports_and_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--leads", "40"]) == 0
    out, err = capsys.readouterr()
    folder = tmp_path / "leadping-demo"
    paths = [folder / n for n in ("delivery_report.html", "billing_report.html", "events.parquet")]
    for p in paths:
        assert p.is_file() and p.stat().st_size > 1000
        assert str(p.resolve()) in out
    assert "window" in err and "events=" in err  # the tqdm progress bar, on stderr
    assert "from the account stream" in out and "requests" in out

    events = pl.read_parquet(paths[2])
    assert events.schema == EVENT_SCHEMA
    assert events.height == Emulator(seed=0, n_leads=40).total_events()
    d = m.delivery_summary(events).row(0, named=True)
    e2e = m.latency_summary(events, stages=["end_to_end"]).row(0, named=True)
    total = m.billing_summary(events, by=())["total_amount"].item()
    delivery, billing = kpis(paths[0]), kpis(paths[1])
    assert float(delivery.values["delivery_rate"]) == d["delivery_rate"]
    assert float(delivery.values["latency_end_to_end_p50_ms"]) == e2e["p50_ms"]
    assert int(delivery.values["n_events"]) == events.height
    assert Decimal(billing.values["total_amount"]) == total
    assert f"{d['delivery_rate']:.2%}" in out
    net = m.billing_breakdown(events, split=None, **billing_scope())
    assert Decimal(billing.values["net_amount"]) == net["net_amount"].item()
    assert re.search(rf"Net amount\s+{re.escape(money_text(net['net_amount'].item()))}\n", out)
    assert f"{events.height:,} events" in out
    assert delivery.meta["leads"].strip().startswith("40")
    assert "2026-11-01 12:00:00 UTC" in delivery.meta["produced_at"]  # as of the data's end


def test_demo_entry_point_in_a_fresh_directory(tmp_path: Path) -> None:
    exe = BIN / "leadping-nb"
    assert exe.exists(), "the console script is installed with the package"
    done = subprocess.run(
        [str(exe), "demo"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard only: the demo's speed is bench's business, not a test's
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in ("delivery_report.html", "billing_report.html", "events.parquet"):
        assert (tmp_path / "leadping-demo" / name).is_file()
    assert "Delivery rate" in done.stdout and "Net amount              USD " in done.stdout
    assert "window" in done.stderr and "from the account stream" in done.stdout


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leadping_nb", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert re.fullmatch(r"leadping-nb \d+\.\d+\.\d+\S*", done.stdout.strip())


# ---------------------------------------------------------------------------------------
# fetch


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".xlsx"])
def test_fetch_to_each_format(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"events{suffix}"
    code = main(["fetch", "lead_0001", "lead_0003", "--emulator", "-o", str(out), "--no-progress"])
    assert code == 0
    expected = fetch_like_cli(["lead_0001", "lead_0003"])
    assert f"Fetched {expected.height:,} events from 2/2 leads" in capsys.readouterr().out
    if suffix == ".parquet":
        got = pl.read_parquet(out).sort("lead_id", "created_at", "id")
        assert got.schema == EVENT_SCHEMA
        assert got.equals(expected)
    elif suffix == ".csv":
        got = pl.read_csv(out, infer_schema=False)
        assert got.height == expected.height
        assert sorted(got["id"].to_list()) == sorted(expected["id"].to_list())
        amounts = {Decimal(a) for a in got["billable_amount"].drop_nulls().to_list()}
        assert amounts == set(expected["billable_amount"].drop_nulls().to_list())
    else:
        import openpyxl

        sheet = openpyxl.load_workbook(out, read_only=True).worksheets[0]
        assert sheet.max_row == expected.height + 1


def test_fetch_window_filters_and_leads_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leads = tmp_path / "leads.txt"
    leads.write_text("# my leads\nlead_0002\n\nlead_0005  # heavy?\nlead_0002\n")
    out = tmp_path / "w.parquet"
    args = ["fetch", "--leads-file", str(leads), "--emulator", "-o", str(out), "--no-progress"]
    args += ["--since", "2026-03-01", "--until", "2026-06-01T00:00", "--tz", "Europe/Berlin"]
    args += ["--filter", "direction=Outbound", "--filter", "retry_count=0"]
    assert main(args) == 0
    got = pl.read_parquet(out)
    start = datetime.fromisoformat("2026-03-01T00:00:00+01:00")
    end = datetime.fromisoformat("2026-06-01T00:00:00+02:00")
    assert got.height > 0
    assert set(got["lead_id"].unique().to_list()) <= {"lead_0002", "lead_0005"}
    outside = got.filter((pl.col("created_at") < start) | (pl.col("created_at") >= end))
    assert outside.height == 0
    assert set(got["direction"].to_list()) == {"Outbound"}
    assert set(got["retry_count"].to_list()) == {0}
    q = EventQuery(
        page_size=1000,
        filters=[("direction", "Outbound"), ("retry_count", 0)],
        range_filters={"createdAt": {"ge": start, "lt": end}},
    )
    assert got.height == fetch_like_cli(["lead_0002", "lead_0005"], q).height


def test_fetch_into_store_then_report_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_dir = tmp_path / "store"
    base = ["fetch", "--emulator", "--emulator-leads", "12", "--store", str(store_dir)]
    assert main([*base, "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert main([*base, "--no-progress", "--lookback", "30d"]) == 0
    again = capsys.readouterr().out
    assert "0 new events, 0 changed" in again and "(version 0)" in again
    stored = EventStore(store_dir).read()
    assert f"{stored.height:,} new events" in first
    assert stored["lead_id"].n_unique() == 12

    out = tmp_path / "reports"
    args = ["report", "--store", str(store_dir), "-o", str(out), "--tz", "America/New_York"]
    args += ["--since", "2026-01-01", "--until", "2026-10-01"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    start = datetime.fromisoformat("2026-01-01T00:00:00-05:00")
    end = datetime.fromisoformat("2026-10-01T00:00:00-04:00")
    window = stored.filter((pl.col("created_at") >= start) & (pl.col("created_at") < end))
    d, b = kpis(out / "delivery_report.html"), kpis(out / "billing_report.html")
    assert int(d.values["n_events"]) == window.height
    assert float(d.values["delivery_rate"]) == m.delivery_summary(window)["delivery_rate"].item()
    total = m.billing_summary(window, by=())["total_amount"].item()
    assert Decimal(b.values["total_amount"]) == total
    assert "local store" in d.meta["source"] and "(version 0)" in d.meta["source"]
    assert "2026-01-01 00:00:00 EST" in d.meta["window"]
    assert str((out / "billing_report.html").resolve()) in printed

    # LEAD arguments restrict a store report; --filter applies locally
    args = ["report", "--store", str(store_dir), "lead_0001", "--kind", "delivery"]
    args += ["-o", str(tmp_path / "one"), "--filter", "direction=Outbound"]
    assert main(args) == 0
    one = kpis(tmp_path / "one" / "delivery_report.html")
    expected = stored.filter(
        (pl.col("lead_id") == "lead_0001") & (pl.col("direction") == "Outbound")
    )
    assert int(one.values["n_events"]) == expected.height
    assert not (tmp_path / "one" / "billing_report.html").exists()


def test_fetch_account_stream_to_a_file_and_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = ["--emulator", "--emulator-leads", "30", "--no-progress"]
    out = tmp_path / "account.parquet"
    assert main(["fetch", "--account", *emu, "-o", str(out)]) == 0
    said = capsys.readouterr().out
    frame = pl.read_parquet(out)
    with Emulator(seed=0, n_leads=30).client() as c:
        per_lead = c.fetch_events(Emulator(seed=0, n_leads=30).lead_ids()).frame
    assert_frame_equal(frame.sort("id"), per_lead.sort("id"))
    requests = int(re.search(r"(\d+) requests", said).group(1))  # type: ignore[union-attr]
    assert requests <= math.ceil(frame.height / 1000) + 2  # one stream, pages of 1,000
    assert "from the account stream" in said

    since = ["--since", "2026-10-01", "--until", "2026-10-15", "--tz", "Europe/Berlin"]
    assert main(["fetch", "--account", *emu, *since, "-o", str(out)]) == 0
    capsys.readouterr()
    start = datetime.fromisoformat("2026-10-01T00:00:00+02:00")
    end = datetime.fromisoformat("2026-10-15T00:00:00+02:00")
    window = per_lead.filter((pl.col("created_at") >= start) & (pl.col("created_at") < end))
    assert_frame_equal(pl.read_parquet(out).sort("id"), window.sort("id"))

    store = tmp_path / "store"
    assert main(["fetch", "--account", *emu, "--store", str(store), "--lookback", "7d"]) == 0
    first = capsys.readouterr().out
    assert f"{per_lead.height:,} new events" in first and "account stream" in first
    assert_frame_equal(EventStore(store).read().sort("id"), per_lead.sort("id"))
    assert main(["fetch", "--account", *emu, "lead_0001", "-o", str(out)]) == 2
    assert "drop the LEAD arguments" in capsys.readouterr().err


def test_report_from_the_emulator_for_a_window(tmp_path: Path) -> None:
    args = ["report", "--emulator", "--emulator-leads", "15", "--kind", "billing"]
    args += ["--since", "2026-06-01", "--until", "2026-09-01", "-o", str(tmp_path)]
    args += ["--every", "month", "--cost-scale", "6", "--currency", "EUR", "--no-progress"]
    assert main(args) == 0
    start, end = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    q = EventQuery(page_size=1000, range_filters={"createdAt": {"ge": start, "lt": end}})
    frame = fetch_like_cli(Emulator(0, 15).lead_ids(), q, n_leads=15)
    page = kpis(tmp_path / "billing_report.html")
    t = m.billing_summary(frame, by=(), cost_scale=6).row(0, named=True)
    assert Decimal(page.values["total_amount"]) == t["total_amount"]
    per = m.billing_breakdown(frame, cost_scale=6, **billing_scope())
    sms = per.filter(pl.col("channel") == "sms")["cost_per_unit"].item()
    assert Decimal(page.values["cost_per_sms"]) == sms  # at the stated scale: 6 decimals
    assert page.values["cost_per_sms"] == format(sms, "f") and len(format(sms, "f")) == 8
    assert page.meta["currency"].startswith("EUR")
    assert "createdAt ≥ 2026-06-01T00:00:00Z" in page.meta["filters"]
    assert "periods: month" in page.meta["time_zone"]
    assert not (tmp_path / "delivery_report.html").exists()


def test_report_traffic_flags_set_one_scope_for_both_reports(tmp_path: Path) -> None:
    args = ["report", "--emulator", "--emulator-leads", "8", "-o", str(tmp_path)]
    args += ["--include-demo", "--include-test", "--no-progress"]
    assert main(args) == 0
    frame = fetch_like_cli(Emulator(0, 8).lead_ids(), EventQuery(page_size=1000), n_leads=8)
    label = m.TrafficScope(test=True, demo=True).label
    billing = kpis(tmp_path / "billing_report.html")
    delivery = kpis(tmp_path / "delivery_report.html")
    for page in (billing, delivery):
        assert page.meta["scope"].strip() == label
    t = m.billing_summary(frame, by=(), include_test=True, include_demo=True).row(0, named=True)
    assert Decimal(billing.values["total_amount"]) == t["total_amount"]
    assert int(delivery.values["n_delivered"]) == t["n_delivered"]


def test_report_and_fetch_with_a_window_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leadping_nb import Window

    # relative to the emulator's now (2026-11-01 12:00 UTC): October in Berlin
    window = Window.last_month(time_zone="Europe/Berlin", now=EMU_NOW)
    start, end = window.bounds
    assert (start, end) == (
        datetime(2026, 9, 30, 22, tzinfo=UTC),
        datetime(2026, 10, 31, 23, tzinfo=UTC),
    )
    args = ["report", "--emulator", "--emulator-leads", "15", "--kind", "both"]
    args += ["--window", "last month", "--tz", "Europe/Berlin", "-o", str(tmp_path)]
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "window last month (Europe/Berlin): 2026-10-01 – 2026-10-31" in out
    q = EventQuery(page_size=1000, range_filters={"createdAt": {"ge": start, "lt": end}})
    frame = fetch_like_cli(Emulator(0, 15).lead_ids(), q, n_leads=15)
    assert frame.height > 0
    page = kpis(tmp_path / "billing_report.html")
    t = m.billing_summary(frame, by=()).row(0, named=True)
    assert Decimal(page.values["total_amount"]) == t["total_amount"]
    assert page.meta["window"].startswith("last month (Europe/Berlin): 2026-10-01 – 2026-10-31; [")
    assert (
        "createdAt ≥ 2026-09-30T22:00:00Z; createdAt < 2026-10-31T23:00:00Z" in page.meta["filters"]
    )
    delivery = kpis(tmp_path / "delivery_report.html")
    assert "last month (Europe/Berlin)" in delivery.meta["window"]
    # fetch: the file holds exactly the window's events
    pq = tmp_path / "w.parquet"
    fetch = ["fetch", "--emulator", "--emulator-leads", "15", "-o", str(pq), "--no-progress"]
    assert main([*fetch, "--window", "2026-10-01..2026-11-01", "--tz", "Europe/Berlin"]) == 0
    got = pl.read_parquet(pq).sort("lead_id", "created_at", "id")
    assert_frame_equal(got, frame)


# ---------------------------------------------------------------------------------------
# errors and exit codes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fetch", "lead_0001", "-o", "x.parquet"], "LEADPING_API_KEY"),
        (["fetch", "../etc", "--emulator", "-o", "x.parquet"], "lead id '../etc'"),
        (["fetch", "lead_1", "--emulator", "-o", "x.txt"], "unknown format .txt"),
        (["fetch", "lead_1", "--emulator", "-o", "x.csv", "--since", "2026-02-30"], "--since"),
        (["fetch", "lead_1", "--emulator", "-o", "x.csv", "--filter", "nope=1"], "unknown field"),
        (["fetch", "lead_1", "--emulator", "-o", "x.csv", "--filter", "bad"], "FIELD=VALUE"),
        (["fetch", "lead_1", "--emulator", "-o", "x.csv", "--page-size", "0"], "(default 1000)"),
        (["fetch", "lead_1", "--emulator", "-o", "x.csv", "--tz", "Mars/Base"], "time zone"),
        (
            ["fetch", "lead_1", "--emulator", "--store", "s", "--since", "2026-01-01"],
            "cannot be used with --store",
        ),
        (["fetch", "lead_1", "--emulator", "--store", "s", "--lookback", "7w"], "--lookback"),
        (["fetch", "lead_1", "--emulator", "-o", "x.csv", "--lookback", "7d"], "--store only"),
        (["fetch", "lead_1", "--emulator", "-o", "x.csv", "--window", "last week"], "--window"),
        (
            ["fetch", "lead_1", "--emulator", "-o", "x.csv", "--window", "2026-12-01..2026-11-01"],
            "must be before",
        ),
        (
            ["report", "lead_1", "--emulator", "--window", "last month", "--since", "2026-01-01"],
            "--window cannot be combined with --since/--until",
        ),
        (
            ["fetch", "lead_1", "--emulator", "--store", "s", "--window", "last month"],
            "cannot be used with --store",
        ),
        (
            ["report", "lead_1", "--emulator", "--window", "last month", "--tz", "Mars/Base"],
            "time zone",
        ),
        (["report", "--emulator", "--store-version", "1"], "--store only"),
        (["fetch", "--emulator", "--emulator-leads", "0", "-o", "x.csv"], "no leads"),
        (
            ["report", "lead_1", "--emulator", "--since", "2026-02-01", "--until", "2026-01-01"],
            "must be before",
        ),
        (["fetch", "lead_1", "--emulator"], "one of the arguments -o/--output --store"),
        (["report", "--kind", "weekly", "--emulator"], "invalid choice"),
        (["report", "--emulator", "--currency", "usd"], "--currency: currency must be three"),
        (["demo", "--currency", "EURO"], "--currency: currency must be three"),
        ([], "COMMAND"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("x.*"))


def test_missing_store_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", str(tmp_path / "nope"), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no store at" in err and "leadping-nb fetch --store" in err
    assert not (tmp_path / "nope").exists()


def test_store_report_of_an_older_version_and_of_an_old_format_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_store import write_old_store

    store_dir = tmp_path / "store"
    base = ["fetch", "--emulator", "--emulator-leads", "3", "--store", str(store_dir)]
    assert main([*base, "--no-progress"]) == 0
    store = EventStore(store_dir)
    v0 = store.read()
    emu = Emulator(0, 3)  # the CLI's emulator: seed 0
    emu.add_events("lead_0001", 4)
    with emu.client() as c:
        assert store.refresh(c, emu.lead_ids()).version == 1
    assert store.read().height == v0.height + 4
    args = ["report", "--store", str(store_dir), "--kind", "delivery", "--store-version", "0"]
    assert main([*args, "-o", str(tmp_path / "r0")]) == 0
    d = kpis(tmp_path / "r0" / "delivery_report.html")
    assert int(d.values["n_events"]) == v0.height and "(version 0)" in d.meta["source"]
    capsys.readouterr()
    old = tmp_path / "old"
    write_old_store(old, v0)
    assert main(["report", "--store", str(old), "-o", str(tmp_path / "r1")]) == 1
    assert f"EventStore.migrate({str(old)!r})" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from leadping_nb.cli import UsageError

    with pytest.raises(UsageError):
        main(["fetch", "lead_1", "--emulator", "-o", str(tmp_path / "x.txt"), "--debug"])


class _FailingLead(Emulator):
    """lead_0002 always answers 503; fast retries so the test stays quick."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        faults = FaultConfig(rate_5xx=1.0, codes_5xx=(503,), only_leads=frozenset({"lead_0002"}))
        super().__init__(*args, faults=faults, **kwargs)

    def client(self, **kwargs: Any) -> Any:
        return super().client(retry=RetryPolicy(attempts=2, backoff=0.01), **kwargs)


def test_partial_failure_writes_the_rest_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(emulator_pkg, "Emulator", _FailingLead)
    out = tmp_path / "e.parquet"
    args = ["fetch", "lead_0001", "lead_0002", "lead_0003", "--emulator", "-o", str(out)]
    assert main(args) == 3
    outs, err = capsys.readouterr()
    assert "lead lead_0002 failed: ApiError" in err
    got = pl.read_parquet(out)
    assert set(got["lead_id"].unique().to_list()) == {"lead_0001", "lead_0003"}
    assert "from 2/3 leads" in outs

    assert main(["report", "lead_0002", "--emulator", "-o", str(tmp_path / "r")]) == 1
    assert "ApiError" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------
# serve, and the real-API path over HTTP with LEADPING_API_KEY


def test_serve_help_is_delegated(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "leadping-nb serve" in out and "--port" in out and "--faults" in out
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "non-loopback" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``leadping-nb serve`` in a subprocess (stopped with SIGINT, this PID only)."""
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "leadping-nb"), "serve", "--port", str(port), "--leads", "8", "--seed", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_fetch_over_http_with_the_api_key(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADPING_API_KEY", EMULATOR_API_KEY)
    out = tmp_path / "http.parquet"
    assert main(["fetch", "--all-leads", "--base-url", served, "-o", str(out)]) == 0
    printed = capsys.readouterr()
    got = pl.read_parquet(out).sort("lead_id", "created_at", "id")
    expected = fetch_like_cli(Emulator(4, 8).lead_ids(), seed=4, n_leads=8)
    assert got.equals(expected)
    assert f"Leadping API at {served}" in printed.out
    assert EMULATOR_API_KEY not in printed.out + printed.err

    assert main(["report", "lead_0001", "--base-url", served, "-o", str(tmp_path)]) == 0
    assert (tmp_path / "delivery_report.html").is_file()
    assert EMULATOR_API_KEY not in (tmp_path / "delivery_report.html").read_text()


def test_wrong_key_exits_1_and_is_never_printed(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "sk_live_DO_NOT_PRINT_4242"
    monkeypatch.setenv("LEADPING_API_KEY", secret)
    out = tmp_path / "x.parquet"
    assert main(["fetch", "lead_0001", "lead_0002", "--base-url", served, "-o", str(out)]) == 1
    printed = capsys.readouterr()
    assert "AuthError" in printed.err
    assert "Traceback" not in printed.err
    assert secret not in printed.out + printed.err
    assert not out.exists()


def test_subprocess_errors_have_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "leadping-nb"), "report", "lead_1", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 2
    assert "export LEADPING_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------
# issue 16: unknown leads, messages in the shell's terms


def test_leads_that_return_nothing_are_named_and_the_exit_code_stays_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API answers an unknown lead with an empty page (it declares no 404): the CLI
    names those leads on stderr and still exits 0 (the file holds what the API sent)."""
    monkeypatch.chdir(tmp_path)
    argv = ["fetch", "lead_0001", "lead_9999", "--emulator", "--no-progress", "-o", "a.parquet"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert (
        "warning: 1 lead returned no events: lead_9999 (unknown ids? the API answers an "
        "unknown lead with an empty page, not 404)" in err
    )
    assert "lead_0001" not in err
    assert main(["fetch", "lead_1", "lead_2", "--emulator", "--no-progress", "-o", "b.csv"]) == 0
    assert "2 leads returned no events: lead_1, lead_2 (unknown ids?" in capsys.readouterr().err
    # a filter that matches nothing is named as a possible reason
    argv = ["fetch", "lead_0001", "--emulator", "--no-progress", "-o", "c.parquet"]
    assert main([*argv, "--since", "2030-01-01"]) == 0
    assert "or nothing matched --since/--until/--window/--filter" in capsys.readouterr().err
    # a report says it too
    argv = ["report", "lead_0001", "nope_1", "--emulator", "--no-progress", "-o", "r"]
    assert main(argv) == 0
    assert "1 lead returned no events: nope_1" in capsys.readouterr().err
    # a store: a lead it holds may rightly return nothing new; an unknown one is named
    argv = ["fetch", "lead_0001", "lead_9999", "--emulator", "--no-progress", "--store", "s"]
    assert main(argv) == 0
    assert "1 lead returned no events: lead_9999" in capsys.readouterr().err
    assert main([*argv, "--lookback", "0"]) == 0
    err = capsys.readouterr().err
    assert "1 lead returned no events: lead_9999" in err and "lead_0001" not in err
    # leads with events: no warning
    argv = ["fetch", "lead_0001", "lead_0002", "--emulator", "--no-progress", "-o", "d.parquet"]
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_bad_page_size_names_the_cli_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for size in ("0", "1001"):
        argv = ["fetch", "lead_0001", "--emulator", "-o", "x.parquet", "--page-size", size]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"--page-size: {size} is outside 1-1000 (default 1000)" in err
        assert "default 100)" not in err
    assert main(["fetch", "lead_0001", "--emulator", "-o", "x.parquet", "--concurrency", "0"]) == 2
    assert "--concurrency: must be >= 1, got 0 (default 8)" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_an_auth_error_tells_a_shell_user_to_export_the_key(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADPING_API_KEY", "sk_live_WRONG_4242")
    argv = ["fetch", "lead_0001", "--base-url", served, "-o", str(tmp_path / "x.parquet")]
    assert main([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "AuthError: authentication failed: the API key was refused" in err
    assert "export LEADPING_API_KEY=<your key>" in err
    assert "api_key=" not in err


def test_a_malformed_key_in_the_environment_exits_2_unseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "sk_live_MALFORMED\x1b[2J_4242"
    monkeypatch.setenv("LEADPING_API_KEY", key)
    monkeypatch.chdir(tmp_path)
    assert main(["fetch", "lead_0001", "-o", "x.parquet", "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert "LEADPING_API_KEY: the key in LEADPING_API_KEY contains a control character" in err
    pieces = [key[i : i + 6] for i in range(len(key) - 5)]
    assert not [p for p in pieces if p in out + err]
    assert not list(tmp_path.iterdir())


def test_a_full_disk_is_named_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from leadping_nb.reports import _export

    def full(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        Path(file).write_bytes(b"PAR1 half")
        raise pl.exceptions.ComputeError("parquet: Invalid thrift: transport error")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    monkeypatch.setattr(_export, "_free_bytes", lambda _d: 0)
    monkeypatch.chdir(tmp_path)
    assert main(["fetch", "lead_0001", "--emulator", "--no-progress", "-o", "x.parquet"]) == 1
    err = capsys.readouterr().err
    assert "no space left on device: nothing was written" in err and "x.parquet" in err
    assert "thrift" not in err
    assert not list(tmp_path.iterdir())
