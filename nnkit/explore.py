"""Explorers for the backprop assignment: one line in a notebook each.

    nnkit.explore.std_graph()          computational graph of the std of two samples
    nnkit.explore.activations()        f and f' of the activation functions
    nnkit.explore.softmax_ce()         softmax with temperature and its cross-entropy
    nnkit.explore.optimizer_paths()    SGD / momentum / RMSProp / Adam on 2-D surfaces

Each one shows live ipywidgets in a notebook front end and a static matplotlib
figure otherwise (plain Python, ``NNKIT_FAST=1``, outside a kernel), so headless
execution and grading never wait on it.  ``NNKIT_WIDGETS=live`` or ``=static``
overrides the choice (the browser test needs live widgets while NNKIT_FAST keeps
training short).  The pure parts (values, figures, widgets) are separate
functions so they can be tested without a front end.
"""
from __future__ import annotations

import copy
import io
import math
import os
from collections.abc import Callable

import numpy as np

__all__ = [
    "std_graph", "std_graph_values", "std_graph_figure", "std_graph_widget",
    "activations", "activation_functions", "activations_figure", "activations_widget",
    "softmax_ce", "softmax", "softmax_ce_values", "softmax_ce_figure", "softmax_ce_widget",
    "optimizer_paths", "default_optimizers", "from_optimizer", "run_path", "SURFACES",
    "optimizer_paths_figure", "optimizer_paths_widget",
]


# --------------------------------------------------------------------------- display

def _mode() -> str:
    """'live' when a notebook front end can show widgets, else 'static'."""
    forced = os.environ.get("NNKIT_WIDGETS", "").strip().lower()
    if forced in ("live", "static"):
        return forced
    if os.environ.get("NNKIT_FAST") == "1":
        return "static"
    try:
        from IPython import get_ipython
    except ImportError:
        return "static"
    shell = get_ipython()
    # Only a kernel (ipykernel) has a front end that can render widgets;
    # a terminal IPython shell has no `kernel` attribute.
    if shell is None or getattr(shell, "kernel", None) is None:
        return "static"
    return "live"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _new_figure(width: float, height: float):
    # A bare Figure (not pyplot) is never shown twice by the inline backend and
    # leaves no open figures behind in long sessions.
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), layout="constrained")


