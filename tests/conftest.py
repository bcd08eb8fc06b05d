"""Suite-wide guards: nothing leaves loopback; matplotlib is headless; widgets are closed."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("LEADPING_API_KEY", None)

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host == "localhost" or host.endswith(".localhost"):
            return
        try:
            if ipaddress.ip_address(host.split("%")[0]).is_loopback:
                return
        except ValueError:
            pass
        raise OSError(f"test tried to leave loopback: connect to {address!r} refused by conftest")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the real-browser tests last (Playwright's sync API holds a running asyncio loop in
    the main thread while a browser is open)."""
    browser = [i for i in items if "tests/browser/" in i.nodeid.replace("\\", "/")]
    if browser:
        others = [i for i in items if i not in browser]
        items[:] = others + browser
