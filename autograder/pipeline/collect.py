"""Import submissions from a folder or an LMS export zip into the course.

Every original file is kept byte-for-byte in
archive/<student>/<assignment>/<sha256>/<name> (read-only) and listed in that
folder's manifest.json; submitted/ gets a working copy for nbgrader. The
archive is append-only: collecting the same bytes again changes nothing, a
different set of files becomes the student's newest submission.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.pipeline.course import Course, read_json, write_json

# One file above this is not a notebook: refuse it instead of filling the disk (zip bombs).
MAX_FILE_BYTES = 100 * 2**20

# Canvas: <login>[_late]_<user id>_<submission id>_<original file name>
CANVAS = re.compile(r"^(?P<login>.+?)(?P<late>_late)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<name>.+)$", re.I)
# Moodle: <Full Name>_<participant id>_assignsubmission_file_/<file>
MOODLE = re.compile(r"^(?P<fullname>.+)_(?P<uid>\d+)_assignsubmission_file_?$")
IGNORED = re.compile(r"(^|/)(__MACOSX|\.ipynb_checkpoints)(/|$)|(^|/)\.[^/]*$")


class IdentityCollision(SystemExit):
    """Two different people would share one student folder: collecting must stop, never merge."""


@dataclass
class Incoming:
    """One file on its way in, before it is archived."""
    student: str
    name: str
    data: bytes
    source: str
    submitted_at: dt.datetime
    lms_id: str = ""
    full_name: str = ""
    late_marker: bool = False
    label: str = ""  # how a human recognises the sender: display name, Canvas login or folder name

    @property
    def identity(self) -> str:
        """Who handed this in: the LMS participant id, else the exact folder name (never a slug)."""
        return f"lms:{self.lms_id}" if self.lms_id else f"folder:{self.label}"

    def who(self) -> str:
        return f"LMS participant {self.lms_id} ({self.label!r})" if self.lms_id else f"folder {self.label!r}"


@dataclass
class CollectResult:
    new: list[tuple[str, str]] = field(default_factory=list)        # (student, assignment) with new files
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)


def student_id(text: str) -> str:
    """A name safe as a folder and nbgrader id: lower case letters, digits, '.', '_', '-'."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.strip().lower()).strip("-._")
    return slug[:64]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC).replace(microsecond=0)


