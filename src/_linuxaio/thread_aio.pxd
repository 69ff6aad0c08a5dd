# Cython declarations of thread_aio: cimport them to drive the C pool's
# operations and contexts from other Cython code.
from cpython.object cimport PyObject
from libc.stdint cimport int64_t
from posix.uio cimport iovec

from lxa_pool cimport lxa_job, lxa_pool


cdef struct op_ext:
    char unused                  # the pool's job (Operation._job) is all this backend needs


include "_operation_decl.pxi"


include "_context_decl.pxi"


cdef class Context(_ContextCore):
    # _pool: NULL once closed (or handed to a reaper); _efd: -1 once closed
    cdef list early          # operations completed without reaching the pool
    cdef list _done          # completed, taken from the pool, callbacks not run yet (process_events' limit)
    cdef bint inline_reads   # try small reads from the page cache on the submitting thread
    cdef int inline_skip     # submissions left before the next try (after a miss)
    cdef int inline_backoff  # the last skip length: doubles per miss, resets on a hit

    cdef int _check_fork(self) except -1
    cdef int _adopt_after_fork(self) except -1
    cdef Py_ssize_t _deliver_ready(self, Py_ssize_t limit) except -1
    cdef int _submit_one(self, Operation op) except -1
    cdef bint _served_here(self, Operation op, bint may_write) except -1
    cdef int _to_pool(self, Operation op) except -1
    cdef int _check_live(self) except -1
    cdef bint _completes_inline(self, Operation op) noexcept
    cdef int _inline(self, Operation op) except -1
    cdef int _complete_early(self, Operation op) except -1
    cdef bint _try_inline(self, Operation op) except -1
    cdef int _accept_one(self, Operation op) except -1
    cdef Py_ssize_t _process(self, Py_ssize_t limit, bint take_pool) except -1
    cdef int _abandon(self) except -1
