# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Billing report
#
# What did messaging cost, and where did the money go? For a portfolio of leads and a
# date window this notebook computes the **exact** spend
#
# * by **campaign**, by lead **source**, by **10DLC campaign** (the carrier registration
#   messages are sent under) and by **period** (local months);
# * the **cost per delivered message**;
# * a **reconciliation**: every table adds up, to the last digit, to the grand total,
#   and the grand total equals a plain-Python sum of every billed amount;
#
# and exports the tables to an **Excel** workbook.
#
# **Why "exact".** Amounts arrive as decimal numbers (`0.0079`). Binary floats cannot hold
# most of them exactly, so float sums drift in the last digits and tables stop adding up.
# leadping_nb keeps money as `Decimal` from the API response to the last total: sums are
# exact and reconcile exactly. A cost *per message* is a division and must be rounded; it
# is rounded half-to-even to `cost_scale` decimals, and only there.

# %% [markdown]
# ## Parameters
#
# Tagged `parameters` for papermill (`-p since 2026-10-01 -p until 2026-11-01`, ...).
#
# * `source`: `"emulator"` (offline default) or `"api"` (reads `LEADPING_API_KEY`).
# * `lead_ids`: the portfolio; `None` takes the first `n_leads` of your lead list.
# * `since`, `until`: the half-open window `[since, until)` on the events' creation time,
#   ISO dates or date-times (read in `time_zone` when they carry no UTC offset).
# * `window`: instead of `since`/`until`, a window as text (`lp.Window.parse`), e.g.
#   `"last month"` (the local calendar month before the data's end: the emulator's now,
#   or the current time against the API), `"last 7 days"` or `"2026-10-01..2026-11-01"`.
# * `time_zone`: months (and the period table) are cut at local midnight in this zone.
# * `every`: the period of the period table, `"day"`, `"week"` or `"month"`.
# * `cost_scale`: decimals of the cost per delivered message.
# * `emulator_era`: which API version the emulator speaks. The 10DLC campaign id was
#   removed from the API's event items in SDK 1.0.17; the `"seed"` era still carries it,
#   the `"current"` era does not (then the 10DLC table has a single "(not set)" row).
# * `seed`, `n_leads`: the emulator's data set; `page_size`: events per request.
# * `output_dir`: where the Excel workbook and the HTML report are written.

# %% tags=["parameters"]
source = "emulator"  # "emulator" (offline) or "api" (key from LEADPING_API_KEY)
lead_ids = None  # list of lead ids; None: the first n_leads of the lead list
since = None  # window start (inclusive), ISO date or date-time; None: open
until = None  # window end (exclusive), ISO date or date-time; None: open
window = None  # e.g. "last month", "last 7 days", "2026-10-01..2026-11-01"; None: since/until
time_zone = "America/New_York"  # IANA zone for dates, periods and axes
every = "month"  # period: "day", "week" or "month"
cost_scale = 4  # decimals of the cost per delivered message
emulator_era = "seed"  # "seed" (carries 10DLC campaign ids) or "current"
seed = 7  # emulator data set
n_leads = 80  # leads: the emulator's size and the default portfolio's
page_size = 1000  # events per request (1-1000)
output_dir = "notebook-output"  # where files are written (relative to the cwd)

# %%
# ruff: noqa: E402, B018  (imports follow the parameters cell; bare names display values)
# %matplotlib inline
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
from IPython.display import Markdown, display
from tqdm.auto import tqdm

import leadping_nb as lp
from leadping_nb import figures, to_excel
from leadping_nb import metrics as m
from leadping_nb.reports import BillingReport

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)


# the window [since, until) as a Window: dates at local midnight in time_zone, date-times
# without an offset read there too (Window.parse's START..END form)
span = None
if since or until:
    span = lp.Window.parse(f"{since or ''}..{until or ''}", time_zone=time_zone)
start, end = span.bounds if span is not None else (None, None)

# %% [markdown]
# ## Fetch the portfolio's events
#
# The window goes to the API as a range filter on `createdAt`. Every event is fetched,
# not only messages: calls are billed too.

