"""``os``'s file-system calls as coroutines, each one an engine operation (aiofiles' ``aiofiles.os``).

Same arguments, results and exceptions as ``os`` (``FileNotFoundError`` with
``filename`` set, ...). Every call is submitted through the running loop's
default context, or ``context=`` (an ``AsyncioContext`` or raw ``Context``):
ring requests on ``linux_uring``, pool work elsewhere, no ``run_in_executor``
and no system call on the loop that may wait for a disk. (``wrap``, aiofiles'
helper for the caller's own blocking functions, is the one that uses an executor.)

``listdir``/``scandir``/``walk`` read directories with one ``listdirat`` job each
(``openat`` + ``getdents64(2)`` until the end, then close, in the pool), continued
with ``getdents`` on the fd for a directory larger than one 64 KiB read.
``scandir`` entries answer ``is_dir()``/``is_file()``/``is_symlink()`` without a
system call (a symlink's target, or an entry whose type the file system does
not report, is stat'ed by the engine while listing); ``entry.stat()`` is synchronous as ``os.DirEntry.stat()`` (a cached
result when the listing already has it); ``await entry.astat()`` asks the engine.

Cancellation (every coroutine): the operation in flight still completes
(a cancelled ``mkdir``/``rename``/``remove`` may still take effect); a
directory fd opened for a listing is closed, after the operations that use it
have finished (``settled``), so none of them can act on a file that reuses its
number; no fd leaks.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import math
import os as _os
import stat as _stat
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from _linuxaio.fsops import FsOpsMixin, parse_dirents

from .. import _aio
from .._defaults import as_asyncio_context, get_default_context
from .._file import _finish_uncancellable
from . import path

_ospath = path

__all__ = [
    "DirEntry",
    "access",
    "chmod",
    "fstat",
    "fsync",
    "getcwd",
    "link",
    "listdir",
    "lstat",
    "makedirs",
    "mkdir",
    "path",
    "readlink",
    "remove",
    "removedirs",
    "rename",
    "renames",
    "replace",
    "rmdir",
    "scandir",
    "sendfile",
    "stat",
    "statvfs",
    "symlink",
    "truncate",
    "unlink",
    "utime",
    "walk",
    "wrap",
]

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EACCESS = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
STATX_BASIC_STATS = 0x7FF
_DIR_FLAGS = _os.O_RDONLY | _os.O_DIRECTORY
_DT_DIR, _DT_REG, _DT_LNK, _DT_UNKNOWN = 4, 8, 10, 0
LISTING_CHUNK = 65536


async def settled(awaitable: Awaitable[Any]) -> Any:
    """Await ``awaitable`` to its end, delivering a cancellation of the caller afterwards.

    A future (e.g. from ``_submit``) is awaited through ``asyncio.shield``, with no task.

    For every operation on an fd we close afterwards: a cancelled operation
    still runs in the pool, so closing its fd first would let it act on
    whatever file reuses the number.
    """
    task = awaitable if _aio.is_future(awaitable) else _aio.ensure_future(awaitable)
    await _finish_uncancellable(task)
    return task.result()


def context_of(context: Any) -> Any:
    """The adapter to submit to: ``context`` (wrapped if raw) or the running loop's default."""
    if context is None:
        return get_default_context()
    if isinstance(context, FsOpsMixin):
        return context
    adapter = as_asyncio_context(context)
    return adapter if adapter is not None else get_default_context()


def _submit(ctx: Any, name: str, *args: Any) -> Awaitable[Any]:
    """Operation ``name`` of ``ctx``'s table, submitted now: what to await for its value."""
    if isinstance(ctx, FsOpsMixin):
        return ctx._fs_future(name, *args)
    return getattr(ctx, name)(*args)  # type: ignore[no-any-return]


def _future(ctx: Any, name: str, *args: Any) -> asyncio.Future[Any]:
    """``_submit``, always as a future (a coroutine of a duck-typed context runs as a task)."""
    awaitable = _submit(ctx, name, *args)
    future: asyncio.Future[Any] = awaitable if _aio.is_future(awaitable) else _aio.ensure_future(awaitable)
    return future


