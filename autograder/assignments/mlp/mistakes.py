"""The common mistakes of each `mlp` part: wrong outputs, wrong shapes, nan/inf, exceptions.

Each entry of ``MISTAKES`` is (message, function of a probe's inputs -> {field:
wrong output}).  When a student's output differs from the reference, the engine
(engine/diagnose.py) looks here for a mistake that reproduces it exactly and, if
one does, says which it is.  These are the grader's own numpy formulas of
*wrong* code; the right values always come from the source notebook.
"""
from __future__ import annotations

import math

import numpy as np

from autograder.engine.diagnose import Mistakes
from nnkit import mistakes as words

C = math.sqrt(2.0 / math.pi)
_erf = np.vectorize(math.erf)


def _onehot(labels, k):
    out = np.zeros((len(labels), k))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def _softmax(s, axis):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _hinge(s, y, margin, *, count_true=False, true_grad=True, kink_active=False):
    n = len(y)
    m = np.maximum(0.0, margin - s[np.arange(n), y][:, None] + s)
    if not count_true:
        m[np.arange(n), y] = 0.0
    active = (m > 0).astype(float)
    if kink_active:     # a margin met exactly counted as violated
        active = (margin - s[np.arange(n), y][:, None] + s >= 0).astype(float)
        active[np.arange(n), y] = 0.0
    g = active.copy()
    g[np.arange(n), y] = -active.sum(axis=1) + (active[np.arange(n), y] if count_true else 0.0)
    if not true_grad:
        g[np.arange(n), y] = 0.0
    return {"loss": np.asarray(m.sum() / n), "grad": g / n}


def _ce(i, eps=0.0, per_entry=False):
    """Softmax cross-entropy computed as log(softmax + eps), or averaged over every entry."""
    s, y = i["scores"], i["labels"]
    p = _softmax(s, 1)
    n, k = s.shape
    loss = -np.log(p[np.arange(n), y] + eps).mean()
    grad = (p - _onehot(y, k)) / n
    return {"loss": np.asarray(loss / k if per_entry else loss), "grad": grad / k if per_entry else grad}


def _ce_narrow_onehot(i):
    """The one-hot matrix as wide as the largest label + 1: it broadcasts when that width is 1."""
    s, y = i["scores"], i["labels"]
    try:
        return {"grad": (_softmax(s, 1) - np.eye(int(y.max()) + 1)[y]) / len(y)}
    except ValueError:
        return {}


def _euclidean_per_entry(i):
    d = i["scores"] - _onehot(i["labels"], i["scores"].shape[1])
    return {"loss": np.asarray((d ** 2).sum() / (2 * d.size)), "grad": d / d.size}


def _accumulated(i):
    """Linear's gradients added up over the backward calls of one layer."""
    calls = [*i.get("warmup", []), (i["x"], i["g"])]
    return {"grad.W": sum(x.T @ g for x, g in calls), "grad.b": sum(g.sum(axis=0) for _, g in calls)}


def _gelu_dx(i, cubic=True):
    x, g = i["x"], i["g"]
    t = np.tanh(C * (x + 0.044715 * x ** 3))
    inner = C * (1 + 3 * 0.044715 * x ** 2) if cubic else C
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * inner)


def _sgd(variant):
    """Replays an optimizer probe with a wrong update rule.
    ``variant(p, g, v, lr, mu, wd) -> (new p, new v)``."""
    def run(i):
        lr, mu, wd = (i["init"].get(k, 0.0) for k in ("lr", "momentum", "weight_decay"))
        shared = getattr(variant, "shared", False)
        start = getattr(variant, "start", None)      # v before a key's first update, if not 0
        vel, out = {}, {}
        for again in range(i.get("instances", 1)):
            if not getattr(variant, "class_state", False):
                vel = {}           # a new optimizer starts afresh, unless its state lives on the class
            cur = {}
            for n, (key, pfile, gfile) in enumerate(i["steps"]):
                p = i["arrays"][pfile] if pfile else cur[key]
                vkey = "all" if shared else key
                g = i["arrays"][gfile]
                v = vel[vkey] if vkey in vel else (start(p, g) if start else 0.0)
                p, vel[vkey] = variant(p, g, v, lr, mu, wd)
                cur[key] = out[f"{'again.' * again}step{n}"] = p
        return out
    return run


