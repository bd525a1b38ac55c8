"""Copied work: a near-copy is paired with its original, independent correct solutions are not.

Students (all full-marks code, as notebooks made from the released `mlp` copy):
- ada: the reference solution;
- bob: ada's code with variables renamed and every class's methods in reverse order;
- carol: the corpus's plain solution (tests/corpus/mlp/solutions.py);
- dan: the plain solution with the corpus's valid variants written differently all through (loops,
  other formulas).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.pipeline import similarity
from autograder.pipeline.course import ROOT, Course
from corpus.mlp import cases, solutions

RELEASED = ROOT / "assignments" / "mlp" / "mlp.ipynb"
REFERENCE = ROOT / "solutions" / "mlp" / "mlp.ipynb"
# old name -> new name, applied to whole identifiers (attributes included)
RENAMES = {"self.x": "self.inp", "g": "grad_out", "x": "inputs", "self.y": "self.result", "mask": "positive"}
COPIES = {("ada", "bob")}
# dan's variants: written differently all through (the corpus's other valid cases are small edits of
# carol's plain solution, which a similarity check rightly pairs with it)
DAN = ("linear_loops", "float32_inside", "sigmoid_via_tanh_and_tanh_via_sigmoid", "ce_logsumexp",
       "hinge_loops_and_masks", "sgd_in_place", "sgd_velocity_form", "activations_where_and_masks", "gelu_via_sigmoid")


def _part(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id")


def _reference_cells() -> dict[str, str]:
    nb = nbformat.read(REFERENCE, as_version=4)
    return {_part(c): c.source for c in nb.cells
            if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def disguise(code: str) -> str:
    """What a student does to hide a copy: rename variables, reorder the methods of a class."""
    head, *methods = re.split(r"(?m)^(?=    def )", code)
    methods = [m if m.endswith("\n") else m + "\n" for m in methods]
    code = head + "".join(reversed(methods))
    for old, new in RENAMES.items():
        code = re.sub(rf"(?<![\w.]){re.escape(old)}\b", new, code)
    return code


def submissions() -> dict[str, nbformat.NotebookNode]:
    ada = _reference_cells()
    variants = {}
    for case in sorted((c for c in cases.VALID if c.name in DAN), key=lambda c: DAN.index(c.name)):
        for part, code in case.edits.items():
            variants.setdefault(part, code)
    answers = {"ada": ada, "bob": {p: disguise(c) for p, c in ada.items()},
               "carol": dict(solutions.SOLUTIONS), "dan": {**solutions.SOLUTIONS, **variants}}
    out = {}
    for student, cells in answers.items():
        nb = nbformat.read(RELEASED, as_version=4)
        for cell in nb.cells:
            if _part(cell) in cells:
                cell.source = cells[_part(cell)]
        out[student] = nb
    return out


def test_disguise_changes_the_text_but_keeps_the_code():
    code = solutions.SOLUTIONS["linear"]
    changed = disguise(code)
    assert changed != code and "grad_out" in changed
    assert changed.index("def backward") < changed.index("def forward")
    compile(changed, "disguised", "exec")


def test_copies_are_paired_and_independent_solutions_are_not():
    template = similarity.solution_code(nbformat.read(RELEASED, as_version=4))
    codes = {s: similarity.solution_code(nb) for s, nb in submissions().items()}
    every, flagged = similarity.compare(codes, template)
    assert {(p.a, p.b) for p in flagged} == COPIES
    copy_score = min(p.score for p in every if (p.a, p.b) in COPIES)
    independent = max(p.score for p in every if (p.a, p.b) not in COPIES)
    print(f"copies {copy_score:.3f}, most similar independent pair {independent:.3f}")
    assert copy_score >= similarity.THRESHOLD > independent


def test_template_alone_is_not_a_copy():
    """Two students who handed in the untouched template share only boilerplate."""
    template = similarity.solution_code(nbformat.read(RELEASED, as_version=4))
    _, flagged = similarity.compare({"eve": template, "frank": template + "\n"}, template)
    assert flagged == []


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("similarity")
    for student, nb in submissions().items():
        (tmp / "handins" / student / "mlp").mkdir(parents=True)
        nbformat.write(nb, tmp / "handins" / student / "mlp" / "mlp.ipynb")
    args = ["--assignment", "mlp", "--course", str(tmp / "course"), "--quiet"]
    assert main(["collect", str(tmp / "handins"), *args]) == 0
    assert main(["similarity", *args]) == 0
    return tmp / "course"


def test_cli_writes_the_pairs_for_the_instructor_only(course: Path):
    html, table = similarity.paths(Course.at(course), "mlp")
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["student_a"], r["student_b"]) for r in rows} == COPIES
    page = html.read_text()
    assert "ada" in page and "bob" in page
    assert course / "feedback" not in html.parents
