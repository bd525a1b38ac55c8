"""driver.py's `script` probe kind: the grader's own steps run against the student's names."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from autograder.engine.job import DRIVER, Job

CELL = """
class Counter:
    def __init__(self, start):
        self.t = start
    def step(self):
        self.t += 1
        if self.t > 3:
            raise ValueError("too far")
        return self.t
"""
STEPS = """
c = Counter(S["start"])
put("first", c.step())
put("x twice", 2 * load(P + ".x.npy"))
(scratch / "file.txt").write_text("mine")
put("scratch files", len(list(scratch.iterdir())))
stage("stepping on")
for _ in range(5):
    c.step()
"""
PROBES = [
    {"name": "ok", "part": "cell", "kind": "script", "needs": ["Counter"],
     "code": "P = 'ok'\nS = {'start': -10}\n" + STEPS},
    {"name": "raises", "part": "cell", "kind": "script", "needs": ["Counter"],
     "code": "P = 'ok'\nS = {'start': 0}\n" + STEPS},
    {"name": "absent", "part": "cell", "kind": "script", "needs": ["Missing"], "code": "put('a', 1)"},
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("driver")
    inputs = root / "inputs"
    inputs.mkdir()
    np.save(inputs / "ok.x.npy", np.array([1.0, 2.0]))
    job = Job(root, "t", [{"id": "setup", "source": "import numpy as np"}, {"id": "cell", "source": CELL}],
              PROBES, inputs)
    subprocess.run([sys.executable, "-I", "-B", str(DRIVER), str(job.request), str(job.work)],
                   check=True, timeout=120)
    return job.outputs()


def test_steps_see_the_students_names_inputs_and_a_scratch_folder(outputs):
    info, arrays = outputs["ok"]
    assert info["status"] == "ok"
    assert arrays["first"] == -9 and arrays["x twice"].tolist() == [2.0, 4.0] and arrays["scratch files"] == 1


def test_an_exception_is_reported_with_the_stage_and_what_came_before_is_kept(outputs):
    info, arrays = outputs["raises"]
    assert info["status"] == "error" and info["stage"] == "stepping on" and "too far" in info["error"]
    assert arrays["first"] == 1


def test_a_name_the_student_did_not_define_is_a_lookup_error(outputs):
    info, arrays = outputs["absent"]
    assert info["status"] == "error" and info["stage"] == "lookup" and not arrays
