"""The built website, opened from disk in headless Chromium with the network off.

Every page listed by ``_toc.yml`` is loaded from ``_build/html`` over file://;
any request for something else is aborted and recorded. The tests check that
pages load nothing from other hosts, log no errors, render their equations,
carry working static explorers and link to Binder and Colab correctly.
Screenshots go to ``tests/artifacts/site``.
"""

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import (
    REPOSITORY_ROOT,
    SITE,
    notebook_files,
    read_config,
    toc_files,
)

pytestmark = [pytest.mark.book]

PAGES = toc_files()
NOTEBOOKS = notebook_files()
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
RAW_LATEX = ["$$", "\\(", "\\)", "\\[", "\\begin{", "\\frac"]
PAGE_TIMEOUT_MS = 30_000

# The visible text of the page body, without code, scripts and typeset math.
VISIBLE_TEXT = """() => {
  const main = document.querySelector("main") || document.body;
  const copy = main.cloneNode(true);
  const hidden = "pre, code, script, style, textarea, mjx-container, .highlight";
  copy.querySelectorAll(hidden).forEach((element) => element.remove());
  return copy.textContent;
}"""

# Resolves once MathJax has typeset the page; pages without math have no MathJax.
MATH_TYPESET = """async () => {
  if (!window.MathJax) { return false; }
  for (let wait = 0; !(MathJax.startup && MathJax.startup.promise); wait++) {
    if (wait > 200) { return false; }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await MathJax.startup.promise;
  return true;
}"""

# The state of every static explorer: inputs, labels shown, image, summary, data.
EXPLORERS = """() => Array.from(document.querySelectorAll(".mtrank-explorer")).map(
  (root) => ({
    id: root.id,
    inputs: Array.from(root.querySelectorAll("input[type=range]")).map(
      (input) => ({id: input.id, value: Number(input.value)})),
    shown: Array.from(root.querySelectorAll("output")).map((out) => out.textContent),
    src: root.querySelector("img").getAttribute("src"),
    width: root.querySelector("img").naturalWidth,
    summary: root.querySelector(".mtrank-explorer-summary").innerHTML,
    data: JSON.parse(document.getElementById(root.id + "-data").textContent),
  }))"""


