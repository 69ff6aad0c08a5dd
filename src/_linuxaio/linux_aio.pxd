# Declarations of the kernel AIO backend (linux_aio.pyx).
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from posix.uio cimport iovec

from kaio cimport aio_context_t, io_event, iocb, lxa_aio_ring
from lxa_pool cimport lxa_job, lxa_pool


cdef struct fd_entry:
    int route        # LXA_ROUTE_*
    int writes_thread  # the file system refuses RWF_NOWAIT writes (EOPNOTSUPP): 1, and whether the
                       # write guard may write here on this thread is not known yet; WRITES_INLINE_OK
                       # (local disk file system, buffered); WRITES_INLINE_NO
    int cold           # > 0: reads left to send straight to the pool; -1: one probe in the kernel
    int backoff        # the last `cold` credit (doubles while probes keep finding the file cold)
    int direct         # opened with O_DIRECT: no page cache, so no cold-file backoff
    int verify         # > 0: reads to check with cachestat before the descriptor is trusted again
    int unchecked      # > 0: reads left to send to the pool without asking cachestat (after "not cached")
    int64_t size_hint  # the file size cachestat checks last saw (0: none)
    int no_cachestat   # cachestat(2) answered EPERM for this file (not writable by us, not ours)
    uint64_t dev
    uint64_t ino


cdef struct op_ext:
    iocb iocb                    # the kernel request; its address is stable (heap object)
    bint nowait                  # submitted with RWF_NOWAIT


include "_operation_decl.pxi"


include "_context_decl.pxi"


include "_list_context_decl.pxi"


cdef class Context(_ListContext):
    cdef aio_context_t _ctx
    cdef lxa_aio_ring *_ring
    cdef unsigned _kernel_nr
    cdef list _one                      # scratch batch of submit and submit_inline (always empty outside them)
    cdef iocb **_iocbs                  # scratch: one io_submit batch
    cdef io_event *_events              # scratch: one reap
    cdef Py_ssize_t _events_cap
    cdef fd_entry *_fds
    cdef int _nfds

    cdef int _route(self, Operation op) except -1
    cdef fd_entry *_fd_entry(self, int fd) noexcept
    cdef int _start(self, Operation op, list kernel) except -1
    cdef int _start_or_fail(self, Operation op, list kernel) except -1
    cdef bint _write_here(self, Operation op) except -1
    cdef int _kernel_submit(self, list ops) except -1
    cdef int _on_kernel_event(self, Operation op, int64_t res, list resubmit) except -1
    cdef Py_ssize_t _reap_kernel(self, list resubmit, bint wait, long limit) except -1
    cdef int _route_read(self, fd_entry *entry, Operation op) except -1
    cdef int _learn_refusal(self, Operation op) except -1
    cdef bint _still_positional(self, Operation op) except -1
    cdef int _note_read(self, Operation op, bint would_block) except -1
