"""The `mlp` corpus: submissions as edits of the plain solution in solutions.py.

A case replaces the source of one or more solution cells (or removes a cell);
the test builds its notebook from the assignment's source notebook at test
time, so the corpus never drifts from the notebook.

WRONG cases: one common mistake each; ``loses`` are exactly the parts that must
score 0 (all others full marks) and ``words`` must appear in the message of
the first part listed.  ``training`` is listed where running showed that the
mistake also keeps the network from 97% (the reason is in ``why``).
VALID cases: correct code written differently; full marks everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from autograder.isolation.sandbox import Limits
from corpus.float32 import in_float32

from . import solutions

SOLUTIONS = solutions.SOLUTIONS

REMOVE = None  # a cell source of None: the cell is deleted from the notebook


@dataclass
class Case:
    name: str
    edits: dict  # part -> new cell source (or REMOVE)
    loses: tuple = ()  # parts scored 0; every other part full marks
    words: str = ""  # must appear in the first lost part's messages
    why: str = ""  # why training is (or is not) among the lost parts
    status: str | None = None  # expected status of the first lost part, when it matters
    either: tuple = ()  # parts too close to a threshold to pin (measured; see why)


def edit(part: str, *pairs: tuple[str, str]) -> dict:
    """SOLUTIONS[part] with each (old, new) replaced; an old text that is absent is a corpus bug."""
    code = SOLUTIONS[part]
    for old, new in pairs:
        assert old in code, f"{part}: {old!r} not in the plain solution"
        code = code.replace(old, new)
    return {part: code}


CLASSES = {"linear": "Linear", "relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "gelu": "GELU",
           "leaky_relu": "LeakyReLU", "euclidean_loss": "EuclideanLoss", "softmax_ce_loss": "SoftmaxCrossEntropyLoss",
           "hinge_loss": "HingeLoss", "sgd": "SGD"}

T = "training"
WRONG = [
    # ---- Linear
    Case(
        "linear_dW_transposed",
        edit("linear", ("self.dW = self.x.T @ g", "self.dW = g.T @ self.x")),
        ("linear", T),
        "gᵀx",
        "SGD then subtracts a (out, in) gradient from a (in, out) W: broadcasting error",
    ),
    Case(
        "linear_db_not_summed",
        edit("linear", ("self.db = g.sum(axis=0)", "self.db = g")),
        ("linear", T),
        "forget to sum the bias gradient",
        "b becomes (batch, out) after the first step, so the trained b is not (out,)",
    ),
    Case(
        "linear_dx_uses_W",
        edit("linear", ("return g @ self.W.T", "return g @ self.W")),
        ("linear", T),
        "dx = g Wᵀ",
        "the first backward raises (shapes do not align)",
    ),
    Case(
        "linear_input_not_cached",
        edit("linear", ("        self.x = x\n", "")),
        ("linear", T),
        "did forward store",
        "backward raises AttributeError",
    ),
    Case(
        "linear_init_std_ignored",
        edit("linear", ("rng.normal(0.0, init_std,", "rng.normal(0.0, 0.01,")),
        ("linear",),
        "ignores init_std",
        "the grader trains with init_std 0.01, so training is unaffected",
    ),
    Case(
        "linear_init_std_as_variance",
        edit("linear", ("rng.normal(0.0, init_std,", "rng.normal(0.0, init_std ** 2,")),
        ("linear",),
        "init_std²",
        "W starts at std 1e-4, yet measured: still above 97% after 4 epochs",
    ),
    Case(
        "linear_bias_not_zero",
        edit("linear", ("self.b = np.zeros(out_features)", "self.b = rng.normal(0.0, init_std, size=out_features)")),
        ("linear",),
        "start at zero",
        "a bias of std 0.01 does not hurt training",
    ),
    Case(
        "linear_rng_ignored",
        edit(
            "linear",
            (
                "self.W = rng.normal(0.0, init_std, size=(in_features, out_features))",
                "self.W = np.random.randn(in_features, out_features) * init_std",
            ),
        ),
        ("linear",),
        "same rng seed",
        "any random init of the right spread trains",
    ),
    Case(
        "linear_dW_averaged",
        edit("linear", ("self.dW = self.x.T @ g", "self.dW = self.x.T @ g / len(g)")),
        ("linear", T),
        "N times too small",
        "W learns 100x slower than b",
    ),
    # ---- ReLU
    Case(
        "relu_derivative_is_input",
        edit(
            "relu",
            ("return g * self.mask", "return g * np.where(self.mask, self.x, 0.0)"),
            ("self.mask = x > 0", "self.mask = x > 0\n        self.x = x"),
        ),
        ("relu",),
        "where x > 0",
        "the hidden gradient is scaled by the activation: measured 96.98% test accuracy, too close to 97% to pin either way",
        either=(T,),
    ),
    Case(
        "relu_mask_forgotten",
        edit("relu", ("return g * self.mask", "return g")),
        ("relu", T),
        "where x < 0 and x = 0",
        "backward is the identity: measured 75% test accuracy",
    ),
    Case(
        "relu_derivative_one_at_zero",
        edit(
            "relu",
            ("return g * self.mask", "return g * (self.x >= 0)"),
            ("self.mask = x > 0", "self.mask = x > 0\n        self.x = x"),
        ),
        ("relu",),
        "exactly x = 0",
        "exact zeros are rare in training",
    ),
    Case(
        "relu_ignores_upstream",
        edit("relu", ("return g * self.mask", "return self.mask * 1.0")),
        ("relu", T),
        "upstream gradient",
        "the first layer gets the wrong gradient",
    ),
    # ---- Sigmoid, Tanh, GELU, LeakyReLU
    Case(
        "sigmoid_derivative_from_input",
        {
            "sigmoid": SOLUTIONS["sigmoid"]
            .replace("return g * self.y * (1.0 - self.y)", "return g * self.x * (1.0 - self.x)")
            .replace("e = np.exp(-np.abs(x))", "self.x = x\n        e = np.exp(-np.abs(x))")
        },
        ("sigmoid",),
        "cached OUTPUT",
    ),
    Case(
        "sigmoid_overflow",
        edit(
            "sigmoid",
            (
                "e = np.exp(-np.abs(x))\n        self.y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
                "self.y = np.exp(x) / (1.0 + np.exp(x))",
            ),
        ),
        ("sigmoid",),
        "overflows",
    ),
    Case(
        "tanh_derivative_from_input",
        edit(
            "tanh", ("self.y = np.tanh(x)", "self.x = x\n        self.y = np.tanh(x)"), ("1.0 - self.y ** 2", "1.0 - self.x ** 2")
        ),
        ("tanh",),
        "1 - y²",
    ),
    Case(
        "gelu_erf_forward",
        edit(
            "gelu",
            (
                "return 0.5 * x * (1.0 + self.t)",
                "import math\n        erf = np.vectorize(math.erf)\n        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))",
            ),
        ),
        ("gelu",),
        "erf",
    ),
    Case("gelu_missing_cubic_term", edit("gelu", ("(1.0 + 3 * 0.044715 * x ** 2)", "1.0")), ("gelu",), "0.044715"),
    Case(
        "leaky_alpha_on_positive_side",
        edit(
            "leaky_relu",
            ("np.where(x > 0, x, self.alpha * x)", "np.where(x > 0, self.alpha * x, x)"),
            ("np.where(self.x > 0, 1.0, self.alpha)", "np.where(self.x > 0, self.alpha, 1.0)"),
        ),
        ("leaky_relu",),
        "positive side",
    ),
    Case(
        "leaky_output_mask_drops_alpha",
        edit(
            "leaky_relu",
            (
                "self.x = x\n        return np.where(x > 0, x, self.alpha * x)",
                "self.y = np.where(x > 0, x, self.alpha * x)\n        return self.y",
            ),
            ("return g * np.where(self.x > 0, 1.0, self.alpha)", "return g * (self.y > 0)"),
        ),
        ("leaky_relu",),
        "alpha·g, not 0",
    ),
    Case(
        "leaky_alpha_hardcoded",
        edit("leaky_relu", ("self.alpha = alpha", "self.alpha = 0.01")),
        ("leaky_relu",),
        "alpha is ignored",
    ),
    # ---- losses
    Case(
        "euclidean_no_batch_average",
        edit("euclidean_loss", ("/ (2 * len(y))", "/ 2"), ("return self.diff / len(self.diff)", "return self.diff")),
        ("euclidean_loss",),
        "average over the batch",
    ),
    Case("euclidean_missing_half", edit("euclidean_loss", ("/ (2 * len(y))", "/ len(y)")), ("euclidean_loss",), "1/2"),
    Case(
        "euclidean_labels_not_onehot",
        edit("euclidean_loss", ("self.diff = y - onehot", "self.diff = y - labels[:, None]")),
        ("euclidean_loss",),
        "one-hot",
    ),
    Case(
        "ce_softmax_not_shifted",
        edit("softmax_ce_loss", ("shifted = scores - scores.max(axis=1, keepdims=True)", "shifted = scores")),
        ("softmax_ce_loss",),
        "subtract the row maximum",
        "MNIST logits stay small, so training still works",
    ),
    Case(
        "ce_no_batch_average",
        edit("softmax_ce_loss", ("].mean())", "].sum())"), ("return g / len(self.labels)", "return g")),
        ("softmax_ce_loss", T),
        "average over the batch",
        "the gradient is 100x too large: training diverges",
    ),
    Case(
        "ce_gradient_sign",
        edit("softmax_ce_loss", ("return g / len(self.labels)", "return -g / len(self.labels)")),
        ("softmax_ce_loss", T),
        "wrong sign",
        "gradient ascent on the loss",
    ),
    Case(
        "ce_softmax_wrong_axis",
        edit(
            "softmax_ce_loss",
            ("scores.max(axis=1, keepdims=True)", "scores.max(axis=0, keepdims=True)"),
            ("np.exp(shifted).sum(axis=1, keepdims=True)", "np.exp(shifted).sum(axis=0, keepdims=True)"),
        ),
        ("softmax_ce_loss", T),
        "wrong axis",
        "probabilities across the batch, not across classes",
    ),
    Case(
        "hinge_counts_true_class",
        edit("hinge_loss", ("        m[np.arange(n), labels] = 0.0\n", "")),
        ("hinge_loss",),
        "count the true class",
    ),
    Case(
        "hinge_margin_ignored",
        edit("hinge_loss", ("self.margin - true + scores", "1.0 - true + scores")),
        ("hinge_loss",),
        "margin is ignored",
    ),
    Case(
        "hinge_true_class_gradient_missing",
        edit("hinge_loss", ("g[np.arange(n), self.labels] = -self.active.sum(axis=1)", "g[np.arange(n), self.labels] = 0.0")),
        ("hinge_loss",),
        "true class score is missing",
    ),
    # ---- SGD
    Case(
        "sgd_momentum_sign",
        edit("sgd", ("v = self.momentum * self.v.get(key, 0.0) + grad", "v = grad - self.momentum * self.v.get(key, 0.0)")),
        ("sgd", T),
        "momentum has the wrong sign",
        "the velocity oscillates instead of accumulating",
    ),
    Case(
        "sgd_uphill",
        edit("sgd", ("return param - self.lr * v", "return param + self.lr * v")),
        ("sgd", T),
        "uphill",
        "gradient ascent",
    ),
    Case(
        "sgd_weight_decay_after_lr",
        edit(
            "sgd",
            ("+ grad + self.weight_decay * param", "+ grad"),
            ("return param - self.lr * v", "return param - self.lr * v - self.weight_decay * param"),
        ),
        ("sgd",),
        "outside the learning rate",
        "the grader trains without weight decay",
    ),
    Case(
        "sgd_weight_decay_on_gradient",
        edit("sgd", ("self.weight_decay * param", "self.weight_decay * grad")),
        ("sgd",),
        "multiplies the gradient",
        "the grader trains without weight decay",
    ),
    Case(
        "sgd_weight_decay_ignored",
        edit("sgd", ("+ grad + self.weight_decay * param", "+ grad")),
        ("sgd",),
        "weight_decay is ignored",
        "the grader trains without weight decay",
    ),
    Case(
        "sgd_shared_velocity",
        edit("sgd", ("self.v.get(key, 0.0)", "self.v.get('all', 0.0)"), ("self.v[key] = v", "self.v['all'] = v")),
        ("sgd", T),
        "separate velocity",
        "W and b of different shapes cannot share one velocity: broadcasting error",
    ),
    Case(
        "sgd_velocity_reset",
        edit("sgd", ("self.v.get(key, 0.0)", "0.0")),
        ("sgd", T),
        "carry over",
        "without momentum, lr 0.1 reaches only 94.6% in 4 epochs (measured)",
    ),
    Case(
        "sgd_lr_twice",
        edit("sgd", ("+ grad + self.weight_decay * param", "+ self.lr * (grad + self.weight_decay * param)")),
        ("sgd", T),
        "applied twice",
        "the effective learning rate is 0.01: too slow",
    ),
    # ---- state, in-place changes, numerical promises, named variants (issue 9)
    Case("linear_gradients_accumulated",
         edit("linear", ("self.dW = self.x.T @ g", "self.dW = getattr(self, 'dW', 0) + self.x.T @ g"),
              ("self.db = g.sum(axis=0)", "self.db = getattr(self, 'db', 0) + g.sum(axis=0)")),
         ("linear", T), "add up over backward calls", "every step adds all earlier gradients: the weights run away"),
    Case("relu_changes_input_in_place",
         edit("relu", ("return np.where(self.mask, x, 0.0)", "x[~self.mask] = 0.0\n        return x")),
         ("relu",), "changed its input array in place", "the linear layer below does not reuse its output"),
    Case("ce_changes_scores_in_place",
         edit("softmax_ce_loss", ("shifted = scores - scores.max(axis=1, keepdims=True)",
                                  "scores -= scores.max(axis=1, keepdims=True)\n        shifted = scores")),
         ("softmax_ce_loss",), "scores array in place", "nothing reads the scores after the loss"),
    Case("ce_log_of_underflowing_softmax",
         edit("softmax_ce_loss", ("logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
                                  "        self.p = np.exp(logp)",
                                  "self.p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)\n"
                                  "        logp = np.log(self.p)")),
         ("softmax_ce_loss",), "underflowed to 0", "MNIST logits stay small"),
    Case("ce_log_with_epsilon",
         edit("softmax_ce_loss", ("logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
                                  "        self.p = np.exp(logp)",
                                  "self.p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)\n"
                                  "        logp = np.log(self.p + 1e-12)")),
         ("softmax_ce_loss",), "epsilon inside the log", "MNIST logits stay small"),
    Case("ce_averaged_over_all_entries",
         edit("softmax_ce_loss", ("return float(-logp[np.arange(len(labels)), labels].mean())",
                                  "return float(-(np.eye(scores.shape[1])[labels] * logp).mean())"),
              ("return g / len(self.labels)", "return g / self.p.size")),
         ("softmax_ce_loss",), "N·K entries", "a 10x smaller learning rate still reaches 97% in 5 epochs?",
         either=(T,)),
    Case("ce_onehot_width_from_labels",
         edit("softmax_ce_loss", ("g = self.p.copy()\n        g[np.arange(len(self.labels)), self.labels] -= 1.0",
                                  "g = self.p - np.eye(self.labels.max() + 1)[self.labels]")),
         ("softmax_ce_loss",), "as wide as the scores", "every training batch holds all ten digits", either=(T,)),
    Case("euclidean_averaged_over_all_entries",
         edit("euclidean_loss", ("/ (2 * len(y))", "/ (2 * y.size)"),
              ("return self.diff / len(self.diff)", "return self.diff / self.diff.size")),
         ("euclidean_loss",), "N·K entries"),
    Case("hinge_kink_counted_as_violated",
         edit("hinge_loss", ("self.active = (m > 0).astype(float)",
                             "self.active = (self.margin - true + scores >= 0).astype(float)\n"
                             "        self.active[np.arange(n), labels] = 0.0")),
         ("hinge_loss",), "at the kink"),
    Case("hinge_margin_sign",
         edit("hinge_loss", ("self.margin - true + scores", "-self.margin - true + scores")),
         ("hinge_loss",), "margin's sign"),
    Case("relu_changes_upstream_gradient_in_place",
         edit("relu", ("return g * self.mask", "g[~self.mask] = 0.0\n        return g")),
         ("relu",), "upstream gradient in place", "the layer above does not reuse its gradient"),
    Case("sigmoid_overflow_warning_only",
         edit("sigmoid", ("e = np.exp(-np.abs(x))\n        self.y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
                          "self.y = 1.0 / (1.0 + np.exp(-x))")),
         ("sigmoid",), "numerical trouble", "right values, but exp(1000) overflows on the way"),
    Case("tanh_from_exponentials",
         edit("tanh", ("self.y = np.tanh(x)", "self.y = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))")),
         ("tanh",), "numerical trouble"),
    Case("euclidean_gradient_sign",
         edit("euclidean_loss", ("return self.diff / len(self.diff)", "return -self.diff / len(self.diff)")),
         ("euclidean_loss",), "wrong sign"),
    Case("sgd_velocities_on_the_class",
         edit("sgd", ("class SGD(Optimizer):\n", "class SGD(Optimizer):\n    v = {}\n\n"), ("        self.v = {}\n", "")),
         ("sgd",), "velocities of an earlier one", "one optimizer per training run: nothing leaks"),
    Case("linear_rng_none_ignores_nnkit_seed",
         edit("linear", ("rng = nnkit.rng()", "rng = np.random.default_rng()")),
         ("linear",), "after the same nnkit.seed", "the grader's network passes its rng seeds"),
    Case("sgd_nesterov",
         edit("sgd", ("return param - self.lr * v",
                      "return param - self.lr * (grad + self.weight_decay * param + self.momentum * v)")),
         ("sgd",), "Nesterov", "a look-ahead step trains as well", either=(T,)),
    Case("sgd_dampened_momentum",
         edit("sgd", ("v = self.momentum * self.v.get(key, 0.0) + grad + self.weight_decay * param",
                      "v = self.momentum * self.v.get(key, 0.0) + (1 - self.momentum) * (grad + self.weight_decay * param)")),
         ("sgd",), "(1 − momentum)", "the effective learning rate is 10x smaller", either=(T,)),
    Case("sgd_weight_decay_twice",
         edit("sgd", ("return param - self.lr * v", "return param - self.lr * (v + self.weight_decay * param)")),
         ("sgd",), "applied twice (in v and again", "the grader trains without weight decay"),
    # ---- failures of the process, not of values
    Case(
        "relu_hangs",
        edit("relu", ("return g * self.mask", "while True:\n            pass")),
        ("relu", T),
        "took too long",
        "training needs ReLU: not run, charged as a timeout",
        status="timeout",
    ),
    Case(
        "sigmoid_kills_process",
        edit("sigmoid", ("e = np.exp(-np.abs(x))", "import os\n        os._exit(3)")),
        ("sigmoid",),
        "die",
        status="crashed",
    ),
    Case("tanh_cell_missing", {"tanh": REMOVE}, ("tanh",), "no cell", status="missing"),
    Case(
        "gelu_not_implemented",
        edit("gelu", ("return 0.5 * x * (1.0 + self.t)", "raise NotImplementedError()")),
        ("gelu",),
        "not implemented",
        status="error",
    ),
]

VALID = [
    Case("relu_in_place_on_a_copy",
         edit("relu", ("return np.where(self.mask, x, 0.0)", "y = x.copy()\n        y[~self.mask] = 0.0\n        return y"))),
    Case("tanh_via_stable_sigmoid",
         edit("tanh", ("self.y = np.tanh(x)", "self.y = 2.0 * np.exp(-np.logaddexp(0.0, -2.0 * x)) - 1.0"))),
    Case("linear_einsum",
         edit("linear", ("return x @ self.W + self.b", "return np.einsum('ni,io->no', x, self.W) + self.b"),
              ("self.dW = self.x.T @ g", "self.dW = np.einsum('ni,no->io', self.x, g)"),
              ("return g @ self.W.T", "return np.einsum('no,io->ni', g, self.W)"))),
    Case("sigmoid_logaddexp",
         edit("sigmoid", ("e = np.exp(-np.abs(x))\n        self.y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
                          "self.y = np.exp(-np.logaddexp(0.0, -x))"))),
    Case("ce_onehot_from_eye_as_wide_as_scores",
         edit("softmax_ce_loss", ("g = self.p.copy()\n        g[np.arange(len(self.labels)), self.labels] -= 1.0",
                                  "g = self.p - np.eye(self.p.shape[1])[self.labels]"))),
    Case(
        "linear_loops",
        {
            "linear": """
