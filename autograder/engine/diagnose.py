"""Name what is wrong with one probe's outputs: the same for every assignment.

Tolerances admit any correct computation, float32 inside included: an output
passes when |student - reference| <= RTOL * scale + ATOL everywhere, where
scale is the largest |reference| value of that output.  When it does not pass,
the first output that differs (forward before backward) is explained, trying in
turn: a shape mistake the assignment knows (by size names, or by its own rule
where sizes follow a formula), a transposed or otherwise wrong shape, nan/inf, a
known mistake of the part that reproduces the output (the assignment's table of
wrong formulas), a local derivative not multiplied by the
upstream gradient, a constant factor (N, 1/N, -1, 2, 1/2; an arbitrary factor
only for an array whose ratio to the reference is the same in every entry, never
for a single number); else "X is wrong" followed by what the evidence shows
(``_what_differs``): which step of an optimizer (a key's first update or only the
later ones, i.e. the state), the update's size or direction, a constant offset
(everywhere, per column = the same for every sample, or per row), a sign flipped
on the wrong entries, the region of the input (x < 0, x > 0, the kink x = 0) or of
a loss's scores (the true-class entries or the others), and which of the probe's
other outputs are right (forward right but one gradient wrong); the largest error
relative to the output's scale is always added as a figure.  Messages describe
sizes by name (N, in, out, ...) and never show the probe's inputs.

What an assignment knows about its usual slips is data (``Mistakes``); the words
shared with the notebooks' self-checks come from ``nnkit.mistakes``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nnkit import mistakes

RTOL, ATOL = 1e-4, 1e-7
F32 = 2.0 ** -24     # float32's unit roundoff: what a spec's ``slack`` is counted in

LABELS = {"y0": "forward's output", "y1": "forward's output", "dx": "backward's return value (dx)",
          "grad.W": "dW", "grad.b": "db", "param.W": "params()['W']", "param.b": "params()['b']",
          "loss": "the loss", "grad": "the loss gradient (backward)"}

# Hints for exceptions any assignment's classes may raise: (part or "*", stage prefix, exception, hint).
GENERIC_HINTS = [
    ("*", "backward", "AttributeError", "did forward store what backward needs (e.g. self.x = x)?"),
    ("*", "*", "NotImplementedError", "this part is not implemented yet"),
    ("*", "init", "TypeError", "check that __init__ takes the arguments of the assignment's signature"),
]


@dataclass
class Mistakes:
    """What one assignment knows about the usual slips of its parts (every table optional)."""
    # part -> [(message, probe inputs -> {field: the output this mistake produces})]
    outputs: dict[str, list[tuple[str, Callable]]] = field(default_factory=dict)
    # (part, field, wrong shape in size names) -> message
    shapes: dict[tuple, str] = field(default_factory=dict)
    # part -> what nan/inf in its output most likely means
    nonfinite: dict[str, str] = field(default_factory=dict)
    # (part or "*", stage prefix or "*", exception name, hint), tried before GENERIC_HINTS
    hints: list[tuple[str, str, str, str]] = field(default_factory=list)
    # parts applied entry by entry: a wrong output is located by the sign of x
    elementwise: frozenset = frozenset()
    # part -> (probe, field, wrong-shaped output, reference) -> message or None, tried after ``shapes``: for
    # outputs whose sizes follow from a formula (a convolution's), which a table of size names cannot list.
    # For these parts a forward output of the wrong shape is named even when a later stage then raised:
    # that error is only its consequence.
    reshaped: dict[str, Callable] = field(default_factory=dict)


@dataclass
class Probe:
    """One question to the student's code: the driver's request, the input arrays it reads, and
    what the messages may use (inputs for the mistake table, size names)."""
    name: str
    part: str                          # the solution cell it questions
    kind: str                          # the driver's probe kind: module | loss | optimizer | init | ...
    request: dict                      # JSON for the driver; arrays by file name
    arrays: dict = field(default_factory=dict)    # file name -> array written for the driver
    inputs: dict = field(default_factory=dict)    # what the mistake table may use
    dims: dict = field(default_factory=dict)      # symbolic names of sizes, e.g. {"N": 4}
    compare: bool = True               # False: judged by a rule of the spec, not against the reference
    label: str = ""                    # how messages name the class or function
    # field -> absolute tolerance added to RTOL·scale + ATOL: for an output that float32 arithmetic (which
    # the contracts accept) can only compute up to the rounding of terms much larger than the output itself
    # (a sum that cancels); the spec derives it from the probe's inputs, in units of F32.
    slack: dict = field(default_factory=dict)

    def as_request(self) -> dict:
        return {"name": self.name, "part": self.part, "kind": self.kind, **self.request}


def _state_checks(name: str, arrays: dict, request: dict, warmup, strict: bool) -> None:
    """Earlier calls the reported one must not depend on, and the contract's no-overflow promise."""
    for k, pair in enumerate(warmup or ()):
        request.setdefault("warmup", []).append([f"{name}.w{k}.{j}.npy" for j in range(2)])
        arrays.update({f"{name}.w{k}.{j}.npy": a for j, a in enumerate(pair)})
    if strict:
        request["strict"] = True