def safe_member(name: str) -> PurePosixPath | None:
    """The member's path if it stays inside the extraction folder, else None (zip slip)."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
        return None
    return path


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # Read at most MAX_FILE_BYTES + 1 so a lying size header cannot exhaust memory.
    with archive.open(info) as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    return data


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _zip_time(info: zipfile.ZipInfo) -> dt.datetime:
    # Zip entries carry a naive time; LMS exports write the submission time, taken as UTC.
    return dt.datetime(*info.date_time, tzinfo=dt.UTC)


def read_zip(path: Path, result: CollectResult) -> list[Incoming]:
    """Files of a Canvas or Moodle export, wherever they sit in nested folders."""
    incoming: list[Incoming] = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or IGNORED.search(info.filename):
                continue
            where = f"{path.name}!{info.filename}"
            member = safe_member(info.filename)
            if member is None:
                result.rejected.append((where, "path leaves the export folder (zip slip)"))
                continue
            if _is_symlink(info):
                result.rejected.append((where, "symbolic link"))
                continue
            try:
                data = _read_member(archive, info)
            except (ValueError, zipfile.BadZipFile, OSError) as exc:
                result.rejected.append((where, str(exc)))
                continue
            item = _identify(member, data, where, _zip_time(info))
            if item is None:
                result.rejected.append((where, "not a Canvas or Moodle submission file name"))
                continue
            incoming.append(item)
    return incoming


def _identify(member: PurePosixPath, data: bytes, where: str, when: dt.datetime) -> Incoming | None:
    # Moodle: the student folder may sit anywhere in the path; the file may be nested below it.
    for depth, part in enumerate(member.parts[:-1]):
        match = MOODLE.match(part)
        if match:
            full = match["fullname"].strip()
            return Incoming(student_id(full), "/".join(member.parts[depth + 1:]), data, where, when,
                            lms_id=match["uid"], full_name=full, label=full)
    match = CANVAS.match(member.name)
    if match and student_id(match["login"]):
        return Incoming(student_id(match["login"]), match["name"], data, where, when,
                        lms_id=match["uid"], label=match["login"], late_marker=bool(match["late"]))
    return None


def read_folder(root: Path, assignment: str | None, result: CollectResult) -> dict[str, list[Incoming]]:
    """<root>/<student>/<assignment>/** files, keyed by assignment."""
    found: dict[str, list[Incoming]] = {}
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            if assignment and assignment_dir.name != assignment:
                continue
            for path in sorted(assignment_dir.rglob("*")):
                rel = path.relative_to(assignment_dir).as_posix()
                if IGNORED.search(rel) or path.is_dir():
                    continue
                if path.is_symlink() or not path.is_file():
                    result.rejected.append((str(path), "not a regular file"))
                    continue
                if path.stat().st_size > MAX_FILE_BYTES:
                    result.rejected.append((str(path), f"larger than {MAX_FILE_BYTES} bytes"))
                    continue
                found.setdefault(assignment_dir.name, []).append(
                    Incoming(student_id(student_dir.name), rel, path.read_bytes(), str(path),
                             _utc(path.stat().st_mtime), label=student_dir.name))
    return found


def expand_inner_zips(items: list[Incoming], result: CollectResult) -> list[Incoming]:
    """A student who zipped their notebooks: keep the zip and add the notebooks inside it."""
    out = []
    for item in items:
        out.append(item)
        if not item.name.lower().endswith(".zip"):
            continue
        try:
            inner = zipfile.ZipFile(io.BytesIO(item.data))
        except zipfile.BadZipFile:
            continue
        with inner:
            for info in inner.infolist():
                member = safe_member(info.filename)
                where = f"{item.source}!{info.filename}"
                if info.is_dir() or IGNORED.search(info.filename) or not info.filename.endswith(".ipynb"):
                    continue
                if member is None or _is_symlink(info):
                    result.rejected.append((where, "path leaves the student's zip (zip slip)"))
                    continue
                try:
                    data = _read_member(inner, info)
                except (ValueError, zipfile.BadZipFile, OSError) as exc:
                    result.rejected.append((where, str(exc)))
                    continue
                out.append(Incoming(item.student, member.as_posix(), data, where, item.submitted_at,
                                    item.lms_id, item.full_name, item.late_marker, item.label))
    return out


def _flat_names(items: list[Incoming]) -> list[str]:
    """File names for submitted/: base names, the newer of two equal names keeps it."""
    names: list[str] = [""] * len(items)
    order = sorted(range(len(items)), key=lambda i: (items[i].submitted_at, items[i].source), reverse=True)
    taken: set[str] = set()
    for i in order:
        base = PurePosixPath(items[i].name).name
        name, n = base, 1
        while name in taken:
            n += 1
            stem, dot, ext = base.rpartition(".")
            name = f"{stem}-dup{n}.{ext}" if dot else f"{base}-dup{n}"
        taken.add(name)
        names[i] = name
    return names


def store(course: Course, assignment: str, student: str, items: list[Incoming], result: CollectResult) -> None:
    """Archive one student's files; if they differ from the newest submission, make them the newest."""
    folder = course.archive(student, assignment)
    manifest_path = folder / "manifest.json"
    manifest = read_json(manifest_path) or {"student": student, "assignment": assignment, "submissions": []}
    flat = _flat_names(items)
    files = sorted(({"name": flat[i], "original_name": it.name, "sha256": sha256(it.data), "size": len(it.data),
                     "source": it.source} for i, it in enumerate(items)), key=lambda f: (f["name"], f["sha256"]))
    fingerprint = sorted((f["name"], f["sha256"]) for f in files)
    latest = manifest["submissions"][-1] if manifest["submissions"] else None
    if latest and sorted((f["name"], f["sha256"]) for f in latest["files"]) == fingerprint:
        result.unchanged.append((student, assignment))
        return
    for name, it in zip(flat, items):
        target = folder / sha256(it.data) / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(it.data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
    submitted_at = max(it.submitted_at for it in items)
    first = items[0]
    manifest.update(lms_id=first.lms_id or manifest.get("lms_id", ""), identity=first.identity,
                    full_name=first.full_name or manifest.get("full_name", ""))
    manifest["submissions"].append({
        "received": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "submitted_at": submitted_at.isoformat(),
        "late_marker": any(it.late_marker for it in items),
        "duplicate_names": len({PurePosixPath(it.name).name for it in items}) < len(items),
        "files": files,
    })
    write_json(manifest_path, manifest)
    _copy_to_submitted(course, assignment, student, manifest)
    result.new.append((student, assignment))


def current(course: Course, student: str, assignment: str) -> dict | None:
    """The student's newest archived submission of the assignment (manifest entry + folder)."""
    manifest = read_json(course.archive(student, assignment) / "manifest.json")
    if not manifest or not manifest["submissions"]:
        return None
    return dict(manifest["submissions"][-1], lms_id=manifest.get("lms_id", ""), full_name=manifest.get("full_name", ""))


def archived_path(course: Course, student: str, assignment: str, entry: dict) -> Path:
    return course.archive(student, assignment) / entry["sha256"] / entry["name"]


def _copy_to_submitted(course: Course, assignment: str, student: str, manifest: dict) -> None:
    latest = manifest["submissions"][-1]
    dest = course.submitted(student, assignment)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for f in latest["files"]:
        target = dest / f["name"]
        shutil.copyfile(archived_path(course, student, assignment, f), target)
        os.chmod(target, 0o644)  # the working copy is writable; only the archive is frozen
    # nbgrader reads the hand-in time from here (late submissions, gradebook timestamp).
    stamp = dt.datetime.fromisoformat(latest["submitted_at"])
    (dest / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


def register_students(course: Course, students: dict[str, dict]) -> None:
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url) as gb:
        for sid, info in students.items():
            full = info.get("full_name", "")
            first, _, last = full.partition(" ")
            kwargs = {"first_name": first or None, "last_name": last or None} if full else {}
            gb.update_or_create_student(sid, **kwargs)


def _refuse_collisions(course: Course, batches: dict[tuple[str, str], list[Incoming]]) -> None:
    """Stop, before anything is stored, if two people would share a student folder.

    A folder name is a slug of a display name, so namesakes (or names differing only in
    accents or punctuation) slug alike; merging them would give one the other's grade.
    Checked within this import (each folder holds one identity, each identity one folder)
    and against what earlier imports archived (the manifest keeps the identity)."""
    problems = []
    holders: dict[str, dict[str, Incoming]] = {}   # student folder -> identity -> an example item
    folders: dict[str, set[str]] = {}              # identity -> student folders
    for (student, _), items in batches.items():
        for it in items:
            if student:
                holders.setdefault(student, {}).setdefault(it.identity, it)
                folders.setdefault(it.identity, set()).add(student)
    for student, who in sorted(holders.items()):
        if len(who) > 1:
            names = " and ".join(it.who() for it in who.values())
            problems.append(f"{names} would both become student {student!r}")
    for identity, students in sorted(folders.items()):
        if len(students) > 1:
            problems.append(f"{identity} appears under several names: {', '.join(sorted(students))}")
    for (student, assignment), items in sorted(batches.items()):
        if not student or len(holders.get(student, {})) != 1:
            continue
        manifest = read_json(course.archive(student, assignment) / "manifest.json") or {}
        before = manifest.get("identity") or (f"lms:{manifest['lms_id']}" if manifest.get("lms_id") else "")
        if before and before != items[0].identity:
            problems.append(f"{items[0].who()} would become student {student!r}, who is already {before} "
                            f"in {course.archive(student, assignment)}")
    if problems:
        raise IdentityCollision(
            "collect stopped, nothing was imported: two different people would share one student id.\n  - "
            + "\n  - ".join(problems)
            + "\nRename one of them in the export or folder (e.g. add the participant id to the name) and collect again.")


def collect(course: Course, sources: list[Path], assignment: str | None = None) -> CollectResult:
    """Import each source (folder or LMS zip); zips need the assignment named."""
    result = CollectResult()
    batches: dict[tuple[str, str], list[Incoming]] = {}
    for source in sources:
        source = Path(source)
        if source.is_dir():
            for name, items in read_folder(source, assignment, result).items():
                for it in items:
                    batches.setdefault((it.student, name), []).append(it)
        elif zipfile.is_zipfile(source):
            if not assignment:
                raise SystemExit(f"{source}: say which assignment this LMS export is for (--assignment)")
            for it in read_zip(source, result):
                batches.setdefault((it.student, assignment), []).append(it)
        else:
            result.rejected.append((str(source), "neither a folder nor a zip file"))
    _refuse_collisions(course, batches)
    students: dict[str, dict] = {}
    for (student, name), items in sorted(batches.items()):
        if not student:
            result.rejected.extend((it.source, "no usable student name") for it in items)
            continue
        store(course, name, student, expand_inner_zips(items, result), result)
        students[student] = {"full_name": items[0].full_name}
    if students:
        register_students(course, students)
    return result
