"""grade-all on each real assignment: the reference, the untouched student copy, a partly wrong one.

Runs the same builder as `make demo`. The grading engine with the
assignment's spec (autograder/assignments/<id>/spec.py), not the in-kernel run, decides every
autograded cell.
"""
from __future__ import annotations

import json

import pytest

from autograder.cli import main
from autograder.engine.verdict import graded_parts
from autograder.pipeline import demo
from autograder.pipeline.course import Course

pytestmark = pytest.mark.slow

# assignment, its autograded points and the test cells its verdict decides (the source's metadata)
ASSIGNMENTS = [(a, sum(pts for *_, pts in graded_parts(a)), {grade_id for _, grade_id, _ in graded_parts(a)})
               for a in ("mlp", "backprop", "optim")]


@pytest.mark.parametrize("assignment, autograded_max, verdict_cells", ASSIGNMENTS)
def test_reference_full_untouched_zero_partly_wrong_between(tmp_path, assignment, autograded_max, verdict_cells):
    submissions, course = tmp_path / "submissions", tmp_path / "course"
    broken = demo.build(assignment, submissions, Course.at(course))
    assert len(broken) == 2
    assert main(["grade-all", str(submissions), "--assignment", assignment, "--course", str(course),
                 "--quiet"]) == 0
    report = json.loads(sorted((course / "reports").glob("*.json"))[-1].read_text())
    rows = {r["student"]: r for r in report["rows"]}
    assert rows["reference"]["score"] == autograded_max, rows["reference"]
    assert rows["untouched"]["score"] == 0, rows["untouched"]
    assert 0 < rows["partly-wrong"]["score"] < autograded_max, rows["partly-wrong"]
    for row in rows.values():
        assert "grader error" not in row["flags"], row["problems"]
        assert "needs manual grading" in row["flags"] or row["student"] == "untouched"
    state = json.loads(Course.at(course).state_file("untouched", assignment).read_text())
    assert {p["cell_id"] for p in state["verdict_parts"]} == verdict_cells
