"""``FilterPanel``: the controls that produce a :class:`~leadping_nb.EventQuery`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

import ipywidgets as widgets
import traitlets

from leadping_nb._core.errors import QueryError
from leadping_nb._core.window import Window
from leadping_nb._http.query import DEFAULT_PAGE_SIZE, EventQuery
from leadping_nb.widgets._html import error_html
from leadping_nb.widgets._state import (
    DATE_PRESETS,
    DIMENSIONS,
    SEARCH_FIELDS,
    FilterState,
    merge_options,
    preset_dates,
    time_zones,
)

__all__ = ["FilterPanel"]

log = logging.getLogger("leadping_nb.widgets")
_STYLE = {"description_width": "initial"}


def _iso(value: datetime | None) -> str:
    return "open" if value is None else value.isoformat().replace("+00:00", "Z")


class FilterPanel(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Date range in a time zone, multi-select filters, text search and page size.

    The panel keeps its values in :attr:`state` (a frozen
    :class:`~leadping_nb.widgets.FilterState`, apart from the controls) and produces
    the :class:`~leadping_nb.EventQuery` a fetch sends (:attr:`query`). The date range
    is turned into an explicit UTC half-open range ``[start 00:00, end + 1 day 00:00)``
    in the chosen zone, shown under the dates with the :class:`~leadping_nb.Window`
    label (:attr:`window`). The **Dates** preset (:data:`DATE_PRESETS`: last 7 days,
    last 30 days, this month, last month, custom) sets both dates to the preset's
    local days at ``now`` (again when the zone changes); editing a date makes it
    custom. An invalid combination (end before start,
    a search without fields, a bad page size) is shown inline in :attr:`error`; nothing
    is raised into the log console.

    Parameters
    ----------
    time_zone
        IANA zone of the dates (also the zone of times in the table and figures).
    start, end
        Initial dates (inclusive, local).
    page_size
        Initial page size of a fetch.
    options
        Extra option values per dimension (``{"campaigns": [...]}``); values of fetched
        events are added by the explorer.
    preset
        Initial date preset (a :data:`DATE_PRESETS` value; ``"custom"``: ``start`` and
        ``end`` as given).
    now
        The instant presets are taken at (timezone-aware; default: the current time
        when a preset is picked). Pass the data's end, e.g. ``Emulator.now``.
    layout
        The box's :class:`ipywidgets.Layout` (default: a new one), as for any
        ipywidgets box.

    Examples
    --------
    >>> from datetime import date, datetime
    >>> panel = FilterPanel(time_zone="Europe/Berlin")
    >>> panel.start.value, panel.end.value = date(2024, 3, 31), date(2024, 3, 31)
    >>> panel.query.to_body()["rangeFilters"][0]["lessThan"]
    '2024-03-31T22:00:00Z'
    >>> panel.end.value = date(2024, 3, 1)
    >>> panel.query is None, panel.error
    (True, 'date range: the end (2024-03-01) is before the start (2024-03-31)')
    >>> from datetime import UTC
    >>> panel = FilterPanel(time_zone="Europe/Berlin", now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    >>> panel.preset.value = "last month"
    >>> panel.start.value, panel.end.value
    (datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
    >>> panel.window.label
    'last month (Europe/Berlin): 2026-10-01 – 2026-10-31'
    """

    state = traitlets.Instance(FilterState, help="The current filter values.")
    error = traitlets.Unicode("", help="Why the current values cannot be fetched ('' if valid).")

    def __init__(
        self,
        *,
        time_zone: str = "UTC",
        start: date | None = None,
        end: date | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        options: Mapping[str, Sequence[str]] | None = None,
        preset: str = "custom",
        now: datetime | None = None,
        layout: widgets.Layout | None = None,
    ) -> None:
        if preset not in {value for value, _label in DATE_PRESETS}:
            raise ValueError(
                f"preset must be one of {[v for v, _l in DATE_PRESETS]}, got {preset!r}"
            )
        self.now = now
        self._build_dates(time_zone, start, end, preset)
        self._build_selects(options or {})
        self._build_search(page_size)
        self.error_html = widgets.HTML()
        self.error_html.add_class("lp-filter-error")
        super().__init__(
            children=[
                widgets.HBox([self.preset, self.start, self.end, self.time_zone]),
                self.range_note,
                widgets.HBox(list(self.selects.values()), layout={"flex_flow": "row wrap"}),
                widgets.HBox([self.search, self.search_fields, self.page_size]),
                self.error_html,
            ],
            layout=layout or widgets.Layout(),
        )
        self.add_class("lp-filter-panel")
        self._updating = False
        self.state = FilterState(time_zone=time_zone, page_size=page_size)
        self._wire()
        self._update()

    def _build_dates(
        self, time_zone: str, start: date | None, end: date | None, preset: str
    ) -> None:
        """The date preset, the two dates (a preset's local days at ``now``), the zone
        and the note under them (the UTC range sent)."""
        zones = time_zones()
        if time_zone not in zones:
            zones.append(time_zone)
        self.preset = widgets.Dropdown(
            description="Dates",
            options=[(label, value) for value, label in DATE_PRESETS],
            value=preset,
            style=_STYLE,
            layout={"width": "14em"},
        )
        self.preset.add_class("lp-date-preset")
        if preset != "custom":
            start, end = preset_dates(preset, time_zone, self.now)
        self.start = widgets.DatePicker(description="From", value=start, style=_STYLE)
        self.end = widgets.DatePicker(description="To (incl.)", value=end, style=_STYLE)
        self.time_zone = widgets.Dropdown(
            description="Time zone", options=zones, value=time_zone, style=_STYLE
        )
        self.range_note = widgets.HTML()
        self.range_note.add_class("lp-utc-range")

    def _build_selects(self, options: Mapping[str, Sequence[str]]) -> None:
        """One multi-select per dimension: its known values plus ``options``."""
        self.selects: dict[str, widgets.SelectMultiple] = {}
        for dim in DIMENSIONS:
            select = widgets.SelectMultiple(
                options=merge_options(dim.defaults, options.get(dim.attr, ())),
                rows=5,
                description=dim.label,
                style=_STYLE,
                layout=widgets.Layout(width="auto", min_width="11em"),
            )
            select.add_class(f"lp-filter-{dim.attr}")
            self.selects[dim.attr] = select

    def _build_search(self, page_size: int) -> None:
        """The search text, the fields it searches and the page size."""
        self.search = widgets.Text(
            description="Search text",
            placeholder="substring, any case (Enter to apply)",
            continuous_update=False,
            style=_STYLE,
        )
        self.search.add_class("lp-filter-search")
        self.search_fields = widgets.SelectMultiple(
            description="in fields",
            options=SEARCH_FIELDS,
            value=("summary", "description"),
            rows=3,
            style=_STYLE,
        )
        self.page_size = widgets.IntText(
            description="Page size", value=page_size, style=_STYLE, layout={"width": "12em"}
        )

    def _wire(self) -> None:
        """Preset, zone and dates keep each other in step; every control updates
        :attr:`state` (errors are shown inline)."""
        self.preset.observe(self._guard(self._on_preset), names="value")
        self.time_zone.observe(self._guard(self._on_zone), names="value")
        for picker in (self.start, self.end):
            picker.observe(self._guard(self._on_date), names="value")
        controls: list[widgets.ValueWidget] = [
            self.preset,
            self.start,
            self.end,
            self.time_zone,
            *self.selects.values(),
            self.search,
            self.search_fields,
            self.page_size,
        ]
        for control in controls:
            control.observe(self._guard(self._on_change), names="value")

    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        def run(*args: Any) -> None:
            try:
                fn(*args)
            except Exception as exc:  # never raise into the log console
                log.debug("filter panel callback failed", exc_info=True)
                self.error = f"{type(exc).__name__}: {exc}"
                self.error_html.value = error_html(self.error)

        return run

    def _on_change(self, _change: dict[str, Any]) -> None:
        if not self._updating:
            self._update()

    def _apply_preset(self) -> None:
        """Set both dates to the preset's local days (one update, not two)."""
        preset = str(self.preset.value)
        if preset == "custom":
            return
        start, end = preset_dates(preset, str(self.time_zone.value), self.now)
        self._updating = True
        try:
            self.start.value, self.end.value = start, end
        finally:
            self._updating = False

    def _on_preset(self, _change: dict[str, Any]) -> None:
        if not self._updating:
            self._apply_preset()
            self._update()

    def _on_zone(self, _change: dict[str, Any]) -> None:
        # runs before _on_change (observers fire in registration order): the dates
        # follow the zone before the state is read
        if not self._updating:
            self._apply_preset()

    def _on_date(self, _change: dict[str, Any]) -> None:
        if self._updating or self.preset.value == "custom":
            return
        self._updating = True
        try:
            self.preset.value = "custom"  # a date set by hand: no longer the preset
        finally:
            self._updating = False

    def _read(self) -> FilterState:
        values = {dim.attr: tuple(self.selects[dim.attr].value) for dim in DIMENSIONS}
        return FilterState(
            start=self.start.value,
            end=self.end.value,
            time_zone=str(self.time_zone.value),
            search=str(self.search.value),
            search_fields=tuple(self.search_fields.value),
            page_size=int(self.page_size.value),
            preset=str(self.preset.value),
            **values,
        )

    def _update(self) -> None:
        state = self._read()
        problems = state.problems()
        if not problems:
            lo, hi = state.utc_range()
            window = state.window()
            self.range_note.value = (
                f'<span style="font-size:.85em;color:#555">{escape(window.label)} · UTC '
                f"range: [{escape(_iso(lo))}, {escape(_iso(hi))})</span>"
                if window is not None
                else '<span style="font-size:.85em;color:#555">All dates</span>'
            )
        # error first, so observers of ``state`` see the matching error
        self.error = "; ".join(problems)
        self.error_html.value = error_html(self.error) if problems else ""
        self.state = state

    # ------------------------------------------------------------------ public API

    @property
    def query(self) -> EventQuery | None:
        """The query a fetch sends, or ``None`` while the values are invalid."""
        if self.error:
            return None
        try:
            return self.state.to_query()
        except QueryError:
            return None

    @property
    def window(self) -> Window | None:
        """The date range as a :class:`~leadping_nb.Window` (``None``: all dates or
        invalid values), named after the preset."""
        if self.error:
            return None
        return self.state.window()

    def set_state(self, state: FilterState) -> None:
        """Show ``state`` in the controls (option lists grow to hold its values)."""
        self._updating = True
        try:
            self.preset.value = state.preset
            self.start.value = state.start
            self.end.value = state.end
            if state.time_zone not in self.time_zone.options:
                self.time_zone.options = [*self.time_zone.options, state.time_zone]
            self.time_zone.value = state.time_zone
            for dim in DIMENSIONS:
                select = self.selects[dim.attr]
                chosen = state.values(dim)
                select.options = merge_options(select.options, chosen)
                select.value = chosen
            self.search.value = state.search
            self.search_fields.value = state.search_fields
            self.page_size.value = state.page_size
        finally:
            self._updating = False
        self._update()

    def add_options(self, values: Mapping[str, Sequence[str]]) -> None:
        """Add option values per dimension (``Dimension.attr`` keys), keeping selections."""
        self._updating = True
        try:
            for attr, new in values.items():
                select = self.selects[attr]
                merged = merge_options(select.options, new)
                if merged != tuple(select.options):
                    chosen = tuple(select.value)
                    select.options = merged
                    select.value = chosen
        finally:
            self._updating = False
        self._update()
