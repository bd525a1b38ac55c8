"""The `training` part: the student's classes train a 784-128-10 ReLU network
in the sandbox (driver.py's own seeded loop, on the TRAIN split only), and this
trusted module measures the returned parameters on the MNIST TEST split with
its own forward pass.  The test set never enters the sandbox.

The sandbox's train split is disguised per grading seed (``permutations``): its
pixels permuted and its labels relabelled by a secret derived from the seed, and
the test split is permuted the same way for the accuracy.  An honest network
trains exactly as well; weights brought from outside the run (trained on real
MNIST, embedded in the notebook) score about chance.

Grader settings (fixed, seeded): batch 100, momentum 0.9, no weight decay,
4 epochs at lr 0.1 then 1 epoch at lr 0.01, init_std 0.01 (the contract's
default), W drawn with rng=SEED and SEED+1, data order from default_rng(SEED).
Chosen by measuring on the disguised data: 4 epochs at lr 0.1 alone ended
anywhere in 96.97-97.62% depending on the seed's permutation (lr 0.1 with
momentum 0.9 keeps the last epoch noisy), too close to the 97% line to fail
nobody honest; the low-lr final epoch settles at 97.91-98.05% over the seeds
tried (11, 2024, 5, 987654321).  A correct implementation written any other way
trains the same network, so float round-off is the only difference.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from autograder.engine.job import Job, status_of
from autograder.engine.outcome import PartVerdict

THRESHOLD = 0.97
# Cells whose classes the training run builds the network from.
NEEDS = ("linear", "relu", "softmax_ce_loss", "sgd")
SEED = 2024
# (epochs, lr) stages, each with a fresh SGD(lr, momentum): a fresh optimizer rather
# than a changed `lr` attribute, so no student's way of storing lr matters.
SETTINGS = {"seed": SEED, "hidden": 128, "schedule": [[4, 0.1], [1, 0.01]], "batch_size": 100,
            "momentum": 0.9, "weight_decay": 0.0, "init_std": [0.01, 0.01]}
EPOCHS = sum(epochs for epochs, _ in SETTINGS["schedule"])
SHAPES = {"W1": (784, 128), "b1": (128,), "W2": (128, 10), "b2": (10,)}


def cache_dir() -> Path:
    """Where the (permuted) train split is kept as .npy for sandboxes to read (read-only).
    World-readable: sandboxed code runs as another user."""
    root = Path(os.environ.get("NNKIT_GRADER_CACHE") or Path(tempfile.gettempdir()) / f"nnkit-grader-{os.getuid()}")
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    return root


@functools.lru_cache(maxsize=8)
def permutations(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The grading seed's secret (pixel permutation of the 784 inputs, relabelling of the 10 classes).

    The sandbox only ever sees train images with their pixels permuted and their labels
    relabelled; the grader tests the returned weights on test images permuted the same way
    against relabelled test labels.  A fully connected net with i.i.d. init cannot notice
    (its first layer has no notion of pixel position, its outputs none of digit names), so an
    honest submission scores the same in distribution, while weights trained outside the
    grading run (on real MNIST) score about chance.  Derived from the seed with a domain
    tag of its own, so it shares nothing with the hidden test inputs drawn from the same seed."""
    entropy = int.from_bytes(hashlib.sha256(f"nnkit mlp training permutation {int(seed)}".encode()).digest(), "big")
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    pixels, labels = rng.permutation(784), rng.permutation(10)
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def _digest(seed: int) -> str:
    """Names the shared files of one permutation; a hash of the permutation itself, not of the seed."""
    pixels, labels = permutations(seed)
    return hashlib.sha256(pixels.astype("<i8").tobytes() + labels.astype("<i8").tobytes()).hexdigest()[:20]


@functools.lru_cache(maxsize=1)
def _train_u8() -> tuple[np.ndarray, np.ndarray]:
    """The MNIST train split as uint8 images + int64 labels, in this (trusted) process only."""
    import nnkit
    x, y = nnkit.load_mnist()["train"]
    return np.rint(np.asarray(x) * 255).astype(np.uint8), np.asarray(y, dtype=np.int64)


STALE_SECONDS = 6 * 3600      # a permuted copy unused this long is removed (another seed's grading)


def _prune(root: Path, keep: Path) -> None:
    """Remove other seeds' copies unused for STALE_SECONDS (each use touches its folder):
    the cache must not grow by 43 MB per seed for ever."""
    now = time.time()
    for path in root.glob("train-*"):
        try:
            if path != keep and path.is_dir() and now - path.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def train_files(seed: int) -> tuple[Path, Path]:
    """The train split for grading seed ``seed``: pixels permuted and labels relabelled
    (see ``permutations``), written once per permutation into a folder of its own (which
    is all a sandbox is shown) and shared by every grading process: the folder is filled
    under a temporary name and renamed into place, so concurrent writers agree.  Called
    before every training run: it checks the files are there and marks them in use."""
    root = cache_dir()
    folder = root / f"train-{_digest(seed)}"
    paths = (folder / "x-u8.npy", folder / "y.npy")
    try:
        os.utime(folder)         # in use (see _prune), before a concurrent _prune can decide otherwise
    except OSError:
        pass
    if not all(p.exists() for p in paths):
        pixels, labels = permutations(seed)
        x, y = _train_u8()
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
        try:
            for path, arr in zip(paths, (np.ascontiguousarray(x[:, pixels]), labels[y])):
                np.save(tmp / path.name, arr)
                os.chmod(tmp / path.name, 0o644)
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, folder)
            except OSError:          # another process renamed its (identical) copy first
                if not all(p.exists() for p in paths):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _prune(root, folder)
    return paths


