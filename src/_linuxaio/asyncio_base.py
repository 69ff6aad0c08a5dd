"""The asyncio adapter: one class that drives any Context from an event loop.

``AsyncioContextBase`` turns operations into futures. The backend's eventfd
is registered once with ``loop.add_reader``; when it fires, the adapter calls
``process_events()`` until nothing is left (the eventfd is only a hint), and
the completion callbacks resolve futures there, on the loop thread.

Invariants:

* ``_in_flight`` counts operations handed to the backend whose callback has
  not run. It only goes down in that callback, so a slot is freed when the
  kernel or worker is really done, never when an awaiting task is cancelled.
* Callers past ``max_requests`` wait in ``_waiting`` (back-pressure, never an
  error); they are submitted in order as slots free up.
* The adapter binds to the running loop at first use, not at construction,
  and releases its backend context when that loop closes, when the loop is
  garbage-collected without being closed (a ``weakref.finalize`` on the
  loop that holds the backend context, never the adapter), or at
  interpreter exit if its loop is neither running nor closed then (so no
  loop/adapter cycle is left for the last garbage collection of interpreter
  teardown, when module globals are gone).
* Fork: in a child process, an adapter bound in the parent forgets the
  parent's loop (an ``os.register_at_fork`` hook) without touching it: after
  ``fork()`` the child shares the parent's epoll instance, so removing the
  reader there would remove the parent's registration. Using it in the child
  raises ``RuntimeError`` before anything is submitted; closing it releases
  only the child's copy of the backend context.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import types
import weakref
from collections.abc import Generator, Iterable
from functools import partial
from typing import Any

from . import _loop_close
from .adapter_base import AdapterBase
from .adapter_base import _State as _State  # re-exported: the compiled adapters import it from here

__all__ = ["AsyncioContextBase"]


class AsyncioContextBase(AdapterBase):
    """Awaitable I/O over a backend Context, bound to one event loop.

    Args:
        max_requests: operations in flight at once (default 512). Callers
            past it wait their turn; nothing fails for being over it.
        loop: the loop to bind to. By default the running loop at first use.
        context: an already created backend Context to drive instead of
            creating one. The adapter does not close a context it was given.
        **context_kwargs: passed to the backend's ``Context`` (e.g. ``pool_size``).

    Cancellation (every awaitable method): cancelling the awaiting task does
    not stop the operation. Its buffer stays alive and its slot stays taken
    until the backend completes it; a cancelled write may still land. An
    operation still waiting for a slot when its task is cancelled is never
    submitted.
    """

    def __init__(
        self,
        max_requests: int | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        context: Any = None,
        **context_kwargs: Any,
    ) -> None:
        super().__init__(max_requests, context=context, **context_kwargs)
        self._requested_loop = loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader_fd = -1
        self._bound_pid = 0  # the process that bound the loop
        self._parent_pid = 0  # set in a forked child: the process whose loop this adapter was bound to
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- introspection -----------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop this adapter is bound to, or ``None`` before first use."""
        return self._loop

    # -- operations --------------------------------------------------------------

    async def read(self, nbytes: int, fd: int, offset: int = 0, priority: int = 0) -> bytes:
        """Read up to ``nbytes`` at ``offset``; resolves to the bytes read (short at EOF)."""
        result: bytes = await self.submit_future(self._operation_class.read(nbytes, fd, offset, priority))
        return result

    async def write(self, payload: Any, fd: int, offset: int = 0, priority: int = 0) -> int:
        """Write ``payload`` (any buffer, not copied) at ``offset``; resolves to bytes written.

        One system call: the count may be short. The payload must not change
        until the future resolves.
        """
        result: int = await self.submit_future(self._operation_class.write(payload, fd, offset, priority))
        return result

    async def readinto(self, buffer: Any, fd: int, offset: int = 0) -> int:
        """Read into the caller's writable ``buffer``; resolves to the bytes read.

        With a page-aligned buffer (e.g. an ``mmap``) this works on an
        ``O_DIRECT`` fd. The buffer belongs to the operation until it resolves,
        even if the awaiting task is cancelled.
        """
        result: int = await self.submit_future(self._operation_class.readinto(buffer, fd, offset))
        return result

    async def readv(self, buffers: Iterable[Any], fd: int, offset: int = 0) -> int:
        """Scatter-read into ``buffers`` in order; resolves to the total bytes read."""
        result: int = await self.submit_future(self._operation_class.readv(buffers, fd, offset))
        return result

    async def writev(self, buffers: Iterable[Any], fd: int, offset: int = 0) -> int:
        """Gather-write ``buffers`` in order; resolves to the total bytes written."""
        result: int = await self.submit_future(self._operation_class.writev(buffers, fd, offset))
        return result

    async def fsync(self, fd: int) -> None:
        """Flush ``fd``'s data and metadata to storage (fsync(2))."""
        result: None = await self.submit_future(self._operation_class.fsync(fd))
        return result

    async def fdsync(self, fd: int) -> None:
        """Flush ``fd``'s data to storage (fdatasync(2))."""
        result: None = await self.submit_future(self._operation_class.fdsync(fd))
        return result

    async def submit(self, op: Any) -> Any:
        """Submit ``op`` and return ``op.get_value()`` once it completes.

        Raises ``OSError`` with the errno of a failed operation; see
        ``submit_future`` for the argument errors.
        """
        return await self.submit_future(op)

    def submit_future(self, op: Any) -> asyncio.Future[Any]:
        """Submit ``op`` now; the returned future resolves to ``op.get_value()``.

        The operation is handed to the backend before this returns, unless
        ``max_requests`` are in flight, in which case it waits its turn.
        Raises ``TypeError`` for an operation of another backend, ``ValueError``
        for one already submitted or after close, ``RuntimeError`` outside the
        bound loop. A failed operation sets ``OSError`` with its errno on the
        future.
        """
        loop = self._bound_loop()
        if self._state is not _State.OPEN:
            raise ValueError("I/O operation on closed context.")
        if type(op) is not self._operation_class:
            raise TypeError(f"expected {self._operation_class.__qualname__}, not {type(op).__name__}")
        future = loop.create_future()
        op.set_callback(partial(self._on_done, op, future))
        if self._in_flight < self._max_requests and not self._waiting:
            self._hand_over(op, future)
        else:
            self._waiting.append((op, future))
        return future

    def start_operation(self, op: Any) -> Any:
        """Submit ``op`` if it may go now, for callers that avoid a future when it completes at once.

        Returns ``op`` itself when it has already completed (its
        ``get_value()`` is the result or raises the error), else a future as
        ``submit_future`` gives, or ``None`` when the adapter asks the caller
        to yield to the loop first (its inline time in this loop iteration
        is used up): ``op`` was then not submitted; call again after
        yielding, or hand it to ``submit_future``. Raises as
        ``submit_future``. This default returns ``submit_future(op)``;
        adapters that complete operations inside the submission (the
        compiled backends) return ``op`` for them, with no future at all.
        """
        return self.submit_future(op)

    def slice_wait(self) -> Any:
        """What to await after ``start_operation`` returned ``None``, before calling it again.

        This default yields to the loop once. The compiled adapters give the
        coroutines told to yield in one loop iteration turns at the next
        slices instead (``_AdapterCore.slice_wait``). Cancellation: nothing
        was submitted; the caller's operation is simply not started.
        """
        return yield_to_loop()

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Close now: in-flight operations finish (this call waits for them), queued ones fail.

        Operations still waiting for a slot fail with ``ValueError``. The
        reader is removed, and a context this adapter created is closed,
        which blocks the calling thread until in-flight I/O is done; use
        ``aclose()`` from a coroutine to wait without blocking the loop.
        Idempotent.
        """
        if self._state is _State.CLOSED:
            return
        self._check_process()
        self._state = _State.CLOSED
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        _BOUND.discard(self)
        loop, self._loop = self._loop, None
        if loop is not None:
            _loop_close.cancel(loop, id(self))
            if not loop.is_closed():
                loop.remove_reader(self._reader_fd)
        self._close_backend(ValueError)

    async def aclose(self) -> None:
        """Stop accepting, wait for every submitted and queued operation, then close.

        Cancellation: if the awaiting task is cancelled, the adapter still
        closes (as ``close()``) before the cancellation propagates.
        """
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSING
        try:
            while self._in_flight or self._waiting:
                self._drained = asyncio.get_running_loop().create_future()
                await self._drained
        finally:
            self._drained = None
            self.close()

    async def __aenter__(self) -> AsyncioContextBase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        if self._parent_pid:
            return (
                f"<{type(self).__module__}.{type(self).__qualname__} state={self._state.value} "
                f"bound in process {self._parent_pid} max_requests={self._max_requests}>"
            )
        return (
            f"<{type(self).__module__}.{type(self).__qualname__} state={self._state.value} "
            f"in_flight={self._in_flight} waiting={len(self._waiting)} max_requests={self._max_requests}>"
        )

    # -- internals ---------------------------------------------------------------

    def _bound_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return loop
        if self._state is not _State.OPEN:
            raise ValueError("I/O operation on closed context.")
        if self._parent_pid:
            raise RuntimeError(
                f"{type(self).__name__} is bound to an event loop of process {self._parent_pid} "
                f"(this is a forked child, process {os.getpid()}): create a new one in this process"
            )
        if self._loop is not None or (self._requested_loop not in (None, loop)):
            raise RuntimeError(f"{type(self).__name__} is bound to a different event loop")
        context = self._backend_context()
        fd = context.fileno  # an int attribute (caio 0.12) or a method (older protocol)
        self._reader_fd = fd() if callable(fd) else fd
        loop.add_reader(self._reader_fd, self._on_readable)
        self._loop = loop
        self._bound_pid = os.getpid()
        _BOUND.add(self)
        _loop_close.call_on_close(loop, id(self), self.close)
        if self._owns_context:
            # A loop dropped without close() and collected releases the context.
            # The finalizer holds the context, never the adapter (which holds the loop).
            try:
                self._finalizer = weakref.finalize(loop, context.close)
            except TypeError:  # a loop that is not weak-referenceable: close() or exit releases it
                pass
            else:
                self._finalizer.atexit = False  # exit is _close_at_exit's
        return loop

    def _check_process(self) -> None:
        """Forget the parent's loop if this is a child forked without the at-fork hook (a bare fork(2))."""
        if self._bound_pid and self._bound_pid != os.getpid():
            self._forget_parent_loop()

    def _forget_parent_loop(self) -> None:
        """In a forked child: forget the parent's loop, its reader and its waiters without touching them."""
        self._parent_pid = self._bound_pid
        self._bound_pid = 0
        self._loop = None
        self._reader_fd = -1
        self._waiting.clear()  # the parent's callers: their tasks live on the parent's loop
        self._drained = None
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()


