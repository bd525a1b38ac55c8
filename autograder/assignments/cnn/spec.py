"""What the `cnn` grader asks: Conv2dNaive and Conv2d (one contract, graded apart), MaxPool2d,
Flatten, and a short training run of a small convnet.

Probe shapes are drawn per grading seed so that no two sizes coincide where a swapped axis could
hide (non-square images, C != F); the cases the contract promises are all there: stride 2, padding
1 and 2, a stride that does not divide the padded size (rows no window reads), one channel and
several, a batch of one, and a forward on another batch before the one backward follows.
Pooling is probed on integer inputs, so that windows hold tied maxima, with windows side by side,
overlapping (stride < kernel) and leaving rows out.  Expected values are the source notebook's own
solution on the same probes; the functions below only reproduce known mistakes, to name them.
"""
from __future__ import annotations

import numpy as np

from autograder.engine.diagnose import LABELS, Mistakes, Probe, close, module_probe
from autograder.engine.grade import Part, Spec, all_or_nothing
from autograder.engine.training import Network, TrainingPart
from nnkit import mistakes

CLASSES = {"conv_naive": "Conv2dNaive", "conv": "Conv2d", "maxpool": "MaxPool2d", "flatten": "Flatten"}


def _probe(name, part, xs, g, **kw) -> Probe:
    """``xs``: the forward inputs in turn (backward follows the last); the mistakes below reproduce every
    forward output, so they see them all."""
    return module_probe(name, part, CLASSES[part], xs, g, xs=xs, **kw)


# ------------------------------------------------------------------ known mistakes, reproduced
def _conv(x, W, b, s, p, g=None, *, scatter_stride=None):
    """The contract's formulas (windows by slicing), so a mistake can be reproduced by changing
    one argument: the forward output, and with ``g`` also (dx padded, dW, db)."""
    F, C, k, _ = W.shape
    N, _, H, Wd = x.shape
    ho, wo = (H + 2 * p - k) // s + 1, (Wd + 2 * p - k) // s + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.stack([xp[:, :, u:u + s * ho:s, v:v + s * wo:s] for u in range(k) for v in range(k)], axis=2)
    cols = cols.reshape(N, C, k, k, ho, wo)
    y = np.einsum("ncuvij,fcuv->nfij", cols, W) + b[None, :, None, None]
    if g is None:
        return y
    dW = np.einsum("ncuvij,nfij->fcuv", cols, g)
    t = s if scatter_stride is None else scatter_stride
    dxp = np.zeros_like(xp)
    for u in range(k):
        for v in range(k):
            part = np.einsum("nfij,fc->ncij", g, W[:, :, u, v])
            rows, cols_ = dxp[:, :, u:u + t * ho:t, v:v + t * wo:t].shape[2:]
            dxp[:, :, u:u + t * ho:t, v:v + t * wo:t] += part[:, :, :rows, :cols_]
    return y, dxp, dW, g.sum(axis=(0, 2, 3))


def _conv_outputs(i, *, flip=False, scatter_stride=None, pad=None):
    """{field: value} of a Conv2d probe as the contract computes it, with one change."""
    W = i["W"][:, :, ::-1, ::-1] if flip else i["W"]
    p = i["padding"] if pad is None else pad
    out = {f"y{n}": _conv(x, W, i["b"], i["stride"], p) for n, x in enumerate(i["xs"])}
    if out[f"y{len(i['xs']) - 1}"].shape != i["g"].shape:
        return out
    _, dxp, dW, db = _conv(i["xs"][-1], W, i["b"], i["stride"], p, i["g"], scatter_stride=scatter_stride)
    H, Wd = i["xs"][-1].shape[2:]
    out.update({"dx": dxp[:, :, p:p + H, p:p + Wd], "grad.W": dW[:, :, ::-1, ::-1] if flip else dW, "grad.b": db})
    return out