def module_probe(name, part, klass, x_list, g, *, init=None, params=None, dims=None, args=(), warmup=(),
                 strict=False, **inputs) -> Probe:
    """A layer: built with ``args``/``init``, parameters set, a forward+backward on each (x, g) of
    ``warmup``, forward on each x in turn (the last one counts), backward with upstream gradient ``g``.
    ``strict``: numerical warnings are errors."""
    arrays, request = {}, {"class": klass, "args": list(args), "init": init or {}, "forward": []}
    _state_checks(name, arrays, request, warmup, strict)
    for i, x in enumerate(x_list):
        arrays[f"{name}.x{i}.npy"] = x
        request["forward"].append(f"{name}.x{i}.npy")
    if params:
        request["params"] = {}
        for p, v in params.items():
            arrays[f"{name}.{p}.npy"] = v
            request["params"][p] = f"{name}.{p}.npy"
    arrays[f"{name}.g.npy"] = g
    request["backward"] = f"{name}.g.npy"
    return Probe(name, part, "module", request, arrays, {"x": x_list[-1], "g": g, "warmup": list(warmup),
                 **(params or {}), **(init or {}), **inputs}, dims or {}, label=klass)


def loss_probe(name, part, klass, scores, labels, *, init=None, dims=None, warmup=(), strict=False) -> Probe:
    """A loss: forward on each (scores, labels) of ``warmup`` then backward, then the reported forward
    on (scores, integer labels) and backward."""
    arrays = {f"{name}.scores.npy": scores, f"{name}.labels.npy": labels}
    request = {"class": klass, "init": init or {}, "scores": f"{name}.scores.npy", "labels": f"{name}.labels.npy"}
    _state_checks(name, arrays, request, warmup, strict)
    return Probe(name, part, "loss", request, arrays, {"scores": scores, "labels": labels, "warmup": list(warmup),
                                                       **(init or {})}, dims or {}, label=klass)


def name_shape(shape, dims) -> str:
    names = {v: k for k, v in dims.items()}
    return "(" + ", ".join(names.get(s, "?") for s in shape) + ("," if len(shape) == 1 else "") + ")"


def close(a: np.ndarray, e: np.ndarray, slack: float = 0.0) -> bool:
    if a.shape != e.shape:
        return False
    fin = np.isfinite(e)
    if not np.array_equal(np.isfinite(a), fin):
        return False
    if not fin.any():
        return True
    return bool(np.all(np.abs(a[fin] - e[fin]) <= _tolerance(e, slack)))


def _tolerance(e: np.ndarray, slack: float = 0.0) -> float:
    """How far an entry may be from the reference ``e``: relative to e's largest finite entry."""
    fin = np.isfinite(e)
    scale = float(np.abs(e[fin]).max()) if fin.any() else 0.0
    return RTOL * scale + ATOL + slack


def _field_order(name: str) -> tuple:
    # forward first: a forward mistake explains everything after it
    rank = {"y": 0, "loss": 0, "dx": 1, "grad": 1, "param": 3, "step": 2}
    head = re.match(r"[a-z]+", name).group(0)
    return (rank.get(head, 4), len(name), name)


