"""Every docstring example in the package runs and prints what it shows (numpydoc
``Examples`` sections are documentation users copy; they must stay true)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import leadping_nb

MODULES = sorted(m.name for m in pkgutil.walk_packages(leadping_nb.__path__, prefix="leadping_nb."))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failures: list[str] = []
    for test in finder.find(module, name):
        result = runner.run(test, out=failures.append)
        assert result.failed == 0, "".join(failures)


def test_the_package_has_examples() -> None:
    """The parametrised test above finds examples (it would pass vacuously otherwise)."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    n = sum(
        len(t.examples)
        for name in MODULES
        for t in finder.find(importlib.import_module(name), name)
    )
    assert n > 200
