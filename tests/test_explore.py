"""nnkit.explore: the numbers the explorers show, and that they never need a front end."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from nnkit import explore


@pytest.mark.parametrize("x1, x2, node, value, grad", [
    (-1, 3, "m", 1.0, 0.0),
    (-1, 3, "s", 2.0, 1.0),
    (-1, 3, "x1", -1.0, -0.5),
    (-1, 3, "x2", 3.0, 0.5),
    (-1, 3, "v", 4.0, 0.25),
    (5, 1, "x1", 5.0, 0.5),       # x1 above x2: the sign flips (s = |x1 - x2| / 2)
    (0, 0.5, "d1", -0.25, -0.5),
])
def test_std_graph_values(x1, x2, node, value, grad):
    vals = explore.std_graph_values(x1, x2)
    assert vals["value"][node] == pytest.approx(value)
    assert vals["grad"][node] == pytest.approx(grad)


@pytest.mark.parametrize("x1, x2", [(-1, 3), (2.5, -0.5), (0.1, 0.2)])
def test_std_graph_gradient_matches_finite_differences(x1, x2):
    std = lambda a, b: float(np.std([a, b]))  # noqa: E731 - population std, as in the graph
    h = 1e-6
    grad = explore.std_graph_values(x1, x2)["grad"]
    assert grad["x1"] == pytest.approx((std(x1 + h, x2) - std(x1 - h, x2)) / (2 * h), rel=1e-5)
    assert grad["x2"] == pytest.approx((std(x1, x2 + h) - std(x1, x2 - h)) / (2 * h), rel=1e-5)


def test_std_graph_at_equal_samples_has_no_gradient():
    vals = explore.std_graph_values(2, 2)
    assert vals["value"]["s"] == 0 and math.isnan(vals["grad"]["x1"])
    assert "undefined" in explore._std_html(2, 2)


@pytest.mark.parametrize("name", list(explore.activation_functions()))
def test_activation_derivatives_match_finite_differences(name):
    f, df = explore.activation_functions(alpha=0.2)[name]
    x = np.array([-3.0, -0.7, 0.3, 2.0])     # away from ReLU's kink
    h = 1e-6
    assert np.allclose(df(x), (f(x + h) - f(x - h)) / (2 * h), atol=1e-6)


@pytest.mark.parametrize("logits, cls, temperature, loss", [
    ((0.0, 0.0, 0.0), 0, 1.0, math.log(3)),
    ((0.65, 0.43, 0.11), 0, 1.0, 0.8693110932),    # sample 1 of exercise 1
    ((1000.0, 999.0, 0.0), 1, 1.0, 1.3132616875),  # needs the max shift
    ((2.0, 0.0, 0.0), 0, 2.0, -math.log(math.e / (math.e + 2))),
])
def test_softmax_ce_values(logits, cls, temperature, loss):
    vals = explore.softmax_ce_values(logits, cls, temperature)
    assert vals["loss"] == pytest.approx(loss, rel=1e-8)
    assert vals["p"].sum() == pytest.approx(1.0)
    assert vals["grad"].sum() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("surface", list(explore.SURFACES))
@pytest.mark.parametrize("name", ["SGD", "Momentum", "RMSProp", "Adam"])
def test_default_learning_rates_make_progress(surface, name):
    spec = explore.SURFACES[surface]
    path = explore.run_path(explore.default_optimizers()[name], surface, spec["lr"][name], spec["steps"])
    start, end = spec["f"](path[0])[0], spec["f"](path[-1])[0]
    assert np.isfinite(end) and end < 0.5 * start


def test_divergence_stops_early():
    path = explore.run_path(explore.default_optimizers()["SGD"], "quadratic", lr=0.2, steps=500)
    assert len(path) < 501 and np.abs(path[-1]).max() > 1e6


def test_from_optimizer_wraps_an_nnkit_optimizer():
    from nnkit import Optimizer

    class Plain(Optimizer):
        def update(self, key, param, grad):
            return param - self.lr * grad

    ours = explore.run_path(explore.from_optimizer(Plain(lr=0.0)), "quadratic", 0.05, 20)
    reference = explore.run_path(explore.default_optimizers()["SGD"], "quadratic", 0.05, 20)
    assert np.allclose(ours, reference)


class Counting:
    """An optimizer whose step grows with its own step counter: a path depends on the state it starts from."""

    def __init__(self, lr=0.0):
        self.lr, self.t = lr, 0

    def update(self, key, param, grad):
        self.t += 1
        return param - self.lr * self.t * grad


@pytest.mark.parametrize("given", [Counting(), Counting], ids=["an instance", "a factory"])
def test_from_optimizer_gives_every_path_a_fresh_optimizer(given):
    update = explore.from_optimizer(given)
    first, second = (explore.run_path(update, "quadratic", 1e-4, 30) for _ in range(2))
    assert np.array_equal(first, second)
    assert not isinstance(given, Counting) or given.t == 0     # the one given is never stepped


@pytest.mark.parametrize("make", [explore.std_graph_widget, explore.activations_widget,
                                  explore.softmax_ce_widget, explore.optimizer_paths_widget])
def test_widgets_build_with_a_picture_and_text(make):
    import ipywidgets as w
    widget = make()
    leaves, stack = [], [widget]
    while stack:
        node = stack.pop()
        stack.extend(getattr(node, "children", ()))
        leaves.append(node)
    assert any(isinstance(n, w.Image) and n.value[:4] == b"\x89PNG" for n in leaves)
    assert any(isinstance(n, w.HTML) and n.value for n in leaves)


def test_std_slider_recomputes_the_gradient_text():
    widget = explore.std_graph_widget(-1, 3)
    s1, s2 = widget.children[0].children
    text = widget.children[1].children[0]
    assert "∂s/∂x1 = -0.500" in text.value
    s2.value = -4
    assert "∂s/∂x1 = 0.500" in text.value


@pytest.mark.parametrize("env, mode", [
    ({"NNKIT_FAST": "1"}, "static"),
    ({"NNKIT_FAST": "1", "NNKIT_WIDGETS": "live"}, "live"),
    ({"NNKIT_WIDGETS": "static"}, "static"),
    ({}, "static"),                      # plain python: no kernel
])
def test_mode_outside_a_kernel(monkeypatch, env, mode):
    for key in ("NNKIT_FAST", "NNKIT_WIDGETS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert explore._mode() == mode


def test_one_liners_run_in_plain_python_quickly():
    code = ("import nnkit.explore as e; e.std_graph(); e.activations(); e.softmax_ce(); "
            "e.optimizer_paths(); print('ok')")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("NNKIT_WIDGETS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_std_explorer_does_not_open_at_the_graded_point():
    """What the explorer shows by default must not be the backprop exercise's answer."""
    import nbformat

    from autograder.assignments.backprop import spec
    from autograder.engine.reference import source_notebook
    assert explore.STD_START != (spec.X1, spec.X2)
    shown = explore.std_graph_widget().children[1].children[0].value
    graded = explore.std_graph_values(spec.X1, spec.X2)["value"]
    assert f"{graded['v']:.3f}" not in shown          # 4.000: v (and q1, q2) at the graded point
    cell = next(c for c in nbformat.read(source_notebook("backprop"), as_version=4).cells
                if c.get("id") == "std-explorer")
    assert "std_graph()" in cell.source, cell.source


@pytest.mark.parametrize("logits, true_class", [((60.0, 0.0, 0.0), 0), ((1e-9, 0.0), 0), ((3.0, 1.0), 1)])
def test_softmax_loss_is_never_printed_negative(logits, true_class):
    assert explore.softmax_ce_values(logits, true_class)["loss"] >= 0
    assert "-0.000" not in explore._softmax_html(logits, true_class, 1.0)