class Loaded:
    """A page opened from disk, with what it tried to fetch and what it logged."""

    def __init__(self, browser, path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.blocked = []
        self.errors = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(path.as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
        self.typeset = self.page.evaluate(MATH_TYPESET)

    def _route(self, route):
        url = route.request.url
        if url.startswith(SITE.as_uri() + "/"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, message):
        if message.type == "error":
            self.errors.append(message.text)

    def close(self):
        self.context.close()


@pytest.fixture
def load(browser, site):
    """Open pages of the built site; closes them after the test."""
    opened = []

    def open_page(name):
        path = site / f"{name}.html"
        assert path.exists(), f"{name} is in _toc.yml but {path} was not built"
        loaded = Loaded(browser, path)
        opened.append(loaded)
        return loaded

    yield open_page
    for loaded in opened:
        loaded.close()


def screenshot(page, artifacts, name, **options):
    folder = artifacts / "site"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.replace('/', '__')}.png"
    page.screenshot(path=str(path), **options)
    return path


# Every page


@pytest.mark.browser
@pytest.mark.parametrize("name", PAGES)
def test_page_loads_nothing_from_elsewhere_and_logs_no_error(load, artifacts, name):
    loaded = load(name)

    screenshot(loaded.page, artifacts, name, full_page=True)
    assert loaded.blocked == []
    assert loaded.errors == []


@pytest.mark.browser
@pytest.mark.parametrize("name", PAGES)
def test_page_shows_typeset_math_and_no_raw_latex(load, name):
    loaded = load(name)
    page = loaded.page

    n_math = page.locator(".math").count()
    n_typeset = page.locator(".math mjx-container").count()
    text = page.evaluate(VISIBLE_TEXT)
    assert [marker for marker in RAW_LATEX if marker in text] == []
    if n_math > 0:
        assert loaded.typeset, "MathJax did not load on a page with math"
    assert n_typeset == n_math


@pytest.mark.browser
@pytest.mark.parametrize("name", PAGES)
def test_widgets_on_the_page_have_a_working_static_form(load, artifacts, name):
    """Case 9: no blank widgets; each explorer's sliders swap figure and numbers."""
    page = load(name).page

    assert page.locator(f'script[type="{WIDGET_VIEW}"]').count() == 0, (
        "a widget without a static form shows blank on the website"
    )
    explorers = page.evaluate(EXPLORERS)
    if not explorers:
        pytest.skip(f"{name} has no explorer")
    for explorer in explorers:
        assert explorer["width"] > 0, f"explorer {explorer['id']} shows no image"
        for axis, control in enumerate(explorer["inputs"]):
            _move_and_check(page, explorer, axis, control)

    # One keyboard move, as a reader without a mouse makes it.
    first = explorers[0]
    before = page.evaluate(EXPLORERS)[0]
    handle = page.locator(f"#{first['inputs'][0]['id']}")
    handle.focus()
    at_end = before["inputs"][0]["value"] == len(first["data"]["labels"][0]) - 1
    handle.press("ArrowLeft" if at_end else "ArrowRight")
    after = page.evaluate(EXPLORERS)[0]
    assert after["inputs"][0]["value"] != before["inputs"][0]["value"]
    assert after["src"] != before["src"]
    root = page.locator(f"#{first['id']}")
    screenshot(root, artifacts, f"{name}--explorer")


def _move_and_check(page, explorer, axis, control):
    """Move one range input by script and check what the explorer shows."""
    data = explorer["data"]
    sizes = [len(labels) for labels in data["labels"]]
    current = page.evaluate(EXPLORERS)
    (state,) = [item for item in current if item["id"] == explorer["id"]]
    positions = [item["value"] for item in state["inputs"]]
    target = sizes[axis] - 1 if positions[axis] != sizes[axis] - 1 else 0
    if sizes[axis] == 1:
        pytest.fail(f"explorer {explorer['id']} has a slider with one value")

    page.evaluate(
        """([id, value]) => {
          const input = document.getElementById(id);
          input.value = String(value);
          input.dispatchEvent(new Event("input", {bubbles: true}));
        }""",
        [control["id"], target],
    )

    (moved,) = [
        item for item in page.evaluate(EXPLORERS) if item["id"] == explorer["id"]
    ]
    positions[axis] = target
    frame = 0
    for position, size in zip(positions, sizes):
        frame = frame * size + position
    assert moved["src"] == "data:image/png;base64," + data["frames"][frame]
    assert moved["src"] != state["src"], "moving the slider left the figure as it was"
    assert moved["summary"] == data["summaries"][frame]
    assert moved["shown"][axis] == data["labels"][axis][target]


@pytest.mark.browser
def test_pages_open_in_light_mode(load):
    page = load(PAGES[0]).page

    mode = page.evaluate("() => document.documentElement.dataset.mode")

    assert mode == "light"


# Notebook pages


@pytest.mark.browser
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_launch_links_open_this_notebook_on_the_configured_branch(load, name):
    config = read_config()
    repository = config["repository"]
    launch = config["launch_buttons"]
    owner_and_name = re.sub(r"^https://github\.com/", "", repository["url"]).strip("/")
    path = f"{name}.ipynb"
    branch = repository.get("branch", "main")
    binder = launch["binderhub_url"].rstrip("/")
    colab = launch["colab_url"].rstrip("/")
    interface = {"jupyterlab": "lab/tree/", "classic": "tree/"}[
        launch.get("notebook_interface", "classic")
    ]
    expected = {
        f"{binder}/v2/gh/{owner_and_name}/{branch}?urlpath={interface}{path}",
        f"{colab}/github/{owner_and_name}/blob/{branch}/{path}",
    }

    page = load(name).page

    links = page.eval_on_selector_all(
        "a[href]", "(links) => links.map((link) => link.getAttribute('href'))"
    )
    launching = {link for link in links if link.startswith((binder, colab))}
    assert launching == expected


# Every built file, read without a browser


class _Loads(HTMLParser):
    """Collects the URLs a page loads (not the links it offers)."""

    LOADING = {
        ("script", "src"),
        ("img", "src"),
        ("iframe", "src"),
        ("source", "src"),
        ("video", "src"),
        ("audio", "src"),
        ("embed", "src"),
        ("object", "data"),
    }

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for element, attribute in self.LOADING:
            if tag == element and attrs.get(attribute):
                self.urls.append(attrs[attribute])
        relations = set((attrs.get("rel") or "").split())
        loading = {"stylesheet", "preload", "icon", "modulepreload"}
        if tag == "link" and relations & loading:
            self.urls.append(attrs.get("href", ""))


def test_no_built_page_names_another_host_to_load_from(site):
    remote = []
    for path in sorted(site.rglob("*.html")):
        parser = _Loads()
        parser.feed(path.read_text(encoding="utf-8"))
        remote += [
            f"{path.relative_to(site)}: {url}"
            for url in parser.urls
            if re.match(r"^(https?:)?//", url)
        ]
        css_imports = re.findall(r"@import\s+url\(['\"]?(https?:)?//", path.read_text())
        remote += [f"{path.relative_to(site)}: a CSS import"] * len(css_imports)

    assert remote == []


def test_book_uses_jupyter_books_extensions_less_thebe_plus_offline_mathjax():
    from jupyter_book.config import get_default_sphinx_config

    defaults = get_default_sphinx_config()["extensions"]
    configured = read_config(REPOSITORY_ROOT)["sphinx"]["config"]["extensions"]

    expected = [name for name in defaults if name != "sphinx_thebe"]
    assert configured == expected + ["sphinx-mathjax-offline"]


# The book's output priority, checked on a small book of known content


PROBE_CELLS = [
    "import matplotlib.pyplot as plt\n"
    "import pandas as pd\n"
    "from mtrank_lite.widgets import Explorer, Grid\n"
    "def draw(alpha):\n"
    "    figure, axes = plt.subplots(figsize=(3, 2))\n"
    "    axes.plot([0, 1], [0, alpha])\n"
    "    return figure, f'slope <b>{alpha}</b>'",
    "Explorer(draw, {'alpha': Grid([0.1, 0.5, 1.0], default=0.5)})",
    "Explorer(draw, {'alpha': [0.2, 0.4]}, description='A second explorer')",
    "pd.DataFrame({'click': [1, 0], 'p_click': [0.9, 0.1]})",
    "figure, axes = plt.subplots(figsize=(3, 2))\naxes.plot([1, 3, 2]);",
]


@pytest.fixture(scope="module")
def probe_book(tmp_path_factory):
    """A two-page book with the repository's settings and known outputs."""
    import nbformat

    root = tmp_path_factory.mktemp("probe-book")
    (root / "_config.yml").write_text((REPOSITORY_ROOT / "_config.yml").read_text())
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n- file: probe\n"
    )
    (root / "intro.md").write_text("# Probe\n\nA formula: $p = \\frac{a}{b}$.\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [nbformat.v4.new_markdown_cell("# Probe chapter")]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in PROBE_CELLS]
    nbformat.write(notebook, root / "probe.ipynb")

    build = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root),
         "--warningiserror"],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return root / "_build" / "html"


