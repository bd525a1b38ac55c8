"""The backprop grader: reference agrees with the source notebook, and each known
mistake gets the score and the message the spec promises."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from autograder.assignments.backprop import spec
from autograder.engine.job import flat_outputs
from autograder.engine.reference import reference_namespace


# ---------------------------------------------------------------- the probes in-process
# What driver.py reports for backprop's ``values`` and ``call`` probes, computed on a namespace in
# this process, so that mistakes given as Python values and functions can be judged directly
# (student code itself only ever runs through the sandboxed driver;
# tests/verdict/test_driver_values_call.py holds the driver to the same conventions).
def _run_probe(ns: dict, probe: dict) -> dict:
    out: dict = {}
    if probe["kind"] == "values":
        for name in probe["names"]:
            if name not in ns:
                out[f"{name}!missing"] = "not defined"
                continue
            value = ns[name]
            for key, v in value.items() if isinstance(value, dict) else [(None, value)]:
                label = name if key is None else f"{name}.{key}"
                arr = np.asarray(v)
                if arr.dtype.kind in "biuf":
                    out[label] = arr.astype(np.float64)
                else:
                    out[f"{label}!bad"] = f"{type(v).__name__} is not a number"
        return out
    fn = ns[probe["function"]]
    for i, case in enumerate(probe["cases"]):
        args = [np.array(probe["arrays"][a["file"]], dtype=np.float64) if isinstance(a, dict) and "file" in a
                else eval(a["expr"], {"np": np}) if isinstance(a, dict) else a for a in case["args"]]  # noqa: S307
        try:
            out[f"case{i}"] = np.asarray(fn(*args), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - a mistaken implementation may raise anything
            out[f"case{i}!error"] = f"{type(exc).__name__}: {exc}"
        out.update({f"case{i}.arg{j}": arg for j, arg in enumerate(args) if isinstance(arg, np.ndarray)})
    return out


def grade_namespace(ns: dict) -> list[SimpleNamespace]:
    """Every part judged on a namespace against the source's solution run the same way."""
    arrays = {k: v for p in spec.probes() for k, v in p.get("arrays", {}).items()}
    probes = [{**p, "arrays": arrays} for p in spec.probes()]
    got = {p["name"]: _run_probe(ns, p) if all(n in ns for n in p["needs"]) else {} for p in probes}
    want = {p["name"]: _run_probe(reference_namespace("backprop"), p) for p in probes}
    verdicts = []
    for name, _, _, probe in spec.PARTS:
        judged = spec._JUDGES[name](name, got[probe], want[probe])
        verdicts.append(SimpleNamespace(part=name, score=judged.score_fraction, status=judged.status,
                                        messages=judged.messages))
    return verdicts


def std_reference() -> dict[str, dict[str, float]]:
    """The three tables, from nnkit.explore's graph (the explorer's implementation of it)."""
    from nnkit.explore import std_graph_values
    vals = std_graph_values(spec.X1, spec.X2)
    local = {f"d{child}/d{parent}": value for (parent, child), value in vals["local"].items()}
    return {"std_forward": {k: vals["value"][k] for k in spec.STD_KEYS["std_forward"]},
            "std_local": {k: local[k] for k in spec.STD_KEYS["std_local"]},
            "std_grad": {k: vals["grad"][k] for k in spec.STD_KEYS["std_grad"]}}


@pytest.fixture(scope="module")
def reference():
    return reference_namespace("backprop")


def test_given_data_match_the_notebook(reference):
    assert np.array_equal(reference["outputs"], spec.OUTPUTS)
    assert np.array_equal(reference["classes"], spec.CLASSES)
    assert (reference["x1"], reference["x2"]) == (spec.X1, spec.X2)


def test_reference_solution_gets_full_marks(reference):
    verdicts = grade_namespace(reference)
    assert [(v.part, v.score, v.status) for v in verdicts] == [(part, 1.0, "passed") for part, *_ in spec.PARTS]


@pytest.mark.parametrize("table, key, want", [
    ("std_forward", "m", 1.0), ("std_forward", "d1", -2.0), ("std_forward", "v", 4.0),
    ("std_forward", "s", 2.0), ("std_local", "ds/dv", 0.25), ("std_local", "dq1/dd1", -4.0),
    ("std_local", "dd1/dm", -1.0), ("std_grad", "m", 0.0), ("std_grad", "x1", -0.5),
    ("std_grad", "x2", 0.5), ("std_grad", "q1", 0.125),
])
def test_std_reference_values(reference, table, key, want):
    # Hand-derived at (x1, x2) = (-1, 3); the grader's table and the notebook's agree.
    assert std_reference()[table][key] == pytest.approx(want)
    assert float(reference[table][key]) == pytest.approx(want)


def _answers(**changes):
    ns = dict(reference_namespace("backprop"))
    for name, value in changes.items():
        if "." in name:
            table, key = name.split(".", 1)
            ns[table] = {**ns[table], key: value}
        else:
            ns[name] = value
    return {v.part: v for v in grade_namespace(ns)}


V = spec.ce_variants()


