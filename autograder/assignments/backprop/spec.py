"""What the `backprop` grader asks and how it judges the answers.

The student's solution cells run in the sandbox (driver.py); two probe kinds
bring back plain numbers only:

* ``values``: named variables of the student's namespace; a number comes back
  as ``<name>``, a dict of numbers as ``<name>.<key>`` (e.g. ``std_grad.x1``).
* ``call``: a student function called on cases built *inside* the sandbox from
  JSON (arrays as files, test functions as expressions over ``np``); the result
  comes back as ``case<i>`` and every array argument after the call as
  ``case<i>.arg<j>`` (to see whether the function modified its input).

The expected values are what the SOURCE notebook's own solution cells give on
the same probes (the engine runs them through the driver in a trusted process);
the constants here only name mistakes.  Everything the grader decides happens
in the ``judge_*`` functions, which take the flat dicts of floats/arrays the
driver reported (``engine.job.flat_outputs``), never any object from the student.

Tolerances: rtol 1e-3 for the cross-entropies (students round to 3-4 digits),
atol 1e-3 for the graph values (all are small exact numbers), rtol 1e-5 for
gradients of smooth test functions (the centered-difference error at h=1e-5
is ~1e-10).
"""
from __future__ import annotations

import math

import numpy as np

from autograder.engine.diagnose import Probe
from autograder.engine.grade import Judged, Part, Spec
from autograder.engine.job import flat_outputs

# Solution cells the driver must run (after the source notebook's `setup`).
SOLUTION_CELLS = ("ce-values", "std-values", "centered-difference", "relative-error")
# Graded parts: (name, nbgrader test cell, the solution cell it is answered in, the probe reading it).
PARTS = [("ce_softmax", "ce-softmax-tests", "ce-values", "ce_answers"),
         ("ce_normalized", "ce-normalized-tests", "ce-values", "ce_answers"),
         ("std_forward", "std-forward-tests", "std-values", "std_answers"),
         ("std_local", "std-local-tests", "std-values", "std_answers"),
         ("std_backward", "std-backward-tests", "std-values", "std_answers"),
         ("centered_difference", "centered-difference-tests", "centered-difference", "centered_difference"),
         ("relative_error", "relative-error-tests", "relative-error", "relative_error")]

# The given data, as in the setup cell (a test checks that they agree).
OUTPUTS = np.array([[0.65, 0.43, 0.11], [0.05, 0.51, 0.18], [0.33, 0.21, 0.72]])
CLASSES = np.array([1, 2, 3])
X1, X2 = -1.0, 3.0

STD_KEYS = {
    "std_forward": ("m", "d1", "d2", "q1", "q2", "v", "s"),
    "std_local": ("dm/dx1", "dm/dx2", "dd1/dx1", "dd1/dm", "dd2/dx2", "dd2/dm",
                  "dq1/dd1", "dq2/dd2", "dv/dq1", "dv/dq2", "ds/dv"),
    "std_grad": ("s", "v", "q1", "q2", "d1", "d2", "m", "x1", "x2"),
}
# Entries the student copy already fills in: checked, but they earn nothing.
GIVEN = {"std_grad": ("s",)}

# Test functions for centered_difference, sent as source text: a function can't
# cross the sandbox boundary, and these are ours, not the student's.
FUNCTIONS = {
    "sin": ("lambda x: np.sum(np.sin(x))", lambda x: np.cos(x)),
    "cube": ("lambda x: np.sum(x ** 3)", lambda x: 3 * x ** 2),
    "square_of_sum": ("lambda x: np.sum(x) ** 2", lambda x: 2 * np.sum(x) * np.ones_like(x)),
}
# (function, x, h): shapes 1-D, 2-D and 3-D; one large h so a solution that
# ignores h or divides by h instead of 2h is seen.
CD_CASES = [
    ("sin", np.array([0.0, 1.0, -2.0, 0.5]), 1e-5),
    ("cube", np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.5]]), 1e-5),
    ("square_of_sum", np.linspace(-1, 1, 12).reshape(2, 3, 2), 1e-4),
    ("cube", np.array([2.0]), 0.1),
]
# (a, b): equal, scale-free, signs, both zero, a 2-D pair with one near-zero entry, two entries off
# (the largest difference, not their sum).
RE_CASES = [
    (np.array([1.0, 2.0]), np.array([1.0, 2.0])),
    (np.array([1e-3, 0.0]), np.array([2e-3, 0.0])),
    (np.array([4.0]), np.array([-4.0])),
    (np.zeros(3), np.zeros(3)),
    (np.array([[10.0, 1e-9], [-3.0, 2.0]]), np.array([[10.5, 2e-9], [-3.0, 2.0]])),
    (np.array([1.0, -2.0, 3.0]), np.array([1.5, -2.5, 3.0])),
]


