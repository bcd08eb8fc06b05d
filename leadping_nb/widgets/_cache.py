"""The explorer's cached events and their local views (no ipywidgets, no matplotlib here).

:class:`EventCache` holds what a fetch returned, prepared once so that a filter change is
answered from memory: the events sorted newest first, a narrow frame with the per-event
metric columns the KPIs need (:func:`~leadping_nb.widgets._kpis.kpi_frame`), and, from
the first figure on, a :class:`leadping_nb.metrics.EventCube` of the events for the
figures (:mod:`leadping_nb.widgets._figures`). :meth:`EventCache.select` applies a
:class:`~leadping_nb.widgets.FilterState` and a lead selection (a :class:`Selection`: the
row mask, all a figure needs); :meth:`EventCache.view_of` adds the KPIs and the first rows
(a :class:`LocalView`). Nothing here sends a request.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from leadping_nb.figures import choose_period
from leadping_nb.metrics import CubeSelection, EventCube, Every
from leadping_nb.widgets._figures import Plot, plot_args, plot_of
from leadping_nb.widgets._html import table_html
from leadping_nb.widgets._kpis import Kpis, kpi_frame, kpis_of
from leadping_nb.widgets._state import (
    DEFAULT_SEARCH_FIELDS,
    DIMENSIONS,
    FilterState,
    canonical_status,
    search_column,
)

__all__ = ["TABLE_COLUMNS", "EventCache", "LocalView", "Selection"]

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

    @property
    def time_zone(self) -> str:
        """The zone of the filter state (of the figures' periods)."""
        return self.state.time_zone

    def cube(self) -> CubeSelection:
        """The matching events in the cache's :class:`~leadping_nb.metrics.EventCube`
        (kept with the selection: the counts several figures share are made once)."""
        found = self._memo.get("cube")
        if found is None:
            found = self._memo.setdefault("cube", self.cache.cube().select(self.mask))
        return found  # type: ignore[no-any-return]

    def period(self) -> Every:
        """The period of the time figures, chosen from the matching events' span
        (:func:`leadping_nb.figures.choose_period`)."""
        found = self._memo.get("every")
        if found is None:
            created = self.cache.events.select("created_at").lazy()
            picked = created if self.mask is None else created.filter(self.mask)
            found = self._memo.setdefault("every", choose_period(picked))
        return found  # type: ignore[no-any-return]

    def figure_plot(
        self,
        name: str,
        *,
        stage: str | None = None,
        bins: int | None = None,
        by: str | None = None,
        top: int | None = None,
        currency: str | None = None,
    ) -> Plot:
        """The plot object of :mod:`leadping_nb.figures` ``name`` for these events,
        from the cache's cube (:func:`~leadping_nb.widgets._figures.plot_of`).

        ``stage`` and ``bins`` (latency histogram), ``by`` and ``top`` (failure Pareto) and
        ``currency`` (billed) are the figure function's parameters of the same names;
        ``None`` leaves the figure's default. A parameter the figure does not take is a
        ``ValueError``.
        """
        return plot_of(
            self,
            name,
            **_given({"stage": stage, "bins": bins, "by": by, "top": top, "currency": currency}),
        )

    def figure_data(
        self,
        name: str,
        *,
        stage: str | None = None,
        bins: int | None = None,
        by: str | None = None,
        top: int | None = None,
        currency: str | None = None,
    ) -> tuple[Any, ...]:
        """The numbers :mod:`leadping_nb.figures` ``name`` draws for these events (the
        fields of :meth:`figure_plot`, which takes the same parameters), aggregated from
        the cache.

        They equal what the public figure function computes from :meth:`events`.
        """
        return plot_args(
            self.figure_plot(name, stage=stage, bins=bins, by=by, top=top, currency=currency)
        )


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The figure parameters given (not ``None``)."""
    return {k: v for k, v in values.items() if v is not None}


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

    def _made_by_a_cache(self) -> Selection:
        if self._selection is None:
            raise ValueError("this view was not made by an EventCache")
        return self._selection

    def figure_plot(
        self,
        name: str,
        *,
        stage: str | None = None,
        bins: int | None = None,
        by: str | None = None,
        top: int | None = None,
        currency: str | None = None,
    ) -> Plot:
        """See :meth:`Selection.figure_plot`."""
        return self._made_by_a_cache().figure_plot(
            name, stage=stage, bins=bins, by=by, top=top, currency=currency
        )

    def figure_data(
        self,
        name: str,
        *,
        stage: str | None = None,
        bins: int | None = None,
        by: str | None = None,
        top: int | None = None,
        currency: str | None = None,
    ) -> tuple[Any, ...]:
        """See :meth:`Selection.figure_data`."""
        return self._made_by_a_cache().figure_data(
            name, stage=stage, bins=bins, by=by, top=top, currency=currency
        )

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
        return table_html(self.caption(), self.table)


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
    >>> from leadping_nb.emulator import events_frame
    >>> frame = events_frame(0, 400)
    >>> leads = frame["lead_id"].unique().sort().to_list()
    >>> cache = EventCache(frame, fetched=FilterState(), lead_ids=leads)
    >>> view = cache.view(FilterState(directions=("Outbound",)), leads[:1])
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
        self._kpi_frame = kpi_frame(self.events)
        self._searchable: dict[str, _Searchable] = {}
        for name in DEFAULT_SEARCH_FIELDS:
            self._search_in(search_column(name))
        self._cube_lock = threading.Lock()
        self._cube: EventCube | None = None

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
        kpis = kpis_of(kpi_frame)
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

    def cube(self) -> EventCube:
        """The events as a :class:`~leadping_nb.metrics.EventCube` (the figures' counts),
        made on first use, then kept."""
        with self._cube_lock:
            if self._cube is None:
                self._cube = EventCube(self.events)
            return self._cube
