"""leadping_nb: analyse Leadping lead-messaging activity in notebooks.

Page events from ``POST /events/leads/{leadId}`` into typed Polars frames (UTC timestamps,
exact Decimal money), compute delivery latencies, outcomes, retries and billing, render
reports and figures, explore with widgets, all offline against the built-in emulator or
against the real API with a bearer key.

Examples
--------
>>> import leadping_nb as lp
>>> emu = lp.Emulator(seed=3, n_leads=5)
>>> with emu.client() as client:
...     result = client.fetch_events(emu.lead_ids(), lp.EventQuery(page_size=200))
>>> result.frame.schema["billable_amount"]
Decimal(precision=18, scale=6)

Heavy parts load on first use: the HTTP stack with the clients, matplotlib with the figures
and reports, ipywidgets with the widgets, so ``import leadping_nb`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from leadping_nb._core.errors import (
    ApiError,
    AuthError,
    FetchError,
    LeadpingError,
    PaginationError,
    QueryError,
    RateLimitError,
    SchemaError,
)
from leadping_nb._core.schema import EVENT_SCHEMA, MONEY_DTYPE, TIMESTAMP_DTYPE
from leadping_nb._core.window import Window
from leadping_nb._http.query import EventQuery, Filter, OrderBy, RangeFilter, check_lead_id

if TYPE_CHECKING:
    from leadping_nb._client import (
        AsyncClient,
        AsyncEventSearch,
        Client,
        EventSearch,
        FetchJob,
        FetchProgress,
        FetchResult,
        Page,
    )
    from leadping_nb._frame.decode import DecodedPage, FrameReport, events_frame, schema_table
    from leadping_nb._http.policy import RateLimit, RetryPolicy
    from leadping_nb.emulator import Emulator, FaultConfig
    from leadping_nb.metrics import TrafficScope
    from leadping_nb.reports import BillingReport, DeliveryReport
    from leadping_nb.reports._export import to_csv, to_excel, to_parquet
    from leadping_nb.store import EventStore, RefreshResult
    from leadping_nb.widgets import EventExplorer, FilterPanel, LeadPicker

from leadping_nb._core.version import __version__ as __version__

_LAZY: dict[str, str] = {
    "AsyncClient": "._client",
    "AsyncEventSearch": "._client",
    "Client": "._client",
    "EventSearch": "._client",
    "FetchJob": "._client",
    "FetchProgress": "._client",
    "FetchResult": "._client",
    "Page": "._client",
    "DecodedPage": "._frame.decode",
    "FrameReport": "._frame.decode",
    "events_frame": "._frame.decode",
    "schema_table": "._frame.decode",
    "RateLimit": "._http.policy",
    "RetryPolicy": "._http.policy",
    "Emulator": ".emulator",
    "FaultConfig": ".emulator",
    "to_csv": ".reports._export",
    "to_excel": ".reports._export",
    "to_parquet": ".reports._export",
    "EventStore": ".store",
    "RefreshResult": ".store",
    "TrafficScope": ".metrics",
    "BillingReport": ".reports",
    "DeliveryReport": ".reports",
    "EventExplorer": ".widgets",
    "FilterPanel": ".widgets",
    "LeadPicker": ".widgets",
}

__all__ = [
    "EVENT_SCHEMA",
    "MONEY_DTYPE",
    "TIMESTAMP_DTYPE",
    "ApiError",
    "AsyncClient",
    "AsyncEventSearch",
    "AuthError",
    "BillingReport",
    "Client",
    "DecodedPage",
    "DeliveryReport",
    "Emulator",
    "EventExplorer",
    "EventQuery",
    "EventSearch",
    "EventStore",
    "FaultConfig",
    "FetchError",
    "FetchJob",
    "FetchProgress",
    "FetchResult",
    "Filter",
    "FilterPanel",
    "FrameReport",
    "LeadPicker",
    "LeadpingError",
    "OrderBy",
    "Page",
    "PaginationError",
    "QueryError",
    "RangeFilter",
    "RateLimit",
    "RateLimitError",
    "RefreshResult",
    "RetryPolicy",
    "SchemaError",
    "TrafficScope",
    "Window",
    "check_lead_id",
    "events_frame",
    "schema_table",
    "to_csv",
    "to_excel",
    "to_parquet",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'leadping_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
