"""``shutil``'s file and tree operations as coroutines, many requests at a time.

``copyfile``, ``copy``, ``copy2``, ``copymode``, ``copystat``, ``copytree``,
``rmtree``, ``move``, ``disk_usage``: ``shutil``'s arguments, results and
error model (``shutil.Error``, ``SameFileError``, ``SpecialFileError``,
``onexc``/``onerror``, ``dirs_exist_ok``, symlinks as ``shutil`` treats them),
every system call an engine operation. Extra keywords:

* ``limit`` (default 64): files worked on at once in a tree (``copytree``,
  ``rmtree``); directories are walked concurrently, their entries in order.
* ``progress``: called as ``progress(path, nbytes)`` on the loop after each
  file is copied (``nbytes`` copied) or each entry removed (``0``).
* ``context``: an ``AsyncioContext`` or raw ``Context`` (default: the loop's).

Data moves with ``copy_file_range(2)`` (no copy through user space); where
the kernel refuses it (``EXDEV``, ``EINVAL``, ``ENOSYS``, ``EOPNOTSUPP``, or a
file that reports no data, as ``/proc`` files do) through ``read``/``write``
of the context. Extended attributes are not copied by ``copystat`` (the
stdlib copies them on Linux).

Bulk work: ``copytree`` copies each regular file in one pool job
(``copyfileat``: open both, copy, mode and times, close); ``rmtree`` removes
the files of a directory ``UNLINK_BATCH`` per job (``unlinkat_many``) and
opens and reads each subdirectory in one job (``listdirat``).

Cancellation: a cancelled ``copyfile`` (alone or inside ``move``) removes the
destination file it was writing, so no truncated copy stays; the operation in
flight completes first (the fds are closed after it). Inside ``copytree`` a
file's copy job in flight completes (a whole file; one that fails removes its
file) and queued ones never start. Files copied or removed before the
cancellation stay copied or removed, as an interrupted ``shutil`` call leaves them.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil as _shutil
import stat as _stat
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, NamedTuple

from _linuxaio.fsops import parse_dirents

from . import _aio
from . import os as aos
from ._file import COPY_CHUNK as RANGE_CHUNK
from ._file import _copy_ranges, _finish_uncancellable, _release_reserved, _reserve

__all__ = [
    "Error",
    "SameFileError",
    "SpecialFileError",
    "copy",
    "copy2",
    "copyfile",
    "copymode",
    "copystat",
    "copytree",
    "disk_usage",
    "ignore_patterns",
    "move",
    "rmtree",
]

Error = _shutil.Error
SameFileError = _shutil.SameFileError
SpecialFileError = _shutil.SpecialFileError
ignore_patterns = _shutil.ignore_patterns

DEFAULT_LIMIT = 64
COPY_CHUNK = 1 << 30  # bytes per copy_file_range request
RW_CHUNK = 1 << 20  # bytes per read/write when copy_file_range cannot be used
PREALLOCATE_MIN = 1 << 20  # from this size up a copy reserves the destination's blocks first
_FALLBACK_ERRNOS = frozenset({errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM})
_AT_REMOVEDIR = 0x200
UNLINK_BATCH = 128  # names per unlinkat_many job in rmtree
_DT_REG = 8
#: copyfileat flags: copymode, copystat's times, metadata from the stat taken before the copy.
_COPY_MODE, _COPY_TIMES, _COPY_STAT_FIRST = 1, 2, 4
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW

Progress = Callable[[Any, int], Any]


class _usage(NamedTuple):  # noqa: N801 - shutil's name
    total: int
    used: int
    free: int


async def _all(coros: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run ``coros`` concurrently, results in order.

    On the first error (or our cancellation) cancel the rest, wait for them, raise.
    """
    tasks = [_aio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        await _aio.wait(tasks, first_exception=True)
        failed = next((t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None), None)
        if failed is not None:
            raise failed.exception()
        return [t.result() for t in tasks]
    except BaseException:
        for t in tasks:
            t.cancel()
        # Their operations must have finished before our caller closes the fds they use.
        await _finish_uncancellable(_aio.ensure_future(_wait_all(tasks)))
        raise


async def _wait_all(tasks: Iterable[Any]) -> None:
    await _aio.wait(tasks)


class _Window:
    """At most ``limit`` engine operations of one tree job in flight, with no task per operation.

    ``submit_group`` returns a future of each operation's value; the next
    queued operation is submitted from the completion callback of one before,
    taken from the queued groups in turn (the operations of a group work in
    one directory: taking groups in turn spreads the pool's threads over
    directories instead of queueing them all on one directory's lock).
    ``finish`` waits for a group of futures; if the waiting task is
    cancelled, its operations not yet submitted are dropped and those
    already submitted are waited for (their fds must not be closed under
    them) before the cancellation goes on.
    """

    def __init__(self, ctx: Any, limit: int) -> None:
        self._ctx = ctx
        self._free = limit
        self._groups: deque[deque[tuple[asyncio.Future[Any], str, tuple[Any, ...]]]] = deque()
        self._queued: set[asyncio.Future[Any]] = set()

    def submit_group(self, name: str, arglists: list[tuple[Any, ...]]) -> list[asyncio.Future[Any]]:
        futures: list[Any] = [_aio.create_future() for _ in arglists]
        group = deque(zip(futures, [name] * len(arglists), arglists, strict=True))
        while self._free > 0 and group:
            done, _, args = group.popleft()
            self._free -= 1
            if not self._start(done, name, args):
                self._free += 1
        if group:
            self._groups.append(group)
            self._queued.update(f for f, _, _ in group)
        return futures

    def _start(self, done: asyncio.Future[Any], name: str, args: tuple[Any, ...]) -> bool:
        try:
            inner = self._ctx._fs_future(name, *args)
        except (ValueError, TypeError, RuntimeError, OSError) as exc:  # closed, bad argument: nothing submitted
            done.set_exception(exc)
            return False
        inner.add_done_callback(partial(self._finished, done))
        return True

    def _finished(self, done: asyncio.Future[Any], inner: asyncio.Future[Any]) -> None:
        if not done.done():
            if inner.cancelled():
                done.cancel()
            elif (exc := inner.exception()) is not None:
                done.set_exception(exc)
            else:
                done.set_result(inner.result())
        self._free += 1
        groups = self._groups
        while self._free > 0 and groups:
            group = groups[0]
            following, name, args = group.popleft()
            if group:
                groups.rotate(-1)
            else:
                groups.popleft()
            self._queued.discard(following)
            if following.done():  # dropped by a cancellation
                continue
            self._free -= 1
            if not self._start(following, name, args):
                self._free += 1

    async def finish(self, futures: list[asyncio.Future[Any]]) -> None:
        if not futures:
            return
        try:
            await _aio.wait(futures)
        except _aio.cancelled_errors():
            for future in futures:
                if future in self._queued:
                    future.cancel()
            running = [f for f in futures if not f.done()]
            if running:
                await _finish_uncancellable(_aio.ensure_future(_wait_all(running)))
            raise


def _ctx(context: Any) -> Any:
    return aos.context_of(context)


# -- single files --------------------------------------------------------------------------


async def _stat_or_none(path: Any, context: Any) -> os.stat_result | None:
    try:
        if isinstance(path, aos.DirEntry):
            return await path.astat(context=context)
        return await aos.stat(path, context=context)
    except OSError:
        return None


async def _samefile(src: Any, dst: Any, context: Any) -> bool:
    if isinstance(src, aos.DirEntry):
        try:
            return os.path.samestat(await src.astat(context=context), await aos.stat(dst, context=context))
        except OSError:
            return False
    try:
        return await aos.path.samefile(src, dst, context=context)
    except OSError:
        return False


async def _copy_data(ctx: Any, fd_in: int, fd_out: int, progress: Progress | None, name: Any, size: int) -> int:
    """Copy to the end of ``fd_in``; a regular file of known ``size`` needs no final empty call.

    A copy of ``PREALLOCATE_MIN`` bytes or more first reserves ``fd_out``'s
    blocks: fallocate(2) with ``FALLOC_FL_KEEP_SIZE``, so the size grows only
    as data lands and a failed copy leaves what ``shutil``'s would. ext4 then
    writes into allocated extents instead of reserving delayed-allocation
    blocks page by page (~1.4x faster for 512 MiB). A file system that
    refuses it is copied without; a copy that failed or a source that shrank
    leaves no reserved blocks past the end.
    """
    reserved = size >= PREALLOCATE_MIN and await _reserve(ctx, fd_out, size, aos.settled)
    try:
        total = await _copy_stream(ctx, fd_in, fd_out, progress, name, size)
    except BaseException:
        if reserved:
            await aos.settled(_release_reserved(ctx, fd_out))
        raise
    if reserved and total != size:
        await aos.settled(_release_reserved(ctx, fd_out))
    return total


async def _copy_stream(ctx: Any, fd_in: int, fd_out: int, progress: Progress | None, name: Any, size: int) -> int:
    """``_copy_data``'s copy itself: copy_file_range, or read/write where the kernel refuses it.

    A big regular file (``size`` at least two ``RANGE_CHUNK``) is copied as
    ranges at explicit offsets, several at once (``AIOFile.copy_to``'s
    ``_copy_ranges``: the page-cache copy then uses more than one core); the
    rest, and anything the kernel refuses before a byte landed, in order.
    """
    total = 0
    n: int
    use_range = True
    if size >= 2 * RANGE_CHUNK:
        landed = 0

        def note(count: int) -> None:
            nonlocal landed
            landed += count
            if progress is not None:
                progress(name, count)

        try:
            total = await _copy_ranges(ctx, fd_in, 0, fd_out, size, RANGE_CHUNK, aos.settled, note)
        except OSError as exc:
            if exc.errno not in _FALLBACK_ERRNOS or landed:
                raise
            total = 0
        # Then in order from ``total`` to the end: what the kernel refused, or what the source
        # gained since its size was taken (one more request, which finds EOF). The requests
        # above used explicit offsets, so both file positions are still at 0.
        os.lseek(fd_in, total, os.SEEK_SET)
        os.lseek(fd_out, total, os.SEEK_SET)
        size = -1
    while True:
        if use_range:
            try:
                n = await aos.settled(aos._submit(ctx, "copy_file_range", fd_in, -1, fd_out, -1, COPY_CHUNK))
            except OSError as exc:
                if exc.errno not in _FALLBACK_ERRNOS or total:
                    raise
                use_range = False
                continue
            if n == 0 and total == 0:
                use_range = False  # /proc-like files report size 0 to copy_file_range: read them
                continue
        else:
            data = await aos.settled(ctx.read(RW_CHUNK, fd_in, total))
            n = len(data)
            written = 0
            while written < n:
                written += await aos.settled(ctx.write(memoryview(data)[written:], fd_out, total + written))
        if n == 0:
            return total
        total += n
        if progress is not None:
            progress(name, n)
        if use_range and total == size:
            return total


async def copyfile(
    src: Any, dst: Any, *, follow_symlinks: bool = True, progress: Progress | None = None, context: Any = None
) -> Any:
    """``shutil.copyfile``: the data of ``src`` into ``dst`` (created or truncated); returns ``dst``.

    Failure or cancellation: a ``dst`` this call created is removed; an existing ``dst`` is left
    truncated or partly written, as ``shutil`` leaves it (its other links, owner and mode stay).
    """
    return await _copyfile(src, dst, follow_symlinks, progress, context, _UNKNOWN)


_UNKNOWN: Any = object()  # a stat result not taken yet


async def _copyfile(
    src: Any, dst: Any, follow_symlinks: bool, progress: Progress | None, context: Any, dst_st: Any
) -> Any:
    """``copyfile``; ``dst_st``: ``dst``'s ``stat`` (None: missing) if the caller has it, else ``_UNKNOWN``."""
    ctx = _ctx(context)
    src_st = await _stat_or_none(src, context)
    if dst_st is _UNKNOWN:
        dst_st = await _stat_or_none(dst, context)
    if src_st is not None and dst_st is not None and os.path.samestat(src_st, dst_st):
        raise SameFileError(f"{src!r} and {dst!r} are the same file")
    for st, fn in ((src_st, src), (dst_st, dst)):
        if st is not None and _stat.S_ISFIFO(st.st_mode):
            fn = fn.path if isinstance(fn, aos.DirEntry) else fn
            raise SpecialFileError(f"`{fn}` is a named pipe")
    src = os.fspath(src)
    if not follow_symlinks and await aos.path.islink(src, context=context):
        await aos.symlink(await aos.readlink(src, context=context), dst, context=context)
        return dst
    if src_st is not None and _stat.S_ISDIR(src_st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), src)  # what open(src, "rb") raises
    fd_in = await ctx.openat(src, os.O_RDONLY)
    try:
        opening = aos._future(ctx, "openat", dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666, aos.AT_FDCWD)
        try:
            await _finish_uncancellable(opening)  # a cancelled open would leave an empty dst behind
        except _aio.cancelled_errors():
            if not opening.cancelled() and opening.exception() is None:
                await aos.settled(aos._submit(ctx, "close_fd", opening.result()))
                if dst_st is None:
                    await aos.settled(_remove_quietly(ctx, dst))
            raise
        except IsADirectoryError as e:
            if not await aos.path.exists(dst, context=context):
                raise FileNotFoundError(f"Directory does not exist: {dst}") from e
            raise
        fd_out = opening.result()
        try:
            await _copy_data(ctx, fd_in, fd_out, progress, dst, src_st.st_size if src_st is not None else 0)
        except BaseException:
            if dst_st is None:  # only a file this call created
                await aos.settled(_remove_quietly(ctx, dst))
            raise
        finally:
            await aos.settled(aos._submit(ctx, "close_fd", fd_out))
    finally:
        await aos.settled(aos._submit(ctx, "close_fd", fd_in))
    return dst


