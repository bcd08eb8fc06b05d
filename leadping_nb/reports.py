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
``from_frame`` helpers) are in :mod:`leadping_nb._report_base`; this module holds the two
reports and the builders of their tables and KPIs, and re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import polars as pl

from leadping_nb import metrics as m
from leadping_nb._query import EventQuery
from leadping_nb._report_base import KPI as KPI
from leadping_nb._report_base import Column as Column
from leadping_nb._report_base import ColumnKind as ColumnKind
from leadping_nb._report_base import FootingError as FootingError
from leadping_nb._report_base import (
    FrameLike,
    Window,
    _apply_window,
    _check_meta_inputs,
    _first,
    _fmt_count,
    _fmt_ms,
    _fmt_rate,
    _kpi,
    _make_meta,
    _money_texts,
    _now_pair,
    _period_label,
    _ReportBase,
    _repr,
)
from leadping_nb._report_base import ReportMeta as ReportMeta
from leadping_nb._report_base import ReportTable as ReportTable
from leadping_nb._report_base import describe_filters as describe_filters

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "KPI",
    "BillingReport",
    "Column",
    "ColumnKind",
    "DeliveryReport",
    "FootingError",
    "ReportMeta",
    "ReportTable",
    "describe_filters",
]

_TOTAL = "Total"


class _Traffic(TypedDict):
    include_warmup: bool
    include_test: bool


# ---------------------------------------------------------------------------------------
# delivery report


def _delivery_kpis(s: m.MetricsSummary, frame: pl.DataFrame) -> dict[str, KPI]:
    d, r = _first(s.delivery), _first(s.retry)
    lat = {row["stage"]: row for row in s.latency.iter_rows(named=True)}
    e2e, carrier = lat.get("end_to_end", {}), lat.get("carrier", {})
    inbound = s.outcomes.filter(pl.col("outcome") == "inbound")["n"].sum()
    kpis = [
        _kpi("n_events", "Events", frame.height, _fmt_count),
        _kpi("n_leads", "Leads with events", frame["lead_id"].n_unique(), _fmt_count),
        _kpi("n_outbound", "Outbound messages", d.get("n_outbound", 0), _fmt_count),
        _kpi("n_delivered", "Delivered", d.get("n_delivered", 0), _fmt_count),
        _kpi("n_failed", "Failed", d.get("n_failed", 0), _fmt_count),
        _kpi("n_undeliverable", "Undeliverable", d.get("n_undeliverable", 0), _fmt_count),
        _kpi("n_blocked", "Blocked", d.get("n_blocked", 0), _fmt_count),
        _kpi(
            "delivery_rate",
            "Delivery rate",
            d.get("delivery_rate"),
            _fmt_rate,
            "delivered ÷ (delivered + failed + undeliverable)",
        ),
        _kpi("latency_end_to_end_p50_ms", "End-to-end p50", e2e.get("p50_ms"), _fmt_ms),
        _kpi("latency_end_to_end_p90_ms", "End-to-end p90", e2e.get("p90_ms"), _fmt_ms),
        _kpi("latency_end_to_end_p99_ms", "End-to-end p99", e2e.get("p99_ms"), _fmt_ms),
        _kpi("latency_carrier_p50_ms", "Carrier p50", carrier.get("p50_ms"), _fmt_ms),
        _kpi("share_retried", "Messages retried", r.get("share_retried"), _fmt_rate),
        _kpi("n_retry_pending", "Retries pending", r.get("n_retry_pending", 0), _fmt_count),
        _kpi("n_inbound", "Inbound messages", int(inbound), _fmt_count),
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
    ("n_in_flight", "In flight"),
    ("n_used", "With a final outcome"),
)


