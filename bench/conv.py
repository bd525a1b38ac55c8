"""The cnn reference's convolution and pooling, and its CNN's epoch, next to the loops and PyTorch.

Rows:
  conv + pool     Conv2d(1, 30, 5) then MaxPool2d(2), forward and backward, on a batch of 100 MNIST
                  images: the reference's fast layers, its Conv2dNaive loops (timed on BATCH_NAIVE
                  images and scaled to 100: the loops are linear in the batch) and PyTorch's
                  conv2d + max_pool2d, the fast side and PyTorch taking turns (median of 4 x REPEATS
                  after one warm-up).  The convolution is a first layer: told, as `Sequential`
                  tells it, that no input gradient is needed (PyTorch's images need none either).
  CNN epoch       the notebook's network (conv 8 5×5 pad 2, pool, ReLU, conv 16 5×5, pool, ReLU, 400-100-10,
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
from bench import machine

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
    conv.needs_input_grad = False       # what Sequential tells its first layer

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


def _turns(steps: dict, repeats: int = REPEATS) -> dict[str, float]:
    """Median seconds of each step, the steps taking turns so a change in load hits them alike."""
    for step in steps.values():
        step()                                  # warm-up
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def conv_pool_rows(x: np.ndarray, ns: dict) -> list[dict]:
    load_before = machine.load()
    naive = _median_seconds(_numpy_conv_pool(ns, "Conv2dNaive", x[:BATCH_NAIVE]), repeats=1) * BATCH / BATCH_NAIVE
    steps = {"fast": _numpy_conv_pool(ns, "Conv2d", x[:BATCH])}
    if _have_torch():
        steps["torch"] = _torch_conv_pool(x[:BATCH])
    seconds = _turns(steps, repeats=4 * REPEATS)
    fast = seconds["fast"]
    load = f"{load_before} -> {machine.load()}"
    rows = [{"what": "conv(1→30, 5×5) + max-pool 2, fwd+bwd, batch 100", "side": "reference (fast)",
             "ms": round(fast * 1e3, 2), "vs fast": "1.00x", "load": load},
            {"what": "", "side": f"Conv2dNaive loops (batch {BATCH_NAIVE}, x{BATCH // BATCH_NAIVE})",
             "ms": round(naive * 1e3, 1), "vs fast": f"{naive / fast:.0f}x", "goal": "vs fast >= 200x"}]
    if "torch" in seconds:
        rows.append({"what": "", "side": "PyTorch CPU", "ms": round(seconds["torch"] * 1e3, 2),
                     "vs fast": f"{seconds['torch'] / fast:.2f}x",
                     "ratio": round(fast / seconds["torch"], 2), "goal": "ratio <= 1.5"})
        rows += _one_thread_rows(steps)
    return rows


def _one_thread_rows(steps: dict) -> list[dict]:
    """The same two steps with one thread each: on a loaded machine two threads mostly wait for each
    other (PyTorch's more than OpenBLAS's), one thread each compares the code rather than the load."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            seconds = _turns(steps, repeats=4 * REPEATS)
    finally:
        torch.set_num_threads(threads)
    return [{"what": "the same, 1 thread each", "side": "reference (fast)", "ms": round(seconds["fast"] * 1e3, 2)},
            {"what": "", "side": "PyTorch CPU", "ms": round(seconds["torch"] * 1e3, 2),
             "ratio": round(seconds["fast"] / seconds["torch"], 2)}]


def _numpy_cnn(ns: dict):
    nnkit.seed(0)
    # max-pool before ReLU, as the notebook: the same function, and the ReLU sees 4x fewer values
    net = nnkit.Sequential(ns["Conv2d"](1, 8, 5, padding=2), ns["MaxPool2d"](2), ns["ReLU"](),
                           ns["Conv2d"](8, 16, 5), ns["MaxPool2d"](2), ns["ReLU"](), ns["Flatten"](),
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
    net = nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(8, 16, 5),
                        nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(400, 100), nn.ReLU(), nn.Linear(100, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def batch(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss_fn(net(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
        opt.step()
    return batch


def epoch_rows(x: np.ndarray, y: np.ndarray, ns: dict, images: int = EPOCH_IMAGES) -> list[dict]:
    load_before = machine.load()
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
    rows = [{"what": "CNN epoch (55,000 images, batch 100)" if i == 0 else "", "side": name,
             "s/epoch": round(s, 1), "vs reference": f"{s / base:.2f}x"}
            for i, (name, s) in enumerate(per_epoch.items())]
    rows[0]["load"] = f"{load_before} -> {machine.load()}"
    if "PyTorch CPU" in per_epoch:
        rows[-1].update(ratio=round(base / per_epoch["PyTorch CPU"], 2), goal="ratio <= 1.5")
    return rows


def run() -> list[dict]:
    ns = reference()
    x, y = nnkit.load_mnist(dtype=np.float32)["train"]
    x = x.reshape(-1, 1, 28, 28)
    return conv_pool_rows(x, ns) + epoch_rows(x, y, ns)
