# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Prototyping a new metric
#
# The metrics that ship with leadping_nb (delivery rate, latency stages, retries, billing)
# are Polars expressions over one declared events frame. Your own metric can be one too.
# This notebook shows the workflow on a question the built-in metrics do not answer:
#
# > **How long does a lead take to reply to us?** *Time to first reply*: from the first
# > message we delivered to the lead until the first message the lead sent back.
#
# The steps:
#
# 1. **Define** the metric in words, precisely enough that two people would compute the
#    same number.
# 2. **Write** it as a Polars expression, built from the package's building blocks
#    (`metrics.is_outbound()`, `metrics.is_inbound()`, `metrics.is_countable_traffic()`).
# 3. **Check the edge cases** on a tiny hand-made frame whose answers you know.
# 4. **Validate** it on the emulator against an independent plain-Python reference,
#    computed from the emulator's ground truth rather than from the fetched frame, with
#    network faults switched on so the fetch has to retry and de-duplicate.
# 5. **Use and plot** it.

# %% [markdown]
# ## Parameters
#
# Tagged `parameters` for papermill.
#
# * `source`: `"emulator"` (default) or `"api"`. Validation needs the emulator's ground
#   truth; against the API the notebook skips step 4 and computes the metric.
# * `lead_ids`: the portfolio (`None`: the first `n_leads` of your lead list).
# * `since`, `until`: a half-open window on the events' creation time (ISO; read in
#   `time_zone` without a UTC offset).
# * `time_zone`: the zone of the "hour of the day" in the plot.
# * `seed`, `n_leads`: the emulator's data set; `page_size`: events per request (small
#   pages make the fetch page more, which the validation wants).
# * `with_faults`: inject server errors, dropped connections, truncated bodies, duplicate
#   page boundaries and empty pages into the emulator's answers.

# %% tags=["parameters"]
source = "emulator"  # "emulator" (offline) or "api" (key from LEADPING_API_KEY)
lead_ids = None  # list of lead ids; None: the first n_leads of the lead list
since = None  # window start (inclusive), ISO date or date-time; None: open
until = None  # window end (exclusive), ISO date or date-time; None: open
time_zone = "America/New_York"  # IANA zone for dates, periods and axes
seed = 7  # emulator data set
n_leads = 80  # leads: the emulator's size and the default portfolio's
page_size = 200  # events per request (1-1000)
with_faults = True  # inject network faults into the emulator

# %%
# ruff: noqa: E402, B018  (imports follow the parameters cell; bare names display values)
# %matplotlib inline
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from IPython.display import Markdown, display
from matplotlib.figure import Figure

import leadping_nb as lp
from leadping_nb import metrics as m

# the window [since, until) as a Window: dates at local midnight in time_zone, date-times
# without an offset read there too (Window.parse's START..END form)
span = None
if since or until:
    span = lp.Window.parse(f"{since or ''}..{until or ''}", time_zone=time_zone)
start, end = span.bounds if span is not None else (None, None)

# %% [markdown]
# ## 1. The definition
#
# For each lead:
#
# * **t₀**, the *first delivery*: the earliest `delivered_at` among the lead's outbound
#   messages. Warm-up and test traffic do not count (they are not conversations with
#   the lead).
# * **t₁**, the *first reply*: the earliest `received_at` among the lead's inbound
#   messages received **strictly after** t₀. A message the lead sent before we reached
#   them is not a reply to us.
# * **time to first reply** = t₁ − t₀, a duration. It is **null** when the lead has no
#   delivered message, or did not reply after it. Nulls are kept and counted, not
#   dropped: "never replied" is an answer too.
#
# Durations stay exact (`Duration("us")`) for validation; they become hours only to plot.

# %% [markdown]
# ## 2. The metric as Polars expressions
#
# Three expressions, meant for `group_by("lead_id").agg(...)`: inside an aggregation,
# `pl.col(...).filter(condition).min()` is the earliest value among the group's rows that
# satisfy the condition, and an aggregate such as `first_delivery()` can be used inside
# another expression's condition.


# %%
def first_delivery() -> pl.Expr:
    """t₀: the earliest delivered_at of the group's outbound, countable messages."""
    delivered = m.is_outbound() & m.is_countable_traffic() & pl.col("delivered_at").is_not_null()
    return pl.col("delivered_at").filter(delivered).min().alias("first_delivery_at")


def first_reply() -> pl.Expr:
    """t₁: the earliest received_at of an inbound, countable message after t₀."""
    after = pl.col("received_at") > first_delivery()
    reply = m.is_inbound() & m.is_countable_traffic() & after
    return pl.col("received_at").filter(reply).min().alias("first_reply_at")


def time_to_first_reply() -> pl.Expr:
    """t₁ − t₀ as a Duration (null when either is missing)."""
    return (first_reply() - first_delivery()).alias("time_to_first_reply")


