"""The notation table of ``book/notation.md`` gives every symbol one meaning, and the chapters keep it.

The table has one row per symbol: the symbol, its meaning and the chapter that introduces it.
The checks read the math of the chapters the table covers (markdown cells, figure captions,
and the ``$...$`` labels of code cells) and assert that

* no symbol has two rows, and every row names a chapter;
* every symbol is used, and the chapter named in its row is the first that uses it;
* every covered chapter links to the table;
* where the prose names a symbol, "the margin $\\alpha$" or "$f$ the linearised loss", the
  naming word belongs to the symbol's meaning in the table (so "a step of size $\\alpha$" or
  "the weight $\\lambda$" fails when the table says $\\alpha$ is the margin and $\\lambda$ the
  interpolation strength);
* the particular second meanings that review found (issue 22) do not come back.

The naming words are found by a simple rule, within one sentence and next to a math span that
holds nothing but the symbol: "the/a/an/of/for WORD $sym$", and "with $sym$ the WORD" or
", $sym$ the WORD". So the check is a net, not a proof: the asserts name the chapter and the
words, and the table's meaning column is the place to add a word that is right.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTATION = ROOT / "book" / "notation.md"
#: the chapters the table covers, in the order of the book
CHECKED = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))

# Words that may stand between an article and a symbol without naming it: function words,
# verbs, and qualifiers or roles that say which value, not what it is ("the smallest useful
# $\\lambda$", "up to the factor $r$").
STOPWORDS = set("""
a an the and or of to on at by for in into from with without is are be as so that this these
those than then when where while which its it if only not no all any each every per via over
under along between below above before after both either one two same other another some most
more less we our here there also just still even case given new whole first last next such
much long current particular single finite fixed random small large smallest largest smaller
larger useful bisected chosen different factor constant value contains adds gives makes moves
multiplies paper direction directions signs code
""".split())
DETERMINERS = {"the", "a", "an", "of", "for"}
SINGLE_LETTER = re.compile(r"^\\?[A-Za-z]+$")
DECORATIONS = (r"\bar", r"\tilde", r"\hat")


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def notation_rows():
    """(symbols, meaning, chapter stem) for every row of the notation table."""
    rows = []
    for line in NOTATION.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("$"):
            continue
        symbols = re.findall(r"\$([^$]+)\$", cells[0])
        chapter = re.search(r"notebooks/(\d\d_[a-z0-9_]+)>", cells[2])
        rows.append((symbols, cells[1], chapter.group(1) if chapter else None))
    return rows


def _blank_text_commands(math):
    """Blank the arguments of \\text{..}, \\mathrm{..} and the like: their letters are words."""
    return re.sub(r"\\(text|mathrm|operatorname|mathbb|mathbf|mathcal|begin|end)\{[^{}]*\}",
                  lambda m: "\\" + m.group(1) + "{" + " " * (len(m.group(0)) - len(m.group(1)) - 3) + "}",
                  math)


def symbol_pattern(symbol):
    """A regex that finds ``symbol`` in a math span (applied to the span with text blanked)."""
    symbol = symbol.strip()
    if symbol.startswith(DECORATIONS):                # \bar w, \tilde y
        command, letter = symbol.split()
        return re.compile(re.escape(command) + r"\s*\{?\s*" + re.escape(letter) + r"(?![A-Za-z])")
    if symbol in ("y^\\star", "a^\\star"):
        return re.compile(r"(?<![A-Za-z\\])" + symbol[0] + r"\^\{?\\star")
    fraction = re.fullmatch(r"\\mathrm\{d\}(\w)/\\mathrm\{d\}(\w)", symbol)
    if fraction:                                      # dL/dw, also as \frac{dL}{dw}
        top, bottom = fraction.groups()
        return re.compile(rf"\\mathrm\{{d\}}{top}\s*/\s*\\mathrm\{{d\}}{bottom}(?![A-Za-z])"
                          rf"|\\frac\{{\\mathrm\{{d\}}{top}\}}\{{\\mathrm\{{d\}}{bottom}\}}")
    if SINGLE_LETTER.match(symbol):
        decorated = "".join(rf"(?<!{re.escape(d)} )(?<!{re.escape(d)}\{{)" for d in DECORATIONS)
        after = r"(?![A-Za-z])" + (r"(?!\^\{?\\star)" if symbol in ("y", "a") else "")
        return re.compile(r"(?<![A-Za-z\\])" + decorated + re.escape(symbol) + after)
    return re.compile(re.escape(symbol))


def inline_math(text):
    """(start, end, inner) of every $..$ span, code and display math blanked out first."""
    blank = lambda m: " " * len(m.group(0))
    text = re.sub(r"```.*?```|`[^`\n]*`", blank, text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", blank, text, flags=re.S)
    marks = [m.start() for m in re.finditer(r"\$", text)]
    return [(a, b + 1, text[a + 1:b]) for a, b in zip(marks[::2], marks[1::2])]


def math_spans(text):
    """The math of a piece of markdown: display math, then inline math."""
    display = re.findall(r"\$\$(.*?)\$\$", text, flags=re.S)
    return display + [inner for _, _, inner in inline_math(text)]


def chapter_texts(stem):
    """The prose of a chapter: markdown cells, figure captions, and $..$ labels of code cells."""
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    texts = []
    for cell in nb["cells"]:
        source = _source(cell)
        if cell["cell_type"] == "markdown":
            texts.append(source)
        else:
            texts += re.findall(r"\$[^$\n]+\$", source)
        caption = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption")
        if caption:
            texts.append(caption)
    return texts


def uses(stem, symbol):
    pattern = symbol_pattern(symbol)
    return [m for text in chapter_texts(stem) for m in math_spans(text)
            if pattern.search(_blank_text_commands(m) if SINGLE_LETTER.match(symbol) or
                              symbol.startswith(DECORATIONS) or symbol.endswith("\\star") else m)]


def meaning_words(meaning):
    words = set()
    for word in re.findall(r"[A-Za-z][A-Za-z-]*", re.sub(r"\$[^$]*\$|`[^`]*`|\{doc\}", " ", meaning)):
        word = word.lower()
        words |= {word, word.rstrip("s"), word + "s"}
        words |= set(word.split("-"))
    return words


def glosses(text, symbol):
    """The words that name ``symbol`` in ``text``.

    Two forms count, within one sentence: an article or "of"/"for", one word and the symbol
    ("the margin $\\alpha$", "a step of size $\\alpha$"; the word is the name), and
    "with $sym$ the WORD" or ", $sym$ the WORD" ("$f$ the linearised loss"). The math span must hold the symbol alone (or applied, as $y(w)$).
    """
    pattern = symbol_pattern(symbol)
    found = []
    for start, end, inner in inline_math(text):
        alone = re.sub(r"\(\w\)$", "", inner.strip()).strip()
        if not (pattern.fullmatch(alone) or alone == symbol):
            continue
        head = re.split(r"[.!?:;|]\s|\n\s*\n|^#+ ", text[max(0, start - 60):start])[-1]
        words = [w.removesuffix("'s") for w in re.findall(r"[A-Za-z][A-Za-z'-]*", head)]
        if (re.search(r"[A-Za-z'-]\s+$", head) and len(words) >= 2
                and words[-2].lower() in DETERMINERS and words[-1].lower() not in STOPWORDS):
            found.append(words[-1].lower())
        tail = re.match(r"\s+the\s+([A-Za-z][A-Za-z-]*)", text[end:end + 40])
        if tail and re.search(r"(\bwith|,)\s*$", head) and tail.group(1).lower() not in STOPWORDS:
            found.append(tail.group(1).lower())
    return found


# Second meanings that review found in these chapters (issue 22). Each pattern is searched
# in the math of the covered chapters, with its reason.
FORMER_CLASHES = [   # (where, pattern, reason)
    ("math", r"\\alpha\s*(g|\\,\s*s)", "alpha as a step size (it is the margin)"),
    ("prose", r"step (size|of size) \$\\alpha|\$\\alpha\s*=\s*\$\s*`(alpha_2d|a_max)", "alpha as a step size"),
    ("math", r"(?<![A-Za-z\\])g\s*=\s*\\mathrm\{d\}L\s*/\s*\\mathrm\{d\}w", "g as dL/dw (it is dL/dy)"),
    ("math", r"(?<![A-Za-z\\])g_t\b", "g as a parameter gradient (it is dL/dy)"),
    ("math", r"\\rangle\s*=\s*s\s*$", "s as the common sum of the solutions (it is the sign)"),
    ("math", r"(?<![A-Za-z\\])s\s*\\operatorname\{mean\}", "s as the common sum of the solutions"),
    ("prose", r"sample \$s\$", "s as a sample index (it is the sign)"),
    ("math", r"(?<![A-Za-z\\])c\s*=\s*\\tfrac", "c as the centroid (it is a scale or shift)"),
    ("math", r"(?<![A-Za-z\\])c\s*=\s*\\mathbf\{1\}\s*-\s*2", "c as the loss vector (that is g)"),
    ("math", r"\\langle\s*c\s*,\s*y", "c as the loss vector (that is g)"),
    ("math", r"(?<![A-Za-z\\])r\s*-\s*c", "r as a ranking (it is the radius)"),
    ("math", r"\\langle\s*w\s*,\s*r\s*\\rangle", "r as a ranking (it is the radius)"),
    ("math", r"(?<![A-Za-z\\])r_\\tau|(?<![A-Za-z\\])r\(w\)|(?<![A-Za-z\\])r_i\s*=", "r as a surrogate (that is \\tilde y)"),
    ("math", r"(?<![A-Za-z\\])f_\\lambda|(?<![A-Za-z\\])f\(w\)", "f as the staircase or its interpolation"),
    ("math", r"\\lambda\s*\\frac\{1\}\{B\}", "lambda as the weight of the bridge loss (that is omega)"),
    ("prose", r"weight( decay)? \$\\lambda", "lambda as a weight (it is the interpolation strength)"),
    ("math", r"\\sigma\\big\(\(x", "sigma as the logistic function"),
    ("math", r"\\bar y_\\sigma", "the perturbed mean is y_sigma"),
    ("math", r"Y\^\*|Y\^\\star|(?<![A-Za-z\\])Y_\{?ij|\\langle[^,]*,\s*Y\s*\\rangle",
     "Y as a solution (Y is the feasible set; a solution is y, the target y^star)"),
    ("math", r"(?<!_)\\sigma\s*\(|\\sigma'", "sigma as the logistic function (it is the noise scale)"),
]


def test_the_table_has_one_row_per_symbol_and_names_a_chapter():
    rows = notation_rows()
    assert len(rows) >= 25, "the notation table was not found"
    symbols = [s for row in rows for s in row[0]]
    duplicates = {s for s in symbols if symbols.count(s) > 1}
    assert not duplicates, f"symbols with more than one row (more than one meaning): {duplicates}"
    for row_symbols, meaning, chapter in rows:
        assert meaning, row_symbols
        assert chapter in CHECKED, f"{row_symbols}: the row must name a covered chapter, got {chapter}"
    # the symbols issue 22 found missing are listed
    for needed in ["s", "g", "f", "\\eta", "\\xi", "a^\\star", "r", "c", "\\alpha", "\\lambda"]:
        assert needed in symbols, needed


@pytest.mark.parametrize("row", notation_rows(), ids=lambda row: row[0][0])
def test_each_symbol_is_introduced_where_the_table_says(row):
    (symbol, *_), _, chapter = row
    first = next((stem for stem in CHECKED if uses(stem, symbol)), None)
    assert first is not None, f"${symbol}$ is in the table but no covered chapter uses it"
    assert first == chapter, f"${symbol}$ is first used in {first}, the table says {chapter}"


@pytest.mark.parametrize("stem", CHECKED)
def test_each_chapter_links_to_the_table(stem):
    assert any("../book/notation" in text for text in chapter_texts(stem)), stem


@pytest.mark.parametrize("stem", CHECKED)
def test_the_words_that_name_a_symbol_belong_to_its_meaning(stem):
    texts = chapter_texts(stem)
    wrong = []
    for symbols, meaning, _ in notation_rows():
        allowed = meaning_words(meaning)
        for symbol in symbols:
            for text in texts:
                wrong += [(symbol, word) for word in glosses(text, symbol) if word not in allowed]
    assert not wrong, f"{stem}: symbols named by words outside their meaning in book/notation.md: {wrong}"


@pytest.mark.parametrize("stem", CHECKED)
def test_the_second_meanings_found_in_review_stay_gone(stem):
    texts = chapter_texts(stem)
    spans = [m.strip() for text in texts for m in math_spans(text)]
    for where, pattern, reason in FORMER_CLASHES:
        if where == "math":
            hits = [m for m in spans if re.search(pattern, m, flags=re.M)]
        else:
            hits = [t[:80] for t in texts if re.search(pattern, t)]
        assert not hits, f"{stem}: {reason}: {hits[:3]}"


def test_the_checks_have_teeth():
    """Sentences with the old second meanings fail the checks above."""
    rows = {symbols[0]: meaning for symbols, meaning, _ in notation_rows()}

    def named_wrongly(sentence, symbol):
        return [w for w in glosses(sentence, symbol) if w not in meaning_words(rows[symbol])]

    assert named_wrongly(r"A gradient step of size $\alpha$ moves the costs.", r"\alpha")
    assert named_wrongly(r"The loss adds the weight $\lambda$ times the bridge loss.", r"\lambda")
    assert named_wrongly(r"A ranking $r$ is a permutation.", "r")
    assert named_wrongly(r"its distance from the centroid $c$ is the same", "c")
    assert named_wrongly(r"the baseline for sample $s$ is the mean", "s")
    assert not named_wrongly(r"with the margin $\alpha$ of the noise", r"\alpha")
    assert not named_wrongly(r"the sphere of radius $r$ around the centroid", "r")
    assert not named_wrongly(r"$f$ the linearised loss", "f")
    for span, expected in [(r"g = \mathrm{d}L/\mathrm{d}w", True), (r"\langle \mathbf{1}, y\rangle = s", True),
                           (r"c = \tfrac{k}{n}\mathbf{1}", True), (r"g = \mathrm{d}L/\mathrm{d}y", False),
                           (r"w - \alpha g", True), (r"\langle \mathbf{1}, y\rangle = q", False)]:
        assert any(re.search(p, span) for where, p, _ in FORMER_CLASHES if where == "math") == expected, span
    for sentence in (r"train with weight decay $\lambda$", r"a step of size $\alpha$", r"for sample $s$ the"):
        assert any(re.search(p, sentence) for where, p, _ in FORMER_CLASHES if where == "prose"), sentence
    # the symbol matcher tells a symbol from its decorated and starred relatives
    assert symbol_pattern("y").search("y(w)") and not symbol_pattern("y").search(r"\tilde y(w)")
    assert not symbol_pattern("y").search(r"y^\star") and symbol_pattern("y^\\star").search(r"y^\star")
    assert not symbol_pattern("c").search(_blank_text_commands(r"\text{const}"))
    dldw = symbol_pattern(r"\mathrm{d}L/\mathrm{d}w")
    assert dldw.search(r"\frac{\mathrm{d}L}{\mathrm{d}w}") and not dldw.search(r"\mathrm{d}L/\mathrm{d}y")
