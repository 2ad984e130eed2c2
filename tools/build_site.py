"""Build the course website: one static HTML page per notebook, from the outputs as stored.

    python tools/build_site.py [--out _site] [--repo OWNER/REPO]      (or: make site)

Nothing is executed: nbval already proves the stored outputs, and the site shows exactly those. Each
notebook goes through nbconvert's JupyterLab template (tools/site/templates/course, which keeps the
cells and drops the lab template's <head> with its require.js / MathJax / mermaid CDN scripts), and the
cells are put into tools/site/page.html.j2: sidebar with search and the table of contents, a banner on
the authored cassettes, how to run the notebook, prev/next. Every asset is shipped in the output folder
(styles copied from nbconvert's lab template, plots extracted as PNG files, a JSON search index loaded
as a script so that search works from a plain file server or even file://): a page loads nothing from
the internet.

The repository (for the clone command, the Codespaces link and links to files that are not pages) is
--repo, else $SITE_REPO, else the GitHub remote `origin`, else unknown: then those links point to the
set-up section of the README page that the site ships.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import jinja2
import nbformat
import yaml
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
SITE_SRC = Path(__file__).resolve().parent / "site"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
SETUP_HEADING = "Two commands"  # the README section that says how to set up and run the course
RECORDINGS_HEADING = "Where the recordings come from"  # the README section the banner links to
GITHUB_REMOTE = re.compile(r"^(?:https://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)"
                           r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass
class Page:
    name: str  # file stem: 05_tool_use, index, readme
    url: str  # 05_tool_use.html
    title: str  # the notebook's H1
    kind: str  # notebook | index | readme
    number: str = ""  # 05
    short: str = ""  # the H1 without its number
    summary: str = ""  # one line for the index
    body: str = ""
    headings: list[dict] = field(default_factory=list)
    sections: list[dict] = field(default_factory=list)  # for the search index
    provenance: str = ""  # authored | recorded | mixed
    counts: dict = field(default_factory=dict)


# --- which repository ----------------------------------------------------------------------------------

def repo_from_remote(root: Path = ROOT) -> str | None:
    try:
        url = subprocess.run(["git", "remote", "get-url", "origin"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = GITHUB_REMOTE.match(url)
    return match.group("repo") if match else None


def _repo_name(value: str) -> str | None:
    value = value.strip().removeprefix("https://github.com/").removesuffix(".git").strip("/")
    if not value:
        return None
    if not REPO_NAME.match(value):
        raise SystemExit(f"build_site: {value!r} is not OWNER/REPO")
    return value


def resolve_repo(cli: str | None, env: dict | None = None, root: Path = ROOT) -> str | None:
    """OWNER/REPO on GitHub, or None when unknown (an explicit empty --repo means unknown)."""
    env = os.environ if env is None else env
    if cli is not None:
        return _repo_name(cli)
    if env.get("SITE_REPO", "").strip():
        return _repo_name(env["SITE_REPO"])
    return repo_from_remote(root)


# --- rendering -----------------------------------------------------------------------------------------

def _exporter() -> HTMLExporter:
    config = Config()
    config.ExtractOutputPreprocessor.enabled = True  # plots become PNG files beside the page
    config.CoalesceStreamsPreprocessor.enabled = True  # as JupyterLab: a progress bar's \r shows its last state
    config.HTMLExporter.exclude_anchor_links = False
    return HTMLExporter(config=config, template_name="course",
                        extra_template_basedirs=[str(SITE_SRC / "templates")])


def _mark_exercises(nb) -> None:
    """Tag the exercises' cells (in memory only) so that the page can label them: after the `## Exercises`
    heading, a cell that only calls check()/hint() is a check, a cell with code and a check() is both, any
    other code cell (the import of check and hint aside) is a stub to fill in."""
    in_exercises = False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.search(r"^#{1,2}\s+Exercises\b", cell.source, re.M):
            in_exercises = True
        if not in_exercises or cell.cell_type != "code" or not cell.source.strip():
            continue
        lines = [line for line in cell.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        checks = [line for line in lines if re.match(r"(check|hint)\(", line)]
        if all(re.match(r"from lessonlib(\.exercises)? import", line) for line in lines):
            continue
        tag = "site-exercise-check" if len(checks) == len(lines) else (
            "site-exercise-stub-check" if checks else "site-exercise-stub")
        cell.metadata.setdefault("tags", []).append(tag)


def _cassette_kind(name: str) -> str:
    path = ROOT / "notebooks" / "cassettes" / f"{name}.yaml"
    if not path.exists():
        return ""
    head = []
    with path.open(encoding="utf-8") as f:  # only the top-level provenance mapping, not the whole cassette
        for line in f:
            if head and line[:1] not in (" ", "\t", "\n"):
                break
            if head or line.startswith("provenance:"):
                head.append(line)
    data = yaml.safe_load("".join(head)) or {}
    return str((data.get("provenance") or {}).get("kind", ""))


def _heading_text(tag) -> str:
    for anchor in tag.select("a.anchor-link"):
        anchor.extract()
    return " ".join(tag.get_text(" ").split())


def _analyse(body: str) -> tuple[list[dict], list[dict]]:
    """Headings (for the page's table of contents) and sections of text (for search) of rendered cells."""
    soup = BeautifulSoup(body, "html.parser")
    headings, sections = [], []
    current = {"a": "", "t": "", "x": []}
    for cell in soup.select("div.jp-Cell"):
        if "jp-MarkdownCell" in cell["class"]:
            for node in cell.select_one(".jp-RenderedMarkdown").children:
                if getattr(node, "name", None) in ("h1", "h2", "h3", "h4", "h5", "h6") and node.get("id"):
                    text = _heading_text(node)
                    headings.append({"level": int(node.name[1]), "id": node["id"], "text": text})
                    if current["x"] or current["t"]:
                        sections.append(current)
                    current = {"a": node["id"], "t": text, "x": []}
                else:
                    text = node.get_text("") if hasattr(node, "get_text") else str(node)
                    current["x"].append(" ".join(text.split()))
        else:
            source = cell.select_one(".jp-InputArea-editor")
            if source is not None:
                current["x"].append(" ".join(source.get_text("").split()))
    sections.append(current)
    for section in sections:
        section["x"] = " ".join(t for t in section["x"] if t)
    return headings, sections


class Links:
    """Rewrites the hrefs and srcs of rendered markdown: notebooks to their pages, other repository files to
    GitHub (or to the README page when the repository is unknown), local images copied into the site."""

    def __init__(self, names: set[str], repo: str | None, branch: str, out: Path):
        self.names, self.repo, self.branch, self.out = names, repo, branch, out

    def href(self, value: str, base: Path) -> str:
        if value.startswith(("#", "http:", "https:", "mailto:", "data:")):
            return value
        path, _, fragment = value.partition("#")
        target = (base / unquote(path)).resolve()  # a file name as markdown writes it: my%20notes.md
        if target.suffix == ".ipynb" and target.parent == ROOT / "notebooks" and target.stem in self.names:
            return f"{target.stem}.html" + (f"#{fragment}" if fragment else "")
        if target == ROOT / "README.md":
            return "readme.html" + (f"#{fragment}" if fragment else "")
        try:
            relative = target.relative_to(ROOT).as_posix()
        except ValueError:
            return value
        if self.repo:
            return f"https://github.com/{self.repo}/blob/{self.branch}/{quote(relative)}"
        return "readme.html"

    def src(self, value: str, base: Path) -> str:
        if value.startswith(("http:", "https:", "data:")) or not value:
            return value
        target = (base / unquote(value.split("#")[0])).resolve()
        try:
            relative = target.relative_to(ROOT).as_posix()
        except ValueError:
            return value
        if not target.is_file():
            return value
        copy = self.out / "files" / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, copy)
        return f"files/{quote(relative)}"

    def rewrite(self, body: str, base: Path) -> str:
        body = re.sub(r'(<a\s[^>]*?href=")([^"]*)(")',
                      lambda m: m.group(1) + html.escape(self.href(html.unescape(m.group(2)), base)) + m.group(3),
                      body)
        return re.sub(r'(<img\s[^>]*?src=")(?!data:)([^"]*)(")',
                      lambda m: m.group(1) + html.escape(self.src(html.unescape(m.group(2)), base)) + m.group(3),
                      body)


