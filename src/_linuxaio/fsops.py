"""File-system coroutines of every ``AsyncioContext``: one mixin, all backends.

``FsOpsMixin`` is a base of ``AsyncioContextBase``. Each coroutine builds the
backend's ``Operation`` of the same name (the engine's fs-op table: ``openat``,
``close_fd``, ``statx``, ``renameat``, ``unlinkat``, ``mkdirat``, ``linkat``,
``symlinkat``, ``fallocate``, ``ftruncate``, ``fadvise``, ``copy_file_range``,
``getdents``; and beyond it ``readlinkat``, ``faccessat``, ``fchmodat``,
``utimensat``, ``statvfs``, ``sendfile``, ``getcwd``, which have no ring
opcode and run on the pool of every backend), submits it through the adapter (``submit_future``: the same
eventfd completion path, the same ``max_requests`` back-pressure as reads and
writes) and returns ``get_value()``. A failure raises the ``OSError`` that the
matching ``os`` function raises (``FileNotFoundError`` with ``filename`` ...).

A backend whose ``Operation`` lacks one of these constructors (a compiled
backend built before it had them) runs that operation on a companion
``python_aio`` adapter of the same loop (one per loop, shared): a worker thread
of our pool, completion through its eventfd, never ``run_in_executor``. The
companion is created at first need and closes when its loop closes; this
adapter's ``aclose()`` does not wait for operations it handed to it (their
awaiters do).

Cancellation (every coroutine here): cancelling the awaiting task does not
stop the operation; it still runs to completion in the pool or ring, so a
cancelled ``mkdirat``/``renameat``/``unlinkat`` may still take effect. An
``openat`` that completes after its awaiter was cancelled has the fd it
opened closed (through ``close_fd``), so no descriptor leaks. An operation
still waiting for a slot when its task is cancelled is never submitted
(except ``openat``, which is shielded and then closes what it opened).
"""

from __future__ import annotations

import asyncio
import os
import struct
import weakref
from collections.abc import Iterator
from typing import Any

from ._python_fs import AT_FDCWD, STATX_BASIC_STATS

__all__ = ["AT_FDCWD", "STATX_BASIC_STATS", "FsOpsMixin", "parse_dirents"]

_DIRENT_HEAD = struct.Struct("=QqHB")  # d_ino, d_off, d_reclen, d_type

