"""``aiofile.tempfile`` against ``tempfile``: names, modes, contents and cleanup, on every backend."""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

import aiofile as aiofiles
from aiofile import tempfile as atf


async def test_temporary_file_is_unnamed_and_gone(tmp_path: Path, ctx: Any, fd_watch: Any) -> None:
    async with atf.TemporaryFile(dir=tmp_path, context=ctx) as f:
        assert await f.write(b"hello") == 5
        await f.seek(0)
        assert await f.read() == b"hello"
        assert isinstance(f.name, int) and f.name == f.fileno()
        assert os.listdir(tmp_path) == []  # O_TMPFILE or unlinked at once
        fd = fd_watch.remember(f.fileno())
    assert fd_watch.closed(fd)


async def test_temporary_file_text_mode(tmp_path: Path, ctx: Any) -> None:
    async with atf.TemporaryFile("w+", encoding="utf-16", dir=tmp_path, context=ctx) as f:
        await f.write("héllo")
        await f.seek(0)
        assert await f.read() == "héllo"


@pytest.mark.parametrize("delete_on_close", [True, False])
async def test_named_temporary_file_like_tempfile(tmp_path: Path, ctx: Any, delete_on_close: bool) -> None:
    async with atf.NamedTemporaryFile(
        "w+b", suffix=".sfx", prefix="pre-", dir=tmp_path, delete_on_close=delete_on_close, context=ctx
    ) as f:
        name = f.name
        with tempfile.NamedTemporaryFile(suffix=".sfx", prefix="pre-", dir=tmp_path) as g:
            assert os.path.dirname(name) == os.path.dirname(g.name)
            assert len(os.path.basename(name)) == len(os.path.basename(g.name))
            assert stat.S_IMODE(os.stat(name).st_mode) == stat.S_IMODE(os.stat(g.name).st_mode) == 0o600
        assert os.path.basename(name).startswith("pre-") and name.endswith(".sfx")
        await f.write(b"data")
        await f.flush()
        assert Path(name).read_bytes() == b"data"
        await f.close()
        assert os.path.exists(name) is (not delete_on_close)
    assert not os.path.exists(name)


async def test_named_temporary_file_delete_false_and_bytes(tmp_path: Path, ctx: Any) -> None:
    async with atf.NamedTemporaryFile(dir=os.fsencode(tmp_path), delete=False, context=ctx) as f:
        assert isinstance(f.name, bytes)
        await f.write(b"kept")
    assert Path(os.fsdecode(f.name)).read_bytes() == b"kept"
    with pytest.raises(TypeError):
        atf.NamedTemporaryFile(dir=os.fsencode(tmp_path), suffix="x", context=ctx)


async def test_cleanup_when_body_raises_or_is_cancelled(tmp_path: Path, ctx: Any) -> None:
    names: list[Any] = []
    with pytest.raises(RuntimeError):
        async with atf.NamedTemporaryFile(dir=tmp_path, context=ctx) as f:
            names.append(f.name)
            raise RuntimeError("body")
    with pytest.raises(RuntimeError):
        async with atf.TemporaryDirectory(dir=tmp_path, context=ctx) as d:
            names.append(d)
            (Path(d) / "sub").mkdir()
            (Path(d) / "sub" / "f").write_bytes(b"x")
            raise RuntimeError("body")
    started = asyncio.Event()

    async def body() -> None:
        async with atf.TemporaryDirectory(dir=tmp_path, context=ctx) as d:
            names.append(d)
            for i in range(50):
                (Path(d) / f"f{i}").write_bytes(b"x")
            async with atf.NamedTemporaryFile(dir=d, context=ctx) as g:
                names.append(g.name)
                started.set()
                await asyncio.Event().wait()

    task = asyncio.ensure_future(body())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert os.listdir(tmp_path) == []
    assert not any(os.path.exists(n) for n in names)


async def test_temporary_directory_like_tempfile(tmp_path: Path, ctx: Any) -> None:
    td = atf.TemporaryDirectory(suffix="-s", prefix="p-", dir=tmp_path, context=ctx)
    async with td as name:
        assert td.name == name and os.path.isdir(name)
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o700
        assert os.path.basename(name).startswith("p-") and name.endswith("-s")
        os.symlink("/", Path(name) / "root_link")  # rmtree must not follow it
    assert not os.path.exists(name)
    assert os.path.isdir("/bin") or os.path.isdir("/usr")
    kept = atf.TemporaryDirectory(dir=tmp_path, delete=False, context=ctx)
    async with kept as name2:
        pass
    assert os.path.isdir(name2)
    os.rmdir(name2)
    d = await atf.TemporaryDirectory(dir=tmp_path, context=ctx)
    assert os.path.isdir(d.name)
    await d.cleanup()
    assert os.listdir(tmp_path) == []


async def test_temporary_directory_ignore_cleanup_errors(tmp_path: Path, ctx: Any) -> None:
    async with atf.TemporaryDirectory(dir=tmp_path, ignore_cleanup_errors=True, context=ctx) as name:
        os.rmdir(name)  # gone already: the cleanup error is ignored
    with pytest.raises(FileNotFoundError):
        async with atf.TemporaryDirectory(dir=tmp_path, context=ctx) as name:
            os.rmdir(name)


@pytest.mark.parametrize("mode", ["w+b", "w+"])
async def test_spooled_matches_tempfile(ctx: Any, mode: str, tmp_path: Path) -> None:
    chunks = ["abc\n", "defgh\n", "x" * 30 + "\n", "tail"]
    async with atf.SpooledTemporaryFile(max_size=16, mode=mode, dir=tmp_path, context=ctx) as ours:
        with tempfile.SpooledTemporaryFile(max_size=16, mode=mode, dir=tmp_path) as theirs:
            for chunk in chunks:
                data: Any = chunk.encode() if "b" in mode else chunk
                assert await ours.write(data) == theirs.write(data)
                assert ours._rolled == theirs._rolled
            assert await ours.tell() == len("".join(chunks))
            await ours.seek(0)
            theirs.seek(0)
            assert await ours.readline() == theirs.readline()
            assert await ours.read() == theirs.read()
            await ours.seek(0)
            theirs.seek(0)
            assert [line async for line in ours] == list(theirs)
    assert ours.closed
    assert os.listdir(tmp_path) == []


async def test_spooled_rollover_keeps_content_and_position(ctx: Any, tmp_path: Path) -> None:
    async with atf.SpooledTemporaryFile(max_size=100, mode="w+", dir=tmp_path, context=ctx) as f:
        await f.write("héllo\nwörld\n")
        await f.seek(0)
        assert await f.readline() == "héllo\n"
        await f.rollover()
        assert f._rolled and isinstance(f.name, int)
        assert await f.read() == "wörld\n"
        await f.seek(0)
        assert await f.read() == "héllo\nwörld\n"


def test_aiofiles_names() -> None:
    assert aiofiles.tempfile.TemporaryDirectory is atf.TemporaryDirectory
    for name in atf.__all__:
        assert getattr(atf, name).__doc__, name
