"""The explorer's cached events and their local views (no ipywidgets, no matplotlib here).

:class:`EventCache` holds what a fetch returned, prepared once so that a filter change is
answered from memory: the events sorted newest first, and a narrow frame with the
per-event metric columns (:func:`leadping_nb.metrics.with_metrics`) the KPIs need.
:meth:`EventCache.view` applies a :class:`~leadping_nb._widgets_state.FilterState` and a
lead selection and returns a :class:`LocalView`: the KPIs, the first rows, and a lazy
frame of the matching events for the figures. Nothing here sends a request.
"""

from __future__ import annotations

import base64
import inspect
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING, Any

import polars as pl

from . import metrics
from ._widgets_state import DEFAULT_SEARCH_FIELDS, DIMENSIONS, FilterState, search_column

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "TABLE_COLUMNS",
    "EventCache",
    "FigureSpec",
    "Kpis",
    "LocalView",
    "compute_kpis",
    "default_figures",
    "figure_output",
    "money_text",
    "rows_html",
]

#: Columns of the first-rows table, in order (those missing from a frame are skipped).
TABLE_COLUMNS: tuple[str, ...] = (
    "created_at",
    "lead_id",
    "event_type",
    "direction",
    "status",
    "campaign_id",
    "source_id",
    "summary",
    "billable_amount",
)
_SCOPE = "__lp_scope"
_LEAD = "__lp_lead"  # lead id as an integer code: n_unique and filtering stay cheap
_TERMINAL = ("delivered", "failed", "undeliverable")


def money_text(value: Decimal | None) -> str:
    """Exact text of a Decimal amount with at least two decimals (``—`` for ``None``).

    Examples
    --------
    >>> money_text(Decimal("5509.447000")), money_text(Decimal("0E-6")), money_text(None)
    ('5,509.447', '0.00', '—')
    """
    if value is None:
        return "—"
    exponent = value.normalize().as_tuple().exponent
    digits = max(2, -exponent) if isinstance(exponent, int) else 2
    return format(value.quantize(Decimal(1).scaleb(-digits)), ",f")


