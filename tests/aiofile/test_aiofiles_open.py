"""``aiofile.open``, ``wrap`` and the std streams: aiofiles' conventions, the builtin's behaviour."""

from __future__ import annotations

import asyncio
import locale
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import aiofile as aiofiles


async def test_open_round_trip_with_awaited_seek_tell(tmp_path: Path, ctx: Any) -> None:
    p = tmp_path / "f"
    async with aiofiles.open(p, "w", context=ctx) as f:
        assert await f.write("héllo\nworld\n") == 12
        assert await f.tell() == f.tell()
    async with aiofiles.open(p, "r", context=ctx) as f:
        assert await f.readline() == "héllo\n"
        position = await f.tell()
        assert await f.read() == "world\n"
        assert await f.seek(position) == position
        assert await f.read() == "world\n"
        assert await f.seek(0) == 0
        assert [line async for line in f] == ["héllo\n", "world\n"]
        assert os.fspath(f.name) == str(p) and f.mode == "r"
    with open(p, encoding=locale.getpreferredencoding(False)) as g:
        assert g.read() == "héllo\nworld\n"


async def test_open_binary_and_await_form(tmp_path: Path, ctx: Any) -> None:
    p = tmp_path / "f"
    f = await aiofiles.open(p, "wb+", context=ctx)
    try:
        await f.write(b"0123456789")
        assert await f.seek(-3, os.SEEK_END) == 7
        assert await f.read() == b"789"
        assert f.seek(2) == 2  # also usable without await
        assert await f.read(2) == b"23"
    finally:
        await f.close()
    assert f.closed
    assert p.read_bytes() == b"0123456789"


async def test_default_encoding_is_the_builtins(tmp_path: Path, ctx: Any) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    async with aiofiles.open(p, context=ctx) as f:
        with open(p) as g:
            assert f.encoding.lower().replace("-", "") == g.encoding.lower().replace("-", "")


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [("rw", {}), ("rb", {"encoding": "utf-8"}), ("r", {"buffering": 0}), ("rb", {"newline": "\n"})],
)
def test_bad_arguments_raise_at_call_like_builtin(tmp_path: Path, mode: str, kwargs: dict[str, Any]) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"")
    with pytest.raises(ValueError) as ours:
        aiofiles.open(p, mode, **kwargs)
    with pytest.raises(ValueError) as theirs:
        open(p, mode, **kwargs)  # noqa: SIM115
    assert str(ours.value) == str(theirs.value)


async def test_open_errors_like_builtin(tmp_path: Path, ctx: Any) -> None:
    (tmp_path / "exists").write_bytes(b"")
    cases = [
        (tmp_path / "missing", "r"),
        (tmp_path, "r"),
        (tmp_path, "w"),
        (tmp_path / "exists", "x"),
        (tmp_path / "no" / "f", "w"),
    ]
    for path, mode in cases:
        with pytest.raises(OSError) as ours:
            await aiofiles.open(path, mode, context=ctx)
        with pytest.raises(OSError) as theirs:
            open(path, mode)  # noqa: SIM115
        assert (type(ours.value), ours.value.errno, ours.value.filename) == (
            type(theirs.value),
            theirs.value.errno,
            theirs.value.filename,
        ), (path, mode)


async def test_open_fd_and_opener(tmp_path: Path, ctx: Any) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"data")
    fd = os.open(p, os.O_RDONLY)
    async with aiofiles.open(fd, "rb", closefd=False, context=ctx) as f:
        assert await f.read() == b"data"
    os.fstat(fd)  # still open
    os.close(fd)
    calls = []

    def opener(path: str, flags: int) -> int:
        calls.append(path)
        return os.open(path, flags)

    async with aiofiles.open(p, "rb", opener=opener, context=ctx) as f:
        assert await f.read() == b"data"
    assert calls == [str(p)]


async def test_no_fd_leaks(tmp_path: Path, ctx: Any) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x")
    async with aiofiles.open(p, "rb", context=ctx) as f:
        await f.read()  # any companion pool is up now
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(20):
        async with aiofiles.open(p, "rb", context=ctx) as f:
            await f.read()
        with pytest.raises(IsADirectoryError):
            await aiofiles.open(tmp_path, context=ctx)
    assert sorted(os.listdir("/proc/self/fd")) == before


async def test_wrap(tmp_path: Path, ctx: Any) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"line1\nline2\n")
    with open(p, "rb") as raw:
        raw.seek(6)
        f = aiofiles.wrap(raw, context=ctx)
        assert await f.read() == b"line2\n"
        assert await f.seek(0) == 0
        await f.close()
        assert not raw.closed
    with open(p, encoding="utf-8") as text:
        f = aiofiles.wrap(text, context=ctx)
        assert await f.readline() == "line1\n"


def test_std_streams_in_a_child() -> None:
    code = textwrap.dedent(
        """
        import asyncio, aiofile as aiofiles
        async def main():
            line = await aiofiles.stdin.readline()
            await aiofiles.stdout.write(line.upper())
            await aiofiles.stdout.flush()
            await aiofiles.stdout_bytes.write(b"xyz"[::-1])
            await aiofiles.stdout_bytes.flush()
            await aiofiles.stderr.write("err\\n")
            await aiofiles.stderr.flush()
        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=b"hello\nxyz", capture_output=True, timeout=60, check=True
    )
    assert done.stdout == b"HELLO\nzyx"
    assert done.stderr == b"err\n"


async def test_cancelled_open_leaks_no_fd(tmp_path: Path, ctx: Any) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x")
    async with aiofiles.open(p, "rb", context=ctx) as f:
        await f.read()
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(20):
        task = asyncio.ensure_future(aiofiles.open(p, "rb", context=ctx).__aenter__())
        await asyncio.sleep(0)
        task.cancel()
        try:
            f = await task
        except asyncio.CancelledError:
            continue
        await f.close()
    deadline = asyncio.get_running_loop().time() + 10
    while sorted(os.listdir("/proc/self/fd")) != before:
        assert asyncio.get_running_loop().time() < deadline, "an fd leaked"
        await asyncio.sleep(0.005)


def test_stdin_bytes_in_a_child() -> None:
    code = "import asyncio, aiofile as a\nasync def main():\n    d = await a.stdin_bytes.read()\n"
    code += "    await a.stdout_bytes.write(d[::-1])\n    await a.stdout_bytes.flush()\nasyncio.run(main())\n"
    done = subprocess.run([sys.executable, "-c", code], input=b"abc\0def", capture_output=True, timeout=60, check=True)
    assert done.stdout == b"fed\0cba"


async def test_no_executor_for_open_read_write_close(
    tmp_path: Path, ctx: Any, monkeypatch: pytest.MonkeyPatch, fd_watch: Any
) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("run_in_executor called")

    monkeypatch.setattr(asyncio.get_running_loop(), "run_in_executor", refuse)
    p = tmp_path / "f"
    async with aiofiles.open(p, "w+", context=ctx) as f:
        await f.write("data")
        await f.seek(0)
        assert await f.read() == "data"
    fd = fd_watch.remember(os.open(p, os.O_RDONLY))
    async with aiofiles.open(fd, "rb", context=ctx) as f:  # closefd=True: closed by close_fd
        assert await f.read() == b"data"
    assert fd_watch.closed(fd)
    async with aiofiles.tempfile.NamedTemporaryFile(dir=tmp_path, context=ctx) as t:
        await t.write(b"x")
    assert await aiofiles.os.listdir(tmp_path, context=ctx) == ["f"]
