"""The public API the widgets are built on: :class:`leadping_nb.metrics.EventCube` answers
the frame functions for any row mask exactly, and the figure plot objects draw what the
public figure functions draw."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from leadping_nb import figures, metrics
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb.emulator import events_frame
from leadping_nb.metrics import EventCube


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return events_frame(0, 4000)  # warm-up, test and demo traffic, negative gaps, undated


@pytest.fixture(scope="module")
def cube(frame: pl.DataFrame) -> EventCube:
    return EventCube(frame)


def masks(frame: pl.DataFrame) -> Iterator[pl.Series | None]:
    yield None
    yield (frame["direction"] == "Outbound").fill_null(False)
    yield frame["lead_id"].is_in(frame["lead_id"].unique().sort().head(3).to_list())
    yield pl.Series([False] * frame.height)  # nothing selected


SCOPES = [
    {},
    {"include_warmup": True},
    {"include_test": True, "include_demo": True},
]


@pytest.mark.parametrize("scope", SCOPES, ids=str)
@pytest.mark.parametrize("every", [None, "day", "week", "month"])
def test_cube_summaries_equal_the_frame_functions(
    frame: pl.DataFrame, cube: EventCube, every: metrics.Every | None, scope: dict[str, bool]
) -> None:
    zone = "America/New_York"
    for mask in masks(frame):
        picked = frame if mask is None else frame.filter(mask)
        sel = cube.select(mask)
        kw = {"every": every, "time_zone": zone, **scope}
        got = sel.outcome_counts(**kw).collect()
        assert got.equals(metrics.outcome_counts(picked, **kw))
        got = sel.delivery_summary(**kw).collect()
        assert got.equals(metrics.delivery_summary(picked, **kw))
        got = sel.billing_summary(**kw).collect()
        assert got.equals(metrics.billing_summary(picked, by=(), **kw))
        # without a period: from the counts per period just made (or counted anew)
        assert (
            sel.delivery_summary(**scope)
            .collect()
            .equals(metrics.delivery_summary(picked, **scope))
        )
        assert (
            sel.billing_summary(**scope)
            .collect()
            .equals(metrics.billing_summary(picked, by=(), **scope))
        )
        assert sel.outcome_counts(**scope).collect().equals(metrics.outcome_counts(picked, **scope))
        dist = metrics.retry_distribution(picked, **scope).sort("retry_count")
        assert sel.retry_distribution(**scope).collect().equals(dist)


def test_cube_latencies_and_failures_are_the_summary_scope(
    frame: pl.DataFrame, cube: EventCube
) -> None:
    for mask in masks(frame):
        picked = frame if mask is None else frame.filter(mask)
        sel = cube.select(mask)
        for stage in ("end_to_end", "carrier"):
            values = sel.latencies(stage)
            assert np.all(np.diff(values) >= 0)  # ascending
            row = metrics.latency_summary(picked, stages=[stage]).row(0, named=True)
            assert int((values >= 0).sum()) == row["n_used"]
            assert int((values < 0).sum()) == row["n_negative"]
            hist = figures.LatencyHistogram.from_latencies(values, stage=stage)
            assert hist.percentiles == {
                0.5: row["p50_ms"],
                0.9: row["p90_ms"],
                0.99: row["p99_ms"],
            }
        failures = sel.events_with_outcome(["failed", "blocked"]).collect()
        scope = metrics.outcome().is_in(["failed", "blocked"]).fill_null(False)
        want = picked.filter(scope & metrics.is_countable_traffic())
        assert failures.equals(want)


def test_cube_money_is_exact_and_a_mask_must_fit() -> None:
    t = datetime(2026, 1, 5, tzinfo=UTC)
    rows = [
        {"created_at": t, "direction": "Outbound", "billable_amount": Decimal("0.0079")},
        {"created_at": t, "direction": "Outbound", "billable_amount": Decimal("0.0021")},
        {"created_at": t, "direction": "Inbound", "billable_amount": Decimal("0.0100")},
    ]
    df = pl.DataFrame(rows, schema=EVENT_SCHEMA)
    cube = EventCube(df)
    picked = cube.select(pl.Series([True, True, False]))
    total = picked.billing_summary().collect()["total_amount"]
    assert total.item() == Decimal("0.0100")  # 0.0079 + 0.0021, by hand
    everything = cube.select().billing_summary().collect()
    assert everything["total_amount"].item() == Decimal("0.0200")
    with pytest.raises(ValueError, match="2 values for 3 events"):
        cube.select(pl.Series([True, False]))
    with pytest.raises(TypeError, match="Decimal"):
        EventCube(df.with_columns(pl.col("billable_amount").cast(pl.Float64)))


def test_plot_objects_draw_like_the_figure_functions(frame: pl.DataFrame) -> None:
    every, zone = "week", "Asia/Tokyo"
    kw = {"every": every, "time_zone": zone}
    plots = {
        "volume_by_outcome": figures.VolumePlot.of(metrics.outcome_counts(frame, **kw), **kw),
        "delivery_rate_over_time": figures.DeliveryRatePlot.of(
            metrics.delivery_summary(frame, **kw),
            metrics.delivery_summary(frame)["delivery_rate"].item(),
            **kw,
        ),
        "billed_over_time": figures.BilledPlot.of(
            metrics.billing_summary(frame, by=(), **kw),
            metrics.billing_summary(frame, by=())["total_amount"].item(),
            **kw,
        ),
    }
    for name, plot in plots.items():
        public = getattr(figures, name)(frame, **kw).axes[0]
        drawn = plot.draw(figures.FigurePanel.for_figure(name).clear()).axes[0]
        assert drawn.get_title() == public.get_title(), name
        assert drawn.get_xlabel() == public.get_xlabel(), name
        assert [p.get_height() for p in drawn.patches] == [p.get_height() for p in public.patches]
    empty = figures.VolumePlot.of(metrics.outcome_counts(frame.head(0), **kw), **kw)
    ax = empty.draw(figures.FigurePanel().clear()).axes[0]
    assert [t.get_text() for t in ax.texts] == ["No data"]