async def _remove_quietly(ctx: Any, path: Any) -> None:
    try:
        await ctx.unlinkat(path)
    except OSError:
        pass


async def copymode(src: Any, dst: Any, *, follow_symlinks: bool = True, context: Any = None) -> None:
    """``shutil.copymode``: the permission bits (a symlink's own are not changeable on Linux: no-op)."""
    if (
        not follow_symlinks
        and await aos.path.islink(src, context=context)
        and await aos.path.islink(dst, context=context)
    ):
        return
    st = await aos.stat(src, context=context)
    await aos.chmod(dst, _stat.S_IMODE(st.st_mode), context=context)


async def copystat(src: Any, dst: Any, *, follow_symlinks: bool = True, context: Any = None) -> None:
    """``shutil.copystat``: permission bits and atime/mtime (ns); not extended attributes."""
    follow = follow_symlinks or not (
        await aos.path.islink(src, context=context) and await aos.path.islink(dst, context=context)
    )
    if isinstance(src, aos.DirEntry):
        st = await src.astat(follow_symlinks=follow, context=context)
    else:
        st = await aos.stat(src, follow_symlinks=follow, context=context)
    # dst's mode (a cheap engine statx) alongside the utime: no chmod when it is already right.
    dst_mode = None
    if follow:
        dst_mode = aos._future(aos.context_of(context), "statx", dst, 0, aos.STATX_BASIC_STATS, aos.AT_FDCWD)
    try:
        await aos.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=follow, context=context)
    finally:
        if dst_mode is not None:
            await _wait_all([dst_mode])
            dst_mode.exception()  # retrieved either way (no "never retrieved" log)
    if dst_mode is not None:
        if dst_mode.exception() is None and _stat.S_IMODE(dst_mode.result().st_mode) == _stat.S_IMODE(st.st_mode):
            return
        try:
            await aos.chmod(dst, _stat.S_IMODE(st.st_mode), context=context)
        except NotImplementedError:
            pass


