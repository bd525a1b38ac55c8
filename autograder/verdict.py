"""The out-of-process verdict: grade one submitted notebook, part by part.

The student's cells run only inside ``autograder.sandbox`` through
``sandboxed/driver.py``; this trusted process writes the probe inputs,
reads back plain JSON and .npy/.npz (allow_pickle=False), and compares them
with the source notebook's own solution run on the same probes.

Isolation between parts: every quick probe runs in one sandbox run; if that
run dies or times out, the cell or probe that was running is charged to its
part and the run is repeated without it, so one hanging or crashing part does
not zero the others.  Training gets a run of its own with its own time limit.

Each assignment's engine (``autograder/<id>/engine.py``, see ``Context``)
decides its parts.  mlp's scores are all-or-nothing per part: every probe of a
part checks the same contract, and a mistake in any of them (forward,
backward, an edge case) means the class does not do what the part asks.
backprop gives partial credit per table entry and per case (its spec.py).

Safe to call from many processes at once: each call has its own job folder,
and the only shared files (the MNIST train split for the sandbox, disguised
per grading seed: see mlp/training.py) are written once by atomic rename.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import reference
from .extract import extract
from .mlp import diagnose, spec, training
from .sandbox import Limits, run as sandbox_run, safe_read

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "sandboxed" / "driver.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
STATUSES = ("passed", "failed", "error", "timeout", "memory", "crashed", "missing")
MAX_MESSAGES = 3


@dataclass
class PartVerdict:
    part: str
    cell_id: str
    score: float
    max_score: float
    status: str
    messages: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


@dataclass
class Verdict:
    assignment: str
    parts: list[PartVerdict]
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seed: int | None = None

    @property
    def score(self) -> float:
        return sum(p.score for p in self.parts)

    @property
    def max_score(self) -> float:
        return sum(p.max_score for p in self.parts)

    def part(self, name: str) -> PartVerdict:
        return next(p for p in self.parts if p.part == name)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Verdict":
        data = json.loads(text)
        data["parts"] = [PartVerdict(**p) for p in data["parts"]]
        return cls(**data)


# ------------------------------------------------------------------ limits
def default_limits(kind: str) -> Limits:
    """CPU time is what student code is judged by (it does not depend on how many
    gradings share the machine); the wall limit, twice as long, only catches sleeping."""
    if kind == "train":   # the reference trains in ~10 s of CPU; slow-but-correct loops get room
        return Limits(wall_seconds=180, cpu_seconds=90, memory_bytes=3 << 30,
                      file_bytes=32 << 20, nproc=64, output_bytes=1 << 20)
    return Limits(wall_seconds=40, cpu_seconds=20, memory_bytes=2 << 30,
                  file_bytes=32 << 20, nproc=64, output_bytes=1 << 20)


# ------------------------------------------------------------------ one driver run
MAX_JSON, MAX_NPZ = 1 << 20, 64 << 20


class Job:
    """One driver run: a trusted read-only folder (request + inputs) and a
    workdir that belongs to the student's code once the run starts."""

    def __init__(self, root: Path, tag: str, cells: list[dict], probes: list[dict], inputs: Path):
        self.inputs = inputs
        self.ro = _fresh_dir(root, f"{tag}-request-")
        self.request = self.ro / "request.json"
        self.request.write_text(json.dumps({"cells": cells, "probes": probes, "inputs": str(inputs)}))
        self.work = _fresh_dir(root, f"{tag}-work-")
        self.cells, self.probes = cells, probes

    def argv(self) -> list[str]:
        return [str(PYTHON), "-I", "-B", str(DRIVER), str(self.request), str(self.work)]

    def run(self, limits, readonly=()):
        return sandbox_run(self.argv(), workdir=self.work, limits=limits,
                           readonly=[DRIVER.parent, self.ro, self.inputs, *readonly])

    def has(self, name: str) -> bool:
        return os.path.lexists(self.work / "out" / name)

    def outputs(self) -> dict[str, tuple[dict, dict]]:
        """Untrusted files → (info, arrays) per finished probe; anything malformed counts as absent."""
        results = {}
        for p in self.probes:
            name = p["name"]
            try:
                info = json.loads(safe_read(self.work / "out" / f"{name}.json", MAX_JSON))
                raw = safe_read(self.work / "out" / f"{name}.npz", MAX_NPZ)
                with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                    arrays = {k: np.asarray(z[k], dtype=np.float64) for k in z.files}
            except Exception:  # noqa: BLE001 - missing, forged or oversized: did not finish
                continue
            if isinstance(info, dict) and isinstance(info.get("status"), str):
                info["error"] = str(info.get("error") or "")[:800] or None
                info["stage"] = str(info.get("stage") or "")[:80]
                results[name] = (info, arrays)
        return results

    def culprit(self) -> tuple[str, str] | None:
        """(kind, name) of what was running when the driver stopped."""
        for c in self.cells:
            if self.has(f"cell-{c['id']}.started") and not self.has(f"cell-{c['id']}.done"):
                return "cell", c["id"]
        for p in self.probes:
            if self.has(f"{p['name']}.started") and not self.has(f"{p['name']}.json"):
                return "probe", p["name"]
        return None


