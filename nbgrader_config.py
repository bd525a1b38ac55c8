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

# Formgrader's home page warns when the exchange folder is missing; the kit hands work in and out
# through the LMS (`python -m autograder collect`), so the exchange is a private folder in course/.
c.Exchange.root = str(_ROOT / "course" / "exchange")
(_ROOT / "course" / "exchange").mkdir(exist_ok=True)

# "Generate Feedback" / "Release Feedback" in formgrader would render the autograded notebook,
# hidden tests and their tracebacks included: make them produce the kit's own feedback page instead.
# The notebook page then says what `python -m autograder feedback` writes to feedback.html.
import sys  # noqa: E402

if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from autograder.pipeline.feedback import KitFeedback  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, KitFeedback, CSSHTMLHeaderPreprocessor]
