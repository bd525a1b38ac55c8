"""The sandbox contains hostile student code: each case is one attack and what must happen.

Every case runs a small Python program inside ``autograder.isolation.sandbox.run`` and checks the
RunResult (and, where the attack targets the host, the host afterwards).  Cases that need a
capability this host lacks are skipped with the reason, never passed silently.
"""

import os
import signal
import socket
import stat
import sys
import textwrap
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from autograder.isolation import sandbox
from autograder.isolation.results import read_bytes as safe_read
from autograder.isolation.sandbox import Limits, run

REPO = sandbox.REPO_ROOT
CAPS = sandbox.capabilities()

# Child-side helper: try something forbidden, print LEAK if it worked, BLOCKED if refused.
ATTEMPT = textwrap.dedent("""
    import os, sys
    def attempt(what, f):
        try:
            f()
        except OSError as e:
            print("BLOCKED", what, type(e).__name__)
        else:
            print("LEAK", what)
""")


def needs(*names):
    missing = [n for n in names if not CAPS[n]]
    if missing:
        pytest.skip("HOST LACKS SANDBOX CAPABILITY " + ", ".join(missing) + ":\n" + sandbox.describe())


@pytest.fixture
def job(tmp_path):
    """A job folder, and beside it another student's folder with a secret in it."""
    workdir = tmp_path / "job"
    workdir.mkdir()
    other = tmp_path / "other-student"
    other.mkdir()
    (other / "secret.txt").write_text("other student's answers")
    return workdir


def python(code, workdir, **kwargs):
    return run([sys.executable, "-c", ATTEMPT + textwrap.dedent(code)], workdir=workdir, **kwargs)


def blocked_only(result, expected):
    """Every attempt was refused and there were `expected` of them."""
    lines = result.stdout.split("\n")
    assert result.returncode == 0, result.stderr
    assert not [line for line in lines if line.startswith("LEAK")], result.stdout
    assert sum(line.startswith("BLOCKED") for line in lines) == expected, result.stdout