def probes() -> list[dict]:
    """Requests for the driver, plus the arrays each needs written to the job folder."""
    cd_cases, re_cases, arrays = [], [], {}
    for i, (fname, x, h) in enumerate(CD_CASES):
        arrays[f"cd{i}.x.npy"] = x
        cd_cases.append({"args": [{"expr": FUNCTIONS[fname][0]}, {"file": f"cd{i}.x.npy"}, h]})
    for i, (a, b) in enumerate(RE_CASES):
        arrays[f"re{i}.a.npy"], arrays[f"re{i}.b.npy"] = a, b
        re_cases.append({"args": [{"file": f"re{i}.a.npy"}, {"file": f"re{i}.b.npy"}]})
    # One probe per solution cell: a value that hangs when read costs only its own cell's parts.
    return [
        {"name": "ce_answers", "part": "ce-values", "kind": "values",
         "names": ["ce_softmax", "ce_normalized"], "needs": []},
        {"name": "std_answers", "part": "std-values", "kind": "values", "names": list(STD_KEYS), "needs": []},
        {"name": "centered_difference", "part": "centered-difference", "kind": "call",
         "function": "centered_difference", "cases": cd_cases, "needs": ["centered_difference"],
         "arrays": arrays},
        {"name": "relative_error", "part": "relative-error", "kind": "call", "function": "relative_error",
         "cases": re_cases, "needs": ["relative_error"]},
    ]


# ------------------------------------------------------------------ judging

def _ce(labels_zero_based, probabilities, log=np.log) -> np.ndarray:
    rows = np.arange(len(probabilities))
    return -log(probabilities[rows, labels_zero_based])


