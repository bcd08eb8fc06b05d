"""Secrets: with a sentinel API key and failures forced (a server that refuses the key, and one
that accepts it but breaks some leads), the key appears nowhere a user or a log collector
could see it: captured stdout/stderr, log records (DEBUG, every logger), exceptions (str,
repr, attributes, the formatted traceback with its chain), reprs and HTML reprs, HTML
reports, Parquet files and stores, the CLI's output and files, an executed notebook, and
the state of every widget. Plain http:// to a non-loopback host is refused before anything
is sent.

The CLI, report, notebook and widget parts are separate tests (they skip with a reason when
their module is not there yet).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leadping_nb import (
    ApiError,
    AsyncClient,
    AuthError,
    Client,
    EventQuery,
    FetchProgress,
    QueryError,
    RetryPolicy,
)
from leadping_nb._http.wire import WireRequest, WireResponse
from leadping_nb.emulator import FaultConfig
from leadping_nb.store import EventStore

from .reliability_support import GOOD_KEY, SENTINEL, LiveServer, RecordingEmulator

ROOT = Path(__file__).resolve().parents[2]
#: the sentinel, and its random tail (a partly masked key must not leak either)
NEEDLES = (SENTINEL, SENTINEL[-12:])
LEADS = ["lead_0001", "lead_0002", "lead_0003"]
#: the CLI's leads: no transient faults (its default retry backs off for seconds)
CLI_LEADS = ["lead_0001", "lead_0002", "lead_0004"]
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def leaks(blob: str | bytes) -> list[str]:
    data = blob.encode("utf-8", "surrogatepass") if isinstance(blob, str) else blob
    return [n for n in NEEDLES if n.encode() in data]


class Search:
    """Everything the key must not appear in, gathered then searched at once."""

    def __init__(self, tally: Counter[str]) -> None:
        self.places: list[tuple[str, str | bytes]] = []
        self.tally = tally

    def add(self, where: str, blob: str | bytes) -> None:
        self.places.append((where, blob))

    def exception(self, where: str, exc: BaseException) -> None:
        self.add(f"{where}: str", str(exc))
        self.add(f"{where}: repr", repr(exc))
        self.add(f"{where}: traceback", "".join(traceback.format_exception(exc)))
        chained: BaseException | None = exc
        while chained is not None:
            self.add(f"{where}: attributes of {type(chained).__name__}", repr(vars(chained)))
            chained = chained.__cause__ or chained.__context__

    def files(self, root: Path) -> None:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                self.add(f"file {p.relative_to(root)}", p.read_bytes())

    def assert_clean(self, min_places: int = 1) -> None:
        found = [(where, hits) for where, blob in self.places if (hits := leaks(blob))]
        assert not found, f"the key leaked into: {found}"
        assert len(self.places) >= min_places
        self.tally["secrets: places searched"] += len(self.places)
        self.tally["secrets: bytes searched"] += sum(len(b) for _w, b in self.places)


@pytest.fixture(scope="module")
def accepting() -> Iterator[tuple[LiveServer, RecordingEmulator]]:
    """A second server: accepts the sentinel, breaks lead_0002's token chain, and faults a
    bit on lead_0003 (retries, and their log lines)."""
    emu = RecordingEmulator(
        4,
        5,
        heavy_leads=0,
        api_keys=(SENTINEL,),
        tamper_leads=["lead_0002"],
        faults=FaultConfig(
            seed=3,
            rate_5xx=0.3,
            rate_drop=0.2,
            rate_truncate=0.2,
            only_leads=frozenset({"lead_0003"}),
        ),
    )
    server = LiveServer().start()
    server.serve(emu)
    yield server, emu
    server.stop()


@pytest.fixture
def refusing(live: LiveServer) -> str:
    """The session server, serving an emulator that accepts only another key."""
    return live.serve(RecordingEmulator(4, 5, heavy_leads=0, api_keys=(GOOD_KEY,)))


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("leadping_nb", "httpx", "httpcore", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _log_texts(caplog: pytest.LogCaptureFixture) -> Iterable[tuple[str, str]]:
    handler = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for rec in caplog.records:
        text = handler.format(rec)  # includes exc_info tracebacks
        yield f"log {rec.name}", text + " " + repr(rec.args)


# ---- the library: clients, errors, reprs, logs, Parquet, stores ----------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_key_never_leaks_from_the_clients(
    mode: str,
    refusing: str,
    accepting: tuple[LiveServer, RecordingEmulator],
    debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tally: Counter[str],
) -> None:
    monkeypatch.setenv("LEADPING_API_KEY", SENTINEL)  # the key comes from the environment
    search = Search(tally)
    progress: list[FetchProgress] = []
    ok_url = accepting[0].base_url

    def sync_run(url: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with Client(base_url=url, retry=FAST, concurrency=2) as c:
            out["client"] = c
            out["search"] = c.events("lead_0001", EventQuery(page_size=5))
            out["result"] = c.fetch_events(
                LEADS, EventQuery(page_size=5), on_progress=progress.append
            )
            for name, call in (
                ("frame", lambda: c.events("lead_0002", EventQuery(page_size=5)).frame()),
                ("count", lambda: c.events("lead_0001").count()),
                ("leads", lambda: c.leads()),
                ("lead", lambda: c.lead("lead_0001")),
            ):
                try:
                    out[name] = call()
                except ApiError as exc:
                    out[f"{name} error"] = exc
            try:
                out["raise"] = out["result"].raise_for_errors()
            except ApiError as exc:
                out["raise error"] = exc
        return out

    async def async_run(url: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with AsyncClient(base_url=url, retry=FAST, concurrency=2) as c:
            out["client"] = c
            out["result"] = await c.fetch_events(
                LEADS, EventQuery(page_size=5), on_progress=progress.append
            )
            try:
                out["frame"] = await c.events("lead_0002", EventQuery(page_size=5)).frame()
            except ApiError as exc:
                out["frame error"] = exc
            try:
                out["count"] = await c.events("lead_0001").count()
            except ApiError as exc:
                out["count error"] = exc
        return out

    runs = {}
    for label, url in (("refused", refusing), ("accepted", ok_url)):
        runs[label] = sync_run(url) if mode == "sync" else asyncio.run(async_run(url))

    refused, accepted = runs["refused"], runs["accepted"]
    assert all(isinstance(e, AuthError) for e in refused["result"].errors.values())
    # a partial failure: lead_0002's chain breaks, lead_0003 may give up on its faults
    assert "lead_0002" in accepted["result"].errors
    assert "lead_0001" not in accepted["result"].errors
    assert accepted["result"].frame.height > 0

    for label, out in runs.items():
        for name, value in out.items():
            if isinstance(value, BaseException):
                search.exception(f"{label} {name}", value)
            else:
                search.add(f"{label} {name} repr", repr(value))
        result = out["result"]
        search.add(f"{label} status", str(result.status.to_dicts()))
        search.add(f"{label} result html", result._repr_html_())
        search.add(f"{label} report", str(result.report))
        for lead, exc in result.errors.items():
            search.exception(f"{label} error of {lead}", exc)
        result.frame.write_parquet(tmp_path / f"{label}.parquet")
    search.add("progress", repr(progress))

    # a store refreshed with the sentinel client, with a failing lead
    store = EventStore(tmp_path / "store")
    with Client(base_url=ok_url, retry=FAST) as c:
        refreshed = store.refresh(c, LEADS, EventQuery(page_size=5))
        search.add("store repr", repr(store) + repr(refreshed))
    assert "lead_0002" in refreshed.failed and "lead_0001" not in refreshed.failed
    search.files(tmp_path)
    for where, text in _log_texts(debug_logs):
        search.add(where, text)
    captured = capfd.readouterr()
    search.add("stdout", captured.out)
    search.add("stderr", captured.err)
    assert any(r.name == "leadping_nb" for r in debug_logs.records)  # retries were logged
    search.assert_clean(min_places=40)


def test_plain_http_to_a_non_loopback_host_is_refused_before_sending(
    tally: Counter[str],
) -> None:
    refused = [
        "http://api.leadping.ai",
        "HTTP://EXAMPLE.COM",
        "http://10.0.0.1:8080",
        "http://169.254.169.254",
        "http://0.0.0.0:80",
        "http://[::ffff:10.0.0.1]",
        "http://127.0.0.1.nip.io",
        "http://localhost.evil.example",
        "http://evil.example#@127.0.0.1",
        "http://user:pw@127.0.0.1",
        "http://2130706433",
        "ftp://127.0.0.1",
    ]
    for url in refused:
        with pytest.raises(QueryError) as info:
            Client(api_key=SENTINEL, base_url=url)
        assert not leaks(str(info.value) + repr(info.value)), url
        with pytest.raises(QueryError):
            AsyncClient(api_key=SENTINEL, base_url=url)
    for url in (
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://[::1]:9",
        "https://example.com",
    ):
        Client(api_key=SENTINEL, base_url=url).close()
    tally["secrets: insecure base URLs refused"] += len(refused)


def test_a_redirect_is_not_followed_so_the_key_goes_nowhere_else(tally: Counter[str]) -> None:
    """A server answering 307 to another host: the client never sends the key there."""

    class Redirecting:
        def __init__(self) -> None:
            self.requests: list[WireRequest] = []

        def handle(self, request: WireRequest) -> WireResponse:
            self.requests.append(request)
            return WireResponse(307, (("location", "http://evil.example/steal"),), b"")

    server = Redirecting()
    with (
        Client(api_key=SENTINEL, transport=server, retry=FAST, rate_limit=None) as c,
        pytest.raises(ApiError) as info,
    ):
        c.events("lead_0001").frame()
    assert len(server.requests) == FAST.attempts  # retried in place, never followed
    assert all(r.path == "/events/leads/lead_0001" for r in server.requests)
    search = Search(tally)
    search.exception("redirect", info.value)
    search.assert_clean()


# ---- the CLI ------------------------------------------------------------------------------


def _cli(args: list[str], tmp: Path, env_key: str = SENTINEL) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEADPING_API_KEY": env_key, "PYTHONWARNINGS": "default"}
    # this checkout's package, whatever the interpreter's editable install points at
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(
        [sys.executable, "-m", "leadping_nb", *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not _has_module("leadping_nb.cli"), reason="leadping_nb.cli missing")
def test_the_cli_never_prints_or_writes_the_key(
    refusing: str,
    accepting: tuple[LiveServer, RecordingEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    tally: Counter[str],
) -> None:
    """Two runs of the installed entry point in a subprocess, the others through
    ``cli.main`` in-process (the same code, without the interpreter start-up)."""
    from leadping_nb.cli import main

    ok_url = accepting[0].base_url
    common = ["--no-progress", "--page-size", "5"]
    search = Search(tally)
    runs = 0
    for label, args, code in (
        (
            "fetch refused --debug",
            ["fetch", *CLI_LEADS, "-o", "r.parquet", "--base-url", refusing, "--debug", *common],
            None,
        ),
        (
            "fetch partial",
            ["fetch", *CLI_LEADS, "-o", "partial.parquet", "--base-url", ok_url, *common],
            3,
        ),
    ):
        proc = _cli(args, tmp_path)
        if code is not None:
            assert proc.returncode == code, (label, proc.returncode, proc.stderr[-2000:])
        else:
            assert proc.returncode != 0 and "Traceback" in proc.stderr, label
        search.add(f"{label}: stdout", proc.stdout)
        search.add(f"{label}: stderr", proc.stderr)
        runs += 1
    monkeypatch.setenv("LEADPING_API_KEY", SENTINEL)
    monkeypatch.chdir(tmp_path)
    for label, args, code in (
        (
            "fetch refused",
            ["fetch", *CLI_LEADS, "-o", "refused.parquet", "--base-url", refusing, *common],
            1,
        ),
        (
            "fetch csv partial",
            ["fetch", *CLI_LEADS, "-o", "partial.csv", "--base-url", ok_url, *common],
            3,
        ),
        (
            "fetch store partial",
            ["fetch", *CLI_LEADS, "--store", "store", "--base-url", ok_url, *common],
            3,
        ),
        (
            "report partial",
            [
                "report",
                *CLI_LEADS,
                "-o",
                "reports",
                "--base-url",
                ok_url,
                "--kind",
                "both",
                *common,
            ],
            3,
        ),
        (
            "insecure base url",
            [
                "fetch",
                "lead_0001",
                "-o",
                "x.parquet",
                "--base-url",
                "http://api.leadping.ai",
                *common,
            ],
            2,
        ),
    ):
        assert main(args) == code, label
        out, err = capfd.readouterr()
        search.add(f"{label}: stdout", out)
        search.add(f"{label}: stderr", err)
        runs += 1
    assert (tmp_path / "partial.parquet").exists() and (tmp_path / "store").is_dir()
    assert len(list((tmp_path / "reports").glob("*.html"))) == 2
    search.files(tmp_path)
    search.assert_clean(min_places=2 * runs + 5)
    tally["secrets: CLI runs"] += runs


# ---- a notebook ---------------------------------------------------------------------------

NOTEBOOK_CELLS = [
    """import logging, os
