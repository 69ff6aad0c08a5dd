"""What is specific to the io_uring backend: inline completion, CQ overflow, cancel, opcode fallback, fork, lifecycle.

The protocol itself is covered by the conformance suite (``uring`` is one of
its backends).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
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

import _linuxaio

pytestmark = pytest.mark.skipif(
    _linuxaio.backend_status().get("uring") is not None,
    reason=f"io_uring unavailable here: {_linuxaio.backend_status().get('uring')}",
)


@pytest.fixture
def U() -> Any:
    from _linuxaio import linux_uring

    return linux_uring


@pytest.fixture
def UA() -> Any:
    from _linuxaio import linux_uring_asyncio

    return linux_uring_asyncio


@pytest.fixture
def data_fd(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    data = os.urandom(1 << 20)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    os.pread(fd, len(data), 0)  # in the page cache
    yield fd, data
    os.close(fd)


def _wait(ctx: Any, done: list[Any], n: int) -> None:
    while len(done) < n:
        select.select([ctx.fileno()], [], [], 5.0)
        ctx.process_events()


def _rings_and_fds() -> tuple[int, int]:
    rings = fds = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        fds += 1
        rings += "io_uring" in link
    return rings, fds


def test_ring_shape_and_cloexec(U: Any) -> None:
    with U.Context(max_requests=100) as ctx:
        assert ctx.ring_entries == (128, 256)  # next power of two, CQ twice the SQ
        assert ctx.setup_flags & U.SETUP_FLAGS == U.SETUP_FLAGS
        assert fcntl.fcntl(ctx.ring_fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert fcntl.fcntl(ctx.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert "io_uring" in os.readlink(f"/proc/self/fd/{ctx.ring_fd}")
    assert ctx.ring_fd == -1
    with pytest.raises(ValueError, match="closed context"):
        ctx.fileno()
    with pytest.raises(ValueError, match="closed context"):
        ctx.submit()


def test_the_pool_runs_up_to_32_threads_by_default(U: Any) -> None:
    """A cold file's reads run one per pool thread: 32 by default (see DEFAULT_POOL_SIZE)."""
    with U.Context() as ctx:
        assert ctx.pool_size == U.DEFAULT_POOL_SIZE == 32


def test_caio_keywords_are_accepted(U: Any, data_fd: tuple[int, bytes]) -> None:
    fd, data = data_fd
    for kwargs in ({"deferred": True}, {"sqpoll": False}, {"sqpoll": True}):
        ctx = U.Context(8, **kwargs)
        try:
            op = U.Operation.read(10, fd, 5)
            done: list[int] = []
            op.set_callback(done.append)
            ctx.submit(op)
            _wait(ctx, done, 1)
            assert op.get_value() == data[5:15]
        finally:
            ctx.close()


def test_cached_read_completes_inline_without_waking_the_reader(U: Any, data_fd: tuple[int, bytes]) -> None:
    fd, data = data_fd
    with U.Context(8) as ctx:
        op = U.Operation.read(4096, fd, 8192)
        assert ctx.submit_inline(op) is True
        assert op.get_value() == data[8192 : 8192 + 4096]
        assert not ctx.pending()
        # The eventfd was muted around the call: nothing to wake the loop for.
        assert select.select([ctx.fileno()], [], [], 0)[0] == []


def test_an_inline_call_wakes_the_reader_while_a_request_stays_in_the_kernel(
    U: Any, data_fd: tuple[int, bytes]
) -> None:
    """The eventfd is muted around an inline call; a request still in the kernel afterwards may
    have completed on another CPU meanwhile without its CQE being visible yet, so the reader is
    woken once: it reaps later. (Nothing in flight: no wake-up, the test above.)"""
    fd, data = data_fd
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        with U.Context(8) as ctx:
            piped = U.Operation.read(4, r, 0)
            done: list[int] = []
            piped.set_callback(done.append)
            assert ctx.submit(piped) == 1  # an empty pipe: the read waits in the kernel
            ctx.process_events()  # drains the eventfd; nothing completed
            assert select.select([ctx.fileno()], [], [], 0)[0] == []
            op = U.Operation.read(4096, fd, 8192)
            assert ctx.submit_inline(op) is True
            assert op.get_value() == data[8192 : 8192 + 4096]
            assert select.select([ctx.fileno()], [], [], 0)[0] == [ctx.fileno()]
            os.write(w, b"pipe")
            _wait(ctx, done, 1)
            assert piped.get_value() == b"pipe"
    finally:
        os.close(r)
        os.close(w)


