"""The engine's side of carrying code forward (engine/carry.py): a later assignment is graded with
the reference's earlier classes, written from the earlier SOURCE notebook, inside the sandbox too."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import numpy as np

from autograder.engine.carry import carried, prepare
from autograder.engine.job import Job, _save_arrays, default_limits
from autograder.engine.training import _reference

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "source" / "mlp" / "mlp.ipynb"
SETUP = ("import numpy as np\nimport nnkit\nfrom nnkit import Module, Sequential, Loss, Optimizer\n"
         "Linear, ReLU = nnkit.carry.load('mlp', ['Linear', 'ReLU'])\n")


def _course(tmp: Path) -> Path:
    """tmp/source/mlp/mlp.ipynb (the real reference) beside tmp/source/later/later.ipynb."""
    (tmp / "source" / "mlp").mkdir(parents=True)
    shutil.copy(MLP, tmp / "source" / "mlp" / "mlp.ipynb")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP, metadata={"nbgrader": {"grade_id": "setup", "locked": True}}),
        nbformat.v4.new_code_cell("from nnkit import carry\nSGD = carry.load('mlp', 'SGD')",
                                  metadata={"nbgrader": {"grade_id": "more", "locked": True}}),
        # a student's own call (a solution cell) decides nothing about what the grader writes
        nbformat.v4.new_code_cell("Tanh = nnkit.carry.load('mlp', 'Tanh')",
                                  metadata={"nbgrader": {"grade_id": "mine", "solution": True}})])
    later = tmp / "source" / "later" / "later.ipynb"
    later.parent.mkdir(parents=True)
    nbformat.write(nb, later)
    return later


def test_what_is_carried_is_read_from_the_sources_locked_cells(tmp_path):
    assert carried(_course(tmp_path)) == {"mlp": ["Linear", "ReLU", "SGD"]}
    assert carried(MLP) == {}


def test_only_the_reference_cells_defining_those_classes_are_written(tmp_path):
    folder = prepare(_course(tmp_path), tmp_path / "carry")
    written = nbformat.read(folder / "mlp" / "mlp.ipynb", as_version=4)
    reference = {c.source for c in nbformat.read(MLP, as_version=4).cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in ("linear", "relu", "sgd")}
    assert {c.source for c in written.cells} == reference and len(written.cells) == 3


def test_the_sandboxed_driver_loads_the_reference_classes(tmp_path):
    later = _course(tmp_path)
    root = tmp_path / "job"
    root.mkdir()
    root.chmod(0o755)
    check = {"id": "check", "source": "assert Linear(3, 2).forward(np.ones((4, 3))).shape == (4, 2)\n"
                                      "assert (ReLU().forward(-np.ones(3)) == 0).all()\n"}
    job = Job(root, "carry", [{"id": "setup", "source": SETUP}, check], [], _save_arrays(root, {"x.npy": np.ones(1)}),
              prepare(later, root / "carry"))
    job.run(default_limits("quick"))
    report = json.loads((job.work / "out" / "cells.json").read_text())
    assert report == {"setup": {"status": "ok"}, "check": {"status": "ok"}}, report


def test_the_trusted_reference_network_gets_them_too(tmp_path, monkeypatch):
    """Accuracy is measured with the source's own classes in the grader's process, wherever it runs."""
    monkeypatch.delenv("NNKIT_CARRY_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    ns = _reference(str(_course(tmp_path)), ())
    assert ns["Linear"](3, 2).forward(np.ones((4, 3))).shape == (4, 2)
    assert "NNKIT_CARRY_DIR" not in os.environ
