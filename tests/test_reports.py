"""leadping_nb.reports: KPIs equal the metrics, tables foot exactly, HTML is self-contained."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from leadping_nb import EventQuery
from leadping_nb import metrics as m
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb.emulator import events_frame
from leadping_nb.reports import (
    BillingReport,
    Column,
    DeliveryReport,
    FootingError,
    ReportTable,
    describe_filters,
)

AS_OF = datetime(2026, 11, 1, 12, tzinfo=UTC)
NY = "America/New_York"


class Page(HTMLParser):
    """Collect what the tests read back: KPIs, meta, tables, images, links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.kpis: dict[str, str] = {}
        self.meta: dict[str, str] = {}
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self._table: str | None = None
        self._section = "tbody"
        self._row: list[str] | None = None
        self._meta: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        for key in ("src", "href", "action", "data"):
            if key in a:
                self.urls.append(a[key])
        if "data-kpi" in a:
            self.kpis[a["data-kpi"]] = a["data-value"]
        if "data-meta" in a:
            self._meta = a["data-meta"]
            self.meta[self._meta] = ""
        if "data-table" in a:
            self._table = a["data-table"]
            self.tables[self._table] = {"tbody": [], "tfoot": []}
        if tag in ("tbody", "tfoot"):
            self._section = tag
        if tag == "tr" and self._table:
            self._row = []
        if tag == "td" and self._row is not None:
            self._row.append(a.get("data-value", ""))
        if tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._table and self._row is not None:
            if self._row:
                self.tables[self._table][self._section].append(self._row)
            self._row = None
        if tag == "section" and self._table:
            self._table = None
        if tag == "dd":
            self._meta = None

    def handle_data(self, data: str) -> None:
        if self._meta is not None:
            self.meta[self._meta] += data


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return events_frame(1, 6000)


@pytest.fixture(scope="module")
def delivery(events: pl.DataFrame) -> DeliveryReport:
    return DeliveryReport.from_frame(
        events, time_zone=NY, as_of=AS_OF, source="emulator seed 1", every="week"
    )


@pytest.fixture(scope="module")
def billing(events: pl.DataFrame) -> BillingReport:
    return BillingReport.from_frame(events, time_zone=NY, as_of=AS_OF, every="week")


@pytest.fixture(scope="module")
def delivery_html(delivery: DeliveryReport) -> Page:
    return Page(delivery.to_html())


@pytest.fixture(scope="module")
def billing_html(billing: BillingReport) -> Page:
    return Page(billing.to_html())


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=EVENT_SCHEMA)


# ---------------------------------------------------------------------------------------
# KPIs equal the metrics


def test_delivery_kpis_in_html_equal_metric_functions(
    events: pl.DataFrame, delivery_html: Page
) -> None:
    d = m.delivery_summary(events).row(0, named=True)
    lat = m.latency_summary(events, stages=["end_to_end", "carrier"])
    e2e = lat.filter(pl.col("stage") == "end_to_end").row(0, named=True)
    carrier = lat.filter(pl.col("stage") == "carrier").row(0, named=True)
    r = m.retry_summary(events, as_of=AS_OF).row(0, named=True)
    k = delivery_html.kpis
    assert float(k["delivery_rate"]) == d["delivery_rate"]
    for key in ("n_outbound", "n_delivered", "n_failed", "n_undeliverable", "n_blocked"):
        assert int(k[key]) == d[key], key
    assert float(k["latency_end_to_end_p50_ms"]) == e2e["p50_ms"]
    assert float(k["latency_end_to_end_p90_ms"]) == e2e["p90_ms"]
    assert float(k["latency_end_to_end_p99_ms"]) == e2e["p99_ms"]
    assert float(k["latency_carrier_p50_ms"]) == carrier["p50_ms"]
    assert float(k["share_retried"]) == r["share_retried"]
    assert int(k["n_retry_pending"]) == r["n_retry_pending"]
    assert int(k["n_events"]) == events.height
    assert int(k["n_leads"]) == events["lead_id"].n_unique()
    inbound = m.outcome_counts(events).filter(pl.col("outcome") == "inbound")["n"].item()
    assert int(k["n_inbound"]) == inbound


