"""Sequential's contract with its first layer: its input gradient is asked for only when wanted."""
import numpy as np
import pytest
from nnkit_toys import ToyLinear, ToyReLU

from nnkit import Sequential
from nnkit.gradcheck import check_module


class SkippingLinear(ToyLinear):
    """A Linear that honours the flag, as the mlp reference does; records what it was told."""

    def backward(self, g):
        self.told = self.needs_input_grad
        self.dW, self.db = self.x.T @ g, g.sum(axis=0)
        return g @ self.W.T if self.needs_input_grad else None


def _net(input_grad=None):
    layers = (SkippingLinear(4, 3, seed=0), ToyReLU(), SkippingLinear(3, 2, seed=1))
    return Sequential(*layers) if input_grad is None else Sequential(*layers, input_grad=input_grad)


@pytest.mark.parametrize("input_grad, first_told, returns_dx", [
    (None, False, False),       # the default: the input is data
    (False, False, False),
    (True, True, True),
])
def test_first_layer_is_told_whether_its_input_gradient_is_read(input_grad, first_told, returns_dx):
    net = _net(input_grad)
    x = np.random.default_rng(0).normal(size=(5, 4))
    net.forward(x)
    dx = net.backward(np.ones((5, 2)))
    first, last = net.layers[0], net.layers[-1]
    assert first.told is first_told and last.told is True
    assert (dx is not None) is returns_dx
    assert first.needs_input_grad is True      # told for that call only
    assert first.backward(np.ones((5, 3))).shape == (5, 4)
    np.testing.assert_allclose(first.dW, x.T @ np.ones((5, 3)))


def test_layers_that_ignore_the_flag_still_return_dx():
    net = Sequential(ToyLinear(4, 3), ToyReLU())
    net.forward(np.ones((2, 4)))
    assert net.backward(np.ones((2, 3))).shape == (2, 4)


def test_gradcheck_of_a_sequential_still_checks_dx():
    net = _net()
    report = check_module(net, np.random.default_rng(1).normal(size=(3, 4)) + 0.05)
    assert report.passed, report
    assert "dx" in [c.name for c in report.checks] and net.needs_input_grad is False
