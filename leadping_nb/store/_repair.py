"""The re-fetch behind :meth:`EventStore.repair`: the damaged months again, for every query
and lead (and account stream) the store was refreshed with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._http.query import EventQuery, RangeFilter
from leadping_nb.store._delta import StoreError
from leadping_nb.store._refresh import ordered_query

if TYPE_CHECKING:
    from leadping_nb._client import Client, FetchProgress, FetchResult


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _combine(results: list[FetchResult]) -> FetchResult:
    """Several fetches as one result (frames and status rows concatenated)."""
    from leadping_nb._client.fetch import _result
    from leadping_nb._client.types import FetchResult

    if not results:
        return _result([], {}, [])
    return FetchResult(
        frame=pl.concat([r.frame for r in results], how="vertical"),
        status=pl.concat([r.status for r in results], how="diagonal_relaxed"),
        report=results[0].report,
        errors={k: v for r in results for k, v in r.errors.items()},
    )


def refetch_months(
    path: Path,
    client: Client,
    state: dict[str, Any],
    months: list[str],
    on_progress: Callable[[FetchProgress], None] | None,
) -> tuple[list[pl.DataFrame], int, list[FetchResult]]:
    """Every query's leads (and account stream) again for each of ``months``: their frames,
    the HTTP attempts made, and the fetches. Any failure raises :class:`StoreError` (the
    caller commits nothing)."""
    frames: list[pl.DataFrame] = []
    requests = 0
    results: list[FetchResult] = []
    for entry in state["queries"].values():
        base = EventQuery.from_body({"pageSize": 1000, **entry["query"]})
        leads = sorted(entry["leads"])
        for month in months:
            start, end = _month_bounds(month)
            window = RangeFilter("createdAt", ge=start, lt=end)
            q = ordered_query(base, [*base.range_filters, window])
            parts = []
            if leads:
                parts.append(client.fetch_events(leads, q, on_progress=on_progress))
            if "account" in entry:
                fetch = getattr(client, "account_events", None)
                if fetch is None:
                    raise StoreError("repair of an account stream needs account_events")
                parts.append(fetch(base, since=start, until=end, on_progress=on_progress))
            for got in parts:
                if got.errors:
                    lead, exc = next(iter(got.errors.items()))
                    raise StoreError(
                        f"repair of {path}: fetching {lead} for {month} failed "
                        f"({exc}); nothing was changed, run it again"
                    ) from exc
                if "attempts" in got.status.columns:
                    requests += int(got.status["attempts"].sum())
                frames.append(got.frame.select(list(EVENT_SCHEMA)))
                results.append(got)
    return frames, requests, results
