"""File-system operations of the pure-Python backend (the engine's fs-op table).

``FsOperations`` is a base of ``python_aio.Operation``: its class methods build
operations whose worker calls the matching ``os`` function, so a failure is
exactly the ``OSError`` that ``os`` raises (``FileNotFoundError`` with
``filename``, ``filename2`` for two-path calls), with the paths as the caller
gave them. Arguments are checked here, before anything is submitted: paths must
be ``str``, ``bytes`` or ``os.PathLike`` (``TypeError`` otherwise), descriptors,
flags and sizes ``int``.

Besides the table shared with the compiled backends (``openat`` ...
``getdents``), this backend has a few more operations that ``aiofile.os``
uses where the kernel call has no ring opcode: ``readlinkat``, ``faccessat``,
``fchmodat``, ``utimensat``, ``statvfs``, ``sendfile``, ``getcwd``.

``getdents`` calls ``getdents64(2)`` itself (through ``ctypes``; the GIL is
released for the call), so it returns the kernel's raw ``linux_dirent64``
records and advances the directory fd's position exactly as the compiled pool
does. ``fallocate`` calls libc's ``fallocate`` the same way.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import operator
import os
import platform
import stat
from typing import Any

__all__ = ["AT_FDCWD", "STATX_BASIC_STATS", "FsOpCode", "FsOperations", "run_fs"]

AT_FDCWD = -100
STATX_BASIC_STATS = 0x7FF
_AT_SYMLINK_NOFOLLOW = 0x100
_AT_REMOVEDIR = 0x200
_AT_SYMLINK_FOLLOW = 0x400
_AT_EMPTY_PATH = 0x1000
_AT_EACCESS = 0x200
_RENAME_NOREPLACE = 1
_O_CLOEXEC = os.O_CLOEXEC

#: getdents64(2) by machine; other machines get ENOSYS from ``getdents``.
_GETDENTS64 = {"x86_64": 217, "aarch64": 61, "riscv64": 61, "loongarch64": 61, "ppc64le": 202, "s390x": 220}


class FsOpCode(enum.IntEnum):
    """What a file-system operation does (values apart from ``python_aio.OpCode``)."""

    OPENAT = 16
    CLOSE_FD = 17
    STATX = 18
    RENAMEAT = 19
    UNLINKAT = 20
    MKDIRAT = 21
    LINKAT = 22
    SYMLINKAT = 23
    FALLOCATE = 24
    FTRUNCATE = 25
    FADVISE = 26
    COPY_FILE_RANGE = 27
    GETDENTS = 28
    READLINKAT = 29
    FACCESSAT = 30
    FCHMODAT = 31
    UTIMENSAT = 32
    STATVFS = 33
    SENDFILE = 34
    GETCWD = 35
    UNLINKAT_MANY = 36
    COPYFILEAT = 37
    LISTDIRAT = 38


FS_OPCODES: frozenset[int] = frozenset(FsOpCode)


def _path(value: Any) -> Any:
    """Check a path argument (``TypeError`` if it is not one, ``ValueError`` for a NUL in it); keep it as given."""
    if b"\0" in os.fsencode(value):
        raise ValueError("embedded null byte")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _link_following(src: Any, dst: Any, src_dir_fd: int, dst_dir_fd: int) -> None:
    """linkat(2) with AT_SYMLINK_FOLLOW.

    ``os.link`` cannot ask for it with the default directory: CPython then
    calls link(2), which on Linux links the symbolic link itself. The source
    is resolved here instead (relative to ``src_dir_fd`` through /proc), and
    an error names the paths as the caller gave them.
    """
    base = src if src_dir_fd == AT_FDCWD or os.path.isabs(os.fsdecode(src)) else None
    if base is None:
        base = os.path.join(f"/proc/self/fd/{src_dir_fd}", os.fsdecode(src))
    target = os.path.realpath(base)
    try:
        os.link(target, dst, dst_dir_fd=dst_dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, src, None, dst) from None


def _int(value: Any) -> int:
    return operator.index(value)


def _fd(value: Any) -> int:
    fd = operator.index(value)
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return fd


def _dir_fd(value: Any) -> int | None:
    fd = operator.index(value)
    return None if fd == AT_FDCWD else fd


def _length(value: Any, name: str) -> int:
    n = operator.index(value)
    if n < 0:
        raise ValueError(f"{name} must not be negative")
    return n


class FsOperations:
    """The class methods of the fs-op table; ``cls`` is the backend's ``Operation``."""

    __slots__ = ()

    @classmethod
    def _fs(cls, code: FsOpCode, fd: int, *args: Any) -> Any:
        return cls(code, fd, 0, 0, None, args)  # type: ignore[call-arg]

    @classmethod
    def openat(cls, path: Any, flags: int, mode: int = 0o777, dir_fd: int = AT_FDCWD) -> Any:
        """openat(2) with ``O_CLOEXEC`` added; value: the new fd."""
        return cls._fs(
            FsOpCode.OPENAT, _int(dir_fd), _path(path), _int(flags) | _O_CLOEXEC, _int(mode), _dir_fd(dir_fd)
        )

    @classmethod
    def close_fd(cls, fd: int) -> Any:
        """close(2) of ``fd``; value: ``None``."""
        return cls._fs(FsOpCode.CLOSE_FD, _fd(fd))

    @classmethod
    def statx(cls, path: Any, flags: int = 0, mask: int = STATX_BASIC_STATS, dir_fd: int = AT_FDCWD) -> Any:
        """Stat ``path`` (``b""`` with ``AT_EMPTY_PATH``: ``dir_fd`` itself); value: ``os.stat_result``.

        ``AT_SYMLINK_NOFOLLOW`` in ``flags`` stats a symlink itself. ``mask`` is
        accepted for the table's signature; every basic field is always filled.
        """
        _int(mask)
        return cls._fs(FsOpCode.STATX, _int(dir_fd), _path(path), _int(flags), _dir_fd(dir_fd))

    @classmethod
    def renameat(
        cls, old: Any, new: Any, flags: int = 0, old_dir_fd: int = AT_FDCWD, new_dir_fd: int = AT_FDCWD
    ) -> Any:
        """renameat2(2) (``flags``: 0 or ``RENAME_NOREPLACE``); value: ``None``."""
        flags = _int(flags)
        if flags not in (0, _RENAME_NOREPLACE):
            raise ValueError(f"unsupported renameat flags {flags:#x} on this backend")
        return cls._fs(
            FsOpCode.RENAMEAT, _int(old_dir_fd), _path(old), _path(new), flags, _dir_fd(old_dir_fd), _dir_fd(new_dir_fd)
        )

    @classmethod
    def unlinkat(cls, path: Any, flags: int = 0, dir_fd: int = AT_FDCWD) -> Any:
        """unlinkat(2) (``AT_REMOVEDIR`` in ``flags``: rmdir); value: ``None``."""
        return cls._fs(FsOpCode.UNLINKAT, _int(dir_fd), _path(path), _int(flags), _dir_fd(dir_fd))

    @classmethod
    def mkdirat(cls, path: Any, mode: int = 0o777, dir_fd: int = AT_FDCWD) -> Any:
        """mkdirat(2); value: ``None``."""
        return cls._fs(FsOpCode.MKDIRAT, _int(dir_fd), _path(path), _int(mode), _dir_fd(dir_fd))

    @classmethod
    def linkat(cls, src: Any, dst: Any, flags: int = 0, src_dir_fd: int = AT_FDCWD, dst_dir_fd: int = AT_FDCWD) -> Any:
        """linkat(2) (``AT_SYMLINK_FOLLOW`` in ``flags`` follows ``src``); value: ``None``."""
        return cls._fs(
            FsOpCode.LINKAT,
            _int(src_dir_fd),
            _path(src),
            _path(dst),
            _int(flags),
            _dir_fd(src_dir_fd),
            _dir_fd(dst_dir_fd),
        )

    @classmethod
    def symlinkat(cls, target: Any, linkpath: Any, dir_fd: int = AT_FDCWD) -> Any:
        """symlinkat(2): ``linkpath`` pointing at ``target``; value: ``None``."""
        return cls._fs(FsOpCode.SYMLINKAT, _int(dir_fd), _path(target), _path(linkpath), _dir_fd(dir_fd))

    @classmethod
    def fallocate(cls, fd: int, mode: int, offset: int, length: int) -> Any:
        """fallocate(2); value: ``None``."""
        return cls._fs(FsOpCode.FALLOCATE, _fd(fd), _int(mode), _length(offset, "offset"), _length(length, "length"))

    @classmethod
    def ftruncate(cls, fd: int, length: int) -> Any:
        """ftruncate(2); value: ``None``."""
        return cls._fs(FsOpCode.FTRUNCATE, _fd(fd), _length(length, "length"))

    @classmethod
    def fadvise(cls, fd: int, offset: int, length: int, advice: int) -> Any:
        """posix_fadvise(2); value: ``None``."""
        return cls._fs(FsOpCode.FADVISE, _fd(fd), _length(offset, "offset"), _length(length, "length"), _int(advice))

    @classmethod
    def copy_file_range(cls, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int) -> Any:
        """copy_file_range(2) (an offset of -1 uses and advances the fd's position); value: bytes copied."""
        offsets = []
        for off in (off_in, off_out):
            off = _int(off)
            if off < -1:
                raise ValueError("offset must be -1 (file position) or not negative")
            offsets.append(None if off == -1 else off)
        return cls._fs(
            FsOpCode.COPY_FILE_RANGE, _fd(fd_in), _fd(fd_out), offsets[0], offsets[1], _length(length, "length")
        )

    @classmethod
    def getdents(cls, fd: int, nbytes: int = 65536) -> Any:
        """getdents64(2) on a directory fd; value: raw ``linux_dirent64`` records (``b""`` at the end)."""
        return cls._fs(FsOpCode.GETDENTS, _fd(fd), _length(nbytes, "nbytes"))

    # -- beyond the shared table: calls aiofile.os needs that have no ring opcode -------------

    @classmethod
    def readlinkat(cls, path: Any, dir_fd: int = AT_FDCWD) -> Any:
        """readlinkat(2); value: the target (``str`` or ``bytes`` as ``path``), as ``os.readlink``."""
        return cls._fs(FsOpCode.READLINKAT, _int(dir_fd), _path(path), _dir_fd(dir_fd))

    @classmethod
    def faccessat(cls, path: Any, mode: int, flags: int = 0, dir_fd: int = AT_FDCWD) -> Any:
        """faccessat(2) (``AT_EACCESS``, ``AT_SYMLINK_NOFOLLOW``); value: ``bool`` as ``os.access``."""
        return cls._fs(FsOpCode.FACCESSAT, _int(dir_fd), _path(path), _int(mode), _int(flags), _dir_fd(dir_fd))

    @classmethod
    def fchmodat(cls, path: Any, mode: int, flags: int = 0, dir_fd: int = AT_FDCWD) -> Any:
        """fchmodat(2) (``b""`` with ``AT_EMPTY_PATH``: ``dir_fd`` itself); value: ``None``."""
        return cls._fs(FsOpCode.FCHMODAT, _int(dir_fd), _path(path), _int(mode), _int(flags), _dir_fd(dir_fd))

    @classmethod
    def utimensat(
        cls, path: Any, times_ns: tuple[int, int] | None = None, flags: int = 0, dir_fd: int = AT_FDCWD
    ) -> Any:
        """utimensat(2) (``times_ns=None``: now); value: ``None``."""
        if times_ns is not None:
            atime, mtime = times_ns
            times_ns = (_int(atime), _int(mtime))
        return cls._fs(FsOpCode.UTIMENSAT, _int(dir_fd), _path(path), times_ns, _int(flags), _dir_fd(dir_fd))

    @classmethod
    def statvfs(cls, path: Any) -> Any:
        """statvfs(3) of a path or fd; value: ``os.statvfs_result``."""
        target = _fd(path) if isinstance(path, int) else _path(path)
        return cls._fs(FsOpCode.STATVFS, -1, target)

    @classmethod
    def sendfile(cls, out_fd: int, in_fd: int, offset: int | None, count: int) -> Any:
        """sendfile(2) (``offset=None``: from and advancing ``in_fd``'s position); value: bytes sent."""
        off = None if offset is None else _length(offset, "offset")
        return cls._fs(FsOpCode.SENDFILE, _fd(out_fd), _fd(in_fd), off, _length(count, "count"))

    @classmethod
    def getcwd(cls, as_bytes: bool = False) -> Any:
        """getcwd(3); value: ``str`` (``bytes`` with ``as_bytes``)."""
        return cls._fs(FsOpCode.GETCWD, -1, bool(as_bytes))

    # -- several calls in one job: bulk tree work ---------------------------------------------

    @classmethod
    def unlinkat_many(cls, names: Any, flags: int = 0, dir_fd: int = AT_FDCWD) -> Any:
        """unlinkat(2) of each of ``names`` relative to ``dir_fd``, in order; value: one errno per name (0: removed)."""
        checked = [_path(name) for name in names]
        return cls._fs(FsOpCode.UNLINKAT_MANY, _int(dir_fd), checked, _int(flags), _dir_fd(dir_fd))

    @classmethod
    def listdirat(
        cls, path: Any, flags: int = 0, dir_fd: int = AT_FDCWD, nbytes: int = 65536, keep_open: bool = False
    ) -> Any:
        """Open a directory and read its raw records in one job; value: ``(fd, records, at_end)``
        (see the compiled backends' ``Operation.listdirat``)."""
        n = _length(nbytes, "nbytes")
        if not 4096 <= n < 1 << 31:
            raise ValueError(f"nbytes must be in [4096, 2**31) ({n})")
        return cls._fs(FsOpCode.LISTDIRAT, _int(dir_fd), _path(path), _int(flags), _dir_fd(dir_fd), n, bool(keep_open))

    @classmethod
    def copyfileat(
        cls, src: Any, dst: Any, flags: int = 0, src_dir_fd: int = AT_FDCWD, dst_dir_fd: int = AT_FDCWD
    ) -> Any:
        """One regular file copied in one job (``flags``: 1 mode, 2 times); value: bytes copied, or
        ``None`` when nothing was done (see the compiled backends' ``Operation.copyfileat``)."""
        return cls._fs(
            FsOpCode.COPYFILEAT,
            _int(src_dir_fd),
            _path(src),
            _path(dst),
            _int(flags),
            _dir_fd(src_dir_fd),
            _dir_fd(dst_dir_fd),
        )