def exception_message(part: str, klass: str, info: dict, known: Mistakes | None = None) -> str:
    stage, error = info.get("stage") or "", info.get("error") or "an error"
    if stage == "lookup":
        return f"{klass} could not be tested: {error}"
    exc = re.match(r"[\w.]*", error).group(0)
    where = {"init": f"{klass}(...)", "build": f"{klass}(...)", "forward": f"{klass}.forward",
             "backward": f"{klass}.backward", "update": f"{klass}.update", "grads": f"{klass}.grads()",
             "params": f"{klass}.params()", "set_param": f"{klass}.set_param"}.get(stage.split(" ")[0], klass)
    for p, s, e, hint in [*(known.hints if known else []), *GENERIC_HINTS]:
        # e: an exception's name, or the start of its message ("FloatingPointError: divide by zero")
        if p in ("*", part) and (s == "*" or stage.startswith(s)) and (e == exc or (":" in e and error.startswith(e))):
            return f"{where} raised {exc} — {hint} (details: {error})"
    if exc in ("FloatingPointError", "RuntimeWarning"):     # a strict probe: the contract promises none
        return mistakes.numerical_trouble(where, error)
    return f"{where} raised {error}"


def _scale_message(label, a, e, n) -> str | None:
    """a ≈ k·e for a telling k?"""
    denom = float((e * e).sum())
    if denom == 0 or not np.isfinite(a).all():
        return None
    k = float((a * e).sum()) / denom
    if not close(a, k * e):
        return None
    message = mistakes.scale(label, k, n)     # the words the student's self-checks use too
    if e.size == 1 and message == mistakes.constant_factor(label, k):
        return None      # any wrong number is some multiple of the right one: that is no diagnosis
    return message


def _region_message(label, a, e, x) -> str | None:
    """For elementwise layers: where in the input the output goes wrong."""
    if x is None or x.shape != e.shape:
        return None
    bad = _bad(a, e)
    regions = [("x > 0", x > 0), ("x < 0", x < 0), ("x = 0", x == 0)]
    wrong = [name for name, mask in regions if (bad & mask).any()]
    present = [name for name, mask in regions if mask.any()]
    if wrong and len(wrong) < len(present):
        where = " and ".join(wrong).replace("x = 0", "x = 0 (the kink)")
        return f"{label} is wrong where {where} (right elsewhere)"
    return None


def _bad(a, e) -> np.ndarray:
    """The entries of ``a`` outside the tolerance of ``close``."""
    return ~(np.abs(a - e) <= _tolerance(e))


_STEP = re.compile(r"((?:again\.)?)step(\d+)")


def _step_label(name: str) -> str | None:
    """An optimizer probe's ``step<n>`` output: the parameter it returned on update n + 1."""
    m = _STEP.fullmatch(name)
    if not m:
        return None
    return f"the parameter returned by update {int(m.group(2)) + 1}" + (" of a second instance" if m.group(1) else "")


def _step_message(probe, name, label, a, e, failing) -> str | None:
    """An optimizer probe's results, step by step: is the first update of every key right (then only
    the state carried between updates can be wrong), and how does a wrong update differ in size or
    direction from the right one (param − new param against the reference's)?"""
    steps = probe.inputs.get("steps")
    m = _STEP.fullmatch(name)
    if not m or not steps:
        return None
    prefix = m.group(1)
    first = {f"{prefix}step{n}" for n, step in enumerate(steps) if step[1]}
    mine = {f for f in failing if f.startswith(prefix) and _STEP.fullmatch(f)}
    if prefix and not any(_STEP.fullmatch(f) and not f.startswith("again.") for f in failing):
        return (f"{label} is wrong: a second {probe.label} made afresh gives other results than the first one did on "
                "the same updates: the state must start afresh in each instance (kept in self)")
    if not mine & first:
        n = int(m.group(2))
        return (f"{label} is wrong from a key's second update on (every key's first update is right): "
                "the state carried from one update to the next (velocity, moments, step count) is updated or used wrongly")
    # the first wrong update is a key's first one: compare the steps taken from the same parameter
    n = int(m.group(2))
    p0 = probe.inputs.get("arrays", {}).get(steps[n][1]) if steps[n][1] else None
    what = f"{label} is wrong already at a key's first update (the state still at its start)"
    if p0 is None or np.shape(p0) != e.shape:
        return what
    da, de = p0 - a, p0 - e
    if close(da, 0 * de):
        return f"{what}: the parameter is returned unchanged"
    denom = float((de * de).sum())
    k = float((da * de).sum()) / denom if denom else 0.0
    if denom and close(da, k * de):
        if abs(k + 1) <= 1e-3:
            return f"{what}: the step goes the wrong way (uphill): return param − lr·(update)"
        return f"{what}: the step taken (param − new param) is {k:.3g}x the right one, in the right direction"
    return what


