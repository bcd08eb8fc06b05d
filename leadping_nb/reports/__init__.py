"""Delivery and billing reports: data objects that render to one self-contained HTML file.

A report is built from an events frame by :meth:`DeliveryReport.from_frame` or
:meth:`BillingReport.from_frame`. It holds

* :attr:`~DeliveryReport.meta` — what the report covers: the data window, the leads, the
  filters, the time zone, what was excluded and how many events that was, when it was
  produced (:class:`ReportMeta`);
* :attr:`~DeliveryReport.kpis` — headline numbers (:class:`KPI`), each taken from a
  :mod:`leadping_nb.metrics` result without rounding;
* :attr:`~DeliveryReport.tables` — Polars frames (:class:`ReportTable`). A table with a
  total row **foots**: its parts add up exactly to a total computed separately by the
  metrics, and the report refuses to build otherwise (:class:`FootingError`). Billing
  tables hold exact Decimals;
* figures from :mod:`leadping_nb.figures`, drawn when the report is rendered.

``to_html()`` renders a Jinja2 template (autoescaped) into one HTML document with the
figures embedded as PNG ``data:`` URIs, no external resource of any kind; ``save(path)``
writes it atomically; ``_repr_html_()`` shows the same content in a notebook. Every KPI
carries ``data-kpi`` / ``data-value`` attributes and every table ``data-table``, so the
HTML can be checked against the metrics it came from.

The building blocks (the value objects above, formatting, rendering and the shared
``from_frame`` helpers) are in :mod:`leadping_nb.reports._base`; this module holds the two
reports and the builders of their tables and KPIs, and re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import polars as pl

from leadping_nb import metrics as m
from leadping_nb._core.format import (
    DEFAULT_CURRENCY,
    check_currency,
    fmt_count,
    fmt_rate,
    money_label,
    money_text,
)
from leadping_nb._core.window import Window
from leadping_nb._http.query import EventQuery
from leadping_nb._http.query import describe_filters as describe_filters
from leadping_nb.metrics._passes import Engagement, billing_metrics, delivery_metrics
from leadping_nb.reports._base import KPI as KPI
from leadping_nb.reports._base import Column as Column
from leadping_nb.reports._base import ColumnKind as ColumnKind
from leadping_nb.reports._base import FootingError as FootingError
from leadping_nb.reports._base import (
    FrameLike,
    WindowBounds,
    _apply_window,
    _check_meta_inputs,
    _first,
    _fmt_ms,
    _kpi,
    _make_meta,
    _now_pair,
    _period_label,
    _ReportBase,
    _repr,
)
from leadping_nb.reports._base import ReportMeta as ReportMeta
from leadping_nb.reports._base import ReportTable as ReportTable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "KPI",
    "BillingReport",
    "Column",
    "ColumnKind",
    "DeliveryReport",
    "FootingError",
    "RankBy",
    "ReportMeta",
    "ReportTable",
    "describe_filters",
]

_TOTAL = "Total"


class _Traffic(TypedDict):
    include_warmup: bool
    include_test: bool
    include_demo: bool


# ---------------------------------------------------------------------------------------
# delivery report


def _delivery_kpis(s: m.MetricsSummary, frame: pl.DataFrame) -> dict[str, KPI]:
    d, r = _first(s.delivery), _first(s.retry)
    lat = {row["stage"]: row for row in s.latency.iter_rows(named=True)}
    e2e, carrier = lat.get("end_to_end", {}), lat.get("carrier", {})
    inbound = s.outcomes.filter(pl.col("outcome") == "inbound")["n"].sum()
    kpis = [
        _kpi("n_events", "Events", frame.height, fmt_count),
        _kpi("n_leads", "Leads with events", frame["lead_id"].n_unique(), fmt_count),
        _kpi("n_outbound", "Outbound messages", d.get("n_outbound", 0), fmt_count),
        _kpi("n_delivered", "Delivered", d.get("n_delivered", 0), fmt_count),
        _kpi("n_failed", "Failed", d.get("n_failed", 0), fmt_count),
        _kpi("n_undeliverable", "Undeliverable", d.get("n_undeliverable", 0), fmt_count),
        _kpi("n_blocked", "Blocked", d.get("n_blocked", 0), fmt_count),
        _kpi("n_no_receipt", "No receipt", d.get("n_no_receipt", 0), fmt_count),
        _kpi(
            "delivery_rate",
            "Delivery rate",
            d.get("delivery_rate"),
            fmt_rate,
            "delivered ÷ final outcomes (delivered + undeliverable + failed + blocked + "
            "no receipt)",
        ),
        _kpi(
            "sent_delivery_rate",
            "Delivery rate of sent",
            d.get("sent_delivery_rate"),
            fmt_rate,
            "delivered ÷ messages that reached sent",
        ),
        _kpi("latency_end_to_end_p50_ms", "End-to-end p50", e2e.get("p50_ms"), _fmt_ms),
        _kpi("latency_end_to_end_p90_ms", "End-to-end p90", e2e.get("p90_ms"), _fmt_ms),
        _kpi("latency_end_to_end_p99_ms", "End-to-end p99", e2e.get("p99_ms"), _fmt_ms),
        _kpi("latency_carrier_p50_ms", "Carrier p50", carrier.get("p50_ms"), _fmt_ms),
        _kpi("share_retried", "Messages retried", r.get("share_retried"), fmt_rate),
        _kpi("n_retry_pending", "Retries pending", r.get("n_retry_pending", 0), fmt_count),
        _kpi("n_inbound", "Inbound messages", int(inbound), fmt_count),
    ]
    return {k.key: k for k in kpis}


_COUNT_COLS = (
    ("n_outbound", "Outbound"),
    ("n_delivered", "Delivered"),
    ("n_undeliverable", "Undeliverable"),
    ("n_failed", "Failed"),
    ("n_blocked", "Blocked"),
    ("n_canceled", "Canceled"),
    ("n_scheduled", "Scheduled"),
    ("n_no_receipt", "No receipt"),
    ("n_in_flight", "In flight"),
    ("n_used", "With a final outcome"),
    ("n_sent", "Sent"),
)


def _outcome_table(s: m.MetricsSummary) -> ReportTable:
    cols = (
        Column("label", "Outcome", "label"),
        Column("n", "Messages (count)", "count", foots=True),
        Column("share", "Share", "rate"),
        Column("n_excluded", "Excluded (traffic scope)", "count", foots=True),
    )
    rows = s.outcomes.select(
        pl.col("outcome").cast(pl.String).fill_null("not a message").alias("label"),
        pl.col("n").cast(pl.Int64),
        pl.col("share"),
        pl.col("n_excluded").cast(pl.Int64),
    )
    c = s.counts.filter(pl.col("metric") == "outcome")
    n_used = int(c["n_used"].sum()) if c.height else 0
    total = pl.DataFrame(
        {
            "label": [_TOTAL],
            "n": [n_used],
            "share": [1.0 if n_used else None],
            "n_excluded": [int(c["n_excluded"].sum()) if c.height else 0],
        },
        schema=rows.schema,
    )
    return ReportTable(
        "outcomes",
        "Events by outcome",
        cols,
        rows,
        total,
        note="Outcome precedence and scope: docs/metrics.md. Calls, notes and status "
        "changes are 'not a message'.",
    )


#: Outcomes the period table leaves to the outcome table (it has no room for them at
#: 1,280 px): neither is a final outcome of the delivery rate.
_NOT_FINAL = frozenset({"n_canceled", "n_scheduled", "n_in_flight"})


def _delivery_period_table(
    s: m.MetricsSummary, per: pl.DataFrame, every: m.Every, tz: str
) -> ReportTable:
    cols = (
        Column("label", f"{every.capitalize()} ({tz})", "label"),
        *[Column(n, lbl, "count", foots=True) for n, lbl in _COUNT_COLS if n not in _NOT_FINAL],
        Column("delivery_rate", "Delivery rate (final outcomes)", "rate"),
        Column("sent_delivery_rate", "Delivery rate (of sent)", "rate"),
    )
    names = [c.name for c in cols[1:]]
    rows = per.sort("period").select(_period_label(every), *[pl.col(n) for n in names])
    total = s.delivery.select(pl.lit(_TOTAL).alias("label"), *names)
    hours = s.receipt_timeout.total_seconds() / 3600
    return ReportTable(
        "delivery_by_period",
        f"Delivery per {every}",
        cols,
        rows.cast(dict.fromkeys(names[:-2], pl.Int64)),
        total.cast(dict.fromkeys(names[:-2], pl.Int64)),
        note=f"Outbound messages of {s.scope.label}. Delivery rate (final outcomes) = "
        "delivered ÷ (delivered + undeliverable + failed + blocked + no receipt); "
        "delivery rate (of sent) = delivered ÷ messages that reached sent. No receipt: sent "
        f"{hours:g} h or more before {s.as_of:%Y-%m-%d %H:%M} UTC without a receipt. "
        "Canceled, scheduled and in-flight messages are counted in the outcome table.",
    )


def _latency_table(s: m.MetricsSummary) -> ReportTable:
    stats = [("mean_ms", "Mean")] + [
        (f"p{round(q * 100)}_ms", f"p{round(q * 100)}") for q in m.PERCENTILES
    ]
    cols = (
        Column("label", "Stage", "label"),
        Column("n_used", "Messages used", "count"),
        Column("n_missing", "End missing", "count"),
        Column("n_negative", "Negative gap", "count"),
        *[Column(n, lbl, "ms") for n, lbl in stats],
        Column("max_ms", "Max", "ms"),
    )
    rows = s.latency.sort("stage").select(
        pl.col("stage").cast(pl.String).alias("label"),
        *[pl.col(c.name).cast(pl.Int64 if c.kind == "count" else pl.Float64) for c in cols[1:]],
    )
    return ReportTable(
        "latency",
        "Latency by stage",
        cols,
        rows,
        note=f"Percentiles interpolate linearly ({m.INTERPOLATION}). Negative gaps and missing "
        "ends are excluded and counted. Each duration carries its unit (ms, s, min, h, d); "
        "the table's data are exact milliseconds.",
    )


def _retry_table(s: m.MetricsSummary) -> ReportTable:
    cols = (
        Column("label", "Retry count", "label"),
        Column("n_messages", "Messages", "count", foots=True),
        Column("share", "Share", "rate"),
        Column("n_delivered", "Delivered", "count", foots=True),
        Column("n_failed", "Failed", "count"),
        Column("n_undeliverable", "Undeliverable", "count"),
        Column("delivery_rate", "Delivery rate", "rate"),
    )
    dist = s.retry_distribution.sort("retry_count")
    rows = dist.select(
        pl.col("retry_count").cast(pl.String).alias("label"),
        pl.col("n_messages").cast(pl.Int64),
        "share",
        *[pl.col(c).cast(pl.Int64) for c in ("n_delivered", "n_failed", "n_undeliverable")],
        "delivery_rate",
    )
    r = _first(s.retry)
    n_used = int(r.get("n_used", 0))
    total = pl.DataFrame(
        {
            "label": [_TOTAL],
            "n_messages": [n_used],
            "share": [1.0 if n_used else None],
            "n_delivered": [int(r.get("n_delivered", 0))],
            "n_failed": [int(rows["n_failed"].sum())],
            "n_undeliverable": [int(rows["n_undeliverable"].sum())],
            "delivery_rate": [r.get("delivery_rate")],
        },
        schema=rows.schema,
    )
    return ReportTable(
        "retries",
        "Messages and delivery rate by retry count",
        cols,
        rows,
        total,
        note="Outbound messages with a known retry count. Messages and Delivered foot to "
        "the retry summary; Failed and Undeliverable totals are the sums shown.",
    )


#: The failure key of the delivery report's Pareto figure: error code and status reason
#: of a failed message, as one text (``"40001 Not routable"``).
_FAILURE_KEY = "error_code_and_reason"
_FAILURE_TOP = 15
_NOT_GIVEN = "(not given)"


def _with_failure_key(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with :data:`_FAILURE_KEY`: the error code and the status reason of an
    event in one text (a missing part is ``(not given)``), for the Pareto figure."""
    return frame.with_columns(
        pl.concat_str(
            [
                pl.col("error_code").cast(pl.String).fill_null(_NOT_GIVEN),
                pl.col("status_reason").cast(pl.String).fill_null(_NOT_GIVEN),
            ],
            separator=" ",
        ).alias(_FAILURE_KEY)
    )


