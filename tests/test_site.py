"""The rendered site in a real browser: every page loads cleanly, maths renders, links work,
and the pages meet the book's reading standard, at desktop and at phone width.

The book is built with execution off except for chapter 17 (executed at the smoke scale, so
that result tables and figures are on its page), served on 127.0.0.1, and every
page is opened in Debian's headless Chromium through Playwright (no browser download: the
system chromium). A page fails on a console error, an image or script that did not load, a
formula left unrendered by MathJax, a second visible search box, a notebook page without its
Colab launch link, or an internal link to a page or anchor that does not exist; on raw LaTeX
outside maths, an internal method key or a machine path a reader can see, a plain-text
"chapter N", a results table or an output figure without a numbered caption, a caption on a
cell that draws nothing, or more visible code than the
chapter's budget (``tests/reading_checks.py``); and, at 412 px, on a page wider than the
screen or a table or display equation wider than its column that does not scroll.
Screenshots of the intro and chapter 1 are saved under $TMPDIR/discgrad-site for a person to
look at.
"""
import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
from book_build import build_without_execution
from reading_checks import (CHAPTER_MENTION, CODE_BUDGET, CODE_WIDTH, MACHINE_PATH, METHOD_KEY,
                            TABLE_CAPTION, THEORY_BUDGET)

ROOT = Path(__file__).resolve().parent.parent
# Known third-party messages, not the book's: Jupyter Book 1.0.4 with sphinx-thebe 0.3.1
# emits sphinx-thebe's inline config twice, and the second ``const`` declaration throws.
# The book does not use thebe (it launches Colab). Any other console error fails.
KNOWN_THIRD_PARTY = ("Identifier 'THEBE_JS_URL' has already been declared",)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: The chapter executed for the site test, so that rendered outputs (wide tables, figures)
#: are checked too; conftest.py checks the outputs of every chapter as nbval runs them.
EXECUTED = ("17_results_and_guide",)
#: Pages checked at phone width: display equations (chapter 3), wide tables (chapter 17), long
#: names in inline code (chapter 8) and long signatures (the API reference).
PHONE_PAGES = ("notebooks/03_negative_identity.html", "notebooks/17_results_and_guide.html",
               "notebooks/08_graph_matching.html", "book/api.html")
RAW_LATEX = ("$$", "\\begin{", "\\frac", "\\langle", "\\mathrm", "\\partial", "\\operatorname", "$\\")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = build_without_execution(out, execute=EXECUTED)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = out / "_build" / "html"
    missing = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            # Browsers ask for /favicon.ico on their own (Jupyter Book's index.html redirect
            # page has no icon link); that is not a resource of the book, so answer "no content".
            if self.path == "/favicon.ico":
                self.send_response(204)
                self.end_headers()
                return
            super().do_GET()

        def send_error(self, code, *args, **kwargs):
            missing.append((code, self.path))
            super().send_error(code, *args, **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield html, f"http://127.0.0.1:{server.server_port}/", missing
    server.shutdown()


def _pages(html):
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)


