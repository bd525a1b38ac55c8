"""Fast tables of cases for the pipeline's pure parts: names, zips, repairs, late policy, flags."""
from __future__ import annotations

import copy
import datetime as dt
import json
import zipfile
from pathlib import PurePosixPath

import nbformat
import pipeline_corpus as corpus
import pytest

from autograder.pipeline import flags as F
from autograder.pipeline.check import read_notebook, repair
from autograder.pipeline.collect import CollectResult, _identify, collect, read_zip, safe_member
from autograder.pipeline.course import Course
from autograder.pipeline.export import LatePolicy

WHEN = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


@pytest.mark.parametrize("member, student, name, lms_id, late", [
    ("lovelaceada_1234_5678_mlp.ipynb", "lovelaceada", "mlp.ipynb", "1234", False),
    ("lovelaceada_late_1234_5678_mlp.ipynb", "lovelaceada", "mlp.ipynb", "1234", True),
    ("sub/dir/lovelaceada_1234_5678_mlp-1.ipynb", "lovelaceada", "mlp-1.ipynb", "1234", False),
    ("ada_b_1234_5678_my_file_2.ipynb", "ada_b", "my_file_2.ipynb", "1234", False),
    ("Ada Lovelace_99_assignsubmission_file_/mlp.ipynb", "ada-lovelace", "mlp.ipynb", "99", False),
    ("x/Ada Lovelace_99_assignsubmission_file_/deep/er/mlp.ipynb", "ada-lovelace", "deep/er/mlp.ipynb", "99", False),
    ("Zoë O'Brien_7_assignsubmission_file_/mlp.ipynb", "zo-o-brien", "mlp.ipynb", "7", False),
])
def test_lms_file_names(member, student, name, lms_id, late):
    item = _identify(PurePosixPath(member), b"", member, WHEN)
    assert (item.student, item.name, item.lms_id, item.late_marker) == (student, name, lms_id, late)


@pytest.mark.parametrize("member", ["random.ipynb", "Ada_assignsubmission_onlinetext_/x.html"])
def test_unrecognised_lms_names(member):
    assert _identify(PurePosixPath(member), b"", member, WHEN) is None


@pytest.mark.parametrize("name, safe", [
    ("a/b.ipynb", True), ("../b.ipynb", False), ("a/../../b.ipynb", False), ("/etc/passwd", False),
    ("C:/x.ipynb", False), ("a\\..\\..\\b.ipynb", False), ("a/./b.ipynb", True),
])
def test_zip_slip_paths(name, safe):
    assert (safe_member(name) is not None) == safe


def _zip(tmp_path, members: dict[str, bytes]):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_rejections_are_reported(tmp_path):
    result = CollectResult()
    link = zipfile.ZipInfo("bob_1_2_link.ipynb")
    link.external_attr = (0o120777 << 16)
    path = tmp_path / "e.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../x_1_2_a.ipynb", b"{}")
        zf.writestr(link, b"/etc/passwd")
        zf.writestr("notes.txt", b"hi")
        zf.writestr("__MACOSX/bob_1_2_a.ipynb", b"junk")
        zf.writestr("bob_1_2_a.ipynb", b"{}")
    items = read_zip(path, result)
    assert [i.student for i in items] == ["bob"]
    assert sorted(r for _, r in result.rejected) == sorted([
        "path leaves the export folder (zip slip)", "symbolic link", "not a Canvas or Moodle submission file name"])


def test_same_bytes_twice_is_a_noop_new_bytes_a_new_submission(tmp_path):
    course = Course.at(tmp_path / "course", corpus.FIXTURE_SOURCE)
    first = _zip(tmp_path, {"bob_1_2_tiny.ipynb": b'{"a": 1}', "bob_1_2_tiny-1.ipynb": b'{"a": 1}'})
    assert collect(course, [first], "tiny").new == [("bob", "tiny")]
    assert collect(course, [first], "tiny").unchanged == [("bob", "tiny")]
    second = _zip(tmp_path, {"bob_1_3_tiny.ipynb": b'{"a": 2}'})
    assert collect(course, [second], "tiny").new == [("bob", "tiny")]
    manifest = json.loads((course.archive("bob", "tiny") / "manifest.json").read_text())
    assert len(manifest["submissions"]) == 2
    assert sorted(p.name for p in course.submitted("bob", "tiny").iterdir()) == ["timestamp.txt", "tiny.ipynb"]
    assert (course.submitted("bob", "tiny") / "tiny.ipynb").read_bytes() == b'{"a": 2}'


