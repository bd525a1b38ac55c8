"""After formgrader: feedback and exports follow the gradebook as it is when they are written.

The gradebook is filled as autograde and then formgrader fill it (auto scores; a manual score on the
written answer, an override of an autograded part, a comment), without running anything, so
these cases are fast; the browser test drives the same session through formgrader itself.
"""
from __future__ import annotations

import csv
import html
import re
import shutil

import pipeline_corpus as corpus
import pytest

from autograder.cli import main
from autograder.pipeline.course import Course, write_json

STUDENT = "ann"


@pytest.fixture
def course(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.pipeline.autograde import register
    source = tmp_path / "source"
    shutil.copytree(corpus.FIXTURE_SOURCE, source)
    course = Course.at(tmp_path / "course", source)
    register(course, corpus.ASSIGNMENT, rebuild=False)
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_student(STUDENT)
        gb.update_or_create_submission(corpus.ASSIGNMENT, STUDENT)
        for name, auto, manual in (("square-tests", 2, False), ("add-tests", 0, False), ("answer-why", None, True)):
            grade = gb.find_grade(name, corpus.ASSIGNMENT, corpus.ASSIGNMENT, STUDENT)
            grade.auto_score, grade.needs_manual_grade = auto, manual
        gb.db.commit()
    write_json(course.root / "archive" / STUDENT / corpus.ASSIGNMENT / "manifest.json", {})  # "collected"
    write_json(course.state_file(STUDENT, corpus.ASSIGNMENT), {
        "student": STUDENT, "assignment": corpus.ASSIGNMENT, "flags": ["review: in-kernel and grader disagree on add-tests"],
        "problems": [], "verdict_parts": [{"cell_id": "add-tests", "part": "add", "score": 0, "max_score": 3,
                                           "status": "failed", "messages": ["add(-1, 1) returned 2, expected 0"]}]})
    return course


def formgrader(course, *, manual=None, override=None, comment=None, unanswered=False):
    """What formgrader writes when a person grades: manual scores (which also clear
    needs_manual_grade) and manual comments."""
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url) as gb:
        def grade(name):
            return gb.find_grade(name, corpus.ASSIGNMENT, corpus.ASSIGNMENT, STUDENT)
        if manual is not None:
            grade("answer-why").manual_score, grade("answer-why").needs_manual_grade = manual, False
        if override is not None:
            grade("square-tests").manual_score = override
        if comment:
            gb.find_comment("answer-why", corpus.ASSIGNMENT, corpus.ASSIGNMENT, STUDENT).manual_comment = comment
        if unanswered:  # what nbgrader records for an answer cell left as released
            grade("answer-why").auto_score, grade("answer-why").needs_manual_grade = 0, False
        gb.db.commit()


def run(course, *argv):
    assert main([*argv, "--assignment", corpus.ASSIGNMENT, "--course", str(course.root),
                 "--source", str(course.source), "--quiet"]) == 0


def feedback_rows(course) -> tuple[float, list[tuple[str, str, str, str]]]:
    run(course, "feedback")
    page = (course.feedback(STUDENT, corpus.ASSIGNMENT) / "feedback.html").read_text()
    total = float(re.search(r"<h1>[^:]+: ([\d.]+) /", page)[1])
    cells = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td[^>]*>(.*?)</td><td>(.*?)</td></tr>", page)
    return total, [tuple(html.unescape(re.sub("<[^>]+>", " ", c)).strip() for c in row) for row in cells], page


def lms_rows(course, *extra) -> list[dict]:
    run(course, "export", *extra)
    with (course.root / f"lms-{corpus.ASSIGNMENT}.csv").open() as fh:
        return list(csv.DictReader(fh))


def _sum(rows) -> float:
    return sum(float(score.split("/")[0]) for _, score, _, _ in rows if not score.startswith("–"))