def render_notebook(path: Path, exporter: HTMLExporter, links: Links, out: Path, readme_rows: dict) -> Page:
    nb = nbformat.read(path, as_version=4)
    name = path.stem
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = {"code": len(code), "outputs": sum(len(c.get("outputs", [])) for c in code),
              "images": sum(1 for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})),
              "errors": sum(1 for c in code for o in c.get("outputs", []) if o.get("output_type") == "error")}
    _mark_exercises(nb)
    body, resources = exporter.from_notebook_node(
        nb, resources={"unique_key": name, "output_files_dir": f"img/{name}",
                       "metadata": {"name": name, "path": str(path.parent)}})
    for filename, data in resources.get("outputs", {}).items():
        target = out / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    body = links.rewrite(body, path.parent)
    headings, sections = _analyse(body)
    title = headings[0]["text"] if headings and headings[0]["level"] == 1 else name
    number, _, short = title.partition(" · ")
    if not short:
        number, short = name[:2], title
    first = BeautifulSoup(body, "html.parser").select_one(".jp-RenderedMarkdown p")
    summary = readme_rows.get(name) or (" ".join(first.get_text(" ").split()) if first else "")
    page = Page(name=name, url=f"{name}.html", title=title, kind="notebook", number=number.strip(),
                short=short.strip(), summary=summary, body=body, headings=headings, sections=sections,
                provenance=_cassette_kind(name), counts=counts)
    page.css = "\n".join(resources.get("inlining", {}).get("css", []))
    return page