def test_first_read_of_a_cached_file_goes_inline_while_other_tasks_are_ready(
    U: Any, UA: Any, data_fd: tuple[int, bytes]
) -> None:
    """With other work ready (64 tasks reading), a regular file's first read is still tried inline:
    cached, it completes in the call; a pipe's read is batched (it would wait in the kernel)."""
    fd, data = data_fd
    r, w = os.pipe2(os.O_CLOEXEC)

    async def main() -> None:
        actx = UA.AsyncioContext()
        try:
            await actx.fsync(fd)  # binds the adapter; touches no read state of fd
            actx._inline_slice_ns = 10**12  # no yield for the time slice, however slow this run is
            asyncio.get_running_loop().call_soon(lambda: None)  # something else is ready
            for i in range(3):
                op = U.Operation.read(4096, fd, 4096 * i)
                assert actx.start_operation(op) is op
                assert op.get_value() == data[4096 * i : 4096 * (i + 1)]
            piped = actx.start_operation(U.Operation.read(4, r, 0))
            assert isinstance(piped, asyncio.Future)
            os.write(w, b"pipe")
            assert await piped == b"pipe"
        finally:
            await actx.aclose()

    try:
        asyncio.run(main())
    finally:
        os.close(r)
        os.close(w)


async def _value(started: Any) -> Any:
    """What ``start_operation`` gave: a future's result, or a completed operation's value."""
    if isinstance(started, asyncio.Future):
        return await started
    assert started.done  # a property
    return started.get_value()


