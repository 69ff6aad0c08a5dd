"""The trio adapter: any backend's ``Context`` driven from a trio run (and anyio on trio).

``TrioContext`` keeps the shared adapter logic of ``adapter_base`` (slots,
back-pressure, lifecycle) and adds what trio needs:

* **One completion task per context.** At first use inside a run, the adapter
  binds to that run and starts a system task that waits for the backend's
  eventfd (``trio.lowlevel.wait_readable``) and delivers completions
  (``process_events``) until the adapter closes or the run ends. When the run
  ends, that task closes the adapter (and the backend context it created), so
  a context is never kept past its run.
* **No thread hop on the inline path.** An operation goes to the backend at
  once, alone, through the compiled backends' ``_inline_submit``: a read of
  cached data or a guarded small write completes inside the call, and the
  coroutine goes on after one ``cancel_shielded_checkpoint`` (a schedule
  point). Everything else parks the task until its completion arrives.
* **Checkpoints.** Every awaitable operation is a checkpoint: it starts with
  ``checkpoint_if_cancelled`` and either parks (cancellable) or ends with
  ``cancel_shielded_checkpoint``.
* **Cancellation by cancel scopes.** A task parked on an operation the
  backend holds is not released early: its buffer stays alive and its slot
  taken until the backend is done. The adapter asks the backend to withdraw
  the operation (``Context.cancel``: an operation no thread or kernel has
  started completes with ``ECANCELED``). Then: an operation that did not take
  effect (withdrawn, or a positional read of a seekable file whose data
  nobody will see) raises ``trio.Cancelled``; one that took effect (a write, a
  rename, a read that consumed data from a pipe or socket...) returns its
  result and the cancellation is delivered at the next checkpoint, as trio's
  own ``to_thread.run_sync`` does; an ``openat`` that completed has the fd it
  opened closed and raises ``trio.Cancelled``. An operation still waiting for
  a slot is dropped, never submitted, and raises ``trio.Cancelled`` at once.
* **After close**: ``ClosedContextError`` (a ``trio.ClosedResourceError``
  and a ``ValueError``, as the other adapters raise).

``submit_future(op)`` returns a ``TrioFuture`` (the part of
``asyncio.Future``'s interface that ``aiofile`` uses): awaiting it from a
task whose scope is cancelled cancels the future, not the operation.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Callable, Generator, Iterable
from functools import partial
from typing import Any

import outcome
import trio

from .adapter_base import AdapterBase, _State
from .fsops import AT_FDCWD

__all__ = ["ClosedContextError", "TrioContext", "TrioFuture"]

log = logging.getLogger(__name__)


class ClosedContextError(trio.ClosedResourceError, ValueError):
    """An operation on a closed ``TrioContext``: a ``trio.ClosedResourceError`` and a ``ValueError``."""


_CLOSED_MESSAGE = "I/O operation on closed context."

# What a completion does to a task whose cancel scope was cancelled while it waited.
_DELIVER = 0  # the operation took effect: its outcome is returned (Cancelled at the next checkpoint)
_DISCARD = 1  # it did not take effect that anyone can see (a read): trio.Cancelled now
_CLOSE_FD = 2  # openat: close the fd it opened, trio.Cancelled now
_CLOSE_LISTING = 3  # listdirat: close the directory fd it left open (if any), trio.Cancelled now

#: Per file-system operation, what a cancelled awaiter gets (default: ``_DELIVER``).
_FS_POLICY = {
    "openat": _CLOSE_FD,
    "listdirat": _CLOSE_LISTING,
    "statx": _DISCARD,
    "readlinkat": _DISCARD,
    "faccessat": _DISCARD,
    "statvfs": _DISCARD,
    "getcwd": _DISCARD,
}

_PENDING = 0
_FINISHED = 1
_CANCELLED = 2


class TrioFuture:
    """A one-shot result inside a trio run: the subset of ``asyncio.Future`` that aiofile uses.

    ``done``/``cancelled``/``result``/``exception``/``cancel``,
    ``set_result``/``set_exception``, ``add_done_callback``/
    ``remove_done_callback`` (callbacks run when the future is resolved, on
    the run's thread; one added to a finished future runs at once), and
    ``await``: a finished future is a schedule point; a pending one parks the
    task, and a cancelled scope cancels the future (as cancelling an asyncio
    task cancels the future it awaits), not the work behind it.
    """

    __slots__ = (
        "_adapter",
        "_callbacks",
        "_exception",
        "_op",
        "_op_wait",
        "_policy",
        "_raise_cancel",
        "_result",
        "_state",
        "_tasks",
    )

    def __init__(self) -> None:
        self._state = _PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[TrioFuture], object]] | None = None
        self._tasks: list[Any] | None = None  # tasks parked on it
        # Set for the operation of an adapter coroutine whose awaiter is parked uncancellably:
        self._policy = _DELIVER
        self._raise_cancel: Any = None
        self._adapter: TrioContext | None = None
        self._op: Any = None  # the operation behind it while the backend holds it
        self._op_wait = False  # a task waits in _wait_operation: it is rescheduled with the outcome

    # -- asyncio.Future's surface ------------------------------------------------------

    def done(self) -> bool:
        """True once a result, an exception or a cancellation is set."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        """True if ``cancel()`` resolved it."""
        return self._state == _CANCELLED

    def result(self) -> Any:
        """The result; raises the exception set (``CancelledError`` if cancelled, ``InvalidStateError`` if pending)."""
        if self._state == _FINISHED:
            if self._exception is not None:
                raise self._exception
            return self._result
        import asyncio

        if self._state == _CANCELLED:
            raise asyncio.CancelledError
        raise asyncio.InvalidStateError("Result is not set.")

    def exception(self) -> BaseException | None:
        """The exception set, or ``None``; raises as ``result()`` if cancelled or pending."""
        if self._state == _FINISHED:
            return self._exception
        self.result()
        return None  # pragma: no cover - result() raised

    def cancel(self, msg: object = None) -> bool:
        """Resolve as cancelled (if pending); the work behind it goes on. Returns whether it changed."""
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self._wake()
        return True

    def set_result(self, result: Any) -> None:
        """Resolve with ``result`` (``asyncio.InvalidStateError`` if already done)."""
        self._check_pending()
        self._result = result
        self._resolve()

    def set_exception(self, exception: BaseException) -> None:
        """Resolve with ``exception`` (``asyncio.InvalidStateError`` if already done)."""
        self._check_pending()
        self._exception = exception
        self._resolve()

    def add_done_callback(self, callback: Callable[[TrioFuture], object], *, context: object = None) -> None:
        """Call ``callback(self)`` when resolved (now, if it is)."""
        if self._state != _PENDING:
            _call(callback, self)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)

    def remove_done_callback(self, callback: Callable[[TrioFuture], object]) -> int:
        """Forget ``callback``; returns how many were removed."""
        callbacks = self._callbacks
        if not callbacks:
            return 0
        kept = [cb for cb in callbacks if cb != callback]
        self._callbacks = kept
        return len(callbacks) - len(kept)

    def get_loop(self) -> None:
        """There is no asyncio loop in a trio run: ``None``."""
        return None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait(cancel_on_abort=True).__await__()

    def __repr__(self) -> str:
        state = ("pending", "finished", "cancelled")[self._state]
        return f"<TrioFuture {state}>"

    # -- waiting -----------------------------------------------------------------------

    async def _wait(self, cancel_on_abort: bool) -> Any:
        """Wait for the outcome; with ``cancel_on_abort`` a cancelled scope cancels this future, else stops the wait."""
        if self._state == _PENDING:
            task = trio.lowlevel.current_task()
            if self._tasks is None:
                self._tasks = []
            self._tasks.append(task)

            def abort(raise_cancel: Any) -> Any:
                tasks = self._tasks
                if tasks is not None and task in tasks:
                    tasks.remove(task)
                if cancel_on_abort:
                    self.cancel()
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
            await trio.lowlevel.cancel_shielded_checkpoint()
        return self.result()

    def shielded(self) -> Any:
        """Await the outcome; a cancelled scope stops the wait, not this future (``asyncio.shield``)."""
        return self._wait(cancel_on_abort=False)

    async def _wait_operation(self) -> Any:
        """Wait for the adapter operation behind this future; see the module docstring for cancellation."""
        if self._state == _PENDING:
            self._tasks = [trio.lowlevel.current_task()]
            self._op_wait = True
            return await trio.lowlevel.wait_task_rescheduled(self._abort_operation)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return self.result()

    def _abort_operation(self, raise_cancel: Any) -> Any:
        adapter = self._adapter
        assert adapter is not None
        for entry in adapter._waiting:
            if entry[1] is self:  # still waiting for a slot: never submitted
                adapter._waiting.remove(entry)
                self._state = _CANCELLED
                self._tasks = None
                return trio.lowlevel.Abort.SUCCEEDED
        self._raise_cancel = raise_cancel
        op = self._op
        context = adapter._context
        if op is not None and context is not None and not context.closed:
            try:
                context.cancel(op)  # withdrawn if no thread or kernel has started it
            except Exception:  # noqa: BLE001 - not withdrawn: it completes normally
                pass
        return trio.lowlevel.Abort.FAILED

    # -- internals ---------------------------------------------------------------------

    def _check_pending(self) -> None:
        if self._state != _PENDING:
            import asyncio

            raise asyncio.InvalidStateError(f"invalid state: {self!r}")

    def _resolve(self) -> None:
        self._state = _FINISHED
        if self._raise_cancel is not None:
            self._apply_cancel_policy()
        self._op = None
        self._wake()

    def _apply_cancel_policy(self) -> None:
        # The parked task's scope was cancelled while the operation ran.
        exc = self._exception
        if self._policy in (_CLOSE_FD, _CLOSE_LISTING):
            if exc is None:
                adapter = self._adapter
                assert adapter is not None
                fd = self._result if self._policy == _CLOSE_FD else self._result[0]
                if fd >= 0:
                    adapter._close_orphan_fd(fd)
        elif not (isinstance(exc, OSError) and exc.errno == errno.ECANCELED) and (
            self._policy == _DELIVER or (exc is None and not _positional(self._op))
        ):
            return  # it took effect (a read of a pipe consumed data): returned; Cancelled at the next checkpoint
        self._exception = outcome.capture(self._raise_cancel).error
        self._result = None

    def _wake(self) -> None:
        tasks, self._tasks = self._tasks, None
        if tasks:
            if self._op_wait:
                exc = self._exception
                trio.lowlevel.reschedule(tasks[0], outcome.Value(self._result) if exc is None else outcome.Error(exc))
            else:
                for task in tasks:
                    trio.lowlevel.reschedule(task)
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            for callback in callbacks:
                _call(callback, self)


def _call(callback: Callable[[TrioFuture], object], future: TrioFuture) -> None:
    try:
        callback(future)
    except Exception:  # as asyncio does: logged, the others still run
        log.exception("exception in a TrioFuture callback %r", callback)


class TrioContext(AdapterBase):
    """Awaitable I/O over a backend Context, bound to one trio run.

    Args:
        max_requests: operations in flight at once (default 512). Callers
            past it wait their turn; nothing fails for being over it.
        context: an already created backend Context to drive instead of
            creating one. The adapter does not close a context it was given.
        backend: the backend of the context it creates (``"linux"``,
            ``"uring"``, ``"thread"``, ``"python"``); default: the selected one
            (``_linuxaio.selected_backend()``).
        **context_kwargs: passed to the backend's ``Context`` (e.g. ``pool_size``).

    It binds to the trio run of its first use and closes when that run ends
    (or at ``close()``/``aclose()``); using it from another run raises
    ``RuntimeError``. Cancellation of every awaitable method: see the module
    docstring (the buffer lives until the backend is done; an operation that
    took effect returns its result, then the cancellation is delivered at the
    next checkpoint; one that did not raises ``trio.Cancelled``).
    """

    def __init__(
        self, max_requests: int | None = None, *, context: Any = None, backend: str | None = None, **context_kwargs: Any
    ) -> None:
        self._backend_name = backend
        super().__init__(max_requests, context=context, **context_kwargs)
        self._token: Any = None
        self._reader_fd = -1
        self._bound_pid = 0
        self._driving = False
        self._batch: list[Any] = []
        self._inline_submit: Any = None
        #: Drain the eventfd after an inline completion when nothing else is in flight
        #: (linux_aio signals it for every kernel completion, even one reaped inline).
        self._quiet_inline = False
        self._companion: TrioContext | None = None

    def _backend_classes(self) -> tuple[Any, Any]:
        from . import _backend_module, selected_backend

        module = _backend_module(self._backend_name or selected_backend().name)
        return module.Context, module.Operation

    # -- introspection -----------------------------------------------------------

    @property
    def trio_token(self) -> Any:
        """The ``trio.lowlevel.TrioToken`` of the run this adapter is bound to, or ``None`` before first use."""
        return self._token

    # -- operations --------------------------------------------------------------

    async def read(self, nbytes: int, fd: int, offset: int = 0, priority: int = 0) -> bytes:
        """Read up to ``nbytes`` at ``offset``; returns the bytes read (short at EOF). Cancelled: ``trio.Cancelled``."""
        result: bytes = await self._run(self._operation_class.read(nbytes, fd, offset, priority), _DISCARD)
        return result

    async def write(self, payload: Any, fd: int, offset: int = 0, priority: int = 0) -> int:
        """Write ``payload`` (any buffer, not copied) at ``offset``; returns the bytes written (one system call).

        Cancelled while the backend holds it: the count is returned if it was
        written, ``trio.Cancelled`` if it was withdrawn.
        """
        result: int = await self._run(self._operation_class.write(payload, fd, offset, priority), _DELIVER)
        return result

    async def readinto(self, buffer: Any, fd: int, offset: int = 0) -> int:
        """Read into the caller's writable ``buffer``; returns the bytes read.

        The buffer belongs to the operation until it completes, even if the
        task's scope is cancelled (then ``trio.Cancelled``).
        """
        result: int = await self._run(self._operation_class.readinto(buffer, fd, offset), _DISCARD)
        return result

    async def readv(self, buffers: Iterable[Any], fd: int, offset: int = 0) -> int:
        """Scatter-read into ``buffers`` in order; returns the total bytes read. Cancelled: ``trio.Cancelled``."""
        result: int = await self._run(self._operation_class.readv(buffers, fd, offset), _DISCARD)
        return result

    async def writev(self, buffers: Iterable[Any], fd: int, offset: int = 0) -> int:
        """Gather-write ``buffers`` in order; returns the total bytes written. Cancellation: as ``write``."""
        result: int = await self._run(self._operation_class.writev(buffers, fd, offset), _DELIVER)
        return result

    async def fsync(self, fd: int) -> None:
        """fsync(2) of ``fd``. Cancellation: as ``write``."""
        await self._run(self._operation_class.fsync(fd), _DELIVER)

    async def fdsync(self, fd: int) -> None:
        """fdatasync(2) of ``fd``. Cancellation: as ``write``."""
        await self._run(self._operation_class.fdsync(fd), _DELIVER)

    async def submit(self, op: Any) -> Any:
        """Submit ``op`` and return ``op.get_value()`` once it completes. Cancellation: as ``write``."""
        return await self._run(op, _DELIVER)

    def submit_future(self, op: Any) -> TrioFuture:  # type: ignore[override]  # not an asyncio.Future
        """Submit ``op`` now; the returned ``TrioFuture`` resolves to ``op.get_value()``.

        Must be called inside the bound trio run. Raises ``TypeError`` for an
        operation of another backend, ``ClosedContextError`` after close.
        Cancelling the future (or a scope around its awaiter) does not stop
        the operation; its slot is freed when it completes.
        """
        future = TrioFuture()
        if self._start(op, future):
            try:
                value = op.get_value()
            except Exception as exc:  # noqa: BLE001 - OSError, or what a worker met: never lost
                future.set_exception(exc)
            else:
                future.set_result(value)
        return future

    def start_operation(self, op: Any) -> TrioFuture:
        """``submit_future(op)``: a future even when ``op`` completed inside the submission.

        ``AsyncioContextBase.start_operation`` may return the completed ``op``
        itself so that the caller skips the ``await``; under trio that ``await``
        is the operation's checkpoint, so it is always there to take.
        """
        return self.submit_future(op)

    # -- the file-system operations (FsOpsMixin's coroutines call these) ----------

    async def _fs_run(self, name: str, *args: Any) -> Any:
        constructor = getattr(self._operation_class, name, None)
        if constructor is None:
            if self.closed:
                raise ClosedContextError(_CLOSED_MESSAGE)
            return await self._fs_companion()._fs_run(name, *args)
        return await self._run(constructor(*args), _FS_POLICY.get(name, _DELIVER))

    def _fs_future(self, name: str, *args: Any) -> Any:
        constructor = getattr(self._operation_class, name, None)
        if constructor is None:
            return self._fs_companion()._fs_future(name, *args)
        return self.submit_future(constructor(*args))

    async def openat(self, path: Any, flags: int, mode: int = 0o777, dir_fd: int = AT_FDCWD) -> int:
        """openat(2) (``O_CLOEXEC`` added); returns the new fd.

        Cancellation: an open that completes after the task's scope was
        cancelled has its fd closed, and ``trio.Cancelled`` is raised.
        """
        fd: int = await self._fs_run("openat", path, flags, mode, dir_fd)
        return fd

    async def listdirat(
        self, path: Any, flags: int = 0, dir_fd: int = AT_FDCWD, nbytes: int = 65536, keep_open: bool = False
    ) -> tuple[int, bytes, bool]:
        """Open a directory and read its raw records in one job: ``(fd, records, at_end)``.

        Cancellation: a job that completes after the task's scope was
        cancelled has the fd it left open closed, and ``trio.Cancelled`` is raised.
        """
        result: tuple[int, bytes, bool] = await self._fs_run("listdirat", path, flags, dir_fd, nbytes, keep_open)
        return result

    def _fs_companion(self) -> TrioContext:
        """A python_aio adapter of the same run for the operations this backend lacks (closed with this one)."""
        companion = self._companion
        if companion is None or companion.closed:
            companion = self._companion = TrioContext(backend="python")
        return companion

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Close now: in-flight operations finish (this call waits for them), queued ones fail.

        Callers still waiting for a slot get ``ClosedContextError``. The
        completion task stops; a context this adapter created is closed, which
        blocks the calling thread until in-flight I/O is done (use ``aclose()``
        to wait without blocking the run). Idempotent.
        """
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._batch and self._context is not None and not self._context.closed:
            self._submit_batch()
        fd, self._reader_fd = self._reader_fd, -1
        if fd >= 0 and self._bound_pid == os.getpid():
            try:
                trio.lowlevel.notify_closing(fd)  # wakes the completion task
            except RuntimeError:  # not inside the run (it ended): nobody waits on it
                pass
        self._close_backend(ClosedContextError)
        companion, self._companion = self._companion, None
        if companion is not None:
            companion.close()

    async def aclose(self) -> None:
        """Stop accepting, wait for every submitted and queued operation, then close.

        Cancellation: if the scope is cancelled, the adapter still closes (as
        ``close()``) before ``trio.Cancelled`` propagates.
        """
        if self._state is _State.CLOSED:
            await trio.lowlevel.checkpoint()
            return
        self._state = _State.CLOSING
        try:
            while self._in_flight or self._waiting:
                drained = self._drained = TrioFuture()
                await drained.shielded()
            await trio.lowlevel.checkpoint()
        finally:
            self._drained = None
            self.close()

    async def __aenter__(self) -> TrioContext:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__module__}.{type(self).__qualname__} state={self._state.value} "
            f"in_flight={self._in_flight} waiting={len(self._waiting)} max_requests={self._max_requests}>"
        )

    # -- internals ---------------------------------------------------------------

    async def _run(self, op: Any, policy: int) -> Any:
        """Submit ``op`` and wait for it as a checkpoint (see the module docstring)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        future = TrioFuture()
        if self._start(op, future):
            await trio.lowlevel.cancel_shielded_checkpoint()
            return op.get_value()
        future._policy = policy
        return await future._wait_operation()

    def _start(self, op: Any, future: TrioFuture) -> bool:
        """Hand ``op`` over for ``future``: True if it completed inside the call (``future`` untouched)."""
        token = trio.lowlevel.current_trio_token()
        if token is not self._token:
            self._bind(token)
        if self._state is not _State.OPEN:
            raise ClosedContextError(_CLOSED_MESSAGE)
        if type(op) is not self._operation_class:
            raise TypeError(f"expected {self._operation_class.__qualname__}, not {type(op).__name__}")
        future._adapter = self
        future._op = op
        if self._in_flight < self._max_requests and not self._waiting:
            inline = self._inline_submit
            if inline is not None and not self._driving:
                try:
                    if inline(self._context, op):
                        future._op = None
                        if self._quiet_inline and not self._context.in_flight:
                            self._mute()
                        return True
                except BlockingIOError:  # the backend context is smaller than max_requests
                    op.set_callback(partial(self._on_done, op, future))
                    self._waiting.append((op, future))
                    return False
                self._in_flight += 1
                op.attach_callback(partial(self._on_done, op, future))
                return False
            op.set_callback(partial(self._on_done, op, future))
            self._hand_over(op, future)
        else:
            op.set_callback(partial(self._on_done, op, future))
            self._waiting.append((op, future))
        return False

    def _mute(self) -> None:
        """Take back the eventfd signal of a completion already delivered inline.

        Without it the completion task wakes for nothing after every inline
        operation (an epoll report, a task switch, an eventfd read and a
        re-arm); with nothing in flight no other completion can be swallowed.
        """
        try:
            self._context.poll()
        except BlockingIOError:
            pass

    def _hand_over(self, op: Any, future: Any) -> None:
        if self._driving:  # inside a completion callback: submitted when the callbacks are done
            self._in_flight += 1
            self._batch.append((op, future))
            return
        super()._hand_over(op, future)

    def _submit_batch(self) -> None:
        batch, self._batch = self._batch, []
        self._in_flight -= len(batch)
        for op, future in batch:
            try:
                super()._hand_over(op, future)
            except Exception as exc:  # noqa: BLE001 - delivered to the awaiting task
                if not future.done():
                    future.set_exception(exc)

    def _close_orphan_fd(self, fd: int) -> None:
        """Close an fd opened for a task that was cancelled meanwhile."""
        try:
            closing = self._fs_future("close_fd", fd)
        except (ValueError, RuntimeError):  # closed, or outside the run: nothing will run it
            os.close(fd)
            return
        closing.add_done_callback(_consume)

    def _bind(self, token: Any) -> None:
        if self._state is not _State.OPEN:
            raise ClosedContextError(_CLOSED_MESSAGE)
        if self._token is not None:
            raise RuntimeError(f"{type(self).__name__} is bound to a different trio run")
        context = self._backend_context()
        fd = context.fileno  # an int attribute (caio 0.12) or a method (older protocol)
        self._reader_fd = int(fd() if callable(fd) else fd)
        module = sys.modules.get(type(context).__module__)
        inline = getattr(module, "_inline_submit", None)
        if inline is not None and type(context) is getattr(module, "Context", None):
            self._inline_submit = inline
            # Only a context of our own: with nothing of ours in flight, nothing else can signal it.
            self._quiet_inline = self._owns_context and getattr(module, "__name__", "").endswith(".linux_aio")
        self._token = token
        self._bound_pid = os.getpid()
        trio.lowlevel.spawn_system_task(self._completions, name=f"{type(self).__name__} completions")

    async def _completions(self) -> None:
        """The system task: deliver completions when the eventfd is readable; close the adapter when the run ends."""
        try:
            while self._state is not _State.CLOSED:
                fd = self._reader_fd
                if fd < 0:
                    return
                try:
                    await trio.lowlevel.wait_readable(fd)
                except trio.ClosedResourceError:
                    return
                try:
                    self._deliver()
                except Exception:  # a callback failed; the others ran, the task goes on
                    log.exception("exception delivering completions of %r", self)
        finally:
            if self._state is not _State.CLOSED:
                self.close()  # the run is ending (or delivery failed): release the backend context

    def _deliver(self) -> None:
        if self._driving:
            return
        self._driving = True
        try:
            process_events = self._context.process_events
            while True:
                delivered = process_events()
                if self._batch:
                    self._submit_batch()
                elif not delivered:
                    return
        finally:
            self._driving = False


def _positional(op: Any) -> bool:
    """Is ``op`` a read whose data nobody loses if it is dropped (a seekable fd: nothing consumed)?"""
    fd = getattr(op, "fileno", -1)
    if not isinstance(fd, int) or fd < 0:
        return True  # not an fd read (statx...): nothing consumed
    try:
        os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return False  # a pipe, FIFO, socket or tty: the data it read is gone from there
    return True


def _consume(future: TrioFuture) -> None:
    if not future.cancelled():
        future.exception()
