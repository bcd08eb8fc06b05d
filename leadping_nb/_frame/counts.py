"""The counts behind the key balance: ``":`` separators in the bytes, values the parse produced.

How the balance proves a page's unknown fields is in docs/frame.md (Unknown fields); the
decision per page is :func:`~leadping_nb._frame.raw._check_keys`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence

import polars as pl

from leadping_nb._frame.page import _MEDIA_FIELDS, _MEDIA_KEY, _RAW_KEYS, ParsedPage

#: JSON white space, as a pattern that Python's ``re`` and Polars' Rust regex read alike.
_WS = r"[ \t\n\r\x0B\x0C]*"


def _colons(body: bytes) -> int:
    """The body's ``":`` separators minus those followed by ``n`` (``":null``).

    Outside strings a value that starts with ``n`` is ``null``; inside strings the same
    count is taken of the parsed text (:func:`_quoted_colons`), so the two agree. Counted
    with numpy as two byte masks, ``"`` followed by ``:`` and that followed by ``n``
    (about half the time of the former 16-bit-pair count and a quarter of ``bytes.count``
    twice; the compares run without the GIL; bench/README.md, frame).

    Examples
    --------
    >>> from leadping_nb._frame.counts import _colons
    >>> _colons(b'{"a": 1, "b":null, "c":"d"}')
    2
    """
    import numpy as np  # loaded with the first page, not with the package

    a = np.frombuffer(body, dtype=np.uint8)
    if len(a) < 2:
        return 0
    pair = a[:-1] == 0x22  # '"'
    pair &= a[1:] == 0x3A  # ':'
    total = int(np.count_nonzero(pair))
    if len(a) >= 3:
        null = a[2:] == 0x6E  # 'n'
        null &= pair[:-1]
        total -= int(np.count_nonzero(null))
    return total


@functools.lru_cache(maxsize=256)
def _count_expr(present: frozenset[str], extra: tuple[str, ...] = ()) -> pl.Expr:
    """Per row: the number of non-null values the parse produced (top level)."""
    keys = [k for k in _RAW_KEYS if k in present] + [k for k in extra if k in present]
    parts = [pl.col(k).is_not_null().cast(pl.Int64) for k in keys]
    if not parts:
        return pl.repeat(0, pl.len(), dtype=pl.Int64).alias("n")
    return pl.sum_horizontal(parts).alias("n")


def _media_counts(raw: pl.DataFrame) -> pl.Series:
    """Per row: the number of non-null values inside the media structs.

    One list expression per row (a null element or list counts 0), rather than an explode,
    filter, group-by and scatter: the same numbers at less than half the fixed cost per
    batch (bench/README.md, frame).
    """
    element = pl.element()
    per_element = pl.sum_horizontal(
        [element.struct.field(k).is_not_null().cast(pl.Int64) for k in _MEDIA_FIELDS]
    )
    return raw.select(
        pl.col(_MEDIA_KEY).list.eval(per_element).list.sum().fill_null(0).alias("n")
    ).to_series()


def _quoted_colons(rows: pl.DataFrame) -> int:
    """``":`` minus ``":n`` inside the parsed strings of some rows (escaped in the body)."""
    columns = [rows.get_column(k) for k in rows.columns if k != _MEDIA_KEY]
    media = rows.get_column(_MEDIA_KEY).explode().drop_nulls()
    if media.len():
        columns += media.struct.unnest().get_columns()
    total = 0
    for s in columns:
        s = s.drop_nulls()
        if s.len():
            total += int(s.str.count_matches('":', literal=True).sum())
            total -= int(s.str.count_matches('":n', literal=True).sum())
    return total


def _page_counts(
    raw: pl.DataFrame,
    pages: Sequence[ParsedPage],
    present: frozenset[str],
    media_elements: bool,
    extra: tuple[str, ...],
) -> tuple[list[int], dict[str, list[int]]]:
    """Per page of the batch: the non-null values the parse produced, and per undeclared
    key read (``extra``) the rows with a value: running sums gathered at the pages' ends
    (one value per page leaves the query, not one per row)."""
    ends = list(itertools.accumulate(p.n_items for p in pages))
    if not raw.height:
        return [0] * len(pages), {k: [0] * len(pages) for k in extra}
    per_row = raw.select(_count_expr(present, extra)).get_column("n")
    if media_elements:
        per_row = per_row + _media_counts(raw)
    columns = [per_row.alias("\x00n"), *(raw.get_column(k).is_not_null().alias(k) for k in extra)]
    at = pl.Series([max(e - 1, 0) for e in ends], dtype=pl.Int64)
    cums = pl.DataFrame(columns).select(pl.all().cast(pl.Int64).cum_sum().gather(at))

    def per_page(name: str) -> list[int]:
        totals = [c if e else 0 for c, e in zip(cums.get_column(name).to_list(), ends, strict=True)]
        return [t - (totals[i - 1] if i else 0) for i, t in enumerate(totals)]

    return per_page("\x00n"), {k: per_page(k) for k in extra}


@functools.lru_cache(maxsize=64)
def _extra_number_rx(names: tuple[str, ...]) -> re.Pattern[bytes]:
    keys = b"|".join(re.escape(k.encode()) for k in names)
    return re.compile(
        rb'"(?:' + keys + rb')"' + _WS.encode() + rb":" + _WS.encode() + rb"-?[0-9]+[.eE]"
    )


def _inexact_extra(body: bytes, names: tuple[str, ...]) -> bool:
    """Whether a key of ``names`` may carry a JSON number with a fraction or an exponent.

    ``pl.read_json`` writes such a number into a ``String`` field as float64's shortest
    text (``1.10`` → ``"1.1"``, ``1e2`` → ``"100"``), so a kept value would not be the text
    sent; integers (any length) and the other scalars are kept exactly. (A match inside a
    string only costs an exact scan.)
    """
    return _extra_number_rx(names).search(body) is not None
