"""The course website (`make site`, tools/build_site.py), built into a temporary folder and read in a real browser.

The site is built once, as `make site` builds it, and served by Python's plain http.server on 127.0.0.1. Without
a browser the test checks the files: every page there, nothing loaded from outside the site (no CDN script, style,
font or image), the repository's links (clone, Codespaces) derived as documented. In headless Chromium (Debian's
``chromium`` and ``chromium-driver``, found and started as tests/test_browser.py does) it opens every page and
checks that it renders with no console error; that its code blocks and outputs are the notebook's, one for one
(``.jp-CodeCell`` and ``.jp-OutputArea-child`` of nbconvert's lab template, counted against the .ipynb, each
output showing its stored text, image or traceback); that every image loads; that every link into the site
resolves, anchors included; and, from Chrome's own network log, that no request leaves the local server. The
search box must find a term that occurs in exactly one notebook and link to that notebook's page. The browser
part skips, with its reason, when chromium, chromedriver or selenium is missing.
"""

from __future__ import annotations

import functools
import html
import http.server
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = ["index", "readme", *NOTEBOOKS]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--no-proxy-server", "--window-size=1400,1000"]
# Terms for the search check, the first that occurs in exactly one notebook (and not in the README) is used.
SEARCH_TERMS = ["tool_use_id", "is_error", "parallel_tool_calls", "overloaded_error", "system_fingerprint",
                "get_format_mimetype", "aiolimiter"]
REMOTE_CSS = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"]?)((?:https?:)?//[^)'\"\s]*)")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - selenium is pinned in requirements.txt
    webdriver = None

NO_BROWSER = ("no Chromium found (apt-get install chromium chromium-driver; .ci/run does it)" if CHROMIUM is None
              else "no chromedriver found (apt-get install chromium-driver; .ci/run does it)" if CHROMEDRIVER is None
              else "selenium is missing (pip install -r requirements.txt)" if webdriver is None else "")
needs_browser = pytest.mark.skipif(bool(NO_BROWSER), reason=NO_BROWSER)


def _builder():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_site", module)  # its dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def _build(out: Path, repo: str, *only: str) -> Path:
    """Build as `make site` does (a separate process), with the repository given explicitly ('' = unknown)."""
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--out", str(out), "--repo", repo,
                           *(["--only", *only] if only else [])],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"build_site.py failed:\n{done.stdout}\n{done.stderr}"
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("site") / "_site", repo="")


