"""The inline time slice's turns (``_AdapterCore.slice_wait``) on the compiled asyncio adapters.

When a loop iteration's inline time is used up, the first coroutine told so
yields once; the others wait for a turn, woken ``TURNS_PER_SLICE`` per loop
iteration, oldest first, each for its share of the slice. These tests count
loop iterations, suspensions and reads per task, never the clock, so a
loaded machine cannot make them flaky.
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


@pytest.mark.parametrize("turns", [0, -1])
async def test_turns_per_slice_below_one_is_refused(backend: Any, turns: int) -> None:
    """0 or fewer turns per iteration would wake nobody and leave every waiter waiting for ever."""
    actx = backend.asyncio_module.AsyncioContext()
    try:
        with pytest.raises(ValueError, match="_turns_per_slice must be at least 1"):
            actx._turns_per_slice = turns
        assert actx._turns_per_slice == backend.module.TURNS_PER_SLICE
    finally:
        await actx.aclose()


@pytest.mark.parametrize("turns", [None, 2, 7])
async def test_the_first_yields_the_others_wait_their_turn_in_order(
    backend: Any, tmp_path: Path, turns: int | None
) -> None:
    """``_turns_per_slice`` waiters are woken per loop iteration, oldest first; a cancelled one is skipped.

    (``TURNS_PER_SLICE`` by default.)
    """
    path = tmp_path / "bind.bin"
    path.write_bytes(b"x")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    actx = backend.asyncio_module.AsyncioContext()
    assert actx._turns_per_slice == backend.module.TURNS_PER_SLICE
    if turns is not None:
        actx._turns_per_slice = turns
    per_iteration = actx._turns_per_slice
    iteration = 0
    woke: dict[str, int] = {}

    async def wait_turn(name: str) -> None:
        await actx.slice_wait()
        woke[name] = iteration

    try:
        assert await actx.read(1, fd, 0) == b"x"  # binds the adapter to this loop
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the read's slice has ended
        first = actx.slice_wait()  # this iteration's plain yield: the next ones wait for turns
        names = [f"T{k}" for k in range(per_iteration + 3)]
        tasks = {name: asyncio.ensure_future(wait_turn(name)) for name in names}
        await first  # meanwhile each task has called slice_wait, in order
        tasks["T1"].cancel()  # a cancelled waiter loses its turn and holds up nobody
        while len(woke) < len(names) - 1:
            iteration += 1
            await asyncio.sleep(0)
        assert tasks["T1"].cancelled()
        first_batch = ["T0", *names[2 : per_iteration + 1]]
        assert {woke[name] for name in first_batch} == {woke["T0"]}
        assert {woke[name] for name in names[per_iteration + 1 :]} == {woke["T0"] + 1}
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


async def test_no_reader_starves_whatever_the_number_of_readers(backend: Any, tmp_path: Path) -> None:
    """N tasks reading cached data share the reads about equally (turns keep their order; none is refused for ever).

    A coroutine refused before it did any inline work (the slice was spent
    before its turn came) keeps its place at the front: without that, with
    64 readers the last tasks of every batch woken together (16 then) were refused in every
    round and read once in a second.
    """
    data = os.urandom(64 * 4096)
    path = tmp_path / "cached.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    actx = backend.asyncio_module.AsyncioContext(max_requests=128)
    try:
        assert await actx.read(4096, fd, 0) == data[:4096]
        actx._inline_slice_ns = 40_000  # a short slice: many rounds of turns in a short test
        for tasks in (8, 16, 17, 64):
            budget = tasks * 60
            reads = [0] * tasks

            async def reader(k: int) -> None:
                nonlocal budget
                while budget > 0:
                    budget -= 1
                    block = (k * 7 + reads[k]) % 64
                    assert await actx.read(4096, fd, block * 4096) == data[block * 4096 : (block + 1) * 4096]
                    reads[k] += 1

            await asyncio.gather(*(reader(k) for k in range(tasks)))
            assert min(reads) >= 60 // 5, (tasks, sorted(reads)[:8])
    finally:
        os.close(fd)
        await actx.aclose()


async def _park_then_read(actx: Any, fd: int) -> bytes:
    await actx.slice_wait()
    return await actx.read(1, fd, 0)  # type: ignore[no-any-return]


@pytest.mark.parametrize("how", ["close", "aclose", "forget after fork"])
async def test_parked_coroutines_are_woken_when_the_adapter_closes(backend: Any, tmp_path: Path, how: str) -> None:
    """More waiters than one iteration wakes, then close: each retry raises the context's error; none hangs."""
    path = tmp_path / "x.bin"
    path.write_bytes(b"x" * 4096)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    actx = backend.asyncio_module.AsyncioContext()
    try:
        assert await actx.read(1, fd, 0) == b"x"
        first = actx.slice_wait()  # the iteration's plain yield: the others park
        parked = [asyncio.ensure_future(_park_then_read(actx, fd)) for _ in range(backend.module.TURNS_PER_SLICE + 4)]
        await asyncio.sleep(0)  # each has called slice_wait
        if how == "close":
            actx.close()
        elif how == "aclose":
            await actx.aclose()
        else:
            actx._forget_parent_loop()  # what the at-fork hook does in a child
        done, pending = await asyncio.wait(parked, timeout=10)
        assert not pending
        expected = RuntimeError if how == "forget after fork" else ValueError
        assert {type(t.exception()) for t in done} == {expected}
        await first
    finally:
        os.close(fd)
        actx.close()


