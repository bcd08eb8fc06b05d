"""``leadping-nb report``: the delivery and/or billing report (HTML) of events fetched now or
read from a local store."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadping_nb._core.errors import LeadpingError, QueryError
from leadping_nb._core.schema import field_by_name
from leadping_nb._core.window import Window
from leadping_nb._http.query import EventQuery, check_lead_id
from leadping_nb.cli._common import (
    BILLING_FILE,
    DELIVERY_FILE,
    FAILED,
    OK,
    PARTIAL,
    UsageError,
    _currency,
    _fmt_s,
    _say,
    _zone,
)
from leadping_nb.cli._options import (
    _lead_args,
    _query,
    _window,
    _window_option,
    parse_filters,
)
from leadping_nb.cli._source import _all_failed, _report_failures, _Source, _warn_empty

if TYPE_CHECKING:
    import polars as pl

    from leadping_nb._client import FetchResult


@dataclass
class _Events:
    """The events a report is built from, and what the report says about where they came from."""

    frame: pl.DataFrame
    leads: list[str] | None
    source: str
    as_of: datetime | None = None
    store_version: int | None = None
    #: the fetch, when the events were fetched now (its failures and empty leads are reported)
    fetched: FetchResult | None = None


def _cmd_report(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    _zone(args.tz)
    since, until = _window(args)
    window: Window | tuple[datetime | None, datetime | None] | None = _window_option(args) or (
        (since, until) if since or until else None
    )
    query = _query(args, with_window=True)
    if not 0 <= args.cost_scale <= 18:
        raise UsageError("--cost-scale must be within 0-18")
    if args.min_volume < 1:
        raise UsageError("--min-volume must be at least 1")
    currency = _currency(args.currency)
    if args.store_version is not None and not args.store:
        raise UsageError("--store-version applies to --store only")
    events = _from_store(args, since, until) if args.store else _fetched(args)
    if events is None:
        return FAILED
    written, lines = _write_reports(args, events, window, query, currency)
    scope = f", window {window.label}" if isinstance(window, Window) else ""
    _say(
        f"Report of {events.frame.height:,} events from {events.source}{scope} "
        f"in {_fmt_s(time.perf_counter() - started)}:",
        *lines,
        "Wrote:",
        *[f"  {p.resolve()}" for p in written],
    )
    fetched = events.fetched
    _warn_empty(fetched.empty if fetched is not None else [], query)
    if fetched is not None and fetched.errors:
        _report_failures(fetched)
        return PARTIAL
    return OK


def _from_store(
    args: argparse.Namespace, since: datetime | None, until: datetime | None
) -> _Events:
    """``--store``'s events (at ``--store-version``) in the window, the filters applied here."""
    if args.emulator or args.all_leads or args.base_url:
        raise UsageError("--store reads a local store: drop --emulator/--all-leads/--base-url")
    from leadping_nb.store import EventStore

    store_dir = Path(args.store)
    if not (store_dir / "_delta_log").is_dir() and not (store_dir / "manifest.json").exists():
        raise LeadpingError(
            f"no store at {store_dir} (create one with `leadping-nb fetch --store "
            f"{store_dir} LEAD ...`)"
        )
    ids = [check_lead_id(i) for i in _lead_args(args)] or None
    store = EventStore(store_dir)
    version = store.version if args.store_version is None else args.store_version
    frame = store.read(ids, start=since, end=until, version=version)
    frame = _local_filter(frame, parse_filters(args.filter, args.tz))
    source = f"local store {store_dir.resolve()} (version {version})"
    return _Events(frame, ids, source, store_version=version)


def _fetched(args: argparse.Namespace) -> _Events | None:
    """The events fetched now (per lead, or the account stream); ``None`` when all failed."""
    src = _Source(args)
    with src.client:
        ids = None if src.account else src.lead_ids()
        result = src.fetch(ids or [], _query(args, with_window=not src.account))
    if _all_failed(result):
        return None
    return _Events(result.frame, ids, src.description, as_of=src.as_of, fetched=result)


def _local_filter(frame: pl.DataFrame, pairs: list[tuple[str, Any]]) -> pl.DataFrame:
    import polars as pl

    for name, value in pairs:
        f = field_by_name(name)
        if f is None:
            EventQuery(filters=[(name, value)])  # raises QueryError naming the valid fields
            raise QueryError(f"--filter: unknown field {name!r}")  # pragma: no cover
        frame = frame.filter(pl.col(f.column) == pl.lit(value))
    return frame


def _write_reports(
    args: argparse.Namespace,
    events: _Events,
    window: Window | tuple[datetime | None, datetime | None] | None,
    query: EventQuery,
    currency: str,
) -> tuple[list[Path], list[str]]:
    """Build and save the ``--kind`` report(s); the files written and one line of each."""
    from leadping_nb.reports import BillingReport, DeliveryReport

    out = Path(args.out_dir)
    common: dict[str, Any] = {
        "include_warmup": args.include_warmup,
        "include_test": args.include_test,
        "include_demo": args.include_demo,
        "leads": events.leads,
        "window": window,
        "filters": query,
        "time_zone": args.tz,
        "every": args.every,
        "as_of": events.as_of,
        "source": events.source,
        "store_version": events.store_version,
    }
    written: list[Path] = []
    lines: list[str] = []
    if args.kind in ("delivery", "both"):
        d = DeliveryReport.from_frame(
            events.frame, by=args.by, min_volume=args.min_volume, **common
        )
        written.append(d.save(out / DELIVERY_FILE))
        lines.append(f"  Delivery rate {d.kpis['delivery_rate'].text}")
    if args.kind in ("billing", "both"):
        b = BillingReport.from_frame(
            events.frame, cost_scale=args.cost_scale, currency=currency, **common
        )
        written.append(b.save(out / BILLING_FILE))
        lines.append(f"  Net amount    {b.kpis['net_amount'].text}")
    return written, lines