@pytest.fixture(scope="module")
def server(site):
    """The built site on 127.0.0.1, served by a plain static file server; also lists every path asked for."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            requested.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{httpd.server_port}", "requested": requested}
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if NO_BROWSER:
        pytest.skip(NO_BROWSER)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()


def _notebook(name: str):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)


def _norm(text: str) -> str:
    return " ".join(ANSI.sub("", text).split())


def _as_jupyterlab_shows(stream: str) -> str:
    """A stream as JupyterLab shows it: a carriage return goes back to the start of its line (a progress bar)."""
    lines = []
    for line in stream.split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part):]
        lines.append(shown)
    return "\n".join(lines)


def _ids(page_html: str) -> set[str]:
    return {html.unescape(m) for m in re.findall(r'\sid="([^"]*)"', page_html)}


# --- the files, no browser ---------------------------------------------------------------------------------

def test_every_page_is_built(site):
    for name in PAGES:
        assert (site / f"{name}.html").is_file(), f"{name}.html was not built"
    manifest = json.loads((site / "site-manifest.json").read_text())
    assert list(manifest["pages"]) == NOTEBOOKS, "the pages should follow the lesson order"


def test_nothing_is_loaded_from_outside_the_site(site):
    """Scripts, styles, images, frames, fonts: all relative paths into the site (or data: URIs)."""
    from bs4 import BeautifulSoup

    loads = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "video": "src",
             "audio": "src", "embed": "src", "object": "data"}
    problems = []
    for page in sorted(site.glob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for tag, attr in loads.items():
            for element in soup.find_all(tag):
                value = element.get(attr)
                if value and (re.match(r"^[a-z][a-z0-9+.-]*:", value, re.I) or value.startswith("//")) \
                        and not value.startswith("data:"):
                    problems.append(f"{page.name}: <{tag} {attr}={value!r}>")
                elif value and not value.startswith("data:"):
                    target = site / urllib.parse.unquote(value.split("#")[0].split("?")[0])
                    if not target.is_file():
                        problems.append(f"{page.name}: <{tag} {attr}={value!r}> is not in the site")
        for style in soup.find_all("style"):
            problems += [f"{page.name}: <style> loads {u}" for u in REMOTE_CSS.findall(style.text)]
    for css in sorted((site / "assets").glob("*.css")):
        text = re.sub(r"/\*.*?\*/", "", css.read_text(encoding="utf-8"), flags=re.S)  # comments cite URLs
        problems += [f"assets/{css.name}: {m}" for m in REMOTE_CSS.findall(text)]
    assert not problems, "the site must ship what it loads:\n" + "\n".join(problems)
    assert not list(site.rglob("*.ipynb")), "the site shows notebooks as pages, it does not copy them"


def test_solutions_are_not_inlined(site):
    """The exercises show their stub and check cells; no line of a worked solution is on any page."""
    for name in NOTEBOOKS:
        solution = ROOT / "solutions" / f"{name}.py"
        if not solution.exists():
            continue
        notebook = "\n".join(c.source for c in _notebook(name).cells)
        lines = {line.strip() for line in solution.read_text(encoding="utf-8").splitlines()}
        own = [line for line in lines if len(line) > 30 and line not in notebook and not line.startswith("#")]
        text = html.unescape(re.sub(r"<[^>]+>", "", (site / f"{name}.html").read_text(encoding="utf-8")))
        shown = [line for line in own if line in text]
        assert not shown, f"{name}.html shows lines of solutions/{name}.py: {shown[:3]}"
        checks = sum(1 for c in _notebook(name).cells
                     if c.cell_type == "code" and re.search(r"^check\(", c.source, re.M))
        page = (site / f"{name}.html").read_text(encoding="utf-8")
        marked = len(re.findall(r"celltag_site-exercise-(?:check|stub-check)\b", page))
        assert checks >= 2 and marked == checks, (
            f"{name}: {marked} check cells marked on the page, {checks} in the notebook")
        assert re.search(r"celltag_site-exercise-stub", page), f"{name}: no exercise stub is marked"


def test_a_progress_bar_shows_its_last_state(site):
    # 10's tqdm bar, states separated by \r, showed every state, one a line; JupyterLab shows only the last
    from bs4 import BeautifulSoup

    bars = [(name, o.text) for name in NOTEBOOKS for c in _notebook(name).cells for o in c.get("outputs", [])
            if o.output_type == "stream" and re.search(r"\r[^\n]", o.text)]
    assert bars, "no stored output has a progress bar any more: this test checks nothing"
    for name, text in bars:
        soup = BeautifulSoup((site / f"{name}.html").read_text(encoding="utf-8"), "html.parser")
        shown = [_norm(pre.get_text().replace("\r", "\n")) for pre in soup.select(".jp-OutputArea-output pre")]
        assert _norm(_as_jupyterlab_shows(text)) in shown, f"{name}: the bar is not shown as JupyterLab shows it"


def test_repository_links(tmp_path):
    builder = _builder()
    assert builder.resolve_repo("octo/course", env={}) == "octo/course"
    assert builder.resolve_repo("https://github.com/octo/course.git", env={}) == "octo/course"
    assert builder.resolve_repo("", env={"SITE_REPO": "octo/course"}) is None  # --repo '' means unknown
    assert builder.resolve_repo(None, env={"SITE_REPO": "octo/course"}) == "octo/course"
    remotes = ("https://github.com/octo/course.git", "git@github.com:octo/course.git",
               "ssh://git@github.com/octo/course")
    for remote in remotes:
        assert builder.GITHUB_REMOTE.match(remote).group("repo") == "octo/course", remote
    assert not builder.GITHUB_REMOTE.match("https://gitlab.com/octo/course.git")

    built = _build(tmp_path / "_site", "octo/course", "05_tool_use")  # one page is enough for its links
    assert sorted(p.name for p in built.glob("[0-9]*.html")) == ["05_tool_use.html"]
    page = (built / "05_tool_use.html").read_text(encoding="utf-8")
    assert 'href="https://codespaces.new/octo/course"' in page
    assert "git clone https://github.com/octo/course.git" in page and "make lab" in page
    assert 'href="https://github.com/octo/course/blob/main/notebooks/05_tool_use.ipynb"' in page
    assert 'href="https://github.com/octo/course/blob/main/solutions/05_tool_use.py"' in page


def test_only_names_a_notebook_as_make_record_does_and_refuses_an_unknown_one(tmp_path):
    """`--only 01_setup.ipynb` (a tab-completed name) builds that page; an unknown name says so, with no
    traceback, and leaves the folder of an earlier build as it was."""
    built = _build(tmp_path / "_site", "", "01_setup.ipynb")
    assert sorted(p.name for p in built.glob("[0-9]*.html")) == ["01_setup.html"]
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--out", str(built), "--repo", "",
                           "--only", "01_setup", "99_nope"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "--only 99_nope: no such notebook in notebooks/" in done.stderr
    assert (built / "01_setup.html").is_file(), "a refused build must not remove the earlier one"


def test_links_and_images_with_percent_encoded_names(tmp_path):
    """Markdown writes a space in a file name as %20 (`![plot](img/my%20plot.png)`, or `<img/my plot.png>`, which
    renders the same): the image is copied into the site and a repository link is encoded once, not twice."""
    builder = _builder()
    course = tmp_path / "course"
    (course / "notebooks" / "img").mkdir(parents=True)
    (course / "notebooks" / "img" / "my plot.png").write_bytes(b"\x89PNG")
    (course / "docs").mkdir()
    (course / "docs" / "my notes.md").write_text("notes")
    builder.ROOT = course
    links = builder.Links({"05_tool_use"}, "octo/course", "main", tmp_path / "_site")
    body = links.rewrite('<img src="img/my%20plot.png"/><a href="../docs/my%20notes.md">notes</a>',
                         course / "notebooks")
    assert body == ('<img src="files/notebooks/img/my%20plot.png"/>'
                    '<a href="https://github.com/octo/course/blob/main/docs/my%20notes.md">notes</a>'), body
    assert (tmp_path / "_site" / "files" / "notebooks" / "img" / "my plot.png").read_bytes() == b"\x89PNG"


def test_never_replaces_a_folder_of_the_repository(tmp_path):
    """`--out notebooks` (or `make site SITE_DIR=docs` over a docs/ folder of the repository) once deleted that
    folder before building; a folder git tracks files in is refused, as the checkout itself is."""
    builder = _builder()
    course = tmp_path / "course"
    (course / "notebooks").mkdir(parents=True)
    (course / "notebooks" / "01_x.ipynb").write_text("{}")
    subprocess.run(["git", "init", "-q", str(course)], check=True)
    subprocess.run(["git", "-C", str(course), "add", "notebooks"], check=True)
    builder.ROOT = course
    with pytest.raises(SystemExit, match="refusing to replace .*notebooks: git tracks files in it"):
        builder.build(course / "notebooks", None, quiet=True)
    assert (course / "notebooks" / "01_x.ipynb").read_text() == "{}"


def test_unknown_repository_links_to_the_setup(site):
    page = (site / "05_tool_use.html").read_text(encoding="utf-8")
    assert "codespaces.new" not in page and "git clone &lt;the course repository&gt;" in page
    setup = re.search(r'href="(readme\.html#[^"]*)"[^>]*>Codespaces', page)
    assert setup and "Two-commands" in setup.group(1), "without a repository, Codespaces points at the set-up"


# --- in the browser ------------------------------------------------------------------------------------------

PAGE_JS = """
const content = document.querySelector('.site-content');
const outputs = Array.from(content.querySelectorAll('.jp-OutputArea-child')).map(child => {
  const shown = child.querySelector('.jp-OutputArea-output');
  return {mime: shown ? (shown.getAttribute('data-mime-type') || '') : '',
          text: shown ? shown.textContent : '', images: child.querySelectorAll('img').length};
});
return JSON.stringify({
  code: content.querySelectorAll('.jp-CodeCell').length,
  outputs: outputs,
  images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  banner: (document.querySelector('.site-banner') || {}).textContent || '',
  run: (document.querySelector('.site-run') || {}).textContent || '',
  pager: Array.from(document.querySelectorAll('.site-pager-bottom a')).map(a => a.getAttribute('href')),
  toc: document.querySelectorAll('.site-toc > ol > li').length,
  resources: performance.getEntriesByType('resource').map(e => e.name),
  cut: Array.from(content.querySelectorAll('.jp-InputArea-editor pre')).filter(pre => pre.scrollWidth > pre.clientWidth
    && !/auto|scroll/.test(getComputedStyle(pre).overflowX)).map(pre => pre.textContent.trim().slice(0, 80)),
});
"""


def _requests(perf_log: list[dict], base: str) -> list[str]:
    """Every request a page of the site made (Chrome's network log: scripts, styles, images, fonts, fetches),
    leaving out the browser's own pages (its new-tab page, before the first page of the site is opened)."""
    urls = []
    for entry in perf_log:
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            if params.get("documentURL", "").startswith(("chrome:", "chrome-", "about:")) \
                    and not params["request"]["url"].startswith(base):
                continue
            urls.append(params["request"]["url"])
    return urls


def _expected(output) -> str | None:
    """The text an output must show (normalised), or None when only its presence is checked."""
    if output.output_type == "stream":
        return _norm(_as_jupyterlab_shows(output.text))
    if output.output_type == "error":
        return None
    data = output.get("data", {})
    if set(data) == {"text/plain"}:
        return _norm(data["text/plain"])
    return None


@needs_browser
@pytest.mark.parametrize("name", PAGES)
def test_page_in_the_browser(driver, server, site, name):
    base = server["url"]
    driver.get_log("browser"), driver.get_log("performance")  # start this page with empty logs
    driver.get(f"{base}/{name}.html")
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    state = json.loads(driver.execute_script(PAGE_JS))
    console = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not console, f"{name}: console errors: {console}"

    requests = _requests(driver.get_log("performance"), base) + state["resources"]
    assert f"{base}/{name}.html" in requests and f"{base}/assets/site.css" in requests, "the network log is empty"
    outside = [u for u in requests if not (u.startswith(base + "/") or u.startswith("data:"))]
    assert not outside, f"{name}: requests that leave the local server: {outside}"
    broken = [i["src"][:80] for i in state["images"] if not i["ok"]]
    assert not broken, f"{name}: images that did not load: {broken}"
    # a code line wider than the page was cut off where it left the cell, with no way to scroll to its end
    assert not state["cut"], f"{name}: code cells whose long lines cannot be read to the end: {state['cut'][:3]}"

    assert "authored" in state["banner"] and "Where the recordings come from" in state["banner"], state["banner"]
    banner_link = driver.find_element(By.CSS_SELECTOR, ".site-banner a").get_attribute("href")
    assert banner_link.startswith(f"{base}/readme.html#Where-the-recordings-come-from"), (
        f"{name}: the banner should link to the README section on the recordings, links to {banner_link}")
    assert "make lab" in state["run"] and "git clone" in state["run"] and "Codespaces" in state["run"]
    assert state["toc"] == len(NOTEBOOKS), f"{name}: the contents should list every notebook"

    if name in NOTEBOOKS:
        nb = _notebook(name)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        stored = [o for c in cells for o in c.get("outputs", [])]
        assert state["code"] == len(cells), (
            f"{name}: {state['code']} code blocks on the page, {len(cells)} in the notebook")
        assert len(state["outputs"]) == len(stored), (
            f"{name}: {len(state['outputs'])} outputs on the page, {len(stored)} in the notebook")
        for i, (output, shown) in enumerate(zip(stored, state["outputs"], strict=True)):
            label = f"{name}: output {i} ({output.output_type})"
            if "image/png" in output.get("data", {}):
                assert shown["images"] == 1, f"{label} should show its image"
            elif output.output_type == "error":
                assert shown["mime"] == "application/vnd.jupyter.stderr", f"{label} should render as a traceback"
                assert output.ename in shown["text"], f"{label} should show {output.ename}"
                assert "\x1b[" not in shown["text"] and "[0;31m" not in shown["text"], f"{label}: raw ANSI codes"
            else:
                expected = _expected(output)
                if expected is None:  # HTML or markdown: shown, in its own rendering
                    assert _norm(shown["text"]), f"{label} is empty on the page"
                else:  # streams and plain text: exactly the stored text (a stream may be only newlines)
                    assert _norm(shown["text"]) == expected, (
                        f"{label} differs from the notebook:\n{shown['text'][:500]}")
        position = PAGES.index(name)
        prev_page = "index" if name == NOTEBOOKS[0] else PAGES[position - 1]
        assert state["pager"][0] == f"{prev_page}.html", f"{name}: previous should be {prev_page}"
        if name != NOTEBOOKS[-1]:
            assert state["pager"][-1] == f"{PAGES[position + 1]}.html", f"{name}: next should be {PAGES[position + 1]}"

    pages: dict[str, str] = {}
    problems = []
    for href in sorted(set(state["links"])):
        if not href.startswith(base + "/"):
            assert href.startswith(("https://", "http://", "mailto:")), f"{name}: odd link {href}"
            continue
        path, _, fragment = href[len(base):].partition("#")
        if path not in pages:
            try:
                with LOOPBACK.open(base + path, timeout=10) as response:
                    pages[path] = response.read().decode("utf-8", "replace") if response.status == 200 else ""
            except urllib.error.URLError as exc:
                problems.append(f"{href}: {exc}")
                pages[path] = ""
                continue
        if fragment and path.endswith(".html"):
            ids = _ids(pages[path])
            if fragment not in ids and urllib.parse.unquote(fragment) not in ids:
                problems.append(f"{href}: no element with id {fragment!r}")
    assert not problems, f"{name}: links that do not resolve:\n" + "\n".join(problems)


def _unique_term() -> tuple[str, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").lower()
    sources = {n: "\n".join(c.source for c in _notebook(n).cells).lower() for n in NOTEBOOKS}
    for term in SEARCH_TERMS:
        where = [n for n, text in sources.items() if term.lower() in text]
        if len(where) == 1 and term.lower() not in readme:
            return term, where[0]
    pytest.fail(f"none of {SEARCH_TERMS} occurs in exactly one notebook any more: add a term to SEARCH_TERMS")


@needs_browser
def test_search_finds_a_term_of_one_notebook(driver, server):
    term, notebook = _unique_term()
    driver.get(f"{server['url']}/index.html")
    box = driver.find_element(By.ID, "site-search")
    box.send_keys(term)
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a.site-search-hit"))
    hits = driver.find_elements(By.CSS_SELECTOR, "a.site-search-hit")
    pages = {hit.get_attribute("data-page") for hit in hits}
    assert pages == {f"{notebook}.html"}, f"searching {term!r} should find only {notebook}, found {pages}"
    target = hits[0].get_attribute("href")
    hits[0].click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url == target)
    assert urllib.parse.urlsplit(driver.current_url).path == f"/{notebook}.html"
    fragment = urllib.parse.urlsplit(target).fragment
    if fragment:
        assert driver.execute_script("return !!document.getElementById(arguments[0]) || "
                                     "!!document.getElementById(decodeURIComponent(arguments[0]))", fragment)
    assert term.lower() in driver.find_element(By.CSS_SELECTOR, ".site-content").text.lower()

    # and a query that is nowhere says so
    box = driver.find_element(By.ID, "site-search")
    box.send_keys("zzqx-no-such-word")
    WebDriverWait(driver, 10).until(
        lambda d: "No match" in d.find_element(By.ID, "site-search-results").text)


@needs_browser
def test_search_snippets_show_text_not_tags(driver, server):
    # "create a message" showed "ark>createark>": the term "a" was marked inside the <mark> tags of "create"
    driver.get(f"{server['url']}/index.html")
    driver.find_element(By.ID, "site-search").send_keys("create a message")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a.site-search-hit"))
    snippets = driver.find_elements(By.CSS_SELECTOR, ".site-search-hit .snippet")
    shown = [s.text for s in snippets if "ark>" in s.text or "&amp;" in s.text]
    assert not shown, f"search snippets show markup: {shown[:2]}"
    marks = {m.text.lower() for s in snippets for m in s.find_elements(By.TAG_NAME, "mark")}
    assert {"create", "a"} <= marks <= {"create", "a", "message"}, marks


@needs_browser
def test_search_counts_the_pages_of_every_match(driver, server, site):
    # "model" said "116 sections in 6 pages": the pages were counted among the 30 results listed, not all 11
    index = json.loads((site / "search-index.json").read_text(encoding="utf-8"))
    hits = [s for s in index["sections"] if "model" in s["t"].lower() or "model" in s["x"].lower()]
    pages = len({s["p"] for s in hits})
    assert len(hits) > 30 and pages > 1, "pick a term that matches more sections than the results list"
    driver.get(f"{server['url']}/index.html")
    driver.find_element(By.ID, "site-search").send_keys("model")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a.site-search-hit"))
    summary = driver.find_element(By.CSS_SELECTOR, "#site-search-results > p").text
    assert summary == f"{len(hits)} sections in {pages} pages, the first 30 below", summary
