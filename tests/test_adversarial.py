"""The adversarial corpus (tests/corpus/mlp_adversarial/cases.py) through the whole pipeline.

One `grade-all` on a temporary course: every attack plus two honest submissions
(the reference, and the reference with one known mistake).  For each attack: the
parts it sits on score exactly what their honest (wrong) code scores, every other
part keeps full marks, and it is flagged.  Around the run: the gradebook's other
rows are untouched, the shared grader cache too, the archive holds the originals
byte for byte, no process of any submission survives, and no feedback page or
report contains a line of the hidden tests.  The honest submissions are also
graded alone, in a course of their own, and must get the same grades.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import signal
import time
from pathlib import Path

import nbformat
import pytest

from autograder.assignments.mlp import spec
from autograder.cli import main
from autograder.engine.verdict import graded_parts
from autograder.pipeline.course import ROOT, Course
from corpus.mlp_adversarial import cases

SOURCE = ROOT / "source" / "mlp" / "mlp.ipynb"
ASSIGNMENT = "mlp"
LIMITS = ["--cell-timeout", "20", "--wall", "150", "--memory", "2G", "--workers", "2", "--quiet"]

slow = pytest.mark.slow


CASES = {c.name: c for c in cases.CASES}


# ---------------------------------------------------------------- building the submissions
def reference_notebook() -> nbformat.NotebookNode:
    """The source notebook as the instructor's solution, hidden tests cut (what a student could hand in)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearOutput, ComputeChecksums, LockCells

    nb = nbformat.read(SOURCE, as_version=4)
    for pp in (LockCells(), ClearOutput(), ComputeChecksums(), ClearHiddenTests(), ClearMarkScheme()):
        nb, _ = pp.preprocess(nb, {})
    return nb


def build(cells: dict, add: list, values: dict) -> bytes:
    nb = reference_notebook()
    changes = {**cases.LIGHT_CELLS, **cells}
    ids = {c.get("id") for c in nb.cells}
    assert set(changes) <= ids, f"cells not in the source notebook: {set(changes) - ids}"
    kept = []
    for cell in nb.cells:
        cid = cell.get("id")
        if cid in changes:
            if changes[cid] is cases.REMOVE:
                continue
            cell.source = fill(changes[cid], values)
        kept.append(cell)
        for i, (where, code) in enumerate(add):
            if where == cid:
                kept.append(nbformat.v4.new_code_cell(fill(code, values), id=f"added-{cid}-{i}"))
    nb.cells = kept
    return nbformat.writes(nb).encode()


def fill(code: str, values: dict) -> str:
    for key, value in values.items():
        code = code.replace("{" + key + "}", value)
    return code


def hidden_test_lines() -> list[str]:
    """Distinctive lines of every hidden-test region of the source notebook."""
    lines = []
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        for region in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [line.strip() for line in region.splitlines() if len(line.strip()) >= 30]
    assert lines, "the source notebook has no hidden tests to look for"
    return lines


