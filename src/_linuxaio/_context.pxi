# The base of every compiled backend's Context (the shared core): the fields
# and Python surface all of them have, and the eventfd replacement after
# fork. Included at module level by a backend's .pyx before its Context
# class; declared by _context_decl.pxi. The including module provides:
# lxa_eventfd_open, lxa_eventfd_drain, lxa_eventfd_signal, dup3, O_CLOEXEC, c_close, _errno, os.

from libc.errno cimport errno as _c_errno
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

import sys
import threading

from .abstract import PROCESS_EVENTS_DEFAULT, PROCESS_EVENTS_LIMIT, ContextFullError, Fileno

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    enum:
        POLLIN


cdef double _monotonic() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef Py_ssize_t _events_limit(object max_requests) except -1:
    """``process_events``' ``max_requests`` checked as caio 0.12's; 0 stays 0 (no limit)."""
    limit = _args.as_int(max_requests, "max_requests")
    if limit < 0:
        raise ValueError(f"max_requests must not be negative, got {limit}")
    if limit > PROCESS_EVENTS_LIMIT:
        raise OverflowError(f"max_requests must be at most {PROCESS_EVENTS_LIMIT}, got {limit}")
    return limit


cdef int _raise_full(Py_ssize_t accepted, Py_ssize_t max_requests) except -1:
    """``submit()``'s end when an operation found no room: ``ContextFullError`` (caio 0.12 raises there)."""
    raise ContextFullError(accepted, max_requests)


cdef class _ContextCore:
    """Fields and Python surface shared by the compiled backends' ``Context`` classes."""

    def __cinit__(self, *args, **kwargs):
        self._efd = -1

    cdef int _check_live(self) except -1:
        if self._closed:
            raise ContextClosedError("I/O operation on closed context.")
        return 0

    cdef Py_ssize_t _deliver_ready(self, Py_ssize_t limit) except -1:
        raise NotImplementedError

    cdef Py_ssize_t _deliver_counted(self, Py_ssize_t limit, bint waiting) except -1:
        """``_deliver_ready`` for ``process_events``/``flush``: counted, so a waiter on another thread sees them."""
        cdef Py_ssize_t n = self._deliver_ready(limit)
        self._delivered += n
        if n and self._waiters and not waiting and not self._closed:
            # A thread waiting in process_events(min_requests=...) counts
            # these as caio 0.12 does; the signal they came with is drained.
            lxa_eventfd_signal(self._efd)
        return n

    @property
    def fileno(self):
        """The eventfd that becomes readable when completions are pending.

        An ``int`` (caio 0.12's attribute) that can also be called:
        ``ctx.fileno()`` gives the same number. ``ValueError`` after ``close()``.
        """
        self._check_live()
        return Fileno(self._efd)

    @property
    def deferred(self):
        """What caio 0.12's ``deferred=`` asked for; no effect on these backends (submission is immediate)."""
        return self._deferred

    @property
    def sqpoll(self):
        """Always ``False``: no io_uring kernel polling thread on this backend (caio 0.12's keyword)."""
        return False

    def process_events(self, max_requests=0, min_requests=0, timeout=0):
        """Run the callbacks of up to ``max_requests`` completed operations here; return how many ran.

        caio 0.12's signature. ``max_requests=0`` (the default) runs every
        completion there is (caio bounds it at 512; nothing here needs a bound).
        With ``min_requests > 0`` it waits, without the GIL, until that many
        callbacks ran or ``timeout`` seconds passed (``0``: no wait, negative:
        no limit). Never blocks otherwise. Completions left over by the limit
        keep the eventfd readable. A raising callback does not stop the
        others; the first exception is re-raised after all of them ran.
        Raises ``ValueError`` for ``min_requests > max_requests`` or negative
        counts, ``OverflowError`` for ``max_requests`` above ``2**20``.
        """
        cdef Py_ssize_t limit, wanted, total
        cdef double wait, deadline = 0, left
        cdef int rc, ms
        cdef pollfd pfd
        if min_requests is 0 and timeout is 0:  # the common call: no waiting
            if max_requests is 0:
                return self._deliver_counted(0, False)
            return self._deliver_counted(_events_limit(max_requests), False)
        limit = _events_limit(max_requests)
        wanted = _args.as_int(min_requests, "min_requests")
        if wanted < 0:
            raise ValueError(f"min_requests must not be negative, got {wanted}")
        if wanted > (limit or PROCESS_EVENTS_DEFAULT):
            raise ValueError(f"min_requests ({wanted}) must not exceed max_requests ({limit or PROCESS_EVENTS_DEFAULT})")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
        wait = timeout
        base = self._delivered
        total = self._deliver_counted(limit, False)
        if wanted == 0 or wait == 0:
            return total
        if wait > 0:
            deadline = _monotonic() + wait
        # Callbacks run by other threads meanwhile (flush, process_events)
        # count too, as in caio 0.12: the wait ends, returning only ours.
        self._waiters += 1
        try:
            while self._delivered - base < wanted and not self._closed:
                ms = -1
                if wait > 0:
                    left = deadline - _monotonic()
                    if left <= 0:
                        break
                    ms = <int>(left * 1000) + 1
                pfd.fd = self._efd
                pfd.events = POLLIN
                pfd.revents = 0
                with nogil:
                    rc = poll(&pfd, 1, ms)
                if rc < 0 and _c_errno != _errno.EINTR:
                    raise OSError(_c_errno, os.strerror(_c_errno))
                if rc > 0 and not self._closed:
                    total += self._deliver_counted(limit - total if limit else 0, True)
        finally:
            self._waiters -= 1
        return total

    def flush(self):
        """Run the callbacks of the completed operations here; return how many ran (caio 0.12's ``linux_uring`` method).

        caio's ``submit`` on io_uring only fills the ring and ``flush()``
        hands it to the kernel; here ``submit`` already does, so ``flush()``
        is ``process_events()`` with no limit. Every backend has it, so code
        written for caio's io_uring runs on whichever backend is selected.
        """
        if self._closed:
            return 0
        return self._deliver_counted(0, False)

    def poll(self):
        """Read and reset the completion signal (caio 0.12's ``poll``); never blocks.

        Returns the eventfd's counter; raises ``BlockingIOError`` when it is 0.
        The completions themselves stay for ``process_events()``.
        """
        self._check_live()
        cdef int64_t value = lxa_eventfd_drain(self._efd)
        if value < 0:
            raise OSError(<int>-value, os.strerror(<int>-value))
        if value == 0:
            raise BlockingIOError(_errno.EAGAIN, os.strerror(_errno.EAGAIN))
        return value

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


cdef int _run_reaper(object run, str name) except -1:
    """Run a dropped context's reaper (``run``) on a daemon thread: it waits for I/O still in flight.

    At interpreter exit no thread can start (``Thread.start()`` would wait for
    ever), so it runs here: it waits only for regular-file I/O (the pool
    completes what waits on a pipe or socket with ``-ECANCELED``).
    """
    if sys.is_finalizing():
        run()
    else:
        threading.Thread(target=run, name=name, daemon=True).start()
    return 0


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
