"""bench/grading_profile.py: every phase it names is a function that exists, wrapped only while profiling."""
from __future__ import annotations

import importlib
import json

from bench import grading_profile as P


def test_every_timed_function_exists_is_wrapped_and_restored(tmp_path):
    originals = {(m, a): getattr(importlib.import_module(m), a) for m, a, _ in P.TIMED}
    with P.instrumented(tmp_path / "log.jsonl"):
        wrapped = {key: getattr(importlib.import_module(key[0]), key[1]) for key in originals}
    assert all(wrapped[key] is not fn for key, fn in originals.items())
    assert all(getattr(importlib.import_module(m), a) is fn for (m, a), fn in originals.items())


def test_a_timed_call_is_logged_with_its_depth(tmp_path):
    log = tmp_path / "log.jsonl"
    with P.instrumented(log):
        inner = P._timed("inner", lambda: None)
        P._timed("outer", inner)()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["phase"], r["depth"]) for r in rows] == [("inner", 1), ("outer", 0)]
    assert all(r["wall"] >= 0 and r["cpu"] >= 0 for r in rows)


def test_sandbox_runs_are_named_by_what_they_run():
    assert P._sandbox_phase(["python", "/x/sandboxed/run_notebook.py", "nb.ipynb"]) == \
        "sandbox: in-kernel notebook run (nbgrader)"
    assert P._sandbox_phase(["python", "-I", "driver.py", "/tmp/g/train-request-ab12/request.json", "/w"]) == \
        "sandbox: driver job 'train'"
