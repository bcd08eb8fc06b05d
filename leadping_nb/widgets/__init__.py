"""ipywidgets controls that compose the query, the client, the metrics and the figures.

* :class:`LeadPicker`: search the caller's leads as you type (server-side, debounced,
  at most 500 shown), multi-select, paste ids or take a DataFrame column; bad ids are
  flagged inline.
* :class:`FilterPanel`: a date range in a time zone, from a preset (:data:`DATE_PRESETS`:
  last 7 days, last month, ...) or custom dates, as a :class:`~leadping_nb.Window` (sent
  as an explicit UTC half-open range), event type / direction / status / campaign /
  source multi-selects, text search and page size; produces an
  :class:`~leadping_nb.EventQuery`, shows invalid combinations inline.
* :class:`EventExplorer`: picker + filters + a background Fetch with progress and a
  Cancel that stops it, failed leads with their errors, then KPIs, the first rows and
  the figures of :mod:`leadping_nb.figures`, and a lead view (:class:`LeadTimelineView`:
  pick a lead of the current rows, see its timeline table and figure). Filter changes
  refresh from the cached events without a request.

Local filters and refetches
---------------------------
A Fetch sends the panel's query: the date range (``rangeFilters`` on ``createdAt``), the
text search, and an exact filter for each dimension with exactly one selected value (the
API ANDs its filters, so "Sms or Call" cannot be sent: such a dimension is fetched whole).
After a fetch, every filter is applied **locally** to the cached events, without a
request: date range and time zone, event type, direction, status, campaign, source, text
search, and the lead selection (a subset of the fetched leads). A change that reaches
beyond what was fetched (an earlier date, another value of a dimension that was sent,
a wider search, a lead that was not fetched or failed) is still shown from the cache,
with a note listing what is missing, and Fetch turns orange: that needs a **refetch**.
The page size only changes how the next fetch pages.

The state behind them is plain Python, testable without widgets: :class:`FilterState`
(the panel's values; ``to_query()``, ``local_predicate()``, ``not_covered_by()``),
:func:`utc_range`, :class:`EventCache` / :class:`LocalView` (local filtering and
:class:`Kpis`), :class:`Debouncer`.

Callbacks never print: results go to HTML widgets and ``Output.outputs``; errors are
shown inline (output printed by a callback lands in JupyterLab's log console, not under
the cell, and an exception raised there is lost the same way). The API key is never put
into widget state.

Examples
--------
>>> from leadping_nb.emulator import Emulator
>>> from leadping_nb.widgets import EventExplorer
>>> emu = Emulator(seed=1, n_leads=5)
>>> explorer = EventExplorer(emu.client())  # display(explorer) in a notebook
>>> explorer.picker.paste("lead_0001 lead_0002")
[]
>>> explorer.filters.selects["directions"].value = ("Outbound",)
>>> explorer.filters.query.to_body()["filters"]
[{'field': 'direction', 'value': 'Outbound'}]
"""

from __future__ import annotations

from leadping_nb.widgets._cache import EventCache, LocalView
from leadping_nb.widgets._explorer import EventExplorer, ExplorerClient
from leadping_nb.widgets._figures import FigureSpec, default_figures
from leadping_nb.widgets._filters import FilterPanel
from leadping_nb.widgets._kpis import Kpis, compute_kpis
from leadping_nb.widgets._lead import LeadTimelineView
from leadping_nb.widgets._picker import LeadPicker, LeadSource
from leadping_nb.widgets._state import (
    DATE_PRESETS,
    DIMENSIONS,
    SEARCH_FIELDS,
    Debouncer,
    Dimension,
    FilterState,
    InvalidId,
    Scheduler,
    check_lead_ids,
    parse_lead_ids,
    utc_range,
)

__all__ = [
    "DATE_PRESETS",
    "DIMENSIONS",
    "SEARCH_FIELDS",
    "Debouncer",
    "Dimension",
    "EventCache",
    "EventExplorer",
    "ExplorerClient",
    "FigureSpec",
    "FilterPanel",
    "FilterState",
    "InvalidId",
    "Kpis",
    "LeadPicker",
    "LeadSource",
    "LeadTimelineView",
    "LocalView",
    "Scheduler",
    "check_lead_ids",
    "compute_kpis",
    "default_figures",
    "parse_lead_ids",
    "utc_range",
]
