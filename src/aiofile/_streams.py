"""Sequential helpers over an ``AIOFile``: ``Reader``, ``Writer``, ``LineReader`` (aiofile 3.x).

Each keeps its own byte offset into the file and never touches the file
objects' positions. Text is decoded with an incremental decoder that carries
a character split across chunks to the next chunk (no re-reads).
"""

from __future__ import annotations

import codecs
from typing import Any

from . import _aio
from ._file import AIOFile
from ._lines import AsyncLines, LineBatch

__all__ = ["ENCODING_MAP", "LineReader", "Reader", "Writer", "unicode_reader"]


def _aiofile(afp: Any) -> AIOFile:
    """Accept an ``AIOFile`` or a file object from ``async_open`` (its ``.file``)."""
    if isinstance(afp, AIOFile):
        return afp
    inner = getattr(afp, "file", None)
    if isinstance(inner, AIOFile):
        return inner
    raise TypeError(f"expected an AIOFile, not {type(afp).__name__}")


class Reader:
    """Read ``afp`` in chunks from ``offset``: ``await reader.read_chunk()`` or ``async for chunk in reader``.

    Binary files give ``bytes`` of ``chunk_size`` bytes (shorter at EOF);
    text files give ``str`` decoded from ``chunk_size`` bytes at a time (a
    character split by a chunk border comes with the next chunk). An empty
    chunk means EOF, and ``read_chunk()`` keeps returning it after EOF.

    Cancellation: a cancelled ``read_chunk()`` consumes nothing (the offset
    does not move).
    """

    CHUNK_SIZE = 32 * 1024

    __slots__ = ("_binary", "_decoder", "_lock", "chunk_size", "encoding", "file", "offset")

    def __init__(self, aio_file: Any, offset: int = 0, chunk_size: int = CHUNK_SIZE) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.file = _aiofile(aio_file)
        self.offset = offset
        self.chunk_size = chunk_size
        self.encoding = self.file.encoding
        self._lock = _aio.Lock()
        self._binary = self.file.mode.binary
        self._decoder = None if self._binary else codecs.getincrementaldecoder(self.encoding)()

    async def read_chunk(self) -> bytes | str:
        """The next chunk (``b""``/``""`` at EOF)."""
        async with self._lock:
            return await self._read_chunk_unlocked()

    async def _read_chunk_unlocked(self) -> bytes | str:
        """``read_chunk``'s body, for a caller that holds this reader's lock or owns the reader."""
        if self._binary:
            data = await self.file.read_bytes(self.chunk_size, self.offset)
            self.offset += len(data)
            return data
        decoder = self._decoder
        assert decoder is not None  # text mode
        while True:
            data = await self.file.read_bytes(self.chunk_size, self.offset)
            self.offset += len(data)
            text: str = decoder.decode(data, not data)
            if text or not data:
                return text

    def __aiter__(self) -> Reader:
        return self

    async def __anext__(self) -> bytes | str:
        chunk = await self.read_chunk()
        if not chunk:
            raise StopAsyncIteration
        return chunk


class Writer:
    """Write sequentially from ``offset``: ``await writer(data)``.

    ``str`` is encoded with the file's encoding (in binary files too, as in
    aiofile 3.x); bytes-like objects are written as they are. Writes are
    serialized (the lock is held across the I/O) and each writes everything
    or raises.

    Cancellation: a cancelled write may still land; the offset moves only
    after a complete write.
    """

    __slots__ = ("_lock", "file", "offset")

    def __init__(self, aio_file: Any, offset: int = 0) -> None:
        self.file = _aiofile(aio_file)
        self.offset = offset
        self._lock = _aio.Lock()

    async def __call__(self, data: Any) -> None:
        if isinstance(data, str):
            data = data.encode(self.file.encoding)
        async with self._lock:
            written = await self.file.write_bytes(data, self.offset)
            self.offset += written


