"""``python_aio``-specific regressions (the conformance suite covers the contract)."""

from __future__ import annotations

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
