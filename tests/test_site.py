"""The rendered site in a real browser: every page loads cleanly, maths renders, links work.

The book is built with execution off, served on 127.0.0.1, and every page is opened in
Debian's headless Chromium through Playwright (no browser download: the system chromium).
A page fails on a console error, an image or script that did not load, a formula left
unrendered by MathJax, a second visible search box, a notebook page without its Colab launch link, or an internal link to
a page or anchor that does not exist. Screenshots of the intro and chapter 1 are saved
under $TMPDIR/discgrad-site for a person to look at.
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

ROOT = Path(__file__).resolve().parent.parent
# Known third-party messages, not the book's: Jupyter Book 1.0.4 with sphinx-thebe 0.3.1
# emits sphinx-thebe's inline config twice, and the second ``const`` declaration throws.
# The book does not use thebe (it launches Colab). Any other console error fails.
KNOWN_THIRD_PARTY = ("Identifier 'THEBE_JS_URL' has already been declared",)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = build_without_execution(out)
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


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (.ci/run installs it)")
def test_every_page_renders_in_chromium(site):
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
                                 ".forEach(e => e.remove()); return c.innerText; }")
            for raw in ("$$", "\\begin{", "\\frac", "\\langle"):
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
            page = _fresh(browser, page)
        browser.close()
    for name, href in sorted(links):
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
