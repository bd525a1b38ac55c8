"""nbgrader configuration of the course kit; the course root is this folder.

* source/<id>/       master notebooks (solutions + hidden tests)
* assignments/<id>/  student copies (nbgrader's release directory), made by
                     ``python -m autograder.pipeline.generate``
* solutions/<id>/    executed reference notebooks, made by the same command
* course/            nbgrader's runtime: submitted/, autograded/, feedback/ and
                     the gradebook (git-ignored)
"""
from pathlib import Path

c = get_config()  # noqa: F821 (injected by traitlets)

_ROOT = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "nnkit"
c.CourseDirectory.root = str(_ROOT)
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.solution_directory = "solutions"
c.CourseDirectory.submitted_directory = "course/submitted"
c.CourseDirectory.autograded_directory = "course/autograded"
c.CourseDirectory.feedback_directory = "course/feedback"
c.CourseDirectory.db_url = f"sqlite:///{_ROOT / 'course' / 'gradebook.db'}"

# SQLite cannot create the gradebook inside a missing folder, and course/ is
# git-ignored, so a fresh clone has none: make it, so that plain `nbgrader ...`
# commands (and formgrader) work from the repo root out of the box.
(_ROOT / "course").mkdir(exist_ok=True)
