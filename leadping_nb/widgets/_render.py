"""``FigureRenderer``: the explorer's figure tabs, drawn on one worker thread.

Newest request first: each :meth:`FigureRenderer.invalidate` (a new view) makes the
drawings asked for before it moot, so a figure that was superseded before its turn is
not drawn, and one drawn meanwhile is kept in the cache but not shown. Drawn outputs are
cached per (cache, tab, filter state, leads), the 32 most recent. A default tab is drawn
from the cache's cube into the tab's reusable :class:`~leadping_nb.figures.FigurePanel`
(fixed layout, one artist per bar series); any other spec is called with the matching
events and its Figure rendered as it is.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from leadping_nb.widgets._figures import FigureSpec, _MetricFigure
from leadping_nb.widgets._html import error_html, figure_output, log, note_html, png_output

if TYPE_CHECKING:
    from leadping_nb.figures import FigurePanel
    from leadping_nb.widgets._cache import Selection

__all__ = ["FigureRenderer"]

_FIGURE_CACHE = 32


class FigureRenderer:
    """One :class:`ipywidgets.Output` per figure spec in a :class:`ipywidgets.Tab`, a
    status line, and the thread, cache and panels that fill them.

    Parameters
    ----------
    specs
        The figure tabs.
    lock
        The explorer's lock: it orders every view update.
    dpi
        Resolution of the figure images.
    background
        Draw on the worker thread (default) or inline (tests, benchmarks).
    """

    def __init__(
        self, specs: Sequence[FigureSpec], *, lock: threading.RLock, dpi: int, background: bool
    ) -> None:
        self.specs = list(specs)
        self.dpi = dpi
        self.background = background
        self._lock = lock
        self.status = widgets.HTML()
        self.status.add_class("lp-figure-status")
        self.outputs = [widgets.Output() for _ in self.specs]
        for spec, out in zip(self.specs, self.outputs, strict=True):
            out.add_class(f"lp-figure-{spec.key}")
        self.tabs = widgets.Tab(children=self.outputs, titles=[s.title for s in self.specs])
        self.tabs.add_class("lp-figures")
        self.panels: dict[str, FigurePanel] = {}  # spec key -> panel (figure thread only)
        self._generation = 0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._futures: list[concurrent.futures.Future[None]] = []
        self._cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._shown: list[Selection | None] = [None] * len(self.specs)

    def invalidate(self) -> None:
        """A new view is asked for: drawings asked for so far are superseded."""
        self._generation += 1

    def forget_shown(self) -> None:
        """The new view differs: no tab shows it yet."""
        self._shown = [None] * len(self.specs)

    def clear_cache(self) -> None:
        """Forget the drawn figures (new cached events)."""
        self._cache.clear()

    def shows(self, index: int, selection: Selection) -> bool:
        """Whether tab ``index`` shows ``selection`` already."""
        return self._shown[index] is selection

    def draw(self, index: int, selection: Selection) -> None:
        """Draw figure ``index`` for ``selection`` (cached per state; newest request
        wins). Call under the explorer's lock."""
        spec = self.specs[index]
        key = (id(selection.cache), spec.key, selection.state, selection.leads)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.outputs[index].outputs = (cached,)
            self._shown[index] = selection
            return
        generation = self._generation
        self.status.value = note_html(f"Drawing {escape(spec.title)}…")

        def draw() -> None:
            if generation != self._generation:
                return  # a newer view was asked for
            try:
                output = self.render(spec, selection)
            except Exception as exc:
                log.debug("figure %s failed", spec.key, exc_info=True)
                with self._lock:
                    if generation == self._generation:
                        self.status.value = error_html(
                            f"{spec.title} could not be drawn: {type(exc).__name__}: {exc}"
                        )
                return
            with self._lock:
                self._cache[key] = output
                while len(self._cache) > _FIGURE_CACHE:
                    self._cache.popitem(last=False)
                if generation == self._generation:
                    self.outputs[index].outputs = (output,)
                    self._shown[index] = selection
                    self.status.value = ""

        if not self.background:
            draw()
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="leadping-figures"
            )
        future = self._executor.submit(draw)
        self._futures = [f for f in self._futures if not f.done()] + [future]

    def render(self, spec: FigureSpec, selection: Selection) -> dict[str, Any]:
        """The ``display_data`` output of figure ``spec`` for ``selection`` (on the
        figure thread)."""
        build = spec.build
        if isinstance(build, _MetricFigure) and build.fast:
            from leadping_nb.figures import FigurePanel

            panel = self.panels.get(spec.key)
            if panel is None:
                panel = FigurePanel.for_figure(build.name, dpi=self.dpi)
                self.panels[spec.key] = panel
            build.draw_view(selection, panel.clear())
            return png_output(panel.png(), alt=spec.title)
        figure = build(selection.events(), selection.state.time_zone)
        return figure_output(figure, dpi=self.dpi, alt=spec.title)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every figure asked for so far is drawn."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                return
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            _done, not_done = concurrent.futures.wait(pending, timeout=left)
            if not_done:
                raise TimeoutError(f"figures not drawn within {timeout} s")

    def close(self) -> None:
        """Stop the figure thread (drawings not started are dropped)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.panels.clear()