def _outcome_table(s: m.MetricsSummary) -> ReportTable:
    cols = (
        Column("label", "Outcome", "label"),
        Column("n", "Messages (count)", "count", foots=True),
        Column("share", "Share", "rate"),
        Column("n_excluded", "Excluded (warm-up/test)", "count", foots=True),
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


def _delivery_period_table(
    frame: pl.DataFrame, s: m.MetricsSummary, every: m.Every, tz: str, kw: _Traffic
) -> ReportTable:
    cols = (
        Column("label", f"{every.capitalize()} ({tz})", "label"),
        *[Column(n, lbl, "count", foots=True) for n, lbl in _COUNT_COLS],
        Column("delivery_rate", "Delivery rate", "rate"),
    )
    names = [c.name for c in cols[1:]]
    per = m.delivery_summary(frame, every=every, time_zone=tz, **kw).sort("period")
    rows = per.select(_period_label(every), *[pl.col(n) for n in names])
    total = m.delivery_summary(frame, **kw).select(pl.lit(_TOTAL).alias("label"), *names)
    return ReportTable(
        "delivery_by_period",
        f"Delivery per {every}",
        cols,
        rows.cast(dict.fromkeys(names[:-1], pl.Int64)),
        total.cast(dict.fromkeys(names[:-1], pl.Int64)),
        note="Outbound messages of countable traffic. Delivery rate = delivered ÷ "
        "(delivered + failed + undeliverable).",
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
        *[Column(n, f"{lbl} (ms)", "ms") for n, lbl in stats],
        Column("max_ms", "Max (ms)", "ms"),
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
        "ends are excluded and counted.",
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


def _failure_table(frame: pl.DataFrame, s: m.MetricsSummary, kw: _Traffic) -> ReportTable:
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
    scope = m.outcome().is_in(["failed", "undeliverable", "blocked"]).fill_null(
        False
    ) & m.is_countable_traffic(**kw)
    counts = (
        frame.filter(scope)
        .group_by(
            pl.col("error_code").cast(pl.String).fill_null(_NOT_GIVEN).alias("label"),
            pl.col("status_reason").cast(pl.String).fill_null(_NOT_GIVEN),
        )
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .sort(["n", "label", "status_reason"], descending=[True, False, False])
    )
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
    """Delivery report: outcomes, delivery rate, latency, failures and retries.

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
        window: Window | None = None,
        filters: EventQuery | str | None = None,
        time_zone: str = "UTC",
        every: m.Every | Literal["auto"] = "auto",
        include_warmup: bool = False,
        include_test: bool = False,
        as_of: datetime | None = None,
        title: str = "Delivery report",
        source: str = "events frame",
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
            Half-open ``(start, end)`` on ``created_at``, timezone-aware; ``None`` on
            either side leaves it open. Events outside are dropped and counted.
        filters
            The query the data were fetched with (shown as text).
        time_zone
            IANA zone of the dates, periods and time axes.
        every
            Period of the time table and figures (``"auto"``: from the data span).
        include_warmup, include_test
            Count warm-up / test traffic in the message metrics (default: excluded).
        as_of
            Instant for pending retries (default: now).
        title, source
            Shown in the header (``source`` without credentials, URL query strings or
            keys).
        store_version
            The store version the data were read from, when from a local store
            (recorded with the report's provenance, :meth:`ReportMeta.provenance`).
        """
        from leadping_nb.figures import choose_period

        _check_meta_inputs(time_zone, every)
        events, win, n_outside = _apply_window(frame, window)
        period = choose_period(events, every)
        produced_at, when = _now_pair(as_of)
        kw = _Traffic(include_warmup=include_warmup, include_test=include_test)
        s = m.summary(events, as_of=when, **kw)
        tables = (
            _outcome_table(s),
            _delivery_period_table(events, s, period, time_zone, kw),
            _latency_table(s),
            _failure_table(events, s, kw),
            _retry_table(s),
        )
        meta = _make_meta(
            title=title,
            frame=events,
            window=win,
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
        return cls(meta, _delivery_kpis(s, events), tables, s, events)

    def _figure_specs(self) -> list[tuple[str, str, Callable[[], Figure]]]:
        from leadping_nb import figures as f

        ev, tz, every = self.frame, self.meta.time_zone, self.meta.every
        kw = _Traffic(include_warmup=self.meta.include_warmup, include_test=self.meta.include_test)
        return [
            (
                "volume_by_outcome",
                "Messages by outcome",
                lambda: f.volume_by_outcome(ev, every=every, time_zone=tz, **kw),
            ),
            (
                "delivery_rate",
                "Delivery rate over time",
                lambda: f.delivery_rate_over_time(ev, every=every, time_zone=tz, **kw),
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


_BILLING_COLS = (
    ("n_events", "Events", "count", True),
    ("n_used", "Billed events (with amount)", "count", True),
    ("n_missing_amount", "Events without amount", "count", True),
    ("total_amount", "Amount", "money", True),
    ("n_delivered", "Delivered messages", "count", True),
    ("cost_per_delivered", "Amount per delivered message", "money", False),
)


def _billing_table(
    frame: pl.DataFrame,
    key: str,
    title: str,
    label: str,
    by: str | None,
    every: m.Every | None,
    tz: str,
    total: pl.DataFrame,
    kw: dict[str, Any],
    note: str = "",
) -> ReportTable:
    cols = (
        Column("label", label, "label"),
        *[Column(n, lbl, kind, foots=f) for n, lbl, kind, f in _BILLING_COLS],  # type: ignore[arg-type]
    )
    names = [n for n, *_ in _BILLING_COLS]
    per = m.billing_summary(frame, by=(by,) if by else (), every=every, time_zone=tz, **kw)
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


def _billing_kpis(
    total: pl.DataFrame, by_campaign: pl.DataFrame, cost_scale: int
) -> dict[str, KPI]:
    t = _first(total)
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
    money: Callable[[Any], str] = lambda v: _money_texts([v])[0]  # noqa: E731
    kpis = [
        _kpi("total_amount", "Total billed", amount, money, "exact decimal sum"),
        _kpi("n_billed_events", "Billed events", n_used, _fmt_count),
        _kpi("n_events", "Events", int(t.get("n_events", 0)), _fmt_count),
        _kpi(
            "n_missing_amount",
            "Events without amount",
            int(t.get("n_missing_amount", 0)),
            _fmt_count,
        ),
        _kpi("n_delivered", "Delivered messages", int(t.get("n_delivered", 0)), _fmt_count),
        _kpi(
            "cost_per_delivered",
            "Amount per delivered message",
            t.get("cost_per_delivered"),
            money,
            f"rounded half-to-even to {cost_scale} decimals",
        ),
        _kpi(
            "mean_amount_per_billed_event",
            "Mean amount per billed event",
            mean,
            money,
            f"rounded half-to-even to {cost_scale} decimals",
        ),
        _kpi("n_campaigns_billed", "Campaigns billed", campaigns, _fmt_count),
    ]
    return {k.key: k for k in kpis}


@dataclass(frozen=True, repr=False)
class BillingReport(_ReportBase):
    """Billing report: exact Decimal totals by status, period, campaign and event type.

    Every table foots exactly to :attr:`total` (one ungrouped
    :func:`~leadping_nb.metrics.billing_summary` row). Build it with :meth:`from_frame`.

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

    @classmethod
    def from_frame(
        cls,
        frame: FrameLike,
        *,
        leads: Sequence[str] | None = None,
        window: Window | None = None,
        filters: EventQuery | str | None = None,
        time_zone: str = "UTC",
        every: m.Every | Literal["auto"] = "auto",
        include_warmup: bool = True,
        include_test: bool = True,
        cost_scale: int = 4,
        as_of: datetime | None = None,
        title: str = "Billing report",
        source: str = "events frame",
        store_version: int | None = None,
    ) -> BillingReport:
        """Compute a billing report from an events frame.

        Parameters are those of :meth:`DeliveryReport.from_frame`, except that warm-up
        and test traffic are included by default (billing counts what was billed), and
        ``cost_scale`` sets the decimals of the per-message amounts (rounded
        half-to-even; totals are never rounded).
        """
        from leadping_nb.figures import choose_period

        _check_meta_inputs(time_zone, every)
        if not 0 <= cost_scale <= 18:
            raise ValueError(f"cost_scale must be within [0, 18], got {cost_scale}")
        events, win, n_outside = _apply_window(frame, window)
        period = choose_period(events, every)
        produced_at, when = _now_pair(as_of)
        kw: dict[str, Any] = {
            "include_warmup": include_warmup,
            "include_test": include_test,
            "cost_scale": cost_scale,
        }
        total = m.billing_summary(events, by=(), **kw)
        tz = time_zone
        tables = (
            _billing_table(
                events,
                "billing_by_status",
                "By billing status",
                "Billing status",
                "billing_status",
                None,
                tz,
                total,
                kw,
            ),
            _billing_table(
                events,
                "billing_by_period",
                f"Per {period}",
                f"{period.capitalize()} ({tz})",
                None,
                period,
                tz,
                total,
                kw,
            ),
            _billing_table(
                events,
                "billing_by_campaign",
                "By campaign",
                "Campaign",
                "campaign_id",
                None,
                tz,
                total,
                kw,
            ),
            _billing_table(
                events,
                "billing_by_event_type",
                "By event type",
                "Event type",
                "event_type",
                None,
                tz,
                total,
                kw,
                note="Amounts are summed exactly as Decimal; every table foots to the total.",
            ),
        )
        flags = _Traffic(include_warmup=include_warmup, include_test=include_test)
        counts = m.summary(events, as_of=when, **flags).counts
        meta = _make_meta(
            title=title,
            frame=events,
            window=win,
            n_outside=n_outside,
            leads=leads,
            filters=filters,
            time_zone=time_zone,
            every=period,
            counts=counts,
            produced_at=produced_at,
            as_of=when,
            source=source,
            store_version=store_version,
            **flags,
        )
        kpis = _billing_kpis(total, tables[2].rows, cost_scale)
        return cls(meta, kpis, tables, total, events, cost_scale)

    def _figure_specs(self) -> list[tuple[str, str, Callable[[], Figure]]]:
        from leadping_nb import figures as f

        ev, tz, every = self.frame, self.meta.time_zone, self.meta.every
        kw = _Traffic(include_warmup=self.meta.include_warmup, include_test=self.meta.include_test)
        return [
            (
                "billed_over_time",
                "Billed amount over time",
                lambda: f.billed_over_time(ev, every=every, time_zone=tz, **kw),
            ),
            (
                "billed_by_campaign",
                "Billed amount by campaign",
                lambda: f.billed_by_campaign(ev, **kw),
            ),
        ]

    def __repr__(self) -> str:
        return _repr("BillingReport", self.meta, self.kpis, "total_amount")
