"""grade-all on the real mlp assignment: reference, untouched student copy, partly wrong.

Runs the same builder as `make demo`. Needs the mlp source notebook (and MNIST
in the cache for the training part); skipped until the source exists.
"""
from __future__ import annotations

import json

import pytest

from autograder import demo
from autograder.cli import main
from autograder.pipeline import ROOT, Course

SOURCE = ROOT / "source" / "mlp" / "mlp.ipynb"
AUTOGRADED_MAX = 80  # design.md: autograded points of mlp

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SOURCE.exists(), reason="source/mlp/mlp.ipynb not written yet")]


def test_reference_full_untouched_zero_partly_wrong_between(tmp_path):
    submissions = tmp_path / "submissions"
    broken = demo.build("mlp", submissions, Course.at(tmp_path / "course"))
    assert len(broken) == 2
    assert main(["grade-all", str(submissions), "--assignment", "mlp", "--course", str(tmp_path / "course"),
                 "--quiet"]) == 0
    report = json.loads(sorted((tmp_path / "course" / "reports").glob("*.json"))[-1].read_text())
    rows = {r["student"]: r for r in report["rows"]}
    assert rows["reference"]["score"] == AUTOGRADED_MAX, rows["reference"]
    assert rows["untouched"]["score"] == 0, rows["untouched"]
    assert 0 < rows["partly-wrong"]["score"] < AUTOGRADED_MAX, rows["partly-wrong"]
    for row in rows.values():
        assert "grader error" not in row["flags"], row["problems"]
        assert "needs manual grading" in row["flags"] or row["student"] == "untouched"
