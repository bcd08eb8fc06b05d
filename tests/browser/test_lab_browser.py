"""The explorer widget in JupyterLab 4 and Notebook 7, in headless Chromium: open a notebook,
run all cells as a user would, fetch, filter, and see it all rendered by the real front end.

Held to the Voilà dashboard test's bar (``test_dashboard_browser.py``): widgets rendered,
fetch round-tripped through the kernel, KPIs, table and a PNG figure shown, a filter change
redrawn, no page error, nothing requested beyond loopback.
"""

from __future__ import annotations

import os
import re
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

import leadping_nb

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page, WebSocket

    from .conftest import JupyterServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SETUP = """\
import sys
import leadping_nb
print("kernel python:", sys.executable)
print("leadping_nb:", leadping_nb.__file__)"""

EXPLORER = """\
from leadping_nb.emulator import Emulator
from leadping_nb.widgets import EventExplorer

emu = Emulator(seed=1, n_leads=4)
client = emu.client()
explorer = EventExplorer(client, lead_ids=emu.lead_ids()[:2])
explorer"""


def _missing(dist: str, major: int) -> str | None:
    """Why ``dist>=major`` cannot be used, or None. In CI (``CI`` set) it must be there."""
    try:
        found = version(dist)
    except PackageNotFoundError:
        found = None
    if found is not None and int(found.split(".")[0]) >= major:
        return None
    return f"{dist}>={major} not installed (it is in the dev extra), found {found}"


#: (front end, page path of a notebook); ``jupyter lab`` serves both.
FRONT_ENDS = [
    pytest.param("lab", "lab/tree/{}", "jupyterlab", 4, id="jupyterlab4"),
    pytest.param("notebook", "notebooks/{}", "notebook", 7, id="notebook7"),
]
#: Page errors of a front end's own bundle, not of the widgets: Notebook 7.6's notebook page
#: raises this on every load, a plain ``1+1`` notebook too (JupyterLab's shortcuts
#: extension reads the settings of a plugin that page has not loaded). Allowed only with a
#: stack entirely inside Notebook 7's ``notebook_core`` bundle.
KNOWN_PAGE_ERRORS = {
    "notebook": ("Cannot read properties of undefined (reading 'schema')", "notebook_core."),
}


def _write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Explorer"),
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(EXPLORER),
    ]
    nbformat.write(nb, path)


def _unexplained(app: str, errors: list[str], stacks: list[str]) -> list[str]:
    """The page errors less the known one of this front end's own bundle (see above)."""
    if app not in KNOWN_PAGE_ERRORS:
        return errors
    message, bundle = KNOWN_PAGE_ERRORS[app]
    urls = [[ln for ln in st.splitlines()[1:] if "http" in ln] for st in stacks]
    return [
        e
        for e, frames in zip(errors, urls, strict=True)
        if not (e == message and frames and all(bundle in ln for ln in frames))
    ]


def _watch_kernel_info(page: Page) -> Callable[[], bool]:
    """Watch the kernels' websockets; the returned check is true once one delivered a
    ``kernel_info_reply`` (the front end marks its kernel connected on it)."""
    seen: list[str] = []

    def on_frame(url: str, payload: str | bytes) -> None:
        data = payload if isinstance(payload, bytes) else payload.encode()
        if b'"kernel_info_reply"' in data:
            seen.append(url)

    def on_websocket(ws: WebSocket) -> None:
        if "/api/kernels/" in ws.url:
            ws.on("framereceived", lambda payload: on_frame(ws.url, payload))

    page.on("websocket", on_websocket)
    return lambda: bool(seen)


def _wait_until(page: Page, check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout} s: {what}")
        page.wait_for_timeout(100)  # lets Playwright dispatch the page's events


