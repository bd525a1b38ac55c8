"""engine/diagnose.py with mlp's mistake tables, on synthetic arrays: each mistake is named, every
correct variant passes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.assignments.mlp.mistakes import KNOWN
from autograder.assignments.mlp.spec import judge_init, quick_probes
from autograder.engine import diagnose
from autograder.engine.diagnose import Probe

rng = np.random.default_rng(0)
N, IN, OUT = 4, 7, 5
X, G = rng.normal(size=(N, IN)), rng.normal(size=(N, OUT))
W, B = rng.normal(size=(IN, OUT)), rng.normal(size=OUT)
LINEAR = Probe("linear.fb", "linear", "module", {}, {}, {"x": X, "g": G, "W": W, "b": B}, {"N": N, "in": IN, "out": OUT})
LINEAR_REF = {"y1": X @ W + B, "dx": G @ W.T, "grad.W": X.T @ G, "grad.b": G.sum(0)}

XA = np.array([[-2.0, -0.5, 0.0, 0.7, 3.0], [1.5, 0.0, -1.0, 2.0, -3.0]])
GA = rng.normal(size=XA.shape)


def act(part, **inputs):
    return Probe(f"{part}.fb", part, "module", {}, {}, {"x": XA, "g": GA, **inputs}, {"N": 2, "D": 5})


def sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def gelu_parts(x):
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2)


S = rng.normal(scale=3, size=(N, OUT))
LAB = np.array([0, 4, 2, 1])
ONE = np.eye(OUT)[LAB]


def softmax(s, axis=1):
    e = np.exp(s - s.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


CE = Probe("softmax_ce_loss.fb", "softmax_ce_loss", "loss", {}, {}, {"scores": S, "labels": LAB}, {"N": N, "K": OUT})
CE_REF = {"loss": np.asarray(-np.log(softmax(S)[np.arange(N), LAB]).mean()), "grad": (softmax(S) - ONE) / N}


def info():
    return {"status": "ok"}


# (probe, reference outputs, student outputs, phrase the message must contain)
MISTAKES = [
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "grad.W": G.T @ X}, "gᵀx"),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "grad.b": G}, "forget to sum the bias gradient"),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "grad.W": X.T @ G * N}, "N times too large"),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "grad.W": X.T @ G / N}, "N times too small"),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "dx": -(G @ W.T)}, "wrong sign"),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "y1": X @ W}, "wrong"),
    (
        act("relu"),
        {"y0": np.maximum(XA, 0), "dx": GA * (XA > 0)},
        {"y0": np.maximum(XA, 0), "dx": GA * (XA >= 0)},
        "exactly x = 0",
    ),
    (
        act("relu"),
        {"y0": np.maximum(XA, 0), "dx": GA * (XA > 0)},
        {"y0": np.maximum(XA, 0), "dx": GA * np.maximum(XA, 0)},
        "where x > 0",
    ),
    (act("sigmoid"), {"y0": sig(XA), "dx": GA * sig(XA) * (1 - sig(XA))}, {"y0": sig(XA), "dx": GA * XA * (1 - XA)}, "OUTPUT"),
    (act("tanh"), {"y0": np.tanh(XA), "dx": GA * (1 - np.tanh(XA) ** 2)}, {"y0": np.tanh(XA), "dx": GA * (1 - XA**2)}, "1 - y²"),
    (
        act("tanh"),
        {"y0": np.tanh(XA), "dx": GA * (1 - np.tanh(XA) ** 2)},
        {"y0": np.tanh(XA), "dx": 1 - np.tanh(XA) ** 2},
        "upstream gradient",
    ),
    (act("gelu"), {"y0": gelu_parts(XA)[0]}, {"y0": 0.5 * XA * (1 + np.vectorize(math.erf)(XA / math.sqrt(2)))}, "erf"),
    (
        act("leaky_relu", alpha=0.2),
        {"y0": np.where(XA > 0, XA, 0.2 * XA)},
        {"y0": np.where(XA > 0, 0.2 * XA, XA)},
        "positive side",
    ),
    (CE, CE_REF, {"loss": CE_REF["loss"] * N, "grad": CE_REF["grad"] * N}, "average over the batch"),
    (CE, CE_REF, {**CE_REF, "grad": -CE_REF["grad"]}, "wrong sign"),
    (CE, CE_REF, {**CE_REF, "loss": np.asarray(np.nan)}, "max score"),
    (
        CE,
        CE_REF,
        {"loss": np.asarray(-np.log(softmax(S, 0)[np.arange(N), LAB]).mean()), "grad": (softmax(S, 0) - ONE) / N},
        "wrong axis",
    ),
]


@pytest.mark.parametrize("probe, ref, got, phrase", MISTAKES, ids=[f"{m[0].part}-{m[3]}" for m in MISTAKES])
def test_mistake_is_named(probe, ref, got, phrase):
    message = diagnose.judge_probe(probe, "Cls", info(), got, ref, KNOWN)
    assert message is not None and phrase in message, message


EQUIVALENT = [
    (LINEAR, LINEAR_REF, {k: v.astype(np.float32).astype(np.float64) for k, v in LINEAR_REF.items()}),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "extra": np.zeros(3)}),  # more outputs than asked: fine
    (CE, CE_REF, {"loss": np.asarray([float(CE_REF["loss"])]), "grad": CE_REF["grad"]}),  # loss as a 1-element array
    (act("sigmoid"), {"y0": sig(XA)}, {"y0": 1 / (1 + np.exp(-XA))}),
]


@pytest.mark.parametrize("probe, ref, got", EQUIVALENT)
def test_equivalent_outputs_pass(probe, ref, got):
    assert diagnose.judge_probe(probe, "Cls", info(), got, ref, KNOWN) is None


def test_exception_is_reported_with_a_hint():
    message = diagnose.judge_probe(
        LINEAR,
        "Linear",
        {"status": "error", "stage": "backward", "error": "AttributeError: 'Linear' object has no attribute 'x'"},
        {},
        LINEAR_REF,
        KNOWN,
    )
    assert "Linear.backward raised AttributeError" in message and "self.x = x" in message


def test_messages_never_show_sizes_as_numbers():
    message = diagnose.judge_probe(LINEAR, "Linear", info(), {**LINEAR_REF, "dx": np.zeros((N, OUT))}, LINEAR_REF, KNOWN)
    assert "(N, out)" in message and str(IN) not in message


def _init_probe():
    return next(p for p in quick_probes(3) if p.name == "linear.init")


def _builds(probe, draw):
    out = {}
    for k, build in enumerate(probe.inputs["builds"]):
        std = build["kwargs"].get("init_std", 0.01)
        seed = build["kwargs"].get("rng", {"seed": 99})
        seed = seed.get("seed", seed.get("generator"))
        out[f"{k}.W"], out[f"{k}.b"] = draw(np.random.default_rng(seed), std, (probe.dims["in"], probe.dims["out"]))
    return out


@pytest.mark.parametrize(
    "draw, phrase",
    [
        (lambda r, s, shape: (r.normal(0, s, shape), np.zeros(shape[1])), None),
        (lambda r, s, shape: (r.normal(0, 0.01, shape), np.zeros(shape[1])), "ignores init_std"),
        (lambda r, s, shape: (r.normal(0, s * s, shape), np.zeros(shape[1])), "init_std²"),
        (lambda r, s, shape: (r.normal(0, s, shape), np.ones(shape[1])), "zero"),
        (lambda r, s, shape: (r.normal(0, s, shape[::-1]), np.zeros(shape[1])), "(in_features, out_features)"),
        (lambda r, s, shape: (np.random.default_rng().normal(0, s, shape), np.zeros(shape[1])), "same rng seed"),
    ],
)
def test_linear_init_rules(draw, phrase):
    probe = _init_probe()
    message = judge_init(probe, info(), _builds(probe, draw))
    assert (message is None) if phrase is None else (phrase in message), message


def test_close_admits_float32_and_rejects_small_errors():
    e = rng.normal(size=(50, 50))
    assert diagnose.close(e.astype(np.float32).astype(float), e)
    assert not diagnose.close(e * (1 + 1e-3), e)
    assert not diagnose.close(np.where(e > 2, np.nan, e), e)


def _sgd_probe(rule, lr=0.1, mu=0.8):
    """Two keys updated in turn four times; ``rule(p, g, v) -> (new p, new v)``."""
    arrays, record = {}, []
    for n in range(8):
        key = "ab"[n % 2]
        arrays[f"{n}.g"] = rng.normal(size=(3, 2))
        if n < 2:
            arrays[f"{key}.p"] = rng.normal(size=(3, 2))
        record.append((key, f"{key}.p" if n < 2 else None, f"{n}.g"))
    probe = Probe("sgd.x", "sgd", "optimizer", {}, arrays, {"init": {"lr": lr, "momentum": mu}, "steps": record,
                                                              "arrays": arrays}, label="SGD")

    def run(rule):
        cur, vel, out = {}, {}, {}
        for n, (key, pfile, gfile) in enumerate(record):
            p = arrays[pfile] if pfile else cur[key]
            cur[key], vel[key] = rule(p, arrays[gfile], vel.get(key, 0.0), lr, mu)
            out[f"step{n}"] = cur[key]
        return out
    right = run(lambda p, g, v, lr, mu: (p - lr * (mu * v + g), mu * v + g))
    return probe, right, run(rule)


LIN_ROW0_NEG = G @ W.T
LIN_ROW0_NEG[0] *= -1
CE_TRUE_TWICE = (softmax(S) - 2 * ONE) / N
RELU_KINK_HALF = GA * (XA > 0) + 0.5 * GA * (XA == 0)
# (probe, reference, student outputs, phrases every one of which the message must contain): no named
# mistake matches, so the engine says what differs, and never a diagnosis the evidence does not support.
GENERIC = [
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "y1": X @ W + 2 * B}, ["same amount in every row", "bias", "largest error"]),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "grad.W": X.T @ (G * G)},
     ["dW is wrong", "forward is right", "right: dx (w.r.t. the input x), db", "largest error"]),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "dx": LIN_ROW0_NEG}, ["is wrong", "wrong sign on", "forward is right"]),
    (LINEAR, LINEAR_REF, {**LINEAR_REF, "grad.b": G.sum(0) + 0.25}, ["same constant (+0.25) in every entry"]),
    (act("relu"), {"y0": np.maximum(XA, 0), "dx": GA * (XA > 0)},
     {"y0": np.maximum(XA, 0), "dx": GA * (XA > 0) + 0.5 * GA * (XA < 0)}, ["is wrong where x < 0 (right elsewhere)"]),
    (act("relu"), {"y0": np.maximum(XA, 0), "dx": GA * (XA > 0)}, {"y0": np.maximum(XA, 0), "dx": RELU_KINK_HALF},
     ["where x = 0 (the kink)"]),
    (CE, CE_REF, {**CE_REF, "grad": CE_TRUE_TWICE}, ["only at the true-class entries", "forward is right"]),
    (CE, CE_REF, {**CE_REF, "loss": CE_REF["loss"] + 0.3}, ["the loss is wrong", "the gradient is right"]),
    (*_sgd_probe(lambda p, g, v, lr, mu: (p - lr * (0.5 * mu * v + g), 0.5 * mu * v + g)), ["from a key's second update"]),
    (*_sgd_probe(lambda p, g, v, lr, mu: (p - 3 * lr * (mu * v + g), mu * v + g)), ["first update", "3x the right one"]),
    (*_sgd_probe(lambda p, g, v, lr, mu: (p, mu * v + g)), ["returned unchanged"]),
]


@pytest.mark.parametrize("probe, ref, got, phrases", GENERIC, ids=[f"{g[0].part}-{g[3][0]}" for g in GENERIC])
def test_generic_diagnosis_says_what_differs(probe, ref, got, phrases):
    message = diagnose.judge_probe(probe, "Cls", info(), got, ref, KNOWN)
    assert message is not None and all(p in message for p in phrases), message


def test_no_constant_factor_for_a_single_number():
    """Any wrong loss is some multiple of the right one: only a factor with a meaning (N, 2, −1...) is named."""
    message = diagnose.judge_probe(CE, "Cls", info(), {**CE_REF, "loss": CE_REF["loss"] * 0.146}, CE_REF, KNOWN)
    assert "constant factor" not in message and "the loss is wrong" in message, message
    message = diagnose.judge_probe(LINEAR, "Cls", info(), {**LINEAR_REF, "dx": G @ W.T * 0.37}, LINEAR_REF, KNOWN)
    assert "constant factor (0.37x)" in message, message
    # a ratio that is not the same everywhere is no constant factor
    message = diagnose.judge_probe(LINEAR, "Cls", info(), {**LINEAR_REF, "dx": (G @ W.T) ** 3}, LINEAR_REF, KNOWN)
    assert "factor" not in message and "largest error" in message, message


def test_slack_widens_only_its_own_field():
    """A probe's slack (an output that float32 can only compute up to the rounding of larger terms)."""
    e = rng.normal(size=(3, 4))
    assert not diagnose.close(e + 1e-3, e) and diagnose.close(e + 1e-3, e, slack=2e-3)
    probe = Probe("p", "linear", "module", {}, {}, {"x": X, "g": G, "W": W, "b": B}, {"N": N, "in": IN, "out": OUT},
                  slack={"dx": 1e-2})
    near = {**LINEAR_REF, "dx": LINEAR_REF["dx"] + 5e-3}
    assert diagnose.judge_probe(probe, "Linear", info(), near, LINEAR_REF, KNOWN) is None
    near = {**LINEAR_REF, "grad.W": LINEAR_REF["grad.W"] + 5e-3}
    assert diagnose.judge_probe(probe, "Linear", info(), near, LINEAR_REF, KNOWN) is not None