#: Adapters bound to a loop in this process and not closed.
_BOUND: weakref.WeakSet[AsyncioContextBase] = weakref.WeakSet()


@types.coroutine
def yield_to_loop() -> Generator[None, None, None]:
    """Let the loop run one iteration (what ``asyncio.sleep(0)`` does, without its checks)."""
    yield


@types.coroutine
def await_turn(adapter: Any, waiter: asyncio.Future[None]) -> Generator[Any, None, None]:
    """Wait for ``waiter`` (a turn at the inline slice), then tell ``adapter`` that the turn has begun."""
    yield from waiter
    adapter._new_turn()


def _forget_parent_loops() -> None:
    """``os.register_at_fork(after_in_child=...)``: no adapter may touch the parent's loop here."""
    for adapter in list(_BOUND):
        adapter._forget_parent_loop()


def _close_at_exit() -> None:
    """At interpreter exit, close what the program left bound to a loop that is not running.

    Otherwise the loop and its adapter (each refers to the other) are only
    collected by the last garbage collection of interpreter teardown, when
    module globals are already gone and their finalizers fail noisily. A
    child process closes the contexts it inherited (its own copies only).
    """
    for adapter in list(_BOUND):
        loop = adapter._loop
        if loop is not None and loop.is_running():
            continue
        try:
            adapter.close()
        except Exception:  # noqa: BLE001 - exit goes on; the kernel releases the rest with the process
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_loops)
atexit.register(_close_at_exit)
