"""Both HTML reports in headless Chromium: every figure and every table rendered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from leadping_nb import EventQuery
from leadping_nb.emulator import Emulator
from leadping_nb.reports import BillingReport, DeliveryReport

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    emu = Emulator(seed=5, n_leads=25)
    with emu.client() as client:
        frame = client.fetch_events(emu.lead_ids(), EventQuery(page_size=1000)).frame
    out = tmp_path_factory.mktemp("reports")
    kw: dict[str, Any] = {
        "time_zone": "America/Chicago",
        "as_of": emu.now,
        "window": (datetime(2026, 1, 1, tzinfo=UTC), None),
        "source": "emulator seed 5",
    }
    delivery = DeliveryReport.from_frame(frame, **kw)
    billing = BillingReport.from_frame(frame, **kw)
    return {
        "delivery": (delivery.save(out / "delivery_report.html"), delivery),
        "billing": (billing.save(out / "billing_report.html"), billing),
    }


@pytest.mark.parametrize(("kind", "n_figures"), [("delivery", 6), ("billing", 2)])
def test_report_renders_every_figure_and_table(
    kind: str, n_figures: int, reports: dict[str, tuple[Path, Any]], page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    path, report = reports[kind]
    page.goto(path.as_uri(), wait_until="load")
    expect(page.locator("h1")).to_have_text(report.meta.title)

    images = page.locator("figure img")
    expect(images).to_have_count(n_figures)
    sizes = images.evaluate_all(
        "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight,"
        " i.getBoundingClientRect().width])"
    )
    for complete, width, height, shown in sizes:
        assert complete and width > 0 and height > 0 and shown > 0

    tables = page.locator("table.lp-table")
    expect(tables).to_have_count(len(report.tables) + 1)  # + "what was counted"
    for i in range(tables.count()):
        table = tables.nth(i)
        rows = table.locator("tbody tr:not(.lp-empty)")
        assert rows.count() > 0, table.get_attribute("class")
        expect(table.locator("thead th").first).to_be_visible()
    footed = [t for t in report.tables if t.total is not None]
    expect(page.locator("tfoot tr.lp-total")).to_have_count(len(footed))

    cards = page.locator(".lp-kpi")
    expect(cards).to_have_count(len(report.kpis))
    for key, kpi in report.kpis.items():
        expect(page.locator(f"#kpi-{key} .lp-kpi-text")).to_have_text(kpi.text)
    expect(page.locator("[data-meta=time_zone]")).to_contain_text("America/Chicago")
    expect(page.locator("[data-meta=window]")).to_contain_text("2025-12-31 18:00:00 CST")

    shot = tmp_path / f"{kind}_report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert page.errors == []
    assert page.blocked == []


@pytest.mark.parametrize("kind", ["delivery", "billing"])
@pytest.mark.parametrize("width", [1280, 1920])
def test_report_tables_fit_without_a_horizontal_scrollbar(
    kind: str, width: int, reports: dict[str, tuple[Path, Any]], page: Any
) -> None:
    """At 1,280 px (and 1,920), no table is wider than its box and the page does not
    scroll sideways: headers wrap, numbers stay on one line."""
    path, report = reports[kind]
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(path.as_uri(), wait_until="load")
    doc = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert doc[0] <= doc[1], f"the page scrolls sideways: {doc}"
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('.lp-table-block')].map(b => {
             const box = b.querySelector('.lp-scroll'), t = b.querySelector('table');
             return [b.dataset.table, box.scrollWidth, box.clientWidth,
                     t.getBoundingClientRect().width];
           })"""
    )
    assert len(boxes) == len(report.tables) + 1
    too_wide = [b for b in boxes if b[1] > b[2] or b[3] > b[2] + 0.5]
    assert not too_wide, f"tables behind a scrollbar: {too_wide}"
    # a number never breaks over two lines: its text lays out as one line box (a cell may
    # still be tall when a label elsewhere in its row wraps)
    broken = page.evaluate(
        """() => [...document.querySelectorAll('.lp-table td:not(.lp-label)')]
             .filter(td => {
               const r = document.createRange(); r.selectNodeContents(td);
               const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
               return tops.size > 1;
             }).map(td => td.textContent)"""
    )
    assert broken == []
