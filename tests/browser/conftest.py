"""Headless Chromium (Debian's /usr/bin/chromium) through Playwright, for every browser test.

Fixtures: ``browser`` (session) and ``page`` (a fresh context per test that refuses every
request leaving the machine and records page errors in ``page.errors``). Without Chromium
the tests are skipped, except in CI (``CI`` set), where a missing browser is a failure.
``playwright install`` is never needed (it would download a browser). Mark browser test
modules with ``pytestmark = pytest.mark.browser``.

Servers, each on 127.0.0.1 and a free port: ``voila_base`` (``notebooks/`` in Voilà) and
``jupyter_server`` (``jupyter lab``, which also serves Notebook 7's pages).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
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


# ---------------------------------------------------------------------------------------
# JupyterLab 4 / Notebook 7 (the same server serves both front ends)


@dataclass(frozen=True)
class JupyterServer:
    """A running ``jupyter lab`` on loopback. ``url(path)`` logs in with the token."""

    base: str
    token: str
    root: Path
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base}{path}?token={self.token}"


@pytest.fixture
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """``jupyter lab`` (Notebook 7's pages too, when ``notebook`` is installed) on 127.0.0.1,
    a free port and a fresh token, serving an empty tmp folder (write notebooks into
    ``jupyter_server.root``).

    One server per test (~3 s): front ends sharing a server share its workspace state, and
    Notebook 7 stumbles over what Lab left there. The user config, data, runtime and
    IPython dirs are tmp dirs, so only the venv's lab extensions and ``python3`` kernelspec
    (run by the server's own interpreter) are seen; news, update checks and the PyPI
    extension manager are off. The server leads a process group of its own, stopped by
    :func:`_stop_group`."""
    import secrets
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("jupyter")
    root = tmp / "root"
    root.mkdir()
    config = tmp / "config"
    settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # the "get notified about Jupyter news?" toast appears even with news_url=None
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = _free_port()
    token = secrets.token_hex(24)
    log = tmp / "jupyter.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "MPLBACKEND": "Agg",
    }
    env.pop("LEADPING_API_KEY", None)
    env.pop("JUPYTER_PATH", None)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=root, env=env, start_new_session=True
        )
    try:
        _wait_for_port(proc, port, log)
        yield JupyterServer(f"http://127.0.0.1:{port}/", token, root, log)
    finally:
        _stop_group(proc, timeout=20)
        print(f"--- jupyter log ({log}), tail ---\n{log.read_text()[-3000:]}")  # on failure


def _stop_group(proc: Any, timeout: float) -> None:
    """SIGTERM to the process group that ``proc`` leads (started with
    ``start_new_session``), wait, then SIGKILL to the group. Jupyter starts each kernel in a
    session of its own: the server shuts them down on SIGTERM, and a kernel whose server
    was killed exits by itself (ipykernel polls its parent, ``JPY_PARENT_PID``)."""
    import signal
    import subprocess
    from contextlib import suppress

    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    with suppress(ProcessLookupError):  # the server if it hung, and what is left of its group
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
