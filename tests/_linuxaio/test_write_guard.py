"""Inline buffered writes and their guard (csrc/lxa_wguard.h), on linux_aio, linux_uring and thread_aio.

A small write to a buffered regular file (on linux_aio: one whose file system
refuses RWF_NOWAIT writes, such as ext4) runs on the loop's thread while
/proc/vmstat's dirty + writeback pages stay under the background threshold;
otherwise it goes to the pool. The threshold is moved through the module's
test hook, never through the machine's vm.dirty_* settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.asyncio,
    # The backends with a write guard (the ``backend`` fixture of tests/conftest.py, narrowed).
    pytest.mark.parametrize("backend", ["linux", "uring", "thread"], indirect=True),
]


#: A dirty-page threshold no machine reaches: writes go inline whatever else the machine
#: writes meanwhile (the real threshold depends on other processes' dirty pages).
ROOMY = 1 << 40


@pytest.fixture
def guarded(backend: Any) -> Iterator[tuple[Any, Any]]:
    """(backend module, its asyncio module); the real threshold and slow-write trip restored after the test.

    A write is "slow" (and trips the guard to the pool for a cooldown) only past
    a second here: on a loaded machine a preempted 4 KiB write takes longer
    than the built-in 250 µs, and these tests are about the threshold.
    """
    backend.module._set_write_guard_slow_write_ns(1_000_000_000)
    yield backend.module, backend.asyncio_module
    backend.module._set_write_guard_threshold(None)
    backend.module._set_write_guard_slow_write_ns(None)
    backend.module._set_write_guard_trust_ns(None)


@pytest.fixture
def guard(guarded: tuple[Any, Any]) -> Any:
    return guarded[0]


@pytest.fixture
def LA(guarded: tuple[Any, Any]) -> Any:
    return guarded[1]


def _counts(L: Any) -> tuple[int, int]:
    stats = L._write_guard_stats()
    return stats["inline_writes"], stats["pool_writes"]


async def _learned(ctx: Any, fd: int) -> None:
    """One write first: the context learns whether the file system takes RWF_NOWAIT writes."""
    await ctx.write(b"?", fd, 0)


@contextlib.asynccontextmanager
async def _roomy_context(guard: Any, LA: Any, path: Path) -> AsyncIterator[tuple[Any, int]]:
    """(context, descriptor of ``path``) under a threshold no machine reaches, the file learned."""
    if not guard._write_guard_stats()["usable"]:
        pytest.skip("/proc/vmstat cannot be read here: every buffered write goes to the pool")
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        guard._set_write_guard_threshold(ROOMY)
        async with LA.AsyncioContext() as ctx:
            await _learned(ctx, fd)
            yield ctx, fd
    finally:
        os.close(fd)


async def test_writes_move_to_the_pool_and_back_with_the_threshold(guard: Any, LA: Any, path: Path) -> None:
    async with _roomy_context(guard, LA, path) as (ctx, fd):
        inline0, pool0 = _counts(guard)
        for i in range(8):
            assert await ctx.write(bytes([65 + i]) * 4096, fd, i * 4096) == 4096
        inline1, pool1 = _counts(guard)
        if inline1 == inline0:
            pytest.skip("this file system takes RWF_NOWAIT writes: the kernel path needs no guard")
        assert (inline1 - inline0, pool1 - pool0) == (8, 0)

        guard._set_write_guard_threshold(0)  # as if the dirty pages were over the threshold
        for i in range(8):
            assert await ctx.write(bytes([97 + i]) * 4096, fd, i * 4096) == 4096
        inline2, pool2 = _counts(guard)
        assert (inline2 - inline1, pool2 - pool1) == (0, 8)

        guard._set_write_guard_threshold(ROOMY)
        assert await ctx.write(b"Z" * 4096, fd, 0) == 4096
        assert _counts(guard)[0] == inline2 + 1
    data = path.read_bytes()
    assert data[:4096] == b"Z" * 4096
    assert data[4096:] == b"".join(bytes([97 + i]) * 4096 for i in range(1, 8))


async def test_a_slow_write_sends_writes_to_the_pool_for_a_cooldown_that_grows(guard: Any, LA: Any, path: Path) -> None:
    """Every inline write is "slow" past 1 ns: the first trips the guard for the shortest
    cooldown (the next write goes to the pool); one right after that cooldown doubles it."""
    try:
        async with _roomy_context(guard, LA, path) as (ctx, fd):
            inline0 = _counts(guard)[0]
            assert await ctx.write(b"?" * 4096, fd, 0) == 4096
            if _counts(guard)[0] == inline0:
                pytest.skip("this file system takes RWF_NOWAIT writes: the kernel path needs no guard")
            guard._set_write_guard_slow_write_ns(1)
            stats0 = guard._write_guard_stats()
            assert await ctx.write(b"a" * 4096, fd, 0) == 4096  # inline, and slow
            tripped = time.monotonic_ns()
            stats1 = guard._write_guard_stats()
            assert stats1["inline_writes"] == stats0["inline_writes"] + 1
            assert stats1["trips"] == stats0["trips"] + 1
            assert stats1["cooldown_ns"] == 6_250_000
            assert await ctx.write(b"b" * 4096, fd, 4096) == 4096  # in the cooldown: the pool
            stats2 = guard._write_guard_stats()
            if time.monotonic_ns() - tripped >= 6_250_000:
                pytest.skip("the machine stalled this test for longer than the cooldown")
            assert stats2["pool_writes"] == stats1["pool_writes"] + 1
            assert stats2["inline_writes"] == stats1["inline_writes"]
            # At least the cooldown later (and much less than a second): inline again, and
            # slow again soon after the cooldown's end, so the next cooldown is twice as long.
            await asyncio.sleep(0.010)
            assert await ctx.write(b"c" * 4096, fd, 8192) == 4096
            stats3 = guard._write_guard_stats()
            assert stats3["inline_writes"] == stats2["inline_writes"] + 1
            assert stats3["trips"] == stats2["trips"] + 1
            assert stats3["cooldown_ns"] == 12_500_000
    finally:
        guard._set_write_guard_slow_write_ns(1_000_000_000)
    assert path.read_bytes()[:12288] == b"a" * 4096 + b"b" * 4096 + b"c" * 4096


@pytest.mark.parametrize("threshold", [ROOMY, 0], ids=["inline", "pool"])
async def test_a_failing_write_raises_the_same_oserror_inline_and_in_the_pool(
    guard: Any, LA: Any, path: Path, threshold: int | None
) -> None:
    guard._set_write_guard_threshold(threshold)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        async with LA.AsyncioContext() as ctx:
            await _learned(ctx, fd)
            # EFBIG: past the file system's largest offset (ext4: 16 TiB with 4 KiB blocks).
            with pytest.raises(OSError) as big:
                await ctx.write(b"x" * 4096, fd, 2**62)
            assert big.value.errno in (errno.EFBIG, errno.EINVAL)
            assert big.type is OSError
    finally:
        os.close(fd)
    # EBADF: the descriptor was closed after the context learned it.
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    async with LA.AsyncioContext() as ctx:
        await _learned(ctx, fd)
        os.close(fd)
        with pytest.raises(OSError) as bad:
            await ctx.write(b"x" * 4096, fd, 0)
        assert bad.value.errno == errno.EBADF


async def test_inline_and_pool_failures_are_the_same(guard: Any, LA: Any, path: Path) -> None:
    """The errno and message of a write past the largest offset do not depend on where it ran."""
    seen = []
    for threshold in (ROOMY, 0):
        guard._set_write_guard_threshold(threshold)
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            async with LA.AsyncioContext() as ctx:
                await _learned(ctx, fd)
                try:
                    await ctx.write(b"x" * 4096, fd, 2**62)
                except OSError as exc:
                    seen.append((type(exc), exc.errno, exc.strerror))
        finally:
            os.close(fd)
    assert len(seen) == 2
    assert seen[0] == seen[1]


@pytest.mark.parametrize("threshold", [ROOMY, 0], ids=["inline", "pool"])
async def test_a_cancelled_write_leaves_the_file_as_the_pool_path_would(
    guard: Any, LA: Any, path: Path, threshold: int | None
) -> None:
    """Cancelled before it started: nothing written. Cancelled once started: the write lands."""
    guard._set_write_guard_threshold(threshold)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        async with LA.AsyncioContext() as ctx:
            await _learned(ctx, fd)
            never = asyncio.ensure_future(ctx.write(b"N" * 4096, fd, 4096))
            never.cancel()  # before its first step: no operation was made
            with pytest.raises(asyncio.CancelledError):
                await never
            started = asyncio.ensure_future(ctx.write(b"S" * 4096, fd, 8192))
            await asyncio.sleep(0)  # it ran its first step: submitted (inline: already written)
            started.cancel()
            try:
                await started
            except asyncio.CancelledError:
                pass
        # Leaving the context waited for every operation in flight (a pool write included).
    finally:
        os.close(fd)
    data = path.read_bytes()
    assert data[4096:8192] == b"\0" * 4096
    assert data[8192:12288] == b"S" * 4096


@pytest.mark.parametrize("reuse", ["procfs file", "O_DIRECT file"])
async def test_a_reused_descriptor_number_is_classified_again(guard: Any, LA: Any, path: Path, reuse: str) -> None:
    """A number that named a local file and now names a file that must not be written inline is not.

    The classification of a descriptor (local file system, buffered) is kept
    by number; the number is reused after close(2). A procfs file (a regular
    file on a file system that is not a local disk's) or an O_DIRECT file that
    takes the number has its writes sent to the pool, never written on the
    loop's thread, and the write still lands. (Once its trust has run out: a
    number found writable inline is trusted for 250 µs, here for none.)
    """
    guard._set_write_guard_threshold(ROOMY)
    guard._set_write_guard_trust_ns(0)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        async with LA.AsyncioContext() as ctx:
            await _learned(ctx, fd)
            inline0, _ = _counts(guard)
            assert await ctx.write(b"L" * 4096, fd, 0) == 4096
            if _counts(guard)[0] == inline0:
                pytest.skip("this file system takes RWF_NOWAIT writes, or is not local: nothing runs inline")
            if reuse == "procfs file":
                other = os.open("/proc/self/comm", os.O_RDWR | os.O_CLOEXEC)
                payload = os.read(other, 64)  # the process's name, written back unchanged
                offset = 0
            else:
                direct_path = path.with_name("direct.bin")
                direct_path.write_bytes(b"\0" * 8192)
                try:
                    other = os.open(direct_path, os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC)
                except OSError as exc:
                    pytest.skip(f"O_DIRECT refused here: {exc}")
                payload = memoryview(__import__("mmap").mmap(-1, 4096))  # page-aligned
                payload[:] = b"D" * 4096
                offset = 4096
            try:
                os.dup2(other, fd)  # the number now names the other file
                inline1, _ = _counts(guard)
                assert await ctx.write(payload, fd, offset) == len(payload)
                assert _counts(guard)[0] == inline1  # not written on the loop's thread
            finally:
                os.close(other)
    finally:
        os.close(fd)
    if reuse == "O_DIRECT file":
        assert path.with_name("direct.bin").read_bytes()[4096:] == b"D" * 4096


#: A trust no test outlives: within it only close_fd and ESPIPE end a descriptor's trust.
LONG_TRUST_NS = 60 * 1_000_000_000


async def test_a_number_closed_by_close_fd_is_classified_again_at_once(guard: Any, LA: Any, path: Path) -> None:
    """``close_fd`` ends the guard's trust in the number: an O_DIRECT file that takes it next
    is not written on the loop's thread, however recently the number was found writable."""
    guard._set_write_guard_threshold(ROOMY)
    guard._set_write_guard_trust_ns(LONG_TRUST_NS)
    direct_path = path.with_name("direct.bin")
    direct_path.write_bytes(b"\0" * 8192)
    async with LA.AsyncioContext() as ctx:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        await _learned(ctx, fd)
        inline0, _ = _counts(guard)
        assert await ctx.write(b"L" * 4096, fd, 0) == 4096
        if _counts(guard)[0] == inline0:
            os.close(fd)
            pytest.skip("this file system takes RWF_NOWAIT writes, or is not local: nothing runs inline")
        await ctx.close_fd(fd)
        try:
            other = os.open(direct_path, os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC)
        except OSError as exc:
            pytest.skip(f"O_DIRECT refused here: {exc}")
        try:
            if other != fd:
                os.dup2(other, fd)  # the number the closed file had
            payload = memoryview(__import__("mmap").mmap(-1, 4096))  # page-aligned
            payload[:] = b"D" * 4096
            inline1, _ = _counts(guard)
            assert await ctx.write(payload, fd, 4096) == 4096
            assert _counts(guard)[0] == inline1  # not written on the loop's thread
        finally:
            os.close(other)
            if other != fd:
                os.close(fd)
    assert direct_path.read_bytes()[4096:] == b"D" * 4096


