"""What `nnkit.train` adds to an epoch over a bare loop of forward/backward/step.

Both train the notebook's network (reference classes, 784-128-10, SGD momentum
0.9 and weight decay 1e-4, batch 100) on the 55,000 training images.  The bare
loop does only the work: gather a batch, forward, loss, backward, step.
`nnkit.train` does the same plus the progress bar (written to a buffer, as a
notebook widget would be), the training loss and accuracy of every epoch, and,
when it is given validation data, the validation pass over 5,000 images that
fills the history.  That pass is work the caller asks for (5,000 forward passes,
about 5% of an epoch's arithmetic), not the loop's overhead: `nnkit.train` with
validation is compared with the bare loop followed by the same pass
(`nnkit.evaluate`), and without validation with the bare loop alone.  The four
take turns run by run; the seconds per epoch (wall clock, and the process's CPU
time, which moves less with the load) are medians over the runs, and a ratio is
the median of the runs' own ratios, each between two loops that ran seconds
apart: this machine's speed drifts by a fifth over an afternoon, and a ratio of
medians taken from different minutes carries that drift.
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
RUNS = 7
BATCH = 100


def _network():
    ref = reference_namespace("mlp")
    model = nnkit.Sequential(ref["Linear"](784, 128, init_std=0.05, rng=0), ref["ReLU"](),
                             ref["Linear"](128, 10, init_std=0.1, rng=1))
    return model, ref["SoftmaxCrossEntropyLoss"](), ref["SGD"](0.1, momentum=0.9, weight_decay=1e-4)


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _per_epoch(start: tuple[float, float]) -> tuple[float, float]:
    return tuple((now - then) / EPOCHS for now, then in zip(_clocks(), start))


def bare(x, y, validation=None) -> tuple[float, float]:
    model, loss, opt = _network()
    rng = np.random.default_rng(0)
    start = _clocks()
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for s in range(0, len(x), BATCH):
            idx = order[s:s + BATCH]
            loss.forward(model.forward(x[idx]), y[idx])
            model.backward(loss.backward())
            opt.step(model)
        if validation is not None:
            nnkit.evaluate(model, loss, *validation)
    return _per_epoch(start)


def with_train(x, y, validation) -> tuple[float, float]:
    model, loss, opt = _network()
    start = _clocks()
    with contextlib.redirect_stderr(io.StringIO()):
        nnkit.train(model, loss, opt, (x, y), validation, epochs=EPOCHS, batch_size=BATCH, seed=0,
                    verbose=True)
    return _per_epoch(start)


def run() -> list[dict]:
    data = nnkit.load_mnist()
    x, y = data["train"]
    load_before = machine.load()
    runs = {"bare": lambda: bare(x, y), "bare + validation": lambda: bare(x, y, data["validation"]),
            "train": lambda: with_train(x, y, data["validation"]),
            "train, no validation": lambda: with_train(x, y, None)}
    times: dict[str, list[tuple[float, float]]] = {key: [] for key in runs}
    for _ in range(RUNS):
        for key, one in runs.items():
            times[key].append(one())
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    load = f"{load_before} -> {machine.load()}"
    what = {"bare": "bare loop epoch (forward/backward/step)",
            "bare + validation": "bare loop epoch + the validation pass (nnkit.evaluate, 5,000 images)",
            "train": "nnkit.train epoch, progress bar + history + validation, against bare + validation",
            "train, no validation": "nnkit.train epoch, progress bar + history, no validation, against bare"}
    against = {"train": "bare + validation", "train, no validation": "bare"}
    rows = []
    for key, label in what.items():
        row = {"what": label, "seconds": round(wall[key], 3), "cpu seconds": round(cpu[key], 3), "load": load}
        if key in against:
            pairs = list(zip(times[key], times[against[key]]))
            row.update(ratio=round(statistics.median(w / b for (w, _), (b, _) in pairs), 3),
                       **{"cpu ratio": round(statistics.median(c / d for (_, c), (_, d) in pairs), 3)})
        if key == "train":
            row["goal"] = "ratio <= 1.05"
        rows.append(row)
    return rows
