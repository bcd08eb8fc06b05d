"""The command line's shared terms: exit codes, file names, defaults, ``UsageError`` and the
stdout/stderr lines every command prints."""

from __future__ import annotations

import sys
import textwrap
from zoneinfo import ZoneInfo

from leadping_nb._core.errors import KEY_HINT
from leadping_nb._core.format import check_currency

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


def _say(*lines: str) -> None:
    print(*lines, sep="\n", flush=True)


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _message(exc: BaseException) -> str:
    """An error's text for a shell user: the key hint says ``export LEADPING_API_KEY``."""
    return str(exc).replace(KEY_HINT, SHELL_KEY_HINT)


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        raise UsageError(f"--tz: unknown time zone {name!r} (e.g. UTC, America/New_York)") from None


def _currency(code: str) -> str:
    """``--currency``, checked before anything runs."""
    try:
        return check_currency(code)
    except ValueError as exc:
        raise UsageError(f"--currency: {exc}") from None
