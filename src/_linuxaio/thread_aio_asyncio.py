"""``AsyncioContext`` bound to the C thread-pool backend (``thread_aio``).

The adapter is ``inline_asyncio.InlineAsyncioContext`` over ``thread_aio``'s
compiled entry points: a small read the page cache holds (``preadv2`` with
``RWF_NOWAIT``) and a small buffered write the write guard allows run on the
loop's thread and complete without suspending the coroutine (bounded by the
time slice per loop iteration); everything else goes to the pool in one
submission per loop iteration and completes through the eventfd.
"""

from __future__ import annotations

from . import thread_aio
from .inline_asyncio import REAP_PER_ITERATION, InlineAsyncioContext

__all__ = ["REAP_PER_ITERATION", "AsyncioContext"]


class AsyncioContext(thread_aio._AdapterCore, InlineAsyncioContext):
    """Awaitable I/O on the C thread-pool backend (see ``AsyncioContextBase`` and ``inline_asyncio``).

    Extra keywords: ``pool_size`` (worker threads, default 32, started
    lazily), ``inline_reads`` (see ``thread_aio.Context``).

    Cancellation: an operation no worker has started when its task is
    cancelled still runs (the adapter does not withdraw it); its buffer stays
    alive and its slot stays taken until it completes, and a cancelled write
    may still land. An operation served inline completed before its task
    could be cancelled.
    """

    CONTEXT_CLASS = thread_aio.Context
    OPERATION_CLASS = thread_aio.Operation
    _adapter_start = thread_aio._adapter_start
    _adapter_detach = staticmethod(thread_aio._adapter_detach)
    _YIELD_FIRST = thread_aio._YIELD_FIRST
    #: ``AsyncioContextBase.submit_future``, compiled (``thread_aio._adapter_submit_future``).
    submit_future = thread_aio._adapter_submit_future
    #: ``AsyncioContextBase.start_operation``, compiled (``thread_aio._adapter_start_operation``).
    start_operation = thread_aio._adapter_start_operation
