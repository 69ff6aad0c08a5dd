"""``tempfile``'s temporary files and directories as async context managers (aiofiles' ``aiofiles.tempfile``).

``async with TemporaryFile() as f`` (or ``f = await TemporaryFile()``) gives an
``aiofile.open`` file object; ``async with TemporaryDirectory() as name`` gives
the directory's name. Arguments are ``tempfile``'s. Files are created by the
engine's ``openat`` (``O_TMPFILE`` for ``TemporaryFile`` where the file system
has it), directories by ``mkdirat``, and cleaned up by ``unlinkat`` /
``aiofile.shutil.rmtree``: nothing blocks the loop on disk time (the first call
of ``tempfile.gettempdir()`` in the process, which ``tempfile`` itself caches,
aside).

Cleanup runs on leaving the ``async with`` block, also when the body raises
or its task is cancelled; a cancellation arriving during cleanup is delivered
after the cleanup finished.
"""

from __future__ import annotations

import base64
import errno
import io
import locale
import os
import tempfile as _tempfile
from collections.abc import Generator
from typing import Any

from . import _aio
from ._aiofiles_open import AiofilesContextManager, Position, adopt_fd
from ._binary import DEFAULT_BUFFER_SIZE
from ._defaults import as_asyncio_context, get_default_context
from ._file import _finish_uncancellable
from ._mode import check_text_args, parse_mode

__all__ = ["NamedTemporaryFile", "SpooledTemporaryFile", "TemporaryDirectory", "TemporaryFile"]

_TMP_MAX = 10000


def _candidate() -> str:
    return base64.b32encode(os.urandom(5)).decode("ascii").lower()


def _params(suffix: Any, prefix: Any, dir: Any) -> tuple[Any, Any, Any]:
    """``tempfile``'s rules: all ``str`` or all ``bytes``; defaults ``""``, ``"tmp"``, ``gettempdir()``."""
    given = [x for x in (suffix, prefix, dir) if x is not None]
    as_bytes = any(isinstance(x, bytes) for x in given)
    if as_bytes and not all(isinstance(x, bytes) for x in given if not isinstance(x, os.PathLike)):
        raise TypeError("Can't mix bytes and non-bytes in path components.")
    if suffix is None:
        suffix = b"" if as_bytes else ""
    if prefix is None:
        prefix = _tempfile.gettempprefixb() if as_bytes else _tempfile.gettempprefix()
    if dir is None:
        dir = _tempfile.gettempdirb() if as_bytes else _tempfile.gettempdir()
    return suffix, prefix, os.fspath(dir)


def _name(prefix: Any, suffix: Any, dir: Any) -> Any:
    middle: Any = _candidate()
    if isinstance(prefix, bytes):
        middle = middle.encode("ascii")
    return os.path.join(dir, prefix + middle + suffix)


async def _abspath(ctx: Any, path: Any) -> Any:
    if os.path.isabs(path):
        return os.path.normpath(path)
    cwd = await ctx.getcwd(isinstance(path, bytes))
    return os.path.normpath(os.path.join(cwd, path))


async def _create_file(ctx: Any, suffix: Any, prefix: Any, dir: Any, flags: int) -> tuple[int, Any]:
    """``mkstemp``'s loop through the engine: ``(fd, absolute name)``, mode 0o600."""
    for _ in range(_TMP_MAX):
        name = _name(prefix, suffix, dir)
        try:
            fd = await ctx.openat(name, flags | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        return fd, await _abspath(ctx, name)
    raise FileExistsError(errno.EEXIST, "No usable temporary file name found")


def _file_args(mode: str, buffering: int, encoding: Any, newline: Any, errors: Any) -> tuple[Any, int]:
    parsed = parse_mode(mode)
    check_text_args(parsed, encoding, errors, newline, buffering)
    if not parsed.binary and encoding is None:
        encoding = locale.getpreferredencoding(False)  # the builtin open()'s default
    return encoding, DEFAULT_BUFFER_SIZE if buffering < 0 or buffering == 1 else buffering


def _context(context: Any) -> Any:
    adapter = as_asyncio_context(context)
    return adapter if adapter is not None else get_default_context()


def TemporaryFile(  # noqa: N802 - tempfile's name
    mode: str = "w+b",
    buffering: int = -1,
    encoding: str | None = None,
    newline: str | None = None,
    suffix: Any = None,
    prefix: Any = None,
    dir: Any = None,
    *,
    errors: str | None = None,
    context: Any = None,
) -> AiofilesContextManager:
    """``tempfile.TemporaryFile``: an unnamed file (``O_TMPFILE``, else created and unlinked at once).

    ``await`` it or ``async with`` it (closed, and so gone, on exit). ``name`` is the fd.
    """
    encoding, buffer_size = _file_args(mode, buffering, encoding, newline, errors)
    flags = parse_mode(mode).flags & ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC | os.O_APPEND)

    suf, pre, directory = _params(suffix, prefix, dir)

    async def opening() -> Any:
        ctx = _context(context)
        tmpfile = getattr(os, "O_TMPFILE", 0)
        fd = -1
        if tmpfile:
            try:
                fd = await ctx.openat(directory, (flags & ~os.O_ACCMODE) | os.O_RDWR | tmpfile | os.O_EXCL, 0o600)
            except IsADirectoryError:  # the file system has no O_TMPFILE
                pass
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
        if fd < 0:
            fd, name = await _create_file(ctx, suf, pre, directory, flags)
            try:
                await ctx.unlinkat(name)
            except BaseException:
                await _finish_uncancellable(_aio.ensure_future(ctx.close_fd(fd)))
                raise
        return await adopt_fd(ctx, fd, fd, mode, encoding, errors, newline, buffer_size, context=context)

    return AiofilesContextManager(opening)


