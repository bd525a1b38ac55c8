"""Gradient checking: compare a hand-written backward pass with finite differences.

Everything runs in float64: with centered differences and ``h = 1e-5`` the
numerical derivative is then accurate to about 1e-10 relative, far below the
1e-6 tolerance, so a failure points at the analytic gradient, not at noise.

When a gradient is wrong in a recognisable way (off by the batch size, sign
flipped, transposed, all zero, NaN) the verdict says so in plain words, the words of
``nnkit.mistakes`` that the grader's feedback uses too.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from . import mistakes
from .module import Loss, Module

TINY = 1e-12


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centered-difference gradient of the scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable, ``f(x) -> float``.  It may also ignore its argument and read
        ``x`` from elsewhere (e.g. a layer's weight array): ``x`` is perturbed
        in place, one element at a time.
    x : float64 array of any shape.  It is restored exactly before returning.
    h : step; the error of the estimate is O(h²) plus roundoff O(eps·|f|/h).

    Returns
    -------
    float64 array, same shape as ``x``: (f(x + h·e_i) − f(x − h·e_i)) / 2h.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError("numerical_gradient needs a float64 array (it is perturbed in "
                        f"place), got {type(x).__name__} {getattr(x, 'dtype', '')}")
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("numerical_gradient needs a contiguous array")
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = float(f(x))
        flat_x[i] = old - h
        minus = float(f(x))
        flat_x[i] = old
        flat_g[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(a, b, tiny: float = TINY) -> float:
    """Largest elementwise relative difference of ``a`` and ``b``.

    ``max_i |a_i − b_i| / max(|a_i| + |b_i|, tiny)``.  It is symmetric, lies
    in [0, 1] for finite inputs (1 means opposite signs or one side zero), and
    is 0 where both are exactly zero.  ``tiny`` is the magnitude below which
    elements are compared absolutely: pass the noise level of a numerical
    gradient so that entries that are zero up to roundoff do not count as a
    100% error.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), tiny)))


# ---------------------------------------------------------------- diagnosis --

def diagnose(got, expected, *, batch: int | None = None, what: str = "gradient",
             reference: str = "the numerical one") -> str:
    """A short explanation of how ``got`` differs from ``expected`` ("" if it
    cannot tell).  ``batch`` is the batch size N, used to recognise an N-fold
    scaling."""
    got, expected = np.asarray(got), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        if got.ndim == 2 and got.shape == expected.shape[::-1]:
            return mistakes.transposed(what, got.shape, expected.shape)
        return mistakes.wrong_shape(what, got.shape, expected.shape)
    if not np.issubdtype(got.dtype, np.number):
        return f"{what} has dtype {got.dtype}, not a number"
    got = got.astype(np.float64)
    bad = ~np.isfinite(got)
    if bad.any():
        kind = "NaN" if np.isnan(got).any() else "inf"
        return (f"{mistakes.not_finite(what, kind)} ({int(bad.sum())} of {got.size} entries) — "
                "look for overflow in exp, division by zero or log(0)")
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    if scale == 0:
        return ""
    if not np.any(got):
        return mistakes.all_zeros(what, reference)
    if got.ndim == 2 and got.shape[0] == got.shape[1] and got.shape[0] > 1:
        if relative_error(got.T, expected, 1e-6 * scale) < 1e-4:
            return mistakes.transposed(what)
    # A constant factor between the two: least-squares ratio, then check fit.
    ratio = float(np.vdot(got, expected) / np.vdot(expected, expected))
    # a ratio of about 1 is no scaling mistake (float32 rounding, say): then the largest difference says more
    if ratio != 0 and abs(ratio - 1) > 1e-3 and relative_error(got, ratio * expected, 1e-6 * scale) < 1e-3:
        return mistakes.scale(what, ratio, batch, name_batch=True)
    return ""


# ------------------------------------------------------------------ reports --

@dataclass
class TensorCheck:
    """The comparison for one gradient (e.g. ``dx`` or ``dW``)."""

    name: str
    shape: tuple
    max_rel_error: float
    max_abs_error: float
    passed: bool
    diagnosis: str = ""


