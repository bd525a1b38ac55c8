"""Which runs may share a course folder: one per assignment at a time, any number of assignments at once.

Two runs on the same assignment would both write its submitted/, autograded/ and
gradebook rows, so the second is refused. With SQLite, whose writers lock the
whole file, one run per course is allowed. With PostgreSQL, runs on different
assignments share the gradebook and only meet on course-wide things: the
gradebook's tables, the students and grades.csv (every assignment's grades),
which one run at a time writes while the others wait (`serial`).
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
        raise SystemExit(busy) from None
    return handle


def hold(course: Course, assignment: str | None) -> list:
    """Locks kept until the process exits; without an assignment or on SQLite, the whole course."""
    if assignment is None or course.db_url.startswith("sqlite"):
        return [_flock(course.root / ".lock", fcntl.LOCK_EX,
                       f"another grading run is using {course.root}; wait for it to finish")]
    return [_flock(course.root / ".lock", fcntl.LOCK_SH,
                   f"a run on every assignment is using {course.root}; wait for it to finish"),
            _flock(course.root / f".lock-{assignment}", fcntl.LOCK_EX,
                   f"another grading run is using {assignment} in {course.root}; wait for it to finish")]


@contextmanager
def serial(course: Course):
    """Course-wide writes (gradebook tables, students, grades.csv), one run at a time; the gradebook is made here."""
    from nbgrader.api import Gradebook
    with open(course.root / ".lock-gradebook", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a short wait, not a refusal: the other run is collecting or exporting
        try:
            Gradebook(course.db_url).close()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