#: The keys of the failure table's rows, over the events.
_FAILURE_KEYS = (
    pl.col("error_code").cast(pl.String).fill_null(_NOT_GIVEN).alias("label"),
    pl.col("status_reason").cast(pl.String).fill_null(_NOT_GIVEN),
)


def _failure_table(failures: pl.DataFrame, s: m.MetricsSummary) -> ReportTable:
    """One table of failures by (error code, status reason): counts, shares, cumulative
    share, largest first, the tail beyond 15 pairs as one "other" row. The scope is that
    of :func:`leadping_nb.figures.failure_counts` (failed, undeliverable and blocked
    outbound messages of countable traffic), so it foots to the delivery summary."""
    cols = (
        Column("label", "Error code", "label"),
        Column("status_reason", "Status reason", "label"),
        Column("n", "Failed messages", "count", foots=True),
        Column("share", "Share", "rate"),
        Column("cumulative_share", "Cumulative share", "rate"),
    )
    counts = failures.sort(["n", "label", "status_reason"], descending=[True, False, False])
    head, tail = counts.head(_FAILURE_TOP), counts.slice(_FAILURE_TOP)
    if tail.height:
        other = pl.DataFrame(
            {
                "label": [f"other ({tail.height} pairs)"],
                "status_reason": [""],
                "n": [int(tail["n"].sum())],
            },
            schema=head.schema,
        )
        head = pl.concat([head, other])
    n_all = int(head["n"].sum())
    # in Python: one correctly rounded division each (Polars divides by a literal through
    # its reciprocal, so 3 / 5 would read 0.6000000000000001)
    ns = head["n"].to_list()
    cums = list(accumulate(ns))
    rows = head.with_columns(
        pl.Series("share", [v / n_all for v in ns], dtype=pl.Float64),
        pl.Series("cumulative_share", [v / n_all for v in cums], dtype=pl.Float64),
    )
    d = _first(s.delivery)
    n = sum(int(d.get(f"n_{o}", 0)) for o in ("failed", "undeliverable", "blocked"))
    total = pl.DataFrame(
        {
            "label": [_TOTAL],
            "status_reason": [""],
            "n": [n],
            "share": [1.0 if n else None],
            "cumulative_share": [1.0 if n else None],
        },
        schema=rows.schema,
    )
    return ReportTable(
        "failures",
        "Failures by error code and status reason",
        cols,
        rows,
        total,
        note="Failed, undeliverable and blocked outbound messages, one row per pair of error "
        f"code and status reason; the tail beyond {_FAILURE_TOP} pairs is one 'other' row.",
    )


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
        _kpi("speed_to_lead_p50_ms", "Speed to lead p50", sp.get("p50_ms"), _fmt_ms),
        _kpi("speed_to_lead_p90_ms", "Speed to lead p90", sp.get("p90_ms"), _fmt_ms),
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


