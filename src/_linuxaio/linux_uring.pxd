# Declarations of the io_uring backend (linux_uring.pyx).
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from posix.uio cimport iovec

from lxa_pool cimport lxa_job, lxa_pool
from lxu_ring cimport io_uring_sqe, lxu_cqe, lxu_ring


cdef struct op_ext:
    bint cancel_sent             # an IORING_OP_ASYNC_CANCEL for it is in the ring
    bint probe                   # a read sent with RWF_NOWAIT to learn if its data is cached


include "_operation_decl.pxi"


include "_context_decl.pxi"


include "_list_context_decl.pxi"


ctypedef uint64_t fd_slot  # one descriptor's entry in a context's table (linux_uring.pyx, INLINE_*/KIND_*/DEV_SHIFT)


cdef class Context(_ListContext):
    cdef lxu_ring _ring
    cdef bint _has_ring
    cdef bint _sqpoll
    cdef unsigned _entries
    cdef Py_ssize_t _cancels_pending    # IORING_OP_ASYNC_CANCEL CQEs not reaped yet
    cdef Py_ssize_t _cancels_ok         # ... of which found their request (res 0)
    cdef lxu_cqe *_cqes                 # scratch: one reap
    cdef unsigned _cqes_cap
    cdef fd_slot *_inline_fds           # per fd: inline state, kind, retry count, flags (INLINE_*, KIND_*)
    cdef int _ninline_fds
    cdef unsigned char _supported[256]  # IORING_REGISTER_PROBE answer (test hook may clear entries)

    cdef int _queue(self, Operation op) except -1
    cdef int _prep(self, Operation op) except -1
    cdef int _enter(self, unsigned wait_nr) except -1
    cdef int _on_cqe(self, Operation op, int64_t res) except -1
    cdef Py_ssize_t _reap(self, long limit) except -1
    cdef int _note_inline(self, int fd, bint inline) except -1
    cdef int _note_cached(self, int fd) except -1
    cdef int _cold_range_cached(self, Operation op, fd_slot *slot) except -2
    cdef bint _cold_read_to_worker(self, Operation op, fd_slot *slot) except -1
    cdef fd_slot *_fd_slot(self, int fd) noexcept
    cdef int _transfer_flags(self, Operation op, io_uring_sqe *sqe) except -1
    cdef bint _inline_known(self, int fd) noexcept
    cdef bint _cold_file(self, int fd) noexcept
    cdef int _cancel_op(self, Operation op) except -1
