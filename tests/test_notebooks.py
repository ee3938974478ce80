"""Checks of the chapter notebooks as files: no outputs, the shape of a chapter, the toc."""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(path, kind=None):
    cells = json.loads(path.read_text())["cells"]
    return [c for c in cells if kind is None or c["cell_type"] == kind]


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _toc_files(node):
    if isinstance(node, dict):
        found = [node["file"]] if "file" in node else []
        if "root" in node:
            found.append(node["root"])
        for value in node.values():
            found += _toc_files(value)
        return found
    if isinstance(node, list):
        return [f for item in node for f in _toc_files(item)]
    return []


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    for i, cell in enumerate(_cells(path, "code")):
        assert not cell.get("outputs"), f"{path.name} cell {i} has outputs"
        assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_shape_of_a_chapter(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), "name must be NN_name.ipynb"
    cells = _cells(path)
    assert cells[0]["cell_type"] == "markdown" and _source(cells[0]).startswith("# "), "title first"
    code = _cells(path, "code")
    setup = _source(code[0])
    assert "import discgrad" in setup, "the first code cell is the setup cell"
    # the setup cell prints the scale, the device and this chapter's recorded run time
    assert f'print(describe("{path.stem}"))' in setup, f'the setup cell must print(describe("{path.stem}"))'
    assert "from discgrad.chapter import describe" in setup, "describe comes from discgrad.chapter"

    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert any("assert " in _source(c) for c in code), "claims are checked by asserts"
    headings = [_source(c) for c in _cells(path, "markdown")]
    assert any("## Summary" in h for h in headings) and any("## Exercises" in h for h in headings)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_the_release_from_the_canonical_repository(path):
    import discgrad

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    setup = _source(_cells(path, "code")[0])
    addresses = re.findall(r"git\+(https://[^\"'\s@]+)@([^\"'\s]+)", setup)
    assert addresses == [(url, f"v{discgrad.__version__}")], (
        f"setup cell installs {addresses}; _config.yml says {url}, the release is v{discgrad.__version__}")


def test_toc_lists_exactly_the_pages_that_exist():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = _toc_files(toc)
    for name in listed:
        assert any((ROOT / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), f"{name} is missing"
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in listed, f"{path.name} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_chapter_runs_the_config_of_its_parameters_cell(path):
    # editing `config` in the parameters cell must change what runs (issue 16)
    for cell in _cells(path, "code"):
        source = _source(cell)
        for call in re.findall(r"run_all\((.*?)\)\n", source, flags=re.S):
            assert "config=" in call, f"{path.name}: run_all(...) without config=: {call[:80]}"
