"""Tests of the book as stored and as built."""

import json
import pathlib

import pytest
from conftest import source_of, toc_files

ROOT = pathlib.Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def stored_notebooks():
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", stored_notebooks(), ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]

    for number, cell in enumerate(cells):
        assert not cell.get("outputs"), f"{path.name} cell {number} has outputs"
        assert cell.get("execution_count") is None, (
            f"{path.name} cell {number} has an execution count"
        )


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(toc_files())

    for path in stored_notebooks():
        assert f"notebooks/{path.stem}" in listed


@pytest.mark.parametrize("entry", toc_files())
def test_every_toc_entry_has_a_source(entry):
    assert source_of(entry) is not None, f"{entry} has no .ipynb or .md file"


@pytest.mark.book
@pytest.mark.parametrize("entry", toc_files())
def test_every_toc_entry_is_built(entry):
    if not (HTML / "index.html").exists():
        pytest.skip("the book is not built: run `make book`")
    page = HTML / f"{entry}.html"

    assert page.exists(), f"{page} is missing"
    text = page.read_text()
    if source_of(entry).suffix == ".ipynb":
        # An executed chapter shows outputs and no error output.
        assert "cell_output" in text
        assert "output error" not in text
        assert "Traceback" not in text