def _starting(start):
    """The right update rule with a velocity that starts at ``start(param, grad)`` instead of 0."""
    def rule(p, g, v, lr, mu, wd):
        return p - lr * (mu * v + g + wd * p), mu * v + g + wd * p
    rule.start = start
    return _sgd(rule)


def _with_default(name: str, value, wrong):
    """``wrong`` (a function of the probe's inputs) for a probe that leaves ``name`` out, with ``name`` =
    ``value``: what a changed default gives.  Probes that pass ``name`` are not this mistake."""
    def run(i):
        init = i.get("init")
        if init is None:                       # a module or a loss: the settings are the inputs
            return {} if name in i else wrong({**i, name: value})
        return {} if name in init else wrong({**i, "init": {**init, name: value}})
    return run


def _leaky(i):
    a = i.get("alpha", 0.01)
    return {"y0": np.where(i["x"] > 0, i["x"], a * i["x"]), "dx": i["g"] * np.where(i["x"] > 0, 1.0, a)}


def _right_sgd(p, g, v, lr, mu, wd):
    return p - lr * (mu * v + g + wd * p), mu * v + g + wd * p


def _shared(fn):
    fn.shared = True
    return fn


def _class_state(fn):
    fn.class_state = True
    return fn


NARROW_ONEHOT = ("check the shapes: the one-hot matrix must be as wide as the scores (scores.shape[1] classes), "
                 "not labels.max() + 1")
IGNORED = "the margin is ignored: use the margin given to __init__ (self.margin)"
PER_ENTRY = "the loss is averaged over all N·K entries: sum over the classes and average over the N samples only"
EPSILON = ("an epsilon inside the log caps the loss of a confident wrong answer: compute "
           "log p = (s − max) − log Σ exp(s − max) directly, not log(p + ε)")

