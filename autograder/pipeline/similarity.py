"""Copied work: how much of each pair of students' solution code is the same, for the instructor only.

Only the code cells a student writes (nbgrader solution cells) are compared; the
released template of those cells is boilerplate and never counts as shared.
copydetect (winnowed fingerprints of the token stream, names replaced by
placeholders) scores each pair, so renamed variables and reordered methods do
not hide a copy. Written to <course>/similarity/<assignment>.html and .csv,
beside the reports and outside feedback/: the score is a lead for a human to
read, never a grade, and no student ever sees it.
"""
from __future__ import annotations

import csv
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.pipeline.course import Course

THRESHOLD = 0.75     # share of one student's fingerprinted code found in the other's
PAGE_PAIRS = 100     # pairs shown side by side in the HTML page
NOISE = 25           # copydetect's k: the shortest run of tokens that counts as a match (its default)


@dataclass
class Pair:
    a: str
    b: str
    score_a: float   # share of a's code also in b's
    score_b: float

    @property
    def score(self) -> float:
        return max(self.score_a, self.score_b)


def solution_code(nb: nbformat.NotebookNode) -> str:
    """The student-written code cells, in notebook order."""
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "code"
                       and c.get("metadata", {}).get("nbgrader", {}).get("solution"))


def _student_code(course: Course, student: str, assignment: str) -> str:
    parts = []
    for path in sorted(course.submitted(student, assignment).glob("*.ipynb")):
        try:
            parts.append(solution_code(nbformat.read(path, as_version=4)))
        except Exception:  # noqa: BLE001 - an unreadable notebook has no code to compare
            continue
    return "\n\n".join(parts)


def compare(codes: dict[str, str], boilerplate: str, threshold: float = THRESHOLD,
            html: Path | None = None) -> tuple[list[Pair], list[Pair]]:
    """Every pair's scores, and the pairs at or above threshold (highest first); html: copydetect's page."""
    import matplotlib
    matplotlib.use("Agg")  # copydetect draws its histogram with pyplot
    from copydetect import CopyDetector
    scratch = Path(tempfile.mkdtemp(prefix="similarity-"))
    try:
        (scratch / "boilerplate").mkdir()
        (scratch / "boilerplate" / "template.py").write_text(boilerplate)
        files = {}
        for student, code in codes.items():
            # One folder per student: a name never collides, and copydetect shows it in the page.
            path = scratch / "students" / student / "solution.py"
            path.parent.mkdir(parents=True)
            path.write_text(code)
            files[str(path)] = student
        if html:
            html.parent.mkdir(parents=True, exist_ok=True)  # copydetect refuses an out_file in no folder
        detector = CopyDetector(boilerplate_dirs=[str(scratch / "boilerplate")], extensions=["py"],
                                noise_t=NOISE, guarantee_t=NOISE, display_t=threshold, autoopen=False,
                                silent=True, out_file=str(html) if html else str(scratch / "report.html"))
        for path in files:
            detector.add_file(path)
        for path in (scratch / "boilerplate").glob("*.py"):
            detector.add_file(str(path), type="boilerplate")
        every: list[Pair] = []
        if len(files) >= 2:
            detector.run()
            for i, a in enumerate(detector.test_files):
                for j, b in enumerate(detector.ref_files):
                    if i < j and a in files and b in files:
                        s_a, s_b = detector.similarity_matrix[i, j]
                        every.append(Pair(files[a], files[b], round(max(float(s_a), 0.0), 3),
                                          round(max(float(s_b), 0.0), 3)))
            if html:
                _page(detector, every, threshold)
        every.sort(key=lambda p: (-p.score, p.a, p.b))
        return every, [p for p in every if p.score >= threshold]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _page(detector, every: list[Pair], threshold: float) -> None:
    """copydetect's page, with at most PAGE_PAIRS pairs side by side (the CSV has them all).

    A class where most students started from one shared snippet would otherwise put
    every pair's full code in one page: gigabytes for a few hundred students."""
    import warnings
    shown = {(p.a, p.b) for p in every[:PAGE_PAIRS] if p.score >= threshold}
    names = {path: Path(path).parent.name for path in detector.test_files}
    full = detector.similarity_matrix
    keep = full.copy()
    for i, a in enumerate(detector.test_files):
        for j, b in enumerate(detector.ref_files):
            if (names[a], names[b]) not in shown and (names[b], names[a]) not in shown:
                keep[i, j, 0] = min(keep[i, j, 0], 0.0)
    detector.similarity_matrix = keep
    try:
        with warnings.catch_warnings():  # copydetect 0.5 reads its template with a deprecated call
            warnings.simplefilter("ignore", DeprecationWarning)
            detector.generate_html_report()
    finally:
        detector.similarity_matrix = full


def paths(course: Course, assignment: str) -> tuple[Path, Path]:
    base = course.root / "similarity" / assignment
    return base.with_suffix(".html"), base.with_suffix(".csv")


def write(course: Course, assignment: str, threshold: float | None = None) -> tuple[Path, Path, list[Pair]]:
    """Compare every collected submission of the assignment; the CSV lists the pairs at or above threshold."""
    threshold = THRESHOLD if threshold is None else threshold
    from autograder.pipeline.check import release_notebooks
    template = "\n\n".join(solution_code(nb) for nb in release_notebooks(course, assignment).values())
    codes = {s: _student_code(course, s, assignment) for s in course.students(assignment)}
    codes = {s: code for s, code in codes.items() if code.strip()}
    html, table = paths(course, assignment)
    html.unlink(missing_ok=True)
    _, flagged = compare(codes, template, threshold, html)
    table.parent.mkdir(parents=True, exist_ok=True)
    with table.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_a", "student_b", "score", "share_of_a_in_b", "share_of_b_in_a"])
        for p in flagged:
            writer.writerow([p.a, p.b, p.score, p.score_a, p.score_b])
    return html, table, flagged


def run(course: Course, assignment: str, threshold: float | None = None) -> str:
    """write(), as one line for the run's notes; a failure here never stops grading."""
    try:
        html, table, flagged = write(course, assignment, threshold)
    except Exception as exc:  # noqa: BLE001
        return f"copied work: the similarity report failed ({type(exc).__name__}: {exc})"
    return f"copied work: {len(flagged)} similar pair(s) in {table}, side by side in {html.name} (instructor only)"


def listing(course: Course, assignment: str) -> dict | None:
    """What the run's report says about copied work: where the pages are and how many pairs they list."""
    html, table = paths(course, assignment)
    if not table.exists():
        return None
    with table.open(newline="") as fh:
        pairs = max(0, sum(1 for _ in fh) - 1)
    return {"csv": str(table), "html": str(html) if html.exists() else None, "pairs": pairs}
