"""The out-of-process verdict: grade one submitted notebook, part by part.

The student's cells run only inside ``autograder.isolation.sandbox`` through
``sandboxed/driver.py``; the trusted process writes the probe inputs, reads back plain
JSON and .npy/.npz (allow_pickle=False), and compares them with the source notebook's
own solution run on the same probes.  What is graded, and how, is the assignment's spec
(``autograder/assignments/<id>/spec.py``); the one engine that runs every spec is
``grade.py``.

Safe to call from many processes at once: each call has its own job folder, and the
only shared files (the MNIST train split for the sandbox, disguised per grading seed:
see assignments/mlp/training.py) are written once by atomic rename.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograder.engine import grade, reference, spec as specs
from autograder.engine.extract import extract
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


def grade_notebook(path, assignment: str = "mlp", *, seed: int | None = None, limits=None,
                   workdir=None, source=None, train: bool = True) -> Verdict:
    """Grade one submission.  ``limits``: a sandbox Limits for the quick run
    (training keeps its own) or a dict {"quick": .., "train": ..}.  ``source``:
    the assignment's source notebook (default source/<assignment>/<assignment>.ipynb).
    ``train=False`` skips the training part (scored 0, flagged) for fast checks."""
    spec = specs.load(assignment)
    start = time.perf_counter()
    source = Path(source) if source else reference.source_notebook(assignment)
    seed = _resolve_seed(seed)
    if not isinstance(limits, dict):
        limits = {"quick": limits}
    quick_limits = limits.get("quick") or default_limits("quick")
    train_limits = limits.get("train") or default_limits("train")

    points = specs.graded_parts(source)
    ex = extract(path, source)
    flags = list(ex.flags)

    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="nnkit-grade-")) if own_dir else Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    try:
        parts = grade.grade(Context(ex, source, seed, {"quick": quick_limits, "train": train_limits},
                                    root, flags, train, submission_seed(seed, ex)), spec, points)
    finally:
        if own_dir:    # rmtree does not follow the symlinks student code may have planted
            shutil.rmtree(root, ignore_errors=True)
    for cell, lines in ex.magics.items():
        for p in parts:
            if p.part in spec.parts_of_cell(cell):
                p.messages.append(f"removed {len(lines)} IPython magic/shell line(s) from your cell")
    return Verdict(assignment, parts, flags, round(time.perf_counter() - start, 3), seed)


if __name__ == "__main__":   # python -m autograder.engine.verdict NOTEBOOK [ASSIGNMENT [SOURCE]]
    v = grade_notebook(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "mlp",
                       source=sys.argv[3] if len(sys.argv) > 3 else None)
    print(v.to_json())
