"""How each participant does the I/O of a cell (runs inside the child process).

Positional workloads (W1-W5) use a ``PositionalIO``: ``open`` a file for a
cell, hand out one operation callable per in-flight slot (``op(worker)``,
taking an offset), ``datasync``, ``close``. File-object workloads (W6) use a
``FileObjects``: ``lines(path, n)`` and ``copy(src, dst, n)``.

Every participant gets the same files, offsets and sizes; only the way it
issues the I/O differs. Operations are ``functools.partial`` objects (a lambda where
a partial cannot express it) taking the offset as their last argument.
"""

from __future__ import annotations

import asyncio
import importlib
import mmap
import os
import random
import shutil
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from .participants import CAIO_VARIANTS, OUR_BACKENDS, PUBLIC_AIOFILE_DIR, Participant
from .workloads import Cell

COPY_CHUNK = 64 * 1024
Op = Callable[[int], Any]


def open_flags(cell: Cell) -> int:
    """``os.open`` flags for a positional cell."""
    flags = os.O_CLOEXEC
    if cell.kind == "write":
        return flags | os.O_RDWR
    if cell.kind == "direct":
        return flags | os.O_RDONLY | os.O_DIRECT
    return flags | os.O_RDONLY


def direct_opener(path: str, flags: int) -> int:
    """An ``opener=`` for ``open()``-like APIs that adds ``O_DIRECT``."""
    return os.open(path, flags | os.O_DIRECT | os.O_CLOEXEC)


def payload(size: int) -> bytes:
    """The bytes every participant writes in W4."""
    return random.Random(3).randbytes(size)


def aligned_buffers(cell: Cell) -> list[mmap.mmap]:
    """One page-aligned buffer (anonymous ``mmap``) per in-flight slot."""
    return [mmap.mmap(-1, cell.block) for _ in range(cell.depth)]


def our_asyncio_context(backend: str) -> Any:
    """A new ``AsyncioContext`` of our backend ``backend``, imported directly (no fallback)."""
    module = importlib.import_module(f"_linuxaio.{OUR_BACKENDS[backend]}_asyncio")
    return module.AsyncioContext()


def our_trio_context(backend: str) -> Any:
    """A new ``TrioContext`` of our backend ``backend`` (no fallback)."""
    from _linuxaio.trio_context import TrioContext

    return TrioContext(backend=backend)


def our_context(participant: Participant) -> Any:
    """The adapter of our ``participant``: a ``TrioContext`` for the trio rows, else an ``AsyncioContext``."""
    backend = _backend(participant)
    return our_trio_context(backend) if participant.trio else our_asyncio_context(backend)


async def close_context(ctx: Any) -> None:
    """Close an asyncio context: ``aclose()`` when it has one (ours), else ``close()`` (caio)."""
    aclose = getattr(ctx, "aclose", None)
    if aclose is not None:
        await aclose()
    else:
        ctx.close()


class PositionalIO:
    """Positional I/O on one file for one cell. Subclasses fill in the operations.

    ``synchronous`` participants return plain callables from ``op``; the
    others return callables that give awaitables.
    """

    synchronous = False

    async def open(self, cell: Cell, path: str) -> None:
        """Open ``path`` for ``cell`` (not timed)."""
        self.cell = cell
        self.payload = payload(cell.block)
        self.buffers = aligned_buffers(cell) if cell.kind == "direct" else []

    def op(self, worker: int) -> Op:
        """The operation of in-flight slot ``worker``: call it with an offset."""
        raise NotImplementedError

    async def datasync(self) -> None:
        """fdatasync(2) the file (W4)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release everything ``open`` made."""


class FdIO(PositionalIO):
    """Base for participants that work on a raw fd."""

    async def open(self, cell: Cell, path: str) -> None:
        await super().open(cell, path)
        self.fd = os.open(path, open_flags(cell))

    async def close(self) -> None:
        os.close(self.fd)


