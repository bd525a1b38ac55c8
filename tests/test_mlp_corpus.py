"""The `mlp` verdict engine against its corpus (tests/corpus/mlp/cases.py).

Every submission is built at test time from the assignment's source notebook
(source/mlp/mlp.ipynb) and graded end to end: extraction, the sandboxed
driver, diagnosis and the training run.  Grading all cases takes minutes, so
they are graded once per session in a process pool (or one by one on a
pytest-xdist worker) and marked slow.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.assignments.mlp import spec
from autograder.engine.verdict import grade_notebook, graded_parts
from autograder.isolation.sandbox import Limits
from corpus.mlp import cases

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "mlp"
SEED = 12345  # the probes are random; the corpus pins one draw
# The quick run gets 10 s of CPU instead of its default 20 so the hanging case costs less
# (the reference needs ~1 s); training keeps its default limits.
LIMITS = {
    "quick": Limits(wall_seconds=30, cpu_seconds=10, memory_bytes=2 << 30, file_bytes=32 << 20, nproc=64, output_bytes=1 << 20)
}


WRONG = {c.name: c for c in cases.WRONG}
VALID = {c.name: c for c in cases.VALID}


SOURCE = ROOT / "source" / "mlp" / "mlp.ipynb"
STUDENT_COPY = ROOT / "assignments" / "mlp" / "mlp.ipynb"  # as released, untouched


def build(source: Path, cells: dict | None, out: Path) -> Path:
    nb = nbformat.read(source, as_version=4)
    kept = []
    for cell in nb.cells:
        cid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id")
        if cells and cid in cells:
            if cells[cid] is cases.REMOVE:
                continue
            cell.source = cells[cid]
        kept.append(cell)
    nb.cells = kept
    nbformat.write(nb, out)
    return out


def _grade(job: tuple) -> tuple:
    name, path, source = job
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return name, grade_notebook(path, source=source, seed=SEED, limits=LIMITS)


@pytest.fixture(scope="session")
def verdicts(tmp_path_factory):
    """name -> Verdict for every case, the reference and the untouched student copy."""
    tmp = tmp_path_factory.mktemp("mlp-corpus")
    source = SOURCE
    jobs = [("reference", build(source, None, tmp / "reference.ipynb"), source), ("student_copy", STUDENT_COPY, source)]
    for name, case in {**WRONG, **VALID}.items():
        jobs.append((name, build(source, case.cells, tmp / f"{name}.ipynb"), source))
    if os.environ.get("PYTEST_XDIST_WORKER"):  # xdist spreads the tests: grade on demand
        lazy = {job[0]: job for job in jobs}

        class OnDemand(dict):
            def __missing__(self, key):
                self[key] = _grade(lazy[key])[1]
                return self[key]

        return OnDemand()
    with ProcessPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(_grade, jobs))


def _scores(verdict) -> dict:
    return {p.part: (p.score, p.max_score) for p in verdict.parts}


@pytest.mark.slow
def test_reference_gets_full_marks(verdicts):
    v = verdicts["reference"]
    assert v.score == v.max_score == sum(pts for *_, pts in graded_parts("mlp")), [
        (p.part, p.messages) for p in v.parts if p.score < p.max_score
    ]


@pytest.mark.slow
def test_untouched_student_copy_gets_nothing(verdicts):
    v = verdicts["student_copy"]
    assert v.score == 0, _scores(v)
    assert all(p.status in ("error", "failed", "missing") for p in v.parts), [(p.part, p.status) for p in v.parts]
    assert any("not implemented" in m for m in v.part("linear").messages)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_its_parts(verdicts, name):
    case, v = WRONG[name], verdicts[name]
    for part in v.parts:
        if part.part in case.either:
            continue
        if part.part in case.loses:
            assert part.score == 0, f"{part.part} should score 0: {part.messages}"
        else:
            assert part.score == part.max_score, f"{part.part} should be full marks: {part.messages}"
    first = v.part(case.loses[0])
    assert any(case.phrase in m for m in first.messages), first.messages
    if case.status:
        assert first.status == case.status, (first.status, first.messages)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_submission_gets_full_marks(verdicts, name):
    v = verdicts[name]
    assert v.score == v.max_score, [(p.part, p.messages) for p in v.parts if p.score < p.max_score]


def test_corpus_is_big_enough():
    assert len(WRONG) >= 30 and len(VALID) >= 8
    assert set(spec.CLASSES) <= {c.loses[0] for c in WRONG.values()}  # every part has its mistakes
