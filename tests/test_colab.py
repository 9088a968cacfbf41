"""Launching a chapter elsewhere: the notebooks' first cell, Colab and Binder.

Every chapter notebook starts with the cell in ``mtrank_lite._colab``; it
installs the package in Colab and does nothing where the package is already
installed. The slow test builds an environment holding only what Colab ships,
without the package, and runs a chapter in it from top to bottom.
"""

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from conftest import ARTIFACTS, BOOK_ROOT, REPOSITORY_ROOT, notebook_files, read_config
from mtrank_lite import _colab

CHAPTER = Path("notebooks") / "negative_downsampling.ipynb"

# What a Colab runtime ships of the course's dependencies (Colab's versions, but
# torch is the CPU build this machine has), plus nbclient to run the notebook.
# The package is left out: the chapter's first cell has to install it.
COLAB_REQUIREMENTS = (
    "torch==2.13.0",
    "numpy==2.0.2",
    "pandas==2.2.2",
    "matplotlib==3.10.0",
    "ipywidgets==7.7.1",
    "ipykernel==6.17.1",
    "tqdm==4.67.1",
    "scikit-learn==1.6.1",
    "nbclient==0.10.2",
)
KERNEL = "colab-like"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
RUN_TIMEOUT_S = 1800


def _assigned_strings(source, names):
    """Return the string constants a cell assigns to a tuple of names."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
            targets = tuple(target.id for target in node.targets[0].elts)
            if targets == names:
                return tuple(value.value for value in node.value.elts)
    raise AssertionError(f"the cell assigns no {names}")


# The first cell


def test_first_cell_names_the_configured_repository_and_branch():
    repository = read_config(REPOSITORY_ROOT)["repository"]

    in_cell = _assigned_strings(_colab.FIRST_CELL, ("REPOSITORY", "BRANCH"))

    assert in_cell == (repository["url"], repository["branch"])
    assert (_colab.REPOSITORY, _colab.BRANCH) == in_cell


def test_first_cell_fits_a_notebook_line():
    widths = [len(line) for line in _colab.FIRST_CELL.splitlines()]

    assert max(widths) <= 79


@pytest.mark.parametrize("name", notebook_files(REPOSITORY_ROOT))
def test_every_chapter_starts_with_the_first_cell(name):
    notebook = nbformat.read(REPOSITORY_ROOT / f"{name}.ipynb", as_version=4)

    first = notebook.cells[0]
    assert first.cell_type == "code"
    assert first.source == _colab.FIRST_CELL
    assert set(_colab.TAGS) <= set(first.metadata.get("tags", []))


@pytest.mark.parametrize(
    ("in_colab", "source", "expected"),
    [
        (False, None, None),
        (True, None, f"git+{_colab.REPOSITORY}@{_colab.BRANCH}"),
        (False, "/checkout", "/checkout"),
        (True, "/checkout", "/checkout"),
    ],
)
def test_first_cell_installs_only_in_colab_or_when_asked(
    monkeypatch, in_colab, source, expected
):
    commands = []
    monkeypatch.setattr(
        subprocess, "run", lambda command, check: commands.append((command, check))
    )
    monkeypatch.delenv("MTRANK_LITE_SOURCE", raising=False)
    if source is not None:
        monkeypatch.setenv("MTRANK_LITE_SOURCE", source)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("colab"))

    exec(_colab.FIRST_CELL, {})

    if expected is None:
        assert commands == []
    else:
        pip = [sys.executable, "-m", "pip", "install", "-q", expected]
        assert commands == [(pip, True)]


# Binder


def _pins(path):
    """Return {name: version} for the name==version lines of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_binder_installs_cpu_torch_the_package_and_the_pinned_versions():
    binder = REPOSITORY_ROOT / "binder" / "requirements.txt"
    lines = [line.strip() for line in binder.read_text().splitlines()]
    pinned = _pins(REPOSITORY_ROOT / "requirements.txt")

    binder_pins = _pins(binder)
    assert binder_pins.pop("torch") == pinned["torch"] + "+cpu"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert {name: pinned.get(name) for name in binder_pins} == binder_pins
    assert "." in lines or "-e ." in lines


