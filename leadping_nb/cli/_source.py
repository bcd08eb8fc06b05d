"""Where a command's events come from (``_Source``: the API or the emulator, per lead or the
account stream), its progress bar, and the lines and files a fetch ends with."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadping_nb._core.errors import AuthError
from leadping_nb._http.query import HISTORY_START, WHOLE_HISTORY, EventQuery
from leadping_nb.cli._common import _FORMATS, _NAMED, SHELL_KEY_HINT, UsageError, _err, _message
from leadping_nb.cli._options import _lead_args, _window

if TYPE_CHECKING:
    import polars as pl

    from leadping_nb._client import Client, FetchProgress, FetchResult


@contextlib.contextmanager
def _progress(
    total: int, enabled: bool, desc: str = "Fetching", unit: str = "lead"
) -> Iterator[Callable[[FetchProgress], None]]:
    """A tqdm bar on stderr counting finished leads (or account windows, whose total grows
    as windows split), with pages/events/failures."""
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.2,
    )

    def update(p: FetchProgress) -> None:
        if p.leads_total != bar.total:
            bar.total = p.leads_total
        if p.lead_finished:
            bar.update(1)
        bar.set_postfix(events=f"{p.events:,}", pages=p.pages, failed=p.leads_failed, refresh=False)

    try:
        yield update
    finally:
        bar.close()


class _Source:
    """A client and the lead ids to fetch, from the command-line options."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.emulator: Any = None
        if args.emulator:
            from leadping_nb.emulator import Emulator

            if args.emulator_leads < 0:
                raise UsageError("--emulator-leads must be >= 0")
            self.emulator = Emulator(seed=args.emulator_seed, n_leads=args.emulator_leads)
            self.client: Client = self.emulator.client(concurrency=args.concurrency)
            self.description = (
                f"built-in emulator (seed {args.emulator_seed}, {args.emulator_leads} leads)"
            )
        else:
            key = os.environ.get("LEADPING_API_KEY", "")
            if not key.strip():
                raise UsageError(f"no API key. {SHELL_KEY_HINT}")
            from leadping_nb._client import Client

            self.client = Client(base_url=args.base_url, concurrency=args.concurrency)
            self.description = f"Leadping API at {self.client.base_url}"

    @property
    def as_of(self) -> datetime | None:
        """The instant the data end at (the emulator's fixed now), else None (now)."""
        return self.emulator.now if self.emulator is not None else None

    def lead_ids(self, *, required: bool = True) -> list[str]:
        ids = _lead_args(self.args)
        if self.args.all_leads:
            listed = self.client.leads(max_leads=None)
            ids = list(dict.fromkeys([*ids, *listed["id"].to_list()]))
        if not ids and self.emulator is not None:
            ids = self.emulator.lead_ids()
        if not ids and required:
            raise UsageError("no leads: give lead ids (LEAD ..., --leads-file FILE or --all-leads)")
        return ids

    @property
    def account(self) -> bool:
        """Whether the account-wide stream is asked for (``--account``)."""
        if not self.args.account:
            return False
        if _lead_args(self.args) or self.args.all_leads:
            raise UsageError(
                "--account reads every lead's events at once: drop the LEAD arguments, "
                "--leads-file and --all-leads"
            )
        return True

    def fetch(self, ids: list[str], query: EventQuery) -> FetchResult:
        """Each lead's events (per lead), or the account stream's with ``--account``."""
        if self.account:
            since, until = _window(self.args)
            plain = EventQuery(
                page_size=query.page_size,
                filters=query.filters,
                search=query.search,
                search_fields=query.search_fields,
            )
            with _progress(1, not self.args.no_progress, unit="window") as update:
                return self.client.account_events(
                    plain,
                    since=HISTORY_START if since is None else since,
                    until=until,
                    window=WHOLE_HISTORY if since is None else None,
                    on_progress=update,
                )
        with _progress(len(ids), not self.args.no_progress) as update:
            return self.client.fetch_events(ids, query, on_progress=update)

    def what(self, result: FetchResult, ids: list[str]) -> str:
        """ "from 118/120 leads" or "from the account stream (17 windows)", and requests."""
        requests = _requests(result)
        if self.account:
            return f"from the account stream ({result.status.height} windows, {requests} requests)"
        ok = len(ids) - len(result.errors)
        return f"from {ok}/{len(ids)} leads ({requests} requests)"


def _requests(result: FetchResult) -> str:
    """The HTTP attempts a fetch made (its status table's ``attempts``)."""
    if "attempts" not in result.status.columns:
        return "?"
    return f"{int(result.status['attempts'].sum() or 0):,}"


def _report_failures(result: FetchResult) -> None:
    what = "window" if "window" in result.status.columns else "lead"
    shown = list(result.errors.items())[:_NAMED]
    for key, exc in shown:
        _err(f"{what} {key} failed: {type(exc).__name__}: {_message(exc)}")
    if len(result.errors) > len(shown):
        _err(f"... and {len(result.errors) - len(shown)} more failed {what}s")


def _warn_empty(ids: Sequence[str], query: EventQuery | None) -> None:
    """One stderr line naming the leads that returned no events (the exit code stays)."""
    if not ids:
        return
    named = ", ".join(ids[:_NAMED]) + (
        f" and {len(ids) - _NAMED} more" if len(ids) > _NAMED else ""
    )
    filtered = query is not None and bool(query.filters or query.range_filters or query.search)
    why = "unknown ids? the API answers an unknown lead with an empty page, not 404"
    if filtered:
        why += "; or nothing matched --since/--until/--window/--filter"
    n = len(ids)
    _err(f"warning: {n} lead{'s' if n != 1 else ''} returned no events: {named} ({why})")


def _all_failed(result: FetchResult) -> bool:
    """Every lead failed: raise the first error if all share one cause (bad key, no
    network), else list them."""
    if not result.errors or len(result.errors) < result.status.height:
        return False
    first = next(iter(result.errors.values()))
    if isinstance(first, AuthError) or all(
        type(e) is type(first) and str(e) == str(first) for e in result.errors.values()
    ):
        raise first
    _report_failures(result)
    return True


def _file_format(path: Path) -> str:
    """``parquet``, ``csv`` or ``excel`` from ``-o``'s extension, checked before any fetch."""
    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(
            f"-o {path}: unknown format {path.suffix or '(no extension)'}; "
            "use .parquet, .csv or .xlsx"
        )
    return kind


def _write_frame(
    frame: pl.DataFrame,
    path: Path,
    time_zone: str = "UTC",
    provenance: dict[str, str] | None = None,
) -> Path:
    """Write ``frame`` by the file's extension (money exact; CSV/Excel times in
    ``time_zone``); files are written atomically by :mod:`leadping_nb.reports._export`.
    ``provenance`` goes into Parquet's key-value metadata and Excel's about sheet."""
    from leadping_nb.reports import _export

    kind = _file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        return _export.to_parquet(frame, path, metadata=provenance)
    if kind == "csv":
        return _export.to_csv(frame, path, time_zone=time_zone)
    return _export.to_excel(frame, path, time_zone=time_zone, metadata=provenance)
