"""`python -m autograder demo`: grade three example submissions of each assignment end to end.

For every assignment the verdict grades (autograder/assignments/<id>/engine.py; or the one
given with --assignment), builds
build/demo-submissions/<student>/<assignment>/<assignment>.ipynb for
  reference     the instructor's solution (solutions/, or the source without hidden tests),
  untouched     the student copy as released (assignments/, or generated from the source),
  partly-wrong  the reference with two parts put back to the empty stub,
then runs `grade_all` on them in build/demo-course/ (never the real course/), one
assignment after the other.
"""
from __future__ import annotations

import copy
import shutil
import time
from pathlib import Path

import nbformat

from autograder.pipeline.course import ROOT, Course

# preferred solution cells to break; else the first two solution cells
BROKEN_PARTS = {"mlp": ("relu", "sgd"), "backprop": ("std-values", "relative-error"),
                "optim": ("rmsprop", "batchnorm"), "cnn": ("maxpool", "flatten")}


def reference_notebook(course: Course, assignment: str) -> nbformat.NotebookNode:
    solved = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    if solved.exists():
        nb = nbformat.read(solved, as_version=4)
    else:
        nb = nbformat.read(course.source_dir(assignment) / f"{assignment}.ipynb", as_version=4)
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearOutput, ComputeChecksums, LockCells
    for pp in (LockCells(), ClearOutput(), ComputeChecksums(), ClearHiddenTests(), ClearMarkScheme()):
        nb, _ = pp.preprocess(nb, {})
    return nb


def student_copy(course: Course, assignment: str) -> nbformat.NotebookNode:
    released = ROOT / "assignments" / assignment / f"{assignment}.ipynb"
    if released.exists():
        return nbformat.read(released, as_version=4)
    from autograder.pipeline.check import release_notebooks
    return release_notebooks(course, assignment)[assignment]


def partly_wrong(reference, release, assignment: str = "") -> tuple[nbformat.NotebookNode, list[str]]:
    stubs = {c.get("id"): c.source for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")
             and c.cell_type == "code"}
    chosen = [p for p in BROKEN_PARTS.get(assignment, ()) if p in stubs] or list(stubs)[:2]
    chosen = chosen[:2]
    nb = copy.deepcopy(reference)
    for cell in nb.cells:
        if cell.get("id") in chosen:
            cell.source = stubs[cell.id]
    return nb, chosen


def build(assignment: str, out: Path, course: Course | None = None) -> list[str]:
    course = course or Course.at(ROOT / "build" / "demo-course")
    reference = reference_notebook(course, assignment)
    release = student_copy(course, assignment)
    wrong, broken = partly_wrong(reference, release, assignment)
    for student, nb in (("reference", reference), ("untouched", release), ("partly-wrong", wrong)):
        folder = out / student / assignment
        if folder.exists():      # only this assignment's: the other demos share `out`
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
    return broken


def main(assignment: str | None = None, workers: int | None = None) -> int:
    from autograder.engine.verdict import gradable
    from autograder.pipeline.autograde import Settings
    from autograder.pipeline.run import grade_all
    started = time.monotonic()
    out = ROOT / "build" / "demo-submissions"
    for name in [assignment] if assignment else gradable():
        broken = build(name, out)
        print(f"{name}: example submissions in {out}/<student>/{name}: reference, untouched, "
              f"partly-wrong ({', '.join(broken)} left undone)")
        # The demo course is scratch: if the source changed since the last demo, regrade from scratch.
        settings = Settings(rebuild_gradebook=True)
        if workers:
            settings.workers = workers
        outcome = grade_all(course=ROOT / "build" / "demo-course", inputs=[out], assignment=name,
                            settings=settings, progress=True)
        for note in outcome.notes:
            print(note)
    print(f"demo done in {time.monotonic() - started:.0f} s; course folder: {ROOT / 'build' / 'demo-course'}")
    return 0