def _ms_text(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def _share_text(share: float | None) -> str:
    return "—" if share is None else f"{share:.1%}"


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
        Delivered messages, and delivered + failed + undeliverable in that scope.
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
        Exact total ``billable_amount`` of every event, as
        :func:`leadping_nb.metrics.billing_summary` ``total_amount``.
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

    def items(self) -> list[tuple[str, str, str]]:
        """``(key, label, text)`` of each KPI card, in display order."""
        return [
            ("events", "Events", f"{self.events:,}"),
            ("leads", "Leads", f"{self.leads:,}"),
            ("delivery_rate", "Delivery rate", _share_text(self.delivery_rate)),
            ("latency_p50", "Median latency (end to end)", _ms_text(self.latency_p50_ms)),
            ("retried", "Messages retried", _share_text(self.retried_share)),
            ("billed", "Billed", money_text(self.billed)),
        ]

    def to_html(self) -> str:
        """KPI cards; each value carries ``data-kpi="<key>"`` for tests and styling."""
        cards = "".join(
            f'<div class="lp-kpi" style="display:inline-block;min-width:9em;margin:0 1.2em '
            f'.4em 0"><div style="font-size:.8em;color:#555">{escape(label)}</div>'
            f'<div data-kpi="{key}" style="font-size:1.5em;font-weight:600">{escape(text)}'
            "</div></div>"
            for key, label, text in self.items()
        )
        detail = (
            f"{self.outbound_messages:,} outbound messages, {self.delivered:,} delivered of "
            f"{self.final_outcomes:,} with a final outcome"
        )
        return (
            f'<div class="lp-kpis">{cards}<div style="font-size:.8em;color:#555">'
            f"{escape(detail)}</div></div>"
        )


def _with_scope(frame: pl.DataFrame) -> pl.DataFrame:
    """The narrow frame the KPIs aggregate: metric columns computed once."""
    wm = metrics.with_metrics(frame)
    return wm.select(
        pl.col("lead_id").cast(pl.Categorical).to_physical().alias(_LEAD),
        "retry_count",
        "billable_amount",
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


def _kpis_from_row(row: dict[str, Any]) -> Kpis:
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
    >>> from datetime import datetime, UTC
    >>> from leadping_nb._schema import EVENT_SCHEMA
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame(
    ...     [{"lead_id": "a", "direction": "Outbound", "queued_at": t, "delivered_at": t},
    ...      {"lead_id": "b", "direction": "Outbound", "failed_at": t}],
    ...     schema=EVENT_SCHEMA,
    ... )
    >>> k = compute_kpis(df)
    >>> k.events, k.leads, k.delivery_rate, k.latency_p50_ms
    (2, 2, 0.5, 0.0)
    """
    return _kpis_from_row(_with_scope(frame).select(_kpi_exprs()).row(0, named=True))


@dataclass(frozen=True)
class FigureSpec:
    """One figure tab: a key, a title and ``build(events, time_zone) -> Figure``."""

    key: str
    title: str
    build: Callable[[pl.LazyFrame, str], Figure]


def _figure(name: str, **fixed: Any) -> Callable[[pl.LazyFrame, str], Figure]:
    """A builder calling :mod:`leadping_nb.figures` ``name`` (imported on first draw, so
    building the explorer does not import matplotlib)."""

    def build(events: pl.LazyFrame, time_zone: str) -> Figure:
        from . import figures

        fn = getattr(figures, name)
        kwargs = dict(fixed)
        if "time_zone" in inspect.signature(fn).parameters:
            kwargs["time_zone"] = time_zone
        figure: Figure = fn(events, **kwargs)
        return figure

    return build


def default_figures() -> list[FigureSpec]:
    """The explorer's figure tabs, drawn by :mod:`leadping_nb.figures`."""
    return [
        FigureSpec("delivery", "Delivery rate", _figure("delivery_rate_over_time")),
        FigureSpec("volume", "Volume", _figure("volume_by_outcome")),
        FigureSpec("latency", "Latency", _figure("latency_histogram", stage="end_to_end")),
        FigureSpec("failures", "Failures", _figure("failure_pareto")),
        FigureSpec("retries", "Retries", _figure("retries_by_count")),
        FigureSpec("billing", "Billing", _figure("billed_over_time")),
    ]


def figure_output(fig: Figure, *, dpi: int = 72, alt: str = "") -> dict[str, Any]:
    """A ``display_data`` output (PNG, base64) of a Figure, for ``Output.outputs``.

    The figure is drawn once and not kept: it is a plain ``Figure`` (no pyplot), so it is
    garbage-collected with its last reference.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {
        "output_type": "display_data",
        "data": {"image/png": data, "text/plain": f"<Figure: {alt}>"},
        "metadata": {},
    }


@dataclass(frozen=True)
class LocalView:
    """What the explorer shows for one filter state, computed from the cache.

    Attributes
    ----------
    state, leads
        The filter state and the leads shown.
    kpis
        Headline numbers of the matching events.
    table
        The first matching rows (newest first), times in the state's zone.
    not_covered
        Why the cache may miss matching events (empty: the view is exact).
    """

    state: FilterState
    leads: tuple[str, ...]
    kpis: Kpis
    table: pl.DataFrame
    not_covered: tuple[str, ...]
    _events: pl.DataFrame = field(repr=False)
    _mask: pl.Series | None = field(repr=False)

    @property
    def n_events(self) -> int:
        """Matching events."""
        return self.kpis.events

    def events(self) -> pl.LazyFrame:
        """The matching events (lazy: only the columns a consumer uses are filtered)."""
        lf = self._events.lazy()
        return lf if self._mask is None else lf.filter(self._mask)

    def table_html(self) -> str:
        """The first rows as an HTML table with a caption (values escaped, money exact)."""
        shown = self.table.height
        caption = (
            f"First {shown:,} of {self.n_events:,} matching events, newest first "
            f"(times in {self.state.time_zone})"
            if shown
            else "No events match the filters."
        )
        return (
            f'<div class="lp-table"><div style="font-size:.85em;color:#555">{escape(caption)}'
            f"</div>{rows_html(self.table) if shown else ''}</div>"
        )


def _cell(value: object) -> str:
    if value is None:
        return '<span style="color:#999">—</span>'
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return format(value, "f")
    return escape(str(value))


def rows_html(frame: pl.DataFrame) -> str:
    """A plain HTML table of a small frame (every row; nulls as a dash).

    Examples
    --------
    >>> html = rows_html(pl.DataFrame({"a": ["<b>", None]}))
    >>> html.count("<tr>"), "&lt;b&gt;" in html, "—" in html
    (3, True, True)
    """
    head = "".join(f"<th>{escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in frame.rows()
    )
    return f'<table class="lp-rows"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


@dataclass(frozen=True)
class _Searchable:
    """A text column prepared once for case-insensitive substring search.

    Texts repeat (templated summaries): the distinct values are lower-cased and searched,
    and the hits are spread to the rows through a code per row. A column of mostly
    distinct values is kept lower-cased as it is.
    """

    values: pl.Series
    codes: pl.Series | None

    @classmethod
    def of(cls, column: pl.Series) -> _Searchable:
        text = column.cast(pl.String)
        distinct = text.unique()
        if distinct.len() > max(text.len() // 4, 1):
            return cls(text.str.to_lowercase(), None)
        index = pl.DataFrame(
            {"v": distinct, "i": pl.int_range(distinct.len(), dtype=pl.UInt32, eager=True)}
        )
        codes = (
            pl.DataFrame({"v": text})
            .join(index, on="v", how="left", maintain_order="left", nulls_equal=True)
            .get_column("i")
        )
        return cls(distinct.str.to_lowercase(), codes)

    def contains(self, term: str) -> pl.Series:
        """Rows whose text contains ``term`` (already lower-case); nulls never match."""
        hit = self.values.str.contains(term, literal=True).fill_null(False)
        return hit if self.codes is None else hit.gather(self.codes)


def _first_true(mask: pl.Series, n: int) -> pl.Series:
    """Indices of the first ``n`` true values, scanning growing windows (dense masks stop
    early instead of listing every match)."""
    found: list[pl.Series] = []
    count, start, window = 0, 0, 4096
    while count < n and start < mask.len():
        idx = mask.slice(start, window).arg_true() + start
        found.append(idx)
        count += idx.len()
        start += window
        window *= 4
    if not found:
        return pl.Series("idx", [], dtype=pl.UInt32)
    return pl.concat(found).head(n)


class EventCache:
    """Fetched events prepared for local views (sorted once, metric columns once).

    Parameters
    ----------
    frame
        The canonical events frame a fetch returned.
    fetched
        The filter state the fetch was made with.
    lead_ids
        The leads that were fetched successfully.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=3)
    >>> with emu.client() as client:
    ...     frame = client.fetch_events(emu.lead_ids()).frame
    >>> cache = EventCache(frame, fetched=FilterState(), lead_ids=emu.lead_ids())
    >>> view = cache.view(FilterState(directions=("Outbound",)), ["lead_0001"])
    >>> view.kpis.leads, view.not_covered
    (1, ())
    """

    def __init__(
        self, frame: pl.DataFrame, *, fetched: FilterState, lead_ids: Sequence[str]
    ) -> None:
        self.fetched = fetched
        self.lead_ids: tuple[str, ...] = tuple(lead_ids)
        self._lead_set = frozenset(self.lead_ids)
        self.events = frame.sort("created_at", descending=True, nulls_last=True)
        self._kpi_frame = _with_scope(self.events)
        self._searchable: dict[str, _Searchable] = {}
        for name in DEFAULT_SEARCH_FIELDS:
            self._search_in(search_column(name))

    def _search_in(self, column: str) -> _Searchable:
        found = self._searchable.get(column)
        if found is None:
            found = _Searchable.of(self.events.get_column(column))
            self._searchable[column] = found
        return found

    def _search_mask(self, state: FilterState) -> pl.Series | None:
        term = state.search.strip().lower()
        if not term or not state.search_fields:
            return None
        hits: pl.Series | None = None
        for name in state.search_fields:
            hit = self._search_in(search_column(name)).contains(term)
            hits = hit if hits is None else hits | hit
        return None if hits is None else hits.fill_null(False)

    @property
    def height(self) -> int:
        """Cached events."""
        return self.events.height

    def distinct(self, column: str) -> list[str]:
        """Distinct non-null values of a string column (for the filter options)."""
        if column not in self.events.columns:
            return []
        values = self.events.get_column(column).drop_nulls().unique().to_list()
        return [v for v in values if isinstance(v, str)]

    def options(self) -> dict[str, list[str]]:
        """Distinct values per filter dimension, keyed by ``Dimension.attr``."""
        return {dim.attr: self.distinct(dim.column) for dim in DIMENSIONS}

    def not_covered(self, state: FilterState, leads: Sequence[str]) -> list[str]:
        """Why the cache may miss events of ``state`` and ``leads`` (empty: it has all)."""
        out = state.not_covered_by(self.fetched)
        missing = [lead for lead in leads if lead not in self._lead_set]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            shown = ", ".join(missing[:5]) + more
            out.insert(0, f"leads not in the cached events (not fetched or failed): {shown}")
        return out

    def mask(self, state: FilterState, leads: Sequence[str]) -> pl.Series | None:
        """Boolean row mask of ``state`` and ``leads`` over :attr:`events` (``None``: all)."""
        parts: list[pl.Expr] = []
        predicate = state.local_predicate(search=False)
        if predicate is not None:
            parts.append(predicate)
        chosen = [lead for lead in leads if lead in self._lead_set]
        if leads and set(chosen) != self._lead_set:
            parts.append(pl.col("lead_id").is_in(chosen))
        mask: pl.Series | None = None
        if parts:
            expr = parts[0] if len(parts) == 1 else pl.all_horizontal(parts)
            mask = self.events.select(expr.fill_null(False)).to_series()
        found = self._search_mask(state)
        if found is not None:
            mask = found if mask is None else mask & found
        return mask

    def view(self, state: FilterState, leads: Sequence[str] = (), *, rows: int = 20) -> LocalView:
        """KPIs, first rows and matching events for ``state`` and ``leads``.

        ``leads`` empty means every fetched lead. Leads that were not fetched are
        reported in :attr:`LocalView.not_covered`, never fetched here.
        """
        mask = self.mask(state, leads)
        kpi_frame = self._kpi_frame if mask is None else self._kpi_frame.filter(mask)
        kpis = _kpis_from_row(kpi_frame.select(_kpi_exprs()).row(0, named=True))
        first = self.events.head(rows) if mask is None else self.events[_first_true(mask, rows)]
        cols = [c for c in TABLE_COLUMNS if c in first.columns]
        table = first.select(cols).with_columns(
            pl.col("created_at").dt.convert_time_zone(state.time_zone)
        )
        return LocalView(
            state=state,
            leads=tuple(leads),
            kpis=kpis,
            table=table,
            not_covered=tuple(self.not_covered(state, leads)),
            _events=self.events,
            _mask=mask,
        )