def _offset_message(label, a, e, probe) -> str | None:
    """a − e the same in every entry, or the same in every row (per column) or every column (per row)."""
    d = a - e
    if d.ndim == 0 or d.size < 3:
        return None
    if close(a - float(d.mean()), e):
        return f"{label} is wrong by the same constant ({float(d.mean()):+.3g}) in every entry"
    if d.ndim == 2 and d.shape[0] > 1 and close(a - d.mean(axis=0), e):
        hint = ": a term that does not depend on the sample, e.g. the bias" if "b" in probe.inputs else ""
        return f"{label} is wrong by the same amount in every row (one constant per column){hint}"
    if d.ndim == 2 and d.shape[1] > 1 and close(a - d.mean(axis=1, keepdims=True), e):
        return f"{label} is wrong by one constant per row (per sample), the same across that row's columns"
    return None


def _sign_message(label, a, e) -> str | None:
    """The wrong entries are exactly the right ones negated."""
    bad = _bad(a, e)
    if bad.all() or not bad.any() or not close(np.where(bad, -a, a), e):
        return None
    return f"{label} is wrong: it has the wrong sign on {int(bad.sum())} of its {bad.size} entries (the others are right)"


def _class_message(label, a, e, probe) -> str | None:
    """A loss's gradient: wrong only at the true-class entries scores[i, y_i], or only at the others."""
    labels, scores = probe.inputs.get("labels"), probe.inputs.get("scores")
    if probe.kind != "loss" or labels is None or scores is None or a.shape != np.shape(scores) or a.ndim != 2:
        return None
    true = np.zeros(a.shape, bool)
    true[np.arange(len(labels)), np.asarray(labels, int)] = True
    bad = _bad(a, e)
    if not bad.any():
        return None
    if not (bad & ~true).any():
        return f"{label} is wrong only at the true-class entries (column y of each row); the others are right"
    if not (bad & true).any():
        return f"{label} is wrong only off the true class (j ≠ y); the true-class entries are right"
    return None


# How _others names a gradient among the right and wrong ones.
GRADIENTS = {"dx": "dx (w.r.t. the input x)", "grad.W": "dW (w.r.t. W)", "grad.b": "db (w.r.t. b)",
             "grad": "the loss gradient"}


def _others(name, failing, passing) -> str:
    """Which other outputs of the same probe are right: locates the mistake (forward vs which gradient)."""
    forward = {f for f in (*failing, *passing) if _field_order(f)[0] == 0}
    grads = sorted((f for f in (*failing, *passing) if _field_order(f)[0] == 1 or f.startswith("grad.")),
                   key=_field_order)
    if name in forward and grads and not set(grads) & set(failing):
        which = "the gradient is" if len(grads) == 1 else \
            f"the gradients ({', '.join(GRADIENTS.get(g, g) for g in grads)}) are"
        return f"; {which} right: only forward's value differs"
    if name in grads and forward and not forward & set(failing) and len(grads) == 1:
        return "; forward is right: only the gradient differs"
    if name in grads and forward and not forward & set(failing):
        wrong = [GRADIENTS.get(g, g) for g in grads if g in failing]
        right = [GRADIENTS.get(g, g) for g in grads if g not in failing]
        return ("; forward is right, the gradient is not: wrong " + ", ".join(wrong)
                + (f" (right: {', '.join(right)})" if right else ""))
    return ""