async def test_a_number_reused_by_a_pipe_while_trusted_still_gets_its_write(guard: Any, LA: Any, path: Path) -> None:
    """A number the guard trusts, closed with os.close and reused by a pipe: the inline
    pwrite(2) is refused with ESPIPE before it writes, and the write goes to the pipe
    as it would have without the trust (no ESPIPE for the caller, the bytes in order)."""
    guard._set_write_guard_threshold(ROOMY)
    guard._set_write_guard_trust_ns(LONG_TRUST_NS)
    async with _roomy_context(guard, LA, path) as (ctx, fd):
        inline0, _ = _counts(guard)
        assert await ctx.write(b"L" * 4096, fd, 0) == 4096
        if _counts(guard)[0] == inline0:
            pytest.skip("this file system takes RWF_NOWAIT writes, or is not local: nothing runs inline")
        saved = os.dup(fd)
        r, w = os.pipe()
        try:
            os.dup2(w, fd)  # the trusted number now names the pipe's write end
            inline1, pool1 = _counts(guard)
            assert await ctx.write(b"pipe bytes", fd, 4096) == len(b"pipe bytes")
            assert os.read(r, 64) == b"pipe bytes"
            # Refused inline before writing: counted as a pool write, not an inline one.
            assert _counts(guard) == (inline1, pool1 + 1)
            assert await ctx.write(b"more", fd, 0) == 4
            assert os.read(r, 64) == b"more"
            assert _counts(guard)[0] == inline1  # checked again: a pipe is never written inline
        finally:
            os.dup2(saved, fd)  # the file again, for the context manager's close
            for d in (saved, r, w):
                os.close(d)
    assert path.read_bytes()[:4096] == b"L" * 4096
