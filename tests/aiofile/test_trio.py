"""aiofile under trio and anyio: the default context per run, cancel scopes, checkpoints.

The rest of the helper tests run under trio through the ``aio`` fixture (see
``tests/conftest.py``); these are the checks that only make sense there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing

import _linuxaio
import aiofile
import aiofile.os as aos
import aiofile.shutil as ashutil
import aiofile.tempfile as atempfile
from _linuxaio.trio_context import TrioContext
from aiofile import AIOFile, LineReader, Reader, Writer, async_open
from aiofile._defaults import get_default_context

RUNNERS = ["trio", "anyio-trio", "anyio-asyncio"]


def run(runner: str, fn: Any) -> Any:
    if runner == "trio":
        return trio.run(fn)
    return anyio.run(fn, backend=runner.split("-", 1)[1])


@pytest.mark.parametrize("runner", RUNNERS)
def test_the_whole_surface_with_the_default_context(
    runner: str, tmp_path: Path, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every backend in turn: the selection the default contexts follow is pinned to it.
    monkeypatch.setattr(_linuxaio, "_selection", _linuxaio.Selection(backend.name, "test"))
    text = "hello\nwörld\n" * 1000
    p = tmp_path / "a.txt"

    async def main() -> None:
        async with async_open(p, "w") as f:
            assert await f.write(text) == len(text)
        async with async_open(p) as f:
            assert [line async for line in f] == text.splitlines(keepends=True)
        async with async_open(p, "rb") as f:
            f.seek(6)
            assert await f.read(6) == "wörld".encode()
        async with AIOFile(p, "r", encoding="utf-8") as afp:
            assert await afp.read(5, 0) == "hello"
            assert "".join([c async for c in Reader(afp, chunk_size=100)]) == text
            assert [line async for line in LineReader(afp)] == text.splitlines(keepends=True)
        async with AIOFile(tmp_path / "w", "w") as afp:
            write = Writer(afp)
            await write("abc")
            await write("déf")
            await afp.fsync()
        assert (tmp_path / "w").read_text() == "abcdéf"
        assert (await aos.stat(p)) == os.stat(p)
        await aos.rename(tmp_path / "w", tmp_path / "w2")
        assert await aos.path.exists(tmp_path / "w2")
        assert sorted(await aos.listdir(tmp_path)) == ["a.txt", "w2"]
        await aos.makedirs(tmp_path / "d" / "e")
        await ashutil.copytree(tmp_path / "d", tmp_path / "d2")
        assert (tmp_path / "d2" / "e").is_dir()
        await ashutil.copy2(p, tmp_path / "copy.txt")
        assert (tmp_path / "copy.txt").read_text() == text
        await ashutil.rmtree(tmp_path / "d2")
        async with atempfile.NamedTemporaryFile("w+", dir=tmp_path) as t:
            await t.write("xyz")
            await t.seek(0)
            assert await t.read() == "xyz"
        async with atempfile.TemporaryDirectory(dir=tmp_path) as d:
            assert os.path.isdir(d)
        async with aiofile.open(p, "rb") as f:
            assert await f.read(5) == b"hello"
        async with AIOFile(tmp_path / "big", "w+b") as afp:
            await afp.write(b"z" * (3 << 20))
            assert await afp.copy_to(tmp_path / "big2") == 3 << 20
        assert (tmp_path / "big2").read_bytes() == b"z" * (3 << 20)
        context = get_default_context()
        assert isinstance(context, TrioContext) == runner.endswith("trio")
        assert type(context.context).__module__ == f"_linuxaio.{_linuxaio._MODULES[backend.name]}"

    run(runner, main)


@pytest.mark.parametrize("runner", ["trio", "anyio-trio"])
def test_a_default_context_per_run_released_at_its_end(runner: str, tmp_path: Path) -> None:
    seen: list[Any] = []

    async def main() -> None:
        async with async_open(tmp_path / "f", "wb") as f:
            await f.write(b"x")
        seen.append(get_default_context())
        assert get_default_context() is seen[-1]

    run(runner, main)
    run(runner, main)
    assert seen[0] is not seen[1]
    for context in seen:
        assert context.closed
        assert context.context.closed


def test_cancel_scope_mid_read_and_mid_write_of_a_file_object() -> None:
    async def main() -> None:
        ctx = TrioContext()
        r, w = os.pipe()
        reader = open(r, "rb", buffering=0)  # noqa: SIM115 - handed to async_open
        writer = open(w, "wb", buffering=0)  # noqa: SIM115
        async with async_open(reader, context=ctx) as fr, async_open(writer, context=ctx) as fw:
            # mid-read: the read waits in the backend for data; its task's scope is cancelled meanwhile
            got: list[bytes] = []
            scope = trio.CancelScope()

            async def read_it() -> None:
                with scope:
                    got.append(await fr.read(4))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_it)
                await trio.testing.wait_all_tasks_blocked()
                assert ctx.in_flight == 1
                scope.cancel()
                await trio.testing.wait_all_tasks_blocked()
            assert scope.cancelled_caught
            assert got == []
            os.write(w, b"data")  # the read the backend holds completes now (unless withdrawn)
            while ctx.in_flight:
                await trio.sleep(0)
            # mid-write: more than a pipe holds, so the write waits for the reader
            payload = os.urandom(1 << 20)
            scope = trio.CancelScope()
            sent: list[int] = []

            async def write_it() -> None:
                with scope:
                    sent.append(await fw.write(payload))
                    await fw.flush()

            received = b""
            async with trio.open_nursery() as nursery:
                nursery.start_soon(write_it)
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()
                await trio.testing.wait_all_tasks_blocked()
                os.set_blocking(r, False)
                while ctx.in_flight:  # the write the backend holds still completes: drain the pipe
                    try:
                        received += os.read(r, 1 << 16)
                    except BlockingIOError:
                        await trio.sleep(0)
            assert scope.cancelled_caught
            try:
                while chunk := os.read(r, 1 << 16):
                    received += chunk
            except BlockingIOError:
                pass
            assert received in (b"data" + payload, payload, b"data", b"")  # nothing torn, nothing twice
        assert ctx.in_flight == 0
        await ctx.aclose()
        for fo in (reader, writer):
            try:
                fo.close()
            except OSError:  # already closed with its wrapper
                pass

    trio.run(main)


def test_file_operations_are_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100_000)

    async def main() -> None:
        async with TrioContext() as ctx:
            async with AIOFile(path, "r+b", context=ctx) as afp:
                for _ in range(2):
                    with trio.testing.assert_checkpoints():
                        await afp.read(10, 0)
                    with trio.testing.assert_checkpoints():
                        await afp.write(b"abc", 0)
                    with trio.testing.assert_checkpoints():
                        await afp.read_bytes(50_000, 10)
                    with trio.testing.assert_checkpoints():
                        await afp.fsync()
            with trio.testing.assert_checkpoints():
                f = await async_open(path, "rb", buffering=0, context=ctx)
            with trio.testing.assert_checkpoints():
                await f.read(10)
            with trio.testing.assert_checkpoints():
                await f.close()
            with trio.testing.assert_checkpoints():
                await aos.stat(path, context=ctx)

    trio.run(main)


def test_a_cancelled_scope_before_an_operation_raises_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)

    async def main() -> None:
        async with TrioContext() as ctx, AIOFile(path, "rb", context=ctx) as afp:
            with trio.CancelScope() as scope:
                scope.cancel()
                await afp.read(10, 0)
            assert scope.cancelled_caught
            assert await afp.read(3, 0) == b"xxx"

    trio.run(main)
