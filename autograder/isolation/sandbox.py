"""Run untrusted (student) code in a sandbox and say exactly what happened.

STATUS: usable since 00:20 UTC; API below is stable.  What it stops and what it does
not: autograder/THREAT_MODEL.md.  Tests: tests/sandbox/test_sandbox.py.

    from autograder.isolation.sandbox import run, Limits, capabilities, describe
    result = run([sys.executable, "driver.py"], workdir=job_dir, limits=Limits(wall_seconds=120),
                 readonly=[REPO / "autograder" / "sandboxed"], env={"MNIST_DIR": ...})
    result.returncode, result.timed_out, result.memory_exceeded, result.stdout, result.degraded

What the child gets (where the host allows; otherwise ``result.degraded`` says what is
missing, and a warning is printed to stderr once per process):

* new mount, pid, net, ipc and uts namespaces (``unshare --kill-child``), its own /proc,
  and only ``lo`` (brought up, for Jupyter's ZMQ) as network;
* a fresh tmpfs root holding: the OS folders read-only (/usr, /bin, /lib*, /etc), a few
  devices (null, zero, full, random, urandom, tty), private size-limited /tmp and /dev/shm,
  the Python installation read-only (``sys.base_prefix``), the sandbox's own environment
  ``<repo>/.venv-sandbox`` (not the grader's ``.venv``: an argv[0] naming the grader's
  Python runs the sandbox environment's) and ``<repo>/nnkit`` read-only, ``readonly``
  paths read-only, ``writable`` paths and ``workdir`` read-write, all at their host
  (resolved) paths, so argv may name host paths.  ``workdir`` is a tmpfs bounded by
  ``disk_bytes``/``disk_files`` over the real folder, copied back when the command ends;
  Nothing else of the host exists: not the repo's autograder/, source/, solutions/,
  tests/, course/ (gradebook, other jobs), not /root, /home, /work/...;
* rlimits (address space, CPU, file size, processes, open files, no core files), a uid
  with no supplementary groups and no_new_privs, a seccomp filter denying the riskiest
  system calls (new namespaces, mount, bpf, io_uring, ...: ``sandboxed/sandbox_seccomp.py``),
  a cleared environment (``_child_env`` plus ``env``);
* the uid is 65534 ("nobody") unless another sandbox holds it at the same time: each
  concurrent run takes its own uid from ``UID_POOL`` (RLIMIT_NPROC is counted per uid
  host-wide, so a shared uid would let one student's fork bomb starve another's run);
* a CPU cgroup of its own: at most ``cpus`` cores, equal weight (``isolation/cpu.py``);
* limits enforced by the parent: wall clock, and the total memory of all the run's
  processes (polled; RLIMIT_AS only bounds each process).  Either kills the whole pid
  namespace, daemons included; so does the command's own end.  If the grader itself
  dies, a lifeline pipe makes the sandbox end too.

``workdir`` is chowned (recursively, without following symlinks) to the sandbox uid, and
``workdir/home`` is its HOME.  Put trusted inputs in ``readonly`` paths, not in workdir.
After a run, everything in workdir is attacker-controlled: read results with
``autograder.isolation.results`` (no symlinks, no FIFOs, size-capped), never follow links in it as root.

RunResult: returncode (exit code; -N if killed by signal N; None if the sandbox was
killed by us: timeout or total memory), timed_out, cpu_exceeded (SIGXCPU), memory_exceeded
(MemoryError in stderr, a SIGKILL we did not send, or the total-memory watchdog), signal,
stdout/stderr (str, at most output_bytes: head and tail with a "[... N bytes cut ...]"
note), seconds, degraded, plus cpu_seconds, max_rss_bytes, total_memory_bytes, uid,
stdout_bytes/stderr_bytes (totals before capping), disk_full (the job folder hit its bound).

Binding any of the grader's private folders (autograder/ except autograder/sandboxed/,
source/, solutions/, tests/, .git/, course/gradebook.db) or a parent of them raises
ValueError.  A sandbox that cannot be set up raises SandboxError: that is the grader's
failure, never the student's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import math
import os
import pwd
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from autograder.isolation import cpu as cpu_share

REPO_ROOT = Path(__file__).resolve().parents[2]
INIT_SCRIPT = REPO_ROOT / "autograder" / "sandboxed" / "sandbox_init.py"
# The sandbox's own Python environment (requirements-sandbox.txt, built by `make venv`):
# NumPy, nnkit and the notebook runner, no scikit-learn/SciPy/PyTorch.  It is bound instead
# of the grader's .venv, and an argv[0] naming the grader's Python runs its Python instead.
GRADER_VENV = REPO_ROOT / ".venv"
SANDBOX_VENV = REPO_ROOT / ".venv-sandbox"
SECCOMP_SCRIPT = REPO_ROOT / "autograder" / "sandboxed" / "sandbox_seccomp.py"
SANDBOX_UID = SANDBOX_GID = 65534  # "nobody": owns nothing on the host
# RLIMIT_NPROC counts every process of a real uid on the whole host, so sandboxes that
# share a uid share one process budget: a fork bomb in one would make a concurrent,
# honest one fail to start threads.  Each concurrent run therefore takes its own uid:
# the first "nobody", the others from a range no host account uses (checked).
UID_POOL = (SANDBOX_UID, *range(100_001, 100_257))
# How often the parent measures the sandbox's total memory (RLIMIT_AS is per process).
POLL_SECONDS = 0.25

# Never visible to a child, even if a caller asks (a bug there would leak hidden tests).
PRIVATE = ("autograder", "source", "solutions", "tests", ".git", "course/gradebook.db")
PUBLIC_INSIDE_PRIVATE = ("autograder/sandboxed",)

# Host folders the init binds itself (read-only); binding under them again is pointless.
SYSTEM_PREFIXES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")

# The tail of a capped stream is kept too: tracebacks (and MemoryError) come last.
TAIL_BYTES = 64 * 1024
# After the command ended, how long an escaped process may keep our pipes open.
DRAIN_SECONDS = 2.0
# After a time or memory limit, how long the init may take to stop the command and copy the
# bounded job folder back (at most disk_bytes of it) before the whole sandbox is killed.
STOP_SECONDS = 20.0


# How many of this process's runs reached their disk bound: a caller that cannot see each
# RunResult (the verdict's runs, inside an engine) compares it before and after.
DISK_FULL_RUNS = 0


class SandboxError(RuntimeError):
    """The sandbox itself failed (setup, missing init script): not the student's fault."""


