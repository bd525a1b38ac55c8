"""The common mistakes of each `optim` part, as the wrong outputs they produce.

Each entry is (message, function of a probe's inputs -> {field: wrong output}); the
messages are nnkit.mistakes.OPTIM's, the words the notebook's self-checks print.  These
are the grader's own formulas of *wrong* code; the right values always come from the
source notebook run on the same probe.
"""
from __future__ import annotations

import math

import numpy as np

from nnkit.mistakes import OPTIM as M
from nnkit.mistakes import default_changed

OPT_DEFAULTS = {"RMSProp": {"lr": 0.01, "decay": 0.9, "eps": 1e-8},
                "Adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
                "AdamW": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01}}


# ------------------------------------------------------------------ optimizers
def _replay(rule, *, shared=False):
    """An optimizer probe replayed with ``rule(state, param, grad, c) -> new param``; ``state`` is a
    dict per key (one for all keys when ``shared``), ``c`` the settings with their defaults."""
    def run(i):
        c = {**OPT_DEFAULTS[i["class"]], **i["init"]}
        states, cur, out = {}, {}, {}
        for n, (key, pfile, gfile) in enumerate(i["steps"]):
            p = i["arrays"][pfile] if pfile else cur[key]
            st = states.setdefault("all" if shared else key, {})
            cur[key] = out[f"step{n}"] = rule(st, p, i["arrays"][gfile], c)
        return out
    return run


def _rms(*, eps_inside=False, swapped=False, not_squared=False):
    def rule(st, p, g, c):
        d = 1 - c["decay"] if swapped else c["decay"]
        st["s"] = d * st.get("s", 0.0) + (1 - d) * (g if not_squared else g * g)
        denom = np.sqrt(st["s"] + c["eps"]) if eps_inside else np.sqrt(st["s"]) + c["eps"]
        return p - c["lr"] * g / denom
    return rule


def _adam(*, correct=True, power=0, eps_inside=False, swapped=False, decay="l2", lr_decay=True):
    """``decay``: "l2" (Adam: into the gradient), "decoupled" (AdamW), None (ignored)."""
    def rule(st, p, g, c):
        wd = c["weight_decay"]
        if decay == "l2":
            g = g + wd * p
        st["t"] = st.get("t", 0) + 1
        t = st["t"] + power
        b1, b2 = (1 - c["beta1"], 1 - c["beta2"]) if swapped else (c["beta1"], c["beta2"])
        st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
        st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
        m, v = (st["m"] / (1 - b1 ** t), st["v"] / (1 - b2 ** t)) if correct else (st["m"], st["v"])
        step = m / (np.sqrt(v + c["eps"]) if eps_inside else np.sqrt(v) + c["eps"])
        if decay == "decoupled":
            return p - c["lr"] * step - (c["lr"] if lr_decay else 1.0) * wd * p
        return p - c["lr"] * step
    return rule


def _adam_mistakes(decay):
    return [
        (M["adam_no_correction"], _replay(_adam(correct=False, decay=decay))),
        (M["adam_wrong_power"], _replay(_adam(power=-1, decay=decay))),
        (M["adam_wrong_power"], _replay(_adam(power=1, decay=decay))),
        (M["adam_eps_inside"], _replay(_adam(eps_inside=True, decay=decay))),
        (M["adam_shared_t"], _replay(_adam(decay=decay), shared=True)),
        (M["shared_state"], _replay(_adam(decay=decay), shared=True)),
        (M["adam_betas_swapped"], _replay(_adam(swapped=True, decay=decay))),
    ]


def _shared_counter_only(decay):
    """One step counter for all keys, moments per key: the usual form of that slip."""
    def run(i):
        c = {**OPT_DEFAULTS[i["class"]], **i["init"]}
        counter, states, cur, out = [0], {}, {}, {}
        for n, (key, pfile, gfile) in enumerate(i["steps"]):
            p = i["arrays"][pfile] if pfile else cur[key]
            st = states.setdefault(key, {})
            counter[0] += 1
            st["t"] = counter[0] - 1           # _adam adds 1
            cur[key] = out[f"step{n}"] = _adam(decay=decay)(st, p, i["arrays"][gfile], c)
        return out
    return run


