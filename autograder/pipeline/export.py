"""Grades out: nbgrader's grades.csv and a CSV an LMS gradebook can import.

The late policy is applied here, once, and written into the gradebook as
nbgrader's own late_submission_penalty, so grades.csv (nbgrader's columns,
written by nbgrader's CsvExportPlugin) and the LMS CSV agree.
"""
from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

from autograder.pipeline.course import ROOT, Course

LMS_COLUMNS = ["student_id", "lms_id", "name", "assignment", "raw_score", "late_penalty", "score", "max_score",
               "percent", "late", "days_late", "submitted_at", "status", "pending_manual_points"]
# What the LMS CSV does with a submission whose written answers are not all graded yet: leave it out
# (the default: an LMS import then cannot take a partial score for a final one) or list it as provisional.
PENDING_CHOICES = ("hold", "provisional")


@dataclass(frozen=True)
class LatePolicy:
    """`none`, `zero` (late work scores 0), `per-day:P` or `per-hour:P` (P percent of the maximum
    per started day/hour late), never more than `cap` percent of the maximum."""
    due: dt.datetime | None = None
    kind: str = "none"
    rate: float = 0.0
    cap: float = 100.0
    grace_minutes: float = 0.0

    @classmethod
    def parse(cls, due: str | None, policy: str | None, cap: float | None = None, grace: float | None = None,
              config: dict | None = None) -> LatePolicy:
        config = config or {}
        due = due or config.get("due")
        policy = policy or config.get("policy") or "none"
        cap = cap if cap is not None else float(config.get("cap", 100.0))
        grace = grace if grace is not None else float(config.get("grace_minutes", 0.0))
        match = re.fullmatch(r"(none|zero|per-day|per-hour)(?::(\d+(?:\.\d+)?))?", policy.strip())
        if not match or (match[1].startswith("per-") and match[2] is None):
            raise ValueError(f"late policy {policy!r}: use none, zero, per-day:P or per-hour:P")
        return cls(parse_time(due) if due else None, match[1], float(match[2] or 0), float(cap), float(grace))

    def lateness(self, submitted_at: dt.datetime | None, lms_marker: bool = False) -> tuple[bool, float]:
        """(late?, days late). Without a due date only the LMS's own late marker counts."""
        if self.due is None or submitted_at is None:
            return lms_marker, 0.0
        seconds = (submitted_at - self.due).total_seconds() - 60 * self.grace_minutes
        return seconds > 0, max(0.0, seconds / 86400)

    def penalty(self, score: float, max_score: float, submitted_at: dt.datetime | None, lms_marker=False) -> float:
        late, days = self.lateness(submitted_at, lms_marker)
        if not late or self.due is None or self.kind == "none":
            return 0.0
        if self.kind == "zero":
            return score
        units = math.ceil(days) if self.kind == "per-day" else math.ceil(days * 24)
        percent = min(self.cap, self.rate * units)
        return round(min(score, max_score * percent / 100), 4)


def parse_time(text: str) -> dt.datetime:
    """ISO date/time; without a zone it is UTC."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def config_policy() -> dict:
    """c.LatePolicy.due / .policy / .cap / .grace_minutes from nbgrader_config.py, when set there."""
    path = ROOT / "nbgrader_config.py"
    if not path.exists():
        return {}
    from traitlets.config.loader import PyFileConfigLoader
    try:
        config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    except Exception:  # noqa: BLE001 - a broken config must not stop grade export
        return {}
    section = config.get("LatePolicy", {})
    return {k: section[k] for k in ("due", "policy", "cap", "grace_minutes") if k in section}


def apply_policy(course: Course, assignment: str, policy: LatePolicy, states: dict[str, dict]) -> dict[str, dict]:
    """Write due date and penalties into the gradebook; return per-student lateness rows."""
    from nbgrader.api import Gradebook, MissingEntry
    rows = {}
    with Gradebook(course.db_url) as gb:
        if policy.due is not None:
            gb.update_or_create_assignment(assignment, duedate=policy.due.astimezone(dt.UTC).replace(tzinfo=None))
        for student, state in states.items():
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            submitted = parse_time(state["submitted_at"]) if state.get("submitted_at") else None
            late, days = policy.lateness(submitted, state.get("late_marker", False))
            raw, top = float(sub.score), float(sub.max_score)
            penalty = policy.penalty(raw, top, submitted, state.get("late_marker", False))
            for i, nb in enumerate(sorted(sub.notebooks, key=lambda n: n.name)):
                nb.late_submission_penalty = penalty if i == 0 else 0.0
            pending = sum(float(g.max_score or 0) for nb in sub.notebooks for g in nb.grades
                          if g.needs_manual_grade)
            rows[student] = {"late": late, "days_late": round(days, 3), "raw_score": raw, "late_penalty": penalty,
                             "score": max(0.0, raw - penalty), "max_score": top, "pending_manual": pending}
        gb.db.commit()
    return rows


def export(course: Course, assignment: str, policy: LatePolicy, states: dict[str, dict],
           out_dir: Path | None = None, pending: str = "hold") -> tuple[Path, Path, dict[str, dict]]:
    """grades.csv (nbgrader's columns, all assignments) and lms-<assignment>.csv.

    A submission with written answers still to grade is left out of the LMS CSV (``pending="hold"``)
    or written with status ``provisional`` (``pending="provisional"``); never as ``final``."""
    if pending not in PENDING_CHOICES:
        raise ValueError(f"pending={pending!r}: use one of {', '.join(PENDING_CHOICES)}")
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin
    out_dir = Path(out_dir or course.root)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = apply_policy(course, assignment, policy, states)
    grades = out_dir / "grades.csv"
    with Gradebook(course.db_url) as gb:
        CsvExportPlugin(to=str(grades)).export(gb)
    lms = out_dir / f"lms-{assignment}.csv"
    with lms.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, LMS_COLUMNS)
        writer.writeheader()
        for student in sorted(rows):
            row, state = rows[student], states[student]
            if row["pending_manual"] and pending == "hold":
                continue
            writer.writerow({
                "student_id": student, "lms_id": state.get("lms_id") or student, "name": state.get("full_name", ""),
                "assignment": assignment, "raw_score": f"{row['raw_score']:g}", "late_penalty": f"{row['late_penalty']:g}",
                "score": f"{row['score']:g}", "max_score": f"{row['max_score']:g}",
                "percent": f"{100 * row['score'] / row['max_score']:.1f}" if row["max_score"] else "0.0",
                "late": "yes" if row["late"] else "no", "days_late": f"{row['days_late']:g}",
                "submitted_at": state.get("submitted_at") or "",
                "status": "provisional" if row["pending_manual"] else "final",
                "pending_manual_points": f"{row['pending_manual']:g}"})
    return grades, lms, rows
