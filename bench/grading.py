"""Seconds to autograde one MLP submission, and throughput with 1 and 2 workers.

Each run grades copies of the reference submission (the slowest honest case:
every part runs and the grader trains the network) in a scratch course folder
through the same `grade_all` an instructor runs.
"""
from __future__ import annotations

import copy
import os
import shutil
import time
from pathlib import Path

import nbformat

from autograder.pipeline import demo
from autograder.pipeline.autograde import Settings
from autograder.pipeline.course import ROOT
from autograder.pipeline.run import grade_all

SUBMISSIONS = int(os.environ.get("BENCH_SUBMISSIONS", "20"))


def _submissions(n: int) -> Path:
    """n copies of the reference, each with its own comment in the Linear cell: the
    grader caches training per distinct code, and real students' code differs."""
    built = ROOT / "build" / "bench-build"
    demo.build("mlp", built)
    reference = nbformat.read(built / "reference" / "mlp" / "mlp.ipynb", as_version=4)
    out = ROOT / "build" / "bench-submissions"
    shutil.rmtree(out, ignore_errors=True)
    for i in range(n):
        nb = copy.deepcopy(reference)
        for cell in nb.cells:
            if cell.get("id") == "linear":
                cell.source += f"\n# submission {i}\n"
        folder = out / f"student{i:03d}" / "mlp"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "mlp.ipynb")
    return out


def _grade_all(submissions: Path, workers: int) -> float:
    course = ROOT / "build" / f"bench-course-{workers}"
    shutil.rmtree(course, ignore_errors=True)
    start = time.perf_counter()
    grade_all(course=course, inputs=[submissions], assignment="mlp", settings=Settings(workers=workers))
    return time.perf_counter() - start


def run() -> list[dict]:
    one = _grade_all(_submissions(1), workers=1)
    many = _submissions(SUBMISSIONS)
    serial = _grade_all(many, workers=1)
    parallel = _grade_all(many, workers=2)
    return [
        {"what": "autograde 1 MLP submission", "seconds": round(one, 1), "goal": "<= 20 s"},
        {"what": f"autograde {SUBMISSIONS}, 1 worker", "seconds": round(serial, 1),
         "per submission": round(serial / SUBMISSIONS, 1)},
        {"what": f"autograde {SUBMISSIONS}, 2 workers", "seconds": round(parallel, 1),
         "per submission": round(parallel / SUBMISSIONS, 1), "speed-up": round(serial / parallel, 2),
         "goal": "speed-up >= 1.8"},
    ]