def test_cold_reads_probe_then_go_to_a_worker_with_every_byte(
    U: Any, UA: Any, data_fd: tuple[int, bytes], page_cache: Any
) -> None:
    """An inline attempt on a file not known as cached is an RWF_NOWAIT probe: data not cached
    (EAGAIN) or cached only in part (a short count) sends the rest to a worker (the C pool),
    never a stall of the loop thread; the caller gets every byte either way."""
    fd, data = data_fd

    async def main() -> None:
        actx = UA.AsyncioContext()
        try:
            await actx.fsync(fd)  # binds the adapter
            actx._inline_slice_ns = 10**12  # a slow probe must not use up the slice (start_operation: None)
            loop = asyncio.get_running_loop()
            page_cache.evict(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no readahead: only the page read is cached
            os.pread(fd, 4096, 65536)  # the first page of the 64 KiB read below is cached, the rest not
            assert page_cache.cached_pages(fd) in (None, 1), "the setup left more than the one page read cached"
            loop.call_soon(lambda: None)  # something else is ready: only a cheap guess goes inline
            cold = actx.start_operation(U.Operation.read(4096, fd, 8192))
            partly = actx.start_operation(U.Operation.read(65536, fd, 65536))
            into = bytearray(4096)
            cold_into = actx.start_operation(U.Operation.readinto(into, fd, 300_000))
            # Each is a future (the probe found the data missing: a worker reads it) or, when the
            # readahead that an RWF_NOWAIT probe itself starts (Linux 6.18) has finished before
            # the probe looks again (a fast device, a loop thread slowed by load or ASan), an
            # operation completed in the call. Neither waited on the disk; both carry every byte.
            assert await _value(cold) == data[8192 : 8192 + 4096]
            assert await _value(partly) == data[65536 : 65536 + 65536]
            assert await _value(cold_into) == 4096
            assert into == data[300_000 : 300_000 + 4096]
            # Batched reads of the cold descriptor (the worker path), then cached ones again.
            got = await asyncio.gather(*(actx.read(1000, fd, i * 7919) for i in range(64)))
            assert got == [data[i * 7919 : i * 7919 + 1000] for i in range(64)]
            assert await actx.read(100, fd, len(data) - 50) == data[-50:]  # short at EOF, not continued wrongly
        finally:
            await actx.aclose()

    asyncio.run(main())


def test_a_probe_that_stops_at_the_end_of_the_file_is_a_cached_read(U: Any, UA: Any, tmp_path: Path) -> None:
    """RWF_NOWAIT reads come back short both where the cached part ends and at the end of the
    file: a whole small cached file read with a bigger buffer completes in the call, and the
    descriptor is known as cached afterwards (its next reads are not sent to a worker)."""
    path = tmp_path / "small"
    path.write_bytes(b"0123456789" * 10)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    os.pread(fd, 100, 0)  # cached

    async def main() -> None:
        actx = UA.AsyncioContext()
        try:
            await actx.fsync(fd)  # binds the adapter; touches no read state of fd
            actx._inline_slice_ns = 10**12  # no yield for the time slice, however slow this run is
            for offset in (0, 0, 50, 100, 4096):
                op = U.Operation.read(4096, fd, offset)
                assert actx.start_operation(op) is op, offset
                assert op.get_value() == path.read_bytes()[offset:]
        finally:
            await actx.aclose()

    try:
        asyncio.run(main())
    finally:
        os.close(fd)


def test_a_reused_descriptor_number_gets_what_it_names_now(U: Any, UA: Any, tmp_path: Path, page_cache: Any) -> None:
    """The per-descriptor cache is keyed by number, which the kernel reuses after close(2).
    A pipe that inherits a cached file's number (dup2 here, os.close + pipe in real code)
    reads and writes as a pipe: EAGAIN when O_NONBLOCK and empty or full, what it has when
    short, never a request that waits forever (nor a close that waits for one)."""
    path = tmp_path / "f"
    path.write_bytes(os.urandom(1 << 20))
    hot = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    cold = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    async def main() -> None:
        actx = UA.AsyncioContext()
        try:
            for _ in range(2):
                assert len(await actx.read(4096, hot, 0)) == 4096  # known as cached
            assert await actx.write(b"x" * 100_000, hot, 0) == 100_000  # a write on the ring
            page_cache.evict(cold)
            assert len(await actx.read(4096, cold, 1 << 19)) == 4096  # known as cold
            os.dup2(r, hot)  # the file is closed, the number names the pipe's read end
            os.dup2(r, cold)
            for fd in (hot, cold):
                with pytest.raises(BlockingIOError):
                    await asyncio.wait_for(actx.read(10, fd, 0), 10)
            os.write(w, b"abc")
            assert await asyncio.wait_for(actx.read(10, hot, 0), 10) == b"abc"  # short: what it had
            os.dup2(w, hot)  # now the write end, filled up
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
            with pytest.raises(BlockingIOError):
                while True:
                    os.write(w, b"y" * 4096)
            with pytest.raises(BlockingIOError):
                await asyncio.wait_for(actx.write(b"z" * 10, hot, 0), 10)
        finally:
            await asyncio.wait_for(actx.aclose(), 10)

    try:
        asyncio.run(main())
    finally:
        for fd in (hot, cold, r, w):
            os.close(fd)


def _run_to_completion(ctx: Any, op: Any) -> Any:
    """Submit ``op`` on a bare ``Context`` and process events until its callback ran; its result."""
    done: list[Any] = []
    op.set_callback(done.append)
    ctx.submit(op)
    _wait(ctx, done, 1)
    return done[0]


def _wait_for(ctx: Any, op: Any) -> Any:
    """Process events until ``op`` (in flight after ``submit_inline``) completed; its result."""
    done: list[Any] = []
    op.attach_callback(done.append)
    _wait(ctx, done, 1)
    return done[0]


def test_a_file_system_that_refuses_rwf_nowait_is_read_plainly(U: Any) -> None:
    """tmpfs/shmem (a memfd here) answers RWF_NOWAIT reads with EOPNOTSUPP: the probe is dropped
    for that descriptor and its reads, batched or inline, return the data."""
    fd = os.memfd_create("nowait-refused", os.MFD_CLOEXEC)
    data = os.urandom(100_000)
    os.write(fd, data)
    with pytest.raises(OSError) as refused:
        os.preadv(fd, [bytearray(10)], 0, os.RWF_NOWAIT)
    assert refused.value.errno == errno.EOPNOTSUPP  # what the probe meets
    try:
        with U.Context(8) as ctx:
            for offset in (0, 4096, 50_000):
                assert _run_to_completion(ctx, U.Operation.read(4096, fd, offset)) == 4096
            op = U.Operation.read(4096, fd, 8192)
            done: list[Any] = []
            op.set_callback(done.append)
            if not ctx.submit_inline(op):
                _wait(ctx, done, 1)  # io_uring hands reads of such a file to a worker
            assert op.get_value() == data[8192 : 8192 + 4096]
    finally:
        os.close(fd)


def test_a_cancel_after_a_probe_answered_finds_nothing_and_the_read_goes_on(
    U: Any, data_fd: tuple[int, bytes], page_cache: Any
) -> None:
    """A probe never waits: a cancel sent before its CQE is reaped finds nothing to stop
    (cancel() counts 0), so a cold file's read goes on to a worker and returns every byte; a
    blocking pipe that inherited a file's number is stopped (counted, -ECANCELED)."""
    fd, data = data_fd
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        for _ in range(3):
            with U.Context(8) as ctx:  # a descriptor it knows nothing of: the read is a probe
                page_cache.evict(fd)
                op = U.Operation.read(65536, fd, 1 << 16)
                done: list[Any] = []
                op.set_callback(done.append)
                ctx.submit(op)
                assert ctx.cancel(op) == 0
                _wait(ctx, done, 1)
                assert op.get_value() == data[1 << 16 : 2 << 16]
        with U.Context(8) as ctx:
            reused = os.dup(fd)
            assert _run_to_completion(ctx, U.Operation.read(100, reused, 0)) == 100  # noted a file
            os.dup2(r, reused)  # the number now names a blocking, empty pipe
            op = U.Operation.read(10, reused, 0)
            done = []
            op.set_callback(done.append)
            ctx.submit(op)
            assert ctx.cancel(op) == 1
            _wait(ctx, done, 1)
            assert done == [-errno.ECANCELED]
            os.close(reused)
    finally:
        os.close(r)
        os.close(w)


def test_a_probe_that_meets_evicted_pages_notes_the_descriptor_cold(
    U: Any, data_fd: tuple[int, bytes], page_cache: Any
) -> None:
    """A read of a buffered file not known as cold is an RWF_NOWAIT probe; when its pages are not
    cached the kernel answers EAGAIN or a short count, the context notes the descriptor cold and
    the read goes on in a worker, returning every byte.

    The probe starts readahead, which may finish before the kernel looks again (then the probe
    is a cached read): the probe asks for the whole MiB, so all of it must have been read from
    the device in that gap. Bounded attempts; each evicts first and checks it with cachestat(2).
    """
    fd, data = data_fd
    for _attempt in range(20):
        with U.Context(8) as ctx:
            page_cache.evict(fd)
            op = U.Operation.read(len(data), fd, 0)
            assert _run_to_completion(ctx, op) == len(data)
            assert op.get_value() == data
            if "cold" in ctx._fd_state(fd):
                return
    raise AssertionError("20 probes of 1 MiB of evicted pages all completed in the call: never noted cold")


@pytest.mark.parametrize("path", ["submit", "submit_inline"])
def test_a_cold_file_is_noted_cached_again_after_a_run_of_cached_reads(
    U: Any, data_fd: tuple[int, bytes], path: str, page_cache: Any
) -> None:
    """Reads of a descriptor noted cold go to workers (no probe: RWF_NOWAIT on the ring still
    starts readahead) until VERIFY_RUN checked reads in a row found their range cached
    (cachestat(2)); a read of a range not cached starts the run again, and it, like the cold
    note itself, lets the next seven reads go unchecked. Batched (``submit``) or tried inline
    (``submit_inline``, the adapters' path when nothing else is ready) alike."""
    fd, data = data_fd
    if page_cache.cached_pages(fd, 0, 4096) is None:
        pytest.skip("cachestat(2) is not available here (Linux < 6.5 or a seccomp filter)")
    run = 256  # linux_uring.VERIFY_RUN
    unchecked = 7  # reads after a cold note or a "not cached" answer that cachestat(2) does not check

    def read(ctx: Any, offset: int) -> int:
        op = U.Operation.read(4096, fd, offset)
        if path == "submit_inline" and ctx.submit_inline(op):
            return len(op.get_value())
        return _run_to_completion(ctx, op) if path == "submit" else _wait_for(ctx, op)

    with U.Context(8) as ctx:
        ctx._note_cold(fd)  # as a probe that met evicted pages would (the test above)
        os.pread(fd, len(data), 0)  # cached now
        for i in range(run // 2):
            assert read(ctx, 4096 * i) == 4096
        assert "cold" in ctx._fd_state(fd)
        page_cache.evict(fd)
        assert read(ctx, 8192) == 4096  # not cached: a new run
        os.pread(fd, len(data), 0)
        for i in range(unchecked + run - 1):
            assert read(ctx, 4096 * (i % 256)) == 4096
        assert "cold" in ctx._fd_state(fd)
        assert read(ctx, 4096) == 4096
        assert "cached" in ctx._fd_state(fd)


@pytest.mark.parametrize("to_pool", [True, False], ids=["pool", "io-wq"])
def test_a_cold_file_is_read_by_the_c_pool_not_io_wq(
    U: Any, data_fd: tuple[int, bytes], to_pool: bool, page_cache: Any
) -> None:
    """A cold descriptor's reads go to the C pool (nothing on the ring), every byte right; with the
    A/B hook off they go to io-wq workers (on the ring, IOSQE_ASYNC). io-wq's workers, blocked on
    the disk, make the kernel interrupt the loop's thread to start more (the module docstring)."""
    fd, data = data_fd
    U._set_cold_reads_to_pool(to_pool)
    try:
        with U.Context(64) as ctx:
            ctx._note_cold(fd)
            page_cache.evict(fd)
            done: list[Any] = []
            ops = [U.Operation.read(4096, fd, 4096 * i) for i in range(0, 256, 8)]
            for op in ops:
                op.set_callback(done.append)
            assert ctx.submit(*ops) == len(ops)
            assert ctx.kernel_in_flight == (0 if to_pool else len(ops))
            _wait(ctx, done, len(ops))
            assert done == [4096] * len(ops)
            for i, op in zip(range(0, 256, 8), ops, strict=True):
                assert op.get_value() == data[4096 * i : 4096 * (i + 1)]
            assert "cold" in ctx._fd_state(fd)
    finally:
        U._set_cold_reads_to_pool(True)


def test_a_pipe_that_inherits_a_cold_files_number_is_read_on_the_ring(U: Any, data_fd: tuple[int, bytes]) -> None:
    """The C pool never gets a blocking pipe read it could not cancel: a number noted cold that now
    names a pipe is classified anew, its read waits on the ring (poll) and a cancel stops it."""
    fd, _ = data_fd
    r, w = os.pipe2(os.O_CLOEXEC)
    number = os.dup(fd)
    try:
        with U.Context(8) as ctx:
            ctx._note_cold(number)
            assert "cold" in ctx._fd_state(number)
            os.dup2(r, number)  # a blocking, empty pipe now
            op = U.Operation.read(10, number, 0)
            done: list[Any] = []
            op.set_callback(done.append)
            ctx.submit(op)
            assert ctx.kernel_in_flight == 1
            assert ctx.cancel(op) == 1
            _wait(ctx, done, 1)
            assert done == [-errno.ECANCELED]
            assert "cold" not in ctx._fd_state(number)
    finally:
        os.close(number)
        os.close(r)
        os.close(w)


def test_without_cachestat_a_cold_file_is_probed_one_read_in_eight(U: Any, data_fd: tuple[int, bytes]) -> None:
    """Where cachestat(2) is missing: one batched read in eight of a cold descriptor is a probe,
    and a probe answered from the cache notes it cached again."""
    fd, data = data_fd
    U._set_cachestat_usable(False)
    try:
        with U.Context(8) as ctx:
            ctx._note_cold(fd)  # as a probe that met evicted pages would
            os.pread(fd, len(data), 0)  # cached now
            for i in range(8):
                assert _run_to_completion(ctx, U.Operation.read(4096, fd, 4096 * i)) == 4096
            assert "cached" in ctx._fd_state(fd)
    finally:
        U._set_cachestat_usable(True)


def test_what_a_reused_number_learned_of_its_last_file_is_dropped(U: Any, tmp_path: Path, page_cache: Any) -> None:
    """An O_DIRECT file or a file on another file system that inherits a descriptor number is
    classified anew when a request leaves the fast path: O_DIRECT noted (never probed, never
    sent to a worker), a tmpfs refusal of RWF_NOWAIT forgotten."""
    path = tmp_path / "f"
    path.write_bytes(os.urandom(1 << 20))
    buffered = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    direct = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECT)
    memfd = os.memfd_create("reused", os.MFD_CLOEXEC)
    os.write(memfd, b"m" * 8192)
    number = os.dup(memfd)
    buf = mmap.mmap(-1, 4096)
    try:
        with U.Context(8) as ctx:
            assert _run_to_completion(ctx, U.Operation.read(100, number, 0)) == 100
            assert {"file", "no-nowait"} <= ctx._fd_state(number)
            os.dup2(buffered, number)  # an ext4 file now
            os.pread(buffered, 1 << 20, 0)
            page_cache.evict(buffered)
            assert _run_to_completion(ctx, U.Operation.read(4096, number, 8192)) == 4096
            assert "no-nowait" not in ctx._fd_state(number)
            os.dup2(direct, number)  # the same file, O_DIRECT
            # A vector read leaves the fast path, so it checks the class first (_kind_now).
            # (A plain read may take the fast path, which trusts what the slot learned from
            # the last read, and that depends on timing: with a plain read here this test
            # failed now and then, the number still "cached" and not yet "direct".)
            assert _run_to_completion(ctx, U.Operation.readv([buf], number, 4096)) == 4096
            assert "direct" in ctx._fd_state(number)
            assert buf[:] == path.read_bytes()[4096:8192]
            buf[:] = b"\0" * 4096
            assert _run_to_completion(ctx, U.Operation.readinto(buf, number, 8192)) == 4096
            assert "direct" in ctx._fd_state(number)
            assert buf[:] == path.read_bytes()[8192:12288]
    finally:
        buf.close()
        for fd in (buffered, direct, memfd, number):
            os.close(fd)


def test_close_waits_for_reads_requeued_while_it_waits(U: Any) -> None:
    """A probe refused while close() reaps (tmpfs: EOPNOTSUPP) is requeued; with SQPOLL and a
    one-entry SQ ring it can wait in the backlog: close() submits and waits for it too (it was
    in flight for its caller), and every callback has run when it returns."""
    fd = os.memfd_create("close-requeue", os.MFD_CLOEXEC)
    os.write(fd, b"q" * (64 * 4096))
    try:
        for _ in range(40):
            ctx = U.Context(64, sqpoll=True, ring_entries=1)
            done: list[int] = []
            for i in range(16):
                op = U.Operation.read(4096, fd, i * 4096)
                op.set_callback(done.append)
                ctx.submit(op)
            ctx.close()
            # Each ran: read whole, or cancelled from the backlog before it reached the ring.
            assert len(done) == 16 and set(done) <= {4096, -errno.ECANCELED}
    finally:
        os.close(fd)


def test_one_submit_many_ops_and_overflowing_cq(U: Any, data_fd: tuple[int, bytes]) -> None:
    fd, data = data_fd
    # 8 SQEs and 16 CQEs, 300 operations in flight: the SQ is refilled and
    # the kernel keeps what the CQ cannot hold (IORING_FEAT_NODROP).
    with U.Context(max_requests=300, ring_entries=8) as ctx:
        assert ctx.ring_entries == (8, 16)
        ops = [U.Operation.read(100, fd, i * 1000) for i in range(300)]
        done: list[int] = []
        for op in ops:
            op.set_callback(done.append)
        assert ctx.submit(*ops) == 300
        _wait(ctx, done, 300)
        assert done == [100] * 300
        for i, op in enumerate(ops):
            assert op.get_value() == data[i * 1000 : i * 1000 + 100]
        assert ctx.in_flight == 0 and ctx.kernel_in_flight == 0


def test_one_submit_is_one_io_uring_enter_and_reaping_needs_none(U: Any, data_fd: tuple[int, bytes]) -> None:
    fd, data = data_fd
    with U.Context(64) as ctx:
        ops = [U.Operation.read(512, fd, i * 4096) for i in range(40)]
        done: list[int] = []
        for op in ops:
            op.set_callback(done.append)
        before = ctx._enters
        assert ctx.submit(*ops) == 40
        assert ctx._enters == before + 1
        # Completions are taken from the mapped CQ ring: no system call.
        _wait(ctx, done, 40)
        assert ctx._enters == before + 1
        assert [op.get_value() for op in ops] == [data[i * 4096 : i * 4096 + 512] for i in range(40)]


def test_one_loop_iterations_submissions_go_in_one_io_uring_enter(UA: Any) -> None:
    # 32 tasks each start a read in the same loop iteration; reads of pipes
    # stay in the kernel, so nothing else enters the ring until they complete.
    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(32)]

    async def main() -> None:
        actx = UA.AsyncioContext(max_requests=64)
        try:
            await actx.read(0, pipes[0][0], 0)  # binds the adapter to this loop
            raw = actx._context
            before = raw._enters
            tasks = [asyncio.ensure_future(actx.read(8, r, 0)) for r, _ in pipes]
            for _ in range(100):  # loop passes, not time: until the batch went out
                await asyncio.sleep(0)
                if raw.kernel_in_flight == 32:
                    break
            assert raw.kernel_in_flight == 32
            assert raw._enters == before + 1
            for i, (_, w) in enumerate(pipes):
                os.write(w, b"pipe%04d" % i)
            assert await asyncio.gather(*tasks) == [b"pipe%04d" % i for i in range(32)]
        finally:
            await actx.aclose()

    try:
        asyncio.run(main())
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)


