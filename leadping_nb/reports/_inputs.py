"""What a report starts from: its events in the window, its period, its clock and its meta.

:func:`_inputs` checks the arguments both reports share and cuts the window;
:meth:`_Inputs.meta` writes the :class:`~leadping_nb.reports.ReportMeta`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypedDict

import polars as pl

from leadping_nb import metrics as m
from leadping_nb._core.window import Window
from leadping_nb._http.query import EventQuery, describe_filters
from leadping_nb.reports._base import FrameLike, ReportMeta, WindowBounds, _zone


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"window {name} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _apply_window(
    frame: FrameLike, window: Window | WindowBounds | None
) -> tuple[pl.DataFrame, WindowBounds | None, int]:
    """The events of ``frame`` inside ``window`` (collected), the window in UTC, and how
    many events fell outside. ``window`` is a :class:`~leadping_nb.Window` or a
    ``(start, end)`` pair of aware instants."""
    if not isinstance(frame, pl.DataFrame | pl.LazyFrame):
        raise TypeError(f"expected a polars DataFrame or LazyFrame, got {type(frame).__name__}")
    if window is None:
        return (frame if isinstance(frame, pl.DataFrame) else frame.collect()), None, 0
    if isinstance(window, Window):
        window = window.bounds
    start, end = _aware(window[0], "start"), _aware(window[1], "end")
    if start is not None and end is not None and not start < end:
        raise ValueError(f"window start {start} must be before its end {end}")
    cond = pl.lit(True)
    if start is not None:
        cond = cond & (pl.col("created_at") >= start)
    if end is not None:
        cond = cond & (pl.col("created_at") < end)
    if isinstance(frame, pl.DataFrame):
        inside = frame.filter(cond.fill_null(False))
        return inside, (start, end), frame.height - inside.height
    inside = frame.filter(cond.fill_null(False)).collect()
    n_all = int(frame.select(pl.len()).collect().item())
    return inside, (start, end), n_all - inside.height


def _check_meta_inputs(time_zone: str, every: m.Every | Literal["auto"]) -> None:
    _zone(time_zone)
    if every not in ("auto", "day", "week", "month"):
        raise ValueError(f"every must be 'auto', 'day', 'week' or 'month', got {every!r}")


def _now_pair(as_of: datetime | None) -> tuple[datetime, datetime]:
    produced = datetime.now(UTC).replace(microsecond=0)
    if as_of is None:
        return produced, produced
    when = _aware(as_of, "as_of")
    assert when is not None
    return produced, when


class _Traffic(TypedDict):
    include_warmup: bool
    include_test: bool
    include_demo: bool


@dataclass(frozen=True)
class _Inputs:
    """What both reports start from: the events in the window, the period, the clock and
    the traffic scope (:func:`_inputs`)."""

    events: pl.DataFrame
    window: WindowBounds | None
    window_label: str
    n_outside: int
    every: m.Every
    produced_at: datetime
    as_of: datetime
    traffic: _Traffic

    @property
    def scope(self) -> m.TrafficScope:
        """The traffic scope of every metric of the report."""
        return m.TrafficScope.of(**self.traffic)

    def meta(
        self,
        *,
        title: str,
        leads: Sequence[str] | None,
        filters: EventQuery | str | None,
        time_zone: str,
        counts: pl.DataFrame,
        source: str,
        store_version: int | None,
        currency: str | None = None,
    ) -> ReportMeta:
        """The report's :class:`ReportMeta` (``counts``: the metrics' counts table)."""
        from leadping_nb._core.version import __version__
        from leadping_nb.reports._export import safe_source

        stats = self.events.select(
            pl.col("created_at").min().alias("first"),
            pl.col("created_at").max().alias("last"),
            m.is_warmup_traffic().sum().alias("warm"),
            (m.is_test_traffic() & ~m.is_warmup_traffic()).sum().alias("test"),
            (m.is_demo_traffic() & ~m.is_warmup_traffic() & ~m.is_test_traffic())
            .sum()
            .alias("demo"),
        ).row(0, named=True)
        if leads is None:
            lead_ids = tuple(sorted(self.events["lead_id"].drop_nulls().unique().to_list()))
        else:
            lead_ids = tuple(dict.fromkeys(leads))
        return ReportMeta(
            title=title,
            window=self.window,
            first_event=stats["first"],
            last_event=stats["last"],
            leads=lead_ids,
            filters=describe_filters(filters),
            time_zone=time_zone,
            every=self.every,
            include_warmup=self.traffic["include_warmup"],
            include_test=self.traffic["include_test"],
            include_demo=self.traffic["include_demo"],
            exclusions=counts,
            n_events=self.events.height,
            n_outside_window=self.n_outside,
            n_warmup=int(stats["warm"] or 0),
            n_test=int(stats["test"] or 0),
            n_demo=int(stats["demo"] or 0),
            produced_at=self.produced_at,
            as_of=self.as_of,
            source=safe_source(source),
            currency=currency,
            window_label=self.window_label,
            store_version=store_version,
            package_version=__version__,
        )


def _inputs(
    frame: FrameLike,
    *,
    window: Window | WindowBounds | None,
    time_zone: str,
    every: m.Every | Literal["auto"],
    as_of: datetime | None,
    include_warmup: bool,
    include_test: bool,
    include_demo: bool,
) -> _Inputs:
    """Check the arguments both reports share, cut the window and choose the period."""
    from leadping_nb.figures import choose_period

    _check_meta_inputs(time_zone, every)
    events, win, n_outside = _apply_window(frame, window)
    produced_at, when = _now_pair(as_of)
    return _Inputs(
        events=events,
        window=win,
        window_label=window.label if isinstance(window, Window) else "",
        n_outside=n_outside,
        every=choose_period(events, every),
        produced_at=produced_at,
        as_of=when,
        traffic=_Traffic(
            include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
        ),
    )
