"""aiofiles' surface on aiofile's file objects: ``open``, ``wrap`` and the std streams.

``open(file, mode, buffering, encoding, errors, newline, closefd, opener, *, context)``
has the builtin's signature and returns what ``aiofiles.open`` returns: an
object to ``await`` or ``async with``, giving an ``AsyncBufferedFile`` (binary)
or ``AsyncTextFile`` (text). They are ``async_open``'s file objects with
aiofiles' conventions: ``seek()`` and ``tell()`` return the position as an
``int`` that may also be awaited (``await f.seek(0)``, ``await f.tell()``),
and ``encoding=None`` means the builtin's default (the locale's).

A path opened without an ``opener`` is opened by the context's ``openat``
(the engine's pool or ring, never a blocking ``open()`` on the loop) and its
fd is closed by ``close_fd`` the same way.
"""

from __future__ import annotations

import errno
import locale
import os
import stat
import sys
import warnings
import weakref
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from . import _aio
from ._binary import DEFAULT_BUFFER_SIZE, BinaryFileWrapper
from ._defaults import as_asyncio_context, get_default_context
from ._file import AIOFile, Opener, _finish_uncancellable
from ._mode import check_text_args, parse_mode
from ._text import TextFileWrapper
from .os import settled

__all__ = [
    "AiofilesContextManager",
    "AsyncBufferedFile",
    "AsyncTextFile",
    "open",
    "std_stream",
    "wrap",
]

_AT_EMPTY_PATH = 0x1000


class Position(int):
    """A file position that is also awaitable (aiofiles' ``await f.seek(0)``, ``await f.tell()``)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, int]:
        yield from ()  # nothing to wait for
        return int(self)


class _AiofilesConventions:
    """``seek``/``tell`` that work with and without ``await``; the fd opened by ``openat`` closed by ``close_fd``."""

    _owned: tuple[Any, int, weakref.finalize[Any, Any]] | None = None
    #: Run after the file is closed (``aiofile.tempfile`` removes a named file there).
    _after_closed: Callable[[], Awaitable[None]] | None = None

    _given_name: Any = None

    @property
    def name(self) -> Any:
        """The path (``str``, ``bytes`` or ``PathLike``'s ``str``) or fd given, as the builtin file's ``name``."""
        return self._given_name if self._given_name is not None else super().name  # type: ignore[misc]

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> Position:
        """As the builtin file's ``seek`` (no I/O); the result may be awaited, as in aiofiles."""
        return Position(super().seek(offset, whence))  # type: ignore[misc]

    def tell(self) -> Position:
        """As the builtin file's ``tell`` (no I/O); the result may be awaited, as in aiofiles."""
        return Position(super().tell())  # type: ignore[misc]

    def _own_fd(self, adapter: Any, fd: int) -> None:
        self._owned = (adapter, fd, weakref.finalize(self, _close_forgotten, fd, repr(self)))

    async def close(self) -> None:
        """Write out what is buffered and close (idempotent); an fd this object opened is closed by ``close_fd``.

        Cancellation: the close runs to the end; the cancellation is delivered afterwards.
        """
        try:
            await super().close()  # type: ignore[misc]
        finally:
            owned = self._owned
            if owned is not None and self.file.closed:  # type: ignore[attr-defined]
                self._owned = None
                adapter, fd, finalizer = owned
                finalizer.detach()
                await _finish_uncancellable(_aio.ensure_future(_close_fd(adapter, fd)))
            after, self._after_closed = self._after_closed, None
            if after is not None and self.file.closed:  # type: ignore[attr-defined]
                await _finish_uncancellable(_aio.ensure_future(after()))


async def _close_fd(adapter: Any, fd: int) -> None:
    try:
        await adapter.close_fd(fd)
    except ValueError:  # the context was closed meanwhile: close here (cheap for a file's fd)
        os.close(fd)


def _close_forgotten(fd: int, name: str) -> None:
    warnings.warn(f"unclosed file {name}", ResourceWarning, stacklevel=2)
    try:
        os.close(fd)
    except OSError:
        pass


class AsyncBufferedFile(_AiofilesConventions, BinaryFileWrapper):
    """A binary file of ``aiofile.open``: ``BinaryFileWrapper`` with awaitable ``seek``/``tell``.

    Cancellation: as ``BinaryFileWrapper``.
    """


class AsyncTextFile(_AiofilesConventions, TextFileWrapper):
    """A text file of ``aiofile.open``: ``TextFileWrapper`` with awaitable ``seek``/``tell``.

    Cancellation: as ``TextFileWrapper``.
    """


class AiofilesContextManager:
    """What ``open()`` returns: ``await`` it for the file, or ``async with`` it (closed on exit)."""

    def __init__(self, opening: Any) -> None:
        self._opening = opening
        self._file: Any = None

    async def _get(self) -> Any:
        if self._file is None:
            self._file = await self._opening()
        return self._file

    def __await__(self) -> Generator[Any, None, Any]:
        return self._get().__await__()

    async def __aenter__(self) -> Any:
        return await self._get()

    async def __aexit__(self, *exc: object) -> None:
        if self._file is not None:
            await self._file.close()


def open(
    file: Any,
    mode: str = "r",
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    closefd: bool = True,
    opener: Opener | None = None,
    *,
    context: Any = None,
) -> AiofilesContextManager:
    """Open ``file`` as the builtin ``open()`` does; ``await`` the result or use ``async with``.

    Arguments are validated here, with the builtin's errors; the file is opened
    when awaited. ``encoding=None`` is the builtin's default (the locale's).
    ``context``: an ``AsyncioContext`` or raw ``Context``; default: the running
    loop's. A path without ``opener`` is opened by the context's ``openat``.

    Cancellation: an open cancelled midway leaks no fd (see ``openat``).
    """
    parsed = parse_mode(mode)
    if not isinstance(buffering, int):
        raise TypeError(f"'{type(buffering).__name__}' object cannot be interpreted as an integer")
    check_text_args(parsed, encoding, errors, newline, buffering)
    if buffering == 1 and parsed.binary:
        warnings.warn(
            "line buffering (buffering=1) isn't supported in binary mode, the default buffer size will be used",
            RuntimeWarning,
            stacklevel=2,
        )
    if isinstance(file, bool) or not isinstance(file, (str, bytes, os.PathLike, int)):
        raise TypeError(f"expected str, bytes or os.PathLike object, not {type(file).__name__}")
    if not isinstance(file, int) and not closefd:
        raise ValueError("Cannot use closefd=False with file name")
    if not parsed.binary and encoding is None:
        encoding = locale.getpreferredencoding(False)
    buffer_size = DEFAULT_BUFFER_SIZE if buffering < 0 or buffering == 1 else buffering
    adapter = as_asyncio_context(context)

    async def opening() -> Any:
        if isinstance(file, int) and opener is None and closefd:  # ours to close, by close_fd
            ctx = adapter if adapter is not None else get_default_context()
            return await adopt_fd(ctx, file, file, mode, encoding, errors, newline, buffer_size, context=adapter)
        if isinstance(file, int) or opener is not None:  # opener= runs as async_open runs it
            afp = AIOFile(file, mode, encoding=encoding or "utf-8", context=adapter, opener=opener, closefd=closefd)
            return await _make(afp, parsed.binary, encoding, errors, newline, buffer_size)
        ctx = adapter if adapter is not None else get_default_context()
        fd = await ctx.openat(file, parsed.flags, 0o666)
        if not parsed.writable:  # open(2) refuses writing to a directory; the builtin refuses reading too
            try:
                st = await settled(ctx.statx(b"", _AT_EMPTY_PATH, dir_fd=fd))  # before fd may be closed
            except BaseException:
                await _finish_uncancellable(_aio.ensure_future(_close_fd(ctx, fd)))
                raise
            if stat.S_ISDIR(st.st_mode):
                await _finish_uncancellable(_aio.ensure_future(_close_fd(ctx, fd)))
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(file))
        return await adopt_fd(ctx, fd, file, mode, encoding, errors, newline, buffer_size, context=adapter)

    return AiofilesContextManager(opening)


