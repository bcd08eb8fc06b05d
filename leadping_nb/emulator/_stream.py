"""Fast synthetic event streams for benchmarks of other modules (no HTTP, no paging).

* :func:`generate_events` yields canonical Python rows (dicts keyed by snake_case column).
* :func:`events_frame` builds the canonical Polars frame (``EVENT_SCHEMA``) column-wise,
  in chunks; tile it for bigger benchmarks (``pl.concat([frame] * 10)`` -> 10M rows).

Both draw from an unbounded population of generated leads (about 1 in 25 heavy), so
``n_events`` can be anything; the same seed gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any, Literal

import polars as pl

from leadping_nb._core.schema import EVENT_FIELDS, EVENT_SCHEMA, MEDIA_DTYPE, MONEY_DTYPE

from ._catalog import S_TRAFFIC
from ._generator import generate_raw_events
from ._render import Renderer, media_values, quantum_for

__all__ = ["events_frame", "generate_events"]


def generate_events(
    seed: int,
    n_events: int,
    *,
    era: Literal["seed", "current"] = "current",
    fraction_digits: Literal[0, 3, 7] = 3,
) -> Iterator[dict[str, Any]]:
    """Yield ``n_events`` canonical event rows (keyed by ``EVENT_SCHEMA`` column).

    Values are what a correct client holds after parsing the API's items: aware UTC
    datetimes, 4-place Decimals, ints, bools; columns the era lacks are ``None``.

    Examples
    --------
    >>> rows = list(generate_events(0, 3))
    >>> rows[0]["timeline_type"], len(rows)
    ('LeadCreated', 3)
    """
    renderer = Renderer(era, False, fraction_digits)
    q = quantum_for(fraction_digits)
    for row in generate_raw_events(seed, n_events, quantum=q):
        yield renderer.values(row)


def events_frame(
    seed: int,
    n_events: int,
    *,
    era: Literal["seed", "current"] = "current",
    fraction_digits: Literal[0, 3, 7] = 3,
    chunk: int = 200_000,
) -> pl.DataFrame:
    """The canonical events frame (``EVENT_SCHEMA``) of ``n_events`` generated events.

    Built column-wise (about 1M rows in a few seconds). Columns the era does not carry
    are null, except ``is_warmup``, bridged from ``traffic_type`` in the current era.

    Examples
    --------
    >>> df = events_frame(0, 1000)
    >>> df.height, df.schema == EVENT_SCHEMA
    (1000, True)
    """
    renderer = Renderer(era, False, fraction_digits)
    emitted = {slot for _, slot, _ in renderer.fields}
    q = quantum_for(fraction_digits)
    stream = generate_raw_events(seed, n_events, quantum=q)
    parts: list[pl.DataFrame] = []
    while True:
        rows = list(islice(stream, chunk))
        if not rows:
            break
        cols = list(zip(*rows, strict=True))
        data: dict[str, pl.Series] = {}
        for i, f in enumerate(EVENT_FIELDS):
            name = f.column
            if i not in emitted:
                data[name] = pl.Series(name, [None] * len(rows), dtype=f.dtype)
                continue
            values = cols[i]
            if f.kind == "timestamp":
                s = pl.Series(name, values, dtype=pl.Int64) // 10
                data[name] = s.cast(pl.Datetime("us", "UTC"))
            elif f.kind == "money":
                s = pl.Series(name, values, dtype=pl.Int64).cast(pl.Decimal(18, 6)) / 10000
                data[name] = s.cast(MONEY_DTYPE)
            elif f.kind == "media":
                data[name] = _media_column(name, values)
            else:
                data[name] = pl.Series(name, values, dtype=f.dtype)
        if era == "current":
            data["is_warmup"] = pl.Series(
                "is_warmup", [v == "Warmup" for v in cols[S_TRAFFIC]], dtype=pl.Boolean
            )
        parts.append(pl.DataFrame(data, schema=EVENT_SCHEMA))
    if not parts:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    return pl.concat(parts, rechunk=True)


def _media_column(name: str, values: tuple[Any, ...]) -> pl.Series:
    """The media column: building it from Python lists is slow, so only the (few) rows
    with attachments go through Python; the empty lists are filled in by Polars."""
    idx = [i for i, v in enumerate(values) if v]
    nonempty = pl.Series(
        name,
        [media_values(values[i]) for i in idx],
        dtype=MEDIA_DTYPE,
    )
    sparse = pl.DataFrame({"i": pl.Series(idx, dtype=pl.Int64), name: nonempty})
    full = (
        pl.DataFrame({"i": pl.int_range(0, len(values), eager=True, dtype=pl.Int64)})
        .join(sparse, on="i", how="left")
        .sort("i")
    )
    return full[name].fill_null(pl.lit([], dtype=MEDIA_DTYPE)).alias(name)
