"""Command-line options into checked values: dates, ages, filters, windows, the query and the
lead ids."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from leadping_nb._core.schema import field_by_name
from leadping_nb._core.window import Window
from leadping_nb._http.query import MAX_PAGE_SIZE, EventQuery
from leadping_nb.cli._common import CLI_CONCURRENCY, CLI_PAGE_SIZE, UsageError, _zone


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