def render_markdown(text: str) -> str:
    return markdown2html_mistune(text)


def readme_summaries(readme: str) -> dict[str, str]:
    """The README's lesson table: `| 05_tool_use | you learn to ... |` -> {'05_tool_use': '<html>'}."""
    rows = {}
    for line in readme.splitlines():
        match = re.match(r"^\|\s*(\d\d_[a-z0-9_]+)\s*\|(.+)\|\s*$", line)
        if match:
            cell = render_markdown(match.group(2).strip()).strip()
            rows[match.group(1)] = re.sub(r"^<p>(.*)</p>$", r"\1", cell, flags=re.S)
    return rows


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def render_readme(links: Links, out: Path) -> Page:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = render_markdown(text)
    body = links.rewrite(body, ROOT)
    wrapped = ('<div class="jp-Cell jp-MarkdownCell jp-Notebook-cell"><div class="jp-RenderedHTMLCommon '
               f'jp-RenderedMarkdown jp-MarkdownOutput" data-mime-type="text/markdown">{body}</div></div>')
    headings, sections = _analyse(wrapped)
    # The README links its own sections as GitHub names them (#where-the-recordings-come-from--read-this);
    # nbconvert names them differently, so map each GitHub anchor to the id of the same heading.
    slugs = {github_slug(h["text"]): h["id"] for h in headings}
    wrapped = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{slugs.get(html.unescape(m.group(1)), m.group(1))}"',
                     wrapped)
    title = headings[0]["text"] if headings else "README"
    return Page(name="readme", url="readme.html", title=title, kind="readme", short="README", body=wrapped,
                headings=headings, sections=sections)


def _anchor(page: Page, starts: str) -> str:
    for heading in page.headings:
        if heading["text"].startswith(starts):
            return heading["id"]
    return ""


def _lab_css(exporter: HTMLExporter) -> dict[str, str]:
    """nbconvert's own copies of JupyterLab's styles (the lab template inlines them into every page)."""
    for folder in exporter.template_paths:
        static = Path(folder) / "static"
        if (static / "index.css").is_file() and (static / "theme-light.css").is_file():
            return {"jupyterlab.css": (static / "index.css").read_text(encoding="utf-8"),
                    "jupyterlab-theme-light.css": (static / "theme-light.css").read_text(encoding="utf-8")}
    raise SystemExit("build_site: nbconvert's lab template styles (static/index.css) were not found")


