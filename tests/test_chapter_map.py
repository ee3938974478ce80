"""The book's map (book/figures/chapter_map.svg, on the intro page) matches the book: every
numbered chapter of _toc.yml is on it, each chapter's "Builds on" line links exactly the
chapters the map draws arrows from, and the committed picture is what the script draws."""
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "figures"))
import chapter_map  # noqa: E402

STEMS = {int(p.stem[:2]): p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}


def test_every_numbered_chapter_is_on_the_map():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    numbered = [c["file"] for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]
    on_map = [c for _, chapters in chapter_map.PARTS for c in chapters]
    assert [int(Path(f).stem[:2]) for f in numbered] == on_map == sorted(STEMS)
    assert set(chapter_map.TITLES) == set(on_map) == set(chapter_map.HEIGHTS)


def _builds_on_line(stem: str) -> str:
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    lines = [line for cell in nb["cells"][:3] if cell["cell_type"] == "markdown"
             for line in "".join(cell["source"]).splitlines() if line.startswith("*Builds on:*")]
    assert len(lines) == 1, f"{stem}: no '*Builds on:*' line in its first cells"
    return lines[0]


@pytest.mark.parametrize("chapter", sorted(chapter_map.BUILDS_ON))
def test_each_chapter_names_what_it_builds_on(chapter):
    linked = {int(m) for m in re.findall(r"<(\d\d)_\w+>`", _builds_on_line(STEMS[chapter]))}
    assert linked == set(chapter_map.BUILDS_ON[chapter])
    assert all(earlier < chapter for earlier in linked)


def test_the_committed_map_is_the_scripts_drawing(tmp_path):
    drawn = chapter_map.draw(tmp_path / "map.svg").read_text()
    committed = (ROOT / "book" / "figures" / "chapter_map.svg").read_text()
    assert drawn == committed, "run python book/figures/chapter_map.py and commit the svg"
