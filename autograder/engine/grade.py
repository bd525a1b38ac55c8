"""The one grading engine: ``grade(ctx, spec)`` for every assignment.

What an assignment decides lives in its spec (``autograder/assignments/<id>/spec.py``,
a ``Spec``): which graded parts it has, the probes that question the student's
code, how one part's probe results are judged against the source notebook's own
results, and (optionally) training parts.  Everything else is here, the same for
every assignment:

* the probe inputs are written once and every probe runs in ONE sandboxed driver
  run; when that run hangs or dies, the solution cell or probe that was running is
  charged to its parts (after checking that the trusted setup cell alone runs: a
  driver that cannot even do that is the grader's failure, never the student's),
  and the run is repeated without it;
* the expected values are the source notebook's solution on the same probes;
* a part whose cell is absent is ``missing``, a part charged with a hang or crash
  keeps the status of that failure, a part with a probe that left no result is
  ``crashed`` (no result is never a pass);
* messages are capped at ``spec.max_messages`` (then "… and N more");
* points come from the source notebook's nbgrader metadata (``points``), never
  from the spec.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from autograder.engine import diagnose as D
from autograder.engine import training as T
from autograder.engine.job import REDACTED, Job, _expected, _save_arrays, _status_of
from autograder.engine.outcome import Context, PartVerdict
from autograder.engine.training import TrainingPart
from autograder.isolation import results as safe_results

NO_RESULT = "the grading run stopped before it finished"


@dataclass
class Part:
    """One graded part: the nbgrader test cell whose points it decides, the solution
    cell it is answered in, and how messages name it."""
    name: str
    grade_id: str
    cell: str
    label: str


@dataclass
class Judged:
    score_fraction: float          # 1.0 = full points
    status: str                    # passed | failed | error | missing
    messages: list[str] = field(default_factory=list)


@dataclass
class Spec:
    assignment: str
    parts: list[Part]                                # in report order (training parts last, if any)
    probes: Callable[[int], list]                    # seed -> probes (name, arrays, as_request(), label)
    # (part, its probes, results {name: (info, arrays)}, expected {name: (info, arrays)}) -> Judged
    judge: Callable[[Part, list, dict, dict], Judged]
    seed: int | None = None                          # fixed probes: the same seed for every grading
    max_messages: int = 4
    cell_errors_first: bool = False                  # prefix "your <cell> cell stopped with ..."
    # one training part, or several (each its own sandboxed run, graded in this order after the other parts)
    training: TrainingPart | list[TrainingPart] | None = None

    @property
    def trainings(self) -> list[TrainingPart]:
        if self.training is None:
            return []
        return [self.training] if isinstance(self.training, TrainingPart) else list(self.training)

    def part(self, name: str) -> Part:
        return next(p for p in self.all_parts() if p.name == name)

    def all_parts(self) -> list[Part]:
        return self.parts + [t.part for t in self.trainings]


def points(source: Path) -> dict[str, float]:
    """grade_id -> points of every autograded test cell of the source notebook."""
    nb = nbformat.read(source, as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            out[meta["grade_id"]] = float(meta.get("points", 0))
    return out


def check_contract(spec: Spec, source: Path) -> dict[str, float]:
    """The spec grades exactly the source's autograded cells; returns their points."""
    found = points(source)
    named = [p.grade_id for p in spec.all_parts()]
    if sorted(named) != sorted(found):
        raise RuntimeError(f"{spec.assignment}: the spec grades {sorted(named)} but the source notebook's "
                           f"autograded test cells are {sorted(found)}")
    return found


# ------------------------------------------------------------------ one sandboxed run, restarted
def _cell_errors(job) -> dict:
    """The driver's per-cell report (untrusted: used only to word messages)."""
    try:
        report = safe_results.read_json(job.work / "out" / "cells.json", 100_000, root=job.work)
        return {str(k)[:80]: job.text(v.get("error")) for k, v in list(report.items())[:64]
                if isinstance(v, dict) and v.get("status") == "error"}
    except Exception:  # noqa: BLE001 - missing or forged: no cell messages
        return {}


def _driver_works(root: Path, ex, inputs: Path, limits, carry: Path | None) -> bool:
    """The driver with the trusted setup cell only (no student code, no probes): does it finish?"""
    job = Job(root, "sanity", ex.program()[:1], [], inputs, carry)
    job.run(limits)
    return job.has("done")


def _flag_redacted(ctx: Context, job: Job) -> None:
    """Once per submission: the instructor sees that student text had its numbers masked."""
    if job.redacted and REDACTED not in ctx.flags:
        ctx.flags.append(REDACTED)