def test_billing_kpis_in_html_equal_metric_functions(
    events: pl.DataFrame, billing: BillingReport, billing_html: Page
) -> None:
    t = m.billing_summary(events, by=()).row(0, named=True)
    k = billing_html.kpis
    assert Decimal(k["total_amount"]) == t["total_amount"]
    assert k["total_amount"] == format(t["total_amount"], "f")  # exact text, never a float
    assert "cost_per_delivered" not in k  # all money over all deliveries: replaced, below
    scope = {
        "include_warmup": billing.meta.include_warmup,
        "include_test": billing.meta.include_test,
    }
    whole = m.billing_breakdown(events, split=None, **scope).row(0, named=True)
    for key in ("gross_amount", "refunded_amount", "net_amount", "billed_amount", "pending_amount"):
        assert Decimal(k[key]) == whole[key], key
    per = {r["channel"]: r for r in m.billing_breakdown(events, **scope).iter_rows(named=True)}
    for key, channel in (("cost_per_sms", "sms"), ("cost_per_mms", "mms"),
                         ("cost_per_call", "call"), ("cost_per_inbound", "inbound")):  # fmt: skip
        assert Decimal(k[key]) == per[channel]["cost_per_unit"], key
        assert billing.kpis[key].text.startswith("USD ")
    assert int(k["n_billed_events"]) == t["n_used"]
    assert int(k["n_missing_amount"]) == t["n_missing_amount"]
    assert int(k["n_delivered"]) == t["n_delivered"]
    mean = Decimal(k["mean_amount_per_billed_event"])
    assert mean == (t["total_amount"] / t["n_used"]).quantize(Decimal("0.0001"))
    campaigns = (
        m.billing_summary(events, by="campaign_id")
        .filter(pl.col("campaign_id").is_not_null() & (pl.col("total_amount") > 0))
        .height
    )
    assert int(k["n_campaigns_billed"]) == campaigns


# ---------------------------------------------------------------------------------------
# tables foot


def test_billing_tables_foot_exactly_in_data_and_html(
    events: pl.DataFrame, billing: BillingReport, billing_html: Page
) -> None:
    total = m.billing_summary(events, by=()).row(0, named=True)["total_amount"]
    assert isinstance(total, Decimal)
    for t in billing.tables:
        if t.key in ("billing_by_channel", "billing_by_state"):
            continue  # gross, refunded and net: test_billing_breakdown_tables_foot
        full = t.frame()
        assert full.schema["total_amount"] == pl.Decimal(38, 6)
        parts, last = full.head(-1), full.row(-1, named=True)
        assert last["label"] == "Total"
        assert sum(parts["total_amount"].to_list(), Decimal(0)) == last["total_amount"] == total
        for col in ("n_events", "n_used", "n_missing_amount", "n_delivered"):
            assert parts[col].sum() == last[col], (t.key, col)
        html_rows = billing_html.tables[t.key]
        amount_idx = [c.name for c in t.columns[1:]].index("total_amount")
        html_parts = [Decimal(r[amount_idx]) for r in html_rows["tbody"]]
        (foot,) = html_rows["tfoot"]
        assert sum(html_parts, Decimal(0)) == Decimal(foot[amount_idx]) == total
    keys = {t.key for t in billing.tables}
    assert keys == {
        "billing_by_channel",
        "billing_by_state",
        "billing_by_status",
        "billing_by_period",
        "billing_by_campaign",
        "billing_by_event_type",
    }


def test_billing_breakdown_tables_foot(billing: BillingReport, billing_html: Page) -> None:
    for key in ("billing_by_channel", "billing_by_state"):
        t = next(t for t in billing.tables if t.key == key)
        full = t.frame()
        parts, last = full.head(-1), full.row(-1, named=True)
        for col in ("gross_amount", "refunded_amount", "net_amount"):
            assert full.schema[col] == pl.Decimal(38, 6)
            assert sum(parts[col].to_list(), Decimal(0)) == last[col], (key, col)
        assert last["net_amount"] == last["gross_amount"] - last["refunded_amount"]
        assert parts["n_used"].sum() == last["n_used"]
        assert last["n_used"] == billing.kpis["n_billed_events"].value
        html = billing_html.tables[key]
        net = [c.name for c in t.columns[1:]].index("net_amount")
        (foot,) = html["tfoot"]
        assert Decimal(foot[net]) == billing.kpis["net_amount"].value
    states = billing.table("billing_by_state")["label"].to_list()
    assert states == ["Billed", "Pending", "Refunded", "Other", "Total"]  # all, even if zero


