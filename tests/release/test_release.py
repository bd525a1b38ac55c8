"""`make release`: what a student receives and what it must never contain.

The zips are built once per session into a temporary folder, exactly as
`make release` builds them.  The slow test installs one of them into a fresh
virtualenv, with nothing of this repository on the path, and runs the
student copy and the reference notebook there.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.engine.carry import carried
from autograder.pipeline import generate, release

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = generate.assignments_in()
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "END HIDDEN", "HIDDEN TESTS",
           "MARK SCHEME", "Model answer", "Rubric")


def _tracked(folder: str) -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((ROOT / folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """(zips by assignment, tracked generated files before, after)."""
    before = {**_tracked("assignments"), **_tracked("solutions")}
    out = tmp_path_factory.mktemp("release")
    zips = {p.stem: p for p in release.release(ASSIGNMENTS, out_dir=out)}
    after = {**_tracked("assignments"), **_tracked("solutions")}
    return zips, before, after


def _members(data: bytes, prefix: str = ""):
    """(name, bytes) of every file in a zip, descending into wheels."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            body = zf.read(name)
            yield prefix + name, body
            if name.endswith((".whl", ".zip")):
                yield from _members(body, prefix + name + "!/")


def _cell_lines(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    return {line.strip() for cell in nb.cells for line in cell.source.splitlines()}


def _secret_lines() -> set[str]:
    """Distinctive lines of autograder/, source/ and solutions/ that no student
    copy contains: none of them may appear anywhere in a zip."""
    public: set[str] = set()
    for path in (ROOT / "assignments").glob("*/*.ipynb"):
        public |= _cell_lines(path)
    for path in (ROOT / "nnkit").rglob("*.py"):
        public |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    # release.py writes START.md and requirements-student.txt: its text is public by design.
    public |= {line.strip() for line in Path(release.__file__).read_text(encoding="utf-8").splitlines()}
    secret: set[str] = set()
    for path in (ROOT / "autograder").rglob("*.py"):
        secret |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    for folder in ("source", "solutions"):
        for path in (ROOT / folder).glob("*/*.ipynb"):
            secret |= _cell_lines(path)
    # Short lines (`return x`, `import numpy as np`) say nothing about where they came from.
    return {line for line in secret - public if len(line) >= 30}


def test_release_rewrites_no_tracked_file(built):
    _, before, after = built
    assert before == after, [k for k in before if before[k] != after.get(k)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_zip_holds_what_a_student_needs(built, assignment):
    zips, _, _ = built
    with zipfile.ZipFile(zips[assignment]) as zf:
        names = sorted(zf.namelist())
        wheel = release.wheel_name()
        assert names == sorted([f"{assignment}/{assignment}.ipynb", f"{assignment}/{wheel}",
                                f"{assignment}/requirements-student.txt", f"{assignment}/START.md"])
        with zipfile.ZipFile(io.BytesIO(zf.read(f"{assignment}/{wheel}"))) as whl:
            packaged = {n for n in whl.namelist() if not n.startswith("nnkit_course-")}
            metadata = whl.read(next(n for n in whl.namelist() if n.endswith("/METADATA"))).decode()
    assert packaged == {f"nnkit/{p.name}" for p in (ROOT / "nnkit").glob("*.py")}
    assert "Name: nnkit-course" in metadata
    for dependency in ("numpy", "matplotlib", "ipywidgets", "tqdm", "scikit-learn"):
        assert re.search(rf"^Requires-Dist: {dependency}\b", metadata, re.M), dependency


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_zip_contains_nothing_secret(built, assignment):
    zips, _, _ = built
    secret = _secret_lines()
    assert len(secret) > 500, "the secret corpus is suspiciously small"
    for name, body in _members(zips[assignment].read_bytes()):
        assert not re.search(r"(^|/)(autograder|source|solutions|tests)/", name), name
        if name.endswith((".whl", ".zip")):
            continue
        text = body.decode("utf-8")
        for marker in MARKERS:
            assert marker not in text, f"{name} contains {marker!r}"
        lines = {line.strip() for line in text.splitlines()}
        if name.endswith(".ipynb"):
            lines |= {line.strip() for cell in json.loads(text)["cells"]
                      for line in "".join(cell["source"]).splitlines()}
        leaked = sorted(lines & secret)
        assert not leaked, f"{name} holds text of autograder/, source/ or solutions/: {leaked[:3]}"


def _install_commands(text: str) -> list[str]:
    # Commands end at a double space, a backtick, a quote or the line's end.
    return [m.group(1).strip() for m in re.finditer(r"pip install((?: [^\s`\"\\]+)+)", text)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_install_instructions_never_fetch_the_pypi_nnkit(built, assignment):
    """`nnkit` on PyPI is an unrelated framework: every install command a
    student can read names the wheel file, the requirements file or the
    course's own distribution name."""
    zips, _, _ = built
    texts = {name: body.decode() for name, body in _members(zips[assignment].read_bytes())
             if not name.endswith(".whl") and "!/" not in name}
    for name in [n for n in texts if n.endswith(".ipynb")]:
        texts[name] = "\n".join("".join(c["source"]) for c in json.loads(texts[name])["cells"])
    texts["README.md"] = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [(name, cmd) for name, text in texts.items() for cmd in _install_commands(text)]
    assert any(name.endswith("START.md") for name, _ in commands)
    assert any(name.endswith(".ipynb") for name, _ in commands)
    for name, cmd in commands:
        targets = [t for t in cmd.split() if not t.startswith("-")]
        assert targets, (name, cmd)
        for target in targets:
            ok = target.endswith(release.wheel_name()) or target == "requirements-student.txt" \
                or target.startswith("nnkit-course")
            assert ok, f"{name}: `pip install {cmd}` could fetch something other than the course's nnkit"
    requirements = texts[f"{assignment}/requirements-student.txt"]
    for line in requirements.splitlines():
        assert not re.match(r"nnkit\b(?!_course)", line.strip()), line


SETUP_CASES = {
    # case: (code run before the setup cell, words the one-line message must hold)
    "missing": ("import sys; sys.modules['nnkit'] = None", ["not installed", "%pip install"]),
    "wrong package": ("import sys, types; sys.modules['nnkit'] = types.ModuleType('nnkit')",
                      ["unrelated", "%pip uninstall -y nnkit", "%pip install"]),
}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("case", SETUP_CASES)
def test_setup_cell_names_the_fix_in_one_line(assignment, case):
    prelude, words = SETUP_CASES[case]
    nb = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.get("id") == "setup").source
    code = "\n".join(line for line in setup.splitlines() if not line.startswith("%"))
    done = subprocess.run([sys.executable, "-c", prelude + "\n" + code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ")
    for word in words + [release.wheel_name()]:
        assert word in last, (word, last)


def test_setup_cell_passes_with_the_course_nnkit():
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
        setup = next(c for c in nb.cells if c.get("id") == "setup").source
        code = "\n".join(line for line in setup.splitlines() if not line.startswith("%"))
        # a later assignment's setup carries classes from an earlier notebook: the solved ones, as the grader's
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "MPLBACKEND": "Agg", "NNKIT_CARRY_DIR": str(ROOT / "solutions")})
        assert done.returncode == 0, done.stderr[-2000:]


def test_student_lab_hides_nbgrader_authoring_tools():
    """`make lab` points JUPYTER_CONFIG_PATH at etc/jupyter-student: nbgrader's
    lab extension and server extensions are off there, on for the instructor."""
    probe = (
        "import json\n"
        "from jupyter_core.paths import jupyter_config_path\n"
        "from jupyter_server.extension.config import ExtensionConfigManager\n"
        "from jupyter_server.serverapp import ServerApp\n"
        "from jupyterlab_server.config import get_page_config\n"
        "ext = ExtensionConfigManager(read_config_path=ServerApp().config_file_paths).get_jpserver_extensions()\n"
        "page = get_page_config([], None)\n"
        "print(json.dumps({'server': {k: v for k, v in ext.items() if 'nbgrader' in k},\n"
        "                  'disabled': page.get('disabledExtensions', {})}))\n")
    student = dict(os.environ, JUPYTER_CONFIG_PATH=str(ROOT / "etc" / "jupyter-student"))
    instructor = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"}
    views = {}
    for who, env in (("student", student), ("instructor", instructor)):
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        views[who] = json.loads(done.stdout.strip().splitlines()[-1])
    assert views["instructor"]["server"].get("nbgrader.server_extensions.formgrader") is True
    assert views["student"]["server"] and not any(views["student"]["server"].values())
    assert "@jupyter/nbgrader" in _disabled(views["student"]["disabled"])
    assert "@jupyter/nbgrader" not in _disabled(views["instructor"]["disabled"])
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lab = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "JUPYTER_CONFIG_PATH=$(CURDIR)/etc/jupyter-student" in lab


def _disabled(value) -> set[str]:
    # page_config.json says {name: true}; the merged page config may be a list of names.
    return {k for k, v in value.items() if v} if isinstance(value, dict) else set(value)


@pytest.mark.slow
def test_fresh_virtualenv_runs_the_release(built, tmp_path):
    """From the zip alone: the untouched student copy runs up to its first
    NotImplementedError, the reference notebook runs to the end (NNKIT_FAST)."""
    zips, _, _ = built
    started = time.perf_counter()
    work = tmp_path / "student"
    for path in zips.values():
        with zipfile.ZipFile(path) as zf:
            zf.extractall(work)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH")}
    # A private Jupyter data dir: no kernelspec from elsewhere on this machine.
    env.update(JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"), NNKIT_FAST="1", OPENBLAS_NUM_THREADS="1")
    first = ASSIGNMENTS[0]
    # --no-compile: what is installed is the student's command's; Python compiles what it imports anyway
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", "-r",
                              "requirements-student.txt"],
                             cwd=work / first, env=env, capture_output=True, text=True, timeout=1800)
    assert install.returncode == 0, install.stderr[-3000:]
    installed = time.perf_counter()
    runner = tmp_path / "run_in_fresh_env.py"
    runner.write_text((Path(__file__).parent / "run_in_fresh_env.py").read_text())

    # The references carry classes from the earlier solved notebooks (the student's beside them are untouched).
    carry_dir = tmp_path / "carry"
    for assignment in ASSIGNMENTS:
        (carry_dir / assignment).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / assignment / f"{assignment}.ipynb", carry_dir / assignment)

    def run(notebook: Path, extra: dict | None = None) -> dict:
        done = subprocess.run([str(python), str(runner), str(notebook)], cwd=notebook.parent,
                              env={**env, **(extra or {})}, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    for assignment in ASSIGNMENTS:
        folder = work / assignment
        student = run(folder / f"{assignment}.ipynb")
        assert Path(student["nnkit"]).is_relative_to(venv), student["nnkit"]
        assert not Path(student["nnkit"]).is_relative_to(ROOT)
        assert student["show_source"]
        # A later assignment carries classes from an earlier one: beside an untouched earlier copy its setup
        # cell stops at once, naming the class to finish; the reference runs with the earlier reference's.
        carries = carried(ROOT / "source" / assignment / f"{assignment}.ipynb")
        first_error = "CarryError" if carries else "NotImplementedError"
        assert student["error"] and student["error"]["ename"] == first_error, student["error"]
        cells = student["code_cells"]
        assert student["ran"] == cells[:cells.index(student["failed_cell"]) + 1]
        # The reference is the instructor's: copied in for this test only, never in the zip.
        reference = folder / f"reference-{assignment}.ipynb"
        reference.write_bytes((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_bytes())
        ref = run(reference, {"NNKIT_CARRY_DIR": str(carry_dir)})
        assert ref["error"] is None, ref["error"]
        assert ref["ran"] == ref["code_cells"]
    print(f"\nfresh virtualenv: install {installed - started:.0f} s, "
          f"notebooks {time.perf_counter() - installed:.0f} s")
