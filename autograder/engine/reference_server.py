"""The source notebook's solution kept warm: the driver with its cells run once, answering probe requests.

Usage: python -I reference_server.py CELLS.json SCRATCH (``job._WarmReference`` starts it).  It runs
only trusted code, the source's setup and solution cells, and never in a sandbox: it lives with the
trusted side, not in ``sandboxed/``, which sandboxes are shown.  Each line on stdin,
``REQUEST.json<TAB>WORKDIR``, is answered by a forked copy of this process, so every answer starts
from the state the cells left, as a fresh ``driver.py`` run would, without paying again for the
interpreter, NumPy and the cells (0.5-1.4 s against a few ms).  The reply, on the stdout this
process started with, is the copy's exit status.  Standard input closing (the grading process gone)
ends the server.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

# the driver, which answers the probes exactly as it does in a sandbox (-I keeps every other path out)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sandboxed"))

import driver  # noqa: E402 - after the path


def serve(cells_path: Path, scratch: Path) -> None:
    replies = os.fdopen(os.dup(1), "w")
    # whatever the cells print, from Python or from C, must not reach the reply channel
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    ns, cells = driver.run_program(json.loads(cells_path.read_text()), scratch / "out")
    try:
        _answer_each(ns, cells, replies)
    finally:    # the grading process may be gone without a word (a pool's worker ends with os._exit)
        shutil.rmtree(scratch, ignore_errors=True)


def _answer_each(ns: dict, cells: dict, replies) -> None:
    for line in sys.stdin:
        request_path, job = line.rstrip("\n").split("\t")
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                driver.answer(json.loads(Path(request_path).read_text()), ns, cells, Path(job))
                status = 0
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
        replies.flush()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Path(sys.argv[2]))
