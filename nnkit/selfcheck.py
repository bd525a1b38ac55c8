"""Self-checks for the notebooks' test cells: one verdict line per check.

Each function prints ``✓ ...`` lines for what passed and, at the first
failure, a ``✗ ... — diagnosis`` line, then raises ``SelfCheckFailed`` (an
AssertionError, so a test cell fails on it).  On success it returns True.
An exception or a numerical warning in the student's code becomes such a ✗
line too; Jupyter then shows only the frames of the student's own code, never
this module's.

The checks know no solution: they use numerical gradients, general
properties (an activation keeps the shape, a batch-mean loss does not change
when the batch is repeated) and values the caller passes in.
"""
from __future__ import annotations

import contextlib
import os
import traceback
import warnings

import numpy as np

from . import gradcheck, mistakes

_LIBRARIES = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(np.__file__))
MAX_FRAMES = 3


class SelfCheckFailed(AssertionError):
    """A self-check's ✗ verdict.  The ✗ line is already printed, so IPython (which calls
    ``_render_traceback_`` instead of formatting the traceback) shows only the last frames
    of the student's own code that raised, if any: the self-check's frames would only
    repeat the line."""

    def __init__(self, line: str, cause: BaseException | None = None):
        super().__init__(line)
        self.student_frames = _student_frames(cause)

    def _render_traceback_(self) -> list[str]:
        return self.student_frames


def _student_frames(cause: BaseException | None) -> list[str]:
    """Where in the student's code ``cause`` was raised: the last few frames outside nnkit
    and NumPy, formatted as Python does.  Empty for a wrong value or a stub."""
    if cause is None or isinstance(cause, NotImplementedError):
        return []
    frames = [f for f in traceback.extract_tb(cause.__traceback__)
              if not os.path.abspath(f.filename).startswith(_LIBRARIES)]
    if not frames:
        return []
    return ["Raised in your code:", *"".join(traceback.format_list(frames[-MAX_FRAMES:])).rstrip().splitlines()]


def _report_ok(line: str) -> None:
    print(f"✓ {line}")


def _report_fail(line: str, cause: BaseException | None = None):
    text = f"✗ {line}"
    print(text)
    raise SelfCheckFailed(text, cause) from None


@contextlib.contextmanager
def _strict():
    """Numerical warnings (overflow, division by zero, invalid values) become errors."""
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _call(what: str, fn, *args, strict: bool = False):
    """Run student code; turn an exception, or with ``strict`` a numerical warning, into a
    ✗ verdict naming it."""
    try:
        with _strict() if strict else contextlib.nullcontext():
            return fn(*args)
    except NotImplementedError as err:
        _report_fail(f"{what} is not implemented yet", err)
    except (FloatingPointError, RuntimeWarning) as err:
        _report_fail(mistakes.numerical_trouble(what, err), err)
    except Exception as err:  # noqa: BLE001 (any error in student code is a verdict)
        _report_fail(f"{what} raised {type(err).__name__}: {err}", err)


def _instance(obj, args, kwargs):
    """``obj`` itself, or an instance when ``obj`` is a class."""
    if isinstance(obj, type):
        shown = ", ".join([repr(a) for a in args]
                          + [f"{k}={v!r}" for k, v in (kwargs or {}).items()])
        return _call(f"{obj.__name__}({shown})", lambda: obj(*args, **(kwargs or {})))
    return obj


