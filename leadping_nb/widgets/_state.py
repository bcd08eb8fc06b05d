"""Plain state behind the widgets (no ipywidgets here): filters, lead ids, debouncing.

* :class:`FilterState` is what the filter panel shows, as a frozen value. It turns into the
  :class:`~leadping_nb.EventQuery` a fetch sends (:meth:`FilterState.to_query`), into the
  Polars predicate that filters already fetched events locally
  (:meth:`FilterState.local_predicate`), and it says whether data fetched under another
  state cover it (:meth:`FilterState.not_covered_by`).
* :func:`utc_range` turns a date range in a time zone into an explicit UTC half-open range.
* :func:`parse_lead_ids` / :func:`check_lead_ids` split pasted text and flag bad ids.
* :class:`Debouncer` delays search-as-you-type on the kernel's event loop.

Which filters are applied where
-------------------------------
A fetch sends the date range (``rangeFilters`` on ``createdAt``), the search, and an exact
``filters`` entry for every dimension with exactly **one** selected value. The API ANDs
its filters, so two values of one dimension (``Sms`` *or* ``Call``) cannot be sent: such a
dimension is fetched unfiltered and filtered locally. Every filter is also applied
locally to the cached events, so changing a filter after a fetch never sends a request.
When the new filters are *wider* than the fetched ones (an earlier start, another event
type, a lead that was not fetched), the view is still refreshed from the cache, and the
explorer says which part needs a new fetch. The page size only changes how the next
fetch pages; it never changes the data.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import polars as pl

from leadping_nb._core.errors import QueryError
from leadping_nb._core.schema import EVENT_FIELDS, KNOWN_VALUES, field_by_name
from leadping_nb._core.window import Window
from leadping_nb._http.query import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, EventQuery, check_lead_id

__all__ = [
    "DATE_PRESETS",
    "DEFAULT_SEARCH_FIELDS",
    "DIMENSIONS",
    "SEARCH_FIELDS",
    "Debouncer",
    "Dimension",
    "FilterState",
    "InvalidId",
    "Scheduler",
    "Timer",
    "check_lead_ids",
    "merge_options",
    "parse_lead_ids",
    "preset_dates",
    "running_loop",
    "search_column",
    "time_zones",
    "utc_range",
]


@dataclass(frozen=True)
class Dimension:
    """One multi-select filter: state attribute, frame column, API field, label, defaults."""

    attr: str
    column: str
    api: str
    label: str
    defaults: tuple[str, ...] = ()


#: Statuses the API spells two ways (both occur in real data). The filter shows the first
#: spelling once and matches every one of them; the frame keeps the value as sent.
STATUS_SPELLINGS: dict[str, tuple[str, ...]] = {"Canceled": ("Canceled", "Cancelled")}
_CANONICAL_STATUS = {alt: name for name, alts in STATUS_SPELLINGS.items() for alt in alts}


def canonical_status(value: str) -> str:
    """The one spelling of a status the filter shows (``Cancelled`` -> ``Canceled``).

    Examples
    --------
    >>> canonical_status("Cancelled"), canonical_status("Delivered")
    ('Canceled', 'Delivered')
    """
    return _CANONICAL_STATUS.get(value, value)


def _spellings(dim: Dimension, values: tuple[str, ...]) -> tuple[str, ...]:
    """The values a filter on ``dim`` matches: every spelling of a chosen status."""
    if dim.attr != "statuses":
        return values
    out = [alt for v in values for alt in STATUS_SPELLINGS.get(canonical_status(v), (v,))]
    return tuple(dict.fromkeys(out))


def _sent(dim: Dimension, values: tuple[str, ...]) -> str | None:
    """The one value a fetch sends as an exact filter on ``dim``, or None (no filter: the
    API has one exact filter per field, so several values, or a status spelled two ways,
    are fetched whole and filtered locally)."""
    if len(values) != 1 or len(_spellings(dim, values)) != 1:
        return None
    return values[0]


#: The multi-select dimensions of the filter panel, in display order. Option lists start
#: from ``defaults`` and grow with the values seen in fetched events.
DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "event_types",
        "event_type",
        "eventType",
        "Event type",
        ("Call", "Mms", "Note", "Sms", "Voicemail"),
    ),
    Dimension("directions", "direction", "direction", "Direction", ("Inbound", "Outbound")),
    Dimension(
        "statuses",
        "status",
        "status",
        "Status",
        tuple(sorted({canonical_status(v) for v in KNOWN_VALUES["status"]})),
    ),
    Dimension("campaigns", "campaign_id", "campaignId", "Campaign"),
    Dimension("sources", "source_id", "sourceId", "Source"),
)

#: Fields a text search may look in (API names of the string and enum fields).
SEARCH_FIELDS: tuple[str, ...] = tuple(
    sorted(f.api for f in EVENT_FIELDS if f.kind in ("string", "enum"))
)
#: The fields searched unless the user picks others.
DEFAULT_SEARCH_FIELDS: tuple[str, ...] = ("summary", "description")


#: The date presets of the filter panel: (value, label). ``"custom"`` is the date
#: pickers as set; the others are :meth:`leadping_nb.Window.parse` texts.
DATE_PRESETS: tuple[tuple[str, str], ...] = (
    ("custom", "Custom dates"),
    ("last 7 days", "Last 7 days"),
    ("last 30 days", "Last 30 days"),
    ("this month", "This month"),
    ("last month", "Last month"),
)


def preset_dates(preset: str, time_zone: str, now: datetime | None = None) -> tuple[date, date]:
    """The first and last local day (inclusive) of a date preset at ``now``.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> preset_dates("last month", "Europe/Berlin", datetime(2026, 11, 1, 12, tzinfo=UTC))
    (datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
    """
    if preset not in {value for value, _label in DATE_PRESETS} or preset == "custom":
        raise QueryError(f"date preset: unknown preset {preset!r}", field="createdAt")
    _zone(time_zone)
    days = Window.parse(preset, time_zone=time_zone, now=now).days
    assert days is not None  # every preset is whole local days
    return days


def time_zones() -> list[str]:
    """Every IANA time zone name this Python knows, sorted, ``UTC`` first.

    Examples
    --------
    >>> zones = time_zones()
    >>> zones[0], "Europe/Berlin" in zones
    ('UTC', True)
    """
    names = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
    return ["UTC", *names]


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise QueryError(
            f"time zone: {time_zone!r} is not an IANA time zone (e.g. 'Europe/Berlin')",
            field="timeZone",
        ) from exc


def utc_range(
    start: date | None, end: date | None, time_zone: str = "UTC"
) -> tuple[datetime | None, datetime | None]:
    """The UTC half-open range ``[start 00:00, (end + 1 day) 00:00)`` of local dates.

    Both dates are inclusive calendar days in ``time_zone``; each bound is the first
    instant of its local day, so a 23- or 25-hour day across a DST change is covered
    exactly. A missing date leaves that side open (``None``).

    Raises
    ------
    QueryError
        When ``end`` is before ``start`` or the zone is unknown.

    Examples
    --------
    >>> lo, hi = utc_range(date(2024, 3, 31), date(2024, 3, 31), "Europe/Berlin")
    >>> lo.isoformat(), hi.isoformat()
    ('2024-03-30T23:00:00+00:00', '2024-03-31T22:00:00+00:00')
    >>> utc_range(None, date(2024, 1, 1))[1].isoformat()
    '2024-01-02T00:00:00+00:00'
    """
    zone = _zone(time_zone)
    if start is not None and end is not None and end < start:
        raise QueryError(
            f"date range: the end ({end}) is before the start ({start})", field="createdAt"
        )

    def first_instant(day: date) -> datetime:
        # fold=0 maps a local midnight that DST skips to the transition instant,
        # which is the first instant of that local day.
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    lo = first_instant(start) if start is not None else None
    hi = first_instant(end + timedelta(days=1)) if end is not None else None
    return lo, hi


@dataclass(frozen=True)
class FilterState:
    """The filter panel's values as a frozen value object (see the module docstring).

    Parameters
    ----------
    start, end
        Inclusive local dates (``None``: open).
    time_zone
        IANA zone the dates are in.
    preset
        The :data:`DATE_PRESETS` value the dates came from (``"custom"``: set by hand);
        it names the :meth:`window`.
    event_types, directions, statuses, campaigns, sources
        Selected values per dimension (empty: any).
    search, search_fields
        Case-insensitive substring and the API fields it is searched in.
    page_size
        Page size of the next fetch.

    Examples
    --------
    >>> s = FilterState(directions=("Outbound",), event_types=("Sms", "Mms"))
    >>> s.to_query().to_body()
    {'pageSize': 100, 'filters': [{'field': 'direction', 'value': 'Outbound'}]}
    >>> s.problems()
    []
    """

    start: date | None = None
    end: date | None = None
    time_zone: str = "UTC"
    event_types: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    search: str = ""
    search_fields: tuple[str, ...] = DEFAULT_SEARCH_FIELDS
    page_size: int = DEFAULT_PAGE_SIZE
    preset: str = "custom"

    def values(self, dim: Dimension) -> tuple[str, ...]:
        """The selected values of one dimension."""
        result: tuple[str, ...] = getattr(self, dim.attr)
        return result

    def with_values(self, dim: Dimension, values: Iterable[str]) -> FilterState:
        """A copy with another selection for ``dim``."""
        changes: dict[str, Any] = {dim.attr: tuple(values)}
        return replace(self, **changes)

    def utc_range(self) -> tuple[datetime | None, datetime | None]:
        """The date range as UTC half-open bounds (see :func:`utc_range`)."""
        return utc_range(self.start, self.end, self.time_zone)

    def window(self) -> Window | None:
        """The date range as a :class:`~leadping_nb.Window` (``None``: all dates).

        Named after the preset the dates came from, so a report of it says "last
        month (Europe/Berlin): 2026-10-01 – 2026-10-31".

        Examples
        --------
        >>> s = FilterState(start=date(2026, 10, 1), end=date(2026, 10, 31),
        ...                 time_zone="Europe/Berlin", preset="last month")
        >>> s.window().label
        'last month (Europe/Berlin): 2026-10-01 – 2026-10-31'
        >>> FilterState().window() is None
        True
        """
        lo, hi = self.utc_range()
        if lo is None and hi is None:
            return None
        name = "" if self.preset == "custom" else self.preset
        return Window(lo, hi, self.time_zone, name)

    def problems(self) -> list[str]:
        """Every reason this state cannot be fetched, as short sentences (empty: valid)."""
        out: list[str] = []
        try:
            self.to_query()
        except QueryError as exc:
            out.append(str(exc))
        return out

    def to_query(self) -> EventQuery:
        """The :class:`~leadping_nb.EventQuery` a fetch sends for this state.

        Raises
        ------
        QueryError
            For an invalid combination (end before start, a search without fields, a page
            size outside 1-1000, an unknown zone).
        """
        lo, hi = self.utc_range()
        bounds: dict[str, datetime] = {}
        if lo is not None:
            bounds["ge"] = lo
        if hi is not None:
            bounds["lt"] = hi
        filters = [
            (dim.api, value)
            for dim in DIMENSIONS
            if (value := _sent(dim, self.values(dim))) is not None
        ]
        term = self.search.strip()
        if term and not self.search_fields:
            raise QueryError("search: pick at least one field to search in", field="searchFields")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise QueryError(
                f"page size: {self.page_size} is outside 1-{MAX_PAGE_SIZE}", field="pageSize"
            )
        return EventQuery(
            page_size=self.page_size,
            search=term or None,
            search_fields=self.search_fields if term else (),
            filters=filters,
            range_filters={"createdAt": bounds} if bounds else {},
        )

    def local_predicate(self, *, search: bool = True) -> pl.Expr | None:
        """The Polars predicate of every filter, for an events frame (``None``: keep all).

        Nulls count as "no match". Search is a case-insensitive substring in any of the
        search fields, like the API's; ``search=False`` leaves it out (the explorer's
        cache matches it against lower-cased columns it keeps).

        Examples
        --------
        >>> df = pl.DataFrame({"direction": ["Inbound", "Outbound", None]})
        >>> df.filter(FilterState(directions=("Outbound",)).local_predicate()).height
        1
        """
        parts: list[pl.Expr] = []
        lo, hi = self.utc_range()
        if lo is not None:
            parts.append(pl.col("created_at") >= lo)
        if hi is not None:
            parts.append(pl.col("created_at") < hi)
        for dim in DIMENSIONS:
            chosen = _spellings(dim, self.values(dim))
            if len(chosen) == 1:
                parts.append(pl.col(dim.column) == chosen[0])
            elif chosen:
                parts.append(pl.col(dim.column).is_in(list(chosen)))
        term = self.search.strip()
        if search and term and self.search_fields:
            pattern = "(?i)" + re.escape(term)
            hits = [_column(f).str.contains(pattern) for f in self.search_fields]
            parts.append(pl.any_horizontal(hits))
        if not parts:
            return None
        return pl.all_horizontal(parts).fill_null(False)

    def not_covered_by(self, fetched: FilterState) -> list[str]:
        """Why events fetched under ``fetched`` may miss events this state matches.

        Empty when this state is the same or narrower on every filter, so filtering the
        cached events locally gives exactly what a new fetch would.

        Examples
        --------
        >>> fetched = FilterState(directions=("Outbound",))
        >>> FilterState(directions=("Outbound",), event_types=("Sms",)).not_covered_by(fetched)
        []
        >>> FilterState().not_covered_by(fetched)
        ['direction: fetched only Outbound']
        """
        out: list[str] = []
        lo, hi = self.utc_range()
        flo, fhi = fetched.utc_range()
        if flo is not None and (lo is None or lo < flo):
            out.append(f"date range: fetched from {fetched.start} only")
        if fhi is not None and (hi is None or hi > fhi):
            out.append(f"date range: fetched until {fetched.end} only")
        for dim in DIMENSIONS:
            have = fetched.values(dim)
            if _sent(dim, have) is None:  # not sent to the server: everything was fetched
                continue
            want = self.values(dim)
            if not want or set(want) - set(have):
                out.append(f"{dim.label.lower()}: fetched only {', '.join(have)}")
        fterm = fetched.search.strip().casefold()
        if fterm:
            term = self.search.strip().casefold()
            if fterm not in term or set(self.search_fields) - set(fetched.search_fields):
                out.append(f"search: fetched only events matching {fetched.search.strip()!r}")
        return out


def search_column(api_name: str) -> str:
    """The frame column of a search field (API or snake_case name)."""
    f = field_by_name(api_name)
    if f is None:
        raise QueryError(f"search: unknown field {api_name!r}", field="searchFields")
    return f.column


def _column(api_name: str) -> pl.Expr:
    return pl.col(search_column(api_name))


@dataclass(frozen=True)
class InvalidId:
    """A rejected lead id and why."""

    value: str
    reason: str


_SPLIT = re.compile(r"[\s,;]+")


def parse_lead_ids(text: str) -> list[str]:
    """Split pasted text into lead-id tokens (commas, semicolons, white space, quotes).

    Examples
    --------
    >>> parse_lead_ids('lead_0001, lead_0002\\n"lead_0003"; ')
    ['lead_0001', 'lead_0002', 'lead_0003']
    """
    tokens = (t.strip().strip("'\"") for t in _SPLIT.split(text))
    return [t for t in tokens if t]


def check_lead_ids(
    values: Iterable[object], known: Callable[[str], bool] | None = None
) -> tuple[list[str], list[InvalidId]]:
    """Split values into valid lead ids (deduplicated, in order) and rejected ones.

    Parameters
    ----------
    values
        Candidate ids (anything; non-strings are rejected).
    known
        Optional test of existence; ids it rejects are flagged "not among your leads".

    Examples
    --------
    >>> ok, bad = check_lead_ids(["lead_0001", "../x", None, "lead_0001"])
    >>> ok, [b.value for b in bad]
    (['lead_0001'], ['../x', 'None'])
    """
    ok: list[str] = []
    bad: list[InvalidId] = []
    seen: set[str] = set()
    for value in values:
        if value is None:
            bad.append(InvalidId("None", "empty value"))
            continue
        try:
            lead = check_lead_id(value)
        except QueryError as exc:
            bad.append(InvalidId(str(value), str(exc)))
            continue
        if known is not None and not known(lead):
            bad.append(InvalidId(lead, "not among your leads"))
            continue
        if lead not in seen:
            seen.add(lead)
            ok.append(lead)
    return ok, bad


class Timer(Protocol):
    """A pending call that can be cancelled (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None:
        """Cancel the pending call."""


class Scheduler(Protocol):
    """Runs a callback later; tests inject a fake one to drive debouncing by hand."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback`` after ``delay`` seconds."""


class _LoopScheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.loop.call_later(delay, callback)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread (a kernel callback has one), or ``None``."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Debouncer:
    """Call ``fn(value)`` once the value has stopped changing for ``delay`` seconds.

    Uses the injected ``scheduler``, else the event loop running in the caller's thread
    (inside a Jupyter kernel the widget callbacks run on its loop), else calls at once
    (plain Python, tests without a loop).

    Examples
    --------
    >>> seen = []
    >>> d = Debouncer(seen.append, delay=0.3)
    >>> d("a"); d("ab")  # no loop running here: each call goes through at once
    >>> seen
    ['a', 'ab']
    """

    def __init__(
        self, fn: Callable[[str], None], delay: float = 0.3, scheduler: Scheduler | None = None
    ) -> None:
        self.fn = fn
        self.delay = delay
        self.scheduler = scheduler
        self._timer: Timer | None = None

    def __call__(self, value: str) -> None:
        """Schedule ``fn(value)``, replacing any call still pending."""
        self.cancel()
        scheduler: Scheduler | None = self.scheduler
        if scheduler is None:
            loop = running_loop()
            scheduler = _LoopScheduler(loop) if loop is not None else None
        if scheduler is None or self.delay <= 0:
            self.fn(value)
            return
        self._timer = scheduler.call_later(self.delay, lambda: self._fire(value))

    def _fire(self, value: str) -> None:
        self._timer = None
        self.fn(value)

    @property
    def pending(self) -> bool:
        """Whether a call is scheduled."""
        return self._timer is not None

    def cancel(self) -> None:
        """Drop the pending call, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def merge_options(current: Sequence[str], seen: Iterable[str | None]) -> tuple[str, ...]:
    """Sorted union of option values and newly seen ones (nulls and blanks dropped)."""
    values = set(current)
    values.update(v for v in seen if isinstance(v, str) and v.strip())
    return tuple(sorted(values, key=str.casefold))
