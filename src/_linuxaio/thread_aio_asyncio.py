"""``AsyncioContext`` bound to the C thread-pool backend."""

from __future__ import annotations

from . import thread_aio
from .asyncio_base import AsyncioContextBase

__all__ = ["AsyncioContext"]


class AsyncioContext(thread_aio._AdapterCore, AsyncioContextBase):
    """Awaitable I/O on the C thread-pool backend (see ``AsyncioContextBase``).

    Extra keyword: ``pool_size`` (worker threads, default 32, started lazily).
    Cancellation: an operation no worker has started when its task is
    cancelled still runs (the adapter does not withdraw it); its buffer stays
    alive and its slot stays taken until it completes, and a cancelled write
    may still land.

    ``submit_future`` and the completion of each operation are compiled
    (``thread_aio._adapter_submit_future``): same semantics as the base
    class, without a ``functools.partial`` and three Python frames per
    operation.
    """

    CONTEXT_CLASS = thread_aio.Context
    OPERATION_CLASS = thread_aio.Operation

    submit_future = thread_aio._adapter_submit_future
