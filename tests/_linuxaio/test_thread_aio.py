"""Tests specific to the C thread-pool backend (``_linuxaio.thread_aio``).

The shared contract is checked by ``test_conformance.py``; this file covers
what belongs to the pool: shutdown with queued work, fork, submissions from
several threads, one wake-up per burst, ordered pipe I/O, transfers past the
kernel's 2 GiB per-call limit, and the finalizer of an unclosed context.
"""

from __future__ import annotations

import asyncio
import errno
import mmap
import os
import random
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

thread_aio = pytest.importorskip("_linuxaio.thread_aio", reason="thread_aio not built")
thread_aio_asyncio = pytest.importorskip("_linuxaio.thread_aio_asyncio")

pytestmark = pytest.mark.compiled

GIB = 1 << 30


def wait_all(ctx: Any, results: dict[int, int], count: int, timeout: float = 30.0) -> None:
    """Process events until ``count`` callbacks have stored their results."""
    deadline = time.monotonic() + timeout
    while len(results) < count:
        assert time.monotonic() < deadline, f"only {len(results)} of {count} completed"
        select.select([ctx.fileno()], [], [], 1.0)
        ctx.process_events()


def collect(results: dict[int, int], key: int) -> Any:
    return lambda res: results.__setitem__(key, res)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe2(os.O_CLOEXEC)
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


# -- module surface ---------------------------------------------------------------


def test_context_docstring_and_defaults() -> None:
    assert "thread aio context" in thread_aio.Context.__doc__
    with thread_aio.Context() as ctx:
        assert ctx.max_requests == 512
        assert ctx.pool_size == 32
    thread_aio.probe()


@pytest.mark.parametrize("size", [0, -1, thread_aio.MAX_POOL_SIZE + 1])
def test_pool_size_out_of_range(size: int) -> None:
    with pytest.raises(ValueError, match="pool_size"):
        thread_aio.Context(pool_size=size)


def test_eventfd_is_close_on_exec() -> None:
    with thread_aio.Context() as ctx:
        assert not os.get_inheritable(ctx.fileno())


# -- shutdown ---------------------------------------------------------------------


def test_close_runs_queued_work_and_callbacks(fd: int) -> None:
    ctx = thread_aio.Context(max_requests=1000, pool_size=1)
    results: dict[int, int] = {}
    ops = []
    for i in range(500):
        op = thread_aio.Operation.write(i.to_bytes(4, "little"), fd, 4 * i)
        op.set_callback(collect(results, i))
        ops.append(op)
    assert ctx.submit(*ops) == 500
    ctx.close()  # most of them are still queued here
    assert results == dict.fromkeys(range(500), 4)
    assert all(op.get_value() == 4 for op in ops)
    data = os.pread(fd, 4 * 500, 0)
    assert [int.from_bytes(data[4 * i : 4 * i + 4], "little") for i in range(500)] == list(range(500))
    assert ctx.closed
    assert ctx.in_flight == 0
    with pytest.raises(ValueError, match="closed"):
        ctx.fileno()
    with pytest.raises(ValueError, match="closed"):
        ctx.submit(thread_aio.Operation.fsync(fd))
    ctx.close()  # idempotent


def test_close_cancels_a_blocked_pipe_read_and_transfers_nothing_after(pipe: tuple[int, int]) -> None:
    r, w = pipe
    ctx = thread_aio.Context(pool_size=2)
    results: dict[int, int] = {}
    op = thread_aio.Operation.read(5, r)
    queued = thread_aio.Operation.read(5, r)  # waits behind `op` on the same pipe
    op.set_callback(collect(results, 0))
    queued.set_callback(collect(results, 1))
    assert ctx.submit(op, queued) == 2
    time.sleep(0.05)  # let a worker wait for the pipe
    ctx.close()
    assert results == {0: -errno.ECANCELED, 1: -errno.ECANCELED}
    for cancelled in (op, queued):
        with pytest.raises(OSError) as info:
            cancelled.get_value()
        assert info.value.errno == errno.ECANCELED
    os.write(w, b"hello")
    assert os.read(r, 5) == b"hello"  # no worker is left reading the pipe