MISTAKES = {
    "linear": [
        ("dW and db add up over backward calls: set self.dW = xᵀg and self.db = Σg in every backward, "
         "do not add to the previous ones", _accumulated),
    ],
    "relu": [
        ("ReLU's derivative at exactly x = 0 must be 0: use x > 0, not x >= 0",
         lambda i: {"dx": i["g"] * (i["x"] >= 0)}),
        ("backward must multiply by the upstream gradient g: dx = g where x > 0, else 0",
         lambda i: {"dx": (i["x"] > 0) * 1.0}),
    ],
    "sigmoid": [
        ("the derivative uses the input x: it is y(1 - y) with the cached OUTPUT y = sigmoid(x)",
         lambda i: {"dx": i["g"] * i["x"] * (1 - i["x"])}),
    ],
    "tanh": [
        ("the derivative uses the input x (1 - x²): it is 1 - y² with the cached OUTPUT y = tanh(x)",
         lambda i: {"dx": i["g"] * (1 - i["x"] ** 2)}),
    ],
    "gelu": [
        ("forward computes the exact (erf) GELU: this assignment uses the tanh approximation "
         "0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))",
         lambda i: {"y0": 0.5 * i["x"] * (1 + _erf(i["x"] / math.sqrt(2)))}),
        ("the derivative of the inner term √(2/π)(x + 0.044715x³) is missing its 0.044715 term "
         "(it is √(2/π)(1 + 3·0.044715x²))",
         lambda i: {"dx": _gelu_dx(i, cubic=False)}),
    ],
    "leaky_relu": [
        ("alpha is applied to the positive side: LeakyReLU is x for x > 0 and alpha·x otherwise",
         lambda i: {"y0": np.where(i["x"] > 0, i.get("alpha", 0.01) * i["x"], i["x"]),
                    "dx": i["g"] * np.where(i["x"] > 0, i.get("alpha", 0.01), 1.0)}),
        ("the gradient for x <= 0 must be alpha·g, not 0 (a mask of the output drops alpha)",
         lambda i: {"dx": i["g"] * (i["x"] > 0)}),
        *[(words.default_changed("LeakyReLU", "alpha", 0.01), _with_default("alpha", a, _leaky))
          for a in (0.1, 0.2, 0.3, 0.05, 0.02, 0.001, 0.0)],
        ("alpha is ignored: use the alpha given to __init__ (self.alpha)",
         lambda i: {"y0": np.where(i["x"] > 0, i["x"], 0.01 * i["x"]),
                    "dx": i["g"] * np.where(i["x"] > 0, 1.0, 0.01)}),
    ],
    "euclidean_loss": [
        (PER_ENTRY, _euclidean_per_entry),
        ("labels are class indices: compare y with their one-hot encoding, not with the labels themselves",
         lambda i: {"loss": np.asarray(((i["scores"] - i["labels"][:, None]) ** 2).sum() / (2 * len(i["labels"]))),
                    "grad": (i["scores"] - i["labels"][:, None]) / len(i["labels"])}),
    ],
    "softmax_ce_loss": [
        *[(EPSILON, lambda i, eps=eps: _ce(i, eps)) for eps in (1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15, 1e-300)],
        (PER_ENTRY, lambda i: _ce(i, per_entry=True)),
        (NARROW_ONEHOT, _ce_narrow_onehot),
        ("softmax is normalized over the wrong axis: each row (one sample's scores) must sum to 1, use axis=1",
         lambda i: {"loss": np.asarray(-np.log(_softmax(i["scores"], 0)[np.arange(len(i["labels"])), i["labels"]]).mean()),
                    "grad": (_softmax(i["scores"], 0) - _onehot(i["labels"], i["scores"].shape[1])) / len(i["labels"])}),
    ],
    "hinge_loss": [
        ("at the kink (a margin met exactly: s_y − s_j = margin) the derivative is 0: count a margin as violated "
         "only when margin − s_y + s_j > 0", lambda i: _hinge(i["scores"], i["labels"], i.get("margin", 5.0),
                                                             kink_active=True)),
        ("the margin's sign is wrong: each term is max(0, margin − s_y + s_j)",
         lambda i: _hinge(i["scores"], i["labels"], -i.get("margin", 5.0))),
        ("you count the true class too: it adds the margin to every sample's loss; sum over j ≠ y only",
         lambda i: _hinge(i["scores"], i["labels"], i.get("margin", 5.0), count_true=True)),
        # before "ignored": a margin left out that gets another value is the default, not the margin given;
        # a hard-coded 1.0 gives the same there, so with 1.0 both are said
        *[(words.default_changed("HingeLoss", "margin", 5.0) + (", or " + IGNORED if m == 1.0 else ""),
           _with_default("margin", m, lambda i: _hinge(i["scores"], i["labels"], i["margin"])))
          for m in (1.0, 2.0, 3.0, 10.0, 0.0)],
        (IGNORED, lambda i: _hinge(i["scores"], i["labels"], 1.0)),
        (IGNORED, lambda i: _hinge(i["scores"], i["labels"], 5.0)),
        ("the gradient of the true class score is missing: it is -(number of violated margins)/N",
         lambda i: {"grad": _hinge(i["scores"], i["labels"], i.get("margin", 5.0), true_grad=False)["grad"]}),
    ],
    "sgd": [
        ("one velocity is shared by all parameters: keep a separate velocity per key",
         _sgd(_shared(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + g + wd * p), mu * v + g + wd * p)))),
        ("the velocity does not carry over between steps: keep v per key (in self) and use momentum·v",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (g + wd * p), 0.0))),
        ("momentum has the wrong sign: v ← momentum·v + (grad + weight_decay·param)",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (-mu * v + g + wd * p), -mu * v + g + wd * p))),
        ("the update goes uphill: return param - lr·v",
         _sgd(lambda p, g, v, lr, mu, wd: (p + lr * (mu * v + g + wd * p), mu * v + g + wd * p))),
        ("weight decay is applied outside the learning rate: it belongs in v as grad + weight_decay·param",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + g) - wd * p, mu * v + g))),
        ("weight decay must go into the velocity: v ← momentum·v + (grad + weight_decay·param)",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + g + wd * p), mu * v + g))),
        ("weight decay has the wrong sign: add weight_decay·param to the gradient",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + g - wd * p), mu * v + g - wd * p))),
        ("weight decay multiplies the gradient: it is weight_decay·param",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + g + wd * g), mu * v + g + wd * g))),
        ("weight_decay is ignored: v ← momentum·v + (grad + weight_decay·param)",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + g), mu * v + g))),
        ("this is Nesterov momentum (a look-ahead step grad + momentum·v); the assignment uses classical "
         "momentum: return param − lr·v",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (g + wd * p + mu * (mu * v + g + wd * p)), mu * v + g + wd * p))),
        ("the gradient is damped by (1 − momentum): v ← momentum·v + (grad + weight_decay·param), with no "
         "(1 − momentum) factor",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + (1 - mu) * (g + wd * p)), mu * v + (1 - mu) * (g + wd * p)))),
        ("weight decay is applied twice (in v and again in the step): add weight_decay·param to the gradient once",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + g + wd * p + wd * p), mu * v + g + wd * p))),
        ("a new SGD starts with the velocities of an earlier one: keep them in self (a dict made in __init__), "
         "not in a class attribute or a global",
         _sgd(_class_state(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + g + wd * p), mu * v + g + wd * p)))),
        *[(words.velocity_not_zero(), _starting(start))
          for start in (lambda p, g: g, lambda p, g: p, lambda p, g: np.ones_like(p), lambda p, g: -g)],
        *[(words.default_changed("SGD", "momentum", 0.0), _with_default("momentum", mu, _sgd(_right_sgd)))
          for mu in (0.9, 0.5, 0.99, 0.95, 0.8)],
        *[(words.default_changed("SGD", "weight_decay", 0.0), _with_default("weight_decay", wd, _sgd(_right_sgd)))
          for wd in (1e-2, 1e-3, 5e-4, 0.1)],
        ("the learning rate is applied twice (once in v and once in the step)",
         _sgd(lambda p, g, v, lr, mu, wd: (p - lr * (mu * v + lr * (g + wd * p)), mu * v + lr * (g + wd * p)))),
    ],
}

