"""The delivery report: its KPIs, its tables and :class:`DeliveryReport`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING, Literal

import polars as pl

from leadping_nb import metrics as m
from leadping_nb._core.format import (
    fmt_count,
    fmt_rate,
)
from leadping_nb._core.format import fmt_duration as _fmt_duration
from leadping_nb._core.window import Window
from leadping_nb._http.query import EventQuery
from leadping_nb.metrics._passes import delivery_metrics
from leadping_nb.reports._base import (
    _TOTAL,
    KPI,
    Column,
    FrameLike,
    ReportMeta,
    ReportTable,
    WindowBounds,
    _first,
    _kpi,
    _period_label,
    _ReportBase,
    _repr,
)
from leadping_nb.reports._engagement import (
    _RANK_BY,
    RankBy,
    _engagement_kpis,
    _engagement_table,
    _ranking_tables,
)
from leadping_nb.reports._inputs import _inputs, _Traffic

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
        _kpi("latency_end_to_end_p50_ms", "End-to-end p50", e2e.get("p50_ms"), _fmt_duration),
        _kpi("latency_end_to_end_p90_ms", "End-to-end p90", e2e.get("p90_ms"), _fmt_duration),
        _kpi("latency_end_to_end_p99_ms", "End-to-end p99", e2e.get("p99_ms"), _fmt_duration),
        _kpi("latency_carrier_p50_ms", "Carrier p50", carrier.get("p50_ms"), _fmt_duration),
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
        # Long because the report's parts are listed here in their order: the inputs, the
        # one metrics pass, then one table or KPI builder per part reading its result.
        if by is not None and by not in _RANK_BY:
            raise ValueError(f"by must be one of {_RANK_BY} or None, got {by!r}")
        inputs = _inputs(
            frame,
            window=window,
            time_zone=time_zone,
            every=every,
            as_of=as_of,
            include_warmup=include_warmup,
            include_test=include_test,
            include_demo=include_demo,
        )
        events, period = inputs.events, inputs.every
        engagement_by = by if by in ("campaign_id", "source_id") else "source_id"
        pm = delivery_metrics(
            events,
            every=period,
            time_zone=time_zone,
            scope=inputs.scope,
            as_of=inputs.as_of,
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
        meta = inputs.meta(
            title=title,
            leads=leads,
            filters=filters,
            time_zone=time_zone,
            counts=s.counts,
            source=source,
            store_version=store_version,
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
