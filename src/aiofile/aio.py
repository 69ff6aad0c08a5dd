"""aiofile 3.x's ``aiofile.aio`` names: ``AIOFile``, mode parsing and the default contexts.

``DEFAULT_CONTEXT_STORE`` and ``create_context`` keep aiofile 3.x's shape
over the default-context machinery of ``aiofile._defaults``: the store is a
live, read-only view keyed by ``id(loop)``, and a context made by
``create_context`` is closed and forgotten when its loop closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import IO, Any

import _linuxaio
from _linuxaio.asyncio_base import AsyncioContextBase

from . import _defaults
from ._defaults import get_default_context
from ._file import AIOFile
from ._mode import FileMode, parse_mode

__all__ = [
    "AIO_FILE_CLOSED",
    "AIO_FILE_NOT_OPENED",
    "DEFAULT_CONTEXT_STORE",
    "AIOFile",
    "ContextStore",
    "ContextStoreType",
    "FileIOType",
    "FileMode",
    "create_context",
    "get_default_context",
    "parse_mode",
]

#: aiofile 3.x's state constants (unused there too; kept for imports).
AIO_FILE_NOT_OPENED = -1
AIO_FILE_CLOSED = -2

#: aiofile 3.x's alias for what ``async_open`` accepts besides a path.
FileIOType = IO[Any]


class ContextStore(Mapping[int, Any]):
    """The default contexts alive now, keyed by ``id(loop)`` as in aiofile 3.x.

    A live read-only view: a context appears when ``create_context()`` or the
    first I/O of a loop makes one, and disappears when its loop closes (the
    context is closed then) or is collected. Set one with ``create_context``.
    """

    def _items(self) -> list[tuple[int, Any]]:
        return [(id(loop), context) for loop, context in _defaults.default_contexts()]

    def __getitem__(self, key: int) -> Any:
        for loop_id, context in self._items():
            if loop_id == key:
                return context
        raise KeyError(key)

    def __iter__(self) -> Iterator[int]:
        return iter([loop_id for loop_id, _ in self._items()])

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return f"<aiofile.aio.ContextStore {dict(self._items())!r}>"


#: aiofile 3.x's type of ``DEFAULT_CONTEXT_STORE``.
ContextStoreType = Mapping[int, Any]

#: The default context of each loop, keyed by ``id(loop)`` (a read-only view).
DEFAULT_CONTEXT_STORE = ContextStore()


def create_context(max_requests: int = AsyncioContextBase.MAX_REQUESTS_DEFAULT) -> Any:
    """Make a new ``AsyncioContext`` the default context of the current loop and return it.

    The current loop is the running loop, else ``asyncio.get_event_loop()``
    (as in aiofile 3.x). The context replaces that loop's default context
    for files created without ``context=`` from now on, and is closed when
    the loop closes.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = asyncio.get_event_loop()
    context = _linuxaio.AsyncioContext(max_requests, loop=loop)
    _defaults.set_default_context(loop, context)
    return context