# %%
if source == "emulator":
    emu = lp.Emulator(seed=seed, n_leads=n_leads, era=emulator_era)
    client = emu.client()
    origin = f"built-in emulator (seed {seed}, {emulator_era} era)"
elif source == "api":
    emu = None
    client = lp.Client()  # api_key from LEADPING_API_KEY
    origin = client.base_url
else:
    raise ValueError(f"source must be 'emulator' or 'api', got {source!r}")

if lead_ids is None:
    lead_ids = client.leads(max_leads=n_leads)["id"].to_list()

# a relative window ends at the data's end: the emulator's fixed now, else the current time
if window:
    if span is not None:
        raise ValueError("give either window or since/until, not both")
    span = lp.Window.parse(window, time_zone=time_zone, now=emu.now if emu is not None else None)
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
frame = result.frame
print(result)
frame.select("created_at", "event_type", "campaign_id", "billing_status", "billable_amount").head()

# %% [markdown]
# ## What is billed
#
# What counts is the **amount**: an event with a `billableAmount` was billed that amount;
# an event without one cost nothing. `billingStatus` says why, but Leadping publishes no
# list of its values, so the metrics never depend on it. In the emulator's data, outbound
# SMS (per segment, plus carrier surcharges) and MMS, inbound messages and calls (per
# minute) are `Billed` with an amount; failed, undeliverable, blocked, canceled and
# scheduled messages are `NotBilled` or `Pending` and warm-up messages `NotBillable`, all
# without an amount; notes and status changes have no billing status at all.
#
# `metrics.billing_summary(frame, by=...)` sums the amounts exactly per group and counts
# what it did: `n_events` in the group, `n_used` with an amount, `n_missing_amount`
# without. Billing has the traffic scope of every other metric: customer traffic by
# default (warm-up, test and demo excluded, each an option), so the delivery and the
# billing report show the same "Delivered".

# %%
total = m.billing_summary(frame, by=(), cost_scale=cost_scale)
grand_total: Decimal = total["total_amount"].item()
by_status = m.billing_summary(frame, by="billing_status", cost_scale=cost_scale)
display(total)
by_status.sort("total_amount", descending=True)

# %% [markdown]
# ## Spend by campaign, source, 10DLC campaign and period
#
# The same function, grouped four ways. Events without a campaign (or source, or 10DLC
# campaign) form their own "(not set)" group, so nothing falls out of the tables.
#
# **Cost per delivered message** (`cost_per_delivered`) = the group's billed amount ÷ the
# group's delivered outbound messages: what it cost, all of the group's charges included
# (inbound replies and calls too), to get one message to a lead. Warm-up messages are delivered
# but never billed; with billing's default scope they count as delivered.


# %%
def spend(by: str | None = None, *, period: str | None = None) -> pl.DataFrame:
    """Billing per group, largest spend first (periods in time order)."""
    t = m.billing_summary(
        frame,
        by=(by,) if by else (),
        every=period,
        time_zone=time_zone,
        cost_scale=cost_scale,
    )
    if period is not None:
        return t.sort("period")
    return t.with_columns(pl.col(by).fill_null("(not set)")).sort(
        "total_amount", by, descending=[True, False]
    )


columns = ["n_events", "n_used", "total_amount", "n_delivered", "cost_per_delivered"]
tables = {
    "campaign": spend("campaign_id"),
    "source": spend("source_id"),
    "10DLC campaign": spend("ten_dlc_campaign_id"),
    "billing status": spend("billing_status"),
    "event type": spend("event_type"),
    every: spend(period=every),
}
tables["campaign"].select("campaign_id", *columns)

# %%
figures.billed_by_campaign(frame)

# %%
tables["source"].select("source_id", *columns)

# %%
tables["10DLC campaign"].select("ten_dlc_campaign_id", *columns)

# %% [markdown]
# Periods are local: a `month` starts at midnight on the 1st in `time_zone`, so an event
# at 02:00 UTC on the 1st belongs to the previous month in New York.

