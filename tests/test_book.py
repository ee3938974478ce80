"""The book builds without executing notebooks and without a single Sphinx warning.

``-n --keep-going`` reports every warning, and any warning fails this test (and CI), with
the full list printed: a broken cross-reference, citation, equation label or toc entry. One
kind is expected with execution off: a {numref} to a figure that a chapter draws when it
runs (its caption and label live in the figure cell's ``mystnb.figure`` metadata, so the
label exists only in an executed build). Those are accepted only for labels that a figure
cell declares, and ``test_every_figure_reference_names_a_figure`` checks the references.
"""
import json
import re
from pathlib import Path

from book_build import build_without_execution

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
UNDEFINED = re.compile(r"WARNING: undefined label: '([\w-]+)'")


def figure_names() -> set[str]:
    """The labels of the figures the chapters draw (``mystnb.figure.name`` of their cells)."""
    names = set()
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
            if "name" in figure:
                names.add(figure["name"])
    return names


def test_book_builds_with_execution_off(tmp_path):
    result = build_without_execution(tmp_path, "-n", "--keep-going")
    log = ANSI.sub("", result.stdout + result.stderr)
    names = figure_names()
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    real = [w for w in warnings if not (UNDEFINED.search(w) and UNDEFINED.search(w).group(1) in names)]
    assert result.returncode == 0 and not real, "\n".join(real) or log[-6000:]
    html = tmp_path / "_build" / "html"
    assert (html / "notebooks" / "01_zero_gradients.html").exists()
    page = (html / "book" / "intro.html").read_text()
    assert "Sahoo" in page, "citations did not resolve on the intro page"


def test_every_figure_reference_names_a_figure():
    """Each {numref} in a chapter names a figure that the same chapter draws (or a figure of
    the front matter), so the executed build resolves it."""
    problems = []
    front = set(re.findall(r":name:\s*(\S+)", "".join(p.read_text() for p in (ROOT / "book").glob("*.md"))))
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        own = {c.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("name") for c in cells}
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        text += "".join(json.dumps(c.get("metadata", {})) for c in cells)
        for target in re.findall(r"\{numref\}`[^`<]*<([\w-]+)>`", text):
            if target not in own | front:
                problems.append(f"{path.stem}: {{numref}} to {target!r}, which no figure of the chapter declares")
    assert not problems, "\n".join(problems)
