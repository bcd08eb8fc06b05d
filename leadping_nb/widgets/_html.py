"""The HTML the widgets show, built in one place (every value escaped), and their outputs.

Small builders, one per fragment: inline errors and notes, the explorer's headings,
fetch progress, the failed and empty lead panels, the "needs a refetch" notice, event
rows as a table or as grid text, and ``display_data`` outputs of figures. The class names
(``lp-*``) and ``data-*`` attributes are what the browser tests and styles select.
:func:`guarded` wraps a widget callback so that an exception is shown, never raised.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING, Any

import polars as pl

from leadping_nb._core.format import money_texts

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from leadping_nb._client import FetchProgress, FetchResult

__all__ = [
    "LeadProgress",
    "cancelled_html",
    "caption_html",
    "empty_html",
    "error_html",
    "failed_html",
    "fetched_html",
    "figure_output",
    "grid_frame",
    "guarded",
    "header_html",
    "heading_html",
    "kpi_cards_html",
    "lead_table_html",
    "note_html",
    "png_output",
    "progress_html",
    "rows_html",
    "stale_html",
    "table_html",
]

log = logging.getLogger("leadping_nb.widgets")
NOTE = "font-size:.85em;color:#555"


def guarded(fn: Callable[..., Any], show: Callable[[str], None], what: str) -> Callable[..., None]:
    """``fn`` as a widget callback: an exception is logged at debug level and shown as
    :func:`error_html` through ``show`` (a callback must never raise into the void)."""

    def run(*args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            log.debug("%s callback failed", what, exc_info=True)
            show(error_html(f"{type(exc).__name__}: {exc}"))

    return run


def error_html(message: str) -> str:
    """An inline error line (escaped).

    Examples
    --------
    >>> error_html("<no>")
    '<span class="lp-error" style="color:#b00020">&lt;no&gt;</span>'
    """
    return f'<span class="lp-error" style="color:#b00020">{escape(message)}</span>'


def note_html(html: str) -> str:
    """A small grey note around ``html`` (already escaped markup)."""
    return f'<span style="{NOTE}">{html}</span>'


def heading_html(text: str) -> str:
    """A step heading of the explorer."""
    return f"<h4 style='margin:.6em 0 .2em'>{escape(text)}</h4>"


def header_html(title: str | None, base_url: str) -> str:
    """The explorer's title (none for ``None``), the API root, and the figure style
    (figures as wide as the explorer: their PNGs are drawn at ``figure_dpi``)."""
    heading = f"<h3 style='margin:.2em 0'>{escape(title)}</h3>" if title else ""
    return (
        "<style>.lp-explorer .lp-figures .widget-output img"
        "{width:100%;max-width:1400px;height:auto}</style>"
        f"{heading}<span style='{NOTE}'>API: {escape(base_url)}</span>"
    )


@dataclass
class LeadProgress:
    """One lead's progress in a fetch, as the explorer shows it."""

    pages: int = 0
    events: int = 0
    finished: bool = False
    error: str | None = None


def progress_html(p: FetchProgress) -> str:
    """The counters line of a fetch (``data-pages`` / ``data-events`` for tests)."""
    failed = f", {p.leads_failed} failed" if p.leads_failed else ""
    return (
        f'<span data-pages="{p.pages}" data-events="{p.events}">'
        f"{p.leads_done}/{p.leads_total} leads{failed} · {p.pages:,} pages · "
        f"{p.events:,} events</span>"
    )