class LineReader:
    """Lines of ``afp`` from ``offset``, each ending with ``line_sep`` (the last may not).

    ``line_sep`` may be any string (encoded with the file's encoding for a
    binary file), including several characters split across chunk borders.
    ``await reader.readline()`` returns ``""``/``b""`` at EOF, and keeps
    doing so; ``async for line in reader`` stops there. Lines are split in
    memory: one read per ``max(chunk_size, MIN_READ)`` bytes, never per line.

    Cancellation: a cancelled ``readline()`` loses nothing (the data read so
    far stays buffered).
    """

    CHUNK_SIZE = 4192
    #: Bytes read per refill at the least, whatever ``chunk_size`` says: a line reader's cost is
    #: per read, and at aiofile 3.x's 4192 it runs at half the speed of ``for line in open()``
    #: (64 KiB: level with it). Only the memory held differs; the lines are the same.
    MIN_READ = 64 * 1024

    __slots__ = ("_batch", "_buffer", "_empty", "_lock", "_pos", "_reader", "_sep")

    def __init__(
        self, aio_file: Any, offset: int = 0, chunk_size: int = CHUNK_SIZE, line_sep: str | bytes = "\n"
    ) -> None:
        if chunk_size > 0:  # (Reader rejects the others)
            chunk_size = max(chunk_size, self.MIN_READ)
        self._reader = Reader(aio_file, offset=offset, chunk_size=chunk_size)
        binary = self._reader.file.mode.binary
        if binary and isinstance(line_sep, str):
            line_sep = line_sep.encode(self._reader.encoding)
        if not binary and not isinstance(line_sep, str):
            raise TypeError("line_sep must be str for a text file")
        if not line_sep:
            raise ValueError("line_sep must not be empty")
        self._sep: Any = line_sep
        self._empty: Any = b"" if binary else ""
        self._buffer: Any = self._empty
        self._pos = 0
        self._lock = _aio.Lock()
        # While ``async for`` hands out the lines of ``_buffer`` in memory: their LineBatch
        # (``_pos`` is then stale; every other method folds it in first).
        self._batch: Any = None

    def _end_batch(self) -> None:
        batch = self._batch
        if batch is not None:
            self._batch = None
            self._pos = batch.position()
            batch.stop()

    async def readline(self) -> Any:
        """The next line including ``line_sep``; empty at EOF."""
        if self._batch is not None:
            self._end_batch()
        buffer, pos, sep = self._buffer, self._pos, self._sep
        end = buffer.find(sep, pos)
        if end >= 0 and not self._lock.locked():
            end += len(sep)
            self._pos = end
            return buffer[pos:end]
        async with self._lock:
            while True:
                buffer, pos = self._buffer, self._pos
                end = buffer.find(sep, pos)
                if end >= 0:
                    end += len(sep)
                    self._pos = end
                    return buffer[pos:end]
                chunk = await self._reader.read_chunk()
                if not chunk:  # EOF: the rest is the last line (later calls read again)
                    self._buffer, self._pos = self._empty, 0
                    return buffer[pos:]
                self._buffer = buffer[pos:] + chunk
                self._pos = 0

    def __aiter__(self) -> Any:
        """The lines from the current offset (``async for line in reader``)."""
        return AsyncLines(self._next_lines)

    async def _next_lines(self, lines: Any) -> Any:
        """``async for``'s step when its batch is used up: the next line, and the complete lines after it as a batch.

        With a one-character ``line_sep``, the complete lines in memory (of
        the buffer, or of the buffer and the next chunk, read here) become
        ``lines.batch``, handed out in memory (in C when built). Cancellation:
        as ``readline``.
        """
        if self._batch is not None:
            self._end_batch()
        sep = self._sep
        if len(sep) != 1:
            line = await self.readline()
            if not line:
                raise StopAsyncIteration
            return line
        async with self._lock:
            while True:
                buffer, pos = self._buffer, self._pos
                end = buffer.rfind(sep, pos) + 1
                if end:
                    batch = LineBatch(buffer, pos, end, sep)
                    self._batch = lines.batch = batch
                    return batch.take()
                chunk = await self._reader._read_chunk_unlocked()
                if not chunk:  # EOF: the rest is the last line
                    self._buffer, self._pos = self._empty, 0
                    if not buffer[pos:]:
                        raise StopAsyncIteration
                    return buffer[pos:]
                self._buffer = buffer[pos:] + chunk
                self._pos = 0

    async def __anext__(self) -> Any:
        if self._batch is not None:
            self._end_batch()
        buffer, pos = self._buffer, self._pos
        end = buffer.find(self._sep, pos)
        if end >= 0 and not self._lock.locked():
            end += len(self._sep)
            self._pos = end
            return buffer[pos:end]
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line


#: aiofile 3.x's ``utils.ENCODING_MAP``: the most extra bytes a character may need, per encoding.
ENCODING_MAP = {"utf-8": 4, "UTF-8": 4, "utf-16": 8, "UTF-16": 8}


async def unicode_reader(afp: Any, chunk_size: int, offset: int, encoding: str = "utf-8") -> tuple[int, str]:
    """Read about ``chunk_size`` bytes at ``offset`` as text: ``(bytes consumed, text)`` (aiofile 3.x).

    A character cut by the chunk's end is completed by reading a few more
    bytes (incrementally, no re-read); ``chunk_size < 0`` reads to EOF.
    Invalid data raises ``UnicodeDecodeError``.

    Cancellation: nothing to undo (no state is kept).
    """
    afp = _aiofile(afp)
    if chunk_size < 0:
        data = await afp.read_bytes(-1, offset)
        return len(data), data.decode(encoding)
    decoder = codecs.getincrementaldecoder(encoding)()
    data = await afp.read_bytes(chunk_size, offset)
    consumed = len(data)
    text = decoder.decode(data, not data)
    for _ in range(ENCODING_MAP.get(encoding, 4)):
        if not decoder.getstate()[0]:
            break
        more = await afp.read_bytes(1, offset + consumed)
        consumed += len(more)
        text += decoder.decode(more, not more)
    else:
        text += decoder.decode(b"", True)  # raises for a truncated character
    return consumed, text
