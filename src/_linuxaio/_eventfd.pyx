"""A close-on-exec, non-blocking eventfd: the completion signal of the compiled backends.

Exposed to Python for tests and for code that wants the same primitive the
backends use; the backends include ``csrc/lxa_eventfd.h`` directly.
"""

import os as _os

from libc.stdint cimport int64_t
from lxa_eventfd cimport lxa_eventfd_drain, lxa_eventfd_open, lxa_eventfd_signal


cdef inline _raise_errno(long long rc):
    raise OSError(<int>-rc, _os.strerror(<int>-rc))


cdef class EventFD:
    """An eventfd(2) counter opened with ``EFD_NONBLOCK | EFD_CLOEXEC``.

    ``signal()`` adds one; ``drain()`` reads and resets the counter and
    returns what it held (0 when nothing was pending). ``close()`` is
    idempotent; any other call after it raises ``ValueError``.
    """

    cdef int _fd

    def __cinit__(self):
        self._fd = -1
        cdef int fd = lxa_eventfd_open()
        if fd < 0:
            _raise_errno(fd)
        self._fd = fd

    def __dealloc__(self):
        if self._fd >= 0:
            _os.close(self._fd)
            self._fd = -1

    cdef int _checked_fd(self) except -1:
        if self._fd < 0:
            raise ValueError("I/O operation on closed eventfd.")
        return self._fd

    def fileno(self) -> int:
        """The eventfd's file descriptor."""
        return self._checked_fd()

    def signal(self) -> None:
        """Add 1 to the counter, waking any reader. Never blocks."""
        cdef int fd = self._checked_fd()
        cdef int rc
        with nogil:
            rc = lxa_eventfd_signal(fd)
        if rc < 0:
            _raise_errno(rc)

    def drain(self) -> int:
        """Read and reset the counter; return its value (0 if none pending)."""
        cdef int fd = self._checked_fd()
        cdef int64_t rc
        with nogil:
            rc = lxa_eventfd_drain(fd)
        if rc < 0:
            _raise_errno(rc)
        return rc

    @property
    def closed(self) -> bool:
        """True once ``close()`` has run."""
        return self._fd < 0

    def close(self) -> None:
        """Close the eventfd. Idempotent."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            _os.close(fd)
