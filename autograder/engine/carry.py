"""The reference's earlier classes for a later assignment, so one mistake is charged once.

A later notebook carries the student's own classes forward with
``nnkit.carry.load("mlp", ["Linear", ...])`` in a locked cell.  When the grader
runs that notebook (the sandboxed driver, the source's own reference run and the
in-kernel run alike) ``NNKIT_CARRY_DIR`` points at a folder written here, which
holds, for each earlier assignment named, a notebook of the earlier *source*
notebook's solution cells that define the classes asked for, and nothing else.
``nnkit.carry`` looks there before any student file, so a student is graded on
this assignment's parts with the reference's earlier classes, and the student's
own earlier notebook is never read.

What is carried is read from the trusted source notebook's own calls (the one
place it is written): literal arguments only, as the notebook's authors write them.
"""
from __future__ import annotations

import ast
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat


def _literal_names(node) -> list[str] | None:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _is_carry_load(func) -> bool:
    """``nnkit.carry.load``, ``carry.load`` or a bare imported ``load`` of it."""
    if isinstance(func, ast.Attribute) and func.attr == "load":
        owner = func.value
        return (isinstance(owner, ast.Name) and owner.id == "carry") or \
            (isinstance(owner, ast.Attribute) and owner.attr == "carry")
    return False


def carried(source: Path) -> dict[str, list[str]]:
    """{earlier assignment: class names} of every ``nnkit.carry.load`` call in the source's
    locked (non-solution) code cells."""
    nb = nbformat.read(source, as_version=4)
    wanted: dict[str, list[str]] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _is_carry_load(node.func) and len(node.args) >= 2):
                continue
            assignment, names = _literal_names(node.args[0]), _literal_names(node.args[1])
            if not assignment or len(assignment) != 1 or names is None:
                raise ValueError(f"{source}: nnkit.carry.load must name the assignment and classes literally")
            wanted.setdefault(assignment[0], [])
            wanted[assignment[0]] += [n for n in names if n not in wanted[assignment[0]]]
    return wanted


def earlier_source(source: Path, assignment: str) -> Path:
    """The earlier assignment's source notebook, in the same course's source folder."""
    return Path(source).resolve().parent.parent / assignment / f"{assignment}.ipynb"


def _defines(code: str) -> set[str]:
    try:
        return {n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)}
    except SyntaxError:
        return set()


def prepare(source: Path, folder: Path) -> Path | None:
    """Write ``folder/<id>/<id>.ipynb`` for every earlier assignment the source carries from;
    returns ``folder`` (the value of NNKIT_CARRY_DIR), or None when nothing is carried."""
    wanted = carried(source)
    if not wanted:
        return None
    for assignment, names in wanted.items():
        earlier = earlier_source(source, assignment)
        if not earlier.is_file():
            raise FileNotFoundError(f"{source} carries {names} from {assignment}, but {earlier} does not exist")
        nb = nbformat.read(earlier, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code"
                 and c.get("metadata", {}).get("nbgrader", {}).get("solution") and _defines(c.source) & set(names)]
        missing = set(names) - set().union(*(_defines(c.source) for c in cells))
        if missing:
            raise ValueError(f"{earlier} defines no solution class {sorted(missing)} that {source} carries")
        out = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            c.source, metadata={"nbgrader": {"solution": True, "grade_id": c.get("id")}}) for c in cells])
        target = folder / assignment
        target.mkdir(parents=True, exist_ok=True)
        nbformat.write(out, target / f"{assignment}.ipynb")
    for path in [folder, *folder.rglob("*")]:    # the sandbox's user reads it, never writes it
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return folder


@contextmanager
def in_this_process(source: Path) -> Iterator[None]:
    """Run the source's own cells here (trusted) with the reference's earlier classes: what the
    grader measures accuracy with must not depend on the grader's working folder."""
    with tempfile.TemporaryDirectory(prefix="nnkit-carry-") as tmp:
        folder = prepare(source, Path(tmp))
        before = os.environ.get("NNKIT_CARRY_DIR")
        if folder:
            os.environ["NNKIT_CARRY_DIR"] = str(folder)
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("NNKIT_CARRY_DIR", None)
            else:
                os.environ["NNKIT_CARRY_DIR"] = before
