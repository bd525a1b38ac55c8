"""Run each submission and record its grades: nbgrader's autograde, split in three.

nbgrader's Autograde converter sanitizes, executes and saves grades in one
process. Here the same nbgrader preprocessors run in the same order, but:

1. sanitize (main process: reads the gradebook): ClearOutput, DeduplicateIds,
   OverwriteKernelspec, OverwriteCells (puts the hidden tests back),
   CheckCellMetadata;
2. execute (worker process): the sanitized notebook runs in `sandbox.run` via
   sandboxed/run_notebook.py, then `verdict.grade_notebook` grades the parts
   in its own sandboxes;
3. save (main process, the only gradebook writer): outputs are copied back
   onto the trusted sanitized cells, then IgnorePattern, LimitOutput,
   SaveAutoGrades, AssignLatePenalties, CheckCellMetadata; finally the
   verdict's scores replace the in-kernel ones.
"""
from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import json
import os
import shutil
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import nbformat

from autograder.pipeline import flags as F
from autograder.pipeline.course import ROOT, Course, read_json, write_json

RUNNER = Path(__file__).resolve().parents[1] / "sandboxed" / "run_notebook.py"
# An executed notebook bigger than this was not written by our runner alone: ignore its outputs.
MAX_EXECUTED_BYTES = 64 * 2**20


@dataclass
class Settings:
    cell_timeout: int = 120          # seconds per cell (nbclient)
    wall_seconds: int = 900          # whole notebook, kernel start to last cell
    memory_bytes: int = 2 * 2**30
    nproc: int = 256
    file_bytes: int = 256 * 2**20
    output_bytes: int = 2 * 2**20    # notebook outputs kept (and the runner's own stdout)
    workers: int = os.cpu_count() or 1
    scheduler: str | None = None     # a Dask scheduler's address; None: local (a Dask cluster if workers > 1)
    force: bool = False
    seed: int | None = None
    verdict: bool = True             # use autograder.engine.verdict where the assignment has hidden tests
    rebuild_gradebook: bool = False  # source cells changed: drop this assignment's gradebook submissions

    def limits(self):
        from autograder.isolation.sandbox import Limits
        return Limits(wall_seconds=self.wall_seconds, cpu_seconds=int(self.wall_seconds), memory_bytes=self.memory_bytes,
                      file_bytes=self.file_bytes, nproc=self.nproc, output_bytes=self.output_bytes)


def has_verdict(assignment: str, source_root: Path | None = None) -> bool:
    """Whether the assignment has a grading spec (built in, or in specs/ beside the course's source
    folder): the engine grades it out of process.  Without one it is refused (``autograde``)."""
    from autograder.engine.verdict import gradable
    return assignment in gradable(source_root)


def data_env() -> tuple[dict, list[str]]:
    """Environment and read-only mounts that let notebooks load MNIST, iris and digits offline inside
    the sandbox (which has no scikit-learn)."""
    # NNKIT_UNWATCHED: the in-kernel run's outputs reach nobody (for_formgrader shows the student's own)
    env = {"NNKIT_FAST": "1", "NNKIT_UNWATCHED": "1", "NNKIT_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    readonly = []
    for candidate in (os.environ.get("MNIST_DIR"),
                      str(Path(os.environ.get("NNKIT_DATA", Path.home() / ".cache" / "nnkit")) / "mnist")):
        if candidate and Path(candidate).is_dir():
            env["MNIST_DIR"] = str(Path(candidate).resolve())
            readonly.append(str(Path(candidate).resolve()))
            break
    from nnkit.data import small_cache_dir
    for candidate in (os.environ.get("NNKIT_SMALL_DIR"), str(small_cache_dir())):   # iris, digits
        if candidate and Path(candidate).is_dir():
            env["NNKIT_SMALL_DIR"] = str(Path(candidate).resolve())
            readonly.append(str(Path(candidate).resolve()))
            break
    return env, readonly


# ---- 1. sanitize (main process) -------------------------------------------------------------

def resources(course: Course, student: str, assignment: str, notebook: str) -> dict:
    return {"nbgrader": {"student": student, "assignment": assignment, "notebook": notebook,
                         "db_url": course.db_url}, "metadata": {"path": str(course.submitted(student, assignment))}}


def sanitize(course: Course, student: str, assignment: str, notebook: str) -> nbformat.NotebookNode:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )
    nb = nbformat.read(course.submitted(student, assignment) / f"{notebook}.ipynb", as_version=4)
    res = resources(course, student, assignment, notebook)
    for pp in (ClearOutput(), DeduplicateIds(), OverwriteKernelspec(), OverwriteCells(), CheckCellMetadata()):
        nb, res = pp.preprocess(nb, res)
    return nb


