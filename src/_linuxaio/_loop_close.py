"""Run cleanup when an event loop closes.

Kernel AIO contexts are a system-wide resource (``fs.aio-max-nr``), so an
adapter bound to a loop must release its context when that loop closes, even
if the program never closes the adapter (``asyncio.run`` per request is
common). asyncio has no close hook, so the first registration for a loop
wraps that loop's ``close`` method (an instance attribute; the class is
untouched). Loops whose ``close`` cannot be replaced (compiled loops such as
uvloop's) get no hook: adapters bound to them are released by ``close()`` or
when they are collected.

Nothing here keeps a loop alive: the callbacks live on the loop itself (in
its ``close`` wrapper, which holds the original ``close`` weakly), and the
registry that finds them is weak on both sides. A loop dropped without
``close()`` and the adapters its callbacks refer to form a cycle that the
garbage collector frees (see ``asyncio_base`` for what releases the backend
context then).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any


class _Hooks:
    """The close callbacks of one loop, owned by the loop's ``close`` wrapper."""

    __slots__ = ("__weakref__", "callbacks")

    def __init__(self) -> None:
        self.callbacks: dict[int, Callable[[], None]] = {}


_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[_Hooks]] = weakref.WeakKeyDictionary()


def call_on_close(loop: asyncio.AbstractEventLoop, key: int, callback: Callable[[], None]) -> bool:
    """Call ``callback()`` when ``loop.close()`` is called; return False if unsupported.

    ``key`` identifies the registration for ``cancel``. Callbacks run before
    the loop's own ``close`` (the loop can still remove readers), in
    registration order; one raising does not stop the others or the close.
    The loop holds ``callback`` (until it closes or is collected).
    """
    try:
        hooks = _hooks_of(loop)
    except TypeError:  # not weak-referenceable
        return False
    if hooks is None:
        hooks = _Hooks()
        if not _wrap_close(loop, hooks):
            return False
        _REGISTRY[loop] = weakref.ref(hooks)
    hooks.callbacks[key] = callback
    return True


def cancel(loop: asyncio.AbstractEventLoop, key: int) -> None:
    """Forget the registration ``key`` for ``loop`` (no error if absent)."""
    try:
        hooks = _hooks_of(loop)
    except TypeError:
        return
    if hooks is not None:
        hooks.callbacks.pop(key, None)


def _hooks_of(loop: asyncio.AbstractEventLoop) -> _Hooks | None:
    ref = _REGISTRY.get(loop)
    return None if ref is None else ref()


def _wrap_close(loop: asyncio.AbstractEventLoop, hooks: _Hooks) -> bool:
    original: Callable[[], Any] = loop.close
    try:
        # A bound method would make the loop refer to itself through its wrapper.
        original_ref: Callable[[], Callable[[], Any] | None] = weakref.WeakMethod(original)
    except TypeError:  # already an instance attribute (another wrapper): keep it as it is
        original_ref = lambda: original  # noqa: E731

    def close() -> None:
        errors = []
        callbacks = hooks.callbacks
        for key in list(callbacks):
            callback = callbacks.pop(key)
            try:
                callback()
            except Exception as exc:  # noqa: BLE001 - reported after the loop is closed
                errors.append(exc)
        original_close = original_ref()
        if original_close is not None:
            original_close()
        if errors:
            raise errors[0]

    try:
        loop.close = close  # type: ignore[method-assign]
    except (AttributeError, TypeError):
        return False
    return True
