"""Caller buffers go back when an operation is done with them (issue 11 items a and b), on every backend.

* A cancelled operation that never reached the kernel or a worker releases
  its buffer export at once (``mmap.close()`` works right after).
* A reference cycle through an ``Operation`` (its callback names it) is
  collected without freeing the buffer's owner while the operation still
  holds an export on it (``SystemError: deallocated bytearray object has
  exported buffers`` before the fix).
"""

from __future__ import annotations

import asyncio
import gc
import mmap
import os
from typing import Any

import pytest

PAGE = mmap.PAGESIZE


async def _cancel_three_waiters(backend: Any, fd: int, buffers: list[mmap.mmap]) -> Any:
    """Issue 11 a: max_requests=1, four readinto tasks, the three waiting for the slot cancelled."""
    os.pwrite(fd, b"x" * PAGE, 0)
    ctx = backend.AsyncioContext(max_requests=1)
    tasks = [asyncio.ensure_future(ctx.readinto(buf, fd, 0)) for buf in buffers]
    await asyncio.sleep(0)  # every task started: one in flight, three waiting for the slot
    for task in tasks[1:]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == PAGE
    assert all(isinstance(r, asyncio.CancelledError) for r in results[1:])
    assert ctx.in_flight == 0
    return ctx


async def test_cancelled_waiters_release_their_buffers(backend: Any, fd: int) -> None:
    buffers = [mmap.mmap(-1, PAGE) for _ in range(4)]
    ctx = await _cancel_three_waiters(backend, fd, buffers)
    ctx.close()
    gc.collect()
    for buf in buffers[1:]:
        buf.close()  # BufferError("cannot close exported pointers exist") for ever on linux before the fix


async def test_cancelled_waiters_release_their_buffers_at_once(backend: Any, fd: int) -> None:
    if backend.name == "python":
        pytest.skip(
            "python_aio keeps a memoryview on its Operation until the operation is collected, "
            "so its buffers come back at the next gc.collect(), not at once"
        )
    buffers = [mmap.mmap(-1, PAGE) for _ in range(4)]
    ctx = await _cancel_three_waiters(backend, fd, buffers)
    try:
        # No gc.collect() and the context still open: the exports are gone
        # already, though the cancelled coroutines' frames may name their operations.
        for buf in buffers[1:]:
            buf.close()
    finally:
        ctx.close()


async def test_cancelled_waiter_does_not_stop_the_others(backend: Any, fd: int) -> None:
    os.pwrite(fd, bytes(range(256)) * (PAGE // 256), 0)
    ctx = backend.AsyncioContext(max_requests=1)
    try:
        buffers = [bytearray(PAGE) for _ in range(6)]
        tasks = [asyncio.ensure_future(ctx.readinto(buf, fd, 0)) for buf in buffers]
        await asyncio.sleep(0)
        tasks[2].cancel()
        tasks[4].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for i, result in enumerate(results):
            if i in (2, 4):
                assert isinstance(result, asyncio.CancelledError)
                assert buffers[i] == bytearray(PAGE)  # never read into
            else:
                assert result == PAGE
                assert buffers[i] == bytes(range(256)) * (PAGE // 256)
        assert ctx.in_flight == 0
        assert await ctx.read(4, fd, 0) == bytes(range(4))  # still usable
    finally:
        await ctx.aclose()
