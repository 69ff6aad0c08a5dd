"""The Context protocol: the one contract every backend keeps.

``ContextProtocol`` and ``OperationProtocol`` are structural (``typing.Protocol``)
so a Cython ``cdef class`` conforms without inheriting from anything.
``AbstractContext`` and ``AbstractOperation`` keep the names caio exports;
the pure-Python backend subclasses them. The call shapes are caio 0.12's.

Contract of an operation (all backends):

* One-shot: an operation is carried out at most once. ``submit()`` skips an
  operation already submitted (in flight or completed, or earlier in the
  same call) without an error and does not count it, as caio 0.12 does.
* The callback set with ``set_callback`` is called exactly once, on the thread
  that runs ``Context.process_events()`` or ``Context.close()`` (a backend
  that completes an operation inside ``submit()`` may call it there), with
  the raw result: the byte count (>= 0) or ``-errno``. ``set_callback``
  raises ``ValueError`` once the operation has been submitted (its callback
  belongs to that submission).
* ``get_value()`` after completion returns ``bytes`` for ``read``, the byte
  count for ``readinto``/``readv``/``write``/``writev``, ``None`` for
  ``fsync``/``fdsync``, and raises ``OSError(errno, strerror)`` for a failed
  operation. Before submission it raises ``ValueError``; while the operation
  is in flight, ``get_value()`` and ``payload`` raise ``OperationInFlightError``
  (a ``RuntimeError``, as caio 0.12 raises, and a ``ValueError``): the
  kernel or a worker may still be writing into that memory.
* Every transfer is one system call: a short count is reported as it is.
* The operation keeps its buffer alive until it completes.

Contract of a context:

* ``Context(max_requests=..., pool_size=..., deferred=False, sqpoll=False)``:
  caio 0.12's keywords are accepted by every backend; ``deferred`` (batch
  submissions per loop iteration) and ``sqpoll`` (an io_uring kernel polling
  thread) only change something where the backend has that mechanism, and
  the ``deferred``/``sqpoll`` attributes say what is in effect.
* ``submit(*ops)`` validates every op first (``TypeError``, nothing
  submitted), skips those already submitted, then queues the others in order
  and returns how many it queued. When the context is full, those left for
  lack of room are untouched and may be submitted later; as in caio 0.12,
  ``submit`` then raises ``ContextFullError`` (a ``BlockingIOError`` with
  ``EAGAIN``, and the ``OverflowError``/``RuntimeError`` caio raised), whose
  ``accepted`` says how many it queued, except on ``linux_aio``, which returns
  that count as caio's ``io_submit`` does and raises only when it queued none.
* ``fileno`` is an ``int`` attribute (as in caio 0.12), the eventfd that is
  readable when completions are pending; calling it (``fileno()``, this
  package's earlier form) returns the same number. It is a hint: the reader
  calls ``process_events()`` until it returns 0.
* ``process_events(max_requests=512, min_requests=0, timeout=0)`` runs the
  callbacks of at most ``max_requests`` completed operations on the calling
  thread and returns how many. With ``min_requests > 0`` it first waits,
  without holding the GIL, until that many completions are there, for at
  most ``timeout`` seconds (``0``: do not wait, negative: no limit).
  ``min_requests > max_requests`` is a ``ValueError``, ``max_requests`` above
  ``2**20`` an ``OverflowError``.
* ``poll()`` (caio's, outside ``ContextProtocol`` until every backend has
  it) reads and resets the eventfd's counter: non-zero, or
  ``BlockingIOError`` when nothing was signalled; it never blocks.
* ``cancel(*ops)`` returns how many were cancelled before they started; those
  complete with ``-ECANCELED``. Operations already running finish normally.
* ``close()`` is idempotent: it stops accepting, waits for in-flight
  operations, runs their callbacks, and releases threads and kernel objects.
  After it, ``submit``, ``fileno`` and ``poll`` raise ``ValueError``
  (``ContextClosedError``, also the ``RuntimeError`` caio raised).
* A wrong argument type is a ``TypeError`` (``ArgumentTypeError``, also the
  ``ValueError`` caio raised, for a payload or a callback).
"""

from __future__ import annotations

import abc
import errno
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "PROCESS_EVENTS_DEFAULT",
    "PROCESS_EVENTS_LIMIT",
    "AbstractContext",
    "AbstractOperation",
    "ArgumentTypeError",
    "Callback",
    "ContextClosedError",
    "ContextFullError",
    "ContextProtocol",
    "Fileno",
    "OperationInFlightError",
    "OperationProtocol",
]

#: Called once with the raw result: a byte count (>= 0) or ``-errno``.
Callback = Callable[[int], Any]

#: ``process_events()``'s default ``max_requests`` (also what ``0`` means), and its limit.
PROCESS_EVENTS_DEFAULT = 512
PROCESS_EVENTS_LIMIT = 1 << 20