class Linear(Module):
    param_names = ("W", "b")

    def __init__(self, in_features, out_features, init_std=0.01, rng=None):
        super().__init__()
        gen = rng if isinstance(rng, np.random.Generator) else (
            nnkit.rng() if rng is None else np.random.default_rng(rng))
        self.W = gen.standard_normal((in_features, out_features)) * init_std
        self.b = np.zeros((out_features,))

    def forward(self, x):
        self.cache = np.array(x, dtype=float)
        out = np.empty((x.shape[0], self.W.shape[1]))
        for j in range(self.W.shape[1]):        # one output unit at a time
            out[:, j] = self.cache.dot(self.W[:, j]) + self.b[j]
        return out

    def backward(self, g):
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        for j in range(g.shape[1]):             # one output unit at a time
            self.dW[:, j] = self.cache.T.dot(g[:, j])
            self.db[j] = g[:, j].sum()
        dx = np.zeros_like(self.cache)
        for n in range(g.shape[0]):             # one sample at a time
            dx[n] = self.W.dot(g[n])
        return dx
"""
        },
    ),
    Case(
        "float32_inside",
        {
            "linear": SOLUTIONS["linear"]
            .replace(
                "return x @ self.W + self.b",
                "return (x.astype(np.float32) @ self.W.astype(np.float32) + self.b.astype(np.float32))",
            )
            .replace("self.dW = self.x.T @ g", "self.dW = self.x.astype(np.float32).T @ g.astype(np.float32)"),
            "softmax_ce_loss": SOLUTIONS["softmax_ce_loss"].replace(
                "shifted = scores - scores.max(axis=1, keepdims=True)",
                "scores = scores.astype(np.float32)\n        shifted = scores - scores.max(axis=1, keepdims=True)",
            ),
        },
    ),
    Case("float32_everywhere", {part: SOLUTIONS[part] + in_float32(cls) for part, cls in CLASSES.items()}),
    Case(
        "sigmoid_via_tanh_and_tanh_via_sigmoid",
        {
            "sigmoid": SOLUTIONS["sigmoid"].replace(
                "e = np.exp(-np.abs(x))\n        self.y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
                "self.y = 0.5 * (1.0 + np.tanh(0.5 * x))",
            ),
            "tanh": """
