"""A fair CPU share per sandbox, that it cannot exceed (issue 10, class 6).

RLIMIT_CPU charges a submission its own CPU time, but without a share a submission that
starts many busy threads and processes takes every core, and an honest neighbour's wall
clock runs out.  Each run therefore gets a cgroup of its own with a CPU quota (``cpus``
cores: cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``) and an equal weight (``cpu.weight``
/ ``cpu.shares``), so all its processes together get at most ``cpus`` cores and no more
than their fair share when the machine is busy.  Where the host has no writable CPU
cgroup, the run is pinned to one core instead (CPU affinity, round robin over the cores
by uid slot): weaker (processes outside the grader still share that core), and said so
in ``RunResult.degraded``.

The process joins its cgroup between fork and exec (``preexec``), so every process the
sandbox ever makes is in it from the start; the empty cgroup is removed after the run.
"""
from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "nnkit-sandbox"
PERIOD_US = 100_000
_counter = itertools.count()


def _v2() -> Path | None:
    try:
        if "cpu" in (CGROUP_ROOT / "cgroup.controllers").read_text().split():
            return CGROUP_ROOT
    except OSError:
        pass
    return None


def _v1() -> Path | None:
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        if (CGROUP_ROOT / name / "cpu.cfs_quota_us").exists():
            return CGROUP_ROOT / name
    return None


def parent() -> tuple[str, Path] | None:
    """("v1"|"v2", the grader's own cgroup folder under the CPU controller), made if needed."""
    if os.geteuid() != 0:
        return None
    for version, root in (("v2", _v2()), ("v1", _v1())):
        if root is None:
            continue
        folder = root / PARENT
        try:
            folder.mkdir(exist_ok=True)
            # All runs together weigh as much as one busy process per core of the host (the
            # default would be one process in all): grading keeps its pace beside other work.
            cores = os.cpu_count() or 1
            if version == "v2":   # children of our folder may use the cpu controller
                (root / "cgroup.subtree_control").write_text("+cpu")
                (folder / "cgroup.subtree_control").write_text("+cpu")
                (folder / "cpu.weight").write_text(str(min(10_000, 100 * cores)))
            else:
                (folder / "cpu.shares").write_text(str(1024 * cores))
            return version, folder
        except OSError:
            continue
    return None


def probe() -> tuple[bool, str]:
    found = parent()
    if found is None:
        return False, "no writable CPU cgroup (v1 or v2): runs are pinned to one core instead"
    try:
        group = create(found, 1.0)
        remove(group)
    except OSError as exc:
        return False, f"cannot make a CPU cgroup under {found[1]}: {exc}"
    return True, f"each run gets its own CPU cgroup ({found[0]}, {found[1]})"


def create(found: tuple[str, Path], cpus: float) -> Path:
    """A new cgroup for one run: at most cpus cores, the same weight as every other run."""
    version, folder = found
    _sweep(folder)
    group = folder / f"run-{os.getpid()}-{next(_counter)}"
    group.mkdir()
    quota = max(1000, int(cpus * PERIOD_US))
    if version == "v2":
        (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        (group / "cpu.weight").write_text("100")
    else:
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(quota))
        (group / "cpu.shares").write_text("1024")
    return group


def joiner(group: Path | None, core: int | None):
    """A preexec_fn for Popen: join the cgroup (or pin to a core) before exec.  Only raw
    os calls: it runs in the forked child of a possibly threaded grader."""
    procs = str(group / "cgroup.procs").encode() if group else None

    def join() -> None:
        if procs is not None:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        elif core is not None:
            os.sched_setaffinity(0, {core})
    return join


def pinned_core(slot: int) -> int:
    cores = sorted(os.sched_getaffinity(0))
    return cores[slot % len(cores)]


def remove(group: Path | None, wait: float = 2.0) -> None:
    """Remove a run's cgroup once its processes are gone (the kernel reaps them shortly after
    the namespace ends); a busy one is left for the next _sweep."""
    if group is None:
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def _sweep(folder: Path) -> None:
    """Remove empty cgroups that earlier runs could not (rmdir fails on a busy one); only old
    ones, so a concurrent grader's cgroup made a moment ago is not taken before it is joined."""
    try:
        stale = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("run-")
                 and time.time() - p.stat().st_mtime > 600]
    except OSError:
        return
    for group in stale:
        try:
            group.rmdir()
        except OSError:
            pass
