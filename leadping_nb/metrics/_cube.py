"""``EventCube``: an events frame reduced once, so that many row selections are summarised fast.

The frame functions of :mod:`leadping_nb.metrics` derive every count, rate and money total
from one small "cube" (event counts per combination of outcome, traffic flags, sent flag,
retry count and period; see ``docs/metrics.md``, "How the summaries are computed").
:class:`EventCube` computes the per-event working columns of that cube once, as a small
integer code per event; :meth:`EventCube.select` then takes a boolean row mask and answers
:func:`~leadping_nb.metrics.outcome_counts`, :func:`~leadping_nb.metrics.delivery_summary`,
:func:`~leadping_nb.metrics.retry_distribution` and
:func:`~leadping_nb.metrics.billing_summary` for those rows by counting codes (one
``bincount``), without computing the per-event metrics again. The results are the frames
of the public functions, row for row (same columns, same values).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import polars as pl

from leadping_nb.metrics._exprs import Every, Outcome, Stage, latency_ms, period_key
from leadping_nb.metrics._plans import (
    AMOUNT_N,
    AMOUNT_SUM,
    COUNT,
    DEMO,
    MONEY,
    OUT,
    PENDING,
    SENT,
    TEST,
    WARM,
    N,
    billing_from_cube,
    countable,
    delivery_from_cube,
    grouping,
    money_scale,
    outbound,
    outcomes_from_cube,
    prepare,
    retry_distribution_from_cube,
)

__all__ = ["CubeSelection", "EventCube"]

_T = TypeVar("_T")
_CODE = "__lp_code"
#: The cube's per-event dimensions besides the period.
_DIMS: tuple[str, ...] = (OUT, WARM, TEST, DEMO, SENT, "retry_count", PENDING)
_LATENCY_SCOPE = "__lp_latency_scope"


class _Memo:
    """Values computed once per key, kept; thread-safe (two threads may both compute a
    missing value; the first one stored is kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[Any, ...], Any] = {}

    def __call__(self, key: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._values:
                found: _T = self._values[key]
                return found
        value = compute()
        with self._lock:
            kept: _T = self._values.setdefault(key, value)
            return kept

    def find(self, match: Callable[[tuple[Any, ...]], bool]) -> Any:
        """A kept value whose key ``match`` es (``None``: none)."""
        with self._lock:
            return next((v for k, v in self._values.items() if match(k)), None)


class EventCube:
    """An events frame prepared once for fast summaries of many row selections.

    The outcome of each event is judged once, when the cube is built (a message still
    waiting for its receipt after :data:`~leadping_nb.metrics.RECEIPT_TIMEOUT` is
    ``no_receipt`` from then on), and no retry is judged pending (``as_of=None``), as
    the frame functions do without ``as_of``. Period keys (per period and zone) and the
    latencies of a stage are computed on first use and kept. Thread-safe.

    Parameters
    ----------
    events
        A canonical events frame (``billable_amount`` Decimal).

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> from leadping_nb.metrics import delivery_summary
    >>> frame = events_frame(0, 500)
    >>> cube = EventCube(frame)
    >>> picked = cube.select(frame["direction"] == "Outbound")
    >>> fast = picked.delivery_summary(every="week", time_zone="Europe/Berlin").collect()
    >>> fast.equals(delivery_summary(frame.filter(frame["direction"] == "Outbound"),
    ...                              every="week", time_zone="Europe/Berlin"))
    True
    """

    def __init__(self, events: pl.DataFrame) -> None:
        self.events = events
        g = grouping((), None, "UTC", "created_at")
        ok = countable(include_warmup=False, include_test=False)
        prepared = (
            prepare(events.lazy(), g, as_of=None)
            .select(*_DIMS, (outbound() & ok).alias(_LATENCY_SCOPE))
            .collect()
        )
        dims = prepared.select(_DIMS)
        self._dims = dims.unique(maintain_order=True).with_row_index(_CODE)
        self._codes = dims.join(
            self._dims, on=list(_DIMS), how="left", nulls_equal=True, maintain_order="left"
        ).get_column(_CODE)
        self._latency_scope = prepared.get_column(_LATENCY_SCOPE)
        self._scale = money_scale(events.lazy())
        self._keep = _Memo()

    @property
    def height(self) -> int:
        """Events in the cube."""
        return self.events.height

    def select(self, mask: pl.Series | None = None) -> CubeSelection:
        """The events where ``mask`` (Boolean, one value per event; null counts as false)
        is true; ``None``: every event."""
        if mask is None:
            return CubeSelection(self, None)
        if mask.len() != self.height:
            raise ValueError(f"mask has {mask.len()} values for {self.height} events")
        return CubeSelection(self, mask.cast(pl.Boolean).fill_null(False))

    def _cube_keys(self, every: Every | None, time_zone: str) -> tuple[np.ndarray, int, int]:
        """Per event, one integer key ``(period index) * len(dims) + code`` (period index
        0 is a null period); with the offset of the period keys and the key count."""
        n_dims = self._dims.height
        if every is None:
            return self._codes.to_numpy(), 0, n_dims

        def compute() -> tuple[np.ndarray, int, int]:
            periods = self.events.select(
                period_key(every, time_zone, "created_at").alias("period")
            ).to_series()
            first, last = periods.min(), periods.max()
            if not isinstance(first, int) or not isinstance(last, int):  # no period at all
                first = last = 0
            index = (periods.cast(pl.Int64) - (first - 1)).fill_null(0)
            keys = (index * n_dims + self._codes.cast(pl.Int64)).to_numpy()
            return keys, first - 1, (last - first + 2) * n_dims

        return self._keep(("keys", every, time_zone), compute)

    def _latencies(self, stage: Stage) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, values)`` of the in-scope, non-null latencies of ``stage``, ascending."""

        def compute() -> tuple[np.ndarray, np.ndarray]:
            lat = self.events.select(latency_ms(stage)).to_series()
            rows = (self._latency_scope & lat.is_not_null()).fill_null(False).arg_true()
            values = lat.gather(rows)
            order = values.arg_sort()
            return rows.gather(order).to_numpy(), values.gather(order).to_numpy()

        return self._keep(("latency", stage), compute)

    def _outcome_mask(self, outcomes: tuple[Outcome, ...]) -> pl.Series:
        def compute() -> pl.Series:
            ok = countable(include_warmup=False, include_test=False)
            scope = pl.col(OUT).is_in(list(outcomes)).fill_null(False) & ok
            codes = self._dims.filter(scope).get_column(_CODE)
            return self._codes.is_in(codes)

        return self._keep(("outcomes", outcomes), compute)

    def _counts(
        self, picked: np.ndarray | None, every: Every | None, time_zone: str, *, money: bool
    ) -> pl.DataFrame:
        """The cube of the picked events: counts by one ``bincount`` of their keys; with
        ``money`` also the exact Decimal amount sum per key."""
        keys, base, n_keys = self._cube_keys(every, time_zone)
        n_dims = self._dims.height
        if money:
            frame = pl.DataFrame(
                {"key": keys, MONEY: self.events.get_column(MONEY)},
                schema_overrides={"key": pl.Int64},
            )
            if picked is not None:
                frame = frame.filter(pl.Series(picked))
            agg = frame.group_by("key").agg(
                pl.len().cast(COUNT).alias(N),
                pl.col(MONEY).sum().alias(AMOUNT_SUM),
                pl.col(MONEY).count().cast(COUNT).alias(AMOUNT_N),
            )
        else:
            counts = np.bincount(keys if picked is None else keys[picked], minlength=n_keys)
            found = np.flatnonzero(counts)
            agg = pl.DataFrame({"key": found, N: counts[found]}, schema={"key": pl.Int64, N: COUNT})
        key = pl.col("key")
        cols = [(key % n_dims).cast(pl.UInt32).alias(_CODE)]
        if every is not None:
            index = key // n_dims
            cols.append(pl.when(index > 0).then(index + base).cast(pl.Int32).alias("period"))
        return agg.with_columns(cols).drop("key").join(self._dims, on=_CODE, how="left").drop(_CODE)


class CubeSelection:
    """The events of an :class:`EventCube` under one row mask, summarised on demand.

    Each summary method returns what the :mod:`leadping_nb.metrics` function of the same
    name returns for the selected events, as a ``LazyFrame`` over the counts (collect
    several at once with :func:`polars.collect_all`). The counts are made once per
    ``(every, time_zone)`` and shared by the methods; a summary without a period reuses
    counts made per period. Thread-safe.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> from leadping_nb.metrics import outcome_counts
    >>> frame = events_frame(0, 300)
    >>> everything = EventCube(frame).select()
    >>> everything.outcome_counts().collect().equals(outcome_counts(frame))
    True
    """

    def __init__(self, cube: EventCube, mask: pl.Series | None) -> None:
        self.cube = cube
        self.mask = mask
        self._keep = _Memo()

    def _picked(self) -> np.ndarray | None:
        mask = self.mask
        return None if mask is None else self._keep(("mask",), mask.to_numpy)

    def _counts(self, every: Every | None, time_zone: str, *, money: bool = False) -> pl.LazyFrame:
        zone = "UTC" if every is None else time_zone  # no period: the zone plays no part
        if every is None:
            # counts per period are counts too: without a period the re-aggregations sum
            # over every row, so counts already made per period serve as they are
            found = self._keep.find(lambda k: k[0] == "counts" and k[3] == money)
            if found is not None:
                return found.lazy()  # type: ignore[no-any-return]
        return self._keep(
            ("counts", every, zone, money),
            lambda: self.cube._counts(self._picked(), every, zone, money=money),
        ).lazy()

    def _counted(
        self,
        from_cube: Callable[..., pl.LazyFrame],
        every: Every | None,
        time_zone: str,
        scope: tuple[bool, bool, bool],
    ) -> pl.LazyFrame:
        """``from_cube`` (a ``*_from_cube`` plan) over the counts, in the traffic scope
        ``(include_warmup, include_test, include_demo)``."""
        g = grouping((), every, time_zone, "created_at")
        warmup, test, demo = scope
        cube = self._counts(every, time_zone)
        return from_cube(cube, g, include_warmup=warmup, include_test=test, include_demo=demo)

    def outcome_counts(
        self,
        *,
        every: Every | None = None,
        time_zone: str = "UTC",
        include_warmup: bool = False,
        include_test: bool = False,
        include_demo: bool = False,
    ) -> pl.LazyFrame:
        """:func:`leadping_nb.metrics.outcome_counts` (no ``by``) of the selected events."""
        scope = (include_warmup, include_test, include_demo)
        return self._counted(outcomes_from_cube, every, time_zone, scope)

    def delivery_summary(
        self,
        *,
        every: Every | None = None,
        time_zone: str = "UTC",
        include_warmup: bool = False,
        include_test: bool = False,
        include_demo: bool = False,
    ) -> pl.LazyFrame:
        """:func:`leadping_nb.metrics.delivery_summary` (no ``by``) of the selected events."""
        scope = (include_warmup, include_test, include_demo)
        return self._counted(delivery_from_cube, every, time_zone, scope)

    def retry_distribution(
        self,
        *,
        include_warmup: bool = False,
        include_test: bool = False,
        include_demo: bool = False,
    ) -> pl.LazyFrame:
        """:func:`leadping_nb.metrics.retry_distribution` of the selected events, sorted by
        ``retry_count`` (``n_retry_pending`` is 0: the cube judges no retry pending)."""
        g = grouping((), None, "UTC", "created_at")
        scope = {"include_warmup": include_warmup, "include_test": include_test}
        dist = retry_distribution_from_cube(
            self._counts(None, "UTC"), g, **scope, include_demo=include_demo
        )
        return dist.sort("retry_count")

    def billing_summary(
        self,
        *,
        every: Every | None = None,
        time_zone: str = "UTC",
        cost_scale: int = 4,
        include_warmup: bool = False,
        include_test: bool = False,
        include_demo: bool = False,
    ) -> pl.LazyFrame:
        """:func:`leadping_nb.metrics.billing_summary` with ``by=()`` of the selected
        events (exact Decimal totals)."""
        g = grouping((), every, time_zone, "created_at")
        cube = self._counts(every, time_zone, money=True)
        return billing_from_cube(
            cube,
            g,
            include_warmup=include_warmup,
            include_test=include_test,
            include_demo=include_demo,
            cost_scale=cost_scale,
            scale=self.cube._scale,
        )

    def latencies(self, stage: Stage) -> np.ndarray:
        """The non-null latencies (ms) of ``stage`` of the selected outbound messages of
        customer traffic (the scope of :func:`leadping_nb.metrics.latency_summary`),
        ascending; negative gaps included (they come first)."""
        rows, values = self.cube._latencies(stage)
        picked = self._picked()
        return values if picked is None else values[picked[rows]]

    def events(self) -> pl.LazyFrame:
        """The selected events (lazy: only the columns a consumer uses are filtered)."""
        lf = self.cube.events.lazy()
        return lf if self.mask is None else lf.filter(self.mask)

    def events_with_outcome(self, outcomes: Sequence[Outcome]) -> pl.LazyFrame:
        """The selected events of customer traffic whose
        :func:`~leadping_nb.metrics.outcome` is in ``outcomes`` (lazy)."""
        found = self.cube._outcome_mask(tuple(outcomes))
        return self.cube.events.lazy().filter(found if self.mask is None else found & self.mask)
