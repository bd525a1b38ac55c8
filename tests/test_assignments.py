"""One harness for every assignment: each notebook under source/ (and tests/fixtures/source/) with its spec.

Contract: the spec grades exactly the notebook's autograded cells, with points from its metadata.
The reference scores full marks; the untouched student copy scores 0 without crashing; every case
of the assignment's corpus loses exactly the parts it names, with the words it names, and every
valid case gets full marks.  Adding an assignment adds data files here, not test code.

A corpus is ``tests/corpus/<id>/cases.py``: ``CASES``, a list of cases (dicts, or dataclasses with
the same fields), each edits of the source's solution cells:

* ``name``;
* ``edits``: {cell id: [(old, new), ...] (each old text once in the source's cell), or a whole new
  source (str), or None (the cell is deleted)};
* ``loses``: the parts that must not get full marks (every other part must); empty: a valid answer;
* ``words``: text the first lost part's messages must contain;
* ``either`` (optional): parts too close to a threshold to pin, measured; ``status`` (optional):
  the first lost part's status.

Optional module-level data: ``SEED`` (the grading seed; default below), ``LIMITS`` (sandbox limits
for the probes), ``MINIMUM`` ((wrong, valid) case counts the assignment promises), ``SECRETS``
({part: expected values no failed part's message may show}).

Every selected grading of the session (references, untouched copies, cases) runs once, in a pool of
two processes started as soon as the session's tests are selected (``start_gradings``, called by
tests/conftest.py), while the rest of the suite runs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.engine.verdict import grade_notebook, graded_parts, load_spec
from autograder.pipeline.check import release_notebooks
from autograder.pipeline.course import Course

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("source/*/*.ipynb"), *ROOT.glob("tests/fixtures/source/*/*.ipynb")])
IDS = [p.stem for p in SOURCES]
SEED = 11


def _corpus(assignment: str):
    if not (ROOT / "tests" / "corpus" / assignment / "cases.py").is_file():
        return None
    return importlib.import_module(f"corpus.{assignment}.cases")


def _case(case) -> dict:
    case = case if isinstance(case, dict) else dataclasses.asdict(case)
    return {"edits": {}, "loses": (), "words": "", "either": (), "status": None, **case}


CORPORA = {s.stem: _corpus(s.stem) for s in SOURCES}
CASES = [(s, _case(c)) for s in SOURCES for c in (CORPORA[s.stem].CASES if CORPORA[s.stem] else [])]


def _notebook(source: Path, edits: dict | None, out: Path) -> Path:
    """The source with its hidden tests and outputs cleared, and the case's edits applied."""
    nb = nbformat.read(source, as_version=4)
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput
    for pp in (ClearOutput(), ClearHiddenTests()):
        nb, _ = pp.preprocess(nb, {})
    kept = []
    for cell in nb.cells:
        cid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id")
        change = (edits or {}).get(cid, "unchanged")
        if change is None:
            continue
        if isinstance(change, str):
            cell.source = cell.source if change == "unchanged" else change
        else:
            for old, new in change:
                assert cell.source.count(old) == 1, f"{cid}: {old!r} is not (once) in the source's solution"
                cell.source = cell.source.replace(old, new)
        kept.append(cell)
    nb.cells = kept
    nbformat.write(nb, out)
    return out


def _student_copy(source: Path, out: Path) -> Path:
    released = ROOT / "assignments" / source.stem / source.name
    if released.exists() and source.parent.parent == ROOT / "source":
        return released
    # the pipeline's own generate steps; no gradebook, so the course folder is never written
    course = Course(source.parent.parent, source.parent.parent)
    nbformat.write(release_notebooks(course, source.stem)[source.stem], out)
    return out


def _grade(job: tuple):
    key, path, source, seed, limits, train = job
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return key, grade_notebook(path, source.stem, source=source, seed=seed, limits=limits, train=train)


def _trains(source, case) -> bool:
    """Whether the case's grading must train: not when every training part is one the case leaves
    unpinned (``either``), whose score no test reads (a few seconds each, 17 cases)."""
    parts = {t.part.name for t in load_spec(source.stem, source).trainings}
    return not parts or not parts <= set(case["either"])


def _jobs(items: list, tmp: Path) -> list[tuple]:
    """One grading job per (assignment, submission) the selected harness tests read, those that
    train first (the longest: the pool's last job is then a short one)."""
    jobs = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if getattr(item, "module", None) is not sys.modules[__name__] or "source" not in params:
            continue
        source, corpus = params["source"], CORPORA[params["source"].stem]
        cases = [c for s, c in CASES if s == source]
        if "case" in params:
            cases = [params["case"]]
        elif item.originalname == "test_reference_full_marks_untouched_zero":
            cases = []
        elif item.originalname != "test_messages_keep_secrets":
            continue
        folder = tmp / source.stem
        folder.mkdir(exist_ok=True)
        paths = {c["name"]: _notebook(source, c["edits"], folder / f"{c['name']}.ipynb") for c in cases}
        if not cases or item.originalname == "test_messages_keep_secrets":
            paths.update(reference=_notebook(source, None, folder / "reference.ipynb"),
                         student_copy=_student_copy(source, folder / "copy.ipynb"))
        seed, limits = getattr(corpus, "SEED", SEED), getattr(corpus, "LIMITS", None)
        trains = {c["name"]: _trains(source, c) for c in cases}
        jobs += [((source.stem, name), path, source, seed, limits, trains.get(name, True))
                 for name, path in paths.items()]
    return sorted({job[0]: job for job in jobs}.values(), key=lambda job: not job[-1])


# The gradings of a session started in the background (``start_gradings``): {"proc", "folder"}.
_STARTED: dict = {}


