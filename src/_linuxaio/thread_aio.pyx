"""C thread-pool backend: ``pread``/``pwrite``/``preadv``/``pwritev``/``fsync`` on pthreads.

The pool (``csrc/lxa_pool.c``) runs every system call on a worker thread
that never takes the GIL. Workers put finished operations on a completed
list and write the context's eventfd only when that list goes from empty to
non-empty, so a burst of completions costs one wake-up. ``process_events()``
runs the callbacks on the calling thread. The contract is the one in
``abstract.py``; ``python_aio`` is the readable reference this module matches.

Memory: ``read`` allocates its ``bytes`` result up front and the worker
fills it in place (shrunk on a short read; never zero-filled, never copied);
``write``, ``readinto`` and the vectored operations hold the caller's buffers
(buffer protocol, no copy) until the operation completes. A submitted
operation is owned by its context until its callback has run, whatever
happens to the caller's references.

Cancellation: ``cancel()`` withdraws operations no worker has started; they
complete with ``-ECANCELED`` and, for a write, leave the file untouched. An
operation already running finishes and its write lands.

Non-seekable files (pipes, FIFOs, sockets, ttys: ``lseek`` fails with
``ESPIPE``) are read and written at their current position with
``read``/``write``/``readv``/``writev``; the offset is ignored, and the
operations on one such fd run one at a time, in submission order. A worker
waits for such an fd in ``poll`` and never blocks in the transfer
(``RWF_NOWAIT`` calls where supported): a read reads once what is there; a
write of at most ``PIPE_BUF`` bytes is one call (atomic on a pipe), a longer
one may be split (other writers may interleave, as with a blocking
``write``); an ``O_NONBLOCK`` fd still gets ``EAGAIN``. ``close()`` does not
wait for a pipe that is not ready: such operations (and those queued behind
them) complete with ``-ECANCELED``, or with the count a long write already
wrote.

Large transfers: a seekable transfer the kernel cuts at its per-call limit
(just under 2 GiB) continues until done, so sizes are 64-bit; any other
short count is reported as it is.

Fork: a context inherited by a child process gets a fresh eventfd (same fd
number) and fresh workers at first use there; operations the parent had in
flight complete in the child with ``-ECANCELED``.

Cached reads: ``read`` (and ``readinto`` a ``bytearray``) of up to
``INLINE_READ_MAX`` bytes are first tried on the submitting thread with
``preadv2(RWF_NOWAIT)``, which
copies what the page cache holds and refuses (``EAGAIN``, no I/O started)
instead of waiting for the device; only misses go to a worker. ``O_DIRECT``
fds, pipes and file systems without ``RWF_NOWAIT`` always use the workers.
Either way the completion is delivered by ``process_events()``.

Threads: workers start on demand, up to ``pool_size``. A worker that runs
out of work polls the queue for about 20 microseconds before it sleeps, so a
stream of short operations (cached reads) needs no wake-up per operation;
the environment variable ``LXA_POOL_SPIN_NS`` (read when a context is
created; 0 disables polling) changes that time.
"""

import errno as _errno
import os
import threading
import warnings

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_REFCNT, PyObject, Py_XDECREF
from libc.stdint cimport int64_t
from libc.string cimport memset
from posix.fcntl cimport O_CLOEXEC
from posix.uio cimport iovec
from posix.unistd cimport close as c_close

from lxa_cached cimport lxa_read_cached
from lxa_eventfd cimport lxa_eventfd_drain, lxa_eventfd_open, lxa_eventfd_signal
from lxa_pool cimport (
    LXA_OP_FDSYNC,
    LXA_OP_FSYNC,
    LXA_OP_PREAD,
    LXA_OP_PREADV,
    LXA_OP_PWRITE,
    LXA_OP_PWRITEV,
    lxa_job,
    lxa_pool,
    lxa_pool_after_fork_child,
    lxa_pool_cancel,
    lxa_pool_create,
    lxa_pool_destroy,
    lxa_pool_inherited,
    lxa_pool_pending,
    lxa_pool_shutdown,
    lxa_pool_submit,
    lxa_pool_take_done,
)