async def _target(src: Any, dst: Any, context: Any) -> Any:
    if await aos.path.isdir(dst, context=context):
        return os.path.join(dst, os.path.basename(os.fspath(src)))
    return dst


async def copy(
    src: Any, dst: Any, *, follow_symlinks: bool = True, progress: Progress | None = None, context: Any = None
) -> Any:
    """``shutil.copy``: data and permission bits; into ``dst`` if it is a directory. Returns the new file's path."""
    return await _copy_then(copymode, src, dst, follow_symlinks, progress, context)


async def copy2(
    src: Any, dst: Any, *, follow_symlinks: bool = True, progress: Progress | None = None, context: Any = None
) -> Any:
    """``shutil.copy2``: data and metadata (``copystat``); into ``dst`` if it is a directory."""
    return await _copy_then(copystat, src, dst, follow_symlinks, progress, context)


async def _copy_then(
    metadata: Callable[..., Awaitable[None]], src: Any, dst: Any, follow_symlinks: bool, progress: Any, context: Any
) -> Any:
    # One stat of dst answers both "is it a directory?" and copyfile's same-file/FIFO checks.
    dst_st = await _stat_or_none(dst, context)
    if dst_st is not None and _stat.S_ISDIR(dst_st.st_mode):
        dst = os.path.join(dst, os.path.basename(os.fspath(src)))
        dst_st = _UNKNOWN
    await _copyfile(src, dst, follow_symlinks, progress, context, dst_st)
    await metadata(src, dst, follow_symlinks=follow_symlinks, context=context)
    return dst


