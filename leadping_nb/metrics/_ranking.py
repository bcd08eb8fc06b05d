"""Delivery rankings: groups ranked worst first by the Wilson interval of their delivery rate.

The definitions are in ``docs/metrics.md`` ("Rankings").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, TypeVar

import polars as pl

from leadping_nb._core.window import Window
from leadping_nb.metrics._exprs import RECEIPT_TIMEOUT, true_divide
from leadping_nb.metrics._plans import (
    COUNT,
    Grouping,
    cube_plan,
    delivery_from_cube,
    grouping,
    prepare,
    windowed,
)
from leadping_nb.metrics._plans import (
    like as _like,
)

__all__ = ["MIN_VOLUME", "WILSON_Z", "delivery_ranking", "wilson_bounds"]

#: z of a two-sided 95 % interval (the standard normal's 0.975 quantile).
WILSON_Z: Final = 1.959963984540054
#: Default minimum number of final outcomes a group needs to be ranked.
MIN_VOLUME: Final = 30

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


def wilson_bounds(
    successes: pl.Expr | str, trials: pl.Expr | str, *, z: float = WILSON_Z
) -> tuple[pl.Expr, pl.Expr]:
    """The Wilson score interval of ``successes / trials``: ``(lower, upper)`` Float64.

    With ``p = k / n``: ``d = 1 + z²/n``, ``c = (p + z²/(2n)) / d``,
    ``h = (z / d) · √(p(1 − p)/n + z²/(4n²))``; lower ``max(0, c − h)``, upper
    ``min(1, c + h)``, evaluated in this order in Float64 (each division a true IEEE
    division). Both are null when ``n`` is 0 or null.

    Examples
    --------
    >>> df = pl.DataFrame({"k": [9, 0], "n": [10, 0]})
    >>> lo, hi = wilson_bounds("k", "n")
    >>> [round(x, 6) if x is not None else None for x in df.select(lo).to_series()]
    [0.59585, None]
    >>> round(df.select(hi).item(0, 0), 6)
    0.982124
    """
    k = (pl.col(successes) if isinstance(successes, str) else successes).cast(pl.Float64)
    n = (pl.col(trials) if isinstance(trials, str) else trials).cast(pl.Float64)
    zf = pl.lit(float(z), dtype=pl.Float64)
    z2 = zf * zf
    p = true_divide(k, n)
    d = 1.0 + true_divide(z2, n)
    c = true_divide(p + true_divide(z2, 2.0 * n), d)
    h = true_divide(zf, d) * (true_divide(p * (1.0 - p), n) + true_divide(z2, 4.0 * n * n)).sqrt()
    ok = n > 0
    lower = pl.when(ok).then(pl.max_horizontal(c - h, pl.lit(0.0)))
    upper = pl.when(ok).then(pl.min_horizontal(c + h, pl.lit(1.0)))
    return lower.alias("wilson_low"), upper.alias("wilson_high")


def delivery_ranking(
    df: F,
    *,
    by: str | Sequence[str],
    min_volume: int = MIN_VOLUME,
    include_warmup: bool = False,
    include_test: bool = False,
    include_demo: bool = False,
    window: Window | None = None,
    as_of: datetime | None = None,
    receipt_timeout: timedelta = RECEIPT_TIMEOUT,
    z: float = WILSON_Z,
) -> F:
    """Groups ranked worst first by delivery rate, without ranking small groups on noise.

    Per group, the columns of :func:`~leadping_nb.metrics.delivery_summary` (keys,
    ``n_events`` ... ``n_used`` = the final outcomes, ``delivery_rate``),
    then ``n_failures`` (the final outcomes other than delivered: ``n_used -
    n_delivered``), ``wilson_low`` and ``wilson_high``
    (:func:`wilson_bounds` of ``n_delivered / n_used``, 95 % by default), ``rankable``
    (``n_used >= min_volume``) and ``rank`` (1 = worst, null for groups too small).

    Rule: rankable groups come first, ordered by ``wilson_high`` ascending (the best
    delivery rate the group plausibly has: a group is ranked bad only when even that is
    low), ties by ``delivery_rate`` ascending, then ``n_used`` descending, then the keys;
    the groups below ``min_volume`` follow, by ``n_used`` descending, then the keys.

    Parameters
    ----------
    df
        A canonical events ``DataFrame`` or ``LazyFrame``; the result is the same kind.
    by
        The group columns (for example ``"campaign_id"``, ``"from_phone_number"``,
        ``"source_id"``); at least one.
    min_volume
        Final outcomes a group needs to be ranked (default :data:`MIN_VOLUME`, 30).
    include_warmup, include_test, include_demo
        Count warm-up / test / demo traffic (excluded by default; :class:`TrafficScope`).
    window
        Keep only the events whose ``period_column`` lies in this
        :class:`~leadping_nb.Window` before anything is linked or counted.
    as_of, receipt_timeout
        As in :func:`~leadping_nb.metrics.delivery_summary` (when a sent message without a
        receipt counts as ``no_receipt``).
    z
        Normal quantile of the interval (default :data:`WILSON_Z`, 95 %).

    Examples
    --------
    >>> from leadping_nb._core.schema import EVENT_SCHEMA
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> rows = [{"campaign_id": "big", "direction": "Outbound", "delivered_at": t}] * 40
    >>> rows += [{"campaign_id": "big", "direction": "Outbound", "failed_at": t}] * 10
    >>> rows += [{"campaign_id": "tiny", "direction": "Outbound", "failed_at": t}] * 2
    >>> r = delivery_ranking(pl.DataFrame(rows, schema=EVENT_SCHEMA), by="campaign_id")
    >>> r.select("campaign_id", "n_used", "delivery_rate", "rank").rows()
    [('big', 50, 0.8, 1), ('tiny', 2, 0.0, None)]
    """
    check_min_volume(min_volume)
    g: Grouping = grouping(by, None, "UTC", "created_at")
    if not g.keys:
        raise ValueError("delivery_ranking needs at least one column in by")
    lf = windowed(df, window, "created_at")
    cube = cube_plan(prepare(lf, g, as_of=as_of, receipt_timeout=receipt_timeout), g)
    d = delivery_from_cube(
        cube, g, include_warmup=include_warmup, include_test=include_test, include_demo=include_demo
    )
    return _like(df, rank_groups(d, g, min_volume=min_volume, z=z))


def check_min_volume(min_volume: int) -> None:
    """Refuse a ``min_volume`` that is not a positive integer."""
    if isinstance(min_volume, bool) or not isinstance(min_volume, int) or min_volume < 1:
        raise ValueError(f"min_volume must be a positive integer, got {min_volume!r}")


def rank_groups(d: F, g: Grouping, *, min_volume: int, z: float = WILSON_Z) -> F:
    """Rank the rows of a grouped delivery summary worst first: the columns and the rule
    of :func:`delivery_ranking` (``min_volume`` is checked there)."""
    low, high = wilson_bounds("n_delivered", "n_used", z=z)
    ranked = d.with_columns(
        (pl.col("n_used") - pl.col("n_delivered")).alias("n_failures"),
        low,
        high,
        (pl.col("n_used") >= min_volume).alias("rankable"),
    )
    ranked = ranked.sort(
        [
            ~pl.col("rankable"),
            pl.when(pl.col("rankable")).then(pl.col("wilson_high")),
            pl.when(pl.col("rankable")).then(pl.col("delivery_rate")),
            -pl.col("n_used"),
            *[pl.col(k) for k in g.keys],
        ],
        nulls_last=True,
    )
    ranked = ranked.with_columns(
        pl.when(pl.col("rankable")).then(pl.col("rankable").cast(COUNT).cum_sum()).alias("rank")
    )
    return ranked
