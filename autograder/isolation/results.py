"""The one way the trusted grader reads what a sandbox left behind.

Everything in a job folder is the student's after the run starts: any file may be a
symbolic link (to a hidden test, a device, another student's folder), a FIFO that
blocks a reader forever, a hard link, a sparse file of terabytes, or a small archive
that inflates to gigabytes.  So every read here

* walks from the job folder down one component at a time with ``O_NOFOLLOW`` (a
  link anywhere on the path, not only at its end, is refused), and ``fstat``s what
  it opened: a regular file, one link only, owned by the grader or the sandbox uid;
* checks the size before reading and reads at most that many bytes;
* for ``.npy``/``.npz``: never unpickles, checks the archive's member count and its
  claimed sizes, then reads each array's header and checks its dtype (plain numbers)
  and shape (elements) BEFORE allocating, and reads exactly the bytes the header
  promises.

What is refused raises ``Rejected`` (a ``ValueError``, so existing ``except
Exception`` callers keep treating it as "no result"), with ``.reason`` one of
``REASONS``.  A file that simply is not there raises ``FileNotFoundError`` (a probe
that did not finish is not an attack).  ``audit(folder)`` lists, without reading or
following anything, what in a whole job folder could not have been left by the
honest harness, for the pipeline to flag (``flags.REJECTED_OUTPUT``).
"""
from __future__ import annotations

import errno
import io
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REASONS = ("link", "special file", "hard link", "owner", "outside job folder", "oversize", "bad archive",
           "bad array")

MAX_BYTES = 64 << 20              # one result file on disk (compressed)
MAX_MEMBERS = 256                 # arrays in one .npz
MAX_ELEMENTS = 16 << 20           # numbers in all arrays of one file together (128 MiB as float64)
MAX_HEADER = 4096                 # an .npy header is ~128 bytes; numpy itself refuses > 10 kB
PLAIN_KINDS = "biuf"              # bool, ints, floats: no objects, strings, structs or complex