# -- trees ---------------------------------------------------------------------------------


async def copytree(
    src: Any,
    dst: Any,
    symlinks: bool = False,
    ignore: Callable[[Any, list[Any]], Iterable[Any]] | None = None,
    copy_function: Callable[..., Any] = copy2,
    ignore_dangling_symlinks: bool = False,
    dirs_exist_ok: bool = False,
    *,
    limit: int = DEFAULT_LIMIT,
    progress: Progress | None = None,
    context: Any = None,
) -> Any:
    """``shutil.copytree``: returns ``dst``; raises ``shutil.Error`` with every ``(src, dst, why)``.

    ``copy_function`` may be a coroutine function (ours by default) or a plain
    function (e.g. ``shutil.copy2``, which then blocks the loop). ``limit``
    files are copied at once.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    gate = _Gate(_aio.semaphore(limit), _Window(_ctx(context), limit))
    return await _copytree(
        src, dst, symlinks, ignore, copy_function, ignore_dangling_symlinks, dirs_exist_ok, gate, progress, context
    )


class _Gate(NamedTuple):
    """copytree's bounds: ``limit`` copies at once by tasks (``copy_function`` calls) and ``limit``
    ``copyfileat`` jobs at once (regular files with our own copy functions)."""

    tasks: Any  # an asyncio.Semaphore, or a trio.Semaphore under trio
    window: _Window


#: copytree: the copy functions whose work one copyfileat job does for a regular file.
_FAST_COPY_FLAGS: dict[Any, int] = {}


async def _call_copy(
    copy_function: Callable[..., Any], src: Any, dst: Any, progress: Progress | None, context: Any
) -> None:
    if copy_function in (copy2, copy, copyfile):
        await copy_function(src, dst, progress=progress, context=context)
        return
    result = copy_function(src, dst)
    if asyncio.iscoroutine(result) or _aio.is_future(result):
        await result


async def _copytree(
    src: Any,
    dst: Any,
    symlinks: bool,
    ignore: Any,
    copy_function: Any,
    ignore_dangling_symlinks: bool,
    dirs_exist_ok: bool,
    gate: _Gate,
    progress: Progress | None,
    context: Any,
) -> Any:
    window = gate.window
    entries = [entry async for entry in aos.scandir(src, context=context)]
    ignored = set(ignore(os.fspath(src), [e.name for e in entries])) if ignore is not None else set()
    await aos.makedirs(dst, exist_ok=dirs_exist_ok, context=context)
    use_entry = copy_function in (copy2, copy)
    fast_flags = _FAST_COPY_FLAGS.get(copy_function)

    async def one(entry: aos.DirEntry) -> list[Any]:
        srcname = os.path.join(src, entry.name)
        dstname = os.path.join(dst, entry.name)
        srcobj = entry if use_entry else srcname
        try:
            if entry.is_symlink():
                linkto = await aos.readlink(srcname, context=context)
                if symlinks:
                    await aos.symlink(linkto, dstname, context=context)
                    await copystat(srcobj, dstname, follow_symlinks=False, context=context)
                    return []
                if not await aos.path.exists(linkto, context=context) and ignore_dangling_symlinks:
                    return []
            if entry.is_dir():
                await _copytree(
                    srcname,
                    dstname,
                    symlinks,
                    ignore,
                    copy_function,
                    ignore_dangling_symlinks,
                    dirs_exist_ok,
                    gate,
                    progress,
                    context,
                )
            else:
                async with gate.tasks:
                    await _call_copy(copy_function, srcobj, dstname, progress, context)
        except Error as err:
            return list(err.args[0])
        except OSError as why:
            return [(srcname, dstname, str(why))]
        return []

    async def fast(items: list[aos.DirEntry], flags: int) -> list[list[Any]]:
        """Regular files, each copied by one ``copyfileat`` pool job (through the window, no task
        each); one the job declines (nothing done: a special or same file...) goes the way above."""
        names = [(os.path.join(src, e.name), os.path.join(dst, e.name)) for e in items]
        futures = window.submit_group("copyfileat", [(a, b, flags, aos.AT_FDCWD, aos.AT_FDCWD) for a, b in names])
        await window.finish(futures)
        found: list[list[Any]] = []
        declined: list[int] = []
        for i, ((srcname, dstname), future) in enumerate(zip(names, futures, strict=True)):
            exc = future.exception()
            if exc is not None:
                if not isinstance(exc, OSError):
                    raise exc
                found.append([(srcname, dstname, str(exc))])
                continue
            copied = future.result()
            if copied is None:
                declined.append(i)
            elif progress is not None:
                progress(dstname, copied)
            found.append([])
        for i, more in zip(declined, await _all(one(items[i]) for i in declined), strict=True):
            found[i] = more
        return found

    kept = [e for e in entries if e.name not in ignored]
    regular = [e for e in kept if fast_flags is not None and e._d_type == _DT_REG]
    results: list[list[Any]] = []
    if regular:
        rest = [e for e in kept if fast_flags is None or e._d_type != _DT_REG]
        fast_found, *rest_found = await _all([fast(regular, fast_flags or 0), *(one(e) for e in rest)])
        by_entry = dict(zip(map(id, regular), fast_found, strict=True))
        by_entry.update(zip(map(id, rest), rest_found, strict=True))
        results = [by_entry[id(e)] for e in kept]
    else:
        results = await _all(one(e) for e in kept)
    errors: list[Any] = []
    for found in results:
        errors.extend(found)
    try:
        await copystat(src, dst, context=context)
    except OSError as why:
        errors.append((src, dst, str(why)))
    if errors:
        raise Error(errors)
    return dst


_FAST_COPY_FLAGS.update(
    {
        copy2: _COPY_MODE | _COPY_TIMES | _COPY_STAT_FIRST,
        copy: _COPY_MODE | _COPY_STAT_FIRST,
        copyfile: 0,
    }
)


def _handler(ignore_errors: bool, onerror: Any, onexc: Any) -> Callable[[Any, Any, BaseException], None]:
    if ignore_errors:
        return lambda func, path, exc: None
    if onexc is not None:
        return lambda func, path, exc: onexc(func, path, exc)
    if onerror is not None:
        return lambda func, path, exc: onerror(func, path, (type(exc), exc, exc.__traceback__))

    def reraise(func: Any, path: Any, exc: BaseException) -> None:
        raise exc

    return reraise


async def rmtree(
    path: Any,
    ignore_errors: bool = False,
    onerror: Callable[[Any, Any, Any], Any] | None = None,
    *,
    onexc: Callable[[Any, Any, BaseException], Any] | None = None,
    dir_fd: int | None = None,
    limit: int = DEFAULT_LIMIT,
    progress: Progress | None = None,
    context: Any = None,
) -> None:
    """``shutil.rmtree``: directories are opened with ``O_NOFOLLOW`` and emptied through their fd
    (the symlink-attack-safe way ``shutil`` uses); ``onexc(func, path, exc)`` (3.12) or
    ``onerror(func, path, exc_info)`` get ``shutil``'s ``func`` (``os.open``, ``os.unlink``,
    ``os.rmdir``, ``os.scandir``, ``os.path.islink``, ``os.lstat``). ``limit`` removals run at once.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    handle = _handler(ignore_errors, onerror, onexc)
    ctx = _ctx(context)
    at = aos.AT_FDCWD if dir_fd is None else dir_fd
    try:
        orig = await ctx.statx(path, 0x100, dir_fd=at)
    except OSError as exc:
        handle(os.lstat, path, exc)
        return
    if _stat.S_ISLNK(orig.st_mode):
        try:
            raise OSError("Cannot call rmtree on a symbolic link")
        except OSError as exc:
            handle(os.path.islink, path, exc)
        return
    try:
        fd = await ctx.openat(path, os.O_RDONLY | os.O_NOFOLLOW, 0, at)
    except OSError as exc:
        handle(os.open, path, exc)
        return
    window = _Window(ctx, limit)
    try:
        await _rmtree_fd(ctx, fd, path, handle, window, progress)
    finally:
        await aos.settled(aos._submit(ctx, "close_fd", fd))
    try:
        await ctx.unlinkat(path, _AT_REMOVEDIR, at)
    except OSError as exc:
        handle(os.rmdir, path, exc)
    else:
        if progress is not None:
            progress(path, 0)


