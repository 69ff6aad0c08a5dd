"""caio 0.12's raw-layer surface, on every backend (``backend`` fixture).

Constructor keywords, ``fileno`` as an int attribute, ``process_events(max_requests,
min_requests, timeout)``, ``poll()``, the re-submission rule (an operation already
submitted is skipped, not counted) and ``get_value()``/``payload`` in flight.

Where a compiled backend does not have an item yet, the test marks itself
``xfail(strict=True)`` for it, naming where it comes from, so it turns into a
failure (XPASS) the moment the compiled backend catches up and the mark must go.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import subprocess
import sys
import threading
from typing import Any

import pytest

import _linuxaio
from _linuxaio.abstract import ContextFullError, Fileno, OperationInFlightError


def pending_on_compiled(request: pytest.FixtureRequest, backend: Any, reason: str) -> None:
    """Mark this test ``xfail(strict=True)`` when ``backend`` is compiled."""
    if _linuxaio.is_compiled(backend.name):
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


def fileno_of(ctx: Any) -> int:
    """The eventfd whichever form the backend has (an int attribute, or a method)."""
    fileno = ctx.fileno
    return int(fileno() if callable(fileno) else fileno)


def wait_ready(ctx: Any) -> None:
    """Block until the context's eventfd is readable (5 s at most)."""
    readable, _, _ = select.select([fileno_of(ctx)], [], [], 5.0)
    assert readable, "no completion was signalled"


def run(ctx: Any, *ops: Any) -> list[int]:
    """Submit ``ops`` (each once), drive the context until they all completed, return their results."""
    results: dict[int, int] = {}
    for i, op in enumerate(ops):
        op.set_callback(lambda res, i=i: results.__setitem__(i, res))
    assert ctx.submit(*ops) == len(ops)
    while len(results) < len(ops):
        wait_ready(ctx)
        ctx.process_events()
    return [results[i] for i in range(len(ops))]


# -- constructor keywords ------------------------------------------------------------------------


def test_context_takes_caio_keywords(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=8, pool_size=2, deferred=True, sqpoll=True)
    try:
        assert ctx.max_requests == 8
        assert ctx.deferred is True
        # io_uring honours it (a kernel SQ polling thread); the other backends have none.
        assert ctx.sqpoll is (backend.name == "uring") or ctx.sqpoll == 0
        assert run(ctx, backend.Operation.write(b"kw", fd, 0)) == [2]
    finally:
        ctx.close()
    assert os.pread(fd, 2, 0) == b"kw"


