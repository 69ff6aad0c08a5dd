"""The Context protocol: the one contract every backend keeps.

``ContextProtocol`` and ``OperationProtocol`` are structural (``typing.Protocol``)
so a Cython ``cdef class`` conforms without inheriting from anything.
``AbstractContext`` and ``AbstractOperation`` keep the names caio exports;
the pure-Python backend subclasses them.

Contract of an operation (all backends):

* One-shot: an operation is submitted at most once. Submitting it again
  raises ``ValueError`` before anything in the batch is submitted.
* The callback set with ``set_callback`` is called exactly once, on the thread
  that runs ``Context.process_events()`` or ``Context.close()`` (a backend
  that completes an operation inside ``submit()`` may call it there), with
  the raw result: the byte count (>= 0) or ``-errno``. ``set_callback``
  raises ``ValueError`` once the operation has been submitted.
* ``get_value()`` after completion returns ``bytes`` for ``read``, the byte
  count for ``readinto``/``readv``/``write``/``writev``, ``None`` for
  ``fsync``/``fdsync``, and raises ``OSError(errno, strerror)`` for a failed
  operation. Before completion it raises ``ValueError``.
* Every transfer is one system call: a short count is reported as it is.
* The operation keeps its buffer alive until it completes.

Contract of a context:

* ``submit(*ops)`` validates every op first (``TypeError``/``ValueError``, nothing
  submitted), then queues them in order and returns how many it accepted: all
  of them unless the context is full, in which case a prefix; the rest are
  untouched and may be submitted later.
* ``fileno()`` is readable when completions are pending. It is a hint: the
  reader calls ``process_events()`` until it returns 0.
* ``cancel(*ops)`` returns how many were cancelled before they started; those
  complete with ``-ECANCELED``. Operations already running finish normally.
* ``close()`` is idempotent: it stops accepting, waits for in-flight
  operations, runs their callbacks, and releases threads and kernel objects.
  After it, ``submit`` and ``fileno`` raise ``ValueError``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AbstractContext",
    "AbstractOperation",
    "Callback",
    "ContextProtocol",
    "OperationProtocol",
]

#: Called once with the raw result: a byte count (>= 0) or ``-errno``.
Callback = Callable[[int], Any]


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

    def submit(self, *ops: Any) -> int: ...
    def cancel(self, *ops: Any) -> int: ...
    def fileno(self) -> int: ...
    def process_events(self) -> int: ...
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
