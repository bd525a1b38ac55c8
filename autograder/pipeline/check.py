"""Validate a submission before anything of it runs, and repair what we can.

Reads the student's files from the archive (never from a copy a previous run
may have changed), decides which file is which expected notebook, and writes
the copy that will be executed into submitted/: test and read-only cells equal
to the released ones, every grade id present once. The archive is untouched.
"""
from __future__ import annotations

import copy
import difflib
import json
import uuid
from dataclasses import dataclass, field

import nbformat
import numpy as np
from nbformat import NotebookNode

from autograder.pipeline import flags as F
from autograder.pipeline.collect import archived_path, current
from autograder.pipeline.course import Course, read_json, write_json

# A notebook is parsed by the trusted grader: bound it before parsing, so that no file
# (a 100 MB notebook, a million cells, JSON nested 100,000 deep) can hold the grader's
# memory or time.  Honest notebooks are far inside: ~1 MB, ~100 cells, depth ~10.
MAX_NOTEBOOK_BYTES = 16 * 2**20
MAX_CELLS = 2000
MAX_DEPTH = 64
MAX_JSON_VALUES = 200_000      # commas + brackets outside strings: bounds the objects json builds
_CHUNK = 1 << 20


@dataclass
class CheckResult:
    student: str
    assignment: str
    notebooks: dict[str, dict] = field(default_factory=dict)  # expected name -> {status, file, restored}
    extra: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)          # for the report log, instructor words

    def to_json(self) -> dict:
        return {"student": self.student, "assignment": self.assignment, "notebooks": self.notebooks,
                "extra": self.extra, "flags": self.flags, "problems": self.problems}


def _run(preprocessors, nb: NotebookNode, resources: dict) -> NotebookNode:
    for pp in preprocessors:
        nb, resources = pp.preprocess(nb, resources)
    return nb


def release_notebooks(course: Course, assignment: str, register: bool = False) -> dict[str, NotebookNode]:
    """The student version of each source notebook, made by nbgrader's own generate steps.

    With register=True the same pass records the assignment's cells in the
    gradebook (nbgrader's SaveCells), which autograde needs; only the main
    process does that.
    """
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
        SaveCells,
    )
    if register:
        with Gradebook(course.db_url) as gb:
            gb.update_or_create_assignment(assignment)
    out = {}
    for path in course.source_notebooks(assignment):
        nb = nbformat.read(path, as_version=4)
        resources = {"nbgrader": {"notebook": path.stem, "assignment": assignment, "db_url": course.db_url}}
        steps = [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums()]
        steps += [SaveCells()] if register else []
        steps += [ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]
        out[path.stem] = _run(steps, nb, resources)
    return out


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
        return meta["grade_id"]
    return None


def _is_fixed(cell) -> bool:
    """Cells whose source the student may not change: tests and locked cells."""
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def _meta(cell) -> dict:
    # The checksum follows the cell's source (a solution's changes it); only the rest is the contract.
    meta = cell.metadata.get("nbgrader")
    return {k: v for k, v in meta.items() if k != "checksum"} if isinstance(meta, dict) else {}


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _too_big(size: int) -> str:
    return (f"{size / 2**20:.0f} MB, more than the {MAX_NOTEBOOK_BYTES // 2**20} MB a notebook may have: "
            "clear its outputs (Kernel > Restart & Clear Output), save, and hand it in again")


