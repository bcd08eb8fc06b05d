"""The README runs as written, and the reliability page says one true thing per promise.

Every ```python block of README.md runs, in order, in one namespace, in a temporary
directory (they use the emulator). Every ```bash line that starts with ``leadping-nb`` runs
through :func:`leadping_nb.cli.main` as written (they name ``--emulator`` wherever they need
the API; ``serve`` is skipped: it serves until stopped), exits 0 and warns about nothing.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import polars as pl
import pytest

from leadping_nb import ApiError, Client, EventQuery
from leadping_nb._http.wire import WireRequest, WireResponse
from leadping_nb.cli import main

from .fakes import KEY, FakeApi, make_pages

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
RELIABILITY = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.M | re.S)


def cli_lines() -> list[str]:
    return [
        line.strip()
        for block in blocks("bash")
        for line in block.splitlines()
        if line.strip().startswith("leadping-nb ")
    ]


def test_the_readme_has_what_these_tests_run() -> None:
    assert len(blocks("python")) >= 2
    assert len(cli_lines()) >= 3


def test_the_python_snippets_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADPING_API_KEY", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "readme"}
    for i, code in enumerate(blocks("python")):
        exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)
    result = namespace["result"]
    assert getattr(result, "ok", False) and getattr(result, "empty", None) == []
    assert (tmp_path / "delivery.html").is_file() and (tmp_path / "billing.html").is_file()
    assert (tmp_path / "events-store" / "_delta_log").is_dir()
    explorer = namespace["explorer"]
    explorer.close()  # type: ignore[attr-defined]
    explorer.client.close()  # type: ignore[attr-defined]


def test_the_shell_examples_run_on_the_emulator_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADPING_API_KEY", raising=False)
    ran = 0
    for line in cli_lines():
        argv = shlex.split(line, comments=True)[1:]
        if argv[0] == "serve":
            continue
        uses_api = "--store" not in argv or argv[0] == "fetch"
        assert not uses_api or "--emulator" in argv, f"needs --emulator to run as written: {line}"
        code = main([*argv, "--no-progress"])
        _out, err = capsys.readouterr()
        assert code == 0, (line, err)
        assert "warning" not in err, (line, err)  # e.g. leads that returned no events
        ran += 1
    assert ran >= 3
    assert pl.read_parquet(tmp_path / "events.parquet").height > 0
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "billing_report.html",
        "delivery_report.html",
    ]


def test_the_readme_lead_ids_are_the_emulators() -> None:
    from leadping_nb import Emulator

    ids = set(Emulator(seed=0, n_leads=120).lead_ids())
    named = {t for line in cli_lines() for t in shlex.split(line) if t.startswith("lead_")}
    assert named and named <= ids


# --- docs/reliability.md: one statement about expired tokens, and it is true ---------------


def test_the_reliability_page_says_an_expired_token_restarts_once() -> None:
    text = " ".join(RELIABILITY.split())
    assert "restarts the lead once from its first page" in text
    assert "a second expiry in the same lead fails it" in text
    for stale in (
        "currently fails the lead",
        "Expired continuation tokens** fail the lead",
        "an expired or invalid continuation token",
        "the tests accept both behaviours",
    ):
        assert stale not in text, stale


class Expiring(FakeApi):
    """Answers the first ``times`` requests that carry a token with "token expired"."""

    times: int = 1

    def handle(self, request: WireRequest) -> WireResponse:
        import json

        body = json.loads(request.body) if request.body else {}
        if body.get("continuationToken") and self.times > 0:
            with self._lock:
                self.times -= 1
                self.requests.append(request)
            problem = {
                "title": "Continuation token expired",
                "status": 400,
                "detail": "The continuation token has expired.",
                "errors": {"continuationToken": ["The continuation token has expired."]},
            }
            return WireResponse(
                400, (("content-type", "application/problem+json"),), json.dumps(problem).encode()
            )
        return super().handle(request)


def test_what_the_page_says_about_expired_tokens_is_what_the_client_does() -> None:
    pages = {"L1": make_pages("L1", [2, 2, 2]), "L2": make_pages("L2", [1])}
    once = Expiring(pages)
    with Client(api_key=KEY, transport=once, rate_limit=None) as c:
        result = c.fetch_events(["L1", "L2"], EventQuery(page_size=2))
    assert result.ok and result.status["events"].to_list() == [6, 1]
    assert result.frame["id"].n_unique() == 7  # restarted from page 1, nothing doubled
    twice = Expiring(pages)
    twice.times = 2
    with Client(api_key=KEY, transport=twice, rate_limit=None) as c:
        result = c.fetch_events(["L1", "L2"], EventQuery(page_size=2))
    assert result.failed == ["L1"]
    err = result.errors["L1"]
    assert isinstance(err, ApiError) and err.status == 400
    assert result.frame["lead_id"].unique().to_list() == ["L2"]
