"""Every public call names its parameters: no ``**kwargs`` or ``*args`` that hide them.

Walks the public face (``leadping_nb.__all__`` and the ``__all__`` of the public packages),
every public function, class and public method, and fails on a variadic parameter, so that
Shift-Tab and mypy show what a call takes.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

PUBLIC_MODULES = (
    "leadping_nb",
    "leadping_nb.metrics",
    "leadping_nb.figures",
    "leadping_nb.reports",
    "leadping_nb.widgets",
    "leadping_nb.store",
    "leadping_nb.emulator",
    "leadping_nb.cli",
)


def _callables(obj: Any, where: str) -> Iterator[tuple[str, Callable[..., Any]]]:
    if inspect.isclass(obj):
        if getattr(obj, "_is_protocol", False):
            # a typing.Protocol: its __init__ is typing's; its methods are the contract
            for name, member in vars(obj).items():
                if not name.startswith("_") and inspect.isfunction(member):
                    yield f"{where}.{name}", member
            return
        yield where, obj
        for name, member in vars(obj).items():
            if name.startswith("_") and name != "__init__":
                continue
            fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if inspect.isfunction(fn):
                yield f"{where}.{name}", fn
    elif inspect.isfunction(obj):
        yield where, obj


def _public() -> list[tuple[str, Callable[..., Any]]]:
    found: dict[str, Callable[..., Any]] = {}
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if getattr(obj, "__module__", "").startswith("leadping_nb"):
                for where, fn in _callables(obj, f"{modname}.{name}"):
                    found.setdefault(where, fn)
    return sorted(found.items())


def _variadic(fn: Callable[..., Any]) -> list[str]:
    """``**kwargs`` of any kind, and ``*args`` unless typed as many values of one kind
    (``merge(*others: FrameReport)`` names what it takes; ``*args: Any`` does not)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    untyped = (inspect.Parameter.empty, Any, "Any", "object")
    hidden = []
    for p in sig.parameters.values():
        many = p.kind is inspect.Parameter.VAR_POSITIONAL and p.annotation in untyped
        if p.kind is inspect.Parameter.VAR_KEYWORD or many:
            hidden.append(p.name)
    return hidden


def test_no_public_call_hides_its_parameters() -> None:
    public = _public()
    assert len(public) > 150, f"the walk found only {len(public)} public callables"
    hidden = [f"{where}({', '.join(names)})" for where, fn in public if (names := _variadic(fn))]
    assert not hidden, "public calls with **kwargs / *args:\n" + "\n".join(hidden)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda *, a=1, **kw: None, ["kw"]),
        (lambda *args: None, ["args"]),
        (lambda a, *, b=2: None, []),
    ],
)
def test_the_check_sees_variadic_parameters(fn: Callable[..., Any], expected: list[str]) -> None:
    assert _variadic(fn) == expected


def _typed_many(*reports: int) -> None: ...


def _untyped_many(*values: Any) -> None: ...


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (_typed_many, []),
        (_untyped_many, ["values"]),
    ],
)
def test_typed_many_values_are_allowed(fn: Callable[..., Any], expected: list[str]) -> None:
    assert _variadic(fn) == expected
