"""``async_open`` file objects behave like the builtin ``open()``'s."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from aiofile import AIOFile, BinaryFileWrapper, TextFileWrapper, async_open, clone

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        ("rq", {}),
        ("rr", {}),
        ("rw", {}),
        ("", {}),
        ("rbt", {}),
        ("b", {}),
        (5, {}),
        ("rb", {"encoding": "utf-8"}),
        ("rb", {"errors": "strict"}),
        ("rb", {"newline": ""}),
        ("r", {"newline": "x"}),
        ("r", {"buffering": 0}),
    ],
)
async def test_mode_errors_match_open(tmp_path: Path, mode: Any, kwargs: dict[str, Any]) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    with pytest.raises((ValueError, TypeError)) as expected:
        open(path, mode, **kwargs)  # noqa: SIM115
    with pytest.raises(type(expected.value)) as ours:
        async_open(path, mode, **kwargs)
    assert str(ours.value) == str(expected.value)


async def test_open_forms(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    path = tmp_path / "f"
    path.write_text("héllo", encoding="latin-1")
    for spec in (str(path), path, os.fsencode(path)):
        async with async_open(spec, "r", encoding="latin-1", context=ctx) as f:
            assert isinstance(f, TextFileWrapper) and await f.read() == "héllo"
    # aiofile 3.x positional order (encoding, context, executor) and open()'s (buffering, encoding, ...)
    async with async_open(path, "r", "latin-1", ctx) as f:
        assert await f.read() == "héllo"
    async with async_open(path, "r", 16, "latin-1", context=ctx) as f:
        assert f.encoding == "latin-1" and await f.read() == "héllo"
    with open(path, "rb") as fp:
        async with async_open(fp, context=ctx) as f:
            assert isinstance(f, BinaryFileWrapper) and await f.read() == "héllo".encode("latin-1")
    with open(path, encoding="latin-1") as fp:
        async with async_open(fp, context=ctx) as f:
            assert await f.read() == "héllo"  # the file object's encoding
    fd = fd_watch.remember(os.open(path, os.O_RDONLY))
    f = await async_open(fd, "rb", context=ctx)  # await without async with
    assert await f.read(2) == b"h\xe9"
    await f.close()
    assert fd_watch.closed(fd)


async def test_attributes_and_close(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    f = async_open(path, "w+", context=ctx)
    assert f.closed  # not opened yet
    await f
    assert not f.closed and f.name == str(path) and f.mode == "w+"
    assert f.readable() and f.writable() and f.seekable() and not f.isatty()
    assert isinstance(f.fileno(), int) and f.encoding == "utf-8" and f.errors == "strict" and f.newline is None
    await f.close()
    await f.close()
    assert f.closed
    for call in (f.tell, f.readable, f.fileno, lambda: f.seek(0)):
        with pytest.raises(ValueError, match="closed file"):
            call()
    for coro in (f.read, f.readline, lambda: f.write("x"), f.flush):
        with pytest.raises(ValueError, match="closed file"):
            await coro()


async def test_unsupported_operations(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_text("abc")
    async with async_open(path, "r", context=ctx) as f:
        with pytest.raises(io.UnsupportedOperation, match="not writable"):
            await f.write("x")
        with pytest.raises(TypeError):
            await f.read(1.5)  # type: ignore[arg-type]
        with pytest.raises(io.UnsupportedOperation, match="cur-relative"):
            f.seek(1, os.SEEK_CUR)
        with pytest.raises(io.UnsupportedOperation, match="end-relative"):
            f.seek(1, os.SEEK_END)
        with pytest.raises(ValueError, match="negative seek position -1"):
            f.seek(-1)
        with pytest.raises(ValueError, match="invalid whence"):
            f.seek(0, 7)
    async with async_open(path, "wb", context=ctx) as f:
        with pytest.raises(io.UnsupportedOperation, match="not readable"):
            await f.read()
        with pytest.raises(TypeError):
            await f.write("str")
        with pytest.raises(OSError) as info:
            f.seek(-1)
        assert info.value.errno == errno.EINVAL


async def test_text_read_counts_characters(tmp_path: Path, ctx: Any) -> None:
    text = "aé€😀\n" * 50
    for encoding in ("utf-8", "utf-16", "utf-8-sig", "utf-32"):
        path = tmp_path / encoding
        path.write_text(text, encoding=encoding)
        async with async_open(path, encoding=encoding, buffering=7, context=ctx) as f:
            pieces = []
            while piece := await f.read(5):
                assert len(piece) <= 5
                pieces.append(piece)
            assert "".join(pieces) == text, encoding


async def test_write_returns_characters_and_newline_translation(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    async with async_open(path, "w", newline="\r\n", context=ctx) as f:
        assert await f.write("héllo\n") == 6
        await f.writelines(["a\n", "b"])
    assert path.read_bytes() == "héllo\r\na\r\nb".encode()
    async with async_open(path, context=ctx) as f:
        assert await f.readlines() == ["héllo\n", "a\n", "b"]
    async with async_open(path, newline="", context=ctx) as f:
        assert await f.readlines() == ["héllo\r\n", "a\r\n", "b"]


async def test_readline_size_stops_at_the_line(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"ab\ncdef\ngh")
    async with async_open(path, "rb", context=ctx) as f:
        assert await f.readline(5) == b"ab\n" and f.tell() == 3
        assert await f.readline(2) == b"cd" and f.tell() == 5
        assert await f.readline() == b"ef\n"
        assert await f.readline() == b"gh"
        assert await f.readline() == b""
    async with async_open(path, "r", context=ctx) as f:
        assert await f.readline(5) == "ab\n" and f.tell() == 3


async def test_iteration_starts_at_the_position_and_moves_it(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_text("one\ntwo\nthree\nfour")
    for mode in ("r", "rb"):
        async with async_open(path, mode, context=ctx) as f:
            await f.readline()
            seen = []
            async for line in f:
                seen.append(line)
                if len(seen) == 1:
                    position = f.tell()
            assert [x if isinstance(x, str) else x.decode() for x in seen] == ["two\n", "three\n", "four"]
            assert position == 8 and f.tell() == 18
        async with async_open(path, mode, context=ctx) as f:
            f.seek(4)
            chunks = [c async for c in f.iter_chunked(3)]
            assert b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks) == b"two\nthree\nfour"
            assert f.tell() == 18


async def test_iteration_survives_reads_between_lines(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)))
    with open(path, "rb") as ref:
        expected = []
        for line in ref:
            expected.append(line)
            expected.append(ref.read(3))
    async with async_open(path, "rb", buffering=100, context=ctx) as f:
        got = []
        async for line in f:
            got.append(line)
            got.append(await f.read(3))
    assert got == expected


def _numbered_lines(count: int) -> str:
    return "".join(f"line {i} {'x' * (i % 7)}\n" for i in range(count))


@pytest.mark.parametrize("buffering", [64, 4096, -1])
async def test_text_iteration_tells_and_reads_between_lines(tmp_path: Path, ctx: Any, buffering: int) -> None:
    path = tmp_path / "f"
    path.write_text(_numbered_lines(2000) + "tail")
    with open(path) as ref:
        expected = []
        while line := ref.readline():
            expected.append((line, ref.tell(), ref.read(3), ref.tell()))
    async with async_open(path, buffering=buffering, context=ctx) as f:
        got = []
        async for line in f:
            got.append((line, f.tell(), await f.read(3), f.tell()))
    assert got == expected
    async with async_open(path, buffering=buffering, context=ctx) as f:
        positions = [(line, f.tell()) async for line in f]
    with open(path) as ref:
        assert positions == [(line, ref.tell()) for line in iter(ref.readline, "")]


async def test_text_iteration_follows_seek_readline_and_break(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    text = _numbered_lines(3000)
    path.write_text(text)
    lines = text.splitlines(True)
    async with async_open(path, context=ctx) as f:
        seen = []
        async for line in f:
            seen.append(line)
            if len(seen) == 5:
                f.seek(len("".join(lines[:2])))  # back to line 2: the iteration follows
            if len(seen) == 10:
                break
        assert seen == lines[:5] + lines[2:7]
        assert f.tell() == len("".join(lines[:7]))
        assert await f.readline() == lines[7]
        assert [line async for line in f] == lines[8:]
        assert f.tell() == len(text)
    async with async_open(path, context=ctx) as f:
        seen = []
        async for line in f:
            seen.append(line)
            if len(seen) % 97 == 0:
                seen.append(await f.readline())
        assert seen == lines


async def test_two_text_iterators_share_the_position(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    text = _numbered_lines(5000)
    path.write_text(text)
    async with async_open(path, context=ctx) as f:
        first, second = f.__aiter__(), f.__aiter__()
        seen = []
        while True:
            try:
                seen.append(await first.__anext__())
                seen.append(await second.__anext__())
                seen.append(await second.__anext__())
            except StopAsyncIteration:
                break
        assert seen == text.splitlines(True)
        assert f.tell() == len(text)


async def test_text_write_during_iteration_lands_at_the_position(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    text = _numbered_lines(3000)
    path.write_text(text)
    lines = text.splitlines(True)
    async with async_open(path, "r+", context=ctx) as f:
        seen = []
        async for line in f:
            seen.append(line)
            if len(seen) == 1000:
                await f.write("X" * len(lines[1000]))
        assert seen == lines[:1000] + lines[1001:]
    assert path.read_text() == "".join(lines[:1000]) + "X" * len(lines[1000]) + "".join(lines[1001:])


async def test_append_mode_tells_the_truth(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_text("hello")
    async with async_open(path, "a+", context=ctx) as f:
        assert f.tell() == 5
        assert await f.read() == ""
        f.seek(0)
        assert await f.read(2) == "he"
        await f.write("XY")
        assert f.tell() == 7
        await f.flush()
        assert f.tell() == 7
        f.seek(0)
        assert await f.read() == "helloXY"
    async with async_open(path, "ab", context=ctx) as f:
        assert f.tell() == 7
        await f.write(b"Z" * 100_000)  # larger than the buffer: written directly
        assert f.tell() == 100_007
    assert path.read_bytes() == b"helloXY" + b"Z" * 100_000
    missing = tmp_path / "created"
    async with async_open(missing, "a+", context=ctx) as f:
        await f.write("new")
    assert missing.read_text() == "new"


async def test_buffered_writes_need_flush(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    async with async_open(path, "wb", context=ctx) as f:
        await f.write(b"abc")
        assert path.read_bytes() == b""  # still buffered
        await f.flush()
        assert path.read_bytes() == b"abc"
        await f.write(b"def")
    assert path.read_bytes() == b"abcdef"


async def test_failed_write_raises(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    fd = fd_watch.remember(os.open(path, os.O_RDONLY))  # a read-only fd used for writing
    f = await async_open(fd, "wb", context=ctx)
    await f.write(b"data")  # buffered
    with pytest.raises(OSError) as info:
        await f.flush()
    assert info.value.errno == errno.EBADF
    with pytest.raises(OSError):
        await f.close()  # the data is still pending: close reports it, and closes
    assert f.closed
    assert fd_watch.closed(fd)


async def test_truncate(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    async with async_open(path, "r+b", context=ctx) as f:
        assert await f.read(4) == b"0123"
        assert await f.truncate() == 4 and f.tell() == 4
        assert path.read_bytes() == b"0123"
        assert await f.truncate(2) == 2
        assert await f.read() == b""
    assert path.read_bytes() == b"01"


async def test_readinto_and_peek(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abcdefgh")
    async with async_open(path, "rb", context=ctx) as f:
        assert await f.read(1) == b"a"
        buffer = bytearray(4)
        assert await f.readinto(buffer) == 4 and buffer == b"bcde"
        assert (await f.peek()).startswith(b"fgh") and f.tell() == 5
        assert await f.read1(2) == b"fg"
        with pytest.raises(TypeError):
            await f.readinto(b"readonly")


async def test_text_seek_cookies_round_trip(tmp_path: Path, ctx: Any) -> None:
    text = "a\r\nb\rc\nd€😀\r"
    path = tmp_path / "f"
    for encoding in ("utf-8", "utf-16", "utf-8-sig"):
        path.write_bytes(text.encode(encoding))
        async with async_open(path, encoding=encoding, buffering=3, context=ctx) as f:
            positions = []
            while True:
                positions.append(f.tell())
                if not await f.read(1):
                    break
            for index, cookie in enumerate(positions):
                f.seek(cookie)
                with open(path, encoding=encoding) as ref:
                    ref.seek(cookie)  # our cookies are open()'s
                    assert await f.read() == ref.read() == text.replace("\r\n", "\n").replace("\r", "\n")[index:]


async def test_utf16_cookie_after_a_write_decodes_where_open_cannot(tmp_path: Path, ctx: Any) -> None:
    """A deliberate difference (README): open()'s write resets its decoder, so its tell() after a
    write and a read at EOF expects a BOM there, and reading back from it fails once text follows.
    Ours keeps the decoder's byte order: the cookie reads back what was written."""
    path = tmp_path / "f"
    path.write_bytes("x".encode("utf-16"))
    with open(path, "r+", encoding="utf-16") as ref:
        assert ref.read() == "x"
        ref.write("y")
        assert ref.read(1) == ""
        cookie = ref.tell()
        ref.write("z")
        ref.seek(cookie)
        with pytest.raises(UnicodeError, match="BOM"):
            ref.read()
    path.write_bytes("x".encode("utf-16"))
    async with async_open(path, "r+", encoding="utf-16", context=ctx) as f:
        assert await f.read() == "x"
        await f.write("y")
        assert await f.read(1) == ""
        cookie = f.tell()
        await f.write("z")
        f.seek(cookie)
        assert await f.read() == "z"
    assert path.read_bytes() == "xyz".encode("utf-16")


