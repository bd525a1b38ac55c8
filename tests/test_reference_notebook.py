"""The master notebook runs clean, and the untouched student copy scores nothing.

* source/mlp/mlp.ipynb executed top to bottom with NNKIT_FAST=1 (hidden
  tests included): no cell may raise.  This is the reference the grader's
  expected values come from, so it must be right.
* assignments/mlp/mlp.ipynb executed as a student would get it, errors
  allowed: the kernel must survive, and every autograded test cell must fail
  (nbgrader's in-kernel rule: a test cell that raises scores 0), so an empty
  submission earns no points.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source" / "mlp" / "mlp.ipynb"
STUDENT = ROOT / "assignments" / "mlp" / "mlp.ipynb"

pytestmark = pytest.mark.slow


def _execute(path: Path, allow_errors: bool) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in ("NNKIT_FAST", "OPENBLAS_NUM_THREADS")}
    os.environ["NNKIT_FAST"] = "1"
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=allow_errors,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def _grade_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("grade")]


def test_source_notebook_runs_without_errors():
    nb = _execute(SOURCE, allow_errors=True)
    failed = {c.get("id"): f"{e.ename}: {e.evalue}" for c in nb.cells if c.cell_type == "code"
              for e in _errors(c)}
    assert not failed, f"cells of the source notebook raised: {failed}"
    tests = _grade_cells(nb)
    assert len(tests) == 11
    for cell in tests:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "✓" in text and "✗" not in text, cell.get("id")


def test_untouched_student_copy_fails_every_test_cell():
    nb = _execute(STUDENT, allow_errors=True)      # raises if the kernel dies
    tests = _grade_cells(nb)
    assert len(tests) == 11
    passing = [c.get("id") for c in tests if not _errors(c)]
    assert not passing, f"test cells that pass on the untouched student copy: {passing}"
    setup = next(c for c in nb.cells if c.get("id") == "setup")
    assert not _errors(setup)
