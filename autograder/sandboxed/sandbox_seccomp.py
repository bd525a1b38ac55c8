"""A seccomp filter that shrinks the kernel surface a sandboxed student process can reach.

Installed by ``sandbox_init.py`` in the child just before it execs the command (after the
uid drop and no_new_privs), so it binds the command and everything it starts.  It denies,
with EPERM, the system calls an honest NumPy/Jupyter process never makes and kernel
exploits love: new namespaces (``unshare``, ``setns``, ``clone`` with CLONE_NEW*: an
unprivileged user namespace would hand the student "root" inside it), mounting, keyrings,
BPF, perf events, userfaultfd, io_uring, module and kexec loading.  ``clone3`` answers
ENOSYS, so glibc falls back to ``clone``, whose flags a classic BPF filter can inspect.
A call under another ABI (x32, i386 on x86_64) kills the process: those numbers differ.

Standard library only (it runs in the root init under ``python -I -S``).

    python -I -S sandbox_seccomp.py     # probe: exits 0 if the filter works on this host
"""

import ctypes
import ctypes.util
import errno
import os
import platform
import struct

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

# Classic BPF opcodes.
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16

# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (not NEWTIME: in
# clone() its bit is part of the exit-signal byte).
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# name -> number, per architecture; (audit arch, numbers).
ARCHES = {
    "x86_64": (0xC000003E, {
        "clone": 56, "clone3": 435, "unshare": 272, "setns": 308,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442,
        "keyctl": 250, "add_key": 248, "request_key": 249,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "acct": 163, "swapon": 167, "swapoff": 168, "reboot": 169,
        "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
        "open_by_handle_at": 304, "syslog": 103,
    }),
    "aarch64": (0xC00000B7, {
        "clone": 220, "clone3": 435, "unshare": 97, "setns": 268,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442,
        "keyctl": 219, "add_key": 217, "request_key": 218,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "acct": 89, "swapon": 224, "swapoff": 225, "reboot": 142,
        "sethostname": 161, "setdomainname": 162,
        "open_by_handle_at": 265, "syslog": 116,
    }),
}


def supported() -> bool:
    return platform.machine() in ARCHES


def program() -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions for this machine."""
    audit_arch, numbers = ARCHES[platform.machine()]
    denied = sorted(number for name, number in numbers.items() if name not in ("clone", "clone3"))
    eperm, enosys, kill = "eperm", "enosys", "kill"  # labels (BPF only jumps forward)
    code: list[tuple] = [
        (LD_W_ABS, 0, 0, OFFSET_ARCH),
        (JEQ_K, 1, 0, audit_arch),
        (RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if platform.machine() == "x86_64":
        code.append((JGE_K, kill, 0, 0x40000000))  # x32 ABI numbers carry this bit
    code.append((JEQ_K, "clone", 0, numbers["clone"]))
    code.append((JEQ_K, enosys, 0, numbers["clone3"]))
    for number in denied:
        code.append((JEQ_K, eperm, 0, number))
    code += [
        (RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ("label", "clone"), (LD_W_ABS, 0, 0, OFFSET_ARG0),  # low half of the flags (little endian)
        (JSET_K, eperm, 0, CLONE_NEW_ANY),
        (RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ("label", eperm), (RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
        ("label", enosys), (RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
        ("label", kill), (RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ]
    return _assemble(code)


def _assemble(code) -> list[tuple[int, int, int, int]]:
    """Resolve ("label", name) markers into the relative jump offsets BPF wants."""
    labels, position = {}, 0
    for item in code:
        if item[0] == "label":
            labels[item[1]] = position
        else:
            position += 1
    out = []
    for item in code:
        if item[0] == "label":
            continue
        here = len(out)
        op, jt, jf, k = item
        jt = labels[jt] - here - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - here - 1 if isinstance(jf, str) else jf
        if not (0 <= jt < 256 and 0 <= jf < 256):
            raise ValueError("seccomp filter jump out of range")
        out.append((op, jt, jf, k))
    return out


def install() -> None:
    """Apply the filter to this process and every process it starts.  Needs no_new_privs
    (or CAP_SYS_ADMIN).  Raises OSError if the kernel refuses."""
    instructions = program()
    raw = b"".join(struct.pack("HBBI", *ins) for ins in instructions)
    buffer = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(instructions), ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter refused: {os.strerror(err)}")


def _probe() -> int:
    """Install in a throwaway process and check a denied call is denied, an allowed one not."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if not supported():
        print(f"no seccomp syscall table for {platform.machine()}")
        return 1
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        print("no_new_privs refused")
        return 1
    install()
    if libc.unshare(0x10000000) == 0 or ctypes.get_errno() != errno.EPERM:  # CLONE_NEWUSER
        print("unshare(CLONE_NEWUSER) was not denied")
        return 1
    pid = os.fork()  # clone without namespace flags must still work
    if pid == 0:
        os._exit(0)
    return os.waitpid(pid, 0)[1]


if __name__ == "__main__":
    raise SystemExit(_probe())
