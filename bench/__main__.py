"""`make bench`: every benchmark of the kit, printed as one table and saved to build/bench.json.

`python -m bench [SECTION ...]` runs only the named sections (epoch, train, grading, profile, conv).
Run it through `make bench`, which unsets OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE
in its own command so NumPy runs its native kernels, as on a student's laptop.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from bench import machine


def _sections() -> dict:
    from bench import conv, epoch, grading, grading_profile, train_loop
    return {"epoch": epoch.run, "train": train_loop.run, "grading": grading.run, "profile": grading_profile.run,
            "conv": conv.run, "course": grading.course}


# Runs only when named: 300 submissions take most of half an hour, and `make bench` stays under 10 minutes.
OPT_IN = ("course",)


def print_table(rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def main(argv: list[str]) -> int:
    sections = _sections()
    chosen = argv or [name for name in sections if name not in OPT_IN]
    unknown = [s for s in chosen if s not in sections]
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(sections)}", file=sys.stderr)
        return 2
    setting = machine.describe()
    for key, value in setting.items():
        print(f"{key}: {value}")
    forced = [v for v in machine.FORCING if v in os.environ]
    if forced:
        print(f"warning: {', '.join(forced)} set: NumPy runs a forced kernel, not its native one "
              "(`make bench` unsets them)")
    out = Path("build/bench.json")
    # A run of some sections keeps the figures of the others from earlier runs, each with its machine state.
    results: dict = {"sections": {}}
    if out.exists():
        with contextlib.suppress(ValueError):
            results = json.loads(out.read_text())
    results.setdefault("sections", {})
    results["machine"] = setting
    for name in chosen:
        print(f"\n== {name}", flush=True)
        rows = sections[name]()
        print_table(rows)
        results["sections"][name] = rows
        results.setdefault("measured", {})[name] = {"at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                                    "machine": setting}
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1))   # after every section: a long run keeps what it measured
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
