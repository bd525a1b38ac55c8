"""Training as a graded part, for any assignment and any architecture.

The spec names a network (``Network``: layers built from the student's classes,
a loss, an optimizer and its schedule), a data set and a threshold.  The
sandboxed driver trains that network with the student's classes on the TRAIN
split only and reports the parameters; this trusted module rebuilds the same
network from the SOURCE notebook's own classes, loads those parameters into it
and measures accuracy with the source's own forward pass on the TEST split,
which never enters the sandbox.

Embedded pretrained weights are defeated by a per-seed disguise of the data
(``disguise``): the images are flipped top-bottom and/or left-right and/or
transposed (one of the 8 symmetries of the square) and the classes are
relabelled by a secret permutation, the train split in the sandbox and the test
split here alike.  Each symmetry of the square is a permutation of the pixels,
so a fully connected net with i.i.d. init trains exactly as well (in
distribution) as on plain data, and a convolutional net learns a mirrored or
transposed digit as well as the plain one; weights trained outside the grading
run answer in the wrong class names (about chance).  Intensity inversion is
deliberately not used: x -> 1 - x is affine, not a permutation, and changes how
a fully connected net trains at a fixed learning rate.  Code that tries all 8
symmetries against pretrained weights inside the run could still recover the
relabelling: an adaptive attack left to the static scan and the review flags
(THREAT_MODEL.md).  A table of features (iris) is disguised the same way by a secret
permutation of its columns, which a fully connected net also learns as well as the plain
table.

A spec may declare several training parts (``Spec.training``: one or a list); each is its
own sandboxed run, judged on its own data set and threshold.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from autograder.engine.carry import in_this_process


@dataclass(frozen=True)
class Dataset:
    loader: str                       # an nnkit loader
    image: tuple | None               # (H, W) of one row of x; None: a table of features
    classes: int
    options: tuple = ()               # the loader's keyword arguments, as (name, value) pairs


# iris: all 120 flowers not in nnkit's stratified 30-flower test split train (no validation part)
DATASETS = {"mnist": Dataset("load_mnist", (28, 28), 10), "digits": Dataset("load_digits", (8, 8), 10),
            "iris": Dataset("load_iris", None, 3, (("seed", 1), ("validation", 0.0), ("test", 0.2)))}
STALE_SECONDS = 6 * 3600      # a disguised copy unused this long is removed (another seed's grading)


@dataclass
class Network:
    """What the driver builds from the student's classes and how it trains it.
    Layer entries: (class name, args, kwargs); an ``rng`` kwarg ``{"seed": s}`` passes the int s."""
    layers: list
    loss: str
    optimizer: str
    schedule: list                   # [(epochs, lr)]: a fresh optimizer(lr, **optimizer_kwargs) per stage
    optimizer_kwargs: dict = field(default_factory=dict)
    batch_size: int = 100
    seed: int = 0
    input_shape: tuple = ()          # one sample as the first layer takes it; () = a flat row
    samples: int | None = None       # train on the first ``samples`` of the train split (a short run); None: all
    # The parameters cast to this dtype once built (None: as the class made them; the images are float32
    # either way).  "float32" halves the time of the matrix products, and a class must work in float32 anyway.
    dtype: str | None = None

    @property
    def classes(self) -> list[str]:
        return list(dict.fromkeys([name for name, *_ in self.layers] + [self.loss, self.optimizer]))

    @property
    def epochs(self) -> int:
        return sum(e for e, _ in self.schedule)


@dataclass
class TrainingPart:
    part: object                     # autograder.engine.grade.Part
    needs: tuple                     # solution cells the classes come from
    data: str                        # a key of DATASETS
    network: Network
    threshold: float

    @property
    def settings(self) -> dict:
        return {"data": self.data, "network": asdict(self.network), "threshold": self.threshold}


# ------------------------------------------------------------------ the disguise
@functools.lru_cache(maxsize=8)
def disguise(seed: int, data: str) -> tuple[tuple, np.ndarray]:
    """Grading seed ``seed``'s secret: for images (flip rows, flip columns, transpose), for a
    table an order of its columns; and a relabelling of the classes.  Derived with a domain tag
    of its own, so it shares nothing with the hidden test inputs drawn from the same seed."""
    entropy = int.from_bytes(hashlib.sha256(f"nnkit training disguise {data} {int(seed)}".encode()).digest(), "big")
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    spec = DATASETS[data]
    if spec.image is None:
        arrangement = tuple(int(i) for i in rng.permutation(len(split(data, "train")[0][0])))
    else:
        arrangement = tuple(bool(b) for b in rng.integers(0, 2, size=3))
    labels = rng.permutation(spec.classes)
    labels.setflags(write=False)
    return arrangement, labels


def apply(x: np.ndarray, y: np.ndarray, seed: int | None, data: str) -> tuple[np.ndarray, np.ndarray]:
    """x (N, H*W) and y as seed ``seed`` disguises them; ``seed=None``: unchanged."""
    if seed is None:
        return x, y
    arrangement, labels = disguise(seed, data)
    if DATASETS[data].image is None:
        return np.ascontiguousarray(x[:, list(arrangement)]), labels[y]
    rows, cols, transpose = arrangement
    img = x.reshape(len(x), *DATASETS[data].image)
    if rows:
        img = img[:, ::-1, :]
    if cols:
        img = img[:, :, ::-1]
    if transpose:
        img = img.transpose(0, 2, 1)
    return np.ascontiguousarray(img).reshape(len(x), -1), labels[y]


@functools.lru_cache(maxsize=4)
def split(data: str, which: str) -> tuple[np.ndarray, np.ndarray]:
    """A split of a data set, float64 images and int64 labels, in this (trusted) process only."""
    x, y = _load(data, np.float64, which)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def _load(data: str, dtype, which: str):
    """One split of a data set through its nnkit loader, with the options DATASETS gives it."""
    import nnkit
    spec = DATASETS[data]
    return getattr(nnkit, spec.loader)(dtype=dtype, **dict(spec.options))[which]


@functools.lru_cache(maxsize=2)       # an assignment may train on two data sets (optim: mnist and iris)
def _stored_train(data: str) -> tuple[np.ndarray, np.ndarray]:
    """The plain train split as the sandbox's copy stores it: uint8 when every pixel is a multiple
    of 1/255 (MNIST: 4x smaller than float32), else float32.  Found from the float32 load and
    disguised as uint8: a third of the time of working in float64 (3 s for MNIST), the same bytes."""
    x, y = _load(data, np.float32, "train")
    u8 = np.rint(x * 255)
    if np.array_equal(u8 / 255, x):     # the loader's own float32 division: equal bits when exact
        return u8.astype(np.uint8), np.asarray(y, dtype=np.int64)
    x, y = split(data, "train")
    return x.astype(np.float32), y


def cache_dir() -> Path:
    """Where disguised train splits are kept for sandboxes to read (read-only).
    World-readable: sandboxed code runs as another user."""
    root = Path(os.environ.get("NNKIT_GRADER_CACHE") or Path(tempfile.gettempdir()) / f"nnkit-grader-{os.getuid()}")
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    return root


def _prune(root: Path, keep: Path) -> None:
    """Remove other seeds' copies unused for STALE_SECONDS (each use touches its folder)."""
    now = time.time()
    for path in root.glob("train-*"):
        try:
            if path != keep and path.is_dir() and now - path.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def train_files(seed: int, data: str = "mnist") -> tuple[Path, Path]:
    """The disguised train split for grading seed ``seed``, written once per disguise into a
    folder of its own (all a sandbox is shown) and shared by every grading process: filled
    under a temporary name and renamed into place, so concurrent writers agree."""
    root = cache_dir()
    arrangement, labels = disguise(seed, data)
    digest = hashlib.sha256(json.dumps([data, arrangement, labels.tolist()]).encode()).hexdigest()[:20]
    folder = root / f"train-{digest}"
    paths = (folder / "x.npy", folder / "y.npy")
    try:
        os.utime(folder)         # in use (see _prune), before a concurrent _prune can decide otherwise
    except OSError:
        pass
    if not all(p.exists() for p in paths):
        x, y = apply(*_stored_train(data), seed, data)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
        try:
            for path, arr in zip(paths, (x, y)):
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