def test_cancel_withdraws_queued_write(fd: int, pipe: tuple[int, int]) -> None:
    r, w = pipe
    with thread_aio.Context(pool_size=1) as ctx:
        results: dict[int, int] = {}
        blocker = thread_aio.Operation.read(1, r)
        blocker.set_callback(collect(results, 0))
        write = thread_aio.Operation.write(b"never", fd, 0)
        write.set_callback(collect(results, 1))
        assert ctx.submit(blocker, write) == 2
        assert ctx.cancel(write) == 1
        assert ctx.cancel(write) == 0
        wait_all(ctx, results, 1)
        assert results == {1: -errno.ECANCELED}
        with pytest.raises(OSError) as info:
            write.get_value()
        assert info.value.errno == errno.ECANCELED
        os.write(w, b"x")
        wait_all(ctx, results, 2)
        assert blocker.get_value() == b"x"
    assert os.pread(fd, 10, 0) == b""


# -- wake-ups ---------------------------------------------------------------------


def test_burst_of_10000_signals_once(tmp_path: Path, pipe: tuple[int, int]) -> None:
    """10,000 completions while nobody drains cost one eventfd write, not 10,000."""
    r, w = pipe
    data_path = tmp_path / "data"
    data_path.write_bytes(os.urandom(1 << 16))
    marker_path = tmp_path / "marker"
    marker_path.write_bytes(b"\0")
    data_fd = os.open(data_path, os.O_RDONLY | os.O_CLOEXEC)
    marker_fd = os.open(marker_path, os.O_WRONLY | os.O_CLOEXEC)
    count = 10_000
    try:
        # One worker and a FIFO queue: the gate holds the worker until every
        # operation is queued; the marker write runs last.
        ctx = thread_aio.Context(max_requests=count + 2, pool_size=1, inline_reads=False)
        gate = thread_aio.Operation.read(1, r)
        reads = [thread_aio.Operation.read(4096, data_fd, (i * 4096) % (1 << 16)) for i in range(count)]
        marker = thread_aio.Operation.write(b"\1", marker_fd, 0)
        assert ctx.submit(gate, *reads, marker) == count + 2
        os.write(w, b"g")
        deadline = time.monotonic() + 60
        while marker_path.read_bytes() != b"\1":
            assert time.monotonic() < deadline, "the burst did not finish"
            time.sleep(0.01)
        signals = os.eventfd_read(ctx.fileno())
        assert signals == 1
        assert ctx.process_events() == count + 2
        assert ctx.process_events() == 0
        assert all(op.get_value() == os.pread(data_fd, 4096, op.offset) for op in reads[:100])
        ctx.close()
    finally:
        os.close(data_fd)
        os.close(marker_fd)


async def test_burst_through_asyncio_wakes_the_loop_rarely(tmp_path: Path) -> None:
    """Every one of 10,000 reads resolves; process_events() found work far fewer times."""
    data = os.urandom(1 << 16)
    path = tmp_path / "data"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    count = 10_000
    # Every read through the pool (no inline reads): the burst is what is measured.
    actx = thread_aio_asyncio.AsyncioContext(max_requests=count, pool_size=4, inline_reads=False)
    try:
        futures = [actx.read(64, fd, (i * 64) % len(data)) for i in range(count)]
        ctx = actx.context
        calls_with_work = 0
        real = ctx.process_events

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(ctx, name)

            def process_events(self, *limit: int) -> int:
                nonlocal calls_with_work
                n = real(*limit)
                calls_with_work += n > 0
                return n

        actx._context = Counting()  # observe the adapter's drain loop
        results = await asyncio.gather(*futures)
        assert all(res == data[(i * 64) % len(data) :][:64] for i, res in enumerate(results))
        assert 0 < calls_with_work < count // 4
    finally:
        actx._context = ctx
        await actx.aclose()
        os.close(fd)


