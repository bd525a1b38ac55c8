"""The `backprop` engine for autograder.engine.verdict: spec.py's probes through the sandbox.

The student's four solution cells run in one sandboxed driver run that answers
every probe (one per solution cell).  If the run dies or hangs, the cell or
probe that was running is charged to its parts and the run is repeated without
it, so an endless loop in ``centered_difference`` does not cost the
cross-entropy points.  The expected values are the source notebook's own
solution cells on the same probes (``verdict._expected``: a trusted process).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from autograder.engine import verdict as V
from autograder.isolation import results as safe_results
from autograder.assignments.backprop import spec

# Solution cell -> the parts answered in it (verdict.grade_notebook uses it for magics).
PARTS_OF_CELL = {cell: tuple(p for p, c in spec.CELL_OF.items() if c == cell) for cell in spec.SOLUTION_CELLS}
MAX_MESSAGES = 4


@dataclass
class Probe:
    """A spec probe in the shape verdict's job runner and reference cache read."""
    name: str
    request: dict
    arrays: dict = field(default_factory=dict)

    def as_request(self) -> dict:
        return self.request


def _probes() -> list[Probe]:
    arrays = spec.probe_arrays()
    out = []
    for p in spec.probes():
        request = {k: v for k, v in p.items() if k != "arrays"}
        out.append(Probe(p["name"], request, {k: arrays[k] for k in p.get("arrays", {})}))
    return out


def _flat(got: dict) -> dict:
    """driver outputs (name -> (info, arrays)) as the flat dicts spec.judge reads."""
    return {name: spec.from_driver(info, arrays) for name, (info, arrays) in got.items()}


def _cell_errors(job) -> dict:
    """The driver's per-cell report (untrusted: used only to word messages)."""
    try:
        report = safe_results.read_json(job.work / "out" / "cells.json", 100_000, root=job.work)
        return {str(k): str(v.get("error"))[:300] for k, v in report.items()
                if isinstance(v, dict) and v.get("status") == "error"}
    except Exception:  # noqa: BLE001 - missing or forged: no cell messages
        return {}


def _run(ctx, probes) -> tuple[dict, dict, dict]:
    """All probes, restarting without whatever hangs or kills the process.
    Returns (outputs per probe, {cell or probe name: (status, message)}, cell errors)."""
    inputs = V._save_arrays(ctx.root, {k: v for p in probes for k, v in p.arrays.items()})
    results, charged, errors = {}, {}, {}
    for attempt in range(len(spec.SOLUTION_CELLS) + len(probes) + 1):
        # a probe of a charged cell is not run again: its names would only be undefined
        todo = [p for p in probes if p.name not in results and p.name not in charged
                and p.request["part"] not in charged]
        if not todo:
            break
        cells = [c for c in ctx.ex.program() if c["id"] not in charged]
        job = V.Job(ctx.root, f"backprop{attempt}", cells, [p.as_request() for p in todo], inputs)
        result = job.run(ctx.limits["quick"])
        for reason in getattr(result, "degraded", None) or []:
            if f"sandbox-degraded:{reason}" not in ctx.flags:
                ctx.flags.append(f"sandbox-degraded:{reason}")
        results.update(job.outputs())
        errors.update(_cell_errors(job))
        if job.has("done") and all(p.name in results for p in todo):
            break
        status, what = V._status_of(result)
        culprit = job.culprit()
        if culprit in (None, ("cell", "setup")):
            # the markers are the student's to forge: blame the last student cell that started,
            # else the first probe without a result
            started = [c["id"] for c in cells[1:] if job.has(f"cell-{c['id']}.started")]
            rest = [p.name for p in todo if p.name not in results]
            if started and not job.has("cells.json"):
                culprit = ("cell", started[-1])
            elif rest:
                culprit = ("probe", rest[0])
            else:
                break
        kind, name = culprit
        where = f"running your {name} cell" if kind == "cell" else f"testing {name}"
        if job.has("done") and kind == "probe":
            status, what = "crashed", "gave no result the grader could read (too large, or its files were changed)"
        charged[name] = (status, f"{where} {what}")
    return results, charged, errors


def grade(ctx) -> list:
    probes = _probes()
    # The probes are fixed (nothing random to hide: the given data are in the notebook), so one seed.
    expected = _flat(V._expected(ctx.source, 0, probes))
    results, charged, cell_errors = _run(ctx, probes)
    flat = _flat(results)
    judged = {v.part: v for v in spec.judge(flat, expected)}
    parts = []
    for part, points in spec.POINTS.items():
        cell, probe = spec.CELL_OF[part], spec.PROBE_OF[part]
        out = V.PartVerdict(part, spec.CELL_IDS[part], 0.0, float(points), "failed")
        if cell not in ctx.ex.cells:
            out.status, out.messages = "missing", [f"no cell with id '{cell}' in the notebook"]
        elif cell in charged or probe in charged:
            out.status, out.messages = charged.get(cell) or charged[probe]
            out.messages = [out.messages]
        elif probe not in results:    # no result is never a pass
            out.status, out.messages = "crashed", [f"testing your {cell} cell gave no result: "
                                                   "the grading run stopped before it finished"]
        else:
            v = judged[part]
            out.score, out.status = float(v.score), v.status
            messages = list(v.messages)
            if v.status != "passed" and cell in cell_errors:
                messages.insert(0, f"your {cell} cell stopped with {cell_errors[cell]}")
                out.status = "error"
            elif v.status == "failed" and any(k.endswith("!error") for k in flat[probe]):
                out.status = "error"      # the function raised on some case
            extra = len(messages) - MAX_MESSAGES
            out.messages = messages[:MAX_MESSAGES] + ([f"… and {extra} more"] if extra > 0 else [])
        parts.append(out)
    return parts
