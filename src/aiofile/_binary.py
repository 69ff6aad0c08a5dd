"""``FileIOWrapperBase`` and ``BinaryFileWrapper``: a buffered binary file object over ``AIOFile``.

The position is ours (the fd's own offset is never used): reads and writes
go to explicit offsets, so clones of one fd keep independent positions.

State and invariants (under ``_lock`` whenever an ``await`` is involved):

* ``_rbuf[_rpos:]`` is read-ahead data: the bytes of the file from the
  logical position up to ``_raw`` (the file offset where it ends).
* ``_wbuf`` is unwritten data that belongs at file offset ``_wstart``;
  ``_detached`` holds older unwritten runs (left behind by ``seek``), written
  first, in order.
* ``_gather`` holds large ``bytes`` writes (by reference) that belong,
  back to back, at ``_gather_start``; ``_writing`` the writes in flight.
  Both count as unwritten data.
* Read-ahead and unwritten data never coexist: writing drops the read-ahead
  (the position stays), reading first writes out what is pending.
* Logical position: ``_wstart + len(_wbuf)`` if ``_wbuf`` else
  ``_raw - (len(_rbuf) - _rpos)``.
* In append mode (``O_APPEND``) the kernel writes at EOF whatever the offset;
  after a write the position is the file's size, so ``tell()`` is true.

A method whose fast path needs no I/O (``readline`` finding a line in the
read-ahead, ``tell``, ``seek``) does not take the lock.
"""

from __future__ import annotations

import asyncio
import errno
import io
import operator
import os
from collections.abc import AsyncIterator, Generator, Iterable
from itertools import accumulate
from typing import Any

from . import _aio
from ._file import MAX_TRANSFER, AIOFile, _finish_uncancellable
from ._mode import reported_mode

__all__ = ["DEFAULT_BUFFER_SIZE", "BinaryFileWrapper", "FileIOWrapperBase"]

#: Read-ahead and write-buffer size of the file objects.
DEFAULT_BUFFER_SIZE = 64 * 1024
#: Reads after a seek are rounded up to whole pages of this size.
PAGE = 4096

#: Large ``bytes`` writes that may be in flight at once after ``write()`` returned.
WRITE_BEHIND = 4

#: Consecutive large ``bytes`` writes are gathered (by reference, no copy) and
#: sent as one vectored write once they add up to this many bytes, or hold
#: ``WRITE_GATHER_BUFFERS`` buffers: one operation (one trip to a worker
#: thread when the kernel will not write without blocking) per 256 KiB, not per chunk.
WRITE_GATHER = 512 * 1024
WRITE_GATHER_BUFFERS = 64


#: ``_read_now``: nothing started, yield to the loop once and try again.
_AGAIN = object()


def _closed_error() -> ValueError:
    return ValueError("I/O operation on closed file.")


def _check_limit(size: Any) -> int:
    if size is None:
        return -1
    try:
        return operator.index(size)
    except TypeError:
        raise TypeError(f"argument should be integer or None, not '{type(size).__name__}'") from None


def _as_index(value: Any) -> int:
    """``operator.index(value)`` with the builtin file objects' message."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer") from None


def _bytes_view(data: Any) -> memoryview:
    """``memoryview(data)``, or ``open()``'s ``TypeError`` for a non-buffer."""
    try:
        return memoryview(data)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'") from None


def _writable_view(buffer: Any) -> memoryview:
    """A flat writable view of ``buffer``, or ``open()``'s ``readinto`` ``TypeError``."""
    try:
        view = memoryview(buffer)
    except TypeError:
        view = None
    if view is None or view.readonly:
        raise TypeError(f"readinto() argument must be read-write bytes-like object, not {type(buffer).__name__}")
    return view.cast("B")


