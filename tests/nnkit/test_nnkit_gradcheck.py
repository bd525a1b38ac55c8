"""nnkit.gradcheck: numerical gradients, reports, and the diagnosis of typical mistakes."""
import nnkit_toys as toys
import numpy as np
import pytest

from nnkit import Sequential
from nnkit import gradcheck as gc


def test_numerical_gradient_matches_a_known_derivative_and_restores_x():
    x = np.random.default_rng(0).standard_normal((3, 4))
    before = x.copy()
    grad = gc.numerical_gradient(lambda v: np.sum(v ** 3), x)
    # Roundoff: eps·|f| / h ≈ 1e-10 absolute.
    np.testing.assert_allclose(grad, 3 * before ** 2, rtol=1e-7, atol=1e-9)
    assert np.array_equal(x, before)


@pytest.mark.parametrize("bad", [np.ones(3, dtype=np.float32), [1.0, 2.0], np.arange(3)])
def test_numerical_gradient_needs_float64_arrays(bad):
    with pytest.raises(TypeError, match="float64"):
        gc.numerical_gradient(np.sum, bad)


@pytest.mark.parametrize("a, b, tiny, expected", [
    ([1.0, 2.0], [1.0, 2.0], gc.TINY, 0.0),
    ([1.0], [-1.0], gc.TINY, 1.0),
    ([0.0, 0.0], [0.0, 0.0], gc.TINY, 0.0),
    ([1.0, 3.0], [1.0, 1.0], gc.TINY, 0.5),
    ([0.0], [1e-11], gc.TINY, 1.0),
    ([0.0], [1e-11], 1e-3, 1e-8),
    ([], [], gc.TINY, 0.0),
])
def test_relative_error_table(a, b, tiny, expected):
    assert gc.relative_error(a, b, tiny) == pytest.approx(expected, abs=1e-15)


CORRECT = [
    ("linear", lambda: toys.ToyLinear(5, 3), (6, 5)),
    ("relu", toys.ToyReLU, (6, 5)),
    ("tanh", toys.ToyTanh, (2, 3, 4)),
    ("sequential", lambda: Sequential(toys.ToyLinear(5, 4, seed=1), toys.ToyTanh(),
                                      toys.ToyLinear(4, 2, seed=2)), (6, 5)),
]


@pytest.mark.parametrize("name, make, shape", CORRECT, ids=[c[0] for c in CORRECT])
def test_correct_modules_pass(name, make, shape):
    x = gc.away_from_kinks(shape, 0)
    report = gc.check_module(make(), x)
    assert report.passed and bool(report), str(report)
    assert report.max_rel_error < 1e-7
    text = str(report)
    assert text.splitlines()[-1] == report.verdict
    assert report.verdict.startswith("✓ ") and "gradient check passed" in report.verdict
    assert "dx" in report.table()
    assert "<table>" in report._repr_html_()


def test_sequential_reports_every_parameter():
    model = Sequential(toys.ToyLinear(5, 4), toys.ToyReLU(), toys.ToyLinear(4, 2))
    report = gc.check_module(model, gc.away_from_kinks((3, 5), 1))
    assert [c.name for c in report.checks] == ["dx", "d0.W", "d0.b", "d2.W", "d2.b"]


BROKEN = [
    # (id, module, wrong gradient, words the verdict must contain)
    ("divides-by-N", lambda: toys.LinearDividesByN(5, 3), "dW", "dW is N times too small (N = batch size = 6)"),
    ("sign", toys.ReLUSignFlipped, "dx", "wrong sign"),
    ("transposed-shape", lambda: toys.LinearTransposedDW(5, 3), "dW", "dW is transposed: shape (3, 5) instead of (5, 3)"),
    ("transposed-square", lambda: toys.LinearTransposedDW(5, 5), "dW", "dW is transposed"),
    ("zero", toys.ReLUZeroGradient, "dx", "all zeros"),
    ("zero-bias", lambda: toys.LinearZeroDb(5, 3), "db", "all zeros"),
    ("nan", toys.ReLUNaN, "dx", "contains NaN"),
    ("factor-2", lambda: toys.LinearDoubledDx(5, 3), "dx", "dx is 2x too large"),
    ("no-pattern", toys.ReLUSlopeGrows, "dx", "differs from the numerical gradient at index"),
]