KNOWN = Mistakes(
    MISTAKES,
    shapes={
        ("linear", "grad.b", ("N", "out")): "db has shape (N, out): did you forget to sum the bias gradient over the batch?",
        ("linear", "grad.W", ("out", "in")): "dW has shape (out, in) instead of (in, out): compute xᵀg, not gᵀx",
        ("linear", "y1", ("N", "in")): "forward's output has shape (N, in): compute x @ W",
        ("linear", "dx", ("N", "out")): "dx has shape (N, out) instead of (N, in): dx = g @ Wᵀ",
    },
    nonfinite={
        "sigmoid": "sigmoid overflows for large |x|: avoid exp of a large positive number "
                   "(e.g. use exp(-|x|), or np.where on the sign of x)",
        "tanh": "tanh overflows for large |x|: use np.tanh",
        "softmax_ce_loss": "softmax overflows for large logits: subtract each row's max score before exp",
    },
    hints=[("linear", "backward", "ValueError", "check the shapes: dW = xᵀg is (in, out), db is (out,), dx = g Wᵀ is (N, in)"),
           ("softmax_ce_loss", "forward", "FloatingPointError: divide by zero",
            "log of a softmax probability that underflowed to 0: compute log p = (s − max) − log Σ exp(s − max) "
            "directly instead of np.log(softmax)"),
           *[(loss, "*", "ValueError", NARROW_ONEHOT) for loss in ("softmax_ce_loss", "euclidean_loss")],
           ("sgd", "update", "ValueError", "keep a separate velocity for every key")],
    elementwise=frozenset({"relu", "sigmoid", "tanh", "gelu", "leaky_relu"}),
)