async def test_errors_argument_and_mid_character_seek(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"ok\xff\xfe" + "é".encode())
    async with async_open(path, errors="replace", context=ctx) as f:
        assert await f.read() == "ok\ufffd\ufffdé"
    async with async_open(path, context=ctx) as f:
        with pytest.raises(UnicodeDecodeError):
            await f.read()
    path.write_text("日本")
    async with async_open(path, errors="ignore", context=ctx) as f:
        f.seek(1)  # inside a character, as open() allows
        assert await f.read() == "本"


async def test_pipe_reads_to_the_end(ctx: Any) -> None:
    read_fd, write_fd = os.pipe()
    payload = b"".join(b"%d\n" % i for i in range(20_000))

    def produce() -> None:
        with open(write_fd, "wb") as w:
            for i in range(0, len(payload), 1000):
                w.write(payload[i : i + 1000])
                w.flush()

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        async with async_open(read_fd, "rb", context=ctx) as f:
            assert not f.seekable()
            with pytest.raises(OSError):
                f.tell()
            first = await f.readline()
            assert first == b"0\n"
            lines = [line async for line in f]
            assert first + b"".join(lines) == payload
    finally:
        thread.join()


async def test_fifo_text(tmp_path: Path, ctx: Any) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def produce() -> None:
        with open(fifo, "w") as w:
            w.write("héllo\nwörld\n")

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        async with async_open(fifo, "r", context=ctx) as f:
            assert await f.read() == "héllo\nwörld\n"
    finally:
        thread.join()


