"""C thread-pool backend: ``pread``/``pwrite``/``preadv``/``pwritev``/``fsync`` on pthreads.

The pool (``csrc/lxa_pool.c``) runs every system call on a worker thread
that never takes the GIL. Workers put finished operations on a completed
list and write the context's eventfd only when that list goes from empty to
non-empty, so a burst of completions costs one wake-up. ``process_events()``
runs the callbacks on the calling thread. The contract is the one in
``abstract.py``; ``python_aio`` is the readable reference this module matches.

File-system operations (``openat``, ``statx``, ``renameat``, ... : the
engine's table, shared with every backend) are one system call each on the
same workers, with the same completion path.

Memory: ``read`` allocates its ``bytes`` result when submitted and the worker
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
import warnings

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cpython.object cimport PyTypeObject, inquiry, visitproc
from cpython.bytearray cimport PyByteArray_Check
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject, Py_XDECREF
from libc.errno cimport ENOMEM

cdef extern from "<errno.h>":
    enum:
        ECANCELED
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset
from posix.fcntl cimport O_CLOEXEC
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.uio cimport iovec
from posix.unistd cimport close as c_close

from lxa_cached cimport lxa_read_cached
from lxa_wguard cimport (
    LXA_WGUARD_MAX_BYTES,
    lxa_pwrite_all,
    lxa_wguard,
    lxa_wguard_allow,
    lxa_wguard_done,
    lxa_wguard_fd_inline,
    lxa_wguard_init,
    lxa_wguard_now_ns,
    lxa_wguard_set_test_threshold,
)
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
    unsigned long PyThread_get_thread_ident()
    Py_ssize_t PY_SSIZE_T_MAX

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

def probe():
    """Raise ``OSError`` if this host cannot run the backend (no eventfd)."""
    cdef int fd = lxa_eventfd_open()
    if fd < 0:
        _raise_errno(fd)
    c_close(fd)


cdef inline int _raise_errno(long long rc) except -1:
    raise OSError(<int>-rc, os.strerror(<int>-rc))


include "_argcheck.pxi"


include "_operation_defs.pxi"
include "_operation.pxi"
include "_adapter.pxi"


# -- the asyncio fast path ----------------------------------------------------
#
# thread_aio_asyncio.AsyncioContext binds inline_asyncio.InlineAsyncioContext
# to this module's _AdapterCore and to the shared inline fast path
# (_adapter_inline.pxi, included after Context). Context._inline serves a
# small read from the page cache (preadv2 with RWF_NOWAIT) or writes a small
# buffered write under the write guard (_wguard.pxi) on the loop's thread;
# the coroutine then goes on without suspending. Everything else goes to the
# pool and completes through _deliver -> _resolve.


cdef int _deliver(Operation op) except -1:
    """Run the completion of ``op``: its callback, or the fast path's adapter hook."""
    callback, op._callback = op._callback, None
    if callback is not None:
        callback(op._result)
    elif op._adapter is not None:
        _resolve(op)
    return 0


cdef int _complete_op(Operation op) except -1:
    """Called with the GIL once the pool (or the inline read) is done with ``op``."""
    op._result = op._job.result
    op._state = ST_DONE
    op._finish()
    return 0


include "_wguard.pxi"


cdef enum:
    INLINE_IN_FLIGHT = 0
    INLINE_DONE = 1


include "_context.pxi"


