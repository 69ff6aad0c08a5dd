"""``AsyncioContext`` bound to the kernel AIO backend."""

from . import linux_aio
from .asyncio_base import AsyncioContextBase

__all__ = ["AsyncioContext"]


class AsyncioContext(AsyncioContextBase):
    """Awaitable I/O on kernel AIO (see ``AsyncioContextBase``).

    Extra keyword: ``pool_size`` (threads for special files and for
    operations that would block, default 16).
    """

    CONTEXT_CLASS = linux_aio.Context
    OPERATION_CLASS = linux_aio.Operation
