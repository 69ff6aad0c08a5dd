# The base of every compiled backend's Context (the shared core): the fields
# and Python surface all of them have, and the eventfd replacement after
# fork. Included at module level by a backend's .pyx before its Context
# class; declared by _context_decl.pxi. The including module provides:
# lxa_eventfd_open, dup3, O_CLOEXEC, c_close, _errno, os.


cdef class _ContextCore:
    """Fields and Python surface shared by the compiled backends' ``Context`` classes."""

    def __cinit__(self, *args, **kwargs):
        self._efd = -1

    @property
    def max_requests(self):
        """The most operations in flight at once."""
        return self._max_requests

    @property
    def pool_size(self):
        """The most threads of the C thread pool."""
        return self._pool_size

    @property
    def closed(self):
        """True once ``close()`` has started."""
        return self._closed

    @property
    def in_flight(self):
        """Operations submitted whose callbacks have not run yet."""
        return self._in_flight

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._closed else f"in_flight={self._in_flight}"
        return f"<{type(self).__module__}.{type(self).__qualname__} max_requests={self._max_requests} {state}>"


cdef int _replace_eventfd(int efd) except -1:
    """In a forked child: put a fresh eventfd behind the number ``efd`` (shared with the parent).

    Readers registered on the number stay valid; the new one is CLOEXEC from
    the start. Raises ``OSError`` (nothing changed) if it cannot be done.
    """
    cdef int fresh = lxa_eventfd_open()
    if fresh < 0:
        raise OSError(-fresh, f"eventfd after fork: {os.strerror(-fresh)}")
    if dup3(fresh, efd, O_CLOEXEC) < 0:
        c_close(fresh)
        raise OSError(_errno.EBADF, "cannot replace the eventfd after fork")
    c_close(fresh)
    return 0
