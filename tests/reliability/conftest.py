"""Fixtures of the reliability suite: one live loopback server for the session, a tally of
what was exercised (printed at the end of the run), and the opt-in ``longfuzz`` marker.

``longfuzz`` tests (10,000 examples per fuzz target) are deselected unless the marker
expression names them: ``pytest tests/reliability -m longfuzz``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .reliability_support import LiveServer

_TALLY = pytest.StashKey[Counter[str]]()
_HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TALLY] = Counter()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "longfuzz" in (config.option.markexpr or ""):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        mine = _HERE in Path(str(item.path)).parents
        (drop if mine and item.get_closest_marker("longfuzz") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tally = terminalreporter.config.stash.get(_TALLY, Counter())
    if not tally:
        return
    terminalreporter.section("reliability counts")
    width = max(len(k) for k in tally)
    for key in sorted(tally):
        terminalreporter.write_line(f"{key:<{width}}  {tally[key]:>9,}")


@pytest.fixture(scope="session")
def tally(pytestconfig: pytest.Config) -> Counter[str]:
    """What the suite exercised: faults by kind, events compared, examples fuzzed, kills."""
    return pytestconfig.stash[_TALLY]


@pytest.fixture(scope="session")
def live() -> Iterator[LiveServer]:
    """uvicorn on 127.0.0.1 for the whole session; ``live.serve(emulator)`` per test."""
    server = LiveServer().start()
    yield server
    server.stop()
