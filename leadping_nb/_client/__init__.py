"""The clients, by job: the public import path of ``Client``, ``AsyncClient`` and their values.

``AsyncClient`` does the work on the caller's event loop (top-level ``await`` in Jupyter);
``Client`` has the same parameters and method names and runs an ``AsyncClient`` on a
private event-loop thread it owns, so it works in a plain script and inside a running
Jupyter kernel alike. A closed client raises :class:`LeadpingError` (:data:`CLOSED_MESSAGE`)
from every method. The modules, each one job, dependencies running one way (top to bottom
may import what is below it, never the reverse):

- :mod:`leadping_nb._client.sync_client`: ``Client`` and ``EventSearch`` (the synchronous twins);
- :mod:`leadping_nb._client.loop`: the private loop thread and ``FetchJob``;
- :mod:`leadping_nb._client.async_client`: ``AsyncClient`` (the session, the calls);
- :mod:`leadping_nb._client.account`: the account stream's time windows;
- :mod:`leadping_nb._client.search`: ``AsyncEventSearch`` and the one cap loop;
- :mod:`leadping_nb._client.fanout`: ``FanOut``, one concurrent fetch of many units (leads,
  windows) with the one token-expiry restart;
- :mod:`leadping_nb._client.paging`: the one paging loop (``ChainPage``) and the restart;
- :mod:`leadping_nb._client.fetch`: argument checks, batch conversion, result assembly;
- :mod:`leadping_nb._client.types`: the values returned (``Page``, ``FetchProgress``,
  ``FetchResult``).
"""

from __future__ import annotations

from leadping_nb._client.async_client import AsyncClient as AsyncClient
from leadping_nb._client.loop import FetchJob as FetchJob
from leadping_nb._client.search import AsyncEventSearch as AsyncEventSearch
from leadping_nb._client.sync_client import Client as Client
from leadping_nb._client.sync_client import EventSearch as EventSearch
from leadping_nb._client.types import FetchProgress as FetchProgress
from leadping_nb._client.types import FetchResult as FetchResult
from leadping_nb._client.types import Page as Page
from leadping_nb._client.types import ProgressCallback as ProgressCallback
from leadping_nb._core.errors import CLOSED_MESSAGE as CLOSED_MESSAGE

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