def start_gradings(session) -> None:
    """Called by tests/conftest.py once the session's tests are selected: every grading the
    harness's tests will read starts now, in a process of its own (``_grade_all``, two workers, a
    lower priority), so the rest of the suite runs beside them instead of after them.  A process,
    not a pool in pytest's own: pytest's later forks must not copy a pool's threads."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    folder = Path(tempfile.mkdtemp(prefix="nnkit-harness-"))
    jobs = _jobs(session.items, folder)
    if not jobs:
        shutil.rmtree(folder)
        return
    (folder / "jobs.pickle").write_bytes(pickle.dumps(jobs))
    with open(folder / "log.txt", "wb") as log:
        path = os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
        proc = subprocess.Popen(["nice", "-n", "5", sys.executable, __file__, str(folder)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": path}, stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _STARTED.update(proc=proc, folder=folder)


def stop_gradings() -> None:
    """At the session's end, whether or not a test read them (``-x``, an interrupt)."""
    if _STARTED:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(_STARTED["proc"].pid, signal.SIGKILL)
        _STARTED["proc"].wait()
        shutil.rmtree(_STARTED["folder"], ignore_errors=True)
        _STARTED.clear()


def _grade_all(folder: Path) -> None:
    """The background process: grade jobs.pickle in two workers, write verdicts.pickle.  It ends
    with the session that started it (its stdin, pytest's pipe, closes when pytest goes)."""
    def lifeline():
        os.read(0, 1)       # a bare read: a lock taken by sys.stdin here would be copied held into the workers
        os.killpg(0, signal.SIGKILL)
    threading.Thread(target=lifeline, daemon=True).start()
    jobs = pickle.loads((folder / "jobs.pickle").read_bytes())
    with ProcessPoolExecutor(max_workers=2) as pool:
        verdicts = dict(pool.map(_grade, jobs))
    (folder / "verdicts.pickle").write_bytes(pickle.dumps(verdicts))


@pytest.fixture(scope="session")
def verdicts(request, tmp_path_factory):
    """(assignment, name) -> Verdict for every grading the session's selected tests ask for."""
    if _STARTED:
        if _STARTED["proc"].wait() != 0:
            raise RuntimeError("the harness's background gradings failed:\n" +
                               (_STARTED["folder"] / "log.txt").read_text()[-5000:])
        return pickle.loads((_STARTED["folder"] / "verdicts.pickle").read_bytes())
    return dict(map(_grade, _jobs(request.session.items, tmp_path_factory.mktemp("harness"))))


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_contract(source):
    parts = graded_parts(source.stem, source)
    assert parts and all(points > 0 for *_, points in parts)
    assert len({grade_id for _, grade_id, _ in parts}) == len({name for name, _, _ in parts}) == len(parts)


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_corpus_covers_every_part(source):
    """Every graded part has a mistake that loses it, a valid alternative exists, and the corpus
    is as large as the assignment promises."""
    cases = [c for s, c in CASES if s == source]
    if not cases:
        pytest.skip(f"{source.stem} has no corpus (tests/corpus/{source.stem}/cases.py)")
    wrong, valid = [c for c in cases if c["loses"]], [c for c in cases if not c["loses"]]
    assert {name for name, _, _ in graded_parts(source.stem, source)} <= {p for c in wrong for p in c["loses"]}
    assert valid and all(c["words"] for c in wrong)
    least = getattr(CORPORA[source.stem], "MINIMUM", (1, 1))
    assert len(wrong) >= least[0] and len(valid) >= least[1], (len(wrong), len(valid), least)
    assert len({c["name"] for c in cases}) == len(cases)


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_reference_full_marks_untouched_zero(source, verdicts):
    v = verdicts[(source.stem, "reference")]
    assert v.score == v.max_score == sum(p for *_, p in graded_parts(source.stem, source)), v.to_json()
    v = verdicts[(source.stem, "student_copy")]
    assert v.score == 0 and all(p.status in ("error", "failed", "missing") for p in v.parts), v.to_json()
    assert any(re.search("not ?implemented", m, re.I) for m in v.parts[0].messages), v.parts[0].messages


@pytest.mark.slow
@pytest.mark.parametrize("source, case", CASES, ids=[f"{s.stem}-{c['name']}" for s, c in CASES])
def test_corpus(source, case, verdicts):
    v = verdicts[(source.stem, case["name"])]
    for part in v.parts:
        if part.part in case["either"]:
            continue
        if part.part in case["loses"]:
            assert part.score < part.max_score and part.status != "passed", (part.part, part.messages)
        else:
            assert part.score == part.max_score, (part.part, part.messages)
    if case["loses"]:
        first = v.part(case["loses"][0])
        assert any(case["words"] in m for m in first.messages), first.messages
        assert case["status"] in (None, first.status), (first.status, first.messages)


@pytest.mark.slow
@pytest.mark.parametrize("source", [s for s in SOURCES if getattr(CORPORA[s.stem], "SECRETS", None)],
                         ids=[s.stem for s in SOURCES if getattr(CORPORA[s.stem], "SECRETS", None)])
def test_messages_keep_secrets(source, verdicts):
    """No number in a failed part's messages is one of that part's expected answers (the student's
    own value may be quoted: -0.849 for a forgotten minus, another part's answer for a swap)."""
    secrets = CORPORA[source.stem].SECRETS
    graded = [v for (a, n), v in verdicts.items() if a == source.stem]
    for v in graded:
        for part in v.parts:
            numbers = [float(t) for m in part.messages for t in re.findall(r"-?\d+\.\d+", m)]
            assert part.status == "passed" or not any(
                abs(n - want) < 2e-3 for n in numbers for want in secrets.get(part.part, ())), part.messages


if __name__ == "__main__":      # python tests/test_assignments.py FOLDER: see start_gradings
    _grade_all(Path(sys.argv[1]))
