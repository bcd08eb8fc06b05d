"""The arithmetic under every summary: true divisions, percentiles, exact Decimal ratios.

Re-exported by :mod:`leadping_nb.metrics._exprs` (and :func:`percentile`,
:func:`decimal_ratio` by :mod:`leadping_nb.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def true_divide(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """``numerator / denominator`` as one correctly rounded IEEE division (Float64 in).

    Polars divides a column by a scalar through a multiplication by its reciprocal, which
    is one ulp off the quotient for 13 % of values (71 / 1000 -> 0.07100000000000001). A
    "scalar" is a literal, but also a column Polars holds as one broadcast value, which
    it does on its own: a count aggregated over groups that all have one row is one.
    Adding ``numerator * 0.0`` (exactly ±0, the quotients are of finite values) to the
    divisor makes it a column whenever the numerator is one, so the division is a true
    elementwise division, equal to Python's ``a / b`` on the same Float64 values.

    Examples
    --------
    >>> df = pl.DataFrame({"a": [71.0, 1.0]}).with_columns(pl.lit(1000.0).alias("b"))
    >>> df.select(true_divide(pl.col("a"), pl.col("b"))).to_series().to_list()
    [0.071, 0.001]
    """
    result: pl.Expr = numerator / (numerator * 0.0 + denominator)
    return result


def us_to_ms(micros: pl.Expr) -> pl.Expr:
    """Integer microseconds to Float64 milliseconds, correctly rounded (Python's
    ``us / 1000``; exact microseconds below 2^53, 285 years)."""
    return true_divide(micros.cast(pl.Float64), pl.lit(1000.0))


def percentile_of_sorted(
    sorted_list: pl.Expr,
    q: float,
    *,
    n: pl.Expr | None = None,
    value: Callable[[pl.Expr], pl.Expr] | None = None,
) -> pl.Expr:
    """:data:`INTERPOLATION` percentile ``q`` of a ``List`` whose first ``n`` values are
    sorted and not null (default ``n``: the list's length); null when ``n`` is 0.

    ``value`` maps the two list elements read before interpolating (the latency summary
    reads integer microseconds and interpolates their exact milliseconds).
    """
    if n is None:
        n = sorted_list.list.len()
    n = n.cast(pl.Int64)
    h = (n - 1).cast(pl.Float64) * q
    lo = h.floor().cast(pl.Int64)
    hi = pl.min_horizontal(lo + 1, n - 1)
    a = sorted_list.list.get(lo, null_on_oob=True)
    b = sorted_list.list.get(hi, null_on_oob=True)
    if value is not None:
        a, b = value(a), value(b)
    result: pl.Expr = pl.when(n > 0).then(a + (h - lo) * (b - a))
    return result


def percentile(expr: pl.Expr | str, q: float) -> pl.Expr:
    """The ``q`` quantile with the package's one interpolation (:data:`INTERPOLATION`).

    Nulls are ignored; the result (Float64) is null when no value remains. Use it in
    ``select`` or ``group_by().agg``; every summary of this package uses the same
    arithmetic, so a figure's percentile equals the table's to the last bit.

    Examples
    --------
    >>> pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}).select(percentile("x", 0.9)).item()
    3.7
    >>> df = pl.DataFrame({"g": [1, 1, 2], "x": [1.0, 3.0, None]})
    >>> df.group_by("g").agg(percentile("x", 0.5)).sort("g").rows()
    [(1, 2.0), (2, None)]
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within [0, 1], got {q}")
    e = pl.col(expr) if isinstance(expr, str) else expr
    values = e.drop_nulls().cast(pl.Float64).sort().implode()
    return percentile_of_sorted(values, q)


def decimal_ratio(
    numerator: pl.Expr, denominator: pl.Expr, *, scale: int, numerator_scale: int = 6
) -> pl.Expr:
    """Exact ``numerator / denominator`` rounded half-to-even at ``scale`` decimals.

    ``numerator`` is a Decimal expression (cast to ``Decimal(38, numerator_scale)``,
    which must not be below its own scale), ``denominator`` a non-negative integer
    expression. The result is ``Decimal(38, scale)``, null when the denominator is 0 or
    null. Polars rounds a Decimal division at the larger input scale, so dividing
    directly would round at the wrong digit; this divides the unscaled integers instead.

    Examples
    --------
    >>> from decimal import Decimal
    >>> df = pl.DataFrame({"amt": [Decimal("0.0150")], "n": [2]},
    ...                   schema={"amt": pl.Decimal(18, 6), "n": pl.Int64})
    >>> df.select(decimal_ratio(pl.col("amt"), pl.col("n"), scale=3)).item()
    Decimal('0.008')
    """
    if not 0 <= scale <= 18 or not 0 <= numerator_scale <= 18:
        raise ValueError("scale and numerator_scale must be within [0, 18]")
    d0 = pl.Decimal(38, 0)
    unscaled = (numerator.cast(pl.Decimal(38, numerator_scale)) * 10**numerator_scale).cast(d0)
    up = 10 ** max(scale - numerator_scale, 0)
    down = 10 ** max(numerator_scale - scale, 0)
    safe_den = pl.when(denominator > 0).then(denominator).cast(d0)
    quotient = (unscaled * up) / (safe_den * down)  # scale 0: rounded half-to-even
    result: pl.Expr = quotient.cast(pl.Decimal(38, scale)) / 10**scale
    return result