#: One companion python_aio adapter per loop, shared by every adapter of that loop whose
#: backend lacks an fs op; it closes itself when its loop closes (as every adapter does).
_COMPANIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def parse_dirents(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(d_ino, d_type, name)`` of each raw ``linux_dirent64`` record in ``data``."""
    view = memoryview(data)
    pos, end, head = 0, len(data), _DIRENT_HEAD.size
    while pos < end:
        ino, _, reclen, dtype = _DIRENT_HEAD.unpack_from(view, pos)
        if reclen <= 0:
            raise ValueError("corrupt linux_dirent64 record")
        name_end = data.index(b"\0", pos + head, pos + reclen)
        yield ino, dtype, data[pos + head : name_end]
        pos += reclen


class FsOpsMixin:
    """File-system coroutines shared by every asyncio adapter (see the module docstring)."""

    _operation_class: Any

    # These come from AsyncioContextBase; declared for the type checker.
    def submit_future(self, op: Any) -> asyncio.Future[Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def closed(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def context(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- plumbing ----------------------------------------------------------------

    def _fs_build(self, name: str, *args: Any) -> tuple[Any, Any]:
        """``(adapter, operation)``: this adapter when its backend has ``name``, else the companion."""
        constructor = getattr(self._operation_class, name, None)
        if constructor is not None:
            return self, constructor(*args)
        companion = self._fs_companion()
        return companion, getattr(companion._operation_class, name)(*args)

    def _fs_companion(self) -> Any:
        if self.closed:
            raise ValueError("I/O operation on closed context.")
        loop = asyncio.get_running_loop()
        companion = _COMPANIONS.get(loop)
        if companion is None or companion.closed:
            from .python_aio_asyncio import AsyncioContext

            companion = _COMPANIONS[loop] = AsyncioContext()
        return companion

    def _fs_future(self, name: str, *args: Any) -> asyncio.Future[Any]:
        """Build and submit operation ``name`` now; the future of its ``get_value()``.

        The one-call path of ``aiofile.os``/``aiofile.shutil`` (no coroutine of
        ours in between). Cancelling the future does not stop the operation.
        """
        constructor = getattr(self._operation_class, name, None)
        if constructor is not None:
            return self.submit_future(constructor(*args))
        adapter, op = self._fs_build(name, *args)
        return adapter.submit_future(op)  # type: ignore[no-any-return]

    async def _fs_run(self, name: str, *args: Any) -> Any:
        return await self._fs_future(name, *args)

    def fs_path_of(self, name: str) -> str:
        """Where operation ``name`` runs on this adapter.

        ``"ring"``: an io_uring request (``linux_uring``, an opcode its kernel
        has); ``"pool"``: the backend's own pool (the C pool of a compiled
        backend, the worker threads of ``python_aio``), completing through the
        adapter's eventfd; ``"python_aio"``: the companion adapter (a compiled
        backend built without that constructor).
        """
        if getattr(self._operation_class, name, None) is None:
            return "python_aio"
        supports = getattr(self.context, "supports", None)
        if supports is not None:
            try:
                if supports(name):
                    return "ring"
            except KeyError:  # no ring opcode for it at all
                pass
        return "pool"

    # -- the fs-op table ---------------------------------------------------------------

    async def openat(self, path: Any, flags: int, mode: int = 0o777, dir_fd: int = AT_FDCWD) -> int:
        """openat(2) (``O_CLOEXEC`` added); resolves to the new fd.

        Cancellation: the open still completes; its fd is then closed for you.
        """
        adapter, op = self._fs_build("openat", path, flags, mode, dir_fd)
        inner = adapter.submit_future(op)
        try:
            fd: int = await asyncio.shield(inner)
        except asyncio.CancelledError:
            inner.add_done_callback(adapter._fs_close_orphan)
            raise
        return fd

    def _fs_close_orphan(self, future: asyncio.Future[Any]) -> None:
        """An ``openat`` whose awaiter was cancelled completed: close what it opened."""
        if future.cancelled() or future.exception() is not None:
            return
        fd = future.result()
        try:
            _, op = self._fs_build("close_fd", fd)
            closing = self.submit_future(op)
        except (ValueError, RuntimeError):  # this adapter is closed: nothing will run it
            os.close(fd)
            return
        closing.add_done_callback(_consume)

    async def close_fd(self, fd: int) -> None:
        """close(2) of ``fd``. Cancellation: the close still happens."""
        await self._fs_run("close_fd", fd)

    async def statx(
        self, path: Any, flags: int = 0, mask: int = STATX_BASIC_STATS, dir_fd: int = AT_FDCWD
    ) -> os.stat_result:
        """statx(2); resolves to an ``os.stat_result`` equal to ``os.stat``'s.

        ``flags``: ``AT_SYMLINK_NOFOLLOW`` (0x100), ``AT_EMPTY_PATH`` (0x1000) with
        ``path=b""`` to stat ``dir_fd``. Cancellation: harmless (read-only).
        """
        result: os.stat_result = await self._fs_run("statx", path, flags, mask, dir_fd)
        return result

    async def renameat(
        self, old: Any, new: Any, flags: int = 0, old_dir_fd: int = AT_FDCWD, new_dir_fd: int = AT_FDCWD
    ) -> None:
        """renameat2(2). Cancellation: the rename may still happen."""
        await self._fs_run("renameat", old, new, flags, old_dir_fd, new_dir_fd)

    async def unlinkat(self, path: Any, flags: int = 0, dir_fd: int = AT_FDCWD) -> None:
        """unlinkat(2) (``AT_REMOVEDIR`` = 0x200: rmdir). Cancellation: the removal may still happen."""
        await self._fs_run("unlinkat", path, flags, dir_fd)

    async def mkdirat(self, path: Any, mode: int = 0o777, dir_fd: int = AT_FDCWD) -> None:
        """mkdirat(2). Cancellation: the directory may still be created."""
        await self._fs_run("mkdirat", path, mode, dir_fd)

    async def linkat(
        self, src: Any, dst: Any, flags: int = 0, src_dir_fd: int = AT_FDCWD, dst_dir_fd: int = AT_FDCWD
    ) -> None:
        """linkat(2) (``AT_SYMLINK_FOLLOW`` = 0x400). Cancellation: the link may still be made."""
        await self._fs_run("linkat", src, dst, flags, src_dir_fd, dst_dir_fd)

    async def symlinkat(self, target: Any, linkpath: Any, dir_fd: int = AT_FDCWD) -> None:
        """symlinkat(2). Cancellation: the link may still be made."""
        await self._fs_run("symlinkat", target, linkpath, dir_fd)

    async def fallocate(self, fd: int, mode: int, offset: int, length: int) -> None:
        """fallocate(2). Cancellation: the allocation may still happen."""
        await self._fs_run("fallocate", fd, mode, offset, length)

    async def ftruncate(self, fd: int, length: int) -> None:
        """ftruncate(2). Cancellation: the file may still be truncated."""
        await self._fs_run("ftruncate", fd, length)

    async def fadvise(self, fd: int, offset: int, length: int, advice: int) -> None:
        """posix_fadvise(2). Cancellation: harmless."""
        await self._fs_run("fadvise", fd, offset, length, advice)

    async def copy_file_range(self, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int) -> int:
        """copy_file_range(2) (offset -1: the fd's position, advanced); resolves to bytes copied.

        Cancellation: the copy may still happen (and advance file positions).
        """
        result: int = await self._fs_run("copy_file_range", fd_in, off_in, fd_out, off_out, length)
        return result

    async def getdents(self, fd: int, nbytes: int = 65536) -> bytes:
        """getdents64(2); resolves to raw ``linux_dirent64`` records (see ``parse_dirents``), ``b""`` at the end.

        Cancellation: the fd's directory position may still advance.
        """
        result: bytes = await self._fs_run("getdents", fd, nbytes)
        return result

    # -- beyond the table: no ring opcode exists for these; every backend runs them on its pool ---

    async def readlinkat(self, path: Any, dir_fd: int = AT_FDCWD) -> Any:
        """readlinkat(2); resolves to what ``os.readlink`` returns. Cancellation: harmless."""
        return await self._fs_run("readlinkat", path, dir_fd)

    async def faccessat(self, path: Any, mode: int, flags: int = 0, dir_fd: int = AT_FDCWD) -> bool:
        """faccessat(2); resolves to what ``os.access`` returns. Cancellation: harmless."""
        result: bool = await self._fs_run("faccessat", path, mode, flags, dir_fd)
        return result

    async def fchmodat(self, path: Any, mode: int, flags: int = 0, dir_fd: int = AT_FDCWD) -> None:
        """fchmodat(2). Cancellation: the mode may still change."""
        await self._fs_run("fchmodat", path, mode, flags, dir_fd)

    async def utimensat(
        self, path: Any, times_ns: tuple[int, int] | None = None, flags: int = 0, dir_fd: int = AT_FDCWD
    ) -> None:
        """utimensat(2) (``times_ns=None``: now). Cancellation: the times may still change."""
        await self._fs_run("utimensat", path, times_ns, flags, dir_fd)

    async def statvfs(self, path: Any) -> os.statvfs_result:
        """statvfs(3) of a path or fd. Cancellation: harmless."""
        result: os.statvfs_result = await self._fs_run("statvfs", path)
        return result

    async def sendfile(self, out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        """sendfile(2); resolves to bytes sent. Cancellation: the transfer may still happen."""
        result: int = await self._fs_run("sendfile", out_fd, in_fd, offset, count)
        return result

    async def getcwd(self, as_bytes: bool = False) -> Any:
        """getcwd(3); resolves to ``str`` (``bytes`` with ``as_bytes``). Cancellation: harmless."""
        return await self._fs_run("getcwd", as_bytes)

    # -- several calls in one pool job: bulk tree work (aiofile.os listings, aiofile.shutil) ---

    async def unlinkat_many(self, names: Any, flags: int = 0, dir_fd: int = AT_FDCWD) -> list[int]:
        """unlinkat(2) of each name relative to ``dir_fd``, in one job; resolves to one errno per name
        (0: removed). Cancellation: the removals may still happen."""
        result: list[int] = await self._fs_run("unlinkat_many", names, flags, dir_fd)
        return result

    async def copyfileat(
        self, src: Any, dst: Any, flags: int = 0, src_dir_fd: int = AT_FDCWD, dst_dir_fd: int = AT_FDCWD
    ) -> int | None:
        """One regular file copied in one job (``flags``: 1 mode, 2 times, 4 times from before the
        copy); resolves to the bytes copied, or ``None`` if it was not a file this job copies
        (nothing done). Cancellation: the copy still completes (whole, or removed on failure)."""
        result: int | None = await self._fs_run("copyfileat", src, dst, flags, src_dir_fd, dst_dir_fd)
        return result

    async def listdirat(
        self, path: Any, flags: int = 0, dir_fd: int = AT_FDCWD, nbytes: int = 65536, keep_open: bool = False
    ) -> tuple[int, bytes, bool]:
        """Open a directory and read its raw records in one job; resolves to ``(fd, records, at_end)``
        (``fd`` -1: closed, the listing is whole; else the caller continues and closes it).

        Cancellation: the job still completes; an fd it left open is then closed for you.
        """
        inner = self._fs_future("listdirat", path, flags, dir_fd, nbytes, keep_open)
        try:
            result: tuple[int, bytes, bool] = await asyncio.shield(inner)
        except asyncio.CancelledError:
            inner.add_done_callback(self._fs_close_listing_orphan)
            raise
        return result

    def _fs_close_listing_orphan(self, future: asyncio.Future[Any]) -> None:
        """A ``listdirat`` whose awaiter was cancelled completed: close the fd it left open."""
        if future.cancelled() or future.exception() is not None or future.result()[0] < 0:
            return
        done: asyncio.Future[Any] = future.get_loop().create_future()
        done.set_result(future.result()[0])
        self._fs_close_orphan(done)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve a fire-and-forget close's outcome so asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()
