"""The docs stand on their own: every document the code and the docs cite is in the repository.

Comments, docstrings and pages cite ``docs/<name>.md`` and sections of it (``docs/api.md §5``,
``notebook-traps §4.4``). These tests fail when a cited file or section does not exist, and
when anything cites material outside the repository (the fact sheet and guides the project
was started from are summarised in ``docs/api.md`` and ``docs/notebook-traps.md``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Where citations live: the package, the docs, the README, notebooks, benchmarks and tests.
SOURCES = sorted(
    [
        *ROOT.glob("leadping_nb/**/*.py"),
        *ROOT.glob("docs/*.md"),
        ROOT / "README.md",
        *ROOT.glob("notebooks/*.py"),
        *ROOT.glob("bench/*.py"),
        ROOT / "bench" / "README.md",
        *ROOT.glob("tests/**/*.py"),
    ]
)

_FILE = re.compile(r"\bdocs/([A-Za-z0-9_-]+\.md)\b")
_SECTION = re.compile(r"\b(?:docs/)?([a-z][a-z0-9-]*?)(?:\.md)? §(\d+(?:\.\d+)?)")
#: Names of documents that are not in the repository (the project's starting material).
_OUTSIDE = re.compile(
    r"fact sheet|pitfalls(?:\.md)?\s*§|leadping-events-api\.md"
    r"|\.\./shared|shared/(?:reference|guides)"
)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _sections(doc: Path) -> set[str]:
    """The section numbers a page defines: ``## 5. Title`` and ``**4.4 Title**`` entries."""
    found: set[str] = set()
    for line in _text(doc).splitlines():
        m = re.match(r"#+\s+(\d+)\.\s", line) or re.match(r"\s*-\s+\*\*(\d+\.\d+)\s", line)
        if m:
            found.add(m.group(1))
    return found


def _citations(pattern: re.Pattern[str]) -> list[tuple[str, int, re.Match[str]]]:
    out = []
    for path in SOURCES:
        if path.name == Path(__file__).name:
            continue
        for n, line in enumerate(_text(path).splitlines(), 1):
            for m in pattern.finditer(line):
                out.append((f"{path.relative_to(ROOT)}:{n}", n, m))
    return out


def test_every_cited_doc_exists() -> None:
    cited = _citations(_FILE)
    assert cited, "the code cites docs/*.md: the scan found none"
    missing = [
        f"{where}: docs/{m.group(1)}"
        for where, _, m in cited
        if not (ROOT / "docs" / m.group(1)).is_file()
    ]
    assert not missing, "cited docs that are not in the repository:\n" + "\n".join(missing)


def test_every_cited_section_exists() -> None:
    cited = _citations(_SECTION)
    assert cited, "the code cites sections (docs/api.md §N): the scan found none"
    bad = []
    for where, _, m in cited:
        doc = ROOT / "docs" / f"{m.group(1)}.md"
        if not doc.is_file():
            bad.append(f"{where}: {m.group(0)!r} names no page in docs/")
        elif m.group(2) not in _sections(doc):
            bad.append(f"{where}: {m.group(0)!r}: docs/{doc.name} has no section {m.group(2)}")
    assert not bad, "\n".join(bad)


def test_nothing_cites_material_outside_the_repository() -> None:
    hits = [f"{where}: {m.group(0)!r}" for where, _, m in _citations(_OUTSIDE)]
    assert not hits, "cite docs/ instead:\n" + "\n".join(hits)


@pytest.mark.parametrize(
    ("line", "pattern", "expected"),
    [
        ("see docs/api.md §5", _SECTION, ("api", "5")),
        ("(notebook-traps §4.4)", _SECTION, ("notebook-traps", "4.4")),
        ("the fact sheet §8 says", _OUTSIDE, None),
        ("docs/nowhere.md", _FILE, ("nowhere.md",)),
    ],
)
def test_the_scanners_find_what_they_look_for(
    line: str, pattern: re.Pattern[str], expected: tuple[str, ...] | None
) -> None:
    m = pattern.search(line)
    assert m is not None
    if expected is not None:
        assert m.groups() == expected


def test_a_missing_section_is_caught(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text("# Page\n\n## 1. One\n\n- **2.1 A trap** text\n", encoding="utf-8")
    assert _sections(doc) == {"1", "2.1"}
    assert "3" not in _sections(doc)
