"""A self-check in a real kernel ends in one ✗ line, never a traceback into nnkit.

Each case runs the mlp notebook's own setup, self-check import and visible test cell
after a broken student cell, as a student's Run All would.
"""
import re

import nbformat
import pytest

from autograder.engine.reference import source_notebook

NAIVE_SIGMOID = '''class Sigmoid(Module):
    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, g):
        return g * self.y * (1 - self.y)
'''
UNSHIFTED_CE = '''class SoftmaxCrossEntropyLoss(Loss):
    def forward(self, scores, labels):
        p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        self.p, self.labels = p, labels
        return -np.log(p[np.arange(len(labels)), labels]).mean()

    def backward(self):
        g = self.p.copy()
        g[np.arange(len(self.labels)), self.labels] -= 1
        return g / len(self.labels)
'''
TYPO_RELU = '''class ReLU(Module):
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, g):
        return g * self.maks
'''
STUB_TANH = '''class Tanh(Module):
    def forward(self, x):
        raise NotImplementedError

    def backward(self, g):
        raise NotImplementedError
'''

# (student cell id, its code, test cell, words of the ✗ line, words the traceback shows or None)
CASES = [
    ("sigmoid", NAIVE_SIGMOID, "sigmoid-tests", "without overflow: numerical trouble", "np.exp(-x)"),
    ("softmax_ce_loss", UNSHIFTED_CE, "softmax_ce_loss-tests", "numerical trouble", "np.exp(scores)"),
    ("relu", TYPO_RELU, "relu-tests", "raised AttributeError", "self.maks"),
    ("tanh", STUB_TANH, "tanh-tests", "is not implemented yet", None),
]


def _cell(nb, cid):
    return next(c for c in nb.cells if c.get("id") == cid)


@pytest.mark.slow
@pytest.mark.parametrize("cell_id, code, test_id, verdict, trace", CASES, ids=[c[0] for c in CASES])
def test_a_broken_part_ends_in_one_verdict_line(cell_id, code, test_id, verdict, trace):
    from nbclient import NotebookClient
    source = nbformat.read(source_notebook("mlp"), as_version=4)
    visible = _cell(source, test_id).source.split("### BEGIN HIDDEN TESTS")[0]
    cells = [_cell(source, "setup").source.replace("%matplotlib inline", ""),
             _cell(source, "check-tools").source, code, visible]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    outputs = nb.cells[-1].outputs
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) == 1, outputs                       # the cell fails: nbgrader gives it no points
    crosses = [line for line in printed.splitlines() if line.startswith("✗")]
    assert len(crosses) == 1 and verdict in crosses[0], printed
    shown = "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", line) for line in errors[0].traceback)
    assert "selfcheck.py" not in shown and "gradcheck.py" not in shown, shown
    assert (trace in shown) if trace else not shown.strip(), shown