class OperationInFlightError(RuntimeError, ValueError):
    """``get_value()`` or ``payload`` of an operation still in flight.

    A ``RuntimeError`` as caio 0.12 raises, and a ``ValueError`` like every
    use of an operation that has not completed.
    """


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a payload that is not a buffer, a callback that cannot be called...).

    A ``TypeError`` by the stdlib's convention, and a ``ValueError``, which
    caio 0.12 raised in these places, so ``except ValueError`` written for
    caio still catches it.
    """


class ContextClosedError(ValueError, RuntimeError):
    """Use of a closed context: ``ValueError("I/O operation on closed context.")``.

    Also a ``RuntimeError``, which caio 0.12's thread pools raised after ``close()``.
    """


class ContextFullError(BlockingIOError, OverflowError, RuntimeError):
    """``submit()`` found no room for an operation: ``BlockingIOError(EAGAIN)``.

    The operations before it were queued (``accepted`` says how many); it and
    the rest are untouched and may be submitted again once operations have
    completed. Also an ``OverflowError`` (caio 0.12's ``linux_aio`` and
    ``linux_uring``) and a ``RuntimeError`` (its ``thread_aio`` and
    ``python_aio``), so ``except`` clauses written for caio catch it.
    """

    def __init__(self, accepted: int, max_requests: int) -> None:
        message = f"context full (max_requests={max_requests}): {accepted} operations queued, the rest untouched"
        super().__init__(errno.EAGAIN, message)
        #: How many operations of the call were queued before the context was full.
        self.accepted = accepted


class Fileno(int):
    """A context's eventfd number: an ``int`` (caio 0.12's ``ctx.fileno``) that can also be called.

    ``ctx.fileno()`` returns the same number, so code written for either form works.
    """

    __slots__ = ()

    def __call__(self) -> int:
        return int(self)


@runtime_checkable
class OperationProtocol(Protocol):
    """A single I/O request; see the module docstring for the contract."""

    @classmethod
    def read(cls, nbytes: int, fd: int, offset: int = 0, priority: int = 0) -> OperationProtocol: ...
    @classmethod
    def write(cls, payload: Any, fd: int, offset: int = 0, priority: int = 0) -> OperationProtocol: ...
    @classmethod
    def readinto(cls, buffer: Any, fd: int, offset: int = 0, priority: int = 0) -> OperationProtocol: ...
    @classmethod
    def readv(cls, buffers: Sequence[Any], fd: int, offset: int = 0, priority: int = 0) -> OperationProtocol: ...
    @classmethod
    def writev(cls, buffers: Sequence[Any], fd: int, offset: int = 0, priority: int = 0) -> OperationProtocol: ...
    @classmethod
    def fsync(cls, fd: int, priority: int = 0) -> OperationProtocol: ...
    @classmethod
    def fdsync(cls, fd: int, priority: int = 0) -> OperationProtocol: ...

    @property
    def fileno(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def payload(self) -> Any: ...

    def set_callback(self, callback: Callback) -> bool: ...
    def get_value(self) -> bytes | int | None: ...


@runtime_checkable
class ContextProtocol(Protocol):
    """A bounded queue of operations with an eventfd completion signal."""

    @property
    def max_requests(self) -> int: ...
    @property
    def closed(self) -> bool: ...

    @property
    def fileno(self) -> int: ...

    def submit(self, *ops: Any) -> int: ...
    def cancel(self, *ops: Any) -> int: ...
    def process_events(self, max_requests: int = ..., min_requests: int = ..., timeout: float = ...) -> int: ...
    def close(self) -> None: ...


class AbstractOperation(abc.ABC):
    """caio's abstract operation name; the pure-Python backend subclasses it."""

    __slots__ = ()

    @classmethod
    @abc.abstractmethod
    def read(cls, nbytes: int, fd: int, offset: int = 0, priority: int = 0) -> AbstractOperation: ...

    @classmethod
    @abc.abstractmethod
    def write(cls, payload: Any, fd: int, offset: int = 0, priority: int = 0) -> AbstractOperation: ...

    @classmethod
    @abc.abstractmethod
    def fsync(cls, fd: int, priority: int = 0) -> AbstractOperation: ...

    @classmethod
    @abc.abstractmethod
    def fdsync(cls, fd: int, priority: int = 0) -> AbstractOperation: ...

    @abc.abstractmethod
    def get_value(self) -> bytes | int | None: ...

    @abc.abstractmethod
    def set_callback(self, callback: Callback) -> bool: ...


class AbstractContext(abc.ABC):
    """caio's abstract context name; the pure-Python backend subclasses it."""

    @property
    @abc.abstractmethod
    def max_requests(self) -> int: ...

    @abc.abstractmethod
    def submit(self, *ops: Any) -> int: ...

    @abc.abstractmethod
    def cancel(self, *ops: Any) -> int: ...