import leadping_nb as lp
logging.basicConfig(level=logging.DEBUG, force=True)
assert os.environ["LEADPING_API_KEY"]""",
    """client = lp.Client(base_url=OK_URL, retry=lp.RetryPolicy(attempts=3, backoff=0.01))
client""",
    """result = client.fetch_events(LEADS, lp.EventQuery(page_size=5))
result""",
    """display(result.status)
print(result.errors)
for lead, exc in result.errors.items():
    print(lead, repr(exc), exc)""",
    """result.frame.write_parquet(OUT + "/nb.parquet")
result.frame.head(3)""",
    """try:
    from leadping_nb.reports import DeliveryReport
except ImportError:
    report = None
else:
    report = DeliveryReport.from_frame(result.frame, leads=LEADS)
    report.save(OUT + "/nb-report.html")
report""",
    """bad = lp.Client(base_url=BAD_URL)
bad, bad.fetch_events(LEADS)""",
    """async with lp.AsyncClient(base_url=BAD_URL) as ac:
    await ac.events("lead_0001").frame()""",
    """bad.events("lead_0001").frame()  # raises AuthError: the traceback is in the output""",
]


@pytest.mark.notebooks
@pytest.mark.skipif(not _has_module("nbclient"), reason="nbclient missing")
def test_an_executed_notebook_never_shows_the_key(
    refusing: str,
    accepting: tuple[LiveServer, RecordingEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tally: Counter[str],
) -> None:
    import nbformat
    from nbclient import NotebookClient

    setup = (
        f"OK_URL = {accepting[0].base_url!r}\nBAD_URL = {refusing!r}\n"
        f"LEADS = {LEADS!r}\nOUT = {str(tmp_path)!r}"
    )
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [
        nbformat.v4.new_code_cell(src)  # type: ignore[no-untyped-call]
        for src in (setup, *NOTEBOOK_CELLS)
    ]
    monkeypatch.setenv("LEADPING_API_KEY", SENTINEL)  # the kernel inherits it
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert [e["ename"] for e in errors] == ["AuthError", "AuthError"]  # the forced failures
    text = json.dumps(nb)
    assert "lead_0002" in text and "FetchResult" in text
    (tmp_path / "executed.ipynb").write_text(nbformat.writes(nb))  # type: ignore[no-untyped-call]
    search = Search(tally)
    search.add("notebook json", text)
    search.files(tmp_path)
    search.assert_clean(min_places=3)
    tally["secrets: notebook cells executed"] += len(nb.cells)


# ---- widgets ------------------------------------------------------------------------------


@pytest.mark.skipif(not _has_module("leadping_nb.widgets"), reason="leadping_nb.widgets missing")
def test_widget_state_never_holds_the_key(
    refusing: str,
    accepting: tuple[LiveServer, RecordingEmulator],
    debug_logs: pytest.LogCaptureFixture,
    tally: Counter[str],
) -> None:
    import ipywidgets
    import ipywidgets.widgets.widget as widget_module

    from leadping_nb.widgets import EventExplorer

    search = Search(tally)
    explorers = []
    try:
        for label, url in (("refused", refusing), ("accepted", accepting[0].base_url)):
            client = Client(api_key=SENTINEL, base_url=url, retry=FAST)
            ex = EventExplorer(client, background_figures=False, progress_interval=0.0)
            explorers.append((ex, client))
            ex.picker.search.value = "lea"  # a server-side lead search (fails when refused)
            ex.picker.paste(" ".join(LEADS))
            ex.filters.page_size.value = 5
            ex.fetch()
            result = ex.wait(timeout=60)
            assert result is not None and result.errors
            search.add(f"{label} explorer vars", repr(vars(ex)))
        live = list(widget_module._instances.values())  # Widget.widgets, without the warning
        assert len(live) > 20
        for w in live:
            search.add(
                f"widget {type(w).__name__} {w.model_id}", json.dumps(w.get_state(), default=repr)
            )
        for where, text in _log_texts(debug_logs):
            search.add(where, text)
        search.assert_clean(min_places=20)
        tally["secrets: widget states searched"] += len(live)
    finally:
        for ex, client in explorers:
            ex.close()
            client.close()
        ipywidgets.Widget.close_all()


# ---- malformed keys: refused before anything is sent, and never shown ----------------------

#: The sentinel with a character no HTTP header may carry: each is refused when the client
#: is made (or read from LEADPING_API_KEY), so it never reaches a request, a retry or a log.
MALFORMED = {
    "newline": SENTINEL[:16] + "\n" + SENTINEL[16:],
    "crlf": SENTINEL[:16] + "\r\n" + SENTINEL[16:],
    "nul": SENTINEL[:16] + "\x00" + SENTINEL[16:],
    "escape": SENTINEL[:16] + "\x1b[2J" + SENTINEL[16:],
    "non-ascii": SENTINEL[:16] + "é" + SENTINEL[16:],
    "nbsp": SENTINEL[:16] + "\u00a0" + SENTINEL[16:],
    "space": SENTINEL[:16] + " " + SENTINEL[16:],
    "lone surrogate": SENTINEL[:16] + "\ud83d" + SENTINEL[16:],
    "undecodable byte": SENTINEL[:16] + "\udce9" + SENTINEL[16:],  # os.environ's view of it
}
#: what an environment variable cannot hold
NOT_IN_ENV = ("nul", "lone surrogate")


def pieces(key: str, n: int = 6) -> list[str]:
    """The key and every ``n``-character piece of it (no part of a key may show)."""
    return [key, *(key[i : i + n] for i in range(len(key) - n + 1))]


class KeySearch(Search):
    """A :class:`Search` for one malformed key and every 6-character piece of it."""

    def __init__(self, tally: Counter[str], key: str) -> None:
        super().__init__(tally)
        self.needles = [p.encode("utf-8", "surrogatepass") for p in pieces(key)]

    def assert_clean(self, min_places: int = 1) -> None:
        found = []
        for where, blob in self.places:
            data = blob.encode("utf-8", "surrogatepass") if isinstance(blob, str) else blob
            hits = [n for n in self.needles if n in data]
            if hits:
                found.append((where, hits[:3]))
        assert not found, f"a piece of the key leaked into: {found}"
        assert len(self.places) >= min_places
        self.tally["secrets: places searched"] += len(self.places)
        self.tally["secrets: bytes searched"] += sum(len(b) for _w, b in self.places)


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_key_is_refused_and_never_shown(
    name: str,
    accepting: tuple[LiveServer, RecordingEmulator],
    debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tally: Counter[str],
) -> None:
    from leadping_nb.cli import main

    key = MALFORMED[name]
    server, emu = accepting
    served = len(emu.log)
    search = KeySearch(tally, key)
    monkeypatch.chdir(tmp_path)
    refusals: list[QueryError] = []
    monkeypatch.delenv("LEADPING_API_KEY", raising=False)
    for cls in (Client, AsyncClient):
        with pytest.raises(QueryError) as info:
            cls(api_key=key, base_url=server.base_url, retry=FAST)
        refusals.append(info.value)
    if name not in NOT_IN_ENV:
        monkeypatch.setenv("LEADPING_API_KEY", key)
        for cls in (Client, AsyncClient):
            with pytest.raises(QueryError) as info:
                cls(base_url=server.base_url, retry=FAST)
            refusals.append(info.value)
        args = ["fetch", *CLI_LEADS, "-o", "x.parquet", "--base-url", server.base_url]
        for extra in ([], ["--debug"]):
            try:
                code = main([*args, "--no-progress", *extra])
            except QueryError as exc:  # --debug re-raises
                assert extra == ["--debug"]
                search.exception("cli --debug", exc)
            else:
                assert code == 2
        out, err = capfd.readouterr()
        assert "LEADPING_API_KEY: the key in LEADPING_API_KEY" in err
        search.add("cli stdout", out)
        search.add("cli stderr", err)
        if name == "escape":  # one run of the installed entry point, in a subprocess
            proc = _cli([*args, "--no-progress"], tmp_path, env_key=key)
            assert proc.returncode == 2, proc.stderr[-2000:]
            search.add("subprocess stdout", proc.stdout)
            search.add("subprocess stderr", proc.stderr)
    for i, exc in enumerate(refusals):
        assert exc.field in ("api_key", "LEADPING_API_KEY")
        assert "printable ASCII without spaces" in str(exc) and "not shown" in str(exc)
        search.exception(f"refusal {i}", exc)
    assert len(emu.log) == served  # nothing was sent
    assert not list(tmp_path.iterdir())  # nothing was written
    for where, text in _log_texts(debug_logs):
        search.add(where, text)
    captured = capfd.readouterr()
    search.add("stdout", captured.out)
    search.add("stderr", captured.err)
    search.assert_clean(min_places=10)
    tally["secrets: malformed keys refused"] += len(refusals)


# ---- provenance: reports, Parquet and store commits say where data came from, not the key --


def test_provenance_records_the_source_and_never_the_key(
    accepting: tuple[LiveServer, RecordingEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tally: Counter[str],
) -> None:
    import openpyxl  # type: ignore[import-untyped]
    import polars as pl
    from deltalake import DeltaTable

    from leadping_nb.reports import BillingReport, DeliveryReport
    from leadping_nb.reports._export import provenance, to_excel, to_parquet

    monkeypatch.setenv("LEADPING_API_KEY", SENTINEL)
    search = Search(tally)
    ok_url = accepting[0].base_url
    # a careless caller puts the key into the source text: credentials and a query string
    dirty = f"Leadping API at {ok_url.replace('//', f'//me:{SENTINEL}@')}?api_key={SENTINEL}"
    with Client(base_url=ok_url, retry=FAST) as c:
        frame = c.fetch_events(["lead_0001"], EventQuery(page_size=5)).frame
        store = EventStore(tmp_path / "store")
        store.refresh(c, ["lead_0001"], EventQuery(page_size=5))
    assert frame.height > 0
    prov = provenance(source=dirty, query=EventQuery(page_size=5), store_version=store.version)
    assert prov["source"].startswith("Leadping API at http://***@127.0.0.1")

    to_parquet(frame, tmp_path / "e.parquet", metadata=prov)
    meta = pl.read_parquet_metadata(tmp_path / "e.parquet")
    assert meta["leadping_nb.source"] == prov["source"]
    assert meta["leadping_nb.store_version"] == str(store.version)
    search.add("parquet metadata", json.dumps(meta))
    to_excel(frame, tmp_path / "e.xlsx", metadata=prov)
    about = dict(openpyxl.load_workbook(tmp_path / "e.xlsx")["about"].iter_rows(values_only=True))
    assert about["source"] == prov["source"]
    search.add("excel about sheet", json.dumps(about))  # the .xlsx itself is compressed

    history = DeltaTable(str(tmp_path / "store")).history()
    recorded = [h["leadping.action"]["provenance"] for h in history if "leadping.action" in h]
    assert recorded and recorded[0]["source"] == ok_url.rstrip("/")
    search.add("store commit metadata", json.dumps(history, default=str))

    for cls in (DeliveryReport, BillingReport):
        report = cls.from_frame(frame, source=dirty, store_version=store.version)
        assert report.meta.provenance()["source"] == prov["source"]
        assert report.meta.provenance()["store_version"] == str(store.version)
        html = report.to_html()
        assert prov["source"] in html and "Store version" in html
        search.add(f"{cls.__name__} html", html)
        search.add(f"{cls.__name__} provenance", json.dumps(report.meta.provenance()))
        search.add(f"{cls.__name__} meta", repr(report.meta))
    search.files(tmp_path)
    search.assert_clean(min_places=8)
