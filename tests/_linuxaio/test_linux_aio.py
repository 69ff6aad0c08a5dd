"""Kernel-AIO-specific behaviour of ``linux_aio`` (the conformance suite covers the contract)."""

from __future__ import annotations

import asyncio
import errno
import gc
import mmap
import os
import select
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.compiled

PAGE = mmap.PAGESIZE


@pytest.fixture
def ctx(L: Any) -> Iterator[Any]:
    context = L.Context(max_requests=64)
    yield context
    context.close()


def run_raw(ctx: Any, *ops: Any, accepted: int | None = None) -> list[int]:
    results: dict[int, int] = {}
    for i, op in enumerate(ops):
        op.set_callback(lambda res, i=i: results.__setitem__(i, res))
    assert ctx.submit(*ops) == (len(ops) if accepted is None else accepted)
    while len(results) < len(ops):
        select.select([ctx.fileno()], [], [], 5.0)
        ctx.process_events()
    return [results[i] for i in range(len(ops))]


def _cold_file(path: Path, size: int) -> bytes:
    """A file of random bytes, flushed and evicted from the page cache."""
    data = os.urandom(size)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return data


def _aio_mappings() -> int:
    """Kernel AIO contexts of this process: each maps its ring as ``/[aio]``."""
    with open("/proc/self/maps") as maps:
        return sum("[aio]" in line for line in maps)


# -- completion paths ---------------------------------------------------------------------


def test_context_docstring_names_the_backend(L: Any) -> None:
    assert "linux aio context" in L.Context.__doc__


def test_the_pool_runs_up_to_32_threads_by_default(L: Any) -> None:
    """A cold file's reads run one per pool thread: 32 by default (see DEFAULT_POOL_SIZE)."""
    ctx = L.Context()
    try:
        assert ctx.pool_size == L.DEFAULT_POOL_SIZE == 32
    finally:
        ctx.close()


def test_completions_come_from_the_user_space_ring(ctx: Any) -> None:
    assert ctx.uses_ring  # this kernel exposes its ring; io_getevents is the fallback


def test_cold_file_reads_through_nowait_fallback(L: Any, ctx: Any, tmp_path: Path) -> None:
    size = 4 << 20
    data = _cold_file(tmp_path / "cold.bin", size)
    fd = os.open(tmp_path / "cold.bin", os.O_RDONLY | os.O_CLOEXEC)
    try:
        offsets = list(range(0, size, 64 << 10))
        ops = [L.Operation.read(64 << 10, fd, off) for off in offsets]
        assert run_raw(ctx, *ops) == [64 << 10] * len(ops)
        for off, op in zip(offsets, ops, strict=True):
            assert op.get_value() == data[off : off + (64 << 10)]
    finally:
        os.close(fd)


