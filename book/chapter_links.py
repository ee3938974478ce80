"""Links between the chapters and the API reference, written from what the chapters import.

Each chapter opens with two lines, below its title: what it builds on (the arrows of the
book's map, ``book/figures/chapter_map.py``) and the package objects it uses, each linked to
its entry in the API reference. The API reference gets the reverse table: each object and
the chapters that use it. Both are derived here from the chapters' ``from discgrad... import``
statements and the ``.. auto...::`` entries of book/api.md; run
``python book/chapter_links.py`` after changing either. tests/test_chapter_links.py fails
when the committed text differs from what this script writes.
"""
from __future__ import annotations

import ast
import importlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "figures"))
from chapter_map import BUILDS_ON  # noqa: E402

API = ROOT / "book" / "api.md"
NOTEBOOKS = ROOT / "notebooks"
#: Objects every chapter imports to set itself up or to draw: not listed as "used".
PLUMBING = {"discgrad.chapter.describe", "discgrad.chapter.describe_config", "discgrad.chapter.display_name",
            "discgrad.use_book_style", "discgrad.show_source", "discgrad.get_scale",
            "discgrad.seed_everything", "discgrad.load_results", "discgrad.findings.protocol"}
ROLES = {"class": "py:class", "function": "py:func", "module": "py:mod", "exception": "py:exc",
         "data": "py:data"}
HEADER_ID = "c4a9b0"     # + the chapter number: the id of its generated header cell
BEGIN, END = "<!-- chapter links: begin -->", "<!-- chapter links: end -->"


def documented() -> dict[int, tuple[str, str]]:
    """id(object) -> (kind, name) for every entry of the API reference."""
    found = {}
    for kind, name in re.findall(r"^\.\. auto(class|function|module|exception|data)::\s*(\S+)",
                                 API.read_text(), re.M):
        module, _, attr = name.rpartition(".")
        obj = importlib.import_module(name) if kind == "module" else getattr(importlib.import_module(module), attr)
        found.setdefault(id(obj), (kind, name))
    return found


def chapter_uses(path: Path, docs: dict[int, tuple[str, str]]) -> list[tuple[str, str]]:
    """The documented (kind, name) pairs a chapter imports from discgrad, plumbing left out."""
    nb = json.loads(path.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    used = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("discgrad"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                obj = getattr(module, alias.name, None)
                if obj is None:
                    obj = importlib.import_module(f"{node.module}.{alias.name}")
                if id(obj) in docs and docs[id(obj)][1] not in PLUMBING:
                    used.add(docs[id(obj)])
    return sorted(used, key=lambda kn: kn[1])


def _title(stem: str) -> str:
    nb = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())
    return "".join(nb["cells"][0]["source"]).splitlines()[0].lstrip("# ").strip()


def header(chapter: int, stems: dict[int, str], used: list[tuple[str, str]]) -> str:
    """The chapter's two generated lines."""
    earlier = ", ".join(f"{{doc}}`{c}. {_title(stems[c])} <{stems[c]}>`" for c in BUILDS_ON.get(chapter, []))
    objects = ", ".join(f"{{{ROLES[kind]}}}`~{name}`" for kind, name in used)
    lines = [f"*Builds on:* {earlier}." if earlier else "*Builds on:* nothing but PyTorch."]
    if objects:
        lines.append(f"*Uses from `discgrad`:* {objects}.")
    lines.append("*Notation:* as in the {doc}`table of symbols <../book/notation>`; a symbol that is "
                 "not in it is defined where it is used.")
    return "\n\n".join(lines)


def api_table(uses: dict[str, list[tuple[str, str]]]) -> str:
    """The API reference's table: each object, and the chapters that use it."""
    chapters: dict[tuple[str, str], list[str]] = {}
    for stem, used in sorted(uses.items()):
        for kn in used:
            chapters.setdefault(kn, []).append(stem)
    rows = [f"| {{{ROLES[kind]}}}`~{name}` | "
            + ", ".join(f"{{doc}}`{int(s[:2])} <../notebooks/{s}>`" for s in stems) + " |"
            for (kind, name), stems in sorted(chapters.items(), key=lambda item: item[0][1])]
    return "\n".join(["| object | chapters that use it |", "|---|---|", *rows])


def write(check: bool = False) -> list[str]:
    """Write the headers and the API table; with ``check``, only list what would change."""
    docs = documented()
    stems = {int(p.stem[:2]): p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    uses = {stems[c]: chapter_uses(NOTEBOOKS / f"{stems[c]}.ipynb", docs) for c in sorted(stems)}
    stale = []
    for chapter, stem in sorted(stems.items()):
        path = NOTEBOOKS / f"{stem}.ipynb"
        nb = json.loads(path.read_text())
        text = header(chapter, stems, uses[stem])
        cell = {"cell_type": "markdown", "id": f"{HEADER_ID}{chapter:02d}", "metadata": {},
                "source": text.splitlines(keepends=True)}
        ids = [c.get("id") for c in nb["cells"]]
        if cell["id"] in ids:
            old = nb["cells"][ids.index(cell["id"])]
            if "".join(old["source"]) == text:
                continue
            old["source"] = cell["source"]
        else:
            title = nb["cells"][0]
            lines = "".join(title["source"]).splitlines(keepends=True)
            if len(lines) > 1:   # the header goes right under the title: split the title cell
                title["source"] = [lines[0].rstrip("\n")]
                rest = "".join(lines[1:]).lstrip("\n")
                nb["cells"].insert(1, {"cell_type": "markdown", "id": f"{HEADER_ID[:4]}e0{chapter:02d}",
                                       "metadata": {}, "source": rest.splitlines(keepends=True)})
            nb["cells"].insert(1, cell)
        stale.append(stem)
        if not check:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    page = API.read_text()
    block = f"{BEGIN}\n{api_table(uses)}\n{END}"
    new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, page, flags=re.S)
    if new != page:
        stale.append("book/api.md")
        if not check:
            API.write_text(new)
    return stale


if __name__ == "__main__":
    changed = write(check="--check" in sys.argv)
    print("\n".join(changed) or "up to date")
    sys.exit(1 if changed and "--check" in sys.argv else 0)
