"""The compiled asyncio fast path of linux_aio (linux_aio_asyncio + linux_aio._start): regressions."""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import load_backend

pytestmark = pytest.mark.compiled


async def test_submit_future_of_an_operation_with_a_callback_resolves(L: Any, LA: Any) -> None:
    # AsyncioContextBase.submit_future replaces the operation's callback with
    # its own; the fast path must not leave a caller's callback in charge of
    # completion (the future would never resolve and the slot never free).
    fd = os.open("/dev/zero", os.O_RDONLY | os.O_CLOEXEC)  # served by the pool: never inline
    actx = LA.AsyncioContext()
    try:
        assert await actx.read(1, fd) == b"\0"  # binds the adapter to the loop
        op = L.Operation.read(1, fd)
        op.set_callback(lambda result: None)
        asyncio.get_running_loop().call_soon(lambda: None)  # the loop is not idle: the batched path
        future = actx.submit_future(op)
        assert await asyncio.wait_for(future, 5) == b"\0"
        assert actx.in_flight == 0
    finally:
        actx.close()  # not aclose(): it would wait for ever for a slot that is never freed
        os.close(fd)


async def test_a_raising_callback_does_not_strand_the_other_completions(L: Any, LA: Any) -> None:
    # Context.process_events runs every callback even when one raises; with
    # a limit, the adapter must still come back for the completions it left.
    ctx = L.Context(max_requests=256)
    actx = LA.AsyncioContext(context=ctx)
    fd = os.open("/dev/zero", os.O_RDONLY | os.O_CLOEXEC)  # served by the pool
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda loop, context: errors.append(context))
    calls = 0

    def failing(result: int) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("callback failed")

    try:
        assert await actx.read(1, fd) == b"\0"  # binds the adapter: its reader takes completions
        ops = [L.Operation.read(1, fd) for _ in range(64)]
        for op in ops:
            op.set_callback(failing)
        assert ctx.submit(*ops) == 64
        time.sleep(0.2)  # let the pool finish them: one reader callback finds them all
        deadline = loop.time() + 60  # a hang guard, generous for a loaded machine
        while ctx.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert calls == 64
        assert ctx.in_flight == 0
        assert errors  # the failure was reported to the loop
    finally:
        loop.set_exception_handler(None)
        actx.close()
        with contextlib.suppress(RuntimeError):  # what was left runs (and fails) here
            ctx.close()
        os.close(fd)


async def test_at_most_one_reap_handle_is_scheduled(L: Any, LA: Any) -> None:
    # The reader and the handle that takes what REAP_PER_ITERATION left both
    # run _on_readable; the reader must not add a second handle beside the
    # pending one (each would re-schedule itself: the limit erodes, and
    # close() cancels only the last one). Checked through behaviour only (no
    # loop internals, so it holds on uvloop too): the reader was registered
    # with the bound method, the handles look up ``actx._on_readable`` when
    # scheduled, so ``on_readable`` counts handle runs; with at most one
    # handle pending, at most one runs per loop iteration.
    fd = os.open("/dev/zero", os.O_RDONLY | os.O_CLOEXEC)  # served by the pool
    actx = LA.AsyncioContext()
    handle_runs = 0
    try:
        assert await actx.read(1, fd) == b"\0"  # binds the adapter (the reader is registered now)
        efd = actx.context.fileno()

        def on_readable() -> None:  # the handles the adapter schedules run this
            nonlocal handle_runs
            handle_runs += 1
            LA.AsyncioContext._on_readable(actx)
            os.eventfd_write(efd, 1)  # a new completion arrives: the reader fires next iteration

        actx._on_readable = on_readable
        futures = [actx.submit_future(L.Operation.read(1, fd)) for _ in range(512)]
        await asyncio.sleep(0)  # the batch reaches the pool
        # Holding the loop lets completions pile up so that one reader call
        # leaves some for a handle; the assertions below hold however many
        # piled up (they bound the handle runs, they do not count on them).
        time.sleep(0.2)
        iterations = 0
        while not all(f.done() for f in futures):
            await asyncio.sleep(0)  # one loop iteration
            iterations += 1
            assert handle_runs <= iterations + 1
        for _ in range(8):  # and none is left re-scheduling itself
            await asyncio.sleep(0)
            iterations += 1
        assert handle_runs <= iterations + 1
        assert await asyncio.gather(*futures) == [b"\0"] * 512
    finally:
        actx.close()
        os.close(fd)


