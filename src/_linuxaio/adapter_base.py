"""What every loop adapter shares, whatever drives it (asyncio's loop or a trio run).

``AdapterBase`` is the base of ``asyncio_base.AsyncioContextBase`` and of
``trio_context.TrioContext``. It owns the parts that do not depend on the
event loop:

* **Construction**: ``max_requests`` and ``context=``/``**context_kwargs``
  checks, the backend ``Context`` created lazily (``_backend_context``), the
  backend's ``Operation`` class.
* **Slots**: ``_in_flight`` counts operations handed to the backend whose
  completion callback has not run. It only goes down in that callback
  (``_on_done``), so a slot is freed when the kernel or worker is really done,
  never when an awaiting task is cancelled.
* **Back-pressure**: callers past ``max_requests`` wait in ``_waiting`` as
  ``(operation, waiter)`` pairs, submitted in order as slots free up
  (``_after_completion``/``_submit_waiting``). A waiter is anything with
  ``done()``, ``set_result()`` and ``set_exception()``: an ``asyncio.Future``
  for the asyncio adapter, the trio adapter's own parking object for trio.
* **Lifecycle**: ``OPEN`` -> ``CLOSING`` (``aclose()`` waits for what is in
  flight or queued: ``_drained``) -> ``CLOSED``; ``_close_backend`` fails the
  queued callers and closes (or drains) the backend context.

A subclass provides the loop-specific parts: binding to its loop, watching
the eventfd, ``_hand_over`` (how an operation reaches the backend) and the
awaitables.
"""

from __future__ import annotations

import enum
import errno
import os
import sys
from collections import deque
from typing import Any, ClassVar

from . import _args
from .abstract import ContextFullError
from .fsops import FsOpsMixin

__all__ = ["AdapterBase"]


class _State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class AdapterBase(FsOpsMixin):
    """Slots, back-pressure and lifecycle of an adapter over a backend ``Context``.

    Args:
        max_requests: operations in flight at once (default 512). Callers
            past it wait their turn; nothing fails for being over it.
        context: an already created backend Context to drive instead of
            creating one. The adapter does not close a context it was given.
        **context_kwargs: passed to the backend's ``Context`` (e.g. ``pool_size``).
    """

    CONTEXT_CLASS: ClassVar[Any] = None
    OPERATION_CLASS: ClassVar[Any] = None
    MAX_REQUESTS_DEFAULT: ClassVar[int] = 512

    def __init__(self, max_requests: int | None = None, *, context: Any = None, **context_kwargs: Any) -> None:
        if max_requests is None:
            max_requests = context.max_requests if context is not None else self.MAX_REQUESTS_DEFAULT
        max_requests = _args.check_max_requests(max_requests)
        if context is not None:
            if context_kwargs:
                raise TypeError("context_kwargs cannot be combined with context=")
            if getattr(context, "closed", False):
                raise ValueError("I/O operation on closed context.")
            operation_class = sys.modules[type(context).__module__].Operation
        else:
            context_class, operation_class = self._backend_classes()
            if context_class is None:
                raise TypeError(f"{type(self).__name__} needs context= or a subclass that sets CONTEXT_CLASS")
            self._context_class = context_class
        self._max_requests = max_requests
        self._context_kwargs = context_kwargs
        self._context = context
        self._owns_context = context is None
        self._operation_class = operation_class
        self._state = _State.OPEN
        self._in_flight = 0
        self._waiting: deque[tuple[Any, Any]] = deque()
        self._drained: Any = None  # the waiter aclose() parks on, if any

    # -- introspection -----------------------------------------------------------

    @property
    def max_requests(self) -> int:
        """The most operations handed to the backend at once."""
        return self._max_requests

    @property
    def deferred(self) -> bool:
        """What caio 0.12's ``deferred=`` keyword asked of the backend Context (``False`` by default)."""
        if self._context is not None:
            return bool(getattr(self._context, "deferred", False))
        return bool(self._context_kwargs.get("deferred", False))

    @property
    def context(self) -> Any:
        """The backend Context (created on first access)."""
        return self._backend_context()

    @property
    def closed(self) -> bool:
        """True once ``close()`` or ``aclose()`` has started."""
        return self._state is not _State.OPEN

    @property
    def in_flight(self) -> int:
        """Operations submitted to the backend and not yet completed."""
        return self._in_flight

    # -- internals ---------------------------------------------------------------

    def _backend_context(self) -> Any:
        context = self._context
        if context is None:
            if self._state is not _State.OPEN:
                raise ValueError("I/O operation on closed context.")
            context = self._context = self._context_class(max_requests=self._max_requests, **self._context_kwargs)
        return context

    def _backend_classes(self) -> tuple[Any, Any]:
        """The ``Context`` and ``Operation`` classes of a context this adapter creates."""
        return self.CONTEXT_CLASS, self.OPERATION_CLASS

    def _hand_over(self, op: Any, future: Any) -> None:
        """Submit ``op`` (its callback set) now, or queue it first in line if the backend is full."""
        try:
            accepted = self._context.submit(op)
        except ContextFullError:  # a context smaller than max_requests: op waits its turn
            accepted = 0
        if not accepted:
            if self._in_flight == 0:
                raise OSError(errno.EAGAIN, "the backend context accepted no operation: " + os.strerror(errno.EAGAIN))
            self._waiting.appendleft((op, future))
            return
        self._in_flight += 1

    def _on_readable(self) -> None:
        process_events = self._context.process_events
        while process_events():
            pass

    def _on_done(self, op: Any, future: Any, result: int) -> None:
        self._in_flight -= 1
        if not future.done():
            try:
                future.set_result(op.get_value())
            except Exception as exc:  # noqa: BLE001 - OSError, or what a worker met (OverflowError...): never lost
                future.set_exception(exc)
        self._after_completion()

    def _after_completion(self) -> None:
        """After a completion freed a slot: submit who waits for one, wake ``aclose()`` when idle."""
        if self._waiting and self._state is not _State.CLOSED:
            self._submit_waiting()
        if not self._in_flight and not self._waiting:
            self._wake_aclose()

    def _submit_waiting(self) -> None:
        while self._waiting and self._in_flight < self._max_requests:
            op, future = self._waiting.popleft()
            if future.done():  # its task was cancelled while it waited: never submitted
                self._drop_waiter(op)
                continue
            try:
                self._hand_over(op, future)
            except Exception as exc:  # noqa: BLE001 - delivered to the awaiting task
                future.set_exception(exc)
            if self._waiting and self._waiting[0][0] is op:
                break  # the backend context is full (one smaller than max_requests): a completion resumes this

    def _drop_waiter(self, op: Any) -> None:
        """``op`` waited for a slot and its task was cancelled: it is never submitted.

        A compiled adapter core releases its buffers here at once; by default
        they go when the operation is collected.
        """

    def _wake_aclose(self) -> None:
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _close_backend(self, closed_error: type[BaseException]) -> None:
        """The loop-independent end of ``close()``: fail the queued callers, close or drain the backend.

        The queued callers get ``closed_error("I/O operation on closed context.")``.
        A context this adapter created is closed (which runs the callbacks of
        what was in flight); a context it was given is drained of this
        adapter's operations and left open.
        """
        while self._waiting:
            _, future = self._waiting.popleft()
            if not future.done():
                future.set_exception(closed_error("I/O operation on closed context."))
        context = self._context
        if context is None:
            return
        if self._owns_context:
            context.close()  # runs the callbacks of what was in flight
        else:
            while self._in_flight and context.process_events():
                pass
        self._wake_aclose()
