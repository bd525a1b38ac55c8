"""The out-of-process verdict: grade one submitted notebook, part by part.

The student's cells run only inside ``autograder.isolation.sandbox`` through
``sandboxed/driver.py``; this trusted process writes the probe inputs,
reads back plain JSON and .npy/.npz (allow_pickle=False), and compares them
with the source notebook's own solution run on the same probes.

Isolation between parts: every quick probe runs in one sandbox run; if that
run dies or times out, the cell or probe that was running is charged to its
part and the run is repeated without it, so one hanging or crashing part does
not zero the others.  Training gets a run of its own with its own time limit.

The restart-and-blame loop, the reference comparison and the part rules are
the one engine's (``autograder/engine/grade.py``); each assignment's spec
(``autograder/assignments/<id>/spec.py``) says what to probe and how one part's
results are judged: mlp all-or-nothing per part, backprop per entry and per case.

Safe to call from many processes at once: each call has its own job folder,
and the only shared files (the MNIST train split for the sandbox, disguised
per grading seed: see engine/training.py) are written once by atomic rename.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograder.engine import carry, reference
from autograder.engine.extract import extract
from autograder.engine.grade import check_contract, grade
from autograder.engine.job import default_limits
from autograder.engine.outcome import Context, Verdict


def _resolve_seed(seed: int | None) -> int:
    """Explicit seed, else $NNKIT_GRADER_SEED (one run's workers then agree), else one per process."""
    if seed is not None:
        return int(seed)
    if os.environ.get("NNKIT_GRADER_SEED"):
        return int(os.environ["NNKIT_GRADER_SEED"])
    global _PROCESS_SEED
    if _PROCESS_SEED is None:
        _PROCESS_SEED = secrets.randbelow(1 << 31)
    return _PROCESS_SEED


_PROCESS_SEED: int | None = None


def submission_seed(seed: int, ex) -> int:
    """The seed of one submission's hidden inputs: a one-way function of the course's secret seed
    and the code graded, so a submission that leaks its own inputs learns neither the secret nor
    anyone else's inputs, and identical code meets identical inputs."""
    code = json.dumps([ex.setup, sorted(ex.cells.items())]).encode()
    digest = hashlib.sha256(f"nnkit probes {int(seed)}\0".encode() + code).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def course_specs(source: Path) -> Path:
    """Where a course keeps the specs of assignments that are not built in: ``specs/`` beside
    its source folder (source/<id>/<id>.ipynb -> specs/<id>.py), never inside source/<id>/,
    whose files are released to students."""
    return Path(source).resolve().parent.parent.parent / "specs"


def gradable(source_root: Path | None = None) -> list[str]:
    """Assignments with a spec: built in (``autograder/assignments/<id>/spec.py`` defining
    ``SPEC``), or, for a course whose source folder is ``source_root``, ``specs/<id>.py`` beside it."""
    here = Path(__file__).resolve().parents[1] / "assignments"
    found = {p.parent.name for p in here.glob("*/spec.py") if (p.parent / "__init__.py").is_file()
             and "\nSPEC = " in p.read_text()}
    if source_root is not None:
        found |= {p.stem for p in (Path(source_root).resolve().parent / "specs").glob("*.py")}
    return sorted(found)


def load_spec(assignment: str, source: Path | None = None):
    """The assignment's Spec; an assignment without one is refused, never graded some other way."""
    if assignment in gradable():
        return importlib.import_module(f"autograder.assignments.{assignment}.spec").SPEC
    path = course_specs(source) / f"{assignment}.py" if source else None
    if path is None or not path.is_file():
        raise ValueError(f"no grading spec for assignment {assignment!r}: write autograder/assignments/"
                         f"{assignment}/spec.py (or specs/{assignment}.py beside the course's source folder) "
                         "defining SPEC; see docs/design.md")
    module_spec = importlib.util.spec_from_file_location(f"course_specs.{assignment}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module      # dataclasses look their module up there
    module_spec.loader.exec_module(module)
    return module.SPEC


def graded_parts(assignment: str, source: Path | None = None) -> list[tuple[str, str, float]]:
    """(part, grade_id, points) in report order: the spec's parts with the source's points."""
    source = Path(source) if source else reference.source_notebook(assignment)
    spec = load_spec(assignment, source)
    pts = check_contract(spec, source)
    return [(p.name, p.grade_id, pts[p.grade_id]) for p in spec.all_parts()]


def grade_notebook(path, assignment: str = "mlp", *, seed: int | None = None, limits=None,
                   workdir=None, source=None, train: bool = True) -> Verdict:
    """Grade one submission.  ``limits``: a sandbox Limits for the quick run
    (training keeps its own) or a dict {"quick": .., "train": ..}.  ``source``:
    the assignment's source notebook (default source/<assignment>/<assignment>.ipynb).
    ``train=False`` skips the training part (scored 0, flagged) for fast checks."""
    start = time.perf_counter()
    source = Path(source) if source else reference.source_notebook(assignment)
    spec = load_spec(assignment, source)
    seed = _resolve_seed(seed)
    if not isinstance(limits, dict):
        limits = {"quick": limits}
    quick_limits = limits.get("quick") or default_limits("quick")
    train_limits = limits.get("train") or default_limits("train")

    ex = extract(path, source)
    flags = list(ex.flags)

    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="nnkit-grade-")) if own_dir else Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    try:
        parts = grade(Context(ex, source, seed, {"quick": quick_limits, "train": train_limits},
                              root, flags, train, submission_seed(seed, ex), carry.prepare(source, root / "carry")), spec)
    finally:
        if own_dir:    # rmtree does not follow the symlinks student code may have planted
            shutil.rmtree(root, ignore_errors=True)
    cell_of = {p.name: p.cell for p in spec.all_parts()}
    for cell, lines in ex.magics.items():
        for p in parts:
            if cell_of[p.part] == cell:
                p.messages.append(f"removed {len(lines)} IPython magic/shell line(s) from your cell")
    return Verdict(assignment, parts, flags, round(time.perf_counter() - start, 3), seed)


if __name__ == "__main__":   # python -m autograder.engine.verdict NOTEBOOK [ASSIGNMENT [SOURCE]]
    v = grade_notebook(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "mlp",
                       source=sys.argv[3] if len(sys.argv) > 3 else None)
    print(v.to_json())
