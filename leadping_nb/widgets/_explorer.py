"""``EventExplorer``: picker + filters + a cancellable fetch, then KPIs, table and figures.

The explorer lays out and wires its parts, each doing one job: :class:`LeadPicker` and
:class:`FilterPanel` (what to fetch and show), :class:`~leadping_nb.widgets._fetch.FetchRunner`
(the background fetch and its progress), :class:`~leadping_nb.widgets.EventCache` (the
fetched events and their local views), :class:`~leadping_nb.widgets._render.FigureRenderer`
(the figure tabs, on one worker thread) and :class:`LeadTimelineView`; the HTML comes from
:mod:`leadping_nb.widgets._html`. A filter change computes the row mask, starts the
visible figure, then computes KPIs and table (both from the cache), so the figure is drawn
while the KPIs are. One lock orders every view update.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import ipywidgets as widgets
import polars as pl

from leadping_nb._client import FetchJob, FetchResult
from leadping_nb._core.format import DEFAULT_CURRENCY, check_currency
from leadping_nb.widgets._cache import EventCache, LocalView
from leadping_nb.widgets._fetch import ExplorerClient, FetchRunner, html_widget
from leadping_nb.widgets._figures import FigureSpec, default_figures
from leadping_nb.widgets._filters import FilterPanel
from leadping_nb.widgets._html import (
    NOTE,
    caption_html,
    error_html,
    grid_frame,
    guarded,
    header_html,
    heading_html,
    stale_html,
)
from leadping_nb.widgets._lead import LeadTimelineView
from leadping_nb.widgets._picker import LeadPicker
from leadping_nb.widgets._render import FigureRenderer
from leadping_nb.widgets._state import FilterState, Scheduler

__all__ = ["EventExplorer", "ExplorerClient"]

#: Options of the events table (:class:`itables.widget.ITable`), at creation and on
#: every update.
_GRID_OPTIONS: dict[str, Any] = {
    "maxBytes": 0,  # never downsample: every matching row is in the table
    "pageLength": 15,
    "lengthMenu": [15, 50, 200, 1000],
    "classes": "display compact nowrap",
    "showIndex": False,
    "show_dtypes": False,
    "scrollX": True,
}


def _money_column_defs(table: pl.DataFrame) -> list[dict[str, Any]]:
    """DataTables column options for the money columns: right-aligned, and sorted by their
    numeric value (the cells stay the exact text; DataTables parses it only to sort)."""
    money = [i for i, d in enumerate(table.dtypes) if isinstance(d, pl.Decimal)]
    if not money:
        return []
    return [{"targets": money, "className": "dt-right", "type": "num-fmt"}]


class EventExplorer(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Explore lead activity: pick leads, set filters, fetch, read KPIs, rows and figures.

    **Fetch** sends the filter panel's :class:`~leadping_nb.EventQuery` for the picked
    leads in the background: a progress bar advances per lead, counters per page, a
    per-lead table shows pages and events, and **Cancel** really stops the requests in
    flight. Leads that failed are listed with their errors; their events are not mixed
    in. Leads that returned no events are named too (an unknown lead id looks the same:
    the API answers it with an empty page). Then the KPIs
    (:class:`~leadping_nb.widgets.Kpis`), the first rows and the figure of the selected
    tab (:mod:`leadping_nb.figures`) are shown.

    Changing a filter or the lead selection afterwards refreshes everything from the
    cached events, without a request. If the new filters are wider than the fetched
    ones, the view says what is missing and Fetch turns orange. The page size only
    affects the next fetch.

    Parameters
    ----------
    client
        A :class:`leadping_nb.Client` (for example ``Emulator(...).client()``).
    time_zone
        Initial zone of dates, table times and calendar periods.
    lead_ids
        Initially selected leads.
    max_options, debounce, scheduler
        Passed to :class:`~leadping_nb.widgets.LeadPicker`.
    table_rows
        Rows of the events table (default ``None``: every matching event, in an
        interactive :class:`itables.widget.ITable` that sorts, searches and pages them;
        money is exact text, times are in the chosen zone).
    figures
        Figure tabs (default: delivery rate, volume, latency, failures, retries,
        billing). Only the visible tab is drawn; others are drawn when selected.
    figure_dpi
        Resolution of the figure images (they are shown as wide as the explorer).
    title
        Heading above the controls (``None``: none, when the page has its own title).
    background_figures
        Draw figures on a worker thread (default) or inline (tests, benchmarks).
    progress_interval
        Seconds between progress redraws (each lead's end is always drawn).
    fetch_options
        Extra keyword arguments of :meth:`leadping_nb.Client.start_fetch`
        (``concurrency``, ``max_pages``, ...).
    currency
        Currency of the amounts shown (three upper-case letters; the API states none,
        so ``"USD"`` by default): the Billed card and the billing figure's axis.
    now
        The instant the filter panel's date presets ("last 7 days", "last month") are
        taken at (default: the current time); pass ``Emulator.now`` for emulator data.
    layout
        The box's :class:`ipywidgets.Layout` (default: a new one), as for any
        ipywidgets box.

    The **lead view** (:attr:`lead_view`, a
    :class:`~leadping_nb.widgets.LeadTimelineView`) offers the leads of the current
    rows; picking one shows its :func:`~leadping_nb.metrics.lead_timeline` table and
    :func:`~leadping_nb.figures.lead_timeline_figure`.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=5)
    >>> explorer = EventExplorer(emu.client(), lead_ids=["lead_0001", "lead_0002"])
    >>> job = explorer.fetch()
    >>> explorer.wait(timeout=30).ok
    True
    >>> explorer.view.kpis.leads
    2
    """

    def __init__(
        self,
        client: ExplorerClient,
        *,
        time_zone: str = "UTC",
        lead_ids: Sequence[str] = (),
        max_options: int = 500,
        debounce: float = 0.3,
        scheduler: Scheduler | None = None,
        table_rows: int | None = None,
        figures: Sequence[FigureSpec] | None = None,
        figure_dpi: int = 120,
        title: str | None = "Leadping event explorer",
        background_figures: bool = True,
        progress_interval: float = 0.1,
        fetch_options: dict[str, Any] | None = None,
        currency: str = DEFAULT_CURRENCY,
        now: datetime | None = None,
        layout: widgets.Layout | None = None,
    ) -> None:
        self.currency = check_currency(currency)
        self.client = client
        self.table_rows = table_rows
        self.figure_dpi = figure_dpi
        self.background_figures = background_figures
        self.cache: EventCache | None = None
        self.result: FetchResult | None = None
        self.view: LocalView | None = None
        self._lock = threading.RLock()

        self.picker = LeadPicker(
            client, max_options=max_options, debounce=debounce, scheduler=scheduler
        )
        self.filters = FilterPanel(time_zone=time_zone, now=now)
        self.fetcher = FetchRunner(
            client,
            lock=self._lock,
            on_result=self._store,
            has_data=lambda: self.cache is not None,
            progress_interval=progress_interval,
            fetch_options=dict(fetch_options or {}),
        )
        specs = list(figures) if figures is not None else default_figures(currency=currency)
        self.renderer = FigureRenderer(
            specs, lock=self._lock, dpi=figure_dpi, background=background_figures
        )
        # the parts' widgets, by the names the explorer has always had
        self.fetch_button, self.cancel_button = (
            self.fetcher.fetch_button,
            self.fetcher.cancel_button,
        )
        self.status, self.progress = self.fetcher.status, self.fetcher.progress
        self.progress_text, self.lead_progress = (
            self.fetcher.progress_text,
            self.fetcher.lead_progress,
        )
        self.failed = self.fetcher.failed
        self.figure_specs, self.figure_outputs = self.renderer.specs, self.renderer.outputs
        self.figure_tabs, self.figure_status = self.renderer.tabs, self.renderer.status
        self._panels = self.renderer.panels  # spec key -> FigurePanel (the figure thread's)
        self._build_results()
        self.lead_view = LeadTimelineView(figure_dpi=figure_dpi)
        super().__init__(children=self._layout(title), layout=layout or widgets.Layout())
        self.add_class("lp-explorer")
        self._wire()
        if lead_ids:
            self.picker.add_ids(lead_ids)

    def _build_results(self) -> None:
        """The result widgets: notice, KPI cards, the table's caption and grid."""
        from itables.widget import ITable

        self.notice = html_widget("lp-notice")
        no_data = "No data yet: pick leads, set filters, press Fetch."
        self.kpis = html_widget("lp-kpis-box", f'<span style="{NOTE}">{no_data}</span>')
        self.table = html_widget("lp-table-caption")  # the caption: how many rows, order, zone
        self.grid = ITable(caption="", **_GRID_OPTIONS)
        self.grid.add_class("lp-grid")
        self.table_box = widgets.VBox([self.table, self.grid])
        self.table_box.add_class("lp-table-box")

    def _layout(self, title: str | None) -> list[widgets.Widget]:
        """The explorer's rows, step by step."""

        def heading(text: str) -> widgets.HTML:
            return widgets.HTML(heading_html(text))

        return [
            widgets.HTML(header_html(title, self.client.base_url)),
            heading("1. Leads"),
            self.picker,
            heading("2. Filters"),
            self.filters,
            heading("3. Fetch"),
            *self.fetcher.children(),
            heading("4. Results"),
            self.notice,
            self.kpis,
            self.table_box,
            self.figure_status,
            self.figure_tabs,
            heading("5. Lead timeline"),
            self.lead_view,
        ]

    def _wire(self) -> None:
        """Buttons and observers; every callback shows its exception in the status line."""

        def guard(fn: Callable[..., Any]) -> Callable[..., None]:
            return guarded(fn, lambda html: setattr(self.status, "value", html), "explorer")

        self.fetch_button.on_click(guard(lambda _b: self.fetch()))
        self.cancel_button.on_click(guard(lambda _b: self.cancel()))
        self.filters.observe(guard(lambda _c: self.refresh()), names="state")
        self.picker.observe(guard(lambda _c: self.refresh()), names="value")
        self.figure_tabs.observe(guard(self._on_tab), names="selected_index")

    # ------------------------------------------------------------------ fetch settings

    @property
    def job(self) -> FetchJob | None:
        """The last fetch started."""
        return self.fetcher.job

    @property
    def fetch_options(self) -> dict[str, Any]:
        """Extra keyword arguments of :meth:`leadping_nb.Client.start_fetch`."""
        return self.fetcher.fetch_options

    @fetch_options.setter
    def fetch_options(self, options: dict[str, Any]) -> None:
        self.fetcher.fetch_options = dict(options)

    @property
    def progress_interval(self) -> float:
        """Seconds between progress redraws."""
        return self.fetcher.progress_interval

    @progress_interval.setter
    def progress_interval(self, seconds: float) -> None:
        self.fetcher.progress_interval = seconds

    # ------------------------------------------------------------------ fetching

    def fetch(self) -> FetchJob | None:
        """Fetch the picked leads with the panel's query in the background.

        Returns the running job, or ``None`` when nothing was started (no leads, invalid
        filters, a fetch already running); the reason is shown in the status line.
        """
        leads = tuple(self.picker.value)
        if not leads:
            self.fetcher.show_error("Pick at least one lead first.")
            return None
        query = self.filters.query
        if query is None:
            self.fetcher.show_error(f"Fix the filters first: {self.filters.error}")
            return None
        return self.fetcher.start(leads, self.filters.state, query)

    def cancel(self) -> bool:
        """Stop the running fetch (in-flight requests are cancelled); keep earlier data."""
        return self.fetcher.cancel()

    def wait(self, timeout: float | None = None) -> FetchResult | None:
        """Block until the fetch (and the figure being drawn) is done; return its result.

        For scripts and tests; a notebook does not need it (the widgets update by
        themselves). Raises ``TimeoutError`` when ``timeout`` passes first.
        """
        if not self.fetcher.idle.wait(timeout):
            raise TimeoutError(f"the fetch did not finish within {timeout} s")
        self.wait_figures(timeout)
        return self.result

    def _store(
        self, result: FetchResult, state: FilterState, leads: tuple[str, ...], _elapsed: float
    ) -> None:
        """A fetch ended with ``result`` (under the lock): cache it and show it."""
        self.result = result
        ok = [lead for lead in leads if lead not in result.errors]
        self._set_cache(EventCache(result.frame, fetched=state, lead_ids=ok))

    def _set_cache(self, cache: EventCache) -> LocalView | None:
        self.cache = cache
        self.renderer.clear_cache()
        self.filters.add_options(cache.options())  # may refresh through the observer
        return self.refresh()

    # ------------------------------------------------------------------ local views

    def load_frame(
        self,
        frame: pl.DataFrame,
        *,
        fetched: FilterState | None = None,
        lead_ids: Sequence[str] | None = None,
    ) -> LocalView | None:
        """Explore an events frame you already have (a store, a file) without fetching.

        ``fetched`` says what the frame holds (default: everything); ``lead_ids`` the
        leads in it (default: those in its ``lead_id`` column).
        """
        leads = (
            list(lead_ids)
            if lead_ids is not None
            else frame.get_column("lead_id").drop_nulls().unique().sort().to_list()
        )
        with self._lock:
            return self._set_cache(
                EventCache(frame, fetched=fetched or FilterState(), lead_ids=leads)
            )

    def refresh(self) -> LocalView | None:
        """Recompute the view from the cached events (no request) and redraw it.

        KPIs and table are updated before this returns; the visible figure follows
        (on the figure thread unless ``background_figures=False``).
        """
        with self._lock:
            self.renderer.invalidate()
            cache = self.cache
            if cache is None:
                return None
            if self.filters.error:
                self.notice.value = error_html(f"Filters not applied: {self.filters.error}")
                return None
            selection = cache.select(self.filters.state, self.picker.value)
            self.renderer.forget_shown()
            index = self.figure_tabs.selected_index
            if index is not None and self.background_figures:
                # start the figure now: it is drawn while the KPIs are computed
                self.renderer.draw(index, selection)
            view = cache.view_of(selection, rows=self.table_rows)
            self.view = view
            self.kpis.value = view.kpis.to_html(currency=self.currency)
            self.table.value = caption_html(view.caption())
            # the options again: update() falls back to itables' defaults (which downsample)
            grid = grid_frame(view.table)
            self.grid.update(grid, columnDefs=_money_column_defs(view.table), **_GRID_OPTIONS)
            self.notice.value = stale_html(view.not_covered) if view.not_covered else ""
            self.fetch_button.button_style = "warning" if view.not_covered else "primary"
            if index is not None and not self.background_figures:
                self.renderer.draw(index, selection)
            self.lead_view.set_events(selection.events(), time_zone=self.filters.state.time_zone)
            return view

    def _on_tab(self, change: dict[str, Any]) -> None:
        index = change["new"]
        with self._lock:
            view = self.view
            if index is None or view is None or view._selection is None:
                return
            if self.renderer.shows(index, view._selection):
                return
            self.renderer.draw(index, view._selection)

    def wait_figures(self, timeout: float | None = None) -> None:
        """Block until every figure asked for so far is drawn (scripts, tests)."""
        self.renderer.wait(timeout)

    def close(self) -> None:
        """Cancel a running fetch, stop the figure thread and close every child widget."""
        if "renderer" not in self.__dict__:  # __init__ refused its arguments: nothing to stop
            super().close()
            return
        job = self.job
        if job is not None and not job.done():
            job.cancel(wait=5.0)
        self.renderer.close()
        for child in _descendants(self):
            child.close()
        super().close()


def _descendants(box: widgets.Box) -> list[widgets.Widget]:
    out: list[widgets.Widget] = []
    for child in box.children:
        if isinstance(child, widgets.Box):
            out.extend(_descendants(child))
        out.append(child)
    return out
