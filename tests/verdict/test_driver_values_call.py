"""driver.py's generic probe kinds `values` and `call`, read back through
the engine's job.flat_outputs: the conventions both sides must agree on."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from autograder.engine.job import DRIVER, Job, flat_outputs

CELL = """
a = 1.5
flag = True
d = {"x": 2, "y": "3", "z": ...}
def double(x, h=1.0):
    if np.ndim(x) == 0 and x < 0:
        raise ValueError("negative")
    return x * 2 * h
def shift_in_place(x):
    x += 1
    return x.sum()
def nothing(x):
    return None
"""
PROBES = [
    {"name": "vals", "part": "cell", "kind": "values", "names": ["a", "flag", "d", "undefined"], "needs": []},
    {"name": "dbl", "part": "cell", "kind": "call", "function": "double", "needs": ["double"],
     "cases": [{"args": [{"file": "v.npy"}, 0.5]}, {"args": [-1.0]}, {"args": [{"expr": "np.arange(3.0)"}]}]},
    {"name": "mut", "part": "cell", "kind": "call", "function": "shift_in_place", "needs": ["shift_in_place"],
     "cases": [{"args": [{"file": "v.npy"}]}]},
    {"name": "none", "part": "cell", "kind": "call", "function": "nothing", "needs": ["nothing"],
     "cases": [{"args": [{"file": "v.npy"}]}]},
    {"name": "absent", "part": "cell", "kind": "call", "function": "gone", "needs": ["gone"], "cases": []},
]


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    root = tmp_path_factory.mktemp("driver")
    inputs = root / "inputs"
    inputs.mkdir()
    np.save(inputs / "v.npy", np.array([1.0, 2.0]))
    job = Job(root, "t", [{"id": "setup", "source": "import numpy as np"}, {"id": "cell", "source": CELL}],
              PROBES, inputs)
    subprocess.run([sys.executable, "-I", "-B", str(DRIVER), str(job.request), str(job.work)],
                   check=True, timeout=120)
    return {name: flat_outputs(info, arrays) for name, (info, arrays) in job.outputs().items()}


def _plain(value):
    return value if isinstance(value, str) else np.asarray(value).tolist()


@pytest.mark.parametrize("probe, key, want", [
    ("vals", "a", 1.5),
    ("vals", "flag", 1),                          # bools are numbers (0/1)
    ("vals", "d.x", 2.0),                         # a dict entry by entry
    ("vals", "d.y!bad", "expected numbers"),      # a string is not a number
    ("vals", "d.z!bad", "ellipsis"),              # `...` left in the student copy
    ("vals", "undefined!missing", "not defined"),
    ("dbl", "case0", [1.0, 2.0]),                 # file array and a JSON number
    ("dbl", "case0.arg0", [1.0, 2.0]),
    ("dbl", "case1!error", "ValueError: negative"),   # one case raises, the next still runs
    ("dbl", "case2", [0.0, 2.0, 4.0]),            # the grader's own expression, built in the sandbox
    ("mut", "case0.arg0", [2.0, 3.0]),            # the argument as the call left it
    ("none", "case0!error", "NoneType"),
])
def test_driver_reports(flat, probe, key, want):
    got = _plain(flat[probe][key])
    if isinstance(want, str):
        assert want in got
    else:
        assert got == want


def test_undefined_function_is_no_result(flat):
    assert flat["absent"] == {}
    assert "case1" not in flat["dbl"]
