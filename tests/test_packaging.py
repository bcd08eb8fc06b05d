"""Packaging: environment.yml mirrors pyproject.toml; the public face is pinned; import is light."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import leadping_nb

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_NAMES = {"duckdb": "python-duckdb"}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", req.strip())
    assert m, req
    return m.group(1).lower(), m.group(2).replace(" ", "")


def _env() -> tuple[dict[str, str], dict[str, str]]:
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    in_pip = False
    text = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    for line in text.splitlines():
        item = line.split("#", 1)[0].rstrip()
        if item.strip() == "- pip:":
            in_pip = True
            continue
        m = re.match(r"^(\s*)- (.+)$", item)
        if not m:
            continue
        name, spec = _split(m.group(2)) if not m.group(2).startswith("-e") else ("-e", "")
        (pip if in_pip and len(m.group(1)) > 2 else conda)[name] = spec
    return conda, pip


def test_environment_yml_mirrors_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    conda, pip = _env()
    assert conda.pop("python") == ">=3.11"
    assert project["requires-python"] == ">=3.11"
    conda.pop("pip")
    seen = set()
    for req in wanted:
        name, spec = _split(req)
        cname = CONDA_NAMES.get(name, name)
        got = conda.get(cname, pip.get(name))
        assert got is not None, f"{name} is in pyproject.toml but not in environment.yml"
        assert got == spec, f"{name}: pyproject says {spec!r}, environment.yml says {got!r}"
        seen.add(cname if cname in conda else name)
    extra = (set(conda) | set(pip)) - seen - {"-e"}
    assert not extra, f"environment.yml has packages pyproject.toml lacks: {sorted(extra)}"


PUBLIC = [
    "EVENT_SCHEMA",
    "MONEY_DTYPE",
    "TIMESTAMP_DTYPE",
    "ApiError",
    "AsyncClient",
    "AsyncEventSearch",
    "AuthError",
    "BillingReport",
    "Client",
    "DecodedPage",
    "DeliveryReport",
    "Emulator",
    "EventExplorer",
    "EventQuery",
    "EventSearch",
    "EventStore",
    "FaultConfig",
    "FetchError",
    "FetchJob",
    "FetchProgress",
    "FetchResult",
    "Filter",
    "FilterPanel",
    "FrameReport",
    "LeadPicker",
    "LeadpingError",
    "OrderBy",
    "Page",
    "PaginationError",
    "QueryError",
    "RangeFilter",
    "RateLimit",
    "RateLimitError",
    "RefreshResult",
    "RetryPolicy",
    "SchemaError",
    "TrafficScope",
    "Window",
    "check_lead_id",
    "events_frame",
    "schema_table",
    "to_csv",
    "to_excel",
    "to_parquet",
]


def test_public_all_is_pinned_and_sorted() -> None:
    assert leadping_nb.__all__ == PUBLIC
    assert leadping_nb.__all__ == sorted(leadping_nb.__all__, key=lambda n: (not n.isupper(), n))


def test_every_public_name_resolves() -> None:
    # each name is the object of its own name from the package's own modules (a lazy entry
    # pointing at the wrong module, or a name bound to something else, fails here)
    from leadping_nb._core import schema as _schema

    for name in leadping_nb.__all__:
        obj = getattr(leadping_nb, name)
        if name.isupper():
            assert obj is getattr(_schema, name), name
        else:
            assert obj.__name__ == name, name
            assert obj.__module__.startswith("leadping_nb."), (name, obj.__module__)
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = leadping_nb.NoSuchName


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "leadping_nb" / "py.typed").exists()


def test_import_does_not_load_heavy_modules() -> None:
    """matplotlib, ipywidgets and the HTTP stack load on first use (bench/imports.py times it)."""
    code = (
        "import sys; import leadping_nb; "
        "print(','.join(m for m in ('matplotlib', 'ipywidgets', 'httpx', 'tenacity', 'pandas') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported eagerly: {out.stdout}"