async def _rmtree_fd(
    ctx: Any,
    fd: int,
    path: Any,
    handle: Any,
    window: _Window,
    progress: Progress | None,
    listed: tuple[bytes, bool] = (b"", False),
) -> None:
    """Empty the directory open as ``fd`` (``path`` names it in errors); ``listed``: the records
    already read from it and whether that was all of it.

    Files are unlinked through ``window`` (no task each); each subdirectory
    is opened and read by one ``listdirat`` job, emptied by a task of its
    own, then removed through ``window`` too.
    """
    data, at_end = listed
    records = [(dtype, name) for _, dtype, name in parse_dirents(data) if name not in (b".", b"..")]
    try:
        while not at_end and (chunk := await aos.settled(aos._submit(ctx, "getdents", fd, aos.LISTING_CHUNK))):
            records.extend((dtype, name) for _, dtype, name in parse_dirents(chunk) if name not in (b".", b".."))
    except OSError as exc:
        exc.filename = path
        handle(os.scandir, path, exc)
        return
    as_bytes = isinstance(path, bytes)
    join = os.path.join
    fsdecode = os.fsdecode

    async def subdir(dtype: int, name: Any) -> None:
        # DT_DIR, or DT_UNKNOWN: try it as a directory, never through a symlink.
        full = join(path, name)
        listed: tuple[bytes, bool] = (b"", False)
        try:
            # Open and read in one job. Not settled: a cancelled listdirat closes what it opened
            # by itself (read-only, harmless). A failure other than "not a directory" is rare:
            # the open and the read are then done apart, so the error is reported as shutil
            # reports it (os.open, or os.scandir for the read).
            sub, *rest = await ctx.listdirat(name, os.O_NOFOLLOW, fd, aos.LISTING_CHUNK, True)
            listed = (rest[0], rest[1])
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP) and dtype != 4:
                await unlink_files([os.fsencode(name)])  # not a directory after all
                return
            try:
                sub = await ctx.openat(name, _DIR_FLAGS, 0, fd)
            except OSError as exc:
                handle(os.open, full, exc)
                return
        try:
            await _rmtree_fd(ctx, sub, full, handle, window, progress, listed)
        finally:
            await aos.settled(aos._submit(ctx, "close_fd", sub))
        (removing,) = window.submit_group("unlinkat", [(name, _AT_REMOVEDIR, fd)])
        await window.finish([removing])
        if removing.exception() is not None:
            handle(os.rmdir, full, removing.exception())
        elif progress is not None:
            progress(full, 0)

    async def unlink_files(names: list[bytes]) -> None:
        # UNLINK_BATCH names per pool job (unlinkat_many): one hand-off and one completion
        # for many files; the directory's own lock serialises them in the kernel anyway.
        batches = [names[i : i + UNLINK_BATCH] for i in range(0, len(names), UNLINK_BATCH)]
        futures = window.submit_group("unlinkat_many", [(batch, 0, fd) for batch in batches])
        await window.finish(futures)
        for batch, future in zip(batches, futures, strict=True):
            exc = future.exception()
            # The job fails as a whole only if it never ran (e.g. its context closed): every name then.
            codes = [exc.errno or errno.EIO] * len(batch) if isinstance(exc, OSError) else future.result()
            if progress is None and not any(codes):
                continue
            for raw, code in zip(batch, codes, strict=True):
                name = raw if as_bytes else fsdecode(raw)
                if code:
                    # As shutil: the exception names the entry as unlinked (relative to the fd).
                    handle(os.unlink, join(path, name), OSError(code, os.strerror(code), name))
                elif progress is not None:
                    progress(join(path, name), 0)

    files: list[bytes] = []  # as listed: unlinked without a decode/encode round trip
    dirs: list[Awaitable[None]] = []
    for dtype, raw in records:
        if dtype in (4, 0):
            dirs.append(subdir(dtype, raw if as_bytes else fsdecode(raw)))
        else:
            files.append(raw)
    await _all([unlink_files(files), *dirs] if files else dirs)