async def test_without_the_ring_completions_come_through_io_getevents(LA: Any, tmp_path: Path) -> None:
    # Where the kernel's ring cannot be read from user space, completions are
    # reaped with io_getevents(2) and announced only by the eventfd: nothing
    # is stranded by the reader's per-iteration limit, nothing spins.
    path = tmp_path / "noring.bin"
    data = os.urandom(256 * 4096)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    direct = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECT)
    try:
        async with LA.AsyncioContext() as actx:
            actx.context._without_ring()
            assert not actx.context.uses_ring
            got = await asyncio.gather(*(actx.read(4096, fd, i * 4096) for i in range(256)))
            assert b"".join(got) == data
            buffers = [mmap.mmap(-1, 4096) for _ in range(64)]
            counts = await asyncio.gather(*(actx.readinto(b, direct, i * 4096) for i, b in enumerate(buffers)))
            assert counts == [4096] * 64
            assert b"".join(bytes(b) for b in buffers) == data[: 64 * 4096]
            assert not actx.context.pending()
            assert actx.in_flight == 0
    finally:
        os.close(fd)
        os.close(direct)


class _RecordingContext:
    """Delegates to a backend Context; records ``submit`` (operations) and ``process_events`` (delivered), in order."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def submit(self, *ops: Any) -> int:
        self.calls.append(f"submit {len(ops)}")
        return int(self.real.submit(*ops))

    def process_events(self, *args: Any) -> int:
        n = int(self.real.process_events(*args))
        self.calls.append(f"process_events {n}")
        return n


@pytest.mark.parametrize("backend", ["linux", "uring", "thread"])
async def test_the_reader_submits_what_woken_tasks_handed_over_before_it_delivers_more(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Completions pile up beyond REAP_PER_ITERATION; the reader delivers the
    # first ones, their tasks hand over new reads in the next iteration, and
    # the reader's next call (the handle for what it left) submits those
    # before it delivers more: a device waits for the resubmissions only as
    # long as one reader call takes, not for the whole backlog.
    from _linuxaio import inline_asyncio

    module = load_backend(request, backend).asyncio_module  # skipped, or failed under --require-compiled
    count = 4 * inline_asyncio.REAP_PER_ITERATION
    path = tmp_path / "direct.bin"
    data = os.urandom(count * 4096)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECT)  # never completes in the submitting call
    actx = module.AsyncioContext()
    try:
        warm = mmap.mmap(-1, 4096)
        assert await actx.readinto(warm, fd, 0) == 4096  # binds the adapter (its reader is registered)
        recording = _RecordingContext(actx._context)
        actx._context = recording
        buffers = [mmap.mmap(-1, 4096) for _ in range(2 * count)]
        asyncio.get_running_loop().call_soon(lambda: None)  # the loop is not idle: one batch, flushed next
        first = [actx.submit_future(actx.OPERATION_CLASS.readinto(buffers[i], fd, i * 4096)) for i in range(count)]

        async def read_again(i: int) -> int:
            assert await first[i] == 4096
            # Handed over while the reader still has completions to deliver.
            return int(await actx.readinto(buffers[count + i], fd, i * 4096))

        tasks = [asyncio.ensure_future(read_again(i)) for i in range(count)]
        await asyncio.sleep(0)  # the batch is submitted; each task waits for its own read
        time.sleep(0.5)  # hold the loop: all of them complete and wait for the reader at once
        recording.calls.clear()
        assert await asyncio.wait_for(asyncio.gather(*tasks), 30) == [4096] * count
        assert all(bytes(buffers[count + i]) == data[i * 4096 : (i + 1) * 4096] for i in range(count))
        # The first reader call delivered REAP_PER_ITERATION completions; the handle for the
        # rest submitted the reads their tasks handed over before it delivered the next ones.
        assert recording.calls[:3] == [
            f"process_events {inline_asyncio.REAP_PER_ITERATION}",
            f"submit {inline_asyncio.REAP_PER_ITERATION}",
            f"process_events {inline_asyncio.REAP_PER_ITERATION}",
        ], recording.calls
    finally:
        actx.close()
        os.close(fd)