def _conv_mistakes(label: str) -> list:
    right = _conv_outputs

    def backward_only(fn):
        return lambda i: {k: v for k, v in fn(i).items() if not k.startswith("y")}

    def dx_padded(i):          # the padded input's gradient, border included, returned as it is
        if not i["padding"] or _conv(i["xs"][-1], i["W"], i["b"], i["stride"], i["padding"]).shape != i["g"].shape:
            return {}
        return {"dx": _conv(i["xs"][-1], i["W"], i["b"], i["stride"], i["padding"], i["g"])[1]}

    def last(i):
        return i["xs"][-1], i["g"]

    return [
        # the slip in backward's scatter alone (forward right): before the forward one, whose dx is the same
        (mistakes.kernel_flipped(f"{label}.backward's dx"), lambda i: {"dx": right(i, flip=True).get("dx")}),
        (mistakes.kernel_flipped(f"{label}.forward"), lambda i: right(i, flip=True)),
        (mistakes.padding_left_in(f"{label}.backward's dx"), dx_padded),
        (mistakes.stride_ignored(f"{label}.backward"),
         backward_only(lambda i: right(i, scatter_stride=1) if i["stride"] != 1 else {})),
        (mistakes.padding_wrong(f"{label}.forward"), lambda i: right(i, pad=2 * i["padding"]) if i["padding"] else {}),
        (mistakes.padding_wrong(f"{label}.forward"), lambda i: right(i, pad=0) if i["padding"] else {}),
        (mistakes.not_summed_over("db", "the output positions (i, j)"), lambda i: {"grad.b": last(i)[1].sum(axis=0)}),
        (mistakes.not_summed_over("db", "the output positions (i, j)"),
         lambda i: {"grad.b": last(i)[1].sum(axis=(0, 2))}),
        (mistakes.not_summed_over("db", "the batch"), lambda i: {"grad.b": last(i)[1].sum(axis=(2, 3))}),
        (mistakes.not_summed_over("dW", "the batch"), lambda i: {"grad.W": _dW_per_image(i)}),
        (mistakes.n_times_too_small("dW"), lambda i: {"grad.W": right(i)["grad.W"] / len(i["g"])}),
        (mistakes.n_times_too_small("db"), lambda i: {"grad.b": i["g"].sum(axis=(0, 2, 3)) / len(i["g"])}),
        (mistakes.channels_last(f"{label}.forward"),
         lambda i: {name: v.transpose(0, 2, 3, 1) for name, v in right(i).items() if name.startswith("y")}),
    ]


def _dW_per_image(i):
    x, g = i["xs"][-1], i["g"]
    return np.stack([_conv(x[n:n + 1], i["W"], i["b"], i["stride"], i["padding"], g[n:n + 1])[2]
                     for n in range(len(x))])


def _pool(x, k, s, g, rule="first"):
    """Max pooling's output and dx under a rule for the gradient: "first" maximum (the contract),
    "last" maximum, "all" tied maxima, or "every" position of the window."""
    ho, wo = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    win = np.stack([x[:, :, u:u + s * ho:s, v:v + s * wo:s] for u in range(k) for v in range(k)])
    y = win.max(axis=0)
    if rule == "first":
        mask = np.arange(k * k)[:, None, None, None, None] == win.argmax(axis=0)
    elif rule == "last":
        mask = np.arange(k * k)[:, None, None, None, None] == k * k - 1 - win[::-1].argmax(axis=0)
    else:
        mask = (win == y) if rule == "all" else np.ones(win.shape, dtype=bool)
    dx = np.zeros_like(x)
    if g.shape == y.shape:
        for o in range(k * k):
            u, v = divmod(o, k)
            dx[:, :, u:u + s * ho:s, v:v + s * wo:s] += np.where(mask[o], g, 0.0)
    return y, dx


