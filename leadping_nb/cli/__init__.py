"""The ``leadping-nb`` command: ``demo``, ``fetch``, ``report`` and ``serve``.

``main(argv) -> int`` is the console entry point (``leadping-nb = leadping_nb.cli:main``
in pyproject) and what ``python -m leadping_nb`` runs. It never raises for expected
failures: it prints one clear line per problem to stderr and returns the exit code
(:data:`EXIT_CODES`); ``--debug`` shows the traceback instead. The API key is read from
``LEADPING_API_KEY`` by the client and never printed.

Inside, imports run one way: this module → ``_parser`` (the options) → one module per
command (``_demo``, ``_fetch``, ``_report``) → ``_source`` (client, progress, output) →
``_options`` (options into checked values) → ``_common`` (exit codes, names, messages).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from leadping_nb._core.errors import LeadpingError, QueryError

# the names other than __all__ (the exit codes, file names, the CLI's defaults, UsageError and
# the option parsers) stay importable from here, as before the module became a package
from leadping_nb.cli._common import BILLING_FILE as BILLING_FILE
from leadping_nb.cli._common import CLI_CONCURRENCY as CLI_CONCURRENCY
from leadping_nb.cli._common import CLI_PAGE_SIZE as CLI_PAGE_SIZE
from leadping_nb.cli._common import DELIVERY_FILE as DELIVERY_FILE
from leadping_nb.cli._common import DEMO_DIR as DEMO_DIR
from leadping_nb.cli._common import EVENTS_FILE as EVENTS_FILE
from leadping_nb.cli._common import EXIT_CODES, FAILED, INTERRUPTED, OK, USAGE, _err, _message
from leadping_nb.cli._common import PARTIAL as PARTIAL
from leadping_nb.cli._common import PROG as PROG
from leadping_nb.cli._common import SHELL_KEY_HINT as SHELL_KEY_HINT
from leadping_nb.cli._common import UsageError as UsageError
from leadping_nb.cli._options import parse_age as parse_age
from leadping_nb.cli._options import parse_filters as parse_filters
from leadping_nb.cli._options import parse_instant as parse_instant
from leadping_nb.cli._parser import build_parser

__all__ = ["EXIT_CODES", "build_parser", "main"]


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