@dataclass(repr=False)
class GradcheckReport:
    """Result of :func:`check_module` / :func:`check_loss`.

    ``bool(report)`` is ``report.passed``; ``str(report)`` is a small table
    and one verdict line; ``report.verdict`` is that line alone.
    """

    subject: str
    checks: list[TensorCheck] = field(default_factory=list)
    batch: int | None = None
    error: str = ""          # set when the check could not run at all
    rtol: float = 1e-6

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.checks) and all(c.passed for c in self.checks)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_rel_error(self) -> float:
        return max((c.max_rel_error for c in self.checks), default=float("nan"))

    @property
    def verdict(self) -> str:
        if self.error:
            return f"✗ {self.subject}: {self.error}"
        if self.passed:
            return (f"✓ {self.subject}: gradient check passed "
                    f"(max relative error {self.max_rel_error:.1e})")
        failed = [c for c in self.checks if not c.passed]
        first = failed[0]
        why = first.diagnosis or f"{first.name} is wrong"
        others = f" (also wrong: {', '.join(c.name for c in failed[1:])})" if failed[1:] else ""
        return f"✗ {self.subject}: {why}{others}"

    def table(self) -> str:
        rows = [("gradient", "shape", "max rel err", "max abs err", "")]
        rows += [(c.name, str(c.shape), f"{c.max_rel_error:.1e}", f"{c.max_abs_error:.1e}",
                  "ok" if c.passed else "WRONG") for c in self.checks]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
                         for r in rows)

    def __str__(self) -> str:
        return (self.table() + "\n" if self.checks else "") + self.verdict

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        cells = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td>{c.shape}</td>"
            f"<td>{c.max_rel_error:.1e}</td><td>{c.max_abs_error:.1e}</td>"
            f"<td>{'✓' if c.passed else '✗'}</td></tr>" for c in self.checks)
        head = ("<tr><th>gradient</th><th>shape</th><th>max rel err</th>"
                "<th>max abs err</th><th></th></tr>")
        color = "green" if self.passed else "#b00"
        return (f"<table>{head}{cells}</table>"
                f"<p style='color:{color}'>{html.escape(self.verdict)}</p>")


def _compare(name, analytic, numerical, *, noise, rtol, batch) -> TensorCheck:
    shape = tuple(np.shape(numerical))
    if analytic is None:
        return TensorCheck(name, shape, float("inf"), float("inf"), False,
                           f"{name} is None — backward must compute it")
    analytic = np.asarray(analytic)
    if analytic.shape != numerical.shape or not np.issubdtype(analytic.dtype, np.number):
        return TensorCheck(name, tuple(analytic.shape), float("inf"), float("inf"), False,
                           diagnose(analytic, numerical, batch=batch, what=name))
    a = analytic.astype(np.float64)
    with np.errstate(invalid="ignore"):
        abs_err = float(np.max(np.abs(a - numerical))) if a.size else 0.0
        # Entries smaller than noise/rtol are compared absolutely, so a
        # gradient that is zero up to roundoff is not a 100% relative error.
        rel_err = relative_error(a, numerical, max(TINY, noise / rtol))
    passed = bool(np.isfinite(a).all()) and rel_err <= rtol
    if not np.isfinite(rel_err):
        rel_err = float("inf")
    why = "" if passed else diagnose(a, numerical, batch=batch, what=name)
    if not passed and not why:
        scale = np.maximum(np.abs(a) + np.abs(numerical), max(TINY, noise / rtol))
        i = np.unravel_index(int(np.argmax(np.abs(a - numerical) / scale)), a.shape)
        at = f" at index {tuple(int(k) for k in i)}" if a.ndim else ""
        why = (f"{name} differs from the numerical gradient{at}: {a[i]:.6g} vs "
               f"{numerical[i]:.6g} (max relative error {rel_err:.1e}, tolerance {rtol:.0e})")
    return TensorCheck(name, shape, rel_err, abs_err, passed, why)


def _noise_level(terms: np.ndarray, h: float) -> float:
    # Roundoff in f is at most ~eps·Σ|terms|; the difference quotient divides
    # it by 2h.  A safety factor of 10 covers summation order.
    return 10 * np.finfo(np.float64).eps * float(np.sum(np.abs(terms))) / (2 * h)


