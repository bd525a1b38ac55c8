"""Runs a student's cells and the grader's probes inside the sandbox.

Usage: python driver.py REQUEST.json WORKDIR.  The request and the input
arrays (its "inputs" folder) are read-only; the driver writes one
``WORKDIR/out/<probe>.json`` (+ ``.npz``) per probe as soon as that probe
ends, so a crash or a timeout later keeps what came before.  Before a cell or a
probe starts, ``out/<name>.started`` is written: the grader uses it to find
the culprit when the process dies.

This file holds no expected value and no tolerance: it only reports what the
student's code returns, as plain float64/int arrays.  It runs with the
student's code in the same interpreter, so the grader treats everything it
writes as untrusted data.
"""
from __future__ import annotations

import contextlib
import io
import json
import linecache
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

CELL_PREFIX = "<cell "
MAX_MESSAGE = 600


# ---------------------------------------------------------------- reporting
def _student_trace(exc: BaseException) -> str:
    """The exception plus the frames in the student's own cells, nothing else:
    driver and library frames would only leak how the grader probes."""
    if isinstance(exc, SyntaxError) and str(exc.filename).startswith(CELL_PREFIX):
        return f"SyntaxError: {exc.msg} (cell {exc.filename[len(CELL_PREFIX):-1]}, line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith(CELL_PREFIX)]
    where = ""
    if frames:
        f = frames[-1]
        cell = f.filename[len(CELL_PREFIX):-1]
        where = f" (cell {cell}, line {f.lineno}: {(f.line or '').strip()[:120]})"
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "..."
    return text + where


def _array(value) -> np.ndarray:
    """Plain float64 (or bool/int) data only: object arrays could smuggle code."""
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"returned {type(value).__name__} of dtype {arr.dtype}, expected numbers")
    return np.asarray(arr, dtype=np.float64) if arr.dtype.kind == "f" else arr.astype(np.int64)


class Probe:
    """Collects one probe's arrays and facts and writes them atomically."""

    def __init__(self, out: Path, name: str):
        self.out, self.name = out, name
        self.arrays: dict[str, np.ndarray] = {}
        self.info: dict = {"status": "ok", "stage": None, "error": None, "warnings": []}
        self.start = time.perf_counter()
        (out / f"{name}.started").write_text("")

    def put(self, key: str, value) -> None:
        try:
            self.arrays[key] = _array(value)
        except Exception as exc:  # noqa: BLE001 - student data of any kind
            self.info.setdefault("bad_outputs", {})[key] = _student_trace(exc)

    def fail(self, stage: str, exc: BaseException) -> None:
        self.info.update(status="error", stage=stage, error=_student_trace(exc))

    def write(self) -> None:
        self.info["elapsed"] = time.perf_counter() - self.start
        tmp = self.out / f"{self.name}.tmp.npz"
        np.savez(tmp, **self.arrays)
        os.replace(tmp, self.out / f"{self.name}.npz")
        tmp = self.out / f"{self.name}.tmp.json"
        tmp.write_text(json.dumps(self.info))
        os.replace(tmp, self.out / f"{self.name}.json")


INPUTS = Path(".")


def _load(job: Path, name: str, mmap_mode: str | None = None) -> np.ndarray:
    """Inputs live in the request's read-only "inputs" folder (absolute names: shared data)."""
    return np.load(INPUTS / name, mmap_mode=mmap_mode, allow_pickle=False)


def _rng_arg(spec):
    """JSON can't carry a Generator: {"generator": s} builds one, {"seed": s} passes the int."""
    if isinstance(spec, dict) and "generator" in spec:
        return np.random.default_rng(spec["generator"])
    if isinstance(spec, dict) and "seed" in spec:
        return int(spec["seed"])
    return spec


def _kwargs(spec: dict) -> dict:
    kw = dict(spec or {})
    if "rng" in kw:
        kw["rng"] = _rng_arg(kw["rng"])
    return kw


# ---------------------------------------------------------------- probe kinds
def _unchanged(rec: Probe, name: str, given: np.ndarray, kept: np.ndarray) -> None:
    """Record an input the student's code changed in place (the caller still needs it)."""
    if not (given.shape == kept.shape and np.array_equal(given, kept, equal_nan=True)):
        rec.info.setdefault("modified", []).append(name)