# ---- 2. execute (worker process) ------------------------------------------------------------

def last_test_cell(nb) -> int | None:
    """Index of the last autograded test cell: the in-kernel run stops there.  What a later code cell
    does reaches nobody: no grade follows it, and the notebook a person grades shows the student's own
    outputs for every cell but the tests (``for_formgrader``).  In mlp those free cells (plots, the
    activation/loss study, the deeper network) were 3 s of the run's 5.5 s of CPU.  None: no test cell
    (run everything)."""
    found = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and cell.get("metadata", {}).get("nbgrader", {}).get("grade")
             and not cell.get("metadata", {}).get("nbgrader", {}).get("solution")]
    return found[-1] if found else None


def execute_job(job: dict) -> dict:
    """Run one sanitized notebook in the sandbox, then the verdict. Never raises."""
    started = time.monotonic()
    out = {"run": None, "status": None, "verdict": None, "error": ""}
    jobdir = Path(job["jobdir"])
    try:
        from autograder.isolation import sandbox
        settings = Settings(**job["settings"])
        env, readonly = data_env()
        workdir = jobdir / "run"
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        shutil.copy(jobdir / "sanitized.ipynb", workdir / "notebook.ipynb")
        for extra in job.get("extra_files", []):  # data files of the assignment, as nbgrader copies them
            shutil.copy(extra, workdir / Path(extra).name)
        from autograder.engine import carry
        carried = carry.prepare(Path(job["source_notebook"]), jobdir / "carry")
        if carried:     # the reference's earlier classes, as the verdict uses them
            env["NNKIT_CARRY_DIR"] = str(carried)
            readonly.append(str(carried))
        home = workdir / "home"
        env.update(IPYTHONDIR=str(home / ".ipython"), JUPYTER_RUNTIME_DIR=str(home / ".rt"),
                   JUPYTER_DATA_DIR=str(home / ".jd"), MPLCONFIGDIR=str(home / ".mpl"), NNKIT_DATA=str(home / ".nnkit"))
        argv = [sys.executable, str(RUNNER), str(workdir / "notebook.ipynb"),
                str(workdir / "executed.ipynb"), str(workdir / "status.json"),
                "--cell-timeout", str(settings.cell_timeout), "--max-output-bytes", str(settings.output_bytes)]
        last = last_test_cell(nbformat.read(jobdir / "sanitized.ipynb", as_version=4))   # ours, not yet run
        if last is not None:
            argv += ["--last-cell", str(last)]
        result = sandbox.run(argv, workdir=str(workdir), limits=settings.limits(), env=env,
                             readonly=[str(RUNNER.parent)] + readonly)
        out["run"] = {k: getattr(result, k) for k in ("returncode", "timed_out", "cpu_exceeded", "memory_exceeded",
                                                       "signal", "degraded", "seconds", "disk_full")}
        out["run"]["stderr_tail"] = str(result.stderr or "")[-2000:]
        # Everything in workdir is now attacker-controlled: read it only through isolation.results.
        from autograder.isolation import results
        try:
            out["status"] = results.read_json(workdir / "status.json", 100_000, root=workdir, uid=result.uid)
        except Exception:  # noqa: BLE001 - missing, oversized or garbage: the run left no status
            out["status"] = None
        try:
            (jobdir / "executed.ipynb").write_bytes(
                results.read_bytes(workdir / "executed.ipynb", MAX_EXECUTED_BYTES, root=workdir, uid=result.uid))
        except Exception:  # noqa: BLE001
            pass
        out["rejected"] = [f.flag_detail() for f in results.audit(workdir, uid=result.uid)]
        if job.get("verdict"):
            from autograder.engine import verdict
            disk_before = sandbox.DISK_FULL_RUNS
            v = verdict.grade_notebook(job["notebook_path"], job["assignment"], seed=settings.seed,
                                       workdir=str(jobdir / "verdict"), source=job["source_notebook"])
            out["verdict"] = v.to_json() if hasattr(v, "to_json") else v
            if isinstance(out["verdict"], str):
                out["verdict"] = json.loads(out["verdict"])
            out["rejected"] += [f.flag_detail() for f in results.audit(jobdir / "verdict")]
            out["run"]["disk_full"] |= sandbox.DISK_FULL_RUNS > disk_before
    except Exception:  # noqa: BLE001 - one submission's failure is reported, never raised
        out["error"] = traceback.format_exc()[-4000:]
    finally:  # what the student's code left is read: nothing of it stays on the host
        for leftover in ("run", "verdict", "carry"):
            shutil.rmtree(jobdir / leftover, ignore_errors=True)
    out["seconds"] = round(time.monotonic() - started, 2)
    return out


