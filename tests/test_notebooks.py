"""The user notebooks: executed with a real kernel against the emulator, and kept clean in git.

Each ``notebooks/NN_*.ipynb`` runs top to bottom in a fresh ``python3`` kernel (nbclient)
with its working directory in a temporary folder, so whatever it writes stays out of the
repository. The delivery report also runs through papermill with two other parameter
sets. The committed notebooks must carry no outputs and match their jupytext ``.py``
source cell by cell, and their first code cell must be the papermill ``parameters`` cell.

Wall times are printed (``pytest -s`` or ``-rP`` shows them); the 60 s budget per notebook
is a target, not an assertion, because CI machines differ.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import openpyxl
import papermill
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
USER_NOTEBOOKS = (
    "01_quickstart",
    "02_delivery_report",
    "03_billing_report",
    "04_metric_prototyping",
)
CELL_TIMEOUT = 120


@dataclass(frozen=True)
class Executed:
    """A notebook after execution: the notebook, its working directory, its wall time."""

    nb: nbformat.NotebookNode
    cwd: Path
    seconds: float

    def outputs(self) -> Iterator[dict[str, Any]]:
        for cell in self.nb.cells:
            if cell.cell_type == "code":
                yield from cell.outputs

    def texts(self) -> list[str]:
        """Every text the notebook showed: streams, plain text, markdown and HTML."""
        out: list[str] = []
        for o in self.outputs():
            if o["output_type"] == "stream":
                out.append(o["text"])
            for mime in ("text/plain", "text/markdown", "text/html"):
                value = o.get("data", {}).get(mime)
                if value:
                    out.append(value)
        return out

    def text(self) -> str:
        return "\n".join(self.texts())

    def markdown(self) -> str:
        return "\n".join(o["data"]["text/markdown"] for o in self.outputs() if _has(o, "md"))

    def pngs(self) -> list[bytes]:
        return [base64.b64decode(o["data"]["image/png"]) for o in self.outputs() if _has(o, "png")]


def _has(output: dict[str, Any], kind: str) -> bool:
    mime = {"md": "text/markdown", "png": "image/png"}[kind]
    return mime in output.get("data", {})


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def run_notebook(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Executed]:
    """Execute a committed notebook once per module (cached), in its own temporary cwd."""
    cache: dict[str, Executed] = {}

    def run(name: str) -> Executed:
        if name not in cache:
            nb = _read(name)
            cwd = tmp_path_factory.mktemp(name)
            client = NotebookClient(
                nb,
                timeout=CELL_TIMEOUT,
                kernel_name="python3",
                resources={"metadata": {"path": str(cwd)}},
            )
            started = time.perf_counter()
            client.execute()
            seconds = time.perf_counter() - started
            print(f"\n{name}: executed in {seconds:.1f} s (wall, kernel start included)")
            cache[name] = Executed(nb, cwd, seconds)
        return cache[name]

    return run


# ---------------------------------------------------------------------------------------
# executed with a real kernel


@pytest.mark.parametrize("name", USER_NOTEBOOKS)
def test_notebook_runs_clean(run_notebook: Callable[[str], Executed], name: str) -> None:
    done = run_notebook(name)
    errors = [o for o in done.outputs() if o["output_type"] == "error"]
    assert not errors, [f"{e['ename']}: {e['evalue']}" for e in errors]
    stderr = [o["text"] for o in done.outputs() if o.get("name") == "stderr"]
    assert not stderr, stderr  # no warnings, no tracebacks printed by library code
    code_cells = [c for c in done.nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells), "every code cell ran"
    assert not any((ROOT / "notebooks").glob("notebook-output*")), "wrote into the repo"


def test_quickstart_outputs(run_notebook: Callable[[str], Executed]) -> None:
    done = run_notebook("01_quickstart")
    text = done.text()
    assert "api_key=***" in text
    assert "Decimal(precision=18, scale=6)" in text  # the schema is shown
    assert "billableAmount" in text and "billable_amount" in text  # the schema table
    assert re.search(r"FetchResult\(\d+ events from 40/40 leads\)", text)
    # the progress bar is a widget driven by on_progress
    assert any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in done.outputs()
    )
    first = re.search(r"first refresh:\s+RefreshResult\(added=(\d+)", text)
    assert first and int(first.group(1)) > 0
    assert "second refresh: RefreshResult(added=0," in text
    assert "after new activity: RefreshResult(added=7," in text  # 5 + 2 appended events
    assert "twelve hours later: RefreshResult(" in text
    assert (done.cwd / "notebook-output" / "quickstart-store" / "_delta_log").is_dir()


def test_delivery_report_outputs(run_notebook: Callable[[str], Executed]) -> None:
    done = run_notebook("02_delivery_report")
    pngs = done.pngs()
    assert len(pngs) >= 6  # outcomes, delivery rate, ECDF, histogram, failure Pareto, retries
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    md = done.markdown()
    assert "time zone **America/New_York**" in md
    for heading in ("**Delivery.**", "**Latency.**", "**Failures.**", "**Retries.**"):
        assert heading in md
    assert re.search(r"a delivery rate of \*\*\d+\.\d%\*\*", md)
    html = done.cwd / "notebook-output" / "delivery-report.html"
    assert html.is_file() and "<html" in html.read_text(encoding="utf-8")


def test_billing_report_outputs(run_notebook: Callable[[str], Executed]) -> None:
    done = run_notebook("03_billing_report")
    text = done.text()
    match = re.search(r"Reconciliation: all (\d+) tables foot to the grand total (\d+\.\d+)", text)
    assert match, "the reconciliation check is shown"
    assert int(match.group(1)) >= 5
    grand_total = Decimal(match.group(2))
    assert grand_total > 0
    for dimension in ("campaign_id", "source_id", "ten_dlc_campaign_id", "cost_per_delivered"):
        assert dimension in text
    assert len(done.pngs()) >= 2
    # Excel: every stacked table still foots to the exact total once read back from floats
    book = openpyxl.load_workbook(done.cwd / "notebook-output" / "billing-summary.xlsx")
    rows = list(book["billing"].iter_rows(values_only=True))
    assert rows[0][:2] == ("table", "group") and "total_amount" in rows[0]
    amount = rows[0].index("total_amount")
    sums: dict[str, Decimal] = {}
    for row in rows[1:]:
        sums[str(row[0])] = sums.get(str(row[0]), Decimal(0)) + Decimal(repr(row[amount]))
    assert len(sums) >= 5 and set(sums.values()) == {grand_total}
    assert "about" in book.sheetnames
    items = openpyxl.load_workbook(done.cwd / "notebook-output" / "billed-events.xlsx")
    header = {c.value: c for c in next(items["billed events"].iter_rows(max_row=1))}
    assert "created_at" in header  # the CSV's names; Excel has no zones: a note says it
    assert header["created_at"].comment.text == "wall-clock time in America/New_York"
    assert (done.cwd / "notebook-output" / "billing-report.html").is_file()


def test_metric_prototyping_outputs(run_notebook: Callable[[str], Executed]) -> None:
    done = run_notebook("04_metric_prototyping")
    md = done.markdown()
    match = re.search(r"\*\*Validated\.\*\* .* for all (\d+) leads, exactly", md)
    assert match and int(match.group(1)) == 80
    assert "faults injected and survived" in done.text()
    assert len(done.pngs()) == 1


# ---------------------------------------------------------------------------------------
# papermill: the delivery report with other parameters


def _papermill(tmp: Path, parameters: dict[str, Any]) -> Executed:
    cwd = tmp / "cwd"
    cwd.mkdir(parents=True)
    output = tmp / "out.ipynb"
    started = time.perf_counter()
    papermill.execute_notebook(
        str(NOTEBOOK_DIR / "02_delivery_report.ipynb"),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(cwd),
        progress_bar=False,
        execution_timeout=CELL_TIMEOUT,
    )
    seconds = time.perf_counter() - started
    print(f"\npapermill 02_delivery_report {parameters}: {seconds:.1f} s")
    return Executed(nbformat.read(output, as_version=4), cwd, seconds)


def _scope(done: Executed) -> str:
    scopes = [t for t in done.markdown().split("\n") if t.startswith("**Scope.**")]
    assert len(scopes) == 1
    return scopes[0]


def _n_events(scope: str) -> int:
    match = re.search(r"\*\*Scope\.\*\* ([\d,]+) events of ([\d,]+) leads", scope)
    assert match, scope
    return int(match.group(1).replace(",", ""))


def test_papermill_runs_the_delivery_report_with_other_parameters(
    run_notebook: Callable[[str], Executed], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    default = _scope(run_notebook("02_delivery_report"))
    berlin = _papermill(
        tmp_path / "berlin",
        {
            "time_zone": "Europe/Berlin",
            "since": "2026-10-01",
            "until": "2026-11-01",
            "every": "week",
            "n_leads": 30,
        },
    )
    few = _papermill(
        tmp_path / "few",
        {
            "time_zone": "UTC",
            "lead_ids": ["lead_0003", "lead_0005", "lead_0010", "lead_0012"],
            "since": "2026-06-01T00:00:00+00:00",
        },
    )
    for done in (berlin, few):
        injected = [c for c in done.nb.cells if "injected-parameters" in c.metadata.get("tags", ())]
        assert len(injected) == 1
        assert not [o for o in done.outputs() if o["output_type"] == "error"]
        assert len(done.pngs()) >= 6  # one failure Pareto (code and reason together)
        assert (done.cwd / "notebook-output" / "delivery-report.html").is_file()

    unknown = [r.getMessage() for r in caplog.records if "unknown parameter" in r.getMessage()]
    assert not unknown, unknown  # papermill recognised every parameter we passed
    b, f = _scope(berlin), _scope(few)
    assert "of 30 leads" in b and "time zone **Europe/Berlin**" in b and "periods: weeks" in b
    # local midnights in Berlin: summer time on 1 October, winter time on 1 November
    assert "window 2026-10-01 00:00 CEST → 2026-11-01 00:00 CET" in b
    assert "of 4 leads" in f and "time zone **UTC**" in f and "→ open" in f
    sizes = {_n_events(default), _n_events(b), _n_events(f)}
    assert len(sizes) == 3 and _n_events(default) > max(_n_events(b), _n_events(f)) > 0
    # the per-period table follows the parameters: Monday weeks in Berlin inside October
    table = next(
        o["data"]["text/plain"]
        for o in berlin.outputs()
        if "n_outbound" in o.get("data", {}).get("text/plain", "")
        and "2026-10-" in o["data"]["text/plain"]
    )
    assert "2026-09-28" in table  # the week holding 1 October starts on Monday 28 September


# ---------------------------------------------------------------------------------------
# the committed files


def _committed() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_user_notebooks_are_committed() -> None:
    names = {p.stem for p in _committed()}
    assert set(USER_NOTEBOOKS) <= names
    for name in USER_NOTEBOOKS:
        assert (NOTEBOOK_DIR / f"{name}.py").is_file()


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name} cell {i} has outputs: strip them"
        assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"{path.name} cell {i} has timing metadata"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.name)
def test_committed_notebook_matches_its_percent_source(path: Path) -> None:
    source = path.with_suffix(".py")
    if not source.exists():
        pytest.skip(f"{path.name} has no jupytext .py pair")
    from_py = jupytext.read(source)
    committed = nbformat.read(path, as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in from_py.cells
    ], f"{path.name} is out of sync: run `jupytext --to ipynb {source.relative_to(ROOT)}`"
    tags = [list(c.metadata.get("tags", [])) for c in committed.cells]
    assert tags == [list(c.metadata.get("tags", [])) for c in from_py.cells]


@pytest.mark.parametrize("name", USER_NOTEBOOKS)
def test_first_code_cell_is_the_parameters_cell(name: str) -> None:
    nb = _read(name)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    assert nb.cells[0].cell_type == "markdown"  # the notebook starts by saying what it is
    assert nb.metadata["kernelspec"]["name"] == "python3"
    # papermill's documented parameters: source, lead ids, window, time zone
    params = papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"))
    assert {"source", "lead_ids", "since", "until", "time_zone", "seed", "n_leads"} <= set(params)
    assert params["source"]["default"] == '"emulator"'
    assert all(p["help"] for p in params.values()), "every parameter says what it is"
    assigned = {
        line.split("=")[0].strip()
        for line in first.source.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert assigned == set(params), "papermill recognises every assignment (no annotations)"