class FileIOWrapperBase:
    """What both file objects share: the ``AIOFile``, the lock, opening and closing.

    Awaiting the object (``await async_open(...)``) or ``async with`` opens the
    file; ``close()`` closes it. Cancellation while opening: see ``AIOFile.open``
    (no fd leaks; the object can be awaited again).
    """

    def __init__(self, afp: AIOFile, *, offset: int | None = None, buffer_size: int = DEFAULT_BUFFER_SIZE) -> None:
        if not isinstance(afp, AIOFile):
            raise TypeError(f"expected an AIOFile, not {type(afp).__name__}")
        if buffer_size < 0:
            raise ValueError("buffer size must be >= 0")
        self.file = afp
        self._lock = _aio.Lock()
        self._buffer_size = buffer_size
        self._explicit_offset = offset
        self._raw = offset or 0
        self._rbuf = b""
        self._rpos = 0
        self._wbuf = bytearray()
        self._wstart = 0
        self._detached: list[tuple[int, bytearray]] = []
        self._started = False
        self._closing: asyncio.Future[None] | None = None
        # Pipelined sequential reads: (offset, size, future) of the next chunk.
        self._prefetch: tuple[int, int, asyncio.Future[bytes]] | None = None
        self._sequential_end = -1
        # Write-behind: large ``bytes`` writes still in flight, oldest first, and where the last ends:
        # (future, data, offset, size).
        self._writing: list[tuple[asyncio.Future[int], bytes | list[bytes], int, int]] = []
        self._writing_end = 0
        # Large ``bytes`` writes gathered for one vectored write: ``_gather_size`` bytes at ``_gather_start``.
        self._gather: list[bytes] = []
        self._gather_start = 0
        self._gather_size = 0
        self._regular_seekable = False

    # -- lifecycle ---------------------------------------------------------------

    async def _open(self) -> None:
        await self.file.open()
        if not self._started:
            self._started = True
            if self._explicit_offset is None or self.file._appends:
                self._raw = self.file._initial_position
            self._regular_seekable = self.file._regular and self.file.seekable()

    def __await__(self) -> Generator[Any, None, Any]:
        yield from self._open().__await__()
        return self

    async def __aenter__(self) -> Any:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """True before the file is opened and once it is closed."""
        return self.file.closed

    @property
    def name(self) -> str | int:
        """The path given to ``async_open`` (or the fd)."""
        return self.file.name

    @property
    def mode(self) -> str:
        """The mode as ``open()`` reports it: binary ones normalised (``"wb+"`` is ``"rb+"``), text ones as given."""
        return reported_mode(self.file.mode)

    def fileno(self) -> int:
        """The file descriptor (``ValueError`` when closed)."""
        return self.file.fileno()

    def readable(self) -> bool:
        """True if the mode allows reading (``ValueError`` when closed)."""
        self._check_open()
        return self.file.mode.readable

    def writable(self) -> bool:
        """True if the mode allows writing (``ValueError`` when closed)."""
        self._check_open()
        return self.file.mode.writable

    def seekable(self) -> bool:
        """False for pipes, FIFOs and sockets (``ValueError`` when closed)."""
        self._check_open()
        return self.file.seekable()

    def isatty(self) -> bool:
        """Whether the fd is a terminal."""
        return os.isatty(self.fileno())

    async def close(self) -> None:
        """Write out what is buffered, then close the file. Idempotent.

        If writing out fails, the file is closed anyway and the error raised.
        Cancellation: the close runs to the end even if the awaiting task is
        cancelled; the cancellation is delivered afterwards.
        """
        closing = self._closing
        if closing is None:
            closing = self._closing = _aio.ensure_future(self._close_now())
        elif closing.done():
            return
        await _finish_uncancellable(closing)

    async def _close_now(self) -> None:
        try:
            async with self._lock:
                if not self.file.closed:
                    await self._flush_unlocked()
        finally:
            self._drop_read_ahead()
            self._drop_prefetch()
            self._wbuf = bytearray()
            self._detached = []
            self._gather = []
            self._gather_size = 0
            self._after_close()
            await self.file.close()

    def _after_close(self) -> None:
        """Drop subclass state that fast paths read without the lock."""

    def _drop_read_ahead(self) -> None:
        self._rbuf = b""
        self._rpos = 0

    def _check_open(self) -> None:
        if self.file.closed:
            raise _closed_error()

    def _check_readable(self) -> None:
        if self.file.closed:
            raise _closed_error()
        if not self.file.mode.readable:
            raise io.UnsupportedOperation("not readable")

    def _append_to_buffer(self, data: bytes) -> bool:
        """The fast path of a small write: append ``data`` to a write buffer already started.

        Taken only when nothing else can be affected: no task holds the lock,
        the buffer holds data (so the file was opened for writing and the start
        position is set), the file is still open, nothing was read ahead or prefetched, and ``data``
        leaves the buffer below its flush size. Otherwise False: the caller
        takes the general path.
        """
        wbuf = self._wbuf
        if (
            wbuf
            and self.file._fd >= 0  # a failed flush keeps its bytes: the file may be closed
            and len(wbuf) + len(data) < self._buffer_size
            and not self._rbuf
            and self._prefetch is None
            and not self._lock._locked
        ):
            wbuf += data
            return True
        return False

    def _check_writable(self) -> None:
        if self.file.closed:
            raise _closed_error()
        if not self.file.mode.writable:
            raise io.UnsupportedOperation("not writable")

    # -- position ----------------------------------------------------------------

    def _position(self) -> int:
        if self._wbuf:
            return self._wstart + len(self._wbuf)
        return self._raw - (len(self._rbuf) - self._rpos)

    def _file_size(self) -> int:
        size = os.fstat(self.file.fileno()).st_size
        for start, data in self._detached:
            size = max(size, start + len(data))
        if self._wbuf:
            size = max(size, self._wstart + len(self._wbuf))
        if self._writing:
            size = max(size, self._writing_end)
        if self._gather:
            size = max(size, self._gather_start + self._gather_size)
        return size

    def _seek_bytes(self, position: int) -> None:
        """Move the logical position to byte ``position`` (no I/O)."""
        if self._prefetch is not None:
            self._drop_prefetch()
        if self._wbuf:
            self._detached.append((self._wstart, self._wbuf))
            self._wbuf = bytearray()
        start = self._raw - len(self._rbuf)
        if start <= position <= self._raw and self._rbuf:
            self._rpos = position - start  # still inside the read-ahead
        else:
            self._rbuf = b""
            self._rpos = 0
            self._raw = position

    # -- raw transfers, called under the lock -------------------------------------

    async def _wait_writes(self, keep: int) -> None:
        """Wait until at most ``keep`` write-behind writes are in flight; raise the first error.

        Each write-behind is one system call; a short one is continued here
        with the rest. A failed write is reported once, by whichever call
        waits for it; a cancelled wait leaves the write queued.
        """
        writing = self._writing
        while len(writing) > keep:
            future, data, offset, size = writing[0]
            try:
                count = await _aio.shield(future)
            except _aio.cancelled_errors():
                raise  # the write stays queued: a failure is raised by the next wait (flush, close)
            except BaseException:
                del writing[0]
                raise
            if count <= 0:
                del writing[0]
                raise RuntimeError("Write operation returned 0", self.file, offset, 0)
            if count < size:
                rest = (data if isinstance(data, bytes) else b"".join(data))[count:]
                writing[0] = (self.file._write_once(rest, offset + count), rest, offset + count, len(rest))
            else:
                del writing[0]

    async def _send_gathered(self) -> None:
        """Send the gathered writes as one write-behind (after waiting for room in flight).

        Cancelled or failed while waiting, the gathered writes stay gathered.
        """
        start = self._gather_start
        # Writes in flight together never overlap: a write that does not
        # start at or after every in-flight one waits for all of them.
        await self._wait_writes(WRITE_BEHIND - 1 if start >= self._writing_end else 0)
        gather, size = self._gather, self._gather_size
        if not gather:
            return
        self._drop_prefetch()
        afp = self.file
        data: bytes | list[bytes]
        if len(gather) == 1:
            data = gather[0]
            future = afp._write_once(data, start)
        else:
            data = gather
            future = afp._writev_once(gather, start)
        self._gather = []
        self._gather_size = 0
        self._writing.append((future, data, start, size))
        self._writing_end = start + size

    async def _flush_unlocked(self) -> None:
        """Write out gathered and in-flight writes, ``_detached`` runs, then ``_wbuf``; each is dropped once written."""
        self._drop_prefetch()
        if self._gather:
            await self._send_gathered()
        await self._wait_writes(0)
        afp = self.file
        appending = afp._appends
        while self._detached:
            start, data = self._detached[0]
            await afp.write_bytes(data, start)
            del self._detached[0]
        if self._wbuf:
            data = self._wbuf
            try:
                await afp.write_bytes(data, self._wstart)
            except BaseException:
                # An operation may still hold ``data`` (a cancelled write runs
                # on): keep the bytes pending in a fresh, resizable buffer.
                self._wbuf = bytearray(data)
                raise
            end = self._wstart + len(data)
            self._wbuf = bytearray()
            self._raw = os.fstat(afp.fileno()).st_size if appending and afp.seekable() else end
            self._drop_read_ahead()

    async def _read_raw(self, size: int) -> bytes:
        """One read of up to ``size`` bytes at ``_raw`` (which the caller advances).

        Sequential reading is pipelined: after two consecutive full chunks,
        the read of the next chunk is submitted before this one is returned,
        so the I/O overlaps the caller's processing. Any seek, write or
        truncate drops that read-ahead (``_drop_prefetch``).
        """
        raw = self._raw
        prefetch = self._prefetch
        if prefetch is not None and prefetch[0] == raw and prefetch[1] == size:
            future = prefetch[2]
            self._prefetch = None
        else:
            self._drop_prefetch()
            future = self.file._read_once(size, raw)
        try:
            chunk = await future
        except BaseException:
            future.cancel()
            raise
        end = raw + len(chunk)
        if len(chunk) == size and self._sequential_end == raw and self._regular_seekable:
            self._prefetch = (end, size, self.file._read_once(size, end))
        self._sequential_end = end
        return chunk

    def _drop_prefetch(self) -> None:
        prefetch = self._prefetch
        if prefetch is not None:
            self._prefetch = None
            prefetch[2].cancel()  # the read completes unobserved; the fd stays open until then

    async def _fill(self, size: int) -> bool:
        """Replace the exhausted read-ahead with up to ``size`` new bytes; False at EOF."""
        chunk = await self._read_raw(size)
        self._rbuf = chunk
        self._rpos = 0
        self._raw += len(chunk)
        return bool(chunk)

    async def _prepare_read(self) -> None:
        self._check_readable()
        if self._wbuf or self._detached or self._writing or self._gather:
            await self._flush_unlocked()

    async def _write_unlocked(self, data: Any) -> int:
        self._check_writable()
        view = _bytes_view(data)
        self._drop_prefetch()
        size = view.nbytes
        if not size:
            return 0
        if self._rbuf:
            self._raw = self._position()
            self._drop_read_ahead()
        afp = self.file
        if size < self._buffer_size:
            if not self._wbuf:
                self._wstart = self._raw
                if afp._appends and afp.seekable():
                    self._wstart = self._file_size()
            self._wbuf += view
            if len(self._wbuf) >= self._buffer_size:
                await self._flush_unlocked()
            return size
        if type(data) is bytes and not afp._appends and size <= MAX_TRANSFER:
            # Write-behind: bytes cannot change, so they are gathered by
            # reference and sent as one vectored write of about WRITE_GATHER
            # bytes, which may still be in flight when this returns (up to
            # WRITE_BEHIND of them, at distinct offsets); the next operation
            # that needs them written (read, flush, truncate, close, a write
            # elsewhere) sends and waits for them and raises the first error.
            if self._wbuf or self._detached:
                await self._flush_unlocked()
            if self._gather and (
                self._raw != self._gather_start + self._gather_size
                or self._gather_size + size > MAX_TRANSFER
                or not self._regular_seekable
            ):
                await self._send_gathered()  # not contiguous, too big, or not to be held
            if not self._gather:
                self._gather_start = self._raw
            self._gather.append(data)
            self._gather_size += size
            self._raw += size
            if (
                self._gather_size >= WRITE_GATHER
                or len(self._gather) >= WRITE_GATHER_BUFFERS
                or not self._regular_seekable
            ):
                await self._send_gathered()
            return size
        await self._flush_unlocked()
        await afp.write_bytes(view, self._raw)
        if afp._appends and afp.seekable():
            self._raw = os.fstat(afp.fileno()).st_size
        else:
            self._raw += size
        return size

    # -- flush, sync, truncate -------------------------------------------------------

    async def flush(self, sync_metadata: bool | None = None) -> None:
        """Write out buffered data (like ``open()``'s ``flush``; no disk sync).

        For aiofile 3.x code, ``flush(sync_metadata=False)`` also calls
        ``fdatasync`` and ``flush(sync_metadata=True)`` ``fsync``.
        A failed write raises ``OSError``; the data stays buffered.
        Cancellation: a write in flight may land; what is not written stays buffered.
        """
        async with self._lock:
            self._check_open()
            await self._flush_unlocked()
        if sync_metadata is not None:
            await (self.file.fsync() if sync_metadata else self.file.fdsync())

    async def truncate(self, size: int | None = None) -> int:
        """Resize the file to ``size`` bytes (default: the current position); returns it.

        The position does not move. Runs ``ftruncate`` in the executor.
        Cancellation: the truncate still happens.
        """
        async with self._lock:
            self._check_writable()
            position = self._position()
            if size is None:
                size = position
            elif _as_index(size) < 0:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            await self._flush_unlocked()
            self._raw = position
            self._drop_read_ahead()
            self._drop_prefetch()
            await self.file.truncate(size)
            return size

    # -- iteration ---------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Any]:
        """Lines from the current position (``async for line in f``); the position follows."""
        return self._lines()

    async def _lines(self) -> AsyncIterator[Any]:
        anext = self.__anext__
        while True:
            try:
                line = await anext()
            except StopAsyncIteration:
                return
            yield line

    async def iter_chunked(self, chunk_size: int = 32 * 1024) -> AsyncIterator[Any]:
        """Yield ``read(chunk_size)`` results from the current position until EOF.

        The position advances with each chunk (it is this file object's reads).
        Cancellation: as ``read``: a cancelled step leaves the position after
        the last chunk yielded.
        """
        read = self.read
        while True:
            chunk = await read(chunk_size)
            if not chunk:
                return
            yield chunk

    async def readlines(self, hint: int = -1) -> list[Any]:
        """Read lines until EOF, or until ``hint`` bytes/characters were read (``hint > 0``).

        Cancellation: the position stays after the last line collected (the
        lines read so far are not returned).
        """
        hint = _check_limit(hint)
        lines: list[Any] = []
        total = 0
        while True:
            line = await self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    async def writelines(self, lines: Iterable[Any]) -> None:
        """Write every item of ``lines`` (no separators are added).

        Cancellation: the lines accepted before it stay written or buffered.
        """
        self._check_open()
        for line in lines:
            await self.write(line)

    # -- what each file object implements (aiofile 3.x's abstract methods) --------

    async def read(self, size: int | None = -1) -> Any:
        """Read up to ``size`` bytes or characters (``-1``: to EOF)."""
        raise NotImplementedError

    async def readline(self, size: int | None = -1) -> Any:
        """Read one line (at most ``size`` bytes or characters)."""
        raise NotImplementedError

    async def write(self, data: Any) -> int:
        """Write ``data``; return how much was written."""
        raise NotImplementedError

    async def __anext__(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} mode={self.mode!r}>"


