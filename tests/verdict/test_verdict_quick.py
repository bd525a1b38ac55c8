"""grade_notebook end to end without the training run (a few seconds)."""
from __future__ import annotations

import json

import nbformat

from autograder.engine.reference import source_notebook
from autograder.engine.verdict import Verdict, grade_notebook
from autograder.isolation.sandbox import Limits

SOURCE = source_notebook("mlp")
QUICK = Limits(wall_seconds=20, cpu_seconds=4, memory_bytes=2 << 30, file_bytes=32 << 20, nproc=64,
               output_bytes=1 << 20)


def submission(tmp_path, replace: dict) -> str:
    nb = nbformat.read(SOURCE, as_version=4)
    for cell in nb.cells:
        if cell.get("id") in replace:
            cell.source = replace[cell.get("id")]
    path = tmp_path / "submission.ipynb"
    nbformat.write(nb, path)
    return str(path)


def test_reference_passes_every_quick_part_and_round_trips(tmp_path):
    v = grade_notebook(submission(tmp_path, {}), seed=7, limits=QUICK, train=False)
    assert all(p.score == p.max_score for p in v.parts if p.part != "training"), v.to_json()
    assert Verdict.from_json(v.to_json()) == v
    assert json.loads(v.to_json())["parts"][0]["cell_id"] == "linear-tests"


def test_a_hanging_cell_costs_only_its_own_part(tmp_path):
    v = grade_notebook(submission(tmp_path, {"tanh": "while True:\n    pass\n",
                                             "gelu": "import os\nos._exit(9)\n"}),
                       seed=7, limits=QUICK, train=False)
    assert v.part("tanh").status == "timeout" and v.part("tanh").score == 0
    assert v.part("gelu").status == "crashed" and v.part("gelu").score == 0
    others = [p for p in v.parts if p.part not in ("tanh", "gelu", "training")]
    assert all(p.score == p.max_score for p in others), [(p.part, p.messages) for p in others]


def test_garbage_is_graded_as_missing(tmp_path):
    path = tmp_path / "garbage.ipynb"
    path.write_bytes(b"\x00 not a notebook")
    v = grade_notebook(str(path), seed=7, limits=QUICK, train=False)
    assert v.score == 0 and "unreadable-notebook" in v.flags
    assert {p.status for p in v.parts} == {"missing"}