# ------------------------------------------------------------------ schedules
def _lr_at(i, t, *, off_by_one=False, warm_from_zero=False, warm_not_shifted=False, no_clamp=False):
    c = i["settings"]
    base, kind, w = c["base_lr"], c["kind"], c.get("warmup_steps", 0)
    if t < w:
        return base * (t if warm_from_zero else t + 1) / w
    u = (t if warm_not_shifted else t - w) + (1 if off_by_one else 0)
    if kind == "step":
        return base * c["gamma"] ** (u // c["step_size"])
    if kind == "exponential":
        return base * c["gamma"] ** u
    if kind == "cosine":
        T = c["total_steps"]
        frac = (u if no_clamp else min(u, T)) / T
        return c.get("min_lr", 0.0) + (base - c.get("min_lr", 0.0)) * 0.5 * (1 + math.cos(math.pi * frac))
    return base


def _schedule(step_order=False, **kw):
    def run(i):
        out = {f"lr_at {t}": np.asarray(_lr_at(i, t, **kw)) for t in i["ts"]}
        out["rates from step()"] = np.array([_lr_at(i, t + (1 if step_order else 0), **kw) for t in range(i["n_steps"])])
        return out
    return run


# ------------------------------------------------------------------ L2
def _l2(i, *, half=True, biases=False):
    lam, layers = i["lam"], i["layers"]
    value = sum((W ** 2).sum() + ((b ** 2).sum() if biases else 0.0) for W, b, _, _ in layers) * lam
    out = {"penalty": np.asarray(value / 2 if half else value)}
    for k, (W, b, dW, db) in enumerate(layers):
        out[f"dW {k}"] = dW + (1 if half else 2) * lam * W
        out[f"db {k}"] = db + ((1 if half else 2) * lam * b if biases else 0.0)
    return out


# ------------------------------------------------------------------ BatchNorm
def _batchnorm(i, *, unbiased=False, eval_batch=False, frozen=False, swapped=False, const_stats=False,
               eps_outside=False):
    c = i["settings"]
    mom, eps = c.get("momentum", 0.1), c.get("eps", 1e-5)
    gamma, beta = i["gamma"], i["beta"]
    rm, rv = np.zeros_like(gamma), np.ones_like(gamma)
    out = {}

    def norm(x, mean, var, g, train):
        inv = 1.0 / (np.sqrt(var) + eps) if eps_outside else 1.0 / np.sqrt(var + eps)
        xh = (x - mean) * inv
        gh = g * gamma
        dx = inv * (gh - gh.mean(0) - xh * (gh * xh).mean(0)) if train and not const_stats else gh * inv
        return gamma * xh + beta, dx, (g * xh).sum(0), g.sum(0)

    for k, (x, g) in enumerate(i["batches"]):
        mean, var = x.mean(0), x.var(0, ddof=1 if unbiased else 0)
        if not frozen:
            a = 1 - mom if swapped else mom
            rm, rv = (1 - a) * rm + a * mean, (1 - a) * rv + a * var
        out[f"y {k}"], out[f"dx {k}"], out[f"dgamma {k}"], out[f"dbeta {k}"] = norm(x, mean, var, g, True)
        out[f"running_mean {k}"], out[f"running_var {k}"] = rm, rv
    x, g = i["eval"]
    if eval_batch:
        stats = (x.mean(0), x.var(0, ddof=1 if unbiased else 0))
    else:
        stats = (rm, rv)
    out["y eval"], out["dx eval"], out["dgamma eval"], out["dbeta eval"] = norm(x, *stats, g, eval_batch)
    return out


def _bn_default(name, value):
    def run(i):
        c = i["settings"]
        return {} if name in c else _batchnorm({**i, "settings": {**c, name: value}})
    return run


# ------------------------------------------------------------------ PReLU
def _prelu(i, *, summed=True, with_x=True, zero_is_identity=False):
    x, g, alpha = i["x"], i["g"], i["alpha"]
    neg = x < 0 if zero_is_identity else x <= 0
    per = (g * (x if with_x else 1.0) * neg).sum(0)
    return {"y": np.where(x > 0, x, alpha * x), "dx": np.where(neg, alpha * g, g),
            "dalpha": per if (alpha.shape[0] > 1 or not summed) else np.array([per.sum()])}


# ------------------------------------------------------------------ augmentation
def _affine(images, shift, degrees, scale, *, radians=False, clockwise=False, shift_sign=1.0,
            invert_scale=False, clamp=False, nearest=False):
    img = np.asarray(images, dtype=np.float64).reshape(-1, 28, 28)
    theta = degrees if radians else math.radians(degrees)
    theta = -theta if clockwise else theta
    s = 1.0 / scale if invert_scale else scale
    c = 13.5
    i, j = np.mgrid[0:28, 0:28]
    u, v = j - c - shift_sign * shift[1], i - c - shift_sign * shift[0]
    xs = (math.cos(theta) * u - math.sin(theta) * v) / s + c
    ys = (math.sin(theta) * u + math.cos(theta) * v) / s + c
    if nearest:
        xs, ys = np.rint(xs), np.rint(ys)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    out = np.zeros_like(img)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            inside = np.ones_like(yy, dtype=bool) if clamp else (yy >= 0) & (yy < 28) & (xx >= 0) & (xx < 28)
            out += np.where(inside, wy * wx, 0.0) * img[:, np.clip(yy, 0, 27), np.clip(xx, 0, 27)]
    return out.reshape(np.shape(images))


def _augment(**kw):
    return lambda i: {f"case{k}": _affine(*case, **kw) for k, case in enumerate(i["cases"])}


MISTAKES = {
    "rmsprop": [
        (M["rms_eps_inside"], _replay(_rms(eps_inside=True))),
        (M["rms_decay_swapped"], _replay(_rms(swapped=True))),
        (M["rms_not_squared"], _replay(_rms(not_squared=True))),
        (M["shared_state"], _replay(_rms(), shared=True)),
    ],
    # a shared counter first: on a key's later steps it can coincide with a wrong power
    "adam": [(M["adam_shared_t"], _shared_counter_only("l2"))] + _adam_mistakes("l2") + [
        (M["adam_decay_ignored"], _replay(_adam(decay=None))),
    ],
    "adamw": [
        (M["adamw_decay_in_gradient"], _replay(_adam(decay="l2"))),
        (M["adamw_decay_no_lr"], _replay(_adam(decay="decoupled", lr_decay=False))),
        (M["adamw_decay_ignored"], _replay(_adam(decay=None))),
        (M["adam_shared_t"], _shared_counter_only("decoupled")),
    ] + _adam_mistakes("decoupled"),
    "schedule": [
        # Only the first wrong field is replayed, so the order matters: after a warm-up "not shifted" and
        # "off by one" can give the same first wrong rate, and step() counting first gives the rates of an
        # off-by-one lr_at (whose lr_at values are right, and came first).
        (M["schedule_warmup_not_shifted"], _schedule(warm_not_shifted=True)),
        (M["schedule_step_order"], _schedule(step_order=True)),
        (M["schedule_off_by_one"], _schedule(off_by_one=True)),
        (M["schedule_warmup_from_zero"], _schedule(warm_from_zero=True)),
        (M["schedule_cosine_not_clamped"], _schedule(no_clamp=True)),
    ],
    "l2": [
        (M["l2_no_half"], lambda i: _l2(i, half=False)),
        (M["l2_biases"], lambda i: _l2(i, biases=True)),
        (M["l2_biases"], lambda i: _l2(i, half=False, biases=True)),
    ],
    "batchnorm": [
        # A default of the signature changed: only probes that leave the setting out see it, so these come
        # first.  There, a default momentum of 0.9 gives what swapped weights give: both are said.
        (default_changed("BatchNorm1d", "momentum", 0.1) + ", or " + M["bn_momentum_swapped"],
         _bn_default("momentum", 0.9)),
        *[(default_changed("BatchNorm1d", name, contract), _bn_default(name, value))
          for name, contract, values in (("momentum", 0.1, (0.01, 0.99, 0.5)), ("eps", 1e-5, (1e-3, 1e-8, 1e-2)))
          for value in values],
        (M["bn_eval_batch_stats"], lambda i: _batchnorm(i, eval_batch=True)),
        (M["bn_running_not_updated"], lambda i: _batchnorm(i, frozen=True)),
        (M["bn_momentum_swapped"], lambda i: _batchnorm(i, swapped=True)),
        (M["bn_unbiased_var"], lambda i: _batchnorm(i, unbiased=True)),
        (M["bn_backward_constant_stats"], lambda i: _batchnorm(i, const_stats=True)),
        (M["bn_eps_outside"], lambda i: _batchnorm(i, eps_outside=True)),
    ],
    "augment": [
        (M["aug_radians"], _augment(radians=True)),
        (M["aug_clockwise"], _augment(clockwise=True)),
        (M["aug_shift_sign"], _augment(shift_sign=-1.0)),
        (M["aug_scale_inverted"], _augment(invert_scale=True)),
        (M["aug_border_clamped"], _augment(clamp=True)),
        (M["aug_nearest"], _augment(nearest=True)),
    ],
    "prelu": [
        (M["prelu_dalpha_no_x"], lambda i: _prelu(i, with_x=False)),
        (M["prelu_at_zero"], lambda i: _prelu(i, zero_is_identity=True)),
    ],
}