def test_billing_report_finance_hand_computed() -> None:
    from tests.test_metrics import finance_fixture

    d = Decimal
    b = BillingReport.from_frame(
        finance_fixture(), include_warmup=False, include_test=False, currency="EUR", as_of=AS_OF
    )
    k = {key: kpi.value for key, kpi in b.kpis.items()}
    assert (k["gross_amount"], k["refunded_amount"], k["net_amount"]) == (
        d("0.1306"), d("0.0370"), d("0.0936"))  # fmt: skip
    assert (k["billed_amount"], k["pending_amount"], k["total_amount"]) == (
        d("0.0946"), d("0.0110"), d("0.1186"))  # fmt: skip
    assert (k["cost_per_sms"], k["cost_per_mms"]) == (d("0.0103"), d("0.0133"))
    assert (k["cost_per_call"], k["cost_per_inbound"]) == (d("0.0280"), d("0.0040"))
    assert b.kpis["net_amount"].text == "EUR 0.0936"
    assert b.kpis["cost_per_sms"].text == "EUR 0.0103"
    assert b.table("billing_by_channel").rows() == [
        ("SMS (outbound)", 5, d("0.0430"), d("0.0120"), d("0.0310"), 3, "delivered message",
         d("0.0103")),
        ("MMS (outbound)", 2, d("0.0516"), d("0.0250"), d("0.0266"), 2, "delivered message",
         d("0.0133")),
        ("Inbound messages", 2, d("0.0080"), d("0"), d("0.0080"), 2, "received message",
         d("0.0040")),
        ("Calls", 1, d("0.0280"), d("0"), d("0.0280"), 1, "charged call", d("0.0280")),
        ("Total", 10, d("0.1306"), d("0.0370"), d("0.0936"), None, None, None),
    ]  # fmt: skip
    assert b.table("billing_by_state").rows() == [
        ("Billed", 7, d("0.0946"), d("0"), d("0.0946")),
        ("Pending", 1, d("0.0110"), d("0"), d("0.0110")),
        ("Refunded", 2, d("0.0250"), d("0.0370"), d("-0.0120")),
        ("Other", 0, d("0"), d("0"), d("0")),
        ("Total", 10, d("0.1306"), d("0.0370"), d("0.0936")),
    ]
    html = b.to_html()
    page = Page(html)
    assert "Net (EUR)" in html and "Net per unit (EUR)" in html and "Amount (EUR)" in html
    assert page.meta["currency"].startswith("EUR")
    assert "USD" not in html
    assert "Amount per delivered message" not in html
    figs = b.figures()
    assert figs["billed_over_time"].axes[0].get_ylabel() == "Billed amount (EUR)"
    assert figs["billed_by_campaign"].axes[0].get_xlabel() == "Billed amount (EUR)"
    assert "EUR 0.1186" in figs["billed_over_time"].axes[0].get_title()


