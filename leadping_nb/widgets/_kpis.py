"""The explorer's headline numbers (:class:`Kpis`) and how they are computed from a frame.

:func:`kpi_frame` narrows an events frame once to the per-event metric columns the KPIs
need (:func:`leadping_nb.metrics.with_metrics`); :func:`kpis_of` aggregates any row subset
of it in one ``select``. :func:`compute_kpis` is both for one frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from leadping_nb import metrics
from leadping_nb._core.format import (
    DEFAULT_CURRENCY,
    fmt_count,
    fmt_duration,
    fmt_rate,
    money_text,
)
from leadping_nb.widgets._html import kpi_cards_html

__all__ = ["Kpis", "compute_kpis", "kpi_frame", "kpis_of"]

_SCOPE = "__lp_scope"
_LEAD = "__lp_lead"  # lead id as an integer code: n_unique and filtering stay cheap
_TERMINAL = metrics.FINAL_OUTCOMES


@dataclass(frozen=True)
class Kpis:
    """The headline numbers of a set of events (definitions: ``docs/metrics.md``).

    Attributes
    ----------
    events, leads
        Events and distinct leads.
    outbound_messages
        Outbound messages of countable traffic (the delivery and latency scope).
    delivered, final_outcomes
        Delivered messages, and the messages with a final outcome (delivered +
        undeliverable + failed + blocked + no receipt,
        :data:`leadping_nb.metrics.FINAL_OUTCOMES`) in that scope.
    delivery_rate
        ``delivered / final_outcomes`` (``None`` when there are none), as
        :func:`leadping_nb.metrics.delivery_summary`.
    latency_p50_ms
        Median end-to-end latency (queued to delivered), as
        :func:`leadping_nb.metrics.latency_summary` ``p50_ms``.
    retried_share
        Share of messages with ``retry_count > 0``, as
        :func:`leadping_nb.metrics.retry_summary` ``share_retried``.
    billed
        Exact total ``billable_amount`` of the events in the traffic scope (customer
        traffic), as :func:`leadping_nb.metrics.billing_summary` ``total_amount``.
    """

    events: int
    leads: int
    outbound_messages: int
    delivered: int
    final_outcomes: int
    delivery_rate: float | None
    latency_p50_ms: float | None
    retried_share: float | None
    billed: Decimal

    def items(self, *, currency: str = DEFAULT_CURRENCY) -> list[tuple[str, str, str]]:
        """``(key, label, text)`` of each KPI card, in display order; the amount is shown
        in ``currency`` (the API states none: ``"USD"`` by default)."""
        return [
            ("events", "Events", fmt_count(self.events)),
            ("leads", "Leads", fmt_count(self.leads)),
            ("delivery_rate", "Delivery rate", fmt_rate(self.delivery_rate)),
            ("latency_p50", "Median latency (end to end)", fmt_duration(self.latency_p50_ms)),
            ("retried", "Messages retried", fmt_rate(self.retried_share)),
            ("billed", "Billed", money_text(self.billed, currency)),
        ]

    def to_html(self, *, currency: str = DEFAULT_CURRENCY) -> str:
        """KPI cards; each value carries ``data-kpi="<key>"`` for tests and styling."""
        detail = (
            f"{self.outbound_messages:,} outbound messages, {self.delivered:,} delivered of "
            f"{self.final_outcomes:,} with a final outcome"
        )
        return kpi_cards_html(self.items(currency=currency), detail)


def kpi_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The narrow frame the KPIs aggregate: metric columns computed once."""
    wm = metrics.with_metrics(frame)
    return wm.select(
        pl.col("lead_id").cast(pl.Categorical).to_physical().alias(_LEAD),
        "retry_count",
        pl.when(pl.col("is_countable_traffic"))
        .then(pl.col("billable_amount"))
        .alias("billable_amount"),
        "outcome",
        "latency_end_to_end_ms",
        (pl.col("is_outbound") & pl.col("is_countable_traffic")).fill_null(False).alias(_SCOPE),
    )


def _kpi_exprs() -> list[pl.Expr]:
    scope = pl.col(_SCOPE)
    outcome = pl.col("outcome")
    latency = pl.col("latency_end_to_end_ms")
    retry = pl.col("retry_count")
    return [
        pl.len().alias("events"),
        pl.col(_LEAD).drop_nulls().n_unique().alias("leads"),
        scope.sum().alias("outbound_messages"),
        (scope & (outcome == "delivered")).fill_null(False).sum().alias("delivered"),
        (scope & outcome.is_in(list(_TERMINAL))).fill_null(False).sum().alias("final"),
        latency.filter(scope & (latency >= 0)).quantile(0.5, "linear").alias("p50"),
        (scope & (retry >= 0)).fill_null(False).sum().alias("retry_used"),
        (scope & (retry > 0)).fill_null(False).sum().alias("retried"),
        pl.col("billable_amount").sum().alias("billed"),
    ]


def kpis_of(narrow: pl.DataFrame) -> Kpis:
    """The :class:`Kpis` of rows of a :func:`kpi_frame`."""
    row: dict[str, Any] = narrow.select(_kpi_exprs()).row(0, named=True)
    final = int(row["final"])
    used = int(row["retry_used"])
    billed = row["billed"]
    return Kpis(
        events=int(row["events"]),
        leads=int(row["leads"]),
        outbound_messages=int(row["outbound_messages"]),
        delivered=int(row["delivered"]),
        final_outcomes=final,
        delivery_rate=int(row["delivered"]) / final if final else None,
        latency_p50_ms=row["p50"],
        retried_share=int(row["retried"]) / used if used else None,
        billed=billed if isinstance(billed, Decimal) else Decimal(0),
    )


def compute_kpis(frame: pl.DataFrame) -> Kpis:
    """The :class:`Kpis` of a canonical events frame.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> from leadping_nb.metrics import delivery_summary
    >>> frame = events_frame(0, 300)
    >>> k = compute_kpis(frame)
    >>> k.events, k.delivery_rate == delivery_summary(frame)["delivery_rate"].item()
    (300, True)
    """
    return kpis_of(kpi_frame(frame))
