"""The default context: one ``_linuxaio.AsyncioContext`` per running event loop, one ``TrioContext`` per trio run.

It is created at the first I/O inside a running loop (never when a file object
is constructed, so objects built outside ``asyncio.run()`` work inside it),
shared by every file of that loop, and released when the loop closes: the
adapter closes itself from ``loop.close()``, and this store forgets it then.
The store is keyed weakly by the loop and refers to its contexts weakly; the
loop itself holds its default context (through its close hook). An adapter
holds its loop, so a store entry holding the context strongly would keep the
loop alive for ever; as it is, a loop dropped without ``close()`` is collected
with its default context, and the adapter's finalizer releases the backend
context (kernel context, threads, eventfd) then.

Under trio (and anyio on trio) the default context is a
``_linuxaio.TrioContext`` kept in a ``trio.lowlevel.RunVar``: created at the
first I/O of the run, closed when the run ends (its completion task closes it).
The running library is told by ``_aio.running_trio`` (sniffio, imported only
when no asyncio loop is running).
"""

from __future__ import annotations

import asyncio
import weakref
from asyncio.events import _get_running_loop
from collections.abc import Callable
from functools import partial
from typing import Any

import _linuxaio
from _linuxaio import _loop_close
from _linuxaio.asyncio_base import AsyncioContextBase

from . import _aio

__all__ = ["as_asyncio_context", "default_contexts", "get_default_context", "set_default_context"]

# Adapters made for raw contexts, alive while some file uses them (each holds its context).
_WRAPPED: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
# loop -> a callable returning its default context: a weak reference, or (for a
# loop without a close hook, or a context that is not weak-referenceable) a strong one.
_STORE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Callable[[], Any]] = weakref.WeakKeyDictionary()


def get_default_context() -> Any:
    """The running loop's default ``AsyncioContext`` (the selected backend), created on demand.

    Must be called from a coroutine (raises ``RuntimeError`` without a running loop).
    Inside a trio run: the run's default ``TrioContext``.
    """
    loop = _get_running_loop()
    if loop is None:
        if _aio.running_trio():
            return _trio_default_context()
        loop = asyncio.get_running_loop()  # raises RuntimeError
    context = _lookup(loop)
    if context is None or context.closed:
        context = _linuxaio.AsyncioContext()
        set_default_context(loop, context)
    return context


_TRIO_DEFAULT: Any = None  # trio.lowlevel.RunVar, made at the first trio use


def _trio_default_context() -> Any:
    """The running trio run's default ``TrioContext``, created on demand (closed when the run ends)."""
    global _TRIO_DEFAULT
    import trio

    from _linuxaio.trio_context import TrioContext

    if _TRIO_DEFAULT is None:
        _TRIO_DEFAULT = trio.lowlevel.RunVar("aiofile_default_context")
    context = _TRIO_DEFAULT.get(None)
    if context is None or context.closed:
        context = TrioContext()
        _TRIO_DEFAULT.set(context)
    return context


def set_default_context(loop: asyncio.AbstractEventLoop, context: Any) -> None:
    """Make ``context`` the default context of ``loop``; it is closed when ``loop`` closes."""
    # Forget it when the loop closes, and close it unless it is an adapter bound
    # to that loop (which closes itself from the same hook). The hook lives on
    # the loop and holds the context; it holds the loop weakly.
    hooked = _loop_close.call_on_close(loop, id(_STORE), partial(_forget, weakref.ref(loop), context))
    try:
        if not hooked:
            raise TypeError
        _STORE[loop] = weakref.ref(context)
    except TypeError:  # nothing else holds it, or it cannot be referred to weakly
        _STORE[loop] = partial(_identity, context)


def default_contexts() -> list[tuple[asyncio.AbstractEventLoop, Any]]:
    """The ``(loop, context)`` pairs of the default contexts alive now."""
    return [(loop, context) for loop, ref in list(_STORE.items()) if (context := ref()) is not None]


def _lookup(loop: asyncio.AbstractEventLoop) -> Any:
    ref = _STORE.get(loop)
    return None if ref is None else ref()


def _identity(context: Any) -> Any:
    return context


def _forget(loop_ref: weakref.ref[asyncio.AbstractEventLoop], context: Any) -> None:
    loop = loop_ref()
    if loop is not None:
        if _lookup(loop) is context:
            del _STORE[loop]
        if getattr(context, "loop", None) is not loop:
            context.close()


def as_asyncio_context(context: Any) -> Any:
    """Return ``context`` usable with ``await``: an adapter as is, a raw backend Context wrapped.

    ``None`` stays ``None`` (meaning: the default context, looked up at I/O time).
    """
    if context is None:
        return None
    if hasattr(context, "process_events") and hasattr(context, "submit") and not hasattr(context, "read"):
        # A raw backend Context. One adapter per raw context: two adapters
        # would fight over its eventfd. Inside a trio run, a TrioContext.
        adapter = _WRAPPED.get(id(context))
        if adapter is None or adapter.closed:
            if _aio.running_trio():
                from _linuxaio.trio_context import TrioContext

                adapter = TrioContext(context=context)
            else:
                adapter = AsyncioContextBase(context=context)
            _WRAPPED[id(context)] = adapter
        return adapter
    if any(hasattr(context, name) for name in _ADAPTER_METHODS):
        # An adapter: anything with some of its awaitable methods (duck-typed, as
        # aiofile 3.x, whose tests hand a Mock); a missing one fails when used.
        return context
    raise TypeError(
        f"context must be an AsyncioContext, a Context or an object with their methods "
        f"({', '.join(_ADAPTER_METHODS)}), not {type(context).__name__}"
    )


#: The awaitable methods ``AIOFile`` uses on an adapter (``submit`` is caio's Context protocol).
_ADAPTER_METHODS = ("read", "write", "fsync", "fdsync", "submit")
