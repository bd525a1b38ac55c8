"""Where submissions run: a local process pool, or the workers of a Dask cluster.

The unit of work is one sanitized notebook -> one result dict (autograde.execute_job).
Only the process that runs `grade-all` reads the results and writes the gradebook,
autograded/ and the reports; a worker never touches the course folder.

A Dask task carries the bytes it needs (sanitized and submitted notebook, source
notebook with its hidden tests, data files, the earlier source notebooks it carries
classes from, a course's own spec) and hands back the executed notebook,
so worker machines need the same checkout (`make venv data`, run as root for the
sandbox) but no shared filesystem. A worker that dies mid-task is detected by the
scheduler, which runs the task again on another worker; each task's result is
read exactly once here, so a retried submission is recorded once.
"""
from __future__ import annotations

import base64
import logging
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autograder.engine.carry import carried, earlier_source
from autograder.engine.verdict import course_specs

# A task that killed this many workers is given up on (the student's flag says grader error).
ALLOWED_FAILURES = 3


def _pack(path: str | Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def ship(job: dict, grader: str) -> dict:
    """A job whose files travel with it, for a worker that may not see this machine's disk."""
    return {"job": {k: v for k, v in job.items() if k not in ("jobdir", "notebook_path", "source_notebook",
                                                               "extra_files")},
            "grader": grader,
            "sanitized": _pack(Path(job["jobdir"]) / "sanitized.ipynb"),
            "submitted": (Path(job["notebook_path"]).name, _pack(job["notebook_path"])),
            "source": (Path(job["source_notebook"]).name, _pack(job["source_notebook"])),
            "earlier": [(aid, _pack(earlier_source(job["source_notebook"], aid)))
                        for aid in carried(Path(job["source_notebook"]))],
            "spec": _pack(spec) if (spec := course_specs(job["source_notebook"]) / f"{job['assignment']}.py").is_file()
            else None,
            "extra": [(Path(p).name, _pack(p)) for p in job.get("extra_files", [])]}


def run_shipped(shipped: dict, execute_job, grader_hash) -> dict:
    """On the worker: lay the files out in a scratch folder, grade, hand back the executed notebook.
    ``execute_job`` and ``grader_hash`` are autograde's (passed in: this module is imported by it)."""
    job = dict(shipped["job"])
    mine = grader_hash(job["assignment"])
    if mine != shipped["grader"]:
        # Grades from another version of the grader would differ silently from this run's.
        return {"run": None, "status": None, "verdict": None, "seconds": 0.0, "executed": None,
                "error": f"worker's grader code differs from the main process's ({mine[:12]} != "
                         f"{shipped['grader'][:12]}): update the worker's checkout"}
    scratch = Path(tempfile.mkdtemp(prefix="autograder-task-"))
    try:
        scratch.chmod(0o755)
        # source/<id>/<id>.ipynb beside source/<earlier>/<earlier>.ipynb, as engine/carry.py finds them
        jobdir, submitted, source, extra = (scratch / d for d in ("job", "submitted", f"source/{job['assignment']}",
                                                                  "extra"))
        for folder in (jobdir, submitted, source, extra):
            folder.mkdir(parents=True)
        if shipped.get("spec"):      # a course's own spec (specs/<id>.py beside its source folder)
            (scratch / "specs").mkdir()
            (scratch / "specs" / f"{job['assignment']}.py").write_bytes(base64.b64decode(shipped["spec"]))
        for aid, data in shipped.get("earlier", []):
            (scratch / "source" / aid).mkdir(exist_ok=True)
            (scratch / "source" / aid / f"{aid}.ipynb").write_bytes(base64.b64decode(data))
        (jobdir / "sanitized.ipynb").write_bytes(base64.b64decode(shipped["sanitized"]))
        name, data = shipped["submitted"]
        (submitted / name).write_bytes(base64.b64decode(data))
        job["notebook_path"] = str(submitted / name)
        name, data = shipped["source"]
        (source / name).write_bytes(base64.b64decode(data))
        job["source_notebook"] = str(source / name)
        job["extra_files"] = []
        for name, data in shipped["extra"]:
            (extra / name).write_bytes(base64.b64decode(data))
            job["extra_files"].append(str(extra / name))
        job["jobdir"] = str(jobdir)
        out = execute_job(job)
        executed = jobdir / "executed.ipynb"
        # execute_job already capped and copied it out of the sandbox's reach.
        out["executed"] = _pack(executed) if executed.exists() else None
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _land(out: dict, job: dict) -> dict:
    """Main process: put the worker's executed notebook where save() reads it."""
    executed = out.pop("executed", None)
    if executed:
        (Path(job["jobdir"]) / "executed.ipynb").write_bytes(base64.b64decode(executed))
    return out


class LocalPool:
    """Forked processes on this machine; jobs read and write the course folder directly."""

    def __init__(self, workers: int, execute_job):
        import multiprocessing
        self.execute_job = execute_job
        from concurrent.futures import ProcessPoolExecutor
        self.pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=multiprocessing.get_context("fork"))

    def results(self, jobs: list[tuple[object, dict]]) -> Iterator[tuple[object, dict]]:
        from concurrent.futures import as_completed
        futures = {self.pool.submit(self.execute_job, job): tag for tag, job in jobs}
        for future in as_completed(futures):
            yield futures[future], _result(future.result)

    def close(self) -> None:
        self.pool.shutdown()


class DaskPool:
    """A Dask cluster: the one at `address`, or a local one of `workers` single-threaded processes."""

    def __init__(self, address: str | None, workers: int, execute_job, grader_hash):
        import dask
        self.execute_job, self.grader_hash = execute_job, grader_hash
        from distributed import Client, LocalCluster
        dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
        self.cluster = None
        if address is None:
            # The sandbox limits each run's memory; Dask's own memory manager would only get in its way.
            # silence_logs: a worker slow to stop under load is killed; the warning means nothing to an instructor.
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR)
            address = self.cluster.scheduler_address
        self.client = Client(address)

    def results(self, jobs: list[tuple[object, dict]]) -> Iterator[tuple[object, dict]]:
        from distributed import as_completed
        if not jobs:
            return
        grader = self.grader_hash(jobs[0][1]["assignment"])
        futures = {}
        for tag, job in jobs:
            # pure=False: a unique key per task, so two runs sharing a cluster never share a result.
            future = self.client.submit(run_shipped, ship(job, grader), self.execute_job, self.grader_hash,
                                        pure=False, retries=0)
            futures[future] = (tag, job)
        for future in as_completed(futures):
            tag, job = futures[future]
            out = _result(future.result)
            yield tag, _land(out, job)
            future.release()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _result(get) -> dict:
    """A task that raised (a worker lost too often, a broken transport) is this submission's grader error."""
    try:
        return get()
    except Exception:  # noqa: BLE001
        return {"run": None, "status": None, "verdict": None, "seconds": 0.0,
                "error": traceback.format_exc()[-2000:]}


@contextmanager
def executor(workers: int, scheduler: str | None, execute_job, grader_hash):
    """`--scheduler ADDRESS`: that cluster; else more than one worker: a local Dask cluster;
    else one local process.  ``execute_job(job) -> result`` grades one notebook; ``grader_hash``
    names the grader's code, so a worker running other code refuses."""
    pool = (DaskPool(scheduler, workers, execute_job, grader_hash) if scheduler or workers > 1
            else LocalPool(1, execute_job))
    try:
        yield pool
    finally:
        pool.close()
