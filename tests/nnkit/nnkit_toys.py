"""Small reference-free toy layers for the kit's own tests (never shipped in nnkit/).

Each broken variant differs from a correct one by one typical student mistake,
so the gradient checker's diagnosis for it is known.
"""
import numpy as np

from nnkit import Loss, Module, Optimizer


class ToyLinear(Module):
    param_names = ("W", "b")

    def __init__(self, n_in, n_out, seed=0, std=0.5):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W = std * rng.standard_normal((n_in, n_out))
        self.b = 0.1 * rng.standard_normal(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, g):
        self.dW = self.x.T @ g
        self.db = g.sum(axis=0)
        return g @ self.W.T


class ToyReLU(Module):
    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, 0.0)

    def backward(self, g):
        return g * self.mask


class ToyTanh(Module):
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y ** 2)


class ToySoftmaxCE(Loss):
    def forward(self, scores, labels):
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.p, self.labels = np.exp(log_p), labels
        return float(-log_p[np.arange(len(labels)), labels].mean())

    def backward(self):
        g = self.p.copy()
        g[np.arange(len(self.labels)), self.labels] -= 1
        return g / len(self.labels)


class ToySGD(Optimizer):
    def update(self, key, param, grad):
        return param - self.lr * grad


# ---- broken variants: one mistake each ------------------------------------

class LinearDividesByN(ToyLinear):
    def backward(self, g):
        dx = super().backward(g)
        self.dW = self.dW / len(g)
        return dx


class LinearTransposedDW(ToyLinear):
    def backward(self, g):
        dx = super().backward(g)
        self.dW = self.dW.T.copy()
        return dx


class LinearZeroDb(ToyLinear):
    def backward(self, g):
        dx = super().backward(g)
        self.db = np.zeros_like(self.db)
        return dx


class LinearDoubledDx(ToyLinear):
    def backward(self, g):
        return 2 * super().backward(g)


class ReLUSignFlipped(ToyReLU):
    def backward(self, g):
        return -g * self.mask


class ReLUZeroGradient(ToyReLU):
    def backward(self, g):
        return np.zeros_like(g)


class ReLUNaN(ToyReLU):
    def backward(self, g):
        out = g * self.mask
        out[0, 0] = np.nan
        return out


class ReLUInPlace(ToyReLU):
    def forward(self, x):
        self.mask = x > 0
        x[~self.mask] = 0
        return x


class ReLUSlopeGrows(ToyReLU):
    """Derivative 1 + x for positive inputs: wrong by no constant factor."""

    def backward(self, g):
        return g * self.mask * (1 + self.x_pos)

    def forward(self, x):
        self.x_pos = np.maximum(x, 0)
        return super().forward(x)


class TanhFloat32(ToyTanh):
    def forward(self, x):
        self.y = np.tanh(x).astype(np.float32)
        return self.y


class SigmoidOverflows(Module):
    """exp(x) / (1 + exp(x)): right for small x, inf/inf = NaN for large x."""

    def forward(self, x):
        e = np.exp(x)
        self.y = e / (1 + e)
        return self.y

    def backward(self, g):
        return g * self.y * (1 - self.y)


class TanhNotImplemented(Module):
    def forward(self, x):
        raise NotImplementedError


class SoftmaxCENoMean(ToySoftmaxCE):
    def backward(self):
        return super().backward() * len(self.labels)


class SoftmaxCESumLoss(ToySoftmaxCE):
    def forward(self, scores, labels):
        return super().forward(scores, labels) * len(labels)

    def backward(self):
        return super().backward() * len(self.labels)


class SoftmaxCEPerSample(ToySoftmaxCE):
    def forward(self, scores, labels):
        super().forward(scores, labels)
        return -np.log(self.p[np.arange(len(labels)), labels])


class SoftmaxCEInPlace(ToySoftmaxCE):
    def forward(self, scores, labels):
        scores -= scores.max(axis=1, keepdims=True)
        return super().forward(scores, labels)


class SoftmaxCEUnstable(ToySoftmaxCE):
    def forward(self, scores, labels):
        e = np.exp(scores)
        self.p, self.labels = e / e.sum(axis=1, keepdims=True), labels
        return float(-np.log(self.p[np.arange(len(labels)), labels]).mean())
