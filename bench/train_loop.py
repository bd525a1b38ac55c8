"""What `nnkit.train` adds to an epoch over a bare loop of forward/backward/step.

Both train the notebook's network (reference classes, 784-128-10, SGD momentum
0.9 and weight decay 1e-4, batch 100) on the 55,000 training images.  The bare
loop does only the work: gather a batch, forward, loss, backward, step.
`nnkit.train` does the same plus the progress bar (written to a buffer, as a
notebook widget would be), the training loss and accuracy of every epoch, and
the validation pass over 5,000 images that fills the history.  The two take
turns, and each figure is the median seconds per epoch over the runs.
"""
from __future__ import annotations

import contextlib
import io
import statistics
import time

import numpy as np

import nnkit
from autograder.engine.reference import reference_namespace
from bench import machine

EPOCHS = 2      # per run; runs alternate
RUNS = 3
BATCH = 100


def _network():
    ref = reference_namespace("mlp")
    model = nnkit.Sequential(ref["Linear"](784, 128, init_std=0.05, rng=0), ref["ReLU"](),
                             ref["Linear"](128, 10, init_std=0.1, rng=1))
    return model, ref["SoftmaxCrossEntropyLoss"](), ref["SGD"](0.1, momentum=0.9, weight_decay=1e-4)


def bare(x, y) -> float:
    model, loss, opt = _network()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for s in range(0, len(x), BATCH):
            idx = order[s:s + BATCH]
            loss.forward(model.forward(x[idx]), y[idx])
            model.backward(loss.backward())
            opt.step(model)
    return (time.perf_counter() - start) / EPOCHS


def with_train(x, y, validation) -> float:
    model, loss, opt = _network()
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        nnkit.train(model, loss, opt, (x, y), validation, epochs=EPOCHS, batch_size=BATCH, seed=0,
                    verbose=True)
    return (time.perf_counter() - start) / EPOCHS


def run() -> list[dict]:
    data = nnkit.load_mnist()
    x, y = data["train"]
    load_before = machine.load()
    times: dict[str, list[float]] = {"bare": [], "train": [], "train, no validation": []}
    for _ in range(RUNS):
        times["bare"].append(bare(x, y))
        times["train"].append(with_train(x, y, data["validation"]))
        times["train, no validation"].append(with_train(x, y, None))
    median = {k: statistics.median(v) for k, v in times.items()}
    load = f"{load_before} -> {machine.load()}"
    return [
        {"what": "bare loop epoch (forward/backward/step)", "seconds": round(median["bare"], 3), "load": load},
        {"what": "nnkit.train epoch, progress bar + history + validation", "seconds": round(median["train"], 3),
         "ratio": round(median["train"] / median["bare"], 3), "goal": "ratio <= 1.05", "load": load},
        {"what": "nnkit.train epoch, progress bar + history, no validation",
         "seconds": round(median["train, no validation"], 3),
         "ratio": round(median["train, no validation"] / median["bare"], 3), "load": load},
    ]
