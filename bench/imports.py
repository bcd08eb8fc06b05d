"""Time `import leadping_nb` in fresh interpreters (target: < 300 ms).

Run: .venv/bin/python bench/imports.py
Prints the best and median of 7 cold imports, beside `import polars` alone (the floor).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

CODE = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def measure(mod: str, n: int = 7) -> list[float]:
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", CODE.format(mod=mod)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(n)
    ]


if __name__ == "__main__":
    rows = {m: measure(m) for m in ("polars", "leadping_nb")}
    print("| import | best ms | median ms |")
    print("|---|---|---|")
    for m, ts in rows.items():
        print(f"| {m} | {min(ts) * 1000:.0f} | {statistics.median(ts) * 1000:.0f} |")