# ------------------------------------------------------------------ the trusted side
def _build(ns: dict, net: Network) -> list:
    def kw(kwargs):
        return {k: (v["seed"] if isinstance(v, dict) and "seed" in v else v) for k, v in kwargs.items()}
    return [ns[name](*args, **kw(kwargs)) for name, args, kwargs in net.layers]


@functools.lru_cache(maxsize=4)
def _reference(source: str, needs: tuple) -> dict:
    """The source notebook's setup and solution cells, executed here (trusted code)."""
    from autograder.engine.extract import extract
    ns: dict = {"__name__": "reference"}
    with in_this_process(Path(source)):
        for cell in extract(Path(source), Path(source)).program():
            if cell["id"] in ("setup", *needs):
                exec(compile(cell["source"], f"<source {cell['id']}>", "exec"), ns)  # noqa: S102 - the source's own code
    return ns


def request(t: TrainingPart, source: Path, seed: int) -> tuple[dict, Path]:
    """The driver's request (and the read-only folder of its data) for grading seed ``seed``."""
    x_path, y_path = train_files(seed, t.data)     # the sandbox sees only this seed's folder
    report = [list(getattr(layer, "param_names", ())) for layer in _build(_reference(str(source), t.needs), t.network)]
    return ({"name": t.part.name, "part": t.part.name, "kind": "train", "needs": t.network.classes,
             "x": str(x_path), "y": str(y_path), "network": asdict(t.network), "report": report,
             "seed": t.network.seed}, x_path.parent)


