"""Exports that keep money exact and times honest: Parquet, CSV, Excel.

Every writer works on any frame (an events frame, a filtered subset, a metrics table),
choosing the treatment by dtype, and writes **atomically**: to a temporary file in the
target's directory, then :func:`os.replace`, so a reader never sees a half-written file
and a failed export leaves the previous file untouched. A full disk raises
``OSError(errno.ENOSPC, "no space left on device ...", path)`` whatever the writer
reported it as (Polars' "File out of specification" / "Invalid thrift: transport error",
xlsxwriter's ``FileCreateError``), and the temporary file is removed.

Parquet (:func:`to_parquet`)
    Lossless: ``Decimal(18, 6)`` stays a decimal, timestamps stay ``Datetime("us", "UTC")``,
    media stays a list of structs. The format to hand data to another program.
CSV (:func:`to_csv`)
    Decimals are written as exact decimal text at their scale (``0.007900``, never through a
    float). Time-zone-aware timestamps are converted to ``time_zone`` and written as
    ISO-8601 with microseconds and the offset (``2026-11-07T06:31:56.123456+01:00``), so
    every value carries its own zone. Nested columns (media) are JSON text. A null is an
    empty field; an empty string is ``""``.
Excel (:func:`to_excel`)
    Excel has no time zones and stores every number as a float64 that it shows with at most
    15 significant digits. Therefore:

    * Columns keep the names they have in the frame and in the CSV (``queued_at``, never
      ``queued_at (Europe/Berlin)``), so one script reads both files. What a column holds
      beyond its name is in a **note on its header cell** and in the ``about`` sheet.
    * Time-zone-aware timestamps are converted to ``time_zone`` and the zone is dropped;
      the header note (and ``about``) says which zone the wall-clock times are in
      (``wall-clock time in Europe/Berlin``; a zone-less column: ``no time zone``).
      Excel shows milliseconds at most (``yyyy-mm-dd hh:mm:ss.000``), so times are
      truncated to the millisecond (never rounded up into the next second, minute or day);
      use Parquet or CSV when microseconds matter.
    * A decimal column is written as **numbers** when every value has at most 15
      significant digits (then the float64 Excel stores displays back as exactly that
      decimal; format ``0.0000##`` shows all 6 decimal places that are used) — real amounts
      such as ``0.0079`` always qualify. If any value has more digits (e.g. a
      ``123456789012.345678`` total), the **whole column** is written as exact **text** and
      its header note says so: a column that mixed numbers and text would make Excel's
      ``SUM`` silently skip the text cells. ``money_as="number"`` / ``"text"`` force
      either choice (``"number"`` refuses values Excel cannot show exactly).
    * A second sheet, ``about``, records the time zone, these rules, and one line per
      column whose header has a note (the column name, then the note).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

if TYPE_CHECKING:
    from leadping_nb._http.query import EventQuery

__all__ = ["provenance", "safe_source", "to_csv", "to_excel", "to_parquet"]

#: Excel shows at most this many significant digits of a number.
EXCEL_DIGITS = 15
#: Excel's last row (1,048,576 rows including the header).
EXCEL_MAX_ROWS = 1_048_575
_EXCEL_DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss.000"


def _umask() -> int:
    """The process umask, read without changing it (Linux), else the common 0o022."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:  # pragma: no cover - not Linux
        pass
    return 0o022  # pragma: no cover


#: Less free space than this when a write fails: the disk was full, whatever the error says.
_NEARLY_FULL = 1 << 20
_FULL_TEXTS = ("no space left on device", "os error 28", "disk quota exceeded", "os error 122")


def _free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged writer may still use in ``directory`` (None: unknown)."""
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):  # pragma: no cover - not POSIX
        return None
    return st.f_bavail * st.f_frsize


def _disk_full(exc: BaseException, directory: Path) -> bool:
    """Whether a failed write ran out of space: ENOSPC/EDQUOT anywhere in the exception
    (its chain, its arguments), the writers' texts for it, or a disk left (nearly) full."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        e = todo.pop()
        if e in seen:
            continue
        seen.append(e)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(t in str(e).lower() for t in _FULL_TEXTS):
            return True
        todo += [a for a in e.args if isinstance(a, BaseException)]
        todo += [c for c in (e.__cause__, e.__context__) if c is not None]
    free = _free_bytes(directory)
    return free is not None and free < _NEARLY_FULL


@contextlib.contextmanager
def _atomic(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to *path*; move it over *path* only on success.

    On failure the temporary file is removed (the previous file, if any, is untouched);
    a full disk is raised as ``OSError(ENOSPC)`` naming the target.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, target)
    except Exception as exc:
        full = _disk_full(exc, target.parent)  # before the temporary file frees its space
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if full:
            raise OSError(
                errno.ENOSPC,
                "no space left on device: nothing was written (a previous file is "
                "unchanged); free some space and write it again",
                str(target),
            ) from exc
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------
# provenance: where a file's data came from, with no secret in it

