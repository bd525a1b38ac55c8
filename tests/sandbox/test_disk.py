"""Issue 10, class 7: a sandbox's writable job folder is bounded in bytes and in files.

The command sees a tmpfs over its job folder (Limits.disk_bytes, disk_files); what it
left is copied back when it ends, whatever ended it, and nothing else stays on the host."""
from __future__ import annotations

import os
import sys
import textwrap

import pytest

from autograder.isolation import results, sandbox
from autograder.isolation.sandbox import Limits, run

CAPS = sandbox.capabilities()
pytestmark = pytest.mark.skipif(not (CAPS["mount_namespace"] and CAPS["pid_namespace"]),
                                reason="HOST LACKS MOUNT/PID NAMESPACES:\n" + sandbox.describe())

SMALL = dict(disk_bytes=8 * 2**20, disk_files=500, wall_seconds=30, cpu_seconds=20)

# case -> (child code, limits, disk_full?, check of the job folder on the host afterwards)
CASES = {
    "many files": ("""
        n = 0
        try:
            for n in range(20_000):
                open(f"f{n}", "w").close()
        except OSError as e:
            print("stopped at", n, e.errno)
        """, SMALL, True, lambda job, out: 400 < _count(job) <= 520 and "stopped at" in out),
    "many bytes": ("""
        try:
            with open("big", "wb") as f:
                for _ in range(100):
                    f.write(bytes(2**20))
        except OSError as e:
            print("stopped", e.errno)
        """, SMALL, True, lambda job, out: _bytes(job) <= 9 * 2**20 and "stopped 28" in out),
    "honest results and the trusted input": ("""
        os.makedirs("out", exist_ok=True)
        with open("out/result.json", "w") as f:
            f.write(open("given.txt").read().upper())
        """, SMALL, False, lambda job, out: (job / "out" / "result.json").read_text() == "TRUSTED INPUT"),
    "results written before a timeout are kept": ("""
        with open("partial.txt", "w") as f:
            f.write("first part done")
        while True:
            pass
        """, dict(SMALL, wall_seconds=4), False, lambda job, out: (job / "partial.txt").read_text() == "first part done"),
    "links, FIFOs and hard links come back as such, to be flagged": ("""
        os.symlink("/etc/shadow", "link")
        os.symlink("/etc", "dirlink")
        os.mkfifo("fifo")
        open("a", "w").close()
        os.link("a", "b")
        """, SMALL, False, lambda job, out: sorted((f.reason, f.path) for f in results.audit(job)) == [
            ("hard link", "a"), ("hard link", "b"), ("link", "dirlink"), ("link", "link"),
            ("special file", "fifo")]),
}


def _count(job) -> int:
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(job))


def _bytes(job) -> int:
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(job) for f in files)


def _mounted(path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


@pytest.mark.parametrize("case", CASES)
def test_job_folder_is_bounded_and_copied_back(case, tmp_path):
    code, limits, full, check = CASES[case]
    job = tmp_path / "job"
    job.mkdir()
    (job / "given.txt").write_text("trusted input")
    result = run([sys.executable, "-c", "import os\n" + textwrap.dedent(code)], workdir=job, limits=Limits(**limits))
    assert not result.degraded, result.degraded
    assert result.disk_full == full, result
    assert check(job, result.stdout), (result.stdout, result.stderr[-500:], sorted(os.listdir(job))[:20])
    assert not _mounted(job)
