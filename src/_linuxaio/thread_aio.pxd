# Cython declarations of thread_aio: cimport them to drive the C pool's
# operations and contexts from other Cython code.
from libc.stdint cimport int64_t
from posix.uio cimport iovec

from lxa_pool cimport lxa_job, lxa_pool


cdef class Operation:
    # The pool's job; job.user points back at this object while submitted.
    cdef lxa_job job
    cdef int kind            # what the operation does (OpCode values)
    cdef int state           # _NEW, _CHECKING, _QUEUED, _DONE
    cdef int64_t early_result  # < 0: failed before reaching the pool (e.g. -ENOMEM)
    cdef int64_t nbytes_
    cdef object payload_     # see the `payload` property
    cdef object callback
    cdef object adapter      # asyncio fast path: the AsyncioContext to notify, or None
    cdef object future       # asyncio fast path: the future to resolve
    cdef Py_buffer view      # write/readinto: the caller's buffer, held until completion
    cdef bint has_view
    cdef Py_buffer *views    # readv/writev: one per buffer, held until completion
    cdef Py_ssize_t nviews
    cdef iovec *iov
    cdef object __weakref__

    cdef void _complete(self) noexcept
    cdef object _value(self)
    cdef void _release_buffers(self) noexcept


cdef class Context:
    cdef lxa_pool *pool      # NULL once closed (or handed to a reaper)
    cdef int efd             # the eventfd the pool signals; -1 once closed
    cdef Py_ssize_t max_requests_
    cdef unsigned pool_size_
    cdef Py_ssize_t in_flight_
    cdef bint closed_
    cdef list early          # operations completed without reaching the pool
    cdef bint inline_reads   # try small reads from the page cache on the submitting thread
    cdef int inline_skip     # submissions left before the next try (after a miss)
    cdef int inline_backoff  # the last skip length: doubles per miss, resets on a hit
    cdef object __weakref__

    cdef int _check_fork(self) except -1
    cdef int _adopt_after_fork(self) except -1
    cdef int _live(self) except -1
    cdef int _submit_one(self, Operation op) except -1
    cdef int _complete_early(self, Operation op) except -1
    cdef bint _try_inline(self, Operation op) except -1
    cdef int _accept_one(self, Operation op) except -1
    cdef Py_ssize_t _process(self) except -1
    cdef int _abandon(self) except -1
