"""Compare a student's probe outputs with the reference's and name the mistake.

Tolerances admit any correct computation, float32 inside included: an output
passes when |student - reference| <= RTOL * scale + ATOL everywhere, where
scale is the largest |reference| value of that output.  When it does not pass,
the first output that differs (forward before backward) is explained, trying in
turn: a known mistake of the part that reproduces it (mistakes.py), a shape
mistake, nan/inf, a constant factor (N, 1/N, -1, 2, 1/2), the region of the
input where it is wrong; else a plain "is wrong".  Messages describe sizes by
name (N, in, out, ...) and never show the probe's inputs.
"""
from __future__ import annotations

import re

import numpy as np

from autograder.assignments.mlp.mistakes import MISTAKES
from nnkit import mistakes

RTOL, ATOL = 1e-4, 1e-7

LABELS = {"y0": "forward's output", "y1": "forward's output", "dx": "backward's return value (dx)",
          "grad.W": "dW", "grad.b": "db", "param.W": "params()['W']", "param.b": "params()['b']",
          "loss": "the loss", "grad": "the loss gradient (backward)"}

# Shape mistakes with a known cause: (part, output, wrong shape in size names) -> message.
SHAPE_MISTAKES = {
    ("linear", "grad.b", ("N", "out")): "db has shape (N, out): did you forget to sum the bias gradient over the batch?",
    ("linear", "grad.W", ("out", "in")): "dW has shape (out, in) instead of (in, out): compute xᵀg, not gᵀx",
    ("linear", "y1", ("N", "in")): "forward's output has shape (N, in): compute x @ W",
    ("linear", "dx", ("N", "out")): "dx has shape (N, out) instead of (N, in): dx = g @ Wᵀ",
}

# What nan/inf in an output most likely means, by part.
NONFINITE = {
    "sigmoid": "sigmoid overflows for large |x|: avoid exp of a large positive number "
               "(e.g. use exp(-|x|), or np.where on the sign of x)",
    "tanh": "tanh overflows for large |x|: use np.tanh",
    "softmax_ce_loss": "softmax overflows for large logits: subtract each row's max score before exp",
}

# Hints for exceptions, by (part or "*", stage prefix, exception name).
EXCEPTION_HINTS = [
    ("*", "backward", "AttributeError", "did forward store what backward needs (e.g. self.x = x)?"),
    ("linear", "backward", "ValueError", "check the shapes: dW = xᵀg is (in, out), db is (out,), dx = g Wᵀ is (N, in)"),
    ("sgd", "update", "ValueError", "keep a separate velocity for every key"),
    ("*", "*", "NotImplementedError", "this part is not implemented yet"),
    ("*", "init", "TypeError", "check that __init__ takes the arguments of the assignment's signature"),
]


def _name_shape(shape, dims) -> str:
    names = {v: k for k, v in dims.items()}
    return "(" + ", ".join(names.get(s, "?") for s in shape) + ("," if len(shape) == 1 else "") + ")"


def close(a: np.ndarray, e: np.ndarray) -> bool:
    if a.shape != e.shape:
        return False
    fin = np.isfinite(e)
    if not np.array_equal(np.isfinite(a), fin):
        return False
    if not fin.any():
        return True
    scale = float(np.abs(e[fin]).max())
    return bool(np.all(np.abs(a[fin] - e[fin]) <= RTOL * scale + ATOL))


def _field_order(name: str) -> tuple:
    # forward first: a forward mistake explains everything after it
    rank = {"y": 0, "loss": 0, "dx": 1, "grad": 1, "param": 3, "step": 2}
    head = re.match(r"[a-z]+", name).group(0)
    return (rank.get(head, 4), len(name), name)


def exception_message(part: str, klass: str, info: dict) -> str:
    stage, error = info.get("stage") or "", info.get("error") or "an error"
    if stage == "lookup":
        return f"{klass} could not be tested: {error}"
    exc = re.match(r"[\w.]*", error).group(0)
    where = {"init": f"{klass}(...)", "build": f"{klass}(...)", "forward": f"{klass}.forward",
             "backward": f"{klass}.backward", "update": f"{klass}.update", "grads": f"{klass}.grads()",
             "params": f"{klass}.params()", "set_param": f"{klass}.set_param"}.get(stage.split(" ")[0], klass)
    for p, s, e, hint in EXCEPTION_HINTS:
        if p in ("*", part) and (s == "*" or stage.startswith(s)) and e == exc:
            return f"{where} raised {exc} — {hint} (details: {error})"
    return f"{where} raised {error}"


def _scale_message(label, a, e, n) -> str | None:
    """a ≈ k·e for a telling k?"""
    denom = float((e * e).sum())
    if denom == 0 or not np.isfinite(a).all():
        return None
    k = float((a * e).sum()) / denom
    if not close(a, k * e):
        return None
    return mistakes.scale(label, k, n)     # the words the student's self-checks use too


