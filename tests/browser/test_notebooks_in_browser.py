"""The notebooks in a real JupyterLab 4 driven by headless Chromium.

What runs: copies of the SOURCE notebooks (the instructor's versions, solutions
in place), not the student copies.  A student copy raises NotImplementedError
in its first exercise cell and "Run All Cells" stops there, so none of the
widgets or the training dashboard after it would ever be exercised.  The
student copy of backprop is still opened: there we run its setup cell and the
explorer cell alone and check the widget renders in what students receive.

Screenshots go to test-artifacts/browser/.  Chromium is Debian's
(tests/browser/install_chromium.sh); Playwright only drives it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
VENV_BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_ALL_TIMEOUT_MS = 90_000
# The notebook in front: the server-side workspace may keep others open behind it.
NB = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_settings(settings: Path) -> None:
    """Every cell in the DOM (no windowing), the notebook's kernel started without
    the "Select Kernel" dialog, and no news pop-up over the notebook."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
            "windowingMode": "none", "autoStartDefaultKernel": True},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false", "checkForUpdates": False},
    }
    for name, content in files.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))

@contextlib.contextmanager
def serve_lab(root: Path, base: Path, env: dict):
    """JupyterLab on 127.0.0.1 over ``root`` (scratch state under ``base``), stopped on exit."""
    _lab_settings(base / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**env, "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    log = open(base / "server.log", "w")
    server = subprocess.Popen(
        [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ServerApp.open_browser=False",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={base / 'settings'}",
         f"--LabApp.workspaces_dir={base / 'workspaces'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (base / "server.log").read_text()) from None
                time.sleep(0.5)
        yield {"url": url, "token": token, "root": root, "log": base / "server.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()



@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"BROWSER TEST SKIPPED: {CHROMIUM} is missing — run "
                    "`bash tests/browser/install_chromium.sh` (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="BROWSER TEST SKIPPED: playwright not installed")
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    (root / "backprop").mkdir(parents=True)
    shutil.copy(ROOT / "source/backprop/backprop.ipynb", root / "backprop/backprop.ipynb")
    student = ROOT / "assignments/backprop/backprop.ipynb"
    if student.exists():
        (root / "student").mkdir()
        shutil.copy(student, root / "student/backprop.ipynb")
    mlp = ROOT / "source/mlp/mlp.ipynb"
    if mlp.exists():
        (root / "mlp").mkdir()
        shutil.copy(mlp, root / "mlp/mlp.ipynb")
    # The formgrader needs a course directory; with backprop in its source/ it
    # lists the assignment.  A private exchange keeps it off /usr/local/share.
    shutil.copytree(ROOT / "source/backprop", root / "source/backprop")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'browser-test'\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.Exchange.root = {str(base / 'exchange')!r}\n")
    (base / "exchange").mkdir()
    env = {**os.environ, "NNKIT_FAST": "1", "NNKIT_WIDGETS": "live", "OPENBLAS_NUM_THREADS": "1"}
    with serve_lab(root, base, env) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        # launch() gives Chromium a fresh temporary profile (its own --user-data-dir);
        # passing that flag ourselves is refused by Playwright.
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def _open(page, lab, path: str):
    # ?reset: start from an empty workspace, not the layout of the previous test.
    page.goto(f"{lab['url']}/lab/tree/{path}?reset&token={lab['token']}")
    page.locator(f"{NB} .jp-Cell").first.wait_for()
    # The kernel must be connected before "Run All" or the request is queued behind startup.
    deadline = time.time() + 60
    while not _kernel_idle(lab, path):
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count():          # "Select Kernel" despite the setting: accept the default
            dialog.first.click()
        if time.time() > deadline:
            _shot(page, "failed-open-" + path.replace("/", "-") + ".png")
            raise TimeoutError(f"no idle kernel for {path} after 60 s")
        page.wait_for_timeout(500)


def _kernel_idle(lab, path: str) -> bool:
    """Asked from the server: the notebook's session has a kernel and it is idle."""
    with urllib.request.urlopen(f"{lab['url']}/api/sessions?token={lab['token']}", timeout=5) as r:
        sessions = json.load(r)
    return any(s.get("path") == path and (s.get("kernel") or {}).get("execution_state") == "idle"
               for s in sessions)


def _menu(page, top: str, item: str):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def _wait_executed(page, n_code_cells: int, timeout_ms: int = RUN_ALL_TIMEOUT_MS):
    """All code cells show an execution number and none is still [*]."""
    page.wait_for_function(
        """([n, sel]) => {
            const prompts = [...document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputArea-prompt')]
                .map(e => e.textContent.trim());
            return !prompts.some(t => t.includes('*')) &&
                   prompts.filter(t => /\\[\\d+\\]/.test(t)).length >= n;
        }""", arg=[n_code_cells, NB], timeout=timeout_ms)


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _errors(page) -> list[str]:
    return page.locator(f"{NB} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                        ).all_inner_texts()


def _shot(page, name: str, locator=None):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if locator is not None:
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(ARTIFACTS / name))
    else:
        page.screenshot(path=str(ARTIFACTS / name), full_page=False)


def test_backprop_runs_and_std_graph_slider_updates_gradient(page, lab):
    _open(page, lab, "backprop/backprop.ipynb")
    _menu(page, "Run", "Run All Cells")
    _wait_executed(page, len(_code_cells(lab["root"] / "backprop/backprop.ipynb")))
    tracebacks = [t for t in _errors(page) if "Traceback" in t or "Error" in t]
    assert not tracebacks, tracebacks

    graph = page.locator(f"{NB} .jp-OutputArea-output").filter(has=page.locator(".nnkit-std-graph"))
    table = graph.locator(".nnkit-std-graph")
    table.wait_for()
    assert "∂s/∂x1 = 0.500" in table.inner_text()     # x1 > x2 at the explorer's start
    assert graph.locator("img").count() >= 1
    _shot(page, "backprop-std-graph-before.png", graph)

    # Move x2 above x1 by typing into the slider's readout, as a student can.
    x2 = graph.locator(".widget-slider", has=page.locator("label", has_text=re.compile("^x2$")))
    readout = x2.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("4")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.nnkit-std-graph')].some(e => /∂s\\/∂x1 = -0\\.500/.test(e.textContent))",
        timeout=20_000)
    text = table.inner_text()
    assert "∂s/∂x2 = 0.500" in text and "4.000" in text
    _shot(page, "backprop-std-graph-after-slider.png", graph)

    # The other explorers drew their pictures as live widgets too.
    for css in (".nnkit-activation", ".nnkit-softmax", ".nnkit-paths"):
        out = page.locator(f"{NB} .jp-OutputArea-output").filter(has=page.locator(css))
        assert out.locator("img").count() >= 1, css
    paths = page.locator(f"{NB} .jp-OutputArea-output").filter(has=page.locator(".nnkit-paths"))
    _shot(page, "backprop-optimizer-paths.png", paths)


def test_student_copy_explorer_renders(page, lab):
    path = lab["root"] / "student/backprop.ipynb"
    if not path.exists():
        pytest.skip("assignments/backprop/backprop.ipynb not generated (run `make generate`)")
    _open(page, lab, "student/backprop.ipynb")
    _menu(page, "Run", "Run All Cells")
    # Run All stops at the first exercise (NotImplementedError): that is the student's job.
    page.locator(f"{NB} .jp-OutputArea-output", has_text="NotImplementedError").first.wait_for(timeout=60_000)
    cells = _code_cells(path)
    index = next(i for i, c in enumerate(cells) if c.get("id") == "std-explorer")
    cell = page.locator(f"{NB} .jp-CodeCell").nth(index)
    cell.locator(".jp-InputArea-editor").click()     # the explorer cell, in edit mode
    page.keyboard.press("Shift+Enter")
    graph = cell.locator(".nnkit-std-graph")
    try:
        graph.wait_for(timeout=30_000)
    except Exception:
        _shot(page, "failed-student-explorer.png")
        raise
    assert "∂s/∂x1 = 0.500" in graph.inner_text()
    _shot(page, "student-backprop-std-graph.png", cell)


def test_mlp_runs_and_dashboard_draws(page, lab):
    path = lab["root"] / "mlp/mlp.ipynb"
    if not path.exists():
        pytest.skip("source/mlp/mlp.ipynb does not exist yet: nothing to run")
    _open(page, lab, "mlp/mlp.ipynb")
    _menu(page, "Run", "Run All Cells")
    _wait_executed(page, len(_code_cells(path)))
    cells = _code_cells(path)
    dash = [i for i, c in enumerate(cells) if "dashboard" in "".join(c["source"]).lower()
            or "Dashboard" in "".join(c["source"])]
    assert dash, "no cell of mlp.ipynb uses the training dashboard"
    drawn = page.locator(f"{NB} .jp-CodeCell").nth(dash[0]).locator(".jp-OutputArea")
    assert drawn.locator("img, canvas, svg").count() >= 1, "the dashboard drew no curves"
    _shot(page, "mlp-dashboard.png", drawn)


def test_formgrader_page_loads(page, lab):
    page.goto(f"{lab['url']}/formgrader?token={lab['token']}")
    page.get_by_text("Manage Assignments").first.wait_for()
    page.locator("td", has_text=re.compile("^backprop$")).first.wait_for()
    _shot(page, "formgrader.png")