@functools.lru_cache(maxsize=1)
def test_set() -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST test split (unpermuted); ``accuracy`` permutes it per seed."""
    import nnkit
    x, y = nnkit.load_mnist(dtype=np.float64)["test"]
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def request(x_path: Path, y_path: Path) -> dict:
    return {"name": "training", "part": "training", "kind": "train_mlp",
            "needs": ["Linear", "ReLU", "SoftmaxCrossEntropyLoss", "SGD"],
            "x": str(x_path), "y": str(y_path), "settings": SETTINGS, "seed": SEED}


def accuracy(params: dict, seed: int | None) -> float:
    """The grader's own forward pass; nothing of the student's runs here.  With ``seed``,
    on the test images permuted as the sandbox's train images were, against the
    relabelled test labels; ``seed=None``: plain MNIST (for networks trained outside)."""
    x, y = test_set()
    if seed is not None:
        pixels, labels = permutations(seed)
        x, y = x[:, pixels], labels[y]
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


def judge(info: dict | None, got: dict, seed: int) -> tuple[bool, str, float | None]:
    """(passed, message, accuracy) for a network trained on grading seed ``seed``'s train files."""
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
    acc = accuracy(params, seed)
    if acc >= THRESHOLD:
        return True, f"test accuracy {acc:.2%} after {EPOCHS} epochs (needs {THRESHOLD:.0%})", acc
    return False, (f"test accuracy {acc:.2%} after {EPOCHS} epochs with the grader's settings "
                   "(it trains on its own copy of the training data); "
                   f"needs {THRESHOLD:.0%}: check Linear, ReLU, SoftmaxCrossEntropyLoss and SGD"), acc


# ------------------------------------------------------------------ the part
_TRAINED: dict = {}


def part(ctx, charged: dict, grade_id: str, points: float) -> PartVerdict:
    """The training part, after the quick probes (``charged``: cells that hung or crashed there)."""
    verdict = PartVerdict("training", grade_id, 0.0, points, "failed")
    stuck = [p for p in NEEDS if charged.get(p, ("",))[0] == "timeout"]
    if not ctx.train:
        ctx.flags.append("training-skipped")
        verdict.status, verdict.messages = "missing", ["training was not run (train=False)"]
    elif stuck:    # it would only hang again, for the whole training time limit
        verdict.status, verdict.messages = "timeout", [f"training needs your {', '.join(stuck)} code, "
                                                       "which took too long"]
    else:
        verdict = _train_cached(ctx.root, ctx.ex, ctx.limits["train"], ctx.seed, verdict, ctx.flags)
    return verdict


def _train_cached(root: Path, ex, limits, seed: int, verdict: PartVerdict, flags: list) -> PartVerdict:
    """Training depends only on the four cells it uses (the setup and the settings are
    the grader's) and on the grading seed (its secret permutation of the data, see
    permutations), so identical code is trained once per process and seed."""
    key = hashlib.sha256(json.dumps([ex.setup, SETTINGS, int(seed), verdict.max_score,
                                     *(ex.cells.get(p) for p in NEEDS)]).encode()).hexdigest()
    if key not in _TRAINED:
        _judge_training(verdict, *_train(root, ex, limits, seed, flags), seed)
        if verdict.status not in ("timeout", "memory", "crashed"):   # those may depend on the machine's load
            _TRAINED[key] = verdict
        return verdict
    return dataclasses.replace(_TRAINED[key], messages=list(_TRAINED[key].messages))


def _train(root: Path, ex, limits, seed: int, flags: list) -> tuple[dict | None, dict, tuple | None]:
    need = [p for p in NEEDS if p not in ex.cells]
    if need:
        return None, {}, ("missing", f"training needs your {', '.join(need)} cell(s)")
    x_path, y_path = train_files(seed)     # the sandbox sees only this seed's folder
    cells = [c for c in ex.program() if c["id"] in ("setup", *NEEDS)]
    job = Job(root, "train", cells, [request(x_path, y_path)], x_path.parent)
    result = job.run(limits)
    got = job.outputs()
    if job.redacted and "redacted-output" not in flags:
        flags.append("redacted-output")
    if "training" in got:
        return got["training"][0], got["training"][1], None
    status, what = status_of(result)
    if status == "timeout":
        return None, {}, (status, f"training did not finish within {limits.cpu_seconds:.0f} s of CPU time: "
                                  "is your code very slow (Python loops over samples)?")
    return None, {}, (status, f"training {what}")


def _judge_training(verdict: PartVerdict, info, got, failure, seed: int) -> None:
    if failure:
        verdict.status, verdict.messages = failure[0], [failure[1]]
        return
    passed, message, _ = judge(info, got, seed)
    verdict.messages = [message]
    if passed:
        verdict.score, verdict.status = verdict.max_score, "passed"
    elif info is not None and info.get("status") != "ok":
        verdict.status = "error"