_libc: Any = None


def _libc_call(name: str, argtypes: list[Any], *args: Any, restype: Any = ctypes.c_int) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    func = getattr(_libc, name)
    func.argtypes = argtypes
    func.restype = restype
    result = int(func(*args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def _getdents(fd: int, nbytes: int) -> bytes:
    number = _GETDENTS64.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    buffer = ctypes.create_string_buffer(max(nbytes, 1))
    size = _libc_call(
        "syscall",
        [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t],
        number,
        fd,
        buffer,
        nbytes,
        restype=ctypes.c_long,
    )
    return buffer.raw[:size]


def _stat(path: Any, flags: int, dir_fd: int | None) -> os.stat_result:
    if flags & _AT_EMPTY_PATH and not os.fsencode(path):
        # statx(2) of a descriptor names no file in its error (as os.fstat)
        return os.fstat(dir_fd) if dir_fd is not None else os.stat(".")
    return os.stat(path, dir_fd=dir_fd, follow_symlinks=not flags & _AT_SYMLINK_NOFOLLOW)


def _call(code: FsOpCode, fd: int, args: tuple[Any, ...]) -> tuple[int, Any]:
    """Run one fs op; return ``(result for the callback, value for get_value)``."""
    if code == FsOpCode.OPENAT:
        path, flags, mode, dir_fd = args
        new_fd = os.open(path, flags, mode, dir_fd=dir_fd)
        return new_fd, new_fd
    if code == FsOpCode.CLOSE_FD:
        os.close(fd)
    elif code == FsOpCode.STATX:
        return 0, _stat(*args)
    elif code == FsOpCode.RENAMEAT:
        old, new, flags, old_dir_fd, new_dir_fd = args
        if flags:  # RENAME_NOREPLACE: os.link + unlink would not be atomic; the syscall is
            _renameat2(old, new, flags, old_dir_fd, new_dir_fd)
        else:
            os.rename(old, new, src_dir_fd=old_dir_fd, dst_dir_fd=new_dir_fd)
    elif code == FsOpCode.UNLINKAT:
        path, flags, dir_fd = args
        if flags & _AT_REMOVEDIR:
            os.rmdir(path, dir_fd=dir_fd)
        else:
            os.unlink(path, dir_fd=dir_fd)
    elif code == FsOpCode.MKDIRAT:
        path, mode, dir_fd = args
        os.mkdir(path, mode, dir_fd=dir_fd)
    elif code == FsOpCode.LINKAT:
        src, dst, flags, src_dir_fd, dst_dir_fd = args
        if flags & _AT_SYMLINK_FOLLOW:
            _link_following(src, dst, src_dir_fd, dst_dir_fd)
        else:
            os.link(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd, follow_symlinks=False)
    elif code == FsOpCode.SYMLINKAT:
        target, linkpath, dir_fd = args
        os.symlink(target, linkpath, dir_fd=dir_fd)
    elif code == FsOpCode.FALLOCATE:
        mode, offset, length = args
        _libc_call(
            "fallocate64", [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64], fd, mode, offset, length
        )
    elif code == FsOpCode.FTRUNCATE:
        os.ftruncate(fd, args[0])
    elif code == FsOpCode.FADVISE:
        offset, length, advice = args
        os.posix_fadvise(fd, offset, length, advice)
    elif code == FsOpCode.COPY_FILE_RANGE:
        fd_out, off_in, off_out, length = args
        copied = os.copy_file_range(fd, fd_out, length, off_in, off_out)
        return copied, copied
    elif code == FsOpCode.GETDENTS:
        data = _getdents(fd, args[0])
        return len(data), data
    elif code == FsOpCode.READLINKAT:
        path, dir_fd = args
        return 0, os.readlink(path, dir_fd=dir_fd)
    elif code == FsOpCode.FACCESSAT:
        path, mode, flags, dir_fd = args
        allowed = os.access(
            path,
            mode,
            dir_fd=dir_fd,
            effective_ids=bool(flags & _AT_EACCESS),
            follow_symlinks=not flags & _AT_SYMLINK_NOFOLLOW,
        )
        return int(allowed), allowed
    elif code == FsOpCode.FCHMODAT:
        path, mode, flags, dir_fd = args
        if flags & _AT_EMPTY_PATH and not os.fsencode(path) and dir_fd is not None:
            os.chmod(dir_fd, mode)
        else:
            os.chmod(path, mode, dir_fd=dir_fd, follow_symlinks=not flags & _AT_SYMLINK_NOFOLLOW)
    elif code == FsOpCode.UTIMENSAT:
        path, times_ns, flags, dir_fd = args
        follow = not flags & _AT_SYMLINK_NOFOLLOW
        if flags & _AT_EMPTY_PATH and not os.fsencode(path) and dir_fd is not None:
            path, dir_fd, follow = dir_fd, None, True  # the fd itself: futimens(3)
        if times_ns is None:
            os.utime(path, dir_fd=dir_fd, follow_symlinks=follow)
        else:
            os.utime(path, ns=times_ns, dir_fd=dir_fd, follow_symlinks=follow)
    elif code == FsOpCode.STATVFS:
        return 0, os.statvfs(args[0])
    elif code == FsOpCode.SENDFILE:
        in_fd, offset, count = args
        sent = os.sendfile(fd, in_fd, offset, count)
        return sent, sent
    elif code == FsOpCode.GETCWD:
        return 0, os.getcwdb() if args[0] else os.getcwd()
    elif code == FsOpCode.UNLINKAT_MANY:
        names, flags, dir_fd = args
        errors = [_unlink_errno(name, flags, dir_fd) for name in names]
        return sum(1 for e in errors if e), errors
    elif code == FsOpCode.LISTDIRAT:
        listing = _listdirat(*args)
        return len(listing[1]), listing
    elif code == FsOpCode.COPYFILEAT:
        done = _copyfileat(*args)
        return done or 0, done
    return 0, None


_LIST_DIR_SLACK = 1024  # as the compiled pool: stop reading with less room than this left


def _listdirat(path: Any, flags: int, dir_fd: int | None, nbytes: int, keep_open: bool) -> tuple[int, bytes, bool]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | flags, dir_fd=dir_fd)
    chunks: list[bytes] = []
    used, at_end = 0, False
    try:
        while nbytes - used >= _LIST_DIR_SLACK:
            data = _getdents(fd, nbytes - used)
            if not data:
                at_end = True
                break
            chunks.append(data)
            used += len(data)
    except OSError as exc:
        os.close(fd)
        raise OSError(exc.errno, exc.strerror, path) from None
    if at_end and not keep_open:
        os.close(fd)
        fd = -1
    return fd, b"".join(chunks), at_end


def _unlink_errno(name: Any, flags: int, dir_fd: int | None) -> int:
    try:
        if flags & _AT_REMOVEDIR:
            os.rmdir(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
    except OSError as exc:
        return exc.errno or errno.EIO
    return 0


_COPY_MODE, _COPY_TIMES, _COPY_STAT_FIRST = 1, 2, 4
_COPY_FALLBACK = frozenset({errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM})


def _copy_data(fd_in: int, fd_out: int, size: int) -> int:
    total = 0
    while 0 < size > total:
        try:
            n = os.copy_file_range(fd_in, fd_out, size - total)
        except OSError as exc:
            if total == 0 and exc.errno in _COPY_FALLBACK:
                break
            raise
        if n == 0:
            return total
        total += n
    if total:
        return total
    while data := os.read(fd_in, 1 << 16):
        view = memoryview(data)
        while view:
            view = view[os.write(fd_out, view) :]
        total += len(data)
    return total


_OUT_FLAGS = os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK


def _copyfileat(src: Any, dst: Any, flags: int, src_dir_fd: int | None, dst_dir_fd: int | None) -> int | None:
    """The compiled pool's copy job (lxa_copy_file) with ``os`` calls; ``None``: nothing done."""
    try:
        fd_in = os.open(src, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=src_dir_fd)
    except OSError:
        return None
    try:
        sst = os.fstat(fd_in)
        if not stat.S_ISREG(sst.st_mode):
            return None
        created = True  # O_EXCL first: only a dst this job created is removed on failure
        try:
            try:
                fd_out = os.open(dst, _OUT_FLAGS | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=dst_dir_fd)
            except FileExistsError:
                created = False
                fd_out = os.open(dst, _OUT_FLAGS, dir_fd=dst_dir_fd)
        except OSError:
            return None
        try:
            dst_st = os.fstat(fd_out)
            if not stat.S_ISREG(dst_st.st_mode) or (dst_st.st_dev, dst_st.st_ino) == (sst.st_dev, sst.st_ino):
                return None
            try:
                if dst_st.st_size:
                    os.ftruncate(fd_out, 0)
                copied = _copy_data(fd_in, fd_out, sst.st_size)
            except OSError as exc:
                os.close(fd_out)
                fd_out = -1
                if created:
                    try:
                        os.unlink(dst, dir_fd=dst_dir_fd)
                    except OSError:
                        pass
                raise OSError(exc.errno, exc.strerror, src, None, dst) from None
            if flags & (_COPY_MODE | _COPY_TIMES) and not flags & _COPY_STAT_FIRST:
                sst = os.fstat(fd_in)
            if flags & _COPY_TIMES:
                os.utime(fd_out, ns=(sst.st_atime_ns, sst.st_mtime_ns))
            mode = stat.S_IMODE(sst.st_mode)
            if flags & _COPY_MODE and mode != stat.S_IMODE(dst_st.st_mode):
                try:
                    os.chmod(fd_out, mode)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, dst) from None
        finally:
            if fd_out >= 0:
                os.close(fd_out)
    finally:
        os.close(fd_in)
    return copied


def _renameat2(old: Any, new: Any, flags: int, old_dir_fd: int | None, new_dir_fd: int | None) -> None:
    argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    try:
        _libc_call(
            "renameat2",
            argtypes,
            AT_FDCWD if old_dir_fd is None else old_dir_fd,
            os.fsencode(old),
            AT_FDCWD if new_dir_fd is None else new_dir_fd,
            os.fsencode(new),
            flags,
        )
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, old, None, new) from None


def run_fs(op: Any) -> int:
    """Worker side: perform fs op ``op``; store its value, or the ``OSError``, and return the result.

    The result is what the callback receives: the new fd, the byte count, ``0``
    for other successes, ``-errno`` for a failure (the exception itself is
    kept in ``op._error`` and raised by ``get_value()``).
    """
    try:
        result, op._payload = _call(op.opcode, op._fd, op._views)
        return result
    except OSError as exc:
        op._error = exc
        return -(exc.errno or errno.EIO)
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is reported, never lost
        op._error = exc
        return -errno.EIO