# ---- 3. save (main process) -----------------------------------------------------------------

def _not_run(reason: str):
    return nbformat.v4.new_output("error", ename="NotRun", evalue=reason, traceback=[f"NotRun: {reason}"])


def merge_outputs(sanitized, executed, cells_done: int, reason: str):
    """Trusted cells, untrusted outputs. Cells that never ran get an error, so they earn nothing."""
    nb = copy.deepcopy(sanitized)
    same = executed is not None and len(executed.cells) == len(nb.cells) and all(
        a.cell_type == b.cell_type and a.source == b.source for a, b in zip(nb.cells, executed.cells))
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if same and i < cells_done:
            cell.outputs = executed.cells[i].get("outputs", [])
            cell.execution_count = executed.cells[i].get("execution_count")
        else:
            cell.outputs = [_not_run(reason)]
    try:
        nbformat.validate(nb)
    except Exception:  # noqa: BLE001 - outputs the kernel forged into an invalid shape: count nothing
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [_not_run("the notebook's outputs could not be read")], None
    return nb


def run_flags(out: dict, nb) -> list[str]:
    run, status = out.get("run") or {}, out.get("status") or {}
    found = []
    names = {o.get("ename") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])}
    if run.get("timed_out") or run.get("cpu_exceeded") or status.get("timeouts") or "CellTimeoutError" in names:
        found.append(F.TIMEOUT)
    if run.get("memory_exceeded") or "MemoryError" in names:
        found.append(F.MEMORY)
    killed = run and not (run.get("timed_out") or run.get("cpu_exceeded") or run.get("memory_exceeded")) and (
        run.get("returncode") not in (0, None) or run.get("signal"))
    if status.get("dead_kernel") or killed or (run and not status):
        found.append(F.KERNEL_DIED)
    if status.get("truncated"):
        found.append(F.OUTPUT_TRUNCATED)
    if run.get("degraded"):
        found.append(F.SANDBOX_DEGRADED)
    if run.get("disk_full") or status.get("disk_full"):
        found.append(F.DISK)
    found += [F.rejected(detail) for detail in out.get("rejected", [])]
    return found


