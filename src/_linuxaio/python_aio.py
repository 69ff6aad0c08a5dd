"""Pure-Python backend: a thread pool running ``os.pread``/``os.pwrite``/``os.fsync``.

This is the readable reference every compiled backend must match (see
``abstract.py`` for the contract). Workers run the system calls, queue the
finished operations and signal an eventfd when that queue goes from empty to
non-empty; ``process_events()`` runs the callbacks on the calling thread.

Cancellation: ``cancel()`` removes operations that no worker has started;
they complete with ``-ECANCELED`` and, for a write, leave the file untouched.
An operation already running finishes and its write lands.

Non-seekable files (pipes, FIFOs, character devices, sockets) fail ``pread``
with ``ESPIPE``; they are then read and written at the current position with
``os.read``/``os.write``.
"""

from __future__ import annotations

import collections
import enum
import errno
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from . import _args
from ._notify import EventFDNotifier, make_notifier
from ._python_fs import FS_OPCODES, FsOperations, run_fs
from .abstract import (
    PROCESS_EVENTS_DEFAULT,
    PROCESS_EVENTS_LIMIT,
    AbstractContext,
    AbstractOperation,
    ArgumentTypeError,
    ContextClosedError,
    ContextFullError,
    Fileno,
    OperationInFlightError,
)

__all__ = ["Context", "OpCode", "Operation", "probe"]

BACKEND = "python"
DEFAULT_MAX_REQUESTS = 32
DEFAULT_POOL_SIZE = 8
MAX_POOL_SIZE = 1024


class OpCode(enum.IntEnum):
    """What an operation does."""

    READ = 0
    WRITE = 1
    FSYNC = 2
    FDSYNC = 3
    READINTO = 4
    READV = 5
    WRITEV = 6


class _State(enum.IntEnum):
    NEW = 0
    QUEUED = 1
    RUNNING = 2
    DONE = 3


def probe() -> None:
    """The pure-Python backend works wherever Python has threads."""


