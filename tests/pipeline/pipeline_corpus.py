"""The broken-submission corpus, built at test time from the fixture assignment's source.

Each case is a student's hand-in made from the released notebook, so a change
to the fixture changes every case with it. CASES says what the report must
show for each student; the tests compare against it.
"""
from __future__ import annotations

import copy
import zipfile
from pathlib import Path

import nbformat

from autograder.pipeline.check import release_notebooks
from autograder.pipeline.course import Course

FIXTURE_SOURCE = Path(__file__).resolve().parent / "fixtures" / "source"
ASSIGNMENT = "tiny"

SOLUTIONS = {
    "square": "def square(x):\n    return x * x",
    "add": "def add(a, b):\n    return a + b",
    "answer-why": "Because (-x)(-x) = x x.",
}

# student -> (score, flags that must be in the report, flags that must not be)
CASES: dict[str, tuple[float, set[str], set[str]]] = {
    "honest-full":    (5, {"needs manual grading"}, {"cells restored", "timeout"}),
    "honest-partial": (2, {"needs manual grading"}, {"cells restored", "timeout"}),
    "invalid-json":   (0, {"invalid notebook"}, {"needs manual grading"}),
    "renamed":        (5, {"renamed notebook"}, {"missing notebook"}),
    "extra":          (5, {"extra notebook"}, {"missing notebook"}),
    "missing":        (0, {"missing notebook", "extra notebook"}, set()),
    "deleted-test":   (5, {"cells restored"}, set()),
    "edited-test":    (2, {"cells restored"}, set()),
    "changed-id":     (5, {"cells restored"}, set()),
    "infinite-loop":  (3, {"timeout"}, set()),
    "deaf-loop":      (2, {"timeout"}, set()),                 # ignores the interrupt: the notebook wall clock (40 s) ends it
    "memory-bomb":    (2, {"memory"}, set()),
    "os-exit":        (2, {"kernel died"}, set()),
    "huge-output":    (5, {"output truncated"}, set()),
    "empty":          (0, {"empty submission"}, set()),
    # issue 10, classes 5 and 8: bounded before parsing, never a grader error (checked for every row)
    "deep-json":      (0, {"invalid notebook"}, {"needs manual grading"}),
    "huge-notebook":  (0, {"invalid notebook"}, {"needs manual grading"}),
    "many-cells":     (0, {"invalid notebook"}, {"needs manual grading"}),
    # classes 4 and 9: what the run leaves for the trusted side is never followed, always flagged
    "planted-links":  (5, {"rejected output: link planted", "rejected output: special file fifo",
                           "rejected output: hard link hard"}, {"kernel died"}),
    # class 7: the job folder is bounded (files here); the runner makes room for its own results
    "disk-filler":    (5, {"disk"}, {"kernel died", "grader error"}),
    "ada-lovelace":   (5, set(), {"invalid notebook"}),      # Moodle zip, file nested two folders deep
    "bob":            (5, {"late"}, set()),                  # Canvas zip, _late_ marker, nested folder
}


def release() -> nbformat.NotebookNode:
    """The student copy, made by the pipeline's own generate steps (no gradebook: the course folder
    is never written)."""
    course = Course(FIXTURE_SOURCE.parent, FIXTURE_SOURCE)
    return release_notebooks(course, ASSIGNMENT)[ASSIGNMENT]


