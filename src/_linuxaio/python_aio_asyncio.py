"""``AsyncioContext`` bound to the pure-Python thread-pool backend."""

from . import python_aio
from .asyncio_base import AsyncioContextBase

__all__ = ["AsyncioContext"]


class AsyncioContext(AsyncioContextBase):
    """Awaitable I/O on the pure-Python backend (see ``AsyncioContextBase``).

    Extra keyword: ``pool_size`` (worker threads, default 8).
    Cancellation: an operation no worker has started when its task is
    cancelled still runs (the adapter does not withdraw it); its slot is freed
    when it completes.
    """

    CONTEXT_CLASS = python_aio.Context
    OPERATION_CLASS = python_aio.Operation