def test_before_manual_grading_feedback_says_what_waits_and_the_lms_csv_holds_it_back(course):
    total, rows, page = feedback_rows(course)
    by_id = {r[0]: r for r in rows}
    assert "answer-why" not in page and "add-tests" not in by_id  # names, not grade ids
    written = next(r for r in rows if r[0].endswith("written answer"))
    assert written[1].startswith("–") and written[2] == "waiting for your instructor"
    assert "Provisional: 2 points" in page
    assert "review one part by hand: Tiny assignment: add" in page
    assert _sum(rows) == total == 2
    assert lms_rows(course) == []  # the default holds it back
    [row] = lms_rows(course, "--pending", "provisional")
    assert (row["status"], row["pending_manual_points"], row["score"]) == ("provisional", "2", "2")


def test_after_formgrader_feedback_and_export_carry_manual_scores_overrides_and_comments(course):
    formgrader(course, manual=1.5, override=1, comment="Name the sign rule.")
    total, rows, page = feedback_rows(course)
    by_title = {r[0].rsplit(": ", 1)[-1]: r for r in rows}
    assert by_title["square"][1:3] == ("1 / 2", "score changed by your instructor")
    assert "The grader gave 2 / 2; your instructor set 1 / 2." in by_title["square"][3]
    assert by_title["written answer"][1:3] == ("1.5 / 2", "graded by your instructor")
    assert "Comment from your instructor: Name the sign rule." in by_title["written answer"][3]
    assert by_title["add"][3].startswith("add(-1, 1) returned 2")
    assert "Provisional" not in page
    assert _sum(rows) == total == 2.5
    [row] = lms_rows(course)
    assert (row["status"], row["pending_manual_points"], row["score"]) == ("final", "0", "2.5")


def test_an_unanswered_written_question_says_so(course):
    formgrader(course, unanswered=True)
    _, rows, _ = feedback_rows(course)
    written = next(r for r in rows if r[0].endswith("written answer"))
    assert written[1:3] == ("0 / 2", "not answered")
    assert "No answer was written here" in written[3]


def test_unknown_pending_choice_is_refused(course):
    from autograder.pipeline.export import LatePolicy, export
    with pytest.raises(ValueError, match="hold, provisional"):
        export(course, corpus.ASSIGNMENT, LatePolicy(), {}, pending="final")


def test_formgraders_generate_feedback_gives_the_kits_page_without_hidden_tests(course):
    """nbgrader_config.py points GenerateFeedback (formgrader's "Generate Feedback", whose output
    "Release Feedback" hands out) at the kit's page: the hidden asserts of the notebook never show."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.pipeline.course import ROOT
    repo = PyFileConfigLoader("nbgrader_config.py", str(ROOT)).load_config()
    assert repo.Exchange.root.startswith(str(ROOT / "course"))  # formgrader's "exchange missing" warning
    formgrader(course, manual=2, comment="Good.")
    autograded = course.root / "autograded" / STUDENT / corpus.ASSIGNMENT
    autograded.mkdir(parents=True)
    shutil.copy(course.source / corpus.ASSIGNMENT / f"{corpus.ASSIGNMENT}.ipynb", autograded)  # hidden tests in it
    config = Config()
    config.CourseDirectory.root = str(course.root.parent)
    config.CourseDirectory.autograded_directory = "course/autograded"
    config.CourseDirectory.feedback_directory = "course/feedback"
    config.CourseDirectory.db_url = course.db_url
    config.GenerateFeedback.preprocessors = repo.GenerateFeedback.preprocessors
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = corpus.ASSIGNMENT
    GenerateFeedback(coursedir=coursedir, config=config).start()
    page = (course.feedback(STUDENT, corpus.ASSIGNMENT) / f"{corpus.ASSIGNMENT}.html").read_text()
    assert "hidden:" not in page and "BEGIN HIDDEN TESTS" not in page and "assert square" not in page
    assert "Comment from your instructor: Good." in page and "graded by your instructor" in page