def save(course: Course, student: str, assignment: str, notebook: str, sanitized, out: dict, jobdir: Path):
    """nbgrader's post-execution steps on the merged notebook; writes gradebook and autograded/."""
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )
    executed = None
    path = jobdir / "executed.ipynb"
    if path.exists():
        try:
            executed = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - unreadable output counts as nothing ran
            executed = None
    status = out.get("status") or {}
    flags = []
    reason = "the notebook stopped before this cell ran"
    nb = merge_outputs(sanitized, executed, int(status.get("cells_done", 0) or 0), reason)
    flags += run_flags(out, nb)
    res = resources(course, student, assignment, notebook)
    for pp in (IgnorePattern(), LimitOutput(), SaveAutoGrades(), AssignLatePenalties(), CheckCellMetadata()):
        nb, res = pp.preprocess(nb, res)
    dest = course.autograded(student, assignment)
    dest.mkdir(parents=True, exist_ok=True)
    shown = for_formgrader(nb, course.submitted(student, assignment) / f"{notebook}.ipynb",
                           course.source_dir(assignment) / f"{notebook}.ipynb")
    shown, _ = LimitOutput().preprocess(shown, res)
    nbformat.write(shown, dest / f"{notebook}.ipynb")
    return nb, flags


# Output types a person grading in formgrader sees from the submitted notebook. HTML and JavaScript
# from a student's notebook would run in the instructor's Jupyter page, so they are left out.
SHOWN_OUTPUT_TYPES = ("text/plain", "image/png", "image/jpeg")


def _shown_output(output):
    if output.get("output_type") in ("stream", "error"):
        return output
    data = {k: v for k, v in output.get("data", {}).items() if k in SHOWN_OUTPUT_TYPES}
    if not data:
        return None
    kept = copy.deepcopy(output)
    kept["data"] = data
    return kept


def _solution_region(text: str) -> str:
    begin, end = text.find("### BEGIN SOLUTION"), text.find("### END SOLUTION")
    if begin < 0 or end < begin:
        return text.strip()
    return text[begin + len("### BEGIN SOLUTION"):end].strip()


def for_formgrader(graded, submitted_path: Path, source_path: Path):
    """The notebook formgrader shows a person grading: the scores are the grader's (already saved),
    but the outputs beside written answers are the student's own as submitted (the grader reruns
    with NNKIT_FAST, so its curves and accuracies are not the student's), test cells keep the
    grader's run, and each written answer is followed by its model answer and rubric from the
    source notebook, so nobody has to open another folder."""
    nb = copy.deepcopy(graded)
    try:
        submitted = nbformat.read(submitted_path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: show the grader's run only
        submitted = None
    by_id = {c.get("id"): c for c in (submitted.cells if submitted else []) if c.cell_type == "code"}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
            continue
        mine = by_id.get(cell.get("id"))
        if mine is not None and mine.source == cell.source:
            cell.outputs = [o for o in map(_shown_output, mine.get("outputs", [])) if o is not None]
            cell.execution_count = mine.get("execution_count")
        else:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="(no such cell in the submission)")]
    models = {}
    try:
        for cell in nbformat.read(source_path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and meta.get("solution") and cell.cell_type == "markdown":
                models[meta.get("grade_id")] = _solution_region(cell.source)
    except Exception:  # noqa: BLE001 - no source notebook: nothing to add
        models = {}
    cells = [nbformat.v4.new_markdown_cell(id="for-the-grader", source=(
        "*For the grader: code cells show the student's own outputs as submitted; test cells show the "
        "grader's run. Model answers and rubrics (from the source notebook) follow each written answer. "
        "Students never see this notebook: their feedback is the kit's feedback.html.*"))]
    for cell in nb.cells:
        cells.append(cell)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in models:
            cells.append(nbformat.v4.new_markdown_cell(id=f"rubric-{grade_id}"[:64], source=(
                f"**For the grader — model answer and rubric for `{grade_id}`:**\n\n" + models[grade_id])))
    nb.cells = cells
    return nb


def zero_notebook(course: Course, student: str, assignment: str, notebook: str) -> None:
    """A missing or unreadable notebook: every grade 0, nothing to grade by hand (as nbgrader does)."""
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url) as gb:
        for grade in gb.find_submission_notebook(notebook, assignment, student).grades:
            grade.auto_score = 0
            grade.needs_manual_grade = False
        gb.db.commit()