def _show(fig) -> None:
    """Show a static figure in IPython as a PNG; in plain Python do nothing."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return
    if get_ipython() is None:
        return
    display(Image(data=_png(fig)))


def _fmt(value: float) -> str:
    # U+2212 minus would not match what students type; keep ASCII "-".
    if value is None or not math.isfinite(value):
        return "undefined"
    return f"{value:.3f}"


# --------------------------------------------------------------------------- std graph

# The explorers open away from the notebook's graded point (x1, x2) = (-1, 3): what they show
# by default must not be the exercise's answer.
STD_START = (2.5, 0.5)

# Node name -> (column, row) in the drawing, inputs on the left, s on the right.
_STD_LAYOUT = {
    "x1": (0, 1), "x2": (0, -1), "m": (1, 0), "d1": (2, 1), "d2": (2, -1),
    "q1": (3, 1), "q2": (3, -1), "v": (4, 0), "s": (5, 0),
}
_STD_LABEL = {"x1": "x₁", "x2": "x₂", "m": "m", "d1": "d₁", "d2": "d₂",
              "q1": "q₁ = d₁²", "q2": "q₂ = d₂²", "v": "v", "s": "s = √v"}


def std_graph_values(x1: float, x2: float) -> dict:
    """Forward values, local gradients (per edge) and total gradients ds/d(node).

    m = (x1 + x2)/2, d_i = x_i - m, q_i = d_i², v = (q1 + q2)/2, s = √v.
    At s = 0 (x1 == x2) the square root has no derivative: gradients are nan.
    """
    x1, x2 = float(x1), float(x2)
    m = (x1 + x2) / 2
    d1, d2 = x1 - m, x2 - m
    q1, q2 = d1 * d1, d2 * d2
    v = (q1 + q2) / 2
    s = math.sqrt(v)
    ds_dv = 1 / (2 * s) if s > 0 else math.nan
    local = {  # (child, parent): d child / d parent, keyed as edges parent -> child
        ("x1", "m"): 0.5, ("x2", "m"): 0.5,
        ("x1", "d1"): 1.0, ("m", "d1"): -1.0, ("x2", "d2"): 1.0, ("m", "d2"): -1.0,
        ("d1", "q1"): 2 * d1, ("d2", "q2"): 2 * d2,
        ("q1", "v"): 0.5, ("q2", "v"): 0.5, ("v", "s"): ds_dv,
    }
    grad = {"s": 1.0}
    grad["v"] = grad["s"] * local["v", "s"]
    grad["q1"] = grad["v"] * local["q1", "v"]
    grad["q2"] = grad["v"] * local["q2", "v"]
    grad["d1"] = grad["q1"] * local["d1", "q1"]
    grad["d2"] = grad["q2"] * local["d2", "q2"]
    # m feeds both deviations: its gradient is the sum over its two uses.
    grad["m"] = grad["d1"] * local["m", "d1"] + grad["d2"] * local["m", "d2"]
    grad["x1"] = grad["d1"] * local["x1", "d1"] + grad["m"] * local["x1", "m"]
    grad["x2"] = grad["d2"] * local["x2", "d2"] + grad["m"] * local["x2", "m"]
    value = {"x1": x1, "x2": x2, "m": m, "d1": d1, "d2": d2, "q1": q1, "q2": q2, "v": v, "s": s}
    return {"value": value, "local": local, "grad": grad}


def std_graph_figure(x1: float = STD_START[0], x2: float = STD_START[1]):
    """The graph with forward values (black) and ∂s/∂node (red) on each node."""
    vals = std_graph_values(x1, x2)
    fig = _new_figure(7.5, 3.6)  # fits beside the table in a notebook column
    ax = fig.add_subplot()
    ax.set_xlim(-0.6, 5.6)
    ax.set_ylim(-1.9, 1.9)
    ax.axis("off")
    for (parent, child), local in vals["local"].items():
        (xa, ya), (xb, yb) = _STD_LAYOUT[parent], _STD_LAYOUT[child]
        ax.annotate("", xy=(xb, yb), xytext=(xa, ya),
                    arrowprops=dict(arrowstyle="->", color="0.55", shrinkA=20, shrinkB=20))
        ax.text(xa + 0.5 * (xb - xa), ya + 0.5 * (yb - ya) + 0.09, _fmt(local),
                fontsize=8, color="tab:blue", ha="center", va="bottom")
    for node, (x, y) in _STD_LAYOUT.items():
        ax.add_patch(_circle((x, y)))
        ax.text(x, y, _STD_LABEL[node].split(" ")[0], ha="center", va="center", fontsize=12)
        ax.text(x, y - 0.36, f"= {_fmt(vals['value'][node])}", ha="center", va="top", fontsize=9)
        ax.text(x, y - 0.62, f"∂s/∂{node} = {_fmt(vals['grad'][node])}",
                ha="center", va="top", fontsize=9, color="tab:red")
    ax.set_title(f"std of (x₁, x₂) = ({x1:g}, {x2:g}): values black, local gradients blue, "
                 "∂s/∂node red", fontsize=9)
    return fig


def _circle(center):
    from matplotlib.patches import Circle
    return Circle(center, 0.24, facecolor="#f3f3f3", edgecolor="0.3")


def _std_html(x1: float, x2: float) -> str:
    vals = std_graph_values(x1, x2)
    rows = "".join(
        f"<tr><td>{node}</td><td>{_fmt(vals['value'][node])}</td>"
        f"<td style='white-space:nowrap'>∂s/∂{node} = {_fmt(vals['grad'][node])}</td></tr>"
        for node in _STD_LAYOUT)
    note = "" if vals["value"]["s"] > 0 else (
        "<p><b>s = 0:</b> √v has no derivative at 0, so no gradient exists here.</p>")
    return (f"<div class='nnkit-std-graph' style='min-width:16em'><table><tr><th>node</th><th>value</th>"
            f"<th>gradient</th></tr>{rows}</table>{note}</div>")


def std_graph_widget(x1: float = STD_START[0], x2: float = STD_START[1]):
    import ipywidgets as w
    s1 = w.FloatSlider(value=x1, min=-5, max=5, step=0.5, description="x1", continuous_update=False)
    s2 = w.FloatSlider(value=x2, min=-5, max=5, step=0.5, description="x2", continuous_update=False)
    text = w.HTML()
    image = w.Image(format="png")

    def redraw(_=None):
        # Picture first: once the numbers change, the picture already matches them.
        image.value = _png(std_graph_figure(s1.value, s2.value))
        text.value = _std_html(s1.value, s2.value)

    s1.observe(redraw, names="value")
    s2.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([s1, s2]), w.HBox([text, image])])


def std_graph(x1: float = STD_START[0], x2: float = STD_START[1]) -> None:
    """Show the std graph; sliders for x1, x2 when a front end is attached."""
    _display(std_graph_widget, std_graph_figure, x1, x2)


def _display(make_widget, make_figure, *args, **kwargs) -> None:
    if _mode() == "live":
        from IPython.display import display
        display(make_widget(*args, **kwargs))
    else:
        _show(make_figure(*args, **kwargs))


# --------------------------------------------------------------------------- activations

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _sigmoid(x):
    # exp of a non-positive number only: no overflow for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _gelu(x):
    u = _SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
    return 0.5 * x * (1 + np.tanh(u))


def _gelu_grad(x):
    u = _SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
    t = np.tanh(u)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x ** 2)


def activation_functions(alpha: float = 0.1) -> dict[str, tuple[Callable, Callable]]:
    """name -> (f, f'); alpha is the negative slope of LeakyReLU / PReLU.

    (PReLU is LeakyReLU whose alpha is learned; for a plot they coincide.)
    """
    return {
        "Sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
        "Tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
        "ReLU": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
        "LeakyReLU / PReLU": (lambda x: np.where(x > 0, x, alpha * x),
                              lambda x: np.where(x > 0, 1.0, alpha)),
        "GELU": (_gelu, _gelu_grad),
    }


def _saturation(df, x) -> float:
    """Share of inputs in x where the derivative is (almost) zero."""
    return float(np.mean(np.abs(df(x)) < 0.01))


def _plot_activation(ax, name, f, df, x):
    ax.plot(x, f(x), label="f(x)", color="tab:blue")
    ax.plot(x, df(x), label="f′(x)", color="tab:red", linestyle="--")
    ax.axhline(0, color="0.8", linewidth=0.8)
    ax.axvline(0, color="0.8", linewidth=0.8)
    ax.set_title(name, fontsize=10)
    ax.set_ylim(-1.5, 3)


def activations_figure(alpha: float = 0.1, x_max: float = 6.0):
    fns = activation_functions(alpha)
    x = np.linspace(-x_max, x_max, 401)
    fig = _new_figure(13, 2.8)
    axes = fig.subplots(1, len(fns), sharey=True)
    for ax, (name, (f, df)) in zip(axes, fns.items()):
        _plot_activation(ax, name, f, df, x)
        ax.set_xlabel(f"|f′| < 0.01 on {100 * _saturation(df, x):.0f}% of [−{x_max:g}, {x_max:g}]",
                      fontsize=8)
    axes[0].legend(loc="upper left", fontsize=8)
    return fig


def _activation_html(name: str, alpha: float, x_max: float) -> str:
    f, df = activation_functions(alpha)[name]
    x = np.linspace(-x_max, x_max, 401)
    probes = "".join(f"<td>f′({p:g}) = {_fmt(float(df(np.array(p))))}</td>"
                     for p in (-x_max, -1.0, 0.5, x_max))
    return (f"<div class='nnkit-activation'><b>{name}</b><table><tr>{probes}</tr></table>"
            f"|f′| &lt; 0.01 on {100 * _saturation(df, x):.0f}% of [-{x_max:g}, {x_max:g}]</div>")


def activations_widget(alpha: float = 0.1, x_max: float = 6.0):
    import ipywidgets as w
    names = list(activation_functions())
    choice = w.Dropdown(options=names, value="Sigmoid", description="function")
    slope = w.FloatSlider(value=alpha, min=0.0, max=0.5, step=0.01, description="alpha",
                          continuous_update=False)
    width = w.FloatSlider(value=x_max, min=1, max=20, step=1, description="x range",
                          continuous_update=False)
    text = w.HTML()
    image = w.Image(format="png")

    def redraw(_=None):
        f, df = activation_functions(slope.value)[choice.value]
        x = np.linspace(-width.value, width.value, 401)
        fig = _new_figure(5.5, 3.4)
        _plot_activation(fig.add_subplot(), choice.value, f, df, x)
        fig.axes[0].legend(loc="upper left", fontsize=8)
        image.value = _png(fig)
        text.value = _activation_html(choice.value, slope.value, width.value)
        slope.disabled = not choice.value.startswith("Leaky")

    for control in (choice, slope, width):
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([choice, slope, width]), w.HBox([image, text])])


def activations(alpha: float = 0.1) -> None:
    """Show f and f′ of Sigmoid, Tanh, ReLU, LeakyReLU/PReLU and GELU."""
    _display(activations_widget, activations_figure, alpha)


# --------------------------------------------------------------------------- softmax

def softmax(z, temperature: float = 1.0) -> np.ndarray:
    """softmax(z / T); shifting by the max changes nothing mathematically but keeps exp finite."""
    z = np.asarray(z, dtype=float) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def softmax_ce_values(logits, true_class: int, temperature: float = 1.0) -> dict:
    p = softmax(logits, temperature)
    z = np.asarray(logits, dtype=float) / temperature
    # log-sum-exp form: finite even when p[true_class] underflows to 0.
    log_p = z[true_class] - (z.max() + math.log(np.exp(z - z.max()).sum()))
    # A cross-entropy is never negative: round-off near p = 1 must not print as "-0.000".
    return {"p": p, "loss": max(0.0, float(-log_p)), "grad": p - np.eye(len(p))[true_class]}


def _softmax_ax(ax, logits, true_class, temperature):
    vals = softmax_ce_values(logits, true_class, temperature)
    colors = ["tab:green" if k == true_class else "tab:gray" for k in range(len(logits))]
    ax.bar([f"class {k + 1}" for k in range(len(logits))], vals["p"], color=colors)
    ax.set_ylim(0, 1)
    ax.set_title(f"T = {temperature:g}: loss = {vals['loss']:.3f}", fontsize=10)


def softmax_ce_figure(logits=(2.0, 1.0, -1.0), true_class: int = 0,
                      temperatures=(0.25, 1.0, 4.0)):
    fig = _new_figure(10, 3)
    axes = fig.subplots(1, len(temperatures), sharey=True)
    for ax, t in zip(np.atleast_1d(axes), temperatures):
        _softmax_ax(ax, logits, true_class, t)
    fig.suptitle(f"softmax(z / T) for z = {tuple(float(v) for v in logits)}, true class "
                 f"{true_class + 1} (green)", fontsize=10)
    return fig


def _softmax_html(logits, true_class, temperature) -> str:
    vals = softmax_ce_values(logits, true_class, temperature)
    probs = ", ".join(f"{p:.3f}" for p in vals["p"])
    grads = ", ".join(f"{g:.3f}" for g in vals["grad"] / temperature)
    return (f"<div class='nnkit-softmax'>p = ({probs})<br>"
            f"loss = -log p[{true_class + 1}] = {vals['loss']:.3f}<br>"
            f"∂loss/∂z = ({grads})</div>")


def softmax_ce_widget(logits=(2.0, 1.0, -1.0), true_class: int = 0, temperature: float = 1.0):
    import ipywidgets as w
    zs = [w.FloatSlider(value=float(v), min=-10, max=10, step=0.1, description=f"z{k + 1}",
                        continuous_update=False) for k, v in enumerate(logits)]
    temp = w.FloatLogSlider(value=temperature, base=10, min=-1.5, max=1.5, step=0.05,
                            description="T", continuous_update=False)
    target = w.Dropdown(options=[(f"class {k + 1}", k) for k in range(len(logits))],
                        value=true_class, description="true")
    text = w.HTML()
    image = w.Image(format="png")

    def redraw(_=None):
        z = [s.value for s in zs]
        fig = _new_figure(4.5, 3)
        _softmax_ax(fig.add_subplot(), z, target.value, temp.value)
        image.value = _png(fig)
        text.value = _softmax_html(z, target.value, temp.value)

    for control in (*zs, temp, target):
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([w.VBox(zs), w.VBox([temp, target])]), w.HBox([image, text])])


def softmax_ce(logits=(2.0, 1.0, -1.0), true_class: int = 0) -> None:
    """Sliders for three logits and a temperature; softmax output and its CE loss."""
    _display(softmax_ce_widget, softmax_ce_figure, logits, true_class)


# --------------------------------------------------------------------------- optimizers
#
# An update function is update(theta, grad, state, lr) -> new theta, where state is a
# dict the function keeps its own running averages in (empty at the first step).
# The paths below work on one 2-vector: that is all a picture needs.

def _sgd(theta, grad, state, lr):
    return theta - lr * grad


def _momentum(theta, grad, state, lr, beta=0.9):
    state["v"] = beta * state.get("v", 0.0) + grad
    return theta - lr * state["v"]


def _rmsprop(theta, grad, state, lr, rho=0.9, eps=1e-8):
    state["s"] = rho * state.get("s", 0.0) + (1 - rho) * grad ** 2
    return theta - lr * grad / (np.sqrt(state["s"]) + eps)


def _adam(theta, grad, state, lr, b1=0.9, b2=0.999, eps=1e-8):
    t = state["t"] = state.get("t", 0) + 1
    state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * grad
    state["s"] = b2 * state.get("s", 0.0) + (1 - b2) * grad ** 2
    m_hat = state["m"] / (1 - b1 ** t)
    s_hat = state["s"] / (1 - b2 ** t)
    return theta - lr * m_hat / (np.sqrt(s_hat) + eps)


def default_optimizers() -> dict[str, Callable]:
    return {"SGD": _sgd, "Momentum": _momentum, "RMSProp": _rmsprop, "Adam": _adam}


def from_optimizer(optimizer) -> Callable:
    """Wrap an nnkit ``Optimizer`` (``update(key, param, grad)``), or a function that makes one,
    as an update function, so your own optimizers can be drawn too.  Every path gets a fresh
    optimizer (a copy of the one given, or a new one from the function): moments and step
    counters never carry over from one path or surface to the next.  Its ``lr`` is set from
    the slider."""
    def update(theta, grad, state, lr):
        if "optimizer" not in state:      # state is new for every path (run_path)
            made = isinstance(optimizer, type) or not hasattr(optimizer, "update")     # a class or a function
            state["optimizer"] = optimizer() if made else copy.deepcopy(optimizer)
        state["optimizer"].lr = lr
        return np.asarray(state["optimizer"].update("theta", theta.copy(), grad), dtype=float)
    return update


def _quadratic(p):
    x, y = p
    return 0.5 * (x ** 2 + 20 * y ** 2), np.array([x, 20 * y])


def _rosenbrock(p):
    x, y = p
    return ((1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
            np.array([-2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2)]))


# name -> (f_and_grad, start, minimum, plot box, default steps, default lr per optimizer)
SURFACES = {
    "quadratic": dict(f=_quadratic, start=(-4.0, 1.5), minimum=(0.0, 0.0),
                      box=(-5, 5, -2, 2), steps=100,
                      lr={"SGD": 0.09, "Momentum": 0.02, "RMSProp": 0.1, "Adam": 0.3, "AdamW": 0.3}),
    "rosenbrock": dict(f=_rosenbrock, start=(-1.5, 2.0), minimum=(1.0, 1.0),
                       box=(-2, 2, -1, 3), steps=1000,
                       lr={"SGD": 1e-3, "Momentum": 2e-4, "RMSProp": 1e-2, "Adam": 5e-2, "AdamW": 5e-2}),
}


def run_path(update: Callable, surface: str, lr: float, steps: int) -> np.ndarray:
    """Positions visited, shape (steps + 1, 2); stops early once the path diverges."""
    spec = SURFACES[surface]
    theta = np.array(spec["start"], dtype=float)
    state: dict = {}
    path = [theta.copy()]
    for _ in range(steps):
        _, grad = spec["f"](theta)
        theta = np.asarray(update(theta, grad, state, lr), dtype=float)
        path.append(theta.copy())
        if not np.all(np.isfinite(theta)) or np.abs(theta).max() > 1e6:
            break
    return np.array(path)


def _paths_ax(ax, surface, optimizers, lrs, steps):
    spec = SURFACES[surface]
    x0, x1, y0, y1 = spec["box"]
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    gz = spec["f"]((gx, gy))[0]
    ax.contour(gx, gy, np.log1p(gz), levels=25, colors="0.8", linewidths=0.7)
    ax.plot(*spec["minimum"], marker="*", color="k", markersize=12)
    finals = {}
    for name, update in optimizers.items():
        path = run_path(update, surface, lrs[name], steps)
        finals[name] = float(spec["f"](path[-1])[0]) if np.all(np.isfinite(path[-1])) else math.inf
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=2, linewidth=1,
                label=f"{name} (lr {lrs[name]:g})")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(f"{surface}, {steps} steps", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return finals


def optimizer_paths_figure(optimizers: dict | None = None):
    optimizers = optimizers or default_optimizers()
    fig = _new_figure(12, 4.2)
    for ax, (surface, spec) in zip(fig.subplots(1, 2), SURFACES.items()):
        lrs = {name: spec["lr"].get(name, 0.01) for name in optimizers}
        _paths_ax(ax, surface, optimizers, lrs, spec["steps"])
    return fig


def optimizer_paths_widget(optimizers: dict | None = None):
    import ipywidgets as w
    optimizers = optimizers or default_optimizers()
    surface = w.Dropdown(options=list(SURFACES), value="quadratic", description="surface")
    steps = w.IntSlider(value=SURFACES["quadratic"]["steps"], min=10, max=3000, step=10,
                        description="steps", continuous_update=False)
    lr = {name: w.FloatLogSlider(value=SURFACES["quadratic"]["lr"].get(name, 0.01), base=10,
                                 min=-5, max=0, step=0.1, description=name,
                                 continuous_update=False)
          for name in optimizers}
    text = w.HTML()
    image = w.Image(format="png")

    def reset_to_defaults(_=None):
        # A new surface needs other learning rates; start from ones that work.
        spec = SURFACES[surface.value]
        resetting[0] = True  # one redraw at the end, not one per slider moved
        for name, slider in lr.items():
            slider.value = spec["lr"].get(name, 0.01)
        steps.value = spec["steps"]
        resetting[0] = False
        redraw()

    resetting = [False]

    def redraw(_=None):
        if resetting[0]:
            return
        fig = _new_figure(6.5, 4.2)
        finals = _paths_ax(fig.add_subplot(), surface.value, optimizers,
                           {n: s.value for n, s in lr.items()}, steps.value)
        image.value = _png(fig)
        text.value = "<div class='nnkit-paths'>" + "<br>".join(
            f"{name}: f = {value:.3g}" for name, value in finals.items()) + "</div>"

    surface.observe(reset_to_defaults, names="value")
    for control in (steps, *lr.values()):
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([surface, steps]), w.HBox([w.VBox(list(lr.values())), text]), image])


def optimizer_paths(optimizers: dict | None = None) -> None:
    """Paths of SGD, momentum, RMSProp and Adam (or your own update functions,
    ``{name: update(theta, grad, state, lr) -> theta}``) on an ill-conditioned
    quadratic and on the Rosenbrock function."""
    _display(optimizer_paths_widget, optimizer_paths_figure, optimizers)
