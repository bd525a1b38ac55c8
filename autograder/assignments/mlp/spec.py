"""What the `mlp` grader asks: parts, points and probes.

Probe inputs are drawn from a per-run seed, with shapes chosen so that every
dimension differs from the others (a transposed or unsummed array then has a
different shape, and the mistake can be named) and with the edge cases the
contract promises: a batch of 1, ReLU exactly at 0, logits of ±1e4, sigmoid
inputs of ±1e3, hinge scores exactly at the kink, two optimizer keys updated
in turn.  The expected outputs are not here: they come from the source
notebook's own solution cells run on the same probes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autograder.assignments.mlp import diagnose
from autograder.engine.grade import Judged, Part, Spec
from autograder.engine.training import Network, TrainingPart

CLASSES = {"linear": "Linear", "relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
           "gelu": "GELU", "leaky_relu": "LeakyReLU", "euclidean_loss": "EuclideanLoss",
           "softmax_ce_loss": "SoftmaxCrossEntropyLoss", "hinge_loss": "HingeLoss", "sgd": "SGD"}
# Cells whose classes the training run builds the network from.
TRAINING_NEEDS = ("linear", "relu", "softmax_ce_loss", "sgd")


@dataclass
class Probe:
    name: str
    part: str
    kind: str
    request: dict                      # JSON for the driver; arrays by file name
    arrays: dict = field(default_factory=dict)    # file name -> array written for the driver
    inputs: dict = field(default_factory=dict)    # what diagnose.py may use to name mistakes
    dims: dict = field(default_factory=dict)      # symbolic names of sizes, e.g. {"N": 4}
    compare: bool = True               # False: judged by rules (init), not against the reference

    def as_request(self) -> dict:
        return {"name": self.name, "part": self.part, "kind": self.kind, **self.request}

    @property
    def label(self) -> str:
        return CLASSES[self.part]


def _distinct(rng, k: int, low: int, high: int) -> list[int]:
    return [int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False)]


def _module(name, part, x_list, g, *, init=None, params=None, dims=None, args=(), **inputs) -> Probe:
    arrays, request = {}, {"class": CLASSES[part], "args": list(args), "init": init or {}, "forward": []}
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
    return Probe(name, part, "module", request, arrays,
                 {"x": x_list[-1], "g": g, **(params or {}), **(init or {}), **inputs}, dims or {})


def _loss(name, part, scores, labels, *, init=None, dims=None) -> Probe:
    arrays = {f"{name}.scores.npy": scores, f"{name}.labels.npy": labels}
    request = {"class": CLASSES[part], "init": init or {},
               "scores": f"{name}.scores.npy", "labels": f"{name}.labels.npy"}
    return Probe(name, part, "loss", request, arrays,
                 {"scores": scores, "labels": labels, **(init or {})}, dims or {})


def linear_probes(rng) -> list[Probe]:
    n, n_in, n_out = _distinct(rng, 3, 2, 10)
    n0 = n + 3       # an earlier forward with another batch: backward must use the latest input
    dims = {"N": n, "in": n_in, "out": n_out}
    W, b = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    probes = [_module("linear.fb", "linear", [rng.normal(size=(n0, n_in)), rng.normal(size=(n, n_in))],
                      rng.normal(size=(n, n_out)), params={"W": W, "b": b}, dims=dims, args=(n_in, n_out))]
    W1, b1 = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    probes.append(_module("linear.batch1", "linear", [rng.normal(size=(1, n_in))],
                          rng.normal(size=(1, n_out)), params={"W": W1, "b": b1}, args=(n_in, n_out),
                          dims={"N": 1, "in": n_in, "out": n_out}))
    big_in, big_out = 300, 200
    std = float(rng.choice([0.05, 0.2, 0.5]))
    seed = int(rng.integers(1 << 30))
    builds = [  # same int seed twice (determinism), a Generator, the default init_std, rng=None
        {"args": [big_in, big_out], "kwargs": {"init_std": std, "rng": {"seed": seed}}},
        {"args": [big_in, big_out], "kwargs": {"init_std": std, "rng": {"seed": seed}}},
        {"args": [big_in, big_out], "kwargs": {"init_std": std, "rng": {"generator": seed + 1}}},
        {"args": [big_in, big_out], "kwargs": {"rng": {"seed": seed + 2}}},
        {"args": [big_in, big_out], "kwargs": {"init_std": std}},
    ]
    probes.append(Probe("linear.init", "linear", "init", {"class": "Linear", "builds": builds},
                        inputs={"std": std, "builds": builds},
                        dims={"in": big_in, "out": big_out}, compare=False))
    return probes


def activation_probes(rng) -> list[Probe]:
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
        probes.append(_module(f"{part}.3d", part, [x3], rng.normal(size=x3.shape), init=init))
    for part in ("sigmoid", "tanh"):                       # must not overflow for |x| up to 1e3
        x = np.array([[-1e3, -700.0, -40.0, 0.0, 40.0, 700.0, 1e3]])
        probes.append(_module(f"{part}.big", part, [x], rng.normal(size=x.shape)))
    x = x_with_zeros()
    probes.append(_module("leaky_relu.default", "leaky_relu", [x], rng.normal(size=x.shape), dims=dims))
    return probes


def loss_probes(rng) -> list[Probe]:
    n, k = _distinct(rng, 2, 3, 11)
    dims = {"N": n, "K": k}
    labels = rng.integers(k, size=n)
    labels[:2] = [0, k - 1]
    probes = [
        _loss("euclidean_loss.fb", "euclidean_loss", rng.normal(size=(n, k)), labels, dims=dims),
        _loss("euclidean_loss.batch1", "euclidean_loss", rng.normal(size=(1, k)), labels[:1]),
        _loss("softmax_ce_loss.fb", "softmax_ce_loss", rng.normal(scale=3, size=(n, k)), labels, dims=dims),
        _loss("softmax_ce_loss.batch1", "softmax_ce_loss", rng.normal(scale=3, size=(1, k)), labels[:1]),
        _loss("softmax_ce_loss.big", "softmax_ce_loss",       # finite loss and gradient at ±1e4
              rng.choice([-1e4, 1e4], size=(n, k)) + rng.normal(size=(n, k)), labels, dims=dims),
    ]
    margin = float(rng.choice([2.0, 3.0, 4.0]))
    probes += [
        _loss("hinge_loss.fb", "hinge_loss", rng.normal(scale=margin, size=(n, k)), labels,
              init={"margin": margin}, dims=dims),
        _loss("hinge_loss.default", "hinge_loss", rng.normal(scale=4, size=(n, k)), labels, dims=dims),
        # integer scores: many pairs sit exactly on the kink, where the derivative is 0
        _loss("hinge_loss.kink", "hinge_loss", rng.integers(0, 11, size=(n, k)).astype(float),
              labels, dims=dims),
    ]
    return probes


def sgd_probes(rng) -> list[Probe]:
    probes = []
    shape = tuple(_distinct(rng, 2, 2, 7))
    settings = [("sgd.plain", {"lr": float(rng.uniform(0.05, 0.5))}),
                ("sgd.momentum", {"lr": float(rng.uniform(0.05, 0.5)), "momentum": float(rng.uniform(0.5, 0.95))}),
                ("sgd.decay", {"lr": float(rng.uniform(0.05, 0.5)), "momentum": float(rng.uniform(0.5, 0.95)),
                               "weight_decay": float(rng.uniform(0.05, 0.2))}),
                ("sgd.decay_only", {"lr": float(rng.uniform(0.05, 0.5)), "weight_decay": float(rng.uniform(0.05, 0.2))})]
    for name, init in settings:
        arrays, steps, record = {}, [], []
        for i in range(4):                   # keys a and b in turn, same shape: a shared velocity
            for key in ("a", "b"):           # would not fail loudly, only be wrong
                g = f"{name}.{key}{i}.g.npy"
                arrays[g] = rng.normal(size=shape)
                step = {"key": key, "grad": g}
                if i == 0:
                    step["param"] = f"{name}.{key}.p.npy"
                    arrays[step["param"]] = rng.normal(size=shape)
                steps.append(step)
                record.append((key, step.get("param"), g))
        probes.append(Probe(name, "sgd", "optimizer", {"class": "SGD", "init": init, "steps": steps},
                            arrays, {"init": init, "steps": record, "arrays": arrays}))
    return probes


def quick_probes(seed: int) -> list[Probe]:
    """Every probe but training, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    probes = linear_probes(rng) + activation_probes(rng) + loss_probes(rng) + sgd_probes(rng)
    for i, p in enumerate(probes):
        p.request["seed"] = seed + i
    return probes