def _basename(path: Any) -> Any:
    path = os.fspath(path)
    sep = b"/" if isinstance(path, bytes) else "/"
    return os.path.basename(path.rstrip(sep))


async def move(
    src: Any,
    dst: Any,
    copy_function: Callable[..., Any] = copy2,
    *,
    progress: Progress | None = None,
    context: Any = None,
) -> Any:
    """``shutil.move``: ``rename`` when it can, else copy (``copytree`` with ``symlinks=True``) and remove."""
    real_dst = dst
    if await aos.path.isdir(dst, context=context):
        if await _samefile(src, dst, context):
            await aos.rename(src, dst, context=context)
            return None
        real_dst = os.path.join(dst, _basename(src))
        if await aos.path.exists(real_dst, context=context):
            raise Error(f"Destination path '{real_dst}' already exists")
    try:
        await aos.rename(src, real_dst, context=context)
    except OSError:
        if await aos.path.islink(src, context=context):
            linkto = await aos.readlink(src, context=context)
            await aos.symlink(linkto, real_dst, context=context)
            await aos.unlink(src, context=context)
        elif await aos.path.isdir(src, context=context):
            if _destinsrc(src, dst):
                raise Error(f"Cannot move a directory '{src}' into itself '{dst}'.") from None
            await copytree(
                src, real_dst, copy_function=copy_function, symlinks=True, progress=progress, context=context
            )
            await rmtree(src, context=context)
        else:
            await _call_copy(copy_function, src, real_dst, progress, context)
            await aos.unlink(src, context=context)
    return real_dst


def _destinsrc(src: Any, dst: Any) -> bool:
    src = os.path.abspath(src)
    dst = os.path.abspath(dst)
    sep: Any = os.path.sep
    if not src.endswith(sep):
        src += sep
    if not dst.endswith(sep):
        dst += sep
    return bool(dst.startswith(src))


async def disk_usage(path: Any, *, context: Any = None) -> _usage:
    """``shutil.disk_usage``: ``(total, used, free)`` in bytes, from one ``statvfs`` operation."""
    st = await aos.statvfs(path, context=context)
    free = st.f_bavail * st.f_frsize
    total = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return _usage(total, used, free)


del sys