async def test_a_coroutine_not_woken_for_a_turn_joins_the_end_of_the_queue(backend: Any, tmp_path: Path) -> None:
    """Only a coroutine woken for a turn and refused before working keeps its place; a new one joins the end.

    20 coroutines wait; one iteration wakes the first TURNS_PER_SLICE; a new
    coroutine told to wait meanwhile must come after the other four. (Put
    at the front instead, new tasks arriving faster than the turns kept the
    waiters behind them from their turns for as long as they arrived.)
    """
    path = tmp_path / "x.bin"
    path.write_bytes(b"x")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    actx = backend.asyncio_module.AsyncioContext()
    per_iteration = backend.module.TURNS_PER_SLICE
    order: list[str] = []

    async def wait_turn(name: str) -> None:
        await actx.slice_wait()
        order.append(name)

    try:
        assert await actx.read(1, fd, 0) == b"x"  # binds the adapter
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the read's slice has ended
        first = actx.slice_wait()  # this iteration's plain yield: the next ones wait for turns
        names = [f"T{k}" for k in range(per_iteration + 4)]
        waiting = [asyncio.ensure_future(wait_turn(name)) for name in names]
        await first  # the 20 have called slice_wait: queued in order; the turn handle is scheduled
        late = asyncio.ensure_future(wait_turn("new"))  # runs after the handle woke the first 16
        await asyncio.gather(*waiting, late)
        assert order == [*names, "new"]
    finally:
        os.close(fd)
        await actx.aclose()


async def test_each_woken_coroutine_gets_its_own_turn(backend: Any, tmp_path: Path) -> None:
    """A turn that ends without waiting again (the task returns) is not charged to the next woken coroutine.

    20 coroutines wait; each woken one reads once and returns. Charged from
    the turn start its predecessor left, every few woken coroutines were
    refused before reading and sent to the end of the queue. Checked
    without the clock: as each woken coroutine resumes, no turn has begun
    (its own first inline operation begins it). Counting refusals instead
    failed under AddressSanitizer, where 14 reads outlast the iteration's
    whole slice and a refusal is right.
    """
    data = os.urandom(4096)
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    actx = backend.asyncio_module.AsyncioContext()
    order: list[str] = []
    begun_on_resume: dict[str, bool] = {}

    async def read_once(name: str) -> None:
        await actx.slice_wait()  # queued for a turn
        begun_on_resume[name] = actx._turn_running
        assert await actx.read(4096, fd, 0) == data
        order.append(name)

    try:
        assert await actx.read(4096, fd, 0) == data
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the read's slice has ended
        first = actx.slice_wait()
        names = [f"T{k}" for k in range(backend.module.TURNS_PER_SLICE + 4)]
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(read_once(name), name=name) for name in names]
        await first
        await asyncio.gather(*tasks)
        assert order == names
        assert begun_on_resume == dict.fromkeys(names, False)
    finally:
        os.close(fd)
        await actx.aclose()


async def test_turns_keep_no_finished_task_alive(backend: Any, tmp_path: Path) -> None:
    """After 64 readers took turns and finished, none of their tasks (or results) is still referenced."""
    import gc
    import weakref

    data = os.urandom(4096)
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    actx = backend.asyncio_module.AsyncioContext(max_requests=128)
    try:
        assert await actx.read(4096, fd, 0) == data
        actx._inline_slice_ns = 0  # every task waits for turns

        async def reader() -> bytes:
            for _ in range(3):
                assert await actx.read(4096, fd, 0) == data
            return b"x" * 100_000

        tasks = [asyncio.ensure_future(reader()) for _ in range(64)]
        refs = [weakref.ref(t) for t in tasks]
        await asyncio.gather(*tasks)
        del tasks
        await asyncio.sleep(0)
        gc.collect()
        assert [r for r in refs if r() is not None] == []
    finally:
        os.close(fd)
        await actx.aclose()
