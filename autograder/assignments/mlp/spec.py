"""What the `mlp` grader asks: parts, points and probes.

Probe inputs are drawn from a per-run seed, with shapes chosen so that every
dimension differs from the others (a transposed or unsummed array then has a
different shape, and the mistake can be named) and with the edge cases the
contract promises: a batch of 1, ReLU exactly at 0, logits of ±1e4, sigmoid
inputs of ±1e3 (those with numerical warnings as errors, as the notebook's strict
self-checks), hinge scores exactly at the kink, two optimizer keys updated in
turn, a batch-of-1 call after a call with another batch (nothing may carry over:
gradients set, not accumulated).  Every probe also reports an input changed in
place.  The expected outputs are not here: they come from the source notebook's
own solution cells run on the same probes.
"""
from __future__ import annotations

import numpy as np

from autograder.assignments.mlp.mistakes import KNOWN
from autograder.engine.diagnose import Probe, exception_message, loss_probe, module_probe, name_shape
from autograder.engine.grade import Part, Spec, all_or_nothing
from autograder.engine.training import Network, TrainingPart
from nnkit import mistakes

CLASSES = {"linear": "Linear", "relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
           "gelu": "GELU", "leaky_relu": "LeakyReLU", "euclidean_loss": "EuclideanLoss",
           "softmax_ce_loss": "SoftmaxCrossEntropyLoss", "hinge_loss": "HingeLoss", "sgd": "SGD"}
# Cells whose classes the training run builds the network from.
TRAINING_NEEDS = ("linear", "relu", "softmax_ce_loss", "sgd")


def _distinct(rng, k: int, low: int, high: int) -> list[int]:
    return [int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False)]


def _module(name, part, x_list, g, **kw) -> Probe:
    return module_probe(name, part, CLASSES[part], x_list, g, **kw)


def _loss(name, part, scores, labels, **kw) -> Probe:
    return loss_probe(name, part, CLASSES[part], scores, labels, **kw)


def linear_probes(rng, more) -> list[Probe]:
    n, n_in, n_out = _distinct(rng, 3, 2, 10)
    n0 = n + 3       # an earlier forward with another batch: backward must use the latest input
    dims = {"N": n, "in": n_in, "out": n_out}
    W, b = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    probes = [_module("linear.fb", "linear", [rng.normal(size=(n0, n_in)), rng.normal(size=(n, n_in))],
                      rng.normal(size=(n, n_out)), params={"W": W, "b": b}, dims=dims, args=(n_in, n_out))]
    W1, b1 = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    probes.append(_module("linear.batch1", "linear", [rng.normal(size=(1, n_in))],
                          rng.normal(size=(1, n_out)), params={"W": W1, "b": b1}, args=(n_in, n_out),
                          dims={"N": 1, "in": n_in, "out": n_out},
                          warmup=[(more.normal(size=(n, n_in)), more.normal(size=(n, n_out)))]))
    big_in, big_out = 300, 200
    std = float(rng.choice([0.05, 0.2, 0.5]))
    seed = int(rng.integers(1 << 30))
    builds = [  # same int seed twice (determinism), a Generator, the default init_std, rng=None
        {"args": [big_in, big_out], "kwargs": {"init_std": std, "rng": {"seed": seed}}},
        {"args": [big_in, big_out], "kwargs": {"init_std": std, "rng": {"seed": seed}}},
        {"args": [big_in, big_out], "kwargs": {"init_std": std, "rng": {"generator": seed + 1}}},
        {"args": [big_in, big_out], "kwargs": {"rng": {"seed": seed + 2}}},
        {"args": [big_in, big_out], "kwargs": {"init_std": std}},
        *[{"args": [big_in, big_out], "kwargs": {"init_std": std}, "nnkit_seed": seed + 3}] * 2,   # nnkit.seed twice
    ]
    probes.append(Probe("linear.init", "linear", "init", {"class": "Linear", "builds": builds},
                        inputs={"std": std, "builds": builds},
                        dims={"in": big_in, "out": big_out}, compare=False, label="Linear"))
    return probes


