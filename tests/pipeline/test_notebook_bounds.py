"""Classes 5 and 8 of issue 10: a notebook is bounded before the trusted grader parses it.

Every file out of bounds is an `invalid notebook` with a reason the student can act on
(never a grader error), and the trusted process's memory stays under a stated budget
whatever the file holds: measured in a fresh subprocess on each worst case."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pipeline_corpus as corpus
import pytest

from autograder.pipeline import check

ROOT = Path(check.__file__).resolve().parents[2]


def _nested(depth: int) -> bytes:
    return b'{"cells": [], "metadata": {"x": ' + b"[" * depth + b"]" * depth + b"}, \"nbformat\": 4}"


def _honest_with(**changes) -> bytes:
    nb = corpus.solved()
    for key, value in changes.items():
        setattr(nb, key, value) if key != "metadata_deep" else nb.metadata.update(deep=value)
    return nbformat.writes(nb).encode()


def _deep_dict(depth: int) -> dict:
    out: dict = {}
    for _ in range(depth):
        out = {"d": out}
    return out


def _huge() -> bytes:
    nb = corpus.solved()
    nb.cells[0].source = "x" * (check.MAX_NOTEBOOK_BYTES + 1)
    return nbformat.writes(nb).encode()


def _largest_allowed() -> bytes:
    """Just inside every bound, with as many small JSON values as fit: the costliest file to parse."""
    nb = corpus.solved()
    nb.cells[0].source = "x = 1\n" * (check.MAX_JSON_VALUES - 1000)
    data = nbformat.writes(nb).encode()
    assert len(data) <= check.MAX_NOTEBOOK_BYTES
    return data


def _largest_in_bytes() -> bytes:
    nb = corpus.solved()
    nb.cells[0].source = "x" * (check.MAX_NOTEBOOK_BYTES - 100_000)
    return nbformat.writes(nb).encode()


def _escapes() -> bytes:
    nb = corpus.solved()
    nb.cells[0].source = '\\"[' * ((check.MAX_NOTEBOOK_BYTES - 100_000) // 5)
    return nbformat.writes(nb).encode()


def _many_cells() -> bytes:
    return json.dumps({"cells": [{"cell_type": "raw", "source": "", "metadata": {}}] * (check.MAX_CELLS + 1),
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def _many_values() -> bytes:
    return b'{"cells": [], "metadata": {"x": [' + b"0," * check.MAX_JSON_VALUES + b'0]}, "nbformat": 4}'


# case -> (bytes, usable?, words the reason must contain)
CASES = {
    "honest": (lambda: _honest_with(), True, ""),
    "brackets inside strings do not count": (lambda: _honest_with(metadata_deep="[" * 10_000 + "{" * 10_000), True, ""),
    "deep but honest metadata": (lambda: _honest_with(metadata_deep=_deep_dict(30)), True, ""),
    "largest allowed": (_largest_allowed, True, ""),
    "largest allowed in bytes": (_largest_in_bytes, True, ""),
    "largest allowed, all escapes and brackets": (_escapes, True, ""),
    "nested 50,000 deep": (lambda: _nested(50_000), False, "nested more than"),
    "nested just past the bound": (lambda: _nested(check.MAX_DEPTH), False, "nested more than"),
    "over the byte bound": (_huge, False, "clear its outputs"),
    "too many cells": (_many_cells, False, "cells, more than"),
    "too many values": (_many_values, False, "JSON values"),
}


@pytest.mark.parametrize("case", CASES)
def test_bounds_before_parsing(case):
    make, usable, words = CASES[case]
    nb, why = check.read_notebook(make())
    assert (nb is not None) == usable, why
    assert words in why


MEASURE = textwrap.dedent("""
    import sys

    def hwm():  # this process's own high-water mark (ru_maxrss would include the parent's, kept across exec)
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    from pathlib import Path
    from autograder.pipeline import check
    before = hwm()
    nb, why = check.read_notebook(Path(sys.argv[1]).read_bytes())
    peak = hwm()
    print((peak - before) * 1024, peak * 1024, sep="|")
""")
# What reading one notebook may add to the trusted grader's memory: the bytes are at most
# 16 MiB; decoding, the bracket skeleton and the parsed notebook are a few copies of them.
READ_BUDGET = 160 * 2**20


@pytest.mark.parametrize("case", CASES)
def test_trusted_memory_stays_under_budget(case, tmp_path):
    path = tmp_path / "submitted.ipynb"
    path.write_bytes(CASES[case][0]())
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    grown, peak = (int(x) for x in done.stdout.strip().split("|"))
    print(f"{case} ({path.stat().st_size / 2**20:.1f} MiB): reading grew the trusted process by "
          f"{grown / 2**20:.0f} MiB (peak RSS {peak / 2**20:.0f} MiB)")
    assert grown < READ_BUDGET