#: IOPRIO_PRIO_VALUE(class, data) (ioprio_set(2)).
def _ioprio(klass: int, data: int) -> int:
    return (klass << 13) | data


@pytest.mark.parametrize("priority", [_ioprio(2, 0), _ioprio(2, 7), _ioprio(3, 0)], ids=["be-0", "be-7", "idle"])
def test_priority_rides_with_the_request(U: Any, data_fd: tuple[int, bytes], priority: int) -> None:
    fd, data = data_fd
    with U.Context(8) as ctx:
        buf = bytearray(64)
        ops = [
            U.Operation.read(100, fd, 10, priority),
            U.Operation.readinto(buf, fd, 200, priority),
            U.Operation.readv([bytearray(3), bytearray(5)], fd, 300, priority),
            U.Operation.write(b"new bytes", fd, 4000, priority),
            U.Operation.writev([b"ab", b"cd"], fd, 5000, priority),
        ]
        done: list[int] = []
        for op in ops:
            op.set_callback(done.append)
        ctx.submit(*ops)
        _wait(ctx, done, len(ops))
        assert ops[0].get_value() == data[10:110]
        assert ops[1].get_value() == 64 and buf == data[200:264]
        assert ops[2].get_value() == 8
        assert ops[3].get_value() == 9 and os.pread(fd, 9, 4000) == b"new bytes"
        assert ops[4].get_value() == 4 and os.pread(fd, 4, 5000) == b"abcd"


