"""``FetchRunner``: the explorer's Fetch and Cancel, one background fetch at a time, with
its progress shown as it comes.

The fetch runs on the client's private loop thread (:meth:`leadping_nb.Client.start_fetch`);
its progress and done callbacks arrive on that thread and only set widget traits
(ipykernel 7 sends those), never print. Progress is redrawn at most every
``progress_interval`` seconds, and at the end of each lead. The result goes to the
``on_result`` callback (the explorer caches it and refreshes its view).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ipywidgets as widgets

from leadping_nb._client import FetchJob, FetchProgress, FetchResult, ProgressCallback
from leadping_nb._http.query import EventQuery
from leadping_nb.widgets._html import (
    LeadProgress,
    cancelled_html,
    empty_html,
    error_html,
    failed_html,
    fetched_html,
    lead_table_html,
    log,
    progress_html,
)
from leadping_nb.widgets._picker import LeadSource
from leadping_nb.widgets._state import FilterState

__all__ = ["ExplorerClient", "FetchRunner", "ResultCallback", "html_widget"]


class ExplorerClient(LeadSource, Protocol):
    """What the explorer needs of a client (:class:`leadping_nb.Client` has it): the
    picker's :meth:`~leadping_nb.Client.leads`, the API root and a background fetch."""

    @property
    def base_url(self) -> str:
        """The API root."""

    def start_fetch(
        self,
        lead_ids: Sequence[str],
        query: EventQuery | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> FetchJob:
        """Start a background fetch."""


#: ``on_result(result, state, leads, elapsed)``: a fetch ended with ``result``.
ResultCallback = Callable[[FetchResult, FilterState, tuple[str, ...], float], None]


class FetchRunner:
    """Fetch and Cancel buttons, the status line, the progress bar, counters, the
    per-lead table and the failed / empty lead panels, and the fetch behind them.

    Parameters
    ----------
    client
        Where :meth:`start` fetches.
    lock
        The explorer's lock: it orders every view update.
    on_result
        Called (under ``lock``) with a finished fetch's result.
    has_data
        Whether earlier data are shown (said when a fetch is cancelled).
    progress_interval
        Seconds between progress redraws.
    fetch_options
        Extra keyword arguments of :meth:`leadping_nb.Client.start_fetch`.
    """

    def __init__(
        self,
        client: ExplorerClient,
        *,
        lock: threading.RLock,
        on_result: ResultCallback,
        has_data: Callable[[], bool],
        progress_interval: float,
        fetch_options: dict[str, Any],
    ) -> None:
        self.client = client
        self.progress_interval = progress_interval
        self.fetch_options = fetch_options
        self._lock = lock
        self._on_result = on_result
        self._has_data = has_data
        self.fetch_button = widgets.Button(
            description="Fetch", button_style="primary", icon="download"
        )
        self.fetch_button.add_class("lp-fetch")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.cancel_button.add_class("lp-cancel")
        self.status = html_widget("lp-status")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, description="Leads", style={"description_width": "initial"}
        )
        self.progress.add_class("lp-progress")
        self.progress_text = html_widget("lp-progress-text")
        self.lead_progress = html_widget("lp-lead-progress")
        self.failed = html_widget("lp-failed")
        self.job: FetchJob | None = None
        self.idle = threading.Event()
        self.idle.set()
        self._fetch_id = 0
        self._active: int | None = None
        self._leads: dict[str, LeadProgress] = {}
        self._totals: FetchProgress | None = None
        self._last_draw = 0.0
        self._started = 0.0

    def children(self) -> list[widgets.Widget]:
        """The fetch section's rows."""
        return [
            widgets.HBox([self.fetch_button, self.cancel_button, self.status]),
            widgets.HBox([self.progress, self.progress_text]),
            self.lead_progress,
            self.failed,
        ]

    def show_error(self, message: str) -> None:
        """An error in the status line."""
        self.status.value = error_html(message)

    def start(
        self, leads: tuple[str, ...], state: FilterState, query: EventQuery
    ) -> FetchJob | None:
        """Fetch ``leads`` with ``query`` in the background (``None``: one is running)."""
        if not self.idle.is_set():
            self.show_error("A fetch is running; cancel it first.")
            return None
        with self._lock:
            self._fetch_id += 1
            fetch_id = self._fetch_id
            self._active = fetch_id
            self._leads = {lead: LeadProgress() for lead in leads}
            self._totals = None
            self.progress.max = len(leads)
            self.progress.value = 0
            self.progress.bar_style = "info"
            self.progress_text.value = "Starting…"
            self.lead_progress.value = ""
            self.failed.value = ""
            self._started = time.monotonic()
            self.idle.clear()
        try:
            job = self.client.start_fetch(
                leads,
                query,
                on_progress=lambda p: self._on_progress(fetch_id, p),
                **self.fetch_options,
            )
        except Exception:
            self.idle.set()
            raise
        self.job = job
        self.fetch_button.disabled = True
        self.cancel_button.disabled = False
        self.status.value = f"Fetching {len(leads)} lead{'s' if len(leads) != 1 else ''}…"
        job.add_done_callback(lambda j: self._on_done(fetch_id, j, state, leads))
        return job

    def cancel(self) -> bool:
        """Stop the running fetch (in-flight requests are cancelled)."""
        job = self.job
        if job is None or job.done():
            return False
        self.status.value = "Cancelling…"
        return job.cancel(wait=10.0)

    def _on_progress(self, fetch_id: int, p: FetchProgress) -> None:
        """Progress of a page or a lead (on the client's loop thread)."""
        try:
            with self._lock:
                if fetch_id != self._active:
                    return  # a cancelled or older fetch
                lead = self._leads.setdefault(p.lead_id, LeadProgress())
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
        self.progress_text.value = progress_html(p)
        self.lead_progress.value = lead_table_html(self._leads)

    def _on_done(
        self, fetch_id: int, job: FetchJob, state: FilterState, leads: tuple[str, ...]
    ) -> None:
        """The fetch ended (on the loop thread, or the cancelling thread)."""
        try:
            with self._lock:
                if fetch_id != self._fetch_id:
                    return
                self._active = None
                self._draw_progress()
                elapsed = time.monotonic() - self._started
                if job.cancelled():
                    self.progress.bar_style = "warning"
                    kept = self._has_data()
                    self.status.value = cancelled_html(elapsed, self._totals, kept=kept)
                    return
                try:
                    result = job.result()
                except Exception as exc:
                    log.debug("fetch failed", exc_info=True)
                    self.progress.bar_style = "danger"
                    self.show_error(f"Fetch failed: {type(exc).__name__}: {exc}")
                    return
                self._show_result(result, leads, elapsed)
                self._on_result(result, state, leads, elapsed)
        except Exception as exc:
            log.debug("fetch completion failed", exc_info=True)
            self.show_error(f"{type(exc).__name__}: {exc}")
        finally:
            self.fetch_button.disabled = False
            self.cancel_button.disabled = True
            self.idle.set()

    def _show_result(self, result: FetchResult, leads: tuple[str, ...], elapsed: float) -> None:
        ok = sum(lead not in result.errors for lead in leads)
        self.progress.bar_style = (
            "danger" if result.errors and not ok else ("warning" if result.errors else "success")
        )
        self.failed.value = failed_html(result) + empty_html(result.empty)
        events = result.frame.height
        self.status.value = fetched_html(events, ok, len(leads), elapsed, len(result.empty))


def html_widget(css_class: str, value: str = "") -> widgets.HTML:
    """An ``ipywidgets.HTML`` with ``value`` and the CSS class tests and styles select."""
    out = widgets.HTML(value)
    out.add_class(css_class)
    return out
