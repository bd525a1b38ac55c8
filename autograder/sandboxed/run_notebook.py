"""Execute one notebook with nbclient, inside the sandbox. Trusted code, untrusted notebook.

    python run_notebook.py IN.ipynb OUT.ipynb STATUS.json --cell-timeout S --max-output-bytes N [--last-cell I]

Writes OUT and STATUS after every cell, so when the kernel dies, the sandbox's
wall clock fires or the whole process tree is killed, the cells that did run
keep their outputs. Holds no expected values: the hidden tests arrive inside
the notebook it is given, and its results are re-checked outside.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

TIMEOUT_ERROR = {
    "ename": "CellTimeoutError",
    "evalue": "",
    "traceback": ["CellTimeoutError: the cell ran past its time limit and was stopped"],
}


class CappedClient(NotebookClient):
    """Keeps at most max_output_bytes of output for the whole notebook, then drops the rest;
    runs no cell after index ``last_cell`` (None: every cell)."""

    def __init__(self, nb, max_output_bytes: int, last_cell: int | None = None, **kw):
        super().__init__(nb, **kw)
        self.max_output_bytes = max_output_bytes
        self.output_bytes = 0
        self.truncated = False
        self.last_cell = last_cell

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        if self.last_cell is not None and cell_index > self.last_cell:
            return cell
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self.output_bytes + size > self.max_output_bytes:
            if not self.truncated:
                self.truncated = True
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr", text="\n[output truncated: the notebook printed more than the limit]\n"))
            return None
        self.output_bytes += size
        return super().output(outs, msg, display_id, cell_index)


def save(nb, out_path: str, status: dict, status_path: str) -> None:
    try:
        _save(nb, out_path, status, status_path)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # The notebook filled its bounded job folder: what it ran is still graded, so its
        # own files make room for ours (the grader flags it: `disk`).
        status["disk_full"] = True
        _make_room(os.path.dirname(os.path.abspath(out_path)), {out_path, status_path})
        _save(nb, out_path, status, status_path)


def _save(nb, out_path: str, status: dict, status_path: str) -> None:
    # After every cell, so plain JSON: nbformat.write copies, validates and indents the whole notebook
    # each time (0.3-0.7 s of CPU for mlp); the grader validates what it reads anyway (it is untrusted).
    for path, write in ((out_path, lambda fh: json.dump(nb, fh)),
                        (status_path, lambda fh: json.dump(status, fh))):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            write(fh)
        os.replace(tmp, path)


def _make_room(folder: str, keep: set[str]) -> None:
    keep = {os.path.abspath(k) for k in keep} | {os.path.abspath(k) + ".tmp" for k in keep}
    for entry in os.scandir(folder):
        if entry.path in keep or entry.name == "home":
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook")
    parser.add_argument("out")
    parser.add_argument("status")
    parser.add_argument("--cell-timeout", type=int, default=60)
    parser.add_argument("--max-output-bytes", type=int, default=2_000_000)
    parser.add_argument("--last-cell", type=int, default=None, help="index of the last cell to run")
    args = parser.parse_args(argv)

    nb = nbformat.read(args.notebook, as_version=4)
    status = {"cells_done": 0, "timeouts": [], "dead_kernel": False, "truncated": False, "error": ""}

    started = {}

    def starting(cell, cell_index, **_):
        started[cell_index] = time.monotonic()

    def executed(cell, cell_index, execute_reply, **_):
        status["cells_done"] = cell_index + 1
        # A reply that says error must leave an error output, or nbgrader scores the cell as passed.
        # nbclient answers a timeout with a made-up error reply (CellTimeoutError) and no output;
        # a kernel that ignores the interrupt keeps looping and the next cells time out the same way.
        content = (execute_reply or {}).get("content", {})
        names = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        if content.get("status", "ok") != "ok" and content.get("ename", "Aborted") not in names:
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename=content.get("ename", "Aborted"), evalue=content.get("evalue", ""),
                traceback=content.get("traceback") or [f"{content.get('ename', 'Aborted')}: the cell did not finish"]))
            names.add(content.get("ename", "Aborted"))
        slow = time.monotonic() - started.get(cell_index, time.monotonic()) >= args.cell_timeout - 0.5
        if "CellTimeoutError" in names or (slow and "KeyboardInterrupt" in names):
            status["timeouts"].append(cell.get("id", str(cell_index)))
            if "CellTimeoutError" not in names:
                cell.outputs.append(nbformat.v4.new_output("error", **TIMEOUT_ERROR))
        status["truncated"] = client.truncated
        save(nb, args.out, status, args.status)

    client = CappedClient(
        nb, args.max_output_bytes, args.last_cell,
        kernel_name="python3", timeout=args.cell_timeout, allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout=TIMEOUT_ERROR, record_timing=False, startup_timeout=60,
        # Every cell's output is in by then: a graceful shutdown only waited 0.4 s for the kernel
        # to run its (the student's) atexit hooks.
        shutdown_kernel="immediate",
        extra_arguments=["--HistoryManager.hist_file=:memory:"],
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(args.notebook))}},
        on_cell_execute=starting, on_cell_executed=executed)
    save(nb, args.out, status, args.status)
    try:
        client.execute()
    except DeadKernelError as exc:
        status["dead_kernel"] = True
        status["error"] = str(exc)[:500]
    except Exception as exc:  # noqa: BLE001 - report, keep what ran
        status["error"] = f"{exc.__class__.__name__}: {str(exc)[:500]}"
    status["truncated"] = client.truncated
    save(nb, args.out, status, args.status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
