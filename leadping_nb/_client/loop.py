"""The private event-loop thread of the synchronous client, and ``FetchJob``.

:class:`_LoopThread` runs an event loop on a daemon thread owned by one
:class:`~leadping_nb.Client`; the caller waits for a coroutine in short slices
(:func:`_wait`), so Ctrl-C or a kernel interrupt cancels the work on that thread and is
re-raised once it has stopped, within milliseconds. :class:`FetchJob` is a fetch running
there in the background (:meth:`Client.start_fetch`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from leadping_nb._client.types import FetchResult
from leadping_nb._core.errors import CLOSED_MESSAGE, LeadpingError

__all__ = ["FetchJob"]

T = TypeVar("T")

#: A thread that waits for the loop thread wakes up this often. Python raises
#: KeyboardInterrupt in the main thread only, between bytecodes; polars replaces the
#: C-level SIGINT handler when it is imported, and from then on (polars 2.1) a main thread
#: blocked in an untimed wait saw Ctrl-C or a kernel interrupt only once the wait ended,
#: after the whole fetch (73 s, 159 s), while a wait in slices sees it within milliseconds
#: (tests/reliability/test_reliability_interrupt.py). Waking every 50 ms costs nothing.
_POLL_S = 0.05
#: After Ctrl-C, how long the caller waits for the cancelled work to stop before re-raising
#: (it stops within milliseconds: every await of the work is cancellable).
_STOP_WAIT_S = 2.0


def _wait(event: threading.Event, timeout: float | None = None) -> bool:
    """``event.wait(timeout)`` in slices of :data:`_POLL_S`, so that a KeyboardInterrupt
    pending for the main thread is raised within that time. True once the event is set."""
    end = None if timeout is None else time.monotonic() + timeout
    while not event.is_set():
        left = _POLL_S if end is None else min(_POLL_S, end - time.monotonic())
        if left <= 0:
            return False
        event.wait(left)
    return True


class _LoopThread:
    """A private event loop on a daemon thread, owned by one sync :class:`Client`.

    :meth:`run` waits for a coroutine in a way Ctrl-C interrupts at once (:func:`_wait`);
    the interrupt cancels the coroutine's task and waits until it has stopped.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        #: True once :meth:`close` was called: then nothing more can be submitted.
        self.closed = False
        # the running tasks, held (the loop keeps only weak references to its tasks)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self._run, name="leadping-nb-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _refuse(self, coro: Coroutine[Any, Any, object]) -> None:
        """Raise if ``coro`` cannot be run here (closing it, so it is not left unawaited)."""
        if self.closed:
            coro.close()
            raise LeadpingError(CLOSED_MESSAGE)
        if threading.current_thread() is self._thread:
            coro.close()
            raise LeadpingError("the synchronous Client cannot be used from its own loop thread")

    def submit(
        self, coro: Coroutine[Any, Any, T]
    ) -> tuple[concurrent.futures.Future[T], threading.Event]:
        """Run ``coro`` as a task on the loop.

        Returns its future, whose ``cancel()`` cancels the task, and an event set once the
        task has stopped (finished, failed or cancelled; or never started).
        """
        self._refuse(coro)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        stopped = threading.Event()

        def finish(task: asyncio.Task[T]) -> None:
            self._tasks.discard(task)
            try:
                if task.cancelled():
                    future.cancel()
                elif (exc := task.exception()) is not None:
                    future.set_exception(exc)
                else:
                    future.set_result(task.result())
            except concurrent.futures.InvalidStateError:
                pass  # cancelled by the caller meanwhile
            finally:
                stopped.set()

        def cancel(f: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
            if not f.cancelled():
                return
            if threading.current_thread() is self._thread:
                task.cancel()
            else:
                with contextlib.suppress(RuntimeError):  # the loop is closed already
                    self.loop.call_soon_threadsafe(task.cancel)

        def start() -> None:
            if future.cancelled():  # before it started
                coro.close()
                stopped.set()
                return
            task = self.loop.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(finish)
            future.add_done_callback(lambda f: cancel(f, task))

        self.loop.call_soon_threadsafe(start)
        return future, stopped

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result; Ctrl-C cancels it."""
        future, stopped = self.submit(coro)
        try:
            _wait(stopped)
        except KeyboardInterrupt as exc:
            future.cancel()
            _wait(stopped, _STOP_WAIT_S)
            # the traceback starts here: the frames of the wait (threading's) tell the user
            # nothing, and IPython parses each frame's source file to show it (threading.py
            # alone: ~0.1 s of a kernel interrupt's ~0.25 s)
            raise exc.with_traceback(None) from None
        if future.cancelled() and self.closed:  # closed from another thread meanwhile
            raise LeadpingError(CLOSED_MESSAGE)
        return future.result()

    def close(self, last: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Cancel the tasks still running and wait for them, await ``last()`` (closing the
        connections), shut the worker threads down and stop the loop and its thread.

        Closing again does nothing.
        """
        if self.closed:
            return
        if threading.current_thread() is self._thread:
            raise LeadpingError("the synchronous Client cannot be closed from its own loop thread")
        self.closed = True

        async def shutdown() -> None:
            me = asyncio.current_task()
            others = [t for t in asyncio.all_tasks() if t is not me]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            if last is not None:
                await last()
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        done = threading.Event()
        future = asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        future.add_done_callback(lambda _f: done.set())
        try:
            _wait(done, 10.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()
        if future.done():
            future.result()


class FetchJob:
    """A fetch running in the background (from :meth:`Client.start_fetch`).

    ``cancel()`` really stops it: in-flight requests are cancelled and no task is left.
    Closing the client cancels it too.
    """

    def __init__(self, future: concurrent.futures.Future[FetchResult], done: threading.Event):
        self._future = future
        self._done = done

    def cancel(self, wait: float = 10.0) -> bool:
        """Cancel the fetch and wait (up to ``wait`` seconds) until it has stopped."""
        cancelled = self._future.cancel()
        _wait(self._done, wait)
        return cancelled

    def cancelled(self) -> bool:
        """Whether the fetch was cancelled."""
        return self._future.cancelled()

    def done(self) -> bool:
        """Whether the fetch finished, failed or was cancelled."""
        return self._future.done() and self._done.is_set()

    def result(self, timeout: float | None = None) -> FetchResult:
        """Wait for and return the :class:`FetchResult`.

        Raises ``TimeoutError`` after ``timeout`` seconds (``None``: wait until it ends),
        ``concurrent.futures.CancelledError`` when the fetch was cancelled. Ctrl-C stops
        the waiting, not the fetch (:meth:`cancel` does).
        """
        finished = threading.Event()
        self._future.add_done_callback(lambda _f: finished.set())
        if not _wait(finished, timeout):
            raise TimeoutError(f"the fetch did not end within {timeout} s")
        return self._future.result()

    def add_done_callback(self, fn: Callable[[FetchJob], None]) -> None:
        """Call ``fn(job)`` when the fetch ends (from the client's loop thread)."""
        self._future.add_done_callback(lambda _f: fn(self))