def _fresh_dir(root: Path, prefix: str) -> Path:
    """A new folder (a reused workdir never mixes runs), readable by the sandbox user."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    os.chmod(path, 0o755)
    return path


def _save_arrays(root: Path, arrays: dict) -> Path:
    folder = _fresh_dir(root, "arrays-")
    for name, arr in arrays.items():
        np.save(folder / name, arr, allow_pickle=False)
    return folder


def _status_of(result) -> tuple[str, str]:
    if result.timed_out or result.cpu_exceeded:
        return "timeout", "took too long (infinite loop, or very slow code?)"
    if result.memory_exceeded:
        return "memory", "used too much memory"
    return "crashed", f"made the Python process die (exit code {result.returncode})"


# ------------------------------------------------------------------ reference values
_EXPECTED: dict = {}


def _expected(source: Path, seed: int, probes) -> dict:
    """The source notebook's solution on these probes, once per (source, seed) per process.
    The source is trusted: it runs in a plain subprocess, not the sandbox."""
    key = (str(source), source.stat().st_mtime_ns, seed)
    if key not in _EXPECTED:
        ex = extract(source, source)
        with tempfile.TemporaryDirectory(prefix="nnkit-ref-") as tmp:
            root = Path(tmp)
            inputs = _save_arrays(root, {k: v for p in probes for k, v in p.arrays.items()})
            job = Job(root, "ref", ex.program(), [p.as_request() for p in probes], inputs)
            env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NNKIT_FAST": "1", "NNKIT_OFFLINE": "1"}
            done = subprocess.run(job.argv(), env=env, capture_output=True, timeout=300, text=True)
            got = job.outputs()
        broken = [n for n, (info, _) in got.items() if info["status"] != "ok"] + \
                 [p.name for p in probes if p.name not in got]
        if broken:
            raise RuntimeError(f"the source notebook's solution fails the grader's probes {broken}: "
                               f"{[got[n][0].get('error') for n in broken if n in got]} {done.stderr[-2000:]}")
        _EXPECTED.clear()          # one seed at a time is all a run needs
        _EXPECTED[key] = got
    return _EXPECTED[key]


def _resolve_seed(seed: int | None) -> int:
    """Explicit seed, else $NNKIT_GRADER_SEED (one run's workers then agree), else one per process."""
    if seed is not None:
        return int(seed)
    if os.environ.get("NNKIT_GRADER_SEED"):
        return int(os.environ["NNKIT_GRADER_SEED"])
    global _PROCESS_SEED
    if _PROCESS_SEED is None:
        _PROCESS_SEED = secrets.randbelow(1 << 31)
    return _PROCESS_SEED


_PROCESS_SEED: int | None = None


# ------------------------------------------------------------------ grading
def _quick(root: Path, ex, probes, limits, flags) -> tuple[dict, dict]:
    """Run all quick probes, restarting without whatever hangs or kills the process.
    Returns (results per probe, {part: (status, message)} for parts charged with a failure)."""
    present = [p for p in probes if p.part in ex.cells]
    inputs = _save_arrays(root, {k: v for p in present for k, v in p.arrays.items()})
    results: dict = {}
    charged: dict = {}
    for attempt in range(len(spec.CLASSES) + 1):
        todo = [p for p in present if p.name not in results and p.part not in charged]
        if not todo:
            break
        cells = [c for c in ex.program() if c["id"] not in charged]
        job = Job(root, f"quick{attempt}", cells, [p.as_request() for p in todo], inputs)
        result = job.run(limits)
        for reason in getattr(result, "degraded", None) or []:
            if f"sandbox-degraded:{reason}" not in flags:
                flags.append(f"sandbox-degraded:{reason}")
        results.update(job.outputs())
        # The markers are written where the student's code can forge or delete them: "done" counts
        # only with every probe's result there, and a run that looks as if the driver never reached
        # the student's code is the grader's failure only if the driver works without that code.
        if job.has("done") and all(p.name in results for p in todo):
            break
        culprit = job.culprit()
        if (not job.has("cells.json") and not job.has("cell-setup.started")) or culprit == ("cell", "setup"):
            if not _driver_works(root, ex, inputs, limits):
                raise RuntimeError(f"the grading driver failed on the trusted setup cell alone: {result.stderr[-2000:]}")
            started = [c["id"] for c in cells[1:] if job.has(f"cell-{c['id']}.started")]
            culprit = ("cell", started[-1] if started else cells[1]["id"]) if len(cells) > 1 else None
        status, what = _status_of(result)
        if culprit is None and job.has("done"):    # finished, but a result is missing or unreadable
            status, what = "crashed", "gave no result the grader could read (too large, or its files were changed)"
        if culprit is None:          # died between probes: charge the first unfinished one
            rest = [p for p in todo if p.name not in results]
            if not rest:
                break
            culprit = ("probe", rest[0].name)
        kind, name = culprit
        part = name if kind == "cell" else next(p.part for p in todo if p.name == name)
        where = f"running your {part} cell" if kind == "cell" else f"testing {spec.CLASSES[part]}"
        charged[part] = (status, f"{where} {what}")
    return results, charged


def _driver_works(root: Path, ex, inputs: Path, limits) -> bool:
    """The driver with the trusted setup cell only (no student code, no probes): does it finish?"""
    job = Job(root, "sanity", ex.program()[:1], [], inputs)
    job.run(limits)
    return job.has("done")


_TRAINED: dict = {}


def _train_cached(root: Path, ex, limits, seed: int) -> PartVerdict:
    """Training depends only on the four cells it uses (the setup and the settings are
    the grader's) and on the grading seed (its secret permutation of the data, see
    training.permutations), so identical code is trained once per process and seed."""
    key = hashlib.sha256(json.dumps([ex.setup, training.SETTINGS, int(seed),
                                     *(ex.cells.get(p) for p in spec.TRAINING_NEEDS)]).encode()).hexdigest()
    if key not in _TRAINED:
        verdict = _judge_training(*_train(root, ex, limits, seed), seed)
        if verdict.status not in ("timeout", "memory", "crashed"):   # those may depend on the machine's load
            _TRAINED[key] = verdict
        return verdict
    return dataclasses.replace(_TRAINED[key], messages=list(_TRAINED[key].messages))


def _train(root: Path, ex, limits, seed: int) -> tuple[dict | None, dict, tuple | None]:
    need = [p for p in spec.TRAINING_NEEDS if p not in ex.cells]
    if need:
        return None, {}, ("missing", f"training needs your {', '.join(need)} cell(s)")
    x_path, y_path = training.train_files(seed)     # the sandbox sees only this seed's folder
    cells = [c for c in ex.program() if c["id"] in ("setup", *spec.TRAINING_NEEDS)]
    job = Job(root, "train", cells, [training.request(x_path, y_path)], x_path.parent)
    result = job.run(limits)
    got = job.outputs()
    if "training" in got:
        return got["training"][0], got["training"][1], None
    status, what = _status_of(result)
    if status == "timeout":
        return None, {}, (status, f"training did not finish within {limits.cpu_seconds:.0f} s of CPU time: "
                                  "is your code very slow (Python loops over samples)?")
    return None, {}, (status, f"training {what}")


# ------------------------------------------------------------------ assignments
@dataclass
class Context:
    """What an assignment's engine gets for one submission; it returns the parts."""
    ex: object                  # extract.Extraction: trusted setup + the student's solution cells
    source: Path                # the source notebook (trusted: expected values come from it)
    seed: int
    limits: dict                # {"quick": Limits, "train": Limits}
    root: Path                  # this grading's job folder
    flags: list                 # append-only: flags for the whole submission
    train: bool = True


def gradable() -> list[str]:
    """Assignments with an engine: ``autograder/<id>/engine.py`` exposing
    ``grade(ctx: Context) -> list[PartVerdict]`` (and optionally ``PARTS_OF_CELL``,
    solution cell id -> parts, where parts are not named after their cells)."""
    here = Path(__file__).resolve().parent
    return sorted(p.parent.name for p in here.glob("*/engine.py") if (p.parent / "__init__.py").is_file())


def engine(assignment: str):
    if assignment not in gradable():
        raise ValueError(f"no verdict engine for assignment {assignment!r}")
    return importlib.import_module(f"{__package__}.{assignment}.engine")


def grade_notebook(path, assignment: str = "mlp", *, seed: int | None = None, limits=None,
                   workdir=None, source=None, train: bool = True) -> Verdict:
    """Grade one submission.  ``limits``: a sandbox Limits for the quick run
    (training keeps its own) or a dict {"quick": .., "train": ..}.  ``source``:
    the assignment's source notebook (default source/<assignment>/<assignment>.ipynb).
    ``train=False`` skips the training part (scored 0, flagged) for fast checks."""
    grader = engine(assignment)
    start = time.perf_counter()
    source = Path(source) if source else reference.source_notebook(assignment)
    seed = _resolve_seed(seed)
    if not isinstance(limits, dict):
        limits = {"quick": limits}
    quick_limits = limits.get("quick") or default_limits("quick")
    train_limits = limits.get("train") or default_limits("train")

    ex = extract(path, source)
    flags = list(ex.flags)

    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="nnkit-grade-")) if own_dir else Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    try:
        parts = grader.grade(Context(ex, source, seed, {"quick": quick_limits, "train": train_limits},
                                     root, flags, train))
    finally:
        if own_dir:    # rmtree does not follow the symlinks student code may have planted
            shutil.rmtree(root, ignore_errors=True)
    parts_of_cell = getattr(grader, "PARTS_OF_CELL", {})
    for cell, lines in ex.magics.items():
        for p in parts:
            if p.part in parts_of_cell.get(cell, (cell,)):
                p.messages.append(f"removed {len(lines)} IPython magic/shell line(s) from your cell")
    return Verdict(assignment, parts, flags, round(time.perf_counter() - start, 3), seed)


