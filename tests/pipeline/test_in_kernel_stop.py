"""The in-kernel run stops after the last autograded test cell: later cells decide nothing."""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat

from autograder.pipeline.autograde import RUNNER, last_test_cell


def _cell(source: str, cell_id: str, grade: bool = False, solution: bool = False):
    cell = nbformat.v4.new_code_cell(source, id=cell_id)
    cell.metadata["nbgrader"] = {"grade": grade, "solution": solution, "grade_id": cell_id, "locked": not solution,
                                 "schema_version": 3, **({"points": 1} if grade else {})}
    return cell


def _notebook(tmp_path):
    later = tmp_path / "later-ran"
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("intro", id="intro"),
        _cell("def square(x):\n    return x * x", "square", solution=True),
        _cell("assert square(3) == 9", "square-tests", grade=True),
        nbformat.v4.new_markdown_cell("free experiments follow", id="more"),
        _cell(f"open({str(later)!r}, 'w').close()", "experiment"),
        _cell("print('answer')", "answer", grade=True, solution=True),    # graded by hand, not a test
    ]), later


def test_the_last_test_cell_is_the_last_autograded_code_cell(tmp_path):
    nb, _ = _notebook(tmp_path)
    assert last_test_cell(nb) == 2
    assert last_test_cell(nbformat.v4.new_notebook(cells=[_cell("x = 1", "free")])) is None


def test_the_runner_runs_no_cell_after_the_last_test(tmp_path):
    nb, later = _notebook(tmp_path)
    path, out, status = tmp_path / "nb.ipynb", tmp_path / "out.ipynb", tmp_path / "status.json"
    nbformat.write(nb, path)
    subprocess.run([sys.executable, str(RUNNER), str(path), str(out), str(status), "--cell-timeout", "60",
                    "--last-cell", str(last_test_cell(nb))], check=True, timeout=120, cwd=tmp_path,
                   capture_output=True)
    assert json.loads(status.read_text())["cells_done"] == 3
    executed = nbformat.read(out, as_version=4)
    nbformat.validate(executed)          # plain JSON, still a valid notebook
    assert [len(c.outputs) for c in executed.cells if c.cell_type == "code"] == [0, 0, 0, 0]
    assert not later.exists()
