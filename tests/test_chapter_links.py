"""Each chapter's first lines (what it builds on, the package objects it uses) and the API
reference's table of where each object is used are what book/chapter_links.py writes from the
chapters' imports: they cannot drift from the code."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import chapter_links  # noqa: E402


def test_chapter_headers_and_api_table_are_current():
    stale = chapter_links.write(check=True)
    assert not stale, f"run python book/chapter_links.py: stale in {stale}"


def test_a_chapter_header_links_its_objects_and_what_it_builds_on():
    docs = chapter_links.documented()
    stems = {int(p.stem[:2]): p.stem for p in chapter_links.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    used = chapter_links.chapter_uses(chapter_links.NOTEBOOKS / f"{stems[8]}.ipynb", docs)
    text = chapter_links.header(8, stems, used)
    assert "{py:class}`~discgrad.solvers.Assignment`" in text      # the chapter's solver
    assert "<04_projections_and_cost_collapse>`" in text              # chapter 8 builds on 4
    assert "describe" not in text                                     # plumbing is left out
