"""One table per run: who got what, and every flag, printed and saved as CSV and JSON.

Rows are built from the stored per-submission results plus the gradebook (so
manual grades entered in formgrader show up), never from timing of this run:
running twice without changes gives the same report.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from autograder.pipeline import flags as F
from autograder.pipeline.course import Course

COLUMNS = ["student", "assignment", "score", "max_score", "flags"]


def rows(course: Course, assignment: str, states: dict[str, dict], lateness: dict[str, dict]) -> list[dict]:
    from autograder.pipeline.autograde import summary
    out = []
    for student in sorted(states):
        state = states[student]
        try:
            summ = summary(course, student, assignment)
        except Exception:  # noqa: BLE001 - not in the gradebook: show what the state says
            summ = {"score": state.get("score", 0.0), "max_score": state.get("max_score", 0.0),
                    "needs_manual_grade": False}
        late = lateness.get(student, {})
        found = list(state.get("flags", []))
        if late.get("late"):
            found.insert(0, F.LATE)
        if summ.get("needs_manual_grade"):
            found.append(F.NEEDS_MANUAL_GRADING)
        score = late.get("score", summ["score"])
        out.append({"student": student, "assignment": assignment, "score": round(float(score), 2),
                    "max_score": round(float(summ["max_score"]), 2), "flags": F.merge(found),
                    "raw_score": round(float(summ["score"]), 2), "late_penalty": late.get("late_penalty", 0.0),
                    "problems": state.get("problems", [])})
    return out


def table(rows: list[dict]) -> str:
    """A plain-text table that fits a terminal: long flag lists wrap onto extra lines."""
    header = ["student", "assignment", "score", "max", "flags"]
    body = [[r["student"], r["assignment"], f"{r['score']:g}", f"{r['max_score']:g}", ", ".join(r["flags"]) or "-"]
            for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header[:4])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:4], widths)) + "  flags",
             "  ".join("-" * w for w in widths) + "  -----"]
    for b in body:
        lines.append("  ".join((b[i].rjust(widths[i]) if i in (2, 3) else b[i].ljust(widths[i]))
                               for i in range(4)) + "  " + b[4])
    return "\n".join(lines)


def legend(rows: list[dict]) -> str:
    used = sorted({F.kind(f) for r in rows for f in r["flags"]})
    return "\n".join(f"  {k}: {F.MEANINGS[k]}" for k in used if k in F.MEANINGS)


def write(course: Course, rows: list[dict], run_id: str | None = None) -> tuple[Path, Path]:
    run_id = run_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    course.reports.mkdir(parents=True, exist_ok=True)
    base, n = course.reports / run_id, 1
    while base.with_suffix(".json").exists():
        n += 1
        base = course.reports / f"{run_id}-{n}"
    with base.with_suffix(".csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "assignment", "score", "max_score", "raw_score", "late_penalty", "flags"])
        for r in rows:
            writer.writerow([r["student"], r["assignment"], r["score"], r["max_score"], r["raw_score"],
                             r["late_penalty"], "; ".join(r["flags"])])
    from autograder.pipeline.similarity import listing
    copied = listing(course, rows[0]["assignment"]) if rows else None  # instructors only: never in feedback
    base.with_suffix(".json").write_text(json.dumps(
        {"rows": rows, "similarity": copied,
         "flag_meanings": {k: F.MEANINGS[k] for k in sorted({F.kind(f) for r in rows for f in r["flags"]})
                                         if k in F.MEANINGS}}, indent=1, sort_keys=True))
    return base.with_suffix(".csv"), base.with_suffix(".json")