class EngineIO(FdIO):
    """An ``AsyncioContext`` (ours or caio's): ``read``/``write``/``readinto``/``fdsync``."""

    def __init__(self, make_context: Callable[[], Any]) -> None:
        self.make_context = make_context

    async def open(self, cell: Cell, path: str) -> None:
        await super().open(cell, path)
        self.ctx = self.make_context()  # inside the running loop: caio binds at construction

    def op(self, worker: int) -> Op:
        ctx, fd, block, kind = self.ctx, self.fd, self.cell.block, self.cell.kind
        if kind == "write":
            data = self.payload
            return partial(ctx.write, data, fd)
        if kind == "direct" and hasattr(ctx, "readinto"):
            buf = self.buffers[worker]
            return partial(ctx.readinto, buf, fd)
        # caio has no caller-buffer read: on O_DIRECT it tries its own buffer.
        return partial(ctx.read, block, fd)

    async def datasync(self) -> None:
        await self.ctx.fdsync(self.fd)

    async def close(self) -> None:
        try:
            await close_context(self.ctx)
        finally:
            await super().close()


class ToThreadIO(FdIO):
    """``asyncio.to_thread`` around ``os.pread``/``os.pwrite``/``os.preadv`` (default executor)."""

    def op(self, worker: int) -> Op:
        fd, block, kind = self.fd, self.cell.block, self.cell.kind
        to_thread = asyncio.to_thread
        if kind == "write":
            data = self.payload
            return lambda off: to_thread(os.pwrite, fd, data, off)
        if kind == "direct":
            bufs = [self.buffers[worker]]
            return lambda off: to_thread(os.preadv, fd, bufs, off)
        return lambda off: to_thread(os.pread, fd, block, off)

    async def datasync(self) -> None:
        await asyncio.to_thread(os.fdatasync, self.fd)


class SyncIO(FdIO):
    """The synchronous floor: ``os.pread``/``os.pwrite``/``os.preadv`` one at a time."""

    synchronous = True

    def op(self, worker: int) -> Op:
        fd, block, kind = self.fd, self.cell.block, self.cell.kind
        if kind == "write":
            data = self.payload
            return partial(os.pwrite, fd, data)
        if kind == "direct":
            bufs = [self.buffers[worker]]
            return partial(os.preadv, fd, bufs)
        return partial(os.pread, fd, block)

    async def datasync(self) -> None:
        os.fdatasync(self.fd)


class AiofilesIO(PositionalIO):
    """aiofiles has no positional API: one unbuffered handle per slot, ``seek`` then the call."""

    async def open(self, cell: Cell, path: str) -> None:
        import aiofiles  # type: ignore[import-untyped,unused-ignore]

        await super().open(cell, path)
        mode = "r+b" if cell.kind == "write" else "rb"
        opener = direct_opener if cell.kind == "direct" else None
        self.files = [await aiofiles.open(path, mode, buffering=0, opener=opener) for _ in range(cell.depth)]

    def op(self, worker: int) -> Op:
        f, block, kind = self.files[worker], self.cell.block, self.cell.kind
        data = self.payload
        buf = self.buffers[worker] if self.buffers else None

        async def read(off: int) -> Any:
            await f.seek(off)
            return await f.read(block)

        async def write(off: int) -> Any:
            await f.seek(off)
            return await f.write(data)

        async def readinto(off: int) -> Any:
            await f.seek(off)
            return await f.readinto(buf)

        return {"write": write, "direct": readinto}.get(kind, read)

    async def datasync(self) -> None:
        # aiofiles has no fsync/fdatasync of its own.
        await asyncio.to_thread(os.fdatasync, self.files[0].fileno())

    async def close(self) -> None:
        for f in self.files:
            await f.close()


