"""Screenshots of both HTML reports and the Voilà dashboard at 1,280 px.

Written to ``tmp_path`` (the test checks they were drawn), or to the folder named by
``LEADPING_SCREENSHOT_DIR``; ``docs/screenshots/`` holds the committed ones::

    LEADPING_SCREENSHOT_DIR=docs/screenshots pytest tests/browser/test_screenshots.py

Besides the full pages, ``*_tables.png`` and ``*_top.png`` show a report's tables and its
header + key figures at full resolution.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from leadping_nb import EventQuery
from leadping_nb.emulator import Emulator
from leadping_nb.reports import BillingReport, DeliveryReport

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

WIDTH = 1280


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get("LEADPING_SCREENSHOT_DIR")
    folder = Path(named) if named else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _png_width(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big")


def test_report_screenshots(shots: Path, page: Page, tmp_path: Path) -> None:
    emu = Emulator(seed=5, n_leads=120)
    with emu.client() as client:
        frame = client.fetch_events(emu.lead_ids(), EventQuery(page_size=1000)).frame
    kw: dict[str, Any] = {
        "time_zone": "Europe/Berlin",
        "as_of": emu.now,
        "filters": EventQuery(page_size=1000),
        "source": "built-in emulator (seed 5, 120 leads)",
    }
    page.set_viewport_size({"width": WIDTH, "height": 900})
    for name, report in (
        ("delivery_report", DeliveryReport.from_frame(frame, **kw)),
        ("billing_report", BillingReport.from_frame(frame, **kw)),
    ):
        html = report.save(tmp_path / f"{name}.html")
        page.goto(html.as_uri(), wait_until="load")
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        page.locator("#tables").screenshot(path=str(shots / f"{name}_tables.png"))
        page.locator("header").screenshot(path=str(shots / f"{name}_top.png"))
        assert _png_width(shots / f"{name}.png") == WIDTH
    assert page.errors == []  # type: ignore[attr-defined]


def test_dashboard_screenshot(voila_base: str, page: Page, shots: Path) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto(f"{voila_base}voila/render/dashboard.ipynb", wait_until="domcontentloaded")
    picker = page.locator(".lp-picker-options select")
    expect(picker).to_be_visible(timeout=90_000)
    picker.select_option(index=[0, 1, 2])
    page.get_by_role("button", name="Fetch").click()
    expect(page.locator(".lp-status")).to_contain_text("Fetched", timeout=60_000)
    expect(page.locator(".lp-grid .dt-info")).to_contain_text("entries")
    expect(page.locator(".lp-figure-delivery img")).to_be_visible(timeout=60_000)
    page.set_viewport_size({"width": WIDTH, "height": 3000})  # Voilà scrolls inside the page
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    page.locator(".lp-explorer").screenshot(path=str(shots / "dashboard_explorer.png"))
    assert _png_width(shots / "dashboard.png") == WIDTH
    expect(page.locator("[data-mime-type='application/vnd.jupyter.stderr']")).to_have_count(0)
    assert page.errors == []  # type: ignore[attr-defined]