def test_duplicate_names_in_one_submission_all_archived(tmp_path):
    course = Course.at(tmp_path / "course", corpus.FIXTURE_SOURCE)
    export = _zip(tmp_path, {"Ann Lee_5_assignsubmission_file_/tiny.ipynb": b"1",
                             "Ann Lee_5_assignsubmission_file_/old/tiny.ipynb": b"2"})
    collect(course, [export], "tiny")
    manifest = json.loads((course.archive("ann-lee", "tiny") / "manifest.json").read_text())
    entry = manifest["submissions"][-1]
    assert entry["duplicate_names"] and len(entry["files"]) == 2
    assert sorted(f["name"] for f in entry["files"]) == ["tiny-dup2.ipynb", "tiny.ipynb"]


@pytest.mark.parametrize("data, usable", [
    (b"", False), (b"{not json", False), (b"[1, 2]", False), (b'{"cells": 3}', False),
    (b"\xff\xfe", False),
    (json.dumps({"cells": [{"cell_type": "code", "source": ["x = 1"]}]}).encode(), True),  # schema slips rebuilt
    (nbformat.writes(nbformat.v4.new_notebook()).encode(), True),
])
def test_read_notebook(data, usable):
    nb, why = read_notebook(data)
    assert (nb is not None) == usable and (why == "") == usable


def _edit(fn):
    nb = corpus.solved()
    fn(nb)
    return nb


def _cell(nb, cid):
    return next(c for c in nb.cells if c.get("id") == cid)


REPAIRS = [
    ("untouched", lambda nb: None, []),
    ("test deleted", lambda nb: nb.cells.remove(_cell(nb, "add-tests")), ["add-tests"]),
    ("test edited", lambda nb: setattr(_cell(nb, "add-tests"), "source", "pass"), ["add-tests"]),
    ("locked setup edited", lambda nb: setattr(_cell(nb, "setup"), "source", "import os"), ["setup"]),
    ("grade id changed", lambda nb: _cell(nb, "square-tests").metadata.nbgrader.update(grade_id="x"), ["square-tests"]),
    ("points raised", lambda nb: _cell(nb, "square-tests").metadata.nbgrader.update(points=100), ["square-tests"]),
    ("solution cell deleted", lambda nb: nb.cells.remove(_cell(nb, "add")), ["add"]),
    ("test copied twice", lambda nb: nb.cells.append(copy.deepcopy(_cell(nb, "add-tests"))), ["(metadata removed from cell 9)"]),
    ("whitespace only", lambda nb: setattr(_cell(nb, "add-tests"), "source", _cell(nb, "add-tests").source + "\n  \n"), []),
]


@pytest.mark.parametrize("case, edit, restored", REPAIRS, ids=[r[0] for r in REPAIRS])
def test_repair(case, edit, restored):
    release = corpus.release()
    fixed, found = repair(release, _edit(edit))
    assert found == restored
    ref = {c.metadata.nbgrader["grade_id"]: c for c in release.cells if "nbgrader" in c.metadata}
    got = [c for c in fixed.cells if "nbgrader" in c.metadata]
    assert sorted(c.metadata.nbgrader["grade_id"] for c in got) == sorted(ref)
    for c in got:
        assert c.metadata.nbgrader == ref[c.metadata.nbgrader["grade_id"]].metadata.nbgrader
        if c.metadata.nbgrader.get("locked"):
            assert c.source.strip() == ref[c.metadata.nbgrader["grade_id"]].source.strip()
    order = [c.metadata.nbgrader["grade_id"] for c in got]
    assert order == [c.metadata.nbgrader["grade_id"] for c in release.cells if "nbgrader" in c.metadata]