def check_layer(layer, *, shape=(4, 5), kinks=(0.0,), seed: int = 0, args=(), kwargs=None,
                elementwise: bool | None = None, scale: float = 1.0, large: float | None = 1e3,
                rtol: float = 1e-6) -> bool:
    """Check a layer's forward shape, dtype handling, gradients and stability.

    Parameters
    ----------
    layer : a Module instance, or its class (then built with ``args``/``kwargs``).
    shape : input shape, e.g. ``(N, in_features)`` for a Linear layer.
    kinks : input values where the derivative jumps (0 for ReLU); inputs are
        drawn at least 0.01 away from them.  ``()`` for smooth functions.
    elementwise : the output must have the input's shape (default: True for
        layers without parameters, i.e. activations).
    scale : standard deviation of the random inputs.
    large : inputs of this size (both signs) must give finite outputs and
        gradients; None skips that check.
    """
    layer = _instance(layer, args, kwargs)
    name = type(layer).__name__
    if elementwise is None:
        elementwise = not getattr(layer, "param_names", ())
    rng = np.random.default_rng(seed)
    x = gradcheck.away_from_kinks(shape, rng, kinks, scale=scale)

    out = _call(f"{name}.forward", layer.forward, x.copy())
    if out is None:
        _report_fail(f"{name}.forward returned None — it must return the output array")
    out = np.asarray(out)
    if elementwise and out.shape != x.shape:
        _report_fail(f"{name}.forward: output shape {out.shape} differs from the input "
                     f"shape {x.shape} — an activation works elementwise")
    if not elementwise and (out.ndim == 0 or out.shape[0] != x.shape[0]):
        _report_fail(f"{name}.forward: output shape {out.shape} for input {x.shape} — "
                     "there must be one output row per input row")
    _report_ok(f"{name}.forward: input {x.shape} -> output {out.shape}")

    if not np.issubdtype(out.dtype, np.floating):
        _report_fail(f"{name}.forward returned {out.dtype} values for float64 input — "
                     "the output must stay floating point")
    if out.dtype != np.float64:
        _report_fail(f"{name}.forward returned {out.dtype} for float64 input — it loses "
                     "precision (do not convert to float32 inside the layer)")
    out32 = np.asarray(_call(f"{name}.forward (float32 input)", layer.forward,
                             x.astype(np.float32)))
    if not np.issubdtype(out32.dtype, np.floating) or not np.isfinite(out32).all():
        _report_fail(f"{name}.forward on float32 input returned "
                     f"{out32.dtype} values{'' if np.isfinite(out32).all() else ' with NaN/inf'}")
    _report_ok(f"{name}.forward: float64 stays float64, float32 input works")

    report = _call(f"{name}.backward", lambda: gradcheck.check_module(
        layer, x, seed=seed, rtol=rtol))
    if not report.passed:
        if report.checks:
            print(report.table())
        _report_fail(report.verdict[2:])
    print(report.verdict)

    if large is not None:
        big = large * np.sign(x) * (1 + np.abs(x))
        size = _size(large)
        # Only the results count: numpy's overflow warnings in a branch that
        # np.where then discards are harmless and would bury the verdict.
        with np.errstate(all="ignore"):
            out = _call(f"{name}.forward (inputs of size {size})", layer.forward, big)
            grad = _call(f"{name}.backward (inputs of size {size})", layer.backward,
                         np.ones_like(np.asarray(out, dtype=np.float64)))
        if not (np.isfinite(np.asarray(out, np.float64)).all() and grad is not None
                and np.isfinite(np.asarray(grad, np.float64)).all()):
            _report_fail(f"{name}: inputs of size ±{size} give NaN/inf in the output or the "
                         "gradient — something overflows (exp of a large number?); compute "
                         "it in a form that stays finite")
        _report_ok(f"{name}: finite output and gradient for inputs of size ±{size}")
    return True


def _size(value: float) -> str:
    """1e3 rather than 1e+03."""
    return f"{value:.0e}".replace("e+0", "e").replace("e+", "e")


def check_loss(loss, *, n: int = 8, classes: int = 5, seed: int = 0, args=(), kwargs=None,
               scale: float = 2.0, large: float = 1e4, rtol: float = 1e-6) -> bool:
    """Check a loss: one finite number, a batch mean, its gradient, stability.

    Parameters
    ----------
    loss : a Loss instance, or its class (then built with ``args``/``kwargs``).
    n, classes : batch size N and number of classes K of the random scores.
    scale : standard deviation of the random scores.
    large : scores of this size must still give a finite loss and gradient.
    """
    loss = _instance(loss, args, kwargs)
    name = type(loss).__name__
    rng = np.random.default_rng(seed)
    scores = scale * rng.standard_normal((n, classes))
    labels = rng.integers(classes, size=n)

    value = _call(f"{name}.forward", loss.forward, scores.copy(), labels)
    if value is None or np.ndim(value) != 0:
        got = "None" if value is None else f"an array of shape {np.shape(value)}"
        _report_fail(f"{name}.forward returned {got} — it must return one number, the mean "
                     "loss over the batch")
    value = float(value)
    if not np.isfinite(value):
        _report_fail(f"{name}.forward returned {value} for ordinary scores")
    _report_ok(f"{name}.forward: returns one finite number ({value:.4g})")

    doubled = float(_call(f"{name}.forward", loss.forward, np.concatenate([scores, scores]),
                          np.concatenate([labels, labels])))
    if not np.isclose(doubled, value, rtol=1e-9, atol=1e-12):
        ratio = doubled / value if value else float("inf")
        _report_fail(f"{name}.forward: repeating the batch twice changed the loss from "
                     f"{value:.4g} to {doubled:.4g} ({ratio:.2f}x) — the loss is the mean "
                     "over the batch, so divide the sum by N")
    _report_ok(f"{name}.forward: a batch mean (repeating the batch leaves it unchanged)")

    report = _call(f"{name}.backward", lambda: gradcheck.check_loss(
        loss, scores, labels, rtol=rtol))
    if not report.passed:
        _report_fail(report.verdict[2:])
    print(report.verdict)

    _call(f"{name}.forward", loss.forward, scores.copy(), labels)
    grad = np.asarray(_call(f"{name}.backward", loss.backward), dtype=np.float64)
    _call(f"{name}.forward", loss.forward, np.concatenate([scores, scores]),
          np.concatenate([labels, labels]))
    grad2 = np.asarray(_call(f"{name}.backward", loss.backward), dtype=np.float64)
    if grad2.shape != (2 * n, classes) or not np.allclose(grad2[:n], grad / 2, rtol=1e-6,
                                                          atol=1e-12):
        why = ("" if grad2.shape != (2 * n, classes) else
               gradcheck.diagnose(grad2[:n], grad / 2, what="it", reference="the expected half"))
        _report_fail(f"{name}.backward: doubling the batch must halve every row of the "
                     f"gradient (it is d mean / d scores, a 1/N factor){' — ' + why if why else ''}")
    _report_ok(f"{name}.backward: the gradient scales as 1/N")

    big = large * np.sign(scores) * (1 + np.abs(scores))
    size = _size(large)
    # The verdict line says what overflowed; numpy's warnings would only bury it.
    with np.errstate(all="ignore"):
        big_value = _call(f"{name}.forward", loss.forward, big, labels)
        big_grad = _call(f"{name}.backward", loss.backward)
    finite = (np.isfinite(np.asarray(big_value, dtype=np.float64)).all()
              and big_grad is not None and np.isfinite(np.asarray(big_grad, np.float64)).all())
    if not finite:
        _report_fail(f"{name}: scores of size {size} give a NaN/inf loss or gradient — "
                     "something overflows (exp of a large number?); e.g. subtract each "
                     "row's maximum before exponentiating")
    _report_ok(f"{name}: finite loss and gradient for scores of size {size}")
    return True