def NamedTemporaryFile(  # noqa: N802 - tempfile's name
    mode: str = "w+b",
    buffering: int = -1,
    encoding: str | None = None,
    newline: str | None = None,
    suffix: Any = None,
    prefix: Any = None,
    dir: Any = None,
    delete: bool = True,
    *,
    errors: str | None = None,
    delete_on_close: bool = True,
    context: Any = None,
) -> AiofilesContextManager:
    """``tempfile.NamedTemporaryFile``: a file with a ``name`` (absolute path), mode 0o600.

    With ``delete`` it is removed when closed (``delete_on_close``, the default)
    or, with ``delete_on_close=False``, on leaving ``async with`` (Python 3.12's
    rules, on every Python).
    """
    encoding, buffer_size = _file_args(mode, buffering, encoding, newline, errors)
    flags = parse_mode(mode).flags & ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC)

    params = _params(suffix, prefix, dir)

    async def opening() -> Any:
        ctx = _context(context)
        fd, name = await _create_file(ctx, *params, flags)

        async def remove() -> None:
            try:
                await ctx.unlinkat(name)
            except FileNotFoundError:
                pass

        try:
            made = await adopt_fd(ctx, fd, name, mode, encoding, errors, newline, buffer_size, context=context)
        except BaseException:
            await _finish_uncancellable(_aio.ensure_future(remove()))
            raise
        if delete and delete_on_close:
            made._after_closed = remove
        elif delete:
            manager._removal = remove
        return made

    manager = _NamedManager(opening)
    return manager


class _NamedManager(AiofilesContextManager):
    _removal: Any = None  # delete on leaving ``async with`` (delete_on_close=False)

    async def __aexit__(self, *exc: object) -> None:
        try:
            await super().__aexit__(*exc)
        finally:
            if self._removal is not None:
                await _finish_uncancellable(_aio.ensure_future(self._removal()))


