"""Calendar periods: the ``period`` of an event in a time zone, and its start.

Re-exported by :mod:`leadping_nb.metrics._exprs` (and :func:`period` by
:mod:`leadping_nb.metrics`).
"""

from __future__ import annotations

import zoneinfo
from typing import Literal, get_args

import polars as pl

Every = Literal["day", "week", "month"]


def check_time_zone(time_zone: str) -> str:
    """Return ``time_zone`` if it is an IANA zone name, else raise :class:`ValueError`."""
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {time_zone!r}") from None
    return time_zone


def check_every(every: str) -> Every:
    """Return ``every`` if it is a known period, else raise :class:`ValueError`."""
    if every not in get_args(Every):
        raise ValueError(f"unknown period {every!r}; expected 'day', 'week' or 'month'")
    return every  # type: ignore[return-value]


def period_key(every: Every, time_zone: str = "UTC", column: str = "created_at") -> pl.Expr:
    """An Int32 key of the local period, cheap to group by.

    Days since 1970-01-01 of the period's first local day (``day``, ``week``), or
    ``12 * year + month - 1`` (``month``); :func:`period_start` turns it into the
    period's first instant. Null when ``column`` is null.
    """
    check_every(every)
    check_time_zone(time_zone)
    ts = pl.col(column)
    if time_zone == "UTC":
        local_date = ts.dt.convert_time_zone("UTC").dt.date()
    else:
        local_date = ts.dt.convert_time_zone(time_zone).dt.replace_time_zone(None).dt.date()
    if every == "month":
        month = local_date.dt.month().cast(pl.Int32)
        return (local_date.dt.year().cast(pl.Int32) * 12 + month - 1).cast(pl.Int32)
    days = local_date.cast(pl.Int32)
    if every == "week":
        # 1970-01-01 was a Thursday (weekday 3 with Monday = 0): weeks start on Monday.
        return days - (days + 3) % 7
    return days


def period_start(key: pl.Expr, every: Every, time_zone: str = "UTC") -> pl.Expr:
    """The first instant, a ``Datetime("us", time_zone)``, of a :func:`period_key`.

    Local midnight of the period's first day; when DST makes midnight ambiguous the
    earlier instant, when midnight falls in a DST gap the first instant after the gap.
    """
    name = key.meta.output_name(raise_if_undetermined=False) or "period"
    first = pl.date(key // 12, key % 12 + 1, 1) if every == "month" else key.cast(pl.Date)
    naive = first.cast(pl.Datetime("us"))
    start = naive.dt.replace_time_zone(time_zone, ambiguous="earliest", non_existent="null")
    # A gap at midnight: midnight read with the previous day's offset is the gap's end.
    after_gap = (naive - pl.duration(days=1)).dt.replace_time_zone(
        time_zone, ambiguous="earliest", non_existent="null"
    ) + pl.duration(days=1)
    return pl.coalesce(start, after_gap).alias(name)


def period(every: Every, time_zone: str = "UTC", column: str = "created_at") -> pl.Expr:
    """The start of the calendar period containing ``column``, in ``time_zone``.

    Days run from local midnight, weeks start on Monday (ISO), months on the 1st. The
    result is a tz-aware ``Datetime("us", time_zone)``: local midnight of the period's
    first day or, where DST makes midnight ambiguous, the earlier instant, and where
    midnight does not exist, the first instant of the day. All events of one local
    period get the same start, across DST changes (``dt.truncate`` on a tz-aware column
    can give one local day two starts).

    Parameters
    ----------
    every
        ``"day"``, ``"week"`` or ``"month"``.
    time_zone
        An IANA zone name such as ``"America/New_York"``.
    column
        The timestamp column to bucket.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> df = pl.DataFrame({"created_at": [datetime(2024, 3, 10, 3, 30, tzinfo=UTC)]},
    ...                   schema={"created_at": pl.Datetime("us", "UTC")})
    >>> df.select(period("day", "America/New_York")).item()
    datetime.datetime(2024, 3, 9, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='America/New_York'))
    """
    return period_start(period_key(every, time_zone, column), every, time_zone).alias("period")
