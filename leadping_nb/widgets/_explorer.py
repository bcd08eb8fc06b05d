"""``EventExplorer``: picker + filters + a cancellable fetch, then KPIs, table and figures.

Threads: a fetch runs on the client's private loop thread (:meth:`Client.start_fetch`);
its progress and done callbacks arrive on that thread and only set widget traits
(ipykernel 7 sends those; notebook-traps §3.6), never print. Figures are drawn on one worker
thread of the explorer, newest request first: a filter change computes the row mask,
starts the visible figure, then computes KPIs and table (both from the cache), so the
figure is drawn while the KPIs are. The default figures are drawn from the cache's
figure aggregates into one reusable fixed-layout figure per tab
(``leadping_nb.figures._base._Panel``). One lock orders every view update.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Protocol

import ipywidgets as widgets
import polars as pl

from leadping_nb._client import FetchJob, FetchProgress, FetchResult, ProgressCallback
from leadping_nb._core.format import DEFAULT_CURRENCY, check_currency
from leadping_nb._http.query import EventQuery
from leadping_nb.widgets._cache import (
    EventCache,
    FigureSpec,
    LocalView,
    Selection,
    _MetricFigure,
    default_figures,
    figure_output,
    grid_frame,
    png_output,
)
from leadping_nb.widgets._filters import FilterPanel
from leadping_nb.widgets._lead import LeadTimelineView
from leadping_nb.widgets._picker import LeadPicker, error_html
from leadping_nb.widgets._state import FilterState, Scheduler

__all__ = ["EventExplorer", "ExplorerClient"]

log = logging.getLogger("leadping_nb.widgets")
_NOTE = "font-size:.85em;color:#555"
_FIGURE_CACHE = 32


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


class ExplorerClient(Protocol):
    """What the explorer needs of a client (:class:`leadping_nb.Client` has it)."""

    @property
    def base_url(self) -> str:
        """The API root."""

    def leads(self, search: str | None = None, **kwargs: Any) -> pl.DataFrame:
        """The caller's leads."""

    def start_fetch(
        self,
        lead_ids: Sequence[str],
        query: EventQuery | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> FetchJob:
        """Start a background fetch."""


@dataclass
class _LeadProgress:
    pages: int = 0
    events: int = 0
    finished: bool = False
    error: str | None = None


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
        **kwargs: Any,
    ) -> None:
        self.currency = check_currency(currency)
        self.client = client
        self.table_rows = table_rows
        self.figure_dpi = figure_dpi
        self.background_figures = background_figures
        self.progress_interval = progress_interval
        self.fetch_options = dict(fetch_options or {})
        self.figure_specs: list[FigureSpec] = (
            list(figures) if figures is not None else default_figures(currency=currency)
        )

        self.picker = LeadPicker(
            client, max_options=max_options, debounce=debounce, scheduler=scheduler
        )
        self.filters = FilterPanel(time_zone=time_zone, now=now)
        self.fetch_button = widgets.Button(
            description="Fetch", button_style="primary", icon="download"
        )
        self.fetch_button.add_class("lp-fetch")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.cancel_button.add_class("lp-cancel")
        self.status = widgets.HTML()
        self.status.add_class("lp-status")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, description="Leads", style={"description_width": "initial"}
        )
        self.progress.add_class("lp-progress")
        self.progress_text = widgets.HTML()
        self.progress_text.add_class("lp-progress-text")
        self.lead_progress = widgets.HTML()
        self.lead_progress.add_class("lp-lead-progress")
        self.failed = widgets.HTML()
        self.failed.add_class("lp-failed")
        self.notice = widgets.HTML()
        self.notice.add_class("lp-notice")
        self.kpis = widgets.HTML(
            f'<span style="{_NOTE}">No data yet: pick leads, set filters, press Fetch.</span>'
        )
        self.kpis.add_class("lp-kpis-box")
        from itables.widget import ITable

        self.table = widgets.HTML()  # the caption: how many rows, order, time zone
        self.table.add_class("lp-table-caption")
        self.grid = ITable(caption="", **_GRID_OPTIONS)
        self.grid.add_class("lp-grid")
        self.table_box = widgets.VBox([self.table, self.grid])
        self.table_box.add_class("lp-table-box")
        self.figure_status = widgets.HTML()
        self.figure_status.add_class("lp-figure-status")
        self.figure_outputs = [widgets.Output() for _ in self.figure_specs]
        for spec, out in zip(self.figure_specs, self.figure_outputs, strict=True):
            out.add_class(f"lp-figure-{spec.key}")
        self.figure_tabs = widgets.Tab(
            children=self.figure_outputs, titles=[s.title for s in self.figure_specs]
        )
        self.figure_tabs.add_class("lp-figures")
        self.lead_view = LeadTimelineView(figure_dpi=figure_dpi)

        def heading(text: str) -> widgets.HTML:
            return widgets.HTML(f"<h4 style='margin:.6em 0 .2em'>{escape(text)}</h4>")

        heading_html = f"<h3 style='margin:.2em 0'>{escape(title)}</h3>" if title else ""
        super().__init__(
            children=[
                widgets.HTML(
                    # figures as wide as the explorer (their PNGs are drawn at figure_dpi)
                    "<style>.lp-explorer .lp-figures .widget-output img"
                    "{width:100%;max-width:1400px;height:auto}</style>"
                    f"{heading_html}<span style='{_NOTE}'>API: {escape(client.base_url)}</span>"
                ),
                heading("1. Leads"),
                self.picker,
                heading("2. Filters"),
                self.filters,
                heading("3. Fetch"),
                widgets.HBox([self.fetch_button, self.cancel_button, self.status]),
                widgets.HBox([self.progress, self.progress_text]),
                self.lead_progress,
                self.failed,
                heading("4. Results"),
                self.notice,
                self.kpis,
                self.table_box,
                self.figure_status,
                self.figure_tabs,
                heading("5. Lead timeline"),
                self.lead_view,
            ],
            **kwargs,
        )
        self.add_class("lp-explorer")

        self.cache: EventCache | None = None
        self.result: FetchResult | None = None
        self.view: LocalView | None = None
        self.job: FetchJob | None = None
        self._lock = threading.RLock()
        self._generation = 0
        self._fetch_id = 0
        self._active_fetch: int | None = None
        self._fetch_idle = threading.Event()
        self._fetch_idle.set()
        self._lead_state: dict[str, _LeadProgress] = {}
        self._totals: FetchProgress | None = None
        self._last_draw = 0.0
        self._fetch_started = 0.0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._figure_futures: list[concurrent.futures.Future[None]] = []
        self._figure_cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._figure_view: list[Selection | None] = [None] * len(self.figure_specs)
        self._panels: dict[str, Any] = {}  # spec key -> figures._base._Panel (figure thread only)

        self.fetch_button.on_click(self._guard(lambda _b: self.fetch()))
        self.cancel_button.on_click(self._guard(lambda _b: self.cancel()))
        self.filters.observe(self._guard(lambda _c: self.refresh()), names="state")
        self.picker.observe(self._guard(lambda _c: self.refresh()), names="value")
        self.figure_tabs.observe(self._guard(self._on_tab), names="selected_index")
        if lead_ids:
            self.picker.add_ids(lead_ids)

    # ------------------------------------------------------------------ helpers

    def _guard(self, fn: Callable[..., Any]) -> Callable[..., None]:
        """Run a callback; show any exception inline (never in the log console)."""

        def run(*args: Any) -> None:
            try:
                fn(*args)
            except Exception as exc:  # a widget callback must never raise into the void
                log.debug("explorer callback failed", exc_info=True)
                self.status.value = error_html(f"{type(exc).__name__}: {exc}")

        return run

    def _set_status(self, html: str) -> None:
        self.status.value = html

    # ------------------------------------------------------------------ fetching

    def fetch(self) -> FetchJob | None:
        """Fetch the picked leads with the panel's query in the background.

        Returns the running job, or ``None`` when nothing was started (no leads, invalid
        filters, a fetch already running); the reason is shown in the status line.
        """
        leads = tuple(self.picker.value)
        if not leads:
            self._set_status(error_html("Pick at least one lead first."))
            return None
        state = self.filters.state
        query = self.filters.query
        if query is None:
            self._set_status(error_html(f"Fix the filters first: {self.filters.error}"))
            return None
        if not self._fetch_idle.is_set():
            self._set_status(error_html("A fetch is running; cancel it first."))
            return None
        with self._lock:
            self._fetch_id += 1
            fetch_id = self._fetch_id
            self._active_fetch = fetch_id
            self._lead_state = {lead: _LeadProgress() for lead in leads}
            self._totals = None
            self.progress.max = len(leads)
            self.progress.value = 0
            self.progress.bar_style = "info"
            self.progress_text.value = "Starting…"
            self.lead_progress.value = ""
            self.failed.value = ""
            self._fetch_started = time.monotonic()
            self._fetch_idle.clear()
        try:
            job = self.client.start_fetch(
                leads,
                query,
                on_progress=lambda p: self._on_progress(fetch_id, p),
                **self.fetch_options,
            )
        except Exception:
            self._fetch_idle.set()
            raise
        self.job = job
        self.fetch_button.disabled = True
        self.cancel_button.disabled = False
        self._set_status(f"Fetching {len(leads)} lead{'s' if len(leads) != 1 else ''}…")
        job.add_done_callback(lambda j: self._on_done(fetch_id, j, state, leads))
        return job

    def cancel(self) -> bool:
        """Stop the running fetch (in-flight requests are cancelled); keep earlier data."""
        job = self.job
        if job is None or job.done():
            return False
        self._set_status("Cancelling…")
        return job.cancel(wait=10.0)

    def wait(self, timeout: float | None = None) -> FetchResult | None:
        """Block until the fetch (and the figure being drawn) is done; return its result.

        For scripts and tests; a notebook does not need it (the widgets update by
        themselves). Raises ``TimeoutError`` when ``timeout`` passes first.
        """
        if not self._fetch_idle.wait(timeout):
            raise TimeoutError(f"the fetch did not finish within {timeout} s")
        self.wait_figures(timeout)
        return self.result

    def _on_progress(self, fetch_id: int, p: FetchProgress) -> None:
        """Progress of a page or a lead (on the client's loop thread)."""
        try:
            with self._lock:
                if fetch_id != self._active_fetch:
                    return  # a cancelled or older fetch
                lead = self._lead_state.setdefault(p.lead_id, _LeadProgress())
                lead.pages, lead.events = p.lead_pages, p.lead_events
                lead.finished = p.lead_finished
                if p.error is not None:
                    lead.error = f"{type(p.error).__name__}: {p.error}"
                self._totals = p
                now = time.monotonic()
                if p.lead_finished or now - self._last_draw >= self.progress_interval:
                    self._last_draw = now
                    self._draw_progress()
        except Exception:  # never let a widget problem break the fetch
            log.debug("progress update failed", exc_info=True)

    def _draw_progress(self) -> None:
        p = self._totals
        if p is None:
            return
        self.progress.max = max(p.leads_total, 1)
        self.progress.value = p.leads_done
        failed = f", {p.leads_failed} failed" if p.leads_failed else ""
        self.progress_text.value = (
            f'<span data-pages="{p.pages}" data-events="{p.events}">'
            f"{p.leads_done}/{p.leads_total} leads{failed} · {p.pages:,} pages · "
            f"{p.events:,} events</span>"
        )
        rows = []
        for lead_id, s in self._lead_state.items():
            if len(self._lead_state) > 30 and s.finished and s.error is None:
                continue  # many leads: list only those running or failed
            mark = "✗ failed" if s.error else ("✓ done" if s.finished else "… running")
            if not s.finished and not s.pages:
                mark = "waiting"
            rows.append(
                f"<tr><td><code>{escape(lead_id)}</code></td><td>{s.pages:,}</td>"
                f"<td>{s.events:,}</td><td>{mark}</td></tr>"
            )
        self.lead_progress.value = (
            "<table class='lp-lead-table' style='font-size:.85em'><tr><th>lead</th>"
            "<th>pages</th><th>events</th><th></th></tr>" + "".join(rows) + "</table>"
        )

    def _on_done(
        self, fetch_id: int, job: FetchJob, state: FilterState, leads: tuple[str, ...]
    ) -> None:
        """The fetch ended (on the loop thread, or the cancelling thread)."""
        try:
            with self._lock:
                if fetch_id != self._fetch_id:
                    return
                self._active_fetch = None
                self._draw_progress()
                elapsed = time.monotonic() - self._fetch_started
                if job.cancelled():
                    p = self._totals
                    got = f"{p.pages:,} pages, {p.events:,} events" if p else "nothing"
                    self.progress.bar_style = "warning"
                    kept = " The earlier data are still shown." if self.cache else ""
                    self._set_status(
                        f'<span class="lp-cancelled">Cancelled after {elapsed:.1f} s '
                        f"({got} fetched, discarded).{kept}</span>"
                    )
                    return
                try:
                    result = job.result()
                except Exception as exc:
                    log.debug("fetch failed", exc_info=True)
                    self.progress.bar_style = "danger"
                    self._set_status(error_html(f"Fetch failed: {type(exc).__name__}: {exc}"))
                    return
                self._store(result, state, leads, elapsed)
        except Exception as exc:
            log.debug("fetch completion failed", exc_info=True)
            self._set_status(error_html(f"{type(exc).__name__}: {exc}"))
        finally:
            self.fetch_button.disabled = False
            self.cancel_button.disabled = True
            self._fetch_idle.set()

    def _store(
        self, result: FetchResult, state: FilterState, leads: tuple[str, ...], elapsed: float
    ) -> None:
        self.result = result
        ok = [lead for lead in leads if lead not in result.errors]
        self.cache = EventCache(result.frame, fetched=state, lead_ids=ok)
        self._figure_cache.clear()
        self.progress.bar_style = (
            "danger" if result.errors and not ok else ("warning" if result.errors else "success")
        )
        self.failed.value = self._failed_html(result) + self._empty_html(result)
        empty = len(result.empty)
        self._set_status(
            f'<span class="lp-fetched">Fetched {result.frame.height:,} events from '
            f"{len(ok)} of {len(leads)} leads in {elapsed:.2f} s"
            + (f"; {empty} returned no events" if empty else "")
            + ".</span>"
        )
        self.filters.add_options(self.cache.options())  # may refresh through the observer
        self.refresh()

    @staticmethod
    def _empty_html(result: FetchResult) -> str:
        """The leads that returned no events: an unknown id looks the same (the API
        answers it with an empty page, not 404), so they are named."""
        empty = result.empty
        if not empty:
            return ""
        n = len(empty)
        shown = ", ".join(f"<code>{escape(lead)}</code>" for lead in empty[:50])
        more = f" and {n - 50} more" if n > 50 else ""
        return (
            f'<div class="lp-empty-panel" style="border-left:3px solid #b58900;'
            f'padding-left:.5em"><b>{n} lead{"s" if n != 1 else ""} returned no events</b>: '
            f'{shown}{more} <span style="{_NOTE}">(unknown ids? the API answers an unknown '
            "lead with an empty page, not 404; or nothing matched the filters)</span></div>"
        )

    @staticmethod
    def _failed_html(result: FetchResult) -> str:
        if not result.errors:
            return ""
        failed = result.status.filter(~pl.col("ok"))
        rows = "".join(
            f"<tr><td><code>{escape(r['lead_id'])}</code></td>"
            f"<td>{escape(str(r['error_type']))}</td><td>{escape(str(r['error']))}</td>"
            f"<td>{r['pages']}</td></tr>"
            for r in failed.iter_rows(named=True)
        )
        n = failed.height
        return (
            f'<div class="lp-failed-panel" style="border-left:3px solid #b00020;'
            f'padding-left:.5em"><b>{n} lead{"s" if n != 1 else ""} failed</b> '
            f'<span style="{_NOTE}">(their events are not included)</span>'
            "<table style='font-size:.85em'><tr><th>lead</th><th>error</th><th>message</th>"
            f"<th>pages before the error</th></tr>{rows}</table></div>"
        )

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
            self.cache = EventCache(frame, fetched=fetched or FilterState(), lead_ids=leads)
            self._figure_cache.clear()
            self.filters.add_options(self.cache.options())
            return self.refresh()

    def refresh(self) -> LocalView | None:
        """Recompute the view from the cached events (no request) and redraw it.

        KPIs and table are updated before this returns; the visible figure follows
        (on the figure thread unless ``background_figures=False``).
        """
        with self._lock:
            self._generation += 1
            cache = self.cache
            if cache is None:
                return None
            if self.filters.error:
                self.notice.value = error_html(f"Filters not applied: {self.filters.error}")
                return None
            selection = cache.select(self.filters.state, self.picker.value)
            self._figure_view = [None] * len(self.figure_specs)
            index = self.figure_tabs.selected_index
            if index is not None and self.background_figures:
                # start the figure now: it is drawn while the KPIs are computed
                self._draw_figure(index, selection)
            view = cache.view_of(selection, rows=self.table_rows)
            self.view = view
            self.kpis.value = view.kpis.to_html(currency=self.currency)
            self.table.value = (
                f'<div class="lp-table" style="font-size:.85em;color:#555">'
                f"{escape(view.caption())}</div>"
            )
            # the options again: update() falls back to itables' defaults (which downsample)
            grid = grid_frame(view.table)
            self.grid.update(grid, columnDefs=_money_column_defs(view.table), **_GRID_OPTIONS)
            if view.not_covered:
                items = "".join(f"<li>{escape(r)}</li>" for r in view.not_covered)
                self.notice.value = (
                    '<div class="lp-stale" style="border-left:3px solid #e69500;'
                    'padding-left:.5em">The cached events were fetched with narrower '
                    "filters, so this view may miss events. Press <b>Fetch</b> to fetch "
                    f"them:<ul style='margin:0'>{items}</ul></div>"
                )
                self.fetch_button.button_style = "warning"
            else:
                self.notice.value = ""
                self.fetch_button.button_style = "primary"
            if index is not None and not self.background_figures:
                self._draw_figure(index, selection)
            self.lead_view.set_events(selection.events(), time_zone=self.filters.state.time_zone)
            return view

    def _on_tab(self, change: dict[str, Any]) -> None:
        index = change["new"]
        with self._lock:
            view = self.view
            if index is None or view is None or view._selection is None:
                return
            if self._figure_view[index] is view._selection:
                return
            self._draw_figure(index, view._selection)

    def _figure_key(self, index: int, selection: Selection) -> tuple[Any, ...]:
        spec = self.figure_specs[index]
        return (id(selection.cache), spec.key, selection.state, selection.leads)

    def _draw_figure(self, index: int, selection: Selection) -> None:
        """Draw figure ``index`` for ``selection`` (cached per state; newest request
        wins)."""
        key = self._figure_key(index, selection)
        cached = self._figure_cache.get(key)
        if cached is not None:
            self._figure_cache.move_to_end(key)
            self.figure_outputs[index].outputs = (cached,)
            self._figure_view[index] = selection
            return
        generation = self._generation
        spec = self.figure_specs[index]
        self.figure_status.value = f'<span style="{_NOTE}">Drawing {escape(spec.title)}…</span>'

        def draw() -> None:
            if generation != self._generation:
                return  # a newer view was asked for
            try:
                output = self._render(spec, selection)
            except Exception as exc:
                log.debug("figure %s failed", spec.key, exc_info=True)
                with self._lock:
                    if generation == self._generation:
                        self.figure_status.value = error_html(
                            f"{spec.title} could not be drawn: {type(exc).__name__}: {exc}"
                        )
                return
            with self._lock:
                self._figure_cache[key] = output
                while len(self._figure_cache) > _FIGURE_CACHE:
                    self._figure_cache.popitem(last=False)
                if generation == self._generation:
                    self.figure_outputs[index].outputs = (output,)
                    self._figure_view[index] = selection
                    self.figure_status.value = ""

        if not self.background_figures:
            draw()
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="leadping-figures"
            )
        future = self._executor.submit(draw)
        self._figure_futures = [f for f in self._figure_futures if not f.done()] + [future]

    def _render(self, spec: FigureSpec, selection: Selection) -> dict[str, Any]:
        """The output of figure ``spec`` for ``selection`` (on the figure thread).

        A default figure is drawn from the cache's aggregates into the tab's reusable
        panel (fixed layout, one artist per bar series); any other spec is called with
        the matching events and its Figure rendered as it is.
        """
        build = spec.build
        if isinstance(build, _MetricFigure) and build.fast:
            from leadping_nb.figures import _base as _figure_base

            panel = self._panels.get(spec.key)
            if panel is None:
                margins = _figure_base._PANEL_MARGINS.get(build.name, (0.11, 0.9, 0.2, 0.935))
                panel = _figure_base._Panel(dpi=self.figure_dpi, margins=margins)
                self._panels[spec.key] = panel
            build.draw_view(selection, panel.clear())
            return png_output(panel.png(), alt=spec.title)
        figure = build(selection.events(), selection.state.time_zone)
        return figure_output(figure, dpi=self.figure_dpi, alt=spec.title)

    def wait_figures(self, timeout: float | None = None) -> None:
        """Block until every figure asked for so far is drawn (scripts, tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._figure_futures if not f.done()]
            if not pending:
                return
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            _done, not_done = concurrent.futures.wait(pending, timeout=left)
            if not_done:
                raise TimeoutError(f"figures not drawn within {timeout} s")

    def close(self) -> None:
        """Cancel a running fetch, stop the figure thread and close every child widget."""
        if "_panels" not in self.__dict__:  # __init__ refused its arguments: nothing to stop
            super().close()
            return
        job = self.job
        if job is not None and not job.done():
            job.cancel(wait=5.0)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._panels.clear()
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
