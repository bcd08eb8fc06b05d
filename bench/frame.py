"""Bytes → typed frame: leadping_nb vs orjson alone vs a naive pandas conversion.

Run: .venv/bin/python bench/frame.py [--events N] [--repeat R] [--no-readme]

Builds realistic raw page bodies itself (default 1,000,000 events):

* ``current`` era: today's fields, numbers as JSON numbers (``"billableAmount":0.0079``,
  ``"retryCount":2``), millisecond timestamps (3 fractional digits), ~5 % of events with a
  media attachment, lifecycle timestamps null where they do not apply;
* ``seed`` era: exactly the seed's 41 fields, numbers as strings (``"0.0079"``, ``"2"``),
  whole-second timestamps;

each in pages of 100 and of 1,000 events (the same events), and converts the same bytes with

* **ours**: ``leadping_nb._frame.decode.events_frame(pages)`` → typed frame (Decimal money,
  UTC datetimes, validated values, unknown-field detection);
* **orjson**: ``[orjson.loads(p) for p in pages]`` (Python objects, no typing at all);
* **pandas**: ``json.loads`` every page, ``pd.DataFrame`` of all items, ``pd.to_datetime``
  (``utc=True, format="ISO8601"``) per timestamp column, ``Decimal(str(x))`` per amount.

Every (dataset, method) runs in its own subprocess, which loads the page bytes from a file
first. Time is the best of ``--repeat`` runs (wall clock). Peak memory is measured on the
first run as ``VmHWM - VmRSS`` where both come from ``/proc/self/status``: VmRSS just before
the run (page bytes already loaded), VmHWM (peak resident set) right after it, having reset
the high-water mark with ``/proc/self/clear_refs`` before the run. RSS includes Polars' Rust
allocations (which ``tracemalloc`` would not see) and the result the method returns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import struct
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
METHODS = ("ours", "orjson", "pandas")
TIMESTAMPS = (
    "queuedAt sendingStartedAt sentAt deliveredAt receivedAt failedAt undeliverableAt "
    "blockedAt nextRetryAt scheduledFor canceledAt createdAt"
).split()

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


# --------------------------------------------------------------------------- methods


def run_ours(pages: list[bytes]) -> Any:
    from leadping_nb._frame.decode import events_frame

    return events_frame(pages)


def run_orjson(pages: list[bytes]) -> Any:
    import orjson

    return [orjson.loads(p) for p in pages]


def run_pandas(pages: list[bytes]) -> Any:
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


RUNNERS = {"ours": run_ours, "orjson": run_orjson, "pandas": run_pandas}


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(method: str, path: Path, repeat: int) -> None:
    import gc

    pages = read_pages(path)
    raw = sum(len(p) for p in pages)
    run = RUNNERS[method]
    if method == "ours":  # import outside the timed/measured region, like the other methods
        import leadping_nb._frame.decode  # noqa: F401
    elif method == "pandas":
        import pandas  # noqa: F401
    else:
        import orjson  # noqa: F401
    gc.collect()
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    times = []
    t = time.perf_counter()
    result = run(pages)
    times.append(time.perf_counter() - t)
    peak = _status("VmHWM") - before
    del result
    gc.collect()
    for _ in range(repeat - 1):
        t = time.perf_counter()
        result = run(pages)
        times.append(time.perf_counter() - t)
        del result
        gc.collect()
    print(json.dumps({"times": times, "peak": peak, "raw": raw}))


# --------------------------------------------------------------------------- driver


def measure(method: str, path: Path, repeat: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", method, str(path), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), args.repeat)
        return

    n = args.events
    rows = []
    with tempfile.TemporaryDirectory(prefix="leadping-bench-") as tmp:
        for era in ("current", "seed"):
            t = time.perf_counter()
            items = build_items(era, n)
            files = []
            for per_page in (100, 1000):
                pages = build_pages(era, items, per_page)
                path = Path(tmp) / f"{era}-{per_page}.bin"
                write_pages(pages, path)
                files.append((per_page, path, sum(map(len, pages))))
                del pages
            del items  # the parent holds no page data while the workers run
            took = time.perf_counter() - t
            print(f"built {era}: {files[0][2] / 1e6:,.0f} MB ({took:.1f}s)", file=sys.stderr)
            for per_page, path, raw in files:
                result = {m: measure(m, path, args.repeat) for m in METHODS}
                path.unlink()
                rows.append((era, per_page, raw, result))
                best = {m: min(r["times"]) for m, r in result.items()}
                print(
                    f"  {era}/{per_page}: ours {best['ours']:.2f}s  orjson {best['orjson']:.2f}s"
                    f"  pandas {best['pandas']:.2f}s",
                    file=sys.stderr,
                )

    table = render(rows, n)
    print(table)
    if not args.no_readme:
        update_readme(table, n, args.repeat)


def render(rows: list[tuple[str, int, int, dict[str, Any]]], n: int) -> str:
    lines = [
        "| era | events/page | raw MB | ours ev/s | orjson ev/s | pandas ev/s "
        "| ours ÷ orjson | ours ÷ pandas | peak mem ÷ raw: ours / orjson / pandas |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for era, per_page, raw, result in rows:
        rate = {m: n / min(r["times"]) for m, r in result.items()}
        mem = {m: r["peak"] / raw for m, r in result.items()}
        lines.append(
            f"| {era} | {per_page:,} | {raw / 1e6:,.0f} | {rate['ours']:,.0f} | "
            f"{rate['orjson']:,.0f} | {rate['pandas']:,.0f} | "
            f"**{rate['ours'] / rate['orjson']:.2f}×** | "
            f"**{rate['ours'] / rate['pandas']:.1f}×** | "
            f"**{mem['ours']:.2f}** / {mem['orjson']:.2f} / {mem['pandas']:.2f} |"
        )
    return "\n".join(lines)


def update_readme(table: str, n: int, repeat: int) -> None:
    """Replace the results between the markers in bench/README.md (the analysis around them
    is written by hand and kept)."""
    import polars

    cpu = os.cpu_count()
    load = os.getloadavg()[0]
    results = (
        f"{START}\n"
        f"Command: `.venv/bin/python bench/frame.py --events {n} --repeat {repeat}`\n\n"
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
