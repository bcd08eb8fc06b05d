"""``Window``: a half-open time window ``[start, end)`` in UTC, named in a local time zone.

"Last 7 days", "last month" or "2026-11-01..2026-12-01" mean local calendar days in a
time zone; a frame is filtered on UTC instants. A :class:`Window` holds both: the UTC
bounds every filter uses and the zone and name its :attr:`~Window.label` is written in.
Days start at local midnight (a 23- or 25-hour day across a DST change is covered
exactly; a midnight that DST skips is read as the first instant after the gap, the rule
of :func:`leadping_nb.metrics.period`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

__all__ = ["Window"]

_LAST_DAYS = re.compile(r"last\s+(\d+)\s+days?")
_PARSE_FORMS = (
    '"last 7 days", "last day", "today", "this month", "last month", '
    '"2026-11-01..2026-12-01", "2026-11-01..", "..2026-12-01"'
)


def _zone(time_zone: str) -> ZoneInfo:
    if not isinstance(time_zone, str):
        raise TypeError(f"time_zone must be an IANA zone name, got {type(time_zone).__name__}")
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {time_zone!r} (an IANA name such as 'Europe/Berlin')"
        ) from exc


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    # fold=0 reads a skipped local midnight with the offset before the gap: the instant
    # the gap ends, the first instant of that local day.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _aware_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a timezone-aware datetime, got {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got the naive {now.isoformat()}")
    return now.astimezone(UTC)


def _bound(value: date | datetime | None, zone: ZoneInfo, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name} {value.isoformat()} is a naive datetime, whose instant is unknown: "
                f"give it a tzinfo, or pass a date (local midnight in the window's zone)"
            )
        return value.astimezone(UTC)
    if isinstance(value, date):
        return _midnight(value, zone)
    raise TypeError(f"{name} must be a date or a timezone-aware datetime, got {value!r}")


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _parse_bound(text: str, zone: ZoneInfo, name: str) -> datetime | None:
    raw = text.strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return _midnight(date.fromisoformat(raw), zone)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"window {name} {raw!r} is not an ISO date (2026-11-01) or date-time "
            f"(2026-11-01T08:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """A half-open window ``[start, end)`` of UTC instants, with its zone and name.

    Build it with :meth:`last`, :meth:`this_month`, :meth:`last_month`,
    :meth:`between` or :meth:`parse` (the text a command-line user types) rather than
    directly. Metric functions, reports, the CLI and the widgets accept it; it filters
    on ``created_at >= start`` and ``created_at < end``.

    Parameters
    ----------
    start, end
        Timezone-aware bounds, stored in UTC; ``None`` leaves that side open (not both).
        ``start`` is included, ``end`` excluded.
    time_zone
        IANA zone the window's days are local to (and its label is written in).
    name
        What the window was asked as (``"last 7 days"``); ``""`` for explicit dates.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    >>> w = Window.last(days=7, time_zone="Europe/Berlin", now=now)
    >>> w.label
    'last 7 days (Europe/Berlin): 2026-11-25 – 2026-12-01'
    >>> w.start.isoformat(), w.end.isoformat()
    ('2026-11-24T23:00:00+00:00', '2026-12-01T23:00:00+00:00')
    >>> w.contains(datetime(2026, 12, 1, 22, 59, tzinfo=UTC))
    True
    """

    start: datetime | None
    end: datetime | None
    time_zone: str = "UTC"
    name: str = ""

    def __post_init__(self) -> None:
        _zone(self.time_zone)
        for attr in ("start", "end"):
            value = getattr(self, attr)
            if value is None:
                continue
            if not isinstance(value, datetime):
                raise TypeError(f"Window {attr} must be a datetime, got {value!r}")
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"Window {attr} must be timezone-aware, got {value.isoformat()}")
            object.__setattr__(self, attr, value.astimezone(UTC))
        if self.start is None and self.end is None:
            raise ValueError("a Window needs a start or an end (use no window for all the data)")
        if self.start is not None and self.end is not None and not self.start < self.end:
            raise ValueError(
                f"window start {self.start.isoformat()} must be before its end "
                f"{self.end.isoformat()}"
            )

    # ------------------------------------------------------------------ constructors

    @classmethod
    def last(cls, days: int = 7, *, time_zone: str = "UTC", now: datetime | None = None) -> Window:
        """The ``days`` whole local days before today (today, still running, is out).

        Parameters
        ----------
        days
            Number of days, at least 1.
        time_zone
            IANA zone of the days.
        now
            The instant "today" is taken at (timezone-aware; default: the current time).

        Examples
        --------
        >>> from datetime import datetime, UTC
        >>> now = datetime(2026, 3, 30, 12, tzinfo=UTC)  # the Monday after DST began
        >>> w = Window.last(days=2, time_zone="Europe/Berlin", now=now)
        >>> w.label, (w.end - w.start).total_seconds() / 3600
        ('last 2 days (Europe/Berlin): 2026-03-28 – 2026-03-29', 47.0)
        """
        if isinstance(days, bool) or not isinstance(days, int):
            raise TypeError(f"days must be an int, got {days!r}")
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        zone = _zone(time_zone)
        today = _aware_now(now).astimezone(zone).date()
        name = "last day" if days == 1 else f"last {days} days"
        return cls(
            _midnight(today - timedelta(days=days), zone), _midnight(today, zone), time_zone, name
        )

    @classmethod
    def today(cls, *, time_zone: str = "UTC", now: datetime | None = None) -> Window:
        """Today's local day, from midnight to the next midnight (still running).

        Examples
        --------
        >>> from datetime import datetime, UTC
        >>> Window.today(time_zone="UTC", now=datetime(2026, 5, 1, 8, tzinfo=UTC)).label
        'today (UTC): 2026-05-01'
        """
        zone = _zone(time_zone)
        day = _aware_now(now).astimezone(zone).date()
        return cls(
            _midnight(day, zone), _midnight(day + timedelta(days=1), zone), time_zone, "today"
        )

    @classmethod
    def this_month(cls, *, time_zone: str = "UTC", now: datetime | None = None) -> Window:
        """The local calendar month holding ``now``, from its 1st to the next 1st.

        Examples
        --------
        >>> from datetime import datetime, UTC
        >>> w = Window.this_month(time_zone="Europe/Berlin",
        ...                       now=datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
        >>> w.label  # already 1 November in Berlin
        'this month (Europe/Berlin): 2026-11-01 – 2026-11-30'
        """
        zone = _zone(time_zone)
        day = _aware_now(now).astimezone(zone).date()
        first = _month_start(day.year, day.month)
        nxt = _month_start(day.year, day.month + 1)
        return cls(_midnight(first, zone), _midnight(nxt, zone), time_zone, "this month")

    @classmethod
    def last_month(cls, *, time_zone: str = "UTC", now: datetime | None = None) -> Window:
        """The local calendar month before the one holding ``now``.

        Examples
        --------
        >>> from datetime import datetime, UTC
        >>> w = Window.last_month(time_zone="Europe/Berlin",
        ...                       now=datetime(2026, 11, 1, 12, tzinfo=UTC))
        >>> w.label
        'last month (Europe/Berlin): 2026-10-01 – 2026-10-31'
        >>> w.start.isoformat(), w.end.isoformat()  # CEST at the start, CET at the end
        ('2026-09-30T22:00:00+00:00', '2026-10-31T23:00:00+00:00')
        """
        zone = _zone(time_zone)
        day = _aware_now(now).astimezone(zone).date()
        first = _month_start(day.year, day.month - 1)
        nxt = _month_start(day.year, day.month)
        return cls(_midnight(first, zone), _midnight(nxt, zone), time_zone, "last month")

    @classmethod
    def between(
        cls,
        start: date | datetime | None,
        end: date | datetime | None,
        *,
        time_zone: str = "UTC",
    ) -> Window:
        """Explicit bounds: ``[start, end)``.

        Parameters
        ----------
        start, end
            A ``date`` (local midnight in ``time_zone``) or a timezone-aware
            ``datetime``; ``None`` leaves that side open (not both). ``end`` is
            excluded: ``between(date(2026, 11, 1), date(2026, 12, 1))`` is November.
            A naive ``datetime`` is refused (its instant is unknown).
        time_zone
            IANA zone of the dates and of the label.

        Examples
        --------
        >>> from datetime import date, datetime, UTC
        >>> Window.between(date(2026, 11, 1), date(2026, 12, 1), time_zone="Europe/Berlin").label
        '2026-11-01 – 2026-11-30 (Europe/Berlin)'
        >>> Window.between(datetime(2026, 11, 1, 8, tzinfo=UTC), None).label
        '2026-11-01 08:00 – open (UTC)'
        >>> Window.between(datetime(2026, 11, 1, 8), None)
        Traceback (most recent call last):
        ...
        ValueError: start 2026-11-01T08:00:00 is a naive datetime, whose instant is unknown: ...
        """
        zone = _zone(time_zone)
        return cls(_bound(start, zone, "start"), _bound(end, zone, "end"), time_zone)

    @classmethod
    def parse(cls, text: str, *, time_zone: str = "UTC", now: datetime | None = None) -> Window:
        """The window a user typed: a relative name or ``START..END``.

        Relative names (any case): ``"last N days"`` (:meth:`last`), ``"last day"``,
        ``"today"``, ``"this month"``, ``"last month"``. Explicit bounds:
        ``"START..END"`` with ISO dates (local midnight) or date-times (with an offset
        such as ``Z`` or ``+01:00``; without one they are read in ``time_zone``), either
        side empty for open: ``"2026-11-01..2026-12-01"`` is November, end excluded.

        Parameters
        ----------
        text
            The window text.
        time_zone
            IANA zone of the days and of dates without an offset.
        now
            The instant relative names are taken at (default: the current time).

        Raises
        ------
        ValueError
            For text in none of these forms, naming the forms.

        Examples
        --------
        >>> from datetime import datetime, UTC
        >>> now = datetime(2026, 12, 2, 9, tzinfo=UTC)
        >>> Window.parse("Last 7 days", time_zone="Europe/Berlin", now=now).label
        'last 7 days (Europe/Berlin): 2026-11-25 – 2026-12-01'
        >>> Window.parse("2026-11-01..2026-12-01", time_zone="Europe/Berlin").start.isoformat()
        '2026-10-31T23:00:00+00:00'
        >>> Window.parse("2026-11-01T06:00Z..").label
        '2026-11-01 06:00 – open (UTC)'
        >>> Window.parse("yesterday-ish")
        Traceback (most recent call last):
        ...
        ValueError: window 'yesterday-ish': expected one of "last 7 days", "last day", ...
        """
        if not isinstance(text, str):
            raise TypeError(f"window text must be a str, got {type(text).__name__}")
        zone = _zone(time_zone)
        raw = " ".join(text.strip().lower().split())
        if ".." in raw:
            left, _, right = text.strip().partition("..")
            if ".." in right:
                raise ValueError(f"window {text!r}: one '..' between start and end")
            start = _parse_bound(left, zone, "start")
            end = _parse_bound(right, zone, "end")
            if start is None and end is None:
                raise ValueError(f"window {text!r}: give a start, an end or both")
            return cls(start, end, time_zone)
        if raw == "last day":
            return cls.last(days=1, time_zone=time_zone, now=now)
        if raw == "today":
            return cls.today(time_zone=time_zone, now=now)
        if raw == "this month":
            return cls.this_month(time_zone=time_zone, now=now)
        if raw == "last month":
            return cls.last_month(time_zone=time_zone, now=now)
        match = _LAST_DAYS.fullmatch(raw)
        if match:
            return cls.last(days=int(match.group(1)), time_zone=time_zone, now=now)
        raise ValueError(f"window {text!r}: expected one of {_PARSE_FORMS}")

    # ------------------------------------------------------------------ views

    @property
    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """``(start, end)`` in UTC (``None``: open), as reports and queries take them."""
        return self.start, self.end

    @property
    def days(self) -> tuple[date, date] | None:
        """The first and the last local day included, when both bounds are local
        midnights in :attr:`time_zone` (else ``None``: open, or a bound within a day).

        Examples
        --------
        >>> from datetime import date
        >>> Window.between(date(2026, 11, 1), date(2026, 12, 1)).days
        (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
        """
        if self.start is None or self.end is None:
            return None
        zone = ZoneInfo(self.time_zone)
        first = self.start.astimezone(zone).date()
        after = self.end.astimezone(zone).date()
        if _midnight(first, zone) != self.start or _midnight(after, zone) != self.end:
            return None
        return first, after - timedelta(days=1)

    def _local(self, value: datetime | None, *, is_end: bool) -> str:
        if value is None:
            return "open"
        zone = ZoneInfo(self.time_zone)
        local = value.astimezone(zone)
        if _midnight(local.date(), zone) == value:
            day = local.date() - timedelta(days=1) if is_end else local.date()
            return day.isoformat()
        seconds = f":{local.second:02d}" if local.second else ""
        return local.strftime("%Y-%m-%d %H:%M") + seconds

    @property
    def label(self) -> str:
        """The window in words for reports: name, zone and local days.

        Bounds at local midnight are shown as days, the end as the last day included
        (``2026-11-01 – 2026-11-30`` is all of November); other bounds as local times,
        the end excluded.
        """
        start = self._local(self.start, is_end=False)
        end = self._local(self.end, is_end=True)
        if self.start is not None and self.end is not None and start == end and ":" not in start:
            span = start
        else:
            span = f"{start} – {end}"
            if ":" in end:
                span += " (end excluded)"
        return (
            f"{self.name} ({self.time_zone}): {span}" if self.name else f"{span} ({self.time_zone})"
        )

    def predicate(self, column: str = "created_at") -> pl.Expr:
        """The Polars filter of the window on ``column`` (null instants are outside).

        Examples
        --------
        >>> from datetime import date, datetime, UTC
        >>> df = pl.DataFrame({"created_at": [datetime(2026, 10, 31, 23, tzinfo=UTC), None]})
        >>> w = Window.between(date(2026, 11, 1), None, time_zone="Europe/Berlin")
        >>> df.filter(w.predicate()).height
        1
        """
        parts: list[pl.Expr] = []
        if self.start is not None:
            parts.append(pl.col(column) >= self.start)
        if self.end is not None:
            parts.append(pl.col(column) < self.end)
        expr = parts[0] if len(parts) == 1 else parts[0] & parts[1]
        return expr.fill_null(False)

    def contains(self, instant: datetime) -> bool:
        """Whether an aware ``instant`` lies in ``[start, end)``."""
        when = _aware_now(instant)
        return (self.start is None or self.start <= when) and (self.end is None or when < self.end)

    def __str__(self) -> str:
        return self.label
