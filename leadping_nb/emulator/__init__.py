"""The built-in Leadping emulator: realistic synthetic lead activity behind the real API.

Everything offline (the demo, the notebooks, the dashboard, the tests) runs on it. See
``docs/emulator.md`` for what it generates, its options, faults and request semantics.

* :class:`Emulator` is a sans-IO handler (``handle(WireRequest) -> WireResponse``) that
  the client takes as its transport (no sockets), and an ASGI app (``emulator.asgi_app``).
* :func:`serve` / :func:`cli_serve` run it under uvicorn on loopback.
* :func:`generate_events` / :func:`events_frame` produce canonical rows fast for
  benchmarks.

Unknown leads: ``POST /events/leads/{leadId}`` answers 200 with an empty page for a lead
id it did not generate (the API declares no 404 there); ``GET /leads/{id}`` answers 404.
"""

from __future__ import annotations

from ._faults import FaultConfig
from ._handler import EMULATOR_API_KEY, EMULATOR_BASE_URL, Emulator
from ._serve import cli_serve, serve
from ._stream import events_frame, generate_events

__all__ = [
    "EMULATOR_API_KEY",
    "EMULATOR_BASE_URL",
    "Emulator",
    "FaultConfig",
    "cli_serve",
    "events_frame",
    "generate_events",
    "serve",
]
