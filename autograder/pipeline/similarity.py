"""Copied work: how much of each pair of students' solution code is the same, for the instructor only.

Only the code cells a student writes (nbgrader solution cells) are compared; the
released template of those cells is boilerplate and never counts as shared.
A pair's score is the share of one student's copydetect fingerprints (hashes of
every 25-character run of the token stream, names replaced by placeholders)
found in the other's, so renamed variables and reordered methods do not hide a
copy. Written to <course>/similarity/<assignment>.html and .csv,
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

THRESHOLD = 0.5      # share of one student's fingerprints found in the other's
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
    """Every pair's scores, and the pairs at or above threshold (highest first); html: copydetect's page.

    A pair's score is the share of one student's fingerprints (copydetect's winnowed
    k-gram hashes, template removed) found in the other's: one set intersection per
    pair. copydetect's own comparison, which also locates the shared code and costs
    far more per pair, runs only for the pairs shown side by side in the page."""
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
        detector.add_file(str(scratch / "boilerplate" / "template.py"), type="boilerplate")
        detector._preprocess_code(detector.test_files)  # fingerprints, template hashes removed
        prints = {files[path]: detector.file_data[path].hashes for path in detector.test_files}
        names = sorted(prints)
        every = []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                shared = len(prints[a] & prints[b])
                every.append(Pair(a, b, round(shared / len(prints[a]), 3) if prints[a] else 0.0,
                                  round(shared / len(prints[b]), 3) if prints[b] else 0.0))
        every.sort(key=lambda p: (-p.score, p.a, p.b))
        flagged = [p for p in every if p.score >= threshold]
        if html and flagged:
            _page(detector, {files[path]: path for path in files}, flagged[:PAGE_PAIRS])
        return every, flagged
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _page(detector, path_of: dict[str, str], shown: list[Pair]) -> None:
    """copydetect's page for the pairs shown (the CSV has them all): its comparison fills the
    matrices its report reads, for these pairs only."""
    import warnings

    import numpy as np
    from copydetect.detector import compare_files
    index = {path: i for i, path in enumerate(detector.test_files)}
    n = len(detector.test_files)
    detector.similarity_matrix = np.full((n, n, 2), -1.0)
    detector.token_overlap_matrix = np.full((n, n), -1)
    detector.slice_matrix = {}
    for pair in shown:
        a, b = path_of[pair.a], path_of[pair.b]
        overlap, (sim_a, sim_b), slices = compare_files(detector.file_data[a], detector.file_data[b])
        # The page lists a pair by copydetect's own share; ours decided that it is shown.
        detector.similarity_matrix[index[a], index[b]] = [max(sim_a, detector.conf.display_t + 1e-9), sim_b]
        detector.token_overlap_matrix[index[a], index[b]] = overlap
        if len(slices[0]) and len(slices[0][0]):
            detector.slice_matrix[(a, b)] = list(slices)
        else:
            detector.similarity_matrix[index[a], index[b]] = -1.0
    with warnings.catch_warnings():  # copydetect 0.5 reads its template with a deprecated call
        warnings.simplefilter("ignore", DeprecationWarning)
        detector.generate_html_report()


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