cdef class Context(_ContextCore):
    """thread aio context implementation: a pool of up to ``pool_size`` C threads.

    Args:
        max_requests: operations that may be in flight at once; ``submit``
            accepts no more (it returns how many it took).
        pool_size: worker threads, started lazily as work arrives (default 32).
        deferred, sqpoll: caio 0.12's keywords, accepted so caio code runs
            unchanged; no effect on a thread pool (``sqpoll`` reads back
            ``False``).
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
        self._pool = NULL
        self._efd = -1
        self._closed = True  # until __init__ succeeds: nothing to finalize
        self.early = []
        self._done = []

    def __init__(
        self, max_requests=DEFAULT_MAX_REQUESTS, pool_size=DEFAULT_POOL_SIZE, deferred=False, sqpoll=False,
        inline_reads=True,
    ):
        max_requests = _args.check_max_requests(max_requests)
        pool_size = _args.check_pool_size(pool_size, MAX_POOL_SIZE)
        if self._pool != NULL:
            raise RuntimeError("Context is already initialised")
        self._max_requests = max_requests
        self._pool_size = pool_size
        cdef int fd = lxa_eventfd_open()
        if fd < 0:
            _raise_errno(fd)
        cdef int rc = lxa_pool_create(&self._pool, self._pool_size, fd)
        if rc < 0:
            c_close(fd)
            _raise_errno(rc)
        self._efd = fd
        self.inline_reads = bool(inline_reads)
        self._deferred = bool(deferred)
        self._closed = False

    cdef int _check_fork(self) except -1:
        if self._pool != NULL and lxa_pool_inherited(self._pool):
            self._adopt_after_fork()
        return 0

    cdef int _adopt_after_fork(self) except -1:
        # The eventfd is shared with the parent: put a fresh one behind the
        # same number before anything here can signal it.
        _replace_eventfd(self._efd)
        lxa_pool_after_fork_child(self._pool)
        if lxa_pool_pending(self._pool) or self.early:
            lxa_eventfd_signal(self._efd)
        return 0

    cdef int _check_live(self) except -1:
        if self._closed:
            raise ContextClosedError("I/O operation on closed context.")
        if lxa_pool_inherited(self._pool):
            self._adopt_after_fork()
        return 0

    def submit(self, *ops):
        """Queue ``ops`` in order; return how many were accepted.

        Raises ``TypeError`` for a foreign object before any operation is
        queued. An operation already submitted (in flight or completed, here
        or on another context, or earlier in this call) is skipped and not
        counted, as caio 0.12 does. When the context is full the rest are
        left untouched and ``ContextFullError`` is raised (the
        ``RuntimeError`` caio raised; its ``accepted`` says how many were
        queued).
        """
        self._check_live()
        cdef Py_ssize_t accepted = 0
        cdef Operation op
        cdef object item
        for item in ops:
            if type(item) is not Operation:
                raise ArgumentTypeError(f"expected a thread_aio.Operation, not {type(item).__name__}")
        for item in ops:
            op = <Operation>item
            if op._state != ST_NEW:
                continue  # already submitted: skipped, not counted
            if self._in_flight >= self._max_requests:
                _raise_full(accepted, self._max_requests)
            try:
                self._submit_one(op)
            except OSError:
                if accepted == 0:
                    raise
                break  # the rest are untouched and may be submitted later
            accepted += 1
        return accepted

    cdef int _accept_one(self, Operation op) except -1:
        """``submit(op)`` for one operation already known to be a new thread_aio Operation."""
        if self._in_flight >= self._max_requests:
            return 0
        self._submit_one(op)
        return 1

    cdef int _submit_one(self, Operation op) except -1:
        if self._served_here(op, False):
            return self._complete_early(op)
        return self._to_pool(op)

    cdef bint _served_here(self, Operation op, bint may_write) except -1:
        """Prepare ``op``'s job and serve it on this thread if it can be: True if done (``_job.result``).

        A small read the page cache holds (``_try_inline``); with
        ``may_write`` (the adapter's inline path only, whose time slice bounds
        it), a small buffered write the write guard allows (``_wguard.pxi``).
        """
        cdef int rc
        cdef int64_t result
        cdef int64_t now = 0
        op._fill_job()
        if op._opcode == OP_READ and op._rbuf == NULL and op._nbytes > 0:
            rc = op._alloc_read()
            if rc < 0:  # failed before reaching the pool
                op._job.result = rc
                return True
            op._job.buf = op._base
        # Inline only into memory whose page faults cannot wait for a disk:
        # our own bytes object, or a bytearray (anonymous heap memory). A
        # caller's mmap of a file could fault in from the device.
        if (
            self.inline_reads
            and op._nbytes <= INLINE_READ_MAX
            and (op._opcode == OP_READ or (op._opcode == OP_READINTO and type(op._payload) is bytearray))
        ):
            return self._try_inline(op)
        if (
            may_write
            and op._opcode == OP_WRITE
            and op._nbytes - op._done <= LXA_WGUARD_MAX_BYTES
            and not _wguard.unusable
            and lxa_wguard_fd_inline(&_wguard, op._fd, _clock(&now)) == 1
        ):
            result = _guarded_write(op, now)
            if result != NOT_WRITTEN:
                op._job.result = result
                return True
        return False

    cdef int _to_pool(self, Operation op) except -1:
        """Hand ``op`` (its job prepared) to the pool; it signals the eventfd when done."""
        cdef int rc
        op._job.user = <void *>op
        op._state = ST_QUEUED
        Py_INCREF(op)  # the pool's reference, dropped when process_events() takes it back
        rc = lxa_pool_submit(self._pool, &op._job)
        if rc < 0:
            op._state = ST_NEW
            op._job.user = NULL
            Py_DECREF(op)
            _raise_errno(rc)
        self._in_flight += 1
        return 0

    # -- the inline path of the asyncio adapter (_adapter_inline.pxi) ---------------

    cdef bint _completes_inline(self, Operation op) noexcept:
        """Will ``op`` most likely be served on the submitting thread (a cached read, a guarded write)?"""
        cdef int opcode = op._opcode
        if opcode == OP_READ or (opcode == OP_READINTO and type(op._payload) is bytearray):
            return self.inline_reads and op._nbytes <= INLINE_READ_MAX and self.inline_skip == 0
        if opcode == OP_WRITE:
            return not _wguard.unusable and op._nbytes <= LXA_WGUARD_MAX_BYTES
        return False

    cdef int _inline(self, Operation op) except -1:
        """Serve ``op`` here if it can be (INLINE_DONE: completed, callback run), else hand it to the pool."""
        if self._served_here(op, True):
            op._state = ST_QUEUED
            _complete_op(op)
            _deliver(op)
            return INLINE_DONE
        self._to_pool(op)
        return INLINE_IN_FLIGHT

    cdef int _complete_early(self, Operation op) except -1:
        # Completed without the pool: delivered by the next process_events(),
        # signalled like the pool's completions (empty -> non-empty).
        op._state = ST_QUEUED
        self.early.append(op)
        self._in_flight += 1
        if len(self.early) == 1:
            lxa_eventfd_signal(self._efd)
        return 0

    cdef bint _try_inline(self, Operation op) except -1:
        """Serve a small read from the page cache here, without a thread hop; False on a miss."""
        cdef int64_t rc
        if self.inline_skip > 0:  # recent misses: this workload is not cached
            self.inline_skip -= 1
            return False
        rc = lxa_read_cached(op._job.fd, op._job.buf, op._job.len, op._job.offset)
        if rc >= 0:
            self.inline_backoff = 0
            op._job.result = rc
            return True
        if rc == -_errno.ENOSYS:  # no preadv2 (old kernel, seccomp): never again here
            self.inline_reads = False
        else:  # not cached, or not possible on this fd: the pool does it; try less often
            self.inline_backoff = min(max(1, 2 * self.inline_backoff), _INLINE_BACKOFF_MAX)
            self.inline_skip = self.inline_backoff
        return False

    def cancel(self, *ops):
        """Withdraw operations no worker has started; they complete with ``-ECANCELED``."""
        self._check_live()
        cdef int cancelled = 0
        cdef Operation op
        for item in ops:
            if type(item) is Operation:
                op = <Operation>item
                if op._state == ST_QUEUED and op._job.user != NULL:
                    if lxa_pool_cancel(self._pool, &op._job) == 0:
                        cancelled += 1
        return cancelled

    cdef Py_ssize_t _deliver_ready(self, Py_ssize_t limit) except -1:
        """``process_events`` without waiting: at most ``limit`` callbacks (0: all there are).

        Completions left over by the limit stay first in line (``pending()``)
        and keep the eventfd readable (caio 0.12's loop waits on it).
        """
        cdef Py_ssize_t count
        if self._pool == NULL:
            return 0
        self._check_fork()
        try:
            count = self._process(limit, True)
        finally:
            if limit > 0 and self._done:
                lxa_eventfd_signal(self._efd)
        return count

    def pending(self):
        """True if ``process_events()`` has completions to deliver right now (no system call).

        Completions the pool finished since the last call are told by the
        eventfd only.
        """
        return bool(self._done) or bool(self.early)

    def reap(self):
        """Deliver the completions ``pending()`` reports, without touching the eventfd; how many ran."""
        if self._pool == NULL:
            return 0
        self._check_fork()
        return self._process(0, False)

    cdef Py_ssize_t _process(self, Py_ssize_t limit, bint take_pool) except -1:
        cdef lxa_job *job
        cdef Operation op
        cdef list done = self._done
        cdef Py_ssize_t count
        if take_pool:
            # Drain the hint before taking the list: a completion queued after
            # the take finds the list empty and signals again (eventfd(2)).
            lxa_eventfd_drain(self._efd)
            job = lxa_pool_take_done(self._pool)
            while job != NULL:
                op = <Operation>job.user  # a new reference; the pool's one is dropped here
                job = job.next
                op._job.user = NULL
                Py_DECREF(op)
                _complete_op(op)
                done.append(op)
        if self.early:
            for op in self.early:
                _complete_op(op)
            done.extend(self.early)
            self.early = []
        if not done:
            return 0
        if 0 < limit < len(done):
            batch = done[:limit]
            del done[:limit]
        else:
            batch, self._done = done, []
        count = len(batch)
        self._in_flight -= count
        first_error = None
        for op in batch:
            try:
                _deliver(op)
            except BaseException as exc:  # re-raised below, after every callback ran
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
        if self._closed:
            return
        self._check_fork()
        self._closed = True
        cdef lxa_pool *pool = self._pool
        with nogil:
            lxa_pool_shutdown(pool)
        try:
            self._process(0, True)
        finally:
            self._pool = NULL
            lxa_pool_destroy(pool)
            c_close(self._efd)
            self._efd = -1

    def __del__(self):
        if self._closed or self._pool == NULL:
            return
        message = f"unclosed context {self!r}"  # the state it was in, before it is marked closed
        self._closed = True
        try:
            warnings.warn(message, ResourceWarning, source=self, stacklevel=2)
        finally:
            self._abandon()

    cdef int _abandon(self) except -1:
        # Free everything without blocking on I/O: if operations are still in
        # flight, a daemon thread waits for them; their callbacks never run.
        self._check_fork()
        cdef _Reaper reaper = _Reaper.__new__(_Reaper)
        reaper._pool, self._pool = self._pool, NULL
        reaper._efd, self._efd = self._efd, -1
        reaper.early, self.early = self.early, []
        if lxa_pool_pending(reaper._pool) == 0:
            reaper.run()  # only idle workers to join: quick
            return 0
        try:
            _run_reaper(reaper.run, "thread_aio-reaper")
        except BaseException:
            reaper._pool = NULL  # cannot wait for the workers: leak rather than free live memory
            raise
        return 0

    def __dealloc__(self):
        cdef _Reaper reaper
        if self._pool != NULL:  # __del__ did not run (interpreter teardown)
            reaper = _Reaper.__new__(_Reaper)
            reaper._pool, self._pool = self._pool, NULL
            reaper._efd, self._efd = self._efd, -1
            reaper.early = self.early
            reaper.run()


include "_adapter_inline.pxi"


@cython.final
cdef class _Reaper:
    """Finishes an abandoned context's pool: waits for its workers, drops its operations."""

    cdef lxa_pool *_pool
    cdef int _efd
    cdef list early

    def __cinit__(self):
        self._pool = NULL
        self._efd = -1

    def run(self):
        cdef lxa_pool *pool = self._pool
        cdef lxa_job *job
        cdef lxa_job *head
        cdef Operation op
        if pool == NULL:
            return
        self._pool = NULL
        with nogil:
            lxa_pool_shutdown(pool)
        head = lxa_pool_take_done(pool)
        while head != NULL:
            job = head
            head = job.next
            op = <Operation>job.user
            op._job.user = NULL
            Py_DECREF(op)
            _complete_op(op)
            op._callback = None
        self.early = None
        lxa_pool_destroy(pool)
        if self._efd >= 0:
            c_close(self._efd)
            self._efd = -1