def _dir_fd(dir_fd: int | None) -> int:
    return AT_FDCWD if dir_fd is None else _c_int(dir_fd)


def _c_int(fd: int) -> int:
    """``os``'s ``OverflowError`` for a descriptor that is not a C ``int``, before anything is submitted."""
    if isinstance(fd, int):
        if fd > 0x7FFFFFFF:
            raise OverflowError("fd is greater than maximum")
        if fd < -0x80000000:
            raise OverflowError("fd is less than minimum")
    return fd


def _is_fd(value: Any) -> bool:
    """Is ``value`` a descriptor argument? ``os`` takes a ``bool`` as descriptor 0 or 1, as ``int`` does."""
    return isinstance(value, int)


#: CPython 3.13 warns when a descriptor argument is a ``bool`` (the path
#: functions and ``fsync``; ``fstat`` does not).
_WARNS_FOR_BOOL = sys.version_info >= (3, 13)

#: Where ``os.<function>(-1)`` says which "file" failed (CPython takes -1 as
#: "no descriptor" and calls the path form of the system call with no path).
_NAMES_MINUS_ONE = frozenset({"stat", "chmod", "statvfs", "truncate"})
#: Where ``os.<function>(fd)`` names any other negative descriptor.
_NAMES_NEGATIVE = frozenset({"stat", "chmod", "statvfs"})


def _from_bool(fd: Any, stacklevel: int = 3) -> Any:
    """``True``/``False`` as ``os`` takes them: descriptors 1 and 0, with 3.13's ``RuntimeWarning``.

    ``stacklevel`` counts from this function to the user's call, as ``warnings.warn``'s does.
    """
    if isinstance(fd, bool):
        if _WARNS_FOR_BOOL:
            warnings.warn("bool is used as a file descriptor", RuntimeWarning, stacklevel=stacklevel)
        return int(fd)
    return fd


def _fd_argument(function: str, fd: int) -> int:
    """A descriptor given for a path to ``os.<function>``, checked before anything is submitted.

    ``True``/``False`` are descriptors 1 and 0 (with 3.13's ``RuntimeWarning``).
    A negative descriptor raises what ``os`` raises: ``-1`` means "no
    descriptor" to CPython, whose path call then fails with ``EFAULT``
    (``utime``: ``EINVAL``); any other is ``EBADF``. (``-100`` is
    ``AT_FDCWD`` to the kernel: passed on, it would act on the current
    directory.) ``listdir``/``scandir`` of ``-1`` list the current directory,
    as ``os``'s do; their callers handle that before calling this.
    """
    fd = _from_bool(fd, stacklevel=4)  # _from_bool, this, the os function, its caller
    if _c_int(fd) >= 0:
        return fd
    if fd == -1:
        code = errno.EINVAL if function == "utime" else errno.EFAULT
        named = function in _NAMES_MINUS_ONE
    else:
        code = errno.EBADF
        named = function in _NAMES_NEGATIVE
    if named:
        raise OSError(code, _os.strerror(code), fd)
    raise OSError(code, _os.strerror(code))


def _check_fd_arguments(function: str, fd: int, dir_fd: int | None, follow_symlinks: bool) -> None:
    """``os``'s refusals for a descriptor ``fd`` given with ``dir_fd`` or ``follow_symlinks=False``.

    A descriptor that is not a C ``int`` is refused first, as ``os`` converts it first.
    """
    _c_int(fd)
    if dir_fd is not None and dir_fd != AT_FDCWD:
        raise ValueError(f"{function}: can't specify dir_fd without matching path")
    if not follow_symlinks:
        raise ValueError(f"{function}: cannot use fd and follow_symlinks together")


# -- metadata ----------------------------------------------------------------------------------


