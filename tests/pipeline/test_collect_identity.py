"""Class 1 of issue 10: two people must never become one student.

A student's identity is the LMS participant id (or, for a folder import, the exact
folder name); the student folder is a slug of a display name, so namesakes collide.
Every collision stops `collect` before anything is stored."""
from __future__ import annotations

import json
import zipfile

import pipeline_corpus as corpus
import pytest

from autograder.pipeline.collect import IdentityCollision, collect
from autograder.pipeline.course import Course

NB = b'{"cells": []}'
MOODLE = "{name}_{uid}_assignsubmission_file_/tiny.ipynb"
CANVAS = "{login}_{uid}_9{uid}_tiny.ipynb"

# case -> zip members (one export) or folder names; every one of them must stop collect
COLLISIONS = {
    "moodle namesakes": ("zip", [MOODLE.format(name="Ada Lovelace", uid=1), MOODLE.format(name="Ada Lovelace", uid=2)]),
    "moodle accents and punctuation": ("zip", [MOODLE.format(name="Zoë O'Brien", uid=7),
                                               MOODLE.format(name="Zo O Brien", uid=8)]),
    "canvas namesakes": ("zip", [CANVAS.format(login="adalovelace", uid=11), CANVAS.format(login="adalovelace", uid=12)]),
    "canvas case and punctuation": ("zip", [CANVAS.format(login="Ada.Lee", uid=21), CANVAS.format(login="ada.lee", uid=22)]),
    "one participant under two names": ("zip", [MOODLE.format(name="Ann Lee", uid=5), MOODLE.format(name="Ann Li", uid=5)]),
    "folders that slug alike": ("folder", ["Ada Lovelace", "ada-lovelace"]),
    "folder and export that slug alike": ("both", ["Ada Lovelace", MOODLE.format(name="Ada Lovelace", uid=3)]),
}


def _export(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name in members:
            zf.writestr(name, NB)
    return path


def _sources(tmp_path, kind, names):
    sources = []
    folders = names if kind == "folder" else names[:1] if kind == "both" else []
    members = names if kind == "zip" else names[1:] if kind == "both" else []
    for name in folders:
        (tmp_path / "in" / name / "tiny").mkdir(parents=True)
        (tmp_path / "in" / name / "tiny" / "tiny.ipynb").write_bytes(NB)
    if folders:
        sources.append(tmp_path / "in")
    if members:
        sources.append(_export(tmp_path / "export.zip", members))
    return sources


@pytest.mark.parametrize("case", COLLISIONS)
def test_collision_stops_collect_before_anything_is_stored(tmp_path, case):
    kind, names = COLLISIONS[case]
    course = Course.at(tmp_path / "course", corpus.FIXTURE_SOURCE)
    with pytest.raises(IdentityCollision) as stop:
        collect(course, _sources(tmp_path, kind, names), "tiny")
    message = str(stop.value)
    assert "nothing was imported" in message and "Rename one of them" in message
    assert not (course.root / "archive").exists() and not (course.root / "submitted").exists()


def test_a_namesake_in_a_later_export_is_not_merged_into_the_first(tmp_path):
    course = Course.at(tmp_path / "course", corpus.FIXTURE_SOURCE)
    first = _export(tmp_path / "first.zip", [MOODLE.format(name="Ada Lovelace", uid=1)])
    assert collect(course, [first], "tiny").new == [("ada-lovelace", "tiny")]
    manifest = course.archive("ada-lovelace", "tiny") / "manifest.json"
    before = manifest.read_bytes()
    second = tmp_path / "second.zip"
    with zipfile.ZipFile(second, "w") as zf:
        zf.writestr(MOODLE.format(name="Ada  Lovelace", uid=2), b'{"cells": [], "other": 1}')
    with pytest.raises(IdentityCollision, match="participant 2"):
        collect(course, [second], "tiny")
    assert manifest.read_bytes() == before
    assert json.loads(before)["identity"] == "lms:1"


def test_the_same_participant_again_is_the_same_student(tmp_path):
    course = Course.at(tmp_path / "course", corpus.FIXTURE_SOURCE)
    members = [MOODLE.format(name="Ada Lovelace", uid=1), "Ada Lovelace_1_assignsubmission_file_/old/tiny.ipynb"]
    assert collect(course, [_export(tmp_path / "a.zip", members)], "tiny").new == [("ada-lovelace", "tiny")]
    assert collect(course, [_export(tmp_path / "b.zip", members[:1])], "tiny").new == [("ada-lovelace", "tiny")]
