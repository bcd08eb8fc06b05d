"""``LeadPicker``: search the caller's leads as you type, pick several, paste or load ids."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any, Protocol

import ipywidgets as widgets
import polars as pl
import traitlets

from leadping_nb._core.errors import QueryError
from leadping_nb._http.query import check_lead_id
from leadping_nb.widgets._html import error_html, guarded
from leadping_nb.widgets._state import (
    Debouncer,
    InvalidId,
    Scheduler,
    check_lead_ids,
    parse_lead_ids,
    running_loop,
)

__all__ = ["LeadPicker", "LeadSource"]

log = logging.getLogger("leadping_nb.widgets")

_STYLE = {"description_width": "initial"}


class LeadSource(Protocol):
    """What the picker needs of a client: :meth:`leadping_nb.Client.leads`."""

    def leads(
        self, search: str | None = None, *, page_size: int = 100, max_leads: int | None = 500
    ) -> pl.DataFrame:
        """The caller's leads matching ``search`` (columns ``id``, ``name``, ...).

        Parameters
        ----------
        search
            Case-insensitive substring over first name, last name, e-mail and phone
            (``None``: every lead).
        page_size
            Leads per request (the picker asks for ``max_options``).
        max_leads
            Stop after this many (``None``: all); the picker asks for ``max_options``.
        """


def _label(row: dict[str, Any]) -> str:
    parts = [row.get("name") or "(no name)", row.get("email") or row.get("phone") or ""]
    return " · ".join(p for p in parts if p) + f" · {row['id']}"


class LeadPicker(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Pick leads: search as you type, multi-select, paste ids, or take a frame column.

    The search runs on the server (``POST /leads/all/my`` with ``search``), debounced,
    and shows at most ``max_options`` leads; results of an older text are dropped. The
    selection (:attr:`value`) survives new searches: leads picked under one search stay
    selected while another is shown. Pasted ids and ids from a DataFrame are checked
    (:func:`leadping_nb.check_lead_id`), and, once the whole lead list has been seen,
    against it; rejected ids are listed inline, never raised.

    Parameters
    ----------
    client
        Anything with :meth:`leadping_nb.Client.leads`.
    max_options
        At most this many leads are listed (a select with thousands of options is slow to
        sync and render).
    debounce
        Seconds the search text must rest before the search runs (on the kernel's event
        loop; without a running loop the search runs at once).
    scheduler
        Injected scheduler (``call_later(delay, fn)``), for tests.
    value
        Initially selected lead ids.
    layout
        The box's :class:`ipywidgets.Layout` (default: a new one), as for any
        ipywidgets box.

    Examples
    --------
    >>> from leadping_nb.emulator import Emulator
    >>> emu = Emulator(seed=1, n_leads=5)
    >>> picker = LeadPicker(emu.client())
    >>> [bad.value for bad in picker.paste("lead_0001, lead_0002, ../etc")]
    ['../etc']
    >>> picker.value
    ('lead_0001', 'lead_0002')
    """

    value = traitlets.Tuple(help="Selected lead ids, in the order they were picked.")

    def __init__(
        self,
        client: LeadSource,
        *,
        max_options: int = 500,
        debounce: float = 0.3,
        scheduler: Scheduler | None = None,
        value: Sequence[str] = (),
        layout: widgets.Layout | None = None,
    ) -> None:
        if not 1 <= max_options <= 1000:
            raise ValueError(f"max_options must be 1-1000, got {max_options}")
        self.search = widgets.Text(
            description="Search leads",
            placeholder="name, e-mail or phone",
            continuous_update=True,
            style=_STYLE,
            layout={"width": "100%"},
        )
        self.options = widgets.SelectMultiple(options=[], rows=8, layout={"width": "100%"})
        self.options.add_class("lp-picker-options")
        self.status = widgets.HTML()
        self.paste_box = widgets.Textarea(
            placeholder="Paste lead ids (comma, space or line separated)",
            rows=2,
            layout=widgets.Layout(width="70%"),
        )
        self.add_button = widgets.Button(description="Add ids", icon="plus")
        self.clear_button = widgets.Button(description="Clear selection", icon="times")
        self.count = widgets.HTML()
        self.count.add_class("lp-picker-count")
        self.invalid_html = widgets.HTML()
        self.invalid_html.add_class("lp-picker-invalid")
        super().__init__(
            children=[
                self.search,
                self.options,
                self.status,
                widgets.HBox([self.paste_box, self.add_button, self.clear_button]),
                self.invalid_html,
                self.count,
            ],
            layout=layout or widgets.Layout(),
        )
        self.add_class("lp-lead-picker")
        self._client = client
        self.max_options = max_options
        self.invalid: tuple[InvalidId, ...] = ()
        self.lookups = 0
        self._labels: dict[str, str] = {}
        self._all_ids: frozenset[str] | None = None
        self._updating = False
        self._debouncer = Debouncer(self._start_lookup, debounce, scheduler)
        self._scheduler = scheduler
        self.search.observe(self._guard(self._on_text), names="value")
        self.options.observe(self._guard(self._on_options), names="value")
        self.observe(self._guard(self._on_value), names="value")
        self.add_button.on_click(self._guard(lambda _b: self._paste_clicked()))
        self.clear_button.on_click(self._guard(lambda _b: self.clear()))
        self._run_lookup("")
        if value:
            self.add_ids(value)
        self._render_count()

    # ------------------------------------------------------------------ callbacks

    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Run a callback; show any exception inline (never in the log console)."""
        return guarded(fn, lambda html: setattr(self.status, "value", html), "lead picker")

    def _on_text(self, change: dict[str, Any]) -> None:
        self._debouncer(str(change["new"]).strip())

    def _start_lookup(self, text: str) -> None:
        if text != self.search.value.strip():
            return  # the text moved on while we waited
        loop = running_loop()
        if loop is None or self._scheduler is not None:
            self._run_lookup(text)
            return
        self.status.value = "Searching…"
        future = loop.run_in_executor(None, self._lookup, text)
        future.add_done_callback(lambda f: self._finish(text, f))

    def _finish(self, text: str, future: concurrent.futures.Future[pl.DataFrame] | Any) -> None:
        try:
            frame = future.result()
        except Exception as exc:
            log.debug("lead search failed", exc_info=True)
            if text == self.search.value.strip():
                self.status.value = error_html(f"Search failed: {type(exc).__name__}: {exc}")
            return
        self._guard(self._apply)(text, frame)

    def _run_lookup(self, text: str) -> None:
        try:
            frame = self._lookup(text)
        except Exception as exc:
            log.debug("lead search failed", exc_info=True)
            self.status.value = error_html(f"Search failed: {type(exc).__name__}: {exc}")
            return
        self._apply(text, frame)

    def _lookup(self, text: str) -> pl.DataFrame:
        self.lookups += 1
        return self._client.leads(
            text or None, max_leads=self.max_options, page_size=self.max_options
        )

    def _apply(self, text: str, frame: pl.DataFrame) -> None:
        if text != self.search.value.strip():
            return  # an answer to an older text: drop it
        rows = frame.head(self.max_options).to_dicts()
        pairs = [(_label(r), str(r["id"])) for r in rows if r.get("id")]
        self._labels.update((i, label) for label, i in pairs)
        if not text and len(rows) < self.max_options:
            self._all_ids = frozenset(i for _, i in pairs)
        self._updating = True
        try:
            self.options.options = pairs
            shown = {i for _, i in pairs}
            self.options.value = tuple(v for v in self.value if v in shown)
        finally:
            self._updating = False
        if not pairs:
            self.status.value = f"No lead matches {text!r}." if text else "You have no leads."
        elif len(pairs) >= self.max_options:
            self.status.value = (
                f"Showing the first {len(pairs):,} leads; type to narrow the search."
            )
        else:
            what = f"matching {escape(repr(text))}" if text else "in total"
            self.status.value = f"{len(pairs):,} leads {what}."

    def _on_options(self, change: dict[str, Any]) -> None:
        if self._updating:
            return
        shown = {v for _, v in self.options.options}
        picked = list(change["new"])
        kept = [v for v in self.value if v not in shown or v in picked]
        self.value = tuple(kept + [v for v in picked if v not in kept])

    def _on_value(self, change: dict[str, Any]) -> None:
        shown = {v for _, v in self.options.options}
        visible = tuple(v for v in change["new"] if v in shown)
        if set(visible) != set(self.options.value):
            self._updating = True
            try:
                self.options.value = visible
            finally:
                self._updating = False
        self._render_count()

    @traitlets.validate("value")
    def _check_value(self, proposal: dict[str, Any]) -> tuple[str, ...]:
        out: list[str] = []
        for v in proposal["value"]:
            try:
                lead = check_lead_id(v)
            except QueryError as exc:
                raise traitlets.TraitError(str(exc)) from exc
            if lead not in out:
                out.append(lead)
        return tuple(out)

    def _paste_clicked(self) -> None:
        self.paste(self.paste_box.value)

    def _render_count(self) -> None:
        n = len(self.value)
        if not n:
            self.count.value = "<b>0</b> leads selected"
            return
        names = [escape(self._labels.get(v, v)) for v in self.value[:8]]
        more = f" and {n - 8} more" if n > 8 else ""
        self.count.value = (
            f'<b data-selected="{n}">{n}</b> lead{"s" if n != 1 else ""} selected: '
            + "; ".join(names)
            + more
        )

    # ------------------------------------------------------------------ public API

    def set_search(self, text: str) -> None:
        """Type ``text`` into the search box (the search follows, debounced)."""
        self.search.value = text

    def add_ids(self, ids: Iterable[object]) -> list[InvalidId]:
        """Add lead ids to the selection; return (and show inline) the rejected ones."""
        known = None if self._all_ids is None else self._all_ids.__contains__
        ok, bad = check_lead_ids(ids, known=known)
        self.value = tuple(self.value) + tuple(v for v in ok if v not in self.value)
        self.invalid = tuple(bad)
        self._render_invalid()
        return bad

    def paste(self, text: str) -> list[InvalidId]:
        """Add the ids in pasted text; rejected ones stay in the paste box and are listed."""
        bad = self.add_ids(parse_lead_ids(text))
        self.paste_box.value = "\n".join(b.value for b in bad)
        return bad

    def add_from(
        self, data: pl.DataFrame | pl.Series | Sequence[object], column: str | None = None
    ) -> list[InvalidId]:
        """Add the ids of a DataFrame column (default ``lead_id``, else ``id``) or a Series.

        Raises
        ------
        ValueError
            When the frame has no such column.
        """
        if isinstance(data, pl.DataFrame):
            name = column or next((c for c in ("lead_id", "id") if c in data.columns), None)
            if name is None or name not in data.columns:
                raise ValueError(
                    f"no column {column or 'lead_id/id'!r} in the frame; "
                    f"columns: {', '.join(data.columns)}"
                )
            values: Iterable[object] = data.get_column(name).to_list()
        elif isinstance(data, pl.Series):
            values = data.to_list()
        else:
            values = list(data)
        return self.add_ids(values)

    def clear(self) -> None:
        """Deselect every lead and forget rejected ids."""
        self.value = ()
        self.invalid = ()
        self._render_invalid()

    def _render_invalid(self) -> None:
        if not self.invalid:
            self.invalid_html.value = ""
            return
        items = "".join(
            f"<li><code>{escape(b.value)}</code>: {escape(b.reason)}</li>" for b in self.invalid
        )
        n = len(self.invalid)
        self.invalid_html.value = (
            f'<div class="lp-error" style="color:#b00020">{n} id{"s" if n != 1 else ""} '
            f"not added:<ul style='margin:0'>{items}</ul></div>"
        )