def probe_module(ns, job, p: dict, rec: Probe) -> None:
    """Construct, set parameters, run each warm-up forward+backward (a result must not depend on an
    earlier call), forward, backward; report params()/grads() and inputs changed in place."""
    stage = "init"
    try:
        m = ns[p["class"]](*p.get("args", []), **_kwargs(p.get("init")))
        stage = "set_param"
        for name, file in p.get("params", {}).items():
            m.set_param(name, _load(job, file))
        for x_file, g_file in p.get("warmup", []):
            stage = "forward (an earlier call)"
            m.forward(_load(job, x_file))
            stage = "backward (an earlier call)"
            m.backward(_load(job, g_file))
        stage = "forward"
        for i, file in enumerate(p["forward"]):      # the last forward is the one backward follows
            x = _load(job, file)
            rec.put(f"y{i}", m.forward(x))
            _unchanged(rec, "x", x, _load(job, file))
        if "backward" in p:
            stage = "backward"
            g = _load(job, p["backward"])
            rec.put("dx", m.backward(g))
            _unchanged(rec, "g", g, _load(job, p["backward"]))
            stage = "grads"
            for name, value in dict(m.grads()).items():
                rec.put(f"grad.{name}", value)
        stage = "params"
        for name, value in dict(m.params()).items():
            rec.put(f"param.{name}", value)
    except Exception as exc:  # noqa: BLE001
        rec.fail(stage, exc)


def probe_init(ns, job, p: dict, rec: Probe) -> None:
    """Build the class several times; report every parameter of every build."""
    for i, spec in enumerate(p["builds"]):
        try:
            if "nnkit_seed" in spec:        # rng=None must follow nnkit.seed
                import nnkit
                nnkit.seed(spec["nnkit_seed"])
            m = ns[p["class"]](*spec.get("args", []), **_kwargs(spec.get("kwargs")))
            for name in getattr(m, "param_names", ()):
                rec.put(f"{i}.{name}", getattr(m, name))
        except Exception as exc:  # noqa: BLE001
            rec.fail(f"build {i}", exc)
            return


def probe_loss(ns, job, p: dict, rec: Probe) -> None:
    """Forward on (scores, labels) after any warm-up calls, then backward."""
    stage = "init"
    try:
        loss = ns[p["class"]](**_kwargs(p.get("init")))
        for s_file, l_file in p.get("warmup", []):
            stage = "forward (an earlier call)"
            loss.forward(_load(job, s_file), _load(job, l_file))
            stage = "backward (an earlier call)"
            loss.backward()
        stage = "forward"
        scores = _load(job, p["scores"])
        rec.put("loss", np.asarray(loss.forward(scores, _load(job, p["labels"]))))
        _unchanged(rec, "scores", scores, _load(job, p["scores"]))
        stage = "backward"
        rec.put("grad", loss.backward())
    except Exception as exc:  # noqa: BLE001
        rec.fail(stage, exc)


def probe_optimizer(ns, job, p: dict, rec: Probe) -> None:
    """A sequence of updates; a step's param is the previous result for that key
    (as in training) unless the step names a file.  Both in-place updates and
    new arrays are fine: we record what update returns."""
    stage = "init"
    try:
        # "instances": 2 replays the steps on a second, new optimizer ("again.step<i>"): the same
        # results unless state leaks from one instance to the next
        for run in range(p.get("instances", 1)):
            opt = ns[p["class"]](**_kwargs(p.get("init")))
            current: dict[str, np.ndarray] = {}
            for i, step in enumerate(p["steps"]):
                stage = f"update {i}"
                key = step["key"]
                param = _load(job, step["param"]) if step.get("param") else current[key].copy()
                new = opt.update(key, param, _load(job, step["grad"]))
                if new is None:
                    raise TypeError("update returned None: it must return the updated parameter")
                rec.put(f"{'again.' * run}step{i}", new)
                current[key] = np.array(new, dtype=np.float64)
    except Exception as exc:  # noqa: BLE001
        rec.fail(stage, exc)


@contextlib.contextmanager
def _denormals_flushed():
    """While the grader trains: numbers below float32's smallest normal (1.2e-38) read and written
    as zero (x86-64 MXCSR flags FTZ and DAZ, through glibc's fenv_t: the x87 environment, then
    MXCSR at byte 28).  With momentum, the velocities of pixels that are almost never lit decay
    through that range, where every operation takes a microcode assist: epochs 2-4 of the mlp
    training ran 10-20% slower.  No trained weight changes (a number that small vanishes when
    added to a weight: the reference's trained W is bit for bit the same).  Elsewhere: unchanged."""
    libm, saved = None, None
    try:
        import ctypes
        import platform
        if platform.machine() == "x86_64":
            libm, env = ctypes.CDLL("libm.so.6"), (ctypes.c_uint8 * 32)()
            if libm.fegetenv(env) == 0 and int.from_bytes(bytes(env[28:32]), "little") & 0x1F80 == 0x1F80:
                saved = bytes(env)  # the exception masks are where MXCSR must be: the layout is as read
                mxcsr = int.from_bytes(saved[28:32], "little") | 0x8040
                ctypes.memmove(env, saved[:28] + mxcsr.to_bytes(4, "little"), 32)
                libm.fesetenv(env)
    except Exception:  # noqa: BLE001 - without the flags training is only slower
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            libm.fesetenv((ctypes.c_uint8 * 32).from_buffer_copy(saved))


