"""The out-of-process verdict: grade one submitted notebook, part by part.

The student's cells run only inside ``autograder.isolation.sandbox`` through
``sandboxed/driver.py``; this trusted process writes the probe inputs,
reads back plain JSON and .npy/.npz (allow_pickle=False), and compares them
with the source notebook's own solution run on the same probes.

Isolation between parts: every quick probe runs in one sandbox run; if that
run dies or times out, the cell or probe that was running is charged to its
part and the run is repeated without it, so one hanging or crashing part does
not zero the others.  Training gets a run of its own with its own time limit.

The restart-and-blame loop, the reference comparison and the part rules are
the one engine's (``autograder/engine/grade.py``); each assignment's spec
(``autograder/assignments/<id>/spec.py``) says what to probe and how one part's
results are judged: mlp all-or-nothing per part, backprop per entry and per case.

Safe to call from many processes at once: each call has its own job folder,
and the only shared files (the MNIST train split for the sandbox, disguised
per grading seed: see engine/training.py) are written once by atomic rename.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.engine import reference
from autograder.engine.extract import extract
from autograder.isolation import results as safe_results
from autograder.isolation.sandbox import Limits, run as sandbox_run

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parents[1] / "sandboxed" / "driver.py"
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
        self.redacted = False

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
                info = safe_results.read_json(self.work / "out" / f"{name}.json", MAX_JSON, root=self.work)
                raw = safe_results.load_npz(self.work / "out" / f"{name}.npz", MAX_NPZ, root=self.work)
                arrays = {k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}
            except Exception:  # noqa: BLE001 - missing, forged or oversized: did not finish
                continue
            if isinstance(info, dict) and isinstance(info.get("status"), str):
                info["error"] = self.text(info.get("error")) or None
                info["stage"] = str(info.get("stage") or "")[:80]
                for key in ("case_errors", "bad_outputs"):
                    if isinstance(info.get(key), dict):
                        info[key] = {str(k)[:40]: self.text(v) for k, v in list(info[key].items())[:64]}
                results[name] = (info, arrays)
        return results

    def text(self, value) -> str:
        """Student-controlled text as feedback may quote it (``untrusted_text``); remembers whether
        anything had to be masked, for the instructor's flag."""
        text, masked = untrusted_text(value)
        self.redacted = self.redacted or masked
        return text

    def culprit(self) -> tuple[str, str] | None:
        """(kind, name) of what was running when the driver stopped."""
        for c in self.cells:
            if self.has(f"cell-{c['id']}.started") and not self.has(f"cell-{c['id']}.done"):
                return "cell", c["id"]
        for p in self.probes:
            if self.has(f"{p['name']}.started") and not self.has(f"{p['name']}.json"):
                return "probe", p["name"]
        return None