def _softmax(y, axis=1):
    e = np.exp(y - y.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ce_variants() -> dict[str, dict[str, float]]:
    """Per convention, the value of each known mistake (by name) — the mean is 'right'."""
    labels = CLASSES - 1
    probs = {"softmax": _softmax(OUTPUTS), "normalized": OUTPUTS / OUTPUTS.sum(1, keepdims=True)}
    rows = np.arange(len(OUTPUTS))
    out = {}
    for conv, p in probs.items():
        per_sample = _ce(labels, p)
        out[conv] = {
            "right": per_sample.mean(),
            "sum": per_sample.sum(),
            "log10": _ce(labels, p, np.log10).mean(),
            "log2": _ce(labels, p, np.log2).mean(),
            "sign": -per_sample.mean(),
            "index": _ce(CLASSES % 3, p).mean(),   # classes used as 0-based indices
            "columns": _ce(labels, _softmax(OUTPUTS, axis=0) if conv == "softmax"
                           else OUTPUTS / OUTPUTS.sum(0, keepdims=True)).mean(),
            "raw": _ce(labels, OUTPUTS).mean(),
            "all_entries": -np.log(p).mean(),
            "binary": -(np.log(p[rows, labels]) + np.log(1 - p).sum(axis=1) - np.log(1 - p[rows, labels])).mean(),
            "per_entry": per_sample.mean() / p.shape[1],
            "logits": -OUTPUTS[rows, labels].mean(),
            "log_of_mean": -np.log(p[rows, labels].mean()),
            "first_only": per_sample[0],
        }
    return out


_CE_MESSAGES = {
    "sum": "✓ {name} = {got:.4f} is the SUM of the per-sample losses — accepted; "
           "the course convention is the mean (divide by the number of samples)",
    "log10": "✗ {name} = {got:.4f}: you used log base 10; cross-entropy uses the natural log (np.log)",
    "log2": "✗ {name} = {got:.4f}: you used log base 2; cross-entropy uses the natural log (np.log)",
    "sign": "✗ {name} = {got:.4f} is negative: cross-entropy is MINUS the log-probability",
    "index": "✗ {name} = {got:.4f}: the classes are numbered from 1, NumPy indexes from 0 "
             "(use class - 1)",
    "columns": "✗ {name} = {got:.4f}: you normalized over the samples (axis 0) instead of over "
               "each sample's classes (axis 1)",
    "raw": "✗ {name} = {got:.4f}: this is -log of the raw outputs; they are not probabilities",
    "all_entries": "✗ {name} = {got:.4f} averages −log p over every entry: take −log p of each sample's TRUE "
                   "class only (the one-hot vector picks it), then average over the samples",
    "binary": "✗ {name} = {got:.4f} is the binary cross-entropy (it adds (1 − t)·log(1 − p) for the other "
              "classes): the multi-class cross-entropy is −log p of the true class",
    "per_entry": "✗ {name} = {got:.4f} is divided by N·K (every entry of the one-hot matrix): average over "
                 "the N samples only",
    "logits": "✗ {name} = {got:.4f}: −log exp(y) is just −y; the probabilities must be normalized, each row "
              "divided by its sum",
    "log_of_mean": "✗ {name} = {got:.4f} is −log of the mean probability: average the per-sample −log p instead",
    "first_only": "✗ {name} = {got:.4f} is the first sample's loss alone: average over all the samples",
    "rounded": "✗ {name} is close to the value but not within 0.1%: do not round by hand (keep at least four "
               "significant digits)",
    "other_convention": "✗ {name} = {got:.4f} is the value of the other convention: "
                        "{name} {hint}",
}
_CE_HINT = {"softmax": "passes each output row through softmax first",
            "normalized": "divides each output row by its sum"}


def judge_ce(part: str, got: dict, mine_expected: dict) -> Judged:
    """part is 'ce_softmax' or 'ce_normalized'; got is the 'ce_answers' probe output,
    mine_expected the same probe on the source's solution."""
    conv = "softmax" if part == "ce_softmax" else "normalized"
    other = "normalized" if conv == "softmax" else "softmax"
    if part not in got:
        why = got.get(f"{part}!bad") or got.get(f"{part}!missing") or "no value"
        return Judged(0, "missing", [f"✗ {part}: {why} — assign a float"])
    value = got[part]
    if value.shape != ():
        return Judged(0, "failed",
                           [f"✗ {part} has shape {value.shape}: the batch loss is one number "
                            "(average the per-sample losses)"])
    v = float(value)
    variants = ce_variants()
    want = float(mine_expected[part])
    if not math.isfinite(v):
        return Judged(0, "failed", [f"✗ {part} = {v}: not a finite number"])
    if math.isclose(v, want, rel_tol=1e-3):
        return Judged(1.0, "passed", [f"✓ {part} = {v:.4f}"])
    for mistake, target in variants[conv].items():
        if mistake != "right" and math.isclose(v, target, rel_tol=1e-3):
            msg = _CE_MESSAGES[mistake].format(name=part, got=v, want=want)
            return Judged(1.0 if mistake == "sum" else 0,
                               "passed" if mistake == "sum" else "failed", [msg])
    if math.isclose(v, want, rel_tol=1e-2) or math.isclose(v, variants[conv]["sum"], rel_tol=1e-2):
        return Judged(0, "failed", [_CE_MESSAGES["rounded"].format(name=part)])     # no number: it is the answer's
    if any(math.isclose(v, variants[other][m], rel_tol=1e-3) for m in ("right", "sum")) and \
            not math.isclose(want, variants[other]["right"], rel_tol=1e-3):
        msg = _CE_MESSAGES["other_convention"].format(name=part, got=v, hint=_CE_HINT[conv])
        return Judged(0, "failed", [msg])
    return Judged(0, "failed",
                       [f"✗ {part} = {v:.4f} is not the mean cross-entropy of the batch"])


# The entries each std_grad entry is computed from by the chain rule.
CHAIN_INPUTS = {
    "v": ("std_grad.s", "std_local.ds/dv"),
    "q1": ("std_grad.v", "std_local.dv/dq1"), "q2": ("std_grad.v", "std_local.dv/dq2"),
    "d1": ("std_grad.q1", "std_local.dq1/dd1"), "d2": ("std_grad.q2", "std_local.dq2/dd2"),
    "m": ("std_grad.d1", "std_local.dd1/dm", "std_grad.d2", "std_local.dd2/dm"),
    "x1": ("std_grad.d1", "std_local.dd1/dx1", "std_grad.m", "std_local.dm/dx1"),
    "x2": ("std_grad.d2", "std_local.dd2/dx2", "std_grad.m", "std_local.dm/dx2"),
}


def _std_mistake(table: str, key: str, got: float, mine: dict, expected: dict) -> str:
    """Name the usual slips for one wrong entry; '' when we don't recognise it."""
    close = lambda a, b: math.isclose(a, b, abs_tol=1e-3)  # noqa: E731
    hints = {
        ("std_forward", "s", 2 * math.sqrt(2)): "that is the sample std (divide by n−1); "
                                                "the graph divides by n = 2",
        ("std_forward", "v", 8.0): "v is the MEAN of q1 and q2, not the sum",
        ("std_forward", "m", 2.0): "m is the MEAN (x1 + x2)/2, not the sum",
        ("std_forward", "d1", 2.0): "d1 = x1 − m (the sample minus the mean), not m − x1",
        ("std_forward", "d2", -2.0): "d2 = x2 − m (the sample minus the mean), not m − x2",
        ("std_forward", "q1", 2.0): "q1 = d1², the square of d1 (not its absolute value)",
        ("std_forward", "q1", -2.0): "q1 = d1², the square of d1",
        ("std_forward", "q2", 2.0): "q2 = d2², the square of d2",
        ("std_forward", "s", 4.0): "s = √v: the square root is missing",
        ("std_local", "dq1/dd1", -2.0): "d(d²)/dd = 2d: the factor 2 is missing",
        ("std_local", "ds/dv", 1 / (2 * math.sqrt(2))): "d√v/dv = 1/(2√v) at v = 4, i.e. 1/(2s): not 1/(2√s)",
        ("std_local", "ds/dv", 0.5): "d√v/dv = 1/(2√v), not 1/√v",
        ("std_local", "ds/dv", 0.125): "d√v/dv = 1/(2√v) — the square root, not 1/(2v)",
        ("std_local", "dq1/dd1", 2.0): "d(d²)/dd = 2d, evaluated at d1 (your std_forward value)",
        ("std_local", "dq1/dd1", 4.0): "d(d²)/dd = 2d, and d1 is negative here",
        ("std_local", "dq2/dd2", 2.0): "d(d²)/dd = 2d, evaluated at d2 (your std_forward value)",
        ("std_local", "dd1/dm", 1.0): "d1 = x1 − m, so ∂d1/∂m = −1",
        ("std_local", "dd2/dm", 1.0): "d2 = x2 − m, so ∂d2/∂m = −1",
        ("std_local", "dm/dx1", 1.0): "m = (x1 + x2)/2, so ∂m/∂x1 = 1/2",
        ("std_local", "dm/dx2", 1.0): "m = (x1 + x2)/2, so ∂m/∂x2 = 1/2",
        ("std_local", "dv/dq1", 1.0): "v = (q1 + q2)/2, so ∂v/∂q1 = 1/2",
        ("std_local", "dv/dq2", 1.0): "v = (q1 + q2)/2, so ∂v/∂q2 = 1/2",
        ("std_grad", "m", -0.5): "m feeds both d1 and d2: add the two contributions",
        ("std_grad", "m", 0.5): "m feeds both d1 and d2: add the two contributions",
        ("std_grad", "x1", -0.75): "x1 feeds d1 directly and m: the m path is ∂s/∂m · 1/2",
    }
    for (t, k, value), hint in hints.items():
        if t == table and k == key and close(got, value):
            return hint
    if table == "std_grad" and key != "s" and len(CHAIN_INPUTS[key]) == 2:
        # one path: the upstream gradient times the local one; a slip in that product is named
        up, local = (mine.get(label) for label in CHAIN_INPUTS[key])
        up_name, local_name = (f"{t.split('.')[0]}[{t.split('.', 1)[1]!r}]" for t in CHAIN_INPUTS[key])
        if up is not None and local is not None and not close(local, 1.0):
            rule = f"std_grad[{key!r}] = {up_name} · {local_name}"
            if close(got, up):
                return f"the local gradient is missing: by the chain rule {rule}"
            if local and close(got, up / local):
                return f"divided by the local gradient: by the chain rule {rule} (multiply)"
            if not close(up * local, 0.0) and close(got, -up * local):
                return f"the sign is flipped: by the chain rule {rule}"
    if table == "std_grad" and key != "s":
        # A wrong total that follows from the student's own wrong entries: name where the error is.
        own = _chain(mine)
        if key in own and own[key] is not None and close(got, own[key]):
            wrong = [label for label in CHAIN_INPUTS[key]
                     if label in mine and not close(mine[label], float(expected[label]))]
            if any(w.startswith("std_local.") for w in wrong):
                return "follows from your local gradients by the chain rule: fix std_local first"
            if wrong:
                names = ", ".join(f"std_grad[{w.split('.', 1)[1]!r}]" for w in wrong)
                return f"follows by the chain rule from your {names}: fix that first"
    return ""


def _chain(mine: dict) -> dict:
    loc = {k: mine.get(f"std_local.{k}") for k in STD_KEYS["std_local"]}
    grad = {k: mine.get(f"std_grad.{k}") for k in STD_KEYS["std_grad"]}
    try:
        return {
            "v": grad["s"] * loc["ds/dv"],
            "q1": grad["v"] * loc["dv/dq1"], "q2": grad["v"] * loc["dv/dq2"],
            "d1": grad["q1"] * loc["dq1/dd1"], "d2": grad["q2"] * loc["dq2/dd2"],
            "m": grad["d1"] * loc["dd1/dm"] + grad["d2"] * loc["dd2/dm"],
            "x1": grad["d1"] * loc["dd1/dx1"] + grad["m"] * loc["dm/dx1"],
            "x2": grad["d2"] * loc["dd2/dx2"] + grad["m"] * loc["dm/dx2"],
        }
    except TypeError:   # some entry missing: no chain to follow
        return {}


def judge_std(part: str, got: dict, expected: dict) -> Judged:
    """part: std_forward | std_local | std_backward. Partial credit per entry, except
    for entries the student copy gives (they are checked but earn nothing).
    ``expected``: the 'std_answers' probe on the source's solution."""
    table = "std_grad" if part == "std_backward" else part
    want = {key: float(expected[f"{table}.{key}"]) for key in STD_KEYS[table]}
    mine = {k: float(v) for k, v in got.items() if "!" not in k and np.shape(v) == ()}
    scored = [k for k in want if k not in GIVEN.get(table, ())]
    right, messages = set(), []
    for key, value in want.items():
        label = f"{table}.{key}"
        if label not in mine:
            why = got.get(f"{label}!bad")
            why = "not filled in (still ...)" if why is None or "ellipsis" in why else why
            messages.append(f"✗ {table}[{key!r}]: {why}")
        elif math.isclose(mine[label], value, abs_tol=1e-3):
            right.add(key)
        else:
            hint = _std_mistake(table, key, mine[label], mine, expected)
            messages.append(f"✗ {table}[{key!r}] = {mine[label]:g} is wrong" + (f": {hint}" if hint else ""))
    if f"{table}!missing" in got:
        return Judged(0, "missing", [f"✗ {table} is not defined"])
    if len(right) == len(want):
        return Judged(1.0, "passed", [f"✓ {table}: all {len(want)} entries right"])
    score = len(right.intersection(scored)) / len(scored)
    return Judged(score, "failed", messages)


def _cd_mistakes(i: int, result: np.ndarray, exact: np.ndarray) -> str:
    """exact: the source solution's answer on case i (its centered difference)."""
    fname, x, h = CD_CASES[i]
    f = eval(FUNCTIONS[fname][0], {"np": np})  # noqa: S307 - our own text
    forward = np.array([(f(x + h * e) - f(x)) / h for e in np.eye(x.size).reshape(x.size, *x.shape)])
    forward = forward.reshape(x.shape)
    backward = np.array([(f(x) - f(x - h * e)) / h for e in np.eye(x.size).reshape(x.size, *x.shape)])
    backward = backward.reshape(x.shape)
    together = np.full(x.shape, (f(x + h) - f(x - h)) / (2 * h))
    if np.allclose(result, 2 * exact, rtol=1e-4, atol=1e-8):
        return "twice the gradient: divide by 2h, not h"
    if np.allclose(result, exact * h * h, rtol=1e-4, atol=0) and not np.allclose(exact, 0):
        return "(up − down) / 2 * h multiplies by h (operator precedence): write (up − down) / (2 * h)"
    if not np.allclose(exact, backward, rtol=1e-4) and np.allclose(result, backward, rtol=1e-6):
        return "this is the backward difference (f(x) − f(x−h))/h; use (f(x+h) − f(x−h))/2h"
    if x.size > 1 and np.allclose(result, together, rtol=1e-6) and not np.allclose(exact, together, rtol=1e-4):
        return "x + h moves every entry at once: perturb one entry at a time (the others stay as they are)"
    if not np.allclose(exact, forward, rtol=1e-4) and np.allclose(result, forward, rtol=1e-6):
        return "this is the forward difference (f(x+h) − f(x))/h; use (f(x+h) − f(x−h))/2h"
    if i == 3 and np.allclose(result, 3 * x ** 2, rtol=1e-6):
        return "exact for h → 0 but not for h = 0.1: use the h you are given, not a fixed one"
    return ""


def _where(i: int) -> str:
    fname, x, h = CD_CASES[i]
    return f"{fname} at shape {x.shape}, h={h:g}"


def judge_centered_difference(got: dict, expected: dict) -> Judged:
    """expected: the source solution's results on the same cases."""
    part = "centered_difference"
    if not got or all("!" in k for k in got):
        msg = next(iter(got.values()), "not defined") if got else "not defined"
        return Judged(0, "missing" if not got else "failed", [f"✗ {part}: {msg}"])
    messages, right = [], 0
    for i, (_fname, x, _h) in enumerate(CD_CASES):
        exact = np.asarray(expected[f"case{i}"])   # at h = 0.1 on the cubic: 3x² + h², not 3x²
        where = _where(i)
        if f"case{i}!error" in got:
            messages.append(f"✗ {where}: {got[f'case{i}!error']}")
            continue
        result = got.get(f"case{i}")
        if result is None or result.shape != x.shape:
            messages.append(f"✗ {where}: returned shape {None if result is None else result.shape}, "
                            f"want {x.shape} (one derivative per entry of x)")
            continue
        after = got.get(f"case{i}.arg1", x)
        if np.shape(after) != x.shape or not np.allclose(after, x):
            messages.append(f"✗ {where}: x was changed by the call — restore each entry after "
                            "perturbing it (or work on a copy)")
            continue
        if np.allclose(result, exact, rtol=1e-5, atol=1e-7):
            right += 1
        else:
            hint = _cd_mistakes(i, result, exact)
            messages.append(f"✗ {where}: wrong values" + (f" — {hint}" if hint else ""))
    score = right / len(CD_CASES)
    flat_right = [i for i, (_, x, _) in enumerate(CD_CASES) if x.ndim == 1 and f"✗ {_where(i)}" not in
                  " ".join(messages)]
    if flat_right and len(flat_right) == sum(x.ndim == 1 for _, x, _ in CD_CASES) and right < len(CD_CASES):
        # every 1-D case right, the others wrong: the loop does not reach every entry of a multi-D array
        messages = [m if " — " in m or "wrong values" not in m else
                    m + " — right on 1-D x but not here: loop over every entry (np.ndindex(x.shape)), "
                        "not over range(len(x))" for m in messages]
    messages.sort(key=lambda m: " — " not in m)     # a named mistake first
    if right == len(CD_CASES):
        messages = [f"✓ centered_difference right on all {len(CD_CASES)} cases"]
    return Judged(score, "passed" if right == len(CD_CASES) else "failed", messages)


def _elementwise_relative_error(a, b) -> float:
    """The common mistake: max over entries of |a_i - b_i| / max(|a_i|, |b_i|)."""
    scale = np.maximum(np.abs(a), np.abs(b))
    nonzero = scale > 0
    return float(np.max(np.abs(a - b)[nonzero] / scale[nonzero]))


def _scaled(diff, scale):
    return lambda a, b: 0.0 if scale(a, b) == 0 else float(diff(a, b) / scale(a, b))


_MAX_AB = lambda a, b: max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))  # noqa: E731
# (message, formula): other formulas students write; named only when one gives every wrong result
RE_FORMULAS = [
    ("this is the norm-based ratio ‖a − b‖ / (‖a‖ + ‖b‖): here the relative error is max |a − b| divided by "
     "the largest |entry| of a and b", _scaled(lambda a, b: np.linalg.norm(a - b),
                                               lambda a, b: np.linalg.norm(a) + np.linalg.norm(b))),
    ("the scale is the sum max|a| + max|b|: divide by the larger of the two, max(max|a|, max|b|)",
     _scaled(lambda a, b: np.abs(a - b).max(), lambda a, b: np.abs(a).max() + np.abs(b).max())),
    ("the scale is taken from a only: use the larger of max|a| and max|b| (the error is symmetric in a and b)",
     _scaled(lambda a, b: np.abs(a - b).max(), lambda a, b: np.abs(a).max())),
    ("the mean difference, not the largest: max |a − b| divided by the largest |entry| of a and b",
     _scaled(lambda a, b: np.abs(a - b).mean(), _MAX_AB)),
    ("a − b without the absolute value: a difference of either sign counts, take max |a − b|",
     _scaled(lambda a, b: (a - b).max(), _MAX_AB)),
]


