"""The helpers reach the engine's inline completion: a cached read costs the helper no loop pass.

Each test compares a helper with the engine on the same context and data: where
the engine completes cached reads without yielding to the loop, the helper must
not yield either (a future resolved through a loop callback would).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from aiofile import AIOFile, async_open

pytestmark = pytest.mark.asyncio

READS = 64


async def _loop_passes(reads: Callable[[int], Awaitable[Any]]) -> int:
    """How many loop iterations ran while ``reads(i)`` was awaited ``READS`` times."""
    loop = asyncio.get_running_loop()
    passes = 0
    stop = False

    def tick() -> None:
        nonlocal passes
        if not stop:
            passes += 1
            loop.call_soon(tick)

    loop.call_soon(tick)
    for i in range(READS):
        await reads(i)
    stop = True
    await asyncio.sleep(0)
    return passes


def _no_slice(ctx: Any) -> None:
    """Take the inline time slice out of the picture: a loaded machine must not make this flaky."""
    if hasattr(ctx, "_inline_slice_ns"):
        ctx._inline_slice_ns = 10**12


@pytest.fixture
def cached_file(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.write_bytes(os.urandom(READS * 4096))
    with open(path, "rb") as f:  # in the page cache now
        assert len(f.read()) == READS * 4096
    return path


async def _engine_passes(ctx: Any, path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for i in range(READS):  # the backend learns that this fd is cached
            await ctx.read(4096, fd, i * 4096)
        return await _loop_passes(lambda i: ctx.read(4096, fd, i * 4096))
    finally:
        os.close(fd)


@pytest.mark.asyncio_only  # asyncio's own API
async def test_aiofile_read_bytes_adds_no_loop_pass(ctx: Any, cached_file: Path) -> None:
    _no_slice(ctx)
    engine = await _engine_passes(ctx, cached_file)
    if engine:
        pytest.skip(f"{type(ctx).__module__} does not complete cached reads inline ({engine} loop passes)")
    async with AIOFile(cached_file, "rb", context=ctx) as afp:
        for i in range(READS):
            await afp.read_bytes(4096, i * 4096)
        expected = cached_file.read_bytes()
        got = []
        passes = await _loop_passes(lambda i: _append(got, afp.read_bytes(4096, i * 4096)))
    assert b"".join(got) == expected
    assert passes == 0


@pytest.mark.asyncio_only  # asyncio's own API
async def test_async_open_seek_read_adds_no_loop_pass(ctx: Any, cached_file: Path) -> None:
    _no_slice(ctx)
    engine = await _engine_passes(ctx, cached_file)
    if engine:
        pytest.skip(f"{type(ctx).__module__} does not complete cached reads inline ({engine} loop passes)")
    expected = cached_file.read_bytes()
    async with async_open(cached_file, "rb", context=ctx) as f:
        got: list[bytes] = []

        async def seek_read(i: int) -> None:
            f.seek((READS - 1 - i) * 4096)  # backwards: every read follows a seek elsewhere
            got.append(await f.read(4096))

        passes = await _loop_passes(seek_read)
    assert b"".join(reversed(got)) == expected
    assert passes == 0


async def _append(out: list[bytes], read: Awaitable[bytes]) -> None:
    out.append(await read)


@pytest.mark.asyncio_only  # asyncio's own API
async def test_concurrent_reads_after_a_seek_serialise(ctx: Any, cached_file: Path) -> None:
    """The lock-free read path never lets two reads of one file object overlap: each gets the next piece."""
    expected = cached_file.read_bytes()
    async with async_open(cached_file, "rb", context=ctx) as f:
        for start in (0, 5, 3 * 4096):
            f.seek(start)
            pieces = await asyncio.gather(*(f.read(4096) for _ in range(8)))
            assert b"".join(pieces) == expected[start : start + 8 * 4096]
            assert f.tell() == start + 8 * 4096


@pytest.mark.asyncio_only  # asyncio's own API
async def test_cancelled_fast_read_consumes_nothing(ctx: Any, cached_file: Path) -> None:
    """A read(4096) after a seek that is cancelled in flight leaves the position; the next read is right."""
    expected = cached_file.read_bytes()
    async with async_open(cached_file, "rb", context=ctx) as f:
        for i in range(16):
            start = (i * 7919) % (READS * 4096 - 8192)
            f.seek(start)
            task = asyncio.ensure_future(f.read(4096))
            await asyncio.sleep(0)
            task.cancel()
            try:
                got = await task
            except asyncio.CancelledError:
                assert f.tell() == start
                got = await f.read(4096)
            assert got == expected[start : start + 4096]
            assert await f.read(100) == expected[start + 4096 : start + 4196]


async def test_helpers_yield_when_the_inline_slice_is_used_up(ctx: Any, cached_file: Path, tmp_path: Path) -> None:
    """With no inline time left in a loop iteration the helpers yield and retry: same bytes, nothing lost."""
    if not hasattr(ctx, "_inline_slice_ns"):
        pytest.skip(f"{type(ctx).__module__} has no inline time slice")
    ctx._inline_slice_ns = 0  # one inline operation per loop iteration, the others yield first
    expected = cached_file.read_bytes()
    out = tmp_path / "out"
    out.write_bytes(b"\0" * len(expected))
    async with AIOFile(cached_file, "rb", context=ctx) as afp, AIOFile(out, "r+b", context=ctx) as dst:

        async def copy_block(i: int) -> None:
            data = await afp.read_bytes(4096, i * 4096)
            assert data == expected[i * 4096 : (i + 1) * 4096]
            assert await dst.write_bytes(data, i * 4096) == 4096

        await asyncio.gather(*(copy_block(i) for i in range(READS)))
    assert out.read_bytes() == expected
    async with async_open(cached_file, "rb", context=ctx) as f:
        got = []
        for i in range(READS):
            f.seek((READS - 1 - i) * 4096)
            got.append(await f.read(4096))
        assert b"".join(reversed(got)) == expected


async def test_read_after_close_while_yielding_raises(ctx: Any, cached_file: Path) -> None:
    if not hasattr(ctx, "_inline_slice_ns"):
        pytest.skip(f"{type(ctx).__module__} has no inline time slice")
    ctx._inline_slice_ns = 0
    afp = await AIOFile(cached_file, "rb", context=ctx)
    f = await async_open(cached_file, "rb", context=ctx)
    reads = [asyncio.ensure_future(afp.read_bytes(4096, i * 4096)) for i in range(8)]
    reads += [asyncio.ensure_future(f.read(4096)) for _ in range(8)]
    await asyncio.sleep(0)  # each read ran to its first yield (or completed)
    await asyncio.gather(afp.close(), f.close())
    outcomes = await asyncio.gather(*reads, return_exceptions=True)
    for outcome in outcomes:
        assert isinstance(outcome, (bytes, ValueError)), outcome