def solved(**overrides: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(release())
    answers = dict(SOLUTIONS, **overrides)
    for cell in nb.cells:
        if cell.get("id") in answers:
            cell.source = answers[cell.id]
    return nb


def _cell(nb, cell_id):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def dump(nb) -> bytes:
    return nbformat.writes(nb).encode()


def hand_ins() -> dict[str, dict[str, bytes]]:
    """student -> {file name: bytes} for the folder import."""
    out: dict[str, dict[str, bytes]] = {}
    out["honest-full"] = {"tiny.ipynb": dump(solved())}
    out["honest-partial"] = {"tiny.ipynb": dump(solved(add="def add(a, b):\n    return a - b"))}
    out["invalid-json"] = {"tiny.ipynb": dump(solved())[:-40]}
    out["renamed"] = {"tiny (1) final.ipynb": dump(solved())}
    scratch = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('trying things')", id="scratch")])
    out["extra"] = {"tiny.ipynb": dump(solved()), "scratch.ipynb": dump(scratch)}
    out["missing"] = {"scratch.ipynb": dump(scratch)}
    nb = solved()
    nb.cells = [c for c in nb.cells if c.get("id") != "add-tests"]
    out["deleted-test"] = {"tiny.ipynb": dump(nb)}
    nb = solved(add="def add(a, b):\n    return 0")
    _cell(nb, "add-tests").source = "assert True"
    out["edited-test"] = {"tiny.ipynb": dump(nb)}
    nb = solved()
    _cell(nb, "square-tests").metadata.nbgrader["grade_id"] = "square-tests-mine"
    out["changed-id"] = {"tiny.ipynb": dump(nb)}
    out["infinite-loop"] = {"tiny.ipynb": dump(solved(square="def square(x):\n    while True:\n        pass"))}
    out["deaf-loop"] = {"tiny.ipynb": dump(solved(
        add="import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"))}
    out["memory-bomb"] = {"tiny.ipynb": dump(solved(
        add="import numpy as np\nbig = np.ones(2**30)  # 8 GiB of float64\ndef add(a, b):\n    return a + b"))}
    out["os-exit"] = {"tiny.ipynb": dump(solved(add="import os\nos._exit(3)"))}
    out["huge-output"] = {"tiny.ipynb": dump(solved(
        square="for _ in range(1000):\n    print('x' * 100_000)\ndef square(x):\n    return x * x"))}
    out["empty"] = {"notes.txt": b"I did not finish, sorry\n"}
    out["deep-json"] = {"tiny.ipynb": b'{"cells": [], "metadata": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"}
    big = solved()
    big.cells[0].source = "# " + "x" * (17 * 2**20)
    out["huge-notebook"] = {"tiny.ipynb": dump(big)}
    many = solved()
    many.cells += [nbformat.v4.new_markdown_cell("more", id=f"more-{i}") for i in range(2000)]
    out["many-cells"] = {"tiny.ipynb": dump(many)}
    out["planted-links"] = {"tiny.ipynb": dump(solved(square=(
        "import os\nos.symlink('/etc/passwd', 'planted')\nos.mkfifo('fifo')\nopen('mine', 'w').close()\n"
        "os.link('mine', 'hard')\ndef square(x):\n    return x * x")))}
    out["disk-filler"] = {"tiny.ipynb": dump(solved(square=(
        "import os\nos.makedirs('junk', exist_ok=True)\ntry:\n    for i in range(50_000):\n"
        "        open(os.path.join('junk', str(i)), 'w').close()\nexcept OSError:\n    pass\n"
        "def square(x):\n    return x * x")))}
    return out


def write_folder(root: Path) -> Path:
    for student, files in hand_ins().items():
        folder = root / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
    return root


def moodle_zip(path: Path) -> Path:
    """Moodle export wrapped in extra folders, plus a zip-slip member that must be rejected."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("course-export/tiny/Ada Lovelace_4711_assignsubmission_file_/work/final/tiny.ipynb", dump(solved()))
        zf.writestr("../../escaped.ipynb", dump(solved()))
    return path


def canvas_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("submissions/bob_late_77_88_tiny.ipynb", date_time=(2026, 11, 20, 12, 0, 0))
        zf.writestr(info, dump(solved()))
    return path


def originals(folder: Path, zips: list[Path]) -> dict[tuple[str, str], bytes]:
    """(student, file name) -> the bytes handed in, to compare with the archive."""
    out = {(s, name): data for s, files in hand_ins().items() for name, data in files.items()}
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            for info in zf.infolist():
                if ".." in info.filename:
                    continue
                student = "ada-lovelace" if "Ada Lovelace" in info.filename else "bob"
                name = info.filename.rsplit("/", 1)[-1].removeprefix("bob_late_77_88_")
                out[(student, name)] = zf.read(info)
    return out