@pytest.fixture(scope="module")
def visits(site):
    """Every page opened once at 1280 px: what failed while loading it, its anchors and
    links, and what a reader sees on it (``_READ_PAGE``), for the two tests below."""
    assert CHROMIUM, "chromium is missing: .ci/run installs Debian's chromium for this test"
    from playwright.sync_api import sync_playwright

    html, base, missing = site
    pages = _pages(html)
    assert "book/intro.html" in pages and any(p.startswith("notebooks/") for p in pages)
    shots = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "discgrad-site"
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    anchors = {}   # page url -> ids on it, to check links to #anchors
    links = set()
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        for name in pages:
            errors = []
            page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("requestfailed", lambda r, errors=errors: errors.append(f"failed request {r.url}"))
            url = urljoin(base, name)
            page.goto(url, wait_until="networkidle")
            # MathJax typesets asynchronously: wait for it when the page has maths.
            page.wait_for_function("() => !window.MathJax || !MathJax.startup || "
                                   "MathJax.startup.promise.then(() => true)", timeout=20000)
            page.wait_for_timeout(200)
            for err in errors:
                if err not in KNOWN_THIRD_PARTY:
                    problems.append(f"{name}: console/page error: {err}")
            broken = page.evaluate("() => [...document.images].filter(i => !i.complete || "
                                   "i.naturalWidth === 0).map(i => i.src)")
            problems += [f"{name}: image did not load: {src}" for src in broken]
            text = page.evaluate("() => { const m = document.querySelector('main') || document.body;"
                                 " const c = m.cloneNode(true);"
                                 " c.querySelectorAll('pre, code, mjx-container, script, style')"
                                 ".forEach(e => e.remove()); return c.textContent; }")  # hidden hints too
            for raw in RAW_LATEX:
                if raw in text:
                    problems.append(f"{name}: unrendered maths ({raw!r}) in the page text")
            # pydata-sphinx-theme 0.17 under sphinx-book-theme 1.3 adds a top bar with a second
            # search box unless navbar_persistent is emptied (_config.yml)
            searches = page.evaluate("() => [...document.querySelectorAll('.search-button-field')]"
                                     ".filter(e => e.offsetParent !== null).length")
            if searches > 1:
                problems.append(f"{name}: {searches} visible search boxes (one is a duplicate)")
            if page.locator("mjx-container").count() == 0 and page.locator(".math").count() > 0:
                problems.append(f"{name}: MathJax rendered no formula")
            if name.startswith("notebooks/"):
                colab = page.locator("a[href*='colab.research.google.com/github/']").count()
                if colab == 0:
                    problems.append(f"{name}: no Colab launch link")
            anchors[url] = set(page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)"))
            for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)"):
                if href.startswith(base):
                    links.add((name, href))
            if name in ("book/intro.html", "notebooks/01_zero_gradients.html"):
                page.screenshot(path=str(shots / name.replace("/", "_").replace(".html", ".png")), full_page=False)
            seen[name] = page.evaluate(_READ_PAGE)   # for the reading-standard test
            page = _fresh(browser, page)
        browser.close()
    return {"problems": problems, "anchors": anchors, "links": links, "seen": seen}


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (.ci/run installs it)")
def test_every_page_renders_in_chromium(site, visits):
    html, base, missing = site
    problems, anchors = list(visits["problems"]), visits["anchors"]
    for name, href in sorted(visits["links"]):
        target, fragment = urldefrag(href)
        path = html / urlparse(target).path.lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        if not path.exists():
            problems.append(f"{name}: broken link to {href}")
        elif fragment and target in anchors and fragment not in anchors[target]:
            problems.append(f"{name}: link to a missing anchor {href}")
    problems += [f"HTTP {code} for {path}" for code, path in missing]
    assert not problems, "\n".join(problems)


def _fresh(browser, page):
    """A new page per visit, so listeners of one page never see another's messages."""
    page.close()
    return browser.new_page(viewport={"width": 1280, "height": 1600})


def _browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"])


def _open(browser, url, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url, wait_until="networkidle")
    page.wait_for_function("() => !window.MathJax || !MathJax.startup || "
                           "MathJax.startup.promise.then(() => true)", timeout=20000)
    page.wait_for_timeout(200)
    return page


