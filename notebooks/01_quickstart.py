# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # leadping_nb quick start
#
# Leadping keeps an activity history for every lead: the messages you send and their
# delivery lifecycle, the replies, calls, notes and automation steps. The API serves it one
# page at a time from `POST /events/leads/{leadId}`. **leadping_nb** pages those events for
# you, for one lead or thousands, and turns them into a **Polars DataFrame with a declared
# schema**: timestamps are `Datetime("us", "UTC")`, money is an exact `Decimal`, nothing is
# guessed from the data.
#
# This notebook walks through the basics, top to bottom:
#
# 1. connect: to the built-in **emulator** (the default: no key, no network) or to the
#    real API;
# 2. one lead's events as a typed frame, and the schema behind it;
# 3. pages, filters and what a bad query looks like;
# 4. many leads at once, with a progress bar;
# 5. the local **store**: keep events on disk and follow what changes.
#
# Everything below runs offline against the emulator, a built-in fake Leadping that
# generates realistic, reproducible activity from a seed.

# %% [markdown]
# ## Parameters
#
# The next cell holds the parameters (it is tagged `parameters`, so
# [papermill](https://papermill.readthedocs.io) can override them:
# `papermill 01_quickstart.ipynb out.ipynb -p source api`).
#
# * `source`: `"emulator"` (offline, the default) or `"api"` (the real Leadping API; the
#   key is read from the `LEADPING_API_KEY` environment variable).
# * `lead_ids`: the leads to look at; `None` takes the first `n_leads` of your lead list.
# * `since`, `until`: an optional half-open window `[since, until)` on the events'
#   creation time, as ISO dates or date-times (`"2026-10-01"`,
#   `"2026-10-01T09:00:00-04:00"`); without a UTC offset they are read in `time_zone`.
# * `time_zone`: the IANA zone used to *show* times (data stay in UTC).
# * `seed`, `n_leads`: the emulator's data set (same seed, same data).
# * `page_size`: events per request (1-1000; bigger pages mean fewer requests).
# * `output_dir`: where files are written (relative to the notebook's working directory).

# %% tags=["parameters"]
source = "emulator"  # "emulator" (offline) or "api" (key from LEADPING_API_KEY)
lead_ids = None  # list of lead ids; None: the first n_leads of the lead list
since = None  # window start (inclusive), ISO date or date-time; None: open
until = None  # window end (exclusive), ISO date or date-time; None: open
time_zone = "America/New_York"  # IANA zone for dates, periods and axes
seed = 7  # emulator data set
n_leads = 40  # leads: the emulator's size and the default portfolio's
page_size = 1000  # events per request (1-1000)
output_dir = "notebook-output"  # where files are written (relative to the cwd)

# %% [markdown]
# ## Imports
#
# `leadping_nb` is usually imported as `lp`. Importing it is cheap: the HTTP stack loads on
# first use.

# %%
# ruff: noqa: E402, B018  (imports follow the parameters cell; bare names display values)
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from IPython.display import Markdown, display
from tqdm.auto import tqdm

import leadping_nb as lp
from leadping_nb.store import EventStore

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)


# the window [since, until) as a Window: dates at local midnight in time_zone, date-times
# without an offset read there too (Window.parse's START..END form)
span = None
if since or until:
    span = lp.Window.parse(f"{since or ''}..{until or ''}", time_zone=time_zone)
start, end = span.bounds if span is not None else (None, None)

# %% [markdown]
# ## 1. Connect
#
# A `Client` is the one object that talks to Leadping. With the emulator, `emu.client()`
# builds a client whose requests go straight into the emulator, in process (no socket is
# opened). Against the real API, `lp.Client()` reads the key from `LEADPING_API_KEY`; the
# key is never printed, logged or stored (its repr shows `api_key=***`).
#
# The synchronous `Client` works here, inside Jupyter's running event loop, without
# `asyncio.run` or `nest_asyncio`: it runs its work on a private event-loop thread.
# (`lp.AsyncClient` has the same methods for `await` in async code.)

# %%
if source == "emulator":
    emu = lp.Emulator(seed=seed, n_leads=n_leads)
    client = emu.client()
elif source == "api":
    emu = None
    client = lp.Client()  # api_key from LEADPING_API_KEY
    if not client.has_api_key:
        raise RuntimeError("source='api' needs the LEADPING_API_KEY environment variable")
else:
    raise ValueError(f"source must be 'emulator' or 'api', got {source!r}")
client

# %% [markdown]
# Which leads? `client.leads()` lists your leads (`POST /leads/all/my`), with an optional
# search over names, e-mail and phone. Unless `lead_ids` was given, the first `n_leads` of
# that list are the portfolio of this notebook.

# %%
leads = client.leads(max_leads=n_leads)
if lead_ids is None:
    lead_ids = leads["id"].to_list()
