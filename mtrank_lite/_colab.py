"""The first code cell of every chapter notebook, kept in one place.

Every notebook listed in ``_toc.yml`` starts with this cell, tagged
``remove-cell`` so the website hides it. In Colab it installs the course's
package from the repository; in Binder, JupyterLab and the book build it does
nothing, since the package is already installed there. Setting the environment
variable ``MTRANK_LITE_SOURCE`` to a pip requirement (a path, a wheel or a
``git+`` URL) makes it install from there instead, which is how the tests run
a notebook in an environment that holds only what Colab ships.

The tests check that each notebook's first cell equals :data:`FIRST_CELL` and
that :data:`REPOSITORY` and :data:`BRANCH` match ``_config.yml``.
"""

REPOSITORY = "https://github.com/mtrank-course/mtrank-lite"
BRANCH = "main"
TAGS = ("remove-cell",)

# Lines stay within 79 characters, as in every notebook cell.

FIRST_CELL = f"""\
import os, subprocess, sys

# Colab ships torch, numpy, pandas and matplotlib, not this course's package.
REPOSITORY, BRANCH = "{REPOSITORY}", "{BRANCH}"
source = os.environ.get("MTRANK_LITE_SOURCE")
if source is None and "google.colab" in sys.modules:
    source = f"git+{{REPOSITORY}}@{{BRANCH}}"
if source is not None:
    command = [sys.executable, "-m", "pip", "install", "-q", source]
    subprocess.run(command, check=True)"""