def _pool_mistakes(label: str) -> list:
    def rule(name):
        return lambda i: {"dx": _pool(i["xs"][-1], i["k"], i["s"], i["g"], name)[1]}

    return [(mistakes.pool_ties_to_all(f"{label}.backward"), rule("all")),
            (mistakes.pool_gradient_everywhere(f"{label}.backward"), rule("every")),
            (mistakes.pool_tie_rule(f"{label}.backward"), rule("last")),
            (mistakes.stride_ignored(f"{label}.forward"),
             lambda i: {f"y{n}": _pool(x, i["k"], i["k"], x[:, :, :0], "first")[0] for n, x in enumerate(i["xs"])}
             if i["s"] != i["k"] else {})]


def _flatten_mistakes(label: str) -> list:
    def last_axis_first(a):        # (N, C, H, W) -> channels last, then flattened
        return a.transpose(0, *range(2, a.ndim), 1).reshape(len(a), -1)

    def undo_other_order(i):
        x, g = i["xs"][-1], i["g"]
        shape = (len(x), *x.shape[2:], x.shape[1])
        return {"dx": g.reshape(shape).transpose(0, x.ndim - 1, *range(1, x.ndim - 1))}

    return [(mistakes.channels_last(f"{label}.forward"),
             lambda i: {f"y{n}": last_axis_first(x) for n, x in enumerate(i["xs"])}),
            (mistakes.flatten_order(f"{label}.backward"), undo_other_order)]


MISTAKES = {"conv_naive": _conv_mistakes("Conv2dNaive"), "conv": _conv_mistakes("Conv2d"),
            "maxpool": _pool_mistakes("MaxPool2d"), "flatten": _flatten_mistakes("Flatten")}


# ------------------------------------------------------------------ probes
def _sizes(rng, k: int, low: int, high: int) -> list[int]:
    return [int(v) for v in rng.choice(np.arange(low, high), size=k, replace=False)]


