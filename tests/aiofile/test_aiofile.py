"""``AIOFile``: the positional API of aiofile 3.x, full transfers, O_DIRECT, the default context."""

from __future__ import annotations

import asyncio
import errno
import gc
import io
import mmap
import os
from pathlib import Path
from typing import Any

import pytest

import aiofile
import aiofile.version
from aiofile import AIOFile, NotOpenedError, _file

pytestmark = pytest.mark.asyncio


async def test_names_import() -> None:
    from aiofile import (  # noqa: F401
        AIOFile,
        BinaryFileWrapper,
        FileIOWrapperBase,
        LineReader,
        Reader,
        TextFileWrapper,
        Writer,
        __version__,
        async_open,
        clone,
    )
    from aiofile.utils import (  # noqa: F401
        BinaryFileWrapper as B,
    )

    assert isinstance(aiofile.__version__, str)
    data = {"DEFAULT_BUFFER_SIZE", *aiofile.version.__all__}  # values, documented by #: comments
    for name in aiofile.__all__:
        assert getattr(aiofile, name).__doc__ or name.startswith("__") or name in data, name


async def test_positional_read_write(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    async with AIOFile(path, "w+b", context=ctx) as afp:
        assert await afp.write(b"hello world", 0) == 11
        assert await afp.write(bytearray(b"HELLO"), 6) == 5  # any bytes-like object
        assert await afp.read(5, 0) == b"hello"
        assert await afp.read(-1, 6) == b"HELLO"
        assert await afp.read(100, 3) == b"lo HELLO"
        assert await afp.read() == b"hello HELLO"
        await afp.fsync()
        await afp.fdsync()
    assert path.read_bytes() == b"hello HELLO"


async def test_text_mode_encodes_and_decodes(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    afp = await AIOFile(str(path), "w+", encoding="utf-16", context=ctx)
    assert await afp.write("héllo") == len("héllo".encode("utf-16"))
    assert await afp.read() == "héllo"
    with pytest.raises(TypeError, match=r"^write\(\) argument must be str, not bytes$"):
        await afp.write(b"x")
    await afp.close()
    binary = await AIOFile(path, "rb+", context=ctx)
    for payload in ("x", 5, None, [1]):  # a TypeError whatever the type (aiofile 3.x: ValueError for str)
        with pytest.raises(TypeError, match=f"^a bytes-like object is required, not '{type(payload).__name__}'$"):
            await binary.write(payload)
    await binary.close()
    assert path.read_bytes() == "héllo".encode("utf-16")


async def test_lifecycle(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    path = tmp_path / "f"
    afp = AIOFile(path, "w", context=ctx)
    assert afp.closed and afp.name == str(path) and repr(afp) == f"<AIOFile: {str(path)!r}>"
    with pytest.raises(NotOpenedError):
        afp.fileno()
    with pytest.raises(ValueError):
        await afp.read()
    results = await asyncio.gather(afp.open(), afp.open(), afp.open())
    assert sum(isinstance(r, int) for r in results) == 1  # one caller opened it
    fd = fd_watch.remember(afp.fileno())
    assert not afp.closed and afp.mode.writable and not afp.mode.readable
    assert os.get_inheritable(fd) is False
    await afp.close()
    await afp.close()  # idempotent
    assert afp.closed
    assert fd_watch.closed(fd)
    with pytest.raises(ValueError, match="closed file"):
        afp.fileno()
    with pytest.raises(ValueError, match="closed file"):
        await afp.open()


async def test_open_errors(tmp_path: Path, ctx: Any) -> None:
    with pytest.raises(FileNotFoundError):
        await AIOFile(tmp_path / "missing", "r", context=ctx)
    (tmp_path / "exists").write_bytes(b"")
    with pytest.raises(FileExistsError):
        await AIOFile(tmp_path / "exists", "x", context=ctx)
    with pytest.raises(IsADirectoryError):
        await AIOFile(tmp_path, "r", context=ctx)
    with pytest.raises(ValueError, match="invalid mode"):
        AIOFile(tmp_path / "f", "rq")


async def test_read_errors_are_oserror(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    fd = os.open(path, os.O_WRONLY)
    async with AIOFile(fd, "r", context=ctx) as afp:  # a write-only fd that claims to be readable
        with pytest.raises(OSError) as info:
            await afp.read_bytes(4, 0)
        assert info.value.errno == errno.EBADF
        with pytest.raises(ValueError):
            await afp.read_bytes(-2)
    async with AIOFile(path, "w", context=ctx) as afp:  # the mode says: decided before submission
        for attempt in (afp.read_bytes(4, 0), afp.read(), afp.readinto(bytearray(4))):
            with pytest.raises(io.UnsupportedOperation, match=r"^not readable$"):
                await attempt
    async with AIOFile(path, "r", context=ctx) as afp:
        for attempt in (afp.write("x"), afp.write_bytes(b"x"), afp.write(5)):
            with pytest.raises(io.UnsupportedOperation, match=r"^not writable$"):
                await attempt
    assert path.read_bytes() == b""


async def test_read_all_loops_past_the_per_call_limit(tmp_path: Path, ctx: Any, monkeypatch: Any) -> None:
    # The kernel moves at most MAX_TRANSFER bytes per call; shrink it to see the loop work.
    monkeypatch.setattr(_file, "MAX_TRANSFER", 1000)
    data = os.urandom(10_500)
    path = tmp_path / "f"
    path.write_bytes(data)
    async with AIOFile(path, "r+b", context=ctx) as afp:
        assert await afp.read_bytes(-1, 0) == data
        assert await afp.read_bytes(9000, 100) == data[100:9100]
        assert await afp.write_bytes(data[::-1], 0) == len(data)
        buffer = bytearray(len(data))
        assert await afp.readinto(buffer, 0) == len(data)
    assert bytes(buffer) == data[::-1] == path.read_bytes()


class ShortAdapter:
    """A duck-typed adapter (no ``submit_future``) that moves at most 3 bytes per call."""

    def __init__(self, inner: Any, zero_writes: bool = False) -> None:
        self.inner = inner
        self.zero_writes = zero_writes
        self.closed = False
        self.calls = 0

    async def read(self, nbytes: int, fd: int, offset: int = 0) -> bytes:
        self.calls += 1
        return bytes(await self.inner.read(min(nbytes, 3), fd, offset))

    async def write(self, payload: Any, fd: int, offset: int = 0) -> int:
        self.calls += 1
        if self.zero_writes:
            return 0
        return int(await self.inner.write(memoryview(payload)[:3], fd, offset))

    async def readinto(self, buffer: Any, fd: int, offset: int = 0) -> int:
        self.calls += 1
        return int(await self.inner.readinto(memoryview(buffer)[:3], fd, offset))

    async def fsync(self, fd: int) -> None:
        await self.inner.fsync(fd)

    async def fdsync(self, fd: int) -> None:
        await self.inner.fdsync(fd)


async def test_short_transfers_are_looped(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    adapter = ShortAdapter(ctx)
    async with AIOFile(path, "w+b", context=adapter) as afp:
        assert await afp.write_bytes(b"0123456789", 0) == 10
        assert path.read_bytes() == b"0123456789"
        assert await afp.read_bytes(8, 1) == b"12345678"
        assert await afp.read_bytes(-1, 0) == b"0123456789"
        buffer = bytearray(7)
        assert await afp.readinto(buffer, 2) == 7 and buffer == b"2345678"
    assert adapter.calls > 10


async def test_zero_write_raises(tmp_path: Path, ctx: Any) -> None:
    async with AIOFile(tmp_path / "f", "wb", context=ShortAdapter(ctx, zero_writes=True)) as afp:
        with pytest.raises(RuntimeError, match="returned 0"):
            await afp.write_bytes(b"abc", 0)


async def test_from_fp_uses_its_fd_and_encoding(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes("привет".encode("cp1251"))
    with open(path, encoding="cp1251") as fp:
        afp = AIOFile.from_fp(fp, context=ctx)
        assert afp.encoding == "cp1251" and afp.fileno() == fp.fileno()
        assert await afp.read() == "привет"
        await afp.close()
        assert not fp.closed
        os.fstat(fp.fileno())  # still open: the file object owns it


async def test_clone_is_a_reference(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    afp = await AIOFile(tmp_path / "f", "w", context=ctx)
    assert await afp.clone() is afp
    fd = fd_watch.remember(afp.fileno())
    await afp.close()
    os.fstat(fd)  # a clone keeps it open
    await afp.close()
    assert fd_watch.closed(fd)


async def test_truncate_runs_in_executor(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    async with AIOFile(path, "r+b", context=ctx) as afp:
        future = afp.truncate(4)
        assert isinstance(future, asyncio.Future)
        await future
        assert path.read_bytes() == b"0123"
        await afp.truncate()
    assert path.read_bytes() == b""


async def test_fd_argument_and_closefd(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    fd = fd_watch.remember(os.open(path, os.O_RDONLY))
    async with AIOFile(fd, "rb", context=ctx, closefd=False) as afp:
        assert await afp.read() == b"abc"
    os.fstat(fd)  # not ours to close
    async with AIOFile(fd, "rb", context=ctx) as afp:
        assert afp.name == fd
    assert fd_watch.closed(fd)


async def test_raw_context_is_wrapped(tmp_path: Path, backend: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"raw")
    raw = backend.Context()
    try:
        first = AIOFile(path, "rb", context=raw)
        second = AIOFile(path, "rb", context=raw)
        assert first.context is second.context  # one adapter per raw context
        async with first, second:
            assert await first.read() == b"raw" == await second.read()
    finally:
        raw.close()


async def test_special_files_read_to_the_end(backend: Any) -> None:
    async with AIOFile("/proc/self/status", "r", context=backend.AsyncioContext()) as afp:
        text = await afp.read()
    assert (text.startswith("Name:") and "VmRSS" in text) or "Pid:" in text
    assert text.endswith("\n")


def _odirect_opener(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_DIRECT, 0o666)


async def test_o_direct_with_aligned_buffers(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "direct"
    block = 4096
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o600)
    except OSError as exc:
        pytest.skip(f"O_DIRECT unsupported here: {exc}")
    os.close(fd)
    source = mmap.mmap(-1, 2 * block)  # page-aligned
    source.write(os.urandom(2 * block))
    async with AIOFile(path, "w+b", context=ctx, opener=_odirect_opener) as afp:
        assert await afp.write_bytes(source, 0) == 2 * block
        target = mmap.mmap(-1, 2 * block)
        assert await afp.readinto(target, 0) == 2 * block
        assert target[:] == source[:]
        with pytest.raises(OSError) as info:  # unaligned: the kernel refuses
            await afp.read_bytes(10, 1)
        assert info.value.errno == errno.EINVAL
    assert path.read_bytes() == source[:]


async def test_cancelled_open_leaks_no_fd(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(5):
        afp = AIOFile(path, "rb", context=ctx)
        task = asyncio.ensure_future(afp.open())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert afp.closed
        await afp.open()  # usable: opens again (or joins the open still in flight)
        assert not afp.closed
        await afp.close()
    # Opens abandoned by every awaiter close their fd when they land; the bound is
    # a hang guard, generous for a loaded machine.
    deadline = asyncio.get_running_loop().time() + 60
    while not set(os.listdir("/proc/self/fd")) <= before and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert set(os.listdir("/proc/self/fd")) <= before


async def test_close_waits_for_operations_and_survives_cancellation(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * (4 << 20))
    afp = await AIOFile(path, "rb", context=ctx)
    fd = fd_watch.remember(afp.fileno())
    reading = asyncio.ensure_future(afp.read_bytes(4 << 20, 0))
    await asyncio.sleep(0)
    reading.cancel()
    closing = asyncio.ensure_future(afp.close())
    await asyncio.sleep(0)
    closing.cancel()  # cancelling close does not stop it
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert afp.closed and afp._pending == 0  # it waited for the read
    assert fd_watch.closed(fd)


async def test_close_of_a_pipe_does_not_wait_for_a_blocked_read(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer_fd = os.open(fifo, os.O_RDWR)  # keeps the FIFO open without blocking
    try:
        afp = await AIOFile(fifo, "rb", context=ctx)
        fd = fd_watch.remember(afp.fileno())
        reading = asyncio.ensure_future(afp.read_bytes(5, 0))
        await asyncio.sleep(0.05)  # the read now waits in the backend for data
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        await asyncio.wait_for(afp.close(), 5)  # returns although the read still waits
        assert afp.closed
        os.fstat(fd)  # not closed under the blocked read
        os.write(writer_fd, b"hello")  # the read completes; then the fd is closed
        for _ in range(500):
            if afp._pending == 0:
                break
            await asyncio.sleep(0.01)
        assert fd_watch.closed(fd)
    finally:
        os.close(writer_fd)


async def test_io_unsupported_operation_is_value_error() -> None:
    # UnsupportedOperation (raised by the wrappers) is both OSError and ValueError, as in io.
    assert issubclass(io.UnsupportedOperation, ValueError)


async def test_closed_context_is_an_error(tmp_path: Path, backend: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    context = backend.AsyncioContext()
    async with AIOFile(path, "rb", context=context) as afp:
        assert await afp.read() == b"x"
        await context.aclose()
        with pytest.raises(ValueError, match="closed"):
            await afp.read()


async def test_forgotten_file_is_closed_with_a_warning(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    afp = await AIOFile(tmp_path / "f", "w", context=ctx)
    fd = fd_watch.remember(afp.fileno())
    with pytest.warns(ResourceWarning, match="unclosed file"):  # noqa: PT031 - the drop must be inside
        del afp
        gc.collect()
    assert fd_watch.closed(fd)
