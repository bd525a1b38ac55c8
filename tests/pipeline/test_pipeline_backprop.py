"""grade-all on the real backprop assignment: reference, untouched student copy, partly wrong.

Runs the same builder as `make demo`; the verdict (autograder/backprop/engine.py)
decides the autograded parts, keyed by the notebook's test cell ids.
"""
from __future__ import annotations

import json

import pytest

from autograder import demo
from autograder.backprop import spec
from autograder.cli import main
from autograder.pipeline import ROOT, Course

SOURCE = ROOT / "source" / "backprop" / "backprop.ipynb"
AUTOGRADED_MAX = 50  # spec.POINTS: the seven autograded test cells of backprop

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SOURCE.exists(), reason="source/backprop/backprop.ipynb not written yet")]


def test_reference_full_untouched_zero_partly_wrong_between(tmp_path):
    assert sum(spec.POINTS.values()) == AUTOGRADED_MAX
    submissions = tmp_path / "submissions"
    course = tmp_path / "course"
    broken = demo.build("backprop", submissions, Course.at(course))
    assert len(broken) == 2
    assert main(["grade-all", str(submissions), "--assignment", "backprop", "--course", str(course),
                 "--quiet"]) == 0
    report = json.loads(sorted((course / "reports").glob("*.json"))[-1].read_text())
    rows = {r["student"]: r for r in report["rows"]}
    assert rows["reference"]["score"] == AUTOGRADED_MAX, rows["reference"]
    assert rows["untouched"]["score"] == 0, rows["untouched"]
    assert 0 < rows["partly-wrong"]["score"] < AUTOGRADED_MAX, rows["partly-wrong"]
    for row in rows.values():
        assert "grader error" not in row["flags"], row["problems"]
        assert "needs manual grading" in row["flags"] or row["student"] == "untouched"
    # The verdict, not the in-kernel run, decided every autograded cell.
    state = json.loads(Course.at(course).state_file("untouched", "backprop").read_text())
    assert {p["cell_id"] for p in state["verdict_parts"]} == set(spec.CELL_IDS.values())
