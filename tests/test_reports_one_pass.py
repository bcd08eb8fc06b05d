"""A report computes its metrics in one pass: one ``pl.collect_all``, no other collect.

Every table and KPI of a report is read from the one result of
:mod:`leadping_nb.metrics._passes`, and the tables still foot to totals from the same
cube (tests/test_reports.py checks the numbers).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from leadping_nb.emulator import events_frame
from leadping_nb.reports import BillingReport, DeliveryReport

AS_OF = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture
def collects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every ``pl.collect_all`` and every ``LazyFrame.collect`` (the eager
    ``DataFrame`` methods do not go through ``LazyFrame.collect``)."""
    calls: list[str] = []
    collect_all, collect = pl.collect_all, pl.LazyFrame.collect

    def counted_all(frames: Any, *args: Any, **kwargs: Any) -> Any:
        frames = list(frames)
        calls.append(f"collect_all({len(frames)})")
        return collect_all(frames, *args, **kwargs)

    def counted(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        calls.append("collect")
        return collect(self, *args, **kwargs)

    monkeypatch.setattr(pl, "collect_all", counted_all)
    monkeypatch.setattr(pl.LazyFrame, "collect", counted)
    return calls


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return events_frame(3, 3000)


def test_the_counter_sees_a_collect(frame: pl.DataFrame, collects: list[str]) -> None:
    """The counter can fail: a frame function on a DataFrame collects once."""
    from leadping_nb import metrics as m

    m.delivery_summary(frame, as_of=AS_OF)
    assert collects == ["collect"]


@pytest.mark.parametrize("by", [None, "campaign_id", "from_phone_number"])
def test_delivery_report_collects_once(frame: pl.DataFrame, collects: list[str], by: Any) -> None:
    report = DeliveryReport.from_frame(frame, as_of=AS_OF, every="day", by=by)
    assert len(collects) == 1, collects
    assert collects[0].startswith("collect_all("), collects
    keys = {t.key for t in report.tables}
    assert {"outcomes", "delivery_by_period", "failures", "engagement_by_source_id"} <= keys or (
        by == "campaign_id" and "engagement_by_campaign_id" in keys
    )
    assert (by is None) == (f"ranking_by_{by}" not in keys)


def test_billing_report_collects_once(frame: pl.DataFrame, collects: list[str]) -> None:
    report = BillingReport.from_frame(frame, as_of=AS_OF, every="week")
    assert collects == ["collect_all(2)"]
    assert report.meta.exclusions.height == 10  # the counts table, from the same pass


def test_the_pass_equals_the_frame_functions(frame: pl.DataFrame) -> None:
    """Every frame of the one pass is the frame function's result, exactly."""
    from polars.testing import assert_frame_equal

    from leadping_nb import metrics as m
    from leadping_nb.metrics._passes import billing_metrics, delivery_metrics

    scope = m.TrafficScope.of(include_test=True)
    kw = {"include_warmup": False, "include_test": True, "include_demo": False}
    tz = "America/New_York"
    d = delivery_metrics(
        frame,
        every="week",
        time_zone=tz,
        scope=scope,
        as_of=AS_OF,
        receipt_timeout=m.RECEIPT_TIMEOUT,
        engagement_by="source_id",
        failure_keys=[pl.col("error_code")],
        rank_by="from_phone_number",
    )
    s = m.summary(frame, as_of=AS_OF, **kw)
    for name in ("outcomes", "delivery", "latency", "retry", "retry_distribution", "billing"):
        assert_frame_equal(getattr(d.summary, name), getattr(s, name))
    assert_frame_equal(d.summary.counts, s.counts)
    per = m.delivery_summary(frame, every="week", time_zone=tz, as_of=AS_OF, **kw)
    assert_frame_equal(d.by_period, per)
    ranking = m.delivery_ranking(frame, by="from_phone_number", as_of=AS_OF, **kw)
    assert d.ranking is not None
    assert_frame_equal(d.ranking, ranking)
    assert d.ranking_reply is not None
    assert_frame_equal(d.ranking_reply, m.reply_summary(frame, by="from_phone_number", **kw))
    for by, got in (("source_id", d.engagement), ((), d.engagement_total)):
        assert_frame_equal(got.reply, m.reply_summary(frame, by=by, **kw))
        assert_frame_equal(got.opt_out, m.opt_out_summary(frame, by=by, **kw))
        assert_frame_equal(got.speed_to_lead, m.speed_to_lead_summary(frame, by=by, **kw))
    assert int(d.failures["n"].sum()) == sum(
        int(s.delivery[f"n_{o}"].item()) for o in ("failed", "undeliverable", "blocked")
    )

    b = billing_metrics(
        frame,
        every="day",
        time_zone=tz,
        scope=scope,
        as_of=AS_OF,
        receipt_timeout=m.RECEIPT_TIMEOUT,
        cost_scale=3,
    )
    assert_frame_equal(b.counts, s.counts)
    assert_frame_equal(b.total, m.billing_summary(frame, by=(), cost_scale=3, **kw))
    assert_frame_equal(
        b.by_period, m.billing_summary(frame, by=(), every="day", time_zone=tz, cost_scale=3, **kw)
    )
    for by, got in (("billing_status", b.by_status), ("campaign_id", b.by_campaign)):
        assert_frame_equal(got, m.billing_summary(frame, by=by, cost_scale=3, **kw))
    assert_frame_equal(b.channels, m.billing_breakdown(frame, cost_scale=3, **kw))
    assert_frame_equal(b.states, m.billing_breakdown(frame, split="billing_state", **kw))