class Tanh(Module):
    def forward(self, x):
        s = 0.5 * (1.0 + np.tanh(x))    # sigmoid(2x), written without overflow
        self.out = 2.0 * s - 1.0
        return self.out

    def backward(self, grad_out):
        return grad_out - grad_out * self.out * self.out
""",
        },
    ),
    Case(
        "ce_logsumexp",
        {
            "softmax_ce_loss": """
class SoftmaxCrossEntropyLoss(Loss):
    def forward(self, scores, labels):
        m = np.max(scores, axis=-1, keepdims=True)
        lse = m[:, 0] + np.log(np.sum(np.exp(scores - m), axis=-1))
        self.scores, self.labels, self.lse = scores, labels, lse
        return float(np.mean(lse - np.take_along_axis(scores, labels[:, None], axis=1)[:, 0]))

    def backward(self):
        p = np.exp(self.scores - self.lse[:, None])
        onehot = np.eye(self.scores.shape[1])[self.labels]
        return (p - onehot) / self.scores.shape[0]
"""
        },
    ),
    Case(
        "hinge_loops_and_masks",
        {
            "hinge_loss": """
class HingeLoss(Loss):
    def __init__(self, margin=5.0):
        self.margin = margin

    def forward(self, scores, labels):
        self.n = scores.shape[0]
        self.grad = np.zeros_like(scores, dtype=float)
        total = 0.0
        for i in range(self.n):
            y = labels[i]
            for j in range(scores.shape[1]):
                if j == y:
                    continue
                m = self.margin - scores[i, y] + scores[i, j]
                if m > 0:
                    total += m
                    self.grad[i, j] += 1.0
                    self.grad[i, y] -= 1.0
        return total / self.n

    def backward(self):
        return self.grad / self.n
