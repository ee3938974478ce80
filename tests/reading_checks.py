"""What a reader must never see in a chapter, as plain functions on a notebook.

The rules of the book's reading standard (book/how_to_use.md, "How the chapters are
written"): at most :data:`CODE_BUDGET` visible code lines per chapter and none wider than
the code box (:data:`CODE_WIDTH`); no machine paths, dict or JSON dumps, internal method
keys or equation label names in outputs; every results table numbered and captioned;
every "chapter N" in the prose a link. ``tests/test_reading.py`` applies them to the
committed notebooks and ``conftest.py`` to the outputs of every cell that nbval executes;
``tests/test_site.py`` checks the rendered pages.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Cell tags that keep a cell's input off the page (it still runs under nbval).
HIDING_TAGS = {"remove-input", "remove-cell", "hide-input", "hide-cell"}
#: Tags that keep a cell's output off the page.
OUTPUT_HIDING_TAGS = {"remove-output", "remove-cell", "hide-output", "hide-cell"}
#: The most visible code lines a chapter shows (issue: "code that teaches"); the theory
#: chapters' worked derivations have a larger one.
CODE_BUDGET = 150
THEORY_BUDGET = {"02_estimator_zoo": 260, "03_negative_identity": 260,
                 "04_projections_and_cost_collapse": 260, "05_dab_bridge": 260}
#: The width of the code box in characters.
CODE_WIDTH = 88
#: Method keys as the package spells them (``identity_norm``, ``blackbox_lam20``): the
#: book shows display names (``discgrad.chapter.display_name``) instead.
METHOD_KEY = re.compile(r"\b(?!dab_(?:autoencoder|vae|classification|sorting)\b)"   # experiment names
                        r"(?:identity|blackbox|perturbed|imle|gumbel|score_function|straight_through|"
                        r"fenchel_young|spo_plus|two_stage|dab)_[a-z0-9_.]*[a-z0-9]\b")
#: Paths of the machine that ran a chapter.
MACHINE_PATH = re.compile(r"(?:/tmp/|/work/|/home/|/root/|/usr/|/var/folders/|site-packages|\.venv/)")
#: A printed dict or JSON object: "{" followed by a quoted key and a colon.
DUMP = re.compile(r"""^\s*(?:OrderedDict\(\[?|\[?\{)\s*["'][^"']+["']\s*:""", re.M)
TABLE_CAPTION = re.compile(r"Table\s+\d+\.\d+")
CHAPTER_MENTION = re.compile(r"\b[Cc]hapters?\s+\d+")
#: A figure named by a typed number: figures are captioned in their cell's metadata
#: (``mystnb.figure``), numbered by Sphinx and referred to with {numref}.
FIGURE_MENTION = re.compile(r"\b(?:Figures?|Figs?\.)\s+\d+\.\d+")


def load(path: Path | str) -> dict:
    return json.loads(Path(path).read_text())


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def _tags(cell: dict) -> set:
    return set(cell.get("metadata", {}).get("tags", []))


def visible_code_lines(nb: dict) -> list[str]:
    """The code lines a reader sees: every code cell without a hiding tag."""
    lines = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and not _tags(cell) & HIDING_TAGS:
            lines += _source(cell).splitlines()
    return lines


def code_problems(name: str, nb: dict) -> list[str]:
    """Visible code over the chapter's budget, and visible lines wider than the code box."""
    lines = visible_code_lines(nb)
    budget = THEORY_BUDGET.get(name, CODE_BUDGET)
    problems = []
    if len(lines) > budget:
        problems.append(f"{name}: {len(lines)} visible code lines (budget {budget}); fold checks, "
                        f"plumbing and table building with a remove-input or hide-input tag")
    problems += [f"{name}: visible code line of {len(line)} characters (> {CODE_WIDTH}): {line.strip()[:60]}"
                 for line in lines if len(line) > CODE_WIDTH]
    return problems


def _output_texts(output: dict) -> list[tuple[str, str]]:
    """(mime type, text) pairs of one output that a reader sees."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return [("stream", text if isinstance(text, str) else "".join(text))]
    data = output.get("data", {})
    for mime in ("text/html", "text/markdown", "text/plain"):   # what the page shows
        if mime in data:
            text = data[mime]
            return [(mime, text if isinstance(text, str) else "".join(text))]
    return []


def output_problems(where: str, outputs: list[dict], labels: set[str] = frozenset()) -> list[str]:
    """What a reader must not see in a cell's outputs: machine paths, dict or JSON dumps,
    internal method keys, equation label names, tables without a number."""
    problems = []
    for output in outputs:
        if output.get("output_type") == "error":
            continue   # nbval reports errors itself
        for mime, text in _output_texts(output):
            if mime == "text/html" and "highlight" in text and "<pre" in text:
                continue   # show_source: source code shown on purpose
            shown = re.sub(r"<[^>]+>", " ", text) if mime == "text/html" else text
            if MACHINE_PATH.search(shown):
                problems.append(f"{where}: a machine path in an output: "
                                f"{shown[max(0, MACHINE_PATH.search(shown).start() - 40):][:100]!r}")
            if DUMP.search(shown):
                problems.append(f"{where}: a dict or JSON dump in an output: {shown.strip()[:80]!r}")
            key = METHOD_KEY.search(shown)
            if key:
                problems.append(f"{where}: the internal method key {key.group()!r} in an output "
                                f"(use discgrad.chapter.display_name)")
            for label in labels:
                if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", shown):
                    problems.append(f"{where}: the equation label ({label}) in an output; "
                                    f"write its number in the prose instead")
            if mime == "text/html" and "<table" in text and not TABLE_CAPTION.search(shown):
                problems.append(f"{where}: a table without a numbered caption (Table N.M)")
    return problems


def equation_labels(nb: dict) -> set[str]:
    """The labels of the chapter's display equations (``:label:`` and ``(label)=``)."""
    labels = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            labels |= set(re.findall(r":label:\s*(\S+)", _source(cell)))
            labels |= set(re.findall(r"\$\$\s*\(([\w-]+)\)", _source(cell)))   # $$ ... $$ (label)
    return {label for label in labels if "-" in label or "_" in label}


def notebook_output_problems(name: str, nb: dict) -> list[str]:
    labels = equation_labels(nb)
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and not _tags(cell) & OUTPUT_HIDING_TAGS:
            problems += output_problems(f"{name} cell {i}", cell.get("outputs", []), labels)
    return problems


def _strip_links(markdown: str) -> str:
    markdown = re.sub(r"\{[a-z:]+\}`[^`]*`", " ", markdown)          # {doc}`...`, {ref}`...`
    markdown = re.sub(r"\[[^\]]*\]\([^)]*\)", " ", markdown)          # [text](target)
    markdown = re.sub(r"`[^`]*`", " ", markdown)                      # inline code
    markdown = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", markdown, flags=re.S)
    return markdown


def prose_problems(name: str, markdown: str) -> list[str]:
    """Plain-text "chapter N" mentions (each should be a link) and method keys in prose."""
    text = _strip_links(markdown)
    problems = [f"{name}: {m.group()!r} is not a link ({{doc}}`chapter N <NN_name>`)"
                for m in CHAPTER_MENTION.finditer(text)]
    problems += [f"{name}: the internal method key {m.group()!r} in the prose"
                 for m in METHOD_KEY.finditer(text)]
    problems += [f"{name}: {m.group()!r} typed by hand; caption the figure in its cell's mystnb.figure "
                 f"metadata and refer to it with {{numref}}`Figure %s <name>`"
                 for m in FIGURE_MENTION.finditer(text)]
    return problems


def notebook_prose_problems(name: str, nb: dict) -> list[str]:
    markdown = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    return prose_problems(name, markdown) + scaffolding_problems(name, markdown)


def scaffolding_problems(name: str, markdown: str) -> list[str]:
    """A chapter ends with a key-takeaways box and gives each exercise a hint in a dropdown."""
    problems = []
    if markdown.count("{admonition} Key takeaways") != 1:
        problems.append(f"{name}: no (or more than one) 'Key takeaways' admonition")
    exercises = markdown.split("## Exercises", 1)
    if len(exercises) == 1:
        problems.append(f"{name}: no '## Exercises' section")
    else:
        section = re.split(r"^## ", exercises[1], maxsplit=1, flags=re.M)[0]
        hints = len(re.findall(r"\{admonition\} Hint\s*\n\s*:class: dropdown", section))
        asked = len(re.findall(r"^\s{0,3}\d+\.\s", re.sub(r":::.*?:::", "", section, flags=re.S), re.M))
        if hints == 0 or hints < asked:
            problems.append(f"{name}: {asked} exercises and {hints} hint dropdowns")
    return problems


def check_notebook(path: Path | str, execute: bool = True) -> list[str]:
    """Every reading check on one chapter; with ``execute``, on its outputs too (it runs the
    chapter at the environment's scale, smoke by default, in a fresh kernel)."""
    import os

    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if execute:
        os.environ.setdefault("DISCGRAD_SCALE", "smoke")
        os.environ.setdefault("DISCGRAD_PROGRESS", "0")
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    nb = json.loads(nbformat.writes(nb))
    name = path.stem
    problems = code_problems(name, nb) + notebook_prose_problems(name, nb)
    return problems + (notebook_output_problems(name, nb) if execute else [])


if __name__ == "__main__":   # python tests/reading_checks.py notebooks/08_graph_matching.ipynb ...
    import sys

    found = [p for arg in sys.argv[1:] for p in check_notebook(arg)]
    print("\n".join(found) or "no reading problems")
    sys.exit(1 if found else 0)
