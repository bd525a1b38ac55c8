"""extract.py: the cells that run are the source's setup + the submission's solution cells."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.engine.extract import extract


def meta(grade_id, **kw):
    return {"nbgrader": {"grade_id": grade_id, "solution": False, "grade": False, "locked": False, **kw}}


SOURCE = new_notebook(cells=[
    new_code_cell("import numpy as np\n", id="setup", metadata=meta("setup", locked=True)),
    new_code_cell("class A: pass\n", id="a", metadata=meta("a", solution=True)),
    new_code_cell("class B: pass\n", id="b", metadata=meta("b", solution=True)),
    new_code_cell("assert True\n", id="a-tests", metadata=meta("a-tests", grade=True, locked=True, points=1)),
])


def nb_dict(cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def cell(source, id=None, grade_id=None):
    c = {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
    if id:
        c["id"] = id
    if grade_id:
        c["metadata"] = meta(grade_id, solution=True)
    return c


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.ipynb"
    nbformat.write(SOURCE, path)
    return path


def test_setup_comes_from_the_source_and_cells_from_the_submission(source):
    sub = nb_dict([cell("import os  # a student's own setup\n", id="setup", grade_id="setup"),
                   cell("class A:\n    x = 1\n", grade_id="a"), cell(["class B:\n", "    y = 2\n"], id="b")])
    ex = extract(json.dumps(sub).encode(), source)
    assert ex.setup == "import numpy as np"
    assert ex.cells == {"a": "class A:\n    x = 1", "b": "class B:\n    y = 2"}
    assert ex.missing == [] and [c["id"] for c in ex.program()] == ["setup", "a", "b"]


def test_grade_id_wins_over_cell_id(source):
    sub = nb_dict([cell("wrong = 1\n", id="a"), cell("right = 1\n", id="zz", grade_id="a")])
    assert extract(json.dumps(sub).encode(), source).cells["a"] == "right = 1"


def test_duplicates_take_the_first_and_are_flagged(source):
    sub = nb_dict([cell("first = 1\n", grade_id="a"), cell("second = 1\n", grade_id="a")])
    ex = extract(json.dumps(sub).encode(), source)
    assert ex.cells["a"] == "first = 1" and "duplicate-cell:a" in ex.flags and ex.missing == ["b"]


def test_magics_and_shell_escapes_are_removed_and_reported(source):
    sub = nb_dict([cell("%timeit 1\n!rm -rf /\nclass A: pass\n", grade_id="a")])
    ex = extract(json.dumps(sub).encode(), source)
    assert "%" not in ex.cells["a"] and "!" not in ex.cells["a"] and "class A" in ex.cells["a"]
    assert ex.magics["a"] == ["%timeit 1", "!rm -rf /"]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"cells": 3}', b"\xff\xfe", b""])
def test_unreadable_notebooks_have_every_part_missing(source, raw):
    ex = extract(raw, source)
    assert ex.missing == ["a", "b"] and "unreadable-notebook" in ex.flags


def test_non_string_sources_and_missing_metadata(source):
    sub = nb_dict([{"cell_type": "code", "id": "a", "source": 42}, {"cell_type": "code", "id": "b"},
                   "not a cell", {"cell_type": "code", "metadata": None, "source": "x"}])
    ex = extract(json.dumps(sub).encode(), source)
    assert ex.missing == ["a", "b"] and "unreadable-source:a" in ex.flags