def apply_verdict(course: Course, student: str, assignment: str, notebook: str, verdict: dict) -> list[str]:
    """The verdict's score is the grade; a different in-kernel score is flagged for review."""
    from nbgrader.api import Gradebook, MissingEntry
    flags = [F.from_verdict(f) for f in verdict.get("flags", [])]
    with Gradebook(course.db_url) as gb:
        for part in verdict.get("parts", []):
            try:
                grade = gb.find_grade(part["cell_id"], notebook, assignment, student)
            except MissingEntry:
                continue
            in_kernel = grade.auto_score
            if in_kernel is None or abs(float(in_kernel) - float(part["score"])) > 1e-6:
                flags.append(F.review(part["cell_id"]))
            grade.auto_score = float(part["score"])
            grade.needs_manual_grade = False
        gb.db.commit()
    return flags


def withhold_in_kernel(course: Course, student: str, assignment: str, notebook: str) -> None:
    """The verdict failed: in-kernel scores are forgeable by the student's code, so none of them
    stands in for it. Autograded cells score 0 until a rerun (the grader-error flag brings one)."""
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url) as gb:
        for grade in gb.find_submission_notebook(notebook, assignment, student).grades:
            if grade.auto_score is not None and not grade.needs_manual_grade:
                grade.auto_score = 0
        gb.db.commit()


def scan_flags(path: Path, assignment: str) -> list[str]:
    """Static scan findings as 'suspicious: <rule>' flags; they never change a score."""
    if importlib.util.find_spec("autograder.isolation.scan") is None:
        return []
    from autograder.isolation import scan
    known = (ROOT / "source" / assignment / f"{assignment}.ipynb").exists()
    return list(scan.flags(scan.scan_notebook(path, assignment if known else None)))


def summary(course: Course, student: str, assignment: str) -> dict:
    """Score, max and per-part rows as the gradebook now has them."""
    from nbgrader.api import Gradebook
    parts = []
    with Gradebook(course.db_url) as gb:
        sub = gb.find_submission(assignment, student)
        manual = False
        for nb in sub.notebooks:
            for grade in nb.grades:
                manual |= bool(grade.needs_manual_grade)
                parts.append({"notebook": nb.name, "cell_id": grade.name, "score": grade.score,
                              "max_score": grade.max_score, "needs_manual_grade": bool(grade.needs_manual_grade)})
        return {"score": round(float(sub.score), 4), "max_score": round(float(sub.max_score), 4),
                "timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
                "parts": parts, "needs_manual_grade": manual}


def utc(ts) -> dt.datetime | None:
    if ts is None:
        return None
    ts = dt.datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def settings_dict(settings: Settings) -> dict:
    return asdict(settings)


# ---- the step: every submission of one assignment -------------------------------------------

def register(course: Course, assignment: str, rebuild: bool):
    """Record the assignment's cells in the gradebook (nbgrader's SaveCells).

    nbgrader refuses to add or remove cells once submissions exist. With
    rebuild, this assignment's submissions leave the gradebook (manual grades
    with them; the archive is untouched) and everything is graded afresh.
    """
    from nbgrader.api import Gradebook

    from autograder.pipeline.check import release_notebooks
    try:
        return release_notebooks(course, assignment, register=True)
    except RuntimeError as exc:
        if "Cannot add or remove cells" not in str(exc):
            raise
        if not rebuild:
            raise SystemExit(f"{assignment}: the source notebook's cells changed after submissions were graded, "
                             "and nbgrader cannot update the gradebook in place. Rerun with --rebuild-gradebook "
                             "to regrade everyone from the archive (manual grades of this assignment are lost).") from exc
    with Gradebook(course.db_url) as gb:
        for sub in list(gb.find_assignment(assignment).submissions):
            gb.remove_submission(assignment, sub.student.id)
    return release_notebooks(course, assignment, register=True)