@pytest.mark.parametrize("bad", ["usd", "US", "US$", "EURO", "", " USD"])
def test_billing_report_refuses_a_bad_currency_before_computing(bad: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        BillingReport.from_frame(pl.DataFrame(schema={"x": pl.Int8}), currency=bad)


def test_billing_report_defaults_to_usd(billing: BillingReport, billing_html: Page) -> None:
    assert billing.currency == "USD" == billing.meta.currency
    assert billing_html.meta["currency"].startswith("USD (a setting")
    assert all(
        k.text.startswith("USD ") or k.value is None
        for k in billing.kpis.values()
        if isinstance(k.value, Decimal)
    )


def test_delivery_tables_foot(events: pl.DataFrame, delivery: DeliveryReport) -> None:
    d = m.delivery_summary(events).row(0, named=True)
    per = delivery.table("delivery_by_period")
    assert per.row(-1, named=True)["n_delivered"] == d["n_delivered"]
    assert per.head(-1)["n_delivered"].sum() == d["n_delivered"]
    failures = delivery.table("failures")
    assert failures.head(-1)["n"].sum() == d["n_failed"] + d["n_undeliverable"] + d["n_blocked"]
    outcomes = delivery.table("outcomes")
    assert outcomes.head(-1)["n"].sum() == outcomes.row(-1, named=True)["n"]
    latency = delivery.table("latency")
    assert latency["label"].to_list() == list(m.STAGES)


def test_a_table_that_does_not_foot_is_refused() -> None:
    cols = (Column("label", "Key", "label"), Column("amt", "Amount", "money", foots=True))
    rows = pl.DataFrame(
        {"label": ["a", "b"], "amt": [Decimal("0.1"), Decimal("0.2")]},
        schema={"label": pl.String, "amt": pl.Decimal(38, 6)},
    )
    good = pl.DataFrame(
        {"label": ["Total"], "amt": [Decimal("0.3")]}, schema=rows.schema
    )  # exact: a float sum would give 0.30000000000000004
    assert ReportTable("t", "T", cols, rows, good).frame().height == 3
    bad = good.with_columns(pl.lit(Decimal("0.31")).cast(pl.Decimal(38, 6)).alias("amt"))
    with pytest.raises(FootingError, match=r"add up to 0\.3"):
        ReportTable("t", "T", cols, rows, bad)
    with pytest.raises(ValueError, match="rows have"):
        ReportTable("t", "T", cols, rows.rename({"amt": "x"}), good)


# ---------------------------------------------------------------------------------------
# metadata, window, filters


def test_metadata_is_stated(delivery: DeliveryReport, delivery_html: Page) -> None:
    meta = delivery_html.meta
    assert meta["window"].strip() == "all the data given (no window)"
    assert meta["leads"].strip().startswith(f"{len(delivery.meta.leads):,}")
    assert "lead_" in meta["leads-list"]
    assert meta["filters"].strip() == "none"
    assert meta["time_zone"].strip() == f"{NY} (periods: week)"
    assert "warm-up events excluded" in meta["exclusions"]
    assert f"{delivery.meta.n_warmup:,} warm-up" in meta["exclusions"]
    assert meta["source"].strip() == "emulator seed 1"
    assert delivery.meta.produced_at.strftime("%Y-%m-%d %H:%M:%S UTC") in meta["produced_at"]
    assert "E" in meta["span"]  # EST/EDT: dates shown in the report's zone
    assert delivery.meta.exclusions["metric"].to_list()[0] == "outcome"


def test_both_reports_state_the_traffic_scope(
    delivery_html: Page, billing_html: Page, events: pl.DataFrame
) -> None:
    label = "customer traffic (warm-up, test and demo excluded)"
    for page in (delivery_html, billing_html):
        assert page.meta["scope"].strip() == label
        assert "demo events excluded" in page.meta["exclusions"]
    wide = BillingReport.from_frame(events, as_of=AS_OF, include_demo=True, include_test=True)
    assert Page(wide.to_html()).meta["scope"].strip() == (
        "customer, test and demo traffic (warm-up excluded)"
    )
    assert wide.meta.scope == m.TrafficScope(test=True, demo=True)


@pytest.mark.parametrize(
    "flags",
    [{}, {"include_warmup": True}, {"include_warmup": True, "include_test": True,
                                    "include_demo": True}],
)  # fmt: skip
def test_delivered_and_billed_totals_foot_across_the_two_reports(
    events: pl.DataFrame, flags: dict[str, bool]
) -> None:
    d = DeliveryReport.from_frame(events, as_of=AS_OF, **flags)
    b = BillingReport.from_frame(events, as_of=AS_OF, **flags)
    assert d.meta.scope == b.meta.scope == m.TrafficScope.of(**flags)
    delivered = d.kpis["n_delivered"].value
    assert delivered == d.table("delivery_by_period")["n_delivered"][-1]  # the total row
    assert delivered == b.total["n_delivered"].item()
    for key in ("billing_by_status", "billing_by_campaign", "billing_by_period"):
        table = b.table(key)
        assert table["n_delivered"][-1] == delivered, key
        assert table["total_amount"][-1] == b.kpis["total_amount"].value, key
    # one billed total per scope: the summary behind the delivery report bills the same
    assert d.summary.billing_total["total_amount"].item() == b.kpis["total_amount"].value
    assert d.summary.billing_total["n_delivered"].item() == delivered
    scoped = events.filter(m.is_countable_traffic(**flags))
    exact = sum(a for a in scoped["billable_amount"].to_list() if a is not None)
    assert b.kpis["total_amount"].value == exact


def test_customer_scope_leaves_out_warmup_test_and_demo_deliveries(events: pl.DataFrame) -> None:
    customer = DeliveryReport.from_frame(events, as_of=AS_OF).kpis["n_delivered"].value
    every = {"include_warmup": True, "include_test": True, "include_demo": True}
    everything = DeliveryReport.from_frame(events, as_of=AS_OF, **every).kpis["n_delivered"]
    kinds = m.is_warmup_traffic() | m.is_test_traffic() | m.is_demo_traffic()
    n_other = events.filter(kinds & m.is_outbound() & pl.col("delivered_at").is_not_null()).height
    assert n_other > 0
    assert everything.value == customer + n_other


def test_latency_table_shows_durations_with_units(delivery: DeliveryReport) -> None:
    table = next(t for t in delivery.tables if t.key == "latency")
    assert {c.label for c in table.columns} >= {"p50", "Max"}  # each cell carries its unit
    html = delivery.to_html()
    assert re.search(r">\s*[\d.,]+ (ms|s|min|h|d)\s*<", html)
    assert "59,361,031.0" not in html and not re.search(r">\s*\d{1,3}(,\d{3}){2,}\.\d\s*<", html)
    stages = table.rows["label"].to_list()
    assert "to_failure" in stages


def test_delivery_table_shows_blocked_no_receipt_and_both_rates(
    delivery: DeliveryReport,
) -> None:
    t = delivery.table("delivery_by_period")
    for col in ("n_blocked", "n_no_receipt", "n_sent", "delivery_rate", "sent_delivery_rate"):
        assert col in t.columns
    d = delivery.summary.delivery.row(0, named=True)
    assert t["n_blocked"][-1] == d["n_blocked"] > 0
    assert delivery.kpis["sent_delivery_rate"].value == d["sent_delivery_rate"]
    final = sum(d[f"n_{o}"] for o in m.FINAL_OUTCOMES)
    assert delivery.kpis["delivery_rate"].value == d["n_delivered"] / final


def test_window_drops_and_counts_events_outside(events: pl.DataFrame) -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    end = datetime(2026, 7, 1, tzinfo=UTC)
    q = EventQuery(filters={"direction": "Outbound"})
    report = DeliveryReport.from_frame(events, window=(start, end), filters=q, as_of=AS_OF)
    inside = events.filter((pl.col("created_at") >= start) & (pl.col("created_at") < end))
    assert report.meta.n_events == inside.height == report.frame.height
    assert report.meta.n_outside_window == events.height - inside.height
    assert report.kpis["n_events"].value == inside.height
    assert report.kpis["delivery_rate"].value == m.delivery_summary(inside)["delivery_rate"].item()
    page = Page(report.to_html())
    assert "2026-05-01 00:00:00 UTC" in page.meta["window"]
    assert "2026-07-01 00:00:00 UTC" in page.meta["window"]
    assert page.meta["filters"].strip() == "direction = Outbound"
    assert f"{report.meta.n_outside_window:,} events outside the window" in page.meta["exclusions"]
    with pytest.raises(ValueError, match="timezone-aware"):
        DeliveryReport.from_frame(events, window=(datetime(2026, 5, 1), None))
    with pytest.raises(ValueError, match="before"):
        DeliveryReport.from_frame(events, window=(end, start))
    with pytest.raises(ValueError, match="time zone"):
        BillingReport.from_frame(events, time_zone="Nowhere/Never")


def test_describe_filters() -> None:
    q = EventQuery(
        filters={"direction": "Outbound"},
        range_filters={"createdAt": {"ge": datetime(2024, 5, 1, tzinfo=UTC)}},
        search="stop",
        search_fields=["summary"],
    )
    assert describe_filters(q) == (
        "direction = Outbound; createdAt ≥ 2024-05-01T00:00:00Z; search 'stop' in summary"
    )
    assert describe_filters("custom text") == "custom text"
    assert describe_filters(EventQuery()) == "none"


def test_requested_leads_are_listed_even_without_events(events: pl.DataFrame) -> None:
    report = BillingReport.from_frame(events, leads=["lead_zzz", "lead_0001", "lead_zzz"])
    assert report.meta.leads == ("lead_zzz", "lead_0001")


# ---------------------------------------------------------------------------------------
# HTML


def test_html_is_self_contained(delivery_html: Page, billing_html: Page) -> None:
    for page, n_figures in ((delivery_html, 6), (billing_html, 2)):
        assert len(page.images) == n_figures
        for img in page.images:
            assert img["src"].startswith("data:image/png;base64,")
            assert img["alt"]
        assert all(u.startswith("data:") for u in page.urls), page.urls
        assert "script" not in page.tags and "link" not in page.tags
        assert "iframe" not in page.tags


def test_html_has_no_remote_reference_anywhere(delivery: DeliveryReport) -> None:
    text = delivery.to_html()
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text.split("base64,")[0])
    assert "@import" not in text and "url(" not in text