from . import _args

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object value, int *overflow) except? -1
    int _PyBytes_Resize(PyObject **data, Py_ssize_t size) except -1

cdef extern from "<unistd.h>" nogil:
    int dup3(int oldfd, int newfd, int flags)

__all__ = [
    "BACKEND",
    "DEFAULT_MAX_REQUESTS",
    "DEFAULT_POOL_SIZE",
    "INLINE_READ_MAX",
    "MAX_POOL_SIZE",
    "Context",
    "OpCode",
    "Operation",
    "probe",
]

BACKEND = "thread"
DEFAULT_MAX_REQUESTS = 512
DEFAULT_POOL_SIZE = 32
MAX_POOL_SIZE = 1024
#: Reads up to this size are first tried from the page cache on the submitting thread.
INLINE_READ_MAX = 65536
cdef enum:
    # The most submissions skipped after a miss. A miss is not free: preadv2
    # with RWF_NOWAIT may start readahead before it answers EAGAIN (measured:
    # milliseconds on a cold file), so a cold workload must probe rarely.
    _INLINE_BACKOFF_MAX = 65536

# What an operation does; the numbering of python_aio.OpCode.
cdef enum:
    _READ = 0
    _WRITE = 1
    _FSYNC = 2
    _FDSYNC = 3
    _READINTO = 4
    _READV = 5
    _WRITEV = 6

# Life of an operation. _CHECKING marks an operation while submit()
# validates a batch, so a duplicate in the batch is caught before anything
# is queued.
cdef enum:
    _NEW = 0
    _CHECKING = 1
    _QUEUED = 2
    _DONE = 3

_KIND_NAMES = ("read", "write", "fsync", "fdsync", "readinto", "readv", "writev")
_STATE_NAMES = ("new", "new", "queued", "done")


class OpCode:
    """What an operation does (the values of ``python_aio.OpCode``)."""

    READ = _READ
    WRITE = _WRITE
    FSYNC = _FSYNC
    FDSYNC = _FDSYNC
    READINTO = _READINTO
    READV = _READV
    WRITEV = _WRITEV


def probe():
    """Raise ``OSError`` if this host cannot run the backend (no eventfd)."""
    cdef int fd = lxa_eventfd_open()
    if fd < 0:
        _raise_errno(fd)
    c_close(fd)


cdef inline int _raise_errno(long long rc) except -1:
    raise OSError(<int>-rc, os.strerror(<int>-rc))


include "_argcheck.pxi"


