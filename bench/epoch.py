"""Seconds per training epoch of the reference MLP, and of the same network in PyTorch.

Both sides train 784-128-10 (ReLU, softmax cross-entropy, batch 100) on the
55,000 MNIST training images with their default threads.  The sides take turns
epoch by epoch, so a change in the machine's load hits both alike, and each
figure is the median of the epochs after one warm-up.

Variants:
  reference       the solution cells of source/mlp in an `nnkit.Sequential`, which
                  tells the first Linear that its input gradient is not needed
                  (as PyTorch skips it for inputs that do not require a gradient);
  input grad      the same with `Sequential(..., input_grad=True)`: the first
                  Linear also computes dL/dx, as every layer did before that
                  contract; the row says what the contract gains.

`profile()` splits one reference epoch into its calls (forward and backward of
each layer, the loss, the optimizer step, the batch gather).
"""
from __future__ import annotations

import statistics
import time
from collections import Counter

import numpy as np

import nnkit
from autograder.engine.reference import reference_namespace
from bench import machine

EPOCHS = 3          # the first is a warm-up
BATCH = 100
LR = 0.1
OPTIMIZERS = {      # name -> SGD keyword arguments, the same on both sides
    "SGD": {},
    "SGD momentum 0.9, weight decay 1e-4 (the notebook's)": {"momentum": 0.9, "weight_decay": 1e-4},
}


def _reference(dtype, sgd: dict, input_grad: bool = False):
    ref = reference_namespace("mlp")
    model = nnkit.Sequential(ref["Linear"](784, 128, rng=0), ref["ReLU"](), ref["Linear"](128, 10, rng=1),
                             input_grad=input_grad)
    for _, module, name in model.parameters():
        module.set_param(name, getattr(module, name).astype(dtype))
    return model, ref["SoftmaxCrossEntropyLoss"](), ref["SGD"](LR, **sgd)


def _numpy_epochs(x, y, dtype, sgd, input_grad=False):
    """A generator: each next() trains one epoch and yields its seconds."""
    model, loss, opt = _reference(dtype, sgd, input_grad)
    x = x.astype(dtype)
    order = np.random.default_rng(0)
    while True:
        start = time.perf_counter()
        for idx in np.array_split(order.permutation(len(x)), len(x) // BATCH):
            loss.forward(model.forward(x[idx]), y[idx])
            model.backward(loss.backward())
            opt.step(model)
        yield time.perf_counter() - start


def _torch_epochs(x, y, dtype, sgd):
    import torch

    torch.manual_seed(0)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).to(tdtype)
    opt = torch.optim.SGD(model.parameters(), lr=LR, **sgd)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y)
    order = np.random.default_rng(0)
    while True:
        start = time.perf_counter()
        for idx in np.array_split(order.permutation(len(x)), len(x) // BATCH):
            idx = torch.from_numpy(idx)
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        yield time.perf_counter() - start


def _have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _interleaved(runners: dict) -> dict[str, float]:
    """Median seconds per epoch of each runner, taking turns epoch by epoch."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(EPOCHS):
        for name, run in runners.items():
            times[name].append(next(run))
    return {name: statistics.median(t[1:]) for name, t in times.items()}


def compare(x, y, dtype, optimizer: str, variants: bool) -> list[dict]:
    sgd = OPTIMIZERS[optimizer]
    runners = {"reference": _numpy_epochs(x, y, dtype, sgd)}
    if variants:
        runners["input grad"] = _numpy_epochs(x, y, dtype, sgd, input_grad=True)
    if _have_torch():
        runners["pytorch"] = _torch_epochs(x, y, dtype, sgd)
    load_before = machine.load()
    seconds = _interleaved(runners)
    theirs = seconds.get("pytorch")
    goal = {np.float32: 0.75, np.float64: 0.9}[dtype]
    rows = []
    for name in ("reference", "input grad"):
        if name not in seconds:
            continue
        ours = seconds[name]
        label = "" if name == "reference" else ", first layer computing its input gradient (before the contract)"
        rows.append({
            "what": f"MLP epoch, {np.dtype(dtype).name}, {optimizer}{label}",
            "seconds": round(ours, 3),
            "pytorch (s)": None if theirs is None else round(theirs, 3),
            "ratio": None if theirs is None else round(ours / theirs, 2),
            "goal": f"ratio <= {goal}" if name == "reference" else None,
            "load": f"{load_before} -> {machine.load()}",
        })
    return rows


def profile(x, y, dtype) -> list[dict]:
    """One reference epoch split into its calls, plain SGD."""
    model, loss, opt = _reference(dtype, {})
    model.layers[0].needs_input_grad = False    # as Sequential.backward tells it; the layers are called one by one here
    x = x.astype(dtype)
    names = [f"{type(m).__name__} {getattr(m, 'W', np.zeros((0, 0))).shape}".replace(" (0, 0)", "")
             for m in model.layers]
    spent: Counter = Counter()
    clock = time.perf_counter
    for _ in range(2):          # the first epoch warms up; the second is kept
        spent.clear()
        epoch_start = clock()
        for idx in np.array_split(np.random.default_rng(0).permutation(len(x)), len(x) // BATCH):
            t = clock()
            out, yb = x[idx], y[idx]
            spent["batch gather x[idx]"] += clock() - t
            for name, layer in zip(names, model.layers):
                t = clock()
                out = layer.forward(out)
                spent[f"{name} forward"] += clock() - t
            t = clock()
            loss.forward(out, yb)
            grad = loss.backward()
            spent["loss forward+backward"] += clock() - t
            for name, layer in zip(names[::-1], model.layers[::-1]):
                t = clock()
                grad = layer.backward(grad)
                spent[f"{name} backward"] += clock() - t
            t = clock()
            opt.step(model)
            spent["SGD step"] += clock() - t
        total = clock() - epoch_start
    spent["loop and timing overhead"] = total - sum(spent.values())
    load = machine.load()
    return [{"what": f"  profile {np.dtype(dtype).name}: {part}", "seconds": round(s, 3),
             "share": f"{s / total:.0%}", "load": load}
            for part, s in sorted(spent.items(), key=lambda kv: -kv[1])]


def _progress(rows: list[dict]) -> list[dict]:
    """One line per figure as soon as it is measured: a slow machine shows it is alive."""
    for row in rows:
        print(f"  {row['what'].strip()}: {row['seconds']} s"
              + (f", ratio {row['ratio']}" if row.get("ratio") is not None else ""), flush=True)
    return rows


def run() -> list[dict]:
    x, y = nnkit.load_mnist()["train"]
    rows = []
    for dtype in (np.float32, np.float64):
        for i, optimizer in enumerate(OPTIMIZERS):
            rows += _progress(compare(x, y, dtype, optimizer, variants=(i == 0)))
    for dtype in (np.float32, np.float64):
        rows += profile(x, y, dtype)
    return rows