"""
        },
    ),
    Case(
        "sgd_in_place",
        {
            "sgd": """
class SGD(Optimizer):
    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr)
        self.momentum, self.weight_decay, self.velocity = momentum, weight_decay, {}

    def update(self, key, param, grad):
        if key not in self.velocity:
            self.velocity[key] = np.zeros_like(param)
        v = self.velocity[key]
        v *= self.momentum
        v += grad
        v += self.weight_decay * param
        param -= self.lr * v
        return param
"""
        },
    ),
    Case(
        "sgd_velocity_form",
        {
            "sgd": '''
class SGD(Optimizer):
    """v <- mu v - lr (g + wd p); p <- p + v: the same steps for a fixed lr."""
    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr)
        self.mu, self.wd = momentum, weight_decay
        self.state = {}

    def update(self, key, param, grad):
        v = self.mu * self.state.get(key, np.zeros_like(param)) - self.lr * (grad + self.wd * param)
        self.state[key] = v
        return param + v
'''
        },
    ),
    Case(
        "activations_where_and_masks",
        {
            "relu": """
class ReLU(Module):
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, g):
        return np.where(self.x > 0, g, 0.0)
""",
            "leaky_relu": """
class LeakyReLU(Module):
    def __init__(self, alpha=0.01):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        self.y = x * np.where(x > 0, 1.0, self.alpha)
        return self.y

    def backward(self, g):
        d = np.ones_like(self.y)
        d[self.y <= 0] = self.alpha     # alpha > 0: the output has the sign of the input
        return g * d
