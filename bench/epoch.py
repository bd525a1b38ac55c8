"""Seconds per training epoch of the reference MLP, and of the same network in PyTorch.

Both sides train 784-128-10 (ReLU, softmax cross-entropy, plain SGD, batch 100)
on the 55,000 MNIST training images, with the same number of threads, and the
figure reported is the median of a few epochs after a warm-up.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np

import nnkit
from autograder.engine.reference import reference_namespace

EPOCHS = 3
BATCH = 100
LR = 0.1


def numpy_epoch_seconds(x, y, dtype) -> list[float]:
    ref = reference_namespace("mlp")
    model = nnkit.Sequential(ref["Linear"](784, 128, rng=0), ref["ReLU"](), ref["Linear"](128, 10, rng=1))
    for _, module, name in model.parameters():
        module.set_param(name, getattr(module, name).astype(dtype))
    loss, opt = ref["SoftmaxCrossEntropyLoss"](), ref["SGD"](LR)
    x = x.astype(dtype)
    order = np.random.default_rng(0)
    times = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        for idx in np.array_split(order.permutation(len(x)), len(x) // BATCH):
            loss.forward(model.forward(x[idx]), y[idx])
            model.backward(loss.backward())
            opt.step(model)
        times.append(time.perf_counter() - start)
    return times


def torch_epoch_seconds(x, y, dtype) -> list[float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).to(tdtype)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y)
    order = np.random.default_rng(0)
    times = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        for idx in np.array_split(order.permutation(len(x)), len(x) // BATCH):
            idx = torch.from_numpy(idx)
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times


def run() -> list[dict]:
    x, y = nnkit.load_mnist()["train"]
    threads = os.cpu_count()
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass
    rows = []
    for dtype in (np.float32, np.float64):
        ours = statistics.median(numpy_epoch_seconds(x, y, dtype)[1:])
        theirs = torch_epoch_seconds(x, y, dtype)
        theirs = statistics.median(theirs[1:]) if theirs else None
        rows.append({
            "what": f"MLP epoch, {np.dtype(dtype).name}",
            "reference (s)": round(ours, 3),
            "pytorch (s)": None if theirs is None else round(theirs, 3),
            "ratio": None if theirs is None else round(ours / theirs, 2),
            "goal": "ratio <= 0.75",
        })
    return rows