def test_text_is_escaped(events: pl.DataFrame) -> None:
    report = DeliveryReport.from_frame(
        events.head(50), source="<script>alert(1)</script>", title="A & B"
    )
    text = report.to_html()
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<title>A &amp; B</title>" in text


def test_repr_html_is_a_fragment(delivery: DeliveryReport) -> None:
    fragment = delivery._repr_html_()
    assert "<html" not in fragment and "<!DOCTYPE" not in fragment
    page = Page(fragment)
    assert page.kpis.keys() == delivery.kpis.keys()
    assert len(page.images) == 6
    assert "DeliveryReport(events=6,000" in repr(delivery)


def test_save_is_atomic_and_complete(billing: BillingReport, tmp_path: Path) -> None:
    target = tmp_path / "out" / "billing.html"
    assert billing.save(target) == target
    assert sorted(p.name for p in target.parent.iterdir()) == ["billing.html"]
    text = target.read_text(encoding="utf-8")
    assert text.rstrip().endswith("</html>")
    assert Page(text).kpis == Page(billing.to_html()).kpis
    target.write_text("old")
    billing.save(target)
    assert target.read_text(encoding="utf-8") != "old"


def test_money_cells_are_exact_decimal_text(billing: BillingReport) -> None:
    text = billing.to_html()
    total = billing.kpis["total_amount"].value
    assert isinstance(total, Decimal)
    shown = billing.kpis["total_amount"].text
    code, number = shown.split(" ")
    assert code == "USD" and Decimal(number.replace(",", "")) == total
    assert re.fullmatch(r"USD -?[\d,]+\.\d{4,}", shown)  # one form: code, 4+ places
    assert f'data-value="{format(total, "f")}"' in text


