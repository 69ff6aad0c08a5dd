"""Argument checks shared by every backend: the same bad input gives the same error.

Each check runs before anything is submitted and raises ``TypeError`` for a
wrong type or ``ValueError`` for a wrong value.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

from .abstract import ArgumentTypeError

#: Largest offset or size the kernel's ``loff_t``/``ssize_t`` can carry.
MAX_INT64 = 2**63 - 1


def as_int(value: object, name: str) -> int:
    """``operator.index(value)`` with a message that names the argument."""
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None


#: The most operations one context may have in flight (every backend: linux_aio and
#: thread_aio keep the same number in their own constants).
MAX_REQUESTS_LIMIT = 1 << 20


def check_max_requests(value: object) -> int:
    """A positive in-flight limit, at most ``MAX_REQUESTS_LIMIT``."""
    count = as_int(value, "max_requests")
    if count <= 0:
        raise ValueError(f"max_requests must be positive, got {count}")
    if count > MAX_REQUESTS_LIMIT:
        raise ValueError(f"max_requests must be at most {MAX_REQUESTS_LIMIT}, got {count}")
    return count


def check_pool_size(value: object, limit: int) -> int:
    """A worker count in ``1..limit``."""
    count = as_int(value, "pool_size")
    if not 0 < count <= limit:
        raise ValueError(f"pool_size must be in 1..{limit}, got {count}")
    return count


def check_fd(fd: object) -> int:
    """A non-negative file descriptor."""
    value = as_int(fd, "fd")
    if value < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({value})")
    if value > 2**31 - 1:
        raise ValueError(f"file descriptor is too large ({value})")
    return value


def check_size(size: object, name: str = "nbytes") -> int:
    """A byte count in ``[0, 2**63)``."""
    value = as_int(size, name)
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    if value > MAX_INT64:
        raise ValueError(f"{name} is too large ({value})")
    return value


def check_offset(offset: object) -> int:
    """A file offset in ``[0, 2**63)``."""
    return check_size(offset, "offset")


#: The largest ``priority``: an ``ioprio`` value is 16 bits (``IOPRIO_PRIO_VALUE(class, data)``).
MAX_PRIORITY = 0xFFFF


def check_priority(priority: object) -> int:
    """An I/O priority as ``ioprio_set(2)`` encodes it, in ``[0, 0xFFFF]`` (0: the thread's own).

    ``linux_uring`` hands it to the kernel with the request (``sqe.ioprio``);
    the kernel refuses an unknown class or level (``EINVAL``) and the
    real-time class without ``CAP_SYS_ADMIN``/``CAP_SYS_NICE`` (``EPERM``).
    The other backends check it and ignore it, as caio 0.12 does.
    """
    value = as_int(priority, "priority")
    if not 0 <= value <= MAX_PRIORITY:
        raise ValueError(f"priority must be an ioprio value in [0, {MAX_PRIORITY:#x}], got {value}")
    return value


def readable_view(obj: object, name: str = "payload") -> memoryview:
    """A flat byte view of any buffer-protocol object, without a copy."""
    try:
        view = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise ArgumentTypeError(f"{name} must be a bytes-like object, not {type(obj).__name__}") from None
    return _flat(view, name)


def writable_view(obj: object, name: str = "buffer") -> memoryview:
    """A flat, writable byte view of ``obj``; read-only buffers are refused."""
    try:
        view = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be a read-write bytes-like object, not {type(obj).__name__}") from None
    if view.readonly:
        raise TypeError(f"{name} must be a read-write bytes-like object, not {type(obj).__name__}")
    return _flat(view, name)


def readable_views(buffers: Iterable[object]) -> tuple[list[object], list[memoryview]]:
    """The buffers as a list and their flat views, for ``writev``."""
    items = _sequence(buffers)
    return items, [readable_view(b, "buffers item") for b in items]


def writable_views(buffers: Iterable[object]) -> tuple[list[object], list[memoryview]]:
    """The buffers as a list and their flat writable views, for ``readv``."""
    items = _sequence(buffers)
    return items, [writable_view(b, "buffers item") for b in items]


def _sequence(buffers: Iterable[object]) -> list[object]:
    if isinstance(buffers, (bytes, bytearray, memoryview, str)):
        raise TypeError("buffers must be a sequence of bytes-like objects")
    try:
        return list(buffers)
    except TypeError:
        raise TypeError(f"buffers must be a sequence of bytes-like objects, not {type(buffers).__name__}") from None


def _flat(view: memoryview, name: str) -> memoryview:
    if not view.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous buffer")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view