@dataclass(frozen=True, repr=False)
class DeliveryReport(_ReportBase):
    """Delivery report: outcomes, delivery rate, latency, failures, retries and engagement.

    Build it with :meth:`from_frame`. Attributes: :attr:`meta` (:class:`ReportMeta`),
    :attr:`kpis` (key -> :class:`KPI`), :attr:`tables` (:class:`ReportTable`),
    :attr:`summary` (the :class:`~leadping_nb.metrics.MetricsSummary` the KPIs come
    from) and :attr:`frame` (the events in the window).

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> report = DeliveryReport.from_frame(events_frame(0, 2000), time_zone="Europe/Berlin")
    >>> report.kpis["delivery_rate"].value == report.summary.delivery["delivery_rate"].item()
    True
    >>> "<html" in report.to_html()
    True
    """

    meta: ReportMeta
    kpis: Mapping[str, KPI]
    tables: tuple[ReportTable, ...]
    summary: m.MetricsSummary
    frame: pl.DataFrame = field(repr=False)
    kind: str = "delivery"

    @classmethod
    def from_frame(
        cls,
        frame: FrameLike,
        *,
        leads: Sequence[str] | None = None,
        window: Window | WindowBounds | None = None,
        filters: EventQuery | str | None = None,
        time_zone: str = "UTC",
        every: m.Every | Literal["auto"] = "auto",
        include_warmup: bool = False,
        include_test: bool = False,
        include_demo: bool = False,
        as_of: datetime | None = None,
        receipt_timeout: timedelta = m.RECEIPT_TIMEOUT,
        title: str = "Delivery report",
        source: str = "events frame",
        by: RankBy | None = None,
        min_volume: int = m.MIN_VOLUME,
        store_version: int | None = None,
    ) -> DeliveryReport:
        """Compute a delivery report from an events frame.

        Parameters
        ----------
        frame
            Canonical events (``DataFrame`` or ``LazyFrame``).
        leads
            The leads the report is about (default: those in the data).
        window
            A :class:`~leadping_nb.Window` (its label is recorded in
            :attr:`ReportMeta.window_label` and shown in the header), or a half-open
            ``(start, end)`` on ``created_at``, timezone-aware; ``None`` on either side
            leaves it open. Events outside are dropped and counted.
        filters
            The query the data were fetched with (shown as text).
        time_zone
            IANA zone of the dates, periods and time axes.
        every
            Period of the time table and figures (``"auto"``: from the data span).
        include_warmup, include_test, include_demo
            Count warm-up / test / demo traffic (default: excluded, the
            :class:`~leadping_nb.metrics.TrafficScope` of customer traffic, stated in
            the report).
        as_of
            Instant for pending retries and the receipt timeout (default: now).
        receipt_timeout
            A message sent this long before ``as_of`` without a receipt counts as
            "no receipt" (default :data:`~leadping_nb.metrics.RECEIPT_TIMEOUT`).
        title, source
            Shown in the header (``source`` without credentials, URL query strings or
            keys).
        by
            Rank the groups of this column worst first (``"campaign_id"``,
            ``"from_phone_number"`` or ``"source_id"``): adds a ranking table and a "too
            few to rank" table (:func:`~leadping_nb.metrics.delivery_ranking`). The
            engagement table is grouped by ``by`` when it is ``campaign_id`` or
            ``source_id``, else by ``source_id``.
        min_volume
            Final outcomes (delivered, undeliverable, failed, blocked, no receipt) a
            group needs to be ranked (default :data:`~leadping_nb.metrics.MIN_VOLUME`, 30).
        store_version
            The store version the data were read from, when from a local store
            (recorded with the report's provenance, :meth:`ReportMeta.provenance`).
        """
        from leadping_nb.figures import choose_period

        _check_meta_inputs(time_zone, every)
        if by is not None and by not in _RANK_BY:
            raise ValueError(f"by must be one of {_RANK_BY} or None, got {by!r}")
        events, win, n_outside = _apply_window(frame, window)
        period = choose_period(events, every)
        produced_at, when = _now_pair(as_of)
        kw = _Traffic(
            include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
        )
        engagement_by = by if by in ("campaign_id", "source_id") else "source_id"
        pm = delivery_metrics(
            events,
            every=period,
            time_zone=time_zone,
            scope=m.TrafficScope.of(**kw),
            as_of=when,
            receipt_timeout=receipt_timeout,
            engagement_by=engagement_by,
            failure_keys=_FAILURE_KEYS,
            rank_by=by,
            min_volume=min_volume,
        )
        s = pm.summary
        tables: tuple[ReportTable, ...] = (
            _outcome_table(s),
            _delivery_period_table(s, pm.by_period, period, time_zone),
            _latency_table(s),
            _failure_table(pm.failures, s),
            _retry_table(s),
            _engagement_table(engagement_by, pm.engagement, pm.engagement_total),
        )
        if by is not None and pm.ranking is not None and pm.ranking_reply is not None:
            tables += _ranking_tables(pm.ranking, pm.ranking_reply, by, min_volume)
        kpis = dict(_delivery_kpis(s, events))
        kpis.update({k.key: k for k in _engagement_kpis(pm.engagement_total)})
        meta = _make_meta(
            title=title,
            frame=events,
            window=win,
            window_label=window.label if isinstance(window, Window) else "",
            n_outside=n_outside,
            leads=leads,
            filters=filters,
            time_zone=time_zone,
            every=period,
            counts=s.counts,
            produced_at=produced_at,
            as_of=when,
            source=source,
            store_version=store_version,
            **kw,
        )
        return cls(meta, kpis, tables, s, events)

    def _figure_specs(self) -> list[tuple[str, str, Callable[[], Figure]]]:
        from leadping_nb import figures as f

        ev, tz, every = self.frame, self.meta.time_zone, self.meta.every
        at, rt = self.meta.as_of, self.summary.receipt_timeout
        kw = _Traffic(
            include_warmup=self.meta.include_warmup,
            include_test=self.meta.include_test,
            include_demo=self.meta.include_demo,
        )
        return [
            (
                "volume_by_outcome",
                "Messages by outcome",
                lambda: f.volume_by_outcome(
                    ev, every=every, time_zone=tz, as_of=at, receipt_timeout=rt, **kw
                ),
            ),
            (
                "delivery_rate",
                "Delivery rate over time",
                lambda: f.delivery_rate_over_time(
                    ev, every=every, time_zone=tz, as_of=at, receipt_timeout=rt, **kw
                ),
            ),
            ("latency_ecdf", "Latency ECDF by stage", lambda: f.latency_ecdf(ev, **kw)),
            (
                "latency_histogram",
                "End-to-end latency histogram",
                lambda: f.latency_histogram(ev, **kw),
            ),
            (
                "failures",
                "Failures by error code and status reason",
                lambda: f.failure_pareto(
                    _with_failure_key(ev), by=_FAILURE_KEY, top=_FAILURE_TOP, **kw
                ),
            ),
            (
                "retries",
                "Retries",
                lambda: f.retries_by_count(ev, as_of=self.meta.as_of, **kw),
            ),
        ]

    def __repr__(self) -> str:
        return _repr("DeliveryReport", self.meta, self.kpis, "delivery_rate")