class Operation(FsOperations, AbstractOperation):
    """One I/O request. Build it with a class method, submit it once.

    ``payload`` is the object whose memory the operation uses: the caller's
    buffer for writes and ``readinto``, the list of buffers for vectored
    operations, and the bytes read (``None`` until completion) for ``read``.
    """

    __slots__ = (
        "__weakref__",
        "_callback",
        "_error",
        "_fd",
        "_nbytes",
        "_offset",
        "_payload",
        "_result",
        "_state",
        "_views",
        "opcode",
    )

    def __init__(self, opcode: OpCode, fd: int, offset: int, nbytes: int, payload: Any, views: Any) -> None:
        self.opcode = opcode
        self._fd = fd
        self._offset = offset
        self._nbytes = nbytes
        self._payload = payload
        self._views = views
        self._callback: Callable[[int], Any] | None = None
        self._result = 0
        self._error: BaseException | None = None
        self._state = _State.NEW

    @classmethod
    def read(cls, nbytes: int, fd: int, offset: int = 0, priority: int = 0) -> Operation:
        """Read up to ``nbytes`` at ``offset``; ``get_value()`` returns the bytes read."""
        size = _args.check_size(nbytes)
        fd, offset = _args.check_fd(fd), _args.check_offset(offset)
        _args.check_priority(priority)
        return cls(OpCode.READ, fd, offset, size, None, None)

    @classmethod
    def write(cls, payload: Any, fd: int, offset: int = 0, priority: int = 0) -> Operation:
        """Write ``payload`` (any buffer, not copied) at ``offset``; value: bytes written."""
        view = _args.readable_view(payload)
        fd, offset = _args.check_fd(fd), _args.check_offset(offset)
        _args.check_priority(priority)
        return cls(OpCode.WRITE, fd, offset, view.nbytes, payload, view)

    @classmethod
    def readinto(cls, buffer: Any, fd: int, offset: int = 0, priority: int = 0) -> Operation:
        """Read into the caller's writable ``buffer``; value: bytes read."""
        view = _args.writable_view(buffer)
        fd, offset = _args.check_fd(fd), _args.check_offset(offset)
        _args.check_priority(priority)
        return cls(OpCode.READINTO, fd, offset, view.nbytes, buffer, view)

    @classmethod
    def readv(cls, buffers: Iterable[Any], fd: int, offset: int = 0, priority: int = 0) -> Operation:
        """Scatter-read into ``buffers`` in order (preadv(2)); value: bytes read."""
        buffers, views = _args.writable_views(buffers)
        fd, offset = _args.check_fd(fd), _args.check_offset(offset)
        _args.check_priority(priority)
        return cls(OpCode.READV, fd, offset, sum(v.nbytes for v in views), buffers, views)

    @classmethod
    def writev(cls, buffers: Iterable[Any], fd: int, offset: int = 0, priority: int = 0) -> Operation:
        """Gather-write ``buffers`` in order (pwritev(2)); value: bytes written."""
        buffers, views = _args.readable_views(buffers)
        fd, offset = _args.check_fd(fd), _args.check_offset(offset)
        _args.check_priority(priority)
        return cls(OpCode.WRITEV, fd, offset, sum(v.nbytes for v in views), buffers, views)

    @classmethod
    def fsync(cls, fd: int, priority: int = 0) -> Operation:
        """Flush data and metadata of ``fd`` to storage (fsync(2))."""
        fd = _args.check_fd(fd)
        _args.check_priority(priority)
        return cls(OpCode.FSYNC, fd, 0, 0, None, None)

    @classmethod
    def fdsync(cls, fd: int, priority: int = 0) -> Operation:
        """Flush the data of ``fd`` to storage (fdatasync(2))."""
        fd = _args.check_fd(fd)
        _args.check_priority(priority)
        return cls(OpCode.FDSYNC, fd, 0, 0, None, None)

    @property
    def fileno(self) -> int:
        """The file descriptor the operation works on."""
        return self._fd

    @property
    def offset(self) -> int:
        """The file offset of the transfer (0 for syncs)."""
        return self._offset

    @property
    def nbytes(self) -> int:
        """The number of bytes requested (0 for syncs)."""
        return self._nbytes

    @property
    def payload(self) -> Any:
        """The memory the operation reads into or writes from.

        Raises ``OperationInFlightError`` while the operation is in flight.
        """
        if self._state in (_State.QUEUED, _State.RUNNING):
            raise OperationInFlightError(f"operation in flight: {self!r}")
        return self._payload

    @property
    def done(self) -> bool:
        """True once the operation has completed and its callback ran."""
        return self._state == _State.DONE

    def set_callback(self, callback: Callable[[int], Any]) -> bool:
        """Call ``callback(result)`` once on completion; ``result`` is a count or ``-errno``."""
        if not callable(callback):
            raise ArgumentTypeError(f"callback must be callable, not {type(callback).__name__}")
        if self._state != _State.NEW:
            raise ValueError(f"operation already submitted: {self!r}")
        self._callback = callback
        return True

    def get_value(self) -> bytes | int | None:
        """The result; raises ``OSError`` for a failed operation.

        Before submission: ``ValueError``; in flight: ``OperationInFlightError``.
        """
        if self._state != _State.DONE:
            if self._state == _State.NEW:
                raise ValueError("operation has not been submitted")
            raise OperationInFlightError(f"operation in flight: {self!r}")
        if self._error is not None:
            raise self._error
        if self._result < 0:
            code = -self._result
            raise OSError(code, os.strerror(code))
        if self.opcode == OpCode.READ or self.opcode in FS_OPCODES:
            data: bytes = self._payload
            return data
        if self.opcode in (OpCode.FSYNC, OpCode.FDSYNC):
            return None
        return self._result

    def __repr__(self) -> str:
        return (
            f"<{type(self).__module__}.Operation {self.opcode.name.lower()} fd={self._fd} "
            f"offset={self._offset} nbytes={self._nbytes} state={self._state.name.lower()}>"
        )