# A number a student could smuggle out of the sandbox: any decimal or exponent, any run of 4+ digits.
# Small integers (shapes, line numbers) stay: messages about shapes need them.
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d{4,})(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+")
MAX_TEXT = 300
REDACTED = "redacted-output"      # numbers masked in the student's own text


def untrusted_text(value) -> tuple[str, bool]:
    """Text the student's code wrote (an exception message, a refused value), bounded and with its
    numbers masked, so that the hidden inputs never reach feedback through it.
    Returns (text, whether anything was masked)."""
    raw = str(value or "")
    text = _NUMBER.sub("…", raw[:MAX_TEXT]) + ("…" if len(raw) > MAX_TEXT else "")
    return text, _NUMBER.search(raw[:MAX_TEXT]) is not None


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


@dataclass
class Context:
    """What an assignment's engine gets for one submission; it returns the parts."""
    ex: object                  # extract.Extraction: trusted setup + the student's solution cells
    source: Path                # the source notebook (trusted: expected values come from it)
    seed: int                   # the course's secret grading seed: never handed to a sandbox
    limits: dict                # {"quick": Limits, "train": Limits}
    root: Path                  # this grading's job folder
    flags: list                 # append-only: flags for the whole submission
    train: bool = True
    probe_seed: int = 0         # this submission's hidden inputs: derived from seed and its code


def submission_seed(seed: int, ex) -> int:
    """The seed of one submission's hidden inputs: a one-way function of the course's secret seed
    and the code graded, so a submission that leaks its own inputs learns neither the secret nor
    anyone else's inputs, and identical code meets identical inputs."""
    code = json.dumps([ex.setup, sorted(ex.cells.items())]).encode()
    digest = hashlib.sha256(f"nnkit probes {int(seed)}\0".encode() + code).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def course_specs(source: Path) -> Path:
    """Where a course keeps the specs of assignments that are not built in: ``specs/`` beside
    its source folder (source/<id>/<id>.ipynb -> specs/<id>.py), never inside source/<id>/,
    whose files are released to students."""
    return Path(source).resolve().parent.parent.parent / "specs"


def gradable(source_root: Path | None = None) -> list[str]:
    """Assignments with a spec: built in (``autograder/assignments/<id>/spec.py`` defining
    ``SPEC``), or, for a course whose source folder is ``source_root``, ``specs/<id>.py`` beside it."""
    here = Path(__file__).resolve().parents[1] / "assignments"
    found = {p.parent.name for p in here.glob("*/spec.py") if (p.parent / "__init__.py").is_file()
             and "\nSPEC = " in p.read_text()}
    if source_root is not None:
        found |= {p.stem for p in (Path(source_root).resolve().parent / "specs").glob("*.py")}
    return sorted(found)


def load_spec(assignment: str, source: Path | None = None):
    """The assignment's Spec; an assignment without one is refused, never graded some other way."""
    if assignment in gradable():
        return importlib.import_module(f"autograder.assignments.{assignment}.spec").SPEC
    path = course_specs(source) / f"{assignment}.py" if source else None
    if path is None or not path.is_file():
        raise ValueError(f"no grading spec for assignment {assignment!r}: write autograder/assignments/"
                         f"{assignment}/spec.py (or specs/{assignment}.py beside the course's source folder) "
                         "defining SPEC; see docs/design.md")
    module_spec = importlib.util.spec_from_file_location(f"course_specs.{assignment}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module      # dataclasses look their module up there
    module_spec.loader.exec_module(module)
    return module.SPEC


def grade_notebook(path, assignment: str = "mlp", *, seed: int | None = None, limits=None,
                   workdir=None, source=None, train: bool = True) -> Verdict:
    """Grade one submission.  ``limits``: a sandbox Limits for the quick run
    (training keeps its own) or a dict {"quick": .., "train": ..}.  ``source``:
    the assignment's source notebook (default source/<assignment>/<assignment>.ipynb).
    ``train=False`` skips the training part (scored 0, flagged) for fast checks."""
    from autograder.engine.grade import grade
    start = time.perf_counter()
    source = Path(source) if source else reference.source_notebook(assignment)
    spec = load_spec(assignment, source)
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
        parts = grade(Context(ex, source, seed, {"quick": quick_limits, "train": train_limits},
                              root, flags, train, submission_seed(seed, ex)), spec)
    finally:
        if own_dir:    # rmtree does not follow the symlinks student code may have planted
            shutil.rmtree(root, ignore_errors=True)
    cell_of = {p.name: p.cell for p in spec.all_parts()}
    for cell, lines in ex.magics.items():
        for p in parts:
            if cell_of[p.part] == cell:
                p.messages.append(f"removed {len(lines)} IPython magic/shell line(s) from your cell")
    return Verdict(assignment, parts, flags, round(time.perf_counter() - start, 3), seed)


if __name__ == "__main__":   # python -m autograder.engine.verdict NOTEBOOK [ASSIGNMENT [SOURCE]]
    v = grade_notebook(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "mlp",
                       source=sys.argv[3] if len(sys.argv) > 3 else None)
    print(v.to_json())
