"""Seconds to autograde one MLP submission, its phases, the speed-up from 1 to 2 Dask workers, and a course-sized run
(its own section, `course`).

Each run grades copies of the reference submission (the slowest honest case:
every part runs and the grader trains the network) in a scratch course folder
through the same `grade_all` an instructor runs.  The phases are timed from the
outside, one CLI subcommand at a time (the verdict as the difference between a
run with and one without it).  The speed-up is measured on a Dask cluster on
loopback (scheduler and workers on 127.0.0.1), as a course would run it across
machines; the course-sized run uses the default for two workers (a local Dask cluster).
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

from autograder.cli import main as cli
from autograder.pipeline import demo
from autograder.pipeline.autograde import Settings
from autograder.pipeline.course import ROOT
from autograder.pipeline.run import grade_all
from bench import machine

SUBMISSIONS = int(os.environ.get("BENCH_SUBMISSIONS", "20"))       # the speed-up runs
COURSE = int(os.environ.get("BENCH_COURSE_SUBMISSIONS", "300"))     # the course-sized run (section `course`)


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


def _grade_all(submissions: Path, workers: int, scheduler: str | None = None, name: str = "") -> float:
    course = ROOT / "build" / f"bench-course-{name or workers}"
    shutil.rmtree(course, ignore_errors=True)
    start = time.perf_counter()
    grade_all(course=course, inputs=[submissions], assignment="mlp", settings=Settings(workers=workers, scheduler=scheduler))
    return time.perf_counter() - start


def _on_dask(submissions: Path, workers: int) -> float:
    """grade-all against a cluster of `workers` single-threaded Dask workers on 127.0.0.1."""
    import logging

    from distributed import LocalCluster
    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      memory_limit=0, silence_logs=logging.ERROR) as cluster:
        return _grade_all(submissions, workers, cluster.scheduler_address, name=f"dask-{workers}")


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
    serial = _on_dask(many, workers=1)
    parallel = _on_dask(many, workers=2)
    return rows + [
        {"what": "autograde 1 MLP submission", "seconds": round(one, 1), "goal": "<= 20 s"},
        {"what": f"autograde {SUBMISSIONS}, 1 Dask worker (loopback)", "seconds": round(serial, 1),
         "per submission": round(serial / SUBMISSIONS, 1)},
        {"what": f"autograde {SUBMISSIONS}, 2 Dask workers (loopback)", "seconds": round(parallel, 1),
         "per submission": round(parallel / SUBMISSIONS, 1), "speed-up": round(serial / parallel, 2),
         "goal": "speed-up >= 1.8"},
    ]


def course() -> list[dict]:
    """A course's worth of distinct submissions on two workers: the half hour it takes is why this
    section runs only when named (`make bench SECTIONS=course`)."""
    seconds = _grade_all(_submissions(COURSE), workers=2, name="course")
    return [{"what": f"autograde {COURSE} distinct submissions, 2 workers", "seconds": round(seconds, 1),
             "per submission": round(seconds / COURSE, 1), "submissions per hour": round(3600 * COURSE / seconds),
             "load": machine.load(), "goal": "<= 1800 s" if COURSE == 300 else "<= 1800 s for 300"}]