def test_empty_frame_renders(tmp_path: Path) -> None:
    empty = pl.DataFrame(schema=EVENT_SCHEMA)
    d = DeliveryReport.from_frame(empty, as_of=AS_OF)
    b = BillingReport.from_frame(empty, as_of=AS_OF)
    assert d.kpis["delivery_rate"].value is None
    assert d.kpis["delivery_rate"].text == "—"
    assert b.kpis["total_amount"].value == Decimal(0)
    for report in (d, b):
        page = Page(report.to_html())
        assert page.images and "No rows" in report.to_html()
        report.save(tmp_path / f"{report.kind}.html")


def test_one_event_report() -> None:
    t = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    one = pl.DataFrame(
        [
            {
                "id": "e1",
                "lead_id": "lead_1",
                "event_type": "Sms",
                "direction": "Outbound",
                "created_at": t,
                "queued_at": t,
                "delivered_at": t + timedelta(seconds=2),
                "billing_status": "Billed",
                "billable_amount": Decimal("0.0079"),
                "campaign_id": "cmp_1",
                "retry_count": 0,
            }
        ],
        schema=EVENT_SCHEMA,
    )
    d = DeliveryReport.from_frame(one, time_zone=NY, as_of=AS_OF)
    assert d.kpis["delivery_rate"].value == 1.0
    assert d.kpis["latency_end_to_end_p50_ms"].value == 2000.0
    assert d.table("delivery_by_period")["label"].to_list() == ["2026-03-08", "Total"]
    b = BillingReport.from_frame(one, time_zone=NY, as_of=AS_OF)
    assert b.kpis["total_amount"].text == "USD 0.0079"
    assert b.kpis["cost_per_sms"].text == "USD 0.0079"
    assert b.table("billing_by_campaign").rows() == [
        ("cmp_1", 1, 1, 0, Decimal("0.0079"), 1),
        ("Total", 1, 1, 0, Decimal("0.0079"), 1),
    ]


