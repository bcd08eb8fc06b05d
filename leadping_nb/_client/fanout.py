"""One concurrent fetch of many units of pages: the leads of ``fetch_events``, the windows
of the account stream.

A :class:`FanOut` holds what the units of one fetch share: the FIFO request slots, the
bound on units in progress, the counters of the progress updates, each unit's
:class:`~leadping_nb._client.fetch._LeadOutcome`, and the batches of finished units waiting for
their typed conversion (:class:`~leadping_nb._client.fetch._Batches`). Each job is one method:
:meth:`FanOut.fetch_unit` pages a unit (restarting its chain once when the continuation
token expires, :meth:`FanOut._pages`), :meth:`FanOut.finish` counts it and queues it for
conversion, :meth:`FanOut._report` sends a progress update.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from leadping_nb._client.fetch import _Batches, _Converted, _LeadOutcome
from leadping_nb._client.paging import ChainPage, _restart_once
from leadping_nb._client.types import FetchProgress, ProgressCallback
from leadping_nb._core.errors import LeadpingError
from leadping_nb._frame.decode import ParsedPage

__all__ = ["FanOut"]

#: Finished units wait until this many of their events are pending, then are converted
#: together (once every unit has started, whenever no conversion is running): a conversion
#: costs a few milliseconds whatever its size (one Polars plan over every column) plus a
#: little per page, so one call per lead would cost more CPU than the requests themselves
#: on small leads (bench/paging.py).
_BATCH_EVENTS = 2_000

Chain = Callable[[], AsyncGenerator[ChainPage[ParsedPage], None]]


@dataclass
class _Totals:
    """The counters over the whole fetch that every progress update carries."""

    pages: int = 0
    events: int = 0
    done: int = 0
    failed: int = 0
    started: int = 0


class FanOut:
    """The shared state of one concurrent fetch of many units of pages.

    ``concurrency`` requests are in flight at most (:attr:`slots`, a FIFO semaphore held
    per attempt), over twice as many units in progress: while one unit's next request waits
    for its turn, the others keep every slot busy, and near the end the last units' page
    chains overlap instead of leaving slots idle (bench/paging.py).

    Parameters
    ----------
    concurrency
        Requests in flight at most.
    on_progress
        Called with a :class:`FetchProgress` after each page and each finished unit.
    max_events
        The per-unit cap the conversion applies (``fetch_events``' ``max_events``).
    fill_lead
        Whether an item without ``leadId`` takes its unit's key as ``lead_id`` (leads:
        yes; the account stream's windows: no).
    """

    def __init__(
        self,
        concurrency: int,
        on_progress: ProgressCallback | None,
        *,
        max_events: int | None = None,
        fill_lead: bool = True,
    ) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self._active = asyncio.Semaphore(2 * concurrency)
        self._on_progress = on_progress
        self._max_events = max_events
        self._fill_lead = fill_lead
        self.totals = _Totals()
        #: Each unit's outcome by key, in the order the units were added.
        self.outcomes: dict[str, _LeadOutcome] = {}
        self._positions: dict[str, int] = {}
        self._group: asyncio.TaskGroup | None = None
        self._batches: _Batches | None = None

    def add(self, key: str, outcome: _LeadOutcome | None = None) -> _LeadOutcome:
        """Register a unit (its rows come in the order the units were added)."""
        self._positions[key] = len(self.outcomes)
        self.outcomes[key] = outcome if outcome is not None else _LeadOutcome()
        return self.outcomes[key]

    def spawn(self, unit: Coroutine[Any, Any, None]) -> None:
        """Run ``unit`` in the fetch's task group (from :meth:`run`'s ``start`` or a unit)."""
        assert self._group is not None, "spawn() runs inside run()"
        self._group.create_task(unit)

    async def run(self, start: Callable[[], None]) -> list[_Converted]:
        """Call ``start()`` (which spawns the units) in a task group, wait for every unit and
        conversion, and return the converted batches (in the order they finished)."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            self._batches = _Batches(
                group,
                _BATCH_EVENTS,
                self._converted,
                max_events=self._max_events,
                fill_lead=self._fill_lead,
            )
            start()
        await self._batches.flush()
        return self._batches.converted

    async def fetch_unit(
        self,
        key: str,
        chain: Chain,
        *,
        wrap: Callable[[Exception], LeadpingError],
        stop_after: Callable[[ChainPage[ParsedPage]], Awaitable[bool]] | None = None,
    ) -> bool:
        """Page one unit into its outcome; True when it succeeded.

        ``chain()`` starts the unit's page chain (again, from its first page, when the
        token expires). ``stop_after(page)`` may end the unit early (True). A
        :class:`LeadpingError` fails this unit only, and so does anything unexpected,
        wrapped by ``wrap`` (a bug or a body nothing expected).
        """
        o = self.outcomes[key]
        async with self._active:
            o.started = time.monotonic()
            self.totals.started += 1
            try:
                async with contextlib.aclosing(self._pages(o, chain)) as pages:
                    async for page in pages:
                        self._report(key, finished=False)
                        if stop_after is not None and await stop_after(page):
                            break
            except LeadpingError as exc:
                o.error = exc
            except Exception as exc:
                o.error = wrap(exc)
        o.elapsed = time.monotonic() - o.started
        return o.error is None

    async def _pages(
        self, o: _LeadOutcome, chain: Chain
    ) -> AsyncGenerator[ChainPage[ParsedPage], None]:
        """The unit's pages, counted into ``o`` and the totals; the one token-expiry
        restart: when the token expires, what the unit counted is forgotten and its chain
        starts again from the first page, once."""

        def restart() -> None:
            self.totals.pages -= o.n_pages
            self.totals.events -= o.n_events
            o.pages = []
            o.n_pages = o.n_events = 0

        async with contextlib.aclosing(_restart_once(chain, restart)) as pages:
            async for page in pages:
                parsed = page.decoded
                o.pages.append(parsed)
                o.n_pages += 1
                o.n_events += parsed.n_items
                o.attempts += page.attempts
                self.totals.pages += 1
                self.totals.events += parsed.n_items
                yield page

    def finish(self, key: str) -> None:
        """Count a unit that ended, report it, and queue its pages for the typed conversion
        (with other finished units, in a worker thread; once every unit has started, as
        soon as no conversion is running)."""
        o = self.outcomes[key]
        if o.error is not None:
            self.totals.failed += 1
        self.totals.done += 1
        self._report(key, finished=True)
        if o.error is None:
            assert self._batches is not None
            tail = self.totals.started == len(self.outcomes)
            self._batches.add(self._positions[key], key, o.pages, o.n_events, tail=tail)
        o.pages = []

    def _converted(self, done: _Converted) -> None:
        for key, got in done.leads.items():
            o = self.outcomes[key]
            if isinstance(got, LeadpingError):
                # fetched, then failed conversion: reported again, with its error
                o.error = got
                self.totals.failed += 1
                self._report(key, finished=True)
            else:
                o.events, o.duplicates = got

    def _report(self, key: str, *, finished: bool) -> None:
        if self._on_progress is None:
            return
        o, t = self.outcomes[key], self.totals
        self._on_progress(
            FetchProgress(
                leads_total=len(self.outcomes),
                leads_done=t.done,
                leads_failed=t.failed,
                pages=t.pages,
                events=t.events,
                lead_id=key,
                lead_pages=o.n_pages,
                lead_events=o.n_events,
                lead_finished=finished,
                error=o.error,
            )
        )
