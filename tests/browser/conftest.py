"""Headless Chromium (Debian's /usr/bin/chromium) through Playwright, for every browser test.

Fixtures: ``browser`` (session) and ``page`` (a fresh context per test that refuses every
request leaving the machine and records page errors in ``page.errors``). Without Chromium
the tests are skipped, except in CI (``CI`` set), where a missing browser is a failure.
``playwright install`` is never needed (it would download a browser). Mark browser test
modules with ``pytestmark = pytest.mark.browser``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
#: Requests to anything but the loopback interface or local files are aborted.
NOT_LOCAL = re.compile(
    r"^(?!(file:|data:|about:|blob:|https?://(127\.0\.0\.1|localhost|\[::1\])[:/]))"
)


# Module scope, not session: Playwright's sync API keeps an asyncio loop marked as running
# in the main thread while it is open, which would break every later test that starts an
# event loop. The root conftest also runs the browser tests last.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        message = f"{CHROMIUM} not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the browser is missing: {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context; ``page.errors`` (a list) collects uncaught page errors and
    ``page.blocked`` the URLs of refused non-local requests."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    blocked: list[str] = []

    def refuse(route: Any) -> None:
        blocked.append(route.request.url)
        route.abort()

    context.route(NOT_LOCAL, refuse)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.errors = errors  # type: ignore[attr-defined]
    pg.blocked = blocked  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        context.close()


# ---------------------------------------------------------------------------------------
# Voilà (appended by the widgets work, issue 7)

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(proc: Any, port: int, log: Path, timeout: float = 60.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited rc={proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not listening after {timeout}s:\n{log.read_text()}") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def voila_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve ``notebooks/`` with Voilà on loopback; a notebook is at
    ``{voila_base}voila/render/NAME.ipynb``. Only the server's own PID is stopped."""
    import subprocess
    import sys

    port = _free_port()
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(NOTEBOOK_DIR),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.token=",
        "--show_tracebacks=True",
    ]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("LEADPING_API_KEY", None)
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=NOTEBOOK_DIR, env=env)
    try:
        _wait_for_port(proc, port, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()  # SIGTERM to this PID only
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
