"""Bytes → typed frame: events_frame vs plain Polars, the parse floor and naive pandas.

Run: /work/main/.venv/bin/python bench/frame.py [--events N] [--repeat R] [--quick]
     [--pandas-repeat P] [--eras seed,current] [--no-readme]

Builds realistic raw page bodies itself (default 20,000 events per era; ``--quick``: 10,000,
2 repeats):

* ``current`` era: today's fields, numbers as JSON numbers (``"billableAmount":0.0079``,
  ``"retryCount":2``), millisecond timestamps (3 fractional digits), ~5 % of events with a
  media attachment, lifecycle timestamps null where they do not apply;
* ``seed`` era: exactly the seed's 41 fields, numbers as strings (``"0.0079"``, ``"2"``),
  whole-second timestamps;

and from each era the data variants: declared fields only; 1, 3 and 10 undeclared fields
on every item (text, boolean and integer values, as the API's new fields are); 3 undeclared
fields with every timestamp given 0, 3 or 7 fractional digits at random. Each variant in
pages of 100 and of 1,000 events. On the same bytes, in one process, repetitions
interleaved (every method once per round), median wall time:

* **ours**: ``leadping_nb._frame.decode.events_frame(pages)`` → the typed, checked frame (Decimal
  money, UTC datetimes, validated values, unknown fields reported);
* **plain**: the plain Polars code a competent user writes: ``json.loads`` per page,
  ``pl.DataFrame`` of all items with an explicit schema of the era's fields (numbers as the
  era sends them), then casts: ``str.to_datetime("%+")`` per timestamp, amounts to
  ``Decimal(18, 6)``;
* **floor**: ``pl.read_json(page, schema=...)`` of every page with the schema
  ``events_frame`` learns (``ReadKeys``: the era's declared keys plus the learned undeclared
  ones) and nothing else, on the same two threads ``events_frame`` parses with;
* **pandas**: ``json.loads`` every page, ``pd.DataFrame`` of all items, ``pd.to_datetime``
  (``utc=True, format="ISO8601"``) per timestamp column, ``Decimal(str(x))`` per amount.

Peak memory of ``events_frame`` is measured on ``--mem-events`` events (default 100,000, so
that Polars' fixed allocations do not dominate) in a child process per variant as
``VmHWM - VmRSS`` from ``/proc/self/status``: VmRSS just before the call (page bytes loaded),
VmHWM right after it, the high-water mark reset with ``/proc/self/clear_refs`` before the
call. RSS includes Polars' Rust allocations (which ``tracemalloc`` does not see) and the
returned frame. The measured call comes after a first call on one page, whose own peak (the
one-time set-up of Polars' and numpy's machinery, not memory that grows with the pages) is
printed with the results.

Naive pandas runs ``--pandas-repeat`` rounds (default 1) instead of ``--repeat``: it is the
slowest method by far, and this keeps ``--events 100000 --repeat 3`` to about ten minutes.

Targets on every variant: ours ≥ 1.5× plain, ≥ 4× pandas, ≤ 1.6× the floor's time, peak
memory ≤ 1.5× the raw bytes; and pages with undeclared fields within 1.10× of the time of
the same events without them (issue 18; the floor's own ratio is printed beside it: the
extra fields are extra bytes to parse).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"

# --------------------------------------------------------------------------- data


def _ts(base: datetime, seconds: int, ms: int | None) -> str:
    t = base + timedelta(seconds=seconds)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    return f'"{text}.{ms:03d}Z"' if ms is not None else f'"{text}Z"'


def _s(value: str | None) -> str:
    return "null" if value is None else json.dumps(value)


STATUSES = ["Delivered", "Delivered", "Delivered", "Sent", "Failed", "Queued", "Received"]
TRAFFIC = ["RealLead"] * 8 + ["Warmup", "Test"]
REASONS = ["StickyConversation", "LeadAssigned", "CampaignOrSource", "LocalArea", "HealthyPool"]
SUMMARIES = [
    "Hi {n}, thanks for reaching out! Reply STOP to opt out.",
    "Your appointment is confirmed for tomorrow at 10:30.",
    "Missed call from +1555{p}",
    "Lead status changed to Contacted",
]


def current_item(rng: random.Random, i: int, lead: str, base: datetime) -> str:
    status = rng.choice(STATUSES)
    t0 = rng.randrange(0, 90 * 86400)
    sent = status in ("Delivered", "Sent")

    def ts(offset: int, cond: bool = True) -> str:
        return _ts(base, t0 + offset, rng.randrange(1000)) if cond else "null"

    media = "[]"
    if rng.random() < 0.05:
        size, digest = rng.randrange(10_000, 5_000_000), rng.getrandbits(256)
        media = (
            f'[{{"url":"https://cdn.leadping.example/m/{i:08d}.jpg","contentType":"image/jpeg",'
            f'"size":{size},"sha256":"{digest:064x}","fileName":"photo.jpg",'
            f'"fileId":"file-{i:08d}"}}]'
        )
    summary = rng.choice(SUMMARIES).format(n="Sam", p=rng.randrange(1_000_000, 9_999_999))
    return (
        "{"
        f'"id":"evt-{i:09d}","leadId":"{lead}","eventType":"Sms","eventCategory":"Messaging",'
        f'"timelineCategory":"Conversation","timelineType":"Sms",'
        f'"description":"Outbound SMS to lead","summary":{_s(summary)},'
        f'"conversationId":"conv-{rng.randrange(100000):06d}","relatedEntityType":null,'
        f'"relatedEntityId":null,"direction":"Outbound","status":"{status}",'
        f'"statusReason":{"null" if status != "Failed" else _s("Carrier rejected")},'
        f'"trafficType":"{rng.choice(TRAFFIC)}","isDemo":false,'
        f'"fromPhoneNumberId":"pn-{rng.randrange(500):04d}",'
        f'"outboundPhoneNumberId":"pn-{rng.randrange(500):04d}",'
        f'"fromPhoneNumber":"+1555{rng.randrange(1_000_000, 9_999_999)}",'
        f'"toPhoneNumber":"+1555{rng.randrange(1_000_000, 9_999_999)}",'
        f'"selectionReason":"{rng.choice(REASONS)}","wasManuallyOverridden":false,'
        f'"campaignId":"camp-{rng.randrange(40):03d}","sourceId":"src-{rng.randrange(12):02d}",'
        f'"complianceAction":null,"billingStatus":"Billed",'
        f'"billableAmount":{rng.randrange(0, 400) / 10000},"errorCode":null,'
        f'"retryCount":{rng.choice((0, 0, 0, 1, 2))},'
        f'"queuedAt":{ts(0)},"sendingStartedAt":{ts(1)},"sentAt":{ts(2, sent)},'
        f'"deliveredAt":{ts(5, status == "Delivered")},"receivedAt":null,'
        f'"failedAt":{ts(3, status == "Failed")},"undeliverableAt":null,"blockedAt":null,'
        f'"nextRetryAt":null,"scheduledFor":null,"scheduledReason":null,"canceledAt":null,'
        f'"cancelReason":null,"createdAt":{ts(0)},"createdBy":"automation",'
        f'"actorUserId":null,"actorDisplayName":"Automation","actorEmail":null,'
        f'"actorLeadId":null,"automationRunId":"run-{rng.randrange(10**6):06d}",'
        f'"voicemailUrl":null,"media":{media}'
        "}"
    )


def seed_item(rng: random.Random, i: int, lead: str, base: datetime) -> str:
    t0 = rng.randrange(0, 90 * 86400)
    status_failed = rng.random() < 0.1

    def ts(offset: int, cond: bool = True) -> str:
        return _ts(base, t0 + offset, None) if cond else "null"

    return (
        "{"
        f'"id":"evt-{i:09d}","eventType":"Sms","eventCategory":"Messaging",'
        f'"activityCategory":"Conversation","description":"Outbound SMS to lead",'
        f'"conversationId":"conv-{rng.randrange(100000):06d}","leadId":"{lead}",'
        f'"summary":"Hi Sam, thanks for reaching out! Reply STOP to opt out.",'
        f'"direction":"Outbound","statusReason":null,"isWarmup":{str(rng.random() < 0.1).lower()},'
        f'"fromPhoneNumberId":"pn-{rng.randrange(500):04d}",'
        f'"outboundPhoneNumberId":"pn-{rng.randrange(500):04d}",'
        f'"fromPhoneNumber":"+1555{rng.randrange(1_000_000, 9_999_999)}",'
        f'"toPhoneNumber":"+1555{rng.randrange(1_000_000, 9_999_999)}",'
        f'"telnyxId":"tx-{rng.getrandbits(64):016x}","providerMessageId":"pm-{i:09d}",'
        f'"wasManuallyOverridden":false,"campaignId":"camp-{rng.randrange(40):03d}",'
        f'"sourceId":"src-{rng.randrange(12):02d}","tenDlcCampaignId":"C{rng.randrange(10**6):06d}",'
        f'"complianceAction":null,"billingStatus":"Billed",'
        f'"billableAmount":"{rng.randrange(0, 400) / 10000}","errorCode":null,'
        f'"retryCount":"{rng.choice((0, 0, 0, 1, 2))}",'
        f'"queuedAt":{ts(0)},"sendingStartedAt":{ts(1)},"sentAt":{ts(2)},'
        f'"deliveredAt":{ts(5, not status_failed)},"receivedAt":null,'
        f'"failedAt":{ts(3, status_failed)},"undeliverableAt":null,"blockedAt":null,'
        f'"nextRetryAt":null,"scheduledFor":null,"scheduledReason":null,"canceledAt":null,'
        f'"cancelReason":null,"createdAt":{ts(0)},"createdBy":"automation"'
        "}"
    )


def build_items(era: str, n_events: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    make = current_item if era == "current" else seed_item
    return [make(rng, i, f"lead-{i // 5000:05d}", base) for i in range(n_events)]


def build_pages(era: str, items: list[str], per_page: int) -> list[bytes]:
    n_events = len(items)
    pages = []
    for start in range(0, n_events, per_page):
        chunk = ",".join(items[start : start + per_page])
        last = start + per_page >= n_events
        token = "null" if last else json.dumps(f"tok-{start + per_page}")
        if era == "current":
            envelope = f',"pageSize":{per_page},"totalCount":null,"continuationToken":{token}}}'
        else:
            envelope = f',"pageSize":"{per_page}","totalCount":null,"continuationToken":{token}}}'
        pages.append(('{"items":[' + chunk + "]" + envelope).encode())
    return pages


def write_pages(pages: list[bytes], path: Path) -> None:
    with path.open("wb") as f:
        for p in pages:
            f.write(struct.pack("<Q", len(p)))
            f.write(p)


def read_pages(path: Path) -> list[bytes]:
    data = path.read_bytes()
    pages, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        pages.append(data[pos : pos + n])
        pos += n
    del data
    return pages


# --------------------------------------------------------------------------- variants

VARIANTS = ("declared", "+1 undeclared", "+3 undeclared", "+10 undeclared", "+3, 0/3/7 digits")
_TS_RX = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z"')


def add_undeclared(items: list[str], k: int, seed: int = 11) -> list[str]:
    """``k`` undeclared fields on every item: text, boolean and integer values in turn."""
    rng = random.Random(seed)
    out = []
    for s in items:
        parts = []
        for j in range(k):
            if j % 3 == 0:
                parts.append(f'"newField{j}":"v-{rng.randrange(10**6):06d}"')
            elif j % 3 == 1:
                parts.append(f'"newFlag{j}":{"true" if rng.random() < 0.5 else "false"}')
            else:
                parts.append(f'"newCount{j}":{rng.randrange(10**6)}')
        out.append(s[:-1] + "," + ",".join(parts) + "}")
    return out


def mixed_fractions(items: list[str], seed: int = 13) -> list[str]:
    """Every timestamp with 0, 3 or 7 fractional digits, at random."""
    rng = random.Random(seed)

    def one(m: re.Match[str]) -> str:
        digits = rng.choice((0, 3, 7))
        frac = "" if not digits else "." + "".join(rng.choice("0123456789") for _ in range(digits))
        return f'"{m.group(1)}{frac}Z"'

    return [_TS_RX.sub(one, s) for s in items]


def variant_items(items: list[str], variant: str) -> list[str]:
    if variant == "declared":
        return items
    if variant.startswith("+3,"):
        return mixed_fractions(add_undeclared(items, 3))
    return add_undeclared(items, int(variant.split()[0][1:]))


# --------------------------------------------------------------------------- methods

TIMESTAMPS = (
    "queuedAt sendingStartedAt sentAt deliveredAt receivedAt failedAt undeliverableAt "
    "blockedAt nextRetryAt scheduledFor canceledAt createdAt"
).split()


def plain_schema(era: str) -> Any:
    """The explicit schema a user writes for the era's items (numbers as the era sends them)."""
    import polars as pl

    from leadping_nb._core.schema import EVENT_FIELDS, SEED_ITEM_FIELDS, field_by_name

    keys = (
        list(SEED_ITEM_FIELDS)
        if era == "seed"
        else [f.api for f in EVENT_FIELDS if "current" in f.eras]
    )
    media = pl.List(
        pl.Struct(
            {
                "url": pl.String,
                "contentType": pl.String,
                "size": pl.Int64,
                "sha256": pl.String,
                "fileName": pl.String,
                "fileId": pl.String,
            }
        )
    )
    schema: dict[str, Any] = {}
    for key in keys:
        f = field_by_name(key)
        assert f is not None
        if f.kind == "boolean":
            schema[key] = pl.Boolean
        elif f.kind == "media":
            schema[key] = media
        elif era == "current" and f.kind == "money":
            schema[key] = pl.Float64
        elif era == "current" and f.kind == "integer":
            schema[key] = pl.Int64
        else:
            schema[key] = pl.String
    return schema