def _tracked(folder: Path) -> bool:
    """Whether git tracks files in folder (`--out notebooks` would delete the course, not an old site)."""
    try:
        listed = subprocess.run(["git", "ls-files", "--", str(folder)], cwd=ROOT, capture_output=True, text=True,
                                timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(listed.strip())


def build(out: Path, repo: str | None, branch: str = "main", quiet: bool = False, only: list[str] | None = None) -> dict:
    started = time.monotonic()
    out = out.resolve()
    paths = sorted((ROOT / "notebooks").glob(NOTEBOOK_GLOB))
    if not paths:
        raise SystemExit("build_site: no notebooks/NN_*.ipynb found")
    only = [name.removesuffix(".ipynb") for name in only] if only else None
    unknown = [name for name in only or [] if name not in {p.stem for p in paths}]
    if unknown:
        raise SystemExit(f"build_site: --only {' '.join(unknown)}: no such notebook in notebooks/ "
                         f"(names like {paths[0].stem})")
    if out.exists():
        if out == ROOT or ROOT.is_relative_to(out):
            raise SystemExit(f"build_site: refusing to replace {out}")
        if _tracked(out):
            raise SystemExit(f"build_site: refusing to replace {out}: git tracks files in it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    exporter = _exporter()
    links = Links({p.stem for p in paths}, repo, branch, out)
    readme_text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = readme_summaries(readme_text)
    lessons = [render_notebook(p, exporter, links, out, rows) for p in paths if not only or p.stem in only]
    readme = render_readme(links, out)
    course_title = readme.title

    intro = ""
    soup = BeautifulSoup(readme.body, "html.parser")
    for p in soup.select(".jp-RenderedMarkdown > p")[:2]:
        intro += str(p)
    index = Page(name="index", url="index.html", title=course_title, kind="index", short="Home")

    setup_id, recordings_id = _anchor(readme, SETUP_HEADING), _anchor(readme, RECORDINGS_HEADING)
    for heading, found in ((SETUP_HEADING, setup_id), (RECORDINGS_HEADING, recordings_id)):
        if not found:
            print(f"build_site: warning: README has no heading {heading!r}; linking to the top of the README page",
                  file=sys.stderr)
    setup = f"readme.html#{setup_id}" if setup_id else "readme.html"
    repo_info = {
        "repo": repo,
        "name": repo.split("/")[1] if repo else "",
        "clone": f"https://github.com/{repo}.git" if repo else "",
        "url": f"https://github.com/{repo}" if repo else "",
        "codespaces": f"https://codespaces.new/{repo}" if repo else setup,
        "setup": setup,
        "recordings": f"readme.html#{recordings_id}" if recordings_id else "readme.html",
        "branch": branch,
    }

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(SITE_SRC)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    template = env.get_template("page.html.j2")
    order = [index, *lessons]

    def write(page: Page, prev: Page | None, nxt: Page | None) -> None:
        html_text = template.render(page=page, prev=prev, next=nxt, lessons=lessons, readme=readme,
                                    repo=repo_info, course_title=course_title, intro=intro,
                                    body=jinja2.utils.markupsafe.Markup(page.body))
        (out / page.url).write_text(html_text, encoding="utf-8")

    for i, page in enumerate(order):
        write(page, order[i - 1] if i else None, order[i + 1] if i + 1 < len(order) else None)
    write(readme, None, lessons[0])

    assets = out / "assets"
    shutil.copytree(SITE_SRC / "assets", assets)
    for filename, css in _lab_css(exporter).items():
        (assets / filename).write_text(css, encoding="utf-8")
    (assets / "pygments.css").write_text(lessons[0].css, encoding="utf-8")
    searchable = [*lessons, readme]
    index_data = {
        "pages": [{"u": p.url, "t": p.title} for p in searchable],
        "sections": [{"p": i, "a": s["a"], "t": s["t"], "x": s["x"]}
                     for i, p in enumerate(searchable) for s in p.sections],
    }
    (assets / "search-index.js").write_text(
        "window.COURSE_SEARCH_INDEX = " + json.dumps(index_data, ensure_ascii=False, separators=(",", ":")) + ";\n",
        encoding="utf-8")
    (out / "search-index.json").write_text(json.dumps(index_data, ensure_ascii=False), encoding="utf-8")
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve the files as they are
    manifest = {"repo": repo, "pages": {p.name: {"url": p.url, "title": p.title, **p.counts} for p in lessons}}
    (out / "site-manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    took = time.monotonic() - started
    if not quiet:
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        where = f"for github.com/{repo}" if repo else "(repository unknown: set SITE_REPO=OWNER/REPO for its links)"
        print(f"site: {len(lessons)} notebooks + index + README -> {out} ({size / 1e6:.1f} MB, {took:.1f} s) {where}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "_site"), help="output folder (replaced); default _site/")
    parser.add_argument("--repo", default=None, help="OWNER/REPO on GitHub ('' for unknown); default "
                        "$SITE_REPO, else the GitHub remote origin")
    parser.add_argument("--branch", default=os.environ.get("SITE_BRANCH", "main"),
                        help="branch for links to repository files (default main)")
    parser.add_argument("--only", nargs="+", metavar="NN_name", help="build only these notebooks' pages (a quick "
                        "look, or a test of one page; links to the others stay as in the full site)")
    args = parser.parse_args(argv)
    build(Path(args.out), resolve_repo(args.repo), args.branch, only=args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
