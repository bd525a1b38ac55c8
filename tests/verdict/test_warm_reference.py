"""The source's expected values come from a warm server (engine/reference_server.py): its answers are
the bytes a fresh driver run gives, a server that died is replaced, and none outlives its grader."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from autograder.engine import carry, job
from autograder.engine.extract import extract
from autograder.engine.reference import source_notebook
from autograder.engine.verdict import load_spec


def _fresh(source, probes, root, carried) -> dict:
    """The same probes answered the old way: one new driver process for the whole notebook."""
    ex = extract(source, source)
    inputs = job._save_arrays(root, {k: v for p in probes for k, v in p.arrays.items()})
    one = job.Job(root, "fresh", ex.program(), [p.as_request() for p in probes], inputs, carried)
    subprocess.run(one.argv(), env=job._reference_env(carried), check=True, timeout=300)
    return one.outputs()


@pytest.mark.parametrize("assignment", ["mlp", "cnn"])     # cnn: the carried classes reach the server too
def test_warm_answers_are_a_fresh_runs(assignment, tmp_path):
    source = source_notebook(assignment)
    carried = carry.prepare(source, tmp_path / "carry")
    spec = load_spec(assignment, source)
    for seed in (3, 4):        # the second seed is answered by the server the first one started
        probes = spec.probes(seed)
        warm, fresh = job._expected(source, seed, probes, carried), _fresh(source, probes, tmp_path, carried)
        assert warm.keys() == fresh.keys() == {p.name for p in probes}
        for name, (info, arrays) in warm.items():
            assert {k: v for k, v in info.items() if k != "elapsed"} == \
                {k: v for k, v in fresh[name][0].items() if k != "elapsed"}, name
            assert arrays.keys() == fresh[name][1].keys(), name
            assert all(np.array_equal(arrays[k], fresh[name][1][k], equal_nan=True) for k in arrays), name


def test_a_dead_server_is_replaced_and_none_outlives_the_grader(tmp_path):
    source = source_notebook("mlp")
    probes = load_spec("mlp", source).probes(7)
    key = job._source_key(source, None).hexdigest()
    job._expected(source, 7, probes)
    server = job._WARM[key]
    os.kill(server.proc.pid, 9)
    job._EXPECTED.clear()
    assert job._expected(source, 7, probes).keys() == {p.name for p in probes}
    assert job._WARM[key] is not server and not server.scratch.exists()

    # a grading process that ends, however it ends, takes its servers and their folders with it
    code = ("import os, sys; from autograder.engine import job; from autograder.engine.reference import source_notebook;"
            "from autograder.engine.verdict import load_spec; s = source_notebook('mlp');"
            "job._expected(s, 7, load_spec('mlp', s).probes(7)); w = next(iter(job._WARM.values()));"
            "print(w.proc.pid, w.scratch, flush=True); os._exit(0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=job.ROOT)
    pid, scratch = done.stdout.split()[-2:]
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            break
        subprocess.run(["sleep", "0.05"])
    else:
        pytest.fail(f"the reference server {pid} outlived its grading process")
    assert not os.path.exists(scratch)
