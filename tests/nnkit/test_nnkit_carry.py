"""nnkit.carry: a later notebook loads the student's own classes from an
earlier one.  One table of cases, each an edit of a real mlp notebook."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import nnkit
from nnkit.carry import CarryError, candidates, load

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "source" / "mlp" / "mlp.ipynb"      # every class implemented
TEMPLATE = ROOT / "assignments" / "mlp" / "mlp.ipynb"   # the untouched student copy


def _edit_cell(cell_id: str, change):
    def edit(nb: dict) -> dict:
        cell = next(c for c in nb["cells"] if c.get("id") == cell_id)
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = change(source)
        return nb
    return edit


CASES = {
    # case: (notebook to start from or None for no file, edit, words the error must contain or None)
    "found": (REFERENCE, None, None),
    "missing file": (None, None, ["mlp notebook was not found", "/mlp/mlp.ipynb", "next to this assignment", "path="]),
    "missing class": (REFERENCE, _edit_cell("linear", lambda s: s.replace("class Linear(", "class Dense(")),
                      ["no class Linear", "rename", "mlp.ipynb"]),
    "not implemented": (TEMPLATE, None, ["cell 'linear'", "Linear.__init__ still raises NotImplementedError",
                                         "Finish Linear in mlp.ipynb"]),
    "syntax error": (REFERENCE, _edit_cell("linear", lambda s: s.replace("def forward(self, x)",
                                                                         "def forward(self x)")),
                     ["cell 'linear' (class Linear)", "syntax error on line", "Fix it in mlp.ipynb"]),
    "fails when run": (REFERENCE, _edit_cell("linear", lambda s: "scale = undefined_name\n" + s),
                       ["cell 'linear' (class Linear) fails when it runs", "NameError", "undefined_name"]),
}


def _place(tmp_path: Path, start: Path | None, edit) -> Path:
    """An assignments-like layout: tmp/mlp/mlp.ipynb beside tmp/later/."""
    later = tmp_path / "later"
    later.mkdir()
    if start is not None:
        nb = json.loads(start.read_text(encoding="utf-8"))
        if edit is not None:
            nb = edit(nb)
        (tmp_path / "mlp").mkdir()
        (tmp_path / "mlp" / "mlp.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return later


@pytest.mark.parametrize("case", CASES)
def test_carry(case, tmp_path, monkeypatch):
    monkeypatch.delenv("NNKIT_CARRY_DIR", raising=False)
    start, edit, words = CASES[case]
    later = _place(tmp_path, start, edit)
    if words is None:
        Linear, ReLU = load("mlp", ["Linear", "ReLU"], cwd=later)
        layer = Linear(3, 2, rng=0)
        x = np.random.default_rng(0).normal(size=(4, 3))
        assert layer.forward(x).shape == (4, 2)
        assert isinstance(layer, nnkit.Module)
        np.testing.assert_array_equal(ReLU().forward(np.array([-1.0, 2.0])), [0.0, 2.0])
        return
    with pytest.raises(CarryError) as err:
        load("mlp", ["Linear", "ReLU"], cwd=later)
    message = str(err.value)
    for word in words:
        assert word in message, (word, message)
    assert "\n" not in message


def test_only_the_cells_of_the_classes_asked_for_run(tmp_path, monkeypatch):
    """A broken part the later assignment does not use must not block it."""
    monkeypatch.delenv("NNKIT_CARRY_DIR", raising=False)
    later = _place(tmp_path, REFERENCE, _edit_cell("gelu", lambda s: "raise RuntimeError('broken')\n" + s))
    assert load("mlp", "ReLU", cwd=later).__name__ == "ReLU"


def test_where_the_earlier_notebook_is_looked_for(tmp_path, monkeypatch):
    monkeypatch.delenv("NNKIT_CARRY_DIR", raising=False)
    here = tmp_path / "course" / "optim"
    assert candidates("mlp", cwd=here) == [
        tmp_path / "course" / "mlp" / "mlp.ipynb", here / "mlp.ipynb", here / "mlp" / "mlp.ipynb"]
    # An explicit path wins: a notebook file or a folder.
    assert candidates("mlp", path=tmp_path / "x.ipynb", cwd=here) == [tmp_path / "x.ipynb"]
    assert candidates("mlp", path=tmp_path, cwd=here) == [tmp_path / "mlp.ipynb", tmp_path / "mlp" / "mlp.ipynb"]
    # The grader's reference copy comes before anything of the student's.
    monkeypatch.setenv("NNKIT_CARRY_DIR", str(tmp_path / "reference"))
    assert candidates("mlp", cwd=here)[0] == tmp_path / "reference" / "mlp" / "mlp.ipynb"


def test_an_explicit_path_to_a_notebook_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("NNKIT_CARRY_DIR", raising=False)
    target = tmp_path / "anywhere" / "my-mlp.ipynb"
    target.parent.mkdir()
    target.write_bytes(REFERENCE.read_bytes())
    SGD = load("mlp", "SGD", path=target, cwd=tmp_path)
    assert re.search(r"my-mlp\.ipynb \[cell sgd\]", SGD.update.__code__.co_filename)


def test_grader_reference_replaces_the_students_broken_classes(tmp_path, monkeypatch):
    """With NNKIT_CARRY_DIR set (the grader), the student's unfinished mlp is not used."""
    later = _place(tmp_path, TEMPLATE, None)
    reference = tmp_path / "reference" / "mlp"
    reference.mkdir(parents=True)
    (reference / "mlp.ipynb").write_bytes(REFERENCE.read_bytes())
    monkeypatch.setenv("NNKIT_CARRY_DIR", str(tmp_path / "reference"))
    assert load("mlp", "Linear", cwd=later)(2, 2, rng=0).W.shape == (2, 2)
