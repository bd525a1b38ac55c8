"""Zip each assignment for students: ``build/release/<id>.zip``.

    python -m autograder.pipeline.release [assignment ...]     # default: every folder in source/

Each zip holds one folder ``<id>/`` with everything a student needs and
nothing else: the student notebook(s) (made from ``source/`` by the same
nbgrader converter as ``make generate``, into a scratch folder, so no tracked
file is rewritten), the ``nnkit-course`` wheel, ``requirements-student.txt``
and ``START.md``.  The zips are byte-identical from run to run apart from
the wheel (setuptools stamps it).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from autograder.engine.carry import carried
from autograder.pipeline import generate

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "release"

#: What a student's Python needs beside the wheel: nnkit's dependencies and
#: Jupyter itself, at the versions the course is tested with.
STUDENT_PINS = ("numpy", "matplotlib", "ipywidgets", "ipykernel", "tqdm", "pyyaml", "scikit-learn",
                "jupyterlab", "notebook")

# A fixed timestamp keeps the zip's own bytes stable across runs.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def distribution() -> tuple[str, str]:
    """(name, version) of nnkit's distribution, read from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["name"], project["version"]


def wheel_name() -> str:
    name, version = distribution()
    return f"{re.sub(r'[-_.]+', '_', name)}-{version}-py3-none-any.whl"


def build_wheel(out_dir: Path) -> Path:
    """Build nnkit's wheel from a clean copy of the package (no caches, no
    stray build folder), so it holds nnkit/ and nothing of the repository."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nnkit-wheel-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        shutil.copy2(ROOT / "pyproject.toml", tree)
        shutil.copytree(ROOT / "nnkit", tree / "nnkit",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
             "-w", str(Path(tmp) / "dist"), str(tree)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the nnkit wheel failed:\n{done.stdout}{done.stderr}")
        built = Path(tmp) / "dist" / wheel_name()
        if not built.exists():
            raise RuntimeError(f"pip built {sorted(p.name for p in (Path(tmp) / 'dist').iterdir())}, "
                               f"not {wheel_name()}")
        target = out_dir / built.name
        shutil.copy2(built, target)
    return target


def student_requirements() -> str:
    """requirements-student.txt: the wheel plus the course's pins of what it needs."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.strip().partition("==")
        if version and name.lower() in STUDENT_PINS:
            pins[name.lower()] = f"{name}=={version}"
    missing = [p for p in STUDENT_PINS if p not in pins]
    if missing:
        raise RuntimeError(f"requirements.txt pins no version of {missing}")
    return ("# Install with:  pip install -r requirements-student.txt  (from this folder)\n"
            "# The course library, from the file next to this one (the package named\n"
            "# `nnkit` on PyPI is an unrelated one).\n"
            f"./{wheel_name()}\n"
            "# The versions the course is tested with.\n"
            + "".join(pins[p] + "\n" for p in STUDENT_PINS))


def _earlier_md(earlier: list[str]) -> str:
    """The START.md section of an assignment that carries the student's classes from earlier ones."""
    if not earlier:
        return ""
    names = " and ".join(f"`{a}`" for a in earlier)
    places = ", ".join(f"`../{a}/{a}.ipynb`" for a in earlier)
    return f"""## Your earlier notebooks

This assignment reuses the classes you wrote in {names}: its setup cell loads them
from your own notebooks, looking for {places} (unzip this folder next to your
earlier assignment folders, as they came) or the same files in this folder (on a JupyterHub
or Colab, upload them beside this notebook). If one is missing or unfinished, the setup
cell says which notebook and which class to fix.
"""


def start_md(assignment: str, notebooks: list[str], earlier: list[str] = ()) -> str:
    wheel = wheel_name()
    nb = notebooks[0]
    return f"""# Getting started: {assignment}

This folder holds the assignment notebook `{nb}`, the course library
`nnkit` as the file `{wheel}`, and `requirements-student.txt`.
Do not install the package named `nnkit` from PyPI: it is a different, unrelated package.
Install the course library from the `.whl` file in this folder, as below.

## On your laptop (JupyterLab or Jupyter Notebook 7)

You need Python 3.11 or newer. Open a terminal in this folder, then:

```
python3 -m venv .venv
source .venv/bin/activate            # Windows: .venv\\Scripts\\activate
pip install -r requirements-student.txt
jupyter lab {nb}                     # or: jupyter notebook {nb}
```

## On a JupyterHub

Upload this whole folder (the notebook and the `.whl` file side by side), open
`{nb}` and run this in a new cell once, then restart the kernel
(*Kernel → Restart Kernel*):

```
%pip install {wheel}
```

## On Google Colab

Open `{nb}` with *File → Upload notebook*, then upload `{wheel}` with the
*Files* panel on the left (it lands in `/content`), and run in a new cell,
then restart the session (*Runtime → Restart session*):

```
%pip install /content/{wheel}
```

{_earlier_md(list(earlier))}
## The MNIST data

The first time a notebook loads MNIST, `nnkit` downloads it (about 11 MB),
checks every file against its known SHA-256 and keeps it in `~/.cache/nnkit/mnist`
(set `NNKIT_DATA` to use another folder); later runs read the cache and need no
network. Offline, `nnkit` says which sources it tried and how to copy the four
files in by hand.

## If something goes wrong

The notebook's first cell checks that the right `nnkit` is installed and, if
not, says in one line what to run. Run every cell from the top; a cell that
stops with `NotImplementedError` is one you have not written yet.
"""


def _write_zip(path: Path, files: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name])
    tmp.replace(path)


def release(assignments: list[str] | None = None, out_dir: Path = OUT,
            source: Path = generate.SOURCE) -> list[Path]:
    """Write ``out_dir/<id>.zip`` for every assignment; returns their paths."""
    assignments = assignments or generate.assignments_in(source)
    written = []
    with tempfile.TemporaryDirectory(prefix="nnkit-release-") as tmp:
        wheel = build_wheel(Path(tmp) / "wheel")
        requirements = student_requirements()
        for assignment in assignments:
            student = generate.generate_student(assignment, Path(tmp) / "students" / assignment, source)
            files = {f"{assignment}/{p.relative_to(student).as_posix()}": p.read_bytes()
                     for p in sorted(student.rglob("*")) if p.is_file()}
            notebooks = sorted(p.name for p in student.glob("*.ipynb"))
            files[f"{assignment}/{wheel.name}"] = wheel.read_bytes()
            files[f"{assignment}/requirements-student.txt"] = requirements.encode()
            earlier = list(dict.fromkeys(a for nb in sorted((source / assignment).glob("*.ipynb")) for a in carried(nb)))
            files[f"{assignment}/START.md"] = start_md(assignment, notebooks, earlier).encode()
            target = out_dir / f"{assignment}.zip"
            _write_zip(target, files)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autograder.pipeline.release",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all in source/)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for the zips (default: {OUT})")
    args = parser.parse_args(argv)
    for path in release(args.assignments or None, args.out):
        with zipfile.ZipFile(path) as zf:
            names = ", ".join(Path(n).name for n in zf.namelist())
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): {names}")


if __name__ == "__main__":
    sys.exit(main())
