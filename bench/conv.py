"""The cnn reference's convolution and pooling, and its CNN's epoch, next to the loops and PyTorch.

Rows:
  conv + pool     Conv2d(1, 30, 5) then MaxPool2d(2), forward and backward, on a batch of 100 MNIST
                  images: the reference's fast layers, its Conv2dNaive loops (timed on BATCH_NAIVE
                  images and scaled to 100: the loops are linear in the batch) and PyTorch's
                  conv2d + max_pool2d.  Median of REPEATS after one warm-up.
  CNN epoch       the notebook's network (conv 8 5×5 pad 2, pool, conv 16 5×5, pool, 400-100-10,
                  SGD momentum 0.9, batch 100) against the same network in PyTorch, the sides taking
                  turns batch slice by batch slice so a change in the machine's load hits both alike;
                  measured on EPOCH_IMAGES images and scaled to the 55,000 of an epoch.
Both sides use their default threads and float32 images; the reference's weights stay float64,
as the notebook's do.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import nnkit
from autograder.engine.carry import in_this_process
from autograder.engine.reference import reference_namespace, source_notebook

BATCH, BATCH_NAIVE, REPEATS = 100, 5, 5
EPOCH_IMAGES, TRAIN_IMAGES = 10_000, 55_000


def reference() -> dict:
    """The cnn source's classes, with the mlp reference classes it carries."""
    with in_this_process(source_notebook("cnn")):
        return reference_namespace("cnn")


def _median_seconds(step, repeats: int = REPEATS) -> float:
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _numpy_conv_pool(ns: dict, conv_class: str, x: np.ndarray):
    conv, pool = ns[conv_class](1, 30, 5, rng=0), ns["MaxPool2d"](2)

    def step():
        y = pool.forward(conv.forward(x))
        conv.backward(pool.backward(np.ones_like(y)))
    return step


def _torch_conv_pool(x: np.ndarray):
    import torch
    xt = torch.from_numpy(x).requires_grad_(False)
    conv = torch.nn.Conv2d(1, 30, 5)

    def step():
        conv.zero_grad(set_to_none=True)
        torch.nn.functional.max_pool2d(conv(xt), 2).sum().backward()
    return step


def _have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def conv_pool_rows(x: np.ndarray, ns: dict) -> list[dict]:
    fast = _median_seconds(_numpy_conv_pool(ns, "Conv2d", x[:BATCH]))
    naive = _median_seconds(_numpy_conv_pool(ns, "Conv2dNaive", x[:BATCH_NAIVE]), repeats=1) * BATCH / BATCH_NAIVE
    rows = [{"what": "conv(1→30, 5×5) + max-pool 2, fwd+bwd, batch 100", "side": "reference (fast)",
             "ms": round(fast * 1e3, 2), "vs fast": "1.00x"},
            {"what": "", "side": f"Conv2dNaive loops (batch {BATCH_NAIVE}, x{BATCH // BATCH_NAIVE})",
             "ms": round(naive * 1e3, 1), "vs fast": f"{naive / fast:.0f}x"}]
    if _have_torch():
        torch_s = _median_seconds(_torch_conv_pool(x[:BATCH]))
        rows.append({"what": "", "side": "PyTorch CPU", "ms": round(torch_s * 1e3, 2),
                     "vs fast": f"{torch_s / fast:.2f}x"})
    return rows


def _numpy_cnn(ns: dict):
    nnkit.seed(0)
    net = nnkit.Sequential(ns["Conv2d"](1, 8, 5, padding=2), ns["ReLU"](), ns["MaxPool2d"](2),
                           ns["Conv2d"](8, 16, 5), ns["ReLU"](), ns["MaxPool2d"](2), ns["Flatten"](),
                           ns["Linear"](400, 100, init_std=0.07), ns["ReLU"](), ns["Linear"](100, 10, init_std=0.1))
    loss, opt = ns["SoftmaxCrossEntropyLoss"](), ns["SGD"](0.05, momentum=0.9)

    def batch(xb, yb):
        loss.forward(net.forward(xb), yb)
        net.backward(loss.backward())
        opt.step(net)
    return batch


def _torch_cnn():
    import torch
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 5), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 100), nn.ReLU(), nn.Linear(100, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def batch(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss_fn(net(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
        opt.step()
    return batch


def epoch_rows(x: np.ndarray, y: np.ndarray, ns: dict, images: int = EPOCH_IMAGES) -> list[dict]:
    sides = {"reference CNN": _numpy_cnn(ns)}
    if _have_torch():
        sides["PyTorch CPU"] = _torch_cnn()
    seconds = dict.fromkeys(sides, 0.0)
    slices = np.array_split(np.arange(images), 10)
    for part, idx in enumerate(slices):         # slice 0 is a warm-up for both sides
        for name, batch in sides.items():
            start = time.perf_counter()
            for b in np.array_split(idx, max(1, len(idx) // BATCH)):
                batch(x[b], y[b])
            if part:
                seconds[name] += time.perf_counter() - start
    per_epoch = {name: s * TRAIN_IMAGES / (images - len(slices[0])) for name, s in seconds.items()}
    base = per_epoch["reference CNN"]
    return [{"what": "CNN epoch (55,000 images, batch 100)" if i == 0 else "", "side": name,
             "s/epoch": round(s, 1), "vs reference": f"{s / base:.2f}x"} for i, (name, s) in enumerate(per_epoch.items())]


def run() -> list[dict]:
    ns = reference()
    x, y = nnkit.load_mnist(dtype=np.float32)["train"]
    x = x.reshape(-1, 1, 28, 28)
    return conv_pool_rows(x, ns) + epoch_rows(x, y, ns)