@pytest.mark.parametrize("name, make, wrong, words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_modules_get_the_right_diagnosis(name, make, wrong, words):
    report = gc.check_module(make(), gc.away_from_kinks((6, 5), 0))
    assert not report.passed
    assert [c.name for c in report.checks if not c.passed] == [wrong]
    assert report.verdict.startswith("✗ ") and words in report.verdict, report.verdict
    assert "\n" not in report.verdict


def test_forward_that_changes_its_input_is_named():
    report = gc.check_module(toys.ReLUInPlace(), gc.away_from_kinks((4, 5), 0))
    assert not report.passed
    assert report.verdict.startswith("✗ ReLUInPlace.forward: forward changed its input")


def test_the_callers_module_is_left_untouched():
    layer = toys.ToyLinear(5, 3)
    layer.W = layer.W.astype(np.float32)
    W = layer.W.copy()
    gc.check_module(layer, gc.away_from_kinks((4, 5), 0))
    assert layer.W.dtype == np.float32 and np.array_equal(layer.W, W)
    assert not hasattr(layer, "dW")


def test_upstream_gradient_is_seeded_and_can_be_given():
    x = gc.away_from_kinks((4, 5), 0)
    a = gc.check_module(toys.ToyLinear(5, 3), x, seed=3)
    b = gc.check_module(toys.ToyLinear(5, 3), x, seed=3)
    assert a.checks[0].max_abs_error == b.checks[0].max_abs_error
    assert gc.check_module(toys.ToyLinear(5, 3), x, upstream=np.ones((4, 3))).passed
    with pytest.raises(ValueError, match="upstream"):
        gc.check_module(toys.ToyLinear(5, 3), x, upstream=np.ones((3, 4)))


LOSSES = [
    ("correct", toys.ToySoftmaxCE, True, "gradient check passed"),
    ("no-mean", toys.SoftmaxCENoMean, False, "N times too large (N = batch size = 8): did you forget to average over the batch?"),
    ("per-sample", toys.SoftmaxCEPerSample, False, "must return one number"),
    ("in-place", toys.SoftmaxCEInPlace, False, "SoftmaxCEInPlace.forward: forward changed the scores"),
]


@pytest.mark.parametrize("name, make, passes, words", LOSSES, ids=[c[0] for c in LOSSES])
def test_check_loss(name, make, passes, words):
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal((8, 5)), rng.integers(5, size=8)
    report = gc.check_loss(make(), scores, labels)
    assert report.passed is passes
    assert words in report.verdict, report.verdict


def test_check_loss_accepts_one_hot_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(5, size=8)
    assert gc.check_loss(toys.ToySoftmaxCE(), rng.standard_normal((8, 5)), np.eye(5)[labels]).passed


@pytest.mark.parametrize("kinks, margin", [((0.0,), 1e-2), ((0.0, 1.0, -1.0), 0.05), ((), 0.1)])
def test_away_from_kinks(kinks, margin):
    x = gc.away_from_kinks((50, 40), 0, kinks, margin)
    assert x.shape == (50, 40) and x.dtype == np.float64
    for k in kinks:
        assert np.abs(x - k).min() >= margin
    np.testing.assert_array_equal(x, gc.away_from_kinks((50, 40), 0, kinks, margin))


def test_noise_does_not_fail_a_gradient_that_is_zero_almost_everywhere():
    # A wide layer followed by ReLU: many exact zeros in dx next to large
    # entries; roundoff in the numerical gradient must not count as an error.
    model = Sequential(toys.ToyLinear(30, 40, std=3.0), toys.ToyReLU())
    x = gc.away_from_kinks((20, 30), 0, scale=5.0)
    assert gc.check_module(model, x).passed