# (id, capabilities needed, child code, number of BLOCKED lines expected)
ISOLATION_CASES = [
    ("read-hidden-tests", ["mount_namespace"], f"""
        attempt("autograder", lambda: open({str(REPO / 'autograder' / 'sandbox.py')!r}).read())
        attempt("autograder-dir", lambda: os.listdir({str(REPO / 'autograder')!r}))
        attempt("source", lambda: os.listdir({str(REPO / 'source')!r}))
        attempt("solutions", lambda: os.listdir({str(REPO / 'solutions')!r}))
        attempt("tests", lambda: os.listdir({str(REPO / 'tests')!r}))
        attempt("course", lambda: os.listdir({str(REPO / 'course')!r}))
        attempt("git", lambda: os.listdir({str(REPO / '.git')!r}))
    """, 7),
    ("read-other-job", ["mount_namespace"], """
        other = os.path.join(os.path.dirname(os.getcwd()), "other-student", "secret.txt")
        attempt("other job", lambda: open(other).read())
        attempt("other job dir", lambda: os.listdir(os.path.dirname(other)))
    """, 2),
    ("read-host-secrets", ["mount_namespace"], """
        attempt("home", lambda: os.listdir("/home"))
        attempt("library", lambda: os.listdir("/work/.library"))
        attempt("var", lambda: os.listdir("/var"))
        attempt("sys", lambda: os.listdir("/sys/fs/cgroup"))
    """, 4),
    ("write-outside-workdir", ["mount_namespace", "setuid"], f"""
        attempt("nnkit", lambda: open({str(REPO / 'nnkit' / 'evil.py')!r}, "w"))
        attempt("venv", lambda: open({str(REPO / '.venv' / 'evil.pth')!r}, "w"))
        attempt("repo root", lambda: open({str(REPO / 'evil.txt')!r}, "w"))
        attempt("fs root", lambda: open("/evil.txt", "w"))
        attempt("etc", lambda: open("/etc/passwd", "a"))
        attempt("python", lambda: open(os.path.join({sys.base_prefix!r}, "evil.txt"), "w"))
    """, 6),
    # issue 10, class 2: the sandbox has its own environment, without the grader's other libraries
    ("other-libraries", ["mount_namespace"], f"""
        import importlib
        for name in ("sklearn", "scipy", "torch"):
            try:
                importlib.import_module(name)
            except ImportError:
                print("BLOCKED", name)
            else:
                print("LEAK", name)
        attempt("grader venv", lambda: os.listdir({str(REPO / '.venv')!r}))
        attempt("sandbox venv", lambda: open({str(REPO / '.venv-sandbox' / 'evil.pth')!r}, "w"))
        import numpy, nnkit, nbclient, ipykernel, matplotlib  # what the harness and nnkit need is there
    """, 5),
    ("network", ["net_namespace"], """
        import socket
        attempt("internet", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
        attempt("host loopback", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2))
        attempt("host abstract socket", lambda: socket.socket(socket.AF_UNIX).connect(b"\\0" + b"ABSTRACT"))
    """, 3),
    ("host-ipc-and-name", ["ipc_namespace", "uts_namespace"], """
        import socket
        segments = open("/proc/sysvipc/shm").read().strip().split("\\n")[1:]
        print("LEAK shm" if segments else "BLOCKED shm")
        if socket.gethostname() == HOSTNAME:
            print("LEAK hostname")
        else:
            print("BLOCKED hostname", socket.gethostname())
    """, 2),
    ("kernel-surface", ["seccomp"], """
        import ctypes, ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        def call(f, *args):
            if f(*args) < 0:
                raise OSError(ctypes.get_errno(), "denied")
        params = ctypes.create_string_buffer(120)
        attempt("user namespace", lambda: call(libc.unshare, 0x10000000))
        attempt("io_uring", lambda: call(libc.syscall, IO_URING_SETUP, 8, params))
        attempt("clone into a new user namespace", lambda: call(libc.syscall, CLONE, 0x10000000 | 17, 0, 0, 0, 0))
    """, 3),
    ("signal-init", ["pid_namespace", "setuid"], """
        import signal
        attempt("kill init", lambda: os.kill(1, signal.SIGKILL))
        attempt("ptrace init", lambda: open("/proc/1/environ").read())
    """, 2),
]