# ---------------------------------------------------------------------------------------
# billing report


def _billing_cols(currency: str) -> tuple[tuple[str, str, ColumnKind, bool], ...]:
    return (
        ("n_events", "Events", "count", True),
        ("n_used", "Events with amount", "count", True),
        ("n_missing_amount", "Events without amount", "count", True),
        ("total_amount", money_label("Amount", currency), "money", True),
        ("n_delivered", "Delivered messages", "count", True),
    )


def _billing_table(
    per: pl.DataFrame,
    key: str,
    title: str,
    label: str,
    by: str | None,
    every: m.Every | None,
    total: pl.DataFrame,
    currency: str,
    note: str = "",
) -> ReportTable:
    spec = _billing_cols(currency)
    cols = (
        Column("label", label, "label"),
        *[Column(n, lbl, kind, foots=f) for n, lbl, kind, f in spec],
    )
    names = [n for n, *_ in spec]
    if every is not None:
        key_expr = _period_label(every)
        per = per.sort("period")
    else:
        assert by is not None
        key_expr = pl.col(by).cast(pl.String).fill_null("(not set)").alias("label")
        per = per.sort(["total_amount", by], descending=[True, False], nulls_last=True)
    rows = per.select(key_expr, *names)
    tot = total.select(pl.lit(_TOTAL).alias("label"), *names)
    return ReportTable(key, title, cols, rows, tot, note=note)