def test_partly_cached_read_is_complete(L: Any, ctx: Any, tmp_path: Path) -> None:
    """RWF_NOWAIT stops at the first uncached page; the rest still arrives (not a short read)."""
    size = 2 << 20
    data = _cold_file(tmp_path / "half.bin", size)
    fd = os.open(tmp_path / "half.bin", os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(fd, size // 2, 0) == data[: size // 2]  # first half cached now
        op = L.Operation.read(size, fd, 0)
        assert run_raw(ctx, op) == [size]
        assert op.get_value() == data
    finally:
        os.close(fd)


async def test_cold_reads_through_the_adapter(LA: Any, tmp_path: Path) -> None:
    size = 2 << 20
    data = _cold_file(tmp_path / "cold.bin", size)
    fd = os.open(tmp_path / "cold.bin", os.O_RDONLY | os.O_CLOEXEC)
    try:
        async with LA.AsyncioContext(max_requests=64) as actx:
            offsets = list(range(0, size, 4096))[::7]
            got = await asyncio.gather(*(actx.read(4096, fd, off) for off in offsets))
        assert got == [data[off : off + 4096] for off in offsets]
    finally:
        os.close(fd)


# -- the asyncio adapter: inline completion, its time slice, batches -------------------------


async def test_cached_read_of_a_known_file_completes_without_yielding(LA: Any, tmp_path: Path) -> None:
    path = tmp_path / "hot.bin"
    data = os.urandom(64 * 1024)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    ran: list[int] = []

    async def other() -> None:
        ran.append(1)

    try:
        async with LA.AsyncioContext() as actx:
            actx._inline_slice_ns = 10**12  # no yield for the time slice, however slow this run is
            assert await actx.read(4096, fd, 0) == data[:4096]  # the file is now known and cached
            task = asyncio.ensure_future(other())  # ready to run: the loop is not idle
            got = [await actx.read(4096, fd, off) for off in range(0, len(data), 4096)]
            assert ran == []  # every read completed inside io_submit: no yield
            await task
            assert ran == [1]
            assert b"".join(got) == data
    finally:
        os.close(fd)


async def test_inline_completions_yield_after_the_time_slice(L: Any, LA: Any, tmp_path: Path) -> None:
    """The slice, not the clock, decides: no slice left means one inline read per loop iteration.

    With a slice too long to run out, cached reads never let the loop run the
    ticker; with a slice of 0, every read after an iteration's first yields to
    the loop once, so the ticker runs about once per read. (No wall-clock
    bound: a loaded machine cannot make this flaky.)
    """
    path = tmp_path / "slice.bin"
    path.write_bytes(os.urandom(1 << 20))
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    ticks = 0
    reads = 200

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def ticks_during_reads(actx: Any) -> int:
        nonlocal ticks
        task = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        ticks = 0
        for _ in range(reads):
            await actx.read(4096, fd, 0)
        seen = ticks
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return seen

    try:
        async with LA.AsyncioContext() as actx:
            assert actx._inline_slice_ns == L.INLINE_SLICE_NS
            await actx.read(4096, fd, 0)  # the descriptor is known to be cached from now on
            actx._inline_slice_ns = 10**15
            assert await ticks_during_reads(actx) == 0
            actx._inline_slice_ns = 0
            assert await ticks_during_reads(actx) >= reads - 2
    finally:
        os.close(fd)


async def test_one_io_submit_per_loop_iteration(LA: Any, tmp_path: Path) -> None:
    path = tmp_path / "batch.bin"
    data = os.urandom(16 * 4096)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        async with LA.AsyncioContext() as actx:
            batches: list[int] = []
            submit_batch = actx._submit_batch

            def counting(batch: list[Any]) -> None:
                batches.append(len(batch))
                submit_batch(batch)

            actx._submit_batch = counting
            # A descriptor the context has not seen yet is not known to be
            # cached: its reads, handed over by 16 tasks in one iteration,
            # reach the kernel together.
            got = await asyncio.gather(*(actx.read(4096, fd, i * 4096) for i in range(16)))
        assert batches == [16]
        assert b"".join(got) == data
    finally:
        os.close(fd)


async def test_a_cold_file_is_trusted_again_once_cached(LA: Any, tmp_path: Path) -> None:
    path = tmp_path / "rewarm.bin"
    size = 1 << 20
    data = _cold_file(path, size + 100)  # not a multiple of the page size
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    ran: list[int] = []

    async def other() -> None:
        ran.append(1)

    try:
        async with LA.AsyncioContext() as actx:
            # Cold: served by the pool, correct up to and across end of file.
            assert await actx.read(4096, fd, 8192) == data[8192 : 8192 + 4096]
            assert await actx.read(4096, fd, size) == data[size:]
            assert await actx.read(4096, fd, size + 4096) == b""
            os.pread(fd, size + 100, 0)  # now every page is cached
            actx._inline_slice_ns = 10**12  # the last read must not yield for the time slice
            # Enough reads in a row find their pages cached (the last one
            # straddles end of file): the descriptor is trusted again.
            for i in range(300):
                offset = (i * 4096) % (size + 4096)
                assert await actx.read(4096, fd, offset) == data[offset : offset + 4096]
            task = asyncio.ensure_future(other())
            assert await actx.read(4096, fd, 4096) == data[4096:8192]
            assert ran == []  # completed inside io_submit, without yielding
            await task
    finally:
        os.close(fd)


def test_a_cold_file_asks_cachestat_one_read_in_eight(L: Any, tmp_path: Path, page_cache: Any) -> None:
    """A read found not cached (cachestat(2)) restarts the run of VERIFY_RUN checked reads and lets
    the next seven go to the pool unchecked; reads still come back whole."""
    path = tmp_path / "c.bin"
    data = os.urandom(1 << 20)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if page_cache.cached_pages(fd, 0, 4096) is None:
            pytest.skip("cachestat(2) is not available here (Linux < 6.5 or a seccomp filter)")
        page_cache.evict(fd)
        with L.Context(8) as ctx:

            def read(offset: int) -> dict[str, Any]:
                op = L.Operation.read(4096, fd, offset)
                assert run_raw(ctx, op) == [4096]
                assert op.get_value() == data[offset : offset + 4096]
                state = ctx._fd_route_state(fd)
                return {key: state[key] for key in ("verify", "unchecked")}

            assert read(0) == {"verify": 256, "unchecked": 7}  # a new file, asked: not cached
            os.pread(fd, len(data), 0)  # every page cached from here on
            for k in range(7):  # unchecked: the run does not move
                assert read(4096 * (k + 1)) == {"verify": 256, "unchecked": 6 - k}
            assert read(8 * 4096) == {"verify": 255, "unchecked": 0}  # asked: cached
            assert read(9 * 4096) == {"verify": 254, "unchecked": 0}
            page_cache.evict(fd)
            assert read(10 * 4096) == {"verify": 256, "unchecked": 7}  # asked: not cached, the run restarts
    finally:
        os.close(fd)


def test_process_events_takes_at_most_limit_kernel_completions(L: Any, ctx: Any, tmp_path: Path) -> None:
    path = tmp_path / "limit.bin"
    data = os.urandom(8 * 4096)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.pread(fd, len(data), 0)  # cached: every read completes inside io_submit
        assert run_raw(ctx, L.Operation.read(1, fd, 0)) == [1]  # the context now knows the file is cached
        done: list[int] = []
        ops = [L.Operation.read(4096, fd, i * 4096) for i in range(8)]
        for op in ops:
            op.set_callback(done.append)
        assert ctx.submit(*ops) == 8
        assert ctx.process_events(3) == 3
        assert ctx.pending()
        assert ctx.process_events(3) == 3
        assert ctx.process_events() == 2
        assert not ctx.pending()
        assert done == [4096] * 8
        assert b"".join(op.get_value() for op in ops) == data
    finally:
        os.close(fd)


def test_buffered_writes_land(L: Any, ctx: Any, tmp_path: Path) -> None:
    """Writes the file system refuses under RWF_NOWAIT (ext4: EOPNOTSUPP) go to the pool."""
    path = tmp_path / "w.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        chunks = [os.urandom(4096) for _ in range(32)]
        ops = [L.Operation.write(c, fd, i * 4096) for i, c in enumerate(chunks)]
        assert run_raw(ctx, *ops) == [4096] * 32
        again = [L.Operation.write(c, fd, i * 4096) for i, c in enumerate(chunks)]  # learned route
        assert run_raw(ctx, *again) == [4096] * 32
        assert run_raw(ctx, L.Operation.fdsync(fd), L.Operation.fsync(fd)) == [0, 0]
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(chunks)


def test_readv_writev_use_the_kernel(L: Any, ctx: Any, tmp_path: Path) -> None:
    fd = os.open(tmp_path / "v.bin", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        parts = [b"a" * 10, bytearray(b"b" * 4096), memoryview(b"c" * 5)]
        assert run_raw(ctx, L.Operation.writev(parts, fd, 3)) == [4111]
        bufs = [bytearray(7), bytearray(4100), bytearray(10)]
        assert run_raw(ctx, L.Operation.readv(bufs, fd, 0)) == [4114]
        assert b"".join(bufs)[:4114] == b"\0" * 3 + b"a" * 10 + b"b" * 4096 + b"c" * 5
    finally:
        os.close(fd)


def test_read_straddling_eof_is_short_once(L: Any, ctx: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.bin"
    path.write_bytes(b"x" * 5000)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        op = L.Operation.read(1 << 20, fd, 1000)
        assert run_raw(ctx, op) == [4000]
        assert op.get_value() == b"x" * 4000
        assert type(op.get_value()) is bytes
    finally:
        os.close(fd)


def test_o_direct_readinto_with_aligned_mmap(L: Any, ctx: Any, tmp_path: Path) -> None:
    path = tmp_path / "direct.bin"
    data = os.urandom(16 * PAGE)
    path.write_bytes(data)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:  # a file system without O_DIRECT (e.g. some tmpfs)
        pytest.skip(f"O_DIRECT unsupported here: {exc}")
    try:
        buf = mmap.mmap(-1, 4 * PAGE)
        op = L.Operation.readinto(buf, fd, 8 * PAGE)
        assert run_raw(ctx, op) == [4 * PAGE]
        assert buf[:] == data[8 * PAGE : 12 * PAGE]
        # Misaligned: the kernel's EINVAL, reported as OSError.
        misaligned = L.Operation.readinto(bytearray(100), fd, 1)
        res = run_raw(ctx, misaligned)
        assert res == [-errno.EINVAL]
        with pytest.raises(OSError) as info:
            misaligned.get_value()
        assert info.value.errno == errno.EINVAL
        buf.close()
    finally:
        os.close(fd)


async def test_o_direct_readinto_through_the_adapter(LA: Any, tmp_path: Path) -> None:
    path = tmp_path / "direct.bin"
    data = os.urandom(64 * PAGE)
    path.write_bytes(data)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:
        pytest.skip(f"O_DIRECT unsupported here: {exc}")
    try:
        async with LA.AsyncioContext(max_requests=64) as actx:
            bufs = [mmap.mmap(-1, PAGE) for _ in range(64)]
            counts = await asyncio.gather(*(actx.readinto(b, fd, i * PAGE) for i, b in enumerate(bufs)))
            assert counts == [PAGE] * 64
            assert b"".join(b[:] for b in bufs) == data
    finally:
        os.close(fd)


# -- priority ----------------------------------------------------------------------------


def _ioprio(klass: int, data: int) -> int:
    """IOPRIO_PRIO_VALUE(class, data), as ioprio_set(2) encodes it."""
    return (klass << 13) | data


VALID_PRIORITIES = pytest.mark.parametrize(
    "priority", [_ioprio(2, 0), _ioprio(2, 7), _ioprio(3, 0)], ids=["be-0", "be-7", "idle"]
)
REFUSED_PRIORITIES = pytest.mark.parametrize(
    "priority", [_ioprio(0, 1), _ioprio(5, 0)], ids=["class-none-with-a-level", "unknown-class"]
)


@VALID_PRIORITIES
def test_priority_rides_with_the_request(L: Any, ctx: Any, tmp_path: Path, priority: int) -> None:
    path = tmp_path / "prio.bin"
    data = os.urandom(8 * PAGE)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        buf = bytearray(64)
        ops = [
            L.Operation.read(100, fd, 10, priority),
            L.Operation.readinto(buf, fd, 200, priority),
            L.Operation.readv([bytearray(3), bytearray(5)], fd, 300, priority),
            L.Operation.write(b"new bytes", fd, 4000, priority),
            L.Operation.writev([b"ab", b"cd"], fd, 5000, priority),
        ]
        assert run_raw(ctx, *ops) == [100, 64, 8, 9, 4]
        assert ops[0].get_value() == data[10:110]
        assert buf == data[200:264]
        assert os.pread(fd, 9, 4000) == b"new bytes"
        assert os.pread(fd, 4, 5000) == b"abcd"
    finally:
        os.close(fd)


@VALID_PRIORITIES
def test_o_direct_read_with_a_priority(L: Any, ctx: Any, tmp_path: Path, priority: int) -> None:
    path = tmp_path / "direct.bin"
    data = os.urandom(16 * PAGE)
    path.write_bytes(data)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:  # a file system without O_DIRECT (e.g. some tmpfs)
        pytest.skip(f"O_DIRECT unsupported here: {exc}")
    try:
        bufs = [mmap.mmap(-1, PAGE) for _ in range(4)]
        ops = [L.Operation.readinto(b, fd, (2 * i + 1) * PAGE, priority) for i, b in enumerate(bufs)]
        assert run_raw(ctx, *ops) == [PAGE] * 4
        assert [b[:] for b in bufs] == [data[(2 * i + 1) * PAGE : (2 * i + 2) * PAGE] for i in range(4)]
        for b in bufs:
            b.close()
    finally:
        os.close(fd)


@REFUSED_PRIORITIES
def test_a_priority_the_kernel_refuses_fails_the_operation_with_einval(
    L: Any, ctx: Any, tmp_path: Path, priority: int
) -> None:
    # io_submit refuses the iocb (EINVAL): the operation fails; it is not
    # taken for an RWF_NOWAIT refusal and run by the pool without the priority.
    path = tmp_path / "prio.bin"
    data = os.urandom(2 * PAGE)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        ops = [
            L.Operation.read(10, fd, 0),
            L.Operation.read(10, fd, 0, priority),
            L.Operation.write(b"never", fd, 0, priority),
            L.Operation.readinto(bytearray(8), fd, 0, priority),
            L.Operation.writev([b"nev", b"er"], fd, 0, priority),
            L.Operation.read(10, fd, 20),
        ]
        einval = -errno.EINVAL
        assert run_raw(ctx, *ops) == [10, einval, einval, einval, einval, 10]
        for op in ops[1:5]:
            with pytest.raises(OSError) as info:
                op.get_value()
            assert info.value.errno == errno.EINVAL
        # A small write with a priority never takes the inline write-guard path.
        done: list[int] = []
        inline = L.Operation.write(b"never", fd, 0, priority)
        inline.set_callback(done.append)
        if not ctx.submit_inline(inline):
            while not done:
                select.select([ctx.fileno()], [], [], 5.0)
                ctx.process_events()
        with pytest.raises(OSError) as info:
            inline.get_value()
        assert info.value.errno == errno.EINVAL
        assert os.pread(fd, 2 * PAGE + 1, 0) == data
    finally:
        os.close(fd)


@REFUSED_PRIORITIES
async def test_a_refused_priority_is_an_oserror_through_the_adapter(LA: Any, tmp_path: Path, priority: int) -> None:
    path = tmp_path / "prio.bin"
    data = os.urandom(PAGE)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        async with LA.AsyncioContext(max_requests=8) as actx:
            assert await actx.read(10, fd, 0) == data[:10]
            for call in (
                lambda: actx.write(b"never", fd, 0, priority),
                lambda: actx.read(10, fd, 0, priority),
                lambda: actx.write(bytearray(b"never"), fd, 100, priority),
            ):
                with pytest.raises(OSError) as info:
                    await call()
                assert info.value.errno == errno.EINVAL
            assert await actx.write(b"ok", fd, 0, _ioprio(2, 4)) == 2
        assert os.pread(fd, PAGE + 1, 0) == b"ok" + data[2:]
    finally:
        os.close(fd)


# -- batches ------------------------------------------------------------------------------


def test_partially_rejected_batch_fails_only_the_bad_operations(L: Any, ctx: Any, tmp_path: Path) -> None:
    path = tmp_path / "batch.bin"
    path.write_bytes(bytes(range(256)) * 64)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    closed_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    os.close(closed_fd)
    try:
        ops = [
            L.Operation.read(16, fd, 0),
            L.Operation.read(16, closed_fd, 0),  # EBADF at io_submit
            L.Operation.read(16, fd, 256),
            L.Operation.write(b"no", fd, 0),  # read-only fd: EBADF at io_submit
            L.Operation.read(16, fd, 512 + 16),
        ]
        assert run_raw(ctx, *ops) == [16, -errno.EBADF, 16, -errno.EBADF, 16]
        assert ops[0].get_value() == bytes(range(16))
        assert ops[2].get_value() == bytes(range(16))
        assert ops[4].get_value() == bytes(range(16, 32))
        with pytest.raises(OSError) as info:
            ops[1].get_value()
        assert info.value.errno == errno.EBADF
    finally:
        os.close(fd)


def test_more_than_the_kernel_queue_waits_in_the_backlog(L: Any, tmp_path: Path) -> None:
    path = tmp_path / "many.bin"
    data = os.urandom(300 * 512)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    context = L.Context(max_requests=300)
    try:
        assert context.kernel_queue_size == L.KERNEL_QUEUE_MAX < 300
        ops = [L.Operation.read(512, fd, i * 512) for i in range(300)]
        assert run_raw(context, *ops) == [512] * 300
        assert b"".join(op.get_value() for op in ops) == data
    finally:
        context.close()
        os.close(fd)


# -- eventfd ------------------------------------------------------------------------------


def test_spurious_eventfd_wakeup(L: Any, ctx: Any, tmp_path: Path) -> None:
    os.eventfd_write(ctx.fileno(), 1)
    assert ctx.process_events() == 0
    assert ctx.process_events() == 0
    path = tmp_path / "e.bin"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        op = L.Operation.read(3, fd, 0)
        assert run_raw(ctx, op) == [3]
        assert op.get_value() == b"abc"
    finally:
        os.close(fd)


async def test_spurious_wakeup_under_the_adapter(LA: Any, tmp_path: Path) -> None:
    path = tmp_path / "e.bin"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        async with LA.AsyncioContext() as actx:
            assert await actx.read(3, fd, 0) == b"abc"
            os.eventfd_write(actx.context.fileno(), 5)
            await asyncio.sleep(0.01)  # the reader runs, finds nothing
            assert await actx.read(2, fd, 1) == b"bc"
    finally:
        os.close(fd)


def test_eventfd_is_nonblocking_and_cloexec(ctx: Any) -> None:
    import fcntl

    efd = ctx.fileno()
    assert fcntl.fcntl(efd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    assert fcntl.fcntl(efd, fcntl.F_GETFL) & os.O_NONBLOCK


# -- routing ------------------------------------------------------------------------------


async def test_pipe_and_proc_through_the_default_adapter(LA: Any) -> None:
    r, w = os.pipe()
    try:
        async with LA.AsyncioContext() as actx:
            assert await actx.write(b"ping", w) == 4
            assert await actx.read(10, r) == b"ping"
            reader = asyncio.ensure_future(actx.read(10, r))  # blocks in a pool thread, not the loop
            await asyncio.sleep(0.01)
            assert not reader.done()
            os.write(w, b"late")
            assert await reader == b"late"
            fd = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
            try:
                status = await actx.read(65536, fd, 0)
            finally:
                os.close(fd)
            assert status.startswith(b"Name:")
            assert b"Pid:\t%d\n" % os.getpid() in status
    finally:
        os.close(r)
        os.close(w)


def test_reused_fd_number_is_read_correctly(L: Any, ctx: Any, tmp_path: Path) -> None:
    path = tmp_path / "r.bin"
    path.write_bytes(b"regular file")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    op = L.Operation.read(100, fd, 0)
    assert run_raw(ctx, op) == [12]
    os.close(fd)
    r, w = os.pipe()
    try:
        if r != fd:
            os.dup2(r, fd, inheritable=False)
        os.write(w, b"now a pipe")
        op = L.Operation.read(100, fd, 0)
        assert run_raw(ctx, op) == [10]
        assert op.get_value() == b"now a pipe"
        # ... and back to a regular file on the same number
        other = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        os.dup2(other, fd, inheritable=False)
        os.close(other)
        op = L.Operation.read(7, fd, 0)
        assert run_raw(ctx, op) == [7]
        assert op.get_value() == b"regular"
    finally:
        for d in {r, w, fd}:
            try:
                os.close(d)
            except OSError:
                pass


# -- lifecycle ----------------------------------------------------------------------------


def test_many_event_loops_leave_no_kernel_context_behind(LA: Any, L: Any, tmp_path: Path) -> None:
    path = tmp_path / "loops.bin"
    path.write_bytes(b"z" * 4096)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    async def one_read() -> bytes:
        return await LA.AsyncioContext().read(4096, fd, 0)  # never closed: released with its loop

    def one_loop() -> None:
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(one_read()) == b"z" * 4096
        finally:
            loop.close()

    try:
        one_loop()  # warm-up: the kernel context kept for reuse exists from here on
        # Count this process's own contexts (its [aio] mappings), never the
        # system-wide fs.aio-nr: other processes on the machine take and
        # release contexts at any time. Garbage of earlier tests goes first.
        gc.collect()
        mappings = _aio_mappings()
        for _ in range(2000):
            one_loop()
        assert _aio_mappings() == mappings
        released = L.release_idle_contexts()
        assert released >= 1
        assert _aio_mappings() == mappings - released
    finally:
        os.close(fd)


def test_close_waits_for_pool_and_kernel_operations(L: Any, tmp_path: Path) -> None:
    size = 1 << 20
    data = _cold_file(tmp_path / "c.bin", size)
    fd = os.open(tmp_path / "c.bin", os.O_RDONLY | os.O_CLOEXEC)
    context = L.Context(max_requests=64)
    results: list[int] = []
    ops = [L.Operation.read(16 << 10, fd, off) for off in range(0, size, 16 << 10)]
    for op in ops:
        op.set_callback(results.append)
    assert context.submit(*ops) == len(ops)
    context.close()
    os.close(fd)
    assert sorted(results) == [16 << 10] * len(ops)
    assert b"".join(op.get_value() for op in ops) == data
    assert context.in_flight == 0
    with pytest.raises(ValueError):
        context.fileno()


def test_fork_child_gets_a_fresh_context(L: Any, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"fork data")
    script = textwrap.dedent(
        f"""
        import errno, os, select, sys
        from _linuxaio import linux_aio as L

        def run(ctx, op):
            got = []
            op.set_callback(got.append)
            assert ctx.submit(op) == 1
            while not got:
                select.select([ctx.fileno()], [], [], 5)
                ctx.process_events()
            return got[0]

        ctx = L.Context(max_requests=8)
        fd = os.open({str(path)!r}, os.O_RDONLY)
        assert run(ctx, L.Operation.read(4, fd, 0)) == 4
        r, w = os.pipe()
        pending = L.Operation.read(10, r)  # in a pool thread when we fork
        parent_got = []
        pending.set_callback(parent_got.append)
        ctx.submit(pending)
        pid = os.fork()
        if pid == 0:
            try:
                op = L.Operation.read(9, fd, 0)
                assert run(ctx, op) == 9, "child read"
                assert op.get_value() == b"fork data"
                import fcntl
                assert fcntl.fcntl(ctx.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC, "child eventfd inheritable"
                ctx.process_events()
                try:
                    pending.get_value()
                except OSError as exc:
                    assert exc.errno == errno.ECANCELED
                else:
                    raise AssertionError("the parent's operation completed in the child")
                ctx.close()
                os._exit(0)
            except BaseException as exc:
                print("child failed:", repr(exc), flush=True)
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        os.write(w, b"parent")
        while not parent_got:
            select.select([ctx.fileno()], [], [], 5)
            ctx.process_events()
        assert pending.get_value() == b"parent"
        ctx.close()
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_probe_is_cached_and_import_makes_no_io_setup() -> None:
    script = textwrap.dedent(
        """
        def aio_rings():
            with open("/proc/self/maps") as f:
                return sum("[aio]" in line for line in f)

        import importlib
        linux_aio = importlib.import_module("_linuxaio.linux_aio")
        assert aio_rings() == 0, "import created a kernel context"
        linux_aio.probe()
        linux_aio.probe()
        assert aio_rings() == 1  # the probe's context, kept for the first Context
        ctx = linux_aio.Context(max_requests=linux_aio.KERNEL_QUEUE_MAX)
        assert aio_rings() == 1  # ... which reused it
        ctx.close()
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bytes_read_are_a_fresh_object_each_time(L: Any, ctx: Any, tmp_path: Path) -> None:
    path = tmp_path / "b.bin"
    path.write_bytes(b"q" * 8192)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        a, b = L.Operation.read(8192, fd, 0), L.Operation.read(8192, fd, 0)
        assert a.payload is None  # not exposed before completion
        assert run_raw(ctx, a, b) == [8192, 8192]
        assert a.get_value() == b.get_value() == b"q" * 8192
        assert a.get_value() is not b.get_value()
    finally:
        os.close(fd)


# -- review fixes: failures inside submit, the route table, dropped contexts -----------------


def _rss_mib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE // (1 << 20)


def test_batch_with_a_bogus_huge_fd_fails_only_that_operation(L: Any, ctx: Any, tmp_path: Path) -> None:
    path = tmp_path / "g.bin"
    path.write_bytes(b"hello world")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    r, w = os.pipe()
    try:
        good, piped, bad = L.Operation.read(5, fd), L.Operation.read(5, r), L.Operation.read(5, 0x7FFFFF0)
        results: dict[str, int] = {}
        for name, op in (("good", good), ("piped", piped), ("bad", bad)):
            op.set_callback(lambda res, name=name: results.__setitem__(name, res))
        assert ctx.submit(good, piped, bad) == 3
        assert ctx.in_flight == 3
        os.write(w, b"piped")
        while len(results) < 3:
            select.select([ctx.fileno()], [], [], 5.0)
            ctx.process_events()
        assert results == {"good": 5, "piped": 5, "bad": -errno.EBADF}
        assert good.get_value() == b"hello" and piped.get_value() == b"piped"
        assert ctx.in_flight == 0
    finally:
        os.close(fd)
        os.close(r)
        os.close(w)


def test_bogus_fd_number_does_not_grow_the_route_table(L: Any, ctx: Any) -> None:
    before = _rss_mib()
    for fd in (8_000_000, 30_000_000):
        op = L.Operation.read(10, fd)
        assert run_raw(ctx, op) == [-errno.EBADF]
    assert _rss_mib() - before < 64  # a table sized by the fd number would be >= 300 MiB


async def test_adapter_survives_a_bogus_huge_fd_in_a_batch(LA: Any, tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"adapter!")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    r, w = os.pipe()
    ctx = LA.AsyncioContext(max_requests=8)
    try:
        assert await ctx.read(1, fd) == b"a"
        futs = [
            asyncio.ensure_future(ctx.read(5, r)),
            asyncio.ensure_future(ctx.read(5, fd)),
            asyncio.ensure_future(ctx.read(5, 0x7FFFFF0)),
        ]
        await asyncio.sleep(0)
        os.write(w, b"pipe!")
        res = await asyncio.gather(*futs, return_exceptions=True)
        assert res[0] == b"pipe!" and res[1] == b"adapt"
        assert isinstance(res[2], OSError) and res[2].errno == errno.EBADF
        assert ctx.in_flight == 0 and ctx.context.in_flight == 0
        await asyncio.wait_for(ctx.aclose(), 10)
    finally:
        os.close(fd)
        os.close(r)
        os.close(w)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_dropped_context_with_operations_in_flight_is_freed(L: Any, tmp_path: Path) -> None:
    import gc
    import threading
    import weakref

    path = tmp_path / "d.bin"
    path.write_bytes(b"dropped")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    r, w = os.pipe()
    try:
        L.release_idle_contexts()
        mappings, fds = _aio_mappings(), _open_fds()
        ctx = L.Context(max_requests=8)
        piped, filed = L.Operation.read(5, r), L.Operation.read(7, fd)
        piped.set_callback(lambda res: None)
        assert ctx.submit(piped, filed) == 2
        ref = weakref.ref(ctx)
        with pytest.warns(ResourceWarning, match="unclosed context"):  # noqa: PT031 - the drop must be inside
            del ctx
            gc.collect()
        assert ref() is None, "in-flight operations keep their context alive"
        for thread in threading.enumerate():
            if thread.name == "linux_aio-reaper":
                thread.join(30)
        L.release_idle_contexts()
        assert _aio_mappings() == mappings
        assert _open_fds() == fds  # the eventfd (and the pool's) closed
        with pytest.raises(OSError) as exc:
            piped.get_value()  # the pipe read never got data: cancelled by the reaper
        assert exc.value.errno == errno.ECANCELED
    finally:
        os.close(fd)
        os.close(r)
        os.close(w)


def test_huge_sizes_are_value_errors(L: Any) -> None:
    for kwargs in ({"max_requests": 2**64}, {"pool_size": 2**64}, {"max_requests": -(2**64)}):
        with pytest.raises(ValueError):
            L.Context(**kwargs)