@dataclasses.dataclass
class Limits:
    wall_seconds: float = 60
    cpu_seconds: int = 60
    memory_bytes: int = 3 * 2**30
    file_bytes: int = 64 * 2**20
    nproc: int = 64
    output_bytes: int = 1 * 2**20
    cpus: float = 1.0  # cores all the run's processes together may use (its CPU cgroup's quota)
    disk_bytes: int = 512 * 2**20  # what the job folder may grow by (a tmpfs over it) ...
    disk_files: int = 20_000       # ... and how many files and folders it may gain


@dataclasses.dataclass
class RunResult:
    returncode: int | None  # exit code, -N if killed by signal N, None if we killed it (timeout)
    timed_out: bool
    cpu_exceeded: bool
    memory_exceeded: bool
    signal: int | None
    stdout: str
    stderr: str
    seconds: float
    degraded: list[str]
    cpu_seconds: float = 0.0
    max_rss_bytes: int = 0  # peak of the main process (its own rusage)
    total_memory_bytes: int = 0  # peak of all its processes together (PSS), polled by the parent
    uid: int | None = None
    stdout_bytes: int = 0  # total produced, before capping
    stderr_bytes: int = 0
    disk_full: bool = False  # the job folder reached its bound (disk_bytes or disk_files)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not (self.timed_out or self.cpu_exceeded or self.memory_exceeded)


# ---------------------------------------------------------------------------- capabilities

_DETAILS: dict[str, str] = {}
_warned = False
_warn_lock = threading.Lock()


def _probe(argv: list[str], **kwargs) -> tuple[bool, str]:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, **kwargs)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    message = done.stderr.decode(errors="replace").strip().splitlines()
    return done.returncode == 0, (message[-1] if message else f"exit {done.returncode}")


