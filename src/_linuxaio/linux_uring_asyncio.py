"""``AsyncioContext`` bound to the io_uring backend.

The ring's registered eventfd is the loop's reader; completions are taken
from the mapped CQ ring with no system call. The path of an operation is
``linux_aio_asyncio``'s (inline completion within a time slice, one
``io_uring_enter`` per loop iteration for the batch, bounded reaping per
reader call): the compiled hot path comes from the shared core
(``linux_uring._adapter_start``/``_adapter_submit_future``) and the batch
driving methods are ``linux_aio_asyncio.AsyncioContext``'s own functions,
which only use the Context protocol (``submit``, ``process_events``,
``pending``, ``reap``).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Generator
from threading import get_ident
from typing import Any

from . import linux_aio_asyncio, linux_uring
from .asyncio_base import AsyncioContextBase, _State

__all__ = ["AsyncioContext"]

_start = linux_uring._adapter_start
_YIELD_FIRST = linux_uring._YIELD_FIRST
_LinuxAdapter = linux_aio_asyncio.AsyncioContext


@types.coroutine
def _yield_to_loop() -> Generator[None, None, None]:
    """Let the loop run one iteration."""
    yield


class AsyncioContext(linux_uring._AdapterCore, AsyncioContextBase):
    """Awaitable I/O on io_uring (see ``AsyncioContextBase``).

    Extra keywords: ``pool_size`` (threads for opcodes the kernel lacks),
    ``sqpoll`` (caio's: a kernel SQ polling thread), ``deferred`` (caio's,
    accepted, no effect), ``ring_entries``.

    Cancellation: as ``AsyncioContextBase``: cancelling the awaiting task
    does not withdraw the request; its buffer lives and its slot stays taken
    until the CQE arrives, and a cancelled write may land. ``cancel()`` on
    the raw ``Context`` sends ``IORING_OP_ASYNC_CANCEL``.
    """

    CONTEXT_CLASS = linux_uring.Context
    OPERATION_CLASS = linux_uring.Operation

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch: list[tuple[Any, asyncio.Future[Any]]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._reap_handle: asyncio.Handle | None = None
        self._driving = False

    # read/write/readinto repeat the same few lines on purpose: a shared helper
    # coroutine would add a coroutine object per operation to the inline path.

    async def read(self, nbytes: int, fd: int, offset: int = 0, priority: int = 0) -> bytes:
        """Read up to ``nbytes`` at ``offset``; returns the bytes read (short at EOF)."""
        op = linux_uring.Operation.read(nbytes, fd, offset, priority)
        started = _start(self, op)
        while started is _YIELD_FIRST:
            await _yield_to_loop()
            started = _start(self, op)
        if started is op:
            return op.get_value()  # type: ignore[no-any-return]
        return await started  # type: ignore[no-any-return]

    async def write(self, payload: Any, fd: int, offset: int = 0, priority: int = 0) -> int:
        """Write ``payload`` (any buffer, not copied) at ``offset``; returns the bytes written."""
        op = linux_uring.Operation.write(payload, fd, offset, priority)
        started = _start(self, op)
        while started is _YIELD_FIRST:
            await _yield_to_loop()
            started = _start(self, op)
        if started is op:
            return op.get_value()  # type: ignore[no-any-return]
        return await started  # type: ignore[no-any-return]

    async def readinto(self, buffer: Any, fd: int, offset: int = 0) -> int:
        """Read into the caller's writable ``buffer``; returns the bytes read.

        The buffer belongs to the operation until its CQE arrives, even if
        the awaiting task is cancelled.
        """
        op = linux_uring.Operation.readinto(buffer, fd, offset)
        started = _start(self, op)
        while started is _YIELD_FIRST:
            await _yield_to_loop()
            started = _start(self, op)
        if started is op:
            return op.get_value()  # type: ignore[no-any-return]
        return await started  # type: ignore[no-any-return]

    #: ``AsyncioContextBase.submit_future``, compiled, with inline completion.
    submit_future = linux_uring._adapter_submit_future

    # The batch machinery of the kernel AIO adapter, which only uses the
    # Context protocol: one copy for both backends.
    _hand_over = _LinuxAdapter._hand_over
    _flush = _LinuxAdapter._flush
    _on_readable = _LinuxAdapter._on_readable
    _drive = _LinuxAdapter._drive
    _submit_batch = _LinuxAdapter._submit_batch

    def _bound_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and getattr(loop, "_thread_id", None) == get_ident():
            return loop
        loop = super()._bound_loop()
        self._loop_ready = getattr(loop, "_ready", None)
        return loop

    def close(self) -> None:
        """As ``AsyncioContextBase.close``; operations of the unsubmitted batch are submitted first."""
        if self._state is _State.CLOSED:
            return
        for handle in (self._flush_handle, self._reap_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._reap_handle = None
        if self._batch and self._context is not None and not self._context.closed:
            batch, self._batch = self._batch, []
            self._submit_batch(batch)  # type: ignore[misc]  # borrowed from the linux adapter
        super().close()
        self._loop_ready = None
