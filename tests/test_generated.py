"""assignments/ and solutions/ must be what `python -m autograder.pipeline.generate` makes of source/.

The generated folders are committed, so an edit of a master notebook without
regenerating (or a hand edit of a generated file) is drift: these tests
regenerate into a temporary folder and compare.  Student copies must match
byte for byte; solutions are compared unexecuted (cell sources and metadata),
since their outputs hold timings.  They also check what the student copy must
never contain and that committed notebooks carry no outputs.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from autograder.pipeline import generate

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = generate.assignments_in()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    generate.generate(ASSIGNMENTS, out_root=out, run=False)
    return out


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_copy_is_up_to_date(regenerated, assignment):
    committed = ROOT / "assignments" / assignment
    fresh = regenerated / "assignments" / assignment
    assert committed.is_dir(), f"assignments/{assignment} is missing: run `make generate`"
    names = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
    have = sorted(p.relative_to(committed).as_posix() for p in committed.rglob("*")
                  if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    assert have == names, f"assignments/{assignment} has other files than generate makes: run `make generate`"
    for name in names:
        have_bytes, want_bytes = (committed / name).read_bytes(), (fresh / name).read_bytes()
        if name.endswith(".ipynb"):
            have_bytes, want_bytes = _authored(have_bytes), _authored(want_bytes)
        assert have_bytes == want_bytes, (
            f"assignments/{assignment}/{name} differs from what source/ generates: run `make generate`")


# What Jupyter itself writes into a notebook when it is opened, run or saved.
# language_info carries the version of whatever Python the kernel runs (3.11.7
# here, anything on a student's laptop), so no generator can write it in
# advance for every machine: the drift test ignores these keys instead, and
# compares everything the course authored byte for byte.
KERNEL_NOTEBOOK_METADATA = ("language_info", "widgets")
KERNEL_CELL_METADATA = ("execution", "collapsed", "scrolled", "jp-MarkdownHeadingCollapsed")


def _authored(raw: bytes) -> bytes:
    nb = json.loads(raw)
    for key in KERNEL_NOTEBOOK_METADATA:
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        for key in KERNEL_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False).encode()


def test_drift_check_ignores_what_jupyter_writes_on_open():
    """Opening a student copy in JupyterLab and saving it rewrites language_info
    (with the kernel's full Python version); that is not drift."""
    path = ROOT / "assignments" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    nb = json.loads(path.read_bytes())
    nb["metadata"]["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
        "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3", "version": "3.11.7"}
    nb["cells"][0]["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    saved = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False).encode() + b"\n"
    assert _authored(saved) == _authored(path.read_bytes())
    nb["cells"][0]["source"] = "edited by hand"
    edited = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False).encode()
    assert _authored(edited) != _authored(path.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_copy_is_up_to_date(regenerated, assignment):
    committed = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    fresh = regenerated / "solutions" / assignment / f"{assignment}.ipynb"
    assert committed.exists(), f"solutions/{assignment}/{assignment}.ipynb is missing: run `make generate`"
    want, have = _cells(fresh), _cells(committed)
    assert [c.get("id") for c in have] == [c.get("id") for c in want]
    for a, b in zip(have, want):
        assert a["cell_type"] == b["cell_type"], a.get("id")
        assert _source(a) == _source(b), f"cell {a.get('id')} of solutions/{assignment} is stale: run `make generate`"
        meta_a = {k: v for k, v in a.get("metadata", {}).items() if k != "execution"}
        meta_b = {k: v for k, v in b.get("metadata", {}).items() if k != "execution"}
        assert meta_a == meta_b, a.get("id")


@pytest.mark.slow
def test_generation_is_byte_deterministic(tmp_path, regenerated):
    generate.generate(ASSIGNMENTS, out_root=tmp_path, run=False)
    for path in (regenerated).rglob("*"):
        if path.is_file():
            again = tmp_path / path.relative_to(regenerated)
            assert again.read_bytes() == path.read_bytes(), path.relative_to(regenerated)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_copy_hides_solutions_and_hidden_tests(assignment):
    path = ROOT / "assignments" / assignment / f"{assignment}.ipynb"
    text = path.read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "MARK SCHEME", "Rubric", "Model answer"):
        assert marker not in text, f"student copy of {assignment} contains {marker!r}"
    source = {c.get("id"): c for c in _cells(ROOT / "source" / assignment / f"{assignment}.ipynb")}
    student = {c.get("id"): c for c in _cells(path)}
    for cid, cell in source.items():
        meta = _nbgrader(cell)
        if not meta.get("solution"):
            continue
        assert cid in student, f"solution cell {cid} missing from the student copy"
        body = _source(student[cid])
        stub = "raise NotImplementedError()" if cell["cell_type"] == "code" else "YOUR ANSWER HERE"
        assert stub in body, f"{cid}: no {stub!r} in the student copy"
        _assert_region_gone(_source(cell), body, "BEGIN SOLUTION", "END SOLUTION", cid)
    for cid, cell in source.items():
        if "BEGIN HIDDEN TESTS" in _source(cell):
            _assert_region_gone(_source(cell), _source(student[cid]), "BEGIN HIDDEN TESTS",
                                "END HIDDEN TESTS", cid)


def _assert_region_gone(source: str, student: str, begin: str, end: str, cid: str) -> None:
    """No line that occurs only inside a begin/end region of the source cell
    may appear in the student's cell."""
    inside, outside, region = [], set(), False
    for line in source.splitlines():
        if begin in line:
            region = True
        elif end in line:
            region = False
        elif region:
            inside.append(line.strip())
        else:
            outside.add(line.strip())
    assert inside, f"{cid}: no {begin} region in the source"
    student_lines = {line.strip() for line in student.splitlines()}
    leaked = [line for line in inside if line and line not in outside and line in student_lines]
    assert not leaked, f"{cid}: lines of the {begin} region leaked into the student copy: {leaked[:3]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_cells_follow_the_contract(assignment):
    """Points live in the source notebook's nbgrader metadata only (nothing here repeats them):
    every nbgrader cell's grade_id is its cell id, every graded cell is worth points, an
    autograded test cell is locked and keeps hidden tests, a written answer is graded by hand."""
    cells = {c.get("id"): c for c in _cells(ROOT / "source" / assignment / f"{assignment}.ipynb")}
    graded = 0
    for cid, cell in cells.items():
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        assert gid is None or gid == cid, f"cell id {cid} != grade_id {gid}"
        if not meta.get("grade"):
            assert not meta.get("points"), f"{cid}: points on a cell that is not graded"
            assert not (meta.get("solution") and meta.get("locked")), f"{cid}: a solution cell is locked"
            continue
        graded += 1
        assert isinstance(meta.get("points"), (int, float)) and meta["points"] > 0, f"{cid}: no points"
        if cell["cell_type"] == "code":
            assert meta["locked"] and not meta["solution"], f"{cid}: a test cell is locked and holds no solution"
        else:
            assert meta["solution"], f"{cid}: a graded markdown cell is a written answer"
    assert graded, f"{assignment}: no graded cell"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebooks_never_branch_on_fast_mode(assignment):
    """NNKIT_FAST shortens nnkit.train for the grader and the tests; a notebook that asked for it
    could pass in-kernel checks only when it is set (docs/design.md)."""
    for cell in _cells(ROOT / "source" / assignment / f"{assignment}.ipynb"):
        if cell["cell_type"] == "code":
            for word in ("fast_mode", "NNKIT_FAST"):
                assert word not in _source(cell), f"{cell.get('id')}: uses {word}"


@pytest.mark.parametrize("folder", ["source", "assignments"])
def test_committed_notebooks_have_no_outputs(folder):
    paths = sorted((ROOT / folder).glob("*/*.ipynb"))
    assert paths
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{path.relative_to(ROOT)} cell {cell.get('id')} has outputs: clear them")