@functools.cache
def capabilities() -> dict:
    """What this host lets the sandbox do, probed once per process: name -> bool."""
    caps: dict[str, bool] = {}
    caps["root"] = os.geteuid() == 0
    _DETAILS["root"] = f"euid {os.geteuid()}"
    unshare = shutil.which("unshare")
    caps["unshare"] = unshare is not None
    _DETAILS["unshare"] = unshare or "util-linux `unshare` not on PATH"
    for ns, flags in (("mount", ["--mount"]), ("pid", ["--pid", "--fork", "--kill-child"]),
                      ("net", ["--net"]), ("ipc", ["--ipc"]), ("uts", ["--uts"])):
        if unshare and caps["root"]:
            ok, detail = _probe([unshare, *flags, "true"])
        else:
            ok, detail = False, "needs root and unshare"
        caps[f"{ns}_namespace"] = ok
        _DETAILS[f"{ns}_namespace"] = "unshare " + " ".join(flags) + (" works" if ok else f" failed: {detail}")
    if caps["root"]:
        ok, detail = _probe(["true"], user=SANDBOX_UID, group=SANDBOX_GID, extra_groups=[])
    else:
        ok, detail = False, "not root"
    caps["setuid"] = ok
    _DETAILS["setuid"] = f"uid {SANDBOX_UID}" + (" works" if ok else f" impossible: {detail}")
    # Lowering is all the sandbox needs (and all that is allowed without CAP_SYS_RESOURCE).
    ok, detail = _probe([sys.executable, "-I", "-S", "-c",
                         "import resource as r\n"
                         "for n in ('RLIMIT_AS','RLIMIT_CPU','RLIMIT_FSIZE','RLIMIT_NPROC','RLIMIT_CORE'):\n"
                         "    h = r.getrlimit(getattr(r, n))[1]\n"
                         "    v = 2**20 if h == r.RLIM_INFINITY else min(h, 2**20)\n"
                         "    r.setrlimit(getattr(r, n), (v, v))"])
    caps["rlimits"] = ok
    _DETAILS["rlimits"] = "AS, CPU, FSIZE, NPROC, CORE settable" if ok else f"setrlimit failed: {detail}"
    ok, detail = _probe([sys.executable, "-I", "-S", str(SECCOMP_SCRIPT)])
    caps["seccomp"] = ok
    _DETAILS["seccomp"] = "syscall filter denies namespaces, mount, bpf, io_uring, ..." if ok else \
        f"filter unavailable: {detail}"
    caps["cpu_cgroup"], _DETAILS["cpu_cgroup"] = cpu_share.probe()
    return caps


def describe() -> str:
    """One line per capability, for logs and the grading report."""
    caps = capabilities()
    return "\n".join(f"{'✓' if ok else '✗'} {name}: {_DETAILS[name]}" for name, ok in caps.items())


def _plan() -> tuple[dict, list[str]]:
    """Which protections this host allows, and the loud reasons for each one it lacks."""
    caps = capabilities()
    usable = caps["root"] and caps["unshare"]
    plan = {
        "mount": usable and caps["mount_namespace"],
        "pid": usable and caps["pid_namespace"],
        "net": usable and caps["net_namespace"],
        "ipc": usable and caps["ipc_namespace"],
        "uts": usable and caps["uts_namespace"],
        "setuid": caps["setuid"],
        "rlimits": caps["rlimits"],
        "seccomp": caps["seccomp"],
        "cpu_cgroup": caps["cpu_cgroup"],
    }
    reasons = []
    if not plan["mount"]:
        reasons.append("no mount namespace: the child sees the host's files (hidden tests, gradebook) "
                       "as far as file permissions allow")
    if not plan["pid"]:
        reasons.append("no pid namespace: only the process group is killed; a setsid daemon can outlive the run")
    if not plan["net"]:
        reasons.append("no net namespace: the child has the host's network")
    if not plan["ipc"]:
        reasons.append("no ipc namespace: the child can reach the host's System V shared memory and semaphores")
    if not plan["uts"]:
        reasons.append("no uts namespace: the child sees the host's name")
    if not plan["setuid"]:
        reasons.append(f"cannot drop to uid {SANDBOX_UID}: the child runs as {pwd.getpwuid(os.geteuid()).pw_name}")
    if not plan["seccomp"]:
        reasons.append("no seccomp filter: the child can create user namespaces, use io_uring, bpf, ... "
                       "(more kernel attack surface)")
    if not plan["cpu_cgroup"]:
        reasons.append("no CPU cgroup: each run is pinned to one core instead of getting a CPU quota; "
                       "runs sharing a core (and other host processes) slow each other down")
    if not plan["rlimits"]:
        reasons.append("rlimits unavailable: no memory, CPU, file-size or process limits")
    if plan["setuid"] and not plan["mount"]:
        reasons.append(f"uid {SANDBOX_UID} without a mount namespace may be unable to reach Python "
                       f"under {sys.base_prefix}")
    return plan, reasons