def activation_probes(rng, more) -> list[Probe]:
    probes = []
    n, d = _distinct(rng, 2, 3, 9)
    dims = {"N": n, "D": d}

    def x_with_zeros(scale=2.0, shape=(n, d)):
        x = rng.normal(scale=scale, size=shape)
        x.flat[rng.choice(x.size, size=max(2, x.size // 6), replace=False)] = 0.0
        return x

    for part in ("relu", "sigmoid", "tanh", "gelu", "leaky_relu"):
        alpha = float(rng.choice([0.05, 0.1, 0.2, 0.3])) if part == "leaky_relu" else None
        init = {"alpha": alpha} if alpha else None
        x = x_with_zeros()
        probes.append(_module(f"{part}.fb", part, [x], rng.normal(size=x.shape), init=init, dims=dims))
        x3 = x_with_zeros(shape=(2, 3, 4))                 # "any input shape"
        probes.append(_module(f"{part}.3d", part, [x3], rng.normal(size=x3.shape), init=init,
                              warmup=[(more.normal(size=x.shape), more.normal(size=x.shape))]))
    for part in ("sigmoid", "tanh"):                       # must not overflow for |x| up to 1e3
        x = np.array([[-1e3, -700.0, -40.0, 0.0, 40.0, 700.0, 1e3]])
        probes.append(_module(f"{part}.big", part, [x], rng.normal(size=x.shape), strict=True))
    x = x_with_zeros()
    probes.append(_module("leaky_relu.default", "leaky_relu", [x], rng.normal(size=x.shape), dims=dims))
    return probes


def loss_probes(rng, more) -> list[Probe]:
    n, k = _distinct(rng, 2, 3, 11)
    dims = {"N": n, "K": k}
    labels = rng.integers(k, size=n)
    labels[:2] = [0, k - 1]

    def earlier():      # a call with another batch first: nothing may carry over to the next one
        return [(more.normal(scale=3, size=(n, k)), more.integers(k, size=n))]

    probes = [
        _loss("euclidean_loss.fb", "euclidean_loss", rng.normal(size=(n, k)), labels, dims=dims),
        _loss("euclidean_loss.batch1", "euclidean_loss", rng.normal(size=(1, k)), labels[:1], warmup=earlier()),
        _loss("softmax_ce_loss.fb", "softmax_ce_loss", rng.normal(scale=3, size=(n, k)), labels, dims=dims),
        _loss("softmax_ce_loss.batch1", "softmax_ce_loss", rng.normal(scale=3, size=(1, k)), labels[:1],
              warmup=earlier()),
        _loss("softmax_ce_loss.big", "softmax_ce_loss",       # finite loss and gradient at ±1e4
              rng.choice([-1e4, 1e4], size=(n, k)) + rng.normal(size=(n, k)), labels, dims=dims, strict=True),
    ]
    margin = float(rng.choice([2.0, 3.0, 4.0]))
    probes += [
        _loss("hinge_loss.fb", "hinge_loss", rng.normal(scale=margin, size=(n, k)), labels,
              init={"margin": margin}, dims=dims),
        _loss("hinge_loss.default", "hinge_loss", rng.normal(scale=4, size=(n, k)), labels, dims=dims),
    ]
    # integer scores: many pairs sit exactly on the kink, where the derivative is 0; the draw alone may
    # miss it (the probe seed hashes the submission's code), so one pair sits on it whatever the draw:
    # s_j = s_y - 5, the default margin
    kink = rng.integers(0, 11, size=(n, k)).astype(float)
    kink[0, (labels[0] + 1) % k] = kink[0, labels[0]] - 5.0
    probes.append(_loss("hinge_loss.kink", "hinge_loss", kink, labels, dims=dims))
    return probes


def _steps(rng, name: str, shape: tuple) -> tuple[dict, list, list]:
    """Four steps on keys a and b in turn (same shape: a velocity shared by the keys would not fail
    loudly, only be wrong); the params are the optimizer's own results after the first step."""
    arrays, steps, record = {}, [], []
    for i in range(4):
        for key in ("a", "b"):
            g = f"{name}.{key}{i}.g.npy"
            arrays[g] = rng.normal(size=shape)
            step = {"key": key, "grad": g}
            if i == 0:
                step["param"] = f"{name}.{key}.p.npy"
                arrays[step["param"]] = rng.normal(size=shape)
            steps.append(step)
            record.append((key, step.get("param"), g))
    return arrays, steps, record


def sgd_probes(rng, more) -> list[Probe]:
    # First, so no earlier optimizer has run: the same steps on two instances (state must not leak).
    init = {"lr": float(more.uniform(0.05, 0.5)), "momentum": float(more.uniform(0.5, 0.95))}
    arrays, steps, record = _steps(more, "sgd.instances", (3, 2))
    probes = [Probe("sgd.instances", "sgd", "optimizer", {"class": "SGD", "init": init, "steps": steps, "instances": 2},
                    arrays, {"init": init, "steps": record, "arrays": arrays, "instances": 2}, label="SGD")]
    shape = tuple(_distinct(rng, 2, 2, 7))
    settings = [("sgd.plain", {"lr": float(rng.uniform(0.05, 0.5))}),
                ("sgd.momentum", {"lr": float(rng.uniform(0.05, 0.5)), "momentum": float(rng.uniform(0.5, 0.95))}),
                ("sgd.decay", {"lr": float(rng.uniform(0.05, 0.5)), "momentum": float(rng.uniform(0.5, 0.95)),
                               "weight_decay": float(rng.uniform(0.05, 0.2))}),
                ("sgd.decay_only", {"lr": float(rng.uniform(0.05, 0.5)), "weight_decay": float(rng.uniform(0.05, 0.2))})]
    for name, init in settings:
        arrays, steps, record = _steps(rng, name, shape)
        probes.append(Probe(name, "sgd", "optimizer", {"class": "SGD", "init": init, "steps": steps},
                            arrays, {"init": init, "steps": record, "arrays": arrays}, label="SGD"))
    return probes


def quick_probes(seed: int) -> list[Probe]:
    """Every probe but training, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    more = np.random.default_rng([seed, 1])    # the earlier calls' inputs: the others' draws stay as they were
    probes = linear_probes(rng, more) + activation_probes(rng, more) + loss_probes(rng, more) + sgd_probes(rng, more)
    for i, p in enumerate(probes):
        p.request["seed"] = seed + i
    return probes


def judge_init(probe, info: dict | None, got: dict) -> str | None:
    """Linear's construction, by rules: shape, spread, zero bias, rng determinism."""
    if info is None:
        return None
    if info.get("status") != "ok":
        return exception_message("linear", "Linear", info, KNOWN)
    n_in, n_out = probe.dims["in"], probe.dims["out"]
    for k, build in enumerate(probe.inputs["builds"]):
        W, b = got.get(f"{k}.W"), got.get(f"{k}.b")
        if W is None or b is None:
            return "Linear needs attributes W and b (param_names = ('W', 'b'))"
        if W.shape != (n_in, n_out):
            return ("W must have shape (in_features, out_features)" if W.shape == (n_out, n_in)
                    else f"W has shape {name_shape(W.shape, probe.dims)}, expected (in, out)")
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
            if "init_std" not in build["kwargs"]:      # the init_std given was honoured by the builds before
                return mistakes.default_changed("Linear", "init_std", 0.01)
            return f"W's standard deviation is {have / want:.3g}x the init_std asked for"
        if abs(float(W.mean())) > 5 * want / np.sqrt(W.size):
            return "W is not centred at 0: draw it from a normal distribution with mean 0"
    if not np.array_equal(got["0.W"], got["1.W"]):
        return ("two layers built with the same rng seed got different W: draw W from the rng argument "
                "(an int seed or a Generator), not from np.random")
    if not np.array_equal(got["5.W"], got["6.W"]):
        return ("with rng=None, two layers built after the same nnkit.seed got different W: draw W from "
                "nnkit.rng() then, not from np.random or a new unseeded generator")
    return None


# The grader's training run (fixed, seeded): batch 100, momentum 0.9, no weight decay, 4 epochs at
# lr 0.1 then 1 at lr 0.01, the contract's default init_std.  4 epochs at lr 0.1 alone ended anywhere
# in 96.97-97.62% depending on the seed's disguise of the data (momentum 0.9 keeps the last epoch
# noisy), too close to the 97% line; the low-lr final epoch settles at 98.02-98.14% over the seeds
# tried (11, 2024, 5, 987654321; engine/training.py's disguise).  In float32 (dtype: the parameters cast
# once built) it ends at 97.86-98.14% over those seeds and 1, 2, in 2.4 s of CPU instead of 4.5 s.
NETWORK = Network([("Linear", (784, 128), {"init_std": 0.01, "rng": {"seed": 2024}}), ("ReLU", (), {}),
                   ("Linear", (128, 10), {"init_std": 0.01, "rng": {"seed": 2025}})],
                  "SoftmaxCrossEntropyLoss", "SGD", [(4, 0.1), (1, 0.01)], {"momentum": 0.9, "weight_decay": 0.0},
                  batch_size=100, seed=2024, dtype="float32")

SPEC = Spec("mlp", [Part(part, f"{part}-tests", part, klass) for part, klass in CLASSES.items()], quick_probes,
            all_or_nothing(KNOWN, {"linear": judge_init}),
            training=TrainingPart(Part("training", "training-tests", "training", "training"), TRAINING_NEEDS,
                                  "mnist", NETWORK, threshold=0.97))