# -- threads ----------------------------------------------------------------------


def test_submissions_from_several_threads(fd: int) -> None:
    threads_n, per_thread = 4, 250
    ctx = thread_aio.Context(max_requests=threads_n * per_thread, pool_size=8)
    results: dict[int, int] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def submitter(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                key = t * per_thread + i
                op = thread_aio.Operation.write(key.to_bytes(4, "little"), fd, 4 * key)
                op.set_callback(collect(results, key))
                assert ctx.submit(op) == 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=submitter, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    wait_all(ctx, results, threads_n * per_thread)
    for thread in threads:
        thread.join()
    assert not errors
    assert set(results.values()) == {4}
    data = os.pread(fd, 4 * threads_n * per_thread, 0)
    assert [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)] == list(
        range(threads_n * per_thread)
    )
    ctx.close()


# -- special files ----------------------------------------------------------------


async def test_pipe_reads_and_writes_keep_their_order(pipe: tuple[int, int]) -> None:
    r, w = pipe
    async with thread_aio_asyncio.AsyncioContext(pool_size=8) as actx:
        reads = [actx.read(4, r) for _ in range(50)]  # queued before any data exists
        messages = [b"%04d" % i for i in range(50)]
        writes = [actx.write(m, w) for m in messages]
        assert await asyncio.gather(*writes) == [4] * 50
        assert await asyncio.gather(*reads) == messages


async def test_vectored_pipe_io_and_offsets_ignored(pipe: tuple[int, int]) -> None:
    r, w = pipe
    async with thread_aio_asyncio.AsyncioContext() as actx:
        assert await actx.writev([b"ab", b"cde"], w, 12345) == 5
        first, second = bytearray(2), bytearray(3)
        assert await actx.readv([first, second], r, 999) == 5
        assert (first, second) == (b"ab", b"cde")