@pytest.mark.parametrize("priority", [_ioprio(0, 1), _ioprio(5, 0)], ids=["class-none-with-a-level", "unknown-class"])
def test_a_priority_the_kernel_refuses_fails_the_operation_with_einval(
    U: Any, data_fd: tuple[int, bytes], priority: int
) -> None:
    fd, data = data_fd
    with U.Context(8) as ctx:
        read = U.Operation.read(10, fd, 0, priority)
        write = U.Operation.write(b"never", fd, 0, priority)
        done: list[int] = []
        read.set_callback(done.append)
        write.set_callback(done.append)
        ctx.submit(read, write)
        _wait(ctx, done, 2)
        assert done == [-errno.EINVAL, -errno.EINVAL]
        for op in (read, write):
            with pytest.raises(OSError) as info:
                op.get_value()
            assert info.value.errno == errno.EINVAL
        # A small write with a priority never takes the inline write-guard path.
        inline = U.Operation.write(b"never", fd, 0, priority)
        inline.set_callback(done.append)
        if not ctx.submit_inline(inline):
            _wait(ctx, done, 3)
        with pytest.raises(OSError) as info:
            inline.get_value()
        assert info.value.errno == errno.EINVAL
        assert os.pread(fd, 5, 0) == data[:5]
        # The context stays usable.
        ok = U.Operation.read(5, fd, 0)
        ok.set_callback(done.append)
        ctx.submit(ok)
        _wait(ctx, done, len(done) + 1)
        assert ok.get_value() == data[:5]