#: Prefix of the provenance keys in Parquet key-value metadata (``leadping_nb.source``, ...).
PROVENANCE_PREFIX = "leadping_nb."
#: The keys of :func:`provenance`, in order.
PROVENANCE_KEYS = ("source", "window", "query", "store_version", "package_version", "built_at")

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s'\"<>]*)")
_SECRET_PAIR = re.compile(
    r"(?i)\b(api[_-]?key|key|token|access[_-]?token|secret|password|authorization|bearer)"
    r"(\s*[=:]\s*|\s+)\S+"
)


def _clean_url(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    authority, slash, path = rest.partition("/")
    if "@" in authority or "@" in path.split("?", 1)[0].split("#", 1)[0]:
        # credentials: everything up to the last @ before the query goes (as mask_url)
        head = rest.split("?", 1)[0].split("#", 1)[0]
        rest = "***@" + head.rsplit("@", 1)[1]
        authority, slash, path = rest.partition("/")
    path = path.split("?", 1)[0].split("#", 1)[0]  # a query string may carry a key
    return f"{scheme}{authority}{slash}{path}"


def safe_source(text: str) -> str:
    """``text`` (a data source: an API base URL, a store path, the emulator) with nothing
    secret in it: URL credentials masked, URL query strings and fragments dropped, and any
    ``key=...`` / ``token ...`` / ``Bearer ...`` value replaced by ``***``.

    Examples
    --------
    >>> safe_source("Leadping API at https://user:s3cret@api.example.com/v1?api_key=abc#x")
    'Leadping API at https://***@api.example.com/v1'
    >>> safe_source("built-in emulator (seed 7, 40 leads)")
    'built-in emulator (seed 7, 40 leads)'
    >>> safe_source("token=abc123 Bearer xyz")
    'token=*** Bearer ***'
    """
    cleaned = _URL.sub(_clean_url, str(text))
    return _SECRET_PAIR.sub(lambda mt: f"{mt.group(1)}{mt.group(2)}***", cleaned)


def _window_text(window: tuple[datetime | None, datetime | None] | None) -> str:
    if window is None:
        return "all the data given (no window)"

    def end(value: datetime | None) -> str:
        if value is None:
            return "open"
        if value.tzinfo is None:
            raise ValueError(f"window bounds must be timezone-aware, got {value.isoformat()}")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return f"[{end(window[0])}, {end(window[1])}) on created_at"


def provenance(
    *,
    source: str,
    window: tuple[datetime | None, datetime | None] | None = None,
    query: EventQuery | str | None = None,
    store_version: int | None = None,
    built_at: datetime | None = None,
) -> dict[str, str]:
    """Where data came from, as text: the record reports, Parquet files and store commits
    carry (:data:`PROVENANCE_KEYS`).

    Parameters
    ----------
    source
        The emulator, the API base URL or the store path; passed through
        :func:`safe_source`, so no key or credential is ever recorded.
    window
        Half-open ``(start, end)`` on ``created_at`` (timezone-aware; ``None`` ends are
        open), or ``None`` for all the data given.
    query
        The :class:`~leadping_nb.EventQuery` (or its text) the data were fetched with.
    store_version
        The version of the local store the data were read from (``""`` when not a store).
    built_at
        When the data or the report were built (default: now, UTC, whole seconds).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> p = provenance(source="https://k:KEY@api.example.com", store_version=3,
    ...                window=(datetime(2026, 5, 1, tzinfo=UTC), None),
    ...                built_at=datetime(2026, 6, 1, 12, tzinfo=UTC))
    >>> for key in ("source", "window", "query", "store_version", "built_at"):
    ...     print(f"{key}: {p[key]}")
    source: https://***@api.example.com
    window: [2026-05-01T00:00:00Z, open) on created_at
    query: none
    store_version: 3
    built_at: 2026-06-01T12:00:00Z
    """
    from leadping_nb._core.version import __version__
    from leadping_nb._http.query import describe_filters

    when = built_at if built_at is not None else datetime.now(UTC).replace(microsecond=0)
    return {
        "source": safe_source(source),
        "window": _window_text(window),
        "query": safe_source(describe_filters(query)),
        "store_version": "" if store_version is None else str(int(store_version)),
        "package_version": __version__,
        "built_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("metadata must map text to text (e.g. provenance(...))")
    return dict(metadata)


def _zone(time_zone: str) -> str:
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {time_zone!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None
    return time_zone


def _is_nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List | pl.Struct | pl.Array)


def _json_text(column: str) -> pl.Expr:
    """A nested column as compact JSON text (null stays null)."""
    wrapped = pl.struct(pl.col(column).alias("v")).struct.json_encode()
    text = wrapped.str.slice(5).str.head(-1)  # strip the '{"v":' wrapper and the '}'
    return pl.when(pl.col(column).is_not_null()).then(text).alias(column)


def to_parquet(
    df: pl.DataFrame,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write *df* to Parquet, losslessly (Decimal, UTC timestamps, nested media kept).

    ``metadata`` (e.g. :func:`provenance`) goes into the file's key-value metadata, each
    key prefixed ``leadping_nb.`` (read it with ``pl.read_parquet_metadata``).

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from decimal import Decimal
    >>> import polars as pl
    >>> from leadping_nb.reports._export import to_parquet
    >>> df = pl.DataFrame({"amount": [Decimal("0.0079")]}, schema={"amount": pl.Decimal(18, 6)})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = to_parquet(df, pathlib.Path(d) / "events.parquet")
    ...     pl.read_parquet(p).get_column("amount").to_list()
    [Decimal('0.007900')]
    """
    extra = {PROVENANCE_PREFIX + k: v for k, v in _check_metadata(metadata).items()}
    with _atomic(path) as tmp:
        df.write_parquet(tmp, metadata=extra or None)
    return Path(path)


def to_csv(df: pl.DataFrame, path: str | os.PathLike[str], *, time_zone: str = "UTC") -> Path:
    """Write *df* as CSV with exact decimals and ISO-8601 timestamps carrying their offset.

    Parameters
    ----------
    df
        Any frame; decimals, zone-aware datetimes and nested columns are treated by dtype.
    path
        Target file (written atomically).
    time_zone
        IANA zone the timestamps are shown in; each value still carries its offset.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from datetime import datetime, UTC
    >>> from decimal import Decimal
    >>> import polars as pl
    >>> from leadping_nb.reports._export import to_csv
    >>> df = pl.DataFrame(
    ...     {"at": [datetime(2026, 7, 1, 12, 0, tzinfo=UTC)], "amount": [Decimal("0.0079")]},
    ...     schema={"at": pl.Datetime("us", "UTC"), "amount": pl.Decimal(18, 6)},
    ... )
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = to_csv(df, pathlib.Path(d) / "events.csv", time_zone="Europe/Berlin")
    ...     print(p.read_text().strip())
    at,amount
    2026-07-01T14:00:00.000000+02:00,0.007900
    """
    zone = _zone(time_zone)
    exprs: list[pl.Expr] = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            exprs.append(
                col.dt.convert_time_zone(zone).dt.to_string("%Y-%m-%dT%H:%M:%S%.6f%:z").alias(name)
            )
        elif isinstance(dtype, pl.Datetime):
            exprs.append(col.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f").alias(name))
        elif _is_nested(dtype):
            exprs.append(_json_text(name))
        else:
            exprs.append(col)
    out = df.select(exprs)
    with _atomic(path) as tmp:
        out.write_csv(tmp)
    return Path(path)


def _significant_digits(value: Decimal) -> int:
    if value.is_zero():
        return 1
    return len(value.normalize().as_tuple().digits)


def _money_choice(
    series: pl.Series, money_as: Literal["auto", "number", "text"]
) -> Literal["number", "text"]:
    if money_as == "text":
        return "text"
    too_long = [v for v in series.drop_nulls().to_list() if _significant_digits(v) > EXCEL_DIGITS]
    if not too_long:
        return "number"
    if money_as == "number":
        raise ValueError(
            f"column {series.name!r} has values Excel cannot show exactly (more than "
            f"{EXCEL_DIGITS} significant digits, e.g. {too_long[0]}); use money_as='text' or "
            "'auto', or export to Parquet/CSV"
        )
    return "text"


def _money_format(dtype: pl.Decimal) -> str:
    scale = dtype.scale or 0
    if scale == 0:
        return "0"
    fixed = min(scale, 4)
    return "0." + "0" * fixed + "#" * (scale - fixed)


def to_excel(
    df: pl.DataFrame,
    path: str | os.PathLike[str],
    *,
    time_zone: str = "UTC",
    money_as: Literal["auto", "number", "text"] = "auto",
    sheet: str = "events",
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write *df* to an ``.xlsx`` workbook with honest times and no lost money digits.

    Parameters
    ----------
    df
        Any frame.
    path
        Target file (written atomically).
    time_zone
        IANA zone for wall-clock times; named in a note on each timestamp header and in the
        ``about`` sheet (the column names are those of the frame, as in the CSV).
    money_as
        ``"auto"`` (numbers when Excel can show every value exactly, else the whole column
        as text), ``"number"`` (raise if a value has more than 15 significant digits) or
        ``"text"``.
    sheet
        Name of the data worksheet.
    metadata
        Extra lines of the ``about`` sheet (e.g. :func:`provenance`), after the rules.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from datetime import datetime, UTC
    >>> from decimal import Decimal
    >>> import openpyxl, polars as pl
    >>> from leadping_nb.reports._export import to_excel
    >>> df = pl.DataFrame(
    ...     {"at": [datetime(2026, 7, 1, 12, 0, tzinfo=UTC)], "amount": [Decimal("0.0079")]},
    ...     schema={"at": pl.Datetime("us", "UTC"), "amount": pl.Decimal(18, 6)},
    ... )
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = to_excel(df, pathlib.Path(d) / "events.xlsx", time_zone="Europe/Berlin")
    ...     ws = openpyxl.load_workbook(p)["events"]
    ...     [c.value for c in ws[1]], [c.value for c in ws[2]]
    (['at', 'amount'], [datetime.datetime(2026, 7, 1, 14, 0), 0.0079])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = to_excel(df, pathlib.Path(d) / "events.xlsx", time_zone="Europe/Berlin")
    ...     book = openpyxl.load_workbook(p)
    ...     book["events"]["A1"].comment.text, dict(book["about"].iter_rows(values_only=True))["at"]
    ('wall-clock time in Europe/Berlin', 'wall-clock time in Europe/Berlin')
    """
    import xlsxwriter

    zone = _zone(time_zone)
    extra = _check_metadata(metadata)
    if money_as not in ("auto", "number", "text"):
        raise ValueError(f"money_as must be 'auto', 'number' or 'text', not {money_as!r}")
    if df.height > EXCEL_MAX_ROWS:
        raise ValueError(
            f"{df.height:,} rows do not fit in one Excel sheet (max {EXCEL_MAX_ROWS:,}); "
            "filter the frame or export to Parquet/CSV"
        )
    exprs: list[pl.Expr] = []
    formats: dict[str, str] = {}
    notes: list[tuple[str, str]] = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            aware = dtype.time_zone is not None
            value = col.dt.convert_time_zone(zone).dt.replace_time_zone(None) if aware else col
            # Excel shows milliseconds: truncate, so 23:59:59.9999 never displays as the next day.
            exprs.append(value.dt.truncate("1ms").alias(name))
            formats[name] = _EXCEL_DATETIME_FORMAT
            notes.append((name, f"wall-clock time in {zone}" if aware else "no time zone"))
        elif isinstance(dtype, pl.Decimal):
            choice = _money_choice(df.get_column(name), money_as)
            if choice == "number":
                exprs.append(col.cast(pl.Float64).alias(name))
                formats[name] = _money_format(dtype)
            else:
                exprs.append(col.cast(pl.String).alias(name))
                notes.append(
                    (name, f"exact decimal text: some values exceed {EXCEL_DIGITS} digits")
                )
        elif _is_nested(dtype):
            exprs.append(_json_text(name))
        else:
            exprs.append(col)
    out = df.select(exprs)
    with _atomic(path) as tmp:
        workbook = xlsxwriter.Workbook(str(tmp), {"remove_timezone": False})
        try:
            out.write_excel(
                workbook,
                sheet,
                column_formats=formats or None,  # type: ignore[arg-type]
                autofit=out.height <= 10_000,
                freeze_panes="A2",
            )
            _header_notes(workbook.get_worksheet_by_name(sheet), out.columns, notes)
            _about_sheet(workbook, zone, [*notes, *extra.items()])
        finally:
            workbook.close()
    return Path(path)


def _header_notes(worksheet: object, columns: list[str], notes: list[tuple[str, str]]) -> None:
    """A note (an Excel comment) on the header cell of each column in ``notes``."""
    position = {name: i for i, name in enumerate(columns)}
    comment: Callable[..., object] = worksheet.write_comment  # type: ignore[attr-defined]
    for name, text in notes:
        comment(0, position[name], text, {"x_scale": 1.6, "y_scale": 0.6})


def _about_sheet(workbook: object, zone: str, notes: list[tuple[str, str]]) -> None:
    add: Callable[[str], object] = workbook.add_worksheet  # type: ignore[attr-defined]
    ws = add("about")
    lines = [
        ("written", datetime.now().astimezone().isoformat(timespec="seconds")),
        ("time zone", f"timestamps are wall-clock times in {zone} (Excel has no time zones)"),
        (
            "timestamp precision",
            "truncated to the millisecond (Excel's limit); microseconds are in Parquet/CSV",
        ),
        (
            "money",
            f"numbers when every value has at most {EXCEL_DIGITS} significant digits "
            "(shown exactly); otherwise the column is exact text",
        ),
        *notes,
    ]
    for row, (key, text) in enumerate(lines):
        ws.write_string(row, 0, key)  # type: ignore[attr-defined]
        ws.write_string(row, 1, text)  # type: ignore[attr-defined]
