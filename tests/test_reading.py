"""The committed chapters and front matter meet the reading standard (tests/reading_checks.py)
without running anything: the visible-code budget and width, linked chapter mentions, and no
internal method keys in the prose. Outputs are checked where nbval runs the chapters
(conftest.py) and on the rendered site (tests/test_site.py)."""
from pathlib import Path

import pytest
from reading_checks import code_problems, load, notebook_prose_problems, prose_problems

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_code_and_prose(path):
    nb = load(path)
    problems = code_problems(path.stem, nb) + notebook_prose_problems(path.stem, nb)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", [p for p in PAGES if p.stem != "api"], ids=lambda p: p.stem)
def test_front_matter_prose(path):
    problems = prose_problems(path.stem, path.read_text())
    assert not problems, "\n".join(problems)


def test_the_checks_have_teeth():
    """Each rule fires on a made-up chapter that breaks it."""
    from reading_checks import output_problems
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1\n" * 151 + "y" * 89},
                    {"cell_type": "markdown", "metadata": {}, "source": "as chapter 3 showed, identity_norm (Figure 3.1)"}]}
    found = " ".join(code_problems("t", nb) + notebook_prose_problems("t", nb))
    assert "152 visible code lines" in found and "89 characters" in found
    assert "'chapter 3' is not a link" in found and "identity_norm" in found and "'Figure 3.1' typed" in found
    assert "'Key takeaways'" in found and "'## Exercises'" in found
    nb["cells"][1]["source"] += "\n:::{admonition} Key takeaways\n:::\n## Exercises\n1. Do it.\n2. Again.\n"
    assert "2 exercises and 0 hint dropdowns" in " ".join(notebook_prose_problems("t", nb))
    outs = [{"output_type": "stream", "text": "/tmp/ipykernel_1/2.py:3: UserWarning\n"},
            {"output_type": "stream", "text": '{"n_train": 4}\n'},
            {"output_type": "display_data", "data": {"text/html": "<table><tr><td>gumbel_st</td></tr></table>"}},
            {"output_type": "stream", "text": "see (sort-imit)\n"}]
    found = " ".join(output_problems("t", outs, {"sort-imit"}))
    for rule in ("machine path", "dump", "gumbel_st", "(sort-imit)", "numbered caption"):
        assert rule in found, rule
    assert not output_problems("t", [{"output_type": "display_data", "data": {
        "text/html": "<table><caption>Table 8.1. Identity + P_norm</caption></table>"}}])
