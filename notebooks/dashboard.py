# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Leadping event explorer
#
# An interactive dashboard over your leads' activity: the messages sent and their delivery
# lifecycle, replies, calls, notes and automation steps. Serve it with Voilà
# (`voila notebooks/dashboard.ipynb`) or run it in JupyterLab 4 / Notebook 7.
#
# 1. **Leads**: search your leads as you type (name, e-mail or phone; the search runs on the
#    server), pick several, or paste a list of lead ids. Ids that are malformed, or not
#    among your leads, are listed under the box and not added.
# 2. **Filters**: a date range in the time zone you choose, from a preset (last 7 days,
#    last 30 days, this month, last month) or custom dates (sent as an explicit UTC
#    half-open range, shown under the dates), event type, direction, status, campaign and
#    source, a text search in the fields you pick, and the page size of the fetch.
# 3. **Fetch**: pages the events of the picked leads in the background. The bar advances
#    per lead, the counters per page; **Cancel** stops the requests in flight. Leads that
#    failed are listed with their errors; their events are left out.
# 4. **Results**: KPIs (events, leads, delivery rate, median latency, retried messages,
#    exact billed amount), every matching event in an interactive table (sort, search and
#    page through them; money is exact text), and figures (one tab at a time).
# 5. **Lead timeline**: pick a lead of the current rows to see its messages in time order
#    (lifecycle timestamps, outcome, retries, step durations, billing) and their lanes.
#
# Changing a filter or the lead selection after a fetch recomputes everything from the
# fetched events in memory, without a request. If the new filters reach beyond what was
# fetched (an earlier date, another event type, a new lead), a note says so and **Fetch**
# turns orange.
#
# By default the dashboard runs on the built-in **emulator** (offline, reproducible
# synthetic data). To use the real API, set `use_emulator = False` below (or with
# papermill: `-p use_emulator False`) and put your key in the `LEADPING_API_KEY`
# environment variable. The key is never shown or stored in the widgets.

# %% tags=["parameters"]
use_emulator = True  # False: the real Leadping API, key from LEADPING_API_KEY
seed = 7  # emulator data seed
n_leads = 40  # emulator leads
latency_ms = 20.0  # emulator answer delay, so the progress is visible
time_zone = "UTC"  # dates, table times and calendar periods

# %%
# ruff: noqa: E402, B018  (imports follow the parameters cell; the bare name displays it)
from IPython.display import HTML, display

from leadping_nb import Client
from leadping_nb.emulator import Emulator
from leadping_nb.widgets import EventExplorer

now = None  # the date presets ("last 7 days", "last month") end now
if use_emulator:
    emu = Emulator(seed=seed, n_leads=n_leads, latency_ms=latency_ms)
    client = emu.client()
    now = emu.now  # the emulator's data end at its own fixed now
else:
    client = Client()  # reads LEADPING_API_KEY; the key stays out of every widget
    if not client.has_api_key:
        display(HTML("<b>Set LEADPING_API_KEY (or use_emulator = True) to fetch.</b>"))

explorer = EventExplorer(client, time_zone=time_zone, now=now, title=None)  # the page has its title
explorer