# What a reader sees on a page, in parts: the prose (no code, maths or outputs), the outputs'
# text, each visible input code block's lines, each output table's text with its caption, and
# the images' alt texts.
_READ_PAGE = """() => {
  const main = document.querySelector('main') || document.body;
  const visible = e => e.offsetParent !== null;
  const prose = main.cloneNode(true);
  prose.querySelectorAll('pre, code, mjx-container, script, style, .cell_output, a, .headerlink')
       .forEach(e => e.remove());
  return {
    prose: prose.innerText,
    outputs: [...main.querySelectorAll('.cell_output')].filter(visible)
               .map(e => { const c = e.cloneNode(true);
                           c.querySelectorAll('.highlight').forEach(h => h.remove());
                           return c.innerText; }),
    code: [...main.querySelectorAll('.cell_input pre')].filter(visible).map(e => e.innerText),
    // a table's caption is its <caption> or a line of its own output (below its scroll box)
    tables: [...main.querySelectorAll('.cell_output table')].map(t => (t.closest('.output') || t).innerText),
    alts: [...main.querySelectorAll('img')].map(i => i.alt || ''),
    bare: [...main.querySelectorAll('.cell_output img')].filter(i => !i.closest('figure')).length,
    empty: [...main.querySelectorAll('figure')].filter(f => !f.querySelector('img, svg')).length,
    uncaptioned: [...main.querySelectorAll('figure')]
                   .filter(f => !(f.querySelector('figcaption .caption-number'))).length,
  };
}"""


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (.ci/run installs it)")
def test_pages_meet_the_reading_standard(visits):
    """What a reader sees on each rendered page (book/how_to_use.md, the reading standard)."""
    problems = []
    for name, seen in sorted(visits["seen"].items()):
        if name.startswith("api") or name.endswith("/api.html"):
            continue   # the API reference documents the keys on purpose
        for mention in CHAPTER_MENTION.finditer(seen["prose"]):
            problems.append(f"{name}: {mention.group()!r} in the prose is not a link")
        for where, texts in (("prose", [seen["prose"]]), ("an output", seen["outputs"]),
                             ("an image's alt text", seen["alts"])):
            for text in texts:
                problems += [f"{name}: the internal method key {m.group()!r} in {where}"
                             for m in METHOD_KEY.finditer(text)]
        problems += [f"{name}: a machine path in an output: {text[:80]!r}"
                     for text in seen["outputs"] if MACHINE_PATH.search(text)]
        problems += [f"{name}: a table without a numbered caption: {text[:60]!r}"
                     for text in seen["tables"] if not TABLE_CAPTION.search(text)]
        if seen["bare"]:
            problems.append(f"{name}: {seen['bare']} figure(s) without a caption (mystnb.figure)")
        if seen["empty"]:
            problems.append(f"{name}: {seen['empty']} caption(s) on a cell that draws no figure")
        if seen["uncaptioned"]:
            problems.append(f"{name}: {seen['uncaptioned']} figure(s) without a numbered caption")
        if name.startswith("notebooks/"):
            stem = Path(name).stem
            lines = [line for block in seen["code"] for line in block.rstrip("\n").split("\n")]
            budget = THEORY_BUDGET.get(stem, CODE_BUDGET)
            if len(lines) > budget:
                problems.append(f"{name}: {len(lines)} visible code lines (budget {budget})")
            problems += [f"{name}: a visible code line of {len(line)} characters: {line[:60]!r}"
                         for line in lines if len(line) > CODE_WIDTH]
    assert not problems, "\n".join(problems)


# Tables and display equations on the page, with their width, the content column's width and
# whether an ancestor inside the column scrolls sideways.
_WIDE_THINGS = """() => {
  const main = document.querySelector('main') || document.body;
  const art = main.querySelector('article') || main, pad = getComputedStyle(art);
  const column = {width: art.clientWidth - parseFloat(pad.paddingLeft) - parseFloat(pad.paddingRight)};
  const scrolls = e => { for (let a = e; a && a !== main; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if ((o === 'auto' || o === 'scroll') && a.clientWidth <= column.width + 1) return true; }
    return false; };
  const things = [...main.querySelectorAll('table, mjx-container[display="true"]')];
  return {
    page: document.documentElement.scrollWidth, screen: window.innerWidth, column: column.width,
    wide: things.filter(e => e.scrollWidth > column.width + 1 && !scrolls(e))
                .map(e => e.tagName.toLowerCase() + ': ' + (e.innerText || '').slice(0, 50)),
    count: things.length,
  };
}"""


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("name", PHONE_PAGES)
def test_phone_width_scrolls_instead_of_cutting(site, name):
    """At 412 px (a phone), the page is no wider than the screen and every table or display
    equation wider than the column sits in a container that scrolls sideways."""
    assert CHROMIUM, "chromium is missing: .ci/run installs Debian's chromium for this test"
    from playwright.sync_api import sync_playwright

    html, base, _ = site
    with sync_playwright() as p:
        browser = _browser(p)
        page = _open(browser, urljoin(base, name), 412, 915)
        seen = page.evaluate(_WIDE_THINGS)
        shots = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "discgrad-site"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / ("phone_" + Path(name).stem + ".png")), full_page=False)
        browser.close()
    assert seen["count"] > 0, f"{name}: no table or display equation to check"
    assert seen["page"] <= seen["screen"] + 1, f"{name}: the page is {seen['page']} px wide on a {seen['screen']} px screen"
    assert not seen["wide"], f"{name}: wider than the {seen['column']:.0f} px column and not scrolling: {seen['wide']}"
