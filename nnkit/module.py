"""The base every layer, loss and optimizer in the assignments plugs into.

A layer keeps its parameters as attributes named in ``param_names`` and the
gradient of parameter ``X`` in attribute ``dX``.  That one convention lets the
optimizer, the gradient checker and the grader treat every layer alike
without knowing its type.
"""
from __future__ import annotations

import numpy as np


class Module:
    """A differentiable function with (optionally) trainable parameters.

    Subclasses implement ``forward(x)`` and ``backward(grad_out)``.
    ``backward`` receives dL/d(output), stores dL/dX in ``self.dX`` for every
    parameter ``X`` in ``param_names`` and returns dL/d(input).

    ``needs_input_grad`` is True unless the caller of ``backward`` will not read
    dL/d(input): ``Sequential`` sets it to False on its first layer for the
    duration of that layer's ``backward``, as the network's input is data.  A
    layer MAY then skip computing dL/d(input) and return None (for a first
    convolution or a first Linear that product is a third of the layer's
    work); ignoring the flag is always correct.
    """

    param_names: tuple[str, ...] = ()
    needs_input_grad: bool = True

    def __init__(self):
        self.training = True

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def params(self) -> dict[str, np.ndarray]:
        """Parameters by name, e.g. ``{"W": (D_in, D_out), "b": (D_out,)}``."""
        return {n: getattr(self, n) for n in self.param_names}

    def grads(self) -> dict[str, np.ndarray]:
        """Gradients by parameter name, filled in by the last ``backward``."""
        return {n: getattr(self, "d" + n) for n in self.param_names}

    def set_param(self, name: str, value: np.ndarray) -> None:
        setattr(self, name, value)

    def parameters(self):
        """(key, module, name) for every parameter; keys are stable and unique."""
        return [(n, self, n) for n in self.param_names]

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def __repr__(self):
        shapes = ", ".join(f"{n}={getattr(self, n).shape}" for n in self.param_names
                           if hasattr(self, n))
        return f"{type(self).__name__}({shapes})"


class Sequential(Module):
    """Layers applied in order; backward runs them in reverse.

    Like PyTorch, where the input images do not require a gradient, ``backward``
    does not ask the first layer for dL/d(input): it returns whatever that layer
    returns with ``needs_input_grad`` False (None for a layer that skips it).
    ``Sequential(..., input_grad=True)``, or setting ``needs_input_grad = True``,
    asks for it (``gradcheck.check_module`` does so to check dL/dx).
    """

    def __init__(self, *layers: Module, input_grad: bool = False):
        super().__init__()
        self.layers = list(layers)
        self.needs_input_grad = input_grad

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out):
        if not self.layers:
            return grad_out
        first, *rest = self.layers
        for layer in reversed(rest):
            grad_out = layer.backward(grad_out)
        # The flag is set for this call only: the same layer used on its own later still
        # returns its input gradient.
        before = first.needs_input_grad if hasattr(first, "needs_input_grad") else True
        first.needs_input_grad = self.needs_input_grad
        try:
            return first.backward(grad_out)
        finally:
            first.needs_input_grad = before

    def parameters(self):
        return [(f"{i}.{key}", module, name)
                for i, layer in enumerate(self.layers)
                for key, module, name in layer.parameters()]

    def params(self):
        return {key: getattr(m, n) for key, m, n in self.parameters()}

    def grads(self):
        return {key: getattr(m, "d" + n) for key, m, n in self.parameters()}

    def train(self):
        for layer in self.layers:
            layer.train()
        return super().train()

    def eval(self):
        for layer in self.layers:
            layer.eval()
        return super().eval()

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"


class Loss:
    """``forward(scores, labels)`` returns the batch-mean loss (a float);
    ``backward()`` returns d(mean loss)/d(scores), shape (N, K).
    ``labels`` are integer class indices, shape (N,)."""

    def forward(self, scores, labels) -> float:
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def __call__(self, scores, labels):
        return self.forward(scores, labels)


class Optimizer:
    """Subclasses implement ``update(key, param, grad) -> new param``.

    ``key`` identifies one parameter across steps (use it to keep per-parameter
    state such as a velocity).  ``step(model)`` applies ``update`` to every
    parameter of ``model`` using the gradients of the last backward pass.
    """

    def __init__(self, lr: float):
        self.lr = lr

    def update(self, key, param, grad):
        raise NotImplementedError

    def step(self, model: Module) -> None:
        for key, module, name in model.parameters():
            new = self.update(key, getattr(module, name), getattr(module, "d" + name))
            module.set_param(name, new)