@pytest.mark.parametrize("part, value, score, text", [
    ("ce_softmax", 0.849, 1, "✓"),
    ("ce_softmax", V["softmax"]["sum"], 1, "SUM"),
    ("ce_softmax", V["softmax"]["log10"], 0, "base 10"),
    ("ce_softmax", V["softmax"]["log2"], 0, "base 2"),
    ("ce_softmax", -V["softmax"]["right"], 0, "MINUS"),
    ("ce_softmax", V["softmax"]["index"], 0, "numbered from 1"),
    ("ce_softmax", V["softmax"]["raw"], 0, "raw outputs"),
    ("ce_softmax", V["normalized"]["right"], 0, "other convention"),
    ("ce_softmax", 1.234, 0, "not the mean"),
    ("ce_softmax", np.array([0.1, 0.2]), 0, "one number"),
    ("ce_softmax", "0.849", 0, "assign a float"),
    ("ce_normalized", 0.5122, 1, "✓"),
    ("ce_normalized", V["normalized"]["columns"], 0, "axis 0"),
    ("ce_normalized", V["softmax"]["right"], 0, "divides each output row"),
    ("ce_softmax", V["softmax"]["binary"], 0, "binary cross-entropy"),
    ("ce_softmax", V["softmax"]["per_entry"], 0, "N·K"),
    ("ce_normalized", V["normalized"]["first_only"], 0, "first sample"),
    ("ce_softmax", 0.85, 0, "do not round by hand"),       # 0.12% off: the notebook's own test fails it too
])
def test_cross_entropy_diagnoses(part, value, score, text):
    verdict = _answers(**{part: value})[part]
    assert verdict.score == score
    assert text in " ".join(verdict.messages)


@pytest.mark.parametrize("changes, part, score, text", [
    ({"std_forward.s": 2 * math.sqrt(2)}, "std_forward", 6 / 7, "sample std"),
    ({"std_forward.v": 8.0}, "std_forward", 6 / 7, "MEAN"),
    ({"std_local.ds/dv": 0.5}, "std_local", 10 / 11, "1/(2√v)"),
    ({"std_local.dq1/dd1": 4.0}, "std_local", 10 / 11, "negative"),
    ({"std_local.dd1/dm": 1.0}, "std_local", 10 / 11, "−1"),
    ({"std_grad.m": -0.5}, "std_backward", 7 / 8, "add the two"),
    ({"std_grad.x1": -1.0}, "std_backward", 7 / 8, "is wrong"),
    ({"std_grad.x1": ...}, "std_backward", 7 / 8, "not filled in"),
    # An error carried forward is named as such.
    ({"std_local.ds/dv": 0.5, "std_grad.v": 0.5}, "std_backward", 7 / 8, "fix std_local first"),
])
def test_std_diagnoses(changes, part, score, text):
    verdict = _answers(**changes)[part]
    assert verdict.score == pytest.approx(score, abs=0.01)
    assert verdict.status == "failed"
    assert text in " ".join(verdict.messages)


def _forward_difference(f, x, h=1e-5):
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x)) / h
    return g


def _no_halving(f, x, h=1e-5):
    return 2 * reference_namespace("backprop")["centered_difference"](f, x, h)


def _fixed_h(f, x, h=1e-5):
    return reference_namespace("backprop")["centered_difference"](f, x, 1e-6)


def _in_place(f, x, h=1e-5):
    g = reference_namespace("backprop")["centered_difference"](f, x, h)
    x += h  # forgets to restore
    return g


def _flat(f, x, h=1e-5):
    return reference_namespace("backprop")["centered_difference"](f, x, h).ravel()


def _precedence(f, x, h=1e-5):
    return reference_namespace("backprop")["centered_difference"](f, x, h) * h * h


def _norm_based(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    total = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if total == 0 else float(np.linalg.norm(a - b) / total)


def _elementwise(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))


def _no_zero_case(a, b):
    return float(np.max(np.abs(a - b)) / max(np.abs(a).max(), np.abs(b).max()))


@pytest.mark.parametrize("name, impl, text", [
    ("centered_difference", _forward_difference, "forward difference"),
    ("centered_difference", _no_halving, "divide by 2h"),
    ("centered_difference", _fixed_h, "use the h you are given"),
    ("centered_difference", _in_place, "x was changed"),
    ("centered_difference", _flat, "shape"),
    ("relative_error", _elementwise, "not entry by entry"),
    ("centered_difference", _precedence, "operator precedence"),
    ("relative_error", _norm_based, "norm-based"),
    ("relative_error", _no_zero_case, "both are zero"),
])
def test_function_diagnoses(name, impl, text):
    with np.errstate(all="ignore"):
        verdict = _answers(**{name: impl})[name]
    assert verdict.status == "failed" and verdict.score < 1
    assert text in " ".join(verdict.messages)


def test_missing_answers_are_missing_not_crashes():
    ns = {"np": np}
    verdicts = {v.part: v for v in grade_namespace(ns)}
    assert all(v.score == 0 for v in verdicts.values())
    assert verdicts["ce_softmax"].status == "missing"
    assert verdicts["centered_difference"].status == "missing"


def test_probe_requests_are_json():
    import json
    requests = [{k: v for k, v in p.items() if k != "arrays"} for p in spec.probes()]
    assert json.loads(json.dumps(requests)) == requests


@pytest.mark.parametrize("info, arrays, expect", [
    ({"status": "error", "stage": "lookup"}, {}, {}),
    ({"status": "ok", "bad_outputs": {"std_grad.x1": "TypeError: ellipsis"}},
     {"ce_softmax": np.float64(0.85)}, {"ce_softmax": 0.85, "std_grad.x1!bad": "TypeError: ellipsis"}),
    ({"status": "ok", "missing": ["ce_normalized"], "case_errors": {"1": "ZeroDivisionError"}}, {},
     {"ce_normalized!missing": "not defined", "case1!error": "ZeroDivisionError"}),
])
def test_from_driver(info, arrays, expect):
    assert flat_outputs(info, arrays) == expect