def explain_field(probe, name: str, a, e, known: Mistakes, failing=None, passing=None) -> str:
    """Why student output ``a`` differs from reference ``e`` (they do differ).  ``failing``/``passing``:
    the probe's other outputs that differ / match (they locate the mistake)."""
    label = LABELS.get(name) or _step_label(name) or name
    part, i, dims = probe.part, probe.inputs, probe.dims
    if a is None:
        return f"{label} is missing (backward must also set the gradient attributes, e.g. self.dW)"
    if a.shape != e.shape:
        named = tuple({v: k for k, v in dims.items()}.get(s, "?") for s in a.shape)
        if (part, name, named) in known.shapes:
            return known.shapes[(part, name, named)]
        message = known.reshaped[part](probe, name, a, e) if part in known.reshaped else None
        if message:
            return message
        if a.shape == e.shape[::-1] and a.ndim == 2:
            return mistakes.transposed(label, name_shape(a.shape, dims), name_shape(e.shape, dims))
        return mistakes.wrong_shape(label, name_shape(a.shape, dims), name_shape(e.shape, dims))
    if np.isfinite(e).all() and not np.isfinite(a).all():
        return f"{label} contains nan or inf" + (f": {known.nonfinite[part]}" if part in known.nonfinite else "")
    for message, wrong in known.outputs.get(part, []):
        try:
            with np.errstate(all="ignore"):     # a wrong formula may well overflow
                guess = wrong(i).get(name)
        except Exception:  # noqa: BLE001 - a guess that does not apply to this probe
            continue
        guess = None if guess is None else np.asarray(guess, dtype=float)
        if guess is not None and guess.size == e.size and close(a, guess.reshape(e.shape)):
            return message
    if name == "dx" and "g" in i and i["g"].shape == a.shape and close(a * i["g"], e):
        return "backward must multiply the local derivative by the upstream gradient g"
    scaled = _scale_message(label, a, e, dims.get("N"))
    if scaled:
        return scaled
    return _what_differs(probe, name, label, a, e, known, failing or {name}, passing or set())


FIGURE = re.compile(r" \(largest error [^()]* of its scale\)$")


def gist(message: str) -> str:
    """The message without its figure: probes that differ only in the size of the same error say one thing."""
    return FIGURE.sub("", message)


def _what_differs(probe, name, label, a, e, known, failing, passing) -> str:
    """No named mistake matched: say what the evidence shows, with the size of the error."""
    fin = np.isfinite(e)
    scale = float(np.abs(e[fin]).max()) if fin.any() else 1.0
    err = float(np.abs(a[fin] - e[fin]).max() / (scale or 1.0)) if fin.any() else float("nan")
    figure = f" (largest error {err:.2g} of its scale)"
    if fin.all() and np.isfinite(a).all():
        found = _step_message(probe, name, label, a, e, failing)
        if found is None and probe.kind == "module" and probe.part in known.elementwise:
            found = _region_message(label, a, e, probe.inputs.get("x"))
        found = found or _class_message(label, a, e, probe) or _sign_message(label, a, e) \
            or _offset_message(label, a, e, probe)
        if found:
            return found + _others(name, failing, passing) + figure
    return f"{label} is wrong{_others(name, failing, passing)}{figure}"


def judge_probe(probe, klass: str, info: dict | None, got: dict, ref: dict, known: Mistakes | None = None) -> str | None:
    """None when the probe passes, else the message."""
    known = known or Mistakes()
    if info is None:
        return None    # never ran: the caller reports why (timeout / crash)
    if info.get("status") != "ok":
        if probe.part in known.reshaped:
            for name in sorted(ref, key=_field_order):
                a = got.get(name)
                if _field_order(name)[0] == 0 and a is not None and np.shape(a) != ref[name].shape:
                    return explain_field(probe, name, a, ref[name], known)
        return exception_message(probe.part, klass, info, known)
    if info.get("modified"):
        return mistakes.changed_in_place(info["modified"][0])
    def mine(name):
        a = got.get(name)
        if a is not None and ref[name].ndim == 0 and a.size == 1:
            a = a.reshape(())        # a float, a 0-d array or a 1-element array: all a scalar loss
        return a

    passing = {n for n in ref if mine(n) is not None and close(mine(n), ref[n], probe.slack.get(n, 0.0))}
    failing = set(ref) - passing
    for name in sorted(failing, key=_field_order):
        bad = (info.get("bad_outputs") or {}).get(name)
        if bad:
            return f"{LABELS.get(name, name)} is not an array of numbers: {bad}"
        return explain_field(probe, name, mine(name), ref[name], known, failing, passing)
    return None
