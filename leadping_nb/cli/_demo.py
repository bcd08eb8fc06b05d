"""``leadping-nb demo``: the built-in emulator -> the account stream -> both reports and a
Parquet file, offline, in one command."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadping_nb._http.query import HISTORY_START, WHOLE_HISTORY, EventQuery
from leadping_nb.cli._common import (
    BILLING_FILE,
    DELIVERY_FILE,
    EVENTS_FILE,
    OK,
    PARTIAL,
    UsageError,
    _currency,
    _fmt_s,
    _say,
    _zone,
)
from leadping_nb.cli._source import _progress, _report_failures, _requests, _write_frame

if TYPE_CHECKING:
    import polars as pl


def _cmd_demo(args: argparse.Namespace) -> int:
    from leadping_nb.emulator import Emulator

    started = time.perf_counter()
    zone = args.tz
    _zone(zone)
    currency = _currency(args.currency)
    if args.leads < 1:
        raise UsageError("--leads must be >= 1")
    emu = Emulator(seed=args.seed, n_leads=args.leads)
    ids = emu.lead_ids()
    source = f"built-in emulator (seed {args.seed}, {len(ids)} leads)"
    _say(f"Leadping demo: {source}, {emu.total_events():,} events to fetch.")
    query = EventQuery(page_size=1000)
    # the account-wide stream: one request per 1,000 events, whatever the number of leads
    with (
        emu.client() as client,
        _progress(1, not args.no_progress, unit="window") as update,
    ):
        result = client.account_events(
            query, since=HISTORY_START, until=emu.now, window=WHOLE_HISTORY, on_progress=update
        )
    fetched = time.perf_counter() - started
    if result.errors:
        _report_failures(result)
    frame = result.frame
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from leadping_nb.reports._export import provenance

    events_path = _write_frame(
        frame,
        out / EVENTS_FILE,
        provenance=provenance(source=source, window=(HISTORY_START, emu.now), query=query),
    )
    lines, paths = _reports(frame, ids, query, zone, currency, emu.now, source, out)
    _say(
        f"Fetched {frame.height:,} events of {frame['lead_id'].n_unique():,} leads from the "
        f"account stream ({result.status.height} windows, {_requests(result)} requests) in "
        f"{_fmt_s(fetched)}.",
        *lines,
        "Files:",
        *[f"  {p.resolve()}" for p in [*paths, events_path]],
        f"Done in {_fmt_s(time.perf_counter() - started)}. Open the reports in a browser; "
        "every metric is defined in docs/metrics.md.",
    )
    return PARTIAL if result.errors else OK


def _reports(
    frame: pl.DataFrame,
    ids: list[str],
    query: EventQuery,
    zone: str,
    currency: str,
    as_of: datetime,
    source: str,
    out: Path,
) -> tuple[list[str], list[Path]]:
    """Both reports of the demo, saved into ``out``: their headline lines and files."""
    from leadping_nb.reports import BillingReport, DeliveryReport

    common: dict[str, Any] = {
        "leads": ids,
        "filters": query,
        "time_zone": zone,
        "as_of": as_of,
        "source": source,
    }
    delivery = DeliveryReport.from_frame(frame, **common)
    billing = BillingReport.from_frame(frame, currency=currency, **common)
    paths = [delivery.save(out / DELIVERY_FILE), billing.save(out / BILLING_FILE)]
    k, b = delivery.kpis, billing.kpis
    d_row = delivery.summary.delivery.row(0, named=True)
    lines = [
        f"  Delivery rate           {k['delivery_rate'].text}  "
        f"({d_row['n_delivered']:,} delivered of {d_row['n_used']:,} with a final outcome)",
        f"  End-to-end latency p50  {k['latency_end_to_end_p50_ms'].text}",
        f"  Net amount              {b['net_amount'].text}",
    ]
    return lines, paths