def test_binder_runs_the_python_the_tests_run():
    runtime = (REPOSITORY_ROOT / "binder" / "runtime.txt").read_text().strip()

    assert runtime == f"python-{sys.version_info.major}.{sys.version_info.minor}"


# A chapter in an environment like Colab's


def _run(command, **options):
    result = subprocess.run(command, capture_output=True, text=True, **options)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-4000:]}"
        f"\n{result.stderr[-4000:]}"
    )
    return result.stdout


def _installed(python):
    """Return {normalized name: version} of every distribution in an environment."""
    listing = json.loads(_run([python, "-m", "pip", "list", "--format", "json"]))
    return {
        re.sub(r"[-_.]+", "-", item["name"]).lower(): item["version"]
        for item in listing
    }


@pytest.fixture(scope="module")
def colab_python():
    """A cached virtual environment with Colab's packages and not this one."""
    key = hashlib.sha256("\n".join(COLAB_REQUIREMENTS).encode()).hexdigest()[:12]
    environment = ARTIFACTS / f"colab-venv-{key}"
    python = environment / "bin" / "python"
    ready = environment / ".ready"
    if not ready.exists():
        shutil.rmtree(environment, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "venv", str(environment)])
        _run(
            [python, "-m", "pip", "install", "--quiet", *COLAB_REQUIREMENTS],
            timeout=1800,
        )
        _run(
            [python, "-m", "ipykernel", "install", "--prefix", str(environment),
             "--name", KERNEL]
        )
        ready.touch()
    # The previous run's first cell installed the package; Colab starts without.
    _run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "mtrank_lite"])
    return python


@pytest.mark.slow
def test_a_chapter_runs_where_only_colabs_packages_are(colab_python, tmp_path):
    if not (BOOK_ROOT / CHAPTER).exists():
        pytest.skip(f"{CHAPTER} does not exist yet")
    checkout = tmp_path / "checkout"
    # A copy, so that pip's build leaves nothing in the repository.
    shutil.copytree(
        REPOSITORY_ROOT,
        checkout,
        ignore=shutil.ignore_patterns(
            ".venv*", "_build", "artifacts", ".git", "*.egg-info", "build",
            "__pycache__", ".pytest_cache", ".hypothesis",
        ),
    )
    notebook = nbformat.read(BOOK_ROOT / CHAPTER, as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import sys, mtrank_lite\nprint(sys.prefix)\nprint(mtrank_lite.__file__)"
        )
    )
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    nbformat.write(notebook, run_folder / CHAPTER.name)
    runner = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "path = sys.argv[1]\n"
        "notebook = nbformat.read(path, as_version=4)\n"
        f"NotebookClient(notebook, timeout=900, kernel_name={KERNEL!r},\n"
        "    resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
        "nbformat.write(notebook, path)\n"
    )
    environment = dict(os.environ, MTRANK_LITE_SOURCE=str(checkout))
    environment.pop("PYTHONPATH", None)
    before = _installed(colab_python)
    assert "mtrank-lite" not in before

    _run(
        [colab_python, "-c", runner, str(run_folder / CHAPTER.name), str(run_folder)],
        env=environment,
        timeout=RUN_TIMEOUT_S,
    )

    after = _installed(colab_python)
    changed = {
        name: (version, after.get(name))
        for name, version in before.items()
        if after.get(name) != version
    }
    assert changed == {}, "installing the package changed what Colab ships"
    assert set(after) - set(before) == {"mtrank-lite"}
    executed = nbformat.read(run_folder / CHAPTER.name, as_version=4)
    bundles = [
        output.data
        for cell in executed.cells
        for output in cell.get("outputs", [])
        if "mtrank-explorer" in output.get("data", {}).get("text/html", "")
    ]
    assert bundles, "the chapter showed no explorer"
    # Colab's ipywidgets 7 gives widgets no bundle of their own; the explorer's
    # must still carry the live widget's view beside the static form.
    assert all(WIDGET_VIEW in bundle for bundle in bundles)
    prefix, module = executed.cells[-1].outputs[0].text.split()
    assert Path(prefix) == colab_python.parent.parent
    assert module.startswith(prefix), "the chapter imported the package from elsewhere"
