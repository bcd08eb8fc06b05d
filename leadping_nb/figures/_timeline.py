"""The lead timeline figure (:func:`lead_timeline_figure`), re-exported by
:mod:`leadping_nb.figures`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from leadping_nb.figures._base import (
    OUTCOME_COLORS,
    FrameLike,
    _check_tz,
    _date_nums,
    _figure,
    _no_data,
)
from leadping_nb.metrics._timeline import lead_timeline

__all__ = ["STEP_MARKERS", "lead_timeline_figure"]

#: Marker, colour and legend label of each lifecycle step drawn on a lane.
STEP_MARKERS: Final[dict[str, tuple[str, str, str]]] = {
    "scheduled_for": ("d", "#17becf", "scheduled for"),
    "queued_at": ("o", "#555555", "queued"),
    "sending_started_at": (">", "#1f77b4", "sending"),
    "sent_at": ("^", "#ff7f0e", "sent"),
    "delivered_at": ("*", OUTCOME_COLORS["delivered"], "delivered"),
    "failed_at": ("X", OUTCOME_COLORS["failed"], "failed"),
    "undeliverable_at": ("X", OUTCOME_COLORS["undeliverable"], "undeliverable"),
    "blocked_at": ("s", OUTCOME_COLORS["blocked"], "blocked"),
    "canceled_at": ("P", OUTCOME_COLORS["canceled"], "canceled"),
    "received_at": ("v", OUTCOME_COLORS["inbound"], "received (inbound)"),
    "next_retry_at": ("o", "#e377c2", "next retry due"),
}
_MAX_LANES: Final = 40


def _lane_label(row: dict[str, object]) -> str:
    kind = f"{row['event_type'] or '?'} {str(row['direction'] or '').lower()}".strip()
    retries = row["retry_count"]
    extra = f", {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    return f"#{row['message']} {kind} ({row['outcome'] or 'no outcome'}{extra})"


def lead_timeline_figure(
    df: FrameLike,
    lead_id: str,
    *,
    time_zone: str = "UTC",
    max_lanes: int = _MAX_LANES,
    ax: Axes | None = None,
) -> Figure:
    """One lead's messages as lanes on a time axis, a marker per lifecycle step.

    One horizontal lane per message of :func:`leadping_nb.metrics.lead_timeline` (the
    first message on top), from its first to its last timestamp, coloured by outcome
    (:data:`~leadping_nb.figures.OUTCOME_COLORS`); a marker per lifecycle step
    (:data:`STEP_MARKERS`: scheduled, queued, sending, sent, the final step,
    received), and a pending retry as a dashed segment to the ``next_retry_at``
    marker. The lane's label names the message, its outcome and its retry count. Steps
    seconds apart overlap at the scale of days: the timeline table gives the exact
    step durations. Times are labelled in ``time_zone``.

    Parameters
    ----------
    df
        Canonical events (``DataFrame`` or ``LazyFrame``).
    lead_id
        The lead; a lead not in the frame raises ``ValueError``.
    time_zone
        IANA zone of the time labels.
    max_lanes
        At most this many messages are drawn (the first ones; the title says how many
        there are).
    ax
        Draw into this axes instead of a new figure.

    Examples
    --------
    >>> from leadping_nb.emulator import events_frame
    >>> frame = events_frame(0, 400)
    >>> lead = frame["lead_id"][0]
    >>> fig = lead_timeline_figure(frame, lead, time_zone="Europe/Berlin")
    >>> from leadping_nb.metrics import lead_timeline
    >>> lanes = [a for a in fig.axes[0].get_lines() if str(a.get_gid()).startswith("lane-")]
    >>> len(lanes) == min(lead_timeline(frame, lead).height, 40)
    True
    """
    zone = _check_tz(time_zone)
    if isinstance(max_lanes, bool) or not isinstance(max_lanes, int) or max_lanes < 1:
        raise ValueError(f"max_lanes must be a positive int, got {max_lanes!r}")
    timeline = lead_timeline(df, lead_id)
    n_messages = timeline.height
    shown = timeline.head(max_lanes)
    rows = shown.height
    if ax is None:
        fig = Figure(figsize=(9.0, min(2.2 + 0.32 * max(rows, 1), 22.0)), layout="constrained")
        ax = fig.add_subplot()
    title = f"Timeline of lead {lead_id}"
    if n_messages > rows:
        title += f" (first {rows} of {n_messages:,} messages)"
    xlabel = f"Time ({time_zone})"
    if rows == 0:
        return _no_data(ax, title, xlabel, "Message", "this lead has no messages")
    seen: set[str] = set()
    for lane, row in enumerate(shown.iter_rows(named=True)):
        seen |= _draw_lane(ax, row, float(rows - 1 - lane))
    labels = [_lane_label(row) for row in shown.iter_rows(named=True)]
    ax.set_yticks([float(rows - 1 - i) for i in range(rows)], labels, fontsize="small")
    ax.set_ylim(-0.7, rows - 0.3)
    _time_axis(ax, zone)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if seen:
        _step_legend(ax, seen)
    return _figure(ax)


def _draw_lane(ax: Axes, row: dict[str, Any], y: float) -> set[str]:
    """One message's lane at height ``y``: a line from its first to its last step, a
    marker per step, a pending retry as a dashed segment; the steps drawn."""
    steps = [c for c in STEP_MARKERS if c != "next_retry_at"]
    times = [(c, row[c]) for c in steps if isinstance(row[c], datetime)]
    if not times:  # no timestamp at all: an empty lane, still labelled
        ax.add_line(Line2D([], [], gid=f"lane-{row['message']}"))
        return set()
    color = OUTCOME_COLORS.get(str(row["outcome"]), "0.5")
    nums = _date_nums([t for _c, t in times])
    ax.add_line(
        Line2D(
            [min(nums), max(nums)],
            [y, y],
            color=color,
            linewidth=2.5,
            alpha=0.6,
            solid_capstyle="round",
            gid=f"lane-{row['message']}",
        )
    )
    seen: set[str] = set()
    for (column, _t), x in zip(times, nums, strict=True):
        marker, mcolor, _label = STEP_MARKERS[column]
        ax.plot(
            [x],
            [y],
            marker=marker,
            color=mcolor,
            markersize=8 if column == "delivered_at" else 6,
            linestyle="none",
            gid=f"step-{column}",
        )
        seen.add(column)
    retry_at = row["next_retry_at"]
    if isinstance(retry_at, datetime):
        (rx,) = _date_nums([retry_at])
        marker, mcolor, _label = STEP_MARKERS["next_retry_at"]
        ax.plot([max(nums), rx], [y, y], color=mcolor, linestyle="--", linewidth=1)
        ax.plot(
            [rx],
            [y],
            marker=marker,
            markerfacecolor="none",
            color=mcolor,
            linestyle="none",
            gid="step-next_retry_at",
        )
        seen.add("next_retry_at")
    return seen


def _time_axis(ax: Axes, zone: ZoneInfo) -> None:
    """Date ticks in ``zone`` on the x axis, scaled to the lanes."""
    ax.autoscale(axis="x")
    ax.margins(x=0.03)
    locator = mdates.AutoDateLocator(tz=zone, minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d %H:%M", tz=zone))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(axis="x", color="0.9")


def _step_legend(ax: Axes, seen: set[str]) -> None:
    """A legend of the steps drawn, in lifecycle order."""
    handles = [
        Line2D(
            [],
            [],
            marker=marker,
            color=mcolor,
            markerfacecolor="none" if column == "next_retry_at" else mcolor,
            linestyle="none",
            label=label,
        )
        for column, (marker, mcolor, label) in STEP_MARKERS.items()
        if column in seen
    ]
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        frameon=False,
    )