@cython.final
cdef class Operation:
    """One I/O request. Build it with a class method, submit it once.

    ``payload`` is the object whose memory the operation uses: the caller's
    buffer for writes and ``readinto``, the list of buffers for vectored
    operations, and the bytes read (``None`` until completion) for ``read``.
    """

    def __cinit__(self):
        memset(&self.job, 0, sizeof(self.job))
        memset(&self.view, 0, sizeof(self.view))
        self.job.fd = -1
        self.state = _NEW

    def __init__(self, *args, **kwargs):
        raise TypeError("use Operation.read/write/readinto/readv/writev/fsync/fdsync")

    def __dealloc__(self):
        self._release_buffers()

    cdef void _release_buffers(self) noexcept:
        cdef Py_ssize_t i
        if self.has_view:
            self.has_view = False
            PyBuffer_Release(&self.view)
        if self.views != NULL:
            for i in range(self.nviews):
                PyBuffer_Release(&self.views[i])
            PyMem_Free(self.views)
            self.views = NULL
            self.nviews = 0
        if self.iov != NULL:
            PyMem_Free(self.iov)
            self.iov = NULL
        self.job.iov = NULL
        self.job.buf = NULL

    cdef void _complete(self) noexcept:
        """Called with the GIL once the pool is done with the operation."""
        cdef int64_t result = self.job.result
        cdef PyObject *raw
        self._release_buffers()
        self.state = _DONE
        if self.kind != _READ:
            return
        if result < 0:
            self.payload_ = None
        elif result < self.nbytes_:
            # Shrink in place: nobody else has seen this bytes object yet.
            raw = <PyObject *>self.payload_
            if Py_REFCNT(self.payload_) == 1:
                Py_INCREF(self.payload_)
                self.payload_ = None  # now `raw` is the only reference
                if _PyBytes_Resize_noexc(&raw, <Py_ssize_t>result) == 0:
                    self.payload_ = <object>raw
                    Py_XDECREF(raw)
                else:
                    self.job.result = -_errno.ENOMEM
            else:
                self.payload_ = self.payload_[:result]

    @classmethod
    def read(cls, nbytes, fd, offset=0, priority=0):
        """Read up to ``nbytes`` at ``offset``; ``get_value()`` returns the bytes read."""
        cdef int64_t size = _size_arg(nbytes, "nbytes")
        cdef int c_fd = _fd_arg(fd)
        cdef int64_t c_offset = _size_arg(offset, "offset")
        _priority_arg(priority)
        cdef Operation op = _new_op(_READ, c_fd, c_offset)
        op.nbytes_ = size
        op.job.opcode = LXA_OP_PREAD
        op.job.len = <size_t>size
        try:
            # Not zero-filled: the worker writes every byte reported.
            op.payload_ = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>size)
        except (MemoryError, OverflowError):  # OverflowError: beyond what a bytes object can hold
            op.early_result = -_errno.ENOMEM  # reported as OSError(ENOMEM) on completion
        else:
            op.job.buf = PyBytes_AS_STRING(op.payload_)
        return op

    @classmethod
    def write(cls, payload, fd, offset=0, priority=0):
        """Write ``payload`` (any buffer, not copied) at ``offset``; value: bytes written."""
        cdef Py_buffer view
        cdef int c_fd
        cdef int64_t c_offset
        _get_buffer(payload, &view, False, "payload")
        try:
            c_fd = _fd_arg(fd)
            c_offset = _size_arg(offset, "offset")
            _priority_arg(priority)
        except BaseException:
            PyBuffer_Release(&view)
            raise
        cdef Operation op = _new_op(_WRITE, c_fd, c_offset)
        op.view = view
        op.has_view = True
        op.payload_ = payload
        op.nbytes_ = view.len
        op.job.opcode = LXA_OP_PWRITE
        op.job.buf = view.buf
        op.job.len = <size_t>view.len
        return op

    @classmethod
    def readinto(cls, buffer, fd, offset=0, priority=0):
        """Read into the caller's writable ``buffer``; value: bytes read."""
        cdef Py_buffer view
        cdef int c_fd
        cdef int64_t c_offset
        _get_buffer(buffer, &view, True, "buffer")
        try:
            c_fd = _fd_arg(fd)
            c_offset = _size_arg(offset, "offset")
            _priority_arg(priority)
        except BaseException:
            PyBuffer_Release(&view)
            raise
        cdef Operation op = _new_op(_READINTO, c_fd, c_offset)
        op.view = view
        op.has_view = True
        op.payload_ = buffer
        op.nbytes_ = view.len
        op.job.opcode = LXA_OP_PREAD
        op.job.buf = view.buf
        op.job.len = <size_t>view.len
        return op

    @classmethod
    def readv(cls, buffers, fd, offset=0, priority=0):
        """Scatter-read into ``buffers`` in order (preadv(2)); value: bytes read."""
        items, views = _args.writable_views(buffers)
        return _vectored_op(_READV, items, views, fd, offset, priority, True)

    @classmethod
    def writev(cls, buffers, fd, offset=0, priority=0):
        """Gather-write ``buffers`` in order (pwritev(2)); value: bytes written."""
        items, views = _args.readable_views(buffers)
        return _vectored_op(_WRITEV, items, views, fd, offset, priority, False)

    @classmethod
    def fsync(cls, fd, priority=0):
        """Flush data and metadata of ``fd`` to storage (fsync(2))."""
        cdef int c_fd = _fd_arg(fd)
        _priority_arg(priority)
        cdef Operation op = _new_op(_FSYNC, c_fd, 0)
        op.job.opcode = LXA_OP_FSYNC
        return op

    @classmethod
    def fdsync(cls, fd, priority=0):
        """Flush the data of ``fd`` to storage (fdatasync(2))."""
        cdef int c_fd = _fd_arg(fd)
        _priority_arg(priority)
        cdef Operation op = _new_op(_FDSYNC, c_fd, 0)
        op.job.opcode = LXA_OP_FDSYNC
        return op

    @property
    def opcode(self):
        """What the operation does (an ``OpCode`` value)."""
        return self.kind

    @property
    def fileno(self):
        """The file descriptor the operation works on."""
        return self.job.fd

    @property
    def offset(self):
        """The file offset of the transfer (0 for syncs)."""
        return self.job.offset

    @property
    def nbytes(self):
        """The number of bytes requested (0 for syncs)."""
        return self.nbytes_

    @property
    def payload(self):
        """The memory the operation reads into or writes from (for ``read``: the bytes, once done)."""
        if self.kind == _READ and self.state != _DONE:
            return None
        return self.payload_

    @property
    def done(self):
        """True once the operation has completed and its callback ran."""
        return self.state == _DONE

    def set_callback(self, callback):
        """Call ``callback(result)`` once on completion; ``result`` is a count or ``-errno``."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if self.state != _NEW:
            raise ValueError(f"operation already submitted: {self!r}")
        self.callback = callback
        return True

    def get_value(self):
        """The result; raises ``OSError`` for a failed operation, ``ValueError`` before completion."""
        if self.state != _DONE:
            raise ValueError("operation has not completed")
        return self._value()

    cdef object _value(self):
        cdef int64_t result = self.job.result
        if result < 0:
            raise OSError(<int>-result, os.strerror(<int>-result))
        if self.kind == _READ:
            return self.payload_
        if self.kind == _FSYNC or self.kind == _FDSYNC:
            return None
        return result

    def __repr__(self):
        return (
            f"<_linuxaio.thread_aio.Operation {_KIND_NAMES[self.kind]} fd={self.job.fd} "
            f"offset={self.job.offset} nbytes={self.nbytes_} state={_STATE_NAMES[self.state]}>"
        )


cdef Operation _new_op(int kind, int fd, int64_t offset):
    cdef Operation op = Operation.__new__(Operation)  # final class: cls is Operation
    op.kind = kind
    op.job.fd = fd
    op.job.offset = offset
    return op


cdef Operation _vectored_op(int kind, list items, list views, object fd,
                         object offset, object priority, bint writable):
    cdef int c_fd = _fd_arg(fd)
    cdef int64_t c_offset = _size_arg(offset, "offset")
    _priority_arg(priority)
    cdef Py_ssize_t n = len(views), i
    if n > 0x7fffffff:
        raise ValueError(f"too many buffers ({n})")
    cdef Operation op = _new_op(kind, c_fd, c_offset)
    op.payload_ = items
    op.job.opcode = LXA_OP_PREADV if writable else LXA_OP_PWRITEV
    # Calloc(1, ...) so that zero buffers still give valid pointers.
    op.views = <Py_buffer *>PyMem_Calloc(n if n else 1, sizeof(Py_buffer))
    op.iov = <iovec *>PyMem_Calloc(n if n else 1, sizeof(iovec))
    if op.views == NULL or op.iov == NULL:
        raise MemoryError()
    cdef int64_t total = 0
    for i in range(n):
        PyObject_GetBuffer(views[i], &op.views[i], PyBUF_WRITABLE if writable else PyBUF_SIMPLE)
        op.nviews = i + 1
        op.iov[i].iov_base = op.views[i].buf
        op.iov[i].iov_len = <size_t>op.views[i].len
        total += op.views[i].len
    op.nbytes_ = total
    op.job.iov = op.iov
    op.job.iovcnt = <int>n
    return op



# -- the asyncio fast path ----------------------------------------------------
#
# thread_aio_asyncio.AsyncioContext uses these two functions in place of
# AsyncioContextBase.submit_future and its per-operation callback. They keep
# the base class's semantics exactly (see asyncio_base.py): the same checks
# and errors (anything unusual is handed to the base implementation), the
# same slot accounting (_in_flight goes down only when the operation really
# completes), the same back-pressure queue (_waiting), and futures resolved
# on the loop thread from process_events(). What they save is the
# functools.partial, the Python frames of submit_future/_hand_over/_on_done
# and get_value(), per operation.

cdef object _base_submit_future = None
cdef object _get_running_loop = None
cdef object _OPEN = None


cdef int _deliver(Operation op) except -1:
    """Run the completion of ``op``: its callback, or the fast path's adapter hook."""
    callback, op.callback = op.callback, None
    if callback is not None:
        callback(op.job.result)
        return 0
    adapter = op.adapter
    if adapter is None:
        return 0
    future = op.future
    op.adapter = op.future = None
    # AsyncioContextBase._on_done, compiled:
    adapter._in_flight -= 1
    if not future.done():
        try:
            future.set_result(op._value())
        except OSError as exc:
            future.set_exception(exc)
    if adapter._waiting:
        adapter._after_completion()
    elif not adapter._in_flight:
        adapter._wake_aclose()
    return 0


