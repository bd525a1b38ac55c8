"""Which runs may share a course folder: one per assignment at a time, any number of assignments at once.

Two runs on the same assignment would both write its submitted/, autograded/ and
gradebook rows, so the second is refused. Runs on different assignments share
the gradebook (PostgreSQL takes concurrent writers; SQLite waits its turn) and
only meet on course-wide rows: the gradebook's tables and the students, which
the first run to arrive creates while the others wait (`serial`).
"""
from __future__ import annotations

import fcntl
from contextlib import contextmanager

from autograder.pipeline.course import Course


def _flock(path, mode: int, busy: str):
    handle = open(path, "w")
    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SystemExit(busy)
    return handle


def hold(course: Course, assignment: str | None) -> list:
    """Locks kept until the process exits; without an assignment, the whole course."""
    if assignment is None:
        return [_flock(course.root / ".lock", fcntl.LOCK_EX,
                       f"another grading run is using {course.root}; wait for it to finish")]
    return [_flock(course.root / ".lock", fcntl.LOCK_SH,
                   f"a run on every assignment is using {course.root}; wait for it to finish"),
            _flock(course.root / f".lock-{assignment}", fcntl.LOCK_EX,
                   f"another grading run is using {assignment} in {course.root}; wait for it to finish")]


@contextmanager
def serial(course: Course):
    """Course-wide gradebook writes (tables, students), one run at a time; the gradebook is created here."""
    from nbgrader.api import Gradebook
    with open(course.root / ".lock-gradebook", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a short wait, not a refusal: the other run is only collecting
        try:
            Gradebook(course.db_url).close()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