def test_monthly_periods(events: pl.DataFrame) -> None:
    b = BillingReport.from_frame(events, every="month", time_zone=NY, as_of=AS_OF)
    labels = b.table("billing_by_period")["label"].to_list()
    assert all(re.fullmatch(r"\d{4}-\d{2}", x) for x in labels[:-1])
    assert labels[-1] == "Total"


def test_lazyframe_input(events: pl.DataFrame) -> None:
    a = BillingReport.from_frame(events.lazy(), as_of=AS_OF)
    b = BillingReport.from_frame(events, as_of=AS_OF)
    assert a.kpis == b.kpis
    assert a.table("billing_by_status").equals(b.table("billing_by_status"))


def test_one_failure_table_pairs_error_code_and_status_reason() -> None:
    """Hand-computed: 3 x (40001, Not routable), 1 x (40001, Blocked), 1 x (no code,
    Spam) failed; one delivered message and one inbound message are out of scope."""
    t = datetime(2026, 5, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = [
        {
            "id": f"f{i}",
            "direction": "Outbound",
            "event_type": "Sms",
            "failed_at": t,
            "created_at": t,
            "error_code": code,
            "status_reason": reason,
        }
        for i, (code, reason) in enumerate(
            [("40001", "Not routable")] * 3 + [("40001", "Blocked"), (None, "Spam")]
        )
    ]
    rows.append(
        {
            "id": "d",
            "direction": "Outbound",
            "event_type": "Sms",
            "created_at": t,
            "delivered_at": t,
        }
    )
    rows.append(
        {
            "id": "i",
            "direction": "Inbound",
            "event_type": "Sms",
            "created_at": t,
            "error_code": "40001",
            "status_reason": "Not routable",
        }
    )
    frame = pl.DataFrame(rows, schema=EVENT_SCHEMA)
    report = DeliveryReport.from_frame(frame, as_of=AS_OF)
    assert [t.key for t in report.tables].count("failures") == 1
    assert not any(t.key.startswith("failures_by_") for t in report.tables)
    table = report.table("failures")
    assert table.columns == ["label", "status_reason", "n", "share", "cumulative_share"]
    assert table.rows() == [
        ("40001", "Not routable", 3, 0.6, 0.6),
        ("(not given)", "Spam", 1, 0.2, 0.8),
        ("40001", "Blocked", 1, 0.2, 1.0),
        ("Total", "", 5, 1.0, 1.0),
    ]
    assert set(report.figures()) == {
        "volume_by_outcome",
        "delivery_rate",
        "latency_ecdf",
        "latency_histogram",
        "failures",
        "retries",
    }


def test_reports_record_their_provenance(events: pl.DataFrame) -> None:
    from leadping_nb import __version__

    window = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    query = EventQuery(filters={"direction": "Outbound"})
    for cls in (DeliveryReport, BillingReport):
        report = cls.from_frame(
            events,
            window=window,
            filters=query,
            as_of=AS_OF,
            source="Leadping API at https://me:pw@api.example.com/?api_key=k",
            store_version=3,
        )
        p = report.meta.provenance()
        assert p["source"] == "Leadping API at https://***@api.example.com/"
        assert p["window"] == "[2026-01-01T00:00:00Z, 2026-02-01T00:00:00Z) on created_at"
        assert p["query"] == "direction = Outbound"
        assert p["store_version"] == "3" and report.meta.store_version == 3
        assert p["package_version"] == __version__ == report.meta.package_version
        assert p["built_at"] == report.meta.produced_at.isoformat().replace("+00:00", "Z")
        page = Page(report.to_html())
        assert page.meta["source"].strip() == p["source"]
        assert page.meta["store_version"].strip() == "3"
        assert page.meta["package_version"].strip() == f"leadping_nb {__version__}"
        assert page.meta["filters"].strip() == "direction = Outbound"
