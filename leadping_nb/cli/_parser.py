"""The argument parser of ``leadping-nb``: the shared option groups and one ``_add_*`` step per
subcommand (each binds its ``_cmd_*`` function)."""

from __future__ import annotations

import argparse
import textwrap
from typing import TYPE_CHECKING, TypeAlias

from leadping_nb._core.format import DEFAULT_CURRENCY
from leadping_nb._http.query import MAX_PAGE_SIZE
from leadping_nb.cli._common import _EPILOG, CLI_CONCURRENCY, CLI_PAGE_SIZE, DEMO_DIR, PROG
from leadping_nb.cli._demo import _cmd_demo
from leadping_nb.cli._fetch import _cmd_fetch
from leadping_nb.cli._report import _cmd_report

if TYPE_CHECKING:
    _Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


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
    """The options of the commands that fetch (``fetch``, ``report``): where from, and what."""
    p = argparse.ArgumentParser(add_help=False)
    _where_from(p.add_argument_group("where the events come from"))
    _what_to_fetch(p.add_argument_group("what to fetch"))
    return p


def _where_from(g: argparse._ArgumentGroup) -> None:
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


def _what_to_fetch(q: argparse._ArgumentGroup) -> None:
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


def _currency_option(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument(
        "--currency",
        default=DEFAULT_CURRENCY,
        metavar="CODE",
        help="currency of the amounts: three upper-case letters, ISO 4217 (the API states none)",
    )


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
    _add_demo(sub, [common])
    _add_fetch(sub, [common, source])
    _add_report(sub, [common, source])
    sub.add_parser(
        "serve",
        help="serve the emulator over HTTP on loopback (see: leadping-nb serve --help)",
        description="Serve the built-in emulator (options: leadping-nb serve --help).",
        add_help=False,
    )
    return parser


def _command(
    sub: _Subparsers, name: str, parents: list[argparse.ArgumentParser], summary: str, text: str
) -> argparse.ArgumentParser:
    """A subcommand with the shared epilog (exit codes) and help formatter."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        parents=parents,
        help=summary,
        description=_wrap(text),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    return parser


def _add_demo(sub: _Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    demo = _command(
        sub,
        "demo",
        parents,
        "offline demo: emulator -> fetch -> reports + Parquet in ./leadping-demo/",
        "Run the built-in emulator in-process with a demo portfolio, fetch every "
        "lead's events with a progress bar, and write delivery_report.html, "
        "billing_report.html and events.parquet into the output folder.",
    )
    demo.add_argument("-o", "--out-dir", default=DEMO_DIR, metavar="DIR", help="output folder")
    demo.add_argument("--seed", type=int, default=0, help="emulator data seed")
    demo.add_argument("--leads", type=int, default=120, metavar="N", help="number of leads")
    demo.add_argument("--tz", default="UTC", metavar="ZONE", help="time zone of report dates")
    _currency_option(demo)
    demo.set_defaults(func=_cmd_demo)


def _add_fetch(sub: _Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    fetch = _command(
        sub,
        "fetch",
        parents,
        "fetch leads' events to Parquet / CSV / Excel, or into a store",
        "Fetch the events of the given leads into one typed file (format from "
        "the extension: .parquet, .csv or .xlsx) or refresh a local store incrementally.",
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


def _add_report(sub: _Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    report = _command(
        sub,
        "report",
        parents,
        "render delivery and/or billing reports (HTML) from the API or a store",
        "Render the delivery and/or billing report for a date window, from "
        "events fetched now (LEAD..., --leads-file, --all-leads or --emulator) or read from "
        "a local store (--store; LEAD arguments then restrict the leads).",
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
    for scope, traffic in (("warmup", "warm-up"), ("test", "test"), ("demo", "demo (isDemo)")):
        r.add_argument(
            f"--include-{scope}",
            action="store_true",
            help=f"count {traffic} traffic in both reports (default: customer traffic only)",
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
    _currency_option(r)
    report.set_defaults(func=_cmd_report)