def _named_formula(got: dict) -> str:
    wrong = [i for i in range(len(RE_CASES)) if f"case{i}" in got and got[f"case{i}"].size == 1
             and np.isfinite(got[f"case{i}"]).all()]
    for message, formula in RE_FORMULAS:
        with np.errstate(all="ignore"):
            values = [formula(*RE_CASES[i]) for i in wrong]
        if wrong and all(math.isclose(float(got[f"case{i}"].reshape(())), v, rel_tol=1e-6, abs_tol=1e-12)
                         for i, v in zip(wrong, values)):
            return f"✗ relative_error: {message}"
    return ""


def judge_relative_error(got: dict, expected: dict) -> Judged:
    """expected: the source solution's results on the same cases."""
    part = "relative_error"
    if not got:
        return Judged(0, "missing", [f"✗ {part}: not defined"])
    messages, right = [], 0
    for i, (a, b) in enumerate(RE_CASES):
        want = float(np.asarray(expected[f"case{i}"]).reshape(()))
        label = f"relative_error({a.tolist()}, {b.tolist()})"
        if f"case{i}!error" in got:
            messages.append(f"✗ {label}: {got[f'case{i}!error']}")
            continue
        result = got.get(f"case{i}")
        if result is None or result.size != 1:
            messages.append(f"✗ {label}: return one number, got shape "
                            f"{None if result is None else result.shape}")
            continue
        r = float(result.reshape(()))
        if math.isclose(r, want, rel_tol=1e-6, abs_tol=1e-12):
            right += 1
        elif not math.isfinite(r) and want == 0:
            messages.append(f"✗ {label} = {r}: both are zero — return 0.0 instead of dividing by 0")
        elif i == 4 and math.isclose(r, _elementwise_relative_error(a, b), rel_tol=1e-3):
            messages.append(f"✗ {label} = {r:.3g}: divide by the largest magnitude of the whole "
                            "arrays, not entry by entry (a tiny entry must not dominate)")
        else:
            messages.append(f"✗ {label} = {r:.6g} is wrong: max |a − b| divided by the largest |entry| "
                            "of a and b")
    score = right / len(RE_CASES)
    if right == len(RE_CASES):
        messages = [f"✓ relative_error right on all {len(RE_CASES)} cases"]
    elif _named_formula(got):
        messages.insert(0, _named_formula(got))
    return Judged(score, "passed" if right == len(RE_CASES) else "failed", messages)