#: How the channel and state tables name their rows.
_CHANNEL_LABELS = {
    "sms": "SMS (outbound)",
    "mms": "MMS (outbound)",
    "message": "Other outbound messages",
    "inbound": "Inbound messages",
    "call": "Calls",
    "other": "Other events",
}
_STATE_LABELS = {"billed": "Billed", "pending": "Pending", "refunded": "Refunded", "other": "Other"}
_AMOUNTS = ("gross_amount", "refunded_amount", "net_amount")


def _amount_cols(currency: str) -> list[Column]:
    return [
        Column("gross_amount", money_label("Gross", currency), "money", foots=True),
        Column("refunded_amount", money_label("Refunded", currency), "money", foots=True),
        Column("net_amount", money_label("Net", currency), "money", foots=True),
    ]


def _billing_channel_table(
    channels: pl.DataFrame, whole: pl.DataFrame, currency: str
) -> ReportTable:
    cols = (
        Column("label", "Channel", "label"),
        Column("n_used", "Events with amount", "count", foots=True),
        *_amount_cols(currency),
        Column("n_units", "Units", "count"),
        Column("unit", "Unit", "label"),
        Column("cost_per_unit", money_label("Net per unit", currency), "money"),
    )
    label = pl.col("channel").cast(pl.String).replace_strict(_CHANNEL_LABELS).alias("label")
    rows = channels.filter((pl.col("n_used") > 0) | (pl.col("n_units") > 0)).select(
        label, "n_used", *_AMOUNTS, "n_units", "unit", "cost_per_unit"
    )
    tot = whole.select(
        pl.lit(_TOTAL).alias("label"),
        "n_used",
        *_AMOUNTS,
        pl.lit(None, dtype=pl.Int64).alias("n_units"),
        pl.lit(None, dtype=pl.String).alias("unit"),
        pl.lit(None, dtype=channels.schema["cost_per_unit"]).alias("cost_per_unit"),
    )
    note = (
        "Net per unit = net amount ÷ units, rounded half-to-even: per delivered message "
        "for outbound SMS and MMS, per received message for inbound messages (never "
        "divided into outbound deliveries), per charged call for calls (the events carry "
        "no call duration, so no per-minute price can be computed). See docs/metrics.md."
    )
    return ReportTable("billing_by_channel", "By channel", cols, rows, tot, note=note)