def run_ours(pages: list[bytes], ctx: dict[str, Any]) -> Any:
    from leadping_nb._frame.decode import events_frame

    return events_frame(pages)


def run_plain(pages: list[bytes], ctx: dict[str, Any]) -> Any:
    import polars as pl

    rows: list[dict[str, Any]] = []
    for p in pages:
        rows.extend(json.loads(p)["items"])
    schema = ctx["plain_schema"]
    df = pl.DataFrame(rows, schema=schema)
    del rows
    casts = [
        pl.col(c).str.to_datetime("%+", time_unit="us", time_zone="UTC")
        for c in TIMESTAMPS
        if c in schema
    ]
    casts.append(pl.col("billableAmount").cast(pl.Decimal(18, 6)))
    casts.append(pl.col("retryCount").cast(pl.Int32))
    return df.with_columns(casts)


def run_floor(pages: list[bytes], ctx: dict[str, Any]) -> Any:
    import polars as pl

    schema = ctx["floor_schema"]
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda p: pl.read_json(p, schema=schema), pages))


def run_pandas(pages: list[bytes], ctx: dict[str, Any]) -> Any:
    from decimal import Decimal

    import pandas as pd

    rows: list[dict[str, Any]] = []
    for p in pages:
        rows.extend(json.loads(p)["items"])
    df = pd.DataFrame(rows)
    del rows
    for col in TIMESTAMPS:
        if col in df.columns:
            df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    df["billableAmount"] = df["billableAmount"].map(
        lambda v: None if v is None else Decimal(str(v))
    )
    return df


