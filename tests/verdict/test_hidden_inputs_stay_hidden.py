"""Issue 10, class 3: nothing the grader computed from hidden inputs reaches a student.

Student-controlled text is bounded and its numbers are masked before any message quotes
it; each submission's hidden inputs come from a one-way function of the course's secret
seed and the submission's own code, so neither the secret nor another student's inputs
can be learnt from one submission's leak.
"""
import pytest

from autograder.engine.extract import Extraction
from autograder.engine.verdict import MAX_TEXT, submission_seed, untrusted_text

TEXTS = [
    # (what the student's code wrote, what feedback may show, masked?)
    ("ValueError: shapes (5,3) and (4,2) not aligned", "ValueError: shapes (5,3) and (4,2) not aligned", False),
    ("x = [0.8766, -1.25, 3e-05]", "x = […, …, …]", True),
    ("seed 1834221977", "seed …", True),
    ("NotImplementedError", "NotImplementedError", False),
    ("line 12: return x @ self.W + self.b", "line 12: return x @ self.W + self.b", False),
]


@pytest.mark.parametrize("raw, shown, masked", TEXTS)
def test_student_text_is_masked(raw, shown, masked):
    assert untrusted_text(raw) == (shown, masked)


def test_student_text_is_bounded():
    text, _ = untrusted_text("a" * 10 * MAX_TEXT)
    assert len(text) <= MAX_TEXT + 1


def _ex(code: str) -> Extraction:
    return Extraction(setup="import numpy as np", cells={"linear": code})


def test_each_submission_meets_its_own_inputs():
    course_seed = 1_234_567
    a, b = _ex("class Linear: pass"), _ex("class Linear:\n    pass")
    assert submission_seed(course_seed, a) == submission_seed(course_seed, _ex("class Linear: pass"))
    assert submission_seed(course_seed, a) != submission_seed(course_seed, b)
    assert submission_seed(course_seed, a) != submission_seed(course_seed + 1, a)
    assert course_seed not in {submission_seed(course_seed, a), submission_seed(course_seed, b)}