def test_cancel_of_a_blocked_pipe_read_keeps_the_buffer_until_the_cqe(U: Any) -> None:
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        with U.Context(8) as ctx:
            buf = bytearray(16)
            op = U.Operation.readinto(buf, r, 0)
            done: list[int] = []
            op.set_callback(done.append)
            ctx.submit(op)
            assert ctx.kernel_in_flight == 1
            del buf  # the operation holds it
            assert ctx.cancel(op) == 1
            _wait(ctx, done, 1)
            assert done == [-errno.ECANCELED]
            with pytest.raises(OSError) as info:
                op.get_value()
            assert info.value.errno == errno.ECANCELED
            # The context stays usable; the pipe still works.
            os.write(w, b"after")
            op2 = U.Operation.read(5, r, 0)
            op2.set_callback(done.append)
            ctx.submit(op2)
            _wait(ctx, done, 2)
            assert op2.get_value() == b"after"
    finally:
        os.close(r)
        os.close(w)


def test_close_cancels_streams_and_waits_for_files(U: Any, data_fd: tuple[int, bytes]) -> None:
    fd, data = data_fd
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        ctx = U.Context(8)
        results: list[int] = []
        blocked = U.Operation.read(10, r, 0)
        blocked.set_callback(results.append)
        sync = U.Operation.fsync(fd)
        sync.set_callback(results.append)
        read = U.Operation.read(64, fd, 0)
        read.set_callback(results.append)
        ctx.submit(blocked, sync, read)
        ctx.close()
        assert sorted(results) == sorted([-errno.ECANCELED, 0, 64])
        assert read.get_value() == data[:64]
        assert sync.get_value() is None
        assert ctx.closed and ctx.ring_fd == -1
    finally:
        os.close(r)
        os.close(w)


