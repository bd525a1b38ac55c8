"""One sandboxed run of the driver, its limits, what it leaves behind as the trusted side reads it,
and the source notebook's own values on the same probes."""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from autograder.engine.extract import extract
from autograder.isolation import results as safe_results
from autograder.isolation.sandbox import Limits
from autograder.isolation.sandbox import run as sandbox_run

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parents[1] / "sandboxed" / "driver.py"
PYTHON = ROOT / ".venv" / "bin" / "python"


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

    def __init__(self, root: Path, tag: str, cells: list[dict], probes: list[dict], inputs: Path,
                 carry: Path | None = None):
        self.inputs, self.carry = inputs, carry
        self.ro = _fresh_dir(root, f"{tag}-request-")
        self.request = self.ro / "request.json"
        self.request.write_text(json.dumps({"cells": cells, "probes": probes, "inputs": str(inputs)}))
        self.work = _fresh_dir(root, f"{tag}-work-")
        self.cells, self.probes = cells, probes
        self.redacted = False

    def argv(self) -> list[str]:
        return [str(PYTHON), "-I", "-B", str(DRIVER), str(self.request), str(self.work)]

    def env(self) -> dict:
        """The earlier assignments' reference classes (engine/carry.py), when this one carries any."""
        return {"NNKIT_CARRY_DIR": str(self.carry)} if self.carry else {}

    def run(self, limits, readonly=()):
        carry = [self.carry] if self.carry else []
        return sandbox_run(self.argv(), workdir=self.work, limits=limits, env=self.env(),
                           readonly=[DRIVER.parent, self.ro, self.inputs, *carry, *readonly])

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
                modified = info.get("modified")
                info["modified"] = [m for m in modified if m in ("x", "g", "scores")][:3] \
                    if isinstance(modified, list) else []
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


def flat_outputs(info: dict, arrays: dict) -> dict:
    """One ``values`` or ``call`` probe's driver output (its .json info and .npz arrays) as one flat
    dict of arrays and messages.  The driver's conventions for these two kinds:
    ``info["bad_outputs"][key]`` (Probe.put refused a value), ``info["missing"]``
    (names not defined), ``info["case_errors"][i]`` (case i raised); a probe
    whose function is not defined (stage "lookup") yields ``{}``."""
    if info.get("status") == "error" and info.get("stage") == "lookup":
        return {}
    # The driver shares its process with the student's code, so these fields may be forged:
    # take only the shapes described above, as short strings.
    def table(key, kind):
        value = info.get(key)
        return value if isinstance(value, kind) else kind()

    flat = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    for key, message in table("bad_outputs", dict).items():
        flat[f"{str(key)[:120]}!bad"] = str(message)[:300]
    for name in table("missing", list):
        flat[f"{str(name)[:120]}!missing"] = "not defined"
    for i, message in table("case_errors", dict).items():
        flat[f"case{str(i)[:10]}!error"] = str(message)[:300]
    return flat


# ------------------------------------------------------------------ reference values
_EXPECTED: dict = {}


NNKIT = ROOT / "nnkit"
SERVER = Path(__file__).resolve().parent / "reference_server.py"


def _source_key(source: Path, carry: Path | None) -> hashlib._Hash:
    """Everything the source's cells depend on, by content: its bytes, the earlier classes it carries,
    nnkit's code.  By content, not path, so a Dask task's fresh copy of the same source hits too."""
    digest = hashlib.sha256(Path(source).read_bytes())
    folders = [(b"carry", carry)] if carry else []
    for tag, folder in [*folders, (b"nnkit", NNKIT)]:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix in (".py", ".ipynb")):
            digest.update(tag + b"\0" + str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest


def _expected_key(source: Path, seed: int, probes, carry: Path | None) -> str:
    """The source's key (``_source_key``), the seed, the probes' requests and arrays."""
    digest = _source_key(source, carry)
    digest.update(f"\0{int(seed)}\0".encode())
    digest.update(json.dumps([p.as_request() for p in probes], sort_keys=True, default=str).encode())
    for p in probes:
        for name, value in sorted(p.arrays.items()):
            value = np.ascontiguousarray(value)
            digest.update(f"{name}\0{value.dtype.str}\0{value.shape}\0".encode() + value.tobytes())
    return digest.hexdigest()


def _reference_env(carry: Path | None) -> dict:
    """The source's run: one BLAS thread, shortened training, no download, the earlier classes it carries."""
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NNKIT_FAST": "1", "NNKIT_OFFLINE": "1",
            **({"NNKIT_CARRY_DIR": str(carry)} if carry else {})}