def _run(op: Operation, pool: _Pool) -> int:
    """Perform ``op`` on the calling thread; return the count or ``-errno``."""
    code, fd = op.opcode, op._fd
    if code in FS_OPCODES:
        return run_fs(op)
    try:
        try:
            if code == OpCode.READ:
                data = os.pread(fd, op._nbytes, op._offset)
                op._payload = data
                return len(data)
            if code == OpCode.WRITE:
                return os.pwrite(fd, op._views, op._offset)
            if code == OpCode.READINTO:
                return os.preadv(fd, [op._views], op._offset)
            if code == OpCode.READV:
                return os.preadv(fd, op._views, op._offset)
            if code == OpCode.WRITEV:
                return os.pwritev(fd, op._views, op._offset)
            if code == OpCode.FSYNC:
                os.fsync(fd)
                return 0
            os.fdatasync(fd)
            return 0
        except OSError as exc:
            if exc.errno != errno.ESPIPE:
                raise
        # read(2)/write(2) on a pipe, FIFO or socket may block for ever: close()
        # does not wait for such an operation (see _Pool.shutdown).
        with pool.lock:
            pool.streaming.add(op)
            if not pool.accepting:
                # A shutdown() that began while this op was "running" waits for
                # it; it may stop waiting now (it never waits for a stream).
                pool.work.notify_all()
        try:
            return _run_unpositioned(op)
        finally:
            with pool.lock:
                pool.streaming.discard(op)
    except OSError as exc:
        return -(exc.errno or errno.EIO)
    except (MemoryError, OverflowError):  # OverflowError: nbytes beyond what bytes can hold
        return -errno.ENOMEM
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is reported, never lost
        op._error = exc
        return -errno.EIO


def _run_unpositioned(op: Operation) -> int:
    """Non-seekable file: transfer at the current position (read(2)/write(2))."""
    code, fd = op.opcode, op._fd
    if code == OpCode.READ:
        data = os.read(fd, op._nbytes)
        op._payload = data
        return len(data)
    if code == OpCode.WRITE:
        return os.write(fd, op._views)
    if code == OpCode.READINTO:
        return os.readv(fd, [op._views])
    if code == OpCode.READV:
        return os.readv(fd, op._views)
    if code == OpCode.WRITEV:
        return os.writev(fd, op._views)
    raise OSError(errno.ESPIPE, os.strerror(errno.ESPIPE))


