"""The backprop master notebook: nbgrader metadata, a clean student copy, and
test cells that pass on the solution and fail on known mistakes."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source/backprop/backprop.ipynb"
VENV_BIN = Path(sys.executable).parent


def _nb():
    return nbformat.read(SOURCE, as_version=4)


def _nbgrader(cell):
    return cell.metadata.get("nbgrader", {})


def test_grade_ids_are_cell_ids_and_points_total_100():
    nb = _nb()
    graded = [c for c in nb.cells if _nbgrader(c).get("grade")]
    assert all(_nbgrader(c)["grade_id"] == c.id for c in nb.cells if _nbgrader(c))
    assert sum(_nbgrader(c)["points"] for c in graded) == 100
    auto = sum(_nbgrader(c)["points"] for c in graded if c.cell_type == "code")
    assert auto == 50


def test_points_table_in_intro_matches_metadata():
    nb = _nb()
    intro = nb.cells[0].source
    listed = sum(int(m) for m in re.findall(r"\|\s*(\d+)\s*\|\s*$", intro, flags=re.M))
    assert listed == 100


def test_committed_without_outputs():
    nb = _nb()
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")


def test_autograded_cells_have_hidden_tests():
    for cell in _nb().cells:
        meta = _nbgrader(cell)
        if meta.get("grade") and cell.cell_type == "code":
            assert "### BEGIN HIDDEN TESTS" in cell.source, cell.id


def _execute(nb, tmp_path, monkeypatch):
    from nbclient import NotebookClient
    monkeypatch.setenv("NNKIT_FAST", "1")   # the kernel inherits it: static explorers
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return {c.id: c for c in nb.cells}


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow
def test_solution_runs_clean_and_every_check_passes(tmp_path, monkeypatch):
    cells = _execute(_nb(), tmp_path, monkeypatch)
    failing = {cid: _errors(c)[0]["evalue"] for cid, c in cells.items() if _errors(c)}
    assert not failing
    text = "".join(o.get("text", "") for c in cells.values() for o in c.get("outputs", []))
    assert "✓" in text and "✗" not in text


# (solution cell, text replacing a line of it, test cell that must fail)
MISTAKES = [
    ("ce-values", ("np.log(np.exp(shifted)", "np.log10(np.exp(shifted)"), "ce-softmax-tests"),
    ("ce-values", ("ce_normalized = float(-np.log(", "ce_normalized = float(-np.log10("), "ce-normalized-tests"),
    ("std-values", ('"ds/dv": 1 / (2 * s)', '"ds/dv": 1 / s'), "std-local-tests"),
    ("std-values", ('g["m"] = g["d1"] * std_local["dd1/dm"] + ', 'g["m"] = '), "std-backward-tests"),
    ("centered-difference", ("(up - down) / (2 * h)", "(up - down) / h"), "centered-difference-tests"),
    ("relative-error", ("if scale == 0:\n        return 0.0\n", ""), "relative-error-tests"),
]


@pytest.mark.slow
def test_test_cells_catch_mistakes(tmp_path, monkeypatch):
    nb = _nb()
    by_id = {c.id: c for c in nb.cells}
    for cell_id, (old, new), _ in MISTAKES:
        assert old in by_id[cell_id].source, old
        by_id[cell_id].source = by_id[cell_id].source.replace(old, new)
    cells = _execute(nb, tmp_path, monkeypatch)
    for _, _, test_id in MISTAKES:
        assert _errors(cells[test_id]), f"{test_id} passed a wrong solution"


@pytest.mark.slow
def test_student_copy_from_nbgrader(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(ROOT / "source/backprop", course / "source/backprop")
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    subprocess.run([str(VENV_BIN / "nbgrader"), "generate_assignment", "backprop", "--force",
                    f"--CourseDirectory.root={course}"], cwd=course, env=env, check=True,
                   capture_output=True, timeout=120)
    student = nbformat.read(course / "release/backprop/backprop.ipynb", as_version=4)
    raw = json.dumps(student)
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "0.8489720134868745", "log_softmax",
                   "(up - down) / (2 * h)", "Frameworks use softmax"):
        assert secret not in raw, secret
    ids = [c.id for c in student.cells]
    assert ids == [c.id for c in _nb().cells]
    assert "raise NotImplementedError()" in {c.id: c for c in student.cells}["centered-difference"].source
