"""Trusted init of one sandbox: builds the child's world, then runs the untrusted command.

Started by ``autograder.isolation.sandbox.run`` as root, usually as pid 1 of fresh mount, pid, net,
ipc and uts namespaces (``unshare --mount --net --ipc --uts --pid --fork --kill-child``),
with the Python flags ``-I -S`` so nothing from the environment, the current folder or
site-packages is imported into this root process.  Standard library only, plus
``sandbox_seccomp.py`` beside it, loaded by path.

    sandbox_init.py CONFIG_FD STATUS_FD LIFELINE_FD

CONFIG_FD is a pipe carrying one JSON object, the ``config`` dict built by
``autograder.isolation.sandbox.run`` (mountpoint, binds, rlimits, uid/gid, argv, env, ...).
STATUS_FD is a pipe on which this script writes one JSON line when the command ended:
``{"pid_status": <os.wait4 status>, "cpu_seconds": <float>, "maxrss_kb": <int>}``
or ``{"error": "<why setup failed>"}``.  LIFELINE_FD is a pipe whose other end only the
grader holds: when it closes (the grader finished or died) the sandbox ends at once, so a
crashed grader never leaves student code running.  No fd is ever visible to the command.

This file holds no expected values or tests: it is safe to show to students.
"""

import ctypes
import ctypes.util
import fcntl
import json
import os
import platform
import resource
import signal
import socket
import struct
import sys
import threading

# mount(2) flags from <linux/mount.h>; stable kernel ABI.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2
PR_SET_NO_NEW_PRIVS = 38

# pivot_root has no glibc wrapper; its syscall number depends on the architecture.
# Where unknown we chroot instead, which is as strong against an unprivileged child.
PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

# Devices a Python/NumPy process legitimately needs; nothing else from the host's /dev.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

# Top-level host folders the child sees read-only: the OS and its libraries, nothing
# that holds data (no /home, /root, /work, /var, /srv, /mnt, /opt, /run).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _load_sibling(name):
    """Import a file beside this one by path (-I keeps this folder off sys.path), now,
    while the host tree is still visible: after pivot_root it is not."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seccomp = _load_sibling("sandbox_seccomp")


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype, flags, data=None):
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} -> {target} ({fstype}, {flags:#x}, {data})",
    )


def bind(source, target, readonly):
    """Bind source over target; read-only binds need a second remount to take effect."""
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (MS_RDONLY if readonly else 0)
    mount(None, target, None, flags)


def make_mountpoint(root, path, is_dir):
    """Create the (empty) directory or file at root+path that a bind will cover."""
    target = root + path
    if is_dir:
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if not os.path.exists(target):
            with open(target, "w"):
                pass
    return target


def build_root(cfg):
    """Mount a fresh tmpfs root holding only the OS, the binds asked for, /tmp, /dev, /proc."""
    root = cfg["mountpoint"]
    # Nothing we mount may propagate back to the host's mount namespace.
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("sandbox-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m")

    for name in SYSTEM_DIRS:
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), root + host)
        elif os.path.isdir(host):
            bind(host, make_mountpoint(root, host, True), readonly=True)

    os.mkdir(root + "/dev", 0o755)
    mount("sandbox-dev", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            bind("/dev/" + name, make_mountpoint(root, "/dev/" + name, False), readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.mkdir(root + "/dev/shm", 0o755)
    mount("sandbox-shm", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
          f"mode=1777,size={cfg['tmp_bytes']}")

    os.mkdir(root + "/tmp", 0o755)
    mount("sandbox-tmp", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
          f"mode=1777,size={cfg['tmp_bytes']}")

    # The new /proc shows only this pid namespace; hidepid is not needed since every
    # process in it is either this root init or the sandbox user.
    os.mkdir(root + "/proc", 0o555)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)

    if cfg["passwd"]:
        # The sandbox uid has no account on the host; libraries that look up the
        # current user (getpass, pwd) expect one.  Extend copies of passwd and group.
        name, uid, gid, home = cfg["passwd"]
        os.mkdir(root + "/.accounts", 0o755)
        for file, line in (("passwd", f"{name}:x:{uid}:{gid}::{home}:/usr/sbin/nologin\n"),
                           ("group", f"{name}:x:{gid}:\n")):
            with open(f"/etc/{file}") as f:
                text = f.read()
            with open(f"{root}/.accounts/{file}", "w") as f:
                f.write(text + ("" if text.endswith("\n") else "\n") + line)
            bind(f"{root}/.accounts/{file}", f"{root}/etc/{file}", readonly=True)

    # Shallow paths first so that a bind inside another bind lands on top of it.
    for source, readonly in sorted(cfg["binds"], key=lambda b: b[0].count("/")):
        bind(source, make_mountpoint(root, source, os.path.isdir(source)), readonly)

    os.chdir(root)
    number = PIVOT_ROOT_SYSCALL.get(platform.machine())
    if number is not None:
        # pivot_root(".", ".") stacks the old root under the new one; detaching it
        # leaves no path back to the host tree in this namespace at all.
        _check(_libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")
        _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    else:
        os.chroot(".")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def loopback_up():
    """Bring `lo` up in the new net namespace: Jupyter kernels talk ZMQ over 127.0.0.1."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def exec_command(cfg):
    """In the forked child: limits, identity, then exec. Never returns."""
    try:
        limits = cfg["rlimits"]
        for name, value in limits.items():
            resource.setrlimit(getattr(resource, name), tuple(value))
        if cfg["uid"] is not None:
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(cfg["uid"])
        # A setuid binary cannot regain privileges even where nosuid mounts are not in
        # place (the no-namespace fallback); seccomp needs it too.
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        if cfg["seccomp"]:
            seccomp.install()
        os.chdir(cfg["workdir"])
        os.closerange(3, 65536)
        for number in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        os.execvpe(cfg["argv"][0], cfg["argv"], cfg["env"])  # PATH from the child env
    except BaseException as exc:  # the command never started: say why, distinctly
        os.write(2, f"sandbox_init: cannot start {cfg['argv'][0]!r}: {exc}\n".encode())
    os._exit(127)