def _billing_state_table(states: pl.DataFrame, whole: pl.DataFrame, currency: str) -> ReportTable:
    cols = (
        Column("label", "Billing state", "label"),
        Column("n_used", "Events with amount", "count", foots=True),
        *_amount_cols(currency),
    )
    # every state is shown, a missing one with zeros: "no refunds" is an answer too
    all_states = pl.DataFrame(
        {"billing_state": list(m.BILLING_STATES)}, schema={"billing_state": m.BILLING_STATE_DTYPE}
    )
    zero = pl.lit(0, dtype=whole.schema["net_amount"])
    filled = all_states.join(states, on="billing_state", how="left").with_columns(
        pl.col("n_used").fill_null(0), *[pl.col(c).fill_null(zero) for c in _AMOUNTS]
    )
    label = pl.col("billing_state").cast(pl.String).replace_strict(_STATE_LABELS).alias("label")
    rows = filled.select(label, "n_used", *_AMOUNTS)
    tot = whole.select(pl.lit(_TOTAL).alias("label"), "n_used", *_AMOUNTS)
    note = (
        "A negative amount, or a charge whose billingStatus is Refunded, is a refund. "
        "Gross sums the charges (amounts ≥ 0, whatever their status), Refunded the "
        "refunds' sizes, Net = Gross − Refunded. Pending charges are not yet billed."
    )
    return ReportTable("billing_by_state", "Billed, pending, refunded", cols, rows, tot, note=note)


