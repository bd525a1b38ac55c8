"""Grading on a real Dask cluster on loopback, with a worker killed mid-task.

The test starts `dask scheduler` and two `dask worker` processes, grades part of
the fixture corpus with `grade-all --scheduler`, kills the first worker seen
running a submission (with the sandbox under it), and checks that every
submission is in the report once, with the scores a local run gives.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pipeline_corpus as corpus
import psutil
import pytest

from autograder.cli import main
from autograder.pipeline.course import ROOT

pytestmark = pytest.mark.slow

STUDENTS = ["honest-full", "honest-partial", "deleted-test", "edited-test", "changed-id", "huge-output"]
# `tiny` has no grading spec: these tests are about where grading runs, so they ask for its
# in-kernel scores explicitly (--no-verdict); without the flag the pipeline refuses it.
LIMITS = ["--cell-timeout", "30", "--wall", "120", "--quiet", "--no-verdict"]
DASK = str(Path(sys.executable).parent / "dask")


def _hand_ins(root: Path) -> Path:
    for student, files in corpus.hand_ins().items():
        if student in STUDENTS:
            (root / student / corpus.ASSIGNMENT).mkdir(parents=True)
            for name, data in files.items():
                (root / student / corpus.ASSIGNMENT / name).write_bytes(data)
    return root


def _args(folder: Path, course: Path) -> list[str]:
    return ["grade-all", str(folder), "--assignment", corpus.ASSIGNMENT, "--course", str(course),
            "--source", str(corpus.FIXTURE_SOURCE), *LIMITS]


def _report(course: Path) -> dict[str, dict]:
    (path,) = (course / "reports").glob("*.json")
    report = json.loads(path.read_text())
    # The honest students share the fixture's one solution: the instructor's report lists them as similar.
    assert report["similarity"]["pairs"] > 0
    rows = report["rows"]
    assert len(rows) == len({r["student"] for r in rows}), "a student is in the report twice"
    return {r["student"]: r for r in rows}


def _kill_tree(proc: subprocess.Popen) -> None:
    """The worker and everything under it (the sandboxed run it was supervising)."""
    parent = psutil.Process(proc.pid)
    for p in [*parent.children(recursive=True), parent]:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    sched_file = tmp_path / "scheduler.json"
    common = {"cwd": ROOT, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], **common)]
    try:
        deadline = time.monotonic() + 120
        while not sched_file.exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, "the scheduler did not start"
            time.sleep(0.5)
        workers = {}
        for name in ("w1", "w2"):
            workers[name] = subprocess.Popen(
                [DASK, "worker", "--scheduler-file", str(sched_file), "--name", name, "--nthreads", "1",
                 "--no-nanny", "--memory-limit", "0", "--no-dashboard", "--host", "127.0.0.1"], **common)
            procs.append(workers[name])
        from distributed import Client
        client = Client(scheduler_file=str(sched_file), timeout=60)
        client.wait_for_workers(2, timeout=120)
        yield client, workers
        client.close()
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                _kill_tree(proc)


def test_killed_worker_loses_nothing_and_grades_nothing_twice(tmp_path, cluster):
    client, workers = cluster
    folder = _hand_ins(tmp_path / "handins")
    assert main(_args(folder, tmp_path / "local") + ["--workers", "1"]) == 0
    local = _report(tmp_path / "local")

    run = subprocess.Popen([sys.executable, "-m", "autograder", *_args(folder, tmp_path / "dask"),
                            "--scheduler", client.scheduler.address], cwd=ROOT,
                           env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    names = {addr: info["name"] for addr, info in client.scheduler_info()["workers"].items()}
    victim = None
    deadline = time.monotonic() + 300
    while victim is None:
        assert run.poll() is None, "grade-all finished before a worker could be killed mid-task"
        assert time.monotonic() < deadline, "no worker ever started a submission"
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy:
            victim = names[busy[0]]
            _kill_tree(workers[victim])
        time.sleep(0.2)
    assert run.wait(timeout=900) == 0
    survivor = next(n for n in workers if n != victim)
    assert workers[survivor].poll() is None

    graded = _report(tmp_path / "dask")
    assert sorted(graded) == sorted(local) == sorted(STUDENTS)
    assert {s: r["score"] for s, r in graded.items()} == {s: r["score"] for s, r in local.items()}
    assert all("grader error" not in r["flags"] for r in graded.values())
    assert {s: r["flags"] for s, r in graded.items()} == {s: r["flags"] for s, r in local.items()}

    # The similarity report is the instructor's: no student's feedback page mentions it.
    pages = list((tmp_path / "dask" / "feedback").rglob("*.html"))
    assert len(pages) == len(STUDENTS)
    assert not any("similar" in p.read_text().lower() for p in pages)