class Rejected(ValueError):
    def __init__(self, reason: str, path, detail: str = ""):
        assert reason in REASONS, reason
        self.reason, self.path = reason, str(path)
        super().__init__(f"{reason}: {path}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class Finding:
    reason: str
    path: str       # relative to the audited folder

    def flag_detail(self) -> str:
        """Reason and file name (job folders have random names: a flag must compare run to run)."""
        return f"{self.reason} {Path(self.path).name}"


def _owners(uid: int | None) -> set[int]:
    """Who may own a result: the grader, and the run's sandbox uid (any of the pool if unknown)."""
    from autograder.isolation.sandbox import UID_POOL
    return {os.geteuid(), 0} | ({uid} if uid is not None else set(UID_POOL))


def _split(path: Path, root: Path | None) -> tuple[Path, list[str]]:
    path = Path(os.path.abspath(path))
    if root is None:
        root = path.parent
    root = Path(os.path.abspath(root))
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise Rejected("outside job folder", path, f"not under {root}") from None
    if not rel.parts or ".." in rel.parts:
        raise Rejected("outside job folder", path)
    return root, list(rel.parts)


def _open(path, root, uid) -> int:
    """A read-only fd on path, reached from root without following any link."""
    root, parts = _split(Path(path), root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)   # the trusted side made root
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                nxt = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(fd, part):
                    raise Rejected("link", path) from None
                if exc.errno == errno.ENOTDIR:
                    raise Rejected("special file", path, f"{part} is not a folder") from None
                raise
            os.close(fd)
            fd = nxt
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Rejected("special file", path, stat.filemode(info.st_mode))
        if info.st_nlink != 1:
            raise Rejected("hard link", path, f"{info.st_nlink} names")
        if info.st_uid not in _owners(uid):
            raise Rejected("owner", path, f"uid {info.st_uid}")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def read_bytes(path, max_bytes: int, *, root=None, uid: int | None = None) -> bytes:
    """The file's bytes, at most max_bytes (see the module doc); root: the job folder
    it must lie in (default: its own folder, so only its last component is checked)."""
    fd = _open(path, root, uid)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise Rejected("oversize", path, f"{size} bytes, at most {max_bytes}")
        chunks, total = [], 0
        while total <= max_bytes and (chunk := os.read(fd, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise Rejected("oversize", path, f"grew past {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json(path, max_bytes: int = 1 << 20, *, root=None, uid: int | None = None):
    data = read_bytes(path, max_bytes, root=root, uid=uid)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise Rejected("bad archive", path, f"not JSON: {type(exc).__name__}") from None


def _array(stream, path, name: str, budget: list[int]) -> np.ndarray:
    """One .npy from a stream: header checked before the data is read or allocated."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream, max_header_size=MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream, max_header_size=MAX_HEADER)
        else:
            raise ValueError(f"npy version {version}")
    except (ValueError, EOFError, SyntaxError, TypeError) as exc:
        raise Rejected("bad array", path, f"{name}: {exc}") from None
    if dtype.kind not in PLAIN_KINDS or dtype.hasobject or dtype.fields or dtype.subdtype:
        raise Rejected("bad array", path, f"{name}: dtype {dtype}")
    count = 1
    for n in shape:
        count *= int(n)
    budget[0] -= count
    if budget[0] < 0:
        raise Rejected("oversize", path, f"{name}: more than {MAX_ELEMENTS} numbers in all")
    nbytes = count * dtype.itemsize
    data = stream.read(nbytes + 1)
    if len(data) != nbytes:
        raise Rejected("bad array", path, f"{name}: {len(data)} data bytes for shape {shape}")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def load_npz(path, max_bytes: int = MAX_BYTES, *, root=None, uid: int | None = None,
             max_members: int = MAX_MEMBERS, max_elements: int = MAX_ELEMENTS) -> dict[str, np.ndarray]:
    """name -> array of an .npz the sandbox wrote, bounded before anything is inflated."""
    raw = read_bytes(path, max_bytes, root=root, uid=uid)
    budget = [max_elements]
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise Rejected("bad archive", path, str(exc)) from None
    with archive:
        members = archive.infolist()
        if len(members) > max_members:
            raise Rejected("oversize", path, f"{len(members)} members, at most {max_members}")
        claimed = sum(m.file_size for m in members)
        if claimed > max_elements * 8 + MAX_HEADER * len(members):
            raise Rejected("oversize", path, f"inflates to {claimed} bytes")
        arrays = {}
        for m in members:
            if not m.filename.endswith(".npy") or m.is_dir():
                raise Rejected("bad archive", path, f"member {m.filename!r}")
            try:
                with archive.open(m) as stream:
                    arrays[m.filename[:-4]] = _array(stream, path, m.filename, budget)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise Rejected("bad archive", path, f"{m.filename}: {exc}") from None
    return arrays


def load_npy(path, max_bytes: int = MAX_BYTES, *, root=None, uid: int | None = None,
             max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    raw = read_bytes(path, max_bytes, root=root, uid=uid)
    return _array(io.BytesIO(raw), path, Path(path).name, [max_elements])


def audit(folder, *, uid: int | None = None, skip: tuple[str, ...] = ()) -> list[Finding]:
    """What in a job folder the honest harness never leaves: links, FIFOs, sockets,
    devices, hard links, files owned by someone else (sizes are the readers' business:
    RLIMIT_FSIZE bounds each file).  Nothing is followed or opened (lstat only);
    ``skip``: relative folders not to look into."""
    folder = Path(folder)
    found: list[Finding] = []
    if not folder.is_dir() or folder.is_symlink():
        return found
    for here, dirs, files in os.walk(folder):   # never follows links
        rel_here = Path(here).relative_to(folder)
        dirs[:] = [d for d in dirs if (rel_here / d).as_posix() not in skip]
        for name in sorted(dirs + files):
            rel = (rel_here / name).as_posix()
            try:
                info = os.lstat(os.path.join(here, name))
            except OSError:
                continue
            reason = None
            if stat.S_ISLNK(info.st_mode):
                reason = "link"
            elif not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                reason = "special file"
            elif stat.S_ISREG(info.st_mode) and info.st_nlink != 1:
                reason = "hard link"
            elif info.st_uid not in _owners(uid):
                reason = "owner"
            if reason is None and stat.S_ISREG(info.st_mode) and name.endswith((".npz", ".npy")):
                reason = _check_archive(Path(here) / name, folder, uid)
            if reason:
                found.append(Finding(reason, rel))
    return sorted(set(found), key=lambda f: (f.path, f.reason))


def _check_archive(path: Path, root: Path, uid: int | None) -> str | None:
    """A result archive the readers would refuse (zip bomb, pickle, forged header): its reason."""
    try:
        (load_npz if path.suffix == ".npz" else load_npy)(path, root=root, uid=uid)
    except Rejected as exc:
        return exc.reason
    except OSError:
        return None
    return None