def grader_hash(assignment: str) -> str:
    """The code that decides grades for this assignment: a change to it regrades everyone."""
    import hashlib
    here = Path(__file__).resolve().parents[1]
    paths = sorted([*(here / "sandboxed").glob("*.py"), *(here / "engine").glob("*.py"),
                    *(here / "assignments" / assignment).rglob("*.py")])
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def grading_key(entry: dict | None, source_hash: str) -> dict:
    """What a grade depends on: the archived bytes, the assignment's source and its grader."""
    files = sorted([f["name"], f["sha256"]] for f in (entry or {}).get("files", []))
    return {"files": files, "source": source_hash}


def _in_gradebook(course: Course, student: str, assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(course.db_url) as gb:
        try:
            gb.find_submission(assignment, student)
            return True
        except MissingEntry:
            return False


def autograde(course: Course, assignment: str, settings: Settings, progress: bool = True,
              students: list[str] | None = None) -> dict[str, dict]:
    """Grade every (changed) submission; returns student -> state (also written to state/)."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc
    from tqdm import tqdm

    from autograder.pipeline.check import check
    from autograder.pipeline.collect import current
    from autograder.pipeline.workers import executor

    releases = register(course, assignment, settings.rebuild_gradebook)
    if settings.seed is None:
        settings = replace(settings, seed=course.grader_seed())
    source_hash = course.source_hash(assignment) + ":" + grader_hash(assignment)
    extra_files = [str(p) for p in sorted(course.source_dir(assignment).iterdir())
                   if p.is_file() and p.suffix != ".ipynb"]
    if settings.verdict and not has_verdict(assignment, course.source):
        # In-kernel scores are the student's own code grading itself: never a fallback.
        raise SystemExit(f"{assignment}: no grading spec (autograder/assignments/{assignment}/spec.py, or "
                         f"specs/{assignment}.py beside {course.source}); refusing to grade it by its in-kernel "
                         "tests, which submitted code can rewrite. Write its spec (docs/design.md).")
    use_verdict = settings.verdict
    states: dict[str, dict] = {}
    todo: list[str] = []
    for student in students or course.students(assignment):
        entry = current(course, student, assignment)
        key = grading_key(entry, source_hash)
        state = read_json(course.state_file(student, assignment))
        # A grader error is ours, not the student's: such a submission is tried again next run.
        if not settings.force and state and state.get("key") == key and F.GRADER_ERROR not in state.get("flags", []) \
                and _in_gradebook(course, student, assignment):
            states[student] = state
        else:
            todo.append(student)

    pending: dict[str, dict] = {}   # student -> work in progress
    jobs: list[tuple[str, str, dict]] = []
    for student in todo:
        entry = current(course, student, assignment)
        work = {"started": time.monotonic(), "flags": [], "problems": [], "verdict_parts": [], "entry": entry,
                "key": grading_key(entry, source_hash), "open": set(), "sanitized": {}, "runs": {}}
        pending[student] = work
        try:
            for folder in (course.autograded(student, assignment), course.work(student, assignment)):
                if folder.exists():
                    shutil.rmtree(folder)
            result = check(course, student, assignment, releases)
            work["flags"] += result.flags
            work["problems"] += result.problems
            with Gradebook(course.db_url) as gb:
                gb.update_or_create_student(student)
                stamp = parse_utc(entry["submitted_at"]) if entry else None
                gb.update_or_create_submission(assignment, student, **({"timestamp": stamp} if stamp else {}))
            for name, info in result.notebooks.items():
                if info["status"] in ("missing", "invalid"):
                    zero_notebook(course, student, assignment, name)
                    continue
                notebook_path = course.submitted(student, assignment) / f"{name}.ipynb"
                try:
                    work["flags"] += scan_flags(notebook_path, assignment)
                except Exception:  # noqa: BLE001 - a scan bug must not cost the student a grade
                    work["problems"].append("static scan failed: " + traceback.format_exc()[-500:])
                sanitized = sanitize(course, student, assignment, name)
                jobdir = course.work(student, assignment) / name
                jobdir.mkdir(parents=True, exist_ok=True)
                nbformat.write(sanitized, jobdir / "sanitized.ipynb")
                work["sanitized"][name] = sanitized
                work["open"].add(name)
                jobs.append((student, name, {
                    "jobdir": str(jobdir), "notebook_path": str(notebook_path), "assignment": assignment,
                    "settings": settings_dict(settings), "extra_files": extra_files,
                    "source_notebook": str(course.source_dir(assignment) / f"{name}.ipynb"),
                    "verdict": use_verdict and name == assignment}))
        except Exception:  # noqa: BLE001
            work["flags"].append(F.GRADER_ERROR)
            work["problems"].append(traceback.format_exc()[-2000:])
            work["open"].clear()

    def finish(student: str) -> None:
        work = pending.pop(student)
        try:
            summ = summary(course, student, assignment)
        except Exception:  # noqa: BLE001
            summ = {"score": 0.0, "max_score": 0.0, "parts": [], "timestamp": None, "needs_manual_grade": False}
            work["flags"].append(F.GRADER_ERROR)
            work["problems"].append(traceback.format_exc()[-2000:])
        entry = work["entry"] or {}
        state = {"student": student, "assignment": assignment, "key": work["key"],
                 "flags": F.merge(work["flags"]), "problems": work["problems"],
                 "score": summ["score"], "max_score": summ["max_score"], "parts": summ["parts"],
                 "verdict_parts": work["verdict_parts"], "runs": work["runs"],
                 "submitted_at": entry.get("submitted_at"), "late_marker": bool(entry.get("late_marker")),
                 "lms_id": entry.get("lms_id", ""), "full_name": entry.get("full_name", ""),
                 # time spent running this submission (in a worker), not time spent waiting in the queue
                 "seconds": round(sum(r.get("seconds") or 0 for r in work["runs"].values()), 2)}
        write_json(course.state_file(student, assignment), state)
        states[student] = state
        bar.update(1)

    bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="submission", disable=not progress,
               dynamic_ncols=True)
    with bar:
        for student in [s for s, w in pending.items() if not w["open"]]:
            finish(student)
        if jobs:
            with executor(settings.workers, settings.scheduler, execute_job, grader_hash) as pool:
                for (student, name, job), out in pool.results([(tag, tag[2]) for tag in jobs]):
                    work = pending[student]
                    try:
                        if out.get("error"):
                            work["flags"].append(F.GRADER_ERROR)
                            work["problems"].append(out["error"])
                        _, run_found = save(course, student, assignment, name, work["sanitized"][name], out,
                                            Path(job["jobdir"]))
                        work["flags"] += run_found
                        work["runs"][name] = {"run": out.get("run"), "status": out.get("status"),
                                              "seconds": out.get("seconds")}
                        if out.get("verdict"):
                            work["flags"] += apply_verdict(course, student, assignment, name, out["verdict"])
                            work["verdict_parts"] += out["verdict"].get("parts", [])
                        elif job.get("verdict"):
                            withhold_in_kernel(course, student, assignment, name)
                    except Exception:  # noqa: BLE001 - a broken worker or save: this student only
                        work["flags"].append(F.GRADER_ERROR)
                        work["problems"].append(traceback.format_exc()[-2000:])
                    work["open"].discard(name)
                    if not work["open"]:
                        finish(student)
    return states
