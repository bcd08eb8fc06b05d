"""The values the clients hand back: :class:`Page`, :class:`FetchProgress`, :class:`FetchResult`.

A :class:`Page` is what :meth:`~leadping_nb._client.search.AsyncEventSearch.pages` yields;
:class:`FetchProgress` (through a :data:`ProgressCallback`) and :class:`FetchResult` are the
progress updates and the result of
:meth:`~leadping_nb._client.async_client.AsyncClient.fetch_events`.
The clients are in :mod:`leadping_nb._client`, which re-exports these names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from leadping_nb._core.errors import LeadpingError
from leadping_nb._frame.decode import DecodedPage, FrameReport

__all__ = [
    "FetchProgress",
    "FetchResult",
    "Page",
    "ProgressCallback",
]


@dataclass(frozen=True)
class Page:
    """One page of a lead's events, as fetched.

    Attributes
    ----------
    lead_id
        The lead.
    number
        1-based page number.
    decoded
        The typed page (``decoded.frame`` has the declared event schema).
    raw
        The response body bytes.
    request_token
        The continuation token this page was requested with (``None`` for the first).
    attempts
        HTTP attempts it took (1 = no retry).
    elapsed
        Seconds from the first attempt to the answer.
    """

    lead_id: str
    number: int
    decoded: DecodedPage
    raw: bytes = field(repr=False)
    request_token: str | None
    attempts: int
    elapsed: float

    @property
    def token(self) -> str | None:
        """The continuation token for the next page (``None``: this was the last)."""
        return self.decoded.token

    @property
    def frame(self) -> pl.DataFrame:
        """This page's events as a typed frame."""
        return self.decoded.frame

    @property
    def items(self) -> list[dict[str, Any]]:
        """The raw items as dicts (numbers exact: JSON decimals become ``Decimal``)."""
        data = json.loads(self.raw, parse_float=Decimal)
        items = data.get("items") or []
        return list(items)

    def __len__(self) -> int:
        return self.decoded.n_items


@dataclass(frozen=True)
class FetchProgress:
    """A progress update of :meth:`Client.fetch_events` (one per page and per finished lead).

    Attributes
    ----------
    leads_total, leads_done, leads_failed
        Lead counters over the whole fetch.
    pages, events
        Pages and events fetched so far over the whole fetch.
    lead_id
        The lead this update is about.
    lead_pages, lead_events
        That lead's pages and events so far.
    lead_finished
        Whether that lead is done (successfully or not).
    error
        The lead's error when it failed.
    """

    leads_total: int
    leads_done: int
    leads_failed: int
    pages: int
    events: int
    lead_id: str
    lead_pages: int
    lead_events: int
    lead_finished: bool
    error: LeadpingError | None = None


ProgressCallback = Callable[[FetchProgress], None]


@dataclass(frozen=True)
class FetchResult:
    """What :meth:`Client.fetch_events` and :meth:`Client.account_events` return.

    Attributes
    ----------
    frame
        Every event of every lead that succeeded, typed, ``lead_id`` on every row (of an
        account fetch: of every window that succeeded, in ``created_at``, ``id`` order).
    status
        One row per requested lead: ``lead_id``, ``ok``, ``pages``, ``events``,
        ``duplicates_dropped``, ``complete`` (false when a cap stopped paging early),
        ``attempts``, ``elapsed_s``, ``error_type``, ``error``. A lead with ``ok`` and
        ``events == 0`` returned nothing: an unknown id looks the same (the API answers it
        with an empty page), see :attr:`empty`. An account fetch has a row
        per time window instead, keyed by ``window`` (see
        :meth:`AsyncClient.account_events`).
    report
        The frame conversion report (unknown fields, nulled values, unknown enum values).
    errors
        The exception of each failed lead (or window label). A failed lead's (window's)
        events are not in ``frame``: the frame is then incomplete.
    """

    frame: pl.DataFrame
    status: pl.DataFrame
    report: FrameReport
    errors: Mapping[str, LeadpingError]

    @property
    def failed(self) -> list[str]:
        """Lead ids (of an account fetch: window labels) that failed."""
        return list(self.errors)

    @property
    def empty(self) -> list[str]:
        """Lead ids that succeeded with no events (``ok`` and ``events == 0`` in ``status``).

        The API answers an unknown lead id with an empty page, not 404, so a mistyped id
        looks exactly like a lead without events (or none that match the query): these
        are the ids to check. An account fetch's windows are never listed here (an empty
        time window is normal): it is ``[]`` there.
        """
        if "lead_id" not in self.status.columns:
            return []
        rows = self.status.filter(pl.col("ok") & (pl.col("events") == 0))
        return rows.get_column("lead_id").to_list()

    @property
    def ok(self) -> bool:
        """True when every lead (window) succeeded: the frame is complete."""
        return not self.errors

    def raise_for_errors(self) -> FetchResult:
        """Raise the first lead's error if any lead failed; return ``self`` otherwise."""
        for exc in self.errors.values():
            raise exc
        return self

    def __repr__(self) -> str:
        n_ok = self.status.height - len(self.errors)
        unit = "windows" if "window" in self.status.columns else "leads"
        empty = self.empty
        return (
            f"FetchResult({self.frame.height} events from {n_ok}/{self.status.height} {unit}"
            + (f", failed: {self.failed}" if self.errors else "")
            + (f", no events: {empty}" if empty else "")
            + ")"
        )

    def _repr_html_(self) -> str:
        from html import escape

        return (
            f"<p><b>{escape(repr(self))}</b></p>"
            + self.status._repr_html_()
            + (self.report._repr_html_() if hasattr(self.report, "_repr_html_") else "")
        )
