"""NNKIT_FAST: the grader and the test suite shorten training runs (nothing else may branch on it);
NNKIT_UNWATCHED: the grader's runs, whose outputs nobody sees, draw no training dashboard."""
from __future__ import annotations

import os

FAST_SAMPLES = 1000
FAST_EPOCHS = 2     # two points make a curve: dashboards still show a trend


def _on(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0", "false", "no")


def fast_mode() -> bool:
    """True when ``NNKIT_FAST`` is set (the grader and the test suite)."""
    return _on("NNKIT_FAST")


def unwatched() -> bool:
    """True when ``NNKIT_UNWATCHED`` is set: nobody will see this run's outputs (the grader's
    in-kernel run, whose notebook shows the student's own outputs), so ``train`` draws no
    dashboard and no progress bar.  Importing matplotlib and drawing them was a quarter of that run."""
    return _on("NNKIT_UNWATCHED")