def reply_metric(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per lead: t₀, t₁ and the time to first reply."""
    return (
        events.lazy()
        .group_by("lead_id")
        .agg(first_delivery(), first_reply(), time_to_first_reply())
        .sort("lead_id")
        .collect()
    )


# %% [markdown]
# ## 3. Edge cases on a hand-made frame
#
# Four leads whose answers we know. Every column of the declared schema is present
# (missing ones are null), exactly like a fetched frame.

# %%
t = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def sms(lead: str, direction: str, minutes: int, **fields: Any) -> dict[str, Any]:
    at = t + timedelta(minutes=minutes)
    when = {"delivered_at": at} if direction == "Outbound" else {"received_at": at}
    return {
        "id": f"{lead}-{direction}-{minutes}",
        "lead_id": lead,
        "event_type": "Sms",
        "direction": direction,
        "created_at": at,
        **when,
        **fields,
    }


cases = pl.DataFrame(
    [
        # A: a message before our first delivery is not a reply; the reply comes 30 min later.
        sms("A", "Inbound", -60),
        sms("A", "Outbound", 0),
        sms("A", "Inbound", 30),
        sms("A", "Inbound", 45),
        # B: the lead wrote to us, we never delivered anything: null.
        sms("B", "Inbound", 10),
        # C: a warm-up delivery does not start the clock; the real one at +60 does.
        sms("C", "Outbound", 0, traffic_type="Warmup"),
        sms("C", "Outbound", 60, traffic_type="RealLead"),
        sms("C", "Inbound", 65),
        # D: delivered, never answered: null.
        sms("D", "Outbound", 0),
    ],
    schema=lp.EVENT_SCHEMA,
)
expected = {
    "A": timedelta(minutes=30),
    "B": None,
    "C": timedelta(minutes=5),
    "D": None,
}
got = dict(reply_metric(cases).select("lead_id", "time_to_first_reply").iter_rows())
assert got == expected, got
reply_metric(cases)

# %% [markdown]
# ## 4. Validate on the emulator against a plain-Python reference
#
# The reference below restates the definition in plain Python, over plain dicts, sharing
# no code with the Polars version. It runs on the emulator's **ground truth**
# (`emu.ground_truth_values(lead)`: every event of the lead as canonical Python values,
# straight from the generator, with no HTTP, paging, faults or frame conversion). The
# Polars version runs on what the client actually fetched. If the two agree for every
# lead, to the microsecond, both the metric and the pipeline feeding it are right.


# %%
def countable(event: Mapping[str, Any]) -> bool:
    traffic = (event.get("traffic_type") or "").lower()
    return not (event.get("is_warmup") is True or traffic in ("warmup", "test"))


def reference_time_to_first_reply(events: Iterable[Mapping[str, Any]]) -> timedelta | None:
    """The definition, restated in plain Python."""
    events = list(events)
    deliveries = [
        e["delivered_at"]
        for e in events
        if (e.get("direction") or "").lower() == "outbound"
        and e.get("delivered_at") is not None
        and countable(e)
    ]
    if not deliveries:
        return None
    t0 = min(deliveries)
    replies = [
        e["received_at"]
        for e in events
        if (e.get("direction") or "").lower() == "inbound"
        and e.get("received_at") is not None
        and e["received_at"] > t0
        and countable(e)
    ]
    return min(replies) - t0 if replies else None


# The reference agrees with the hand-made cases too.
assert {
    lead: reference_time_to_first_reply(
        cases.filter(pl.col("lead_id") == lead).iter_rows(named=True)
    )
    for lead in expected
} == expected

# %% [markdown]
# Fetch the portfolio. With `with_faults`, the emulator misbehaves like a real network:
# some requests get a 5xx or are dropped, some bodies are cut short, some pages repeat the
# previous page's last event or come back empty with a token. The client retries and
# de-duplicates; the validation shows nothing was lost or counted twice.

# %%
if source == "emulator":
    faults = (
        lp.FaultConfig(
            seed=seed,
            rate_5xx=0.03,
            rate_drop=0.02,
            rate_truncate=0.02,
            duplicate_boundary=0.2,
            empty_page_with_token=0.1,
        )
        if with_faults
        else None
    )
    emu = lp.Emulator(seed=seed, n_leads=n_leads, faults=faults)
    client = emu.client()
elif source == "api":
    emu = None
    client = lp.Client()  # api_key from LEADPING_API_KEY
else:
    raise ValueError(f"source must be 'emulator' or 'api', got {source!r}")

if lead_ids is None:
    lead_ids = client.leads(max_leads=n_leads)["id"].to_list()
bounds: dict[str, datetime] = {}
if start is not None:
    bounds["ge"] = start
if end is not None:
    bounds["lt"] = end
query = lp.EventQuery(page_size=page_size, range_filters={"createdAt": bounds} if bounds else ())
result = client.fetch_events(lead_ids, query).raise_for_errors()
client.close()
frame = result.frame
print(result)
if emu is not None:
    injected = {k: v for k, v in sorted(emu.fault_counts.items()) if not k.isdigit()}
    print(f"faults injected and survived: {injected}")
    print("duplicates dropped:", int(result.status["duplicates_dropped"].sum()))

# %%
metric = reply_metric(frame)

if emu is None:
    display(Markdown("Validation skipped: the real API has no ground truth to compare with."))
else:

    def in_window(event: Mapping[str, Any]) -> bool:
        created = event["created_at"]
        return (start is None or created >= start) and (end is None or created < end)

    reference = {
        lead: reference_time_to_first_reply(
            e for e in emu.ground_truth_values(lead) if in_window(e)
        )
        for lead in lead_ids
    }
    computed = dict(metric.select("lead_id", "time_to_first_reply").iter_rows())
    mismatches = {
        lead: (want, computed.get(lead))
        for lead, want in reference.items()
        if computed.get(lead) != want
    }
    assert not mismatches, f"{len(mismatches)} leads differ: {list(mismatches.items())[:5]}"
    n_value = sum(v is not None for v in reference.values())
    display(
        Markdown(
            f"**Validated.** The Polars metric equals the plain-Python reference for all "
            f"{len(reference)} leads, exactly: {n_value} with a time to first reply, "
            f"{len(reference) - n_value} without (no delivery, or no reply after it)."
        )
    )

# %% [markdown]
# ## 5. Use it
#
# The metric is a per-lead frame like any other; hours are easier to read than
# microseconds. Summaries use `metrics.percentile`, the package's one percentile
# definition (linear interpolation), so the numbers match everything else it reports.

# %%
hours = pl.col("time_to_first_reply").dt.total_microseconds() / 3.6e9
per_lead = metric.with_columns(
    hours.alias("hours_to_first_reply"),
    pl.col("first_delivery_at")
    .dt.convert_time_zone(time_zone)
    .dt.hour()
    .alias("delivery_hour_local"),
)
stats = per_lead.select(
    pl.col("first_delivery_at").is_not_null().sum().alias("leads_reached"),
    pl.col("time_to_first_reply").is_not_null().sum().alias("leads_replied"),
    m.percentile("hours_to_first_reply", 0.5).alias("p50_hours"),
    m.percentile("hours_to_first_reply", 0.9).alias("p90_hours"),
).row(0, named=True)
per_lead.sort("hours_to_first_reply", nulls_last=True).head(5)

# %% [markdown]
# Two views in one figure: the ECDF of the time to first reply (the share of reached
# leads that replied within *x* hours; it stops below 100 % because some leads never
# replied), and the median by the local hour of the day at which our first message was
# delivered. The figure is a plain `matplotlib.figure.Figure` (no pyplot state), shown as
# the cell's value.

# %%
replied = per_lead.drop_nulls("hours_to_first_reply").sort("hours_to_first_reply")
fig = Figure(figsize=(11, 4.2), layout="constrained")
ax_ecdf, ax_hour = fig.subplots(1, 2)

if replied.height and stats["leads_reached"]:
    x = replied["hours_to_first_reply"].to_list()
    y = [(i + 1) / stats["leads_reached"] for i in range(len(x))]
    ax_ecdf.step(x, y, where="post", color="C0")
    ax_ecdf.axvline(stats["p50_hours"], color="C1", linestyle="--", label="median of repliers")
    ax_ecdf.set_xscale("log")
    ax_ecdf.legend(loc="lower right")
ax_ecdf.set_ylim(0, 1)
ax_ecdf.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
ax_ecdf.set_xlabel("Time to first reply (hours, log scale)")
ax_ecdf.set_ylabel("Share of reached leads that replied")
ax_ecdf.set_title(f"Time to first reply ({stats['leads_replied']} of {stats['leads_reached']})")
ax_ecdf.grid(alpha=0.3)

by_hour = (
    replied.group_by("delivery_hour_local")
    .agg(
        m.percentile("hours_to_first_reply", 0.5).alias("median_hours"),
        pl.len().alias("leads"),
    )
    .sort("delivery_hour_local")
)
bars = ax_hour.bar(by_hour["delivery_hour_local"], by_hour["median_hours"], color="C2")
ax_hour.bar_label(bars, labels=[str(n) for n in by_hour["leads"]], fontsize="small")
ax_hour.set_xlim(-0.5, 23.5)
ax_hour.set_xlabel(f"Hour of the first delivery ({time_zone})")
ax_hour.set_ylabel("Median time to first reply (hours)")
ax_hour.set_title("By hour of first delivery (bar labels: leads)")
ax_hour.grid(axis="y", alpha=0.3)
fig

# %%
if stats["leads_reached"]:
    share = stats["leads_replied"] / stats["leads_reached"]
    text = (
        f"Of {stats['leads_reached']} leads we reached, {stats['leads_replied']} "
        f"({share:.0%}) replied after our first delivered message."
    )
    if stats["leads_replied"]:
        text += (
            f" Half of those replied within **{stats['p50_hours']:.1f} hours**, "
            f"90 % within {stats['p90_hours']:.1f} hours."
        )
else:
    text = "No lead in this portfolio and window received a delivered message."
display(Markdown(text))

# %% [markdown]
# ## From prototype to library
#
# Once a metric is validated, it can move into your own module unchanged: the three
# expression functions above are the metric, `reply_metric()` the frame function, the
# edge cases and the reference become its tests. That is exactly how the metrics in
# `leadping_nb.metrics` are built and tested (see `docs/metrics.md`).
