"""The emulator as a hand-written ASGI 3 application (no framework).

It reads the request, asks the sans-IO :meth:`Emulator.handle`, then carries out what the
answer describes: it answers ``delay`` seconds after the request arrived (latency, slow
faults; handling the request counts towards it), closes the connection
without a byte for ``fault="drop"``, and sends the body. A truncated body is sent with
its own (short) ``Content-Length``: the client sees a complete 200 response whose JSON is
cut short, exactly as in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from leadping_nb._http.wire import WireHandler, WireRequest

from ._routes import MAX_BODY_BYTES

__all__ = ["make_asgi_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Alarm:
    """Wakes coroutines at a monotonic deadline to within ~0.1 ms.

    ``asyncio.sleep`` rounds the selector timeout up to whole milliseconds, so an answer
    would leave 0.5 ms late on average (more when several fall due in the same
    millisecond), which a latency emulator should not add. One daemon thread waits on a
    condition variable (nanosecond timeouts) for the earliest deadline and hands each
    due future back to its loop.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    async def sleep_until(self, deadline: float) -> None:
        """Return at ``deadline`` (``time.monotonic()`` clock) or just after it."""
        if deadline <= time.monotonic():
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cv:
            heapq.heappush(self._due, (deadline, next(self._seq), loop, fut))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="leadping-emulator-alarm", daemon=True
                )
                self._thread.start()
            self._cv.notify()
        await fut

    def _run(self) -> None:
        with self._cv:
            while True:
                if not self._due:
                    self._cv.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                _, _, loop, fut = heapq.heappop(self._due)
                with contextlib.suppress(RuntimeError):  # that loop was closed meanwhile
                    loop.call_soon_threadsafe(_wake, fut)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _drop_connection(send: Send) -> None:
    """Close the client's connection without sending anything.

    ASGI has no message for this. uvicorn's protocol objects expose their transport on the
    bound ``send``; closing it is a true drop. On other servers, fall back to starting a
    response and never finishing it (the server then closes the connection).
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        # let the server notice the disconnect before the app returns
        for _ in range(3):
            await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})


def make_asgi_app(emulator: WireHandler) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """Build the ASGI 3 callable serving ``emulator`` (anything with ``handle``)."""
    alarm = _Alarm()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":  # pragma: no cover - websockets are not served
            return
        arrived = time.monotonic()
        chunks: list[bytes] = []
        size = 0
        more = True
        while more and size <= MAX_BODY_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        client = scope.get("client")
        request = WireRequest(
            method=scope["method"],
            path=path.split("?", 1)[0],
            headers=headers,
            # past the limit the rest is not read: the answer is 413 whatever it holds
            body=b"".join(chunks),
            query=scope.get("query_string", b"").decode("latin-1"),
            client=str(client[0]) if client else "",
        )
        # handled on the loop: a page costs ~0.2 ms (5 events) to ~25 ms (1,000); a worker
        # thread would only add a hop, the work holds the GIL either way
        answer = emulator.handle(request)
        if answer.delay > 0:
            # the delay counts from the request's arrival: handling it is part of the latency
            await alarm.sleep_until(arrived + answer.delay)
        if answer.fault == "drop":
            await _drop_connection(send)
            return
        out_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        out_headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": out_headers})
        await send({"type": "http.response.body", "body": answer.body, "more_body": False})

    return app
