"""The explorer's cached events and their local views (no ipywidgets, no matplotlib here).

:class:`EventCache` holds what a fetch returned, prepared once so that a filter change is
answered from memory: the events sorted newest first, and a narrow frame with the
per-event metric columns (:func:`leadping_nb.metrics.with_metrics`) the KPIs need.
:meth:`EventCache.view` applies a :class:`~leadping_nb.widgets._state.FilterState` and a
lead selection and returns a :class:`LocalView`: the KPIs, the first rows, and a lazy
frame of the matching events for the figures. Nothing here sends a request.

The default figure tabs (:func:`default_figures`) are not computed from that lazy frame:
the first figure prepares :class:`_FigureFrame` once (the metric plans' per-event working
columns, reduced to a small integer code per event, and the scoped latencies sorted
once), and each figure then aggregates only the matching rows into the small "cube" the
metrics themselves derive every summary from (``leadping_nb.metrics._plans``), so a
figure shows exactly the numbers :mod:`leadping_nb.metrics` gives for the same events.
"""

from __future__ import annotations

import base64
import inspect
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from leadping_nb import metrics
from leadping_nb._core.format import (
    DEFAULT_CURRENCY,
    check_currency,
    fmt_count,
    fmt_rate,
    money_text,
    money_texts,
)
from leadping_nb.metrics._exprs import Every, Stage, period_key
from leadping_nb.metrics._plans import (
    AMOUNT_N,
    AMOUNT_SUM,
    COUNT,
    DEMO,
    MONEY,
    OUT,
    PENDING,
    SENT,
    TEST,
    WARM,
    N,
    billing_from_cube,
    countable,
    delivery_from_cube,
    grouping,
    money_scale,
    outbound,
    outcomes_from_cube,
    prepare,
    retry_distribution_from_cube,
)
from leadping_nb.widgets._state import (
    DEFAULT_SEARCH_FIELDS,
    DIMENSIONS,
    FilterState,
    canonical_status,
    search_column,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "TABLE_COLUMNS",
    "EventCache",
    "FigureSpec",
    "Kpis",
    "LocalView",
    "Selection",
    "compute_kpis",
    "default_figures",
    "figure_output",
    "grid_frame",
    "png_output",
    "rows_html",
]

#: Columns of the events table, in order (those missing from a frame are skipped).
TABLE_COLUMNS: tuple[str, ...] = (
    "created_at",
    "lead_id",
    "event_type",
    "direction",
    "status",
    "campaign_id",
    "source_id",
    "billable_amount",
    "summary",  # last: long texts, the grid scrolls sideways for them alone
)
_SCOPE = "__lp_scope"
_LEAD = "__lp_lead"  # lead id as an integer code: n_unique and filtering stay cheap
_TERMINAL = metrics.FINAL_OUTCOMES