def test_missing_opcode_falls_back_to_the_pool(U: Any, data_fd: tuple[int, bytes], tmp_path: Path) -> None:
    fd, data = data_fd
    with U.Context(8) as ctx:
        for name in ("read", "write", "readv", "writev", "fsync"):
            assert ctx.supports(name)
            ctx._force_missing(name)
            assert not ctx.supports(name)
        done: list[int] = []
        ops = [
            U.Operation.read(10, fd, 100),
            U.Operation.readv([bytearray(3), bytearray(4)], fd, 200),
            U.Operation.write(b"pool", fd, 0),
            U.Operation.writev([b"a", b"bc"], fd, 10),
            U.Operation.fsync(fd),
            U.Operation.fdsync(fd),
        ]
        for op in ops:
            op.set_callback(done.append)
        assert ctx.submit(*ops) == len(ops)
        assert ctx.kernel_in_flight == 0  # nothing went to the ring
        _wait(ctx, done, len(ops))
        assert ops[0].get_value() == data[100:110]
        assert ops[1].get_value() == 7
        assert b"".join(ops[1].payload) == data[200:207]
        assert [op.get_value() for op in ops[2:]] == [4, 3, None, None]
        assert os.pread(fd, 4, 0) == b"pool" and os.pread(fd, 3, 10) == b"abc"


def test_short_write_to_a_full_file_system_is_not_looped_forever(U: Any, data_fd: tuple[int, bytes]) -> None:
    fd, _ = data_fd
    with U.Context(4) as ctx:
        big = bytes(3 << 20)
        op = U.Operation.write(big, fd, 0)
        done: list[int] = []
        op.set_callback(done.append)
        ctx.submit(op)
        _wait(ctx, done, 1)
        assert op.get_value() == len(big)


