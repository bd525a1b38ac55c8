"""NNKIT_FAST: the grader and the test suite shorten training runs (nothing else may branch on it)."""
from __future__ import annotations

import os

FAST_SAMPLES = 1000
FAST_EPOCHS = 2     # two points make a curve: dashboards still show a trend


def fast_mode() -> bool:
    """True when ``NNKIT_FAST`` is set (the grader and the test suite)."""
    return os.environ.get("NNKIT_FAST", "").strip() not in ("", "0", "false", "no")