@pytest.mark.slow
def test_html_builder_picks_static_explorers_and_keeps_other_outputs(probe_book):
    page = (probe_book / "probe.html").read_text(encoding="utf-8")

    assert page.count('class="mtrank-explorer"') == 2
    assert f'<script type="{WIDGET_VIEW}">' not in page
    assert page.count('<table border="1" class="dataframe">') == 1
    assert len(re.findall(r'<img alt="[^"]*" src="_images/[^"]+\.png"', page)) == 1
    assert "require.min.js" not in page and "html-manager" not in page


@pytest.mark.slow
@pytest.mark.browser
def test_two_explorers_on_one_page_move_independently(browser, probe_book, artifacts):
    context = browser.new_context()
    blocked = []
    context.route(
        "**/*",
        lambda route: route.continue_()
        if route.request.url.startswith("file://")
        else (blocked.append(route.request.url), route.abort()),
    )
    page = context.new_page()
    page.goto((probe_book / "probe.html").as_uri(), wait_until="load")

    first, second = page.evaluate(EXPLORERS)
    page.locator(f"#{first['inputs'][0]['id']}").fill("2")
    after_first, after_second = page.evaluate(EXPLORERS)

    assert after_first["shown"] == ["1"]
    assert after_first["summary"] == "slope <b>1.0</b>"
    assert after_second == second
    assert first["id"] != second["id"]
    assert blocked == []
    screenshot(page, artifacts, "probe", full_page=True)
    context.close()