def run_probes(ctx: Context, probes: list) -> tuple[dict, dict, dict]:
    """Every probe whose cell is present, restarting without whatever hangs or kills the process.
    Returns (results per probe, {cell id or probe name: (status, message)}, cell errors)."""
    ex = ctx.ex
    cell_of = {p.name: p.as_request()["part"] for p in probes}
    present = [p for p in probes if cell_of[p.name] in ex.cells]
    inputs = _save_arrays(ctx.root, {k: v for p in present for k, v in p.arrays.items()})
    results, charged, errors = {}, {}, {}
    for attempt in range(len(ex.cells) + len(present) + 1):
        # a probe of a charged cell is not run again: its names would only be undefined
        todo = [p for p in present if p.name not in results and p.name not in charged
                and cell_of[p.name] not in charged]
        if not todo:
            break
        cells = [c for c in ex.program() if c["id"] not in charged]
        job = Job(ctx.root, f"quick{attempt}", cells, [p.as_request() for p in todo], inputs, ctx.carry)
        result = job.run(ctx.limits["quick"])
        for reason in getattr(result, "degraded", None) or []:
            if f"sandbox-degraded:{reason}" not in ctx.flags:
                ctx.flags.append(f"sandbox-degraded:{reason}")
        results.update(job.outputs())
        errors.update(_cell_errors(job))
        _flag_redacted(ctx, job)
        # The markers are written where the student's code can forge or delete them: "done" counts
        # only with every probe's result there, and a run that looks as if the driver never reached
        # the student's code is the grader's failure only if the driver works without that code.
        if job.has("done") and all(p.name in results for p in todo):
            break
        culprit = job.culprit()
        if (not job.has("cells.json") and not job.has("cell-setup.started")) or culprit == ("cell", "setup"):
            if not _driver_works(ctx.root, ex, inputs, ctx.limits["quick"], ctx.carry):
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
        label = next((p.label for p in todo if p.name == name), name)
        charged[name] = (status, f"running your {name} cell {what}" if kind == "cell" else f"testing {label} {what}")
    return results, charged, errors


# ------------------------------------------------------------------ parts
def _verdict(part: Part, pts: float, status: str, messages: list[str], cap: int, score: float = 0.0):
    extra = len(messages) - cap
    messages = messages[:cap] + ([f"… and {extra} more"] if extra > 0 else [])
    return PartVerdict(part.name, part.grade_id, score, pts, status, messages)


def _judge_part(spec: Spec, part: Part, pts: float, ctx: Context, probes, results, charged, errors, expected):
    mine = [p for p in probes if p.as_request()["part"] == part.cell]
    if part.cell not in ctx.ex.cells:
        return _verdict(part, pts, "missing", [f"no cell with id '{part.cell}' in the notebook"], spec.max_messages)
    finished = {p.name: results[p.name] for p in mine if p.name in results}
    blame = charged.get(part.cell) or next((charged[p.name] for p in mine if p.name in charged), None)
    if blame or len(finished) < len(mine):
        status, first = blame or ("crashed", f"testing {part.label} gave no result: {NO_RESULT}")
        extra = spec.judge(part, [p for p in mine if p.name in finished], finished, expected).messages \
            if finished else []
        return _verdict(part, pts, status, [first] + [m for m in extra if m != first], spec.max_messages)
    judged = spec.judge(part, mine, results, expected)
    messages, status = list(judged.messages), judged.status
    if spec.cell_errors_first and status != "passed" and part.cell in errors:
        messages.insert(0, f"your {part.cell} cell stopped with {errors[part.cell]}")
        status = "error"
    return _verdict(part, pts, status, messages, spec.max_messages, round(pts * judged.score_fraction, 2))


_TRAINED: dict = {}