print(f"{len(lead_ids)} leads, for example {lead_ids[:3]}")
leads.head(5)

# %% [markdown]
# ## 2. One lead's events as a typed frame
#
# An `EventQuery` says *what* to ask for: page size, order, exact filters, ranges, a text
# search. It is validated when you create it, before anything is sent.
# `client.events(lead, query)` is a **deferred** search: nothing is requested until you ask
# for the `frame()`, the `pages()`, the raw `items()`, or the `count()`.

# %%
window: dict[str, datetime] = {}
if start is not None:
    window["ge"] = start
if end is not None:
    window["lt"] = end
query = lp.EventQuery(
    page_size=page_size,
    range_filters={"createdAt": window} if window else (),
)
lead = lead_ids[0]
search = client.events(lead, query)
n_matching = search.count()  # one small request: the server's totalCount
one = search.frame()  # every page, decoded into one typed frame
print(f"{lead}: the server counts {n_matching} events; the frame has {one.height} rows")
one.select("created_at", "event_type", "direction", "status", "billable_amount", "summary").head(8)

# %% [markdown]
# ### The schema
#
# Every frame has exactly the same columns and types, whatever the API sent: one declared
# schema (`lp.EVENT_SCHEMA`) maps each API field (camelCase) to a snake_case column and a
# type. Fields a lead's events do not carry are null columns, never missing ones, so code
# written against one lead works for every lead and for both API versions ("eras") the
# schema knows. `lp.schema_table()` lists it with what each field means:

# %%
with pl.Config(tbl_rows=-1, fmt_str_lengths=70, tbl_width_chars=160):
    display(lp.schema_table().select("api", "column", "dtype", "eras", "meaning"))

# %% [markdown]
# The two types that matter most for analysis:
#
# * **Timestamps** are UTC instants, `Datetime("us", "UTC")`. Convert them for *display*
#   only, with `dt.convert_time_zone`; comparisons and durations work on the instants.
# * **Money** (`billable_amount`) is `Decimal(18, 6)`: sums are exact, no float rounding.

# %%
print({name: one.schema[name] for name in ("created_at", "delivered_at", "billable_amount")})
one.select(
    pl.col("created_at").dt.convert_time_zone(time_zone).alias(f"created ({time_zone})"),
    "event_type",
    (pl.col("delivered_at") - pl.col("queued_at")).alias("queued → delivered"),
    "billable_amount",
).drop_nulls("billable_amount").head(5)

# %%
spent = one["billable_amount"].sum()
print(f"{lead} was billed {spent} in total (an exact {type(spent).__name__})")

# %% [markdown]
# ## 3. Pages, filters and validation
#
# Behind `frame()` is the paging loop: it sends the query, echoes the server's
# continuation token to get the next page, and stops when the token is empty. You can
# watch the pages yourself; `max_pages` / `max_events` cap a search (and then
# `complete` is False, so a capped result is never mistaken for the whole history).

# %%
small = client.events(lead, lp.EventQuery(page_size=10), max_pages=3)
for page in small.pages():
    print(
        f"page {page.number}: {len(page)} events, next token: {'yes' if page.token else 'no'}, "
        f"{page.attempts} attempt(s)"
    )
print("complete history?", small.complete)

# %% [markdown]
# Filters are exact matches (ANDed), range filters bound timestamps and numbers, and the
# order can use several keys. Field names may be camelCase (as in the API) or snake_case.
# Here: this lead's outbound messages, newest first.

# %%
outbound = client.events(
    lead,
    lp.EventQuery(
        page_size=page_size,
        order_by="-createdAt",
        filters={"direction": "Outbound"},
        range_filters={"createdAt": window} if window else (),
    ),
).frame()
outbound.select("created_at", "event_type", "status", "status_reason", "retry_count").head(5)

# %% [markdown]
# A mistake in a query is a `QueryError` that names the field and the valid choices, raised
# before any request:

# %%
try:
    lp.EventQuery(filters={"diretion": "Outbound"})
except lp.QueryError as exc:
    print(f"QueryError: {exc}"[:300])

# %% [markdown]
# ## 4. Many leads at once, with progress
#
# `client.fetch_events(lead_ids, query)` pages many leads **concurrently** (8 requests in
# flight by default) while staying under Leadping's rate limit (300 requests a minute),
# retrying throttled or failed requests. It reports progress through `on_progress`, called
# after every page with a `FetchProgress` (leads done, pages, events). Here it drives a
# `tqdm` progress bar.
#
# A lead that fails does not cost the others: the result holds one frame of every lead
# that succeeded, a status row per lead, and the errors.

# %%
with tqdm(total=len(lead_ids), unit="lead", desc="Fetching events") as bar:

    def on_progress(p: lp.FetchProgress) -> None:
        if p.lead_finished:
            bar.update(1)
        bar.set_postfix(pages=p.pages, events=p.events, refresh=False)

    result = client.fetch_events(lead_ids, query, on_progress=on_progress)
