"""``AsyncioContext`` bound to the io_uring backend (``linux_uring``).

The adapter is ``inline_asyncio.InlineAsyncioContext`` (inline completion of
what the kernel finishes inside ``io_uring_enter``, a time slice per loop
iteration, one ``io_uring_enter`` per batch, bounded reaping) over
``linux_uring``'s compiled entry points. The loop watches the ring's
registered eventfd; completions are taken from the mapped CQ ring without a
system call.
"""

from __future__ import annotations

from . import linux_uring
from .inline_asyncio import REAP_PER_ITERATION, InlineAsyncioContext

__all__ = ["REAP_PER_ITERATION", "AsyncioContext"]


class AsyncioContext(linux_uring._AdapterCore, InlineAsyncioContext):
    """Awaitable I/O on io_uring (see ``AsyncioContextBase`` and ``inline_asyncio``).

    Extra keywords: ``pool_size`` (threads for operations whose opcode the
    kernel lacks, and file-system operations), ``sqpoll`` (caio's: a kernel
    SQ polling thread), ``deferred`` (caio's, accepted, no effect),
    ``ring_entries``.

    Cancellation: as ``AsyncioContextBase``: cancelling the awaiting task
    does not withdraw the request; its buffer lives and its slot stays taken
    until its CQE arrives, and a cancelled write may land. ``cancel()`` on
    the raw ``Context`` sends ``IORING_OP_ASYNC_CANCEL``.
    """

    CONTEXT_CLASS = linux_uring.Context
    OPERATION_CLASS = linux_uring.Operation
    _adapter_start = linux_uring._adapter_start
    _adapter_detach = staticmethod(linux_uring._adapter_detach)
    _YIELD_FIRST = linux_uring._YIELD_FIRST
    #: ``AsyncioContextBase.submit_future``, compiled (``linux_uring._adapter_submit_future``).
    submit_future = linux_uring._adapter_submit_future
    #: ``AsyncioContextBase.start_operation``, compiled (``linux_uring._adapter_start_operation``).
    start_operation = linux_uring._adapter_start_operation