async def stat(
    path: Any, *, dir_fd: int | None = None, follow_symlinks: bool = True, context: Any = None
) -> _os.stat_result:
    """``os.stat``: ``path`` may be an fd. One ``statx`` operation."""
    ctx = context_of(context)
    if _is_fd(path):
        _check_fd_arguments("stat", path, dir_fd, follow_symlinks)
        path = _fd_argument("stat", path)
        try:
            return await fstat(path, context=ctx)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = path  # os.stat(fd) names the descriptor; os.fstat does not
            raise
    return await _submit(  # type: ignore[no-any-return]
        ctx,
        "statx",
        path,
        0 if follow_symlinks else AT_SYMLINK_NOFOLLOW,
        STATX_BASIC_STATS,
        _dir_fd(dir_fd),
    )


async def fstat(fd: int, *, context: Any = None) -> _os.stat_result:
    """``os.fstat``: the file open on descriptor ``fd``. One ``statx`` operation (``AT_EMPTY_PATH``)."""
    if _is_fd(fd):
        if _c_int(fd) < 0:  # statx(-100 = AT_FDCWD, "", AT_EMPTY_PATH) would stat the current directory
            raise OSError(errno.EBADF, _os.strerror(errno.EBADF))
        fd = int(fd)  # a bool: os.fstat takes it as 0 or 1
    return await _submit(context_of(context), "statx", b"", AT_EMPTY_PATH, STATX_BASIC_STATS, fd)  # type: ignore[no-any-return]


async def lstat(path: Any, *, dir_fd: int | None = None, context: Any = None) -> _os.stat_result:
    """``os.lstat``: a symlink itself. One ``statx`` operation."""
    if _is_fd(path):
        raise TypeError(f"lstat: path should be string, bytes or os.PathLike, not {type(path).__name__}")
    return await stat(path, dir_fd=dir_fd, follow_symlinks=False, context=context)


async def access(
    path: Any,
    mode: int,
    *,
    dir_fd: int | None = None,
    effective_ids: bool = False,
    follow_symlinks: bool = True,
    context: Any = None,
) -> bool:
    """``os.access``: one ``faccessat`` operation."""
    flags = (AT_EACCESS if effective_ids else 0) | (0 if follow_symlinks else AT_SYMLINK_NOFOLLOW)
    return await context_of(context).faccessat(path, mode, flags, _dir_fd(dir_fd))  # type: ignore[no-any-return]


async def readlink(path: Any, *, dir_fd: int | None = None, context: Any = None) -> Any:
    """``os.readlink``: ``str`` or ``bytes`` as ``path``. One ``readlinkat`` operation."""
    return await context_of(context).readlinkat(path, _dir_fd(dir_fd))


async def statvfs(path: Any, *, context: Any = None) -> _os.statvfs_result:
    """``os.statvfs`` of a path or fd: one ``statvfs`` operation."""
    if _is_fd(path):
        path = _fd_argument("statvfs", path)
    return await context_of(context).statvfs(path)  # type: ignore[no-any-return]


async def getcwd(*, context: Any = None) -> str:
    """``os.getcwd``: one ``getcwd`` operation."""
    return await context_of(context).getcwd()  # type: ignore[no-any-return]


# -- changes -----------------------------------------------------------------------------------


async def rename(
    src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None, context: Any = None
) -> None:
    """``os.rename``: one ``renameat`` operation."""
    await _submit(context_of(context), "renameat", src, dst, 0, _dir_fd(src_dir_fd), _dir_fd(dst_dir_fd))


async def replace(
    src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None, context: Any = None
) -> None:
    """``os.replace`` (on Linux the same call as ``rename``)."""
    await rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd, context=context)


async def renames(old: Any, new: Any, *, context: Any = None) -> None:
    """``os.renames``: make ``new``'s missing parents, rename, then prune ``old``'s empty parents."""
    head, tail = _os.path.split(new)
    if head and tail and not await _ospath.exists(head, context=context):
        await makedirs(head, context=context)
    await rename(old, new, context=context)
    head, tail = _os.path.split(old)
    if head and tail:
        try:
            await removedirs(head, context=context)
        except OSError:
            pass