METHODS = {"ours": run_ours, "plain": run_plain, "floor": run_floor, "pandas": run_pandas}


def context(era: str, pages: list[bytes]) -> dict[str, Any]:
    import polars as pl

    from leadping_nb._frame.page import ReadKeys, _read_envelope

    hint = ReadKeys()
    hint.learn(pages[0], pl.read_json(pages[0], schema=_read_envelope(None))["items"])
    return {
        "plain_schema": plain_schema(era),
        "floor_schema": _read_envelope(hint.keys, hint.extra),
    }


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_of(call: Any) -> int:
    """RSS growth of ``call()`` at its high-water mark (bytes)."""
    import gc

    gc.collect()
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    result = call()
    peak = _status("VmHWM") - before
    del result
    return peak


def memory_worker(path: Path) -> None:
    """Child process: peak RSS growth of one events_frame call over the loaded pages,
    after a first call on one page (Polars' and numpy's one-time set-up, measured too)."""
    import leadping_nb._frame.decode  # noqa: F401  (imported outside the measured region)

    pages = read_pages(path)
    first = _peak_of(lambda: run_ours(pages[:1], {}))
    peak = _peak_of(lambda: run_ours(pages, {}))
    print(json.dumps({"peak": peak, "first": first, "raw": sum(map(len, pages))}))


