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


# ----------------------------------------------------------------------------------------
# the shape of the package (docs/architecture.md, "The pipeline as packages")

#: The stages in import order: a module may import its own stage and the stages before it.
STAGES = (
    ("_core",),
    ("_http",),
    ("_frame",),
    ("_client",),
    ("emulator",),
    ("metrics",),
    ("figures",),
    ("reports",),
    ("widgets", "store"),
    ("cli",),
    ("__init__", "__main__"),
)
PACKAGE = Path(leadping_nb.__file__).parent


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        names[name] = path
    return names


def _import_graph() -> dict[str, set[str]]:
    """Every module's imports of other leadping_nb modules, at any depth of the code
    (function-level imports included: a lazy import does not hide an arrow)."""
    import ast

    modules = _module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in modules]
                found = subs or ([module] if module in modules else [])
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names if a.name in modules]
            else:
                continue
            targets.update(t for t in found if t != name)
        graph[name] = targets
    return graph


def _stage(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for i, names in enumerate(STAGES):
        if top.removesuffix(".py") in names:
            return i
    raise AssertionError(f"{module} belongs to no stage of docs/architecture.md")


def _wrong_arrows(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports of a later stage, or of another package of the same stage."""
    return sorted(
        (a, b)
        for a, targets in graph.items()
        for b in targets
        if _stage(b) > _stage(a)
        or (_stage(b) == _stage(a) and a.split(".")[1:2] != b.split(".")[1:2])
    )


def test_the_import_graph_runs_one_way() -> None:
    graph = _import_graph()
    assert "leadping_nb._core.errors" in graph and "leadping_nb.metrics._plans" in graph
    assert _wrong_arrows(graph) == [], "imports against the stage order"
    # no cycles inside a stage either (depth-first search over the graph)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*path, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_stage_check_sees_wrong_arrows() -> None:
    """The check above can fail: an upward and a sideways import are both caught."""
    graph = _import_graph()
    graph["leadping_nb._core.errors"] = {"leadping_nb.metrics"}  # upward
    graph["leadping_nb.store._keys"] = {"leadping_nb.widgets"}  # sideways, same stage
    graph["leadping_nb.metrics._plans"] = {"leadping_nb._core.schema"}  # fine: downward
    assert _wrong_arrows(graph) == [
        ("leadping_nb._core.errors", "leadping_nb.metrics"),
        ("leadping_nb.store._keys", "leadping_nb.widgets"),
    ]
