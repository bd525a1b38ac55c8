"""`python -m autograder <step>`: each pipeline step alone, or `grade-all` for all of them."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from autograder.pipeline import flags as F
from autograder.pipeline import run
from autograder.pipeline.course import Course


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
    grading.add_argument("--seed", type=int,
                         help="seed of the hidden test inputs (default: the course's own, kept in <course>/grader-seed)")
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
    sim = command("similarity", "copied work: pairs of similar solution code, for the instructor only", [common])
    sim.add_argument("--threshold", type=float, help="list pairs sharing this share of their code (default 0.5)")
    command("flags", "list every flag and its meaning")
    d = command("demo", "grade the example submissions under build/demo-submissions/")
    d.add_argument("--assignment", "-a", help="only this assignment (default: every one the verdict grades)")
    d.add_argument("--workers", "-j", type=int, help="submissions graded at once (default: CPU cores)")
    return p


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
    if args.command == "grade-all":
        outcome = run.grade_all(course=course, inputs=args.inputs, assignment=args.assignment,
                                settings=_settings(args), policy=_policy(args), out=args.out,
                                pending=args.pending, students=args.student, progress=not args.quiet)
        for note in outcome.notes:
            print(note)
        return 0
    held = locks.hold(course, args.assignment)  # until the process exits
    notes: list[str] = []
    if args.command == "collect":
        with locks.serial(course):
            notes = run.collect_inputs(course, args.inputs, args.assignment)
    elif args.command == "check":
        from autograder.pipeline.check import check, release_notebooks
        assignment = run.pick_assignment(course, args.assignment)
        releases = release_notebooks(course, assignment)
        for student in course.students(assignment):
            result = check(course, student, assignment, releases)
            print(f"{student}: {', '.join(result.flags) or 'ok'}" +
                  "".join(f"\n    {p}" for p in result.problems))
    elif args.command == "autograde":
        from autograder.pipeline.autograde import autograde
        assignment = run.pick_assignment(course, args.assignment)
        states = autograde(course, assignment, _settings(args), progress=not args.quiet, students=args.student)
        from autograder.pipeline import report
        print(report.table(report.rows(course, assignment, states, {})))
    elif args.command == "similarity":
        from autograder.pipeline import similarity
        notes.append(similarity.run(course, run.pick_assignment(course, args.assignment), args.threshold))
    elif args.command in ("feedback", "export", "report"):
        assignment = run.pick_assignment(course, args.assignment)
        what = {args.command, "report"} if args.command == "report" else {args.command}
        with locks.serial(course):  # grades.csv holds every assignment: one writer at a time
            notes = run.finish(course, assignment, run.states(course, assignment), what, _policy(args),
                               getattr(args, "out", None), getattr(args, "pending", "hold"))
    for note in notes:
        print(note)
    for handle in held:
        handle.close()
    return 0