class AiofileIO(PositionalIO):
    """Our ``aiofile.AIOFile`` (positional ``read_bytes(size, offset)``/``write_bytes(data, offset)``, the calls
    the public aiofile's row makes) on one backend."""

    def __init__(self, backend: str, make_context: Callable[[str], Any] = our_asyncio_context) -> None:
        self.backend = backend
        self.make_context = make_context

    async def open(self, cell: Cell, path: str) -> None:
        from aiofile import AIOFile  # type: ignore[attr-defined,unused-ignore]

        await super().open(cell, path)
        self.ctx = self.make_context(self.backend)
        mode = "r+b" if cell.kind == "write" else "rb"
        if cell.kind == "direct":
            self.afp = AIOFile(path, mode, context=self.ctx, opener=direct_opener)
        else:
            self.afp = AIOFile(path, mode, context=self.ctx)
        await self.afp.open()

    def op(self, worker: int) -> Op:
        afp, block, kind = self.afp, self.cell.block, self.cell.kind
        if kind == "write":
            data = self.payload
            return partial(afp.write_bytes, data)
        if kind == "direct":
            buf = self.buffers[worker]
            return partial(afp.readinto, buf)
        return partial(afp.read_bytes, block)

    async def datasync(self) -> None:
        await self.afp.fdsync()

    async def close(self) -> None:
        try:
            await self.afp.close()
        finally:
            await close_context(self.ctx)


class AsyncOpenIO(PositionalIO):
    """Our ``aiofile.async_open`` file objects: one per in-flight slot, ``seek`` (synchronous) then the call."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    async def open(self, cell: Cell, path: str) -> None:
        from aiofile import async_open  # type: ignore[attr-defined,unused-ignore]

        await super().open(cell, path)
        self.ctx = our_asyncio_context(self.backend)
        mode = "r+b" if cell.kind == "write" else "rb"
        self.files = [await async_open(path, mode, context=self.ctx) for _ in range(cell.depth)]

    def op(self, worker: int) -> Op:
        f, block, data = self.files[worker], self.cell.block, self.payload

        async def read(off: int) -> Any:
            f.seek(off)
            return await f.read(block)

        async def write(off: int) -> Any:
            f.seek(off)
            count = await f.write(data)
            await f.flush()  # done when awaited, as the positional rows are
            return count

        return write if self.cell.kind == "write" else read

    async def datasync(self) -> None:
        await self.ctx.fdsync(self.files[0].fileno())

    async def close(self) -> None:
        try:
            for f in self.files:
                await f.close()
        finally:
            await close_context(self.ctx)


class PublicAiofileIO(PositionalIO):
    """The public aiofile's ``AIOFile`` (installed apart, first on ``sys.path``) over one caio variant."""

    def __init__(self, variant: str) -> None:
        self.variant = variant

    async def open(self, cell: Cell, path: str) -> None:
        sys.path.insert(0, str(PUBLIC_AIOFILE_DIR))  # this child process runs this participant only
        import aiofile  # the public package, not ours

        if str(PUBLIC_AIOFILE_DIR) not in (aiofile.__file__ or ""):
            raise RuntimeError(f"imported {aiofile.__file__}, not the public aiofile in {PUBLIC_AIOFILE_DIR}")
        await super().open(cell, path)
        stem, kwargs = CAIO_VARIANTS[self.variant]
        self.ctx = importlib.import_module(f"caio.{stem}_asyncio").AsyncioContext(**kwargs)
        mode = "r+b" if cell.kind == "write" else "rb"
        self.afp = aiofile.AIOFile(path, mode, context=self.ctx)
        await self.afp.open()

    def op(self, worker: int) -> Op:
        afp = self.afp
        if self.cell.kind == "write":
            return partial(afp.write_bytes, self.payload)
        return partial(afp.read_bytes, self.cell.block)

    async def datasync(self) -> None:
        await self.afp.fdsync()

    async def close(self) -> None:
        try:
            await self.afp.close()
        finally:
            await close_context(self.ctx)


def _backend(participant: Participant) -> str:
    if participant.backend is None:
        raise ValueError(f"{participant.id} names no backend")
    return participant.backend


def positional(participant: Participant) -> PositionalIO:
    """The ``PositionalIO`` of ``participant``."""
    family = participant.family
    if family == "ours":
        backend = _backend(participant)
        return EngineIO(lambda: our_asyncio_context(backend))
    if family == "caio":
        stem, kwargs = CAIO_VARIANTS[_backend(participant)]
        module = importlib.import_module(f"caio.{stem}_asyncio")
        return EngineIO(lambda: module.AsyncioContext(**kwargs))
    if family == "aiofile":
        return AiofileIO(_backend(participant))
    if family == "trio-aiofile":
        return AiofileIO(_backend(participant), our_trio_context)
    if family in ("trio-open_file", "anyio-open_file"):
        return TrioFileIO(family)
    if family == "aiofile-open":
        return AsyncOpenIO(_backend(participant))
    if family == "aiofile-public":
        return PublicAiofileIO(_backend(participant))
    if family == "aiofiles":
        return AiofilesIO()
    if family == "to_thread":
        return ToThreadIO()
    if family == "sync":
        return SyncIO()
    raise ValueError(f"{participant.id} has no positional I/O")