def _region_message(label, a, e, x) -> str | None:
    """For elementwise layers: where in the input the output goes wrong."""
    if x is None or x.shape != e.shape:
        return None
    bad = ~np.isclose(a, e, rtol=RTOL, atol=RTOL * float(np.abs(e).max() or 1.0) + ATOL)
    regions = [("x > 0", x > 0), ("x < 0", x < 0), ("x = 0", x == 0)]
    wrong = [name for name, mask in regions if (bad & mask).any()]
    if wrong and len(wrong) < 3:
        return f"{label} is wrong where {' and '.join(wrong)}"
    return None


def explain_field(probe, field: str, a, e) -> str:
    """Why student output ``a`` differs from reference ``e`` (they do differ)."""
    label = LABELS.get(field, field)
    part, i, dims = probe.part, probe.inputs, probe.dims
    if a is None:
        return f"{label} is missing (backward must also set the gradient attributes, e.g. self.dW)"
    if a.shape != e.shape:
        named = tuple({v: k for k, v in dims.items()}.get(s, "?") for s in a.shape)
        if (part, field, named) in SHAPE_MISTAKES:
            return SHAPE_MISTAKES[(part, field, named)]
        if a.shape == e.shape[::-1] and a.ndim == 2:
            return mistakes.transposed(label, _name_shape(a.shape, dims), _name_shape(e.shape, dims))
        return mistakes.wrong_shape(label, _name_shape(a.shape, dims), _name_shape(e.shape, dims))
    if np.isfinite(e).all() and not np.isfinite(a).all():
        return f"{label} contains nan or inf" + (f": {NONFINITE[part]}" if part in NONFINITE else "")
    for message, wrong in MISTAKES.get(part, []):
        try:
            with np.errstate(all="ignore"):     # a wrong formula may well overflow
                guess = wrong(i).get(field)
        except Exception:  # noqa: BLE001 - a guess that does not apply to this probe
            continue
        if guess is not None and close(a, np.asarray(guess, dtype=float).reshape(e.shape)):
            return message
    if field == "dx" and "g" in i and i["g"].shape == a.shape and close(a * i["g"], e):
        return "backward must multiply the local derivative by the upstream gradient g"
    scaled = _scale_message(label, a, e, dims.get("N"))
    if scaled:
        return scaled
    if probe.kind == "module" and part != "linear":
        region = _region_message(label, a, e, i.get("x"))
        if region:
            return region
    fin = np.isfinite(e)
    scale = float(np.abs(e[fin]).max()) if fin.any() else 1.0
    err = float(np.abs(a[fin] - e[fin]).max() / (scale or 1.0)) if fin.any() else float("nan")
    return f"{label} is wrong (largest error {err:.2g} of its scale)"


def judge_probe(probe, klass: str, info: dict | None, got: dict, ref: dict) -> str | None:
    """None when the probe passes, else the message."""
    if info is None:
        return None    # never ran: the caller reports why (timeout / crash)
    if info.get("status") != "ok":
        return exception_message(probe.part, klass, info)
    for field in sorted(ref, key=_field_order):
        e = ref[field]
        a = got.get(field)
        if a is not None and e.ndim == 0 and a.size == 1:
            a = a.reshape(())        # a float, a 0-d array or a 1-element array: all a scalar loss
        if a is not None and close(a, e):
            continue
        bad = (info.get("bad_outputs") or {}).get(field)
        if bad:
            return f"{LABELS.get(field, field)} is not an array of numbers: {bad}"
        return explain_field(probe, field, a, e)
    return None


def judge_init(probe, info: dict | None, got: dict) -> str | None:
    """Linear's construction, by rules: shape, spread, zero bias, rng determinism."""
    if info is None:
        return None
    if info.get("status") != "ok":
        return exception_message("linear", "Linear", info)
    n_in, n_out = probe.dims["in"], probe.dims["out"]
    for k, build in enumerate(probe.inputs["builds"]):
        W, b = got.get(f"{k}.W"), got.get(f"{k}.b")
        if W is None or b is None:
            return "Linear needs attributes W and b (param_names = ('W', 'b'))"
        if W.shape != (n_in, n_out):
            return ("W must have shape (in_features, out_features)" if W.shape == (n_out, n_in)
                    else f"W has shape {_name_shape(W.shape, probe.dims)}, expected (in, out)")
        if b.shape != (n_out,):
            return "b must have shape (out_features,)"
        if np.any(b != 0):
            return "the bias b must start at zero"
        want = build["kwargs"].get("init_std", 0.01)
        have = float(W.std())
        if not abs(have - want) <= 0.05 * want:
            if abs(have - 0.01) <= 5e-4 and want != 0.01:
                return "W's spread ignores init_std: draw W with standard deviation init_std"
            if abs(have - want ** 2) <= 0.05 * want ** 2:
                return "W's standard deviation is init_std², not init_std: init_std is a standard deviation"
            return f"W's standard deviation is {have / want:.3g}x the init_std asked for"
        if abs(float(W.mean())) > 5 * want / np.sqrt(W.size):
            return "W is not centred at 0: draw it from a normal distribution with mean 0"
    if not np.array_equal(got["0.W"], got["1.W"]):
        return ("two layers built with the same rng seed got different W: draw W from the rng argument "
                "(an int seed or a Generator), not from np.random")
    return None
