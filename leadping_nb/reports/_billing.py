"""The billing report: its KPIs, its tables and :class:`BillingReport`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from leadping_nb import metrics as m
from leadping_nb._core.format import (
    DEFAULT_CURRENCY,
    check_currency,
    fmt_count,
    money_label,
    money_text,
)
from leadping_nb._core.window import Window
from leadping_nb._http.query import EventQuery
from leadping_nb.metrics._passes import BillingMetrics, billing_metrics
from leadping_nb.reports._base import (
    _TOTAL,
    KPI,
    Column,
    ColumnKind,
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
from leadping_nb.reports._inputs import _inputs, _Traffic

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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


def _dimension_tables(
    pm: BillingMetrics, period: m.Every, tz: str, currency: str
) -> tuple[ReportTable, ...]:
    """The billing summaries by status, period, campaign and event type (each foots to
    the total)."""
    specs = (
        (
            pm.by_status,
            "billing_by_status",
            "By billing status",
            "Billing status",
            "billing_status",
        ),
        (pm.by_period, "billing_by_period", f"Per {period}", f"{period.capitalize()} ({tz})", None),
        (pm.by_campaign, "billing_by_campaign", "By campaign", "Campaign", "campaign_id"),
        (pm.by_event_type, "billing_by_event_type", "By event type", "Event type", "event_type"),
    )
    last = "Amounts are summed exactly as Decimal; every table foots to the total."
    return tuple(
        _billing_table(
            per,
            key,
            title,
            label,
            by,
            None if by else period,
            pm.total,
            currency,
            note=last if key == "billing_by_event_type" else "",
        )
        for per, key, title, label, by in specs
    )


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
    # Long because it is a list: sixteen KPI declarations (key, label, value, formatter).
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
        check_currency(currency)
        if not 0 <= cost_scale <= 18:
            raise ValueError(f"cost_scale must be within [0, 18], got {cost_scale}")
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
        pm = billing_metrics(
            events,
            every=period,
            time_zone=time_zone,
            scope=inputs.scope,
            as_of=inputs.as_of,
            receipt_timeout=m.RECEIPT_TIMEOUT,
            cost_scale=cost_scale,
        )
        total = pm.total
        tables = (
            _billing_channel_table(pm.channels, pm.whole, currency),
            _billing_state_table(pm.states, pm.whole, currency),
            *_dimension_tables(pm, period, time_zone, currency),
        )
        meta = inputs.meta(
            title=title,
            leads=leads,
            filters=filters,
            time_zone=time_zone,
            counts=pm.counts,
            source=source,
            store_version=store_version,
            currency=currency,
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
