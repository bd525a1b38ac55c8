"""Seconds to autograde one MLP submission, its phases, and throughput with 1 and 2 workers.

Each run grades copies of the reference submission (the slowest honest case:
every part runs and the grader trains the network) in a scratch course folder
through the same commands an instructor runs.  The phases are timed from the
outside, one CLI subcommand at a time (the verdict as the difference between a
run with and one without it); the split inside a run (sandbox start, in-kernel
notebook run, each probe job, training) needs timers in the engine itself.
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import time
from pathlib import Path

import nbformat

from autograder.pipeline import demo
from autograder.cli import main as cli
from autograder.pipeline.course import ROOT
from bench import machine

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
    code = cli(["grade-all", str(submissions), "--assignment", "mlp", "--course", str(course),
                "--workers", str(workers), "--quiet"])
    if code != 0:
        raise RuntimeError(f"grade-all exited with {code}")
    return time.perf_counter() - start


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli(argv)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {code}")
    return time.perf_counter() - start


def phases() -> list[dict]:
    """One submission through each subcommand in turn, one worker."""
    submissions = _submissions(1)
    course = ROOT / "build" / "bench-course-phases"
    shutil.rmtree(course, ignore_errors=True)
    common = ["--course", str(course), "--assignment", "mlp", "--quiet"]
    grading = ["--workers", "1", "--force"]
    seconds = {
        "collect": _timed(["collect", str(submissions), *common]),
        "check": _timed(["check", *common]),
        "autograde without verdict (sandbox + notebook run)": _timed(["autograde", *common, *grading, "--no-verdict"]),
        "autograde with verdict": _timed(["autograde", *common, *grading]),
        "feedback": _timed(["feedback", *common]),
        "export": _timed(["export", *common]),
    }
    seconds["verdict (difference of the two autograde runs)"] = (
        seconds["autograde with verdict"] - seconds["autograde without verdict (sandbox + notebook run)"])
    load = machine.load()
    return [{"what": f"  grading phase: {name}", "seconds": round(value, 2), "load": load}
            for name, value in seconds.items()]


def run() -> list[dict]:
    rows = phases()
    one = _grade_all(_submissions(1), workers=1)
    many = _submissions(SUBMISSIONS)
    serial = _grade_all(many, workers=1)
    parallel = _grade_all(many, workers=2)
    return rows + [
        {"what": "autograde 1 MLP submission", "seconds": round(one, 1), "goal": "<= 20 s"},
        {"what": f"autograde {SUBMISSIONS}, 1 worker", "seconds": round(serial, 1),
         "per submission": round(serial / SUBMISSIONS, 1)},
        {"what": f"autograde {SUBMISSIONS}, 2 workers", "seconds": round(parallel, 1),
         "per submission": round(parallel / SUBMISSIONS, 1), "speed-up": round(serial / parallel, 2),
         "goal": "speed-up >= 1.8"},
    ]
