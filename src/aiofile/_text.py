"""``TextFileWrapper``: a text file object like ``open(path, "r"/"w"/...)``, with ``await``.

Decoding uses the stdlib's incremental machinery: a ``codecs`` incremental
decoder, wrapped in ``io.IncrementalNewlineDecoder`` for universal newlines,
fed one read-ahead chunk at a time, so characters split across chunks, BOMs
(UTF-16, UTF-8-SIG), ``errors=`` and ``newline=`` behave as in ``open()``.

State (besides the byte-level state of ``FileIOWrapperBase``, whose read-ahead
stays empty in text mode):

* ``_dchars[_dpos:]`` are decoded characters not yet returned.
* ``_snapshot = (base, flags, data)``: ``_dchars`` is the decoding of
  ``data``, which starts at byte ``base`` where the decoder had no buffered
  bytes and state flags ``flags``. ``tell()`` rebuilds the position from it
  (see ``_cookie``). ``None`` when no decoded characters are pending.
* ``_pending``: a ``seek()`` to a cookie that needs bytes fed to the decoder
  is completed by the next read (``seek`` itself does no I/O).
* ``_batch``: while ``async for`` hands out the lines of a chunk, the
  ``LineBatch`` (``aiofile._lines``) that knows the position (``_dpos`` is then stale). Every
  method that reads or moves ``_dpos`` first folds it in and stops it
  (``_end_batch``), except ``tell``, which only asks it; a stopped batch
  gives ``async for`` no more lines, and it resumes from ``_dpos``.
"""

from __future__ import annotations

import codecs
import io
import os
from typing import TYPE_CHECKING, Any

from . import _cookie
from ._binary import DEFAULT_BUFFER_SIZE, FileIOWrapperBase, _as_index, _check_limit
from ._file import AIOFile
from ._lines import AsyncLines, LineBatch
from ._mode import check_text_args

_WRITE_DOC = """Write ``text``; return its length in characters (as ``open()``).

``"\\n"`` is translated per ``newline=``. Buffered: written by ``flush()``,
``close()``, a read, or when the buffer fills. Unlike ``open()``, a write
after a read lands at the read position (``tell()``), not after the
read-ahead. The result is awaitable (``asyncio.iscoroutine`` accepts it, so
``asyncio.create_task`` does too). In a write loop, where the buffer already
holds text, a ``str`` goes into the buffer when ``write`` returns, before the
result is awaited (as with ``open()``), and the result completes at once;
otherwise the write happens when the result is awaited. Await each write
before the next one for a defined order, as with any coroutine.
Cancellation: text already in the buffer stays there; a cancelled flush
keeps it pending, and ``flush()`` or ``close()`` writes it.
"""


async def _done(value: Any) -> Any:
    """A coroutine that completes at once with ``value``."""
    return value


_text_write: Any
_TextSink: Any
try:
    # write()'s fast path in C: no coroutine per call (see TextFileWrapper.write).
    from _linuxaio._textsink import TextSink as _TextSink
    from _linuxaio._textsink import text_write as _text_write
except ImportError:  # not built (AIOFILE_NO_EXTENSIONS, another platform): _write alone
    _text_write = _TextSink = None

__all__ = ["TextFileWrapper"]

#: Codecs (``codecs.lookup(name).name``) whose encoding of a string does not
#: depend on what was encoded before it.
_STATELESS_CODECS = frozenset({"utf-8", "ascii", "latin-1", "iso8859-1", "cp1252"})


#: What ``write()``'s shortest path encodes with: the UTF-8 of the ``str`` value, strict (a
#: subclass's own ``encode`` is not called, as by ``open()``); ``TypeError`` for a non-``str``.
_encode_utf8 = str.encode