def lead_table_html(leads: Mapping[str, LeadProgress]) -> str:
    """Pages and events per lead; with more than 30 leads, only those running or failed.

    Examples
    --------
    >>> html = lead_table_html({"lead_1": LeadProgress(3, 120, True), "lead_2": LeadProgress()})
    >>> "✓ done" in html, "waiting" in html
    (True, True)
    """
    rows = []
    for lead_id, s in leads.items():
        if len(leads) > 30 and s.finished and s.error is None:
            continue  # many leads: list only those running or failed
        mark = "✗ failed" if s.error else ("✓ done" if s.finished else "… running")
        if not s.finished and not s.pages:
            mark = "waiting"
        rows.append(
            f"<tr><td><code>{escape(lead_id)}</code></td><td>{s.pages:,}</td>"
            f"<td>{s.events:,}</td><td>{mark}</td></tr>"
        )
    return (
        "<table class='lp-lead-table' style='font-size:.85em'><tr><th>lead</th>"
        "<th>pages</th><th>events</th><th></th></tr>" + "".join(rows) + "</table>"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def cancelled_html(elapsed: float, totals: FetchProgress | None, *, kept: bool) -> str:
    """The status after a cancelled fetch (what was fetched and discarded)."""
    got = f"{totals.pages:,} pages, {totals.events:,} events" if totals else "nothing"
    more = " The earlier data are still shown." if kept else ""
    return (
        f'<span class="lp-cancelled">Cancelled after {elapsed:.1f} s '
        f"({got} fetched, discarded).{more}</span>"
    )


def fetched_html(events: int, ok: int, leads: int, elapsed: float, empty: int) -> str:
    """The status after a fetch: events from how many of the leads, how long."""
    none = f"; {empty} returned no events" if empty else ""
    return (
        f'<span class="lp-fetched">Fetched {events:,} events from {ok} of {leads} leads '
        f"in {elapsed:.2f} s{none}.</span>"
    )


def empty_html(empty: Sequence[str]) -> str:
    """The leads that returned no events: an unknown id looks the same (the API answers
    it with an empty page, not 404), so they are named."""
    if not empty:
        return ""
    n = len(empty)
    shown = ", ".join(f"<code>{escape(lead)}</code>" for lead in empty[:50])
    more = f" and {n - 50} more" if n > 50 else ""
    return (
        f'<div class="lp-empty-panel" style="border-left:3px solid #b58900;'
        f'padding-left:.5em"><b>{_plural(n, "lead")} returned no events</b>: '
        f'{shown}{more} <span style="{NOTE}">(unknown ids? the API answers an unknown '
        "lead with an empty page, not 404; or nothing matched the filters)</span></div>"
    )


def failed_html(result: FetchResult) -> str:
    """The leads that failed, with their errors and the pages fetched before."""
    if not result.errors:
        return ""
    failed = result.status.filter(~pl.col("ok"))
    rows = "".join(
        f"<tr><td><code>{escape(r['lead_id'])}</code></td>"
        f"<td>{escape(str(r['error_type']))}</td><td>{escape(str(r['error']))}</td>"
        f"<td>{r['pages']}</td></tr>"
        for r in failed.iter_rows(named=True)
    )
    return (
        f'<div class="lp-failed-panel" style="border-left:3px solid #b00020;'
        f'padding-left:.5em"><b>{_plural(failed.height, "lead")} failed</b> '
        f'<span style="{NOTE}">(their events are not included)</span>'
        "<table style='font-size:.85em'><tr><th>lead</th><th>error</th><th>message</th>"
        f"<th>pages before the error</th></tr>{rows}</table></div>"
    )


def stale_html(reasons: Sequence[str]) -> str:
    """Why the cached events may miss some of the view's, and that Fetch gets them."""
    items = "".join(f"<li>{escape(r)}</li>" for r in reasons)
    return (
        '<div class="lp-stale" style="border-left:3px solid #e69500;'
        'padding-left:.5em">The cached events were fetched with narrower '
        "filters, so this view may miss events. Press <b>Fetch</b> to fetch "
        f"them:<ul style='margin:0'>{items}</ul></div>"
    )


def caption_html(caption: str) -> str:
    """The events table's caption (how many rows, order, zone)."""
    return f'<div class="lp-table" style="{NOTE}">{escape(caption)}</div>'


def kpi_cards_html(items: Sequence[tuple[str, str, str]], detail: str) -> str:
    """KPI cards of ``(key, label, text)``, each value with ``data-kpi="<key>"``, and a
    detail line under them."""
    cards = "".join(
        f'<div class="lp-kpi" style="display:inline-block;min-width:9em;margin:0 1.2em '
        f'.4em 0"><div style="font-size:.8em;color:#555">{escape(label)}</div>'
        f'<div data-kpi="{key}" style="font-size:1.5em;font-weight:600">{escape(text)}'
        "</div></div>"
        for key, label, text in items
    )
    return (
        f'<div class="lp-kpis">{cards}<div style="font-size:.8em;color:#555">'
        f"{escape(detail)}</div></div>"
    )


def table_html(caption: str, table: pl.DataFrame) -> str:
    """A caption and the rows of ``table`` (:func:`rows_html`; none when it is empty)."""
    rows = rows_html(table) if table.height else ""
    return f'<div class="lp-table"><div style="{NOTE}">{escape(caption)}</div>{rows}</div>'


def _cell(value: object) -> str:
    if value is None:
        return '<span style="color:#999">—</span>'
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return format(value, "f")
    return escape(str(value))


def rows_html(frame: pl.DataFrame) -> str:
    """A plain HTML table of a small frame (every row; nulls as a dash).

    Examples
    --------
    >>> html = rows_html(pl.DataFrame({"a": ["<b>", None]}))
    >>> html.count("<tr>"), "&lt;b&gt;" in html, "—" in html
    (3, True, True)
    """
    head = "".join(f"<th>{escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in frame.rows()
    )
    return f'<table class="lp-rows"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def grid_frame(table: pl.DataFrame) -> pl.DataFrame:
    """``table`` as text for an interactive grid: times as ``YYYY-MM-DD HH:MM:SS`` (in
    the zone they carry), money as its exact text (:func:`~leadping_nb._core.format.money_texts`:
    the same decimals down a column, at least 4; never a float),
    everything else as text; a null is ``—``.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> t = pl.DataFrame(
    ...     {"created_at": [datetime(2026, 7, 1, 12, tzinfo=UTC), None],
    ...      "billable_amount": [Decimal("0.007900"), None], "retry_count": [2, None]},
    ...     schema={"created_at": pl.Datetime("us", "UTC"),
    ...             "billable_amount": pl.Decimal(18, 6), "retry_count": pl.Int32},
    ... )
    >>> grid_frame(t).rows()
    [('2026-07-01 12:00:00', '0.0079', '2'), ('—', '—', '—')]
    """
    columns: list[pl.Series] = []
    for name, dtype in table.schema.items():
        series = table.get_column(name)
        if isinstance(dtype, pl.Decimal):
            texts = money_texts(series.to_list())
            columns.append(pl.Series(name, texts, dtype=pl.String))
        elif isinstance(dtype, pl.Datetime):
            columns.append(series.dt.strftime("%Y-%m-%d %H:%M:%S").fill_null("—"))
        else:
            columns.append(series.cast(pl.String).fill_null("—"))
    return pl.DataFrame(columns, schema=dict.fromkeys(table.columns, pl.String))


def png_output(png: bytes, *, alt: str = "") -> dict[str, Any]:
    """A ``display_data`` output of PNG bytes (base64), for ``Output.outputs``."""
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(png).decode("ascii"),
            "text/plain": f"<Figure: {alt}>",
        },
        "metadata": {},
    }


def figure_output(fig: Figure, *, dpi: int = 72, alt: str = "") -> dict[str, Any]:
    """A ``display_data`` output (PNG, base64) of a Figure, for ``Output.outputs``.

    The figure is drawn once and not kept: it is a plain ``Figure`` (no pyplot), so it is
    garbage-collected with its last reference.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return png_output(buf.getvalue(), alt=alt)
