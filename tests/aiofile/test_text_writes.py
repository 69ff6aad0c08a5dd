"""The text write path: ``write()``'s shortest path (appending to the write buffer) changes nothing but speed.

Once a write has started the write buffer, the next ones append to it
directly (``TextFileWrapper._text_sink``): in C where ``_linuxaio._textsink``
is built, else in Python; every test here runs both. These tests pin what
must still hold: a flush in flight is waited for, a seek or a closed file is
noticed, an encoding error or a failed flush behaves as on the general path.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from aiofile import AIOFile, TextFileWrapper, _text, async_open

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True, params=["compiled", "python"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which shortest path ``write`` takes: ``_linuxaio._textsink``'s, or the pure-Python fallback."""
    if request.param == "python":
        monkeypatch.setattr(_text, "_TextSink", None)
        monkeypatch.setattr(TextFileWrapper, "write", TextFileWrapper._text_write_py)
    elif _text._TextSink is None:
        pytest.skip("_linuxaio._textsink is not built here")
    return str(request.param)


async def _text_file(path: Path | int, mode: str, ctx: Any, buffer_size: int) -> TextFileWrapper:
    afp = AIOFile(path, mode, context=ctx)
    await afp.open()
    return await TextFileWrapper(afp, encoding="utf-8", buffer_size=buffer_size)


async def test_writers_wait_for_a_flush_in_flight(lib: Any, tmp_path: Path, ctx: Any) -> None:
    """Tasks write lines while other tasks' writes flush a small buffer: every line lands once, in task order.

    With no inline time, every flush yields before it submits and holds the
    lock across the loop pass, so the other tasks' writes meet a flush in
    flight (an append to the buffer it is writing would raise BufferError or
    lose the line).
    """
    if hasattr(ctx, "_inline_slice_ns"):
        ctx._inline_slice_ns = 0
    path = tmp_path / "f"
    f = await _text_file(path, "w", ctx, buffer_size=256)

    async def writer(task: int) -> None:
        for i in range(200):
            await f.write(f"{task}:{i:04d}\n")
            if i % 7 == 0:
                await lib.sleep(0)

    await lib.gather(*(writer(task) for task in range(6)))
    await f.close()
    lines = path.read_text().splitlines()
    assert sorted(lines) == sorted(f"{task}:{i:04d}" for task in range(6) for i in range(200))
    for task in range(6):
        assert [line for line in lines if line.startswith(f"{task}:")] == [f"{task}:{i:04d}" for i in range(200)]


