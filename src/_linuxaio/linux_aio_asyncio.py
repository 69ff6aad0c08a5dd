"""``AsyncioContext`` bound to the kernel AIO backend (``linux_aio``).

The adapter is ``inline_asyncio.InlineAsyncioContext`` (inline completion of
reads the kernel serves inside ``io_submit`` and of guarded small writes, a
time slice per loop iteration, one ``io_submit`` per batch, bounded reaping)
over ``linux_aio``'s compiled entry points.
"""

from __future__ import annotations

from . import linux_aio
from .inline_asyncio import REAP_PER_ITERATION, InlineAsyncioContext

__all__ = ["REAP_PER_ITERATION", "AsyncioContext"]


class AsyncioContext(linux_aio._AdapterCore, InlineAsyncioContext):
    """Awaitable I/O on kernel AIO (see ``AsyncioContextBase`` and ``inline_asyncio``).

    Extra keyword: ``pool_size`` (threads for special files and for
    operations that would block, default 16).

    Cancellation: as ``AsyncioContextBase``. An operation already handed
    over stays in the current batch and is submitted; a read or write the
    kernel holds cannot be withdrawn, so a cancelled write lands.
    """

    CONTEXT_CLASS = linux_aio.Context
    OPERATION_CLASS = linux_aio.Operation
    _adapter_start = linux_aio._adapter_start
    _adapter_detach = staticmethod(linux_aio._adapter_detach)
    _YIELD_FIRST = linux_aio._YIELD_FIRST
    #: ``AsyncioContextBase.submit_future``, compiled (``linux_aio._adapter_submit_future``):
    #: the same checks and semantics, with inline completion and no per-operation partial.
    submit_future = linux_aio._adapter_submit_future
    #: ``AsyncioContextBase.start_operation``, compiled (``linux_aio._adapter_start_operation``).
    start_operation = linux_aio._adapter_start_operation