def _ms_text(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


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
            ("latency_p50", "Median latency (end to end)", _ms_text(self.latency_p50_ms)),
            ("retried", "Messages retried", fmt_rate(self.retried_share)),
            ("billed", "Billed", money_text(self.billed, currency)),
        ]

    def to_html(self, *, currency: str = DEFAULT_CURRENCY) -> str:
        """KPI cards; each value carries ``data-kpi="<key>"`` for tests and styling."""
        cards = "".join(
            f'<div class="lp-kpi" style="display:inline-block;min-width:9em;margin:0 1.2em '
            f'.4em 0"><div style="font-size:.8em;color:#555">{escape(label)}</div>'
            f'<div data-kpi="{key}" style="font-size:1.5em;font-weight:600">{escape(text)}'
            "</div></div>"
            for key, label, text in self.items(currency=currency)
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
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
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


class _MetricFigure:
    """A default figure tab: :mod:`leadping_nb.figures` ``name`` with ``fixed`` arguments.

    Called as ``build(events, time_zone)`` it runs the public figure function on the
    events (what a custom :class:`FigureSpec` does). :meth:`draw_view` draws the same
    figure for a :class:`LocalView` from its cache's aggregates instead, without
    recomputing the per-event metrics (the explorer's path).
    """

    def __init__(self, name: str, **fixed: Any) -> None:
        self.name = name
        self.fixed = fixed

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.fixed.items())
        return f"_MetricFigure({self.name!r}{args})"

    @property
    def fast(self) -> bool:
        """Whether :meth:`draw_view` can draw it from the cache's aggregates."""
        honoured = _FAST_FIGURES.get(self.name)
        return honoured is not None and set(self.fixed) <= honoured

    def __call__(self, events: pl.LazyFrame, time_zone: str) -> Figure:
        from leadping_nb import figures  # matplotlib is imported on the first draw only

        fn = getattr(figures, self.name)
        kwargs = dict(self.fixed)
        if "time_zone" in inspect.signature(fn).parameters:
            kwargs["time_zone"] = time_zone
        figure: Figure = fn(events, **kwargs)
        return figure

    def draw_view(self, view: LocalView | Selection, ax: Axes, *, compact: bool = True) -> Figure:
        """Draw the figure of ``view`` into ``ax`` from the cache's figure aggregates.

        The numbers equal those of the public function on ``view.events()``;
        ``compact`` draws each bar series as one artist.
        """
        from leadping_nb import figures as f
        from leadping_nb.figures import _latency as fl

        data = view.figure_data(self.name, **self.fixed)
        if self.name == "delivery_rate_over_time":
            return f._draw_delivery(ax, *data, compact=compact)
        if self.name == "volume_by_outcome":
            return f._draw_volume(ax, *data, compact=compact)
        if self.name == "billed_over_time":
            currency = self.fixed.get("currency", DEFAULT_CURRENCY)
            return f._draw_billed(ax, *data, compact=compact, currency=currency)
        if self.name == "latency_histogram":
            return fl._draw_latency_histogram(ax, *data, compact=compact)
        if self.name == "failure_pareto":
            return fl._draw_failure_pareto(ax, *data)
        return fl._draw_retries(ax, *data)


def default_figures(*, currency: str = DEFAULT_CURRENCY) -> list[FigureSpec]:
    """The explorer's figure tabs, drawn by :mod:`leadping_nb.figures` (amounts in
    ``currency``)."""
    check_currency(currency)
    return [
        FigureSpec("delivery", "Delivery rate", _MetricFigure("delivery_rate_over_time")),
        FigureSpec("volume", "Volume", _MetricFigure("volume_by_outcome")),
        FigureSpec("latency", "Latency", _MetricFigure("latency_histogram", stage="end_to_end")),
        FigureSpec("failures", "Failures", _MetricFigure("failure_pareto")),
        FigureSpec("retries", "Retries", _MetricFigure("retries_by_count")),
        FigureSpec("billing", "Billing", _MetricFigure("billed_over_time", currency=currency)),
    ]


def png_output(png: bytes, *, alt: str = "") -> dict[str, Any]:
    """A ``display_data`` output of PNG bytes (base64), for ``Output.outputs``."""
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(png).decode("ascii"),
            "text/plain": f"<Figure: {alt}>",
        },
        "metadata": {},
    }


