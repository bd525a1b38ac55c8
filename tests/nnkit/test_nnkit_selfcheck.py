"""nnkit.selfcheck: what a student sees — ✓ lines, or one ✗ line that is also the assertion."""

import nnkit_toys as toys
import numpy as np
import pytest

from nnkit import selfcheck


def run(check, *args, **kwargs):
    """(returned value or None, assertion message or None)."""
    try:
        return check(*args, **kwargs), None
    except AssertionError as err:
        return None, str(err)


LAYERS = [
    # (id, layer, keyword arguments, None if it passes else words of the ✗ line)
    ("relu", toys.ToyReLU, {}, None),
    ("relu-instance", toys.ToyReLU(), {}, None),
    ("linear", toys.ToyLinear, {"args": (5, 3)}, None),
    ("linear-kwargs", toys.ToyLinear, {"kwargs": {"n_in": 5, "n_out": 2}}, None),
    ("tanh", toys.ToyTanh, {"kinks": (), "shape": (3, 2, 4)}, None),
    ("float32", toys.TanhFloat32, {}, "returned float32 for float64 input"),
    ("not-implemented", toys.TanhNotImplemented, {}, "TanhNotImplemented.forward is not implemented yet"),
    ("in-place", toys.ReLUInPlace, {}, "ReLUInPlace.forward: forward changed its input array in place"),
    ("sign", toys.ReLUSignFlipped, {}, "ReLUSignFlipped.backward: dx has the wrong sign"),
    ("transposed", toys.LinearTransposedDW, {"args": (5, 3)}, "dW is transposed: shape (3, 5) instead of (5, 3)"),
    ("divides-by-N", toys.LinearDividesByN, {"args": (5, 3)}, "dW is N times too small (N = batch size = 4)"),
    ("bad-constructor", toys.ToyLinear, {"args": (5,)}, "ToyLinear(5) raised TypeError"),
    ("wrong-width", toys.ToyLinear, {"args": (7, 3)}, "ToyLinear.forward raised ValueError"),
    ("overflow", toys.SigmoidOverflows, {"kinks": ()}, "SigmoidOverflows: inputs of size ±1e3 give NaN/inf"),
    ("overflow-unchecked", toys.SigmoidOverflows, {"kinks": (), "large": None}, None),
]


@pytest.mark.parametrize("name, layer, kwargs, failure", LAYERS, ids=[c[0] for c in LAYERS])
def test_check_layer(capsys, name, layer, kwargs, failure):
    result, message = run(selfcheck.check_layer, layer, **kwargs)
    lines = capsys.readouterr().out.strip().splitlines()
    if failure is None:
        assert result is True and message is None
        expected_lines = 3 if kwargs.get("large", 1e3) is None else 4
        assert len(lines) == expected_lines, lines
        assert all(line.startswith("✓ ") for line in lines), lines
    else:
        assert message is not None and message.startswith("✗ ") and failure in message, message
        assert lines[-1] == message  # the printed verdict is the assertion message
        assert all(line.startswith("✓ ") for line in lines[:-1] if line[:1] in "✓✗")


def test_check_layer_leaves_parameters_alone():
    layer = toys.ToyLinear(5, 3)
    W = layer.W.copy()
    selfcheck.check_layer(layer)
    np.testing.assert_array_equal(layer.W, W)


LOSSES = [
    ("correct", toys.ToySoftmaxCE, {}, None),
    ("correct-wide", toys.ToySoftmaxCE(), {"n": 32, "classes": 10, "seed": 3}, None),
    (
        "no-mean-gradient",
        toys.SoftmaxCENoMean,
        {},
        "dscores is N times too large (N = batch size = 8): did you forget to average over the batch?",
    ),
    ("sum-loss", toys.SoftmaxCESumLoss, {}, "repeating the batch twice changed the loss"),
    ("per-sample", toys.SoftmaxCEPerSample, {}, "returned an array of shape (8,) — it must return one number"),
    ("unstable", toys.SoftmaxCEUnstable, {}, "scores of size 1e4 give a NaN/inf loss or gradient"),
    ("in-place", toys.SoftmaxCEInPlace, {}, "forward changed the scores array in place"),
]


@pytest.mark.parametrize("name, loss, kwargs, failure", LOSSES, ids=[c[0] for c in LOSSES])
def test_check_loss(capsys, name, loss, kwargs, failure):
    result, message = run(selfcheck.check_loss, loss, **kwargs)
    lines = capsys.readouterr().out.strip().splitlines()
    if failure is None:
        assert result is True and len(lines) == 5
        assert all(line.startswith("✓ ") for line in lines), lines
    else:
        assert message is not None and failure in message, message
        assert lines[-1] == message


A = np.arange(1.0, 7.0).reshape(2, 3)

VALUES = [
    ("equal", A.copy(), {}, None),
    ("close", A + 1e-9, {}, None),
    ("list", A.tolist(), {}, None),
    ("scalar", 2.0, {"expected": 2.0}, None),
    ("transposed", A.T, {}, "is transposed: shape (3, 2) instead of (2, 3)"),
    ("shape", A[:1], {}, "has shape (1, 3) but should have shape (2, 3)"),
    ("double", 2 * A, {}, "is 2x too large"),
    ("sign", -A, {}, "has the wrong sign"),
    ("batch-mean", A * 4, {"batch": 4}, "N times too large (N = batch size = 4)"),
    ("nan", np.where(A > 5, np.nan, A), {}, "contains NaN (1 of 6 entries)"),
    ("none", None, {}, "got None — did you forget to return the result?"),
    ("one-entry", A + np.eye(2, 3), {}, "largest difference 1 at index (0, 0): got 2, expected 1"),
    ("strings", np.array(["a"] * 6).reshape(2, 3), {}, "not numbers"),
    # a mistake the caller worked out is named by its words, whatever its shape
    ("known", A[:, ::-1], {"known": [("flips it", A[:, ::-1])]}, "flips it"),
    ("known-shape", np.pad(A, 1), {"known": [("kept the padding", np.pad(A, 1))]}, "kept the padding"),
    ("known-other", -A, {"known": [("flips it", A[:, ::-1])]}, "has the wrong sign"),
    ("known-right", A.copy(), {"known": [("no mistake", A.copy())]}, None),
]


@pytest.mark.parametrize("name, got, kwargs, failure", VALUES, ids=[c[0] for c in VALUES])
def test_check_values(capsys, name, got, kwargs, failure):
    kwargs = dict(kwargs)
    expected = kwargs.pop("expected", A)
    result, message = run(selfcheck.check_values, "Linear.forward", got, expected, **kwargs)
    out = capsys.readouterr().out.strip()
    if failure is None:
        assert result is True and out.startswith("✓ Linear.forward: matches")
    else:
        assert message is not None and message.startswith("✗ Linear.forward: "), message
        assert failure in message, message
        assert out == message