def _warn_degraded(reasons: list[str]) -> None:
    global _warned
    with _warn_lock:
        if _warned or not reasons:
            return
        _warned = True
    print("WARNING: autograder sandbox is DEGRADED on this host:\n  - " + "\n  - ".join(reasons),
          file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- helpers

def _is_within(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def _check_bindable(path: Path) -> None:
    """Refuse binds that would show the grader's private files to the child."""
    for private in PRIVATE:
        private_path = REPO_ROOT / private
        if _is_within(private_path, path):  # path is it or one of its parents
            raise ValueError(f"refusing to expose {path} to a sandbox: it holds {private_path}")
        if _is_within(path, private_path) and not any(
                _is_within(path, REPO_ROOT / public) for public in PUBLIC_INSIDE_PRIVATE):
            raise ValueError(f"refusing to expose {path} to a sandbox: it is inside {private_path}")


def _resolve(path, what: str) -> Path:
    resolved = Path(path).resolve()
    if not resolved.exists():
        raise FileNotFoundError(f"sandbox {what} path does not exist: {path}")
    return resolved


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    """Hand workdir to the sandbox user; lchown so a planted symlink cannot redirect it."""
    os.lchown(top, uid, gid)
    for folder, dirs, files in os.walk(top):  # os.walk does not follow symlinks
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), uid, gid)


def _venv() -> tuple[Path, str | None]:
    """The environment the child gets, and why it is the grader's own (degraded) if so."""
    if (SANDBOX_VENV / ".installed").is_file():
        return SANDBOX_VENV, None
    return GRADER_VENV, (f"no sandbox environment ({SANDBOX_VENV.name}: run `make venv`): the child can import "
                         "everything the grader's .venv holds (scikit-learn, SciPy, ...)")


def _sandbox_argv(argv: list[str], venv: Path) -> list[str]:
    """The grader's Python (sys.executable, .venv/bin/python*) becomes the sandbox environment's."""
    first = Path(argv[0])
    if venv != GRADER_VENV and (argv[0] == sys.executable or first.parent == GRADER_VENV / "bin"):
        name = first.name if (venv / "bin" / first.name).exists() else "python"
        return [str(venv / "bin" / name), *argv[1:]]
    return argv


def _child_env(workdir: Path, extra: dict | None, venv: Path = GRADER_VENV) -> dict[str, str]:
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir / "home"),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NNKIT_FAST": "1",
        "NNKIT_OFFLINE": "1",
        # NumPy asks for huge pages for large arrays; where the host compacts memory to find them on
        # the first touch (THP defrag "madvise"), fresh arrays cost 2-4x more: MNIST's load 0.5 s, not 0.3.
        "NUMPY_MADVISE_HUGEPAGE": "0",
    }
    env.update({str(k): str(v) for k, v in (extra or {}).items()})
    return env


def _python_roots() -> list[Path]:
    """The Python installation the venv's interpreter lives in (sys.base_prefix), and
    the running prefix if it is another one; both are needed to start `python` inside."""
    roots = []
    for prefix in (sys.base_prefix, sys.prefix):
        path = Path(prefix).resolve()
        if str(path).startswith(SYSTEM_PREFIXES) or path in roots:
            continue
        roots.append(path)
    return roots


def _mountpoint() -> str:
    """An empty root-only folder the init mounts its tmpfs root on (in its own namespace,
    so concurrent sandboxes can share it)."""
    return str(_private_dir("nnkit-sandbox-root"))