def _adapter_submit_future(adapter, op):
    """``AsyncioContextBase.submit_future`` for thread_aio operations (compiled fast path)."""
    global _base_submit_future, _get_running_loop, _OPEN
    if _base_submit_future is None:
        import asyncio
        from .asyncio_base import AsyncioContextBase, _State
        _get_running_loop = asyncio.get_running_loop
        _OPEN = _State.OPEN
        _base_submit_future = AsyncioContextBase.submit_future
    loop = _get_running_loop()
    if (
        loop is not adapter._loop
        or type(op) is not Operation
        or adapter._operation_class is not Operation
        or (<Operation>op).state != _NEW
        or adapter._state is not _OPEN
    ):
        return _base_submit_future(adapter, op)  # binding, errors, unusual cases
    cdef Operation o = <Operation>op
    future = loop.create_future()
    o.callback = None  # as set_callback() in the base class: the adapter owns completion
    o.adapter = adapter
    o.future = future
    if adapter._in_flight < adapter._max_requests and not adapter._waiting:
        # AsyncioContextBase._hand_over, compiled.
        context = adapter._context
        if type(context) is Context:
            (<Context>context)._live()
            accepted = (<Context>context)._accept_one(o)
        else:
            accepted = context.submit(op)
        if accepted:
            adapter._in_flight += 1
        elif adapter._in_flight == 0:
            o.adapter = o.future = None
            raise OSError(_errno.EAGAIN, "the backend context accepted no operation: " + os.strerror(_errno.EAGAIN))
        else:
            adapter._waiting.appendleft((op, future))
    else:
        adapter._waiting.append((op, future))
    return future


