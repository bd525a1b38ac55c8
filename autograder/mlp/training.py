"""The `training` part: the student's classes train a 784-128-10 ReLU network
in the sandbox (driver.py's own seeded loop, on the TRAIN split only), and this
trusted module measures the returned parameters on the MNIST TEST split with
its own forward pass.  The test set never enters the sandbox.

Grader settings (fixed, seeded): batch 100, SGD lr 0.1, momentum 0.9, no
weight decay, 4 epochs, init_std 0.01 (the contract's default), W drawn with
rng=SEED and SEED+1, data order from default_rng(SEED).  Chosen by measuring
(see the report in tests/test_mlp_corpus.py): the reference reaches 97.7% with
them in ~10 s on one core; weight decay 1e-4 or other learning rates gave
97.3-97.5%, too close to the threshold.  A correct implementation written any
other way trains the same network, so float round-off is the only difference.
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import numpy as np

THRESHOLD = 0.97
SEED = 2024
SETTINGS = {"seed": SEED, "hidden": 128, "epochs": 4, "batch_size": 100, "lr": 0.1,
            "momentum": 0.9, "weight_decay": 0.0, "init_std": [0.01, 0.01]}
SHAPES = {"W1": (784, 128), "b1": (128,), "W2": (128, 10), "b2": (10,)}


def cache_dir() -> Path:
    """Where the train split is kept as .npy for sandboxes to read (read-only).
    World-readable: sandboxed code runs as another user."""
    root = Path(os.environ.get("NNKIT_GRADER_CACHE") or Path(tempfile.gettempdir()) / f"nnkit-grader-{os.getuid()}")
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    return root


@functools.lru_cache(maxsize=1)
def train_files() -> tuple[Path, Path]:
    """The MNIST train split as uint8 images + int64 labels, written once and
    shared by every grading process (atomic rename: concurrent writers agree)."""
    root = cache_dir()
    paths = (root / "mnist-train-x-u8.npy", root / "mnist-train-y.npy")
    if not all(p.exists() for p in paths):
        import nnkit
        x, y = nnkit.load_mnist()["train"]
        for path, arr in zip(paths, (np.rint(np.asarray(x) * 255).astype(np.uint8), np.asarray(y, dtype=np.int64))):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
            np.save(tmp, arr)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    return paths


@functools.lru_cache(maxsize=1)
def test_set() -> tuple[np.ndarray, np.ndarray]:
    import nnkit
    x, y = nnkit.load_mnist(dtype=np.float64)["test"]
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def request(x_path: Path, y_path: Path) -> dict:
    return {"name": "training", "part": "training", "kind": "train_mlp",
            "needs": ["Linear", "ReLU", "SoftmaxCrossEntropyLoss", "SGD"],
            "x": str(x_path), "y": str(y_path), "settings": SETTINGS, "seed": SEED}


def accuracy(params: dict) -> float:
    """The grader's own forward pass; nothing of the student's runs here."""
    x, y = test_set()
    h = np.maximum(0.0, x @ params["W1"] + params["b1"])
    return float(((h @ params["W2"] + params["b2"]).argmax(axis=1) == y).mean())


def _oriented(name: str, arr: np.ndarray | None) -> np.ndarray | None:
    """Accept W stored as (out, in): its layout is the linear part's business."""
    if arr is None:
        return None
    if arr.shape == SHAPES[name]:
        return arr
    if arr.shape == SHAPES[name][::-1]:
        return arr.T
    if arr.size == np.prod(SHAPES[name]) and name.startswith("b"):
        return arr.reshape(SHAPES[name])
    return None


def judge(info: dict | None, got: dict) -> tuple[bool, str, float | None]:
    """(passed, message, accuracy)."""
    if info is None:
        return False, "training did not run", None
    if info.get("status") != "ok":
        return False, f"training with your classes stopped at {info.get('stage')}: {info.get('error')}", None
    if info.get("diverged"):
        return False, (f"training diverged (the loss became nan or inf in epoch {info['diverged']}): "
                       "check Linear, ReLU, SoftmaxCrossEntropyLoss and SGD"), None
    params = {k: _oriented(k, got.get(k)) for k in SHAPES}
    if any(v is None for v in params.values()):
        return False, "after training, the Linear layers' W and b do not have the shapes (in, out) and (out,)", None
    if not all(np.isfinite(v).all() for v in params.values()):
        return False, "after training, the parameters contain nan or inf", None
    acc = accuracy(params)
    if acc >= THRESHOLD:
        return True, f"test accuracy {acc:.2%} after {SETTINGS['epochs']} epochs (needs {THRESHOLD:.0%})", acc
    return False, (f"test accuracy {acc:.2%} after {SETTINGS['epochs']} epochs with the grader's settings; "
                   f"needs {THRESHOLD:.0%}: check Linear, ReLU, SoftmaxCrossEntropyLoss and SGD"), acc
