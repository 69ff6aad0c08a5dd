"""The default context: one ``_linuxaio.AsyncioContext`` per running event loop.

It is created at the first I/O inside a running loop (never when a file object
is constructed, so objects built outside ``asyncio.run()`` work inside it),
shared by every file of that loop, and released when the loop closes: the
adapter closes itself from ``loop.close()``, and this store forgets it then.
The store is keyed weakly by the loop, and a closed adapter no longer refers
to its loop, so neither loops nor kernel contexts outlive ``asyncio.run()``.
"""

from __future__ import annotations

import asyncio
import weakref
from functools import partial
from typing import Any

import _linuxaio
from _linuxaio import _loop_close
from _linuxaio.asyncio_base import AsyncioContextBase

__all__ = ["as_asyncio_context", "get_default_context"]

# Adapters made for raw contexts, alive while some file uses them (each holds its context).
_WRAPPED: weakref.WeakValueDictionary[int, AsyncioContextBase] = weakref.WeakValueDictionary()
_STORE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def get_default_context() -> Any:
    """The running loop's default ``AsyncioContext`` (the selected backend), created on demand.

    Must be called from a coroutine (raises ``RuntimeError`` without a running loop).
    """
    loop = asyncio.get_running_loop()
    context = _STORE.get(loop)
    if context is None or context.closed:
        context = _linuxaio.AsyncioContext()
        _STORE[loop] = context
        # Forget it when the loop closes (the adapter closes itself then too).
        # The callback holds the loop weakly: the store must not keep it alive.
        _loop_close.call_on_close(loop, id(_STORE), partial(_forget, weakref.ref(loop)))
    return context


def _forget(loop_ref: weakref.ref[asyncio.AbstractEventLoop]) -> None:
    loop = loop_ref()
    if loop is not None:
        _STORE.pop(loop, None)


def as_asyncio_context(context: Any) -> Any:
    """Return ``context`` usable with ``await``: an adapter as is, a raw backend Context wrapped.

    ``None`` stays ``None`` (meaning: the default context, looked up at I/O time).
    """
    if context is None:
        return None
    if hasattr(context, "process_events") and hasattr(context, "submit") and not hasattr(context, "read"):
        # A raw backend Context. One adapter per raw context: two adapters
        # would fight over its eventfd.
        adapter = _WRAPPED.get(id(context))
        if adapter is None or adapter.closed:
            adapter = AsyncioContextBase(context=context)
            _WRAPPED[id(context)] = adapter
        return adapter
    if hasattr(context, "read") and hasattr(context, "write"):
        return context  # an adapter: anything with awaitable read/write/... (duck-typed, as aiofile 3.x)
    raise TypeError(f"context must be an AsyncioContext or a Context, not {type(context).__name__}")
