"""Which grading runs may share a course folder at once (autograder/pipeline/locks.py)."""
from __future__ import annotations

import pytest

from autograder.pipeline import locks
from autograder.pipeline.course import Course

POSTGRES = "postgresql://grader@127.0.0.1:5432/course"

# (gradebook, first run's assignment, second run's assignment, may the second run start?)
CASES = [
    (None, "mlp", "mlp", False),
    (None, "mlp", "backprop", False),        # SQLite: one writer per course
    (POSTGRES, "mlp", "mlp", False),
    (POSTGRES, "mlp", "backprop", True),
    (POSTGRES, None, "backprop", False),     # a course-wide run (collect of every assignment) excludes all
    (POSTGRES, "mlp", None, False),
]


@pytest.mark.parametrize("db_url, first, second, allowed", CASES)
def test_second_run_starts_only_when_allowed(tmp_path, db_url, first, second, allowed):
    course = Course.at(tmp_path / "course", tmp_path, db_url)
    held = locks.hold(course, first)
    try:
        if allowed:
            for handle in locks.hold(course, second):
                handle.close()
        else:
            with pytest.raises(SystemExit, match="wait for it to finish"):
                locks.hold(course, second)
    finally:
        for handle in held:
            handle.close()


def test_postgres_url_uses_the_pinned_driver(tmp_path):
    assert Course.at(tmp_path, tmp_path, POSTGRES).db_url.startswith("postgresql+psycopg2://")
    assert Course.at(tmp_path, tmp_path).db_url == f"sqlite:///{tmp_path / 'gradebook.db'}"


def test_course_config_names_the_gradebook(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.db_url = {POSTGRES!r}\n")
    assert Course.at(tmp_path, tmp_path).db_url == POSTGRES.replace("postgresql://", "postgresql+psycopg2://")
    assert Course.at(tmp_path, tmp_path, "sqlite:////elsewhere.db").db_url == "sqlite:////elsewhere.db"