async def remove(path: Any, *, dir_fd: int | None = None, context: Any = None) -> None:
    """``os.remove``: one ``unlinkat`` operation."""
    await _submit(context_of(context), "unlinkat", path, 0, _dir_fd(dir_fd))


unlink = remove


async def rmdir(path: Any, *, dir_fd: int | None = None, context: Any = None) -> None:
    """``os.rmdir``: one ``unlinkat(AT_REMOVEDIR)`` operation."""
    await _submit(context_of(context), "unlinkat", path, AT_REMOVEDIR, _dir_fd(dir_fd))


async def removedirs(name: Any, *, context: Any = None) -> None:
    """``os.removedirs``: remove ``name``, then each parent until one is not empty."""
    await rmdir(name, context=context)
    head, tail = _os.path.split(name)
    if not tail:
        head, tail = _os.path.split(head)
    while head and tail:
        try:
            await rmdir(head, context=context)
        except OSError:
            break
        head, tail = _os.path.split(head)


async def mkdir(path: Any, mode: int = 0o777, *, dir_fd: int | None = None, context: Any = None) -> None:
    """``os.mkdir``: one ``mkdirat`` operation."""
    await _submit(context_of(context), "mkdirat", path, mode, _dir_fd(dir_fd))


async def makedirs(name: Any, mode: int = 0o777, exist_ok: bool = False, *, context: Any = None) -> None:
    """``os.makedirs``: missing parents first (mode 0o777 as ``os``), ``FileExistsError`` unless ``exist_ok``."""
    name = _os.fspath(name)
    head, tail = _os.path.split(name)
    if not tail:
        head, tail = _os.path.split(head)
    if head and tail and not await _ospath.exists(head, context=context):
        try:
            await makedirs(head, exist_ok=exist_ok, context=context)
        except FileExistsError:
            pass  # made meanwhile by someone else
        cdir: Any = _os.curdir
        if isinstance(tail, bytes):
            cdir = bytes(_os.curdir, "ASCII")
        if tail == cdir:
            return
    try:
        await mkdir(name, mode, context=context)
    except OSError:
        if not exist_ok or not await _ospath.isdir(name, context=context):
            raise


async def link(
    src: Any,
    dst: Any,
    *,
    src_dir_fd: int | None = None,
    dst_dir_fd: int | None = None,
    follow_symlinks: bool = True,
    context: Any = None,
) -> None:
    """``os.link``: one ``linkat`` operation."""
    flags = AT_SYMLINK_FOLLOW if follow_symlinks else 0
    await context_of(context).linkat(src, dst, flags, _dir_fd(src_dir_fd), _dir_fd(dst_dir_fd))


async def symlink(
    src: Any, dst: Any, target_is_directory: bool = False, *, dir_fd: int | None = None, context: Any = None
) -> None:
    """``os.symlink`` (``target_is_directory`` is ignored on Linux, as by ``os``): one ``symlinkat``."""
    await context_of(context).symlinkat(src, dst, _dir_fd(dir_fd))


async def chmod(
    path: Any, mode: int, *, dir_fd: int | None = None, follow_symlinks: bool = True, context: Any = None
) -> None:
    """``os.chmod`` (``path`` may be an fd): one ``fchmodat`` operation."""
    ctx = context_of(context)
    if _is_fd(path):
        await ctx.fchmodat(b"", mode, AT_EMPTY_PATH, _fd_argument("chmod", path))
        return
    await ctx.fchmodat(path, mode, 0 if follow_symlinks else AT_SYMLINK_NOFOLLOW, _dir_fd(dir_fd))


def _ns(seconds: float) -> int:
    """Seconds as ``os.utime`` converts them (rounded toward minus infinity)."""
    if isinstance(seconds, int):
        return seconds * 10**9
    frac, whole = math.modf(seconds)
    nanos = math.floor(frac * 1e9)
    if nanos >= 10**9:
        nanos -= 10**9
        whole += 1
    elif nanos < 0:
        nanos += 10**9
        whole -= 1
    return int(whole) * 10**9 + nanos