result

# %%
frame = result.frame
display(result.status.sort("events", descending=True).head(5))
print(result.report)  # what the conversion noticed: unknown fields or values, nulled values
print(f"{len(result.failed)} failed leads: {result.failed}")

# %% [markdown]
# The frame of many leads is one ordinary Polars frame with a `lead_id` on every row, so
# the usual Polars questions are one expression away. For example, events per lead and
# their time span (shown in `time_zone`):

# %%
(
    frame.group_by("lead_id")
    .agg(
        pl.len().alias("events"),
        pl.col("created_at").min().dt.convert_time_zone(time_zone).alias("first"),
        pl.col("created_at").max().dt.convert_time_zone(time_zone).alias("last"),
        pl.col("billable_amount").sum().alias("billed"),
    )
    .sort("events", descending=True)
    .head(5)
)

# %% [markdown]
# ## 5. The store: keep events on disk, follow what changes
#
# Fetching everything every time is wasteful: most of the history does not change.
# `EventStore` keeps events in a **Delta Lake table** under a directory (Parquet files
# partitioned by month plus a transaction log): every refresh is one atomic commit, so a
# crash never leaves half a refresh behind, each commit is a *version* you can read back,
# and Polars, Spark or DuckDB read the table as it is (docs/store.md).
#
# `store.refresh(client, lead_ids)` remembers, per lead and per query, the newest
# `created_at` it has (the *watermark*) and asks only for events from there on, plus the
# recent events that can still change (queued, sent without a receipt yet, a retry due, a
# charge pending; within `lookback`, 7 days by default), and MERGEs what changed.
# `store.refresh(client)` without lead ids does the same for the whole account through the
# account-wide stream: one request per 1,000 events, whatever the number of leads.
#
# Leadping allows 300 requests a minute per key: the client keeps count and waits when the
# budget is spent, so reading only what can have changed matters for a large account.
#
# This walkthrough starts from an empty store (it removes the store it made on a previous
# run). `now=` tells the store what time it is: the emulator's clock, or the real clock.

# %%
store_dir = out / "quickstart-store"
if store_dir.exists():
    shutil.rmtree(store_dir)
store = EventStore(store_dir)
as_of = emu.now if emu is not None else None

first = store.refresh(client, lead_ids, now=as_of)
print("first refresh: ", first)
second = store.refresh(client, lead_ids, now=as_of)
print("second refresh:", second)
display(
    Markdown(
        f"The first refresh stored **{first.added:,}** events in {first.requests:,} requests. "
        f"The second found **{second.added:,}** new events and needed "
        f"{second.requests:,} requests: one per lead, each asking only for the events at or "
        "after that lead's watermark or its oldest event that could still change."
    )
)

# %% [markdown]
# When new activity arrives, a refresh fetches just that. The emulator can append events
# to a lead (`emu.add_events`) to show it; against the real API, new events simply appear.

# %%
if emu is not None:
    emu.add_events(lead_ids[0], 5)
    emu.add_events(lead_ids[-1], 2)
third = store.refresh(client, lead_ids, now=as_of)
print("after new activity:", third)
store.leads().sort("watermark", descending=True).head(3)

# %% [markdown]
# Events change after they were stored: a message queued an hour ago is delivered now, a
# failed one is retried, a pending charge is billed. The emulator's clock moves when asked
# (`emu.advance(...)`): the same events progress as real traffic does, and new events and
# new leads arrive. The next refresh re-reads what could have changed and counts what did.
# Every earlier version stays readable.

# %%
if emu is not None:
    emu.advance(timedelta(hours=12))
    as_of = emu.now
later = store.refresh(client, lead_ids, now=as_of)
print("twelve hours later:", later)
print(
    f"store version {store.version}; version 0 still reads {store.read(version=0).height:,} events"
)
store.history()

# %% [markdown]
# Reading back: `store.read()` returns the stored events (optionally for some leads and a
# window); `store.scan()` is a lazy Polars scan for data larger than memory. Both have
# exactly the declared schema, so everything above applies unchanged.

# %%
stored = store.read()
print(
    f"The store holds {stored.height:,} events of {stored['lead_id'].n_unique()} leads; "
    f"the fetch above had {frame.height:,}."
)
(
    store.scan()
    .filter(pl.col("direction") == "Outbound")
    .group_by("status")
    .agg(pl.len().alias("messages"))
    .sort("messages", descending=True)
    .collect()
)

# %%
client.close()

# %% [markdown]
# ## Where next
#
# * `02_delivery_report`: delivery latency, outcomes, failures and retries of a portfolio,
#   with figures and conclusions computed from the data.
# * `03_billing_report`: exact spend by campaign, source, 10DLC campaign and period, and
#   an Excel export.
# * `04_metric_prototyping`: define your own metric as a Polars expression and validate it.
