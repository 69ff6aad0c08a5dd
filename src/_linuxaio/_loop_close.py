"""Run cleanup when an event loop closes.

Kernel AIO contexts are a system-wide resource (``fs.aio-max-nr``), so an
adapter bound to a loop must release its context when that loop closes, even
if the program never closes the adapter (``asyncio.run`` per request is
common). asyncio has no close hook, so the first registration for a loop
wraps that loop's ``close`` method (an instance attribute; the class is
untouched). Loops whose ``close`` cannot be replaced (compiled loops such as
uvloop's) get no hook: adapters bound to them are released by ``close()`` or
when they are collected.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

_Callbacks = dict[int, Callable[[], None]]
_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Callbacks] = weakref.WeakKeyDictionary()


def call_on_close(loop: asyncio.AbstractEventLoop, key: int, callback: Callable[[], None]) -> bool:
    """Call ``callback()`` when ``loop.close()`` is called; return False if unsupported.

    ``key`` identifies the registration for ``cancel``. Callbacks run before
    the loop's own ``close`` (the loop can still remove readers), in
    registration order; one raising does not stop the others or the close.
    """
    try:
        callbacks = _REGISTRY.get(loop)
    except TypeError:  # not weak-referenceable
        return False
    if callbacks is None:
        callbacks = {}
        if not _wrap_close(loop, callbacks):
            return False
        _REGISTRY[loop] = callbacks
    callbacks[key] = callback
    return True


def cancel(loop: asyncio.AbstractEventLoop, key: int) -> None:
    """Forget the registration ``key`` for ``loop`` (no error if absent)."""
    callbacks = _REGISTRY.get(loop)
    if callbacks is not None:
        callbacks.pop(key, None)


def _wrap_close(loop: asyncio.AbstractEventLoop, callbacks: _Callbacks) -> bool:
    original_close = loop.close

    def close() -> None:
        errors = []
        for key in list(callbacks):
            callback = callbacks.pop(key)
            try:
                callback()
            except Exception as exc:  # noqa: BLE001 - reported after the loop is closed
                errors.append(exc)
        original_close()
        if errors:
            raise errors[0]

    try:
        loop.close = close  # type: ignore[method-assign]
    except (AttributeError, TypeError):
        return False
    return True