def figure_output(fig: Figure, *, dpi: int = 72, alt: str = "") -> dict[str, Any]:
    """A ``display_data`` output (PNG, base64) of a Figure, for ``Output.outputs``.

    The figure is drawn once and not kept: it is a plain ``Figure`` (no pyplot), so it is
    garbage-collected with its last reference.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return png_output(buf.getvalue(), alt=alt)


@dataclass(frozen=True)
class Selection:
    """The cached events matching a filter state and a lead selection (their row mask).

    Everything a figure needs, known before the KPIs: the explorer starts drawing the
    figure from it while :meth:`EventCache.view_of` computes the KPIs and the table.
    """

    cache: EventCache = field(repr=False)
    state: FilterState
    leads: tuple[str, ...]
    mask: pl.Series | None = field(repr=False)
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def events(self) -> pl.LazyFrame:
        """The matching events (lazy: only the columns a consumer uses are filtered)."""
        lf = self.cache.events.lazy()
        return lf if self.mask is None else lf.filter(self.mask)

    def figure_data(self, name: str, **fixed: Any) -> tuple[Any, ...]:
        """The numbers :mod:`leadping_nb.figures` ``name`` draws for these events (the
        arguments of its ``_draw_*`` function), aggregated from the cache.

        They equal what the public figure function computes from :meth:`events`.
        Aggregates several figures share (the cube per period) are kept with the
        selection, so switching tabs does not aggregate again.
        """
        frame = self.cache.figure_frame()
        return frame.figure_data(name, self.mask, self.state.time_zone, self._memo, **fixed)


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
        The matching rows shown (newest first; every one unless the view was asked for
        fewer), times in the state's zone.
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
    _selection: Selection | None = field(default=None, repr=False, compare=False)

    @property
    def n_events(self) -> int:
        """Matching events."""
        return self.kpis.events

    def figure_data(self, name: str, **fixed: Any) -> tuple[Any, ...]:
        """See :meth:`Selection.figure_data`."""
        if self._selection is None:
            raise ValueError("this view was not made by an EventCache")
        return self._selection.figure_data(name, **fixed)

    def events(self) -> pl.LazyFrame:
        """The matching events (lazy: only the columns a consumer uses are filtered)."""
        lf = self._events.lazy()
        return lf if self._mask is None else lf.filter(self._mask)

    def caption(self) -> str:
        """What the table shows: how many of the matching events, in which order and zone.

        Examples
        --------
        >>> from leadping_nb.emulator import events_frame
        >>> frame = events_frame(0, 30)
        >>> cache = EventCache(frame, fetched=FilterState(), lead_ids=frame["lead_id"].unique())
        >>> cache.view(FilterState(), rows=None).caption()
        'All 30 matching events, newest first (times in UTC)'
        """
        shown = self.table.height
        if not shown:
            return "No events match the filters."
        which = (
            f"All {shown:,}" if shown == self.n_events else f"First {shown:,} of {self.n_events:,}"
        )
        return f"{which} matching events, newest first (times in {self.state.time_zone})"

    def table_html(self) -> str:
        """The rows as an HTML table with a caption (values escaped, money exact)."""
        shown = self.table.height
        caption = self.caption()
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


def grid_frame(table: pl.DataFrame) -> pl.DataFrame:
    """``table`` as text for an interactive grid: times as ``YYYY-MM-DD HH:MM:SS`` (in
    the zone they carry), money as its exact text (:func:`~leadping_nb._core.format.money_texts`:
    the same decimals down a column, at least 4; never a float),
    everything else as text; a null is ``—``.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> t = pl.DataFrame(
    ...     {"created_at": [datetime(2026, 7, 1, 12, tzinfo=UTC), None],
    ...      "billable_amount": [Decimal("0.007900"), None], "retry_count": [2, None]},
    ...     schema={"created_at": pl.Datetime("us", "UTC"),
    ...             "billable_amount": pl.Decimal(18, 6), "retry_count": pl.Int32},
    ... )
    >>> grid_frame(t).rows()
    [('2026-07-01 12:00:00', '0.0079', '2'), ('—', '—', '—')]
    """
    columns: list[pl.Series] = []
    for name, dtype in table.schema.items():
        series = table.get_column(name)
        if isinstance(dtype, pl.Decimal):
            texts = money_texts(series.to_list())
            columns.append(pl.Series(name, texts, dtype=pl.String))
        elif isinstance(dtype, pl.Datetime):
            columns.append(series.dt.strftime("%Y-%m-%d %H:%M:%S").fill_null("—"))
        else:
            columns.append(series.cast(pl.String).fill_null("—"))
    return pl.DataFrame(columns, schema=dict.fromkeys(table.columns, pl.String))


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
        self._figure_lock = threading.Lock()
        self._figure_frame: _FigureFrame | None = None

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
        """Distinct values per filter dimension, keyed by ``Dimension.attr`` (a status the
        API spells two ways, ``Canceled`` / ``Cancelled``, is one option)."""
        out = {dim.attr: self.distinct(dim.column) for dim in DIMENSIONS}
        out["statuses"] = list(dict.fromkeys(canonical_status(v) for v in out["statuses"]))
        return out

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

    def select(self, state: FilterState, leads: Sequence[str] = ()) -> Selection:
        """The events matching ``state`` and ``leads`` (empty: every fetched lead)."""
        return Selection(self, state, tuple(leads), self.mask(state, leads))

    def view(
        self, state: FilterState, leads: Sequence[str] = (), *, rows: int | None = 20
    ) -> LocalView:
        """KPIs, first rows and matching events for ``state`` and ``leads``.

        ``leads`` empty means every fetched lead. Leads that were not fetched are
        reported in :attr:`LocalView.not_covered`, never fetched here.
        """
        return self.view_of(self.select(state, leads), rows=rows)

    def view_of(self, selection: Selection, *, rows: int | None = 20) -> LocalView:
        """The :class:`LocalView` (KPIs, first rows) of a :meth:`select` result; ``rows``
        ``None`` puts every matching row in the table."""
        state, leads, mask = selection.state, selection.leads, selection.mask
        kpi_frame = self._kpi_frame if mask is None else self._kpi_frame.filter(mask)
        kpis = _kpis_from_row(kpi_frame.select(_kpi_exprs()).row(0, named=True))
        if rows is None:
            first = self.events if mask is None else self.events.filter(mask)
        else:
            first = self.events.head(rows) if mask is None else self.events[_first_true(mask, rows)]
        cols = [c for c in TABLE_COLUMNS if c in first.columns]
        table = first.select(cols).with_columns(
            pl.col("created_at").dt.convert_time_zone(state.time_zone)
        )
        return LocalView(
            state=state,
            leads=leads,
            kpis=kpis,
            table=table,
            not_covered=tuple(self.not_covered(state, leads)),
            _events=self.events,
            _mask=mask,
            _selection=selection,
        )

    def figure_frame(self) -> _FigureFrame:
        """The per-event figure columns, prepared on first use (then kept)."""
        with self._figure_lock:
            if self._figure_frame is None:
                self._figure_frame = _FigureFrame(self.events)
            return self._figure_frame


# ---------------------------------------------------------------------------------------
# figure aggregates

_CODE = "__lp_code"
#: The cube's per-event dimensions besides the period (``metrics._plans.cube_plan``).
_DIMS: tuple[str, ...] = (OUT, WARM, TEST, DEMO, SENT, "retry_count", PENDING)
#: ``figures.failure_pareto``'s default outcomes.
_FAILURE_OUTCOMES = ("failed", "undeliverable", "blocked")
_LATENCY_SCOPE = "__lp_latency_scope"
_FAILURE_SCOPE = "__lp_failure_scope"
#: Figures :meth:`_FigureFrame.figure_data` draws, and the arguments it honours.
_FAST_FIGURES: dict[str, frozenset[str]] = {
    "delivery_rate_over_time": frozenset(),
    "volume_by_outcome": frozenset(),
    "billed_over_time": frozenset({"currency"}),
    "retries_by_count": frozenset(),
    "latency_histogram": frozenset({"stage", "bins"}),
    "failure_pareto": frozenset({"by", "top"}),
}


class _FigureFrame:
    """The cached events reduced to what the default figures aggregate, prepared once.

    * ``codes``: per event, the row of ``dims`` holding its outcome, warm-up / test
      flags, retry count and pending flag (the working columns of the metric plans,
      ``metrics._plans.prepare``; pending is judged at no instant, so false: no figure
      draws it). A figure groups the matching events by code (and period key) and joins
      ``dims`` back: the result is the cube ``metrics._plans.cube_plan`` computes, and
      the same ``*_from_cube`` functions as the metrics turn it into the figure's rows.
    * Per latency stage, the in-scope latencies sorted once, with their rows: the
      matching ones are picked in order, never sorted again.
    * The rows in the failure Pareto's scope.

    The period key per (period, zone) and the latencies per stage are computed on first
    use. Thread-safe.
    """

    def __init__(self, events: pl.DataFrame) -> None:
        self._events = events
        g = grouping((), None, "UTC", "created_at")
        ok = countable(include_warmup=False, include_test=False)
        prepared = (
            prepare(events.lazy(), g, as_of=None)
            .select(
                *_DIMS,
                (outbound() & ok).alias(_LATENCY_SCOPE),
                (pl.col(OUT).is_in(list(_FAILURE_OUTCOMES)).fill_null(False) & ok).alias(
                    _FAILURE_SCOPE
                ),
            )
            .collect()
        )
        dims = prepared.select(_DIMS)
        self.dims = dims.unique(maintain_order=True).with_row_index(_CODE)
        self.codes = dims.join(
            self.dims, on=list(_DIMS), how="left", nulls_equal=True, maintain_order="left"
        ).get_column(_CODE)
        self._latency_scope = prepared.get_column(_LATENCY_SCOPE)
        self._failure_rows = prepared.get_column(_FAILURE_SCOPE).arg_true()
        self._scale = money_scale(events.lazy())
        self._lock = threading.Lock()
        self._periods: dict[tuple[str, str], pl.Series] = {}
        self._latencies: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._cube_keys_by: dict[tuple[Any, ...], tuple[np.ndarray, int, int]] = {}

    def period_keys(self, every: Every, time_zone: str) -> pl.Series:
        """Per event, the Int32 key of its period (``metrics._exprs.period_key``)."""
        key = (every, time_zone)
        with self._lock:
            found = self._periods.get(key)
            if found is None:
                found = self._events.select(
                    period_key(every, time_zone, "created_at").alias("period")
                ).to_series()
                self._periods[key] = found
            return found

    def latencies(self, stage: Stage) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, values)`` of the in-scope, non-null latencies of ``stage`` (outbound
        messages of countable traffic, as ``latency_summary``), ascending by value."""
        with self._lock:
            found = self._latencies.get(stage)
            if found is None:
                lat = self._events.select(metrics.latency_ms(stage)).to_series()
                rows = (self._latency_scope & lat.is_not_null()).fill_null(False).arg_true()
                values = lat.gather(rows)
                order = values.arg_sort()
                found = (rows.gather(order).to_numpy(), values.gather(order).to_numpy())
                self._latencies[stage] = found
            return found

    def _cube_keys(self, every: Every | None, time_zone: str) -> tuple[np.ndarray, int, int]:
        """Per event, one integer cube key ``(period index) * len(dims) + code`` (the
        period index 0 is a null period); with the first period key and the key count."""
        n_dims = self.dims.height
        if every is None:
            return self.codes.to_numpy(), 0, n_dims
        cache_key = ("keys", every, time_zone)
        with self._lock:
            found = self._cube_keys_by.get(cache_key)
        if found is not None:
            return found
        periods = self.period_keys(every, time_zone)
        first = periods.min()
        last = periods.max()
        if not isinstance(first, int) or not isinstance(last, int):  # no period at all
            first = last = 0
        index = (periods.cast(pl.Int64) - (first - 1)).fill_null(0)
        keys = (index * n_dims + self.codes.cast(pl.Int64)).to_numpy()
        found = (keys, first - 1, (last - first + 2) * n_dims)
        with self._lock:
            self._cube_keys_by[cache_key] = found
        return found

    def cube(
        self,
        mask: pl.Series | None,
        every: Every | None,
        time_zone: str,
        *,
        money: bool,
        picked: np.ndarray | None = None,
    ) -> pl.DataFrame:
        """``cube_plan``'s cube of the matching events (with the amounts when ``money``).

        Counts are one ``bincount`` of the matching events' cube keys; amounts an exact
        Decimal sum per key. ``picked`` is ``mask`` as a NumPy array, if known.
        """
        keys, base, n_keys = self._cube_keys(every, time_zone)
        n_dims = self.dims.height
        if money:
            frame = pl.DataFrame(
                {"key": keys, MONEY: self._events.get_column(MONEY)},
                schema_overrides={"key": pl.Int64},
            )
            if mask is not None:
                frame = frame.filter(mask)
            agg = frame.group_by("key").agg(
                pl.len().cast(COUNT).alias(N),
                pl.col(MONEY).sum().alias(AMOUNT_SUM),
                pl.col(MONEY).count().cast(COUNT).alias(AMOUNT_N),
            )
        else:
            if mask is not None:
                keys = keys[mask.to_numpy() if picked is None else picked]
            counts = np.bincount(keys, minlength=n_keys)
            found = np.flatnonzero(counts)
            agg = pl.DataFrame({"key": found, N: counts[found]}, schema={"key": pl.Int64, N: COUNT})
        key = pl.col("key")
        cols = [(key % n_dims).cast(pl.UInt32).alias(_CODE)]
        if every is not None:
            index = key // n_dims
            period = pl.when(index > 0).then(index + base).cast(pl.Int32)
            cols.append(period.alias("period"))
        return agg.with_columns(cols).drop("key").join(self.dims, on=_CODE, how="left").drop(_CODE)

    def figure_data(
        self,
        name: str,
        mask: pl.Series | None,
        time_zone: str,
        memo: dict[Any, Any],
        **fixed: Any,
    ) -> tuple[Any, ...]:
        """The arguments of ``figures._draw_<name>`` (``_figure_latency._draw_<name>`` for
        the latency, failure and retry figures) for the events under ``mask``.

        ``memo`` keeps what several figures of the same events share.
        """
        from leadping_nb import figures as f
        from leadping_nb.figures import _latency as fl

        unknown = set(fixed) - _FAST_FIGURES.get(name, frozenset())
        if name not in _FAST_FIGURES or unknown:
            raise ValueError(f"no cached aggregates for {name} with {sorted(unknown)}")
        g0 = grouping((), None, time_zone, "created_at")
        if name == "retries_by_count":
            cube = self._memo(
                memo,
                ("cube", None, False),
                lambda: self.cube(mask, None, "UTC", money=False, picked=self._picked(mask, memo)),
            )
            dist = retry_distribution_from_cube(
                cube.lazy(), g0, include_warmup=False, include_test=False
            )
            return (dist.sort("retry_count").collect(),)
        if name == "latency_histogram":
            return (
                self._histogram(
                    mask, memo, fixed.get("stage", "end_to_end"), fixed.get("bins", 40)
                ),
            )
        if name == "failure_pareto":
            by = fixed.get("by", "status_reason")
            rows = self._failure_rows
            if mask is not None:
                rows = rows.filter(mask.gather(rows))
            keys = self._events.select(pl.col(by).gather(rows))
            counts = fl._tally(keys.lazy(), by, fixed.get("top", 10))
            return (counts, by, _FAILURE_OUTCOMES)
        every = self._memo(memo, ("every",), lambda: self._choose_period(mask))
        g = grouping((), every, time_zone, "created_at")
        if name == "billed_over_time":
            cube = self.cube(mask, every, time_zone, money=True).lazy()
            kw: dict[str, Any] = {  # the customer scope of every metric, billing included
                "include_warmup": False,
                "include_test": False,
                "include_demo": False,
                "cost_scale": 4,
                "scale": self._scale,
            }
            per, total = pl.collect_all(
                [
                    f._billed_periods(billing_from_cube(cube, g, **kw)),
                    billing_from_cube(cube, g0, **kw).select("total_amount"),
                ]
            )
            return (per, total.item(), every, time_zone)
        cube = self._memo(
            memo,
            ("cube", every, time_zone),
            lambda: self.cube(mask, every, time_zone, money=False, picked=self._picked(mask, memo)),
        ).lazy()
        scope = {"include_warmup": False, "include_test": False}
        if name == "volume_by_outcome":
            counts = f._volume_counts(outcomes_from_cube(cube, g, **scope)).collect()
            return (counts, every, time_zone)
        per, overall = pl.collect_all(
            [
                f._delivery_periods(delivery_from_cube(cube, g, **scope)),
                delivery_from_cube(cube, g0, **scope).select("delivery_rate"),
            ]
        )
        return (per, overall.item() if f._has_delivery(per) else None, every, time_zone)

    def _picked(self, mask: pl.Series | None, memo: dict[Any, Any]) -> np.ndarray | None:
        """``mask`` as a NumPy array (converted once per selection)."""
        return None if mask is None else self._memo(memo, ("mask",), mask.to_numpy)

    @staticmethod
    def _memo(memo: dict[Any, Any], key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def _choose_period(self, mask: pl.Series | None) -> Every:
        from leadping_nb.figures import choose_period

        created = self._events.select("created_at").lazy()
        return choose_period(created if mask is None else created.filter(mask))

    def _histogram(
        self, mask: pl.Series | None, memo: dict[Any, Any], stage: Stage, bins: int
    ) -> Any:
        from leadping_nb.figures._latency import _LatencyHistogram

        rows, values = self.latencies(stage)
        if mask is not None:
            picked = self._picked(mask, memo)
            assert picked is not None
            values = values[picked[rows]]
        n_negative = int(np.searchsorted(values, 0.0, side="left"))
        used = values[n_negative:]
        qs = (0.5, 0.9, 0.99)
        row = (
            pl.DataFrame({"v": used})
            .with_columns(pl.col("v").set_sorted())
            .select([metrics.percentile("v", q).alias(f"p{round(q * 100)}_ms") for q in qs])
            .row(0, named=True)
        )
        row["n_negative"] = n_negative
        return _LatencyHistogram.of(used, row, stage, bins)