async def utime(
    path: Any,
    times: tuple[float, float] | None = None,
    *,
    ns: tuple[int, int] | None = None,
    dir_fd: int | None = None,
    follow_symlinks: bool = True,
    context: Any = None,
) -> None:
    """``os.utime`` (``times`` in seconds or ``ns``; neither: now): one ``utimensat`` operation."""
    if times is not None and ns is not None:
        raise ValueError("utime: you may specify either 'times' or 'ns' but not both")
    if times is not None:
        if not isinstance(times, tuple) or len(times) != 2:
            raise TypeError("utime: 'times' must be either a tuple of two ints or None")
        ns = (_ns(times[0]), _ns(times[1]))
    elif ns is not None and (not isinstance(ns, tuple) or len(ns) != 2):
        raise TypeError("utime: 'ns' must be a tuple of two ints")
    ctx = context_of(context)
    if _is_fd(path):
        _check_fd_arguments("utime", path, dir_fd, follow_symlinks)
        await ctx.utimensat(b"", ns, AT_EMPTY_PATH, _fd_argument("utime", path))
        return
    await ctx.utimensat(path, ns, 0 if follow_symlinks else AT_SYMLINK_NOFOLLOW, _dir_fd(dir_fd))


async def truncate(path: Any, length: int, *, context: Any = None) -> None:
    """``os.truncate`` (``path`` may be an fd): ``ftruncate``, on an fd from ``openat`` for a path."""
    ctx = context_of(context)
    if _is_fd(path):
        _c_int(path)
        if length < 0:  # the kernel's first check, before the descriptor's
            if path == -1:
                raise OSError(errno.EINVAL, _os.strerror(errno.EINVAL), path)
            raise OSError(errno.EINVAL, _os.strerror(errno.EINVAL))
        await ctx.ftruncate(_fd_argument("truncate", path), length)
        return
    if length < 0:
        raise OSError(errno.EINVAL, _os.strerror(errno.EINVAL), path)
    fd = await ctx.openat(path, _os.O_WRONLY)
    try:
        await settled(_submit(ctx, "ftruncate", fd, length))
    finally:
        await settled(_submit(ctx, "close_fd", fd))


async def fsync(fd: Any, *, context: Any = None) -> None:
    """``os.fsync`` of an fd or an object with ``fileno()``: one ``fsync`` operation."""
    fd = _from_bool(fd) if _is_fd(fd) else fd.fileno()
    await context_of(context).fsync(_c_int(fd))


async def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int, *, context: Any = None) -> int:
    """``os.sendfile``: one ``sendfile`` operation; resolves to the bytes sent."""
    return await context_of(context).sendfile(out_fd, in_fd, offset, count)  # type: ignore[no-any-return]


# -- directories -------------------------------------------------------------------------------


async def _records(ctx: Any, fd: int) -> AsyncIterator[tuple[int, int, bytes]]:
    while chunk := await settled(_submit(ctx, "getdents", fd, LISTING_CHUNK)):
        for record in parse_dirents(chunk):
            if record[2] not in (b".", b".."):
                yield record


async def _list_dir(ctx: Any, path: Any, given: Any = None) -> tuple[int, bytes, bool]:
    """Open directory ``path`` (an fd: that directory) and read what fits of it: ``(fd, records, at_end)``.

    One ``listdirat`` job (open + getdents until the end or the buffer is full),
    so a directory that fits costs one round trip instead of four; ``fd`` is -1
    then, else the caller continues with ``getdents`` and closes it. A failure
    of a descriptor names it as ``os`` does: as the caller gave it (``given``,
    ``False`` stays ``False``), or not at all for ``EBADF``.
    """
    if not _is_fd(path):
        return await _open_listing(ctx, path, AT_FDCWD)
    try:
        return await _open_listing(ctx, ".", path)
    except OSError as exc:
        exc.filename = None if exc.errno == errno.EBADF else (path if given is None else given)
        raise


