"""The body-scan modes every frame test runs under (imported by the frame test modules)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadping_nb._frame import raw as _frame_raw


@pytest.fixture(autouse=True, scope="module", params=["python", "polars"])
def body_scan(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run every test with the body scans (key counts, long amounts) done both ways:
    in Python (small batches) and in one Polars query (large batches)."""
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "polars":
            mp.setattr(_frame_raw, "_SCAN_IN_PYTHON_BYTES", -1)
            mp.setattr(_frame_raw, "_SCAN_GROUP_BYTES", 300)  # several queries per batch
        yield request.param
