"""The clients, by job: the public import path of ``Client``, ``AsyncClient`` and their values.

``AsyncClient`` does the work on the caller's event loop (top-level ``await`` in Jupyter);
``Client`` has the same parameters and method names and runs an ``AsyncClient`` on a
private event-loop thread it owns, so it works in a plain script and inside a running
Jupyter kernel alike. A closed client raises :class:`LeadpingError` (:data:`CLOSED_MESSAGE`)
from every method. The modules, each one job, dependencies running one way (top to bottom
may import what is below it, never the reverse):

- :mod:`leadping_nb._client_sync`: ``Client`` and ``EventSearch`` (the synchronous twins);
- :mod:`leadping_nb._client_loop`: the private loop thread and ``FetchJob``;
- :mod:`leadping_nb._client_async`: ``AsyncClient`` (the session, the calls);
- :mod:`leadping_nb._account`: the account stream's time windows;
- :mod:`leadping_nb._client_search`: ``AsyncEventSearch`` and the one cap loop;
- :mod:`leadping_nb._client_fanout`: ``FanOut``, one concurrent fetch of many units (leads,
  windows) with the one token-expiry restart;
- :mod:`leadping_nb._client_paging`: the one paging loop (``ChainPage``) and the restart;
- :mod:`leadping_nb._fetch`: argument checks, batch conversion, result assembly;
- :mod:`leadping_nb._client_types`: the values returned (``Page``, ``FetchProgress``,
  ``FetchResult``).
"""

from __future__ import annotations

from ._client_async import AsyncClient as AsyncClient
from ._client_loop import FetchJob as FetchJob
from ._client_search import AsyncEventSearch as AsyncEventSearch
from ._client_sync import Client as Client
from ._client_sync import EventSearch as EventSearch
from ._client_types import FetchProgress as FetchProgress
from ._client_types import FetchResult as FetchResult
from ._client_types import Page as Page
from ._client_types import ProgressCallback as ProgressCallback
from ._errors import CLOSED_MESSAGE as CLOSED_MESSAGE

__all__ = [
    "AsyncClient",
    "AsyncEventSearch",
    "Client",
    "EventSearch",
    "FetchJob",
    "FetchProgress",
    "FetchResult",
    "Page",
]
