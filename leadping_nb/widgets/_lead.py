"""``LeadTimelineView``: the explorer's lead view (pick a lead, see its timeline).

The lead list is the leads of the explorer's current rows (filters and lead selection
applied); picking one shows :func:`leadping_nb.metrics.lead_timeline` of those rows as
a table and :func:`leadping_nb.figures.lead_timeline_figure` as a figure. Drawn in the
caller's thread when the lead or the rows change, and only while a lead is picked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape

import ipywidgets as widgets
import polars as pl

from leadping_nb.metrics import lead_timeline
from leadping_nb.widgets._html import figure_output, guarded, rows_html

__all__ = ["LeadTimelineView"]

log = logging.getLogger("leadping_nb.widgets")
_NOTE = "font-size:.85em;color:#555"
_NONE = "(pick a lead)"
_MAX_ROWS = 200


class LeadTimelineView(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """A lead picker over a set of events, and the picked lead's timeline.

    Parameters
    ----------
    figure_dpi
        Resolution of the timeline figure (the explorer's default, 120).
    layout
        The box's :class:`ipywidgets.Layout` (default: a new one), as for any
        ipywidgets box.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> frame = events_frame(0, 300)
    >>> view = LeadTimelineView()
    >>> view.set_events(frame, time_zone="Europe/Berlin")
    >>> lead = view.lead.options[1]
    >>> view.lead.value = lead
    >>> view.timeline.height > 0, "<table" in view.table.value
    (True, True)
    """

    def __init__(self, *, figure_dpi: int = 120, layout: widgets.Layout | None = None) -> None:
        self.figure_dpi = figure_dpi
        self.lead = widgets.Dropdown(
            description="Lead", options=[_NONE], value=_NONE, style={"description_width": "initial"}
        )
        self.lead.add_class("lp-timeline-lead")
        self.note = widgets.HTML(f'<span style="{_NOTE}">No events yet.</span>')
        self.note.add_class("lp-timeline-note")
        self.table = widgets.HTML()
        self.table.add_class("lp-timeline-table")
        self.figure = widgets.Output()
        self.figure.add_class("lp-timeline-figure")
        super().__init__(
            children=[self.lead, self.note, self.table, self.figure],
            layout=layout or widgets.Layout(),
        )
        self.add_class("lp-lead-view")
        self.timeline: pl.DataFrame | None = None
        self._events: pl.LazyFrame | None = None
        self._time_zone = "UTC"
        self._updating = False
        self.lead.observe(self._guard(lambda _c: self._draw()), names="value")

    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        return guarded(fn, lambda html: setattr(self.note, "value", html), "lead view")

    @property
    def lead_id(self) -> str | None:
        """The picked lead, or ``None``."""
        value = self.lead.value
        return None if value in (None, _NONE) else str(value)

    def set_events(self, events: pl.DataFrame | pl.LazyFrame, *, time_zone: str = "UTC") -> None:
        """Offer the leads of ``events`` and redraw the picked lead (if still there)."""
        lf = events.lazy() if isinstance(events, pl.DataFrame) else events
        leads = lf.select(pl.col("lead_id").drop_nulls().unique().sort()).collect().to_series()
        self._events, self._time_zone = lf, time_zone
        current = self.lead_id
        options = [_NONE, *leads.to_list()]
        self._updating = True
        try:
            self.lead.options = options
            self.lead.value = current if current in options else _NONE
        finally:
            self._updating = False
        self._draw()

    def show(self, lead_id: str) -> pl.DataFrame:
        """Pick ``lead_id`` (one of the offered leads) and return its timeline."""
        if lead_id not in self.lead.options:
            raise ValueError(f"lead {lead_id!r} is not among the current rows' leads")
        self.lead.value = lead_id
        self._draw()
        assert self.timeline is not None
        return self.timeline

    def _draw(self) -> None:
        if self._updating:
            return
        lead = self.lead_id
        n_leads = len(self.lead.options) - 1
        if lead is None or self._events is None:
            self.timeline = None
            self.table.value = ""
            self.figure.outputs = ()
            self.note.value = (
                f'<span style="{_NOTE}">Pick one of the {n_leads:,} leads of the current '
                "rows to see its messages in time order.</span>"
                if n_leads
                else f'<span style="{_NOTE}">No events match the filters.</span>'
            )
            return
        from leadping_nb.figures import lead_timeline_figure

        timeline = lead_timeline(self._events, lead)
        self.timeline = timeline
        zone = self._time_zone
        shown = timeline.select(
            [c for c in timeline.columns if timeline.get_column(c).null_count() < timeline.height]
        ).with_columns(pl.col(pl.Datetime("us", "UTC")).dt.convert_time_zone(zone))
        retried = int((timeline.get_column("retry_count").fill_null(0) > 0).sum())
        self.note.value = (
            f'<span style="{_NOTE}">{timeline.height:,} messages of <code>{escape(lead)}</code> '
            f"in time order, {retried:,} retried (times in {escape(zone)}; columns that are "
            "empty for every message are left out).</span>"
        )
        more = timeline.height - _MAX_ROWS
        self.table.value = (
            rows_html(shown.head(_MAX_ROWS))
            + (f'<span style="{_NOTE}">… and {more:,} more messages</span>' if more > 0 else "")
            if timeline.height
            else ""
        )
        fig = lead_timeline_figure(self._events, lead, time_zone=zone)
        self.figure.outputs = (figure_output(fig, dpi=self.figure_dpi, alt=f"Timeline of {lead}"),)
