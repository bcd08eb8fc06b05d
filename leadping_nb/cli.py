"""The ``leadping-nb`` command: ``demo``, ``fetch``, ``report`` and ``serve``.

``main(argv) -> int`` is the console entry point (``leadping-nb = leadping_nb.cli:main``
in pyproject) and what ``python -m leadping_nb`` runs. It never raises for expected
failures: it prints one clear line per problem to stderr and returns the exit code
(:data:`EXIT_CODES`); ``--debug`` shows the traceback instead. The API key is read from
``LEADPING_API_KEY`` by the client and never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from leadping_nb._core.errors import KEY_HINT, AuthError, LeadpingError, QueryError
from leadping_nb._core.format import DEFAULT_CURRENCY, check_currency
from leadping_nb._core.schema import field_by_name
from leadping_nb._core.window import Window
from leadping_nb._http.query import (
    HISTORY_START,
    MAX_PAGE_SIZE,
    WHOLE_HISTORY,
    EventQuery,
    check_lead_id,
)

if TYPE_CHECKING:
    import polars as pl

    from leadping_nb._client import Client, FetchProgress, FetchResult

__all__ = ["EXIT_CODES", "build_parser", "main"]

PROG = "leadping-nb"
OK, FAILED, USAGE, PARTIAL, INTERRUPTED = 0, 1, 2, 3, 130
#: Exit codes of every command.
EXIT_CODES: dict[int, str] = {
    OK: "success",
    FAILED: "error: the API, authentication, the network, the store or a file failed "
    "(nothing was written)",
    USAGE: "usage error: a bad option, lead id, date or filter, or no API key",
    PARTIAL: "partial: some leads failed; the files hold the leads that succeeded and the "
    "failures are listed on stderr",
    INTERRUPTED: "interrupted (Ctrl-C)",
}
_EPILOG = "\n".join(
    [
        "exit codes:",
        *[
            textwrap.fill(text, 88, initial_indent=f"  {code:<4}", subsequent_indent=" " * 6)
            for code, text in EXIT_CODES.items()
        ],
        "",
        textwrap.fill(
            "The real API needs LEADPING_API_KEY in the environment (it is never printed); "
            "--emulator runs everything offline on the built-in emulator.",
            88,
        ),
    ]
)
#: The CLI's page size (the library's EventQuery defaults to 100; a command line run
#: fetches whole histories, so it asks for the largest page).
CLI_PAGE_SIZE = 1000
#: The CLI's concurrency (as the clients').
CLI_CONCURRENCY = 8
#: How a shell user gives the key (the library's errors say it the Python way).
SHELL_KEY_HINT = (
    "Set it in the environment first: `export LEADPING_API_KEY=<your key>` (it is never "
    "printed), or add --emulator to run offline on the built-in emulator"
)
#: At most this many ids are named in one stderr line.
_NAMED = 20
DEMO_DIR = "leadping-demo"
DELIVERY_FILE = "delivery_report.html"
BILLING_FILE = "billing_report.html"
EVENTS_FILE = "events.parquet"
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".xlsx": "excel"}


class UsageError(Exception):
    """A command-line mistake found before any work (exit code 2)."""


# ---------------------------------------------------------------------------------------
# argument parsing


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Show meaningful defaults (not None/False/[]) and keep the epilog's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default == []:
            return text
        if default == argparse.SUPPRESS:
            return text
        return text + " (default: %(default)s)"


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one line")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr while fetching"
    )
    return p


def _source() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("where the events come from")
    g.add_argument("leads", nargs="*", metavar="LEAD", help="lead ids to fetch")
    g.add_argument(
        "--leads-file",
        metavar="FILE",
        help="a file with one lead id per line ('#' comments and blank lines are skipped; "
        "'-' reads stdin)",
    )
    g.add_argument(
        "--all-leads",
        action="store_true",
        help="every lead of the account (listed with POST /leads/all/my)",
    )
    g.add_argument(
        "--account",
        action="store_true",
        help="every event of the account through the account-wide stream (POST "
        "/events/organizations/{id}, pages of 1,000 over concurrent time windows): one "
        "request per 1,000 events, not one or more per lead; not with LEAD arguments",
    )
    g.add_argument(
        "--emulator",
        action="store_true",
        help="use the built-in emulator in-process (offline, no API key; without LEAD "
        "arguments: all its leads)",
    )
    g.add_argument("--emulator-seed", type=int, default=0, metavar="N", help="emulator data seed")
    g.add_argument(
        "--emulator-leads", type=int, default=120, metavar="N", help="emulator portfolio size"
    )
    g.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="API root (default https://api.leadping.ai; plain http:// only to loopback)",
    )
    q = p.add_argument_group("what to fetch")
    q.add_argument(
        "--since",
        metavar="WHEN",
        help="only events created at or after WHEN: an ISO date (midnight in --tz) or "
        "datetime (with an offset such as Z or +02:00, else read in --tz)",
    )
    q.add_argument(
        "--until",
        metavar="WHEN",
        help="only events created before WHEN (exclusive; same forms as --since): "
        "--since 2026-05-01 --until 2026-06-01 is all of May",
    )
    q.add_argument(
        "--window",
        metavar="WINDOW",
        help="only events created in WINDOW, in --tz: 'last 7 days' (whole days before "
        "today), 'last month', 'this month', 'today', or START..END with ISO dates or "
        "datetimes, END excluded, either side may be empty (2026-11-01..2026-12-01 is "
        "November); with --emulator, relative to the emulator's now; not with "
        "--since/--until",
    )
    q.add_argument(
        "--tz",
        default="UTC",
        metavar="ZONE",
        help="IANA time zone of dates without an offset, of report dates and of CSV/Excel "
        "timestamps",
    )
    q.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="exact-match filter on an event field (API or snake_case name), repeatable: "
        "--filter direction=Outbound --filter eventType=Sms",
    )
    q.add_argument(
        "--page-size",
        type=int,
        default=CLI_PAGE_SIZE,
        metavar="N",
        help=f"events per request (1-{MAX_PAGE_SIZE})",
    )
    q.add_argument(
        "--concurrency",
        type=int,
        default=CLI_CONCURRENCY,
        metavar="N",
        help="requests in flight at most",
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``leadping-nb`` (subcommands demo, fetch, report, serve)."""
    from leadping_nb._core.version import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_wrap(
            "Fetch Leadping lead activity into typed files and render delivery and "
            "billing reports, against the real API or the built-in emulator."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common, source = _common(), _source()

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="offline demo: emulator -> fetch -> reports + Parquet in ./leadping-demo/",
        description=_wrap(
            "Run the built-in emulator in-process with a demo portfolio, fetch every "
            "lead's events with a progress bar, and write delivery_report.html, "
            "billing_report.html and events.parquet into the output folder."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    demo.add_argument("-o", "--out-dir", default=DEMO_DIR, metavar="DIR", help="output folder")
    demo.add_argument("--seed", type=int, default=0, help="emulator data seed")
    demo.add_argument("--leads", type=int, default=120, metavar="N", help="number of leads")
    demo.add_argument("--tz", default="UTC", metavar="ZONE", help="time zone of report dates")
    demo.add_argument(
        "--currency",
        default=DEFAULT_CURRENCY,
        metavar="CODE",
        help="currency of the amounts: three upper-case letters, ISO 4217 (the API states none)",
    )
    demo.set_defaults(func=_cmd_demo)

    fetch = sub.add_parser(
        "fetch",
        parents=[common, source],
        help="fetch leads' events to Parquet / CSV / Excel, or into a store",
        description=_wrap(
            "Fetch the events of the given leads into one typed file (format from "
            "the extension: .parquet, .csv or .xlsx) or refresh a local store incrementally."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    out = fetch.add_argument_group("where the events go (one of)").add_mutually_exclusive_group(
        required=True
    )
    out.add_argument("-o", "--output", metavar="FILE", help="output file: .parquet, .csv or .xlsx")
    out.add_argument(
        "--store",
        metavar="DIR",
        help="refresh this local Delta Lake store (new events, and events that can still "
        "change within --lookback, are fetched and merged; --since/--until do not apply)",
    )
    fetch.add_argument(
        "--lookback",
        metavar="AGE",
        help="with --store: re-read events that can still change (queued, sent, retrying, "
        "scheduled, billing pending) created up to AGE ago, e.g. 7d, 36h, 0 "
        "(default 7d; 0: only from each lead's watermark)",
    )
    fetch.set_defaults(func=_cmd_fetch)

    report = sub.add_parser(
        "report",
        parents=[common, source],
        help="render delivery and/or billing reports (HTML) from the API or a store",
        description=_wrap(
            "Render the delivery and/or billing report for a date window, from "
            "events fetched now (LEAD..., --leads-file, --all-leads or --emulator) or read from "
            "a local store (--store; LEAD arguments then restrict the leads)."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    r = report.add_argument_group("report options")
    r.add_argument("--store", metavar="DIR", help="read the events from this local store")
    r.add_argument(
        "--store-version",
        type=int,
        metavar="N",
        help="with --store: report from version N of the store (default: the current one)",
    )
    r.add_argument(
        "--kind",
        choices=("delivery", "billing", "both"),
        default="both",
        help="which report(s) to write",
    )
    r.add_argument("-o", "--out-dir", default=".", metavar="DIR", help="output folder")
    r.add_argument(
        "--every",
        choices=("auto", "day", "week", "month"),
        default="auto",
        help="period of the time tables and figures (auto: from the data span)",
    )
    r.add_argument(
        "--include-warmup",
        action="store_true",
        help="count warm-up traffic in both reports (default: customer traffic only)",
    )
    r.add_argument(
        "--include-test",
        action="store_true",
        help="count test traffic in both reports (default: customer traffic only)",
    )
    r.add_argument(
        "--include-demo",
        action="store_true",
        help="count demo traffic (isDemo) in both reports (default: customer traffic only)",
    )
    r.add_argument(
        "--by",
        choices=("campaign_id", "from_phone_number", "source_id"),
        default=None,
        help="delivery report: rank these groups worst first (Wilson 95%% upper bound of the "
        "delivery rate; groups under --min-volume final outcomes listed apart)",
    )
    r.add_argument(
        "--min-volume",
        type=int,
        default=30,
        metavar="N",
        help="with --by: final outcomes a group needs to be ranked",
    )
    r.add_argument(
        "--cost-scale",
        type=int,
        default=4,
        metavar="N",
        help="decimals of per-unit amounts (half-to-even; totals are exact)",
    )
    r.add_argument(
        "--currency",
        default=DEFAULT_CURRENCY,
        metavar="CODE",
        help="currency of the amounts: three upper-case letters, ISO 4217 (the API states none)",
    )
    report.set_defaults(func=_cmd_report)

    sub.add_parser(
        "serve",
        help="serve the emulator over HTTP on loopback (see: leadping-nb serve --help)",
        description="Serve the built-in emulator (options: leadping-nb serve --help).",
        add_help=False,
    )
    return parser


# ---------------------------------------------------------------------------------------
# small helpers


def _say(*lines: str) -> None:
    print(*lines, sep="\n", flush=True)


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        raise UsageError(f"--tz: unknown time zone {name!r} (e.g. UTC, America/New_York)") from None


def parse_instant(text: str, time_zone: str, option: str) -> datetime:
    """An aware datetime from ``YYYY-MM-DD`` (midnight in ``time_zone``) or an ISO datetime
    (naive ones are read in ``time_zone``).

    Examples
    --------
    >>> parse_instant("2026-05-01", "Europe/Berlin", "--since").isoformat()
    '2026-05-01T00:00:00+02:00'
    >>> parse_instant("2026-05-01T10:00Z", "UTC", "--since").isoformat()
    '2026-05-01T10:00:00+00:00'
    """
    zone = _zone(time_zone)
    raw = text.strip()
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            return datetime(d.year, d.month, d.day, tzinfo=zone)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is not an ISO date (2026-05-01) or datetime (2026-05-01T08:00Z)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def parse_age(text: str, option: str) -> timedelta:
    """A non-negative duration from ``0``, ``Nd``, ``Nh`` or ``Nm`` (days, hours, minutes).

    Examples
    --------
    >>> parse_age("7d", "--lookback"), parse_age("36h", "--lookback"), parse_age("0", "--x")
    (datetime.timedelta(days=7), datetime.timedelta(days=1, seconds=43200), datetime.timedelta(0))
    """
    raw = text.strip().lower()
    units = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
    try:
        if raw == "0":
            return timedelta(0)
        if raw[-1:] in units and int(raw[:-1]) >= 0:
            return int(raw[:-1]) * units[raw[-1]]
    except ValueError:
        pass
    raise UsageError(f"{option}: {text!r} is not an age such as 7d, 36h, 90m or 0")


def _typed_filter_value(name: str, value: str, time_zone: str) -> Any:
    """The filter value in the type its field needs (unknown fields stay text: the query
    names the valid fields)."""
    f = field_by_name(name)
    kind = f.kind if f is not None else "string"
    where = f"--filter {name}"
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"{where}: {value!r} is not an integer") from None
    if kind == "boolean":
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise UsageError(f"{where}: {value!r} is not true or false")
    if kind == "timestamp":
        return parse_instant(value, time_zone, where)
    return value


def parse_filters(items: Sequence[str], time_zone: str) -> list[tuple[str, Any]]:
    """``FIELD=VALUE`` options as typed ``(field, value)`` pairs.

    Examples
    --------
    >>> parse_filters(["direction=Outbound", "retryCount=2"], "UTC")
    [('direction', 'Outbound'), ('retryCount', 2)]
    """
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--filter: expected FIELD=VALUE, got {item!r}")
        out.append((name.strip(), _typed_filter_value(name.strip(), value, time_zone)))
    return out


def _window_option(args: argparse.Namespace) -> Window | None:
    """``--window`` parsed in ``--tz`` (relative names from the emulator's now with
    ``--emulator``), or ``None`` when it is not given."""
    text = getattr(args, "window", None)
    if text is None:
        return None
    if args.since or args.until:
        raise UsageError("--window cannot be combined with --since/--until: give one or the other")
    _zone(args.tz)
    now = None
    if args.emulator:
        from leadping_nb.emulator._catalog import DEFAULT_NOW

        now = DEFAULT_NOW
    try:
        return Window.parse(text, time_zone=args.tz, now=now)
    except ValueError as exc:
        raise UsageError(f"--window: {exc}") from None


def _window(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    window = _window_option(args)
    if window is not None:
        return window.bounds
    since = parse_instant(args.since, args.tz, "--since") if args.since else None
    until = parse_instant(args.until, args.tz, "--until") if args.until else None
    if since is not None and until is not None and not since < until:
        raise UsageError(f"--since ({args.since}) must be before --until ({args.until})")
    return since, until


def _check_numbers(args: argparse.Namespace) -> None:
    """``--page-size`` and ``--concurrency``, in the CLI's own terms (its defaults)."""
    if not 1 <= args.page_size <= MAX_PAGE_SIZE:
        raise UsageError(
            f"--page-size: {args.page_size} is outside 1-{MAX_PAGE_SIZE} (default {CLI_PAGE_SIZE})"
        )
    if args.concurrency < 1:
        raise UsageError(
            f"--concurrency: must be >= 1, got {args.concurrency} (default {CLI_CONCURRENCY})"
        )


def _query(args: argparse.Namespace, *, with_window: bool) -> EventQuery:
    _zone(args.tz)
    _check_numbers(args)
    ranges: dict[str, dict[str, datetime]] = {}
    since, until = _window(args)
    if with_window and (since or until):
        bounds: dict[str, datetime] = {}
        if since:
            bounds["ge"] = since
        if until:
            bounds["lt"] = until
        ranges["createdAt"] = bounds
    return EventQuery(
        page_size=args.page_size,
        filters=parse_filters(args.filter, args.tz),
        range_filters=ranges,
    )


def _lead_args(args: argparse.Namespace) -> list[str]:
    ids = list(args.leads)
    if args.leads_file:
        try:
            if args.leads_file == "-":
                text = sys.stdin.read()
            else:
                text = Path(args.leads_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--leads-file: {exc.strerror or exc}: {args.leads_file}") from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                ids.append(line)
    return list(dict.fromkeys(ids))


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


def _message(exc: BaseException) -> str:
    """An error's text for a shell user: the key hint says ``export LEADPING_API_KEY``."""
    return str(exc).replace(KEY_HINT, SHELL_KEY_HINT)


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

    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(
            f"-o {path}: unknown format {path.suffix or '(no extension)'}; "
            "use .parquet, .csv or .xlsx"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        return _export.to_parquet(frame, path, metadata=provenance)
    if kind == "csv":
        return _export.to_csv(frame, path, time_zone=time_zone)
    return _export.to_excel(frame, path, time_zone=time_zone, metadata=provenance)


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s"


# ---------------------------------------------------------------------------------------
# commands


def _currency(code: str) -> str:
    """``--currency``, checked before anything runs."""
    try:
        return check_currency(code)
    except ValueError as exc:
        raise UsageError(f"--currency: {exc}") from None


def _cmd_demo(args: argparse.Namespace) -> int:
    from leadping_nb.emulator import Emulator
    from leadping_nb.reports import BillingReport, DeliveryReport

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
    common: dict[str, Any] = {
        "leads": ids,
        "filters": query,
        "time_zone": zone,
        "as_of": emu.now,
        "source": source,
    }
    delivery = DeliveryReport.from_frame(frame, **common)
    billing = BillingReport.from_frame(frame, currency=currency, **common)
    d_path = delivery.save(out / DELIVERY_FILE)
    b_path = billing.save(out / BILLING_FILE)
    k, b = delivery.kpis, billing.kpis
    d_row = delivery.summary.delivery.row(0, named=True)
    _say(
        f"Fetched {frame.height:,} events of {frame['lead_id'].n_unique():,} leads from the "
        f"account stream ({result.status.height} windows, {_requests(result)} requests) in "
        f"{_fmt_s(fetched)}.",
        f"  Delivery rate           {k['delivery_rate'].text}  "
        f"({d_row['n_delivered']:,} delivered of {d_row['n_used']:,} with a final outcome)",
        f"  End-to-end latency p50  {k['latency_end_to_end_p50_ms'].text}",
        f"  Net amount              {b['net_amount'].text}",
        "Files:",
        f"  {d_path.resolve()}",
        f"  {b_path.resolve()}",
        f"  {events_path.resolve()}",
        f"Done in {_fmt_s(time.perf_counter() - started)}. Open the reports in a browser; "
        "every metric is defined in docs/metrics.md.",
    )
    return PARTIAL if result.errors else OK


def _cmd_fetch(args: argparse.Namespace) -> int:
    if args.store and (args.since or args.until or args.window):
        raise UsageError(
            "--since/--until/--window cannot be used with --store: a store fetches everything "
            "new (use `leadping-nb report --store DIR --window ...` to report a window)"
        )
    if args.lookback is not None and not args.store:
        raise UsageError("--lookback applies to --store only")
    lookback = parse_age(args.lookback, "--lookback") if args.lookback is not None else None
    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in _FORMATS:
        raise UsageError(
            f"-o {output}: unknown format {output.suffix or '(no extension)'}; "
            "use .parquet, .csv or .xlsx"
        )
    query = _query(args, with_window=not args.account)
    started = time.perf_counter()
    src = _Source(args)
    with src.client:
        account = src.account
        ids = [] if account else src.lead_ids()
        if args.store:
            from leadping_nb.store import DEFAULT_LOOKBACK, EventStore

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
                return FAILED
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
        else:
            assert output is not None
            result = src.fetch(ids, query)
            if _all_failed(result):
                return FAILED
            from leadping_nb.reports._export import provenance

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
    if result.errors:
        _report_failures(result)
        return PARTIAL
    return OK


def _local_filter(frame: pl.DataFrame, pairs: list[tuple[str, Any]]) -> pl.DataFrame:
    import polars as pl

    for name, value in pairs:
        f = field_by_name(name)
        if f is None:
            EventQuery(filters=[(name, value)])  # raises QueryError naming the valid fields
            raise QueryError(f"--filter: unknown field {name!r}")  # pragma: no cover
        frame = frame.filter(pl.col(f.column) == pl.lit(value))
    return frame


def _cmd_report(args: argparse.Namespace) -> int:
    from leadping_nb.reports import BillingReport, DeliveryReport

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
    failed: FetchResult | None = None
    empty_leads: list[str] = []
    if args.store_version is not None and not args.store:
        raise UsageError("--store-version applies to --store only")
    if args.store:
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
        leads, as_of, store_version = ids, None, version
    else:
        src = _Source(args)
        with src.client:
            ids = None if src.account else src.lead_ids()
            result = src.fetch(ids or [], _query(args, with_window=not src.account))
        if _all_failed(result):
            return FAILED
        empty_leads = result.empty
        failed = result if result.errors else None
        frame, leads, source, as_of = result.frame, ids, src.description, src.as_of
        store_version = None
    out = Path(args.out_dir)
    common: dict[str, Any] = {
        "include_warmup": args.include_warmup,
        "include_test": args.include_test,
        "include_demo": args.include_demo,
        "leads": leads,
        "window": window,
        "filters": query,
        "time_zone": args.tz,
        "every": args.every,
        "as_of": as_of,
        "source": source,
        "store_version": store_version,
    }
    written: list[Path] = []
    lines: list[str] = []
    if args.kind in ("delivery", "both"):
        d = DeliveryReport.from_frame(frame, by=args.by, min_volume=args.min_volume, **common)
        written.append(d.save(out / DELIVERY_FILE))
        lines.append(f"  Delivery rate {d.kpis['delivery_rate'].text}")
    if args.kind in ("billing", "both"):
        b = BillingReport.from_frame(frame, cost_scale=args.cost_scale, currency=currency, **common)
        written.append(b.save(out / BILLING_FILE))
        lines.append(f"  Net amount    {b.kpis['net_amount'].text}")
    scope = f", window {window.label}" if isinstance(window, Window) else ""
    _say(
        f"Report of {frame.height:,} events from {source}{scope} "
        f"in {_fmt_s(time.perf_counter() - started)}:",
        *lines,
        "Wrote:",
        *[f"  {p.resolve()}" for p in written],
    )
    _warn_empty(empty_leads, query)
    if failed is not None:
        _report_failures(failed)
        return PARTIAL
    return OK


# ---------------------------------------------------------------------------------------
# entry point


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return OK
    return code if isinstance(code, int) else USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``leadping-nb`` with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> main(["fetch", "lead_1", "-o", "events.txt", "--emulator"])  # doctest: +SKIP
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from leadping_nb.emulator import cli_serve

        try:
            return cli_serve(argv[1:])
        except SystemExit as exc:  # its argparse: --help or a bad option
            return _exit_code(exc)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _exit_code(exc)
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        _err("interrupted")
        return INTERRUPTED
    except (UsageError, QueryError) as exc:
        if args.debug:
            raise
        _err(str(exc))
        return USAGE
    except LeadpingError as exc:
        if args.debug:
            raise
        _err(f"{type(exc).__name__}: {_message(exc)}")
        return FAILED
    except OSError as exc:
        if args.debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        _err(f"{exc.strerror or exc}{where}")
        return FAILED
    except Exception as exc:
        if args.debug:
            raise
        _err(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        return FAILED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
