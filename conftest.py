"""Test-wide settings: the smoke scale, quiet progress bars, and a non-interactive plot backend.

These are set before any kernel starts, so the notebooks that nbval runs inherit them.
"""
import os

os.environ.setdefault("DISCGRAD_SCALE", "smoke")
os.environ.setdefault("DISCGRAD_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
from reading_checks import OUTPUT_HIDING_TAGS, equation_labels, output_problems  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After nbval runs a notebook cell, its outputs meet the reading standard
    (tests/reading_checks.py): no machine paths, dumps, method keys or equation labels, and
    every table numbered. Cells whose output is hidden from the page are not checked."""
    result = yield
    outputs = getattr(item, "test_outputs", None)
    cell = getattr(item, "cell", None)
    if outputs is None or cell is None or set(cell.metadata.get("tags", [])) & OUTPUT_HIDING_TAGS:
        return result
    notebook = getattr(item.parent, "nb", None)
    labels = equation_labels(notebook) if notebook is not None else set()
    problems = output_problems(item.name, list(outputs), labels)
    assert not problems, "\n".join(problems)
    return result