class BinaryFileWrapper(FileIOWrapperBase):
    """A binary file object, like ``open(path, "rb"/"wb"/"r+b"...)``, with ``await``.

    Made by ``async_open(path, "rb")``. Every method that may do I/O is a
    coroutine; ``tell``, ``seek`` and the predicates are plain methods.
    ``buffer_size=0`` disables buffering: every read and write goes straight
    to the fd from/to the caller's memory (what ``O_DIRECT`` needs).

    Cancellation (every coroutine): an operation in flight completes in the
    background and its buffer stays alive. A cancelled read leaves the
    position where it was before the call (bytes already read stay in the
    read-ahead); a cancelled write leaves it after the data that was
    accepted into the buffer or written.
    """

    def __init__(self, afp: AIOFile, *, offset: int | None = None, buffer_size: int = DEFAULT_BUFFER_SIZE) -> None:
        if not afp.mode.binary:
            raise ValueError("Expected file in binary mode")
        super().__init__(afp, offset=offset, buffer_size=buffer_size)

    def tell(self) -> int:
        """The current byte position."""
        self._check_open()
        if not self.file.seekable():
            raise OSError(errno.ESPIPE, os.strerror(errno.ESPIPE))
        return self._position()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset`` relative to ``whence`` (``SEEK_SET``/``SEEK_CUR``/``SEEK_END``); return it.

        No I/O: buffered writes are kept and written before the next read or
        on ``flush()``/``close()``. Raises like ``open()``'s ``seek``.
        """
        afp = self.file
        if type(offset) is int and whence == 0 and offset >= 0 and afp._seekable and afp._fd >= 0:
            self._seek_bytes(offset)  # the common case, checked at once
            return offset
        self._check_open()
        offset = _as_index(offset)
        if whence not in (os.SEEK_SET, os.SEEK_CUR, os.SEEK_END):
            raise ValueError(f"whence value {whence} unsupported")
        if not self.file.seekable():
            raise OSError(errno.ESPIPE, os.strerror(errno.ESPIPE))
        if whence == os.SEEK_CUR:
            offset += self._position()
        elif whence == os.SEEK_END:
            offset += self._file_size()
        if offset < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        self._seek_bytes(offset)
        return offset

    async def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (``-1``/``None``: to EOF); fewer only at EOF.

        Raises like ``open()``'s: ``io.UnsupportedOperation`` if not readable,
        ``ValueError`` for a size below -1.
        """
        afp = self.file
        if afp._fd < 0 or not afp._mode.readable:
            self._check_readable()
        if type(size) is not int or size < 0:
            size = _check_limit(size)
            if size < -1:
                raise ValueError("read length must be non-negative or -1")
        lock = self._lock
        while not lock._locked:
            rbuf, rpos = self._rbuf, self._rpos
            available = len(rbuf) - rpos
            if 0 <= size <= available:
                self._rpos = rpos + size
                return rbuf[rpos : rpos + size]
            if not 0 < size - available < self._buffer_size or lock._waiters:
                break
            data = self._read_now(size, available)
            if data is None:
                break
            if data is not _AGAIN:
                return data  # type: ignore[no-any-return]
            # The adapter's inline time in this loop iteration is used up: wait
            # for the next slice (as the engine's reads do), then look again.
            await self.file._slice_wait()
            self._check_readable()
        async with lock:
            await self._prepare_read()
            start = self._position()
            try:
                return await self._read_unlocked(size)
            except BaseException:
                self._seek_bytes(start)  # a cancelled or failed read consumes nothing
                raise

    def _read_now(self, size: int, available: int) -> Any:
        """The fast path of ``read(size)``: one buffer fill, when nothing else is pending; no lock, no await.

        Called only when no task holds or waits for the lock and the
        read-ahead holds fewer than ``size`` bytes, ``size - available``
        being less than a buffer. ``_AGAIN`` (nothing started) when the
        adapter asks to yield to the loop first. With no write pending and a regular file,
        it starts the fill that ``_read_unlocked`` would make (the same size
        at the same offset, or takes the pipelined read of it); if the
        backend completed it at once, the read-ahead is updated and the
        bytes returned. Otherwise the read in flight is left as the
        pipelined read (``_prefetch``), which the locked path then awaits,
        and ``None`` is returned; ``None`` too when any condition does not
        hold. The position does not move unless bytes are returned, so a
        failure here consumes nothing.
        """
        if not self._regular_seekable or self._wbuf or self._detached or self._writing or self._gather:
            return None
        raw = self._raw
        wanted = size - available
        bufsize = self._buffer_size
        fill = bufsize if self._sequential_end == raw else min(bufsize, -(-wanted // PAGE) * PAGE)
        prefetch = self._prefetch
        if prefetch is not None:
            if prefetch[0] != raw or prefetch[1] != fill or not prefetch[2].done():
                return None  # the locked path drops or awaits it
            future = prefetch[2]
            if future.cancelled() or future.exception() is not None:
                return None  # the locked path raises it
            self._prefetch = None
            chunk = future.result()
        else:
            chunk = self.file._start("read", fill, self.file._fd, raw)
            if chunk is None:
                return _AGAIN
            if type(chunk) is not bytes:
                self._prefetch = (raw, fill, chunk)  # in flight: the locked path awaits it
                return None
        end = raw + len(chunk)
        if len(chunk) == fill and self._sequential_end == raw:
            # Sequential reading: pipeline the next chunk (as _read_raw does).
            self._prefetch = (end, fill, self.file._read_once(fill, end))
        self._sequential_end = end
        if available:
            rbuf = self._rbuf
            chunk = rbuf[self._rpos :] + chunk
        self._rbuf = chunk
        self._rpos = 0
        self._raw = end
        if len(chunk) < size:
            # A short read: at EOF, everything there is; else the locked path reads on.
            if chunk and not self.file._at_eof(end):
                return None
            size = len(chunk)
        self._rpos = size
        return chunk[:size]

    async def _read_unlocked(self, size: int) -> bytes:
        rbuf, rpos = self._rbuf, self._rpos
        available = len(rbuf) - rpos
        if 0 <= size <= available:
            self._rpos = rpos + size
            return rbuf[rpos : rpos + size]
        head = rbuf[rpos:] if rpos else rbuf
        self._drop_read_ahead()
        if size < 0:
            rest = await self.file.read_bytes(-1, self._raw)
            self._raw += len(rest)
            return head + rest if head else rest
        parts = [head] if head else []
        wanted = size - available
        bufsize = self._buffer_size
        while wanted > 0:
            if wanted >= bufsize:
                # Straight into the result, no copy through the read-ahead.
                chunk = await self._read_raw(min(wanted, MAX_TRANSFER))
                self._raw += len(chunk)
                parts.append(chunk)
                wanted -= len(chunk)
                if not chunk or (wanted and self.file.seekable() and self.file._at_eof(self._raw)):
                    break
                continue
            # Sequential reading fills whole buffers; a read after a seek
            # elsewhere (random access) fills only the pages it needs.
            fill = bufsize if self._sequential_end == self._raw else min(bufsize, -(-wanted // PAGE) * PAGE)
            if not await self._fill(fill):
                break
            take = min(wanted, len(self._rbuf))
            parts.append(self._rbuf[:take])
            self._rpos = take
            wanted -= take
        if len(parts) == 1:
            return parts[0]  # no copy
        return b"".join(parts)

    async def read1(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes with at most one system call (``-1``: one buffer)."""
        self._check_readable()
        size = -1 if size is None else _as_index(size)
        async with self._lock:
            await self._prepare_read()
            available = len(self._rbuf) - self._rpos
            if available:
                take = available if size < 0 else min(size, available)
                data = self._rbuf[self._rpos : self._rpos + take]
                self._rpos += take
                return data
            if size == 0:
                return b""
            request = self._buffer_size or 64 * 1024 if size < 0 else size
            data = await self._read_raw(request)
            self._raw += len(data)
            return data

    async def peek(self, size: int = 0) -> bytes:
        """The read-ahead bytes (filling it if empty) without moving the position."""
        self._check_readable()
        size = _as_index(size)
        async with self._lock:
            await self._prepare_read()
            if self._rpos >= len(self._rbuf):
                await self._fill(max(self._buffer_size, size, 1))
            return self._rbuf[self._rpos :]

    async def readinto(self, buffer: Any) -> int:
        """Read into the caller's writable ``buffer``; return the bytes read (fewer only at EOF).

        No copy when the read-ahead is empty: the kernel fills ``buffer``
        directly. With ``buffer_size=0`` on an ``O_DIRECT`` file, a
        page-aligned ``buffer`` (an ``mmap``) whose size and the position are
        multiples of the device's block size is read without any copy.
        Cancellation: the read in flight still lands in ``buffer``.
        """
        view = _writable_view(buffer)
        async with self._lock:
            await self._prepare_read()
            available = len(self._rbuf) - self._rpos
            take = min(available, len(view))
            if take:
                view[:take] = self._rbuf[self._rpos : self._rpos + take]
                self._rpos += take
            if take == len(view):
                return take
            try:
                got = await self.file.readinto(view[take:] if take else view, self._raw)
            except BaseException:
                self._rpos -= take
                raise
            self._raw += got
            return take + got

    async def readline(self, size: int | None = -1) -> bytes:
        """Read one line, up to and including ``b"\\n"`` (at most ``size`` bytes if ``size >= 0``)."""
        size = _check_limit(size)
        rbuf, rpos = self._rbuf, self._rpos
        end = rbuf.find(b"\n", rpos) + 1
        if end and (size < 0 or end - rpos <= size) and not self._lock.locked():
            self._check_readable()
            self._rpos = end
            return rbuf[rpos:end]
        async with self._lock:
            await self._prepare_read()
            start = self._position()
            try:
                return await self._readline_unlocked(size)
            except BaseException:
                self._seek_bytes(start)
                raise

    async def _readline_unlocked(self, size: int) -> bytes:
        parts = []
        got = 0
        bufsize = self._buffer_size or 8192
        while True:
            rbuf, rpos = self._rbuf, self._rpos
            limit = len(rbuf) if size < 0 else min(len(rbuf), rpos + size - got)
            end = rbuf.find(b"\n", rpos, limit) + 1
            if end:
                parts.append(rbuf[rpos:end])
                self._rpos = end
                break
            parts.append(rbuf[rpos:limit])
            got += limit - rpos
            self._rpos = limit
            if 0 <= size <= got:
                break
            if not await self._fill(bufsize):
                break
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _lines(self) -> AsyncIterator[bytes]:
        # The hot loop of ``async for``: the read-ahead is split into lines in
        # memory, one C call per chunk (``splitlines`` is exact when the chunk
        # holds no "\r"; otherwise each line is found with ``find``). The
        # position moves line by line, and after each yield the caller may
        # have read, seeked or written: then the batch is dropped.
        lock = self._lock  # ``lock._locked``: ``lock.locked()`` without the call
        while True:
            rbuf, rpos = self._rbuf, self._rpos
            if not lock._locked and rbuf.find(b"\n", rpos) >= 0:
                if b"\r" in rbuf:
                    end = rbuf.find(b"\n", rpos) + 1
                    self._rpos = end
                    yield rbuf[rpos:end]
                    continue
                lines = (rbuf[rpos:] if rpos else rbuf).splitlines(True)
                if lines[-1][-1:] != b"\n":
                    del lines[-1]  # an incomplete last line stays in the read-ahead
                # Where each line ends, computed in C; the loop body stays minimal.
                ends = accumulate(map(len, lines), initial=rpos)
                next(ends)  # the start itself
                for line, position in zip(lines, ends, strict=False):
                    self._rpos = position
                    yield line
                    if self._rpos != position or self._rbuf is not rbuf:
                        break
                continue
            line = await self.readline()
            if not line:
                return
            yield line

    async def __anext__(self) -> bytes:
        rbuf, rpos = self._rbuf, self._rpos
        end = rbuf.find(b"\n", rpos) + 1
        if end and not self._lock.locked():
            self._rpos = end
            return rbuf[rpos:end]
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    async def write(self, data: Any) -> int:
        """Write ``data`` (any bytes-like object); return ``len`` in bytes.

        Small writes are buffered (written by ``flush()``, ``close()``, a
        read, or when the buffer fills); a write at least as large as the
        buffer goes straight from the caller's memory (consecutive ``bytes``
        ones are sent together as one vectored write of up to 512 KiB, at the
        latest by ``flush()`` or ``close()``). A failed write raises, at the
        latest from ``flush()`` or ``close()``.
        """
        self._check_writable()
        if isinstance(data, str):
            raise TypeError("a bytes-like object is required, not 'str'")
        if type(data) is bytes and self._append_to_buffer(data):
            return len(data)
        async with self._lock:
            return await self._write_unlocked(data)