def conv_probes(rng, part: str) -> list[Probe]:
    """Every case the contract promises; small enough for the loops of Conv2dNaive."""
    h, w = _sizes(rng, 2, 5, 10)
    cases = {  # name: (N, C, F, H, W, k, stride, padding)
        "plain": (3, 2, 4, h, w, 3, 1, 0),
        "stride2_pad1": (2, 3, 2, h + 1, w, 3, 2, 1),
        "pad2_one_channel": (2, 1, 3, w, h, 3, 1, 2),
        "stride2_pad2_rows_unread": (2, 2, 3, 2 * (h // 2) + 1, 2 * (w // 2), 4, 2, 2),
        "batch1": (1, 3, 2, h, w + 1, 2, 2, 1),
    }
    probes = []
    for case, (n, c, f, hh, ww, k, s, p) in cases.items():
        name = f"{part}.{case}"
        ho, wo = (hh + 2 * p - k) // s + 1, (ww + 2 * p - k) // s + 1
        xs = [rng.normal(size=(n, c, hh, ww))]
        if case == "plain":       # an earlier forward on another batch: backward follows the latest
            xs.insert(0, rng.normal(size=(n + 2, c, hh, ww)))
        params = {"W": rng.normal(size=(f, c, k, k)), "b": rng.normal(size=f)}
        probes.append(_probe(name, part, xs, rng.normal(size=(n, f, ho, wo)), args=(c, f, k),
                             init={"stride": s, "padding": p}, params=params, dims={"N": n}))
    return probes


def pool_probes(rng) -> list[Probe]:
    h, w = _sizes(rng, 2, 6, 11)
    cases = {  # name: (N, C, H, W, k, stride or None for the default)
        "2x2": (2, 3, 2 * (h // 2), 2 * (w // 2), 2, None),
        "3_stride2_overlap": (2, 2, h, w, 3, 2),
        "2_stride1_overlap": (1, 2, w, h, 2, 1),
        "3x3_rows_left": (2, 1, h, w, 3, None),
        "batch1": (1, 1, h, w, 2, None),
    }
    probes = []
    for case, (n, c, hh, ww, k, s) in cases.items():
        x = rng.integers(0, 4, size=(n, c, hh, ww)).astype(float)   # tied maxima in most windows
        stride = k if s is None else s
        g = rng.normal(size=(n, c, (hh - k) // stride + 1, (ww - k) // stride + 1))
        probes.append(_probe(f"maxpool.{case}", "maxpool", [x], g, args=(k,),
                             init={} if s is None else {"stride": s}, dims={"N": n}, k=k, s=stride))
    return probes


def flatten_probes(rng) -> list[Probe]:
    n, c, h, w = _sizes(rng, 4, 2, 8)
    probes = []
    for case, shape in {"4d": (n, c, h, w), "3d": (n, h, w), "batch1": (1, c, w, h)}.items():
        x = rng.normal(size=shape)
        probes.append(_probe(f"flatten.{case}", "flatten", [x], rng.normal(size=(shape[0], x[0].size)),
                             dims={"N": shape[0]}))
    return probes


def probes(seed: int) -> list[Probe]:
    rng = np.random.default_rng(seed)
    out = conv_probes(rng, "conv_naive") + conv_probes(rng, "conv") + pool_probes(rng) + flatten_probes(rng)
    for i, p in enumerate(out):
        p.request["seed"] = seed + i
    return out


def _reshaped(probe: Probe, name: str, got: np.ndarray, ref: np.ndarray) -> str:
    """An output of the wrong shape: a known mistake that reproduces it, else the output-size rule
    (forward) or the shapes.  Sizes here follow the contract's formula, so they are given as numbers."""
    for message, mistake in MISTAKES[probe.part]:
        try:
            with np.errstate(all="ignore"):
                guess = mistake(probe.inputs).get(name)
        except Exception:  # noqa: BLE001 - a mistake that does not apply to this probe
            continue
        if guess is not None and guess.shape == got.shape and close(got, guess):
            return message
    if name.startswith("y"):
        return mistakes.output_size(f"{probe.label}.forward's output", got.shape, ref.shape)
    return mistakes.wrong_shape(LABELS.get(name, name), got.shape, ref.shape)


KNOWN = Mistakes(MISTAKES, reshaped=dict.fromkeys(CLASSES, _reshaped))


# The grader's training run: a smaller convnet than the notebook's, with stride and padding, one epoch
# on the first 30,000 images of the (disguised) train split with the reference's Adam (carried from
# optim, as the notebook's run): about 5 s of CPU with the reference classes, 1.5-3 s more for the
# 10,000 test images in the trusted process.  At lr 5e-3 the reference reached 96.77%, 96.66%, 96.59%
# and 96.31% with grading seeds 11, 2024, 5 and 987654321 (their disguises; at 2e-3 only 95.05-95.83%):
# the 94% line leaves 2.3 points for run-to-run noise, and pretrained weights answer at about chance.
NETWORK = Network([("Conv2d", (1, 8, 5), {"stride": 2, "padding": 2, "rng": {"seed": 2024}}), ("ReLU", (), {}),
                   ("MaxPool2d", (2,), {}),
                   ("Conv2d", (8, 16, 3), {"padding": 1, "rng": {"seed": 2025}}), ("ReLU", (), {}),
                   ("MaxPool2d", (2,), {}), ("Flatten", (), {}),
                   ("Linear", (144, 10), {"init_std": 0.1, "rng": {"seed": 2026}})],
                  "SoftmaxCrossEntropyLoss", "Adam", [(1, 5e-3)],
                  batch_size=50, seed=2024, input_shape=(1, 28, 28), samples=30000)

SPEC = Spec("cnn", [Part(part, f"{part}-tests", part, klass) for part, klass in CLASSES.items()], probes,
            all_or_nothing(KNOWN),
            training=TrainingPart(Part("training", "training-tests", "training", "training"),
                                  ("conv", "maxpool", "flatten"), "mnist", NETWORK, threshold=0.94))
