"""Carry your own classes from an earlier assignment into a later one.

A later notebook (``optim``, ``cnn``, …) builds on the layers you wrote
before, as CS231n carries ``layers.py`` forward::

    Linear, ReLU = nnkit.carry.load("mlp", ["Linear", "ReLU"])

reads *your* ``mlp.ipynb``, finds the solution cell that defines each class,
runs those cells (in notebook order) in a fresh namespace holding only
``np``, ``math``, ``nnkit`` and ``Module, Sequential, Loss, Optimizer``, and
returns the classes.  Nothing else of the earlier notebook runs (no setup
cell, no checks, no training), so loading is quick and has no side effects.

Where the earlier notebook is looked for, first match wins:

1. ``path=``: a notebook file, or a folder holding ``<id>.ipynb`` or ``<id>/<id>.ipynb``;
2. ``$NNKIT_CARRY_DIR/<id>/<id>.ipynb`` (set by the grader, see below);
3. ``../<id>/<id>.ipynb``: the sibling folder, which is how both
   ``assignments/`` and unzipped release zips are laid out;
4. ``./<id>.ipynb`` and ``./<id>/<id>.ipynb`` (e.g. everything uploaded into
   one folder on Colab).

Every problem raises :class:`CarryError` naming the notebook, the class and
what to fix there.  The grader never grades a later assignment with your
earlier classes: it points ``NNKIT_CARRY_DIR`` at the reference's, so a
mistake is charged once, in the assignment where you made it.
"""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path

PREAMBLE = (
    "import math\n"
    "import numpy as np\n"
    "import nnkit\n"
    "from nnkit import Module, Sequential, Loss, Optimizer\n"
)


class CarryError(ImportError):
    """An earlier notebook or one of its classes cannot be carried forward."""


def candidates(assignment: str, path: str | os.PathLike | None = None,
               cwd: str | os.PathLike | None = None) -> list[Path]:
    """The files looked at, in order, for ``assignment``'s notebook."""
    name = f"{assignment}.ipynb"
    if path is not None:
        given = Path(path).expanduser()
        return [given] if given.suffix == ".ipynb" else [given / name, given / assignment / name]
    here = Path(cwd) if cwd is not None else Path.cwd()
    found = []
    if os.environ.get("NNKIT_CARRY_DIR"):
        found.append(Path(os.environ["NNKIT_CARRY_DIR"]) / assignment / name)
    return found + [here.parent / assignment / name, here / name, here / assignment / name]


def find(assignment: str, path=None, cwd=None) -> Path:
    tried = candidates(assignment, path, cwd)
    for candidate in tried:
        if candidate.is_file():
            return candidate
    where = ", ".join(str(p) for p in tried)
    raise CarryError(
        f"Your {assignment} notebook was not found (looked for {where}). This assignment reuses "
        f"classes you wrote in {assignment}: put your {assignment}.ipynb there (in the folder "
        f"{assignment}/ next to this assignment's folder), or pass path='…/{assignment}.ipynb'.")


def _code_cells(notebook: Path) -> list[tuple[str, str, dict]]:
    """(cell id, source, nbgrader metadata) of every code cell."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CarryError(f"{notebook} is not a readable notebook ({type(err).__name__}: {err}). "
                         "Open it in Jupyter, save it, and run this cell again.") from None
    out = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        out.append((cell.get("id") or f"#{index + 1}", source, cell.get("metadata", {}).get("nbgrader", {})))
    return out


def _defines(source: str) -> dict[str, ast.ClassDef] | None:
    """Top-level classes defined by a cell, or None when it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _unfinished(cls: ast.ClassDef) -> list[str]:
    """Methods of a class that still raise NotImplementedError (the template's stub)."""
    stubs = []
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Raise) and inner.exc is not None:
                    exc = inner.exc.func if isinstance(inner.exc, ast.Call) else inner.exc
                    if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                        stubs.append(node.name)
                        break
    return stubs


def _syntax_error(source: str) -> SyntaxError:
    try:
        ast.parse(source)
    except SyntaxError as err:
        return err
    raise AssertionError("the cell parses")  # only called for cells that do not


def load(assignment: str, names, path=None, *, cwd=None):
    """Your classes ``names`` from your notebook of ``assignment``.

    Returns one class for a single name (``str``), else a tuple in the order
    asked.  Raises :class:`CarryError` when the notebook is missing, a class
    is not there, still raises ``NotImplementedError``, or its cell does not run.
    """
    single = isinstance(names, str)
    wanted = [names] if single else list(names)
    notebook = find(assignment, path, cwd)
    cells = _code_cells(notebook)
    solution = [(cid, src) for cid, src, meta in cells if meta.get("solution")] or \
        [(cid, src) for cid, src, _ in cells]

    chosen: dict[str, str] = {}                  # class name -> cell id
    broken = {cid: src for cid, src in solution if _defines(src) is None}
    for name in wanted:
        owner = next((cid for cid, src in solution if name in (_defines(src) or {})), None)
        if owner is None:
            near = next((cid for cid, src in broken.items() if f"class {name}" in src), None)
            if near is not None:
                err = _syntax_error(broken[near])
                raise CarryError(
                    f"{notebook}, cell '{near}' (class {name}): syntax error on line {err.lineno} of the "
                    f"cell: {err.msg}. Fix it in {assignment}.ipynb, save, and run this cell again.")
            raise CarryError(
                f"{notebook} defines no class {name} in its solution cells. Did you rename or delete it? "
                f"Restore `class {name}` in {assignment}.ipynb, save, and run this cell again.")
        stubs = _unfinished(_defines(dict(solution)[owner])[name])
        if stubs:
            raise CarryError(
                f"{notebook}, cell '{owner}': {name}.{stubs[0]} still raises NotImplementedError. "
                f"Finish {name} in {assignment}.ipynb (its self-check should pass), save, "
                "and run this cell again.")
        chosen[name] = owner

    namespace: dict = {"__name__": f"nnkit.carry.{assignment}"}
    exec(compile(PREAMBLE, "<nnkit.carry>", "exec"), namespace)
    for cid, src in solution:
        if cid not in chosen.values():
            continue
        try:
            # The file name makes tracebacks point at the earlier notebook's cell.
            exec(compile(src, f"{notebook} [cell {cid}]", "exec"), namespace)
        except Exception as err:
            names_here = ", ".join(n for n, c in chosen.items() if c == cid)
            raise CarryError(
                f"{notebook}, cell '{cid}' (class {names_here}) fails when it runs: "
                f"{type(err).__name__}: {err}. Fix it in {assignment}.ipynb, save, and run this cell again."
            ) from err
    found = tuple(namespace[name] for name in wanted)
    return found[0] if single else found
