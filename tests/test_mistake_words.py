"""The student's self-check and the grader name a mistake in the same words (nnkit/mistakes.py).

The notebook may say the batch size's value (it is the student's own batch); the grader keeps
its inputs secret, so that value is the only difference allowed.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from autograder.engine import diagnose
from nnkit import gradcheck, mistakes

N = 6
EXPECTED = np.random.default_rng(0).normal(size=(N, 4))


@pytest.mark.parametrize("factor, words", [(-1.0, "has the wrong sign"), (N, "N times too large"),
                                           (1 / N, "N times too small"), (2.0, "2x too large"),
                                           (0.5, "half what it should be"), (3.0, "constant factor")])
def test_scaled_gradient_same_words(factor, words):
    notebook = gradcheck.diagnose(factor * EXPECTED, EXPECTED, batch=N, what="dW")
    grader = diagnose._scale_message("dW", factor * EXPECTED, EXPECTED, N)
    assert words in grader
    assert notebook.replace(f" = {N}", "") == grader


def test_transposed_same_words():
    notebook = gradcheck.diagnose(EXPECTED.T, EXPECTED, what="dW")
    probe = SimpleNamespace(part="linear", inputs={}, dims={"N": N, "in": EXPECTED.shape[1]})
    grader = diagnose.explain_field(probe, "grad.W", EXPECTED.T, EXPECTED, diagnose.Mistakes())
    assert notebook == mistakes.transposed("dW", EXPECTED.T.shape, EXPECTED.shape)
    assert grader == mistakes.transposed("dW", "(in, N)", "(N, in)")
