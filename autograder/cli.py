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
    common.add_argument("--db-url", help="gradebook (postgresql://USER@HOST:PORT/DB); default: <course>/gradebook.db")

    grading = argparse.ArgumentParser(add_help=False)
    grading.add_argument("--workers", "-j", type=int, help="submissions graded at once (default: CPU cores)")
    grading.add_argument("--scheduler", help="grade on this Dask cluster (tcp://HOST:8786); default: local workers")
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
    late.add_argument("--out", help="folder for grades.csv and lms-<assignment>.csv (default: the course folder)")

    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", parents=[common], help="import submissions (folders or LMS zips) into the course")
    c.add_argument("inputs", nargs="+", type=Path, help="folder <student>/<assignment>/*.ipynb or Canvas/Moodle zip")
    sub.add_parser("check", parents=[common], help="validate and repair collected submissions (nothing runs)")
    sub.add_parser("autograde", parents=[common, grading], help="run and grade changed submissions")
    sub.add_parser("feedback", parents=[common, late], help="write feedback/<student>/<assignment>/feedback.html")
    sub.add_parser("export", parents=[common, late], help="write grades.csv and the LMS CSV, late policy applied")
    sub.add_parser("report", parents=[common, late], help="print and save the score and flag table")
    g = sub.add_parser("grade-all", parents=[common, grading, late], help="collect, check, autograde, feedback, export, report")
    g.add_argument("inputs", nargs="*", type=Path, help="as for collect; none: grade what is already collected")
    sim = sub.add_parser("similarity", parents=[common], help="copied work: pairs of similar solution code, for you")
    sim.add_argument("--threshold", type=float, help="list pairs sharing this share of their code (default 0.5)")
    sub.add_parser("flags", help="list every flag and its meaning")
    d = sub.add_parser("demo", help="grade the example submissions under build/demo-submissions/")
    d.add_argument("--assignment", "-a", help="only this assignment (default: every one the verdict grades)")
    d.add_argument("--workers", "-j", type=int)
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
    s.scheduler = args.scheduler
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
        grades, lms, lateness = export(course, assignment, policy, states, Path(args.out) if args.out else None)
        notes.append(f"grades: {grades}  LMS: {lms}")
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
    from autograder.pipeline import locks
    course = Course.at(args.course, args.source, args.db_url)
    held = locks.hold(course, args.assignment)  # until the process exits
    notes: list[str] = []
    if args.command == "collect":
        with locks.serial(course):
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
    elif args.command == "similarity":
        from autograder.pipeline import similarity
        notes.append(similarity.run(course, _assignment(args, course), args.threshold))
    elif args.command in ("feedback", "export", "report"):
        assignment = _assignment(args, course)
        with locks.serial(course):  # grades.csv holds every assignment: one writer at a time
            notes = _finish(args, course, assignment, _states(course, assignment), {args.command, "report"}
                            if args.command == "report" else {args.command})
    elif args.command == "grade-all":
        from autograder.pipeline.autograde import autograde
        if args.inputs:
            with locks.serial(course):
                notes += _collect(args, course)
        assignment = _assignment(args, course)
        autograde(course, assignment, _settings(args), progress=not args.quiet, students=args.student)
        from autograder.pipeline import similarity
        notes.append(similarity.run(course, assignment))
        with locks.serial(course):  # grades.csv holds every assignment: one writer at a time
            notes += _finish(args, course, assignment, _states(course, assignment), {"feedback", "export", "report"})
    for note in notes:
        print(note)
    for handle in held:
        handle.close()
    return 0
