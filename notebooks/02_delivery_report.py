# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Delivery report
#
# How well do our messages get through? For a **portfolio of leads** and a **date window**
# this notebook answers four questions, each with a table, a figure and a sentence computed
# from the data:
#
# 1. **Outcomes**: what happened to the outbound messages (delivered, failed,
#    undeliverable, blocked, canceled, still scheduled or in flight), and how the delivery
#    rate moved over time.
# 2. **Latency**: how long each stage of a message's life took, from queued to delivered.
# 3. **Failures**: why messages failed, by carrier status reason and error code.
# 4. **Retries**: how many messages needed retries, and whether retrying helped.
#
# It ends with the conclusions, written by code from the numbers above (so they are true
# for whatever portfolio and window you run it on), and saves the whole report as one
# self-contained HTML file.
#
# Every number comes from `leadping_nb.metrics`; the definitions (scope, units, what is
# excluded and why) are in `docs/metrics.md`. Warm-up traffic (messages between our own
# numbers to warm them up) and test traffic are excluded: they are not customer messages.

# %% [markdown]
# ## Parameters
#
# Tagged `parameters` for papermill, e.g.
# `papermill 02_delivery_report.ipynb october.ipynb -p since 2026-10-01 -p until 2026-11-01
# -p time_zone Europe/Berlin`.
#
# * `source`: `"emulator"` (offline default) or `"api"` (reads `LEADPING_API_KEY`).
# * `lead_ids`: the portfolio; `None` takes the first `n_leads` of your lead list.
# * `since`, `until`: the half-open window `[since, until)` on the events' creation time,
#   ISO dates or date-times; without a UTC offset they are read in `time_zone`. `None`
#   leaves that side open.
# * `window`: instead of `since`/`until`, a window as text (`lp.Window.parse`):
#   `"last 7 days"`, `"last month"`, `"this month"` (local days in `time_zone`, up to the
#   data's end: the emulator's now, or the current time against the API) or
#   `"2026-10-01..2026-11-01"`. `None`: use `since`/`until`.
# * `time_zone`: the IANA zone of every date in the report: days, weeks and months are
#   cut at local midnight there.
# * `every`: the period of the time table and figures, `"day"`, `"week"`, `"month"` or
#   `"auto"` (picked from the span of the data).
# * `seed`, `n_leads`: the emulator's data set. `page_size`: events per request.
# * `output_dir`: where the HTML report is written.

# %% tags=["parameters"]
source = "emulator"  # "emulator" (offline) or "api" (key from LEADPING_API_KEY)
lead_ids = None  # list of lead ids; None: the first n_leads of the lead list
since = None  # window start (inclusive), ISO date or date-time; None: open
until = None  # window end (exclusive), ISO date or date-time; None: open
window = None  # e.g. "last 7 days", "last month", "2026-10-01..2026-11-01"; None: since/until
time_zone = "America/New_York"  # IANA zone for dates, periods and axes
every = "auto"  # period: "auto", "day", "week" or "month"
seed = 7  # emulator data set
n_leads = 80  # leads: the emulator's size and the default portfolio's
page_size = 1000  # events per request (1-1000)
output_dir = "notebook-output"  # where files are written (relative to the cwd)

# %%
# ruff: noqa: E402, B018  (imports follow the parameters cell; bare names display values)
# %matplotlib inline
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from IPython.display import Markdown, display
from tqdm.auto import tqdm

import leadping_nb as lp
from leadping_nb import metrics as m
from leadping_nb.figures import lead_timeline_figure
from leadping_nb.reports import DeliveryReport

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)


def pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def duration(ms: float | None) -> str:
    """Milliseconds as a readable duration."""
    if ms is None:
        return "n/a"
    if ms < 1_000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1_000:.1f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


# the window [since, until) as a Window: dates at local midnight in time_zone, date-times
# without an offset read there too (Window.parse's START..END form)
span = None
if since or until:
    span = lp.Window.parse(f"{since or ''}..{until or ''}", time_zone=time_zone)
start, end = span.bounds if span is not None else (None, None)

# %% [markdown]
# ## Fetch the portfolio's events
#
# The window is sent to the API as a range filter on `createdAt`, so only the events we
# need are transferred. All leads are fetched concurrently (see `01_quickstart`).

