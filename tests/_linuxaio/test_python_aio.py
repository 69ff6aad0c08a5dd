"""``python_aio``-specific regressions (the conformance suite covers the contract)."""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import pytest

from _linuxaio import python_aio


class HeldNotifier:
    """The pool's notifier, with a ``signal`` that waits (boundedly) for the test to let it go."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.entered = threading.Event()
        self.release = threading.Event()

    def signal(self) -> None:
        self.entered.set()
        self.release.wait(0.5)  # bounded: with the fix, close() cannot finish before this returns
        self.real.signal()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_worker_never_signals_a_notifier_that_close_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker used to signal the completion after it released the pool's
    # lock; a close() in between closed the eventfd first, and the worker's
    # write failed with EBADF in the thread (or hit whatever file reused the
    # number). Seen as a rare unhandled thread exception on a loaded machine.
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    fd = os.open("/dev/zero", os.O_RDONLY | os.O_CLOEXEC)
    try:
        ctx = python_aio.Context(pool_size=1)
        held = HeldNotifier(ctx._pool.notifier)
        ctx._pool.notifier = held
        op = python_aio.Operation.read(1, fd, 0)
        assert ctx.submit(op) == 1
        assert held.entered.wait(30)  # the worker is signalling the completion
        ctx.close()  # runs the callbacks and closes the notifier
        held.release.set()
        for thread in ctx._pool.threads:
            thread.join(30)
        assert errors == []
        assert op.get_value() == b"\0"
    finally:
        os.close(fd)


def test_close_does_not_wait_for_a_pipe_read_that_became_a_stream_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker tries pread(2) first; on a pipe (ESPIPE) it marks the operation
    # as a stream, which close() does not wait for. A close() that began
    # between the two waited for a notification that never came: a hang
    # (seen as a 60 s subprocess timeout on a loaded machine).
    entered, go = threading.Event(), threading.Event()
    real_pread = os.pread

    def slow_pread(fd: int, n: int, offset: int) -> bytes:
        entered.set()
        go.wait(30)
        return real_pread(fd, n, offset)

    monkeypatch.setattr(python_aio.os, "pread", slow_pread)
    r, w = os.pipe()
    try:
        ctx = python_aio.Context(pool_size=1)
        op = python_aio.Operation.read(3, r, 0)
        assert ctx.submit(op) == 1
        assert entered.wait(30)  # the worker runs the operation, not yet known as a stream
        closer = threading.Thread(target=ctx.close)
        closer.start()
        while ctx._pool.accepting:  # shutdown() has not begun yet
            threading.Event().wait(0.001)
        go.set()  # ESPIPE: the worker marks it a stream and blocks in read(2)
        closer.join(30)
        hung = closer.is_alive()
        os.write(w, b"end")  # unblock the worker either way
        closer.join(30)
        assert not hung, "close() kept waiting for a pipe read"
        with pytest.raises(OSError) as info:
            op.get_value()  # close() completed it as cancelled; what read(2) got later is dropped
        assert info.value.errno == errno.ECANCELED
    finally:
        go.set()
        os.close(r)
        os.close(w)