class TrioFileIO(PositionalIO):
    """``trio.open_file``/``anyio.open_file`` under trio: no positional API, so seek then the call (two thread
    trips), one file per in-flight slot, as aiofiles runs."""

    def __init__(self, family: str) -> None:
        self.family = family

    async def open(self, cell: Cell, path: str) -> None:
        await super().open(cell, path)
        opener = _trio_opener(self.family)
        mode = "r+b" if cell.kind == "write" else "rb"
        self.files = [await opener(path, mode) for _ in range(cell.depth)]

    def op(self, worker: int) -> Op:
        f, block, kind = self.files[worker], self.cell.block, self.cell.kind

        async def read(off: int) -> Any:
            await f.seek(off)
            return await f.read(block)

        async def write(off: int) -> Any:
            await f.seek(off)
            return await f.write(self.payload)

        return write if kind == "write" else read

    async def datasync(self) -> None:
        import trio

        await trio.to_thread.run_sync(os.fdatasync, self.files[0].fileno())

    async def close(self) -> None:
        for f in self.files:
            await f.aclose()


def _trio_opener(family: str) -> Callable[..., Any]:
    if family == "anyio-open_file":
        import anyio

        return anyio.open_file
    import trio

    return trio.open_file


# -- file objects (W6) -------------------------------------------------------------------


