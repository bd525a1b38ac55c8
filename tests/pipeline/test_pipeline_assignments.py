"""grade-all on every assignment: the reference, the untouched student copy, a partly wrong one.

Every assignment of source/, and the toy of tests/fixtures/ (a course's own assignment: its spec
is tests/fixtures/specs/toy.py, beside its source folder).  Runs the same builder as `make demo`.
The grading engine with the assignment's spec, not the in-kernel run, decides every autograded cell.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.engine.verdict import graded_parts
from autograder.pipeline import demo
from autograder.pipeline.course import ROOT, Course

pytestmark = pytest.mark.slow

SOURCES = [ROOT / "source", ROOT / "tests" / "fixtures" / "source"]
FOUND = [(a.name, root) for root in SOURCES for a in sorted(root.iterdir()) if (a / f"{a.name}.ipynb").is_file()]


@pytest.mark.parametrize("assignment, source", FOUND, ids=[a for a, _ in FOUND])
def test_reference_full_untouched_zero_partly_wrong_between(tmp_path, assignment, source):
    # its autograded points and the test cells its verdict decides (the source's metadata)
    parts = graded_parts(assignment, Path(source) / assignment / f"{assignment}.ipynb")
    autograded_max, verdict_cells = sum(pts for *_, pts in parts), {grade_id for _, grade_id, _ in parts}
    submissions, course = tmp_path / "submissions", tmp_path / "course"
    broken = demo.build(assignment, submissions, Course.at(course, source=source))
    assert broken
    assert main(["grade-all", str(submissions), "--assignment", assignment, "--course", str(course),
                 "--source", str(source), "--quiet"]) == 0
    report = json.loads(sorted((course / "reports").glob("*.json"))[-1].read_text())
    rows = {r["student"]: r for r in report["rows"]}
    assert rows["reference"]["score"] == autograded_max, rows["reference"]
    assert rows["untouched"]["score"] == 0, rows["untouched"]
    assert rows["partly-wrong"]["score"] < autograded_max, rows["partly-wrong"]
    solution_cells = [c for c in json.loads((Path(source) / assignment / f"{assignment}.ipynb").read_text())["cells"]
                      if c.get("metadata", {}).get("nbgrader", {}).get("solution") and c["cell_type"] == "code"]
    if len(solution_cells) > len(broken):     # some cells left right: some points earned
        assert rows["partly-wrong"]["score"] > 0, rows["partly-wrong"]
    written = any(c.get("metadata", {}).get("nbgrader", {}).get("task") or (
        c.get("metadata", {}).get("nbgrader", {}).get("grade") and c.get("cell_type") == "markdown")
        for c in json.loads((Path(source) / assignment / f"{assignment}.ipynb").read_text())["cells"])
    for row in rows.values():
        assert "grader error" not in row["flags"], row["problems"]
        assert "needs manual grading" in row["flags"] or row["student"] == "untouched" or not written
    state = json.loads(Course.at(course).state_file("untouched", assignment).read_text())
    assert {p["cell_id"] for p in state["verdict_parts"]} == verdict_cells