def our_processes(marker: str) -> list[tuple[int, str]]:
    """Processes whose command line names the test's temporary folder (kernels, drivers, their forks)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            found.append((int(entry.name), cmd[:200]))
    return found


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, str]:
    """Every file under folder (relative path -> sha256), and every folder (-> "dir")."""
    return {str(p.relative_to(folder)): ("dir" if p.is_dir() else _sha(p)) for p in folder.rglob("*")}


def _grade_all(folder: Path, course: Path) -> None:
    assert main(["grade-all", str(folder), "--assignment", ASSIGNMENT, "--course", str(course), *LIMITS]) == 0


def _parts(course: Path, student: str) -> dict[str, float]:
    from autograder.pipeline.autograde import summary

    summ = summary(Course.at(course), student, ASSIGNMENT)
    return {p["cell_id"]: p["score"] for p in summ["parts"] if not p["needs_manual_grade"]}


def _rows(course: Path) -> dict[str, dict]:
    reports = sorted((course / "reports").glob("*.json"), key=os.path.getmtime)
    return {r["student"]: r for r in json.loads(reports[-1].read_text())["rows"]}


def _gradebook_dump(course: Path) -> dict:
    import sqlite3

    db = sqlite3.connect(f"file:{course / 'gradebook.db'}?mode=ro", uri=True)
    try:
        return {table: sorted(map(repr, db.execute(f"SELECT * FROM {table}").fetchall())) for table in ("student", "assignment")}
    finally:
        db.close()


N_WEIGHTS = 784 * 128 + 128 + 128 * 10 + 10


def _b64(arrays) -> str:
    import base64

    import numpy as np

    return base64.b64encode(np.concatenate([np.ravel(a) for a in arrays]).astype(np.float16).tobytes()).decode()


FAKE_VALUES = {
    "COURSE": "/srv/course",
    "ROOT": str(ROOT),
    "CACHE": "/tmp/nnkit-grader-0",
    "LABELS": json.dumps([7] * 10_000),
    "WEIGHTS": _b64([[0.0] * N_WEIGHTS]),
}


def pretrained_weights() -> str:
    """A 784-128-10 ReLU network trained here with the source notebook's own solution (trusted code),
    as a student could bring one from elsewhere; float16, base64."""
    import numpy as np

    import nnkit
    from autograder.engine.extract import extract

    ns: dict = {"__name__": "pretrained"}
    for cell in extract(SOURCE, SOURCE).program():
        if cell["id"] in ("setup", "linear", "relu", "softmax_ce_loss", "sgd"):
            exec(compile(cell["source"], f"<source {cell['id']}>", "exec"), ns)  # noqa: S102 - the source's own code
    data = nnkit.load_mnist()
    x, y = data["train"]
    layers = [ns["Linear"](784, 128, rng=1), ns["ReLU"](), ns["Linear"](128, 10, rng=2)]
    model, loss, opt = nnkit.Sequential(*layers), ns["SoftmaxCrossEntropyLoss"](), ns["SGD"](0.1, momentum=0.9)
    order = np.random.default_rng(0)
    for _ in range(6):
        for idx in np.array_split(order.permutation(len(x)), len(x) // 100):
            loss.forward(model.forward(x[idx]), y[idx])
            model.backward(loss.backward())
            opt.step(model)
    params = [layers[0].W, layers[0].b, layers[2].W, layers[2].b]
    from autograder.engine import training

    acc = training.accuracy(
        spec.SPEC.training,
        SOURCE,
        {k: np.asarray(v, dtype=np.float16).astype(np.float64) for k, v in zip(("0.W", "0.b", "2.W", "2.b"), params)},
        None,
    )  # plain MNIST
    assert acc >= 0.972, f"the stand-in pretrained network only reaches {acc:.2%}"
    return _b64(params)


@pytest.mark.parametrize("name", sorted(CASES))
def test_scan_flags_each_attack(name):
    """The static scan alone (no run): every suspicious flag a case expects, none on honest work.
    Not slow, so a scan regression shows up without the pipeline run."""
    from autograder.isolation import scan

    case = CASES[name]
    found = scan.flags(scan.scan_notebook(json.loads(build(case.cells, case.add, FAKE_VALUES)), ASSIGNMENT))
    assert {f for f in case.flags if f.startswith("suspicious")} <= set(found), found


@pytest.mark.parametrize("name", sorted(cases.HONEST))
def test_scan_quiet_on_honest(name):
    from autograder.isolation import scan

    found = scan.flags(scan.scan_notebook(json.loads(build(cases.HONEST[name][0], [], FAKE_VALUES)), ASSIGNMENT))
    assert found == []


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from autograder.engine import training

    tmp = tmp_path_factory.mktemp("adversarial")
    # The grader's shared train-split cache lives in this run's own folder: the write-outside
    # attack aims at it, and a broken sandbox must not poison the machine's real cache.
    cache = tmp / "grader-cache"
    old_cache = os.environ.get("NNKIT_GRADER_CACHE")
    os.environ["NNKIT_GRADER_CACHE"] = str(cache)
    course = tmp / "course"
    # Both courses' seeds' copies of the train split exist before the snapshot of the cache.
    for folder in (course, tmp / "alone-course"):
        training.train_files(Course.at(folder).grader_seed(), spec.SPEC.training.data)
    import nnkit

    labels = nnkit.load_mnist()["test"][1]
    values = {
        "COURSE": str(course),
        "ROOT": str(ROOT),
        "CACHE": str(cache),
        "LABELS": json.dumps([int(v) for v in labels]),
        "WEIGHTS": pretrained_weights(),
    }

    handins = tmp / "handins"
    originals = {}
    for name, case in CASES.items():
        originals[name] = build(case.cells, case.add, values)
    for name, (cells, _) in cases.HONEST.items():
        originals[name] = build(cells, [], values)
    for student, data in originals.items():
        folder = handins / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_bytes(data)

    # A row that no submission of this run may touch.
    from nbgrader.api import Gradebook

    with Gradebook(Course.at(course).db_url) as gb:
        gb.update_or_create_student("bystander", first_name="Grace", last_name="Hopper", email="gh@example.org")
    cache_before = _tree(cache)

    started = time.monotonic()
    try:
        _grade_all(handins, course)
        seconds = time.monotonic() - started
        survivors = our_processes(str(tmp)) + our_processes(f"sleep {cases.DAEMON_MARKER}")
        for pid, _ in survivors:  # ours: started by this test's submissions
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        # the honest submissions alone, in a course of their own
        alone = tmp / "alone"
        for student in cases.HONEST:
            folder = alone / student / ASSIGNMENT
            folder.mkdir(parents=True)
            (folder / f"{ASSIGNMENT}.ipynb").write_bytes(originals[student])
        _grade_all(alone, tmp / "alone-course")
    finally:
        if old_cache is None:
            os.environ.pop("NNKIT_GRADER_CACHE", None)
        else:
            os.environ["NNKIT_GRADER_CACHE"] = old_cache
    print(f"\nadversarial grade-all: {len(originals)} submissions in {seconds:.0f} s")
    return {
        "tmp": tmp,
        "course": course,
        "rows": _rows(course),
        "originals": originals,
        "seconds": seconds,
        "survivors": survivors,
        "cache": cache,
        "cache_before": cache_before,
        "alone": tmp / "alone-course",
    }


def _expected_parts(zero) -> dict[str, float]:
    return {grade_id: (0.0 if p in zero else points) for p, grade_id, points in graded_parts(ASSIGNMENT)}


@slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_attack_earns_nothing_and_is_flagged(graded, name):
    case = CASES[name]
    row = graded["rows"][name]
    assert "grader error" not in row["flags"], row["problems"]
    missing = [f for f in case.flags if f not in row["flags"]]
    assert not missing, f"{name}: flags {missing} missing from {row['flags']}"
    assert _parts(graded["course"], name) == _expected_parts(case.zero), row


ON_HONEST_MISTAKE = sorted(n for n, c in CASES.items() if c.zero == cases.HONEST["honest-mistake"][1])


@slow
@pytest.mark.parametrize("name", ON_HONEST_MISTAKE)
def test_attack_scores_what_its_honest_code_scores(graded, name):
    """Attacks on top of the honest mistake (a wrong Sigmoid) score exactly what the honest one does."""
    assert _parts(graded["course"], name) == _parts(graded["course"], "honest-mistake")


@slow
def test_honest_submissions_grade_as_when_alone(graded):
    for student, (_, zero) in cases.HONEST.items():
        together = _parts(graded["course"], student)
        assert together == _expected_parts(zero), student
        assert together == _parts(graded["alone"], student), student
        flags = set(graded["rows"][student]["flags"])
        assert not {
            f
            for f in flags
            if f.startswith(("suspicious", "review", "grader error", "timeout", "memory", "kernel died", "cells restored"))
        }, flags


@slow
def test_gradebook_other_rows_untouched(graded):
    dump = _gradebook_dump(graded["course"])
    assert any("bystander" in r and "Grace" in r and "Hopper" in r for r in dump["student"]), dump["student"]
    assert not any("pwned" in r for rows in dump.values() for r in rows)
    students = {eval(r)[0] for r in dump["student"]}  # noqa: S307 - our own repr of sqlite rows
    assert students == set(graded["originals"]) | {"bystander"}


@slow
def test_shared_cache_untouched(graded):
    assert _tree(graded["cache"]) == graded["cache_before"]


@slow
def test_nothing_outside_a_job_folder_was_written(graded):
    """write-outside and the daemon append cases.MARK wherever they can: course, cache, other jobs."""
    mark = cases.MARK.encode()
    own = [graded["course"] / "work" / name for name in ("write-outside", "detached-daemon")]  # theirs to write
    hit = []
    for path in graded["tmp"].rglob("*"):
        if any(path.is_relative_to(folder) for folder in own):
            continue
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 64 * 2**20:
            if mark in path.read_bytes():
                hit.append(path)
    assert not hit, hit


@slow
def test_archive_keeps_originals_byte_for_byte(graded):
    archive = graded["course"] / "archive"
    for student, data in graded["originals"].items():
        path = archive / student / ASSIGNMENT / hashlib.sha256(data).hexdigest() / f"{ASSIGNMENT}.ipynb"
        assert path.read_bytes() == data, path
    # what the planted-results attack made in its own job folder never reaches the archive
    assert not [p for p in archive.rglob("planted-*") if p.name != "planted-results"]


@slow
def test_no_process_survives(graded):
    assert graded["survivors"] == [], graded["survivors"]


@slow
def test_feedback_and_reports_never_show_hidden_tests(graded):
    lines = hidden_test_lines()
    pages = list((graded["course"] / "feedback").rglob("feedback.html"))
    assert len(pages) == len(graded["originals"])
    documents = pages + list((graded["course"] / "reports").iterdir())
    for doc in documents:
        text = doc.read_text()
        leaked = [line for line in lines if line in text or html.escape(line) in text]
        assert not leaked, f"{doc}: {leaked[:3]}"
        assert "BEGIN HIDDEN TESTS" not in text, doc


@slow
def test_leaked_inputs_are_masked_in_feedback(graded):
    page = next((graded["course"] / "feedback" / "leak-inputs").rglob("feedback.html")).read_text()
    assert "hidden input:" in page  # the message is there, its numbers are not
    assert not re.search(r"\d\.\d{5,}", page), re.findall(r".{40}\d\.\d{5,}.{10}", page)[:3]


@slow
def test_whole_run_is_bounded(graded):
    assert graded["seconds"] < 600, graded["seconds"]


@slow
def test_failed_verdict_never_falls_back_to_in_kernel_scores(tmp_path, monkeypatch):
    """When the out-of-process verdict fails (here: made to), the forgeable in-kernel scores must
    not become the grade: the input-transformer attack passes every in-kernel test."""
    import autograder.engine.verdict as verdict

    def broken(*args, **kwargs):
        raise RuntimeError("the verdict fails for this test")

    monkeypatch.setattr(verdict, "grade_notebook", broken)  # one local worker is forked: it sees the patch
    case = CASES["input-transformer"]
    folder = tmp_path / "handins" / "input-transformer" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_bytes(build(case.cells, case.add, FAKE_VALUES))
    assert main(["grade-all", str(tmp_path / "handins"), "--assignment", ASSIGNMENT, "--course",
                 str(tmp_path / "course"), *LIMITS, "--workers", "1"]) == 0
    row = _rows(tmp_path / "course")["input-transformer"]
    assert "grader error" in row["flags"], row
    assert _parts(tmp_path / "course", "input-transformer") == _expected_parts(
        tuple(p for p, _, _ in graded_parts(ASSIGNMENT))
    ), row
