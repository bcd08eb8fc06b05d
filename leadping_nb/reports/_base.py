"""The building blocks of :mod:`leadping_nb.reports`: value objects, formatting, rendering.

:class:`FootingError`, :class:`Column`, :class:`KPI`, :class:`ReportTable`,
:class:`ReportMeta` and :func:`describe_filters` (public through
:mod:`leadping_nb.reports`, which re-exports them); the exact formatting of values; the
Jinja2 environment, the PNG embedding and the atomic write; :class:`_ReportBase`, the
rendering both reports share (the window and meta helpers are in ``_inputs``).
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import polars as pl

from leadping_nb import metrics as m
from leadping_nb._core.errors import LeadpingError
from leadping_nb._core.format import fmt_count as _fmt_count
from leadping_nb._core.format import fmt_duration as _fmt_duration
from leadping_nb._core.format import fmt_number as _fmt_number
from leadping_nb._core.format import fmt_rate as _fmt_rate
from leadping_nb._core.format import money_texts as _money_texts

if TYPE_CHECKING:
    import jinja2
    from matplotlib.figure import Figure

ColumnKind = Literal["label", "count", "rate", "ms", "money", "number"]
#: A window as ``(start, end)`` instants (``None``: open).
WindowBounds = tuple[datetime | None, datetime | None]
FrameLike = pl.DataFrame | pl.LazyFrame

_MAX_LEADS_SHOWN = 500
_FIG_DPI = 100


class FootingError(LeadpingError):
    """A report table's parts do not add up to its total (a bug, never rounding)."""


# ---------------------------------------------------------------------------------------
# value objects


@dataclass(frozen=True)
class Column:
    """One column of a :class:`ReportTable`.

    Parameters
    ----------
    name
        Column name in the table frame.
    label
        Header text, with the unit.
    kind
        ``label`` (the row key), ``count``, ``rate`` (a 0-1 Float64 shown in percent),
        ``ms`` (milliseconds, shown with a unit by ``_fmt_duration``), ``money`` (exact
        Decimal) or ``number``.
    foots
        The parts must add up exactly to the total row in this column.
    """

    name: str
    label: str
    kind: ColumnKind
    foots: bool = False


@dataclass(frozen=True)
class KPI:
    """A headline number of a report.

    ``value`` is exactly what the metrics returned (an ``int``, a ``float`` rate or
    milliseconds, a ``Decimal`` amount, or ``None`` when undefined); ``text`` is how the
    report shows it.
    """

    key: str
    label: str
    value: int | float | Decimal | None
    text: str
    note: str = ""


@dataclass(frozen=True)
class ReportTable:
    """A table of a report: the parts and, optionally, a total row that they foot to.

    ``rows`` has one String ``label`` column first (periods already written in the
    report's time zone), then the columns of :attr:`columns`. ``total`` is one row with
    the same columns, aggregated separately from the parts (the ungrouped re-aggregation
    of the report's metrics result); building the table checks that every column marked
    ``foots`` adds up exactly and raises :class:`FootingError` otherwise.
    """

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: pl.DataFrame
    total: pl.DataFrame | None = None
    note: str = ""

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if self.rows.columns != names:
            raise ValueError(f"table {self.key}: rows have {self.rows.columns}, expected {names}")
        if self.total is not None:
            if self.total.columns != names or self.total.height != 1:
                raise ValueError(f"table {self.key}: total must be one row with {names}")
            self.verify()

    def verify(self) -> None:
        """Check that the parts add up exactly to the total in every footing column."""
        if self.total is None:
            return
        for col in self.columns:
            if not col.foots:
                continue
            parts = self.rows[col.name].drop_nulls().to_list()
            whole = self.total[col.name].item()
            added: int | Decimal = sum(parts, Decimal(0) if col.kind == "money" else 0)
            if whole is None or added != whole:
                raise FootingError(
                    f"table {self.key!r}, column {col.name!r}: the parts add up to {added}, "
                    f"the total is {whole}"
                )

    def frame(self, *, with_total: bool = True) -> pl.DataFrame:
        """The table as one frame, with the total row last (``label == "Total"``)."""
        if self.total is None or not with_total:
            return self.rows
        return pl.concat([self.rows, self.total], how="vertical_relaxed")