def _oriented(arr: np.ndarray | None, shape: tuple) -> np.ndarray | None:
    """Accept a matrix stored transposed: its layout is the layer part's business."""
    if arr is None:
        return None
    if arr.shape == shape:
        return arr
    if arr.ndim == 2 and arr.shape == shape[::-1]:
        return arr.T
    if arr.size == int(np.prod(shape)) and len(shape) == 1:
        return arr.reshape(shape)
    return None


def accuracy(t: TrainingPart, source: Path, got: dict, seed: int | None) -> float | None:
    """The source notebook's own network with parameters ``got`` ({"<layer>.<name>": array}) on the
    test split disguised as seed ``seed``'s train split was (``None``: plain data); None when
    the parameters do not fit the network."""
    import nnkit
    layers = _build(_reference(str(source), t.needs), t.network)
    for i, layer in enumerate(layers):
        for name in getattr(layer, "param_names", ()):
            arr = _oriented(got.get(f"{i}.{name}"), np.shape(getattr(layer, name)))
            if arr is None:
                return None
            layer.set_param(name, np.asarray(arr, dtype=np.float64))
    x, y = apply(*split(t.data, "test"), seed, t.data)
    x = x.reshape(len(x), *t.network.input_shape) if t.network.input_shape else x
    return float((nnkit.predict(nnkit.Sequential(*layers), x) == y).mean())


def judge(t: TrainingPart, source: Path, info: dict | None, got: dict, seed: int) -> tuple[bool, str]:
    """(passed, message) for a network trained on grading seed ``seed``'s train files."""
    check = "check " + ", ".join(t.network.classes)
    if info is None:
        return False, "training did not run"
    if info.get("status") != "ok":
        return False, f"training with your classes stopped at {info.get('stage')}: {info.get('error')}"
    if info.get("diverged"):
        return False, f"training diverged (the loss became nan or inf in epoch {info['diverged']}): {check}"
    if any(not np.isfinite(v).all() for v in got.values()):
        return False, "after training, the parameters contain nan or inf"
    acc = accuracy(t, source, got, seed)
    if acc is None:
        return False, "after training, the layers' parameters do not have the shapes the layers were built with"
    epochs = t.network.epochs
    if acc >= t.threshold:
        return True, f"test accuracy {acc:.2%} after {epochs} epochs (needs {t.threshold:.0%})"
    precision = f", {t.network.dtype} parameters" if t.network.dtype else ""
    return False, (f"test accuracy {acc:.2%} after {epochs} epochs with the grader's settings{precision} "
                   f"(it trains on its own copy of the training data); needs {t.threshold:.0%}: {check}")
