"""The trio adapter (``_linuxaio.trio_context.TrioContext``) on every backend.

Each test runs its own ``trio.run``. Cancellation is driven by cancel scopes
over operations the backend holds (a pipe with nothing to read, a full pipe,
a FIFO nobody opened for writing), so the task is really parked on the
backend when its scope is cancelled; nothing here waits on a clock.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from _linuxaio.trio_context import ClosedContextError, TrioContext, TrioFuture


def make(backend: Any, **kwargs: Any) -> TrioContext:
    return TrioContext(backend=backend.name, **kwargs)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def until(predicate: Any) -> None:
    """Let other tasks and the completion task run until ``predicate()`` holds."""
    for _ in range(100_000):
        if predicate():
            return
        await trio.sleep(0)
    raise AssertionError("condition never held")


def test_round_trip_and_errors(backend: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"

    async def main() -> None:
        async with make(backend) as ctx:
            fd = await ctx.openat(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                assert await ctx.write(b"hello world", fd, 0) == 11
                assert await ctx.read(11, fd, 0) == b"hello world"
                buf = bytearray(5)
                assert await ctx.readinto(buf, fd, 6) == 5
                assert buf == b"world"
                assert await ctx.writev([b"ab", b"cd"], fd, 11) == 4
                await ctx.fsync(fd)
                await ctx.fdsync(fd)
                st = await ctx.statx(path)
                assert st == os.stat(path)
                assert await ctx.read(100, fd, 1000) == b""
                future = ctx.submit_future(ctx._operation_class.read(5, fd, 0))
                assert isinstance(future, TrioFuture)
                assert await future == b"hello"
                assert await ctx.submit(ctx._operation_class.read(2, fd, 13)) == b"cd"
            finally:
                await ctx.close_fd(fd)
            with pytest.raises(FileNotFoundError) as info:
                await ctx.statx(tmp_path / "missing")
            assert os.fspath(info.value.filename) == os.fspath(tmp_path / "missing")
            with pytest.raises(OSError) as bad:
                await ctx.read(1, fd, 0)  # closed above
            assert bad.value.errno == errno.EBADF
            with pytest.raises(TypeError):
                await ctx.submit(object())
        assert path.read_bytes() == b"hello worldabcd"

    trio.run(main)


def test_many_concurrent_operations_with_back_pressure(backend: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(64 * 1024)
    path.write_bytes(data)

    async def main() -> None:
        async with make(backend, max_requests=4) as ctx:
            fd = os.open(path, os.O_RDONLY)
            results: dict[int, bytes] = {}

            async def one(i: int) -> None:
                results[i] = await ctx.read(1024, fd, i * 1024)

            try:
                async with trio.open_nursery() as nursery:
                    for i in range(64):
                        nursery.start_soon(one, i)
            finally:
                os.close(fd)
            assert ctx.in_flight == 0
        assert b"".join(results[i] for i in range(64)) == data

    trio.run(main)


def test_every_operation_is_a_checkpoint(backend: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 8192)

    async def main() -> None:
        async with make(backend) as ctx:
            with trio.testing.assert_checkpoints():
                fd = await ctx.openat(path, os.O_RDWR)
            try:
                for _ in range(3):  # cold and cached
                    with trio.testing.assert_checkpoints():
                        await ctx.read(4096, fd, 0)
                with trio.testing.assert_checkpoints():
                    await ctx.readinto(bytearray(10), fd, 0)
                with trio.testing.assert_checkpoints():
                    await ctx.write(b"abc", fd, 0)
                with trio.testing.assert_checkpoints():
                    await ctx.writev([b"a", b"b"], fd, 0)
                with trio.testing.assert_checkpoints():
                    await ctx.fsync(fd)
                with trio.testing.assert_checkpoints():
                    await ctx.fdsync(fd)
                with trio.testing.assert_checkpoints():
                    await ctx.statx(path)
                with trio.testing.assert_checkpoints():
                    await ctx.ftruncate(fd, 100)
                with trio.testing.assert_checkpoints(), pytest.raises(FileNotFoundError):
                    await ctx.statx(tmp_path / "missing")
            finally:
                with trio.testing.assert_checkpoints():
                    await ctx.close_fd(fd)

    trio.run(main)


def test_cancelled_scope_before_the_operation_submits_nothing(backend: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"

    async def main() -> None:
        async with make(backend) as ctx:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                with trio.CancelScope() as scope:
                    scope.cancel()
                    await ctx.write(b"never", fd, 0)
                assert scope.cancelled_caught
                assert ctx.in_flight == 0
            finally:
                os.close(fd)
        assert path.read_bytes() == b""

    trio.run(main)


def test_cancel_scope_mid_read_keeps_the_buffer_until_the_backend_is_done(backend: Any) -> None:
    async def main() -> None:
        async with make(backend) as ctx:
            r, w = os.pipe()
            try:
                buffer = bytearray(16)
                scope = trio.CancelScope()
                outcome: list[Any] = []

                async def reader() -> None:
                    with scope:
                        outcome.append(await ctx.readinto(buffer, r, 0))
                        await trio.lowlevel.checkpoint()  # a read that took effect: Cancelled lands here
                    outcome.append("returned")

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(reader)
                    await until(lambda: ctx.in_flight == 1)
                    scope.cancel()
                    await trio.testing.wait_all_tasks_blocked()
                    if ctx.in_flight:  # a worker holds it: the task stays parked until data comes
                        assert not outcome
                        os.write(w, b"data")
                assert scope.cancelled_caught
                # A pipe's read consumed its data: it is returned (never dropped), then Cancelled;
                # a read withdrawn before it ran (io_uring's cancel) raises Cancelled at once.
                assert outcome in (["returned"], [4, "returned"])
                if len(outcome) == 2:
                    assert buffer[:4] == b"data"
                assert ctx.in_flight == 0
            finally:
                os.close(r)
                os.close(w)

    trio.run(main)


def test_cancel_scope_mid_write_returns_what_was_written(backend: Any) -> None:
    payload = os.urandom(1 << 20)  # more than a pipe holds: the write waits for the reader

    async def main() -> None:
        async with make(backend) as ctx:
            r, w = os.pipe()
            got: list[Any] = []
            try:

                async def writer(scope: Any) -> None:
                    with scope:
                        got.append(await ctx.write(payload, w, 0))
                        await trio.lowlevel.checkpoint()  # the cancellation lands here
                        got.append("not reached")

                scope = trio.CancelScope()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(writer, scope)
                    await until(lambda: ctx.in_flight == 1)
                    scope.cancel()
                    await trio.testing.wait_all_tasks_blocked()
                    received = b""
                    if ctx.in_flight:  # a worker is writing: drain the pipe so it finishes
                        os.set_blocking(r, False)
                        while ctx.in_flight:
                            try:
                                received += os.read(r, 1 << 16)
                            except BlockingIOError:
                                await trio.sleep(0)
                        os.set_blocking(r, True)
                assert scope.cancelled_caught
                if got:  # it took effect: its count came back, then the cancellation
                    assert got == [len(payload)] or (isinstance(got[0], int) and got[0] <= len(payload))
                    assert len(got) == 1
                    os.set_blocking(r, False)
                    try:
                        while True:
                            chunk = os.read(r, 1 << 16)
                            if not chunk:
                                break
                            received += chunk
                    except BlockingIOError:
                        pass
                    assert received == payload[: got[0]]
                else:  # withdrawn before a byte moved (io_uring's cancel)
                    assert received == b""
                assert ctx.in_flight == 0
            finally:
                os.close(r)
                os.close(w)

    trio.run(main)


def test_openat_completed_after_cancel_closes_its_fd(backend: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def main() -> None:
        async with make(backend) as ctx:
            await ctx.statx(tmp_path)  # bind and start the pool before counting fds
            before = open_fds()
            scope = trio.CancelScope()
            opened: list[int] = []

            async def opener() -> None:
                with scope:
                    opened.append(await ctx.openat(fifo, os.O_RDONLY))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(opener)
                await until(lambda: ctx.in_flight == 1 or bool(opened))  # the open waits for a writer
                if opened:  # io_uring's OPENAT tries non-blocking first: a FIFO opens without a writer
                    os.close(opened.pop())
                    skipped.append(True)
                    return
                scope.cancel()
                await trio.testing.wait_all_tasks_blocked()
                writer = -1
                if ctx.in_flight:
                    writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # lets the open complete
                await until(lambda: ctx.in_flight == 0)
            assert scope.cancelled_caught
            assert opened == []
            if writer >= 0:
                os.close(writer)
            await until(lambda: ctx.in_flight == 0)
            await ctx.statx(tmp_path)  # the close of the orphan went through the same context
            assert open_fds() <= before

    skipped: list[bool] = []
    trio.run(main)
    if skipped:
        pytest.skip("this backend opens a FIFO without waiting for a writer")


def test_a_waiter_cancelled_while_queued_is_never_submitted(backend: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"

    async def main() -> None:
        async with make(backend, max_requests=1) as ctx:
            r, w = os.pipe()
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                scope = trio.CancelScope()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(ctx.read, 1, r, 0)  # takes the only slot until data comes

                    async def queued() -> None:
                        with scope:
                            await ctx.write(b"never", fd, 0)

                    await until(lambda: ctx.in_flight == 1)
                    nursery.start_soon(queued)
                    await until(lambda: len(ctx._waiting) == 1)
                    scope.cancel()
                    await until(lambda: not ctx._waiting)
                    os.write(w, b"x")
                assert scope.cancelled_caught
            finally:
                os.close(r)
                os.close(w)
                os.close(fd)
        assert path.read_bytes() == b""

    trio.run(main)


def test_closed_context_raises_closed_resource_error(backend: Any) -> None:
    async def main() -> None:
        ctx = make(backend)
        await ctx.statx("/")
        await ctx.aclose()
        assert ctx.closed
        with pytest.raises(trio.ClosedResourceError):
            await ctx.read(1, 0, 0)
        with pytest.raises(ValueError, match="closed"):
            await ctx.statx("/")
        assert issubclass(ClosedContextError, trio.ClosedResourceError)
        ctx.close()  # idempotent

    trio.run(main)


def test_released_when_the_run_ends_and_bound_to_one_run(backend: Any) -> None:
    ctx = make(backend)

    async def main() -> None:
        await ctx.statx("/")
        assert ctx.trio_token is trio.lowlevel.current_trio_token()

    trio.run(main)
    assert ctx.closed
    assert ctx.context.closed

    other = make(backend)

    async def first() -> None:
        await other.statx("/")

    async def second() -> None:
        with pytest.raises((RuntimeError, trio.ClosedResourceError)):
            await other.statx("/")

    trio.run(first)
    trio.run(second)


def test_given_context_is_left_open(backend: Any) -> None:
    raw = backend.Context()
    try:

        async def main() -> None:
            async with TrioContext(context=raw) as ctx:
                await ctx.statx("/")

        trio.run(main)
        assert not raw.closed
    finally:
        raw.close()


def test_an_inline_completion_leaves_no_wake_up_behind(backend: Any, tmp_path: Path) -> None:
    """With nothing else in flight, a read completed inside its submission leaves the eventfd quiet.

    (linux_aio signals the eventfd for every kernel completion, even one reaped inline: the
    adapter takes that signal back, so the completion task is not woken for nothing.)
    """
    import select

    path = tmp_path / "f"
    path.write_bytes(b"y" * 8192)

    async def main() -> None:
        async with make(backend) as ctx:
            fd = os.open(path, os.O_RDONLY)
            try:
                for _ in range(5):  # the first reads teach the backend that the file is cached
                    assert await ctx.read(4096, fd, 0) == b"y" * 4096
                await trio.testing.wait_all_tasks_blocked()
                for _ in range(20):
                    assert await ctx.read(4096, fd, 4096) == b"y" * 4096
                    if ctx.in_flight == 0:
                        readable, _, _ = select.select([ctx.context.fileno], [], [], 0)
                        if backend.name in ("linux", "uring"):
                            assert readable == [], "the eventfd was left signalled"
            finally:
                os.close(fd)

    trio.run(main)


def test_package_level_name_and_selected_backend() -> None:
    import _linuxaio

    assert _linuxaio.TrioContext is TrioContext
    ctx = TrioContext()
    assert type(ctx.context).__module__ == f"_linuxaio.{_linuxaio._MODULES[_linuxaio.selected_backend().name]}"
    ctx.close()