def check_values(name: str, got, expected, atol: float = 1e-8, rtol: float = 1e-5,
                 *, batch: int | None = None, strict: bool = False, known=()) -> bool:
    """Compare ``got`` with ``expected`` (arrays or numbers) and say how they differ.

    ``got`` may be a function of no arguments (``lambda: layer.forward(x)``): it is then
    called here, so an exception in it becomes the ✗ line, and with ``strict=True`` so does
    a numerical warning (overflow, division by zero).  ``batch`` (the batch size N) lets a
    result off by a factor N be named.  ``known``: ``[(words, what that mistake gives)]``, worked
    out by the caller (a flipped kernel, say); a result that matches one is named by its words.
    """
    if callable(got):
        got = _call(name, got, strict=strict)
    if got is None:
        _report_fail(f"{name}: got None — did you forget to return the result?")
    got_arr, expected = np.asarray(got), np.asarray(expected, dtype=np.float64)
    for words, wrong in known:       # before the shape test: a known mistake may have its own shape
        wrong = np.asarray(wrong, dtype=np.float64)
        if wrong.shape != got_arr.shape or not np.issubdtype(got_arr.dtype, np.number):
            continue
        if wrong.shape == expected.shape and np.allclose(wrong, expected, atol=atol, rtol=rtol):
            continue                 # the mistake makes no difference on these values
        if np.allclose(got_arr, wrong, atol=atol, rtol=rtol):
            _report_fail(f"{name}: {words}")
    if got_arr.shape != expected.shape:
        _report_fail(f"{name}: {gradcheck.diagnose(got_arr, expected, what='the result')}")
    if not np.issubdtype(got_arr.dtype, np.number) and got_arr.dtype != bool:
        _report_fail(f"{name}: the result has dtype {got_arr.dtype}, not numbers")
    got_arr = got_arr.astype(np.float64)
    if np.allclose(got_arr, expected, atol=atol, rtol=rtol, equal_nan=False):
        err = float(np.max(np.abs(got_arr - expected))) if got_arr.size else 0.0
        _report_ok(f"{name}: matches the expected values (max abs error {err:.1e})")
        return True
    why = gradcheck.diagnose(got_arr, expected, batch=batch, what="the result",
                             reference="the expected values")
    if not why:
        with np.errstate(invalid="ignore"):
            diff = np.abs(got_arr - expected)
        i = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        where = f" at index {tuple(int(k) for k in i)}" if diff.ndim else ""
        why = (f"largest difference {float(diff[i]):.3g}{where}: got {float(got_arr[i]):.6g}, "
               f"expected {float(expected[i]):.6g}")
    _report_fail(f"{name}: {why}")


def check_named(name: str, got, expected, mistakes=(), atol: float = 1e-8, rtol: float = 1e-5) -> bool:
    """``check_values``, but a result that equals one of the named wrong answers ``[(message, wrong value)]``
    fails with that message (the words come from ``nnkit.mistakes``, which the grader uses too)."""
    if callable(got):
        got = _call(name, got)
    if got is not None and np.shape(got) == np.shape(expected) and \
            not np.allclose(np.asarray(got, dtype=np.float64), expected, atol=atol, rtol=rtol):
        for message, wrong in mistakes:
            if np.shape(wrong) == np.shape(got) and np.allclose(np.asarray(got, dtype=np.float64), wrong,
                                                                  atol=atol, rtol=rtol):
                _report_fail(f"{name}: {message}")
    return check_values(name, got, expected, atol, rtol)