def out_of_bounds(data: bytes) -> str:
    """Why these bytes are too big to parse as a notebook, or "" (looked at without parsing)."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        return _too_big(len(data))
    values, deepest = _skeleton(data)
    if values > MAX_JSON_VALUES:
        return f"more than {MAX_JSON_VALUES} JSON values: not a notebook saved by Jupyter"
    if deepest > MAX_DEPTH:
        return f"JSON nested more than {MAX_DEPTH} levels deep: not a notebook saved by Jupyter"
    return ""


def _skeleton(data: bytes) -> tuple[int, int]:
    """(brackets and commas outside strings, deepest nesting) of JSON text, without parsing it.

    Escaped backslashes and quotes are blanked first (a left-to-right bytes.replace pairs
    them as JSON does), so every quote left opens or closes a string.  Then chunk by chunk
    (memory stays a few MB whatever the file): a mark is outside strings when an even
    number of quotes precede it.  A regex over strings would do, but Python's re keeps a
    backtracking record per repetition: gigabytes on one 16 MB string."""
    text = np.frombuffer(data.replace(b"\\\\", b"__").replace(b'\\"', b"__"), dtype=np.uint8)
    opening, closing = np.frombuffer(b"[{", dtype=np.uint8), np.frombuffer(b"]}", dtype=np.uint8)
    comma, quote = ord(","), ord('"')
    inside, depth, deepest, values = 0, 0, 0, 0
    for start in range(0, len(text), _CHUNK):
        part = text[start:start + _CHUNK]
        quotes = np.flatnonzero(part == quote)
        marks = np.flatnonzero(np.isin(part, opening) | np.isin(part, closing) | (part == comma))
        marks = marks[(np.searchsorted(quotes, marks) + inside) % 2 == 0]
        chars = part[marks]
        values += len(marks)
        steps = np.isin(chars, opening).astype(np.int64) - np.isin(chars, closing)
        if len(steps):
            run = depth + np.cumsum(steps)
            deepest, depth = max(deepest, int(run.max())), int(run[-1])
        inside = (inside + len(quotes)) % 2
        if values > MAX_JSON_VALUES or deepest > MAX_DEPTH:
            break
    return values, deepest


def read_notebook(data: bytes) -> tuple[NotebookNode | None, str]:
    """(notebook, "") or (None, why it is unusable). Schema slips are rebuilt, not rejected."""
    why = out_of_bounds(data)
    if why:
        return None, why
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"not JSON ({exc.__class__.__name__})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return None, "JSON but not a notebook (no cell list)"
    if len(raw["cells"]) > MAX_CELLS:
        return None, f"{len(raw['cells'])} cells, more than the {MAX_CELLS} a notebook may have"
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
        return nb, ""
    except Exception:  # noqa: BLE001 - any schema problem: rebuild from the cells below
        pass
    try:
        cells = []
        for c in raw["cells"]:
            src = c.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            meta = {"nbgrader": c["metadata"]["nbgrader"]} if isinstance(c.get("metadata"), dict) and isinstance(
                c["metadata"].get("nbgrader"), dict) else {}
            maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}.get(
                c.get("cell_type"), nbformat.v4.new_raw_cell)
            cells.append(maker(src, metadata=meta))
        nb = nbformat.v4.new_notebook(cells=cells)
        nbformat.validate(nb)
        return nb, ""
    except Exception as exc:  # noqa: BLE001
        return None, f"not a valid notebook ({exc.__class__.__name__})"


def similarity(expected: NotebookNode, candidate: NotebookNode) -> float:
    """How much a candidate looks like the expected notebook: shared grade ids and text."""
    want = {_grade_id(c) for c in expected.cells} - {None}
    have = {_grade_id(c) for c in candidate.cells} | {c.get("id") for c in candidate.cells}
    ids = len(want & have) / len(want) if want else 0.0
    text = difflib.SequenceMatcher(None, "\n".join(c.source for c in expected.cells)[:20000],
                                   "\n".join(c.source for c in candidate.cells)[:20000], autojunk=False).quick_ratio()
    return max(ids, text)


def repair(release: NotebookNode, nb: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """Put every graded/locked cell of the release into nb exactly once; return what was restored."""
    nb = copy.deepcopy(nb)
    wanted = [c for c in release.cells if _grade_id(c)]
    by_id = {_grade_id(c): c for c in wanted}
    restored: list[str] = []
    match: dict[str, int] = {}
    # 1. same grade id; 2. same cell id (grade id changed); 3. same text (test/locked cell metadata lost)
    for i, cell in enumerate(nb.cells):
        gid = _grade_id(cell)
        if gid in by_id and gid not in match:
            match[gid] = i
    used = set(match.values())
    for gid, ref in by_id.items():
        if gid in match:
            continue
        for i, cell in enumerate(nb.cells):
            if i not in used and cell.get("id") in (gid, ref.get("id")):
                match[gid] = i
                used.add(i)
                restored.append(gid)
                break
    for gid, ref in by_id.items():
        if gid in match or not _is_fixed(ref):
            continue
        for i, cell in enumerate(nb.cells):
            if i not in used and _norm(cell.source) == _norm(ref.source):
                match[gid] = i
                used.add(i)
                restored.append(gid)
                break
    # Cells claiming a grade id they do not own (copies, invented ids) lose it.
    for i, cell in enumerate(nb.cells):
        if i not in used and "nbgrader" in cell.metadata:
            del cell.metadata["nbgrader"]
            restored.append(f"(metadata removed from cell {i + 1})")
    for gid, i in match.items():
        ref, cell = by_id[gid], nb.cells[i]
        if cell.cell_type != ref.cell_type or (_is_fixed(ref) and _norm(cell.source) != _norm(ref.source)):
            nb.cells[i] = copy.deepcopy(ref)
            restored.append(gid)
        else:
            if _meta(cell) != _meta(ref):
                restored.append(gid)
            cell.metadata["nbgrader"] = copy.deepcopy(ref.metadata["nbgrader"])
    # Missing cells go right after the cell that precedes them in the release.
    out = list(nb.cells)
    position = {gid: out[i] for gid, i in match.items()}
    anchor = None
    for ref in wanted:
        gid = _grade_id(ref)
        if gid in position:
            anchor = position[gid]
            continue
        cell = copy.deepcopy(ref)
        cell["id"] = f"{ref.get('id', gid)}-restored-{uuid.uuid4().hex[:6]}" if any(
            c.get("id") == ref.get("id") for c in out) else ref.get("id", gid)
        at = out.index(anchor) + 1 if anchor is not None else 0
        out.insert(at, cell)
        position[gid] = anchor = cell
        restored.append(gid)
    nb.cells = out
    nb.metadata["kernelspec"] = copy.deepcopy(release.metadata.get("kernelspec", nb.metadata.get("kernelspec", {})))
    return nb, list(dict.fromkeys(restored))


def check(course: Course, student: str, assignment: str, releases: dict[str, NotebookNode]) -> CheckResult:
    result = CheckResult(student, assignment)
    entry = current(course, student, assignment)
    files = entry["files"] if entry else []
    if entry and entry.get("duplicate_names"):
        result.flags.append(F.DUPLICATE_FILES)
    notebooks: dict[str, tuple[NotebookNode | None, str]] = {}
    for f in files:
        if f["name"].endswith(".ipynb"):
            path = archived_path(course, student, assignment, f)
            if path.stat().st_size > MAX_NOTEBOOK_BYTES:   # not even read into memory
                notebooks[f["name"]] = (None, _too_big(path.stat().st_size))
            else:
                notebooks[f["name"]] = read_notebook(path.read_bytes())
    if not notebooks:
        result.flags.append(F.EMPTY_SUBMISSION)
    chosen: dict[str, str] = {}
    for name in releases:
        if f"{name}.ipynb" in notebooks:
            chosen[name] = f"{name}.ipynb"
    for name, release in releases.items():
        if name in chosen:
            continue
        candidates = [(similarity(release, nb), fname) for fname, (nb, _) in notebooks.items()
                      if nb is not None and fname not in chosen.values() and fname[:-6] not in releases]
        best = max(candidates, default=(0.0, ""))
        if best[0] >= 0.5:
            chosen[name] = best[1]
    dest = course.submitted(student, assignment)
    for name, release in releases.items():
        fname = chosen.get(name)
        if fname is None:
            result.notebooks[name] = {"status": "missing", "file": None, "restored": []}
            if notebooks:
                result.flags.append(F.MISSING_NOTEBOOK)
            continue
        nb, why = notebooks[fname]
        if nb is None:
            result.notebooks[name] = {"status": "invalid", "file": fname, "restored": []}
            result.flags.append(F.INVALID_NOTEBOOK)
            result.problems.append(f"{fname}: {why}")
            (dest / f"{name}.ipynb").unlink(missing_ok=True)  # nothing of it may run
            continue
        fixed, restored = repair(release, nb)
        status = "ok" if fname == f"{name}.ipynb" else "renamed"
        if status == "renamed":
            result.flags.append(F.RENAMED_NOTEBOOK)
            result.problems.append(f"{fname} graded as {name}.ipynb")
            (dest / fname).unlink(missing_ok=True)
        if restored:
            result.flags.append(F.CELLS_RESTORED)
            result.problems.append(f"{name}.ipynb: restored {', '.join(restored)}")
        dest.mkdir(parents=True, exist_ok=True)
        nbformat.write(fixed, dest / f"{name}.ipynb")
        result.notebooks[name] = {"status": status, "file": fname, "restored": restored}
    for fname, (_nb, _why) in sorted(notebooks.items()):
        if fname not in chosen.values() and fname[:-6] not in releases:
            result.extra.append(fname)
            result.flags.append(F.EXTRA_NOTEBOOK)
            (dest / fname).unlink(missing_ok=True)  # nbgrader must not pick it up
    result.flags = F.merge(result.flags)
    write_json(course.work(student, assignment) / "check.json", result.to_json())
    return result


def load(course: Course, student: str, assignment: str) -> CheckResult | None:
    data = read_json(course.work(student, assignment) / "check.json")
    if not data:
        return None
    return CheckResult(**data)
