"""``LineBatch`` and ``AsyncLines``: the hot loop of ``async for line`` (file objects, ``LineReader``).

The compiled ``_linuxaio._lines`` (shared core, no backend) is used when it
is built: it hands out each line with no coroutine or generator frame. The
pure-Python classes below are its fallback, with the same behaviour.

``LineBatch(chars, start, end, sep)``: the lines of ``chars[start:end]``
(``str`` or ``bytes``), ``end`` just after a ``sep``; ``take()`` gives the
next line and advances ``position()``; ``stop()`` ends it early.
``AsyncLines(refill)``: ``async for``'s iterator; lines of its ``batch``
first, then ``await refill(self)`` (which may set a new ``batch``, returns a
line or raises ``StopAsyncIteration``).
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any

__all__ = ["AsyncLines", "LineBatch"]


class _LineBatch:
    """Pure-Python ``LineBatch`` (see the module docstring)."""

    __slots__ = ("chars", "end", "pos", "sep")

    def __init__(self, chars: Any, start: int, end: int, sep: Any) -> None:
        if type(chars) not in (str, bytes):
            raise TypeError(f"chars must be str or bytes, not {type(chars).__name__}")
        if type(sep) is not type(chars):
            raise TypeError(f"sep must be {type(chars).__name__} for {type(chars).__name__} lines")
        if not 0 <= start <= end <= len(chars):
            raise ValueError("start and end must satisfy 0 <= start <= end <= len(chars)")
        if not sep:
            raise ValueError("sep must not be empty")
        self.chars = chars
        self.sep = sep
        self.pos = start
        self.end = end

    def position(self) -> int:
        """Where the last line handed out ends (``start`` before the first)."""
        return self.pos

    def stop(self) -> None:
        """Give out nothing more."""
        self.pos = self.end

    def __len__(self) -> int:
        """Characters (bytes) not handed out yet."""
        return self.end - self.pos

    def take(self) -> Any:
        """The next line (up to and including ``sep``); empty when the batch is used up."""
        pos, end = self.pos, self.end
        if pos >= end:
            return self.chars[0:0]
        stop = self.chars.find(self.sep, pos, end)
        stop = end if stop < 0 else stop + len(self.sep)
        self.pos = stop
        return self.chars[pos:stop]


@types.coroutine
def _ready(line: Any) -> Generator[Any, None, Any]:
    """An awaitable that completes at once with ``line``."""
    return line
    yield  # type: ignore[unreachable]  # pragma: no cover - makes this a generator


class _AsyncLines:
    """Pure-Python ``AsyncLines`` (see the module docstring)."""

    __slots__ = ("batch", "refill")

    def __init__(self, refill: Callable[[Any], Awaitable[Any]]) -> None:
        self.refill = refill
        self.batch: Any = None

    def __aiter__(self) -> _AsyncLines:
        return self

    def __anext__(self) -> Awaitable[Any]:
        batch = self.batch
        if batch is not None and len(batch):
            return _ready(batch.take())
        return self.refill(self)


LineBatch: Any
AsyncLines: Any
try:
    from _linuxaio._lines import AsyncLines, LineBatch
except ImportError:  # not built (AIOFILE_NO_EXTENSIONS, another platform): the same in Python
    LineBatch, AsyncLines = _LineBatch, _AsyncLines