class _WarmReference:
    """The source's cells run once in a trusted process that answers each request in a forked copy of
    itself (engine/reference_server.py): one reference run costs a fork instead of an interpreter,
    NumPy and the cells.  Never used for student code, which gets a fresh sandbox every run."""

    TIMEOUT = 300

    def __init__(self, cells: list[dict], carry: Path | None):
        self.scratch = Path(tempfile.mkdtemp(prefix="nnkit-ref-warm-"))
        self.carry = None
        if carry:       # the grading's own carry folder goes when that grading ends; the server outlives it
            self.carry = self.scratch / "carry"
            shutil.copytree(carry, self.carry)
        (self.scratch / "cells.json").write_text(json.dumps(cells))
        self.proc = subprocess.Popen([str(PYTHON), "-I", "-B", str(SERVER), str(self.scratch / "cells.json"),
                                      str(self.scratch)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=_reference_env(self.carry), text=True,
                                     start_new_session=True)

    def answer(self, job: Job) -> bool:
        """Whether the server answered the job (its outputs are then in the job's workdir)."""
        try:
            self.proc.stdin.write(f"{job.request}\t{job.work}\n")
            self.proc.stdin.flush()
            if select.select([self.proc.stdout], [], [], self.TIMEOUT)[0]:
                return self.proc.stdout.readline().strip() == "0"
        except (OSError, ValueError):
            pass
        self.close()
        return False

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)


_WARM: dict[str, _WarmReference] = {}


@atexit.register
def _close_warm() -> None:
    while _WARM:
        _WARM.popitem()[1].close()


def _warm(source: Path, carry: Path | None, cells: list[dict]) -> _WarmReference:
    key = _source_key(source, carry).hexdigest()
    if key in _WARM and _WARM[key].proc.poll() is not None:
        _WARM.pop(key).close()      # it died: its folder goes with it
    if key not in _WARM:
        while len(_WARM) >= 4:      # an assignment or two at a time is what a grading process needs
            _WARM.pop(next(iter(_WARM))).close()
        _WARM[key] = _WarmReference(cells, carry)
    return _WARM[key]


def _expected(source: Path, seed: int, probes, carry: Path | None = None) -> dict:
    """The source notebook's solution on these probes, once per content (``_expected_key``) per process.
    The source is trusted: it runs outside the sandbox, in the warm server (``_WarmReference``); a fresh
    process answers when the server cannot, and says why the source fails if it does."""
    key = _expected_key(source, seed, probes, carry)
    if key not in _EXPECTED:
        ex = extract(source, source)
        with tempfile.TemporaryDirectory(prefix="nnkit-ref-") as tmp:
            root = Path(tmp)
            inputs = _save_arrays(root, {k: v for p in probes for k, v in p.arrays.items()})
            job = Job(root, "ref", ex.program(), [p.as_request() for p in probes], inputs, carry)
            got = job.outputs() if _warm(source, carry, ex.program()).answer(job) else {}
            stderr = ""
            if not _complete(got, probes):
                job = Job(root, "ref", ex.program(), [p.as_request() for p in probes], inputs, carry)
                done = subprocess.run(job.argv(), env=_reference_env(carry), capture_output=True, timeout=300, text=True)
                got, stderr = job.outputs(), done.stderr
        if not _complete(got, probes):
            broken = [n for n, (info, _) in got.items() if info["status"] != "ok"] + \
                     [p.name for p in probes if p.name not in got]
            raise RuntimeError(f"the source notebook's solution fails the grader's probes {broken}: "
                               f"{[got[n][0].get('error') for n in broken if n in got]} {stderr[-2000:]}")
        while len(_EXPECTED) >= 4:  # a few seeds at a time is all a run needs
            del _EXPECTED[next(iter(_EXPECTED))]
        _EXPECTED[key] = got
    return _EXPECTED[key]


def _complete(got: dict, probes) -> bool:
    return all(p.name in got and got[p.name][0]["status"] == "ok" for p in probes)
