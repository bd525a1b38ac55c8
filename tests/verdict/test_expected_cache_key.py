"""The reference's expected values are cached by what determines them, never by where the source lies."""
from __future__ import annotations

import dataclasses
import shutil

from autograder.engine.job import _expected_key
from autograder.engine.reference import source_notebook
from autograder.engine.verdict import load_spec

SPEC = load_spec("mlp", source_notebook("mlp"))


def test_the_key_follows_content_not_path(tmp_path):
    source, probes = source_notebook("mlp"), SPEC.probes(5)
    copy = tmp_path / "elsewhere" / "mlp.ipynb"
    copy.parent.mkdir()
    shutil.copy(source, copy)
    key = _expected_key(source, 5, probes, None)
    assert _expected_key(copy, 5, probes, None) == key           # a Dask task's fresh copy hits
    copy.write_text(copy.read_text().replace("np.maximum", "np.fmax", 1))
    carry = tmp_path / "carry" / "earlier"
    carry.mkdir(parents=True)
    (carry / "earlier.ipynb").write_text("{}")
    changed = [
        _expected_key(copy, 5, probes, None),                     # the source's code
        _expected_key(source, 6, probes, None),                   # the seed
        _expected_key(source, 5, SPEC.probes(6), None),           # the probes' arrays
        _expected_key(source, 5, [dataclasses.replace(probes[0], request={**probes[0].request, "seed": -1}),
                                  *probes[1:]], None),            # a probe's request alone
        _expected_key(source, 5, probes, tmp_path / "carry"),     # the classes it carries
    ]
    assert key not in changed and len(set(changed)) == len(changed)
