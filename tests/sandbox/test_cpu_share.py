"""Issue 10, class 6: one student must not slow another down.

Each sandbox run gets its own CPU cgroup (a quota of Limits.cpus cores and an equal
weight), so a submission burning every core with many processes gets one core, and an
honest neighbour grades exactly as it does alone."""
from __future__ import annotations

import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder.engine.reference import source_notebook
from autograder.engine.verdict import grade_notebook
from autograder.isolation import sandbox
from autograder.isolation.sandbox import Limits, run

pytestmark = pytest.mark.slow

CAPS = sandbox.capabilities()
needs_cgroup = pytest.mark.skipif(not CAPS["cpu_cgroup"], reason="HOST LACKS A CPU CGROUP:\n" + sandbox.describe())

# Many busy processes, each with a few busy threads: everything a student can start.  They stop
# after argv[1] seconds, or sooner once the file argv[3] exists (a folder the host shares read-only).
HOG = textwrap.dedent("""
    import os, sys, threading, time
    seconds, stop = float(sys.argv[1]), sys.argv[3]
    def burn():
        end = time.monotonic() + seconds
        while time.monotonic() < end and not os.path.exists(stop):
            pass
    kids = []
    for _ in range(int(sys.argv[2])):
        pid = os.fork()
        if pid == 0:
            for _ in range(3):
                threading.Thread(target=burn, daemon=True).start()
            burn()
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.waitpid(pid, 0)
""")


def hog(workdir, seconds: float, processes: int, stop: Path | None = None):
    """Burn for ``seconds``, or until the file ``stop`` is created."""
    stop = stop or workdir.parent / "never" / "stop"
    stop.parent.mkdir(exist_ok=True)
    return run([sys.executable, "-c", HOG, str(seconds), str(processes), str(stop)], workdir=workdir,
               readonly=[stop.parent],
               limits=Limits(wall_seconds=seconds + 60, cpu_seconds=int(seconds * 8) + 60, nproc=processes * 5 + 20))


@needs_cgroup
def test_a_run_never_gets_more_than_its_cores(tmp_path):
    """8 processes x 4 busy threads for 4 s of wall: one core's worth of CPU at most (the
    quota), whatever the machine has; the kernel's accounting, no timing of ours."""
    (tmp_path / "job").mkdir()
    result = hog(tmp_path / "job", 4.0, 8)
    assert result.returncode == 0, result.stderr
    assert result.cpu_seconds <= result.seconds * 1.0 + 0.5, (result.cpu_seconds, result.seconds)


def _submission(tmp_path) -> str:
    path = tmp_path / "honest.ipynb"
    nbformat.write(nbformat.read(source_notebook("mlp"), as_version=4), path)
    return str(path)


@needs_cgroup
def test_honest_submission_beside_a_cpu_hog_grades_as_when_alone(tmp_path):
    path = _submission(tmp_path)
    alone = grade_notebook(path, seed=11, train=False, workdir=tmp_path / "alone")
    (tmp_path / "hog").mkdir()
    stop = tmp_path / "flag" / "stop"
    done: dict = {}
    neighbour = threading.Thread(target=lambda: done.update(hog=hog(tmp_path / "hog", 45.0, 40, stop)))
    neighbour.start()
    try:
        time.sleep(1)     # the hog's 40 processes are all burning
        beside = grade_notebook(path, seed=11, train=False, workdir=tmp_path / "beside")
    finally:
        stop.touch()      # its work is done once the grading beside it is
        neighbour.join()
    assert [(p.part, p.score, p.status) for p in beside.parts] == [(p.part, p.score, p.status) for p in alone.parts]
    assert all(p.score == p.max_score for p in alone.parts if p.part != "training"), alone.to_json()
    assert done["hog"].cpu_seconds <= done["hog"].seconds + 0.5