def _billing_kpis(
    total: pl.DataFrame,
    whole: pl.DataFrame,
    channels: pl.DataFrame,
    by_campaign: pl.DataFrame,
    cost_scale: int,
    currency: str,
) -> dict[str, KPI]:
    t, w = _first(total), _first(whole)
    amount: Decimal = t.get("total_amount") or Decimal(0)
    n_used = int(t.get("n_used", 0))
    mean = (
        total.select(
            m.decimal_ratio(
                pl.col("total_amount"),
                pl.col("n_used"),
                scale=cost_scale,
                numerator_scale=total.schema["total_amount"].scale,  # type: ignore[attr-defined]
            )
        ).item()
        if total.height
        else None
    )
    campaigns = by_campaign.filter(
        (pl.col("label") != "(not set)") & (pl.col("total_amount") > 0)
    ).height
    cost = {row["channel"]: row["cost_per_unit"] for row in channels.iter_rows(named=True)}
    money: Callable[[Any], str] = lambda v: money_text(v, currency)  # noqa: E731
    rounded = f"net amount ÷ units, rounded half-to-even to {cost_scale} decimals"

    def amount_of(key: str) -> Decimal:
        value = w.get(key)
        return value if isinstance(value, Decimal) else Decimal(0)

    kpis = [
        _kpi("net_amount", "Net amount", amount_of("net_amount"), money, "gross − refunded"),
        _kpi("gross_amount", "Gross amount", amount_of("gross_amount"), money, "every charge"),
        _kpi("refunded_amount", "Refunded", amount_of("refunded_amount"), money),
        _kpi("billed_amount", "Billed", amount_of("billed_amount"), money, "status Billed"),
        _kpi("pending_amount", "Pending", amount_of("pending_amount"), money, "not yet billed"),
        _kpi(
            "total_amount",
            "Sum of amounts",
            amount,
            money,
            "exact decimal sum of billableAmount, every status",
        ),
        _kpi("cost_per_sms", "SMS per delivered message", cost.get("sms"), money, rounded),
        _kpi("cost_per_mms", "MMS per delivered message", cost.get("mms"), money, rounded),
        _kpi("cost_per_call", "Per charged call", cost.get("call"), money, rounded),
        _kpi(
            "cost_per_inbound", "Inbound per received message", cost.get("inbound"), money, rounded
        ),
        _kpi("n_billed_events", "Events with amount", n_used, fmt_count),
        _kpi("n_events", "Events", int(t.get("n_events", 0)), fmt_count),
        _kpi(
            "n_missing_amount",
            "Events without amount",
            int(t.get("n_missing_amount", 0)),
            fmt_count,
        ),
        _kpi("n_delivered", "Delivered messages", int(t.get("n_delivered", 0)), fmt_count),
        _kpi(
            "mean_amount_per_billed_event",
            "Mean amount per event with amount",
            mean,
            money,
            f"rounded half-to-even to {cost_scale} decimals",
        ),
        _kpi("n_campaigns_billed", "Campaigns billed", campaigns, fmt_count),
    ]
    return {k.key: k for k in kpis}


