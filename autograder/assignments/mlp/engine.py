"""The mlp engine: quick probes of every class (restarting without whatever hangs
or kills the sandboxed process), then the training run, each part judged here in
the trusted process against the source notebook's own solution."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from autograder.engine.verdict import MAX_MESSAGES, Context, Job, PartVerdict, _expected, _save_arrays, _status_of
from autograder.assignments.mlp import diagnose, spec, training

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
def grade(ctx: Context) -> list[PartVerdict]:
    """Quick probes with restarts, then training."""
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