# %%
if source == "emulator":
    emu = lp.Emulator(seed=seed, n_leads=n_leads)
    client = emu.client()
    origin = f"built-in emulator (seed {seed})"
elif source == "api":
    emu = None
    client = lp.Client()  # api_key from LEADPING_API_KEY
    origin = client.base_url
else:
    raise ValueError(f"source must be 'emulator' or 'api', got {source!r}")

if lead_ids is None:
    lead_ids = client.leads(max_leads=n_leads)["id"].to_list()

# *Pending retries* and relative windows are judged at `as_of`: the emulator's data end at
# a fixed "now", so we use that; against the API it is the current time.
as_of = emu.now if emu is not None else datetime.now(UTC)
if window:
    if span is not None:
        raise ValueError("give either window or since/until, not both")
    span = lp.Window.parse(window, time_zone=time_zone, now=as_of)
    start, end = span.bounds

bounds: dict[str, datetime] = {}
if start is not None:
    bounds["ge"] = start
if end is not None:
    bounds["lt"] = end
query = lp.EventQuery(page_size=page_size, range_filters={"createdAt": bounds} if bounds else ())

with tqdm(total=len(lead_ids), unit="lead", desc="Fetching events") as bar:
    result = client.fetch_events(
        lead_ids, query, on_progress=lambda p: bar.update(1) if p.lead_finished else None
    )
client.close()
if result.failed:
    display(result.status.filter(~pl.col("ok")))
result

# %% [markdown]
# ## Build the report
#
# `DeliveryReport.from_frame` computes every metric of the report in one pass over the
# events and keeps the results: headline numbers (`kpis`), tables (`tables`, each checked
# to add up to its total), the metric frames (`summary`) and the events themselves
# (`frame`). Figures are drawn from the same numbers.
#
# The window goes in as an `lp.Window`, so the report states it in words (its `label`).

# %%
report = DeliveryReport.from_frame(
    result.frame,
    leads=lead_ids,
    window=span,
    filters=query,
    time_zone=time_zone,
    every=every,
    as_of=as_of,
    source=origin,
)
meta = report.meta
zone = ZoneInfo(time_zone)


def local(ts: datetime | None) -> str:
    return "—" if ts is None else ts.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


display(
    Markdown(
        f"**Scope.** {meta.n_events:,} events of {len(meta.leads):,} leads from {origin}; "
        f"window {local(start) if start else 'open'} → {local(end) if end else 'open'}; "
        f"first event {local(meta.first_event)}, last event {local(meta.last_event)}; "
        f"time zone **{time_zone}**; periods: {meta.every}s. "
        f"Excluded from the message metrics: {meta.n_warmup:,} warm-up and "
        f"{meta.n_test:,} test events." + (f" Window: {span.label}." if span is not None else "")
    )
)
report.kpi_frame()

# %% [markdown]
# The report excludes some events from each metric (not a message, warm-up or test
# traffic, a timestamp missing). It counts them rather than dropping them silently:

# %%
meta.exclusions

# %% [markdown]
# ## 1. Outcomes
#
# Each outbound message gets exactly one **outcome**, from its lifecycle timestamps, in
# this precedence: `delivered` (has `deliveredAt`), `undeliverable`, `failed`, `blocked`
# (compliance), `canceled`, `scheduled` (due later, not started), `no_receipt` (sent
# 24 hours or more ago without a receipt), otherwise `in_flight` (sent, no final receipt
# yet). Inbound replies are `inbound`; calls, notes and status changes are not messages.
#
# The **delivery rate** is delivered ÷ (delivered + undeliverable + failed + blocked + no
# receipt): every message with a final outcome, so lost receipts and compliance blocks
# count against it. Canceled messages (the sender's own stop) and scheduled or in-flight
# ones have no final outcome, so they are counted but not in the rate.

# %%
figs = report.figures()
report.table("outcomes")

# %%
figs["volume_by_outcome"]

# %%
with pl.Config(tbl_rows=16):
    display(report.table("delivery_by_period"))
figs["delivery_rate"]