# ------------------------------------------------------------------ the engine's view
def engine_probes(seed: int) -> list[Probe]:
    """The probes are fixed (the given data are in the notebook): ``seed`` is not used."""
    return [Probe(p["name"], p["part"], p["kind"], {k: v for k, v in p.items() if k not in ("arrays", "name", "part", "kind")},
                  p.get("arrays", {}), label=p["name"]) for p in probes()]


_JUDGES = {"ce_softmax": judge_ce, "ce_normalized": judge_ce, "std_forward": judge_std, "std_local": judge_std,
           "std_backward": judge_std,
           "centered_difference": lambda part, got, expected: judge_centered_difference(got, expected),
           "relative_error": lambda part, got, expected: judge_relative_error(got, expected)}


def engine_judge(part: Part, probes: list[Probe], results: dict, expected: dict) -> Judged:
    """Per entry / per case credit; a function that raised on some case is an error."""
    (probe,) = probes
    flat = flat_outputs(*results[probe.name])
    v = _JUDGES[part.name](part.name, flat, flat_outputs(*expected[probe.name]))
    errored = v.status == "failed" and any(k.endswith("!error") for k in flat)
    return Judged(v.score_fraction, "error" if errored else v.status, list(v.messages))


SPEC = Spec("backprop", [Part(name, grade_id, cell, probe) for name, grade_id, cell, probe in PARTS],
            engine_probes, engine_judge, seed=0, cell_errors_first=True)
