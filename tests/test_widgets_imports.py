"""The widgets use public metric and figure names only (issue 19): no module of
``leadping_nb/widgets/`` imports a private module or name of ``leadping_nb.metrics`` or
``leadping_nb.figures``, nor reads a private attribute of them. Read from the source
(AST), at any depth: a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import leadping_nb

WIDGETS = Path(leadping_nb.__file__).parent / "widgets"
GUARDED = ("leadping_nb.metrics", "leadping_nb.figures")


def _guarded(module: str) -> bool:
    return any(module == g or module.startswith(g + ".") for g in GUARDED)


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split(".")[1:])


def private_uses(source: str, package: str = "leadping_nb.widgets") -> list[str]:
    """``module.name`` of every private metrics / figures name ``source`` reaches."""
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> the guarded module it is bound to
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                target = f"{module}.{alias.name}"
                if _guarded(target):  # from leadping_nb import metrics / figures
                    if _private(target):
                        found.append(target)
                    aliases[alias.asname or alias.name] = target
                elif _guarded(module) and (_private(module) or alias.name.startswith("_")):
                    found.append(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _guarded(alias.name):
                    if _private(alias.name):
                        found.append(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                elif alias.name == "leadping_nb" or alias.name.startswith("leadping_nb."):
                    aliases.setdefault("leadping_nb", "leadping_nb")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node, aliases)
            if dotted is not None and _guarded(dotted) and _private(dotted):
                found.append(dotted)
    return sorted(set(found))


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` with ``a`` replaced by the module it is bound to (``None``: not one)."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return None if base is None else f"{base}.{node.attr}"
    return None


def test_widgets_use_public_metric_and_figure_names_only() -> None:
    modules = sorted(WIDGETS.rglob("*.py"))
    assert len(modules) >= 8  # the package is there (the check is not vacuous)
    uses = {
        path.name: private_uses(path.read_text())
        for path in modules
        if private_uses(path.read_text())
    }
    assert uses == {}


def test_the_private_name_check_can_fail() -> None:
    bad = """
from leadping_nb.metrics._plans import grouping
from leadping_nb.figures import _draw_volume, choose_period
from leadping_nb import figures as f
from leadping_nb import metrics
import leadping_nb.figures._base as fb
import leadping_nb

def draw():
    from leadping_nb.figures import _latency as fl
    f._has_delivery(None)
    metrics._plans.N
    leadping_nb.figures._base._Panel()
    return fl, fb, choose_period
"""
    assert private_uses(bad) == [
        "leadping_nb.figures._base",
        "leadping_nb.figures._base._Panel",
        "leadping_nb.figures._draw_volume",
        "leadping_nb.figures._has_delivery",
        "leadping_nb.figures._latency",
        "leadping_nb.metrics._plans",
        "leadping_nb.metrics._plans.N",
        "leadping_nb.metrics._plans.grouping",
    ]
    fine = """
from leadping_nb import metrics
from leadping_nb.figures import FigurePanel, choose_period
from leadping_nb.metrics import EventCube
from leadping_nb._core.format import money_text
from leadping_nb.widgets._html import error_html
from . import _state

metrics.delivery_summary
"""
    assert private_uses(fine) == []
