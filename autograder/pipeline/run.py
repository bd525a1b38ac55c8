"""The whole pipeline as one call: `grade_all` (collect, check, autograde, feedback, export, report).

The command line (`python -m autograder grade-all`), `python -m autograder demo`, bench/ and the
tests all call `grade_all` with keyword arguments; no module builds another's argv.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autograder.pipeline.course import Course, read_json


@dataclass
class Outcome:
    """What a `grade_all` run did: the assignment, each student's state, one line per step."""
    assignment: str
    states: dict[str, dict]
    notes: list[str] = field(default_factory=list)


def pick_assignment(course: Course, assignment: str | None) -> str:
    if assignment:
        return assignment
    found = course.assignments()
    if len(found) != 1:
        raise SystemExit(f"say which assignment (--assignment): found {', '.join(found) or 'none'} in {course.source}")
    return found[0]


def states(course: Course, assignment: str) -> dict[str, dict]:
    out = {}
    for student in course.students(assignment):
        state = read_json(course.state_file(student, assignment))
        if state:
            out[student] = state
    return out


def collect_inputs(course: Course, inputs, assignment: str | None) -> list[str]:
    from autograder.pipeline.collect import collect
    result = collect(course, [Path(i) for i in inputs], assignment)
    notes = [f"collected: {len(result.new)} new or changed, {len(result.unchanged)} unchanged submissions"]
    notes += [f"rejected {where}: {why}" for where, why in result.rejected]
    return notes


def finish(course: Course, assignment: str, current: dict, what: set[str], policy=None, out=None,
           pending: str = "hold") -> list[str]:
    """feedback/export/report share the lateness computation; run the ones asked for.
    ``pending``: what the LMS CSV does with written answers still to grade ("hold" or "provisional")."""
    from autograder.pipeline import feedback, report
    from autograder.pipeline.export import LatePolicy, apply_policy, config_policy, export
    policy = policy or LatePolicy.parse(None, None, config=config_policy())
    notes = []
    if "export" in what:
        grades, lms, lateness = export(course, assignment, policy, current, Path(out) if out else None,
                                       pending=pending)
        notes.append(f"grades: {grades}  LMS: {lms}")
        waiting = sorted(s for s, r in lateness.items() if r.get("pending_manual"))
        if waiting:
            verb = "held back from" if pending == "hold" else "marked provisional in"
            notes.append(f"{verb} the LMS CSV, written answers still to grade in formgrader: {', '.join(waiting)}")
    else:
        lateness = apply_policy(course, assignment, policy, current)
    rows = report.rows(course, assignment, current, lateness)
    if "feedback" in what:
        feedback.write(course, current, rows)
        notes.append(f"feedback: {course.root / 'feedback'}/<student>/{assignment}/feedback.html")
    if "report" in what:
        csv_path, json_path = report.write(course, rows)
        print(report.table(rows))
        legend = report.legend(rows)
        if legend:
            print("flags:\n" + legend)
        notes.append(f"report: {csv_path} and {json_path.name}")
    return notes


def grade_all(*, course=None, source=None, db_url=None, inputs=(), assignment: str | None = None, settings=None,
              policy=None, out=None, pending: str = "hold", students=None, progress: bool = False) -> Outcome:
    """Collect ``inputs`` (folders or LMS zips; none: what is already collected), then check,
    autograde, write feedback, export and report one assignment of ``course``.

    ``course`` / ``source`` / ``db_url``: a Course, or the course folder, the folder of source/<id>/
    notebooks and the gradebook (defaults ./course, ./source and <course>/gradebook.db).
    ``settings``: autograde.Settings (defaults).
    ``policy``: export.LatePolicy (default: nbgrader_config.py's, else none).  ``out``: folder for
    the CSVs (default the course folder).  ``students``: only these."""
    from autograder.pipeline import locks, similarity
    from autograder.pipeline.autograde import Settings, autograde
    course = course if isinstance(course, Course) else Course.at(course, source, db_url)
    held = locks.hold(course, assignment)
    try:
        notes = []
        if inputs:
            with locks.serial(course):
                notes = collect_inputs(course, inputs, assignment)
        name = pick_assignment(course, assignment)
        autograde(course, name, settings or Settings(), progress=progress, students=students)
        current = states(course, name)
        notes.append(similarity.run(course, name))
        with locks.serial(course):  # grades.csv holds every assignment: one writer at a time
            notes += finish(course, name, current, {"feedback", "export", "report"}, policy, out, pending)
        return Outcome(name, current, notes)
    finally:
        for handle in held:
            handle.close()
