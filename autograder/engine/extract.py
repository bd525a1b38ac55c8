"""Pick the student's solution cells out of a submitted notebook.

The code that runs is assembled here, never taken whole from the submission:
the locked ``setup`` cell comes from the trusted SOURCE notebook, and for each
solution cell of the source we take the submitted cell with the same id.  A
submission's metadata is used for nothing but finding those cells.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SETUP_ID = "setup"


@dataclass
class Extraction:
    setup: str                                   # from the source notebook
    cells: dict[str, str] = field(default_factory=dict)   # part -> student code
    missing: list[str] = field(default_factory=list)
    magics: dict[str, list[str]] = field(default_factory=dict)  # part -> stripped lines
    flags: list[str] = field(default_factory=list)

    def program(self) -> list[dict]:
        """Cells in run order, as the driver's request wants them."""
        return [{"id": SETUP_ID, "source": self.setup}] + [
            {"id": part, "source": code} for part, code in self.cells.items()]


def _read(nb) -> dict | None:
    """A notebook as a plain dict, or None when it cannot be read at all."""
    if isinstance(nb, dict):
        return nb
    try:
        raw = Path(nb).read_bytes() if isinstance(nb, (str, Path)) else bytes(nb)
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except (OSError, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def _text(source) -> str | None:
    """nbformat allows a string or a list of strings; anything else is unusable."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def _cell_keys(cell: dict) -> tuple[str | None, str | None]:
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    grade_id = nbg.get("grade_id") if isinstance(nbg, dict) else None
    cid = cell.get("id")
    return (grade_id if isinstance(grade_id, str) else None,
            cid if isinstance(cid, str) else None)


def strip_magics(code: str) -> tuple[str, list[str]]:
    """Drop IPython magics and shell escapes (they are not Python and could reach
    the shell); keep line numbers stable by leaving an empty line behind."""
    kept, dropped = [], []
    for line in code.splitlines():
        if line.lstrip().startswith(("%", "!")):
            dropped.append(line.strip())
            kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept), dropped


def solution_ids(source) -> list[str]:
    """Ids of the source notebook's solution code cells, in notebook order."""
    nb = _read(source)
    ids = []
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and not meta.get("locked"):
            ids.append(meta.get("grade_id") or cell.get("id"))
    return ids


def setup_source(source) -> str:
    nb = _read(source)
    for cell in nb.get("cells", []):
        if _cell_keys(cell)[0] == SETUP_ID or cell.get("id") == SETUP_ID:
            return strip_magics(_text(cell.get("source")) or "")[0]
    raise ValueError("the source notebook has no locked 'setup' cell")


def extract(submission, source) -> Extraction:
    """``submission``: path, bytes or dict; ``source``: the assignment's source notebook."""
    result = Extraction(setup=setup_source(source))
    parts = solution_ids(source)
    nb = _read(submission)
    cells = nb.get("cells") if nb is not None else None
    if not isinstance(cells, list):
        result.flags.append("unreadable-notebook")
        result.missing = list(parts)
        return result
    try:   # nbformat's validator only informs: grading never depends on it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.from_dict(nb))
    except Exception:  # noqa: BLE001 - any validator failure means the same thing
        result.flags.append("invalid-notebook-format")

    by_grade_id: dict[str, dict] = {}
    by_id: dict[str, dict] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        grade_id, cid = _cell_keys(cell)
        for key, table in ((grade_id, by_grade_id), (cid, by_id)):
            if key in parts:
                if key in table and table[key] is not cell:
                    if f"duplicate-cell:{key}" not in result.flags:
                        result.flags.append(f"duplicate-cell:{key}")
                    continue          # the first one counts, as nbgrader would
                table[key] = cell
    for part in parts:
        cell = by_grade_id.get(part) or by_id.get(part)
        code = _text(cell.get("source")) if cell is not None else None
        if code is None:
            result.missing.append(part)
            if cell is not None:
                result.flags.append(f"unreadable-source:{part}")
            continue
        code, dropped = strip_magics(code)
        if dropped:
            result.magics[part] = dropped
            result.flags.append(f"magics-removed:{part}")
        result.cells[part] = code
    return result