async def test_clone_has_its_own_position(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    async with async_open(path, "rb", context=ctx) as f:
        assert await f.read(3) == b"012"
        async with clone(f) as g:
            assert g.tell() == 0  # aiofile 3.x: a clone starts at 0, not at the source's position
            assert await g.read(2) == b"01"
            assert f.tell() == 3 and await f.read(1) == b"3"
        assert not f.closed
        fd = fd_watch.remember(f.fileno())
    assert fd_watch.closed(fd)


async def test_cancelled_read_keeps_the_position(lib: Any, tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    data = os.urandom(300_000)
    path.write_bytes(data)
    async with async_open(path, "rb", buffering=1000, context=ctx) as f:
        assert await f.read(10) == data[:10]
        for _ in range(20):
            task = lib.spawn(f.read(50_000))
            await lib.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                assert f.tell() == 10
            else:
                f.seek(10)
        assert await f.read(20) == data[10:30]


async def test_close_finishes_when_cancelled(lib: Any, tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    path = tmp_path / "f"
    f = await async_open(path, "wb", context=ctx)
    await f.write(b"x" * 1000)
    fd = fd_watch.remember(f.fileno())
    task = lib.spawn(f.close())
    await lib.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert f.closed
    assert fd_watch.closed(fd)
    assert path.read_bytes() == b"x" * 1000


async def test_wrapper_type_checks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="binary mode"):
        BinaryFileWrapper(AIOFile(tmp_path / "f", "r"))
    with pytest.raises(ValueError, match="text mode"):
        TextFileWrapper(AIOFile(tmp_path / "f", "rb"))


async def test_large_text_file_lines(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    lines = [f"{i:05d} é€\n" for i in range(30_000)]
    path.write_text("".join(lines), encoding="utf-8")
    async with async_open(path, context=ctx) as f:
        got = [line async for line in f]
        assert got == lines
        assert f.tell() == path.stat().st_size
    async with async_open(path, "rb", context=ctx) as f:
        assert await f.read() == path.read_bytes()


def _direct(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_DIRECT, 0o666)


async def test_o_direct_file_object(tmp_path: Path, ctx: Any) -> None:
    import mmap

    path = tmp_path / "direct"
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o600))
    except OSError as exc:
        pytest.skip(f"O_DIRECT unsupported here: {exc}")
    block = 4096
    buffer = mmap.mmap(-1, 3 * block)
    buffer.write(os.urandom(3 * block))
    async with async_open(path, "wb", buffering=0, opener=_direct, context=ctx) as f:
        assert await f.write(buffer) == 3 * block  # straight from the aligned buffer
        assert f.tell() == 3 * block
    target = mmap.mmap(-1, 2 * block)
    async with async_open(path, "rb", buffering=0, opener=_direct, context=ctx) as f:
        assert await f.readinto(target) == 2 * block
        assert target[:] == buffer[: 2 * block]
        assert await f.readinto(target) == block  # short at EOF, no unaligned retry
        assert target[:block] == buffer[2 * block :]
        assert await f.readinto(target) == 0


async def test_write_behind_keeps_order_and_reports_errors(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    block = bytes(range(256)) * 512  # 128 KiB: larger than the buffer, written behind
    async with async_open(path, "w+b", context=ctx) as f:
        for i in range(6):
            await f.write(bytes([i]) * len(block))
        f.seek(len(block))  # overwrite the second block while later ones may be in flight
        await f.write(block)
        assert f.seek(0, os.SEEK_END) == 6 * len(block)
        f.seek(0)
        data = await f.read()
    expected = b"\x00" * len(block) + block + b"".join(bytes([i]) * len(block) for i in range(2, 6))
    assert data == expected == path.read_bytes()
    read_only = os.open(path, os.O_RDONLY)
    f = await async_open(read_only, "wb", context=ctx)
    await f.write(block)  # accepted; fails in flight
    with pytest.raises(OSError) as info:
        await f.flush()
    assert info.value.errno == errno.EBADF
    await f.close()


@pytest.mark.asyncio_only
async def test_a_write_behind_failure_survives_a_cancelled_wait(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    """The task waiting for a failing write-behind is cancelled as the failure arrives: the next flush raises it."""
    path = tmp_path / "f"
    path.write_bytes(b"")
    fd = fd_watch.remember(os.open(path, os.O_RDONLY))  # a read-only fd used for writing
    f = await async_open(fd, "wb", context=ctx)
    await f.write(b"x" * (128 * 1024))  # larger than the buffer: written behind, fails in flight
    task = asyncio.ensure_future(f.flush())
    while not f._writing:  # flush sends the gathered write, then waits for it
        await asyncio.sleep(0)
    f._writing[0][0].add_done_callback(lambda _: task.cancel())  # the cancel comes with the failure
    with pytest.raises((asyncio.CancelledError, OSError)):
        await task
    if not task.cancelled():
        pytest.skip("the failure reached flush() before the cancellation: nothing to check")
    with pytest.raises(OSError) as info:
        await f.flush()
    assert info.value.errno == errno.EBADF
    await f.close()
    assert path.read_bytes() == b""


@pytest.mark.parametrize("mode", ["wb", "w"])
async def test_a_descriptor_opened_for_appending_gets_its_writes_in_order(
    tmp_path: Path, ctx: Any, fd_watch: Any, mode: str
) -> None:
    """An O_APPEND descriptor given with mode "w"/"wb": every write lands at the end, in order, as with open()."""
    path = tmp_path / "f"
    path.write_bytes(b"start\n")
    blocks = [bytes([97 + i]) * (128 * 1024 - 1) + b"\n" for i in range(8)]  # larger than the buffer
    fd = fd_watch.remember(os.open(path, os.O_WRONLY | os.O_APPEND))
    async with async_open(fd, mode, closefd=False, context=ctx) as f:
        for block in blocks:
            await f.write(block if mode == "wb" else block.decode())
        for i in range(1000):
            await f.write(b"%04d\n" % i if mode == "wb" else f"{i:04d}\n")
        await f.flush()
        assert f.tell() == path.stat().st_size
    os.close(fd)
    assert path.read_bytes() == b"start\n" + b"".join(blocks) + b"".join(b"%04d\n" % i for i in range(1000))


class _VectorCounter:
    """A duck-typed adapter over ``inner`` that counts writes and ``writev`` calls.

    With ``short``, each ``writev`` writes only the first 5 bytes of its first buffer.
    """

    def __init__(self, inner: Any, *, short: bool = False, vectors: bool = True) -> None:
        self.inner = inner
        self.short = short
        self.closed = False
        self.writes = 0
        self.writevs = 0
        if not vectors:
            self.writev = None  # type: ignore[assignment]
            del self.writev

    async def read(self, nbytes: int, fd: int, offset: int = 0) -> bytes:
        return bytes(await self.inner.read(nbytes, fd, offset))

    def write(self, payload: Any, fd: int, offset: int = 0) -> Any:
        self.writes += 1  # counted when submitted
        return self.inner.write(payload, fd, offset)

    def writev(self, buffers: Any, fd: int, offset: int = 0) -> Any:
        self.writevs += 1
        if self.short:
            return self.inner.write(memoryview(buffers[0])[:5], fd, offset)
        return self.inner.writev(buffers, fd, offset)

    async def fsync(self, fd: int) -> None:
        await self.inner.fsync(fd)

    async def fdsync(self, fd: int) -> None:
        await self.inner.fdsync(fd)


def _blocks(count: int, size: int = 64 * 1024) -> list[bytes]:
    return [bytes([i % 251]) * (size - 1) + b"\n" for i in range(count)]


async def test_large_writes_are_gathered_into_vectored_writes(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    adapter = _VectorCounter(ctx)
    blocks = _blocks(10)  # 8 blocks (512 KiB) go out as one writev; the last 2 at flush
    async with async_open(path, "w+b", context=adapter) as f:
        for block in blocks:
            assert await f.write(block) == len(block)
        assert f.tell() == 10 * len(blocks[0])
        assert f.seek(0, os.SEEK_END) == 10 * len(blocks[0])  # held writes count in the size
        assert (adapter.writevs, adapter.writes) == (1, 0)
        await f.flush()
        assert (adapter.writevs, adapter.writes) == (2, 0)
        assert path.read_bytes() == b"".join(blocks)
        # A write elsewhere sends what is gathered first; reading sees everything.
        f.seek(0)
        await f.write(blocks[3])
        f.seek(5 * len(blocks[0]))
        await f.write(blocks[4])
        f.seek(0)
        assert await f.read() == b"".join([blocks[3], *blocks[1:5], blocks[4], *blocks[6:]])
    assert path.read_bytes() == b"".join([blocks[3], *blocks[1:5], blocks[4], *blocks[6:]])


async def test_gathered_writes_continue_short_writes_and_work_without_writev(tmp_path: Path, ctx: Any) -> None:
    blocks = _blocks(5, 1000)
    for adapter in (_VectorCounter(ctx, short=True), _VectorCounter(ctx, vectors=False)):
        path = tmp_path / "f"
        async with async_open(path, "wb", buffering=100, context=adapter) as f:
            for block in blocks:
                await f.write(block)
            await f.write(b"tail")  # smaller than the buffer: buffered, written after the gathered data
        assert path.read_bytes() == b"".join(blocks) + b"tail"
        assert adapter.writes >= 1


async def test_text_truncate_flush_sync_and_newlines(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one\r\ntwo\nthree\rfour")
    async with async_open(path, "r+", context=ctx) as f:
        assert await f.readline() == "one\n"
        assert await f.read() == "two\nthree\nfour"
        assert set(f.newlines) == {"\r\n", "\n", "\r"}
        f.seek(0)
        await f.readline()
        assert await f.truncate() == 5
        await f.write("2\n")
        await f.flush(sync_metadata=False)  # aiofile 3.x: also fdatasync
        await f.flush(sync_metadata=True)
        assert path.read_bytes() == b"one\r\n2\n"


async def test_cancelled_text_read_keeps_the_position(lib: Any, tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    text = "".join(f"{i} é€\n" for i in range(20_000))
    path.write_text(text)
    async with async_open(path, buffering=512, context=ctx) as f:
        assert await f.read(3) == text[:3]
        for _ in range(20):
            position = f.tell()
            task = lib.spawn(f.read(40_000))
            await lib.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                assert f.tell() == position
            else:
                f.seek(position)
        assert await f.read(10) == text[3:13]


@pytest.mark.asyncio_only
@pytest.mark.parametrize("call", ["read", "readline"])
async def test_a_text_read_cancelled_after_writing_out_keeps_the_written_position(
    tmp_path: Path, ctx: Any, call: str
) -> None:
    """w+: write, then a read that writes the buffer out and is cancelled while it reads: the position
    stays after the written text (as open()'s after write + read at EOF), and the next write follows it."""
    path = tmp_path / "f"
    f = await async_open(path, "w+", context=ctx)
    await f.write("hello")
    never = asyncio.Event()
    real_read = f.file.read_bytes
    entered = asyncio.Event()

    async def stalled_read(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await never.wait()
        return await real_read(*args, **kwargs)

    f.file.read_bytes = stalled_read  # type: ignore[method-assign]
    f.file._read_once = lambda size, offset: asyncio.ensure_future(stalled_read(size, offset))  # type: ignore[method-assign]
    task = asyncio.ensure_future(getattr(f, call)())
    await entered.wait()
    assert path.read_bytes() == b"hello"  # written out before the read started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    del f.file.read_bytes, f.file._read_once
    assert f.tell() == 5
    await f.write("X")
    await f.close()
    assert path.read_text() == "helloX"


async def test_cancelled_write_leaves_a_consistent_position(lib: Any, tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    payload = bytearray(b"x" * (8 << 20))  # not bytes: written directly, awaited by write()
    async with async_open(path, "wb", context=ctx) as f:
        await f.write(b"head")
        task = lib.spawn(f.write(payload))
        await lib.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            assert f.tell() == 4  # the write may land, the position did not move
        else:
            assert f.tell() == 4 + len(payload)
            f.seek(4)
        await f.write(b"tail")
        assert f.tell() == 8
    assert path.read_bytes()[:8] == b"headtail"