# %% [markdown]
# ## 2. Latency
#
# A delivered message passes through stages, each the gap between two timestamps:
#
# | stage | from → to | what it measures |
# |---|---|---|
# | queue | `queuedAt` → `sendingStartedAt` | our queue (backlogs, throughput limits) |
# | send | `sendingStartedAt` → `sentAt` | hand-off to the messaging provider |
# | carrier | `sentAt` → `deliveredAt` | the carrier network to the handset |
# | end to end | `queuedAt` → `deliveredAt` | what the lead experiences |
# | schedule lag | `scheduledFor` → `sendingStartedAt` | how late scheduled sends start |
#
# Latencies are skewed: most messages take seconds, a few take minutes or hours. So the
# report gives percentiles (p50 = median, p90, p99) rather than just a mean, and the
# figures use a logarithmic time axis. A stage with an end missing is excluded and counted
# (`n_missing`), as is a negative gap (clock skew), never clipped to zero.

# %%
report.table("latency")

# %%
figs["latency_ecdf"]

# %% [markdown]
# The ECDF reads directly as "share of messages delivered within x". The histogram of the
# end-to-end latency shows the shape of the slow tail:

# %%
figs["latency_histogram"]

# %% [markdown]
# ## 3. Failures
#
# Failed, undeliverable and blocked messages, grouped by error code and the carrier's
# status reason together (one row per pair), largest first (a Pareto chart: bars per
# pair, the line is the cumulative share). A few pairs usually explain most failures;
# those are the ones to act on (bad numbers: clean the list; spam blocks: review content
# and 10DLC registration; opt-outs: respect them).

# %%
report.table("failures")

# %%
figs["failures"]

# %% [markdown]
# ## 4. Retries
#
# A message that fails with a retryable error is sent again; `retryCount` says how many
# times. Per retry count: how many messages, and how many of those with a final outcome
# were delivered.

# %%
report.table("retries")

# %%
figs["retries"]

# %% [markdown]
# ## 5. One lead's timeline
#
# Behind every rate is a lead whose messages went through these steps. `m.lead_timeline`
# lists one lead's messages in time order, each with its lifecycle timestamps, outcome,
# retries, step durations and billing; `lead_timeline_figure` draws one lane per message
# with a marker per step (a pending retry is dashed). We take the lead with the most
# retried messages among those with at most 25 messages (so its figure shows them all).

# %%
per_lead = (
    report.frame.filter(m.is_message())
    .group_by("lead_id")
    .agg(
        pl.len().alias("messages"),
        (m.is_outbound() & (pl.col("retry_count") > 0)).sum().alias("retried"),
    )
    .filter((pl.col("messages") <= 25) & (pl.col("retried") > 0))
    .sort(["retried", "messages", "lead_id"], descending=[True, True, False])
)
if per_lead.height:
    lead = per_lead["lead_id"][0]
    timeline = m.lead_timeline(report.frame, lead)
    n_retried = int((timeline["retry_count"].fill_null(0) > 0).sum())
    display(
        Markdown(f"Lead `{lead}`: {timeline.height:,} messages, {n_retried:,} of them retried.")
    )
    with pl.Config(tbl_rows=25, tbl_cols=12):
        display(
            timeline.select(
                "message",
                "event_type",
                "direction",
                "outcome",
                "created_at",
                "retry_count",
                "next_retry_at",
                "end_to_end_ms",
                "billing_status",
                "billable_amount",
            ).with_columns(pl.col("created_at", "next_retry_at").dt.convert_time_zone(time_zone))
        )
    display(lead_timeline_figure(report.frame, lead, time_zone=time_zone))
else:
    display(Markdown("No lead with at most 25 messages had a retried message in this window."))

# %% [markdown]
# ## Conclusions
#
# The sentences below are computed from the tables above: rerun the notebook with another
# portfolio or window and they change with the data.

# %%
s = report.summary
d = s.delivery.row(0, named=True)
lat = {row["stage"]: row for row in s.latency.iter_rows(named=True)}
r = s.retry.row(0, named=True)
dist = s.retry_distribution
conclusions: list[str] = []

if d["n_outbound"] == 0:
    conclusions.append("There are no outbound customer messages in this portfolio and window.")