class TextFileWrapper(FileIOWrapperBase):
    """A text file object, like the builtin ``open()`` in text mode, with ``await``.

    Made by ``async_open(path, "r"/"w"/"a"/"r+"...)``. ``read(n)`` returns at
    most ``n`` characters, ``write`` returns the characters written, ``tell``
    and ``seek`` use ``open()``'s opaque cookies (``seek`` accepts only a
    value from ``tell()``, 0, or ``(0, SEEK_END)``).

    Args:
        afp: an ``AIOFile`` opened (or to be opened) in text mode.
        encoding: default ``afp.encoding`` (UTF-8 unless given).
        errors: as ``open()``'s (default ``"strict"``).
        newline: as ``open()``'s: ``None`` universal newlines translated to
            ``"\\n"`` when reading, ``"\\n"`` written as ``os.linesep``;
            ``""`` universal newlines untranslated; ``"\\n"``, ``"\\r"``,
            ``"\\r\\n"`` that exact line end, translated when writing.
        buffer_size: bytes per read-ahead chunk and of the write buffer.

    Cancellation (every coroutine): a cancelled read leaves the position
    where it was before the call; a cancelled write leaves it after the text
    that was accepted (buffered or written); a write in flight may land.
    """

    def __init__(
        self,
        afp: AIOFile,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        offset: int | None = None,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        if afp.mode.binary:
            raise ValueError("Expected file in text mode")
        check_text_args(afp.mode, encoding, errors, newline)
        super().__init__(afp, offset=offset, buffer_size=buffer_size)
        self._encoding = _cookie.text_encoding(encoding if encoding is not None else afp.encoding)
        self._errors = errors if errors is not None else "strict"
        self._newline = newline
        self._readuniversal = not newline
        self._readtranslate = newline is None
        self._readnl = newline or "\n"
        self._lf_lines = newline is None or newline == "\n"  # lines end at "\n" only
        self._writenl = newline or os.linesep
        self._writetranslate = newline != "" and self._writenl != "\n"
        self._chunk_size = max(buffer_size, 1)
        self._decoder: Any = None
        if afp.mode.readable:
            decoder: Any = codecs.getincrementaldecoder(self._encoding)(self._errors)
            if self._readuniversal:
                decoder = io.IncrementalNewlineDecoder(decoder, self._readtranslate)
            self._decoder = decoder
        self._encoder: Any = None
        if afp.mode.writable:
            self._encoder = codecs.getincrementalencoder(self._encoding)(self._errors)
        # Stateless codecs encode a piece the same alone as within the stream:
        # str.encode is then the fast path's encoder (no incremental state).
        self._stateless_encoding = (
            codecs.lookup(self._encoding).name in _STATELESS_CODECS if afp.mode.writable else False
        )
        self._dchars = ""
        self._dpos = 0
        self._batch: Any = None  # a LineBatch while ``async for`` hands out its lines
        self._snapshot: tuple[int, int, bytes] | None = None
        self._ratio = 0.0
        self._pending: _cookie.Cookie | None = None
        self._encoder_at_start = True  # the encoder may still emit a BOM
        # The write buffer while ``write()``'s shortest path may append to it (a
        # ``_linuxaio._textsink.TextSink`` of it when that is built): armed
        # (``_arm_sink``) only when it holds data, for UTF-8 (strict) with nothing
        # to translate, in a file not opened for appending. Everything that must
        # see the next write (a read, seek, flush, close, a failed write) replaces
        # ``_wbuf`` first, so a sink of ``_wbuf`` proves that nothing happened
        # since but writes; the lock and the fd are still tested.
        self._text_sink: Any = None
        self._sink_ok = (
            afp.mode.writable
            and not self._writetranslate
            and codecs.lookup(self._encoding).name == "utf-8"
            and self._errors == "strict"
        )
        # (snapshot, characters used, clean cookie) of the last tell() in this chunk.
        self._tell_cache: tuple[Any, int, _cookie.Cookie] | None = None

    @property
    def encoding(self) -> str:
        """The text encoding."""
        return self._encoding

    @property
    def errors(self) -> str:
        """The decoding/encoding error handler."""
        return self._errors

    @property
    def newline(self) -> str | None:
        """The ``newline`` argument (``None``: universal newlines)."""
        return self._newline

    @property
    def newlines(self) -> Any:
        """The line ends seen so far (``None`` unless universal newlines), as ``open()``."""
        decoder = self._decoder
        return getattr(decoder, "newlines", None)

    async def _open(self) -> None:
        await super()._open()
        encoder = self._encoder
        if encoder is not None and self.file.seekable() and self._position() != 0:
            encoder.setstate(0)  # not at the start: no BOM
            self._encoder_at_start = False

    # -- position ----------------------------------------------------------------

    def tell(self) -> int:
        """The current position as ``open()``'s opaque cookie (a byte offset in simple cases)."""
        self._check_open()
        if not self.file.seekable():
            raise io.UnsupportedOperation("underlying stream is not seekable")
        if self._pending is not None:
            return _cookie.pack(self._pending)
        snapshot = self._snapshot
        if self._decoder is None or snapshot is None:
            return self._position()
        base, flags, data = snapshot
        batch = self._batch
        chars = self._dpos if batch is None else batch.position()
        cached = self._tell_cache
        if cached is not None and cached[0] is snapshot and cached[1] <= chars:
            # Resume from the last clean position found in this chunk: the walk
            # from ``base`` would pass through it, so the answer is the same,
            # and a tell() per line costs O(line), not O(chunk).
            known = cached[2]
            cookie = _cookie.fast_locate(
                self._decoder,
                known.start,
                known.flags,
                memoryview(data)[known.start - base :],
                chars - cached[1],
                self._ratio,
            )
        else:
            cookie = _cookie.fast_locate(self._decoder, base, flags, data, chars, self._ratio)
        if not cookie.feed and not cookie.skip:
            self._tell_cache = (snapshot, chars, cookie)
        return _cookie.pack(cookie)

    def seek(self, cookie: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``cookie`` (from ``tell()``), or to the start or end; return the position.

        As ``open()``: relative seeks must have offset 0 (``UnsupportedOperation``
        otherwise). No I/O: buffered writes are written later, and a cookie
        that needs decoding is completed by the next read.
        """
        self._check_open()
        cookie = _as_index(cookie)
        if not self.file.seekable():
            raise io.UnsupportedOperation("underlying stream is not seekable")
        if whence == os.SEEK_CUR:
            if cookie != 0:
                raise io.UnsupportedOperation("can't do nonzero cur-relative seeks")
            cookie = self.tell()
        elif whence == os.SEEK_END:
            if cookie != 0:
                raise io.UnsupportedOperation("can't do nonzero end-relative seeks")
            end = self._file_size()
            self._seek_bytes(end)
            self._clear_decoded()
            if self._decoder is not None:
                self._decoder.reset()
            self._reset_encoder(end == 0)
            return end
        elif whence != os.SEEK_SET:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if cookie < 0:
            raise ValueError(f"negative seek position {cookie}")
        target = _cookie.unpack(cookie)
        self._seek_bytes(target.start)
        self._clear_decoded()
        decoder = self._decoder
        if decoder is not None:
            if target.start == 0 and target.flags == 0:
                decoder.reset()
            else:
                decoder.setstate((b"", target.flags))
            self._snapshot = (target.start, target.flags, b"")
            if target.skip:
                self._pending = target
        elif target.skip:
            raise OSError("can't restore logical file position")
        self._reset_encoder(cookie == 0)
        return cookie

    def _after_close(self) -> None:
        self._clear_decoded()

    def _reset_encoder(self, start_of_stream: bool) -> None:
        encoder = self._encoder
        if encoder is not None:
            if start_of_stream:
                encoder.reset()
            else:
                encoder.setstate(0)
        self._encoder_at_start = start_of_stream

    def _end_batch(self) -> None:
        """Fold the position of ``async for``'s line batch into ``_dpos`` and drop the batch."""
        batch = self._batch
        if batch is not None:
            self._batch = None
            self._dpos = batch.position()
            batch.stop()

    def _clear_decoded(self) -> None:
        self._dchars = ""
        self._dpos = 0
        if self._batch is not None:
            self._batch.stop()
            self._batch = None
        self._snapshot = None
        self._pending = None

    # -- reading -----------------------------------------------------------------

    def _save(self) -> tuple[Any, ...]:
        self._end_batch()  # (a batch may have started while this call waited for the lock)
        decoder = self._decoder
        return (self._dchars, self._dpos, self._snapshot, self._pending, self._raw, decoder.getstate())

    def _restore(self, saved: tuple[Any, ...]) -> None:
        self._dchars, self._dpos, self._snapshot, self._pending, self._raw, state = saved
        self._decoder.setstate(state)

    async def _prepare_text_read(self) -> None:
        await self._prepare_read()
        target = self._pending
        if target is not None:
            data = await self.file.read_bytes(target.feed, target.start)
            decoded = self._decoder.decode(data, target.eof)
            if len(decoded) < target.skip:
                raise OSError("can't restore logical file position")
            self._raw = target.start + len(data)
            self._snapshot = (target.start, target.flags, data)
            self._dchars, self._dpos = decoded, target.skip
            self._ratio = len(data) / len(decoded) if decoded else 0.0
            self._pending = None

    async def _read_chunk(self) -> bool:
        """Decode the next chunk into ``_dchars``; False at EOF (the decoder is then flushed)."""
        decoder = self._decoder
        base_buffer, flags = decoder.getstate()
        data = await self._read_raw(self._chunk_size)
        base = self._raw - len(base_buffer)
        self._raw += len(data)
        eof = not data
        chars = decoder.decode(data, eof)
        self._dchars = chars
        self._dpos = 0
        self._ratio = len(data) / len(chars) if chars else 0.0
        self._snapshot = (base, flags, base_buffer + data if base_buffer else data)
        return not eof

    async def read(self, size: int | None = -1) -> str:
        """Read up to ``size`` characters (``-1``/``None``: to EOF); fewer only at EOF."""
        size = _check_limit(size)
        if self._batch is not None:
            self._end_batch()
        dchars, dpos = self._dchars, self._dpos
        if 0 <= size <= len(dchars) - dpos and not self._lock.locked() and self._pending is None:
            self._check_readable()
            self._dpos = dpos + size
            return dchars[dpos : dpos + size]
        async with self._lock:
            self._check_readable()
            await self._prepare_read()  # pending writes go out first; that stays done if the read fails
            saved = self._save()
            try:
                await self._prepare_text_read()
                return await self._read_unlocked(size)
            except BaseException:
                self._restore(saved)
                raise

    async def _read_unlocked(self, size: int) -> str:
        decoder = self._decoder
        if size < 0:
            head = self._dchars[self._dpos :]
            data = await self.file.read_bytes(-1, self._raw)
            self._raw += len(data)
            text: str = head + decoder.decode(data, True)
            self._clear_decoded()
            return text
        parts = []
        wanted = size
        while True:
            dchars, dpos = self._dchars, self._dpos
            take = min(wanted, len(dchars) - dpos)
            if take:
                parts.append(dchars[dpos : dpos + take])
                self._dpos = dpos + take
                wanted -= take
            if wanted <= 0:
                break
            if not await self._read_chunk() and not self._dchars:
                break  # EOF (the final decode may still have produced characters)
        return parts[0] if len(parts) == 1 else "".join(parts)

    def _line_end(self, line: str, start: int) -> tuple[int, int]:
        """(end of the first line in ``line`` at or after ``start``, or -1; where to search next)."""
        if self._readtranslate:
            end = line.find("\n", start)
            return (end + 1 if end >= 0 else -1), len(line)
        if self._readuniversal:
            nl = line.find("\n", start)
            cr = line.find("\r", start)
            if cr == -1:
                return (nl + 1 if nl >= 0 else -1), len(line)
            if nl == -1:
                if cr == len(line) - 1:
                    return -1, cr  # "\r" last: a "\n" may follow
                return cr + 1, 0
            if nl < cr:
                return nl + 1, 0
            if nl == cr + 1:
                return cr + 2, 0
            return cr + 1, 0
        end = line.find(self._readnl, start)
        if end >= 0:
            return end + len(self._readnl), 0
        return -1, max(0, len(line) - len(self._readnl) + 1)

    async def readline(self, size: int | None = -1) -> str:
        """Read one line including its line end (at most ``size`` characters if ``size >= 0``).

        Line ends follow ``newline=`` exactly as ``open()`` does.
        """
        size = -1 if size is None else _as_index(size)
        if self._batch is not None:
            self._end_batch()
        dchars, dpos = self._dchars, self._dpos
        end = dchars.find("\n", dpos) + 1 if self._lf_lines else max(self._line_end(dchars, dpos)[0], 0)
        if end and (size < 0 or end - dpos <= size) and not self._lock.locked() and self._pending is None:
            self._check_readable()
            self._dpos = end
            return dchars[dpos:end]
        async with self._lock:
            self._check_readable()
            await self._prepare_read()  # pending writes go out first; that stays done if the read fails
            saved = self._save()
            try:
                await self._prepare_text_read()
                return await self._readline_unlocked(size)
            except BaseException:
                self._restore(saved)
                raise

    async def _readline_unlocked(self, size: int) -> str:
        line = self._dchars[self._dpos :]
        start = 0
        end = -1
        while True:
            end, start = self._line_end(line, start)
            if end >= 0:
                break
            if size >= 0 and len(line) >= size and line:
                end = size  # (with nothing decoded yet, readline(0) reads a chunk, as open()'s does)
                break
            while await self._read_chunk():
                if self._dchars:
                    break
            if self._dchars:
                line += self._dchars
                continue
            self._clear_decoded()  # EOF
            return line
        if size >= 0 and end > size:
            end = size
        # ``line`` ends with the whole current chunk: put its unused tail back.
        self._dpos = len(self._dchars) - (len(line) - end)
        return line[:end]

    def __aiter__(self) -> Any:
        """Lines from the current position (``async for line in f``); the position follows."""
        return AsyncLines(self._next_lines)

    async def _next_lines(self, lines: Any) -> str:
        """``async for``'s step when its batch is used up or stopped: the next line, and a new batch.

        With lines ending at "\n" only (``newline=None`` or ``"\n"``), the
        complete lines of the decoded chunk become ``lines.batch``, which
        hands them out in memory (C when built) with the position tracked
        (``_batch``; ``tell()`` asks it, every other method folds it into
        ``_dpos`` and stops it, and ``async for`` then goes on from there).
        Otherwise, or when the chunk holds no complete line, one line at a
        time. Cancellation: as ``readline``.
        """
        if self._batch is not None:
            self._end_batch()  # ours, used up, or another iterator's
        dchars, dpos = self._dchars, self._dpos
        if not self._lock._locked:
            if self._lf_lines:
                # ``_dchars`` is empty while a seek is pending, so no check for it here.
                end = dchars.rfind("\n", dpos) + 1  # an incomplete last line stays decoded
                if end:
                    batch = LineBatch(dchars, dpos, end, "\n")
                    self._batch = lines.batch = batch
                    return batch.take()  # type: ignore[no-any-return]
            else:
                end = self._line_end(dchars, dpos)[0]
                if end > 0:
                    self._dpos = end
                    return dchars[dpos:end]
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    async def __anext__(self) -> str:
        if self._batch is not None:
            self._end_batch()
        dchars, dpos = self._dchars, self._dpos
        if self._lf_lines:
            end = dchars.find("\n", dpos) + 1
            if end and not self._lock.locked() and self._pending is None:
                self._dpos = end
                return dchars[dpos:end]
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    # -- writing -----------------------------------------------------------------

    if TYPE_CHECKING:

        async def write(self, text: str) -> int:
            """See ``_WRITE_DOC``."""

    async def _flush_sink(self, length: int) -> int:
        """``write``'s fast path filled the buffer: write it out, then complete with ``length``."""
        async with self._lock:
            await self._flush_unlocked()
        return length

    async def _write(self, text: str) -> int:
        """``write``'s general path: what its shortest path (``_text_write_py``, ``text_write``) leaves."""
        if type(text) is not str and not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {'None' if text is None else type(text).__name__}")
        if (
            not self._encoder_at_start
            and self._snapshot is None
            and self._pending is None
            and not self._dchars
            and not self._lock._locked
        ):
            # The fast path: encode straight into the binary layer's write buffer.
            length = len(text)
            if self._writetranslate and "\n" in text:
                text = text.replace("\n", self._writenl)
            data = text.encode(self._encoding, self._errors) if self._stateless_encoding else self._encoder.encode(text)
            # ``_append_to_buffer``'s test, inline (this is the per-line cost of
            # a write loop): the lock was tested above, with no await since.
            wbuf = self._wbuf
            if (
                wbuf
                and len(wbuf) + len(data) < self._buffer_size
                and self.file._fd >= 0
                and not self._rbuf
                and self._prefetch is None
            ):
                wbuf += data
                return length
            async with self._lock:
                await self._write_unlocked(data)
                self._arm_sink()
            return length
        async with self._lock:
            self._check_writable()
            length = len(text)
            if self._writetranslate and "\n" in text:
                text = text.replace("\n", self._writenl)
            if self._snapshot is not None or self._pending is not None or self._dchars:
                self._rewind_for_write()
            # A BOM (UTF-16, UTF-8-SIG...) is written exactly when writing at offset 0.
            if self._position() == 0:
                if not self._encoder_at_start:
                    self._encoder.reset()
            elif self._encoder_at_start:
                self._encoder.setstate(0)
            self._encoder_at_start = False
            await self._write_unlocked(self._encoder.encode(text))
            self._arm_sink()
            return length

    def _text_write_py(self, text: str) -> Any:
        """``write`` where ``_linuxaio._textsink`` is not built: its ``text_write`` in Python.

        The text goes into the buffer now, as in C, so that writes land in
        call order whichever is used.
        """
        sink = self._text_sink
        if sink is self._wbuf and type(text) is str and not self._lock._locked and self.file._fd >= 0:
            sink += _encode_utf8(text)
            length = len(text)
            if len(sink) >= self._buffer_size:
                return self._flush_sink(length)
            return _done(length)
        return self._write(text)

    if not TYPE_CHECKING:
        write = _text_write_py if _text_write is None else _text_write
        write.__doc__ = _WRITE_DOC

    def _arm_sink(self) -> None:
        """After a write under the lock: let the next writes append to ``_wbuf`` directly if they may."""
        if self._sink_ok and self._wbuf and not self._rbuf and self._prefetch is None and not self.file._appends:
            if _TextSink is None:
                self._text_sink = self._wbuf
            else:
                self._text_sink = _TextSink(self._wbuf, self._lock, self.file, self._buffer_size)

    def _rewind_for_write(self) -> None:
        """Drop decoded read-ahead, moving the byte position back to the text position."""
        if self.file.seekable():
            self.seek(self.tell())  # as open() after seek(tell()): BOM state included
        self._clear_decoded()
        if self._decoder is not None:
            self._decoder.reset()

    async def truncate(self, size: int | None = None) -> int:
        """Resize the file to ``size`` bytes (default: the current position); returns it.

        The position does not move. Cancellation: the truncate still happens.
        """
        if size is None:
            self._check_writable()
            size = _cookie.unpack(self.tell()).start
        return await super().truncate(size)