def _train(ctx: Context, spec: Spec, t: TrainingPart, pts: float, charged: dict) -> PartVerdict:
    """One training part.  It depends only on the cells it uses (the setup and the settings
    are the grader's) and on the grading seed, so identical code trains once per process and seed."""
    cap = spec.max_messages
    if not ctx.train:
        if "training-skipped" not in ctx.flags:
            ctx.flags.append("training-skipped")
        return _verdict(t.part, pts, "missing", ["training was not run (train=False)"], cap)
    need = [c for c in t.needs if c not in ctx.ex.cells]
    if need:
        return _verdict(t.part, pts, "missing", [f"training needs your {', '.join(need)} cell(s)"], cap)
    stuck = [c for c in t.needs if charged.get(c, ("",))[0] == "timeout"]
    if stuck:    # it would only hang again, for the whole training time limit
        return _verdict(t.part, pts, "timeout", [f"training needs your {', '.join(stuck)} code, which took too long"],
                        cap)
    key = hashlib.sha256(json.dumps([spec.assignment, ctx.ex.setup, t.settings, int(ctx.seed),
                                     *(ctx.ex.cells.get(c) for c in t.needs)]).encode()).hexdigest()
    if key in _TRAINED:
        return dataclasses.replace(_TRAINED[key], messages=list(_TRAINED[key].messages))
    request, data = T.request(t, ctx.source, ctx.seed)
    cells = [c for c in ctx.ex.program() if c["id"] in ("setup", *t.needs)]
    job = Job(ctx.root, "train", cells, [request], data, ctx.carry)
    limits = ctx.limits["train"]
    result = job.run(limits)
    got = job.outputs()
    _flag_redacted(ctx, job)
    if request["name"] not in got:
        status, what = _status_of(result)
        message = (f"training did not finish within {limits.cpu_seconds:.0f} s of CPU time: is your code very slow "
                   "(Python loops over samples)?" if status == "timeout" else f"training {what}")
        return _verdict(t.part, pts, status, [message], cap)    # not cached: may depend on the machine's load
    info, arrays = got[request["name"]]
    passed, message = T.judge(t, ctx.source, info, arrays, ctx.seed)
    status = "passed" if passed else ("error" if info.get("status") != "ok" else "failed")
    verdict = _verdict(t.part, pts, status, [message], cap, pts if passed else 0.0)
    _TRAINED[key] = verdict
    return dataclasses.replace(verdict, messages=list(verdict.messages))


def grade(ctx: Context, spec: Spec) -> list[PartVerdict]:
    """Every part of one submission (see the module docstring)."""
    pts = check_contract(spec, ctx.source)
    seed = ctx.probe_seed if spec.seed is None else spec.seed
    probes = spec.probes(seed)
    expected = Expected(_expected(ctx.source, seed, probes, ctx.carry),
                        lambda: _expected(ctx.source, seed, [_in_float32(p) for p in probes], ctx.carry))
    results, charged, errors = run_probes(ctx, probes)
    parts = [_judge_part(spec, p, pts[p.grade_id], ctx, probes, results, charged, errors, expected)
             for p in spec.parts]
    parts += [_train(ctx, spec, t, pts[t.part.grade_id], charged) for t in spec.trainings]
    return parts


class Expected(dict):
    """The source's results on the probes, {name: (info, arrays)}; ``rounded()``: its results on the
    same inputs rounded to float32, computed when first asked for (only a submission that differs
    from the first ever needs them)."""

    def __init__(self, results: dict, rounded: Callable[[], dict]):
        super().__init__(results)
        self._rounded, self._cache = rounded, None

    def rounded(self) -> dict:
        if self._cache is None:
            self._cache = self._rounded()
        return self._cache


def _in_float32(probe):
    """The probe with its float inputs rounded to float32: what code that computes in float32 sees."""
    return dataclasses.replace(probe, arrays={k: v.astype(np.float32).astype(np.float64) if v.dtype.kind == "f" else v
                                              for k, v in probe.arrays.items()})


# ------------------------------------------------------------------ judging a part's probes
def all_or_nothing(known: D.Mistakes, rules: dict | None = None) -> Callable[[Part, list, dict, dict], Judged]:
    """The judge of specs whose probes all check one contract: full points when every probe passes,
    else none, with each distinct message (``diagnose``; messages that differ only in their figure are one:
    the first probe's stands for the others).  ``rules``: {part: (probe, info, got) -> message or None}
    for probes judged by rule (``compare=False``), not against the reference."""
    def judge(part: Part, probes: list, results: dict, expected: dict) -> Judged:
        messages, errored = [], False
        for probe in probes:
            info, got = results.get(probe.name, (None, {}))
            if probe.compare:
                msg = D.judge_probe(probe, part.label, info, got, expected[probe.name][1], known)
                # Arithmetic in float32 (which the contracts accept) rounds the inputs first: a result that
                # matches the source's on rounded inputs is right (±1e4 logits lose 1e-3 that way).
                if msg and isinstance(expected, Expected) and info and info.get("status") == "ok" and \
                        D.judge_probe(probe, part.label, info, got, expected.rounded()[probe.name][1], known) is None:
                    msg = None
            else:
                msg = (rules or {})[part.name](probe, info, got)
            errored |= info is not None and info.get("status") != "ok"
            if msg and D.gist(msg) not in map(D.gist, messages):
                messages.append(msg)
        if not messages:
            return Judged(1.0, "passed", [f"{part.label}: all checks passed"])
        return Judged(0.0, "error" if errored else "failed", messages)
    return judge