def watch_lifeline(fd, in_pid_namespace):
    """Block until the grader's end of the lifeline closes, then end the sandbox."""
    while True:
        try:
            if not os.read(fd, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    if in_pid_namespace:
        os._exit(124)  # pid 1 leaving takes the whole namespace with it
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main():
    config_fd, status_fd, lifeline_fd = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    os.set_inheritable(lifeline_fd, False)
    with os.fdopen(config_fd, "rb") as f:
        cfg = json.loads(f.read())
    status = os.fdopen(status_fd, "w")
    os.set_inheritable(status.fileno(), False)
    try:
        if cfg["mountpoint"]:
            build_root(cfg)
        if cfg["loopback"]:
            loopback_up()
        if cfg["hostname"]:
            socket.sethostname(cfg["hostname"])  # a new uts namespace starts as a copy of the host's
    except Exception as exc:
        status.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        status.close()
        os._exit(125)

    # As pid 1 we are not killable by the child (it is another uid), and we must reap
    # orphans so they do not count against RLIMIT_NPROC as zombies.
    child = os.fork()
    if child == 0:
        status.close()
        exec_command(cfg)
    # Started after the fork: the child of a threaded process should do as little as
    # possible, and ours only sets limits and execs anyway.
    threading.Thread(target=watch_lifeline, args=(lifeline_fd, os.getpid() == 1), daemon=True).start()
    while True:
        try:
            pid, pid_status, usage = os.wait4(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            raise SystemExit("sandbox_init: lost the command's process")
        if pid == child:
            break
    status.write(json.dumps({
        "pid_status": pid_status,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
    }) + "\n")
    status.close()
    # Leaving now ends the pid namespace: the kernel kills every process the command
    # left behind (daemons included).  Outside a pid namespace the parent kills the group.
    os._exit(0)


if __name__ == "__main__":
    main()
