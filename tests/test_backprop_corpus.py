"""The `backprop` verdict engine against its corpus (tests/corpus/backprop/cases.py).

Every submission is built at test time from source/backprop/backprop.ipynb and
graded end to end: extraction, the sandboxed driver (``values`` and ``call``
probes), and judging against the source's own solution run.  About a second a
submission; graded once per session in a small process pool, marked slow.
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from autograder.engine.verdict import grade_notebook, graded_parts
from corpus.backprop import cases

PARTS = graded_parts("backprop")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "backprop"
STUDENT_COPY = ROOT / "assignments" / "backprop" / "backprop.ipynb"   # as released, untouched


WRONG = {c.name: c for c in cases.WRONG}
VALID = {c.name: c for c in cases.VALID}


def _grade(job: tuple) -> tuple:
    name, path = job
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return name, grade_notebook(path, "backprop")


@pytest.fixture(scope="session")
def verdicts(tmp_path_factory):
    """name -> Verdict for every case, the reference and the untouched student copy."""
    tmp = tmp_path_factory.mktemp("backprop-corpus")
    jobs = [("reference", cases.build(None, tmp / "reference.ipynb")),
            ("student_copy", STUDENT_COPY)]
    for name, case in {**WRONG, **VALID}.items():
        jobs.append((name, cases.build(case.edits, tmp / f"{name}.ipynb")))
    with ProcessPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(_grade, jobs))


@pytest.mark.slow
def test_reference_gets_full_marks(verdicts):
    v = verdicts["reference"]
    assert v.score == v.max_score == sum(pts for _, _, pts in PARTS), [(p.part, p.messages) for p in v.parts]
    assert [(p.part, p.cell_id) for p in v.parts] == [(part, grade_id) for part, grade_id, _ in PARTS]


@pytest.mark.slow
def test_untouched_student_copy_gets_nothing(verdicts):
    v = verdicts["student_copy"]
    assert [(p.part, p.score) for p in v.parts] == [(p, 0.0) for p, _, _ in PARTS]
    assert all(p.status in ("error", "failed", "missing") for p in v.parts), [(p.part, p.status) for p in v.parts]
    assert any("NotImplementedError" in m for m in v.part("ce_softmax").messages)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_its_parts(verdicts, name):
    case, v = WRONG[name], verdicts[name]
    for part in v.parts:
        if part.part in case.loses:
            assert part.score < part.max_score and part.status != "passed", f"{part.part}: {part.messages}"
        else:
            assert part.score == part.max_score, f"{part.part} should be full marks: {part.messages}"
    first = v.part(case.loses[0])
    assert any(case.phrase in m for m in first.messages), first.messages


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_submission_gets_full_marks(verdicts, name):
    v = verdicts[name]
    assert v.score == v.max_score, [(p.part, p.messages) for p in v.parts if p.score < p.max_score]


@pytest.mark.slow
def test_messages_never_show_expected_values(verdicts):
    # No number in a failed part's messages is one of that part's expected answers (the student's
    # own value may be quoted: -0.849 for a forgotten minus, another part's answer for a swap).
    secrets = {"ce_softmax": (0.8489720, 2.5469160), "ce_normalized": (0.5121972, 1.5365915),
               "centered_difference": (12.01,)}
    for name in WRONG:
        for part in verdicts[name].parts:
            if part.status == "passed":
                continue
            for message in part.messages:
                numbers = [float(t) for t in re.findall(r"-?\d+\.\d+", message)]
                assert not any(abs(n - want) < 2e-3 for n in numbers for want in secrets.get(part.part, ())), \
                    (name, message)


def test_corpus_is_big_enough():
    assert len(WRONG) >= 8 and len(VALID) >= 3
    assert {p for p, _, _ in PARTS} <= {p for c in WRONG.values() for p in c.loses}   # every part has its mistakes