def test_reshaped_rule_names_a_wrong_shape_even_when_backward_then_raised():
    """A part whose sizes follow a formula explains a wrong shape by the spec's rule; its forward output of
    the wrong shape is named before the exception it caused in backward (a part without the rule keeps the
    exception)."""
    def rule(probe, name, a, e):
        return f"{name}: the rule's words {a.shape} vs {e.shape}"

    known = diagnose.Mistakes(reshaped={"linear": rule})
    short = {**LINEAR_REF, "y1": LINEAR_REF["y1"][:, :-1]}
    raised = {"status": "error", "stage": "backward", "error": "ValueError: shapes do not match"}
    assert diagnose.judge_probe(LINEAR, "Linear", info(), short, LINEAR_REF, known) == \
        f"y1: the rule's words {(N, OUT - 1)} vs {(N, OUT)}"
    assert diagnose.judge_probe(LINEAR, "Linear", raised, {"y1": short["y1"]}, LINEAR_REF, known).startswith("y1: ")
    assert diagnose.judge_probe(LINEAR, "Linear", raised, {"y1": LINEAR_REF["y1"]}, LINEAR_REF, known) \
        .startswith("Linear.backward raised ValueError")
    assert diagnose.judge_probe(LINEAR, "Linear", raised, {"y1": short["y1"]}, LINEAR_REF, KNOWN) \
        .startswith("Linear.backward raised ValueError")


def test_all_or_nothing_says_one_error_once_whatever_its_size_per_probe():
    """Probes whose messages differ only in the figure (the largest error) give one message; another error its own."""
    from autograder.engine.grade import Part, all_or_nothing
    probes = [Probe(f"linear.{k}", "linear", "module", {}, {}, LINEAR.inputs, LINEAR.dims) for k in range(3)]
    wrong = {"dx": (G @ W.T) ** 3}
    results = {"linear.0": (info(), {**LINEAR_REF, **wrong}), "linear.1": (info(), {**LINEAR_REF, "dx": G @ W.T + 9}),
               "linear.2": (info(), {**LINEAR_REF, "dx": (G @ W.T) ** 3 * 2})}
    judged = all_or_nothing(KNOWN)(Part("linear", "linear-tests", "linear", "Linear"), probes, results,
                                   {p.name: (info(), LINEAR_REF) for p in probes})
    assert judged.score_fraction == 0 and len(judged.messages) == 2, judged.messages
    assert "largest error" in judged.messages[0] and "same constant" in judged.messages[1], judged.messages
