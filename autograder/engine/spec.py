"""What an assignment tells the engine: its graded parts as data, and the few hooks data cannot say.

An assignment is ``autograder/assignments/<id>/spec.py`` exposing ``SPEC``, a ``Spec``.  Part
names, grade ids and points are not repeated here: they are read from the source notebook's
nbgrader metadata (``graded_parts``), the one place an assignment is written.  A part named
``p`` decides the autograded test cell whose grade id is ``p`` with ``_`` written as ``-``
(or ``p`` itself), followed by ``-tests``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autograder.engine.extract import _read

ASSIGNMENTS = Path(__file__).resolve().parents[1] / "assignments"


@dataclass(frozen=True)
class Part:
    name: str
    cell: str           # the solution cell the answer is written in
    label: str = ""     # how messages name what is tested ("Linear"); default: the cell


@dataclass
class Judged:
    """One part's result from the spec's ``judge`` hook (``score`` in points)."""
    score: float
    status: str                       # passed | failed
    messages: list[str] = field(default_factory=list)


@dataclass
class Spec:
    parts: tuple[Part, ...]
    # seed -> probes; each probe has .name, .cell, .label, .arrays and .as_request() for the driver
    probes: Callable[[int], list]
    # (probes, results, expected, points) -> {part: Judged}; results/expected: probe name -> (info, arrays);
    # points: part -> its points (from the notebook)
    judge: Callable[[list, dict, dict], dict]
    # probes that are the same for everyone (given data, nothing to hide) use this seed
    fixed_seed: int | None = None
    # (ctx, charged) -> PartVerdict for a part the quick probes cannot decide (training)
    extra_parts: dict[str, Callable] = field(default_factory=dict)

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def parts_of_cell(self, cell: str) -> list[str]:
        return [p.name for p in self.parts if p.cell == cell]


def graded_parts(source) -> dict[str, tuple[str, float]]:
    """Autograded parts of a source notebook, in notebook order: part -> (grade id, points).
    Written answers (grade cells that are also solution cells) are graded by people."""
    parts = {}
    for cell in _read(source).get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id") or ""
        if meta.get("grade") and not meta.get("solution") and grade_id.endswith("-tests"):
            parts[grade_id[: -len("-tests")].replace("-", "_")] = (grade_id, float(meta.get("points") or 0))
    return parts


def load(assignment: str) -> Spec:
    if not (ASSIGNMENTS / assignment / "spec.py").is_file():
        raise LookupError(f"assignment {assignment!r} has no grading spec (autograder/assignments/"
                          f"{assignment}/spec.py): it cannot be graded")
    return importlib.import_module(f"autograder.assignments.{assignment}.spec").SPEC


def gradable() -> list[str]:
    """Assignments with a grading spec."""
    return sorted(p.parent.name for p in ASSIGNMENTS.glob("*/spec.py") if (p.parent / "__init__.py").is_file())
