"""A batch of parsed pages as one raw frame: explode, kept unknown columns, and the checks
no mode may null (an item without ``id``, an event of another lead)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from leadping_nb._core.errors import SchemaError
from leadping_nb._frame.page import _RAW_ITEM_SCHEMA, ParsedPage, _kept_name, _shown, _where


class _NullItemError(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


def _raw_rows(pages: Sequence[ParsedPage]) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The pages' items as one frame with every declared raw column, in page order, then
    the undeclared keys the pages were read with (``String``; returned as the second value).

    Pages read with the same keys (:class:`~leadping_nb._frame.page.ReadKeys`) are exploded
    together; columns a page was not read with are null. Sets each page's ``n_items``.
    Raises ``_NullItemError(index)`` when a page has a null item (a malformed page).
    """
    runs: list[tuple[int, list[ParsedPage]]] = []
    extra: dict[str, None] = {}
    for index, page in enumerate(pages):
        extra.update(dict.fromkeys(page.extra))
        head = runs[-1][1][0] if runs else None
        if head is not None and head.read == page.read and head.extra == page.extra:
            runs[-1][1].append(page)
        else:
            runs.append((index, [page]))
    extra_dtypes = dict.fromkeys(extra, pl.String())
    frames = []
    for first, run in runs:
        # One contiguous list array first: exploding it is then a slice of its values,
        # where exploding the chunked concat pays per page and per field (2-3x on pages of
        # 100; bench/frame.py --probe).
        lists = run[0].items if len(run) == 1 else pl.concat([p.items for p in run], rechunk=True)
        for page, n in zip(run, lists.list.len().to_list(), strict=True):
            page.n_items = n
        exploded = lists.explode()
        if exploded.null_count():
            for index, page in enumerate(run, start=first):
                if page.items.explode().null_count():
                    raise _NullItemError(index)
        frame = exploded.struct.unnest()
        read, read_extra = run[0].read, run[0].extra
        if read is not None or read_extra != tuple(extra):
            frame = frame.select(
                pl.col(k)
                if (k in read_extra if k in extra_dtypes else read is None or k in read)
                else pl.lit(None, dtype).alias(k)
                for k, dtype in {**_RAW_ITEM_SCHEMA, **extra_dtypes}.items()
            )
        frames.append(frame)
    return (frames[0] if len(frames) == 1 else pl.concat(frames)), tuple(extra)


def _kept_columns(
    raw: pl.DataFrame,
    pages: Sequence[ParsedPage],
    unknown: Sequence[tuple[str, ...]],
    counted: set[int],
) -> list[pl.Series]:
    """The kept unknown columns of a batch (``keep_unknown=True``), in first-seen order.

    Pages whose unknown fields were proved by the key count (``counted``) take their values
    from the extra columns they were read with; the others from their exact scan
    (``ParsedPage.kept``).
    """
    names: dict[str, str | None] = {}  # kept name -> extra column (None: scanned only)
    for index, page in enumerate(pages):
        if index in counted:
            for extra_key in unknown[index]:
                names[_kept_name(extra_key)] = extra_key  # a scanned page's name keeps its place
        else:
            for kept_name in page.kept:
                names.setdefault(kept_name, None)
    columns = []
    for name, key in names.items():
        parts: list[pl.Series] = []
        start = run_start = 0
        for index, page in enumerate(pages):
            n = page.n_items
            if index not in counted:
                if start > run_start:  # the counted pages before this one
                    parts.append(_extra_slice(raw, key, run_start, start - run_start))
                parts.append(pl.Series(name, page.kept.get(name, [None] * n), dtype=pl.String))
                run_start = start + n
            start += n
        if start > run_start:
            parts.append(_extra_slice(raw, key, run_start, start - run_start))
        column = parts[0] if len(parts) == 1 else pl.concat(parts, rechunk=True)
        columns.append(column.alias(name))
    return columns


def _extra_slice(raw: pl.DataFrame, key: str | None, start: int, n: int) -> pl.Series:
    if key is None or key not in raw.columns:
        return pl.Series(values=[None] * n, dtype=pl.String)
    return raw.get_column(key).slice(start, n)


def _page_of_row(pages: Sequence[ParsedPage], row: int) -> tuple[ParsedPage, int]:
    """The page a row of a batch comes from, and the row's index in that page's items."""
    start = 0
    for page in pages:
        if row < start + page.n_items:
            return page, row - start
        start += page.n_items
    raise AssertionError(f"row {row} is beyond the batch")  # pragma: no cover


def _integrity_errors(
    raw: pl.DataFrame, pages: Sequence[ParsedPage]
) -> list[tuple[int, SchemaError]]:
    """Errors in both modes, by row of the batch: an item without ``id``, and an item whose
    ``leadId`` is not the lead its page was requested for (pages with a ``lead_id``).

    Neither can be nulled: an event without an id cannot be stored or de-duplicated, and
    an event of another lead would be counted for the requested one.
    """
    errors: list[tuple[int, SchemaError]] = []
    ids = raw.get_column("id")
    if ids.null_count():
        row = int(ids.is_null().arg_true()[0])
        page, index = _page_of_row(pages, row)
        lead = page.lead_id if page.lead_id is not None else raw.get_column("leadId")[row]
        errors.append(
            (
                row,
                SchemaError(
                    f"an event has no id (null or missing){_where(lead, page.page, item=index)}: "
                    "an event without an id cannot be stored or de-duplicated, so this is an "
                    "error also with lenient=True",
                    field="id",
                    value=None,
                    lead_id=lead,
                    page=page.page,
                ),
            )
        )
    leads = raw.get_column("leadId")
    wanted = [p.lead_id for p in pages]
    if leads.null_count() < raw.height and any(w is not None for w in wanted):
        if all(w == wanted[0] for w in wanted):
            other = leads != wanted[0]
        else:
            per_row = pl.Series(wanted, dtype=pl.String).repeat_by(
                pl.Series([p.n_items for p in pages], dtype=pl.UInt32)
            )
            other = leads != per_row.explode(empty_as_null=False)
        if other.any():  # nulls (no leadId, or no lead asked for) are not another lead
            row = int(other.fill_null(False).arg_true()[0])
            page, index = _page_of_row(pages, row)
            value = leads[row]
            event_id = ids[row]
            errors.append(
                (
                    row,
                    SchemaError(
                        f"an event of lead {_shown(value)!r} is on a page of lead "
                        f"{_shown(page.lead_id or '')!r}"
                        f"{_where(page.lead_id, page.page, event_id, index)}: the answer is "
                        "not for the lead asked for (an error also with lenient=True)",
                        field="leadId",
                        value=_shown(value),
                        lead_id=page.lead_id,
                        page=page.page,
                        event_id=event_id,
                    ),
                )
            )
    return errors
