"""Every public name of discgrad is on the API page, and its docstring shows an example."""
import inspect
import re
from pathlib import Path

import pytest

import discgrad
import discgrad.bridges
import discgrad.chapter
import discgrad.losses
import discgrad.noise
import discgrad.predict_then_optimize
import discgrad.projections
import discgrad.solvers

ROOT = Path(__file__).resolve().parent.parent
MODULES = [discgrad, discgrad.solvers, discgrad.bridges, discgrad.projections, discgrad.noise, discgrad.losses,
           discgrad.chapter, discgrad.predict_then_optimize]


def _public():
    seen = {}
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue   # subpackages and constants (PROJECTIONS) are not API entries
            seen.setdefault(id(obj), (f"{module.__name__}.{name}", obj))
    return sorted(seen.values())


PUBLIC = _public()


def test_there_is_a_public_api():
    assert len(PUBLIC) > 20


@pytest.mark.parametrize("qualified,obj", PUBLIC, ids=[q for q, _ in PUBLIC])
def test_public_name_is_documented_with_an_example(qualified, obj):
    page = (ROOT / "book" / "api.md").read_text()
    documented = set(re.findall(r"\.\. auto(?:class|function):: (\S+)", page))
    targets = {f"{getattr(obj, '__module__', '')}.{obj.__name__}"}
    for module in MODULES:
        if getattr(module, obj.__name__, None) is obj:
            targets.add(f"{module.__name__}.{obj.__name__}")
    assert documented & targets, f"{qualified} is not on book/api.md"
    doc = inspect.getdoc(obj) or ""
    assert "Example" in doc and ">>>" in doc, f"{qualified}'s docstring has no example"