# %%
period_table = tables[every].with_columns(
    pl.col("period").dt.strftime("%Y-%m-%d").alias(f"{every} starting ({time_zone})")
)
display(period_table.select(f"{every} starting ({time_zone})", *columns))
figures.billed_over_time(frame, every=every, time_zone=time_zone)

# %% [markdown]
# Warm-up deliveries would lower the cost per delivered message without costing anything,
# so the default scope leaves warm-up, test and demo traffic out: the amounts and the
# delivered messages both cover customer traffic only (stated here explicitly).

# %%
(
    m.billing_summary(
        frame,
        by="campaign_id",
        include_warmup=False,
        include_test=False,
        cost_scale=cost_scale,
    )
    .filter(pl.col("n_delivered") > 0)
    .select("campaign_id", "total_amount", "n_delivered", "cost_per_delivered")
    .sort("cost_per_delivered", descending=True)
)

# %% [markdown]
# ## Reconciliation: every table foots to the total
#
# A billing table is only trustworthy if its rows add up to the total you invoice. Here
# each table's amounts are added with Python's `Decimal` (exact), compared with the
# grand total, and the grand total itself with a plain-Python sum over every event's
# `billable_amount`, computed without Polars. Any difference, even `0.000001`, stops the
# notebook (`assert`).

# %%
python_total = sum(
    (amount for amount in frame["billable_amount"].to_list() if amount is not None), Decimal(0)
)
checks = []
for name, table in tables.items():
    parts = sum(table["total_amount"].to_list(), Decimal(0))
    events = int(table["n_events"].sum())
    checks.append(
        {
            "table": f"by {name}",
            "groups": table.height,
            "sum_of_groups": parts,
            "grand_total": grand_total,
            "difference": parts - grand_total,
            "events_in_groups": events,
            "foots": parts == grand_total and events == frame.height,
        }
    )
checks.append(
    {
        "table": "plain-Python sum of billable_amount",
        "groups": frame.height,
        "sum_of_groups": python_total,
        "grand_total": grand_total,
        "difference": python_total - grand_total,
        "events_in_groups": frame.height,
        "foots": python_total == grand_total,
    }
)
money = pl.Decimal(38, 6)
reconciliation = pl.DataFrame(
    checks,
    schema={
        "table": pl.String,
        "groups": pl.Int64,
        "sum_of_groups": money,
        "grand_total": money,
        "difference": money,
        "events_in_groups": pl.Int64,
        "foots": pl.Boolean,
    },
    orient="row",
)
assert reconciliation["foots"].all(), reconciliation.filter(~pl.col("foots"))
print(
    f"Reconciliation: all {len(tables)} tables foot to the grand total {grand_total} exactly, "
    f"and so does the plain-Python sum of {frame.height:,} events' amounts."
)
reconciliation

# %% [markdown]
# ## Export to Excel
#
# Two workbooks, written by leadping_nb's exporter (`to_excel`, atomically: a reader never
# sees a half-written file):
#
# * `billing-summary.xlsx`: every table above stacked into one sheet, with a `table`
#   column to filter on (campaign, source, 10DLC campaign, ...). Each table's rows add up
#   to the grand total, so filter on one table before you `SUM` a column.
# * `billed-events.xlsx`: the line items, one row per billed event, for audits.
#
# Excel is not a database, and two of its limits matter here:
#
# * **Numbers are 64-bit floats**, shown with at most 15 significant digits. The exporter
#   writes an amount column as numbers only when every value fits in 15 digits (real
#   amounts like `0.0079` always do); then each cell shows exactly the decimal we
#   computed. Otherwise it writes the whole column as exact text and says so in a note on
#   the header. An Excel `SUM` is still float arithmetic: over many cells it can be off in the
#   last digits, hidden by the number format. The exact totals are the ones in this
#   notebook.
# * **Excel has no time zones.** Timestamps are converted to `time_zone` and written as
#   wall-clock times; a note on the column header names the zone (the column names are
#   those of the CSV: `created_at`), and they are truncated to milliseconds (Excel's
#   precision). An `about` sheet in each workbook records these rules. Use Parquet
#   (`to_parquet`) to hand data to another program without any of these losses.