async def _open_listing(ctx: Any, path: Any, dir_fd: int) -> tuple[int, bytes, bool]:
    if isinstance(ctx, FsOpsMixin):
        return await ctx.listdirat(path, 0, dir_fd, LISTING_CHUNK)
    fd = await ctx.openat(path, _DIR_FLAGS, 0, dir_fd)  # a duck-typed context: the table's calls
    return fd, b"", False


def _listed(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    for record in parse_dirents(data):
        if record[2] not in (b".", b".."):
            yield record


async def listdir(path: Any = None, *, context: Any = None) -> list[Any]:
    """``os.listdir``: names in the directory's order, ``bytes`` for a ``bytes`` path."""
    ctx = context_of(context)
    given = path
    if path is None or (_is_fd(path) and path == -1):
        path = "."  # os.listdir(-1) lists the current directory too
    elif _is_fd(path):
        path = _fd_argument("listdir", path)
    as_bytes = isinstance(path, bytes)
    fd, data, at_end = await _list_dir(ctx, path, given)
    names = [name for _, _, name in _listed(data)]
    if not at_end:
        try:
            names += [name async for _, _, name in _records(ctx, fd)]
        finally:
            await settled(_submit(ctx, "close_fd", fd))
    return names if as_bytes else [_os.fsdecode(n) for n in names]


class DirEntry:
    """An entry of ``scandir``, like ``os.DirEntry``: ``name``, ``path``, ``inode()``,
    ``is_dir()``, ``is_file()``, ``is_symlink()``, ``stat()`` (synchronous, as
    ``os.DirEntry``'s), plus ``await astat()`` through the engine."""

    __slots__ = ("_d_type", "_ino", "_lstat", "_stat", "_stat_error", "name", "path")

    def __init__(self, name: Any, path: Any, ino: int, d_type: int) -> None:
        self.name = name
        self.path = path
        self._ino = ino
        self._d_type = d_type
        self._stat: _os.stat_result | None = None
        self._lstat: _os.stat_result | None = None
        self._stat_error = False

    def inode(self) -> int:
        """The inode number."""
        return self._ino

    def is_symlink(self) -> bool:
        """True for a symbolic link (never follows)."""
        if self._d_type != _DT_UNKNOWN:
            return self._d_type == _DT_LNK
        return self._lstat is not None and _stat.S_ISLNK(self._lstat.st_mode)

    def _test(self, dt: int, test: Any, follow_symlinks: bool) -> bool:
        if self._d_type != _DT_UNKNOWN and not (follow_symlinks and self._d_type == _DT_LNK):
            return self._d_type == dt
        st = self._stat if follow_symlinks else self._lstat
        if st is None:
            if self._stat_error and follow_symlinks:
                return False  # a dangling symlink
            try:
                st = self.stat(follow_symlinks=follow_symlinks)
            except FileNotFoundError:
                return False
        return bool(test(st.st_mode))

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        """True for a directory (or a link to one, unless ``follow_symlinks=False``)."""
        return self._test(_DT_DIR, _stat.S_ISDIR, follow_symlinks)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        """True for a regular file (or a link to one, unless ``follow_symlinks=False``)."""
        return self._test(_DT_REG, _stat.S_ISREG, follow_symlinks)

    def is_junction(self) -> bool:
        """Always False on Linux."""
        return False

    def stat(self, *, follow_symlinks: bool = True) -> _os.stat_result:
        """``os.DirEntry.stat``: cached; otherwise a synchronous ``os.stat`` (as the stdlib's)."""
        if not follow_symlinks or not self.is_symlink():
            if self._lstat is None:
                self._lstat = _os.lstat(self.path)
            return self._lstat
        if self._stat is None:
            self._stat = _os.stat(self.path)
        return self._stat

    async def astat(self, *, follow_symlinks: bool = True, context: Any = None) -> _os.stat_result:
        """``stat()`` through the engine (cached after the first answer)."""
        if not follow_symlinks or not self.is_symlink():
            if self._lstat is None:
                self._lstat = await lstat(self.path, context=context)
            return self._lstat
        if self._stat is None:
            self._stat = await stat(self.path, context=context)
        return self._stat

    def __fspath__(self) -> Any:
        return self.path

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"


class ScandirIterator:
    """What ``scandir`` returns: ``async for entry in it``, ``async with``, or ``await`` it.

    ``await scandir(p)`` (aiofiles' form) lists the whole directory and returns
    an iterator of the entries that is also a (synchronous) context manager.
    The directory fd is closed at the end, by ``aclose()`` or on leaving ``async with``.
    """

    def __init__(self, path: Any, context: Any) -> None:
        self._given = None  # a descriptor as the caller gave it, for the error's filename
        if path is None or (_is_fd(path) and path == -1):
            path = "."  # os.scandir(-1) lists the current directory too
        elif _is_fd(path):
            self._given = path
            path = _fd_argument("scandir", path)
        self._path = path
        self._ctx = context_of(context)
        self._fd = -1
        self._records: AsyncIterator[tuple[int, int, bytes]] | None = None
        self._finished = False

    def _entry(self, ino: int, d_type: int, raw: bytes) -> DirEntry:
        base = self._path
        if _is_fd(base):
            name: Any = _os.fsdecode(raw)
            return DirEntry(name, name, ino, d_type)
        if isinstance(base, bytes):
            return DirEntry(raw, _os.path.join(base, raw), ino, d_type)
        name = _os.fsdecode(raw)
        return DirEntry(name, _os.path.join(_os.fspath(base), name), ino, d_type)

    async def _complete(self, entry: DirEntry) -> None:
        """Answer is_dir/is_file/is_symlink ahead: stat a symlink's target or an untyped entry."""
        ctx = self._ctx
        dir_fd = self._path if _is_fd(self._path) else AT_FDCWD
        target = entry.name if _is_fd(self._path) else entry.path
        if entry._d_type == _DT_UNKNOWN:
            entry._lstat = await settled(_submit(ctx, "statx", target, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, dir_fd))
        if entry.is_symlink():
            try:
                entry._stat = await settled(_submit(ctx, "statx", target, 0, STATX_BASIC_STATS, dir_fd))
            except OSError:
                entry._stat_error = True
        elif entry._lstat is not None:
            entry._stat = entry._lstat

    def __aiter__(self) -> ScandirIterator:
        return self

    async def __anext__(self) -> DirEntry:
        if self._finished:
            raise StopAsyncIteration
        try:
            if self._records is None:
                self._records = self._listing()
            ino, d_type, raw = await self._records.__anext__()
            entry = self._entry(ino, d_type, raw)
            if d_type in (_DT_UNKNOWN, _DT_LNK):  # the others need no system call
                await self._complete(entry)
            return entry
        except StopAsyncIteration:
            await self.aclose()
            raise
        except BaseException:
            await self.aclose()
            raise

    async def _listing(self) -> AsyncIterator[tuple[int, int, bytes]]:
        fd, data, at_end = await _list_dir(self._ctx, self._path, self._given)
        self._fd = fd  # closed by aclose(); -1 when the one job read the whole directory
        for record in _listed(data):
            yield record
        if not at_end:
            async for record in _records(self._ctx, fd):
                yield record

    async def aclose(self) -> None:
        """Stop listing and close the directory fd (idempotent)."""
        self._finished = True
        fd, self._fd = self._fd, -1
        if fd >= 0:
            await settled(_submit(self._ctx, "close_fd", fd))

    close = aclose

    async def __aenter__(self) -> ScandirIterator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _all(self) -> _Entries:
        return _Entries([entry async for entry in self])

    def __await__(self) -> Any:
        return self._all().__await__()


class _Entries(Iterator[DirEntry]):
    """The entries of an awaited ``scandir``: an iterator and a context manager, as ``os.scandir``'s."""

    def __init__(self, entries: list[DirEntry]) -> None:
        self._it = iter(entries)

    def __next__(self) -> DirEntry:
        return next(self._it)

    def __enter__(self) -> _Entries:
        return self

    def __exit__(self, *exc: object) -> None:
        self._it = iter(())

    def close(self) -> None:
        """Drop what is left (``os.scandir``'s ``close``)."""
        self._it = iter(())


def scandir(path: Any = None, *, context: Any = None) -> ScandirIterator:
    """``os.scandir``: ``async for entry in scandir(p)`` (or ``async with``, or ``await``; see ``ScandirIterator``)."""
    return ScandirIterator(path, context)


async def _islinks(paths: list[Any], context: Any) -> list[bool]:
    """``os.path.islink`` of each path, the ``lstat`` operations submitted together."""
    if not paths:
        return []
    ctx = context_of(context)
    pending: list[Awaitable[Any]] = []
    for p in paths:
        try:
            pending.append(_submit(ctx, "statx", p, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, AT_FDCWD))
        except (OSError, ValueError):  # what islink answers False for
            pending.append(_false())
    results = await _aio.gather(*pending, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, (OSError, ValueError)):
            raise r
    return [isinstance(r, _os.stat_result) and _stat.S_ISLNK(r.st_mode) for r in results]


async def _false() -> bool:
    return False


async def walk(
    top: Any,
    topdown: bool = True,
    onerror: Any = None,
    followlinks: bool = False,
    *,
    context: Any = None,
) -> AsyncIterator[tuple[Any, list[Any], list[Any]]]:
    """``os.walk`` as an async generator: ``async for dirpath, dirnames, filenames in walk(top)``.

    With ``topdown`` the caller may prune ``dirnames`` in place, as with ``os.walk``.
    """
    top = _os.fspath(top)
    stack: list[Any] = [top]
    join = _os.path.join
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            yield item
            continue
        current = item
        dirs: list[Any] = []
        nondirs: list[Any] = []
        walk_dirs: list[Any] = []
        try:
            entries = scandir(current, context=context)
        except OSError as error:
            if onerror is not None:
                onerror(error)
            continue
        try:
            async for entry in entries:
                is_dir = entry.is_dir()
                (dirs if is_dir else nondirs).append(entry.name)
                if not topdown and is_dir:
                    walk_into = followlinks or not entry.is_symlink()
                    if walk_into:
                        walk_dirs.append(entry.path)
        except OSError as error:
            if onerror is not None:
                onerror(error)
            continue
        if topdown:
            yield current, dirs, nondirs
            new_paths = [join(current, dirname) for dirname in dirs]
            # os.walk checks islink() after the yield (the caller may have changed the
            # tree); the checks of one directory's subdirectories run at once.
            links = [False] * len(new_paths) if followlinks else await _islinks(new_paths, context)
            for new_path, link in zip(reversed(new_paths), reversed(links), strict=True):
                if not link:
                    stack.append(new_path)
        else:
            stack.append((current, dirs, nondirs))
            for new_path in reversed(walk_dirs):
                stack.append(new_path)


def wrap(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """aiofiles' ``aiofiles.os.wrap``: ``func`` as a coroutine function run in an executor.

    For a blocking function of your own (this module's functions need no
    wrapping: they are engine operations). The coroutine takes ``func``'s
    arguments plus ``loop=`` (default: the running loop) and ``executor=``
    (default: the loop's) and costs one executor hop per call, as aiofiles'
    does. Cancellation: the call still runs to its end in the executor; its
    result is dropped.
    """

    @functools.wraps(func)
    async def run(
        *args: Any, loop: asyncio.AbstractEventLoop | None = None, executor: Any = None, **kwargs: Any
    ) -> Any:
        call = functools.partial(func, *args, **kwargs)
        if loop is None:
            return await _aio.run_in_executor(executor, call)  # asyncio's loop, or trio's threads
        return await loop.run_in_executor(executor, call)

    return run
