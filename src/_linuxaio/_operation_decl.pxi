# Declaration of every compiled backend's Operation (the shared core).
#
# Included at module level by a backend's .pxd; the methods are in
# _operation.pxi, included at module level by its .pyx. One class text, one
# type per backend (an operation of one backend is foreign to another).
#
# The including .pxd first cimports PyObject, int64_t, iovec, lxa_job and
# declares `cdef struct op_ext`: the fields specific to its kernel
# interface (e.g. linux_aio's iocb), kept in Operation._ext.

cdef class Operation:
    cdef lxa_job _job            # the thread-pool request (pool work, and the thread backend's only one)
    cdef int _opcode             # OP_* (_operation.pxi)
    cdef int _state              # ST_*
    cdef int _fd
    cdef int64_t _offset
    cdef int64_t _nbytes
    cdef int64_t _result         # count or -errno, once completed
    cdef int64_t _done           # bytes moved by earlier steps of a continued transfer
    cdef object _payload         # caller's buffer/list, or the bytes read once done
    cdef PyObject *_rbuf         # read: the bytes object being filled (owned), NULL otherwise
    cdef char *_base             # start of the transfer memory (flat ops)
    cdef Py_buffer _view         # flat write/readinto: the caller's buffer, held until done
    cdef bint _has_view
    cdef Py_buffer *_views       # vectored: one per buffer
    cdef int _nviews
    cdef iovec *_iov             # vectored: our copy of the iovecs (advanced in place)
    cdef iovec *_iov_cur
    cdef int _iovcnt_cur
    cdef object _callback
    cdef object _adapter         # asyncio fast path: the AsyncioContext that owns completion
    cdef object _future          # ... and the future it resolves (both None otherwise)
    cdef object _names           # fs ops: the caller's path arguments for OSError (filename[, None, filename2])
    cdef object _keep            # fs ops: the encoded NUL-terminated paths the kernel reads, until completion
    cdef int64_t _offs[2]        # copy_file_range: the offsets the kernel reads and advances
    cdef int _ioprio             # read/write: priority= (an ioprio value; linux_uring's sqe.ioprio)
    cdef object __weakref__

    cdef int _release_buffers(self) except -1
    cdef int _alloc_read(self) except -1
    cdef int _finish(self) except -1
    cdef void _fill_job(self) noexcept
    cdef object _value(self)
    cdef int _discard(self) except -1

    @staticmethod
    cdef Operation _new(int opcode, int fd, int64_t offset, int64_t nbytes)

    @staticmethod
    cdef Operation _fs_new(int opcode, long sysno)

    @staticmethod
    cdef Operation _vectored(int opcode, object buffers, object fd, object offset, object priority)

    # The intrusive list of a context's in-flight operations (borrowed links;
    # the context holds one strong reference per linked operation).
    cdef PyObject *_context      # the owning Context while in flight (borrowed)
    cdef PyObject *_prev
    cdef PyObject *_next
    cdef op_ext _ext             # the backend's own per-operation fields