class _CappedReader(threading.Thread):
    """Drain a pipe completely (so the child never blocks) keeping head and tail only."""

    def __init__(self, fd: int, cap: int):
        super().__init__(daemon=True)
        self.fd, self.cap = fd, cap
        self.tail_cap = min(TAIL_BYTES, cap // 4)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def run(self) -> None:
        head_cap = self.cap - self.tail_cap
        try:
            while chunk := os.read(self.fd, 1 << 16):
                self.total += len(chunk)
                room = head_cap - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail += chunk
                    if len(self.tail) > 2 * self.tail_cap:  # amortised trimming
                        del self.tail[: len(self.tail) - self.tail_cap]
        finally:
            os.close(self.fd)

    def text(self) -> str:
        tail = bytes(self.tail[-self.tail_cap:]) if self.tail_cap else b""
        cut = self.total - len(self.head) - len(tail)
        if cut <= 0:
            return (bytes(self.head) + bytes(self.tail)).decode(errors="replace")
        note = f"\n[... {cut} bytes cut: output is limited to {self.cap} bytes ...]\n".encode()
        return (bytes(self.head) + note + tail).decode(errors="replace")


def _private_dir(name: str) -> Path:
    path = Path(tempfile.gettempdir()) / name
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise SandboxError(f"{path} is not a private directory of ours: refusing to use it")
    return path


def _uid_taken(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def _uid_slot():
    """Hold one uid of UID_POOL for this run (an flock, so it works across processes)."""
    locks = _private_dir("nnkit-sandbox-uids")
    for uid in UID_POOL:
        if uid != SANDBOX_UID and _uid_taken(uid):
            continue  # a real account: never run student code as it
        fd = os.open(locks / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid, (SANDBOX_GID if uid == SANDBOX_UID else uid)
        finally:
            os.close(fd)
        return
    raise SandboxError(f"all {len(UID_POOL)} sandbox uids are in use")


def _pid_namespace_of(pid: int) -> str | None:
    """The pid namespace `unshare` made for its child (None until it has made it)."""
    try:
        mine = os.readlink("/proc/self/ns/pid")
        theirs = os.readlink(f"/proc/{pid}/ns/pid_for_children")
    except OSError:
        return None
    return theirs if theirs != mine else None


def _namespace_memory(namespace: str) -> int:
    """Memory of every process in a pid namespace, in bytes: proportional set size, so
    pages shared after fork() are not counted once per process."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/pid") != namespace:
                continue
            with open(f"/proc/{entry.name}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            continue  # it just exited, or is a kernel thread
    return total


# ---------------------------------------------------------------------------- run

def run(argv, *, workdir, limits: Limits | None = None, env: dict | None = None,
        readonly=(), writable=(), stdin_bytes: bytes | None = None) -> RunResult:
    """Run argv (argv[0] found on the sandbox PATH) in the sandbox; see the module doc."""
    limits = limits or Limits()
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("empty argv")
    if not INIT_SCRIPT.is_file():
        raise SandboxError(f"sandbox init script missing: {INIT_SCRIPT}")
    plan, degraded = _plan()
    venv, no_venv = _venv()
    if no_venv:
        degraded = [*degraded, no_venv]
    _warn_degraded(degraded)
    argv = _sandbox_argv(argv, venv)

    workdir = _resolve(workdir, "workdir")
    if not workdir.is_dir():
        raise NotADirectoryError(f"sandbox workdir is not a folder: {workdir}")
    # sys.prefix is the grader's .venv when it runs in one: never shown beside the sandbox's own.
    binds: list[tuple[str, bool]] = [(str(p), True) for p in _python_roots() if p != GRADER_VENV.resolve()]
    binds += [(str(venv), True), (str(REPO_ROOT / "nnkit"), True)]
    for paths, ro, what in ((readonly, True, "readonly"), (writable, False, "writable"),
                            ([workdir], False, "workdir")):
        for path in paths:
            path = _resolve(path, what)
            _check_bindable(path)
            binds.append((str(path), ro))
    (workdir / "home").mkdir(exist_ok=True)

    config = {
        "mountpoint": _mountpoint() if plan["mount"] else None,
        "loopback": plan["net"],
        "hostname": "sandbox" if plan["uts"] else None,
        "seccomp": plan["seccomp"],
        "binds": binds,
        # /tmp and /dev/shm are RAM: bound them like files, or a student fills the RAM.
        "tmp_bytes": max(limits.file_bytes, 16 * 2**20),
        # The job folder is a tmpfs bounded in bytes and files, copied back when the command
        # ended; that needs the init to outlive the command's processes: a pid namespace.
        "disk": {"bytes": int(limits.disk_bytes), "files": int(limits.disk_files)}
                if plan["mount"] and plan["pid"] else None,
        "rlimits": _rlimits(limits) if plan["rlimits"] else {},
        "uid": None, "gid": None, "passwd": None,
        "workdir": str(workdir),
        "argv": argv,
        "env": _child_env(workdir, env, venv),
    }
    if not plan["setuid"]:
        return _launch(config, plan, limits, list(degraded), stdin_bytes)
    with _uid_slot() as (uid, gid):
        _chown_tree(workdir, uid, gid)
        config.update(uid=uid, gid=gid)
        if plan["mount"] and not _uid_taken(uid):
            config["passwd"] = ("sandbox", uid, gid, config["env"]["HOME"])
        return _launch(config, plan, limits, list(degraded), stdin_bytes)


def _rlimits(limits: Limits) -> dict:
    memory, cpu = int(limits.memory_bytes), math.ceil(limits.cpu_seconds)
    files, nproc = int(limits.file_bytes), int(limits.nproc)
    rlimits = {
        "RLIMIT_AS": (memory, memory),
        # the soft limit sends SIGXCPU (reported as cpu_exceeded), the hard one SIGKILL
        "RLIMIT_CPU": (cpu, cpu + 1),
        "RLIMIT_FSIZE": (files, files),
        "RLIMIT_NPROC": (nproc, nproc),
        "RLIMIT_CORE": (0, 0),
        "RLIMIT_NOFILE": (1024, 1024),
    }
    # Never ask for more than the host's hard limit: raising it needs CAP_SYS_RESOURCE,
    # and a lower host limit is only stricter.
    for name, (soft, hard) in rlimits.items():
        host_hard = resource.getrlimit(getattr(resource, name))[1]
        if host_hard != resource.RLIM_INFINITY:
            rlimits[name] = (min(soft, host_hard), min(hard, host_hard))
    return rlimits


def _launch(config: dict, plan: dict, limits: Limits, degraded: list[str],
            stdin_bytes: bytes | None) -> RunResult:
    wrapper = []
    if plan["mount"] or plan["pid"] or plan["net"] or plan["ipc"] or plan["uts"]:
        wrapper = [shutil.which("unshare")]
        for name in ("mount", "net", "ipc", "uts"):
            wrapper += [f"--{name}"] if plan[name] else []
        # --kill-child: if unshare dies (we kill it on timeout) the init, pid 1 of the
        # namespace, gets SIGKILL, and with it every process in the namespace.
        wrapper += ["--pid", "--fork", "--kill-child"] if plan["pid"] else []
        wrapper += ["--"]

    config_r, config_w = os.pipe()
    status_r, status_w = os.pipe()
    life_r, life_w = os.pipe()  # we never write: its closing is the message
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started = time.monotonic()
    group = cpu_share.create(cpu_share.parent(), limits.cpus) if plan["cpu_cgroup"] else None
    slot = UID_POOL.index(config["uid"]) if config["uid"] in UID_POOL else 0
    try:
        proc = subprocess.Popen(
            wrapper + [sys.executable, "-I", "-S", str(INIT_SCRIPT), str(config_r), str(status_w), str(life_r)],
            stdin=subprocess.PIPE if stdin_bytes is not None else subprocess.DEVNULL,
            stdout=out_w, stderr=err_w, pass_fds=(config_r, status_w, life_r),
            start_new_session=True, cwd="/", env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
            # every process of the run is in its CPU cgroup (or on its core) from the start
            preexec_fn=cpu_share.joiner(group, None if group else cpu_share.pinned_core(slot)),
        )
    except BaseException:
        for fd in (config_w, status_r, life_w, out_r, err_r):
            os.close(fd)
        cpu_share.remove(group)
        raise
    finally:
        for fd in (config_r, status_w, life_r, out_w, err_w):
            os.close(fd)
    readers = [_CappedReader(out_r, limits.output_bytes), _CappedReader(err_r, limits.output_bytes),
               _CappedReader(status_r, 1 << 16)]
    try:
        for reader in readers:
            reader.start()
        try:
            with os.fdopen(config_w, "wb") as f:
                f.write(json.dumps(config).encode())
        except BrokenPipeError:
            pass  # the init died before reading: reported below from its stderr
        if stdin_bytes is not None:
            threading.Thread(target=_feed, args=(proc.stdin, stdin_bytes), daemon=True).start()
        timed_out, memory_killed, total_memory = _supervise(proc, limits, started, plan["pid"])
        if (timed_out or memory_killed) and config["disk"]:
            _stop(proc, life_w)  # the init kills the command, copies the job folder back, reports
    finally:
        # The whole group (and, via --kill-child, the whole pid namespace) goes, whatever
        # happened; closing the lifeline tells an init we could not reach to end itself.
        _kill_group(proc.pid)
        proc.wait()
        os.close(life_w)
        cpu_share.remove(group)
    seconds = time.monotonic() - started

    deadline = time.monotonic() + DRAIN_SECONDS
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
        if reader.is_alive():
            degraded.append("a process escaped the run and still holds its output pipe")
            break

    out, err, status_text = (reader.text() for reader in readers)
    lines = status_text.strip().splitlines()
    status = json.loads(lines[-1]) if lines else {}
    if "error" in status:
        raise SandboxError(f"sandbox setup failed: {status['error']}\n{err[-2000:]}")
    if not status and not (timed_out or memory_killed):
        raise SandboxError(f"sandbox init died without a status (exit {proc.returncode}):\n{err[-2000:]}")

    returncode = sig = None
    cpu = float(status.get("cpu_seconds", 0.0))
    rss = int(status.get("maxrss_kb", 0)) * 1024
    if "pid_status" in status and not (timed_out or memory_killed):
        returncode = os.waitstatus_to_exitcode(status["pid_status"])
        sig = -returncode if returncode < 0 else None
    if status.get("disk_full"):
        global DISK_FULL_RUNS
        DISK_FULL_RUNS += 1
    if "copy_error" in status:
        degraded.append(f"the job folder was not copied back whole: {status['copy_error']}")
    cpu_exceeded = sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds)
    memory_exceeded = memory_killed or (not cpu_exceeded and not timed_out and (
        any(text in err[-TAIL_BYTES:] for text in ("MemoryError", "std::bad_alloc", "Cannot allocate memory"))
        or sig == signal.SIGKILL  # the kernel's OOM killer: we never SIGKILL a finished run
        or (sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT) and rss >= limits.memory_bytes // 2)
    ))
    return RunResult(
        returncode=returncode, timed_out=timed_out, cpu_exceeded=cpu_exceeded,
        memory_exceeded=memory_exceeded, signal=sig, stdout=out, stderr=err,
        seconds=seconds, degraded=degraded, cpu_seconds=cpu, max_rss_bytes=rss,
        total_memory_bytes=max(total_memory, rss), uid=config["uid"],
        stdout_bytes=readers[0].total, stderr_bytes=readers[1].total, disk_full=bool(status.get("disk_full")),
    )


def _supervise(proc, limits: Limits, started: float, pid_namespace: bool) -> tuple[bool, bool, int]:
    """Wait for the run; stop it at the wall-clock limit, or when all its processes
    together hold more than memory_bytes (RLIMIT_AS bounds each process, not their sum).
    Returns (timed_out, memory_killed, peak total memory seen)."""
    namespace, peak = None, 0
    with _exit_watch(proc) as ended:
        while True:
            left = limits.wall_seconds - (time.monotonic() - started)
            if left <= 0:
                return True, False, peak
            if ended(min(POLL_SECONDS, left)):
                return False, False, peak
            if pid_namespace:
                namespace = namespace or _pid_namespace_of(proc.pid)
                if namespace:
                    peak = max(peak, _namespace_memory(namespace))
                    if peak > limits.memory_bytes:
                        return False, True, peak


@contextlib.contextmanager
def _exit_watch(proc):
    """``ended(timeout)``: whether the process ended within ``timeout`` seconds.  A pidfd wakes the
    caller the moment it does; Popen.wait(timeout) polls in sleeps of up to 50 ms, which cost every
    sandboxed run 25 ms on average (three runs per graded submission)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):       # no pidfd (Linux < 5.3): Popen's polling
        fd = None

    def ended(timeout: float) -> bool:
        if fd is not None:
            select.select([fd], [], [], timeout)
        try:
            proc.wait(timeout=0 if fd is not None else timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        yield ended
    finally:
        if fd is not None:
            os.close(fd)


def _stop(proc, life_w: int) -> None:
    """Ask the init to end the command (a byte on the lifeline) and wait while it copies back."""
    try:
        os.write(life_w, b"s")
        proc.wait(timeout=STOP_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        pass  # the caller kills the whole sandbox anyway


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError):
        pass  # the child did not read its input: its business


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


if __name__ == "__main__":
    print(describe())