def _as_rng(seed, stream: int = 0):
    """A Generator from a Generator, an int seed or None.  ``stream`` separates
    uses of the same int seed: inputs drawn with seed 0 must not equal the
    upstream gradient drawn with seed 0 (x == G would hide a transposed dW,
    since xᵀx is symmetric)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(None if seed is None else [seed, stream])


def check_module(module: Module, x, *, seed=0, h: float = 1e-5, upstream=None,
                 rtol: float = 1e-6, name: str | None = None) -> GradcheckReport:
    """Gradient-check ``module.backward`` against finite differences.

    The module is deep-copied and its parameters cast to float64, so the
    caller's layer is left untouched.  With a random upstream gradient
    ``G`` (same shape as the output), the scalar ``f = Σ forward(x) * G`` has
    gradient ``backward(G)`` with respect to ``x`` and ``d<param>`` with
    respect to every parameter; all of them are compared.

    Parameters
    ----------
    module : a Module (a layer or a Sequential).
    x : input, e.g. ``(N, D)``; cast to float64.  Keep it away from kinks
        (see :func:`away_from_kinks`): at a kink the derivative is undefined.
    seed : int or Generator for ``G``.
    upstream : optional fixed ``G``.
    rtol : largest accepted relative error.

    Returns
    -------
    GradcheckReport with one row for ``dx`` and one per parameter.
    """
    subject = name or f"{type(module).__name__}.backward"
    x = np.array(x, dtype=np.float64)
    batch = x.shape[0] if x.ndim >= 2 else None
    report = GradcheckReport(subject, batch=batch, rtol=rtol)
    try:
        module = copy.deepcopy(module)
    except Exception:  # an exotic attribute; checking the original is still correct
        pass
    # dL/dx is one of the gradients checked: a Sequential must not let its first layer skip it.
    module.needs_input_grad = True
    params = [(key, owner, pname) for key, owner, pname in module.parameters()]
    for _, owner, pname in params:
        owner.set_param(pname, np.array(getattr(owner, pname), dtype=np.float64))

    x_before = x.copy()
    out = np.asarray(module.forward(x))
    if not np.array_equal(x, x_before):
        report.subject = f"{type(module).__name__}.forward"
        report.error = mistakes.changed_in_place("x")
        return report
    if not np.issubdtype(out.dtype, np.floating):
        report.error = f"forward returned {out.dtype} values; it must return floats"
        return report
    if not np.isfinite(out).all():
        report.error = "forward returned NaN/inf for ordinary inputs"
        return report
    G = (_as_rng(seed, stream=1).standard_normal(out.shape) if upstream is None
         else np.array(upstream, dtype=np.float64))
    if G.shape != out.shape:
        raise ValueError(f"upstream has shape {G.shape}, the output {out.shape}")
    noise = _noise_level(out * G, h)

    dx = module.backward(G.copy())
    analytic = {"dx": None if dx is None else np.array(dx)}
    for key, owner, pname in params:
        grad = getattr(owner, "d" + pname, None)
        analytic["d" + key] = None if grad is None else np.array(grad)

    def f(_):
        return np.sum(module.forward(x) * G)

    report.checks.append(_compare("dx", analytic["dx"], numerical_gradient(f, x, h),
                                  noise=noise, rtol=rtol, batch=batch))
    for key, owner, pname in params:
        numerical = numerical_gradient(f, getattr(owner, pname), h)
        report.checks.append(_compare("d" + key, analytic["d" + key], numerical,
                                      noise=noise, rtol=rtol, batch=batch))
    return report


def check_loss(loss: Loss, scores, labels, *, h: float = 1e-5, rtol: float = 1e-6,
               name: str | None = None) -> GradcheckReport:
    """Gradient-check ``loss.backward()`` (d mean-loss / d scores).

    Parameters
    ----------
    loss : a Loss; ``forward(scores, labels)`` returns the batch-mean loss.
    scores : (N, K), cast to float64.
    labels : (N,) integer classes (one-hot rows are converted with argmax).
    """
    subject = name or f"{type(loss).__name__}.backward"
    scores = np.array(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    report = GradcheckReport(subject, batch=scores.shape[0], rtol=rtol)
    before = scores.copy()
    value = loss.forward(scores, labels)
    if not np.array_equal(scores, before):
        report.subject = f"{type(loss).__name__}.forward"
        report.error = mistakes.changed_in_place("scores")
        return report
    if np.ndim(value) != 0:
        report.error = (f"forward returned an array of shape {np.shape(value)}; it must "
                        "return one number, the mean loss over the batch")
        return report
    if not np.isfinite(float(value)):
        report.error = f"forward returned {float(value)} for ordinary scores"
        return report
    analytic = loss.backward()
    analytic = None if analytic is None else np.array(analytic)
    noise = 10 * np.finfo(np.float64).eps * max(abs(float(value)), 1.0) / (2 * h)

    def f(s):
        return loss.forward(s, labels)

    numerical = numerical_gradient(f, scores, h)
    report.checks.append(_compare("dscores", analytic, numerical, noise=noise, rtol=rtol,
                                  batch=scores.shape[0]))
    return report


def away_from_kinks(shape, rng=None, kinks=(0.0,), margin: float = 1e-2,
                    scale: float = 1.0) -> np.ndarray:
    """Standard-normal float64 inputs (times ``scale``) at least ``margin``
    away from every value in ``kinks``.

    Finite differences straddling a kink (ReLU at 0) measure neither side's
    derivative; keeping inputs ``margin`` ≫ ``h`` away avoids false alarms.
    """
    rng = _as_rng(rng)
    x = scale * rng.standard_normal(shape)
    for _ in range(100):
        close = np.zeros(x.shape, dtype=bool)
        for k in kinks:
            close |= np.abs(x - k) < margin
        if not close.any():
            return x
        x[close] = scale * rng.standard_normal(int(close.sum()))
    raise ValueError("could not draw inputs away from the kinks; use a smaller margin")