""",
            "euclidean_loss": """
class EuclideanLoss(Loss):
    def forward(self, y, labels):
        self.y, self.t = y, np.eye(y.shape[1])[labels]
        return 0.5 * np.mean(np.sum((y - self.t) ** 2, axis=1))

    def backward(self):
        return (self.y - self.t) / self.y.shape[0]
""",
        },
    ),
    Case(
        "gelu_via_sigmoid",
        {
            "gelu": """
class GELU(Module):
    def forward(self, x):
        k = np.sqrt(2 / np.pi)
        self.x = x
        self.u = k * (x + 0.044715 * np.power(x, 3))
        self.s = 1.0 / (1.0 + np.exp(-2.0 * self.u))     # 0.5(1 + tanh u) = sigmoid(2u)
        return x * self.s

    def backward(self, grad_out):
        k = np.sqrt(2 / np.pi)
        du = k * (1 + 3 * 0.044715 * self.x ** 2)
        return grad_out * (self.s + self.x * 2.0 * self.s * (1.0 - self.s) * du)
"""
        },
    ),
]

# ---- issue 9: a velocity that does not start at zero, changed defaults (named), and mistakes no named
# variant covers, where the message says what differs (engine/diagnose.py's generic diagnosis)
SGD_V = "v = self.momentum * self.v.get(key, 0.0) + grad"
WRONG += [
    Case("sgd_velocity_starts_at_gradient", edit("sgd", (SGD_V, "v = self.momentum * self.v.get(key, grad) + grad")),
         ("sgd",), "does not start at zero", either=(T,)),
    Case("sgd_velocity_starts_at_param", edit("sgd", (SGD_V, "v = self.momentum * self.v.get(key, param) + grad")),
         ("sgd",), "starts with its own zero velocity", either=(T,)),
    Case("sgd_velocity_starts_at_ones",
         edit("sgd", (SGD_V, "v = self.momentum * self.v.get(key, np.ones_like(param)) + grad")),
         ("sgd",), "does not start at zero", either=(T,)),
    Case("sgd_momentum_default_changed", edit("sgd", ("momentum=0.0", "momentum=0.9")),
         ("sgd",), "SGD's default momentum was changed", either=(T,)),
    Case("sgd_weight_decay_default_changed", edit("sgd", ("weight_decay=0.0", "weight_decay=1e-2")),
         ("sgd",), "SGD's default weight_decay was changed", either=(T,)),
    Case("leaky_relu_alpha_default_changed", edit("leaky_relu", ("alpha=0.01", "alpha=0.1")),
         ("leaky_relu",), "LeakyReLU's default alpha was changed"),
    Case("hinge_margin_default_changed", edit("hinge_loss", ("margin=5.0", "margin=1.0")),
         ("hinge_loss",), "HingeLoss's default margin was changed"),
    Case("linear_init_std_default_changed", edit("linear", ("init_std=0.01", "init_std=0.1")),
         ("linear",), "Linear's default init_std was changed", either=(T,)),
    Case("linear_bias_added_twice", edit("linear", ("return x @ self.W + self.b", "return x @ self.W + 2 * self.b")),
         ("linear",), "one constant per column", either=(T,)),
    Case("ce_true_class_gradient_twice", edit("softmax_ce_loss", ("self.labels] -= 1.0", "self.labels] -= 2.0")),
         ("softmax_ce_loss",), "only at the true-class entries", either=(T,)),
    Case("sgd_momentum_squared", edit("sgd", (SGD_V, "v = self.momentum ** 2 * self.v.get(key, 0.0) + grad")),
         ("sgd",), "from a key's second update on", either=(T,)),
]

# ---- what the harness (tests/test_assignments.py) reads
CASES = WRONG + VALID
MINIMUM = (60, 15)
SEED = 12345          # the probes are random; the corpus pins one draw
# The probes get 10 s of CPU instead of their default 20 so the hanging case costs less
# (the reference needs ~1 s); training keeps its default limits.
LIMITS = {"quick": Limits(wall_seconds=30, cpu_seconds=10, memory_bytes=2 << 30, file_bytes=32 << 20, nproc=64,
                          output_bytes=1 << 20)}