cdef int _PyBytes_Resize_noexc(PyObject **raw, Py_ssize_t size) noexcept:
    try:
        _PyBytes_Resize(raw, size)
    except MemoryError:
        return -1
    return 0


cdef class Context:
    """thread aio context implementation: a pool of up to ``pool_size`` C threads.

    Args:
        max_requests: operations that may be in flight at once; ``submit``
            accepts no more (it returns how many it took).
        pool_size: worker threads, started lazily as work arrives (default 32).
        inline_reads: serve reads of up to ``INLINE_READ_MAX`` bytes that the
            page cache holds on the submitting thread (``preadv2`` with
            ``RWF_NOWAIT``: never waits for the device), without a thread
            hop; their completion is still delivered by ``process_events()``.
            After a miss, tries are skipped for a while (doubling up to
            65536 submissions), so uncached workloads rarely probe.

    Workers never take the GIL; callbacks run in ``process_events()`` on the
    calling thread. ``close()`` waits for every submitted operation on a
    regular file; one waiting on a pipe, FIFO, socket or tty that is not
    ready completes with ``-ECANCELED`` instead of holding ``close()``.
    After ``fork()`` the child's context starts fresh workers and a fresh
    eventfd (same fd number) at first use; operations the parent had in
    flight complete in the child with ``-ECANCELED``.
    """

    def __cinit__(self, *args, **kwargs):
        self.pool = NULL
        self.efd = -1
        self.closed_ = True  # until __init__ succeeds: nothing to finalize
        self.early = []

    def __init__(self, max_requests=DEFAULT_MAX_REQUESTS, pool_size=DEFAULT_POOL_SIZE, inline_reads=True):
        max_requests = _args.check_max_requests(max_requests)
        pool_size = _args.check_pool_size(pool_size, MAX_POOL_SIZE)
        if self.pool != NULL:
            raise RuntimeError("Context is already initialised")
        self.max_requests_ = max_requests
        self.pool_size_ = pool_size
        cdef int fd = lxa_eventfd_open()
        if fd < 0:
            _raise_errno(fd)
        cdef int rc = lxa_pool_create(&self.pool, self.pool_size_, fd)
        if rc < 0:
            c_close(fd)
            _raise_errno(rc)
        self.efd = fd
        self.inline_reads = bool(inline_reads)
        self.closed_ = False

    @property
    def max_requests(self):
        """The most operations in flight at once."""
        return self.max_requests_

    @property
    def pool_size(self):
        """The most worker threads."""
        return self.pool_size_

    @property
    def closed(self):
        """True once ``close()`` has started."""
        return self.closed_

    @property
    def in_flight(self):
        """Operations submitted whose callbacks have not run yet."""
        return self.in_flight_

    cdef int _check_fork(self) except -1:
        if self.pool != NULL and lxa_pool_inherited(self.pool):
            self._adopt_after_fork()
        return 0

    cdef int _adopt_after_fork(self) except -1:
        # The eventfd is shared with the parent: put a fresh one behind the
        # same number before anything here can signal it.
        cdef int fresh = lxa_eventfd_open()
        if fresh < 0:
            _raise_errno(fresh)
        if dup3(fresh, self.efd, O_CLOEXEC) < 0:
            code = _errno.EBADF
            c_close(fresh)
            raise OSError(code, os.strerror(code))
        c_close(fresh)
        lxa_pool_after_fork_child(self.pool)
        if lxa_pool_pending(self.pool) or self.early:
            lxa_eventfd_signal(self.efd)
        return 0

    cdef int _live(self) except -1:
        if self.closed_:
            raise ValueError("I/O operation on closed context.")
        if lxa_pool_inherited(self.pool):
            self._adopt_after_fork()
        return 0

    def fileno(self):
        """The eventfd that becomes readable when completions are pending."""
        self._live()
        return self.efd

    def submit(self, *ops):
        """Queue ``ops`` in order; return how many were accepted (a prefix).

        Raises ``TypeError`` for a foreign object and ``ValueError`` for an
        operation already submitted, before any operation is queued.
        """
        self._live()
        cdef Py_ssize_t n = len(ops), i, accepted
        cdef Operation op
        cdef object item
        if n == 1:
            item = ops[0]
            if type(item) is not Operation:
                raise TypeError(f"expected a thread_aio.Operation, not {type(item).__name__}")
            op = <Operation>item
            if op.state != _NEW:
                raise ValueError(f"operation already submitted: {op!r}")
        else:
            try:
                for i in range(n):
                    item = ops[i]
                    if type(item) is not Operation:
                        raise TypeError(f"expected a thread_aio.Operation, not {type(item).__name__}")
                    op = <Operation>item
                    if op.state != _NEW:
                        raise ValueError(f"operation already submitted: {op!r}")
                    op.state = _CHECKING
            finally:
                for item in ops:
                    if type(item) is Operation and (<Operation>item).state == _CHECKING:
                        (<Operation>item).state = _NEW
        accepted = min(n, self.max_requests_ - self.in_flight_)
        for i in range(accepted):
            op = <Operation>ops[i]
            try:
                self._submit_one(op)
            except OSError:
                if i == 0:
                    raise
                return i  # the rest are untouched and may be submitted later
        return max(accepted, 0)

    cdef int _accept_one(self, Operation op) except -1:
        """``submit(op)`` for one operation already known to be a new thread_aio Operation."""
        if self.in_flight_ >= self.max_requests_:
            return 0
        self._submit_one(op)
        return 1

    cdef int _submit_one(self, Operation op) except -1:
        cdef int rc
        if op.early_result < 0:
            # Failed before reaching the pool: complete it on the next process_events().
            op.job.result = op.early_result
            return self._complete_early(op)
        # Inline only into memory whose page faults cannot wait for a disk:
        # our own bytes object, or a bytearray (anonymous heap memory). A
        # caller's mmap of a file could fault in from the device.
        if (
            self.inline_reads
            and op.nbytes_ <= INLINE_READ_MAX
            and (op.kind == _READ or (op.kind == _READINTO and type(op.payload_) is bytearray))
        ):
            if self._try_inline(op):
                return self._complete_early(op)
        op.job.user = <void *>op
        op.state = _QUEUED
        Py_INCREF(op)  # the pool's reference, dropped when process_events() takes it back
        rc = lxa_pool_submit(self.pool, &op.job)
        if rc < 0:
            op.state = _NEW
            op.job.user = NULL
            Py_DECREF(op)
            _raise_errno(rc)
        self.in_flight_ += 1
        return 0

    cdef int _complete_early(self, Operation op) except -1:
        # Completed without the pool: delivered by the next process_events(),
        # signalled like the pool's completions (empty -> non-empty).
        op.state = _QUEUED
        self.early.append(op)
        self.in_flight_ += 1
        if len(self.early) == 1:
            lxa_eventfd_signal(self.efd)
        return 0

    cdef bint _try_inline(self, Operation op) except -1:
        """Serve a small read from the page cache here, without a thread hop; False on a miss."""
        cdef int64_t rc
        if self.inline_skip > 0:  # recent misses: this workload is not cached
            self.inline_skip -= 1
            return False
        rc = lxa_read_cached(op.job.fd, op.job.buf, op.job.len, op.job.offset)
        if rc >= 0:
            self.inline_backoff = 0
            op.job.result = rc
            return True
        if rc == -_errno.ENOSYS:  # no preadv2 (old kernel, seccomp): never again here
            self.inline_reads = False
        else:  # not cached, or not possible on this fd: the pool does it; try less often
            self.inline_backoff = min(max(1, 2 * self.inline_backoff), _INLINE_BACKOFF_MAX)
            self.inline_skip = self.inline_backoff
        return False

    def cancel(self, *ops):
        """Withdraw operations no worker has started; they complete with ``-ECANCELED``."""
        self._live()
        cdef int cancelled = 0
        cdef Operation op
        for item in ops:
            if type(item) is Operation:
                op = <Operation>item
                if op.state == _QUEUED and op.job.user != NULL:
                    if lxa_pool_cancel(self.pool, &op.job) == 0:
                        cancelled += 1
        return cancelled

    def process_events(self):
        """Run the callbacks of completed operations here; return how many completed.

        A raising callback does not stop the others; the first exception is
        re-raised after all of them ran.
        """
        if self.pool == NULL:
            return 0
        self._check_fork()
        return self._process()

    cdef Py_ssize_t _process(self) except -1:
        cdef lxa_job *head
        cdef lxa_job *job
        cdef Py_ssize_t count = 0
        cdef Operation op
        cdef list early = None
        # Drain the hint before taking the list: a completion queued after the
        # take finds the list empty and signals again (eventfd(2)).
        lxa_eventfd_drain(self.efd)
        head = lxa_pool_take_done(self.pool)
        if self.early:
            early, self.early = self.early, []
            count = len(early)
        job = head
        while job != NULL:
            count += 1
            job = job.next
        if count == 0:
            return 0
        self.in_flight_ -= count
        first_error = None
        job = head
        while job != NULL:
            head = job.next
            op = <Operation>job.user  # a new reference; the pool's one is dropped below
            op.job.user = NULL
            Py_DECREF(op)
            op._complete()
            try:
                _deliver(op)
            except BaseException as exc:  # re-raised below, after every callback ran
                if first_error is None:
                    first_error = exc
            job = head
        if early is not None:
            for op in early:
                op._complete()
                try:
                    _deliver(op)
                except BaseException as exc:
                    if first_error is None:
                        first_error = exc
        if first_error is not None:
            raise first_error
        return count

    def close(self):
        """Stop accepting, let queued and running operations finish, run their callbacks.

        Idempotent. Blocks the calling thread (without the GIL) until the
        workers are done and joined, then closes the eventfd. An operation
        waiting for a pipe, FIFO, socket or tty is not waited for: it
        completes with ``-ECANCELED`` (see the module docstring).
        """
        if self.closed_:
            return
        self._check_fork()
        self.closed_ = True
        cdef lxa_pool *pool = self.pool
        with nogil:
            lxa_pool_shutdown(pool)
        try:
            self._process()
        finally:
            self.pool = NULL
            lxa_pool_destroy(pool)
            c_close(self.efd)
            self.efd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if self.closed_ or self.pool == NULL:
            return
        self.closed_ = True
        try:
            warnings.warn(f"unclosed context {self!r}", ResourceWarning, source=self, stacklevel=2)
        finally:
            self._abandon()

    cdef int _abandon(self) except -1:
        # Free everything without blocking on I/O: if operations are still in
        # flight, a daemon thread waits for them; their callbacks never run.
        self._check_fork()
        cdef _Reaper reaper = _Reaper.__new__(_Reaper)
        reaper.pool, self.pool = self.pool, NULL
        reaper.efd, self.efd = self.efd, -1
        reaper.early, self.early = self.early, []
        if lxa_pool_pending(reaper.pool) == 0:
            reaper.run()  # only idle workers to join: quick
            return 0
        try:
            threading.Thread(target=reaper.run, name="thread_aio-reaper", daemon=True).start()
        except BaseException:
            reaper.pool = NULL  # cannot wait for the workers: leak rather than free live memory
            raise
        return 0

    def __dealloc__(self):
        cdef _Reaper reaper
        if self.pool != NULL:  # __del__ did not run (interpreter teardown)
            reaper = _Reaper.__new__(_Reaper)
            reaper.pool, self.pool = self.pool, NULL
            reaper.efd, self.efd = self.efd, -1
            reaper.early = self.early
            reaper.run()

    def __repr__(self):
        state = "closed" if self.closed_ else f"in_flight={self.in_flight_}"
        return f"<_linuxaio.thread_aio.Context max_requests={self.max_requests_} {state}>"


@cython.final
cdef class _Reaper:
    """Finishes an abandoned context's pool: waits for its workers, drops its operations."""

    cdef lxa_pool *pool
    cdef int efd
    cdef list early

    def __cinit__(self):
        self.pool = NULL
        self.efd = -1

    def run(self):
        cdef lxa_pool *pool = self.pool
        cdef lxa_job *job
        cdef lxa_job *head
        cdef Operation op
        if pool == NULL:
            return
        self.pool = NULL
        with nogil:
            lxa_pool_shutdown(pool)
        head = lxa_pool_take_done(pool)
        while head != NULL:
            job = head
            head = job.next
            op = <Operation>job.user
            op.job.user = NULL
            Py_DECREF(op)
            op._complete()
            op.callback = None
        self.early = None
        lxa_pool_destroy(pool)
        if self.efd >= 0:
            c_close(self.efd)
            self.efd = -1