@pytest.fixture
def host_shm():
    """A System V shared memory segment on the host, which no sandbox may see."""
    import subprocess

    made = subprocess.run(["ipcmk", "-M", "4096"], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a host shm segment: {made.stderr}")
    shm_id = made.stdout.split()[-1]
    yield shm_id
    subprocess.run(["ipcrm", "-m", shm_id], check=True)


@pytest.mark.parametrize("name, caps, code, expected", ISOLATION_CASES, ids=[c[0] for c in ISOLATION_CASES])
def test_isolation(name, caps, code, expected, job, host_shm):
    needs(*caps)
    abstract = f"nnkit-sandbox-test-{uuid.uuid4()}"
    # Host services the child must not reach: TCP on loopback, and an abstract unix
    # socket (those live in the net namespace, not in the filesystem).
    with socket.socket() as listener, socket.socket(socket.AF_UNIX) as unix:
        listener.bind(("127.0.0.1", 0))
        unix.bind(b"\0" + abstract.encode())
        for s in (listener, unix):
            s.listen()
            s.settimeout(0.2)
        code = (code.replace("PORT", str(listener.getsockname()[1])).replace("ABSTRACT", abstract)
                .replace("HOSTNAME", repr(socket.gethostname()))
                .replace("IO_URING_SETUP", "425").replace("CLONE", {"x86_64": "56", "aarch64": "220"}.get(
                    os.uname().machine, "-1")))
        result = python(code, job)
        for s in (listener, unix):
            with pytest.raises(socket.timeout):
                s.accept()
    blocked_only(result, expected)
    assert not (REPO / "evil.txt").exists() and not (REPO / "nnkit" / "evil.py").exists()


# (id, capabilities, child code, Limits overrides, check(result, workdir)).
# Every bomb is bounded in itself (2 GiB, 200 forks, 64 MiB) so a host without the
# limit fails the case instead of going down.
LIMIT_CASES = [
    ("exit-code", [], "os._exit(3)", {},
     lambda r, w: r.returncode == 3 and r.signal is None and not r.timed_out),
    ("infinite-loop", [], "while True: pass", {"wall_seconds": 1.5},
     lambda r, w: r.timed_out and r.returncode is None and 1.5 <= r.seconds < 6),
    ("sleep-forever", [], "import time; time.sleep(1000)", {"wall_seconds": 1},
     lambda r, w: r.timed_out and not r.cpu_exceeded and r.seconds < 5),
    ("cpu-limit", ["rlimits"], "while True: pass", {"cpu_seconds": 1, "wall_seconds": 10},
     lambda r, w: r.cpu_exceeded and not r.timed_out and r.signal == signal.SIGXCPU),
    ("memory-bytearray", ["rlimits"], "x = bytearray(2**31)", {"memory_bytes": 2**29},
     lambda r, w: r.memory_exceeded and r.returncode == 1 and "MemoryError" in r.stderr),
    ("memory-numpy", ["rlimits"], "import numpy as np; x = np.empty((2**15, 2**15))", {"memory_bytes": 2**30},
     lambda r, w: r.memory_exceeded and "MemoryError" in r.stderr),
    ("memory-growth", ["rlimits"], "l = [bytearray(10**7) for i in range(200)]", {"memory_bytes": 2**29},
     lambda r, w: r.memory_exceeded and not r.timed_out),
    ("memory-across-processes", ["pid_namespace", "rlimits"], """
        import time
        for i in range(4):  # each process stays under RLIMIT_AS, together they do not
            if os.fork() == 0:
                break
        block = bytearray(300 * 2**20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just reserved
        time.sleep(5)
     """, {"memory_bytes": 2**30, "wall_seconds": 10},
     lambda r, w: r.memory_exceeded and not r.timed_out and r.total_memory_bytes > 2**30),
    ("file-size", ["rlimits"], """
        attempt("big file", lambda: open("big.bin", "wb").write(b"x" * 8 * 2**20))
     """, {"file_bytes": 2**20},
     lambda r, w: "BLOCKED big file" in r.stdout and (w / "big.bin").stat().st_size <= 2**20),
    ("fill-tmp", ["mount_namespace"], """
        def fill():
            for i in range(64):
                open(f"/tmp/f{i}", "wb").write(b"x" * 2**20)
        attempt("fill tmp", fill)
     """, {"file_bytes": 2**20},
     lambda r, w: "BLOCKED fill tmp" in r.stdout),
    ("fork-bomb", ["rlimits", "setuid"], """
        import time
        n = 0
        for i in range(200):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            n += 1
        print("forked", n)
     """, {"nproc": 32, "wall_seconds": 10},
     lambda r, w: r.returncode == 0 and int(r.stdout.split("forked")[1]) < 32 and not r.timed_out),
    ("runs-as-nobody", ["setuid"], """
        print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())
        print(open("/proc/self/status").read().split("NoNewPrivs:")[1].split()[0])
     """, {},
     # "nobody" when no other sandbox runs meanwhile, else a uid of its own from the pool
     lambda r, w: r.uid in sandbox.UID_POOL and r.stdout.split("\n")[:2] == [
         f"{r.uid} {r.uid} {65534 if r.uid == 65534 else r.uid} []", "1"]),
    ("own-proc", ["pid_namespace", "mount_namespace"], """
        print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
     """, {},
     lambda r, w: eval(r.stdout)[0] == 1 and len(eval(r.stdout)) <= 3),
    ("environment", [], """
        print(sorted(k for k in os.environ if "SECRET" in k))
        print(os.environ["HOME"], os.environ["OPENBLAS_NUM_THREADS"], os.environ["NNKIT_FAST"],
              os.environ["NNKIT_OFFLINE"], os.environ["EXTRA"])
     """, {},
     lambda r, w: r.stdout.split("\n")[:2] == ["[]", f"{w / 'home'} 1 1 1 yes"]),
    ("honest-process-works", [], """
        import subprocess, threading, numpy, nnkit
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        assert os.waitpid(pid, 0)[1] >> 8 == 7
        print(subprocess.run(["echo", "ok"], capture_output=True, text=True).stdout, end="")
     """, {},
     lambda r, w: r.stdout == "ok\n"),
    ("stdin", [], "print(sys.stdin.read()[::-1])", {},
     lambda r, w: r.stdout == "olleh\n"),
]


@pytest.mark.parametrize("name, caps, code, limits, check", LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_limits(name, caps, code, limits, check, job, monkeypatch):
    needs(*caps)
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do not leak")
    result = python(code, job, limits=Limits(**limits), env={"EXTRA": "yes"},
                    stdin_bytes=b"hello" if name == "stdin" else None)
    assert check(result, job), result


DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
    os._exit(0)
time.sleep(0.5)
{ending}
"""


@pytest.mark.parametrize("ending, timed_out", [
    ("print('bye')", False),           # the command finishes, its daemon must not stay
    ("time.sleep(1000)", True),        # the command times out, with its daemon
], ids=["after-exit", "after-timeout"])
def test_detached_daemon_is_gone(ending, timed_out, job):
    needs("pid_namespace")
    token = f"nnkit-sandbox-daemon-{uuid.uuid4()}"
    result = run([sys.executable, "-c", DAEMON.format(token=token, ending=ending)], workdir=job,
                 limits=Limits(wall_seconds=2))
    assert result.timed_out == timed_out, result
    time.sleep(0.2)  # the kernel tears the pid namespace down asynchronously
    assert _processes_with(token) == []


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_flood_is_capped(stream, job):
    code = f"import sys\nfor i in range(100): sys.{stream}.buffer.write(b'x' * 2**20)\nprint('END', file=sys.{stream})"
    tracemalloc.start()
    try:
        result = run([sys.executable, "-c", code], workdir=job, limits=Limits(output_bytes=2**20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = getattr(result, stream)
    assert result.returncode == 0
    assert getattr(result, f"{stream}_bytes") == 100 * 2**20 + 4
    assert len(text) < 2**20 + 200 and "bytes cut" in text and text.endswith("END\n")
    assert peak < 8 * 2**20, f"parent held {peak} bytes"
    assert sum(f.stat().st_size for f in job.rglob("*") if f.is_file()) == 0


@pytest.mark.parametrize("path, allowed", [
    (REPO, False),
    (REPO / "autograder", False),
    (REPO / "autograder" / "assignments" / "mlp", False),
    (REPO / "source", False),
    (REPO / "tests", False),
    (REPO.parent, False),
    (REPO / "autograder" / "sandboxed", True),
    (REPO / "nnkit", True),
])
def test_private_folders_cannot_be_bound(path, allowed, job):
    if not path.exists():
        pytest.skip(f"{path} does not exist in this checkout")
    if allowed:
        assert run(["true"], workdir=job, readonly=[path]).returncode == 0
    else:
        with pytest.raises(ValueError, match="refusing to expose"):
            run(["true"], workdir=job, readonly=[path])


def test_readonly_and_writable_binds(tmp_path, job):
    needs("mount_namespace", "setuid")
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    out.chmod(0o777)
    (data / "x.txt").write_text("input")
    single = tmp_path / "single.json"
    single.write_text("{}")
    # World-writable, so that only the read-only mount can refuse the writes.
    single.chmod(0o666)
    data.chmod(0o777)
    code = f"""
        print(open({str(data / 'x.txt')!r}).read() + open({str(single)!r}).read())
        attempt("write readonly file", lambda: open({str(single)!r}, "a"))
        attempt("write readonly", lambda: open({str(data / 'y.txt')!r}, "w"))
        open({str(out / 'z.txt')!r}, "w").write("output")
    """
    result = python(code, job, readonly=[data, single], writable=[out])
    assert result.stdout.split("\n")[:3] == ["input{}", "BLOCKED write readonly file OSError",
                                             "BLOCKED write readonly OSError"], result
    assert (out / "z.txt").read_text() == "output"


@pytest.mark.parametrize("kind", ["symlink", "fifo", "too-big", "regular"])
def test_safe_read(kind, tmp_path):
    path = tmp_path / "result.json"
    if kind == "symlink":
        path.symlink_to(REPO / "autograder" / "sandbox.py")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(b"x" * (100 if kind == "too-big" else 10))
    if kind == "regular":
        assert safe_read(path, 50) == b"x" * 10
    else:
        with pytest.raises((OSError, ValueError)):
            safe_read(path, 50)


def test_workdir_belongs_to_sandbox_user(job):
    needs("setuid")
    (job / "planted").symlink_to("/etc/passwd")
    uid = run(["true"], workdir=job).uid
    assert uid in sandbox.UID_POOL
    assert job.stat().st_uid == uid and (job / "home").stat().st_uid == uid
    assert os.stat("/etc/passwd").st_uid == 0  # lchown: the planted link was not followed
    assert stat.S_IMODE(os.stat("/etc/passwd").st_mode) == 0o644


def test_degraded_host_is_loud(monkeypatch, capsys, job):
    fake = dict(CAPS, mount_namespace=False, pid_namespace=False, net_namespace=False,
                ipc_namespace=False, uts_namespace=False, seccomp=False)
    monkeypatch.setattr(sandbox, "capabilities", lambda: fake)
    monkeypatch.setattr(sandbox, "_warned", False)
    result = run([sys.executable, "-c", "print('hi')"], workdir=job)
    expected = ["no mount namespace", "no pid namespace", "no net namespace", "no ipc namespace",
                "no uts namespace", "no seccomp filter"]
    expected += [f"uid {sandbox.SANDBOX_UID} without a mount namespace"] if CAPS["setuid"] else []
    assert len(result.degraded) == len(expected)
    assert all(reason.startswith(start) for reason, start in zip(result.degraded, expected)), result.degraded
    assert "DEGRADED" in capsys.readouterr().err


def test_concurrent_runs_get_their_own_uid(job):
    """RLIMIT_NPROC counts per uid: a second sandbox running meanwhile must not share it."""
    needs("setuid", "mount_namespace")
    code = "import getpass, os, pwd; print(os.getuid(), getpass.getuser(), pwd.getpwuid(os.getuid()).pw_dir)"
    with sandbox._uid_slot() as (held, _):  # as if another sandbox were running
        result = run([sys.executable, "-c", code], workdir=job)
    uid, user, home = result.stdout.split()
    assert int(uid) == result.uid != held and user == "sandbox" and home == str(job / "home"), result


LIFELINE = """
import sys
sys.path.insert(0, {repo!r})
from autograder.isolation.sandbox import run, Limits
print("started", flush=True)
run([sys.executable, "-c", "import time; time.sleep(300)", {token!r}], workdir={job!r},
    limits=Limits(wall_seconds=300))
"""


def test_sandbox_dies_with_its_grader(job):
    """A grader killed mid-run (no chance to clean up) leaves no student process behind."""
    needs("pid_namespace")
    import subprocess

    token = f"nnkit-sandbox-orphan-{uuid.uuid4()}"
    grader = subprocess.Popen([sys.executable, "-c", LIFELINE.format(repo=str(REPO), token=token, job=str(job))],
                              stdout=subprocess.PIPE)
    assert grader.stdout.readline() == b"started\n"
    deadline = time.monotonic() + 30  # the grader first probes the host's capabilities
    while not _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(token), "the sandboxed command never started"
    grader.kill()
    grader.wait()
    deadline = time.monotonic() + 5
    while _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(token) == []


def _processes_with(token):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("init_code, message", [
    (None, "init script missing"),
    ("import sys; sys.exit(3)", "died without a status"),
    ("import os, sys; os.write(int(sys.argv[2]), b'{\"error\": \"mount failed\"}\\n')", "setup failed: mount failed"),
])
def test_broken_sandbox_is_the_graders_error(init_code, message, tmp_path, job, monkeypatch):
    """A sandbox that cannot start raises SandboxError: never a student's failure."""
    init = tmp_path / "init.py"
    if init_code is not None:
        init.write_text(init_code)
    monkeypatch.setattr(sandbox, "INIT_SCRIPT", init)
    with pytest.raises(sandbox.SandboxError, match=message):
        run(["true"], workdir=job)
