"""Delivery and billing reports: data objects that render to one self-contained HTML file.

A report is built from an events frame by :meth:`DeliveryReport.from_frame` or
:meth:`BillingReport.from_frame`. It holds

* :attr:`~DeliveryReport.meta` — what the report covers: the data window, the leads, the
  filters, the time zone, what was excluded and how many events that was, when it was
  produced (:class:`ReportMeta`);
* :attr:`~DeliveryReport.kpis` — headline numbers (:class:`KPI`), each taken from a
  :mod:`leadping_nb.metrics` result without rounding;
* :attr:`~DeliveryReport.tables` — Polars frames (:class:`ReportTable`). A table with a
  total row **foots**: its parts add up exactly to a total aggregated separately from the
  same metrics result, and the report refuses to build otherwise (:class:`FootingError`).
  Billing tables hold exact Decimals;
* figures from :mod:`leadping_nb.figures`, drawn when the report is rendered.

``to_html()`` renders a Jinja2 template (autoescaped) into one HTML document with the
figures embedded as PNG ``data:`` URIs, no external resource of any kind; ``save(path)``
writes it atomically; ``_repr_html_()`` shows the same content in a notebook. Every KPI
carries ``data-kpi`` / ``data-value`` attributes and every table ``data-table``, so the
HTML can be checked against the metrics it came from.

Each report computes its metrics in one pass (one ``pl.collect_all``,
:mod:`leadping_nb.metrics._passes`) and builds every table and KPI from that result.
Modules: ``_base`` (the value objects above, formatting, rendering), ``_inputs`` (the
window, period, clock and meta both reports start from), ``_delivery`` and
``_engagement`` (the delivery report), ``_billing`` (the billing report), ``_export``
(CSV, Excel, Parquet). This module re-exports the public names.
"""

from __future__ import annotations

from leadping_nb._http.query import describe_filters as describe_filters
from leadping_nb.reports._base import KPI as KPI
from leadping_nb.reports._base import Column as Column
from leadping_nb.reports._base import ColumnKind as ColumnKind
from leadping_nb.reports._base import FootingError as FootingError
from leadping_nb.reports._base import ReportMeta as ReportMeta
from leadping_nb.reports._base import ReportTable as ReportTable
from leadping_nb.reports._billing import BillingReport as BillingReport
from leadping_nb.reports._delivery import DeliveryReport as DeliveryReport
from leadping_nb.reports._engagement import RankBy as RankBy

__all__ = [
    "KPI",
    "BillingReport",
    "Column",
    "ColumnKind",
    "DeliveryReport",
    "FootingError",
    "RankBy",
    "ReportMeta",
    "ReportTable",
    "describe_filters",
]