@dataclass(frozen=True)
class ReportMeta:
    """What a report covers.

    Attributes
    ----------
    title
        The report's title.
    window
        The requested half-open window ``[start, end)`` on ``created_at`` (UTC; either
        end may be open), or ``None`` for all the data given.
    first_event, last_event
        ``created_at`` of the first and last event in the report (None when empty).
    leads
        The leads the report is about (as requested, or those present in the data).
    filters
        The query filters the data were fetched with, as text.
    time_zone
        IANA zone of every date in the report (periods are local days/weeks/months).
    every
        The period of the time tables and figures.
    include_warmup, include_test, include_demo
        Whether warm-up / test / demo traffic counts (:attr:`scope`).
    exclusions
        One row per metric with ``n_events``, ``n_used``, ``n_excluded`` (from
        :attr:`leadping_nb.metrics.MetricsSummary.counts`).
    n_events, n_outside_window, n_warmup, n_test, n_demo
        Events in the report, events of the input dropped by the window, warm-up, test
        and demo events in the report (each event counted under its first kind, in this
        order).
    produced_at, as_of
        When the report was built (UTC), and the instant used for pending retries.
    source
        Where the data came from (API base URL, store path, emulator seed), with any
        credential, URL query string or key removed (``_export.safe_source``).
    store_version
        The version of the local store the data were read from (None: not a store).
    package_version
        The ``leadping_nb`` version that built the report.
    currency
        The currency of every amount (a report that shows money; the API states none,
        so it is a setting, ``"USD"`` by default), or ``None`` when no money is shown.
    window_label
        The :attr:`leadping_nb.Window.label` of the window when one was given as a
        :class:`~leadping_nb.Window` (``"last month (Europe/Berlin): 2026-10-01 –
        2026-10-31"``), else ``""``.
    """

    title: str
    window: WindowBounds | None
    first_event: datetime | None
    last_event: datetime | None
    leads: tuple[str, ...]
    filters: str
    time_zone: str
    every: m.Every
    include_warmup: bool
    include_test: bool
    exclusions: pl.DataFrame
    n_events: int
    n_outside_window: int
    n_warmup: int
    n_test: int
    produced_at: datetime
    as_of: datetime
    source: str
    currency: str | None = None
    include_demo: bool = False
    n_demo: int = 0

    @property
    def scope(self) -> m.TrafficScope:
        """The traffic scope of every number in the report."""
        return m.TrafficScope(self.include_warmup, self.include_test, self.include_demo)

    window_label: str = ""

    store_version: int | None = None
    package_version: str = ""

    def provenance(self) -> dict[str, str]:
        """Where the report's data came from, as text: ``source``, ``window``, ``query``,
        ``store_version``, ``package_version``, ``built_at`` (the same record as the
        Parquet and store metadata, :func:`leadping_nb.reports._export.provenance`).

        Examples
        --------
        >>> from leadping_nb.emulator import events_frame
        >>> from leadping_nb.reports import DeliveryReport
        >>> meta = DeliveryReport.from_frame(events_frame(0, 200), source="emulator seed 0").meta
        >>> p = meta.provenance()
        >>> p["source"], p["store_version"], p["package_version"] == meta.package_version
        ('emulator seed 0', '', True)
        """
        from leadping_nb.reports._export import provenance

        p = provenance(
            source=self.source,
            window=self.window,
            query=self.filters,
            store_version=self.store_version,
            built_at=self.produced_at,
        )
        return {**p, "package_version": self.package_version or p["package_version"]}


# ---------------------------------------------------------------------------------------
# helpers: inputs


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown time zone {time_zone!r}") from exc


def _first(frame: pl.DataFrame) -> dict[str, Any]:
    """The first row of a metrics result as a dict ({} for an empty frame)."""
    return frame.row(0, named=True) if frame.height else {}


# ---------------------------------------------------------------------------------------
# helpers: formatting (money, counts, rates and durations are in leadping_nb._core.format)