@dataclass(frozen=True, repr=False)
class BillingReport(_ReportBase):
    """Billing report: gross, refunded and net amounts, billed vs pending, the net cost
    per unit of each channel, and exact Decimal totals by status, period, campaign and
    event type, every amount in :attr:`currency`.

    The channel and state tables foot exactly to one ungrouped
    :func:`~leadping_nb.metrics.billing_breakdown` row, the others to :attr:`total` (one
    ungrouped :func:`~leadping_nb.metrics.billing_summary` row). Build it with
    :meth:`from_frame`.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> report = BillingReport.from_frame(events_frame(0, 2000))
    >>> report.table("billing_by_campaign")["total_amount"][-1] == report.kpis["total_amount"].value
    True
    """

    meta: ReportMeta
    kpis: Mapping[str, KPI]
    tables: tuple[ReportTable, ...]
    total: pl.DataFrame
    frame: pl.DataFrame = field(repr=False)
    cost_scale: int = 4
    kind: str = "billing"
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def from_frame(
        cls,
        frame: FrameLike,
        *,
        leads: Sequence[str] | None = None,
        window: Window | WindowBounds | None = None,
        filters: EventQuery | str | None = None,
        time_zone: str = "UTC",
        every: m.Every | Literal["auto"] = "auto",
        include_warmup: bool = False,
        include_test: bool = False,
        include_demo: bool = False,
        cost_scale: int = 4,
        currency: str = DEFAULT_CURRENCY,
        as_of: datetime | None = None,
        title: str = "Billing report",
        source: str = "events frame",
        store_version: int | None = None,
    ) -> BillingReport:
        """Compute a billing report from an events frame.

        Parameters are those of :meth:`DeliveryReport.from_frame` (the same traffic
        scope, customer traffic by default, so that both reports show one "Delivered"
        and one billed total per scope), ``cost_scale`` sets the decimals of the
        per-unit amounts (rounded half-to-even; totals are never rounded), and
        ``currency`` (three upper-case letters, ISO 4217; default ``"USD"``: the API
        states no currency) labels every amount, header and axis. An invalid currency
        raises ``ValueError`` before anything is computed.
        """
        from leadping_nb.figures import choose_period

        check_currency(currency)
        _check_meta_inputs(time_zone, every)
        if not 0 <= cost_scale <= 18:
            raise ValueError(f"cost_scale must be within [0, 18], got {cost_scale}")
        events, win, n_outside = _apply_window(frame, window)
        period = choose_period(events, every)
        produced_at, when = _now_pair(as_of)
        scope = _Traffic(
            include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
        )
        pm = billing_metrics(
            events,
            every=period,
            time_zone=time_zone,
            scope=m.TrafficScope.of(**scope),
            as_of=when,
            receipt_timeout=m.RECEIPT_TIMEOUT,
            cost_scale=cost_scale,
        )
        total, tz = pm.total, time_zone
        tables = (
            _billing_channel_table(pm.channels, pm.whole, currency),
            _billing_state_table(pm.states, pm.whole, currency),
            _billing_table(
                pm.by_status,
                "billing_by_status",
                "By billing status",
                "Billing status",
                "billing_status",
                None,
                total,
                currency,
            ),
            _billing_table(
                pm.by_period,
                "billing_by_period",
                f"Per {period}",
                f"{period.capitalize()} ({tz})",
                None,
                period,
                total,
                currency,
            ),
            _billing_table(
                pm.by_campaign,
                "billing_by_campaign",
                "By campaign",
                "Campaign",
                "campaign_id",
                None,
                total,
                currency,
            ),
            _billing_table(
                pm.by_event_type,
                "billing_by_event_type",
                "By event type",
                "Event type",
                "event_type",
                None,
                total,
                currency,
                note="Amounts are summed exactly as Decimal; every table foots to the total.",
            ),
        )
        flags = scope
        counts = pm.counts
        meta = _make_meta(
            title=title,
            frame=events,
            window=win,
            window_label=window.label if isinstance(window, Window) else "",
            n_outside=n_outside,
            leads=leads,
            filters=filters,
            time_zone=time_zone,
            every=period,
            counts=counts,
            produced_at=produced_at,
            as_of=when,
            source=source,
            currency=currency,
            store_version=store_version,
            **flags,
        )
        by_campaign = next(t for t in tables if t.key == "billing_by_campaign").rows
        kpis = _billing_kpis(total, pm.whole, pm.channels, by_campaign, cost_scale, currency)
        return cls(meta, kpis, tables, total, events, cost_scale, currency=currency)

    def _figure_specs(self) -> list[tuple[str, str, Callable[[], Figure]]]:
        from leadping_nb import figures as f

        ev, tz, every = self.frame, self.meta.time_zone, self.meta.every
        kw = _Traffic(
            include_warmup=self.meta.include_warmup,
            include_test=self.meta.include_test,
            include_demo=self.meta.include_demo,
        )
        cur = self.currency
        return [
            (
                "billed_over_time",
                money_label("Billed amount over time", cur),
                lambda: f.billed_over_time(ev, every=every, time_zone=tz, currency=cur, **kw),
            ),
            (
                "billed_by_campaign",
                money_label("Billed amount by campaign", cur),
                lambda: f.billed_by_campaign(ev, currency=cur, **kw),
            ),
        ]

    def __repr__(self) -> str:
        return _repr("BillingReport", self.meta, self.kpis, "total_amount")
