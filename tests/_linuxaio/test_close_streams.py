"""close() never waits for a pipe that is not ready, whichever way the data flows.

The conformance suite covers a read of an empty pipe; this covers a write to
a full pipe and operations queued behind it on the same fd. On the compiled
backends no worker writes anything once the operation is reported cancelled
(checked in tests/_linuxaio/csrc/test_lxa_pool.c); python_aio's abandoned
worker may still finish its write later, so that is not asserted here.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import threading
import time
from typing import Any

import pytest


def fill(fd: int) -> None:
    """Write to a pipe until it is full."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while True:
            os.write(fd, bytes(4096))
    except BlockingIOError:
        pass
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)


@pytest.mark.parametrize("size", [10, 1 << 20])
def test_close_does_not_wait_for_writes_to_a_full_pipe(backend: Any, size: int) -> None:
    read_end, write_end = os.pipe()
    fill(write_end)
    ctx = backend.Context(max_requests=4)
    results: dict[int, int] = {}
    ops = [backend.Operation.write(bytes(size), write_end, 0), backend.Operation.write(b"x", write_end, 0)]
    for i, op in enumerate(ops):
        op.set_callback(lambda res, i=i: results.__setitem__(i, res))
    try:
        assert ctx.submit(*ops) == 2
        time.sleep(0.05)  # let a worker wait for room in the pipe
        closer = threading.Thread(target=ctx.close, daemon=True)
        closer.start()
        closer.join(10)
        assert not closer.is_alive(), "close() waited for a write that can never finish"
        assert results == {0: -errno.ECANCELED, 1: -errno.ECANCELED}
        for op in ops:
            with pytest.raises(OSError) as info:
                op.get_value()
            assert info.value.errno == errno.ECANCELED
    finally:
        os.close(read_end)  # an abandoned python_aio worker gets EPIPE
        time.sleep(0.05)
        os.close(write_end)


def test_read_of_an_empty_non_blocking_pipe_fails_with_eagain(backend: Any) -> None:
    """An O_NONBLOCK pipe means "do not wait": the operation reports EAGAIN, as read(2) does."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    try:
        results: list[int] = []
        op = backend.Operation.read(4, read_end, 0)
        op.set_callback(results.append)
        with backend.Context(max_requests=2) as ctx:
            assert ctx.submit(op) == 1
            while not results:
                select.select([ctx.fileno()], [], [], 5.0)
                ctx.process_events()
        assert results == [-errno.EAGAIN]
        with pytest.raises(OSError) as info:
            op.get_value()
        assert info.value.errno == errno.EAGAIN
    finally:
        os.close(read_end)
        os.close(write_end)