else:
    conclusions.append(
        f"**Delivery.** Of {d['n_outbound']:,} outbound messages, {d['n_delivered']:,} were "
        f"delivered: a delivery rate of **{pct(d['delivery_rate'])}** over the "
        f"{d['n_used']:,} messages with a final outcome ({d['n_failed']:,} failed, "
        f"{d['n_undeliverable']:,} undeliverable, {d['n_blocked']:,} blocked for compliance, "
        f"{d['n_no_receipt']:,} without a receipt). Another {d['n_canceled']:,} were "
        f"canceled, and {d['n_scheduled']:,} scheduled and {d['n_in_flight']:,} in flight "
        f"had no outcome yet."
    )

    periods = (
        report.table("delivery_by_period")
        .filter((pl.col("label") != "Total") & (pl.col("n_used") >= 30))
        .sort("delivery_rate")
    )
    if periods.height >= 2:
        worst, best = periods.row(0, named=True), periods.row(-1, named=True)
        conclusions.append(
            f"**Over time.** Among the {periods.height} {meta.every}s with at least 30 "
            f"messages with a final outcome, the delivery rate ranged from "
            f"{pct(worst['delivery_rate'])} ({meta.every} of {worst['label']}) to "
            f"{pct(best['delivery_rate'])} ({meta.every} of {best['label']}), in {time_zone}."
        )

e2e = lat.get("end_to_end", {})
if e2e.get("n_used"):
    parts = {st: lat[st]["p50_ms"] for st in ("queue", "send", "carrier") if lat[st]["n_used"]}
    slowest = max(parts, key=lambda st: parts[st] or 0.0)
    n_slow = (
        report.frame.lazy()
        .filter(m.is_outbound() & m.is_countable_traffic())
        .select((m.latency_ms("end_to_end") > 60_000).sum())
        .collect()
        .item()
    )
    conclusions.append(
        f"**Latency.** Half of the {e2e['n_used']:,} delivered messages reached the handset "
        f"within **{duration(e2e['p50_ms'])}** of being queued, 90 % within "
        f"{duration(e2e['p90_ms'])}, and 1 % took longer than {duration(e2e['p99_ms'])}; "
        f"{n_slow:,} ({pct(n_slow / e2e['n_used'])}) took more "
        f"than a minute. The slowest stage at the median is **{slowest}** "
        f"(p50 {duration(parts[slowest])}; "
        + ", ".join(f"{st} {duration(v)}" for st, v in parts.items() if st != slowest)
        + ")."
    )

failures = report.table("failures").filter(pl.col("label") != "Total")
if failures.height:
    top = failures.row(0, named=True)
    top3 = failures.head(3)["n"].sum() / failures["n"].sum()
    conclusions.append(
        f"**Failures.** The most common failure is *{top['label']} "
        f"{top['status_reason']}* with "
        f"{top['n']:,} messages ({pct(top['share'])} of all failures); the top three reasons "
        f"account for {pct(top3)}."
    )

if r["n_used"]:
    first_try = dist.filter(pl.col("retry_count") == 0)
    retried = dist.filter(pl.col("retry_count") > 0)
    rate0 = first_try["n_delivered"].sum() / max(first_try["n_terminal"].sum(), 1)
    rate_r = retried["n_delivered"].sum() / max(retried["n_terminal"].sum(), 1)
    sentence = (
        f"**Retries.** {pct(r['share_retried'])} of messages ({r['n_retried']:,}) were "
        f"retried, {r['total_retries']:,} retries in all. "
    )
    if retried["n_terminal"].sum():
        sentence += (
            f"Retried messages were delivered {pct(rate_r)} of the time, against "
            f"{pct(rate0)} for messages that needed no retry"
        )
        if rate_r < rate0:
            sentence += (
                f": retries turned {retried['n_delivered'].sum():,} first failures into "
                "deliveries, but a message that needs a retry is less likely to arrive. "
            )
        else:
            sentence += ": a retry brought those messages level with the rest. "
    sentence += f"{r['n_retry_pending']:,} retries were still pending at {local(as_of)}."
    conclusions.append(sentence)

display(Markdown("\n\n".join(conclusions)))

# %% [markdown]
# ## Save the report
#
# The same content as one self-contained HTML file (figures embedded, no external
# resources): e-mail it or archive it. It states its scope (window, leads, time zone,
# exclusions) at the top.

# %%
path = report.save(out / "delivery-report.html")
print(f"Saved {path} ({path.stat().st_size / 1e6:.1f} MB)")
