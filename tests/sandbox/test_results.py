"""The trusted reader of what a sandbox left behind (autograder/isolation/results.py).

Each case plants one hostile thing in a job folder, as student code can, and the
reader must refuse it with a named reason, without blocking, following it or
holding more memory than the bounds (issue 10, classes 4, 5 and 9)."""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder.isolation import results
from autograder.isolation.results import Rejected

HONEST = {"W": np.arange(12.0).reshape(3, 4), "b": np.zeros(4, dtype=np.float32), "n": np.int64(7)}


def _honest(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **HONEST)
    return path


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _lying_header(shape: tuple, data: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _npz(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _bomb(path: Path, numbers: int) -> Path:
    """An .npz whose one array inflates to numbers float64 zeros, from a few kB on disk (streamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (numbers,)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            chunk = bytes(1 << 22)
            for _ in range(numbers * 8 // len(chunk)):
                member.write(chunk)
    return path


def _plant(kind: str, job: Path) -> Path:
    """Make job/out/r.npz the hostile thing named kind; return the path the grader reads."""
    out, target = job / "out", job / "out" / "r.npz"
    out.mkdir(parents=True, exist_ok=True)
    outside = _honest(job.parent / "elsewhere" / "secret.npz")
    if kind == "link":
        os.symlink(outside, target)
    elif kind == "link on the path":
        os.rmdir(out)
        os.symlink(outside.parent, out)
        return job / "out" / "secret.npz"
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 5))   # /dev/zero
    elif kind == "hard link":
        _honest(out / "mine.npz")
        os.link(out / "mine.npz", target)
    elif kind == "foreign owner":
        _honest(target)
        os.chown(target, 4242, 4242)
    elif kind == "oversize file":
        with open(target, "wb") as f:
            f.truncate(results.MAX_BYTES + 1)
    elif kind == "pickled object array":
        _npz(target, {"x.npy": _npy_bytes(np.array([{"a": 1}], dtype=object))})
    elif kind == "too many members":
        one = _npy_bytes(np.zeros(1))
        _npz(target, {f"a{i}.npy": one for i in range(results.MAX_MEMBERS + 1)})
    elif kind == "header promises more than the data":
        _npz(target, {"x.npy": _lying_header((1000,), bytes(80))})
    elif kind == "not an archive":
        target.write_bytes(b"PK\x03\x04 this is not a zip")
    elif kind == "member that is not an array":
        _npz(target, {"notes.txt": b"hello"})
    elif kind == "zip bomb":
        _bomb(target, results.MAX_ELEMENTS + (1 << 20))
    elif kind == "outside the job folder":
        return outside
    return target


CASES = {
    "link": "link", "link on the path": "link", "fifo": "special file", "device": "special file",
    "hard link": "hard link", "foreign owner": "owner", "oversize file": "oversize",
    "pickled object array": "bad array", "too many members": "oversize",
    "header promises more than the data": "bad array", "not an archive": "bad archive",
    "member that is not an array": "bad archive", "zip bomb": "oversize",
    "outside the job folder": "outside job folder",
}


@pytest.mark.parametrize("kind", CASES)
def test_hostile_results_are_rejected_by_name(tmp_path, kind):
    job = tmp_path / "job"
    path = _plant(kind, job)
    with pytest.raises(Rejected) as refused:
        results.load_npz(path, root=job, uid=None)
    assert refused.value.reason == CASES[kind]
    assert isinstance(refused.value, ValueError)   # old `except Exception` callers: "no result"


def test_honest_archive_round_trips(tmp_path):
    job = tmp_path / "job"
    got = results.load_npz(_honest(job / "out" / "r.npz"), root=job)
    assert sorted(got) == sorted(HONEST)
    for name, arr in HONEST.items():
        assert got[name].dtype == np.asarray(arr).dtype and np.array_equal(got[name], arr)
    np.save(job / "out" / "a.npy", np.eye(3, order="F").T)
    assert np.array_equal(results.load_npy(job / "out" / "a.npy", root=job), np.eye(3))
    (job / "out" / "s.json").write_text(json.dumps({"status": "ok"}))
    assert results.read_json(job / "out" / "s.json", root=job) == {"status": "ok"}


def test_missing_file_is_absent_not_an_attack(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileNotFoundError):
        results.read_bytes(tmp_path / "out" / "r.json", 100, root=tmp_path)


def test_audit_names_what_the_honest_harness_never_leaves(tmp_path):
    job = tmp_path / "job"
    _honest(job / "out" / "ok.npz")
    (job / "out" / "ok.json").write_text("{}")
    expected = []
    for kind in ("link", "fifo", "hard link", "zip bomb", "pickled object array"):
        sub = tmp_path / kind.replace(" ", "-")
        path = _plant(kind, sub)
        rel = path.relative_to(sub).as_posix()
        dest = job / kind.replace(" ", "-") / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, dest)
        if kind == "hard link":
            os.rename(sub / "out" / "mine.npz", dest.parent / "mine.npz")
            expected.append(("hard link", dest.parent.relative_to(job).as_posix() + "/mine.npz"))
        expected.append((CASES[kind], dest.relative_to(job).as_posix()))
    found = [(f.reason, f.path) for f in results.audit(job)]
    assert sorted(found) == sorted(expected)


MEASURE = textwrap.dedent("""
    import sys

    def hwm():  # this process's own high-water mark (ru_maxrss would include the parent's, kept across exec)
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    import numpy as np
    from autograder.isolation import results
    before = hwm()
    try:
        results.load_npz(sys.argv[1], root=sys.argv[2])
        outcome = "accepted"
    except results.Rejected as exc:
        outcome = exc.reason
    peak = hwm()
    print(outcome, (peak - before) * 1024, peak * 1024, sep="|")
""")
# The trusted reader may hold the file (MAX_BYTES) plus the arrays' numbers (MAX_ELEMENTS float64s)
# at most; a bomb is refused before it inflates, so it must stay far below that.
READER_BUDGET = 64 << 20
CONTROL_NUMBERS = 6 << 20     # an honest 48 MiB array: proves the measurement sees what is held


def _measure(path: Path, job: Path) -> tuple[str, int, int]:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(job)], capture_output=True, text=True,
                          timeout=120, cwd=Path(results.__file__).parents[2])
    outcome, grown, peak = done.stdout.strip().split("|")
    return outcome, int(grown), int(peak)


@pytest.mark.parametrize("kind", ["zip bomb", "too many members", "header promises more than the data"])
def test_reader_memory_stays_in_budget_on_a_bomb(tmp_path, kind):
    job = tmp_path / "job"
    path = _plant(kind, job)
    assert path.stat().st_size < 1 << 20
    outcome, grown, peak = _measure(path, job)
    print(f"{kind}: trusted reader grew by {grown / 2**20:.1f} MiB (peak RSS {peak / 2**20:.0f} MiB)")
    assert outcome == CASES[kind]
    assert grown < READER_BUDGET // 4

    control = _bomb(tmp_path / "control" / "out" / "r.npz", CONTROL_NUMBERS)
    outcome, grown, _ = _measure(control, tmp_path / "control")
    assert outcome == "accepted" and CONTROL_NUMBERS * 8 <= grown < READER_BUDGET * 2