def test_fork_child_gets_a_fresh_ring(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"fork data")
    script = textwrap.dedent(
        f"""
        import errno, fcntl, os, select, sys
        from _linuxaio import linux_uring as U

        def run(ctx, op):
            got = []
            op.set_callback(got.append)
            assert ctx.submit(op) == 1
            while not got:
                select.select([ctx.fileno()], [], [], 5)
                ctx.process_events()
            return got[0]

        ctx = U.Context(max_requests=8)
        fd = os.open({str(path)!r}, os.O_RDONLY)
        assert run(ctx, U.Operation.read(4, fd, 0)) == 4
        parent_ring = ctx.ring_fd
        r, w = os.pipe()
        pending = U.Operation.read(10, r)  # blocked in the parent's ring when we fork
        parent_got = []
        pending.set_callback(parent_got.append)
        ctx.submit(pending)
        pid = os.fork()
        if pid == 0:
            try:
                op = U.Operation.read(9, fd, 0)
                assert run(ctx, op) == 9, "child read"
                assert op.get_value() == b"fork data"
                assert ctx.ring_fd >= 0
                assert fcntl.fcntl(ctx.ring_fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
                assert fcntl.fcntl(ctx.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
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
        assert ctx.ring_fd == parent_ring
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


def test_dropped_context_with_blocked_reads_is_reaped(U: Any) -> None:
    before = _rings_and_fds()
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        ctx = U.Context(8)
        ops = [U.Operation.read(10, r, 0) for _ in range(3)]
        ctx.submit(*ops)
        with pytest.warns(ResourceWarning):
            del ctx  # the last reference: __del__ runs here
        for op in ops:
            while not op.done:  # the reaper thread cancels them
                select.select([], [], [], 0.01)
            with pytest.raises(OSError):
                op.get_value()
    finally:
        os.close(r)
        os.close(w)
    assert _rings_and_fds() == before


def test_2000_loops_leave_ring_and_fd_counts_unchanged(UA: Any, data_fd: tuple[int, bytes]) -> None:
    fd, data = data_fd
    before = _rings_and_fds()
    for i in range(2000):
        loop = asyncio.new_event_loop()
        try:
            ctx = UA.AsyncioContext(max_requests=4)
            assert loop.run_until_complete(ctx.read(8, fd, i)) == data[i : i + 8]
        finally:
            loop.close()
    gc.collect()
    assert _rings_and_fds() == before


def test_200_dropped_loops_are_collected(tmp_path: Path) -> None:
    # In a subprocess: the contexts of the dropped loops are finalized at its exit otherwise.
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 4)
    script = textwrap.dedent(
        f"""
        import asyncio, gc, os
        from _linuxaio import linux_uring_asyncio as UA

        def counts():
            rings = fds = 0
            for name in os.listdir("/proc/self/fd"):
                try:
                    link = os.readlink(f"/proc/self/fd/{{name}}")
                except OSError:
                    continue
                fds += 1
                rings += "io_uring" in link
            return rings, fds

        fd = os.open({str(path)!r}, os.O_RDONLY)
        before = counts()
        for i in range(200):
            loop = asyncio.new_event_loop()
            ctx = UA.AsyncioContext(max_requests=4)
            assert loop.run_until_complete(ctx.read(8, fd, i)) == bytes(range(i, i + 8))
            del loop, ctx
        gc.collect()
        print(before == counts(), before, counts())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("True"), proc.stdout + proc.stderr[-2000:]


@pytest.mark.parametrize("missing", [False, True], ids=["ring", "pool-fallback"])
def test_file_system_operations_on_the_ring_and_on_the_pool(
    U: Any, tmp_path: Path, missing: bool, fd_watch: Any
) -> None:
    names = ("openat", "close_fd", "statx", "renameat", "unlinkat", "mkdirat", "linkat", "symlinkat", "fallocate")
    names += ("ftruncate", "fadvise")
    (tmp_path / "a").write_bytes(b"0123456789")
    with U.Context(16) as ctx:
        if missing:
            for name in names:
                ctx._force_missing(name)
        assert all(ctx.supports(name) is not missing for name in names)

        def run(*ops: Any) -> list[Any]:
            done: list[int] = []
            for op in ops:
                op.set_callback(done.append)
            assert ctx.submit(*ops) == len(ops)
            assert ctx.kernel_in_flight == (0 if missing else len(ops))  # where they went
            _wait(ctx, done, len(ops))
            return [op.get_value() for op in ops]

        (st,) = run(U.Operation.statx(str(tmp_path / "a")))
        assert st == os.stat(tmp_path / "a")
        (fd,) = run(U.Operation.openat(tmp_path / "a", os.O_RDWR))
        fd_watch.remember(fd)
        try:
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
            assert run(U.Operation.fallocate(fd, 0, 0, 8192), U.Operation.fadvise(fd, 0, 4096, 0)) == [None, None]
            assert os.fstat(fd).st_size == 8192
            assert run(U.Operation.ftruncate(fd, 5)) == [None]
            assert os.pread(fd, 100, 0) == b"01234"
        finally:
            assert run(U.Operation.close_fd(fd)) == [None]
        assert fd_watch.closed(fd)
        assert run(
            U.Operation.mkdirat(str(tmp_path / "d")),
            U.Operation.linkat(str(tmp_path / "a"), str(tmp_path / "hard")),
            U.Operation.symlinkat("a", str(tmp_path / "soft")),
        ) == [None, None, None]
        assert os.path.isdir(tmp_path / "d") and os.readlink(tmp_path / "soft") == "a"
        assert os.path.samefile(tmp_path / "a", tmp_path / "hard")
        assert run(U.Operation.renameat(str(tmp_path / "hard"), str(tmp_path / "moved"))) == [None]
        assert run(U.Operation.unlinkat(str(tmp_path / "moved")), U.Operation.unlinkat(str(tmp_path / "d"), 0x200)) == [
            None,
            None,
        ]
        assert sorted(os.listdir(tmp_path)) == ["a", "soft"]
        missing_op = U.Operation.statx(str(tmp_path / "nope"))
        done: list[int] = []
        missing_op.set_callback(done.append)
        ctx.submit(missing_op)
        _wait(ctx, done, 1)
        with pytest.raises(FileNotFoundError) as info:
            missing_op.get_value()
        assert info.value.filename == str(tmp_path / "nope")
