# Declarations of the kernel AIO backend (linux_aio.pyx).
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from posix.uio cimport iovec

from kaio cimport aio_context_t, io_event, iocb, lxa_aio_ring
from lxa_pool cimport lxa_job, lxa_pool


cdef struct fd_entry:
    int route        # LXA_ROUTE_*
    int writes_thread  # 1: the file system refuses RWF_NOWAIT writes (EOPNOTSUPP)
    int cold           # > 0: reads left to send straight to the pool; -1: one probe in the kernel
    int backoff        # the last `cold` credit (doubles while probes keep finding the file cold)
    int direct         # opened with O_DIRECT: no page cache, so no cold-file backoff
    int verify         # > 0: reads to check with cachestat before the descriptor is trusted again
    int64_t size_hint  # the file size cachestat checks last saw (0: none)
    int no_cachestat   # cachestat(2) answered EPERM for this file (not writable by us, not ours)
    uint64_t dev
    uint64_t ino


cdef class Operation:
    cdef iocb _iocb              # the kernel request; its address is stable (heap object)
    cdef lxa_job _job            # the thread-pool request
    cdef int _opcode
    cdef int _fd
    cdef int64_t _offset
    cdef int64_t _nbytes
    cdef object _payload         # caller's buffer/list, or the bytes read once done
    cdef PyObject *_rbuf         # read: the bytes object being filled (owned), NULL otherwise
    cdef char *_base             # start of the transfer memory (flat ops)
    cdef object _buffers         # vectored: the list of buffers
    cdef Py_buffer _view              # flat write/readinto: the caller's buffer, held until done
    cdef bint _has_view
    cdef Py_buffer *_views       # vectored: one per buffer
    cdef int _nviews
    cdef iovec *_iov             # vectored: our copy of the iovecs (advanced in place)
    cdef iovec *_iov_cur
    cdef int _iovcnt_cur
    cdef object _callback
    cdef object _adapter         # asyncio fast path: the AsyncioContext that owns completion
    cdef object _future          # ... and the future it resolves (both None otherwise)
    cdef int64_t _result
    cdef int64_t _done           # bytes moved by earlier steps (RWF_NOWAIT short transfers)
    cdef int _state
    cdef bint _nowait            # submitted with RWF_NOWAIT
    cdef bint _via_thread        # currently owned by the thread pool
    cdef PyObject *_context      # the owning Context while in flight (borrowed: an op never keeps it alive)
    cdef PyObject *_prev         # intrusive list of in-flight operations (borrowed links)
    cdef PyObject *_next
    cdef object __weakref__

    cdef int _release_buffers(self) except -1
    cdef int _finish(self) except -1

    @staticmethod
    cdef Operation _new(int opcode, int fd, int64_t offset, int64_t nbytes)

    @staticmethod
    cdef Operation _vectored(int opcode, object buffers, object fd, object offset, object priority)


cdef class Context:
    cdef aio_context_t _ctx
    cdef lxa_aio_ring *_ring
    cdef unsigned _kernel_nr
    cdef int _efd
    cdef unsigned long _fork_gen
    cdef Py_ssize_t _max_requests
    cdef Py_ssize_t _in_flight          # accepted, callback not run yet
    cdef Py_ssize_t _kernel_in_flight   # owned by the kernel context
    cdef Py_ssize_t _thread_in_flight   # owned by the thread pool
    cdef unsigned _pool_size
    cdef lxa_pool *_pool
    cdef list _ready                    # completed, callbacks pending
    cdef list _backlog                  # waiting for room in the kernel queue
    cdef list _one                      # scratch batch of submit_inline (always empty outside it)
    cdef iocb **_iocbs                  # scratch: one io_submit batch
    cdef io_event *_events              # scratch: one reap
    cdef Py_ssize_t _events_cap
    cdef fd_entry *_fds
    cdef int _nfds
    cdef PyObject *_head                # intrusive list of in-flight operations
    cdef bint _closed
    cdef int _setup_errno               # io_setup failed in a forked child: its errno
    cdef object __weakref__

    cdef int _check_live(self) except -1
    cdef int _after_fork(self) except -1
    cdef int _route(self, Operation op) except -1
    cdef fd_entry *_fd_entry(self, int fd) noexcept
    cdef int _start(self, Operation op, list kernel) except -1
    cdef int _start_or_fail(self, Operation op, list kernel) except -1
    cdef int _to_thread(self, Operation op) except -1
    cdef int _kernel_submit(self, list ops) except -1
    cdef int _complete(self, Operation op, int64_t result) except -1
    cdef int _on_kernel_event(self, Operation op, int64_t res, list resubmit) except -1
    cdef Py_ssize_t _reap_kernel(self, list resubmit, bint wait, long limit) except -1
    cdef int _take_thread_done(self) except -1
    cdef int _run_callbacks(self, list done) except -1
    cdef bint _completes_inline(self, Operation op) noexcept
    cdef int _inline(self, Operation op) except -1
    cdef int _link(self, Operation op) except -1
    cdef int _unlink(self, Operation op) except -1
    cdef int _route_read(self, fd_entry *entry, Operation op) except -1
    cdef int _learn_refusal(self, Operation op) except -1
    cdef int _release(self) except -1
    cdef int _abandon(self) except -1
    cdef bint _still_positional(self, Operation op) except -1
    cdef int _note_read(self, Operation op, bint would_block) except -1
    cdef Py_ssize_t _reap_inline(self) except -1
