"""Embedded pretrained weights do not earn a convolutional training part (the mlp case is in the
adversarial corpus): the toy's Conv2D cell brings a CNN trained elsewhere on the real digits,
redefines Linear to load its weights too and SGD to never move them.  Trained on the real data
the stand-in network passes the threshold; the grader's per-seed disguise of the data (a symmetry
of the square and a relabelling of the classes) leaves it near chance."""
from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import numpy as np
import pytest

import nnkit
from autograder.engine import training
from autograder.engine.verdict import grade_notebook, load_spec

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "tests" / "fixtures" / "source" / "toy" / "toy.ipynb"
SEED = 7

ATTACK = '''
import base64
_BLOB = {blob!r}
_W = {{k: np.frombuffer(base64.b64decode(v), dtype=np.float64).reshape(s) for k, (v, s) in _BLOB.items()}}

{conv}

_HonestConv2D = Conv2D


class Conv2D(_HonestConv2D):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.W, self.b = _W["0.W"].copy(), _W["0.b"].copy()


_HonestLinear = Linear


class Linear(_HonestLinear):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.W, self.b = _W["3.W"].copy(), _W["3.b"].copy()


class SGD(Optimizer):
    def update(self, key, param, grad):
        return param
'''


def _trained_elsewhere(spec) -> dict[str, np.ndarray]:
    """The toy's network trained on the plain digits with the source's own classes (trusted code)."""
    net_spec = spec.training.network
    ns = training._reference(str(TOY), spec.training.needs)
    layers = training._build(ns, net_spec)
    x, y = nnkit.load_digits()["train"]
    nnkit.train(nnkit.Sequential(*layers), ns["SoftmaxCrossEntropyLoss"](), ns["SGD"](0.1),
                (x.reshape(-1, *net_spec.input_shape), y), epochs=10, batch_size=20, seed=0, verbose=False)
    return {f"{i}.{n}": np.asarray(getattr(layer, n), dtype=np.float64)
            for i, layer in enumerate(layers) for n in getattr(layer, "param_names", ())}


@pytest.mark.slow
def test_pretrained_cnn_weights_do_not_pass_the_disguised_data(tmp_path):
    spec = load_spec("toy", TOY)
    weights = _trained_elsewhere(spec)
    plain = training.accuracy(spec.training, TOY, weights, None)
    assert plain >= spec.training.threshold, f"the stand-in only reaches {plain:.1%} on the plain digits"

    nb = nbformat.read(TOY, as_version=4)
    conv = next(c for c in nb.cells if c.get("id") == "conv")
    blob = {k: (base64.b64encode(v.tobytes()).decode(), v.shape) for k, v in weights.items()}
    conv.source = ATTACK.format(blob=blob, conv=conv.source)
    nbformat.write(nb, tmp_path / "toy.ipynb")

    verdict = grade_notebook(tmp_path / "toy.ipynb", "toy", source=TOY, seed=SEED)
    assert verdict.part("conv").status == "passed", verdict.part("conv").messages
    trained = verdict.part("training")
    assert trained.score == 0 and "accuracy" in " ".join(trained.messages), trained.messages
    disguised = training.accuracy(spec.training, TOY, weights, SEED)
    assert disguised < 0.5 < plain, (disguised, plain)
