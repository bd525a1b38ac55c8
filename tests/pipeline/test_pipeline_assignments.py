"""grade_all on each real assignment: the reference, the untouched student copy, a partly wrong one.

Runs the same builder as `make demo`, for every assignment in source/. The grader of the
assignment (autograder/assignments/<id>/), not the in-kernel run, decides every autograded cell;
the points come from the source notebook's nbgrader metadata.
"""
from __future__ import annotations

import json

import nbformat
import pytest

from autograder.pipeline import demo
from autograder.pipeline.course import ROOT, Course
from autograder.pipeline.run import grade_all

pytestmark = pytest.mark.slow


def _autograded(assignment: str) -> dict[str, float]:
    """Autograded test cell -> points, as the source notebook's nbgrader metadata says."""
    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.id: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


@pytest.mark.parametrize("assignment", sorted(p.name for p in (ROOT / "source").iterdir()
                                               if (p / f"{p.name}.ipynb").exists()))
def test_reference_full_untouched_zero_partly_wrong_between(tmp_path, assignment):
    autograded = _autograded(assignment)
    autograded_max = sum(autograded.values())
    submissions, course = tmp_path / "submissions", tmp_path / "course"
    broken = demo.build(assignment, submissions, Course.at(course))
    assert len(broken) == 2
    grade_all(course=course, inputs=[submissions], assignment=assignment)
    report = json.loads(sorted((course / "reports").glob("*.json"))[-1].read_text())
    rows = {r["student"]: r for r in report["rows"]}
    assert rows["reference"]["score"] == autograded_max, rows["reference"]
    assert rows["untouched"]["score"] == 0, rows["untouched"]
    assert 0 < rows["partly-wrong"]["score"] < autograded_max, rows["partly-wrong"]
    for row in rows.values():
        assert "grader error" not in row["flags"], row["problems"]
        assert "needs manual grading" in row["flags"] or row["student"] == "untouched"
    state = json.loads(Course.at(course).state_file("untouched", assignment).read_text())
    assert {p["cell_id"] for p in state["verdict_parts"]} == set(autograded)