def _value_attr(v: Any) -> str:
    """The exact value for a ``data-value`` attribute (repr of a float round-trips)."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)


def _format_column(kind: ColumnKind, values: list[Any]) -> list[str]:
    if kind == "money":
        return _money_texts(values)
    fmt: Callable[[Any], str] = {
        "count": _fmt_count,
        "rate": _fmt_rate,
        "ms": _fmt_duration,
        "number": _fmt_number,
        "label": lambda v: "—" if v is None else str(v),
    }[kind]
    return [fmt(v) for v in values]


def _fmt_instant(ts: datetime | None, time_zone: str) -> str:
    if ts is None:
        return "—"
    local = ts.astimezone(_zone(time_zone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z")


def _period_label(every: m.Every) -> pl.Expr:
    fmt = "%Y-%m" if every == "month" else "%Y-%m-%d"
    return pl.col("period").dt.strftime(fmt).alias("label")


# ---------------------------------------------------------------------------------------
# rendering


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("leadping_nb.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _png_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_FIG_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _atomic_write(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _table_view(t: ReportTable) -> dict[str, Any]:
    frame = t.frame()
    texts = {c.name: _format_column(c.kind, frame[c.name].to_list()) for c in t.columns}
    raw = {c.name: frame[c.name].to_list() for c in t.columns}

    def row(i: int) -> list[dict[str, str]]:
        return [
            {"text": texts[c.name][i], "kind": c.kind, "value": _value_attr(raw[c.name][i])}
            for c in t.columns
        ]

    n_parts = t.rows.height
    return {
        "key": t.key,
        "title": t.title,
        "note": t.note,
        "headers": [{"label": c.label, "kind": c.kind} for c in t.columns],
        "rows": [row(i) for i in range(n_parts)],
        "total": row(n_parts) if t.total is not None else None,
    }


def _meta_rows(meta: ReportMeta, exclusions_text: str) -> list[dict[str, Any]]:
    # Long because it is a list: one row of the header table per fact of ReportMeta.
    tz = meta.time_zone
    if meta.window is None:
        window = "all the data given (no window)"
    else:
        start, end = meta.window
        window = (
            f"[{_fmt_instant(start, tz) if start else 'open'}, "
            f"{_fmt_instant(end, tz) if end else 'open'}) on created_at, half-open"
        )
        if meta.window_label:
            window = f"{meta.window_label}; {window}"
    span = f"{_fmt_instant(meta.first_event, tz)} → {_fmt_instant(meta.last_event, tz)}"
    shown = meta.leads[:_MAX_LEADS_SHOWN]
    more = len(meta.leads) - len(shown)
    return [
        {"key": "window", "label": "Data window", "text": window},
        {"key": "span", "label": "Events from", "text": span},
        {
            "key": "leads",
            "label": "Leads",
            "text": f"{len(meta.leads):,}",
            "list": ", ".join(shown) + (f" … and {more:,} more" if more else ""),
        },
        {"key": "events", "label": "Events", "text": f"{meta.n_events:,}"},
        {"key": "filters", "label": "Filters", "text": meta.filters},
        {"key": "time_zone", "label": "Time zone", "text": f"{tz} (periods: {meta.every})"},
        {"key": "scope", "label": "Traffic scope", "text": meta.scope.label},
        {"key": "exclusions", "label": "Exclusions", "text": exclusions_text},
        {"key": "source", "label": "Source", "text": meta.source},
        *(
            []
            if meta.currency is None
            else [
                {
                    "key": "currency",
                    "label": "Currency",
                    "text": f"{meta.currency} (a setting: the API states no currency)",
                }
            ]
        ),
        {
            "key": "store_version",
            "label": "Store version",
            "text": "— (not read from a store)"
            if meta.store_version is None
            else str(meta.store_version),
        },
        {
            "key": "package_version",
            "label": "Built by",
            "text": f"leadping_nb {meta.package_version}",
        },
        {
            "key": "produced_at",
            "label": "Built at",
            "text": meta.produced_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            + f" (pending retries as of {meta.as_of.strftime('%Y-%m-%d %H:%M:%S UTC')})",
        },
    ]


def _exclusions_text(meta: ReportMeta, billing: bool) -> str:
    scope = "the billing totals" if billing else "the message metrics"
    parts = [
        f"{n:,} {what} events " + ("included" if flag else f"excluded from {scope}")
        for flag, n, what in (
            (meta.include_warmup, meta.n_warmup, "warm-up"),
            (meta.include_test, meta.n_test, "test"),
            (meta.include_demo, meta.n_demo, "demo"),
        )
    ]
    if meta.window is not None:
        parts.append(f"{meta.n_outside_window:,} events outside the window dropped")
    return "; ".join(parts)


class _ReportBase:
    """Rendering shared by both reports (the dataclasses in :mod:`leadping_nb.reports`
    provide the fields)."""

    kind: str
    meta: ReportMeta
    kpis: Mapping[str, KPI]
    tables: tuple[ReportTable, ...]

    def _figure_specs(self) -> list[tuple[str, str, Callable[[], Figure]]]:
        raise NotImplementedError

    def figures(self) -> dict[str, Figure]:
        """Draw the report's figures (new :class:`~matplotlib.figure.Figure` objects)."""
        return {key: build() for key, _title, build in self._figure_specs()}

    def table(self, key: str) -> pl.DataFrame:
        """One table as a frame, total row last."""
        for t in self.tables:
            if t.key == key:
                return t.frame()
        raise KeyError(f"no table {key!r}; tables: {[t.key for t in self.tables]}")

    def kpi_frame(self) -> pl.DataFrame:
        """The KPIs as a frame of ``key``, ``label``, ``text`` (values differ in type)."""
        return pl.DataFrame(
            [{"key": k.key, "label": k.label, "text": k.text} for k in self.kpis.values()],
            schema={"key": pl.String, "label": pl.String, "text": pl.String},
        )

    def _context(self, standalone: bool) -> dict[str, Any]:
        from leadping_nb._core.version import __version__

        figures = []
        for key, title, build in self._figure_specs():
            fig = build()
            figures.append({"key": key, "title": title, "src": _png_data_uri(fig)})
        return {
            "standalone": standalone,
            "kind": self.kind,
            "title": self.meta.title,
            "meta": _meta_rows(self.meta, _exclusions_text(self.meta, self.kind == "billing")),
            "kpis": [
                {
                    "key": k.key,
                    "label": k.label,
                    "text": k.text,
                    "value": _value_attr(k.value),
                    "note": k.note,
                }
                for k in self.kpis.values()
            ],
            "figures": figures,
            "tables": [_table_view(t) for t in self.tables],
            "exclusions": _table_view(_exclusions_table(self.meta.exclusions)),
            "version": __version__,
        }

    def to_html(self) -> str:
        """The report as one self-contained HTML document (figures embedded, no links)."""
        return _environment().get_template("report.html.j2").render(self._context(True))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_html` to ``path`` atomically (a temporary file, then a rename)."""
        return _atomic_write(Path(path), self.to_html())

    def _repr_html_(self) -> str:
        return _environment().get_template("report.html.j2").render(self._context(False))


def _exclusions_table(counts: pl.DataFrame) -> ReportTable:
    cols = (
        Column("label", "Metric", "label"),
        Column("n_events", "Events", "count"),
        Column("n_used", "Used", "count"),
        Column("n_excluded", "Excluded", "count"),
    )
    rows = counts.select(
        pl.col("metric").alias("label"),
        *[pl.col(c).cast(pl.Int64) for c in ("n_events", "n_used", "n_excluded")],
    )
    return ReportTable(
        "exclusions",
        "Events used and excluded per metric",
        cols,
        rows,
        note="Excluded: out of the metric's scope (not an outbound message, warm-up, test or "
        "demo traffic outside the traffic scope), or a needed value missing or negative. "
        "See docs/metrics.md.",
    )


def _repr(kind: str, meta: ReportMeta, kpis: Mapping[str, KPI], key: str) -> str:
    headline = kpis[key].text if key in kpis else "—"
    return (
        f"{kind}(events={meta.n_events:,}, leads={len(meta.leads):,}, "
        f"first={_fmt_instant(meta.first_event, 'UTC')}, "
        f"last={_fmt_instant(meta.last_event, 'UTC')}, "
        f"{key}={headline})"
    )


# ---------------------------------------------------------------------------------------
# helpers: KPIs


def _kpi(key: str, label: str, value: Any, fmt: Callable[[Any], str], note: str = "") -> KPI:
    if isinstance(value, float | int | Decimal) or value is None:
        return KPI(key, label, value, fmt(value), note)
    raise TypeError(f"KPI {key}: unexpected value {value!r}")  # pragma: no cover


_TOTAL = "Total"
