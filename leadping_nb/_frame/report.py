"""What decoding returns besides the frame: ``DecodedPage`` (one page) and ``FrameReport``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from types import MappingProxyType
from typing import Any

import polars as pl


def _frozen_map(m: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class FrameReport:
    """What the conversion noticed across pages: drift, unknown values, nulled values.

    Attributes
    ----------
    n_pages, n_events
        Pages and events converted.
    unknown_fields
        Item fields the schema does not declare → the first page number they were seen on.
    nulled
        Lenient mode: per API field, how many values could not be converted and became null.
    unknown_values
        Enum columns → values outside the documented set (kept in the frame).
    truncated
        Timestamp fields → how many values lost a non-zero sub-microsecond digit.

    Examples
    --------
    >>> a = FrameReport(n_pages=1, n_events=2, nulled={"retryCount": 1})
    >>> b = FrameReport(n_pages=2, n_events=5, unknown_values={"status": frozenset({"X"})})
    >>> m = a.merge(b)
    >>> (m.n_pages, m.n_events, dict(m.nulled), sorted(m.unknown_values["status"]))
    (3, 7, {'retryCount': 1}, ['X'])
    >>> m.clean
    False
    """

    n_pages: int = 0
    n_events: int = 0
    unknown_fields: Mapping[str, int] = field(default_factory=_frozen_map)
    nulled: Mapping[str, int] = field(default_factory=_frozen_map)
    unknown_values: Mapping[str, frozenset[str]] = field(default_factory=_frozen_map)
    truncated: Mapping[str, int] = field(default_factory=_frozen_map)

    def __post_init__(self) -> None:
        for name in ("unknown_fields", "nulled", "unknown_values", "truncated"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))

    @classmethod
    def empty(cls) -> FrameReport:
        """A report of nothing (the neutral element of :meth:`merge`)."""
        return cls()

    @property
    def clean(self) -> bool:
        """True when nothing was unknown, nulled or truncated."""
        return not (self.unknown_fields or self.nulled or self.unknown_values or self.truncated)

    def merge(self, *others: FrameReport) -> FrameReport:
        """Combine reports: counts add up, sets unite, the earliest first page wins."""
        unknown = dict(self.unknown_fields)
        nulled = dict(self.nulled)
        values = {k: set(v) for k, v in self.unknown_values.items()}
        truncated = dict(self.truncated)
        n_pages, n_events = self.n_pages, self.n_events
        for o in others:
            n_pages += o.n_pages
            n_events += o.n_events
            for k, p in o.unknown_fields.items():
                unknown[k] = min(p, unknown.get(k, p))
            for k, n in o.nulled.items():
                nulled[k] = nulled.get(k, 0) + n
            for k, n in o.truncated.items():
                truncated[k] = truncated.get(k, 0) + n
            for k, vs in o.unknown_values.items():
                values.setdefault(k, set()).update(vs)
        return FrameReport(
            n_pages=n_pages,
            n_events=n_events,
            unknown_fields=unknown,
            nulled=nulled,
            unknown_values={k: frozenset(v) for k, v in values.items()},
            truncated=truncated,
        )

    def _lines(self) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        if self.unknown_fields:
            lines.append(
                (
                    "Unknown fields (not in the schema; keep_unknown=True keeps them)",
                    ", ".join(f"{k} (first on page {p})" for k, p in self.unknown_fields.items()),
                )
            )
        if self.unknown_values:
            lines.append(
                (
                    "Undocumented enum values (kept)",
                    "; ".join(
                        f"{k}: {', '.join(sorted(v))}" for k, v in self.unknown_values.items()
                    ),
                )
            )
        if self.nulled:
            lines.append(
                (
                    "Values that could not be converted and became null",
                    ", ".join(f"{k}: {n}" for k, n in self.nulled.items()),
                )
            )
        if self.truncated:
            lines.append(
                (
                    "Timestamps truncated to microseconds (non-zero 100 ns digit dropped)",
                    ", ".join(f"{k}: {n}" for k, n in self.truncated.items()),
                )
            )
        return lines

    def __str__(self) -> str:
        head = f"{self.n_events:,} events from {self.n_pages:,} pages"
        lines = self._lines()
        if not lines:
            return head + ": clean (no unknown fields or values, nothing nulled or truncated)."
        return head + "\n" + "\n".join(f"- {title}: {text}" for title, text in lines)

    def _repr_html_(self) -> str:
        head = escape(f"{self.n_events:,} events from {self.n_pages:,} pages")
        lines = self._lines()
        if not lines:
            return f"<p><b>{head}</b>: clean.</p>"
        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(t)}</th><td style='text-align:left'>"
            f"{escape(x)}</td></tr>"
            for t, x in lines
        )
        return f"<p><b>{head}</b></p><table>{rows}</table>"


@dataclass(frozen=True)
class DecodedPage:
    """One decoded response page.

    Attributes
    ----------
    frame
        The events, with exactly the columns of ``EVENT_SCHEMA`` (plus kept unknown
        ``String`` columns at the end when ``keep_unknown=True``).
    token
        ``continuationToken``; ``None`` (also for ``""``) means this was the last page.
    page_size, total_count
        ``pageSize`` and ``totalCount`` as ints (``None`` when absent or null).
    n_items
        Number of items on the page.
    unknown_fields
        Item fields (API names) carrying a value that the schema does not declare.
    nulled
        Lenient mode: per API field, values that could not be converted and became null.
    unknown_values
        Enum columns → values outside the documented set.
    truncated
        Timestamp fields → values that lost a non-zero sub-microsecond digit.
    page, lead_id
        The page number and lead id the page was decoded with (for error messages).
    """

    frame: pl.DataFrame
    token: str | None
    page_size: int | None
    total_count: int | None
    n_items: int
    unknown_fields: tuple[str, ...] = ()
    nulled: Mapping[str, int] = field(default_factory=_frozen_map)
    unknown_values: Mapping[str, frozenset[str]] = field(default_factory=_frozen_map)
    truncated: Mapping[str, int] = field(default_factory=_frozen_map)
    page: int | None = None
    lead_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("nulled", "unknown_values", "truncated"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))

    @property
    def report(self) -> FrameReport:
        """This page's findings as a one-page :class:`FrameReport`."""
        first = self.page if self.page is not None else 1
        return FrameReport(
            n_pages=1,
            n_events=self.n_items,
            unknown_fields=dict.fromkeys(self.unknown_fields, first),
            nulled=self.nulled,
            unknown_values=self.unknown_values,
            truncated=self.truncated,
        )
