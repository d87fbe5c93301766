"""Docstrings say what a parameter does and why its default is what it is; measured figures live in
benchmarks/RESULTS.md, where they are dated and can be rerun, not in docstrings, where they go stale.

The check is deliberately simple: no module, class or function docstring of the package may hold a
"±" (a mean ± spread is always a measurement) or a decimal with three or more digits after the point
(how measured accuracies, NMI and timings are written), except the paper's constants allowed below.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import deepclust

PACKAGE = Path(deepclust.__file__).parent

# A decimal with three or more digits after the point, or a mean ± spread.
MEASURED = re.compile(r"(?<![\w.])\d*\.\d{3,}\b|±")

# Decimals with three or more digits that are settings or constants, not measurements; add a paper
# constant here (with where it comes from) rather than loosening the pattern.
ALLOWED = frozenset({
    "0.001",  # IDEC's default lr: the IDEC paper's Adam learning rate
    "0.002",  # IMSAT's default lr: the IMSAT paper's Adam learning rate
})


def _docstrings():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    name = getattr(node, "name", "<module>")
                    yield f"{path.relative_to(PACKAGE.parent)}:{name}", doc


def test_the_walk_sees_the_package():
    names = [name for name, _ in _docstrings()]
    assert any(name.endswith("methods/dec.py:DEC") for name in names), names[:5]
    assert len(names) > 100


def test_no_measured_figures_in_docstrings():
    found = [
        f"{name}: {match.group(0)!r} in {line.strip()!r}"
        for name, doc in _docstrings()
        for line in doc.splitlines()
        for match in MEASURED.finditer(line)
        if match.group(0) not in ALLOWED
    ]
    assert not found, ("measured figures belong in benchmarks/RESULTS.md, not in docstrings:\n"
                       + "\n".join(found))


def test_the_pattern_catches_what_it_should():
    assert MEASURED.search("DEC 0.855 ± 0.002 ACC")
    assert MEASURED.search("NMI 0.629")
    assert MEASURED.search("took .125 s")
    assert not MEASURED.search("paper: 0.01, momentum 0.9, 50,000 iterations, 20%, eqs. 6-9, 1e-3")
    assert not MEASURED.search("version 1.2.3 of torch 2.13")