async def test_a_seek_between_writes_moves_the_next_write(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    async with async_open(path, "w+", encoding="utf-8", context=ctx) as f:
        for piece in ("abc", "def", "ghi"):
            await f.write(piece)
        assert f.tell() == 9
        f.seek(0)
        await f.write("X")
        assert f.tell() == 1
        await f.write("Y")
        f.seek(0, os.SEEK_END)
        await f.write("Z")
        assert f.tell() == 10
    assert path.read_text() == "XYcdefghiZ"


async def test_a_write_after_the_file_was_closed_underneath_raises(tmp_path: Path, ctx: Any) -> None:
    """Closing the ``AIOFile`` under the text object: the next write raises as ``open()``'s does."""
    f = await _text_file(tmp_path / "f", "w", ctx, buffer_size=1 << 16)
    await f.write("one\n")
    await f.write("two\n")  # appended directly
    await f.file.close()
    with pytest.raises(ValueError, match=r"^I/O operation on closed file\.$"):
        await f.write("three\n")


async def test_an_unencodable_write_raises_and_writes_nothing(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    expected = tmp_path / "expected"
    with open(expected, "w", encoding="utf-8") as sync:
        sync.write("ok")
        sync.write("!")
        with pytest.raises(UnicodeEncodeError):
            sync.write("\ud800")
        sync.write("?")
    async with async_open(path, "w", encoding="utf-8", context=ctx) as f:
        await f.write("ok")
        await f.write("!")
        with pytest.raises(UnicodeEncodeError):
            await f.write("\ud800")
        await f.write("?")
    assert path.read_bytes() == expected.read_bytes() == b"ok!?"


async def test_a_failed_flush_raises_from_the_write_that_filled_the_buffer(
    tmp_path: Path, ctx: Any, fd_watch: Any
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    fd = fd_watch.remember(os.open(path, os.O_RDONLY))  # a read-only fd used for writing
    f = await _text_file(fd, "w", ctx, buffer_size=64)
    for _ in range(5):
        await f.write("0123456789\n")  # 55 bytes, buffered (the last four appended directly)
    with pytest.raises(OSError) as info:
        await f.write("0123456789\n")  # 66 bytes: the buffer is full, its write fails
    assert info.value.errno == errno.EBADF
    assert f.tell() == 66  # the text was accepted; it is still pending
    with pytest.raises(OSError):
        await f.close()  # close reports it again, and closes
    assert f.closed
    assert fd_watch.closed(fd)
    assert path.read_bytes() == b""


async def test_a_full_buffer_is_in_the_file_before_write_returns(tmp_path: Path, ctx: Any) -> None:
    """As open(): once a write filled the buffer, its bytes are in the file (another reader sees them)."""
    path = tmp_path / "f"
    f = await _text_file(path, "w", ctx, buffer_size=1000)
    for i in range(250):
        await f.write(f"{i:03d}\n")  # 4 bytes each: the 250th fills the buffer
    assert path.read_bytes() == "".join(f"{i:03d}\n" for i in range(250)).encode()
    await f.write("end\n")
    assert path.stat().st_size == 1000  # the next write is buffered again
    await f.close()
    assert path.stat().st_size == 1004


async def test_full_buffers_keep_their_place_beside_another_writer(tmp_path: Path, ctx: Any) -> None:
    """Two writers on one file (open() twice): the later write of the other one wins, as with open()."""
    path = tmp_path / "f"
    a = await _text_file(path, "w", ctx, buffer_size=1000)
    for _ in range(100):
        await a.write("A" * 100)  # 10,000 characters: ten full buffers written
    async with async_open(path, "r+", encoding="utf-8", context=ctx) as b:
        await b.write("B" * 10)
    await a.close()
    assert path.read_text()[:12] == "B" * 10 + "AA"


async def test_full_buffers_reach_the_file_in_order_around_a_seek(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    f = await _text_file(path, "w+", ctx, buffer_size=100)
    lines = [f"{i:04d}-" + "x" * 15 + "\n" for i in range(400)]  # 20 bytes each: a full buffer every 5
    for line in lines[:200]:
        await f.write(line)
    f.seek(20 * 10)
    await f.write("SEEK")
    f.seek(0, os.SEEK_END)
    for line in lines[200:]:
        await f.write(line)
    f.seek(0)
    expected = "".join(lines)
    expected = expected[:200] + "SEEK" + expected[204:]
    assert await f.read() == expected
    await f.close()
    assert path.read_text() == expected


async def test_lines_reach_the_file_through_many_flushes(tmp_path: Path, ctx: Any) -> None:
    """Thousands of small writes through a small buffer: the bytes on disk are the text, in order."""
    path = tmp_path / "f"
    lines = [f"{i:05d} é€\n" for i in range(5000)]
    f = await _text_file(path, "w", ctx, buffer_size=1000)
    for line in lines:
        assert await f.write(line) == len(line)
    assert f.tell() == len("".join(lines).encode())
    await f.close()
    assert path.read_text(encoding="utf-8") == "".join(lines)


async def test_write_returns_an_awaitable_of_the_length_that_tasks_take(tmp_path: Path, ctx: Any, aio: str) -> None:
    """What ``write`` returns: awaited, the length in characters; a coroutine to ``asyncio`` (create_task works)."""
    path = tmp_path / "f"
    async with async_open(path, "w", encoding="utf-8", context=ctx) as f:
        assert await f.write("first\n") == 6  # arms the shortest path
        pending = f.write("h\u00e9llo w\u00f6rld \U0001f600\n")  # non-ASCII: encoded, length in characters
        assert asyncio.iscoroutine(pending)
        assert await pending == 14
        if aio == "asyncio":
            assert await asyncio.create_task(f.write("third\n")) == 6  # type: ignore[arg-type]
            assert await asyncio.ensure_future(f.write("")) == 0
        else:
            assert await f.write("third\n") == 6
    assert path.read_text(encoding="utf-8") == "first\nh\u00e9llo w\u00f6rld \U0001f600\nthird\n"


async def test_a_str_subclass_and_a_non_str_take_the_general_path(tmp_path: Path, ctx: Any) -> None:
    class Text(str):
        pass

    path = tmp_path / "f"
    async with async_open(path, "w", encoding="utf-8", context=ctx) as f:
        await f.write("a\n")
        assert await f.write(Text("b\n")) == 2
        with pytest.raises(TypeError, match="write\\(\\) argument must be str, not bytes"):
            await f.write(b"c\n")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not None"):
            await f.write(None)  # type: ignore[arg-type]
        assert await f.write("d\n") == 2
    assert path.read_text(encoding="utf-8") == "a\nb\nd\n"


async def test_results_awaited_out_of_order_keep_their_own_length(tmp_path: Path, ctx: Any, aio: str) -> None:
    """Each call has its own result; the text is in the file in call order (as open()'s writes)."""
    path = tmp_path / "f"
    async with async_open(path, "w", encoding="utf-8", context=ctx) as f:
        await f.write("0\n")
        one, two, three = f.write("1\n"), f.write("22\n"), f.write("333\n")
        if aio == "asyncio":
            assert await asyncio.gather(three, one, two) == [4, 2, 3]
        else:
            assert [await three, await one, await two] == [4, 2, 3]
    assert path.read_text(encoding="utf-8") == "0\n1\n22\n333\n"


async def test_written_throw_takes_a_generators_forms() -> None:
    """``Written.throw`` as a generator's: an exception, a class, or a class and a value."""
    textsink = pytest.importorskip("_linuxaio._textsink")
    done = textsink.Written(3)
    with pytest.raises(KeyError):
        done.throw(KeyError)
    with pytest.raises(ValueError, match="given"):
        done.throw(ValueError("given"))
    with pytest.raises(ValueError, match="made"):
        done.throw(ValueError, "made")
    error = OSError(5, "instance")
    with pytest.raises(OSError) as info:
        done.throw(OSError, error)
    assert info.value is error
    with pytest.raises(StopIteration) as stop:
        done.send(None)
    assert stop.value.value == 3
    done.close()
