"""Shared fixtures: the book's configuration, its pages, and a headless browser.

The book under test is the repository itself, or the folder named by the
environment variable ``MTRANK_LITE_BOOK`` (a copy built elsewhere, so tests can
run while the repository's own build is busy).
"""

import os
from pathlib import Path

import pytest
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
BOOK_ROOT = Path(os.environ.get("MTRANK_LITE_BOOK", REPOSITORY_ROOT)).resolve()
SITE = BOOK_ROOT / "_build" / "html"
ARTIFACTS = REPOSITORY_ROOT / "tests" / "artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SOURCE_SUFFIXES = (".ipynb", ".md", ".myst", ".rst")


def read_config(root=BOOK_ROOT):
    """Return the book's ``_config.yml`` as a dict."""
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))


def toc_files(root=BOOK_ROOT):
    """Return the ``file`` entries of ``_toc.yml`` (root first), without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("sections", "chapters"):
                walk(entry.get(key))
            for part in entry.get("parts", []):
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return [str(Path(name).with_suffix("")) if Path(name).suffix in SOURCE_SUFFIXES
            else name for name in files]


def source_of(name, root=BOOK_ROOT):
    """Return the source file of a ``_toc.yml`` entry, or None if it is missing."""
    for suffix in SOURCE_SUFFIXES:
        path = root / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def notebook_files(root=BOOK_ROOT):
    """Return the ``_toc.yml`` entries whose source is a notebook."""
    return [name for name in toc_files(root) if (root / f"{name}.ipynb").exists()]


@pytest.fixture(scope="session")
def site():
    """The built website's folder; skips when the book has not been built."""
    if not (SITE / "index.html").exists():
        pytest.skip(
            f"no built book at {SITE}: run `make book` first (`make test` does)"
        )
    return SITE


@pytest.fixture(scope="session")
def artifacts():
    """A folder, ignored by git, for screenshots and cached environments."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium driven by Playwright, shared by the session."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `make chromium` installs Debian's package"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tests on one torch thread, then restore the setting.

    The models of the tests are tiny: synchronizing two threads costs more
    than it saves, most of all when the machine is busy.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def world():
    """A tiny seeded world for the model and training tests."""
    from mtrank_lite.world import make_world

    return make_world(seed=0, n_users=200, n_items=100, warmup_impressions=50_000)