def probe_train(ns, job, p: dict, rec: Probe) -> None:
    """The request's network built from the student's classes, trained with the driver's own
    seeded minibatch loop; reports the trained parameters only (``<layer>.<name>``).  The
    grader measures accuracy itself, on data that never enters the sandbox."""
    import nnkit
    net = p["network"]
    stage = "data"
    try:
        keep = slice(net.get("samples"))      # a short run trains on the first samples only
        # Mapped, not read, and made float per batch: a float32 copy of MNIST's train split is 172 MB
        # of fresh memory, and its page faults alone took 0.1-1.4 s of a 3 s job.
        x = _load(job, p["x"], mmap_mode="r")[keep]
        y = _load(job, p["y"])[keep].astype(np.int64)
        shape = (-1, *net["input_shape"]) if net["input_shape"] else (-1, x.shape[1])

        def batch(idx):
            xb = x[idx].astype(np.float32)
            if x.dtype == np.uint8:
                xb /= np.float32(255)       # the same bits as nnkit's loaders give
            return xb.reshape(shape)
        stage = "build"
        nnkit.seed(net["seed"])
        layers = [ns[name](*args, **_kwargs(kwargs)) for name, args, kwargs in net["layers"]]
        if net.get("dtype"):
            for layer in layers:
                for name in getattr(layer, "param_names", ()):
                    layer.set_param(name, np.asarray(getattr(layer, name), dtype=net["dtype"]))
        model = nnkit.Sequential(*layers)
        loss = ns[net["loss"]]()
        order = np.random.default_rng(net["seed"])
        rec.info["epoch_loss"] = []
        lrs = [lr for epochs, lr in net["schedule"] for _ in range(epochs)]
        with _denormals_flushed():
            for epoch, lr in enumerate(lrs):
                if epoch == 0 or lr != lrs[epoch - 1]:
                    stage = "build"     # a fresh optimizer per stage: no student's way of storing lr matters
                    opt = ns[net["optimizer"]](lr, **net["optimizer_kwargs"])
                stage = f"epoch {epoch + 1}"
                total, batches = 0.0, 0
                for idx in np.array_split(order.permutation(len(x)), len(x) // net["batch_size"]):
                    value = float(loss.forward(model.forward(batch(idx)), y[idx]))
                    model.backward(loss.backward())
                    opt.step(model)
                    total, batches = total + value, batches + 1
                rec.info["epoch_loss"].append(total / batches if np.isfinite(total) else None)
                (job / "out" / "train_progress.json").write_text(json.dumps(rec.info["epoch_loss"]))
                if not np.isfinite(total):
                    rec.info["diverged"] = epoch + 1
                    break          # nothing more to learn from a nan network; save the time
        stage = "parameters"
        for i, (layer, names) in enumerate(zip(layers, p["report"])):
            for name in names:
                rec.put(f"{i}.{name}", getattr(layer, name))
    except Exception as exc:  # noqa: BLE001
        rec.fail(stage, exc)


MAX_DICT_ENTRIES = 64     # a student's dict is reported entry by entry; more is not an answer


def probe_values(ns, job, p: dict, rec: Probe) -> None:
    """Variables the student assigned: a number as ``<name>``, a dict of numbers as
    ``<name>.<key>``.  What is not a number goes to info["bad_outputs"] (via put),
    names never assigned to info["missing"]."""
    missing = rec.info.setdefault("missing", [])
    for name in p["names"]:
        if name not in ns:
            missing.append(name)
            continue
        value = ns[name]
        if isinstance(value, dict):
            for key, v in list(value.items())[:MAX_DICT_ENTRIES]:
                rec.put(f"{name}.{str(key)[:80]}", v)
        else:
            rec.put(name, value)


def _call_arg(job, spec):
    """A case argument: {"file"} an input array, {"expr"} the GRADER's own test function
    (request text, never anything the student wrote), anything else a JSON number."""
    if isinstance(spec, dict) and "file" in spec:
        return np.array(_load(job, spec["file"]), dtype=np.float64)
    if isinstance(spec, dict) and "expr" in spec:
        return eval(spec["expr"], {"np": np})  # noqa: S307 - the trusted request's text
    return spec


def probe_call(ns, job, p: dict, rec: Probe) -> None:
    """Call a student function on each case: result as ``case<i>``, each array argument
    as it is after the call as ``case<i>.arg<j>`` (did the function change its input?),
    a case that raises or returns no numbers in info["case_errors"][i]; the next case
    still runs."""
    fn = ns[p["function"]]
    errors = rec.info.setdefault("case_errors", {})
    for i, case in enumerate(p["cases"]):
        args = [_call_arg(job, a) for a in case["args"]]
        try:
            rec.arrays[f"case{i}"] = _array(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: one case, not the run
            errors[str(i)] = _student_trace(exc)
        for j, arg in enumerate(args):
            if isinstance(arg, np.ndarray):
                rec.put(f"case{i}.arg{j}", arg)


def probe_script(ns, job, p: dict, rec: Probe) -> None:
    """The grader's own steps (the request's ``code``, never text the student wrote) run against the
    student's names listed in ``needs``: for contracts that take several calls in a fixed order
    (train then eval mode, save then load, a schedule stepped many times).  The steps see those
    names, ``np``, ``nnkit``, ``load(file)`` (an input array), ``put(key, value)`` (an output),
    ``stage(text)`` (what an exception is reported as happening in) and ``scratch``, an empty
    folder of this probe's own in the workdir."""
    import nnkit
    where = ["steps"]
    scratch = job / f"scratch-{p['name']}"
    scratch.mkdir()
    env = {"np": np, "nnkit": nnkit, "load": lambda name: _load(job, name), "put": rec.put,
           "stage": lambda text: where.__setitem__(0, str(text)), "scratch": scratch,
           **{name: ns[name] for name in p.get("needs", [])}}
    try:
        exec(compile(p["code"], "<grader steps>", "exec"), env)  # noqa: S102 - the trusted request's text
    except Exception as exc:  # noqa: BLE001 - student code of any kind
        rec.fail(where[0], exc)


KINDS = {"module": probe_module, "init": probe_init, "loss": probe_loss,
         "optimizer": probe_optimizer, "train": probe_train,
         "values": probe_values, "call": probe_call, "script": probe_script}


# ---------------------------------------------------------------- main
def run_cells(cells: list[dict], ns: dict, out: Path) -> dict:
    """Exec each cell in one namespace; an exception ends that cell only."""
    report = {}
    for cell in cells:
        cid = str(cell["id"])
        (out / f"cell-{cid}.started").write_text("")
        try:
            filename = f"{CELL_PREFIX}{cid}>"
            # so tracebacks can quote the student's line
            linecache.cache[filename] = (len(cell["source"]), None, cell["source"].splitlines(True), filename)
            code = compile(cell["source"], filename, "exec")
            exec(code, ns)  # noqa: S102 - this is the sandbox's whole purpose
            report[cid] = {"status": "ok"}
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a cell must not end the run
            report[cid] = {"status": "error", "error": _student_trace(exc)}
        (out / f"cell-{cid}.done").write_text("")
    return report


class _Discard(io.TextIOBase):
    """Student prints go nowhere: they could only fill the pipe (no /dev/null in the sandbox)."""

    def write(self, s):
        return len(s)


def answer(request: dict, ns: dict, cells: dict, job: Path) -> None:
    """Every probe of the request, against the namespace the cells left; then the "done" marker."""
    global INPUTS
    INPUTS = Path(request["inputs"])
    out = job / "out"
    out.mkdir(exist_ok=True)
    for p in request["probes"]:
        rec = Probe(out, p["name"])
        absent = [c for c in p.get("needs", [p.get("class")]) if c not in ns]
        if absent:
            failed = cells.get(p.get("part"), {}).get("error") or next(
                (c["error"] for c in cells.values() if c.get("error")), None)
            rec.info.update(status="error", stage="lookup",
                            error=f"{', '.join(absent)} is not defined" + (f": your cell failed with {failed}" if failed else ""))
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                np.random.seed(p.get("seed", 0))     # code that ignores rng stays repeatable
                try:
                    # "strict": the contract promises no overflow here, as the notebook's strict self-check
                    with np.errstate(over="raise", divide="raise", invalid="raise") if p.get("strict") \
                            else contextlib.nullcontext():
                        KINDS[p["kind"]](ns, job, p, rec)
                except BaseException as exc:  # noqa: BLE001 - SystemExit from a student method
                    rec.fail("probe", exc)
            rec.info["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5]
        rec.write()
    (out / "done").write_text("")


def run_program(cells: list[dict], out: Path) -> tuple[dict, dict]:
    """The cells in a fresh namespace, as every run starts (here, and in the trusted side's warm
    reference server): prints discarded, numerical warnings on.  Returns (namespace, cell report)."""
    out.mkdir(exist_ok=True)
    sys.stdout = _Discard()
    np.seterr(all="warn")
    ns: dict = {"__name__": "__main__"}
    return ns, run_cells(cells, ns, out)


def main(request_path: Path, job: Path) -> None:
    request = json.loads(request_path.read_text())
    real_stdout = sys.stdout
    ns, cells = run_program(request["cells"], job / "out")
    (job / "out" / "cells.json").write_text(json.dumps(cells))
    answer(request, ns, cells, job)
    sys.stdout = real_stdout


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
