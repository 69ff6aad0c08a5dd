"""``AsyncioContext`` bound to the C thread-pool backend."""

from . import thread_aio
from .asyncio_base import AsyncioContextBase

__all__ = ["AsyncioContext"]


class AsyncioContext(AsyncioContextBase):
    """Awaitable I/O on the C thread-pool backend (see ``AsyncioContextBase``).

    Extra keyword: ``pool_size`` (worker threads, default 32, started lazily).
    Cancellation: an operation no worker has started when its task is
    cancelled still runs (the adapter does not withdraw it); its buffer stays
    alive and its slot stays taken until it completes, and a cancelled write
    may still land.
    """

    CONTEXT_CLASS = thread_aio.Context
    OPERATION_CLASS = thread_aio.Operation