DUE = "2026-12-01T23:59"
LATE_CASES = [
    # policy, cap, submitted, lms marker -> late?, penalty on 80/100
    ("none", None, "2026-12-05T00:00", False, True, 0.0),
    ("per-day:10", 50, "2026-12-01T23:59", False, False, 0.0),
    ("per-day:10", 50, "2026-12-02T00:00", False, True, 10.0),     # one started day
    ("per-day:10", 50, "2026-12-03T23:59", False, True, 20.0),     # exactly two days
    ("per-day:10", 50, "2026-12-03T23:59:01", False, True, 30.0),
    ("per-day:10", 50, "2026-12-30T00:00", False, True, 50.0),     # capped
    ("per-hour:1", None, "2026-12-02T02:30", False, True, 3.0),
    ("zero", None, "2026-12-02T00:00", False, True, 80.0),          # never more than the score
    ("per-day:10", None, "2026-11-01T00:00", True, False, 0.0),     # on time by the clock wins over a marker
]


@pytest.mark.parametrize("policy, cap, submitted, marker, late, penalty", LATE_CASES)
def test_late_policy(policy, cap, submitted, marker, late, penalty):
    rule = LatePolicy.parse(DUE, policy, cap)
    when = dt.datetime.fromisoformat(submitted).replace(tzinfo=dt.UTC)
    assert rule.lateness(when, marker)[0] == late
    assert rule.penalty(80.0, 100.0, when, marker) == pytest.approx(penalty)


def test_lms_marker_counts_without_due_date():
    assert LatePolicy.parse(None, "per-day:10").lateness(WHEN, True) == (True, 0.0)
    assert LatePolicy.parse(None, "per-day:10").penalty(5, 10, WHEN, True) == 0.0


@pytest.mark.parametrize("bad", ["per-day", "weekly:3", "per-day:x", ""])
def test_bad_late_policy_is_refused(bad):
    with pytest.raises(ValueError):
        LatePolicy.parse(DUE, bad or "per-week")


def test_every_flag_has_both_meanings():
    names = [v for k, v in vars(F).items() if k.isupper() and isinstance(v, str)]
    assert sorted(names) == sorted(F.MEANINGS)
    assert set(F.STUDENT_MEANINGS) == set(F.MEANINGS)
    assert F.meaning(F.suspicious("exec")) == F.MEANINGS["suspicious"]
    assert F.meaning(F.review("relu-tests")) == F.MEANINGS["review"]


@pytest.mark.parametrize("verdict_flag, ours", [
    ("sandbox-degraded:no net namespace", "sandbox degraded"),
    ("unreadable-notebook", "invalid notebook"),
    ("magics-removed:relu", "grader note: magics-removed:relu"),
])
def test_verdict_flags_are_translated(verdict_flag, ours):
    assert F.from_verdict(verdict_flag) == ours
    assert F.meaning(ours)


def test_changed_source_cells_need_an_explicit_gradebook_rebuild(tmp_path):
    import shutil

    from nbgrader.api import Gradebook

    from autograder.pipeline.autograde import register
    source = tmp_path / "source"
    shutil.copytree(corpus.FIXTURE_SOURCE, source)
    course = Course.at(tmp_path / "course", source)
    register(course, "tiny", rebuild=False)
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_student("ann")
        gb.update_or_create_submission("tiny", "ann")
    path = source / "tiny" / "tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if c.get("id") != "add-tests"]
    nbformat.write(nb, path)
    with pytest.raises(SystemExit, match="--rebuild-gradebook"):
        register(course, "tiny", rebuild=False)
    register(course, "tiny", rebuild=True)
    with Gradebook(course.db_url) as gb:
        assert gb.find_assignment("tiny").submissions == []
        assert sorted(c.name for c in gb.find_notebook("tiny", "tiny").grade_cells) == ["answer-why", "square-tests"]
