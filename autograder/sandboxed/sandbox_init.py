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

    real = None
    if cfg.get("disk"):  # (real folder's fd, the path the tmpfs covers once root is pivoted)
        real = bounded_workdir(root + cfg["workdir"], cfg["disk"], cfg["uid"], cfg["gid"]), cfg["workdir"]

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
    return real


# ---------------------------------------------------------------- bounded job folder
# The job folder the command sees is a tmpfs limited in bytes and in files (inodes), laid
# over the real one: filling it stops at the bound (ENOSPC) and leaves nothing on the
# host's disk.  The trusted files are copied in first; when the command has ended, what it
# left is copied back into the real folder (bounded by the tmpfs itself) without following
# anything: links are recreated as links, FIFOs as FIFOs, hard links as hard links, so the
# grader's reader can see and flag them; devices and sockets are dropped.

def bounded_workdir(path, disk, uid, gid):
    real = os.open(path, os.O_RDONLY | os.O_DIRECTORY)  # the real folder, under the tmpfs from now on
    used, files = _tree_size(real)
    size = int(disk["bytes"]) + used
    inodes = int(disk["files"]) + files + 1
    mount("sandbox-job", path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0755,size={size},nr_inodes={inodes}")
    work = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    _copy_tree(real, work, owner=(uid, gid))
    if uid is not None:
        os.chown(work, uid, gid)
    os.close(work)
    return real


def _tree_size(top):
    used = files = 0
    for _, _, names, fd in os.fwalk(dir_fd=top):
        for name in names:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            used += info.st_blocks * 512 + 4096
            files += 1
    return used, files


def _copy_tree(src, dst, owner=None):
    """Copy the tree under dir fd src into dir fd dst; never follows a link in src."""
    import stat

    first = {}  # (dev, inode) -> (dst dir fd, name) of its first copy, to rebuild hard links
    for rel, dirs, names, sfd in os.fwalk(dir_fd=src):
        dfd = os.open(rel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dst) if rel != "." else os.dup(dst)
        try:
            for name in list(dirs):
                info = os.stat(name, dir_fd=sfd, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):  # fwalk lists a link to a folder here, and skips it
                    dirs.remove(name)
                    names.append(name)
                    continue
                os.mkdir(name, info.st_mode & 0o777, dir_fd=dfd)
                _own(name, dfd, owner or (info.st_uid, info.st_gid))
            for name in names:
                info = os.stat(name, dir_fd=sfd, follow_symlinks=False)
                mode, key = info.st_mode, (info.st_dev, info.st_ino)
                if stat.S_ISREG(mode) and info.st_nlink > 1 and key in first:
                    try:
                        os.link(first[key][1], name, src_dir_fd=first[key][0], dst_dir_fd=dfd)
                        continue
                    except OSError:
                        pass
                if stat.S_ISLNK(mode):
                    os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
                elif stat.S_ISFIFO(mode):
                    os.mkfifo(name, mode & 0o777, dir_fd=dfd)
                elif stat.S_ISREG(mode):
                    _copy_file(name, sfd, dfd, mode & 0o777)
                    if info.st_nlink > 1:
                        first[key] = (os.dup(dfd), name)
                else:
                    continue  # device or socket: nothing the grader reads
                _own(name, dfd, owner or (info.st_uid, info.st_gid))
        finally:
            os.close(dfd)
    for fd, _ in first.values():
        os.close(fd)


def _own(name, dir_fd, owner):
    if owner[0] is not None:
        os.chown(name, owner[0], owner[1], dir_fd=dir_fd, follow_symlinks=False)


def _copy_file(name, sfd, dfd, mode):
    fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=sfd)
    try:
        fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dfd)
        try:
            while chunk := os.read(fin, 1 << 20):
                os.write(fout, chunk)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _clear(top):
    """Empty the real job folder (only the grader's own files are there: the command never saw it)."""
    for _rel, dirs, names, fd in os.fwalk(dir_fd=top, topdown=False):
        for name in names:
            os.unlink(name, dir_fd=fd)
        for name in dirs:
            os.rmdir(name, dir_fd=fd)


def copy_back(real, path):
    """After the command: the tmpfs's content replaces the real folder's; (files full?, bytes full?)."""
    work = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.fstatvfs(work)
        full = st.f_bavail * st.f_frsize < 256 * 1024 or st.f_favail < 8
        _clear(real)
        _copy_tree(work, real)
    finally:
        os.close(work)
        os.close(real)
    return full


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


def kill_all_but_me():
    """From pid 1 of a pid namespace, kill(-1) reaches every other process in it."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nobody left


def watch_lifeline(fd, in_pid_namespace):
    """Block until the grader's end of the lifeline closes, then end the sandbox.  A byte on
    it (the grader's time or memory limit) stops the command instead: every other process of
    the namespace is killed, and main() still copies back what it left and reports."""
    while True:
        try:
            data = os.read(fd, 1)
            if not data:
                break
            if in_pid_namespace:
                kill_all_but_me()
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
    real = None
    try:
        if cfg["mountpoint"]:
            real = build_root(cfg)
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
            raise SystemExit("sandbox_init: lost the command's process") from None
        if pid == child:
            break
    report = {
        "pid_status": pid_status,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
    }
    if real is not None:
        if os.getpid() == 1:
            kill_all_but_me()  # nothing may write while we copy
        try:
            report["disk_full"] = copy_back(*real)
        except Exception as exc:  # the grader reads what arrived; it is told why not all of it
            report["copy_error"] = f"{type(exc).__name__}: {exc}"
    status.write(json.dumps(report) + "\n")
    status.close()
    # Leaving now ends the pid namespace: the kernel kills every process the command
    # left behind (daemons included).  Outside a pid namespace the parent kills the group.
    os._exit(0)


if __name__ == "__main__":
    main()
