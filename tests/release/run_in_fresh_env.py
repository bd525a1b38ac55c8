"""Run inside the fresh virtualenv of tests/release/test_release.py, with no
repository on the path: execute one notebook and print a JSON summary.

    python run_in_fresh_env.py NOTEBOOK
"""
import json
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(path: str) -> None:
    import nnkit

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(Path(path).parent)}})
    error = None
    try:
        client.execute()
    except CellExecutionError as err:
        error = {"ename": err.ename, "evalue": err.evalue}
    ran = [c.get("id") for c in nb.cells if c.cell_type == "code" and c.get("execution_count") is not None]
    failed = next((c.get("id") for c in nb.cells if c.cell_type == "code"
                   and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    print(json.dumps({"nnkit": nnkit.__file__, "python": sys.executable, "error": error,
                      "ran": ran, "failed_cell": failed,
                      "code_cells": [c.get("id") for c in nb.cells if c.cell_type == "code"],
                      "show_source": "class Module" in nnkit.show_source(nnkit.module)}))


if __name__ == "__main__":
    main(sys.argv[1])
