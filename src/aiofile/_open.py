"""``async_open``: file objects like ``open()``'s, and ``clone``.

Positional arguments after ``mode`` follow ``open()`` (``buffering``,
``encoding``, ``errors``, ``newline``, ``closefd``, ``opener``) when the first
is an ``int``, and aiofile 3.x (``encoding``, ``context``, ``executor``) when
it is a ``str``, so code written for either keeps working.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Generator
from typing import Any

from ._binary import DEFAULT_BUFFER_SIZE, BinaryFileWrapper, FileIOWrapperBase
from ._file import AIOFile, Opener
from ._mode import check_text_args, parse_mode
from ._text import TextFileWrapper

__all__ = ["FileIOCloner", "async_open", "clone"]

_OPEN_ORDER = ("buffering", "encoding", "errors", "newline", "closefd", "opener")
_AIOFILE_ORDER = ("encoding", "context", "executor")


def async_open(
    file: Any,
    mode: str | None = None,
    *args: Any,
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    closefd: bool = True,
    opener: Opener | None = None,
    context: Any = None,
    executor: Any = None,
) -> BinaryFileWrapper | TextFileWrapper:
    """Open ``file`` like ``open()``; returns a file object to ``await`` or use with ``async with``.

    Args:
        file: a path (``str``, ``bytes``, ``pathlib.Path``), an fd (``int``),
            or an open file object (its fd is shared; its encoding is used).
        mode: as ``open()`` (default ``"r"``; for a file object, its own mode).
        buffering, encoding, errors, newline, closefd, opener: as
            ``open()``, with its validation and messages. ``buffering``
            is the read-ahead/write-buffer size in bytes (default 64 KiB);
            ``0`` (binary only) means unbuffered, e.g. for ``O_DIRECT``.
            ``encoding`` defaults to UTF-8 (``open()`` uses the locale's).
        context: an ``AsyncioContext`` or raw ``Context``; default: the
            running loop's default context, looked up at first I/O.
        executor: runs the blocking ``open``/``close``/``ftruncate`` calls.

    Returns:
        ``BinaryFileWrapper`` for a ``b`` mode, else ``TextFileWrapper``. The
        file is opened by ``await`` or ``async with`` (not by this call).
    """
    if args:
        names = _AIOFILE_ORDER if isinstance(args[0], str) else _OPEN_ORDER
        if len(args) > len(names):
            raise TypeError(f"async_open() takes at most {len(names) + 2} positional arguments")
        given = dict(zip(names, args, strict=False))
        local = {
            "buffering": buffering,
            "encoding": encoding,
            "errors": errors,
            "newline": newline,
            "closefd": closefd,
            "opener": opener,
            "context": context,
            "executor": executor,
        }
        local.update(given)
        buffering, encoding, errors = local["buffering"], local["encoding"], local["errors"]
        newline, closefd, opener = local["newline"], local["closefd"], local["opener"]
        context, executor = local["context"], local["executor"]

    if mode is None:
        is_path = not hasattr(file, "fileno") or isinstance(file, (str, bytes, os.PathLike, int))
        mode = "r" if is_path else _fp_mode(file)
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
    buffer_size = DEFAULT_BUFFER_SIZE if buffering < 0 or buffering == 1 else buffering

    if isinstance(file, (str, bytes, os.PathLike, int)) and not isinstance(file, bool):
        afp = AIOFile(
            file,
            mode,
            encoding=encoding or "utf-8",
            context=context,
            executor=executor,
            opener=opener,
            closefd=closefd,
        )
    elif hasattr(file, "fileno"):
        kwargs: dict[str, Any] = {"mode": mode, "context": context, "executor": executor}
        if encoding is not None:
            kwargs["encoding"] = encoding
        afp = AIOFile.from_fp(file, **kwargs)
    else:
        raise TypeError(f"expected str, bytes, os.PathLike, int or a file object, not {type(file).__name__}")

    if parsed.binary:
        return BinaryFileWrapper(afp, buffer_size=buffer_size)
    return TextFileWrapper(afp, encoding=afp.encoding, errors=errors, newline=newline, buffer_size=buffer_size)


def _fp_mode(fp: Any) -> str:
    from ._file import _mode_of

    return _mode_of(fp)


class FileIOCloner:
    """The result of ``clone(file_object)``: ``await`` it, or ``async with`` it (closed on exit).

    The clone is a new file object of the same class on the same fd
    (``AIOFile.clone`` reference count) with its own position, which starts
    at 0 (at the end of the file in append mode), as in aiofile 3.x, not at
    the source's position. The fd closes when the source and every clone
    are closed.
    """

    def __init__(self, source: FileIOWrapperBase) -> None:
        self._source = source
        self._clone: FileIOWrapperBase | None = None

    async def _make(self) -> FileIOWrapperBase:
        if self._clone is None:
            source = self._source
            source._check_open()
            afp = await source.file.clone()
            if isinstance(source, TextFileWrapper):
                clone: FileIOWrapperBase = TextFileWrapper(
                    afp,
                    encoding=source.encoding,
                    errors=source.errors,
                    newline=source.newline,
                    offset=0,
                    buffer_size=source._buffer_size,
                )
            else:
                clone = type(source)(afp, offset=0, buffer_size=source._buffer_size)
            await clone._open()
            if afp._appends and afp.seekable():
                clone.seek(0, os.SEEK_END)  # type: ignore[attr-defined]
            self._clone = clone
        return self._clone

    def __await__(self) -> Generator[Any, None, Any]:
        return self._make().__await__()

    async def __aenter__(self) -> Any:
        return await self._make()

    async def __aexit__(self, *exc: object) -> None:
        if self._clone is not None:
            await self._clone.close()


def clone(file_object: FileIOWrapperBase) -> FileIOCloner:
    """A second file object on ``file_object``'s fd with an independent position.

    ``await clone(f)`` or ``async with clone(f) as g``. See ``FileIOCloner``.
    """
    return FileIOCloner(file_object)