class TemporaryDirectory:
    """``tempfile.TemporaryDirectory``: ``async with TemporaryDirectory() as name``; removed on exit.

    Made by ``mkdirat`` (mode 0o700) at ``async with``/``await``; ``await cleanup()``
    removes it (``aiofile.shutil.rmtree``), as leaving the block does, also when
    the body raises or is cancelled. ``ignore_cleanup_errors`` and ``delete``
    are ``tempfile``'s.
    """

    def __init__(
        self,
        suffix: Any = None,
        prefix: Any = None,
        dir: Any = None,
        ignore_cleanup_errors: bool = False,
        *,
        delete: bool = True,
        context: Any = None,
    ) -> None:
        self._params = _params(suffix, prefix, dir)
        self._ignore_cleanup_errors = ignore_cleanup_errors
        self._delete = delete
        self._context = context
        self.name: Any = None

    async def _make(self) -> Any:
        if self.name is None:
            ctx = _context(self._context)
            suffix, prefix, directory = self._params
            for _ in range(_TMP_MAX):
                name = _name(prefix, suffix, directory)
                try:
                    await ctx.mkdirat(name, 0o700)
                except FileExistsError:
                    continue
                self.name = await _abspath(ctx, name)
                break
            else:
                raise FileExistsError(errno.EEXIST, "No usable temporary directory name found")
        return self.name

    def __await__(self) -> Generator[Any, None, Any]:
        yield from self._make().__await__()
        return self

    async def __aenter__(self) -> Any:
        return await self._make()

    async def __aexit__(self, *exc: object) -> None:
        if self._delete:
            await self.cleanup()

    async def cleanup(self) -> None:
        """Remove the directory and everything in it (runs to the end even if cancelled)."""
        if self.name is None:
            return
        await _finish_uncancellable(_aio.ensure_future(self._remove()))

    async def _remove(self) -> None:
        from .shutil import rmtree

        name, self.name = self.name, None
        await rmtree(name, ignore_errors=self._ignore_cleanup_errors, context=self._context)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class SpooledTemporaryFile:
    """``tempfile.SpooledTemporaryFile``: in memory until past ``max_size`` (or ``fileno()``/``rollover()``).

    Then its content moves to an ``aiofile.tempfile.TemporaryFile`` and I/O
    goes through the engine. The I/O methods are coroutines in both states;
    ``seek``/``tell`` return awaitable ints, as the other file objects here.
    ``async with`` closes it.
    """

    def __init__(
        self,
        max_size: int = 0,
        mode: str = "w+b",
        buffering: int = -1,
        encoding: str | None = None,
        newline: str | None = None,
        suffix: Any = None,
        prefix: Any = None,
        dir: Any = None,
        *,
        errors: str | None = None,
        context: Any = None,
    ) -> None:
        parsed = parse_mode(mode)
        check_text_args(parsed, encoding, errors, newline, buffering)
        self._binary = parsed.binary
        memory: Any = io.BytesIO()
        if not self._binary:
            memory = io.TextIOWrapper(memory, encoding=encoding, errors=errors, newline=newline)
        self._file: Any = memory
        self._rolled = False
        self._max_size = max_size
        self._args = (mode, buffering, encoding, newline, suffix, prefix, dir)
        self._errors = errors
        self._context = context

    @property
    def _rolled_over(self) -> bool:
        return self._rolled

    async def rollover(self) -> None:
        """Move the content to a real temporary file (no-op when done already)."""
        if self._rolled:
            return
        mode, buffering, encoding, newline, suffix, prefix, dir = self._args
        memory = self._file
        target = await TemporaryFile(
            mode, buffering, encoding, newline, suffix, prefix, dir, errors=self._errors, context=self._context
        )
        if self._binary:
            position = memory.tell()
            await target.write(memory.getvalue())
            target.seek(position)
        else:
            # The bytes as encoded in memory, then the same character position.
            cookie, chars = memory.tell(), 0
            memory.seek(0)
            while memory.tell() != cookie and memory.read(1):
                chars += 1
            memory.flush()
            raw, ctx, written = memory.buffer.getvalue(), _context(self._context), 0
            while written < len(raw):  # the bytes as encoded, through the engine
                written += await ctx.write(memoryview(raw)[written:], target.fileno(), written)
            target.seek(0)
            if chars:
                await target.read(chars)
        memory.close()
        self._file = target
        self._rolled = True

    async def _check_size(self) -> None:
        if self._max_size and not self._rolled and self._file.tell() > self._max_size:
            await self.rollover()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return bool(self._file.closed)

    @property
    def mode(self) -> str:
        """The mode given (``"w+b"`` by default)."""
        return self._args[0] if not self._rolled else self._file.mode

    @property
    def name(self) -> Any:
        """``None`` in memory, the fd once rolled over (as ``tempfile``)."""
        return self._file.name if self._rolled else None

    @property
    def encoding(self) -> Any:
        """The text encoding (``AttributeError``-free: ``None`` for binary, as ``tempfile`` in memory)."""
        return getattr(self._file, "encoding", None)

    @property
    def newlines(self) -> Any:
        """The line ends seen so far in text mode."""
        return getattr(self._file, "newlines", None)

    async def fileno(self) -> int:
        """Roll over (a real fd is needed) and return it."""
        await self.rollover()
        return int(self._file.fileno())

    async def write(self, data: Any) -> int:
        """Write ``data``; may roll over."""
        if self._rolled:
            return int(await self._file.write(data))
        written = int(self._file.write(data))
        await self._check_size()
        return written

    async def writelines(self, lines: Any) -> None:
        """Write each line; may roll over."""
        for line in lines:
            await self.write(line)

    async def read(self, size: int | None = -1) -> Any:
        """Read up to ``size`` (``-1``: to the end)."""
        result = self._file.read(size)
        return (await result) if self._rolled else result

    async def readline(self, size: int | None = -1) -> Any:
        """Read one line."""
        result = self._file.readline(size)
        return (await result) if self._rolled else result

    async def readlines(self, hint: int = -1) -> list[Any]:
        """Read the remaining lines."""
        result = self._file.readlines(hint)
        return list(await result) if self._rolled else list(result)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> Position:
        """Move the position (no I/O); awaitable."""
        return Position(self._file.seek(offset, whence))

    def tell(self) -> Position:
        """The position (no I/O); awaitable."""
        return Position(self._file.tell())

    async def truncate(self, size: int | None = None) -> int:
        """Truncate at ``size`` (default: the position)."""
        result = self._file.truncate(size)
        return int(await result) if self._rolled else int(result)

    async def flush(self) -> None:
        """Write out what is buffered."""
        result = self._file.flush()
        if self._rolled:
            await result

    async def close(self) -> None:
        """Close (and so discard) the file. Idempotent; runs to the end even if cancelled."""
        if self._rolled:
            await self._file.close()
        else:
            self._file.close()

    def readable(self) -> bool:
        """Whether the mode allows reading."""
        return bool(self._file.readable())

    def writable(self) -> bool:
        """Whether the mode allows writing."""
        return bool(self._file.writable())

    def seekable(self) -> bool:
        """Always True."""
        return True

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    def __await__(self) -> Generator[Any, None, SpooledTemporaryFile]:
        yield from ()
        return self

    async def __aenter__(self) -> SpooledTemporaryFile:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
