"""The broken-submission corpus, graded in one run next to two honest submissions.

One `grade-all` over a folder import plus a Moodle and a Canvas zip; every
case's expected report line is in corpus.CASES. A second run must change
nothing: same report, no submission re-graded, archive untouched.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat

import pipeline_corpus as corpus
import pytest

from autograder.cli import main
from autograder.pipeline.course import Course

pytestmark = pytest.mark.slow

# `tiny` has no grading spec: these tests are about the pipeline's own steps, so they ask for its
# in-kernel scores explicitly (--no-verdict); without the flag the pipeline refuses such an assignment.
# tiny's written answer is never graded here: its rows go to the LMS CSV as provisional, not held back.
LIMITS = ["--cell-timeout", "5", "--wall", "40", "--memory", "2G", "--workers", "2", "--quiet", "--no-verdict",
          "--pending", "provisional"]


def _grade_all(tmp, inputs, *extra):
    return main(["grade-all", *map(str, inputs), "--assignment", corpus.ASSIGNMENT, "--course", str(tmp / "course"),
                 "--source", str(corpus.FIXTURE_SOURCE), *LIMITS, *extra])


def _latest_report(course_root):
    reports = sorted((course_root / "reports").glob("*.json"), key=os.path.getmtime)
    return json.loads(reports[-1].read_text()), reports


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    folder = corpus.write_folder(tmp / "handins")
    zips = [corpus.moodle_zip(tmp / "moodle-export.zip"), corpus.canvas_zip(tmp / "canvas-export.zip")]
    inputs = [folder, *zips]
    assert _grade_all(tmp, inputs) == 0
    course = tmp / "course"
    first, _ = _latest_report(course)
    stamps = {p: p.stat().st_mtime_ns for p in (course / "state").rglob("*.json")}
    stamps.update({p: p.stat().st_mtime_ns for p in (course / "autograded").rglob("*.ipynb")})
    assert _grade_all(tmp, inputs) == 0
    second, reports = _latest_report(course)
    return {"tmp": tmp, "course": course, "inputs": inputs, "first": first, "second": second,
            "stamps": stamps, "reports": reports, "originals": corpus.originals(folder, zips)}


def _row(graded, student):
    return next(r for r in graded["first"]["rows"] if r["student"] == student)


@pytest.mark.parametrize("student", sorted(corpus.CASES))
def test_report_says_what_happened(graded, student):
    score, must, must_not = corpus.CASES[student]
    row = _row(graded, student)
    assert row["score"] == score
    assert must <= set(row["flags"]), row
    assert not (must_not & set(row["flags"])), row
    assert "grader error" not in row["flags"], row["problems"]


def test_every_student_is_in_the_report_once(graded):
    assert sorted(r["student"] for r in graded["first"]["rows"]) == sorted(corpus.CASES)


def test_archive_keeps_every_original_byte_for_byte_read_only(graded):
    archive = graded["course"] / "archive"
    for (student, name), data in graded["originals"].items():
        path = archive / student / corpus.ASSIGNMENT / hashlib.sha256(data).hexdigest() / name
        assert path.read_bytes() == data, path
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        manifest = json.loads((path.parent.parent / "manifest.json").read_text())
        assert manifest["submissions"][-1]["files"], manifest


def test_zip_slip_member_never_lands_anywhere(graded):
    assert not list(graded["tmp"].rglob("escaped.ipynb"))
    assert not (graded["tmp"].parent / "escaped.ipynb").exists()


def test_second_run_changes_nothing(graded):
    assert graded["first"] == graded["second"]
    assert len(graded["reports"]) == 2
    for path, stamp in graded["stamps"].items():
        assert path.stat().st_mtime_ns == stamp, f"{path} was rewritten: re-graded"
    manifests = list((graded["course"] / "archive").rglob("manifest.json"))
    assert all(len(json.loads(m.read_text())["submissions"]) == 1 for m in manifests)


def test_feedback_never_shows_hidden_tests(graded):
    pages = list((graded["course"] / "feedback").rglob("feedback.html"))
    assert len(pages) == len(corpus.CASES)
    for page in pages:
        text = page.read_text()
        assert "hidden:" not in text and "HIDDEN TESTS" not in text and "Traceback" not in text, page
        assert "xxxxxxxxxx" not in text  # the huge-output case's prints


def test_exports_have_nbgrader_and_lms_columns(graded):
    grades = (graded["course"] / "grades.csv").read_text().splitlines()
    assert grades[0] == ("assignment,duedate,timestamp,student_id,last_name,first_name,email,"
                         "raw_score,late_submission_penalty,score,max_score")
    assert len(grades) == 1 + len(corpus.CASES)
    lms = (graded["course"] / f"lms-{corpus.ASSIGNMENT}.csv").read_text().splitlines()
    assert lms[0].startswith("student_id,lms_id,name,assignment,raw_score,late_penalty,score,max_score,percent")
    assert any(line.startswith("ada-lovelace,4711,Ada Lovelace,") for line in lms)


def test_late_policy_applied_in_lms_csv(graded, tmp_path):
    # bob's Canvas file is dated 2026-11-20 12:00; due a day and a half before: 2 started days late.
    assert main(["export", "--assignment", corpus.ASSIGNMENT, "--course", str(graded["course"]),
                 "--source", str(corpus.FIXTURE_SOURCE), "--due", "2026-11-19T00:00", "--late-policy", "per-day:10",
                 "--late-cap", "50", "--out", str(tmp_path), "--pending", "provisional"]) == 0
    rows = {line.split(",")[0]: line.split(",") for line in (tmp_path / f"lms-{corpus.ASSIGNMENT}.csv").read_text().splitlines()}
    assert rows["bob"][4:8] == ["5", "1.4", "3.6", "7"]  # raw, 20% of 7 off, score, max
    # and nbgrader's own grades.csv carries the same penalty
    assert any(line.split(",")[3] == "bob" and line.split(",")[8] == "1.4"
               for line in (tmp_path / "grades.csv").read_text().splitlines())


@pytest.mark.parametrize("verdict_scores, expected_flags, total", [
    ({"square-tests": 2, "add-tests": 0}, [], 2),                                  # grader agrees with the kernel
    ({"square-tests": 2, "add-tests": 3}, ["review: in-kernel and grader disagree on add-tests"], 5),
    ({"square-tests": 0, "add-tests": 0}, ["review: in-kernel and grader disagree on square-tests"], 0),
])
def test_verdict_scores_win_and_disagreement_is_flagged(graded, tmp_path, verdict_scores, expected_flags, total):
    import shutil

    from autograder.pipeline.autograde import apply_verdict, summary
    course = Course.at(tmp_path / "course", corpus.FIXTURE_SOURCE)
    shutil.copy(graded["course"] / "gradebook.db", course.root / "gradebook.db")
    verdict = {"parts": [{"part": cid.removesuffix("-tests"), "cell_id": cid, "score": s, "max_score": 5,
                          "status": "passed" if s else "failed", "messages": []} for cid, s in verdict_scores.items()],
               "flags": []}
    assert apply_verdict(course, "honest-partial", corpus.ASSIGNMENT, corpus.ASSIGNMENT, verdict) == expected_flags
    assert summary(course, "honest-partial", corpus.ASSIGNMENT)["score"] == total