# %%
stacked = pl.concat(
    [
        table.select(
            pl.lit(name).alias("table"),
            (
                pl.col("period").dt.strftime("%Y-%m-%d")
                if name == every
                else pl.col(table.columns[0]).cast(pl.String)
            ).alias("group"),
            *columns,
        )
        for name, table in tables.items()
    ]
)
summary_path = to_excel(stacked, out / "billing-summary.xlsx", sheet="billing")
line_items = frame.filter(pl.col("billable_amount").is_not_null()).select(
    "created_at",
    "lead_id",
    "id",
    "event_type",
    "direction",
    "campaign_id",
    "source_id",
    "ten_dlc_campaign_id",
    "billing_status",
    "billable_amount",
)
items_path = to_excel(
    line_items, out / "billed-events.xlsx", time_zone=time_zone, sheet="billed events"
)
print(f"Wrote {summary_path} ({stacked.height} rows) and {items_path} ({line_items.height:,} rows)")

# %% [markdown]
# ## Conclusions
#
# Computed from the tables above.

# %%
campaigns = tables["campaign"].filter(pl.col("campaign_id") != "(not set)")
conclusions = [
    f"**Total.** {frame.height:,} events of {frame['lead_id'].n_unique():,} leads were "
    f"billed **{grand_total}** in all, over {int(total['n_used'].item()):,} billed events; "
    f"{int(total['n_delivered'].item()):,} outbound messages were delivered, "
    f"**{total['cost_per_delivered'].item()}** per delivered message."
]
if campaigns.height and grand_total:
    top = campaigns.row(0, named=True)
    cpd = campaigns.filter(pl.col("cost_per_delivered").is_not_null()).sort("cost_per_delivered")
    conclusions.append(
        f"**Campaigns.** {campaigns.height} campaigns were billed; the largest, "
        f"*{top['campaign_id']}*, accounts for {top['total_amount']} "
        f"({float(top['total_amount'] / grand_total):.1%} of the total)."
        + (
            f" The cost per delivered message ranges from {cpd['cost_per_delivered'][0]} "
            f"(*{cpd['campaign_id'][0]}*) to {cpd['cost_per_delivered'][-1]} "
            f"(*{cpd['campaign_id'][-1]}*)."
            if cpd.height >= 2
            else ""
        )
    )
kinds = tables["event type"].filter(pl.col("total_amount") > 0)
if kinds.height:
    conclusions.append(
        "**What was billed.** "
        + "; ".join(
            f"{row['event_type']}: {row['total_amount']} "
            f"({float(row['total_amount'] / grand_total):.1%})"
            for row in kinds.iter_rows(named=True)
        )
        + "."
    )
busiest = tables[every].sort("total_amount", descending=True)
if busiest.height and grand_total:
    row = busiest.row(0, named=True)
    conclusions.append(
        f"**Periods.** The most expensive {every} began {row['period']:%Y-%m-%d} "
        f"({time_zone}) with {row['total_amount']} billed."
    )
display(Markdown("\n\n".join(conclusions)))

# %% [markdown]
# ## The billing report as HTML
#
# `BillingReport` packages the standard billing tables (by status, period, campaign and
# event type) with their figures into one self-contained HTML file. It runs the same
# footing check on every table when it is built.

# %%
report = BillingReport.from_frame(
    frame,
    leads=lead_ids,
    window=span,
    filters=query,
    time_zone=time_zone,
    every=every,
    cost_scale=cost_scale,
    as_of=emu.now if emu is not None else None,
    source=origin,
)
assert report.kpis["total_amount"].value == grand_total
path = report.save(out / "billing-report.html")
print(f"{report!r}\nWindow: {span.label if span is not None else 'all the data'}\nSaved {path}")