def grade_mlp(ctx: Context) -> list[PartVerdict]:
    """The mlp engine (autograder/mlp/engine.py): quick probes with restarts, then training."""
    ex, root, flags = ctx.ex, ctx.root, ctx.flags
    probes = spec.quick_probes(ctx.seed)
    expected = _expected(ctx.source, ctx.seed, probes)
    results, charged = _quick(root, ex, probes, ctx.limits["quick"], flags)
    parts = []
    for part in spec.CLASSES:
        parts.append(_judge_part(part, ex, probes, results, charged, expected))
    if ctx.train:
        stuck = [p for p in spec.TRAINING_NEEDS if charged.get(p, ("",))[0] == "timeout"]
        if stuck:    # it would only hang again, for the whole training time limit
            parts.append(PartVerdict("training", spec.cell_id("training"), 0.0, float(spec.POINTS["training"]),
                                     "timeout", [f"training needs your {', '.join(stuck)} code, which took too long"]))
        else:
            parts.append(_train_cached(root, ex, ctx.limits["train"], ctx.seed))
    else:
        flags.append("training-skipped")
        parts.append(PartVerdict("training", spec.cell_id("training"), 0.0, float(spec.POINTS["training"]),
                                 "missing", ["training was not run (train=False)"]))
    return parts


