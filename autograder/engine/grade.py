"""The one grading engine: every assignment's probes, restarts, comparison and scoring.

The student's solution cells and the spec's probes run together in one sandboxed driver
run.  If that run hangs or dies, whatever was running (a cell, or the probe of a cell) is
charged to the parts answered in that cell and the run is repeated without that cell, so
one endless loop costs only its own parts.  A run that dies before reaching the student's
code is the grader's failure only if the driver finishes with the trusted setup alone.
Expected values come from the source notebook's own solution on the same probes.
"""
from __future__ import annotations

from autograder.engine.job import Job, expected as reference_values, save_arrays, status_of
from autograder.engine.outcome import MAX_MESSAGES, Context, PartVerdict
from autograder.engine.spec import Spec
from autograder.isolation import results as safe_results

REDACTED = "redacted-output"      # numbers masked in the student's own text (job.untrusted_text)
NO_RESULT = "the grading run stopped before it finished"
UNREADABLE = "gave no result the grader could read (too large, or its files were changed)"


def grade(ctx: Context, spec: Spec, points: dict) -> list[PartVerdict]:
    """``points``: part -> (grade id, points), from the source notebook's metadata."""
    seed = ctx.probe_seed if spec.fixed_seed is None else spec.fixed_seed
    probes = spec.probes(seed)
    expected = reference_values(ctx.source, seed, probes)
    results, charged, cell_errors = run_probes(ctx, [p for p in probes if p.cell in ctx.ex.cells])
    judged = spec.judge(probes, results, expected, {name: pts for name, (_, pts) in points.items()})
    verdicts = []
    for name, (grade_id, pts) in points.items():
        if name in spec.extra_parts:
            verdicts.append(spec.extra_parts[name](ctx, charged, grade_id, pts))
            continue
        part = spec.part(name)
        verdicts.append(_verdict(part, grade_id, pts, ctx.ex, [p for p in probes if p.cell == part.cell],
                                 results, charged, cell_errors, judged.get(name)))
    return verdicts


def _verdict(part, grade_id, pts, ex, probes, results, charged, cell_errors, judged) -> PartVerdict:
    out = PartVerdict(part.name, grade_id, 0.0, pts, "failed")
    if part.cell not in ex.cells:
        out.status, out.messages = "missing", [f"no cell with id '{part.cell}' in the notebook"]
    elif part.cell in charged:
        out.status, out.messages = charged[part.cell][0], [charged[part.cell][1]]
    elif any(p.name not in results for p in probes):     # no result is never a pass
        out.status, out.messages = "crashed", [f"testing {part.label or part.cell} gave no result: {NO_RESULT}"]
    else:
        out.score, out.status = float(judged.score), judged.status
        messages = list(judged.messages)
        raised = any(results[p.name][0].get("status") != "ok" or results[p.name][0].get("case_errors")
                     for p in probes)
        error = cell_errors.get(part.cell)
        if judged.status != "passed" and error:
            if not any(error in m for m in messages):
                messages.insert(0, f"your {part.cell} cell stopped with {error}")
            out.status = "error"
        elif judged.status == "failed" and raised:
            out.status = "error"
        extra = len(messages) - MAX_MESSAGES
        out.messages = messages[:MAX_MESSAGES] + ([f"… and {extra} more"] if extra > 0 else [])
    if part.cell in charged and judged and judged.messages and out.status != "missing":
        out.messages += [m for m in judged.messages if m not in out.messages][:MAX_MESSAGES - 1]
    return out


def run_probes(ctx: Context, probes: list) -> tuple[dict, dict, dict]:
    """Run the probes, restarting without whatever hangs or kills the process.
    Returns (results per probe, {cell: (status, message)} for cells charged with a failure,
    {cell: error} for cells that raised)."""
    inputs = save_arrays(ctx.root, {k: v for p in probes for k, v in p.arrays.items()})
    results, charged, errors = {}, {}, {}
    for attempt in range(len(ctx.ex.cells) + len(probes) + 1):
        todo = [p for p in probes if p.name not in results and p.cell not in charged]
        if not todo:
            break
        cells = [c for c in ctx.ex.program() if c["id"] not in charged]
        job = Job(ctx.root, f"quick{attempt}", cells, [p.as_request() for p in todo], inputs)
        result = job.run(ctx.limits["quick"])
        for reason in getattr(result, "degraded", None) or []:
            if f"sandbox-degraded:{reason}" not in ctx.flags:
                ctx.flags.append(f"sandbox-degraded:{reason}")
        results.update(job.outputs())
        errors.update(_cell_errors(job))
        if job.redacted and REDACTED not in ctx.flags:
            ctx.flags.append(REDACTED)
        # The markers are written where the student's code can forge or delete them: "done" counts
        # only with every probe's result there, and a run that looks as if the driver never reached
        # the student's code is the grader's failure only if the driver works without that code.
        if job.has("done") and all(p.name in results for p in todo):
            break
        culprit = _culprit(ctx, job, cells, todo, inputs, result)
        if culprit is None:          # died between probes: charge the first unfinished one
            rest = [p for p in todo if p.name not in results]
            if not rest:
                break
            culprit = ("probe", rest[0])
        status, what = status_of(result)
        kind, what_ran = culprit
        if kind == "cell":
            cell, where = what_ran, f"running your {what_ran} cell"
        else:
            cell, where = what_ran.cell, f"testing {what_ran.label}"
            if job.has("done"):      # finished, but a result is missing or unreadable
                status, what = "crashed", UNREADABLE
        charged[cell] = (status, f"{where} {what}")
    return results, charged, errors


def _culprit(ctx, job, cells, todo, inputs, result):
    """("cell", id) or ("probe", probe) that was running when the driver stopped, or None."""
    culprit = job.culprit()
    if culprit is not None and culprit[0] == "probe":
        return "probe", next(p for p in todo if p.name == culprit[1])
    reached = job.has("cells.json") or job.has("cell-setup.started")
    if culprit == ("cell", "setup") or not reached:
        if not driver_works(ctx, inputs):
            raise RuntimeError(f"the grading driver failed on the trusted setup cell alone: {result.stderr[-2000:]}")
    if culprit is None or culprit == ("cell", "setup"):
        if job.has("cells.json"):
            return None
        started = [c["id"] for c in cells[1:] if job.has(f"cell-{c['id']}.started")]
        return ("cell", started[-1] if started else cells[1]["id"]) if len(cells) > 1 else None
    return culprit


def driver_works(ctx: Context, inputs) -> bool:
    """The driver with the trusted setup cell only (no student code, no probes): does it finish?"""
    job = Job(ctx.root, "sanity", ctx.ex.program()[:1], [], inputs)
    job.run(ctx.limits["quick"])
    return job.has("done")


def _cell_errors(job) -> dict:
    """The driver's per-cell report (untrusted: used only to word messages)."""
    try:
        report = safe_results.read_json(job.work / "out" / "cells.json", 100_000, root=job.work)
        return {str(k)[:80]: job.text(v.get("error")) for k, v in list(report.items())[:64]
                if isinstance(v, dict) and v.get("status") == "error"}
    except Exception:  # noqa: BLE001 - missing or forged: no cell messages
        return {}