@pytest.mark.parametrize(("app", "path", "dist", "major"), FRONT_ENDS)
def test_explorer_runs_in_jupyter(
    app: str, path: str, dist: str, major: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    if reason := _missing(dist, major):
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    jupyter_server: JupyterServer = request.getfixturevalue("jupyter_server")
    page: Page = request.getfixturevalue("page")
    name = f"explorer_{app}.ipynb"
    _write_notebook(jupyter_server.root / name)
    stacks: list[str] = []
    page.on("pageerror", lambda exc: stacks.append(exc.stack or str(exc)))
    kernel_ready = _watch_kernel_info(page)

    started = time.monotonic()
    page.goto(jupyter_server.url(path.format(name)), wait_until="domcontentloaded")
    notebook = page.locator(".jp-Notebook")
    expect(notebook).to_be_visible(timeout=60_000)
    expect(notebook.locator(".jp-Cell")).to_have_count(3)
    # The kernel is connected and idle before anything runs. The toolbar's indicator says
    # "idle" from the start, before any kernel: cells run then are silently left unrun.
    _wait_until(page, kernel_ready, 60, "the kernel's kernel_info_reply on its websocket")
    expect(page.locator(".jp-Notebook-ExecutionIndicator").first).to_have_attribute(
        "data-status", "idle", timeout=60_000
    )

    # Run → Run All Cells, from the menu bar
    notebook.locator(".jp-Cell").first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    explorer = notebook.locator(".lp-explorer")
    expect(explorer).to_be_visible(timeout=60_000)  # the widget view, not its text fallback
    print(f"{app}: explorer rendered after {time.monotonic() - started:.1f} s")
    stderr = notebook.locator("[data-mime-type='application/vnd.jupyter.stderr']")
    expect(stderr).to_have_count(0)
    # the kernel is the one this test runs in, importing this checkout of the package
    setup_out = notebook.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
    expect(setup_out).to_contain_text(f"kernel python: {sys.executable}")
    expect(setup_out).to_contain_text(f"leadping_nb: {leadping_nb.__file__}")

    expect(explorer.locator(".lp-picker-count")).to_contain_text("2 leads selected")
    expect(explorer.locator(".lp-filter-directions select")).to_be_visible()
    expect(explorer.locator(".lp-filter-event_types select")).to_be_visible()
    expect(explorer.locator(".lp-kpis-box")).to_contain_text("No data yet")

    explorer.get_by_role("button", name="Fetch").click()
    status = explorer.locator(".lp-status")
    expect(status).to_contain_text("Fetched", timeout=60_000)
    expect(status).to_contain_text("from 2 of 2 leads")
    expect(explorer.locator(".lp-progress-text")).to_contain_text("2/2 leads")
    table = explorer.locator(".lp-table-box")
    expect(table).to_contain_text("matching events")
    kpi = explorer.locator("[data-kpi='events']")
    expect(kpi).to_have_text(re.compile(r"^[1-9][\d,]*$"))  # some events, not zero
    expect(explorer.locator("[data-kpi='leads']")).to_have_text("2")
    figure = explorer.locator(".lp-figure-delivery img")
    expect(figure).to_be_visible(timeout=60_000)
    src_before = figure.get_attribute("src")
    assert src_before and src_before.startswith("data:image/png;base64,")
    width = figure.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width > 0  # the PNG decoded

    # a filter on the fetched data: answered from the cache, everything redrawn
    events_before = kpi.inner_text()
    explorer.locator(".lp-filter-event_types select").select_option("Sms")
    expect(kpi).not_to_have_text(events_before)
    expect(figure).not_to_have_attribute("src", src_before, timeout=60_000)
    expect(explorer.locator(".lp-notice")).to_have_text("")

    page.screenshot(path=str(tmp_path / f"{app}.png"), full_page=True)
    for fallback in ("Loading widget", "Error displaying widget"):
        expect(notebook.get_by_text(fallback)).to_have_count(0)
    expect(stderr).to_have_count(0)
    expect(page.locator(".Toastify__toast")).to_have_count(0)  # no news / update toast
    assert _unexplained(app, page.errors, stacks) == []  # type: ignore[attr-defined]
    assert page.blocked == []  # type: ignore[attr-defined]
    print(f"{app}: whole test {time.monotonic() - started:.1f} s")
