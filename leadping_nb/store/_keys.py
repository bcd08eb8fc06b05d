"""The store's keys and lock: the fingerprint of a query's watermarks and the writer lock
of a store directory (shared by :mod:`leadping_nb.store` and its migration)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from leadping_nb._http.query import EventQuery
from leadping_nb.store._delta import StoreError


def _query_key(query: EventQuery) -> dict[str, Any]:
    body = query.to_body()
    key: dict[str, Any] = {}
    if "search" in body:
        key["search"] = body["search"]
    if "searchFields" in body:
        key["searchFields"] = sorted(body["searchFields"])
    for name in ("filters", "rangeFilters"):
        if name in body:
            key[name] = sorted(body[name], key=lambda d: json.dumps(d, sort_keys=True))
    return key


def query_fingerprint(query: EventQuery | None) -> str:
    """The key of a query's watermarks: a hash of its filters, search and range filters.

    Page size and order do not change which events a query selects, so they do not count.

    Examples
    --------
    >>> a = EventQuery(filters={"direction": "Outbound"}, page_size=50)
    >>> query_fingerprint(a) == query_fingerprint(EventQuery(filters={"direction": "Outbound"}))
    True
    >>> query_fingerprint(a) == query_fingerprint(None)
    False
    """
    text = json.dumps(_query_key(query or EventQuery()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """The writer lock of a store directory (fcntl, released when the process dies)."""
    try:
        fh = (path / ".lock").open("a")
    except OSError as exc:
        raise StoreError(
            f"cannot write to {path}: {exc.strerror or exc} (a read-only store can be read, "
            "not refreshed)"
        ) from exc
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreError(f"{path} is being refreshed by another process") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
