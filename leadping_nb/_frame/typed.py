"""Typed conversion: raw (all-``String``) items → the declared dtypes of ``EVENT_SCHEMA``.

:func:`_convert` turns a batch of raw items (read by :mod:`leadping_nb._frame.raw`) into
the canonical typed frame with one strict conversion per column, and builds the error of
the earliest value that does not convert. The value rules it implements are in
docs/frame.md (Value rules).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from leadping_nb._core.errors import SchemaError
from leadping_nb._core.schema import (
    EVENT_FIELDS,
    EVENT_SCHEMA,
    KNOWN_VALUES,
    MEDIA_DTYPE,
    MONEY_DTYPE,
    MONEY_PRECISION,
    MONEY_SCALE,
    Field,
)
from leadping_nb._frame.page import (
    _FIELD_OF_KEY,
    _MEDIA_FIELDS,
    _MEDIA_KEY,
    _MONEY_KEY,
    _RAW_ITEM_SCHEMA,
    _where,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Where the rows of a raw batch come from: (page number, requested lead id, row count).
_Span = tuple[int | None, str | None, int]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

_MONEY_TEXT_RX = rf"^-?[0-9]+(?:\.[0-9]{{1,{MONEY_SCALE}}}0*)?$"
_INT_TEXT_RX = r"^-?[0-9]+$"
# Years 0001-9999 (no datetime holds year 0000) and seconds 00-59 (a leap second, :60, is
# refused, not moved into the next minute): both in the pattern, so they cost no extra pass.
_TS_YEAR = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_TS_TEXT_RX = (
    rf"^{_TS_YEAR}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-5][0-9](?:\.[0-9]{{1,9}})?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_TS_LEAP_RX = re.compile(_TS_TEXT_RX.replace("[0-5][0-9]", "60", 1).replace(_TS_YEAR, "[0-9]{4}"))
#: The instants a ``Datetime("us", "UTC")`` value can be read back as (Python's datetime):
#: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z, as microseconds since the epoch.
_TS_MIN_US = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) / timedelta(microseconds=1))
_TS_MAX_US = int(
    (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) / timedelta(microseconds=1)
)
_TS_ZONED_RX = r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$"
_TS_SUBMICRO_RX = r"\.[0-9]{6}[0-9]*[1-9]"
_MONEY_NUMBER_PY = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


# ---------------------------------------------------------------------------------------
# Typed conversion: raw (all-String) items → EVENT_SCHEMA
# ---------------------------------------------------------------------------------------


def _money_expr(e: pl.Expr) -> pl.Expr:
    return pl.when(e.str.contains(_MONEY_TEXT_RX)).then(e.cast(MONEY_DTYPE, strict=False))


def _int_expr(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    as_int = pl.when(e.str.contains(_INT_TEXT_RX)).then(e.cast(pl.Int64, strict=False))
    if dtype == pl.Int32:
        return pl.when(as_int.is_between(_INT32_MIN, _INT32_MAX)).then(as_int).cast(pl.Int32)
    return as_int


def _bool_expr(e: pl.Expr) -> pl.Expr:
    return e.replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)


def _ts_expr(e: pl.Expr, digits: int | None = None) -> pl.Expr:
    """Timestamp text → ``Datetime("us", "UTC")``; null where the text is not valid.

    ``digits`` says that every value of the column is ``YYYY-MM-DDTHH:MM:SS[.f…]Z`` with
    exactly that many fractional digits (0-6), or, as :data:`_TS_ANY_Z`, with 0-9 digits
    that vary from value to value (see :func:`_ts_layouts`). Such columns are parsed as the
    date-time part with Polars' fixed-format parser plus the fraction as an integer
    (its first 6 digits: the 7th and later are truncated, as the general parse does), ~2×
    cheaper than the general ``%+`` parse and equal to it on every valid text (tests compare
    both). Anything else takes the general parse (offsets, naive times read as UTC).
    """
    valid = e.str.contains(_TS_TEXT_RX)
    if digits is None:
        text = pl.when(e.str.contains(_TS_ZONED_RX)).then(e).otherwise(e + "Z")
        parsed = text.str.to_datetime("%+", time_unit="us", time_zone="UTC", strict=False)
        # An offset can carry year 0001 or 9999 out of the range a datetime holds. (This
        # parses the column twice, so the fixed layout, which has no offset, skips it.)
        valid = valid & parsed.cast(pl.Int64).is_between(_TS_MIN_US, _TS_MAX_US)
    else:
        parsed = e.str.slice(0, 19).str.to_datetime(
            "%Y-%m-%dT%H:%M:%S", time_unit="us", time_zone="UTC", strict=False
        )
        if digits == _TS_ANY_Z:
            # "...SS.fffZ" has len - 21 digits after the dot at 19; "...SSZ" has none.
            n_digits = (e.str.len_bytes() - 21).clip(0, 6)
            fraction = e.str.slice(20, n_digits).str.pad_end(6, "0").cast(pl.Int64, strict=False)
            parsed = parsed + pl.duration(microseconds=fraction)
        elif digits:
            fraction = e.str.slice(20, digits).cast(pl.Int64, strict=False) * 10 ** (6 - digits)
            parsed = parsed + pl.duration(microseconds=fraction)
    return pl.when(valid).then(parsed)


#: Lengths of ``YYYY-MM-DDTHH:MM:SSZ`` with 0 and with 1-6 fractional digits.
_TS_FIXED_LENGTHS = {20: 0, **{21 + d: d for d in range(1, 7)}}
#: The layout of a column whose values all end in ``Z`` with 0-9 fractional digits, not all
#: alike (0, 3 and 7 digits from a serializer that drops trailing zeros): lengths 20 to 30.
_TS_ANY_Z = -1
_TS_ANY_Z_LENGTHS = range(20, 31)


def _ts_layouts(raw: pl.DataFrame, present: frozenset[str]) -> frozenset[tuple[str, int]]:
    """Timestamp keys whose every value has one ``Z`` layout: (key, fractional digits), or
    ends in ``Z`` with 0-9 fractional digits (key, :data:`_TS_ANY_Z`).

    One cheap query (lengths and last characters) per batch; see :func:`_ts_expr`.
    """
    keys = [k for k in _TIMESTAMP_KEYS if k in present and k in raw.columns]
    if not keys:
        return frozenset()
    exprs: list[pl.Expr] = []
    for k in keys:
        n = pl.col(k).str.len_bytes()
        exprs += [
            n.min().alias(f"min:{k}"),
            n.max().alias(f"max:{k}"),
            pl.col(k).str.ends_with("Z").all().alias(f"z:{k}"),
        ]
    row = raw.select(exprs).row(0, named=True)
    found = set()
    for k in keys:
        length = row[f"min:{k}"]
        longest = row[f"max:{k}"]
        if not row[f"z:{k}"]:
            continue
        if length == longest and length in _TS_FIXED_LENGTHS:
            found.add((k, _TS_FIXED_LENGTHS[length]))
        elif length in _TS_ANY_Z_LENGTHS and longest in _TS_ANY_Z_LENGTHS:
            found.add((k, _TS_ANY_Z))
    return frozenset(found)


def _media_expr(e: pl.Expr) -> pl.Expr:
    el = pl.element()
    parts = [
        (
            _int_expr(el.struct.field(api), pl.Int64()) if api == "size" else el.struct.field(api)
        ).alias(col)
        for api, col in _MEDIA_FIELDS.items()
    ]
    return e.list.eval(pl.when(el.is_not_null()).then(pl.struct(parts))).cast(MEDIA_DTYPE)


def _source(f: Field, present: frozenset[str]) -> pl.Expr | None:
    """The raw column(s) feeding a field; ``None`` when none of them carries a value."""
    keys = [k for k in (f.api, *f.aliases) if k in present]
    if not keys:
        return None
    if len(keys) == 1:
        return pl.col(keys[0])
    return pl.coalesce(*(pl.col(k) for k in keys))


@functools.lru_cache(maxsize=256)
def _typed_exprs(
    present: frozenset[str],
    media_elements: bool,
    ts_layouts: frozenset[tuple[str, int]] = frozenset(),
) -> tuple[pl.Expr, ...]:
    """One expression per declared column, for raw frames whose non-null keys are *present*.

    Columns without any value become typed null literals, which skips their parsing (a
    page usually has most lifecycle timestamps empty). ``id`` is always a column
    reference, so literal columns broadcast to the frame's height. ``ts_layouts`` names
    the timestamp keys with one fixed layout (:func:`_ts_layouts`).
    """
    fixed = dict(ts_layouts)
    exprs: list[pl.Expr] = []
    for f in EVENT_FIELDS:
        src = _source(f, present)
        if f.column == "is_warmup":
            traffic = pl.col("trafficType") == "Warmup" if "trafficType" in present else None
            if src is None:
                expr = traffic if traffic is not None else pl.lit(None, dtype=pl.Boolean)
            elif traffic is None:
                expr = _bool_expr(src)
            else:
                expr = pl.when(src.is_not_null()).then(_bool_expr(src)).otherwise(traffic)
        elif src is None:
            expr = pl.col(f.api) if f.kind in ("string", "enum") else pl.lit(None, dtype=f.dtype)
        elif f.kind == "money":
            expr = _money_expr(src)
        elif f.kind == "integer":
            expr = _int_expr(src, pl.Int32())
        elif f.kind == "boolean":
            expr = _bool_expr(src)
        elif f.kind == "timestamp":
            # The layout was checked on f.api's values only, so not for coalesced aliases.
            expr = _ts_expr(src, None if f.aliases else fixed.get(f.api))
        elif f.kind == "media":
            # Without elements the (empty or null) lists only need their dtype changed.
            expr = _media_expr(src) if media_elements else src.cast(MEDIA_DTYPE, strict=False)
        else:
            expr = src
        exprs.append(expr.cast(f.dtype).alias(f.column))
    return tuple(exprs)


#: Fields whose text is validated: (API key, column).
_CHECKED: tuple[tuple[str, str], ...] = tuple(
    (f.api, f.column)
    for f in EVENT_FIELDS
    if f.kind in ("money", "integer", "boolean", "timestamp")
)
_TIMESTAMP_KEYS = frozenset(f.api for f in EVENT_FIELDS if f.kind == "timestamp")
_ENUM_COLUMNS: tuple[str, ...] = tuple(f.column for f in EVENT_FIELDS if f.kind == "enum")
_RAW_PREFIX = "\x00raw:"


def _describe(key: str, value: str) -> str:
    """Why one raw value failed (only called to build an error message)."""
    f = _FIELD_OF_KEY[key.split(".")[0]]
    kind = "integer" if key == f"{_MEDIA_KEY}.size" else f.kind
    if kind == "money":
        if not _MONEY_NUMBER_PY.match(value):
            return "not a decimal number"
        exponent = Decimal(value).normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MONEY_SCALE:
            return f"more than {MONEY_SCALE} decimal places (amounts are never rounded)"
        return f"does not fit Decimal({MONEY_PRECISION}, {MONEY_SCALE})"
    if kind == "integer":
        if not re.fullmatch(_INT_TEXT_RX, value):
            return "not an integer"
        return "out of range for Int64" if key == f"{_MEDIA_KEY}.size" else "out of range for Int32"
    if kind == "boolean":
        return 'not a boolean (true/false or "true"/"false")'
    if kind == "timestamp":
        if _TS_LEAP_RX.match(value):
            return (
                "a leap second (:60): a UTC datetime cannot hold it, and reading it as the "
                "next minute's :00 would change the instant"
            )
        if value.startswith("0000") and re.fullmatch(_TS_TEXT_RX, "0001" + value[4:]):
            return "year 0000: the first instant a datetime holds is 0001-01-01T00:00:00Z"
        if not re.fullmatch(_TS_TEXT_RX, value):
            return "not an ISO-8601 timestamp (YYYY-MM-DDTHH:MM:SS[.fffffff][Z|±HH:MM])"
        y, mo, d, h, mi, sec = (int(value[i : i + 2 + 2 * (i == 0)]) for i in (0, 5, 8, 11, 14, 17))
        try:
            datetime(y, mo, d, h, mi, sec)
        except ValueError:
            return "not a valid date or time"
        return "outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z once in UTC"
    return "invalid value"  # pragma: no cover - only checked kinds fail


def _dtype_name(key: str) -> str:
    if key == f"{_MEDIA_KEY}.size":
        return "Int64"
    return str(_FIELD_OF_KEY[key].dtype)


def _normalise_money(raw: pl.DataFrame) -> pl.DataFrame:
    """Rewrite exponent amounts (``1E-05``) as exact positional text (rare; Python)."""
    col = raw.get_column(_MONEY_KEY)
    if not col.str.contains("[eE]").any():
        return raw

    def plain(text: str | None) -> str | None:
        if text is None or not _MONEY_NUMBER_PY.match(text):
            return text
        return format(Decimal(text), "f")

    return raw.with_columns(pl.Series(_MONEY_KEY, [plain(t) for t in col.to_list()], pl.String))


@dataclass
class _Converted:
    frame: pl.DataFrame
    nulled: dict[str, int]
    truncated: dict[str, int]
    unknown_values: dict[str, frozenset[str]]


def _convert(
    raw: pl.DataFrame,
    spans: Sequence[_Span],
    *,
    lenient: bool,
    present: frozenset[str] | None = None,
    media_elements: bool | None = None,
) -> _Converted:
    """Raw items (plus kept unknown columns) → the canonical typed frame.

    Two query plans per call, whatever the number of rows: the typed ``select``, and one
    ``select`` of statistics (failed conversions, truncated timestamps, enum values).
    """
    kept = [c for c in raw.columns if c not in _RAW_ITEM_SCHEMA]
    if raw.height == 0:
        frame = pl.DataFrame(schema={**EVENT_SCHEMA, **dict.fromkeys(kept, pl.String())})
        return _Converted(frame, {}, {}, {})
    if present is None:
        null_counts = raw.null_count().row(0, named=True)
        present = frozenset(k for k, n in null_counts.items() if n < raw.height)
    if media_elements is None:
        media_elements = _MEDIA_KEY in present and bool(raw.get_column(_MEDIA_KEY).list.len().sum())
    source = _normalise_money(raw) if _MONEY_KEY in present else raw
    layouts = _ts_layouts(source, present)
    typed = source.select(*_typed_exprs(present, media_elements, layouts), *kept)

    checked = [(k, c) for k, c in _CHECKED if k in present]
    stats: list[pl.Expr] = []
    for key, column in checked:
        rawc = pl.col(_RAW_PREFIX + key)
        stats.append((rawc.is_not_null() & pl.col(column).is_null()).sum().alias(f"bad:{key}"))
        if key in _TIMESTAMP_KEYS:
            stats.append(
                rawc.filter(pl.col(column).is_not_null() & (rawc.str.len_bytes() > 26))
                .str.contains(_TS_SUBMICRO_RX)
                .sum()
                .alias(f"cut:{key}")
            )
    for column in _ENUM_COLUMNS:
        if typed.get_column(column).null_count() < typed.height:
            stats.append(pl.col(column).drop_nulls().unique().implode().alias(f"enum:{column}"))
    row: dict[str, Any] = {}
    if stats:
        both = typed.hstack([raw.get_column(k).alias(_RAW_PREFIX + k) for k, _ in checked])
        row = both.select(stats).row(0, named=True)

    counts = {k[4:]: int(v) for k, v in row.items() if k.startswith("bad:") and v}
    media_rows, media_values = _media_failures(raw, typed) if media_elements else ([], [])
    if media_rows:
        counts[f"{_MEDIA_KEY}.size"] = len(media_rows)
    if counts and not lenient:
        raise _first_error(raw, typed, counts, media_rows, media_values, spans)
    truncated = {k[4:]: int(v) for k, v in row.items() if k.startswith("cut:") and v}
    unknown_values: dict[str, frozenset[str]] = {}
    for k, values in row.items():
        if k.startswith("enum:"):
            column = k[5:]
            extra = frozenset(v for v in values if v not in KNOWN_VALUES[column])
            if extra:
                unknown_values[column] = extra
    return _Converted(typed, counts, truncated, unknown_values)


def _media_failures(raw: pl.DataFrame, typed: pl.DataFrame) -> tuple[list[int], list[str]]:
    index = pl.int_range(pl.len(), dtype=pl.Int64).alias("row")
    raw_sizes = raw.select(index, pl.col(_MEDIA_KEY)).explode(_MEDIA_KEY)
    typed_sizes = typed.get_column("media").explode()
    raw_size = raw_sizes.get_column(_MEDIA_KEY).struct.field("size")
    mask = raw_size.is_not_null() & typed_sizes.struct.field("size").is_null()
    if not mask.any():
        return [], []
    rows = raw_sizes.get_column("row").filter(mask).to_list()
    return rows, raw_size.filter(mask).to_list()


def _locate(spans: Sequence[_Span], row: int) -> tuple[int | None, str | None]:
    """Page number and requested lead id of a row of a batch."""
    end = 0
    for page, lead, n in spans:
        end += n
        if row < end:
            return page, lead
    return None, None  # pragma: no cover - rows always fall inside the spans


def _first_error(
    raw: pl.DataFrame,
    typed: pl.DataFrame,
    counts: Mapping[str, int],
    media_rows: Sequence[int],
    media_values: Sequence[str],
    spans: Sequence[_Span],
) -> SchemaError:
    """The error of the earliest failing row (ties: declared field order)."""
    candidates: list[tuple[int, int, str, str]] = []
    columns = dict(_CHECKED)
    for order, (key, column) in enumerate(_CHECKED):
        if key in counts:
            mask = raw.get_column(key).is_not_null() & typed.get_column(column).is_null()
            row = int(mask.arg_true()[0])
            candidates.append((row, order, key, raw.get_column(key)[row]))
    if media_rows:
        candidates.append((media_rows[0], len(columns), f"{_MEDIA_KEY}.size", media_values[0]))
    row, _, key, value = min(candidates)
    event_id = raw.get_column("id")[row]
    page, lead = _locate(spans, row)
    if lead is None:
        lead = raw.get_column("leadId")[row]
    error = SchemaError(
        f"cannot convert {key} value {value!r} to {_dtype_name(key)}: "
        f"{_describe(key, value)}{_where(lead, page, event_id)}",
        field=key,
        value=value,
        lead_id=lead,
        page=page,
        event_id=event_id,
    )
    error._leadping_row = row  # type: ignore[attr-defined]  # for _assemble's ordering
    return error