def judge(part: Part, probes: list[Probe], results: dict, expected: dict) -> Judged:
    """All or nothing: every probe of a part checks the same contract."""
    messages, errored = [], False
    for probe in probes:
        info, got = results.get(probe.name, (None, {}))
        if probe.compare:
            msg = diagnose.judge_probe(probe, part.label, info, got, expected[probe.name][1])
        else:
            msg = diagnose.judge_init(probe, info, got)
        errored |= info is not None and info.get("status") != "ok"
        if msg and msg not in messages:
            messages.append(msg)
    if not messages:
        return Judged(1.0, "passed", [f"{part.label}: all checks passed"])
    return Judged(0.0, "error" if errored else "failed", messages)


# The grader's training run (fixed, seeded): batch 100, momentum 0.9, no weight decay, 4 epochs at
# lr 0.1 then 1 at lr 0.01, the contract's default init_std.  4 epochs at lr 0.1 alone ended anywhere
# in 96.97-97.62% depending on the seed's disguise of the data (momentum 0.9 keeps the last epoch
# noisy), too close to the 97% line; the low-lr final epoch settles at 98.02-98.14% over the seeds
# tried (11, 2024, 5, 987654321; engine/training.py's disguise).
NETWORK = Network([("Linear", (784, 128), {"init_std": 0.01, "rng": {"seed": 2024}}), ("ReLU", (), {}),
                   ("Linear", (128, 10), {"init_std": 0.01, "rng": {"seed": 2025}})],
                  "SoftmaxCrossEntropyLoss", "SGD", [(4, 0.1), (1, 0.01)], {"momentum": 0.9, "weight_decay": 0.0},
                  batch_size=100, seed=2024)

SPEC = Spec("mlp", [Part(part, f"{part}-tests", part, klass) for part, klass in CLASSES.items()], quick_probes, judge,
            training=TrainingPart(Part("training", "training-tests", "training", "training"), TRAINING_NEEDS,
                                  "mnist", NETWORK, threshold=0.97))
