"""The inline time slice's turns (``_AdapterCore.slice_wait``) on the compiled asyncio adapters.

When a loop iteration's inline time is used up, the first coroutine told so
yields once; the others wait for a turn, woken one per loop iteration,
oldest first. These tests count loop iterations and suspensions, never the
clock, so a loaded machine cannot make them flaky.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.compiled,
    # The backends whose asyncio adapter completes operations inline (tests/conftest.py's ``backend``, narrowed).
    pytest.mark.parametrize("backend", ["linux", "uring", "thread"], indirect=True),
]


async def test_the_first_yields_the_others_wait_their_turn_in_order(backend: Any, tmp_path: Path) -> None:
    path = tmp_path / "bind.bin"
    path.write_bytes(b"x")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    actx = backend.asyncio_module.AsyncioContext()
    try:
        assert await actx.read(1, fd, 0) == b"x"  # binds the adapter to this loop
        loop = asyncio.get_running_loop()
        first = actx.slice_wait()
        assert not isinstance(first, asyncio.Future)  # a plain yield: the next iteration's slice
        per_iteration = backend.module.TURNS_PER_SLICE
        turns = [actx.slice_wait() for _ in range(per_iteration + 3)]
        assert all(isinstance(t, asyncio.Future) and t.get_loop() is loop for t in turns)
        turns[1].cancel()  # a cancelled waiter loses its turn and holds up nobody
        woken = []
        for _ in range(3):
            await asyncio.sleep(0)  # one loop iteration (the turn handle runs before this task resumes)
            woken.append([i for i, t in enumerate(turns) if t.done() and not t.cancelled()])
        # TURNS_PER_SLICE turns per iteration, oldest first, the cancelled one skipped.
        first_batch = [0, *range(2, per_iteration + 1)]
        everyone = [0, *range(2, per_iteration + 3)]
        assert woken == [first_batch, everyone, everyone]
        await first  # the generator yields once and returns
    finally:
        os.close(fd)
        await actx.aclose()


async def test_many_readers_of_cached_data_resume_about_once_per_slice(backend: Any, tmp_path: Path) -> None:
    """64 tasks reading cached 4 KiB blocks with a slice of 0: at most TURNS_PER_SLICE resumes per loop iteration.

    With every task yielding whenever the slice is used up (before turns),
    each of the 64 tasks resumed in every iteration to find the slice gone:
    about 64 suspensions per iteration. With turns, the tasks woken for a
    turn in each iteration (plus the first round, where each task meets the
    used-up slice once). Every block read is checked.
    """
    data = os.urandom(64 * 4096)
    path = tmp_path / "cached.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    tasks, reads_each = 64, 20
    actx = backend.asyncio_module.AsyncioContext(max_requests=128)
    suspensions = 0
    iterations = 0
    waits = actx.slice_wait

    def counting_wait() -> Any:
        nonlocal suspensions
        suspensions += 1
        return waits()

    actx.slice_wait = counting_wait
    try:
        assert await actx.read(4096, fd, 0) == data[:4096]  # the descriptor is known to be cached from now on
        actx._inline_slice_ns = 0  # one inline read per iteration; every other one waits

        async def reader(k: int) -> None:
            for i in range(reads_each):
                block = (k + i) % 64
                assert await actx.read(4096, fd, block * 4096) == data[block * 4096 : (block + 1) * 4096]

        async def ticker() -> None:
            nonlocal iterations
            while True:
                iterations += 1
                await asyncio.sleep(0)

        tick = asyncio.ensure_future(ticker())
        await asyncio.gather(*(reader(k) for k in range(tasks)))
        tick.cancel()
        await asyncio.gather(tick, return_exceptions=True)
        total = tasks * reads_each
        assert iterations >= total // 2  # the slice of 0 did hold inline work to ~one read per iteration
        assert suspensions <= backend.module.TURNS_PER_SLICE * iterations + 2 * tasks, (suspensions, iterations)
    finally:
        os.close(fd)
        await actx.aclose()
