"""`python -m autograder <step>`: each pipeline step alone, or `grade-all` for all of them."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from autograder.pipeline import flags as F
from autograder.pipeline.course import Course, read_json


def size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgKMG]?)i?[bB]?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: a size like 512M or 2G")
    return int(float(match[1]) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match[2].lower()])


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", help="course folder (default: ./course)")
    common.add_argument("--source", help="folder of source/<assignment>/ notebooks (default: ./source)")
    common.add_argument("--assignment", "-a", help="assignment id (default: the only one in --source)")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    grading = argparse.ArgumentParser(add_help=False)
    grading.add_argument("--workers", "-j", type=int, help="submissions graded at once (default: CPU cores)")
    grading.add_argument("--force", action="store_true", help="regrade even unchanged submissions")
    grading.add_argument("--student", action="append", help="only this student (repeatable)")
    grading.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell (default 120)")
    grading.add_argument("--wall", type=int, default=900, help="seconds per notebook run (default 900)")
    grading.add_argument("--memory", type=size, default=2 * 2**30, help="memory per run (default 2G)")
    grading.add_argument("--output-cap", type=size, default=2 * 2**20, help="notebook output kept (default 2M)")
    grading.add_argument("--seed", type=int, help="seed of the hidden test inputs (default: the course's own, kept in <course>/grader-seed)")
    grading.add_argument("--no-verdict", action="store_true", help="in-kernel scores only (skip autograder.engine.verdict)")
    grading.add_argument("--rebuild-gradebook", action="store_true",
                         help="source cells changed after grading: drop this assignment's gradebook submissions, regrade all")

    late = argparse.ArgumentParser(add_help=False)
    late.add_argument("--due", help="due date, ISO (2026-12-01T23:59; UTC unless a zone is given)")
    late.add_argument("--late-policy", help="none | zero | per-day:P | per-hour:P (P percent of max per started unit)")
    late.add_argument("--late-cap", type=float, help="largest penalty, percent of max (default 100)")
    late.add_argument("--grace", type=float, help="minutes after the due date still on time (default 0)")

    exporting = argparse.ArgumentParser(add_help=False)
    exporting.add_argument("--out", help="folder for grades.csv and lms-<assignment>.csv (default: the course folder)")
    exporting.add_argument("--pending", choices=["hold", "provisional"], default="hold",
                           help="submissions with written answers not yet graded in formgrader: leave them out of "
                                "the LMS CSV (hold, the default) or list them with status 'provisional'")

    p = argparse.ArgumentParser(prog=".venv/bin/python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, text: str, parents=()):
        return sub.add_parser(name, parents=list(parents), help=text, description=text)

    c = command("collect", "import submissions (folders or LMS zips) into the course's archive and submitted/",
                [common])
    c.add_argument("inputs", nargs="+", type=Path,
                   help="a folder laid out as PATH/<student>/<assignment>/**, or a Canvas or Moodle export zip")
    command("check", "validate and repair collected submissions (nothing runs)", [common])
    command("autograde", "run and grade the changed submissions in the sandbox", [common, grading])
    command("feedback", "write feedback/<student>/<assignment>/feedback.html from the gradebook as it is now "
            "(rerun after grading in formgrader)", [common, late])
    command("export", "write grades.csv and lms-<assignment>.csv, late policy applied, ungraded written "
            "answers held back", [common, late, exporting])
    command("report", "print and save the score and flag table under <course>/reports/", [common, late])
    g = command("grade-all", "collect, check, autograde, feedback, export, report", [common, grading, late, exporting])
    g.add_argument("inputs", nargs="*", type=Path, help="as for collect; none: grade what is already collected")
    command("flags", "list every flag and its meaning")
    d = command("demo", "grade the example submissions under build/demo-submissions/")
    d.add_argument("--assignment", "-a", help="only this assignment (default: every one the verdict grades)")
    d.add_argument("--workers", "-j", type=int, help="submissions graded at once (default: CPU cores)")
    return p


def _assignment(args, course: Course) -> str:
    if args.assignment:
        return args.assignment
    found = course.assignments()
    if len(found) != 1:
        raise SystemExit(f"say which assignment (--assignment): found {', '.join(found) or 'none'} in {course.source}")
    return found[0]


def _settings(args):
    from autograder.pipeline.autograde import Settings
    s = Settings(cell_timeout=args.cell_timeout, wall_seconds=args.wall, memory_bytes=args.memory,
                 output_bytes=args.output_cap, force=args.force, seed=args.seed, verdict=not args.no_verdict,
                 rebuild_gradebook=args.rebuild_gradebook)
    if args.workers:
        s.workers = args.workers
    return s


def _policy(args):
    from autograder.pipeline.export import LatePolicy, config_policy
    return LatePolicy.parse(args.due, args.late_policy, args.late_cap, args.grace, config_policy())


def _states(course: Course, assignment: str) -> dict[str, dict]:
    out = {}
    for student in course.students(assignment):
        state = read_json(course.state_file(student, assignment))
        if state:
            out[student] = state
    return out


def _collect(args, course: Course) -> list[str]:
    from autograder.pipeline.collect import collect
    result = collect(course, args.inputs, args.assignment)
    notes = [f"collected: {len(result.new)} new or changed, {len(result.unchanged)} unchanged submissions"]
    notes += [f"rejected {where}: {why}" for where, why in result.rejected]
    return notes


def _finish(args, course: Course, assignment: str, states: dict, what: set[str]) -> list[str]:
    """feedback/export/report share the lateness computation; run the ones asked for."""
    from autograder.pipeline import feedback, report
    from autograder.pipeline.export import apply_policy, export
    policy = _policy(args)
    notes = []
    if "export" in what:
        grades, lms, lateness = export(course, assignment, policy, states, Path(args.out) if args.out else None,
                                       pending=args.pending)
        notes.append(f"grades: {grades}  LMS: {lms}")
        waiting = sorted(s for s, r in lateness.items() if r.get("pending_manual"))
        if waiting:
            verb = "held back from" if args.pending == "hold" else "marked provisional in"
            notes.append(f"{verb} the LMS CSV, written answers still to grade in formgrader: {', '.join(waiting)}")
    else:
        lateness = apply_policy(course, assignment, policy, states)
    rows = report.rows(course, assignment, states, lateness)
    if "feedback" in what:
        feedback.write(course, states, rows)
        notes.append(f"feedback: {course.root / 'feedback'}/<student>/{assignment}/feedback.html")
    if "report" in what:
        csv_path, json_path = report.write(course, rows)
        print(report.table(rows))
        legend = report.legend(rows)
        if legend:
            print("flags:\n" + legend)
        notes.append(f"report: {csv_path} and {json_path.name}")
    return notes


def _lock(course: Course):
    """One run per course at a time: two would both write submitted/ and the gradebook."""
    import fcntl
    handle = open(course.root / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another grading run is using {course.root}; wait for it to finish")
    return handle


def main(argv=None) -> int:
    import warnings
    # nbgrader's gradebook triggers SQLAlchemy autoflush warnings on every new submission: noise.
    warnings.filterwarnings("ignore", message=".*not in session.*")
    args = parser().parse_args(argv)
    if args.command == "flags":
        for name, text in F.MEANINGS.items():
            print(f"{name}: {text}")
        return 0
    if args.command == "demo":
        from autograder.pipeline.demo import main as demo
        return demo(args.assignment, args.workers)
    course = Course.at(args.course, args.source)
    lock = _lock(course)  # held until the process exits
    notes: list[str] = []
    if args.command == "collect":
        notes = _collect(args, course)
    elif args.command == "check":
        from autograder.pipeline.check import check, release_notebooks
        assignment = _assignment(args, course)
        releases = release_notebooks(course, assignment)
        for student in course.students(assignment):
            result = check(course, student, assignment, releases)
            print(f"{student}: {', '.join(result.flags) or 'ok'}" +
                  "".join(f"\n    {p}" for p in result.problems))
    elif args.command == "autograde":
        from autograder.pipeline.autograde import autograde
        assignment = _assignment(args, course)
        states = autograde(course, assignment, _settings(args), progress=not args.quiet, students=args.student)
        from autograder.pipeline import report
        print(report.table(report.rows(course, assignment, states, {})))
    elif args.command in ("feedback", "export", "report"):
        assignment = _assignment(args, course)
        notes = _finish(args, course, assignment, _states(course, assignment), {args.command, "report"}
                        if args.command == "report" else {args.command})
    elif args.command == "grade-all":
        from autograder.pipeline.autograde import autograde
        if args.inputs:
            notes += _collect(args, course)
        assignment = _assignment(args, course)
        autograde(course, assignment, _settings(args), progress=not args.quiet, students=args.student)
        notes += _finish(args, course, assignment, _states(course, assignment), {"feedback", "export", "report"})
    for note in notes:
        print(note)
    lock.close()
    return 0