class _Pool:
    """The state shared by a context and its workers.

    Workers hold this object, never the Context, so an abandoned Context can
    be collected (and warn) while its workers finish. Invariants, under
    ``lock``: every submitted operation is in exactly one of ``queue``
    (waiting for a worker), running on a worker (``running``;
    ``streaming`` holds those blocked in read(2)/write(2) on a non-seekable
    fd), or ``done`` (waiting for ``process_events``); ``in_flight`` counts
    them all. Once ``closed``, completions are dropped and never signalled:
    the notifier's fd may already be closed and its number reused.
    """

    def __init__(self, pool_size: int) -> None:
        self.pool_size = pool_size
        self.pid = os.getpid()
        self.notifier = make_notifier()
        self._reset_threading()

    def _reset_threading(self) -> None:
        self.lock = threading.Lock()
        self.work = threading.Condition(self.lock)
        self.completed = threading.Condition(self.lock)  # process_events(min_requests=...) waits here
        self.queue: collections.deque[Operation] = collections.deque()
        self.done: list[Operation] = []
        self.taken = 0  # completions taken by _process, on any thread (waiters count them)
        self.threads: list[threading.Thread] = []
        self.idle = 0
        self.running: set[Operation] = set()
        self.streaming: set[Operation] = set()
        self.exited: list[threading.Thread] = []  # workers that returned, for shutdown() to join
        self.in_flight = 0
        self.accepting = True
        self.closed = False

    def after_fork(self) -> None:
        """In a forked child: no worker exists here; fail what the parent had in flight."""
        orphans = [*self.queue, *self.running, *self.done]
        self._reset_threading()
        self.notifier.reopen()
        self.pid = os.getpid()
        for op in orphans:
            op._result = -errno.ECANCELED
        self.done = orphans
        self.in_flight = len(orphans)
        if orphans:
            self.notifier.signal()

    def start_workers(self) -> None:
        """Called under ``lock``: one more worker per queued op nobody is idle for."""
        needed = min(len(self.queue) - self.idle, self.pool_size - len(self.threads))
        for _ in range(needed):
            thread = threading.Thread(target=_worker, args=(self,), name=f"python_aio-{len(self.threads)}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def complete(self, op: Operation, result: int, *, ran: bool = True) -> None:
        with self.lock:
            if ran:
                self.running.discard(op)
                if not self.accepting:
                    self.work.notify_all()  # shutdown() waits for this
            if self.closed:  # abandoned at close: already reported as cancelled
                return
            op._result = result
            was_empty = not self.done
            self.done.append(op)
            self.completed.notify_all()
            if was_empty:
                # Under the lock: once a waiter can see this completion it may
                # close the context, and the notifier with it (see ``closed``).
                self.notifier.signal()

    def shutdown(self) -> None:
        """Stop accepting and wait for queued and running operations.

        An operation blocked in read(2)/write(2) on a non-seekable fd (an
        empty pipe, say) can wait for ever, so it is not waited for: it
        completes now with ``-ECANCELED`` while its worker keeps the
        operation, and so its buffer, alive until the call returns; what it
        transfers then is dropped. Queued operations that no free worker is
        left to run complete with ``-ECANCELED`` too. Never blocks on those.
        """
        with self.lock:
            self.accepting = False
            self.work.notify_all()
            while True:
                if len(self.running) > len(self.streaming):
                    self.work.wait()  # finite work in progress
                elif self.queue and len(self.threads) > len(self.streaming):
                    self.work.wait()  # a free worker will take it
                else:
                    break
            abandoned = [*self.streaming, *self.queue]
            self.queue.clear()
            for op in abandoned:
                op._result = -errno.ECANCELED
                self.done.append(op)
            self.closed = True
            self.completed.notify_all()
            # Every worker but those blocked on a pipe or socket is leaving: wait
            # for them, so close() returns with the threads gone, not going.
            if self.pid == os.getpid():
                while len(self.threads) - len(self.exited) > len(self.streaming):
                    self.work.wait()
            leaving = list(self.exited)
        current = threading.current_thread()
        for thread in leaving:
            if thread is not current:
                thread.join()


def _worker(pool: _Pool) -> None:
    while True:
        with pool.work:
            while not pool.queue and pool.accepting:
                pool.idle += 1
                pool.work.wait()
                pool.idle -= 1
            if not pool.queue:
                pool.exited.append(threading.current_thread())
                pool.work.notify_all()  # shutdown() joins the workers that are leaving
                return
            op = pool.queue.popleft()
            op._state = _State.RUNNING
            pool.running.add(op)
        pool.complete(op, _run(op, pool))


class Context(AbstractContext):
    """python aio context implementation: a pool of ``pool_size`` threads.

    Args:
        max_requests: operations that may be in flight at once; ``submit``
            accepts no more (it returns how many it took).
        pool_size: worker threads, started lazily as work arrives.
        deferred: caio 0.12's batching keyword, accepted and reported by the
            ``deferred`` attribute; a thread pool has nothing to batch.
        sqpoll: caio 0.12's io_uring keyword, accepted; no kernel polling
            thread exists here, so the ``sqpoll`` attribute is ``False``.

    After ``fork()`` the child's context starts fresh workers and a fresh
    eventfd (same fd number) at first use; operations the parent had in
    flight complete in the child with ``-ECANCELED``.
    """

    def __init__(
        self,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        pool_size: int = DEFAULT_POOL_SIZE,
        deferred: bool = False,
        sqpoll: bool = False,
    ) -> None:
        max_requests = _args.check_max_requests(max_requests)
        pool_size = _args.check_pool_size(pool_size, MAX_POOL_SIZE)
        self._max_requests = max_requests
        self._deferred = bool(deferred)
        self._pool = _Pool(pool_size)
        self._closed = False

    @property
    def max_requests(self) -> int:
        """The most operations in flight at once."""
        return self._max_requests

    @property
    def pool_size(self) -> int:
        """The most worker threads."""
        return self._pool.pool_size

    @property
    def deferred(self) -> bool:
        """What ``deferred=`` asked for (no effect on a thread pool)."""
        return self._deferred

    @property
    def sqpoll(self) -> bool:
        """Whether a kernel submission-polling thread is in use: never here."""
        return False

    @property
    def closed(self) -> bool:
        """True once ``close()`` has started."""
        return self._closed

    @property
    def in_flight(self) -> int:
        """Operations submitted whose callbacks have not run yet."""
        return self._pool.in_flight

    def _live_pool(self) -> _Pool:
        if self._closed:
            raise ContextClosedError("I/O operation on closed context.")
        pool = self._pool
        if pool.pid != os.getpid():
            pool.after_fork()
        return pool

    @property
    def fileno(self) -> Fileno:
        """The eventfd, readable when completions are pending: an ``int`` (``fileno()`` works too)."""
        return Fileno(self._live_pool().notifier.fileno())

    def submit(self, *ops: Operation) -> int:
        """Queue ``ops`` in order; return how many were queued.

        Raises ``TypeError`` for a foreign object before any operation is
        queued. An operation already submitted (in flight or completed, here
        or on another context, or earlier in this call) is skipped and not
        counted, as in caio 0.12. When the context is full the rest are left
        untouched and ``ContextFullError`` is raised (the ``RuntimeError``
        caio raised; its ``accepted`` says how many were queued).
        """
        pool = self._live_pool()
        for op in ops:
            if not isinstance(op, Operation):
                raise ArgumentTypeError(f"expected a python_aio.Operation, not {type(op).__name__}")
        accepted = 0
        full = False
        with pool.lock:
            room = self._max_requests - pool.in_flight
            for op in ops:
                with _CLAIM:  # one submitter wins an operation, whichever context it uses
                    if op._state != _State.NEW:
                        continue
                    if accepted >= room:
                        full = True
                        break
                    op._state = _State.QUEUED
                pool.queue.append(op)
                accepted += 1
            if accepted:
                pool.in_flight += accepted
                pool.start_workers()
                pool.work.notify(accepted)
        if full:
            raise ContextFullError(accepted, self._max_requests)
        return accepted

    def cancel(self, *ops: Operation) -> int:
        """Withdraw operations no worker has started; they complete with ``-ECANCELED``."""
        pool = self._live_pool()
        cancelled = []
        with pool.lock:
            for op in ops:
                if isinstance(op, Operation) and op._state == _State.QUEUED:
                    pool.queue.remove(op)
                    op._state = _State.RUNNING
                    cancelled.append(op)
        for op in cancelled:
            pool.complete(op, -errno.ECANCELED, ran=False)
        return len(cancelled)

    def process_events(
        self,
        max_requests: int = PROCESS_EVENTS_DEFAULT,
        min_requests: int = 0,
        timeout: float = 0,
    ) -> int:
        """Run the callbacks of up to ``max_requests`` completed operations here; return how many.

        With ``min_requests > 0`` it first waits until that many completions
        are there, for at most ``timeout`` seconds (``0``: no wait, negative:
        no limit), without holding the GIL. ``max_requests=0`` means the
        default (512). A raising callback does not stop the others; the first
        exception is re-raised after all of them ran.

        Raises ``ValueError`` for ``min_requests > max_requests`` or negative
        counts, ``OverflowError`` for ``max_requests`` above ``2**20``.
        """
        limit, wanted, wait = _process_args(max_requests, min_requests, timeout)
        pool = self._pool
        if pool.pid != os.getpid():
            pool.after_fork()
        if wanted and wait != 0:
            _wait_for_completions(pool, wanted, wait)
        return _process(pool, limit)

    def flush(self) -> int:
        """Run the callbacks of the completed operations here; return how many ran (caio 0.12's ``linux_uring`` method).

        caio's ``submit`` on io_uring only fills the ring and ``flush()``
        hands it to the kernel; here ``submit`` already does, so ``flush()``
        is ``process_events()`` with no limit. Every backend has it, so code
        written for caio's io_uring runs on whichever backend is selected.
        """
        if self._closed:
            return 0
        pool = self._pool
        if pool.pid != os.getpid():
            pool.after_fork()
        return _process(pool)

    def poll(self) -> int:
        """Read and reset the completion signal (caio's ``poll``); never blocks.

        Returns the signal's counter (how many times it was raised since the
        last read, not a count of operations); raises ``BlockingIOError``
        when it was not raised. ``process_events()`` runs the completions.
        """
        notifier = self._live_pool().notifier
        if isinstance(notifier, EventFDNotifier):
            return os.eventfd_read(notifier.fileno())
        return len(os.read(notifier.fileno(), 4096))

    def close(self) -> None:
        """Stop accepting, let queued and running operations finish, run their callbacks.

        Idempotent. Blocks the calling thread until the operations on regular
        files are done; one blocked on a pipe, FIFO or socket completes with
        ``-ECANCELED`` instead of being waited for (see ``_Pool.shutdown``).
        """
        if self._closed:
            return
        pool = self._pool
        if pool.pid != os.getpid():
            pool.after_fork()
        self._closed = True
        pool.shutdown()
        try:
            _process(pool)
        finally:
            pool.notifier.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        warnings.warn(f"unclosed context {self!r}", ResourceWarning, source=self, stacklevel=2)
        pool = self._pool
        self._closed = True
        if pool.pid != os.getpid() or sys.is_finalizing():
            # At interpreter exit no thread can start, and a daemon worker may
            # have been stopped holding the lock: the workers end with the process.
            return
        with pool.lock:
            idle = not pool.queue and not pool.running
        if idle:  # nothing to wait for: free now (shutdown() returns at once)
            _close_when_idle(pool)
        else:
            # The finalizer must not block: a helper thread waits for the work in
            # progress (the operations keep their buffers until then), then frees.
            threading.Thread(target=_close_when_idle, args=(pool,), daemon=True).start()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"in_flight={self._pool.in_flight}"
        return f"<_linuxaio.python_aio.Context max_requests={self._max_requests} {state}>"


#: Serialises the NEW -> QUEUED claim of an operation across contexts.
_CLAIM = threading.Lock()


def _process_args(max_requests: object, min_requests: object, timeout: object) -> tuple[int, int, float]:
    """``process_events``' arguments checked as caio 0.12's: ``(limit, wanted, timeout)``."""
    limit = _args.as_int(max_requests, "max_requests")
    wanted = _args.as_int(min_requests, "min_requests")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if limit < 0 or wanted < 0:
        raise ValueError(f"max_requests and min_requests must not be negative, got {limit} and {wanted}")
    if limit > PROCESS_EVENTS_LIMIT:
        raise OverflowError(f"max_requests must be at most {PROCESS_EVENTS_LIMIT}, got {limit}")
    limit = limit or PROCESS_EVENTS_DEFAULT
    if wanted > limit:
        raise ValueError(f"min_requests ({wanted}) must not exceed max_requests ({limit})")
    return limit, wanted, float(timeout)


def _wait_for_completions(pool: _Pool, wanted: int, timeout: float) -> None:
    """Wait until ``wanted`` completions are queued, the pool closes or ``timeout`` (< 0: never) ends."""
    deadline = None if timeout < 0 else time.monotonic() + timeout
    with pool.completed:
        # Completions another thread takes meanwhile count too, as in caio 0.12.
        base = pool.taken
        while len(pool.done) + pool.taken - base < wanted and not pool.closed:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            pool.completed.wait(remaining)


def _process(pool: _Pool, limit: int | None = None) -> int:
    pool.notifier.drain()  # before taking the queue: see _notify's docstring
    with pool.lock:
        if limit is None or len(pool.done) <= limit:
            done, pool.done = pool.done, []
        else:
            done, pool.done = pool.done[:limit], pool.done[limit:]
        pool.in_flight -= len(done)
        if pool.done:  # the rest waits for the next call: keep the signal up
            pool.notifier.signal()
        if done:
            pool.taken += len(done)
            pool.completed.notify_all()
    first_error: BaseException | None = None
    for op in done:
        op._state = _State.DONE
        callback, op._callback = op._callback, None
        if callback is None:
            continue
        try:
            callback(op._result)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after every callback ran
            if first_error is None:
                first_error = exc
    if first_error is not None:
        raise first_error
    return len(done)


def _close_when_idle(pool: _Pool) -> None:
    pool.shutdown()
    with pool.lock:
        pool.done = []
    pool.notifier.close()