class FileObjects:
    """Line iteration, line writes and chunked copy through some file-object API.

    ``n`` is how many lines (``lines``) or 64 KiB chunks (``copy``) to
    process; ``None`` means the whole file. Each returns the lines read or
    written or the bytes copied. Opening and closing are inside the timed call.
    """

    async def lines(self, path: str, n: int | None) -> int:
        raise NotImplementedError

    async def line_reader(self, path: str, n: int | None) -> int:
        """aiofile's ``LineReader`` over an ``AIOFile`` opened ``"r"`` (UTF-8); ``lines`` where no such API exists."""
        return await self.lines(path, n)

    async def write_lines(self, path: str, lines: list[str]) -> int:
        """Open ``path`` with ``"w"`` (UTF-8), ``write`` each line in its own call, close."""
        raise NotImplementedError

    async def copy(self, src: str, dst: str, n: int | None) -> int:
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the participant holds across calls."""


class AiofileObjects(FileObjects):
    """``aiofile.async_open`` (text mode for lines, binary for the copy) on one backend."""

    def __init__(self, backend: str, make_context: Callable[[str], Any] = our_asyncio_context) -> None:
        from aiofile import async_open  # type: ignore[attr-defined,unused-ignore]

        self.async_open = async_open
        self.ctx = make_context(backend)

    async def lines(self, path: str, n: int | None) -> int:
        count = 0
        async with self.async_open(path, "r", context=self.ctx) as f:
            async for _line in f:
                count += 1
                if count == n:
                    break
        return count

    async def line_reader(self, path: str, n: int | None) -> int:
        from aiofile import AIOFile, LineReader  # type: ignore[attr-defined,unused-ignore]

        count = 0
        async with AIOFile(path, "r", encoding="utf-8", context=self.ctx) as afp:
            async for _line in LineReader(afp):
                count += 1
                if count == n:
                    break
        return count

    async def write_lines(self, path: str, lines: list[str]) -> int:
        async with self.async_open(path, "w", encoding="utf-8", context=self.ctx) as f:
            for line in lines:
                await f.write(line)
        return len(lines)

    async def copy(self, src: str, dst: str, n: int | None) -> int:
        copied = 0
        async with self.async_open(src, "rb", context=self.ctx) as s, self.async_open(dst, "wb", context=self.ctx) as d:
            while n is None or copied < n * COPY_CHUNK:
                chunk = await s.read(COPY_CHUNK)
                if not chunk:
                    break
                await d.write(chunk)
                copied += len(chunk)
        return copied

    async def close(self) -> None:
        await close_context(self.ctx)


class AiofilesObjects(FileObjects):
    """``aiofiles.open`` (default buffering): every call is one trip to a worker thread."""

    async def lines(self, path: str, n: int | None) -> int:
        import aiofiles

        count = 0
        async with aiofiles.open(path) as f:
            async for _line in f:
                count += 1
                if count == n:
                    break
        return count

    async def write_lines(self, path: str, lines: list[str]) -> int:
        import aiofiles

        async with aiofiles.open(path, "w", encoding="utf-8") as f:
            for line in lines:
                await f.write(line)
        return len(lines)

    async def copy(self, src: str, dst: str, n: int | None) -> int:
        import aiofiles

        copied = 0
        async with aiofiles.open(src, "rb") as s, aiofiles.open(dst, "wb") as d:
            while n is None or copied < n * COPY_CHUNK:
                chunk = await s.read(COPY_CHUNK)
                if not chunk:
                    break
                await d.write(chunk)
                copied += len(chunk)
        return copied


class SyncObjects(FileObjects):
    """The floor: ``for line in open(...)``, an ``open(..., "w")`` write loop and ``shutil.copyfileobj`` (blocking)."""

    async def lines(self, path: str, n: int | None) -> int:
        from itertools import islice

        with open(path) as f:
            if n is None:
                count = 0
                for _line in f:
                    count += 1
                return count
            for _line in islice(f, n):
                pass
        return n

    async def write_lines(self, path: str, lines: list[str]) -> int:
        with open(path, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line)
        return len(lines)

    async def copy(self, src: str, dst: str, n: int | None) -> int:
        with open(src, "rb") as s, open(dst, "wb") as d:
            if n is None:
                shutil.copyfileobj(s, d, COPY_CHUNK)
                return d.tell()
            copied = 0
            for _ in range(n):
                chunk = s.read(COPY_CHUNK)
                if not chunk:
                    break
                d.write(chunk)
                copied += len(chunk)
            return copied


class TrioFileObjects(FileObjects):
    """``trio.open_file``/``anyio.open_file`` under trio: ``async for line`` and chunked copy (a thread trip each)."""

    def __init__(self, family: str) -> None:
        self.opener = _trio_opener(family)

    async def lines(self, path: str, n: int | None) -> int:
        count = 0
        async with await self.opener(path) as f:
            async for _line in f:
                count += 1
                if count == n:
                    break
        return count

    async def write_lines(self, path: str, lines: list[str]) -> int:
        async with await self.opener(path, "w", encoding="utf-8") as f:
            for line in lines:
                await f.write(line)
        return len(lines)

    async def copy(self, src: str, dst: str, n: int | None) -> int:
        copied = 0
        async with await self.opener(src, "rb") as s, await self.opener(dst, "wb") as d:
            while n is None or copied < n * COPY_CHUNK:
                chunk = await s.read(COPY_CHUNK)
                if not chunk:
                    break
                await d.write(chunk)
                copied += len(chunk)
        return copied


def file_objects(participant: Participant) -> FileObjects:
    """The ``FileObjects`` of ``participant`` (call inside the running loop)."""
    if participant.family == "aiofile":
        return AiofileObjects(_backend(participant))
    if participant.family == "trio-aiofile":
        return AiofileObjects(_backend(participant), our_trio_context)
    if participant.family in ("trio-open_file", "anyio-open_file"):
        return TrioFileObjects(participant.family)
    if participant.family == "aiofiles":
        return AiofilesObjects()
    if participant.family == "sync":
        return SyncObjects()
    raise ValueError(f"{participant.id} has no file-object API")


def check_result(cell: Cell, result: Any) -> None:
    """Raise when a positional operation did not move a whole block (warm-up check)."""
    got = len(result) if isinstance(result, (bytes, bytearray)) else result
    if got != cell.block:
        raise RuntimeError(f"{cell.kind} moved {got!r} bytes, expected {cell.block}")