async def test_asyncio_context_takes_deferred(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    async with backend.AsyncioContext(max_requests=4, deferred=True) as actx:
        assert await actx.write(b"deferred", fd, 0) == 8
        assert await actx.read(8, fd, 0) == b"deferred"
        assert actx.deferred is True  # caio's adapter attribute
    async with backend.AsyncioContext(max_requests=4) as actx:
        assert actx.deferred is False
    ctx = backend.Context(max_requests=4, deferred=True)
    try:
        assert backend.AsyncioContext(context=ctx).deferred is True  # the given context's
    finally:
        ctx.close()


def test_sqpoll_batch_larger_than_the_ring_completes(backend: Any, fd: int) -> None:
    # With an io_uring SQ polling thread the kernel takes SQEs on its own
    # time: operations that found the ring full wait in a backlog, which the
    # reaping must move on even when every SQE already went (4000 fsyncs on
    # a 4096-entry ring used to leave 1952 stranded). No effect elsewhere.
    ctx = backend.Context(max_requests=4096, sqpoll=True)
    try:
        ops = [backend.Operation.fsync(fd) for _ in range(4000)]
        assert run(ctx, *ops) == [0] * 4000
        assert ctx.in_flight == 0
    finally:
        ctx.close()


# -- fileno ------------------------------------------------------------------------------------


def test_fileno_is_an_int_attribute(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        assert isinstance(ctx.fileno, int)
        assert ctx.fileno() == ctx.fileno  # the earlier, callable form still works
        op = backend.Operation.write(b"x", fd, 0)
        done: list[int] = []
        op.set_callback(done.append)
        assert ctx.submit(op) == 1
        # caio 0.12's raw loop: select on ctx.fileno itself, then process_events().
        while not done:
            readable, _, _ = select.select([ctx.fileno], [], [], 5.0)
            assert readable == [ctx.fileno]
            ctx.process_events()
        assert done == [1]
    finally:
        ctx.close()


def test_fileno_type_is_an_int_that_can_be_called() -> None:
    number = Fileno(7)
    assert number == 7 and number() == 7 and isinstance(number(), int)
    assert select.select([Fileno(os.open(os.devnull, os.O_RDONLY))], [], [], 0)[0]


# -- process_events -------------------------------------------------------------------------------


def test_process_events_max_requests_bounds_the_callbacks(
    request: pytest.FixtureRequest, backend: Any, fd: int
) -> None:
    os.pwrite(fd, b"abc", 0)
    ctx = backend.Context(max_requests=8)
    try:
        done: list[int] = []
        ops = [backend.Operation.read(1, fd, i) for i in range(3)]
        for op in ops:
            op.set_callback(done.append)
        assert ctx.submit(*ops) == 3
        # Wait until all three completed, without running a callback.
        assert ctx.process_events(max_requests=1, min_requests=1, timeout=5) == 1
        assert len(done) == 1
        while len(done) < 3:
            wait_ready(ctx)  # the rest is still signalled
            assert ctx.process_events(max_requests=1) <= 1
        assert sorted(op.get_value() for op in ops) == [b"a", b"b", b"c"]
    finally:
        ctx.close()


def test_process_events_argument_errors(request: pytest.FixtureRequest, backend: Any) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        with pytest.raises(ValueError):
            ctx.process_events(max_requests=1, min_requests=5)
        with pytest.raises(OverflowError):
            ctx.process_events(max_requests=2**32 - 1)
        with pytest.raises(TypeError):
            ctx.process_events(max_requests="1")
        assert ctx.process_events(max_requests=0) == 0  # 0: the default
        assert ctx.process_events(min_requests=1, timeout=0) == 0  # 0: do not wait
        assert ctx.process_events(min_requests=1, timeout=0.01) == 0  # nothing in flight: gives up
    finally:
        ctx.close()


def waiter_thread(ctx: Any, result: list[Any]) -> threading.Thread:
    """A thread (not started) that appends what ``ctx.process_events(min_requests=1, timeout=-1)`` gives."""

    def wait() -> None:
        try:
            result.append(ctx.process_events(min_requests=1, timeout=-1))
        except Exception as exc:  # noqa: BLE001 - reported by the caller's assertions
            result.append(exc)

    return threading.Thread(target=wait, daemon=True)


def test_process_events_waits_without_the_gil(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    """A waiter with no time limit returns once a completion arrives; meanwhile this thread runs."""
    ctx = backend.Context(max_requests=4)
    result: list[Any] = []
    waiter = waiter_thread(ctx, result)
    try:
        waiter.start()
        op = backend.Operation.write(b"wake", fd, 0)
        done = threading.Event()
        op.set_callback(lambda _res: done.set())
        assert ctx.submit(op) == 1  # runs here while the waiter waits
        waiter.join(10)
        assert not waiter.is_alive()
        assert result == [1] and done.is_set()
        assert op.get_value() == 4
    finally:
        if waiter.is_alive():
            ctx.submit(backend.Operation.fsync(fd))  # let it go before failing
            waiter.join(10)
        ctx.close()


def test_process_events_waiter_counts_completions_taken_by_another_thread(backend: Any, fd: int) -> None:
    """caio 0.12: a waiter's ``min_requests`` counts callbacks another thread ran (``flush``/``process_events``).

    It then returns how many it ran itself (possibly 0) instead of waiting
    for ever for completions that are gone.
    """
    ctx = backend.Context(max_requests=4)
    result: list[Any] = []
    ran: list[int] = []
    waiter = waiter_thread(ctx, result)
    waiter.start()
    try:
        # One write at a time, taken here by flush(), until the waiter has
        # returned: whenever it began waiting, a completion taken here after
        # that ends its wait.
        for i in range(200):
            op = backend.Operation.write(b"t", fd, i)
            op.set_callback(ran.append)
            assert ctx.submit(op) == 1
            while len(ran) <= i:  # taken here, or by the waiter
                select.select([fileno_of(ctx)], [], [], 0.05)
                ctx.flush()
            waiter.join(0.05)
            if not waiter.is_alive():
                break
        assert not waiter.is_alive(), "the waiter never counted the completions taken by this thread"
        assert len(result) == 1 and isinstance(result[0], int)
        assert ran == [1] * len(ran) and result[0] <= len(ran)
    finally:
        ctx.close()  # ends a waiter still there
        waiter.join(10)


# -- poll -------------------------------------------------------------------------------------------


def test_poll_reads_the_signal_and_never_blocks(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        with pytest.raises(BlockingIOError):
            ctx.poll()
        op = backend.Operation.write(b"p", fd, 0)
        assert ctx.submit(op) == 1
        wait_ready(ctx)
        assert ctx.poll() >= 1
        with pytest.raises(BlockingIOError):
            ctx.poll()
        # The completion is still there. (linux_aio: a kernel completion may be
        # an RWF_NOWAIT refusal that process_events() hands to its pool, which
        # signals the eventfd again when it is done.)
        delivered = ctx.process_events()
        while not delivered:
            wait_ready(ctx)
            delivered = ctx.process_events()
        assert delivered == 1
        assert op.get_value() == 1
    finally:
        ctx.close()
    with pytest.raises(ValueError):
        ctx.poll()


# -- re-submission ------------------------------------------------------------------------------------


def test_operation_is_one_shot(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        op = backend.Operation.write(b"once", fd, 0)
        results: list[int] = []
        op.set_callback(results.append)
        assert ctx.submit(op) == 1
        assert ctx.submit(op) == 0  # in flight: skipped, not counted
        while not results:
            wait_ready(ctx)
            ctx.process_events()
        assert ctx.submit(op) == 0  # completed: skipped too
        assert ctx.process_events() == 0
        assert results == [4] and op.get_value() == 4
        with pytest.raises(ValueError):
            op.set_callback(results.append)  # its callback belonged to that submission
    finally:
        ctx.close()


def test_same_operation_twice_in_one_batch_is_taken_once(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    os.pwrite(fd, b"xy", 0)
    ctx = backend.Context(max_requests=4)
    try:
        op = backend.Operation.read(1, fd, 0)
        other = backend.Operation.read(1, fd, 1)
        results: list[int] = []
        op.set_callback(results.append)
        other.set_callback(results.append)
        assert ctx.submit(op, op, other) == 2
        while len(results) < 2:
            wait_ready(ctx)
            ctx.process_events()
        assert results == [1, 1] and (op.get_value(), other.get_value()) == (b"x", b"y")
    finally:
        ctx.close()


def test_operation_in_flight_on_another_context_is_skipped(
    request: pytest.FixtureRequest, backend: Any, fd: int
) -> None:
    first, second = backend.Context(max_requests=4), backend.Context(max_requests=4)
    try:
        op = backend.Operation.write(b"a", fd, 0)
        results: list[int] = []
        op.set_callback(results.append)
        assert first.submit(op) == 1
        assert second.submit(op) == 0
        while not results:
            wait_ready(first)
            first.process_events()
        assert second.process_events() == 0
        assert results == [1]
    finally:
        first.close()
        second.close()


def test_submit_still_rejects_foreign_objects_first(backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        op = backend.Operation.write(b"z", fd, 0)
        with pytest.raises(TypeError):
            ctx.submit(op, object())
        assert run(ctx, op) == [1]  # nothing of the rejected call was submitted
    finally:
        ctx.close()


# -- a full context ---------------------------------------------------------------------------------


def test_full_context_raises_as_caio_does(backend: Any, fd: int) -> None:
    os.pwrite(fd, b"abcdef", 0)
    ctx = backend.Context(max_requests=2)
    try:
        ops = [backend.Operation.read(1, fd, i) for i in range(5)]
        results: dict[int, int] = {}
        for i, op in enumerate(ops):
            op.set_callback(lambda res, i=i: results.__setitem__(i, res))
        if backend.name == "linux":  # caio's linux_aio: io_submit's count
            assert ctx.submit(*ops) == 2
        else:  # caio's uring OverflowError, thread/python RuntimeError: one exception that is all three
            with pytest.raises(ContextFullError) as caught:
                ctx.submit(*ops)
            error = caught.value
            assert error.accepted == 2
            assert isinstance(error, BlockingIOError) and error.errno == errno.EAGAIN
            assert isinstance(error, OverflowError) and isinstance(error, RuntimeError)
        # Nothing fits now: every backend raises (caio's linux_aio: io_submit's EAGAIN).
        with pytest.raises(ContextFullError) as caught:
            ctx.submit(*ops[2:])
        assert caught.value.accepted == 0
        # Operations already submitted are skipped, not "refused": no error for them.
        assert ctx.submit(*ops[:2]) == 0
        while len(results) < 2:
            wait_ready(ctx)
            ctx.process_events()
        # The refused ones were left untouched: they go now, with their callbacks.
        assert ctx.submit(*ops[2:4]) == 2
        while len(results) < 4:
            wait_ready(ctx)
            ctx.process_events()
        assert run(ctx, ops[4]) == [1]
        assert [op.get_value() for op in ops] == [b"a", b"b", b"c", b"d", b"e"]
    finally:
        ctx.close()


async def test_adapter_over_a_smaller_context_queues_the_rest(backend: Any, path: Any, fd: int) -> None:
    # The adapter takes the count a full context reports (``accepted``) and
    # queues the rest for back-pressure: nothing fails for it.
    ctx = backend.Context(max_requests=2)
    try:
        actx = backend.AsyncioContext(max_requests=16, context=ctx)
        writes = [actx.write(bytes([65 + i]) * 10, fd, 10 * i) for i in range(20)]
        assert await asyncio.gather(*writes) == [10] * 20
        reads = [actx.read(10, fd, 10 * i) for i in range(20)]
        assert await asyncio.gather(*reads) == [bytes([65 + i]) * 10 for i in range(20)]
        await actx.aclose()
    finally:
        ctx.close()
    assert path.read_bytes() == b"".join(bytes([65 + i]) * 10 for i in range(20))


# -- flush (caio's linux_uring method) -----------------------------------------------------------------


def test_flush_runs_every_completed_callback(backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=8)
    try:
        results: list[int] = []
        ops = [backend.Operation.write(b"f", fd, i) for i in range(4)]
        for op in ops:
            op.set_callback(results.append)
        assert ctx.submit(*ops) == 4
        ran = 0
        while ran < 4:
            wait_ready(ctx)
            ran += ctx.flush()
        assert ran == 4 and results == [1, 1, 1, 1]
        assert ctx.flush() == 0
    finally:
        ctx.close()
    assert ctx.flush() == 0  # after close: nothing left, no error
    assert os.pread(fd, 8, 0) == b"ffff"


# -- the exception types caio code catches ---------------------------------------------------------


def test_wrong_argument_types_are_type_errors_that_caio_code_still_catches(
    request: pytest.FixtureRequest, backend: Any, fd: int
) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        op = backend.Operation.fsync(fd)
        for attempt in (
            lambda: backend.Operation.write(["not", "bytes"], fd, 0),
            lambda: op.set_callback("not callable"),
            lambda: ctx.submit(object()),
        ):
            with pytest.raises(TypeError) as info:
                attempt()
            assert isinstance(info.value, ValueError)  # what caio 0.12 raised there
        assert run(ctx, op) == [0]  # nothing was spoilt
    finally:
        ctx.close()


def test_closed_context_error_is_also_runtime_error(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    ctx.close()
    ctx.close()
    with pytest.raises(ValueError, match=r"^I/O operation on closed context\.$") as info:
        ctx.submit(backend.Operation.fsync(fd))
    assert isinstance(info.value, RuntimeError)  # what caio 0.12's thread pools raised


# -- values and callbacks ------------------------------------------------------------------------------


def test_value_and_payload_refused_while_in_flight(request: pytest.FixtureRequest, backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        payload = b"hello"
        op = backend.Operation.write(payload, fd, 0)
        assert op.payload is payload  # before submission: as given
        with pytest.raises(ValueError):
            op.get_value()  # not submitted
        done: list[int] = []
        op.set_callback(done.append)
        assert ctx.submit(op) == 1
        if not done:  # unless the backend completed it inside submit()
            # In flight until process_events() ran its completion, however fast the I/O was.
            with pytest.raises(RuntimeError):
                op.get_value()
            with pytest.raises(OperationInFlightError):
                op.payload  # noqa: B018 - the access is the test
        while not done:
            wait_ready(ctx)
            ctx.process_events()
        assert op.get_value() == 5
        assert bytes(op.payload) == b"hello"
    finally:
        ctx.close()


def test_callback_gets_the_raw_result_and_the_value_is_ready(backend: Any, fd: int) -> None:
    ctx = backend.Context(max_requests=4)
    try:
        os.pwrite(fd, b"value", 0)
        seen: list[tuple[int, Any]] = []
        good = backend.Operation.read(5, fd, 0)
        bad = backend.Operation.read(1, 99999, 0)
        good.set_callback(lambda res: seen.append((res, good.get_value())))
        bad.set_callback(lambda res: seen.append((res, None)))
        assert ctx.submit(good, bad) == 2
        while len(seen) < 2:
            wait_ready(ctx)
            ctx.process_events()
        assert sorted(seen, key=lambda item: item[0]) == [(-errno.EBADF, None), (5, b"value")]
    finally:
        ctx.close()


# -- lifetime -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_flight", [False, True])
def test_unclosed_context_does_not_hang_interpreter_exit(
    request: pytest.FixtureRequest, backend: Any, tmp_path: Any, in_flight: bool
) -> None:
    """caio's suites run ``Context()`` in a subprocess and never close it: exit must still be prompt."""
    code = (
        "import os, warnings\n"
        f"import {backend.module.__name__} as m\n"
        "warnings.simplefilter('ignore', ResourceWarning)\n"
        "ctx = m.Context(max_requests=8)\n"
        f"fd = os.open({str(tmp_path / 'f')!r}, os.O_RDWR | os.O_CREAT)\n"
        f"if {in_flight}:\n"
        "    ctx.submit(*[m.Operation.fsync(fd) for _ in range(8)])\n"
        "print('RESULT: end')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=8, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "RESULT: end\n", "")
