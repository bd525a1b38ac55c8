"""Where everything lives for one course, and the order the steps run in.

nbgrader's own folder names (submitted/, autograded/, feedback/, gradebook.db)
are kept so formgrader can open the same course folder; our additions
(archive/, reports/, state/, work/) sit beside them.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Course:
    root: Path
    source: Path  # folder holding source/<assignment>/<assignment>.ipynb
    database: str | None = None  # nbgrader's db_url (postgresql://...); None: gradebook.db in the course folder

    @classmethod
    def at(cls, root: str | os.PathLike | None = None, source: str | os.PathLike | None = None,
           db_url: str | None = None) -> Course:
        _tools_on_path()
        root = Path(root or ROOT / "course").resolve()
        course = cls(root, Path(source or ROOT / "source").resolve(), _driver(db_url or _configured_db_url(root)))
        course.root.mkdir(parents=True, exist_ok=True)
        return course

    @property
    def db_url(self) -> str:
        return self.database or f"sqlite:///{self.root / 'gradebook.db'}"

    def archive(self, student: str, assignment: str) -> Path:
        return self.root / "archive" / student / assignment

    def submitted(self, student: str, assignment: str) -> Path:
        return self.root / "submitted" / student / assignment

    def autograded(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment

    def feedback(self, student: str, assignment: str) -> Path:
        return self.root / "feedback" / student / assignment

    def state_file(self, student: str, assignment: str) -> Path:
        return self.root / "state" / student / f"{assignment}.json"

    def work(self, student: str, assignment: str) -> Path:
        return self.root / "work" / student / assignment

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def source_dir(self, assignment: str) -> Path:
        return self.source / assignment

    def source_notebooks(self, assignment: str) -> list[Path]:
        return sorted(self.source_dir(assignment).glob("*.ipynb"))

    def grader_seed(self) -> int:
        """The course's secret seed for hidden test inputs, made once and kept.

        Each submission's inputs are drawn from it and the submission's code
        (engine.verdict.submission_seed): a regrade meets them again (reproducible),
        and no one outside the course folder can predict them (the file is readable
        by the instructor only).  128 bits: inputs leaked from a sandbox must not let
        anyone search for the secret offline."""
        path = self.root / "grader-seed"
        if not path.exists():
            # Written aside, then linked into place: two runs starting at once agree on one seed,
            # and neither ever reads a half-written file.
            tmp = path.with_name(f".grader-seed.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(str(int.from_bytes(os.urandom(16), "little")))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        return int(path.read_text())

    def source_hash(self, assignment: str) -> str:
        """Changes whenever any file of the assignment's source changes: a regrade trigger."""
        from autograder.engine.carry import carried, earlier_source
        digest = hashlib.sha256()
        folder = self.source_dir(assignment)
        files = sorted(p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts)
        # What else decides its grades: the course's own spec, and the earlier notebooks whose
        # reference classes it carries forward (engine/carry.py).
        spec = self.source.parent / "specs" / f"{assignment}.py"
        extra = ([spec] if spec.is_file() else []) + [
            earlier_source(nb, aid) for nb in files if nb.suffix == ".ipynb" for aid in carried(nb)]
        for path in files + extra:
            digest.update(str(path.relative_to(folder) if path.is_relative_to(folder) else path.name).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def students(self, assignment: str) -> list[str]:
        """Students with an archived submission of this assignment."""
        base = self.root / "archive"
        if not base.exists():
            return []
        return sorted(p.parent.parent.name for p in base.glob(f"*/{assignment}/manifest.json"))

    def assignments(self) -> list[str]:
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _configured_db_url(root: Path) -> str | None:
    """c.CourseDirectory.db_url from the course folder's nbgrader_config.py (formgrader reads the same file)."""
    path = root / "nbgrader_config.py"
    if not path.exists():
        return None
    from traitlets.config.loader import PyFileConfigLoader
    return PyFileConfigLoader(path.name, str(root)).load_config().get("CourseDirectory", {}).get("db_url") or None


def _driver(db_url: str | None) -> str | None:
    """postgresql:// means psycopg 3 to SQLAlchemy 2.1; the kit pins psycopg2, so name it."""
    if db_url and db_url.split("://", 1)[0] in ("postgres", "postgresql"):
        return "postgresql+psycopg2://" + db_url.split("://", 1)[1]
    return db_url


def _tools_on_path() -> None:
    # nbgrader's Gradebook shells out to `alembic`, which lives next to this Python.
    import sys
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def write_json(path: Path, data) -> None:
    """Atomic write: a crash mid-write never leaves half a manifest or state file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return default
