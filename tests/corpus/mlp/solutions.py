"""A plain, correct solution of every `mlp` part, one class per entry.

The corpus cases are edits of these texts (never of the source notebook's own
text, which its author may reformat).
"""

SETUP = """import numpy as np
import nnkit
from nnkit import Module, Sequential, Loss, Optimizer
"""

SOLUTIONS = {
    "linear": '''
class Linear(Module):
    param_names = ("W", "b")

    def __init__(self, in_features, out_features, init_std=0.01, rng=None):
        super().__init__()
        if rng is None:
            rng = nnkit.rng()
        elif not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(rng)
        self.W = rng.normal(0.0, init_std, size=(in_features, out_features))
        self.b = np.zeros(out_features)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, g):
        self.dW = self.x.T @ g
        self.db = g.sum(axis=0)
        return g @ self.W.T
''',
    "relu": '''
class ReLU(Module):
    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, 0.0)

    def backward(self, g):
        return g * self.mask
''',
    "sigmoid": '''
class Sigmoid(Module):
    def forward(self, x):
        e = np.exp(-np.abs(x))
        self.y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        return self.y

    def backward(self, g):
        return g * self.y * (1.0 - self.y)
''',
    "tanh": '''
class Tanh(Module):
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        return g * (1.0 - self.y ** 2)
''',
    "gelu": '''
class GELU(Module):
    C = np.sqrt(2.0 / np.pi)

    def forward(self, x):
        self.x = x
        self.t = np.tanh(self.C * (x + 0.044715 * x ** 3))
        return 0.5 * x * (1.0 + self.t)

    def backward(self, g):
        x, t = self.x, self.t
        dt = (1.0 - t ** 2) * self.C * (1.0 + 3 * 0.044715 * x ** 2)
        return g * (0.5 * (1.0 + t) + 0.5 * x * dt)
''',
    "leaky_relu": '''
class LeakyReLU(Module):
    def __init__(self, alpha=0.01):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.alpha * x)

    def backward(self, g):
        return g * np.where(self.x > 0, 1.0, self.alpha)
''',
    "euclidean_loss": '''
class EuclideanLoss(Loss):
    def forward(self, y, labels):
        onehot = np.zeros_like(y)
        onehot[np.arange(len(y)), labels] = 1.0
        self.diff = y - onehot
        return float((self.diff ** 2).sum() / (2 * len(y)))

    def backward(self):
        return self.diff / len(self.diff)
''',
    "softmax_ce_loss": '''
class SoftmaxCrossEntropyLoss(Loss):
    def forward(self, scores, labels):
        shifted = scores - scores.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.p = np.exp(logp)
        self.labels = labels
        return float(-logp[np.arange(len(labels)), labels].mean())

    def backward(self):
        g = self.p.copy()
        g[np.arange(len(self.labels)), self.labels] -= 1.0
        return g / len(self.labels)
''',
    "hinge_loss": '''
class HingeLoss(Loss):
    def __init__(self, margin=5.0):
        self.margin = margin

    def forward(self, scores, labels):
        n = len(labels)
        true = scores[np.arange(n), labels][:, None]
        m = np.maximum(0.0, self.margin - true + scores)
        m[np.arange(n), labels] = 0.0
        self.active = (m > 0).astype(float)
        self.labels = labels
        return float(m.sum() / n)

    def backward(self):
        n = len(self.labels)
        g = self.active.copy()
        g[np.arange(n), self.labels] = -self.active.sum(axis=1)
        return g / n
''',
    "sgd": '''
class SGD(Optimizer):
    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.v = {}

    def update(self, key, param, grad):
        v = self.momentum * self.v.get(key, 0.0) + grad + self.weight_decay * param
        self.v[key] = v
        return param - self.lr * v
''',
}
