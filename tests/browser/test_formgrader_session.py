"""A whole manual-grading session in formgrader, in headless Chromium (issue 15, items 1-4).

One submission of the pipeline's fixture assignment is graded with the kit's own commands; then,
in formgrader, a person grades the written answer, overrides an autograded part and writes a
comment; then the README's commands regenerate feedback and exports, and the page and the LMS CSV
must show what the person did. The course folder uses a copy of the repo's nbgrader_config.py, so
what is checked is what formgrader reads in the kit.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_notebooks_in_browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, ROOT, serve_lab

pytestmark = pytest.mark.browser

sys.path.insert(0, str(ROOT / "tests" / "pipeline"))
import pipeline_corpus as corpus  # noqa: E402

STUDENT = "ann"
A = corpus.ASSIGNMENT
OWN_OUTPUT = "my own run: test accuracy 97.70%"


def _kit(root: Path, *argv: str) -> str:
    """A README command, from a shell without the virtualenv on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH="/usr/bin:/bin", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "autograder", *argv, "-a", A,
                           "--course", str(root / "course"), "--source", str(root / "source"), "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"BROWSER TEST SKIPPED: {CHROMIUM} is missing — run `make browser-deps`")
    pytest.importorskip("playwright.sync_api", reason="BROWSER TEST SKIPPED: playwright not installed")
    base = tmp_path_factory.mktemp("formgrader")
    root = base / "root"
    shutil.copytree(corpus.FIXTURE_SOURCE, root / "source")
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    handin = corpus.solved()
    next(c for c in handin.cells if c.get("id") == "square").outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=OWN_OUTPUT + "\n")]
    (base / "handins" / STUDENT / A).mkdir(parents=True)
    nbformat.write(handin, base / "handins" / STUDENT / A / f"{A}.ipynb")
    # tiny has no grading spec: its in-kernel scores stand (as in the pipeline corpus)
    _kit(root, "grade-all", str(base / "handins"), "--no-verdict", "--cell-timeout", "20", "--wall", "120", "-j", "1")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    with serve_lab(root, base, env) as lab:
        yield lab


def _gradebook(root: Path):
    from nbgrader.api import Gradebook
    return Gradebook(f"sqlite:///{root / 'course' / 'gradebook.db'}")


def _wait_saved(root: Path, check, what: str, timeout: float = 30):
    """Formgrader saves through its API on change: poll the gradebook until it has the value."""
    deadline = time.time() + timeout
    while True:
        with _gradebook(root) as gb:
            if check(gb):
                return
        if time.time() > deadline:
            raise AssertionError(f"formgrader did not save {what}")
        time.sleep(0.3)


def test_a_manual_grading_session_reaches_feedback_and_exports(course):
    from playwright.sync_api import sync_playwright
    root = course["root"]
    lms = root / "course" / f"lms-{A}.csv"
    assert list(csv.DictReader(lms.open())) == []  # written answer ungraded: held back
    with _gradebook(root) as gb:
        submission_id = gb.find_submission_notebook(A, A, STUDENT).id
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
        page.set_default_timeout(30_000)

        # item 4: formgrader on the kit's course folder, no exchange warning
        page.goto(f"{course['url']}/formgrader?token={course['token']}")
        page.locator("td", has_text=re.compile(f"^{A}$")).first.wait_for()
        assert page.locator("#warning-exchange").count() == 0
        page.screenshot(path=str(ARTIFACTS / "formgrader-home.png"))

        # item 2: the student's own outputs and the rubric beside the written answer
        page.goto(f"{course['url']}/formgrader/submissions/{submission_id}/?token={course['token']}")
        page.locator("#notebook-container").get_by_text(OWN_OUTPUT).wait_for()
        assert page.get_by_text("model answer and rubric for").count() == 1
        page.screenshot(path=str(ARTIFACTS / "formgrader-submission.png"), full_page=True)

        # item 1: grade the written answer, override an autograded part, comment
        for grade_id, value in (("answer-why", "1.5"), ("square-tests", "1")):
            field = page.locator(f"input.score#{grade_id}")
            field.fill(value)
            field.press("Tab")
        comment = page.locator("textarea#answer-why-comment")
        comment.fill("Name the sign rule.")
        comment.press("Tab")

        def done(gb):
            g = {x.name: x for x in gb.find_submission_notebook(A, A, STUDENT).grades}
            c = gb.find_comment("answer-why", A, A, STUDENT)
            return g["answer-why"].manual_score == 1.5 and g["square-tests"].manual_score == 1 and \
                c.manual_comment == "Name the sign rule."
        _wait_saved(root, done, "the scores and the comment")
        page.screenshot(path=str(ARTIFACTS / "formgrader-graded.png"), full_page=True)

        # the README's commands after manual grading
        _kit(root, "feedback")
        out = _kit(root, "export")
        assert "held back" not in out
        feedback = root / "course" / "feedback" / STUDENT / A / "feedback.html"
        page.goto(feedback.as_uri())
        text = page.locator("body").inner_text()
        page.screenshot(path=str(ARTIFACTS / "feedback-after-formgrader.png"), full_page=True)
        assert f"{A}: 5.5 / 7" in text
        assert "score changed by your instructor" in text and "graded by your instructor" in text
        assert "Comment from your instructor: Name the sign rule." in text
        scores = [float(s.split("/")[0]) for s in page.locator("table tr td:nth-child(2)").all_inner_texts()]
        assert sum(scores) == 5.5
        [row] = csv.DictReader(lms.open())
        assert (row["score"], row["status"], row["pending_manual_points"]) == ("5.5", "final", "0")

        # item 4: "Generate Feedback" gives the kit's page, not the notebook with hidden tests
        page.goto(f"{course['url']}/formgrader?token={course['token']}")
        row_el = page.locator("tr", has=page.locator("td", has_text=re.compile(f"^{A}$"))).first
        row_el.locator(".generate-feedback a").click()
        nbgrader_page = root / "course" / "feedback" / STUDENT / A / f"{A}.html"
        deadline = time.time() + 60
        while not nbgrader_page.exists() and time.time() < deadline:
            time.sleep(0.5)
        html = nbgrader_page.read_text()
        assert "hidden:" not in html and "HIDDEN TESTS" not in html
        assert "Comment from your instructor: Name the sign rule." in html
        browser.close()
