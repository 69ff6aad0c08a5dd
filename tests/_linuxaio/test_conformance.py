"""The conformance suite: one contract, run on every backend (``backend`` fixture).

A compiled backend joins by existing: the fixture is parametrised over
``_linuxaio.BACKENDS``. Every check asserts values, errno or bytes on disk.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import gc
import hashlib
import mmap
import os
import random
import select
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from _linuxaio.abstract import ContextFullError

PAGE = mmap.PAGESIZE


def run_raw(ctx: Any, *ops: Any) -> list[int]:
    """Submit ``ops`` to a raw Context, wait on its eventfd, return the callback results."""
    results: dict[int, int] = {}
    for i, op in enumerate(ops):
        op.set_callback(lambda res, i=i: results.__setitem__(i, res))
    assert ctx.submit(*ops) == len(ops)
    while len(results) < len(ops):
        select.select([ctx.fileno()], [], [], 5.0)
        ctx.process_events()
    return [results[i] for i in range(len(ops))]


# -- round trips -------------------------------------------------------------------


async def test_write_then_read_round_trip(actx: Any, fd: int) -> None:
    assert await actx.write(b"hello world", fd, 0) == 11
    data = await actx.read(11, fd, 0)
    assert data == b"hello world"
    assert type(data) is bytes


async def test_read_at_offset(actx: Any, fd: int) -> None:
    os.pwrite(fd, bytes(range(256)), 0)
    assert await actx.read(16, fd, 100) == bytes(range(100, 116))


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "mmap", "multidim"])
async def test_write_accepts_any_buffer(actx: Any, fd: int, kind: str) -> None:
    data = os.urandom(PAGE)
    payload: Any
    if kind == "bytes":
        payload = data
    elif kind == "bytearray":
        payload = bytearray(data)
    elif kind == "memoryview":
        payload = memoryview(b"xx" + data)[2:]
    elif kind == "mmap":
        payload = mmap.mmap(-1, PAGE)
        payload[:] = data
    else:
        payload = memoryview(bytearray(data)).cast("B", (PAGE // 8, 8))
    assert await actx.write(payload, fd, 0) == PAGE
    assert os.pread(fd, PAGE + 1, 0) == data


async def test_readinto_bytearray(actx: Any, fd: int) -> None:
    os.pwrite(fd, b"abcdefgh", 0)
    buf = bytearray(6)
    assert await actx.readinto(buf, fd, 1) == 6
    assert buf == b"bcdefg"


async def test_readinto_page_aligned_mmap(actx: Any, fd: int) -> None:
    data = os.urandom(2 * PAGE)
    os.pwrite(fd, data, 0)
    buf = mmap.mmap(-1, 2 * PAGE)
    assert await actx.readinto(buf, fd, 0) == 2 * PAGE
    assert buf[:] == data


async def test_a_tmpfs_file_reads_and_writes_like_any_file(lib: Any, actx: Any) -> None:
    """shmem/tmpfs (a memfd) refuses RWF_NOWAIT reads (EOPNOTSUPP): no backend may pass that on."""
    fd = os.memfd_create("conformance", os.MFD_CLOEXEC)
    try:
        data = os.urandom(256 * 1024)
        assert await actx.write(data, fd, 0) == len(data)
        for _ in range(2):
            assert await actx.read(4096, fd, 4096) == data[4096:8192]
        got = await lib.gather(*(actx.read(1000, fd, i * 4099) for i in range(32)))
        assert got == [data[i * 4099 : i * 4099 + 1000] for i in range(32)]
        buf = bytearray(100)
        assert await actx.readinto(buf, fd, len(data) - 50) == 50 and buf[:50] == data[-50:]
        await actx.fsync(fd)
    finally:
        os.close(fd)


async def test_readinto_memoryview_slice_touches_only_the_slice(actx: Any, fd: int) -> None:
    os.pwrite(fd, b"XYZ", 0)
    buf = bytearray(b"........")
    assert await actx.readinto(memoryview(buf)[2:5], fd, 0) == 3
    assert buf == b"..XYZ..."


async def test_readv_fills_buffers_in_order(actx: Any, fd: int) -> None:
    os.pwrite(fd, b"0123456789", 0)
    first, second = bytearray(3), bytearray(4)
    assert await actx.readv([first, memoryview(second)], fd, 2) == 7
    assert (first, second) == (b"234", b"5678")


async def test_writev_gathers_buffers_in_order(actx: Any, fd: int) -> None:
    assert await actx.writev([b"ab", bytearray(b"cd"), memoryview(b"ef")], fd, 3) == 6
    assert os.pread(fd, 100, 0) == b"\0\0\0abcdef"


async def test_fsync_and_fdsync_return_none(actx: Any, fd: int) -> None:
    await actx.write(b"durable", fd, 0)
    assert await actx.fsync(fd) is None
    assert await actx.fdsync(fd) is None


async def test_large_read_is_exact(actx: Any, fd: int) -> None:
    data = os.urandom(8 << 20)
    os.pwrite(fd, data, 0)
    assert await actx.read(len(data), fd, 0) == data


async def test_offsets_beyond_4_gib(actx: Any, fd: int) -> None:
    offset = (1 << 33) + 5
    assert await actx.write(b"far", fd, offset) == 3
    assert await actx.read(3, fd, offset) == b"far"
    assert os.fstat(fd).st_size == offset + 3


async def test_submit_prebuilt_operation(actx: Any, backend: Any, fd: int) -> None:
    os.pwrite(fd, b"payload", 0)
    assert await actx.submit(backend.Operation.read(3, fd, 2)) == b"ylo"


# -- EOF, short transfers, zero sizes, holes -------------------------------------------------


async def test_read_past_eof_returns_empty(actx: Any, fd: int) -> None:
    os.pwrite(fd, b"abc", 0)
    assert await actx.read(10, fd, 100) == b""


async def test_read_straddling_eof_is_short(actx: Any, fd: int) -> None:
    os.pwrite(fd, b"abcdef", 0)
    assert await actx.read(100, fd, 4) == b"ef"


async def test_readinto_straddling_eof_is_short(actx: Any, fd: int) -> None:
    os.pwrite(fd, b"abcdef", 0)
    buf = bytearray(b"=" * 8)
    assert await actx.readinto(buf, fd, 3) == 3
    assert buf == b"def====="


async def test_zero_sized_read_and_write(actx: Any, fd: int) -> None:
    assert await actx.read(0, fd, 0) == b""
    assert await actx.write(b"", fd, 0) == 0
    assert os.fstat(fd).st_size == 0


async def test_write_past_eof_leaves_a_hole_of_zeros(actx: Any, fd: int) -> None:
    os.pwrite(fd, b"head", 0)
    await actx.write(b"tail", fd, 1000)
    assert os.pread(fd, 2000, 0) == b"head" + bytes(996) + b"tail"


# -- concurrency and back-pressure ----------------------------------------------------------


async def test_disjoint_concurrent_writes_land_byte_for_byte(lib: Any, actx: Any, fd: int) -> None:
    rng = random.Random(7)
    blocks = [rng.randbytes(1000 + i) for i in range(200)]
    offsets, position = [], 0
    for block in blocks:
        offsets.append(position)
        position += len(block) + rng.randrange(0, 50)
    order = list(range(len(blocks)))
    rng.shuffle(order)
    counts = await lib.gather(*(actx.write(blocks[i], fd, offsets[i]) for i in order))
    assert counts == [len(blocks[i]) for i in order]
    expected = bytearray(position)
    for block, offset in zip(blocks, offsets, strict=True):
        expected[offset : offset + len(block)] = block
    on_disk = os.pread(fd, position + 10, 0)
    assert (
        hashlib.sha256(on_disk[: len(expected.rstrip(b"\0"))]).digest()
        == hashlib.sha256(bytes(expected.rstrip(b"\0"))).digest()
    )


async def test_more_operations_than_max_requests_all_complete(backend: Any, fd: int) -> None:
    os.pwrite(fd, bytes(range(256)) * 16, 0)
    async with backend.AsyncioContext(max_requests=3) as ctx:
        tasks = [asyncio.create_task(ctx.read(4, fd, i)) for i in range(500)]
        await asyncio.sleep(0)
        assert 0 < ctx.in_flight <= 3
        results = await asyncio.gather(*tasks)
        assert ctx.in_flight == 0
    data = bytes(range(256)) * 16
    assert results == [data[i : i + 4] for i in range(500)]


async def test_many_small_reads(lib: Any, actx: Any, fd: int) -> None:
    data = os.urandom(1 << 16)
    os.pwrite(fd, data, 0)
    rng = random.Random(1)
    offsets = [rng.randrange(0, len(data) - 64) for _ in range(5000)]
    results = await lib.gather(*(actx.read(64, fd, o) for o in offsets))
    assert all(r == data[o : o + 64] for r, o in zip(results, offsets, strict=True))


# -- cancellation -------------------------------------------------------------------------------


async def _settle(ctx: Any) -> None:
    # Polls a condition; the bound is a hang guard generous enough for a loaded machine.
    deadline = asyncio.get_running_loop().time() + 60
    while ctx.in_flight:
        assert asyncio.get_running_loop().time() < deadline, f"operations never completed: {ctx!r}"
        await asyncio.sleep(0.001)


async def test_cancelled_tasks_leak_no_slot_and_keep_buffers(backend: Any, fd: int) -> None:
    data = os.urandom(1 << 20)
    os.pwrite(fd, data, 0)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    ctx = backend.AsyncioContext(max_requests=4)
    buffers = [bytearray(1 << 16) for _ in range(16)]

    async def read_into(i: int) -> int:
        return await ctx.readinto(buffers[i], fd, i << 16)

    tasks = [asyncio.create_task(read_into(i)) for i in range(16)]
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, (asyncio.CancelledError, int)) for r in results)
    await _settle(ctx)
    # Submitted reads finished into live buffers; never-submitted ones left theirs alone.
    for i, buf in enumerate(buffers):
        assert buf == data[i << 16 : (i + 1) << 16] or buf == bytes(1 << 16)
    assert await ctx.read(5, fd, 0) == data[:5]  # still usable
    await ctx.aclose()
    gc.collect()
    assert reported == []


async def test_slot_stays_taken_until_the_operation_really_completes(backend: Any, fd: int) -> None:
    os.pwrite(fd, b"next", 0)
    read_end, write_end = os.pipe()
    try:
        async with backend.AsyncioContext(max_requests=1) as ctx:
            blocked = asyncio.create_task(ctx.read(5, read_end, 0))  # an empty pipe: stays in flight
            await asyncio.sleep(0.05)
            assert ctx.in_flight == 1
            blocked.cancel()
            await asyncio.gather(blocked, return_exceptions=True)
            assert ctx.in_flight == 1  # cancelling the task did not free the slot
            second = asyncio.create_task(ctx.read(4, fd, 0))
            await asyncio.sleep(0.05)
            assert not second.done()  # back-pressure: waits for the slot
            os.write(write_end, b"hello")
            assert await asyncio.wait_for(second, 10) == b"next"
            assert ctx.in_flight == 0
            assert select.select([read_end], [], [], 0)[0] == []  # the cancelled read consumed the data
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_cancelled_write_leaves_old_or_new_data(lib: Any, actx: Any, fd: int) -> None:
    os.pwrite(fd, b"a" * 4096, 0)
    task = lib.spawn(actx.write(b"b" * 4096, fd, 0))
    await lib.sleep(0)
    task.cancel()
    await lib.gather(task, return_exceptions=True)
    while actx.in_flight:  # the write still completes after its task was cancelled
        await lib.sleep(0.001)
    assert os.pread(fd, 4096, 0) in (b"a" * 4096, b"b" * 4096)


async def test_task_cancelled_while_waiting_for_a_slot_is_never_submitted(backend: Any, fd: int) -> None:
    os.pwrite(fd, b"x" * 100, 0)
    async with backend.AsyncioContext(max_requests=1) as ctx:
        first = asyncio.create_task(ctx.read(1, fd, 0))
        waiting = asyncio.create_task(ctx.write(b"never", fd, 10))
        await asyncio.sleep(0)
        assert ctx.in_flight == 1
        waiting.cancel()
        assert await first == b"x"
        await _settle(ctx)
    assert os.pread(fd, 100, 0) == b"x" * 100


# -- close ----------------------------------------------------------------------------------------


async def test_aclose_waits_for_in_flight_operations(backend: Any, fd: int) -> None:
    os.pwrite(fd, b"z" * 4096, 0)
    ctx = backend.AsyncioContext(max_requests=2)
    tasks = [asyncio.create_task(ctx.read(1, fd, i)) for i in range(20)]
    await asyncio.sleep(0)
    await ctx.aclose()
    assert await asyncio.gather(*tasks) == [b"z"] * 20


async def test_sync_close_with_operations_in_flight_resolves_everything(backend: Any, fd: int) -> None:
    os.pwrite(fd, b"q" * 4096, 0)
    ctx = backend.AsyncioContext(max_requests=4)
    tasks = [asyncio.create_task(ctx.read(1, fd, i)) for i in range(12)]
    await asyncio.sleep(0)
    ctx.close()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert results.count(b"q") == 4  # the four submitted ones finished
    assert all(isinstance(r, ValueError) for r in results if r != b"q")  # the queued ones failed


async def test_close_is_idempotent(backend: Any, fd: int) -> None:
    ctx = backend.AsyncioContext()
    await ctx.read(1, fd, 0)
    await ctx.aclose()
    await ctx.aclose()
    ctx.close()
    assert ctx.closed


async def test_use_after_close_raises_value_error(backend: Any, fd: int) -> None:
    ctx = backend.AsyncioContext()
    await ctx.read(1, fd, 0)
    ctx.close()
    with pytest.raises(ValueError, match="closed"):
        await ctx.read(1, fd, 0)


def test_raw_context_close_is_idempotent_and_final(backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    assert run_raw(ctx, backend.Operation.write(b"abc", fd, 0)) == [3]
    ctx.close()
    ctx.close()
    assert ctx.closed
    with pytest.raises(ValueError):
        ctx.submit(backend.Operation.read(1, fd, 0))
    with pytest.raises(ValueError):
        ctx.fileno()


def test_raw_close_runs_callbacks_of_in_flight_operations(backend: Any, fd: int) -> None:
    os.pwrite(fd, b"k" * 100, 0)
    ctx = backend.Context(max_requests=8)
    results: list[int] = []
    ops = [backend.Operation.read(10, fd, i) for i in range(8)]
    for op in ops:
        op.set_callback(results.append)
    assert ctx.submit(*ops) == 8
    ctx.close()
    assert sorted(results) == [10] * 8
    assert [op.get_value() for op in ops] == [b"k" * 10] * 8


def test_unclosed_context_warns(backend: Any) -> None:
    ctx = backend.Context(max_requests=2)
    with pytest.warns(ResourceWarning, match="unclosed"):
        del ctx  # the last reference: finalised here


# -- the raw protocol -----------------------------------------------------------------------------


def test_raw_callbacks_get_count_or_negative_errno(backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        ops = [backend.Operation.write(b"12345", fd, 0), backend.Operation.read(1, 99999, 0)]
        assert run_raw(ctx, *ops) == [5, -errno.EBADF]
        with pytest.raises(OSError) as info:
            ops[1].get_value()
        assert info.value.errno == errno.EBADF
        assert info.value.strerror == os.strerror(errno.EBADF)
    finally:
        ctx.close()


def test_callbacks_run_on_the_calling_thread(backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    threads: list[int] = []
    try:
        op = backend.Operation.read(1, fd, 0)
        op.set_callback(lambda _res: threads.append(threading.get_ident()))
        assert ctx.submit(op) == 1
        while not threads:
            select.select([ctx.fileno()], [], [], 5.0)
            ctx.process_events()
        assert threads == [threading.get_ident()]
    finally:
        ctx.close()


def test_process_events_on_spurious_wakeup_returns_zero(backend: Any) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        assert ctx.process_events() == 0
        assert ctx.process_events() == 0
    finally:
        ctx.close()


def test_eventfd_signals_completion(backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        done: list[int] = []
        op = backend.Operation.write(b"x", fd, 0)
        op.set_callback(done.append)
        assert ctx.submit(op) == 1
        if not done:  # unless the backend completed it during submit
            readable, _, _ = select.select([ctx.fileno()], [], [], 5.0)
            assert readable == [ctx.fileno()]
        while not done:
            ctx.process_events()
        assert done == [1]
        assert op.get_value() == 1
    finally:
        ctx.close()


def test_get_value_before_completion_raises(backend: Any, fd: int) -> None:
    op = backend.Operation.read(1, fd, 0)
    with pytest.raises(ValueError):
        op.get_value()


def test_full_context_accepts_a_prefix(backend: Any, fd: int) -> None:
    os.pwrite(fd, b"abcdef", 0)
    ctx = backend.Context(max_requests=2)
    try:
        ops = [backend.Operation.read(1, fd, i) for i in range(3)]
        done: list[int] = []
        for op in ops:
            op.set_callback(done.append)
        if backend.name == "linux":  # caio's linux_aio returns io_submit's count
            assert ctx.submit(*ops) == 2
        else:  # the others raise as caio's do; the prefix went all the same
            with pytest.raises(ContextFullError) as caught:
                ctx.submit(*ops)
            assert caught.value.accepted == 2
        while len(done) < 2:
            select.select([ctx.fileno()], [], [], 5.0)
            ctx.process_events()
        assert ctx.submit(ops[2]) == 1
        while len(done) < 3:
            select.select([ctx.fileno()], [], [], 5.0)
            ctx.process_events()
        assert [op.get_value() for op in ops] == [b"a", b"b", b"c"]
    finally:
        ctx.close()


def test_cancel_returns_a_count_and_never_breaks_completion(backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=8)
    try:
        ops = [backend.Operation.write(b"c" * 100, fd, i * 100) for i in range(8)]
        results: dict[int, int] = {}
        for i, op in enumerate(ops):
            op.set_callback(functools.partial(results.__setitem__, i))
        assert ctx.submit(*ops) == 8
        cancelled = ctx.cancel(*ops)
        assert 0 <= cancelled <= 8
        while len(results) < 8:
            select.select([ctx.fileno()], [], [], 5.0)
            ctx.process_events()
        # Each write either landed whole or was cancelled.
        assert set(results.values()) <= {-errno.ECANCELED, 100}
        stopped = list(results.values()).count(-errno.ECANCELED)
        if backend.name == "uring":
            # The count is of those certainly stopped: one a kernel worker was already
            # running when the cancel came (-EALREADY) may still end with -ECANCELED.
            assert stopped >= cancelled
        else:
            assert stopped == cancelled
        landed = os.pread(fd, 800, 0)
        for i, result in results.items():
            if result == 100:
                assert landed[i * 100 : (i + 1) * 100] == b"c" * 100
    finally:
        ctx.close()


def test_operation_attributes(backend: Any, fd: int) -> None:
    payload = bytearray(b"attrs")
    op = backend.Operation.write(payload, fd, 42, 0)
    assert (op.fileno, op.offset, op.nbytes) == (fd, 42, 5)
    assert op.payload is payload
    read = backend.Operation.read(7, fd, 3)
    assert (read.fileno, read.offset, read.nbytes) == (fd, 3, 7)
    sync = backend.Operation.fsync(fd)
    assert sync.fileno == fd


# -- special files ----------------------------------------------------------------------------


async def test_pipe_read_and_write(actx: Any) -> None:
    read_end, write_end = os.pipe()
    try:
        assert await actx.write(b"through a pipe", write_end, 0) == 14
        assert await actx.read(100, read_end, 0) == b"through a pipe"
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_proc_file_reads_its_content(actx: Any) -> None:
    fd = os.open("/proc/self/status", os.O_RDONLY)
    try:
        data = await actx.read(65536, fd, 0)
    finally:
        os.close(fd)
    assert b"Name:" in data
    assert b"Pid:" in data


# -- errors and bad inputs (each leaves the context usable) ---------------------------------


async def _still_usable(ctx: Any, fd: int) -> None:
    os.pwrite(fd, b"ok", 0)
    assert await ctx.read(2, fd, 0) == b"ok"


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda c, fd: c.read(-1, fd, 0), ValueError),
        (lambda c, fd: c.read(1, fd, -1), ValueError),
        (lambda c, fd: c.write(b"x", fd, -5), ValueError),
        (lambda c, fd: c.read(1, -1, 0), ValueError),
        (lambda c, fd: c.read(1, "3", 0), TypeError),
        (lambda c, fd: c.read(1.5, fd, 0), TypeError),
        (lambda c, fd: c.write("text", fd, 0), TypeError),
        (lambda c, fd: c.write(12, fd, 0), TypeError),
        (lambda c, fd: c.write([b"x"], fd, 0), TypeError),
        (lambda c, fd: c.readinto(b"read-only", fd, 0), TypeError),
        (lambda c, fd: c.readv([bytearray(1), b"ro"], fd, 0), TypeError),
        (lambda c, fd: c.writev([b"ok", "no"], fd, 0), TypeError),
    ],
    ids=[
        "negative-nbytes",
        "negative-offset",
        "negative-write-offset",
        "fd-minus-one",
        "fd-str",
        "nbytes-float",
        "payload-str",
        "payload-int",
        "payload-list",
        "readinto-readonly",
        "readv-readonly",
        "writev-str",
    ],
)
async def test_bad_arguments_raise_before_submission(actx: Any, fd: int, call: Any, exc: type) -> None:
    with pytest.raises(exc):
        await call(actx, fd)
    assert actx.in_flight == 0
    await _still_usable(actx, fd)


#: IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 4), as ioprio_set(2) encodes it.
BEST_EFFORT_4 = (2 << 13) | 4


async def test_a_valid_priority_is_accepted_everywhere(actx: Any, fd: int) -> None:
    # linux_uring and linux_aio hand it to the kernel with the request; the others accept it and ignore it.
    assert await actx.write(b"prioritised", fd, 0, BEST_EFFORT_4) == 11
    assert await actx.read(11, fd, 0, BEST_EFFORT_4) == b"prioritised"
    assert os.pread(fd, 12, 0) == b"prioritised"


#: Backends that hand priority= to the kernel with the request (the kernel checks it).
KERNEL_PRIORITY = ("linux", "uring")


@pytest.mark.parametrize("priority", [1, 5 << 13], ids=["class-none-with-a-level", "unknown-class"])
async def test_a_priority_the_kernel_refuses(backend: Any, actx: Any, fd: int, priority: int) -> None:
    os.pwrite(fd, b"original", 0)
    if backend.name in KERNEL_PRIORITY:
        for call in (lambda: actx.write(b"replaced", fd, 0, priority), lambda: actx.read(8, fd, 0, priority)):
            with pytest.raises(OSError) as info:
                await call()
            assert info.value.errno == errno.EINVAL
        assert os.pread(fd, 9, 0) == b"original"
    else:  # ignored, as caio 0.12 ignores it
        assert await actx.write(b"replaced", fd, 0, priority) == 8
        assert await actx.read(8, fd, 0, priority) == b"replaced"
    await _still_usable(actx, fd)


@pytest.mark.parametrize(
    ("priority", "exc"), [(-1, ValueError), (0x10000, ValueError), (1.5, TypeError), ("1", TypeError)]
)
def test_an_out_of_range_priority_raises_before_submission(backend: Any, fd: int, priority: Any, exc: type) -> None:
    op = backend.Operation
    makers = [
        lambda: op.read(1, fd, 0, priority),
        lambda: op.write(b"x", fd, 0, priority),
        lambda: op.readinto(bytearray(1), fd, 0, priority),
        lambda: op.readv([bytearray(1)], fd, 0, priority),
        lambda: op.writev([b"x"], fd, 0, priority),
        lambda: op.fsync(fd, priority),
        lambda: op.fdsync(fd, priority),
    ]
    for make in makers:
        with pytest.raises(exc, match="priority"):
            make()
    assert os.pread(fd, 1, 0) == b""


async def test_closed_fd_gives_ebadf(actx: Any, path: Path, fd: int) -> None:
    await _still_usable(actx, fd)  # binds the adapter first: its eventfd must not reuse the number
    dead = os.open(path, os.O_RDONLY)
    os.close(dead)
    with pytest.raises(OSError) as info:
        await actx.read(1, dead, 0)
    assert info.value.errno == errno.EBADF
    await _still_usable(actx, fd)


async def test_directory_fd_gives_eisdir(actx: Any, tmp_path: Path, fd: int) -> None:
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(IsADirectoryError) as info:
            await actx.read(10, dfd, 0)
        assert info.value.errno == errno.EISDIR
    finally:
        os.close(dfd)
    await _still_usable(actx, fd)


async def test_read_on_write_only_fd_gives_ebadf(actx: Any, path: Path, fd: int) -> None:
    wfd = os.open(path, os.O_WRONLY)
    try:
        with pytest.raises(OSError) as info:
            await actx.read(1, wfd, 0)
        assert info.value.errno == errno.EBADF
    finally:
        os.close(wfd)
    await _still_usable(actx, fd)


async def test_write_on_read_only_fd_gives_ebadf(actx: Any, path: Path, fd: int) -> None:
    rfd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as info:
            await actx.write(b"nope", rfd, 0)
        assert info.value.errno == errno.EBADF
    finally:
        os.close(rfd)
    assert os.pread(fd, 10, 0) == b""
    await _still_usable(actx, fd)


async def test_failed_fsync_gives_oserror(actx: Any, fd: int) -> None:
    with pytest.raises(OSError) as info:
        await actx.fsync(99999)
    assert info.value.errno == errno.EBADF
    await _still_usable(actx, fd)


@pytest.mark.parametrize("value", [0, -1, 2**64])
def test_max_requests_must_be_in_range(backend: Any, value: int) -> None:
    with pytest.raises(ValueError):
        backend.Context(max_requests=value)
    with pytest.raises(ValueError):
        backend.AsyncioContext(max_requests=value)


def test_non_callable_callback_is_refused(backend: Any, fd: int) -> None:
    with pytest.raises(TypeError):
        backend.Operation.read(1, fd, 0).set_callback(42)


async def test_foreign_operation_is_refused(actx: Any, fd: int) -> None:
    with pytest.raises(TypeError):
        await actx.submit(object())
    await _still_usable(actx, fd)


# -- loop binding and lifetime ---------------------------------------------------------------


def test_adapter_binds_at_first_use_and_closes_with_its_loop(backend: Any, path: Path) -> None:
    ctx = backend.AsyncioContext()  # built outside any loop
    path.write_bytes(b"bound late")

    async def main() -> bytes:
        fd = os.open(path, os.O_RDONLY)
        try:
            return await ctx.read(100, fd, 0)
        finally:
            os.close(fd)

    assert asyncio.run(main()) == b"bound late"
    assert ctx.closed  # released when asyncio.run closed the loop
    assert ctx.context.closed


async def test_adapter_refuses_another_loop(backend: Any, fd: int) -> None:
    ctx = backend.AsyncioContext()
    await ctx.read(1, fd, 0)

    def other_loop() -> None:
        async def use() -> None:
            await ctx.read(1, fd, 0)

        asyncio.run(use())

    with pytest.raises(RuntimeError, match="different event loop"):
        await asyncio.to_thread(other_loop)
    await ctx.aclose()


def test_fork_child_never_hangs(backend: Any, path: Path) -> None:
    path.write_bytes(b"forked")
    module = backend.module.__name__
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys, importlib
        mod = importlib.import_module({module!r})
        amod = importlib.import_module({module!r} + "_asyncio")
        fd = os.open({str(path)!r}, os.O_RDONLY)
        ctx = mod.Context(max_requests=4)
        op = mod.Operation.read(6, fd, 0)
        op.set_callback(lambda r: None)
        ctx.submit(op)
        while not ctx.process_events():
            pass
        pid = os.fork()
        if pid == 0:
            code = 0
            # The inherited context: works or fails clearly, never hangs.
            try:
                op = mod.Operation.read(6, fd, 0)
                got = []
                op.set_callback(got.append)
                ctx.submit(op)
                import select
                while not got:
                    select.select([ctx.fileno()], [], [], 5)
                    ctx.process_events()
                if op.get_value() != b"forked":
                    code = 3
            except (OSError, ValueError, RuntimeError):
                pass
            # A fresh adapter in the child works.
            async def main():
                async with amod.AsyncioContext() as actx:
                    return await actx.read(6, fd, 0)
            if asyncio.run(main()) != b"forked":
                code = 4
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        ctx.close()
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_close_does_not_wait_for_a_read_blocked_on_a_pipe(backend: Any) -> None:
    read_end, write_end = os.pipe()
    ctx = backend.Context(max_requests=4)
    results: list[int] = []
    buffer = bytearray(10)
    op = backend.Operation.readinto(buffer, read_end, 0)
    op.set_callback(results.append)
    try:
        assert ctx.submit(op) == 1
        time.sleep(0.05)  # let a worker block in read(2)
        closer = threading.Thread(target=ctx.close, daemon=True)
        closer.start()
        closer.join(10)
        assert not closer.is_alive(), "close() waited for a read that can never finish"
        assert results == [-errno.ECANCELED]
        with pytest.raises(OSError) as info:
            op.get_value()
        assert info.value.errno == errno.ECANCELED
    finally:
        os.write(write_end, b"late data")  # unblocks the abandoned worker
        time.sleep(0.05)
        os.close(write_end)
        os.close(read_end)


def test_asyncio_run_returns_after_a_cancelled_pipe_read(backend: Any) -> None:
    module = backend.module.__name__
    script = textwrap.dedent(
        f"""
        import asyncio, importlib, os
        amod = importlib.import_module({module!r} + "_asyncio")
        read_end, write_end = os.pipe()
        ctx = amod.AsyncioContext()

        async def main():
            task = asyncio.create_task(ctx.read(10, read_end, 0))
            await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(main())  # closing the loop closes the adapter and its context
        assert ctx.closed
        print("returned")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "returned"
