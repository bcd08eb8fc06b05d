"""The delivery report's engagement and ranking tables and KPIs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import polars as pl

from leadping_nb import metrics as m
from leadping_nb._core.format import fmt_duration as _fmt_duration
from leadping_nb._core.format import (
    fmt_rate,
)
from leadping_nb.metrics._passes import Engagement
from leadping_nb.reports._base import (
    _TOTAL,
    KPI,
    Column,
    ReportTable,
    _first,
    _kpi,
)

if TYPE_CHECKING:
    pass


# ---------------------------------------------------------------------------------------
# engagement and rankings (delivery report)

#: The columns :meth:`DeliveryReport.from_frame` can rank by (``by=...``).
RankBy = Literal["campaign_id", "from_phone_number", "source_id"]
_RANK_BY: tuple[str, ...] = ("campaign_id", "from_phone_number", "source_id")
_NONE_LABEL = "(none)"


def _engagement_kpis(whole: Engagement) -> list[KPI]:
    r, o, sp = _first(whole.reply), _first(whole.opt_out), _first(whole.speed_to_lead)
    within = m.SPEED_TO_LEAD_WITHIN
    minutes = f"{within.total_seconds() / 60:g} min"
    window_h = f"{m.REPLY_WINDOW.total_seconds() / 3600:g} h"
    return [
        _kpi(
            "reply_rate",
            "Reply rate",
            r.get("reply_rate"),
            fmt_rate,
            f"delivered messages answered within {window_h}",
        ),
        _kpi(
            "opt_out_rate",
            "Opt-out rate",
            o.get("opt_out_rate"),
            fmt_rate,
            "contacted leads that opted out",
        ),
        _kpi("speed_to_lead_p50_ms", "Speed to lead p50", sp.get("p50_ms"), _fmt_duration),
        _kpi("speed_to_lead_p90_ms", "Speed to lead p90", sp.get("p90_ms"), _fmt_duration),
        _kpi(
            "speed_to_lead_share_within",
            f"Leads messaged within {minutes}",
            sp.get("share_within"),
            fmt_rate,
            "of leads created and messaged",
        ),
    ]


def _engagement_frame(parts: Engagement, by: Sequence[str]) -> pl.DataFrame:
    """Reply, opt-out and speed-to-lead columns side by side, one row per group."""
    reply = parts.reply.select(
        *by,
        pl.col("n_used").alias("n_delivered_with_lead"),
        "n_replied",
        "reply_rate",
    )
    opt = parts.opt_out.select(
        *by, pl.col("n_used").alias("n_contacted"), "n_opted_out", "opt_out_rate"
    )
    speed = parts.speed_to_lead.select(*by, "n_leads", "p50_ms", "p90_ms", "share_within")
    if not by:
        return pl.concat([reply, opt, speed], how="horizontal")
    out = reply.join(opt, on=list(by), how="full", coalesce=True, nulls_equal=True)
    out = out.join(speed, on=list(by), how="full", coalesce=True, nulls_equal=True)
    return out.sort(list(by), nulls_last=True)


_ENGAGEMENT_COUNTS = ("n_delivered_with_lead", "n_replied", "n_contacted", "n_opted_out", "n_leads")


def _engagement_table(by: str, parts: Engagement, whole: Engagement) -> ReportTable:
    minutes = f"{m.SPEED_TO_LEAD_WITHIN.total_seconds() / 60:g} min"
    cols = (
        Column("label", by.replace("_", " ").capitalize(), "label"),
        Column("n_delivered_with_lead", "Delivered", "count", foots=True),
        Column("n_replied", "Replied", "count", foots=True),
        Column("reply_rate", "Reply rate", "rate"),
        Column("n_contacted", "Leads contacted", "count"),
        Column("n_opted_out", "Opted out", "count"),
        Column("opt_out_rate", "Opt-out rate", "rate"),
        Column("n_leads", "Leads created", "count", foots=True),
        Column("p50_ms", "Speed to lead p50", "ms"),
        Column("p90_ms", "Speed to lead p90", "ms"),
        Column("share_within", f"Within {minutes}", "rate"),
    )
    names = [c.name for c in cols[1:]]
    counts = [pl.col(c).cast(pl.Int64) for c in _ENGAGEMENT_COUNTS]
    per = _engagement_frame(parts, [by])
    rows = per.select(
        pl.col(by).cast(pl.String).fill_null(_NONE_LABEL).alias("label"), *names
    ).with_columns(counts)
    total = _engagement_frame(whole, []).select(pl.lit(_TOTAL).alias("label"), *names)
    window_h = f"{m.REPLY_WINDOW.total_seconds() / 3600:g} h"
    return ReportTable(
        f"engagement_by_{by}",
        f"Engagement by {by.replace('_', ' ')}",
        cols,
        rows,
        total.with_columns(counts),
        note="Traffic in the report's scope. Replied: the lead answered a delivered message "
        f"within {window_h}. Opt-out: contacted leads with an opt-out signal (a lead contacted in "
        "two groups counts in both, so those columns do not add up). Speed to lead: lead "
        "created → first outbound message. Definitions: docs/metrics.md, Engagement.",
    )


def _ranking_tables(
    ranking: pl.DataFrame, replies: pl.DataFrame, by: str, min_volume: int
) -> tuple[ReportTable, ReportTable]:
    reply = replies.select(by, "reply_rate")
    ranked = ranking.join(reply, on=by, how="left", nulls_equal=True, maintain_order="left")
    label = by.replace("_", " ").capitalize()
    cols = (
        Column("label", label, "label"),
        Column("rank", "Rank (worst first)", "count"),
        Column("n_used", "Final outcomes", "count"),
        Column("n_delivered", "Delivered", "count"),
        Column("n_failures", "Failed + undeliverable", "count"),
        Column("delivery_rate", "Delivery rate", "rate"),
        Column("wilson_low", "95% low", "rate"),
        Column("wilson_high", "95% high", "rate"),
        Column("reply_rate", "Reply rate", "rate"),
    )
    names = [c.name for c in cols[1:]]
    rows = ranked.select(
        pl.col(by).cast(pl.String).fill_null(_NONE_LABEL).alias("label"),
        *[pl.col(n).cast(pl.Int64) if n.startswith("n_") or n == "rank" else n for n in names],
    )
    rule = (
        f"Ranked by the upper end of the 95% Wilson interval of the delivery rate, lowest "
        f"first (a group ranks low only when even its best plausible rate is low); groups "
        f"with fewer than {min_volume} final outcomes are listed apart. docs/metrics.md, "
        "Rankings."
    )
    top = ReportTable(
        f"ranking_by_{by}",
        f"Worst {label.lower()} first",
        cols,
        rows.filter(pl.col("rank").is_not_null()),
        note=rule,
    )
    few = ReportTable(
        f"too_few_to_rank_by_{by}",
        f"Too few to rank (under {min_volume} final outcomes)",
        cols,
        rows.filter(pl.col("rank").is_null()),
        note="Largest first. Their intervals are too wide to place them in the ranking.",
    )
    return top, few
