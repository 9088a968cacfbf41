"""A chapter in a real JupyterLab: run every cell, move a slider, see the figure change.

JupyterLab serves a copy of the chapter on 127.0.0.1 at a free port, behind a
token; headless Chromium opens it, runs all cells from the menu and moves the
explorer's slider with the keyboard. The server is stopped at the end. A
screenshot goes to ``tests/artifacts/jupyterlab.png``.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPOSITORY_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHAPTER = REPOSITORY_ROOT / "notebooks" / "negative_downsampling.ipynb"
START_TIMEOUT_S = 90
RUN_TIMEOUT_MS = 600_000
STEP_TIMEOUT_MS = 60_000
PROMPTS = ".jp-CodeCell .jp-InputPrompt"

SETTINGS = {
    # No news or update checks, which would reach for the network.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Every cell in the page, so that the test can read every prompt.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
    },
}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url, process, log, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {process.returncode}:\n"
                + log.read_text()[-3000:]
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(
        f"JupyterLab did not answer {url} within {timeout} s:\n"
        + log.read_text()[-3000:]
    )


def kernel_states(base, token):
    """Return the execution state of every kernel the server runs."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}") as response:
        sessions = json.load(response)
    return [session["kernel"]["execution_state"] for session in sessions]


def start_kernel(page, base, token):
    """Wait for the notebook's kernel, accepting the kernel dialog if it asks."""
    # JupyterLab sometimes asks which kernel to start, even for a notebook that
    # names its kernel, when the list of kernels arrives after the notebook.
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if dialog.count() > 0 and dialog.first.is_visible():
            dialog.first.click()
        if kernel_states(base, token) == ["idle"]:
            return
        page.wait_for_timeout(500)
    raise TimeoutError(f"no idle kernel after {START_TIMEOUT_S} s")


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server over a copy of the chapter; yields its base URL."""
    if not CHAPTER.exists():
        pytest.skip(f"{CHAPTER.relative_to(REPOSITORY_ROOT)} does not exist yet")
    root = tmp_path / "work"
    root.mkdir()
    # A copy keeps JupyterLab's autosave from writing outputs into the chapter.
    shutil.copy(CHAPTER, root / CHAPTER.name)
    settings = tmp_path / "settings"
    for name, values in SETTINGS.items():
        plugin, _, file = name.rpartition("/")
        (settings / plugin).mkdir(parents=True, exist_ok=True)
        (settings / plugin / file).write_text(json.dumps(values))
    environment = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp_path / "jupyterlab.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
            # CI runs as root; the server refuses that unless told.
            "--allow-root",
        ],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(
            f"{base}/api/status?token={token}", process, log_path, START_TIMEOUT_S
        )
        yield base, token
    finally:
        # SIGTERM lets the server shut its kernels down; then the group goes.
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def test_a_chapter_runs_and_its_slider_changes_the_figure(lab, browser, artifacts):
    base, token = lab
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route(
        "**/*",
        lambda route: route.continue_()
        if route.request.url.startswith(base)
        else route.abort(),
    )
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(f"{base}/lab/tree/{CHAPTER.name}?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    start_kernel(page, base, token)

    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
    # Done when every prompt has a number, or when a traceback has stopped the
    # run (JupyterLab then drops the queued cells, which lose their [*]).
    page.wait_for_function(
        f"""() => {{
          const prompts = Array.from(document.querySelectorAll({PROMPTS!r}))
            .map((prompt) => prompt.textContent);
          const outputs = Array.from(
            document.querySelectorAll(".jp-OutputArea-output"));
          const failed = outputs.some(
            (output) => output.textContent.includes("Traceback"));
          return prompts.length > 0 && (
            prompts.every((prompt) => /\\[\\d+\\]/.test(prompt))
            || (failed && prompts.every((prompt) => !prompt.includes("*"))));
        }}""",
        timeout=RUN_TIMEOUT_MS,
    )

    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    tracebacks = [text for text in outputs if "Traceback" in text]
    assert tracebacks == []
    prompts = page.locator(PROMPTS).all_inner_texts()
    assert all(re.search(r"\[\d+\]", prompt) for prompt in prompts), prompts
    explorer = page.locator(".jp-OutputArea-output .widget-vbox").filter(
        has=page.locator(".widget-image")
    ).first
    explorer.scroll_into_view_if_needed()
    image = explorer.locator("img.widget-image")
    assert image.count() == 1
    before = image.get_attribute("src")
    shown_before = explorer.locator(".widget-readout").first.inner_text()

    explorer.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([element, old]) => element.getAttribute('src') !== old",
        arg=[image.element_handle(), before],
    )

    shown_after = explorer.locator(".widget-readout").first.inner_text()
    assert shown_after != shown_before
    assert explorer.locator("img").count() == 1, "moving the slider stacked a figure"
    path = artifacts / "jupyterlab.png"
    explorer.screenshot(path=str(path))
    page.screenshot(path=str(artifacts / "jupyterlab-page.png"))
    context.close()