def _judge_part(part, ex, probes, results, charged, expected) -> PartVerdict:
    points = float(spec.POINTS[part])
    verdict = PartVerdict(part, spec.cell_id(part), 0.0, points, "failed")
    if part not in ex.cells:
        verdict.status, verdict.messages = "missing", [f"no cell with id '{part}' in the notebook"]
        return verdict
    klass = spec.CLASSES[part]
    messages, errored = [], False
    for probe in (p for p in probes if p.part == part):
        info, got = results.get(probe.name, (None, {}))
        if probe.compare:
            msg = diagnose.judge_probe(probe, klass, info, got, expected[probe.name][1])
        else:
            msg = diagnose.judge_init(probe, info, got)
        errored |= info is not None and info.get("status") != "ok"
        if msg and msg not in messages:
            messages.append(msg)
    if part in charged:
        status, msg = charged[part]
        verdict.status, verdict.messages = status, [msg] + messages[:MAX_MESSAGES - 1]
        return verdict
    if any(p.name not in results for p in probes if p.part == part):
        # no result is never a pass (the run was cut short, or its files were forged or removed)
        verdict.status, verdict.messages = "crashed", [f"testing {klass} gave no result: the grading run "
                                                       "stopped before it finished"] + messages[:MAX_MESSAGES - 1]
        return verdict
    if not messages:
        verdict.score, verdict.status, verdict.messages = points, "passed", [f"{klass}: all checks passed"]
        return verdict
    verdict.status = "error" if errored else "failed"
    verdict.messages = messages[:MAX_MESSAGES]
    return verdict


def _judge_training(info, got, failure, seed: int) -> PartVerdict:
    points = float(spec.POINTS["training"])
    verdict = PartVerdict("training", spec.cell_id("training"), 0.0, points, "failed")
    if failure:
        verdict.status, verdict.messages = failure[0], [failure[1]]
        return verdict
    passed, message, _ = training.judge(info, got, seed)
    verdict.messages = [message]
    if passed:
        verdict.score, verdict.status = points, "passed"
    elif info is not None and info.get("status") != "ok":
        verdict.status = "error"
    return verdict


if __name__ == "__main__":   # python -m autograder.verdict NOTEBOOK [ASSIGNMENT [SOURCE]]
    v = grade_notebook(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "mlp",
                       source=sys.argv[3] if len(sys.argv) > 3 else None)
    print(v.to_json())
