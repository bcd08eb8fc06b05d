"""``leadping-nb fetch``: leads' events into one typed file (``-o``) or an incremental refresh
of a local store (``--store``)."""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from leadping_nb._http.query import EventQuery
from leadping_nb.cli._common import FAILED, OK, PARTIAL, UsageError, _fmt_s, _say
from leadping_nb.cli._options import _query, _window, parse_age
from leadping_nb.cli._source import (
    _all_failed,
    _file_format,
    _progress,
    _report_failures,
    _Source,
    _warn_empty,
    _write_frame,
)

if TYPE_CHECKING:
    from leadping_nb._client import FetchResult


def _cmd_fetch(args: argparse.Namespace) -> int:
    lookback, output = _checked_destination(args)
    query = _query(args, with_window=not args.account)
    started = time.perf_counter()
    src = _Source(args)
    with src.client:
        ids = [] if src.account else src.lead_ids()
        if output is None:
            result = _into_store(args, src, ids, query, lookback, started)
        else:
            result = _into_file(args, src, ids, query, output, started)
    if result is None:
        return FAILED
    if result.errors:
        _report_failures(result)
        return PARTIAL
    return OK


def _checked_destination(args: argparse.Namespace) -> tuple[timedelta | None, Path | None]:
    """``--lookback`` (with ``--store``) and the ``-o`` file (its format known), checked before
    any request; the output is ``None`` for ``--store``."""
    if args.store and (args.since or args.until or args.window):
        raise UsageError(
            "--since/--until/--window cannot be used with --store: a store fetches everything "
            "new (use `leadping-nb report --store DIR --window ...` to report a window)"
        )
    if args.lookback is not None and not args.store:
        raise UsageError("--lookback applies to --store only")
    lookback = parse_age(args.lookback, "--lookback") if args.lookback is not None else None
    output = Path(args.output) if args.output else None
    if output is not None:
        _file_format(output)
    return lookback, output


def _into_store(
    args: argparse.Namespace,
    src: _Source,
    ids: list[str],
    query: EventQuery,
    lookback: timedelta | None,
    started: float,
) -> FetchResult | None:
    """Refresh ``--store`` and say what changed; ``None`` when every lead failed."""
    from leadping_nb.store import DEFAULT_LOOKBACK, EventStore

    account = src.account
    store = EventStore(args.store)
    with _progress(
        1 if account else len(ids),
        not args.no_progress,
        unit="window" if account else "lead",
    ) as update:
        refreshed = store.refresh(
            src.client,
            None if account else ids,
            EventQuery(page_size=query.page_size, filters=query.filters),
            lookback=DEFAULT_LOOKBACK if lookback is None else lookback,
            now=src.as_of,
            on_progress=update,
        )
    result = refreshed.fetch
    if _all_failed(result):
        return None
    empty = result.empty
    if empty:
        # a lead re-read from its watermark may rightly return nothing new: name
        # only the leads the store holds no event of
        held = set(store.read(empty).get_column("lead_id").unique().to_list())
        empty = [lead for lead in dict.fromkeys(empty) if lead not in held]
    _say(
        f"Store {Path(args.store).resolve()}: {refreshed.added:,} new events, "
        f"{refreshed.changed:,} changed, "
        f"{refreshed.unchanged:,} unchanged (version {refreshed.version}), "
        f"{src.what(result, ids)} in "
        f"{_fmt_s(time.perf_counter() - started)} ({src.description})."
    )
    _warn_empty(empty, None)
    return result


def _into_file(
    args: argparse.Namespace,
    src: _Source,
    ids: list[str],
    query: EventQuery,
    output: Path,
    started: float,
) -> FetchResult | None:
    """Fetch into the ``-o`` file (with its provenance) and say so; ``None`` when every lead
    failed (nothing is written)."""
    from leadping_nb.reports._export import provenance

    result = src.fetch(ids, query)
    if _all_failed(result):
        return None
    since, until = _window(args)
    window = (since, until) if since or until else None
    path = _write_frame(
        result.frame,
        output,
        args.tz,
        provenance(source=src.description, window=window, query=query),
    )
    _say(
        f"Fetched {result.frame.height:,} events {src.what(result, ids)} in "
        f"{_fmt_s(time.perf_counter() - started)} ({src.description}).",
        f"Wrote {path.resolve()}",
    )
    _warn_empty(result.empty, query)
    return result
