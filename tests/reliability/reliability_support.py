"""Shared pieces of the reliability suite: a live loopback server, a recording emulator, the
ground-truth oracle and the exact comparison.

The oracle is built from ``Emulator.ground_truth_values`` (canonical Python values keyed by
column), not from the decoder: a decoding bug cannot hide in both the expected and the actual
frame.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import uvicorn
from polars.testing import assert_frame_equal

from leadping_nb import EVENT_SCHEMA
from leadping_nb._http.wire import WireRequest, WireResponse
from leadping_nb.emulator import Emulator

#: A key that must never show up anywhere (secrets tests).
SENTINEL = "lp_live_SENTINEL_9d41c7e2b8f0"
#: The only key the reliability emulators accept.
GOOD_KEY = "lp_reliability_0000"
SORT = ("lead_id", "created_at", "id")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


# ---- the emulator, recorded -----------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One request as the emulator saw it (monotonic clock of this process)."""

    t: float
    lead: str | None
    token: str | None
    status: int
    drop: bool
    retry_after: str | None = None


class RecordingEmulator(Emulator):
    """An emulator that logs every request and can tamper with continuation tokens.

    ``tamper_leads``: for these leads every non-null ``continuationToken`` in a 200 answer
    is altered, so the client's next request carries a token the server rejects (an
    "invalid token" as a client would see it after corruption in transit or a server bug).
    """

    def __init__(self, *args: Any, tamper_leads: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[Record] = []
        self.tamper_leads = frozenset(tamper_leads)
        self._log_lock = threading.Lock()

    def handle(self, request: WireRequest) -> WireResponse:
        t = time.monotonic()
        resp = super().handle(request)
        parts = request.path.split("/")
        lead = parts[3] if len(parts) == 4 and parts[1] == "events" else None
        token = None
        if request.body:
            try:
                body = json.loads(request.body)
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("continuationToken"), str):
                token = body["continuationToken"]
        if lead in self.tamper_leads and resp.status == 200 and resp.fault is None:
            data = json.loads(resp.body)
            tok = data.get("continuationToken")
            if tok:
                data["continuationToken"] = ("y" if tok[0] == "x" else "x") + tok[1:]
                resp = WireResponse(
                    resp.status, resp.headers, json.dumps(data).encode(), resp.delay, resp.fault
                )
        with self._log_lock:
            retry_after = next((v for k, v in resp.headers if k.lower() == "retry-after"), None)
            self.log.append(Record(t, lead, token, resp.status, resp.fault == "drop", retry_after))
        return resp


def pages_needed(emu: Emulator, leads: Iterable[str], page_size: int) -> int:
    """Requests a fault-free fetch of these leads takes (an empty lead still takes one)."""
    return sum(max(1, -(-len(emu.ground_truth(lead)) // page_size)) for lead in leads)


# ---- the oracle and the exact comparison -------------------------------------------------


def oracle(emu: Emulator, leads: Iterable[str]) -> pl.DataFrame:
    """The expected typed frame of these leads, built from the emulator's canonical values."""
    rows = [row for lead in leads for row in emu.ground_truth_values(lead)]
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row").sort(SORT)


def assert_exact(got: pl.DataFrame, emu: Emulator, leads: Iterable[str]) -> int:
    """Assert ``got`` holds exactly the events of ``leads``: none lost, duplicated or invented,
    every value equal. Returns the number of events compared."""
    leads = list(leads)
    want = oracle(emu, leads)
    got = got.select(list(EVENT_SCHEMA)).sort(SORT)
    want_ids = set(want["id"].to_list())
    got_list = got["id"].to_list()
    got_ids = set(got_list)
    lost = want_ids - got_ids
    invented = got_ids - want_ids
    duplicated = len(got_list) - len(got_ids)
    assert not (lost or invented or duplicated), (
        f"{len(lost)} lost, {duplicated} duplicated, {len(invented)} invented "
        f"(of {len(want_ids)} events of {len(leads)} leads)"
    )
    assert_frame_equal(got, want)
    return want.height


# ---- a live uvicorn server on loopback --------------------------------------------------


class LiveServer:
    """uvicorn on 127.0.0.1 (free port, TCP_NODELAY as ``serve`` does) in a thread; the ASGI
    app it serves can be swapped per test with :meth:`serve`."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self._app: ASGIApp | None = None
        config = uvicorn.Config(
            self._dispatch,
            log_level="critical",
            lifespan="on",
            http="h11",
            ws="none",
            interface="asgi3",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, emulator: Emulator) -> str:
        """Serve ``emulator`` from now on; returns the base URL."""
        self._app = emulator.asgi_app
        return self.base_url

    async def _dispatch(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        app = self._app
        if app is None:  # pragma: no cover - every test serves an emulator first
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:  # pragma: no cover
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