def measure_memory(pages: list[bytes], tmp: Path) -> tuple[float, float]:
    """(peak ÷ raw bytes of the measured call, MB of the first one-page call)."""
    path = tmp / "pages.bin"
    write_pages(pages, path)
    out = subprocess.run(
        [sys.executable, __file__, "--memory-worker", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    path.unlink()
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return float(r["peak"]) / float(r["raw"]), float(r["first"]) / 1e6


def time_variant(
    pages: list[bytes], ctx: dict[str, Any], repeat: int, pandas_repeat: int
) -> dict[str, float]:
    import gc

    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for round_ in range(repeat):  # interleaved: every method once per round
        for name, run in METHODS.items():
            if name == "pandas" and round_ >= pandas_repeat:
                continue  # the slowest by far: fewer rounds keep the run short
            gc.collect()
            t = time.perf_counter()
            result = run(pages, ctx)
            times[name].append(time.perf_counter() - t)
            del result
    return {m: statistics.median(v) for m, v in times.items()}


# --------------------------------------------------------------------------- probes


def _cpu_min(call: Any, rounds: int = 5) -> float:
    """Least process CPU time of ``call()`` over ``rounds`` (the steadiest on a busy machine)."""
    import gc

    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return best


def probe() -> None:
    """``--probe``: the measurements behind bench/README.md's reading of the table (CPU time,
    least of 5 rounds, one thread unless said)."""
    import polars as pl

    from leadping_nb._frame.page import ReadKeys, _read_envelope

    print("pl.read_json: cost per key against keys per object (1,000 objects, one key read)")
    for k in (24, 28, 29, 32, 48, 56, 57, 64, 112, 113):
        item = "{" + ",".join(f'"k{i:03d}":"v{i}"' for i in range(k)) + "}"
        page = ('{"items":[' + ",".join([item] * 1000) + "]}").encode()
        one_key = {"items": pl.List(pl.Struct({"k000": pl.String}))}
        per_object = _cpu_min(lambda page=page, s=one_key: pl.read_json(page, schema=s)) / 1000
        per_key = per_object / k
        print(f"  {k:4d} keys: {per_object * 1e6:6.2f} µs an object, {per_key * 1e9:5.1f} ns a key")
    items = build_items("current", 20_000)
    print("pl.read_json with the learned schema, current era, 20,000 events: µs per event")
    for variant in VARIANTS[:4]:
        for per_page, joined in ((100, 1), (1000, 1), (100, 10)):
            pages = build_pages("current", variant_items(items, variant), per_page)
            hint = ReadKeys()
            hint.learn(pages[0], pl.read_json(pages[0], schema=_read_envelope(None))["items"])
            env = _read_envelope(hint.keys, hint.extra)
            if joined > 1:  # several pages in one document: {"pages": [page, page, ...]}
                docs = [
                    b'{"pages":[' + b",".join(pages[i : i + joined]) + b"]}"
                    for i in range(0, len(pages), joined)
                ]
                schema: dict[str, Any] = {"pages": pl.List(pl.Struct(env))}
            else:
                docs, schema = pages, dict(env)
            cpu = _cpu_min(
                lambda docs=docs, schema=schema: [pl.read_json(d, schema=schema) for d in docs]
            )
            label = f"pages of {per_page:,}" + (f", {joined} a document" if joined > 1 else "")
            print(f"  {variant:18s} {label:26s} {cpu / 20_000 * 1e6:5.2f}")
    print("events_frame's own stages on 20,000 current-era events: µs of CPU per event")
    for per_page in (100, 1000):
        for variant in ("declared", "+3 undeclared", "+10 undeclared", "+3, 0/3/7 digits"):
            costs = _stage_costs(build_pages("current", variant_items(items, variant), per_page))
            own = sum(v for k, v in costs.items() if k != "parse (floor)")
            print(
                f"  pages of {per_page:,}, {variant}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in costs.items())
                + f"; own stages ÷ parse {own / costs['parse (floor)']:.2f}"
            )
    _probe_colons(items)
    _probe_timestamps()


def _probe_colons(items: list[str]) -> None:
    """The key balance's ``":`` count against the plain ``bytes.count`` (µs per page)."""
    from leadping_nb._frame.counts import _colons

    print("the key balance's \": count, current era: µs of CPU per page")
    for per_page in (100, 1000):
        pages = build_pages("current", items, per_page)[:50]
        ours = _cpu_min(lambda pages=pages: [_colons(p) for p in pages]) / len(pages)
        plain = _cpu_min(
            lambda pages=pages: [p.count(b'":') - p.count(b'":n') for p in pages]
        ) / len(pages)
        print(f"  pages of {per_page:,}: numpy masks {ours * 1e6:.0f}", end="")
        print(f", bytes.count {plain * 1e6:.0f}")


def _probe_timestamps() -> None:
    """The Z parse against the general ``%+`` parse, on one layout and on mixed digits."""
    import polars as pl

    from leadping_nb._frame import typed

    rng = random.Random(5)
    base = datetime(2026, 1, 1, tzinfo=UTC)

    def text(digits: int) -> str:
        t = base + timedelta(seconds=rng.randrange(30_000_000))
        fraction = "".join(rng.choice("0123456789") for _ in range(digits))
        return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"

    print("timestamp text → Datetime, 300,000 values: ms of CPU (all threads)")
    col = pl.col("t")
    for label, choices in (("3 digits", (3,)), ("0/3/7 digits", (0, 3, 7))):
        frame = pl.DataFrame({"t": [text(rng.choice(choices)) for _ in range(300_000)]})
        row = typed._ts_layouts(frame.rename({"t": "createdAt"}), frozenset({"createdAt"}))
        (_, layout), *_ = row
        general = _cpu_min(lambda f=frame: f.select(typed._ts_expr(col)))
        fast = _cpu_min(lambda f=frame, d=layout: f.select(typed._ts_expr(col, d)))
        print(f"  {label}: general {general * 1e3:.0f}, Z parse {fast * 1e3:.0f}")


def _stage_costs(pages: list[bytes]) -> dict[str, float]:
    """µs of CPU per event of each stage of events_frame (and of the parse) on ``pages``."""
    import polars as pl

    from leadping_nb._frame import batch, raw, typed
    from leadping_nb._frame.counts import _colons
    from leadping_nb._frame.page import ReadKeys, _read_envelope

    hint = ReadKeys()
    for _ in range(2):  # the second read is with the learned keys
        parsed = [
            raw._parse_raw(p, lead_id=None, page=i, lenient=False, keep_unknown=False, hint=hint)
            for i, p in enumerate(pages)
        ]
    env = _read_envelope(hint.keys, hint.extra)
    rows, extra = batch._raw_rows(parsed)
    counts = rows.null_count().row(0)
    present = frozenset(k for k, n in zip(rows.columns, counts, strict=True) if n < rows.height)
    media = bool(rows.get_column("media").list.len().sum())
    typed_rows = rows.drop(extra)
    spans = [(1, None, typed_rows.height)]
    stages: dict[str, Any] = {
        "parse (floor)": lambda: [pl.read_json(p, schema=env) for p in pages],
        "count colons": lambda: [_colons(p) for p in pages],
        "amount/escape scan": lambda: raw._scan_bodies(pages),
        "explode pages": lambda: batch._raw_rows(parsed),
        "key balance": lambda: raw._check_keys(
            rows, parsed, present, media, keep_unknown=False, extra=extra
        ),
        "typed conversion": lambda: typed._convert(
            typed_rows,
            spans,
            lenient=False,
            present=present - frozenset(extra),
            media_elements=media,
        ),
    }
    n = sum(len(p.items.explode()) for p in parsed[:1]) * len(pages)
    return {name: _cpu_min(call) / n * 1e6 for name, call in stages.items()}


# --------------------------------------------------------------------------- driver

TARGETS = {"plain": 1.5, "pandas": 4.0, "floor": 1.6, "mem": 1.5, "extra": 1.10}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="10,000 events, 2 repeats")
    ap.add_argument(
        "--mem-events", type=int, default=None, help="events for the memory child (100,000)"
    )
    ap.add_argument(
        "--pandas-repeat", type=int, default=1, help="rounds of naive pandas (default 1)"
    )
    ap.add_argument("--eras", default="seed,current", help="eras to run (default both)")
    ap.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    ap.add_argument("--probe", action="store_true", help="the measurements behind the reading")
    ap.add_argument("--memory-worker", metavar="FILE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_worker:
        memory_worker(Path(args.memory_worker))
        return
    if args.probe:
        probe()
        return
    n = args.events or (10_000 if args.quick else 20_000)
    repeat = args.repeat or (2 if args.quick else 3)
    n_mem = args.mem_events or (40_000 if args.quick else 100_000)
    import pandas  # noqa: F401

    import leadping_nb._frame.decode  # noqa: F401

    rows: list[dict[str, Any]] = []
    first_mbs: list[float] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="leadping-bench-") as tmp:
        for era in args.eras.split(","):
            items = build_items(era, max(n, n_mem))
            for per_page in (100, 1000):
                base: dict[str, float] = {}
                for variant in VARIANTS:
                    every = build_pages(era, variant_items(items, variant), per_page)
                    mem, first_mb = measure_memory(every, Path(tmp))
                    first_mbs.append(first_mb)
                    pages = every[: n // per_page]
                    del every
                    ctx = context(era, pages)
                    if variant == "declared":
                        for warm in ("ours", "plain", "floor"):  # warm-up, not counted
                            METHODS[warm](pages[:20], ctx)
                    t = time_variant(pages, ctx, repeat, min(args.pandas_repeat, repeat))
                    if variant == "declared":
                        base = t
                    row = {
                        "era": era,
                        "per_page": per_page,
                        "variant": variant,
                        "raw": sum(map(len, pages)),
                        "t": t,
                        "mem": mem,
                        "extra": t["ours"] / base["ours"],
                        "floor_extra": t["floor"] / base["floor"],
                    }
                    rows.append(row)
                    print(
                        f"{era}/{per_page} {variant}: ours {t['ours']:.3f}s "
                        f"plain {t['plain']:.3f}s floor {t['floor']:.3f}s "
                        f"pandas {t['pandas']:.3f}s mem {mem:.2f}",
                        file=sys.stderr,
                    )
    table = render(rows, n)
    print(table)
    print(f"run took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if not args.no_readme:
        flags = "--quick" if args.quick else f"--events {n} --repeat {repeat}"
        if args.pandas_repeat != 1:
            flags += f" --pandas-repeat {args.pandas_repeat}"
        if args.eras != "seed,current":
            flags += f" --eras {args.eras}"
        pandas_rounds = min(args.pandas_repeat, repeat)
        update_readme(table, n, repeat, flags, n_mem, pandas_rounds, first_mbs)


def _mark(ok: bool) -> str:
    return "PASS" if ok else "**MISS**"


def render(rows: list[dict[str, Any]], n: int) -> str:
    lines = [
        "| era | page | data | raw MB | ours ev/s | ÷ plain (≥ 1.5) | ÷ pandas (≥ 4) "
        "| time ÷ floor (≤ 1.6) | peak mem ÷ raw (≤ 1.5) | time ÷ declared-only (≤ 1.10); floor's "
        "| plain ÷ floor time |",
        "|---|---:|---|---:|---:|---|---|---|---|---|---:|",
    ]
    for r in rows:
        t = r["t"]
        vs_plain, vs_pandas = t["plain"] / t["ours"], t["pandas"] / t["ours"]
        vs_floor = t["ours"] / t["floor"]
        extra = (
            "—"
            if r["variant"] == "declared"
            else f"{r['extra']:.2f}× {_mark(r['extra'] <= TARGETS['extra'])}; "
            f"{r['floor_extra']:.2f}×"
        )
        lines.append(
            f"| {r['era']} | {r['per_page']:,} | {r['variant']} | {r['raw'] / 1e6:,.1f} "
            f"| {n / t['ours']:,.0f} | {vs_plain:.2f}× {_mark(vs_plain >= TARGETS['plain'])} "
            f"| {vs_pandas:.1f}× {_mark(vs_pandas >= TARGETS['pandas'])} "
            f"| {vs_floor:.2f}× {_mark(vs_floor <= TARGETS['floor'])} "
            f"| {r['mem']:.2f} {_mark(r['mem'] <= TARGETS['mem'])} | {extra} "
            f"| {t['plain'] / t['floor']:.2f}× |"
        )
    return "\n".join(lines)


def update_readme(
    table: str,
    n: int,
    repeat: int,
    flags: str,
    n_mem: int,
    pandas_rounds: int,
    first_mbs: list[float],
) -> None:
    """Replace the results between the markers in bench/README.md (the analysis around them
    is written by hand and kept)."""
    import polars

    cpu = os.cpu_count()
    load = os.getloadavg()[0]
    results = (
        f"{START}\n"
        f"Command: `/work/main/.venv/bin/python bench/frame.py {flags}` "
        f"({n:,} events per era, median of {repeat} interleaved rounds, naive pandas "
        f"{pandas_rounds}; peak memory on {n_mem:,} events, after a first one-page call whose "
        f"own peak, Polars' and numpy's one-time set-up, was "
        f"{min(first_mbs):.0f}-{max(first_mbs):.0f} MB)\n\n"
        f"{table}\n\n"
        f"Machine: {platform.machine()}, {cpu} CPUs (1-min load average at the end {load:.1f}), "
        f"Python {platform.python_version()}, polars {polars.__version__}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.\n"
        f"{END}"
    )
    text = README.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        sys.exit(f"bench/README.md has no {START} ... {END} markers; results:\n{results}")
    README.write_text(text[:start] + results + text[end + len(END) :])


START, END = "<!-- frame-results:start -->", "<!-- frame-results:end -->"


if __name__ == "__main__":
    main()
