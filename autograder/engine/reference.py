"""The instructor's reference solution, taken from the master notebook itself.

The source notebook is the one place an assignment is written, so benchmarks
and tools that need the reference classes execute its setup and solution cells
instead of keeping a second copy of the solution.
"""
from __future__ import annotations

import functools
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]


def source_notebook(assignment: str) -> Path:
    return ROOT / "source" / assignment / f"{assignment}.ipynb"


def _is_reference_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and (meta.get("solution") or cell.get("id") == "setup")


@functools.cache
def reference_namespace(assignment: str) -> dict:
    """Execute the source notebook's setup and solution cells; return their globals."""
    nb = nbformat.read(source_notebook(assignment), as_version=4)
    namespace: dict = {"__name__": f"reference_{assignment}"}
    for cell in nb.cells:
        if _is_reference_cell(cell):
            code = "\n".join(line for line in cell.source.splitlines()
                             if not line.lstrip().startswith(("%", "!")))
            exec(compile(code, f"<{assignment}:{cell.get('id')}>", "exec"), namespace)
    return namespace
