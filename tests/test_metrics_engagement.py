"""Hand-computed fixtures for the engagement metrics and the delivery ranking
(docs/metrics.md, "Engagement" and "Rankings")."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from leadping_nb import metrics as m
from leadping_nb._core.schema import EVENT_SCHEMA

T = datetime(2024, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    df = pl.DataFrame(list(rows), schema=EVENT_SCHEMA)
    assert df.schema == EVENT_SCHEMA
    return df


def out(lead: str | None, campaign: str | None, at: datetime, **kw: Any) -> dict[str, Any]:
    """A delivered outbound SMS of ``lead`` (override anything)."""
    return {"lead_id": lead, "campaign_id": campaign, "event_type": "Sms",
            "direction": "Outbound", "created_at": at, "delivered_at": at, **kw}  # fmt: skip


def inbound(lead: str, at: datetime | None, **kw: Any) -> dict[str, Any]:
    return {"lead_id": lead, "event_type": "Sms", "direction": "Inbound", "created_at": at,
            "received_at": at, **kw}  # fmt: skip


def by_key(df: pl.DataFrame, key: str) -> dict[Any, dict[str, Any]]:
    return {r.pop(key): r for r in df.iter_rows(named=True)}


# --------------------------------------------------------------------------------------
# reply rate

REPLIES = frame(
    out("a", "c1", T),  # E1: superseded by E2 before the reply
    out("a", "c1", T + H),  # E2: answered by E3
    inbound("a", T + 2 * H),  # E3
    out("a", "c2", T + 10 * H),  # E4: answered at exactly 24 h (inclusive)
    inbound("a", T + 34 * H),  # E5
    out("b", "c2", T),  # E6 and E7 share a delivery time: one reply answers both
    out("b", "c2", T),  # E7
    inbound("b", T + timedelta(minutes=5)),  # E8
    out("c", "c1", T),  # E9: the reply comes 1 µs too late
    inbound("c", T + 24 * H + US),  # E10
    out("d", "c1", T + H),  # E11: a reply at the same instant is not after it
    inbound("d", T + H),  # E12
    out("e", "c1", T, delivered_at=None, failed_at=T),  # E13: failed, not in the denominator
    inbound("e", T + timedelta(minutes=1)),  # E14: answers nothing delivered
    out(None, "c1", T),  # E15: delivered, no lead
    out("f", "c1", T),  # E16: only a warm-up inbound follows
    inbound("f", T + timedelta(minutes=1), traffic_type="Warmup"),  # E17
    out("g", "c2", T),  # E18: the reply has no received_at, only created_at
    inbound("g", None, created_at=T + timedelta(minutes=30)),  # E19
)


def test_reply_rate_by_campaign_hand_computed() -> None:
    got = by_key(m.reply_summary(REPLIES, by="campaign_id"), "campaign_id")
    assert got == {
        "c1": {"n_events": 7, "n_used": 5, "n_excluded": 2, "n_outbound": 7,
               "n_not_delivered": 1, "n_missing_lead": 1, "n_replied": 1, "reply_rate": 0.2},
        "c2": {"n_events": 4, "n_used": 4, "n_excluded": 0, "n_outbound": 4,
               "n_not_delivered": 0, "n_missing_lead": 0, "n_replied": 4, "reply_rate": 1.0},
        None: {"n_events": 8, "n_used": 0, "n_excluded": 8, "n_outbound": 0,
               "n_not_delivered": 0, "n_missing_lead": 0, "n_replied": 0, "reply_rate": None},
    }  # fmt: skip


def test_reply_window_and_traffic_scope() -> None:
    warm = by_key(m.reply_summary(REPLIES, by="campaign_id", include_warmup=True), "campaign_id")
    assert (warm["c1"]["n_replied"], warm["c1"]["reply_rate"]) == (2, 0.4)  # E16 now replied
    ten = timedelta(minutes=10)
    short = by_key(m.reply_summary(REPLIES, by="campaign_id", reply_window=ten), "campaign_id")
    # within 10 minutes: E6 and E7 (5 min); not E2 (1 h), E4 (24 h), E18 (30 min)
    assert (short["c1"]["n_replied"], short["c2"]["n_replied"]) == (0, 2)
    whole = m.reply_summary(REPLIES).row(0, named=True)
    assert (whole["n_events"], whole["n_used"], whole["n_replied"]) == (19, 9, 5)
    assert whole["reply_rate"] == 5 / 9


def test_reply_summary_lazy_equals_eager_and_validates() -> None:
    eager = m.reply_summary(REPLIES, by="campaign_id", every="day", time_zone="Europe/Berlin")
    lazy = m.reply_summary(REPLIES.lazy(), by="campaign_id", every="day", time_zone="Europe/Berlin")
    assert eager.equals(lazy.collect())
    assert eager.columns[:2] == ["period", "campaign_id"]
    with pytest.raises(ValueError, match="window"):
        m.reply_summary(REPLIES, reply_window=timedelta(0))
    with pytest.raises(TypeError, match="timedelta"):
        m.reply_summary(REPLIES, reply_window=24)  # type: ignore[arg-type]


def test_reply_summary_of_no_events_has_one_empty_row() -> None:
    row = m.reply_summary(REPLIES.clear()).row(0, named=True)
    assert row == {"n_events": 0, "n_used": 0, "n_excluded": 0, "n_outbound": 0,
                   "n_not_delivered": 0, "n_missing_lead": 0, "n_replied": 0,
                   "reply_rate": None}  # fmt: skip
    assert m.reply_summary(REPLIES.clear(), by="campaign_id").height == 0


# --------------------------------------------------------------------------------------
# opt-out rate

OPT_OUTS = frame(
    out("a", "c1", T),
    inbound("a", T + H, summary="STOP", compliance_action="OptOutRecorded"),  # a opted out
    out("b", "c1", T),
    out("b", "c2", T),
    {"lead_id": "b", "event_type": "LeadStatusChange", "status": "opted OUT"},  # any case
    out("c", "c1", T),
    out("c", "c1", T, delivered_at=None, blocked_at=T, compliance_action="OptOutSuppressed"),
    out("d", "c2", T),
    out("d", "c2", T, compliance_action="OptOutFooterAppended"),  # not a signal
    out("e", "c2", T),
    out("e", "c2", T, delivered_at=None, canceled_at=T, cancel_reason="LeadOptedOut"),
    out("f", "c1", T),
    inbound("f", T, compliance_action="OptOutRecorded", traffic_type="Test"),  # test traffic
    out("g", "c1", T, delivered_at=None, failed_at=T),  # never delivered: not contacted
    inbound("g", T, campaign_id="c1", compliance_action="OptOutRecorded"),
)


def test_opt_out_rate_by_campaign_hand_computed() -> None:
    got = by_key(m.opt_out_summary(OPT_OUTS, by="campaign_id"), "campaign_id")
    # c1: 7 events; contacted a, b, c, f; opted out a, b, c; signals: c's block, g's STOP.
    # c2: 5 events; contacted b, d, e; opted out b, e; signal: e's cancel.
    assert got == {
        "c1": {"n_events": 7, "n_used": 4, "n_excluded": 3, "n_opt_out_events": 2,
               "n_opted_out": 3, "opt_out_rate": 0.75},
        "c2": {"n_events": 5, "n_used": 3, "n_excluded": 2, "n_opt_out_events": 1,
               "n_opted_out": 2, "opt_out_rate": 2 / 3},
        None: {"n_events": 3, "n_used": 0, "n_excluded": 3, "n_opt_out_events": 2,
               "n_opted_out": 0, "opt_out_rate": None},
    }  # fmt: skip
    with_test = by_key(
        m.opt_out_summary(OPT_OUTS, by="campaign_id", include_test=True), "campaign_id"
    )
    assert with_test["c1"]["n_opted_out"] == 4  # f's test-traffic STOP now counts
    whole = m.opt_out_summary(OPT_OUTS).row(0, named=True)
    assert (whole["n_used"], whole["n_opted_out"], whole["n_opt_out_events"]) == (6, 4, 5)


# --------------------------------------------------------------------------------------
# speed to lead


def created(lead: str, source: str | None, at: datetime) -> dict[str, Any]:
    return {"lead_id": lead, "source_id": source, "event_type": "LeadCreated",
            "timeline_type": "LeadCreated", "created_at": at}  # fmt: skip


def first_sms(lead: str, source: str | None, at: datetime, **kw: Any) -> dict[str, Any]:
    return {"lead_id": lead, "source_id": source, "event_type": "Sms", "direction": "Outbound",
            "created_at": at, "queued_at": at, **kw}  # fmt: skip


MIN = timedelta(minutes=1)
LEADS = frame(
    created("a", "s1", T),
    first_sms("a", "s1", T + timedelta(seconds=30)),  # 30 s
    created("b", "s1", T),
    first_sms("b", "s1", T + 5 * MIN),  # exactly 5 min: within (inclusive)
    first_sms("b", "s1", T + MIN, traffic_type="Warmup"),  # warm-up: not the first message
    created("c", "s1", T),
    created("c", "s2", T + H),  # a later duplicate creation: the earliest counts
    first_sms("c", "s1", T + 20 * MIN),  # 20 min
    created("d", "s2", T),  # never contacted
    created("e", "s2", T + H),
    first_sms("e", "s2", T),  # before the creation: negative
    created("f", None, T),
    first_sms("f", "s2", T + 2 * MIN),  # counted in s2, the group of its first message
)


def test_speed_to_lead_by_source_hand_computed() -> None:
    got = by_key(m.speed_to_lead_summary(LEADS, by="source_id"), "source_id")
    # s1: 30 000, 300 000, 1 200 000 ms; p90: h = 2·0.9 = 1.8 -> x1 + 0.8·(x2 − x1)
    p90 = 300_000.0 + (2 * 0.9 - 1) * (1_200_000.0 - 300_000.0)
    assert p90 == pytest.approx(1_020_000.0)
    assert got == {
        "s1": {"n_events": 7, "n_used": 3, "n_excluded": 4, "n_leads": 3, "n_not_contacted": 0,
               "n_negative": 0, "n_within": 2, "share_within": 2 / 3, "p50_ms": 300_000.0,
               "p90_ms": p90},
        "s2": {"n_events": 5, "n_used": 1, "n_excluded": 4, "n_leads": 3, "n_not_contacted": 1,
               "n_negative": 1, "n_within": 1, "share_within": 1.0, "p50_ms": 120_000.0,
               "p90_ms": 120_000.0},
        None: {"n_events": 1, "n_used": 0, "n_excluded": 1, "n_leads": 0, "n_not_contacted": 0,
               "n_negative": 0, "n_within": 0, "share_within": None, "p50_ms": None,
               "p90_ms": None},
    }  # fmt: skip


def test_speed_to_lead_threshold_and_lazy() -> None:
    tight = m.speed_to_lead_summary(LEADS, within=timedelta(seconds=30)).row(0, named=True)
    assert (tight["n_used"], tight["n_within"]) == (4, 1)  # only a's 30 s
    lazy = m.speed_to_lead_summary(LEADS.lazy(), by="source_id", every="week").collect()
    assert lazy.equals(m.speed_to_lead_summary(LEADS, by="source_id", every="week"))
    with pytest.raises(ValueError, match="within"):
        m.speed_to_lead_summary(LEADS, within=-MIN)


def test_emulator_leads_start_with_lead_created_and_a_quick_message() -> None:
    from leadping_nb.emulator import events_frame

    s = m.speed_to_lead_summary(events_frame(0, 3000)).row(0, named=True)
    assert s["n_leads"] > 0 and s["n_used"] == s["n_leads"]
    assert s["p50_ms"] is not None and s["p50_ms"] < 5 * 60_000


# --------------------------------------------------------------------------------------
# Wilson bounds and the ranking


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = (z / d) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, c - h), min(1.0, c + h)


def test_wilson_bounds_hand_computed() -> None:
    # 40 of 50: p = 0.8, z² = 3.8414588, d = 1 + z²/50 = 1.0768292,
    # c = (0.8 + z²/100) / d = 0.8384146 / 1.0768292 = 0.7785957,
    # h = (z / d) · √(0.16/50 + z²/10000) = 1.8201 · √0.0035841 = 0.1089668 -> [0.6696, 0.8876]
    lo, hi = wilson_by_hand(40, 50)
    assert (round(lo, 4), round(hi, 4)) == (0.6696, 0.8876)
    df = pl.DataFrame({"k": [40, 0, 3, 0], "n": [50, 3, 3, 0]})
    low, high = m.wilson_bounds("k", "n")
    got = df.select(low, high).rows()
    assert got[0] == pytest.approx((lo, hi), rel=1e-15)
    assert got[1][0] == 0.0 and got[2][1] == 1.0  # clipped to [0, 1]
    assert got[3] == (None, None)


def campaign(
    name: str, delivered: int, failed: int, undeliverable: int = 0
) -> list[dict[str, Any]]:
    rows = [out("l", name, T)] * delivered
    rows += [out("l", name, T, delivered_at=None, failed_at=T)] * failed
    rows += [out("l", name, T, delivered_at=None, undeliverable_at=T)] * undeliverable
    return rows


def test_ranking_worst_first_by_wilson_upper_bound_with_a_volume_floor() -> None:
    df = frame(
        *campaign("big_bad", 40, 8, 2),  # 0.80 of 50
        *campaign("big_ok", 460, 40),  # 0.92 of 500: upper 0.9407
        *campaign("mid", 28, 2),  # 0.933 of 30: upper 0.9815 (few messages, wide interval)
        *campaign("tiny", 0, 3),  # 0 of 3: too few to rank
        *campaign("tiny2", 1, 0),
    )
    r = m.delivery_ranking(df, by="campaign_id", min_volume=30)
    assert r["campaign_id"].to_list() == ["big_bad", "big_ok", "mid", "tiny", "tiny2"]
    assert r["rank"].to_list() == [1, 2, 3, None, None]
    assert r["rankable"].to_list() == [True, True, True, False, False]
    assert r["n_failures"].to_list() == [10, 40, 2, 3, 0]
    # by rate alone "mid" (0.933) would rank above "big_ok" (0.92); its upper bound is higher
    hi = {row["campaign_id"]: row["wilson_high"] for row in r.iter_rows(named=True)}
    assert hi["big_ok"] == pytest.approx(wilson_by_hand(460, 500)[1], rel=1e-15)
    assert hi["mid"] == pytest.approx(wilson_by_hand(28, 30)[1], rel=1e-15)
    assert round(hi["big_ok"], 4) == 0.9407 and round(hi["mid"], 4) == 0.9815
    assert hi["big_ok"] < hi["mid"]
    # the floor is a parameter: at 31 "mid" is listed apart too
    apart = m.delivery_ranking(df.lazy(), by="campaign_id", min_volume=31).collect()
    assert apart["rank"].to_list() == [1, 2, None, None, None]
    assert apart["campaign_id"].to_list() == ["big_bad", "big_ok", "mid", "tiny", "tiny2"]
    with pytest.raises(ValueError, match="min_volume"):
        m.delivery_ranking(df, by="campaign_id", min_volume=0)
    with pytest.raises(ValueError, match="by"):
        m.delivery_ranking(df, by=())


# --------------------------------------------------------------------------------------
# the delivery report and the CLI


@pytest.fixture(scope="module")
def emulated() -> pl.DataFrame:
    from leadping_nb.emulator import events_frame

    return events_frame(0, 4000)


def test_delivery_report_shows_engagement_equal_to_the_metric_functions(
    emulated: pl.DataFrame,
) -> None:
    from leadping_nb.reports import DeliveryReport

    report = DeliveryReport.from_frame(emulated, as_of=T)
    reply, opt = m.reply_summary(emulated), m.opt_out_summary(emulated)
    speed = m.speed_to_lead_summary(emulated)
    assert report.kpis["reply_rate"].value == reply["reply_rate"].item()
    assert report.kpis["opt_out_rate"].value == opt["opt_out_rate"].item()
    assert report.kpis["speed_to_lead_p50_ms"].value == speed["p50_ms"].item()
    assert report.kpis["speed_to_lead_p90_ms"].value == speed["p90_ms"].item()
    assert report.kpis["speed_to_lead_share_within"].value == speed["share_within"].item()
    table = report.table("engagement_by_source_id")  # foots: verified when built
    per = m.reply_summary(emulated, by="source_id").sort("source_id", nulls_last=True)
    assert table["n_replied"].to_list()[:-1] == per["n_replied"].to_list()
    assert table["label"].to_list()[-1] == "Total"
    assert not any(t.key.startswith("ranking_") for t in report.tables)  # only with by=
    html = report.to_html()
    assert 'data-table="engagement_by_source_id"' in html
    assert 'data-kpi="reply_rate"' in html


@pytest.mark.parametrize("by", ["campaign_id", "from_phone_number", "source_id"])
def test_delivery_report_ranks_worst_first_and_lists_small_groups_apart(
    emulated: pl.DataFrame, by: str
) -> None:
    from leadping_nb.reports import DeliveryReport

    report = DeliveryReport.from_frame(emulated, by=by, min_volume=50, as_of=T)  # type: ignore[arg-type]
    ranking = m.delivery_ranking(emulated, by=by, min_volume=50, as_of=T)
    ranked = report.table(f"ranking_by_{by}")
    few = report.table(f"too_few_to_rank_by_{by}")
    want = ranking.filter(pl.col("rankable"))
    assert ranked["rank"].to_list() == list(range(1, want.height + 1))
    assert ranked["wilson_high"].to_list() == want["wilson_high"].to_list()
    assert ranked["wilson_high"].is_sorted()
    assert (ranked["n_used"] >= 50).all() and (few["n_used"] < 50).all()
    assert ranked.height + few.height == ranking.height
    assert few["rank"].null_count() == few.height
    engagement = "campaign_id" if by == "campaign_id" else "source_id"
    assert any(t.key == f"engagement_by_{engagement}" for t in report.tables)
    html = report.to_html()
    assert f'data-table="ranking_by_{by}"' in html
    assert f'data-table="too_few_to_rank_by_{by}"' in html
    assert "Wilson interval" in html


def test_delivery_report_refuses_an_unknown_ranking_column(emulated: pl.DataFrame) -> None:
    from leadping_nb.reports import DeliveryReport

    with pytest.raises(ValueError, match="by must be one of"):
        DeliveryReport.from_frame(emulated, by="lead_id")  # type: ignore[arg-type]


def test_cli_report_by_campaign(tmp_path: Any) -> None:
    from leadping_nb.cli import main

    args = ["report", "--emulator", "--emulator-leads", "8", "--kind", "delivery", "--no-progress"]
    args += ["--by", "campaign_id", "--min-volume", "20", "-o", str(tmp_path)]
    assert main(args) == 0
    html = (tmp_path / "delivery_report.html").read_text(encoding="utf-8")
    assert 'data-table="ranking_by_campaign_id"' in html
    assert "fewer than 20 final outcomes" in html
    assert main([*args[:-2], "--min-volume", "0", "-o", str(tmp_path)]) == 2
