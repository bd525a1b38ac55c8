"""One harness for every assignment: each notebook under source/ (and tests/fixtures/source/) with its spec.

Contract: the spec grades exactly the notebook's autograded cells, with points from its metadata.
The reference scores full marks; the untouched student copy scores 0 without crashing; every case
of the assignment's corpus (data: tests/fixtures/corpus/<id>.py, edits of the source's solution
cells) loses exactly the parts it names, with the words it names (a part it lists under "either",
with the reason, may go either way: a wrong gradient a short training run may or may not survive).
Adding an assignment adds data files here, not test code.  The corpus cases are graded two at a
time (see corpus_verdicts).
(mlp's and backprop's corpora still run in test_mlp_corpus.py and test_backprop_corpus.py.)
"""
from __future__ import annotations

import copy
import importlib.util
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.engine.verdict import grade_notebook, graded_parts

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("source/*/*.ipynb"), *ROOT.glob("tests/fixtures/source/*/*.ipynb")])
IDS = [p.stem for p in SOURCES]
CORPORA = ROOT / "tests" / "fixtures" / "corpus"
SEED = 11
WORKERS = 2


def _corpus(assignment: str) -> list[dict]:
    path = CORPORA / f"{assignment}.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"corpus_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


CASES = [(source, case) for source in SOURCES for case in _corpus(source.stem)]


def _notebook(source: Path, edits: dict | None, out: Path) -> Path:
    nb = nbformat.read(source, as_version=4)
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput
    for pp in (ClearOutput(), ClearHiddenTests()):
        nb, _ = pp.preprocess(nb, {})
    for cell in nb.cells:
        for old, new in (edits or {}).get(cell.get("id"), []):
            assert old in cell.source, f"{cell.get('id')}: {old!r} is not in the source's solution"
            cell.source = cell.source.replace(old, new)
    nbformat.write(nb, out)
    return out


def _student_copy(source: Path, out: Path) -> Path:
    released = ROOT / "assignments" / source.stem / source.name
    if released.exists() and source.parent.parent == ROOT / "source":
        return released
    nb = nbformat.read(source, as_version=4)
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions
    for pp in (ClearOutput(), ClearSolutions(), ClearHiddenTests()):
        nb, _ = pp.preprocess(copy.deepcopy(nb), {})
    nbformat.write(nb, out)
    return out


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_contract(source):
    parts = graded_parts(source.stem, source)
    assert parts and all(points > 0 for *_, points in parts)
    assert len({grade_id for _, grade_id, _ in parts}) == len({name for name, _, _ in parts}) == len(parts)


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_reference_full_marks_untouched_zero(source, tmp_path):
    v = grade_notebook(_notebook(source, None, tmp_path / "ref.ipynb"), source.stem, source=source, seed=SEED)
    assert v.score == v.max_score == sum(p for *_, p in graded_parts(source.stem, source)), v.to_json()
    v = grade_notebook(_student_copy(source, tmp_path / "copy.ipynb"), source.stem, source=source, seed=SEED)
    assert v.score == 0 and all(p.status in ("error", "failed", "missing") for p in v.parts), v.to_json()


def _grade_case(source: Path, case: dict):
    with tempfile.TemporaryDirectory(prefix="corpus-case-") as tmp:
        return grade_notebook(_notebook(source, case["edits"], Path(tmp) / "case.ipynb"), source.stem,
                              source=source, seed=SEED)


@pytest.fixture(scope="session")
def corpus_verdicts(request) -> dict:
    """Every selected corpus case graded when the first one is asked for, WORKERS at a time: a case is
    one sandboxed run after another, each single-threaded, so two share a two-core machine well."""
    selected = [item.callspec.params for item in request.session.items
                if getattr(item, "originalname", None) == "test_corpus"]
    pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("fork"))
    futures = {(str(p["source"]), p["case"]["name"]): pool.submit(_grade_case, p["source"], p["case"])
               for p in selected}
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.mark.slow
@pytest.mark.parametrize("source, case", CASES, ids=[f"{s.stem}-{c['name']}" for s, c in CASES])
def test_corpus(source, case, corpus_verdicts):
    v = corpus_verdicts[str(source), case["name"]].result()
    for part in v.parts:
        if part.part in case.get("either", ()):     # the case's data says why this part may go either way
            continue
        if part.part in case["loses"]:
            assert part.score < part.max_score and part.status != "passed", (part.part, part.messages)
        else:
            assert part.score == part.max_score, (part.part, part.messages)
    if case["loses"]:
        assert any(case["words"] in m for m in v.part(case["loses"][0]).messages), v.part(case["loses"][0]).messages