async def adopt_fd(
    ctx: Any,
    fd: int,
    name: Any,
    mode: str,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
    buffer_size: int,
    *,
    context: Any = None,
) -> Any:
    """A file object of ``open`` over ``fd`` (opened by ``ctx.openat``), which it owns and closes by ``close_fd``.

    On failure ``fd`` is closed before the exception propagates.
    """
    try:
        afp = AIOFile(fd, mode, encoding=encoding or "utf-8", context=context, closefd=False)
        await afp.open()  # adopts fd (no system call that waits for a disk)
        afp._filename = name  # then: name is the path (or the fd), as the builtin's
        made = await _make(afp, afp.mode.binary, encoding, errors, newline, buffer_size)
    except BaseException:
        await _finish_uncancellable(_aio.ensure_future(_close_fd(ctx, fd)))
        raise
    made._own_fd(ctx, fd)
    made._given_name = os.fspath(name) if isinstance(name, os.PathLike) else name
    return made


async def _make(
    afp: AIOFile, binary: bool, encoding: str | None, errors: str | None, newline: str | None, buffer_size: int
) -> Any:
    made: Any
    if binary:
        made = AsyncBufferedFile(afp, buffer_size=buffer_size)
    else:
        made = AsyncTextFile(afp, encoding=encoding, errors=errors, newline=newline, buffer_size=buffer_size)
    await made._open()
    return made


def wrap(fp: Any, *, context: Any = None) -> Any:
    """An async file object over the open file object ``fp`` (aiofiles' ``wrap``), usable at once.

    It shares ``fp``'s fd, mode and encoding, starts at ``fp``'s position, and
    ``close()`` leaves ``fp`` open (``fp`` owns the fd).
    """
    afp = AIOFile.from_fp(fp, context=context)
    made: Any
    if afp.mode.binary:
        made = AsyncBufferedFile(afp)
    else:
        made = AsyncTextFile(afp, encoding=afp.encoding, errors=getattr(fp, "errors", None))
    _start_now(made)
    return made


def _start_now(made: Any) -> None:
    """Run ``made._open()``: the file is open already, so it finishes without suspending."""
    coroutine = made._open()
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("an adopted file should start without waiting")


_STD_STREAMS = {
    "stdin": ("stdin", False),
    "stdout": ("stdout", False),
    "stderr": ("stderr", False),
    "stdin_bytes": ("stdin", True),
    "stdout_bytes": ("stdout", True),
    "stderr_bytes": ("stderr", True),
}


def std_stream(name: str) -> Any:
    """``stdin``/``stdout``/``stderr`` (text, ``sys.std*``'s encoding) or their ``_bytes`` forms, wrapped.

    Made when first asked for (``aiofile.stdout``), on the current ``sys.__std*__``
    file descriptors (0, 1, 2). Writes are buffered: ``await aiofile.stdout.flush()``.
    """
    stream_name, binary = _STD_STREAMS[name]
    stream = getattr(sys, f"__{stream_name}__")
    if stream is None:
        raise AttributeError(f"sys.__{stream_name}__ is None: no {name} here")
    if binary:
        stream = stream.buffer
    return wrap(stream)