async def test_fifo_and_procfs(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
    proc = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
    try:
        async with thread_aio_asyncio.AsyncioContext() as actx:
            assert await actx.write(b"through a fifo", fd) == 14
            assert await actx.read(100, fd) == b"through a fifo"
            status = await actx.read(65536, proc, 0)
            assert status.startswith(b"Name:")
    finally:
        os.close(fd)
        os.close(proc)


# -- large transfers --------------------------------------------------------------


def test_write_past_2gib_is_not_truncated() -> None:
    """/dev/null is seekable and takes any count; untouched anonymous pages cost no memory."""
    size = 2 * GIB + 12345
    buf = mmap.mmap(-1, size)
    null = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
    try:
        with thread_aio.Context() as ctx:
            write = thread_aio.Operation.write(buf, null, 0)
            view = memoryview(buf)
            writev = thread_aio.Operation.writev([view[: GIB + 7], view[GIB + 7 :], b"tail"], null, 0)
            results: dict[int, int] = {}
            write.set_callback(collect(results, 0))
            writev.set_callback(collect(results, 1))
            ctx.submit(write, writev)
            wait_all(ctx, results, 2)
            assert results == {0: size, 1: size + 4}
            assert write.nbytes == size
            assert writev.nbytes == size + 4
            del write, writev  # they hold slices of `view`
            view.release()
    finally:
        os.close(null)
        buf.close()


@pytest.mark.slow
def test_readinto_past_2gib_is_not_truncated(tmp_path: Path) -> None:
    size = 2 * GIB + 3 * mmap.PAGESIZE
    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(size - 5)
        f.write(b"last!")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    buf = mmap.mmap(-1, size)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        buf.madvise(mmap.MADV_HUGEPAGE)  # far fewer page faults where THP is available
    try:
        with thread_aio.Context() as ctx:
            op = thread_aio.Operation.readinto(buf, fd, 0)
            results: dict[int, int] = {}
            op.set_callback(collect(results, 0))
            ctx.submit(op)
            wait_all(ctx, results, 1, timeout=120)
            assert results == {0: size}
            assert buf[size - 5 :] == b"last!"
            assert buf[GIB * 2 - 8 : GIB * 2 + 8] == bytes(16)
    finally:
        os.close(fd)
        buf.close()


# -- fork -------------------------------------------------------------------------

FORK_SCRIPT = textwrap.dedent(
    """
    import asyncio, errno, os, select, sys
    from _linuxaio import thread_aio, thread_aio_asyncio

    path = sys.argv[1]
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    r, w = os.pipe()
    ctx = thread_aio.Context(pool_size=2)
    results = []
    blocked = thread_aio.Operation.read(1, r)
    blocked.set_callback(results.append)
    assert ctx.submit(blocked) == 1
    warm = thread_aio.Operation.write(b"parent", fd, 0)
    assert ctx.submit(warm) == 1
    while not warm.done:
        select.select([ctx.fileno()], [], [], 5)
        ctx.process_events()

    def run(c, op):
        got = []
        op.set_callback(got.append)
        assert c.submit(op) == 1
        while not got:
            assert select.select([c.fileno()], [], [], 5)[0], "child hung"
            c.process_events()
        return op.get_value()

    pid = os.fork()
    if pid == 0:
        # The inherited context: what the parent had in flight is cancelled
        # here, and the context works with fresh workers and eventfd.
        assert select.select([ctx.fileno()], [], [], 5)[0], "no wake-up for the cancelled read"
        assert ctx.process_events() == 1
        assert results == [-errno.ECANCELED], results
        assert run(ctx, thread_aio.Operation.write(b"child", fd, 6)) == 5
        assert run(ctx, thread_aio.Operation.read(11, fd, 0)) == b"parentchild"
        ctx.close()
        # A new context, and the asyncio adapter, in the child.
        with thread_aio.Context() as fresh:
            assert run(fresh, thread_aio.Operation.read(6, fd, 0)) == b"parent"

        async def main():
            async with thread_aio_asyncio.AsyncioContext() as actx:
                return await actx.read(11, fd, 0)

        assert asyncio.run(main()) == b"parentchild"
        os._exit(0)

    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    # The child never signalled the parent's eventfd.
    assert not select.select([ctx.fileno()], [], [], 0)[0]
    os.write(w, b"z")
    while not results:
        select.select([ctx.fileno()], [], [], 5)
        ctx.process_events()
    assert results == [1] and blocked.get_value() == b"z"
    ctx.close()
    print("ok")
    """
)


def test_fork_child_uses_inherited_and_new_contexts(path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", FORK_SCRIPT, str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert path.read_bytes() == b"parentchild"


# -- finalizer --------------------------------------------------------------------


def test_unclosed_idle_context_warns_and_frees() -> None:
    ctx = thread_aio.Context()
    fileno = ctx.fileno()
    with pytest.warns(ResourceWarning, match="unclosed context"):
        del ctx  # no reference cycle: finalized at once
    with pytest.raises(OSError) as info:
        os.fstat(fileno)
    assert info.value.errno == errno.EBADF


def test_unclosed_busy_context_warns_and_cancels_a_blocked_pipe_read(pipe: tuple[int, int]) -> None:
    r, w = pipe
    ctx = thread_aio.Context(pool_size=1)
    op = thread_aio.Operation.read(3, r)
    ctx.submit(op)
    time.sleep(0.05)  # let the worker wait for the pipe
    fileno = ctx.fileno()
    with pytest.warns(ResourceWarning, match="unclosed context"):
        del ctx  # no reference cycle: finalized at once, without blocking
    for reaper in [t for t in threading.enumerate() if t.name == "thread_aio-reaper"]:
        reaper.join(30)  # the pool's shutdown never waits for the pipe
        assert not reaper.is_alive()
    with pytest.raises(OSError):
        os.fstat(fileno)
    with pytest.raises(OSError) as info:
        op.get_value()  # completed; its memory stayed valid until then
    assert info.value.errno == errno.ECANCELED
    os.write(w, b"abc")
    assert os.read(r, 3) == b"abc"  # no worker is left reading the pipe


def test_read_result_is_exact_on_short_read(fd: int) -> None:
    os.pwrite(fd, b"short", 0)
    with thread_aio.Context() as ctx:
        op = thread_aio.Operation.read(1 << 20, fd, 0)
        results: dict[int, int] = {}
        op.set_callback(collect(results, 0))
        ctx.submit(op)
        wait_all(ctx, results, 1)
    value = op.get_value()
    assert value == b"short"
    assert type(value) is bytes


@pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="AddressSanitizer aborts on a huge malloc (unless allocator_may_return_null=1)",
)
def test_huge_read_fails_with_enomem(fd: int) -> None:
    with thread_aio.Context() as ctx:
        op = thread_aio.Operation.read(1 << 62, fd, 0)
        results: dict[int, int] = {}
        op.set_callback(collect(results, 0))
        assert ctx.submit(op) == 1
        wait_all(ctx, results, 1)
    assert results == {0: -errno.ENOMEM}
    with pytest.raises(OSError) as info:
        op.get_value()
    assert info.value.errno == errno.ENOMEM


def _comm(tid: str) -> str:
    """A thread's name (``""`` once it has exited)."""
    try:
        with open(f"/proc/self/task/{tid}/comm") as comm:
            return comm.read()
    except FileNotFoundError:
        return ""


def test_close_joins_every_worker(fd: int) -> None:
    def thread_ids() -> set[str]:
        # Not io_uring's kernel workers (iou-wrk-*): an earlier test's ring starts and ends them
        # on its own schedule, so one may appear during this test and outlive it (seen under load).
        return {tid for tid in os.listdir("/proc/self/task") if not _comm(tid).startswith("iou-")}

    for _ in range(20):
        # Compare thread ids, not counts: threads of earlier tests may exit meanwhile.
        before = thread_ids()
        with thread_aio.Context(pool_size=4) as ctx:
            ops = [thread_aio.Operation.write(b"x", fd, i) for i in range(8)]
            ctx.submit(*ops)
            started = thread_ids() - before
            assert started  # workers started lazily, on demand
        # close() joined every one of them. A joined thread can still be listed for a moment:
        # pthread_join returns when the kernel clears its tid, before the task is released
        # (seen under load). Wait for that, bounded; a worker never joined stays listed.
        deadline = time.monotonic() + 10
        while (alive := started & thread_ids()) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert not alive, {tid: _comm(tid) for tid in alive}


def test_mixed_stress_with_cancellation(tmp_path: Path) -> None:
    """Thousands of mixed operations, a third of them cancelled: each callback runs once, bytes land where asked."""
    rng = random.Random(4)
    fds = [os.open(tmp_path / f"f{i}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC) for i in range(3)]
    try:
        ctx = thread_aio.Context(max_requests=4096, pool_size=4)
        calls: dict[int, list[int]] = {}
        expected: dict[tuple[int, int], bytes] = {}
        ops = []
        for key in range(3000):
            fd = rng.choice(fds)
            slot = key * 8  # every write has its own 8 bytes
            payload = key.to_bytes(8, "little")
            kind = rng.randrange(5)
            if kind == 0:
                op = thread_aio.Operation.write(payload, fd, slot)
            elif kind == 1:
                op = thread_aio.Operation.writev([payload[:3], bytearray(payload[3:])], fd, slot)
            elif kind == 2:
                op = thread_aio.Operation.read(8, fd, rng.randrange(3000) * 8)
            elif kind == 3:
                op = thread_aio.Operation.readinto(bytearray(8), fd, rng.randrange(3000) * 8)
            else:
                op = thread_aio.Operation.fdsync(fd)
            op.set_callback(lambda res, key=key: calls.setdefault(key, []).append(res))
            ops.append((key, kind, fd, slot, payload, op))
        total_cancelled = 0
        for start in range(0, len(ops), 100):
            batch = ops[start : start + 100]
            assert ctx.submit(*(op for *_, op in batch)) == len(batch)
            cancelled = ctx.cancel(*(op for *_, op in batch if rng.random() < 0.33))
            assert 0 <= cancelled <= len(batch)
            total_cancelled += cancelled
            ctx.process_events()
        wait_all(ctx, calls, len(ops))
        ctx.close()
        assert all(len(results) == 1 for results in calls.values())
        assert sum(results == [-errno.ECANCELED] for results in calls.values()) == total_cancelled
        for key, kind, fd, slot, payload, _ in ops:
            (result,) = calls[key]
            if result == -errno.ECANCELED:
                continue
            assert result >= 0
            if kind in (0, 1):
                assert result == 8
                expected[(fd, slot)] = payload
        for (fd, slot), payload in expected.items():
            assert os.pread(fd, 8, slot) == payload
    finally:
        for fd in fds:
            os.close(fd)


async def test_adapter_fast_path_keeps_base_semantics(fd: int) -> None:
    """Back-pressure, errors and foreign operations through the compiled submit_future."""
    from _linuxaio import python_aio

    os.pwrite(fd, b"0123456789", 0)
    # No inline reads: every read takes a slot until a worker completes it.
    actx = thread_aio_asyncio.AsyncioContext(max_requests=2, pool_size=2, inline_reads=False)
    try:
        futures = [actx.submit_future(thread_aio.Operation.read(2, fd, 2 * i)) for i in range(5)]
        assert actx.in_flight == 2  # the rest wait for a slot
        assert await asyncio.gather(*futures) == [b"01", b"23", b"45", b"67", b"89"]
        assert actx.in_flight == 0
        with pytest.raises(TypeError):
            actx.submit_future(python_aio.Operation.read(1, fd, 0))
        done = thread_aio.Operation.read(1, fd, 0)
        await actx.submit_future(done)
        with pytest.raises(ValueError, match="already submitted"):
            actx.submit_future(done)
        directory = os.open("/", os.O_RDONLY | os.O_CLOEXEC)
        try:
            with pytest.raises(IsADirectoryError):
                await actx.read(1, directory, 0)
        finally:
            os.close(directory)
    finally:
        await actx.aclose()
    with pytest.raises(ValueError, match="closed"):
        actx.submit_future(thread_aio.Operation.read(1, fd, 0))


@pytest.mark.parametrize("inline_reads", [True, False])
def test_cached_reads_complete_through_process_events(fd: int, inline_reads: bool) -> None:
    """Served from the page cache or by a worker: same results, callbacks only in process_events()."""
    data = os.urandom(3 * 4096 + 100)
    os.pwrite(fd, data, 0)
    with thread_aio.Context(inline_reads=inline_reads) as ctx:
        results: dict[int, int] = {}
        buf = bytearray(4096)
        buf2 = bytearray(8)
        ops = [
            thread_aio.Operation.read(4096, fd, 4096),
            thread_aio.Operation.read(4096, fd, 3 * 4096),  # short: end of file
            thread_aio.Operation.read(10, fd, 1 << 20),  # past the end
            thread_aio.Operation.readinto(buf, fd, 0),
            thread_aio.Operation.read(thread_aio.INLINE_READ_MAX + 1, fd, 0),  # too big to inline
            thread_aio.Operation.readinto(memoryview(buf2), fd, 100),  # not a bytearray: a worker reads it
        ]
        for i, op in enumerate(ops):
            op.set_callback(collect(results, i))
        assert ctx.submit(*ops) == len(ops)
        assert results == {}  # never called from submit()
        wait_all(ctx, results, len(ops))
    assert results == {0: 4096, 1: 100, 2: 0, 3: 4096, 4: len(data), 5: 8}
    assert ops[0].get_value() == data[4096:8192]
    assert ops[1].get_value() == data[3 * 4096 :]
    assert ops[2].get_value() == b""
    assert buf == data[:4096]
    assert ops[4].get_value() == data
    assert buf2 == data[100:108]
