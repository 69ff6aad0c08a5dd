"""io_uring backend: one ring per context, raw system calls, completions reaped in user space.

This module keeps the Context protocol of ``abstract.py`` (``python_aio`` is
the reference behaviour). How an operation travels:

* ``io_uring_setup``, ``io_uring_enter`` and ``io_uring_register`` are made
  with ``syscall(2)`` (``csrc/lxu_ring.c``); the SQ ring, CQ ring and SQE
  array are mmap'd. No liburing, at build or run time.
* Every operation becomes one SQE whose ``user_data`` is the operation
  itself (the context holds a strong reference until its CQE is reaped).
  Operations submitted together go to the kernel in one ``io_uring_enter``.
  Reads and writes of any file (regular, block device, pipe, socket, procfs)
  go through the ring: the kernel completes cached transfers inside the
  call and hands what would block to its own workers or to poll, so no
  thread of ours hops and the caller never waits for a disk.
* The ring has a registered eventfd (``IORING_REGISTER_EVENTFD``,
  ``EFD_NONBLOCK | EFD_CLOEXEC``): the event loop watches it, and
  ``process_events()`` consumes CQEs from the mapped CQ ring without a
  system call. While a submission of our own is being made and reaped
  inline, the eventfd is muted (``IORING_CQ_EVENTFD_DISABLED``), so a
  read served from the page cache wakes nobody.
* The SQ ring holds ``min(next power of two >= max_requests, 1024)``
  entries and the CQ ring twice that; more operations in flight than CQ
  entries are kept by the kernel (``IORING_FEAT_NODROP``, required) and
  flushed by an ``io_uring_enter`` when ``IORING_SQ_CQ_OVERFLOW`` is set.
* File-system operations are ring requests too: ``openat`` (``O_CLOEXEC``
  added), ``close_fd``, ``statx``, ``renameat``, ``unlinkat``, ``mkdirat``,
  ``linkat``, ``symlinkat``, ``fallocate``, ``ftruncate``, ``fadvise``
  (``IORING_OP_*``, from the same system-call description the pool would
  run); ``copy_file_range`` and ``getdents`` have no opcode and run on the
  C pool.
* Opcodes are probed at ring setup (``IORING_REGISTER_PROBE``); an
  operation whose opcode this kernel lacks runs on the C thread pool
  (``csrc/lxa_pool.c``) with the same eventfd completion path
  (``Context._force_missing(name)`` makes a test take that path).

Setup flags: ``IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN`` by
default (``SETUP_FLAGS``; see README/the closing note of issue 15 for the
measurements). ``sqpoll=True`` adds ``IORING_SETUP_SQPOLL``.

Cancellation: ``cancel()`` withdraws an operation still waiting for room in
the SQ ring (it completes with ``-ECANCELED``, a write leaves the file
untouched) and sends ``IORING_OP_ASYNC_CANCEL`` for one the kernel holds:
a read or write waiting on a pipe or socket then completes with
``-ECANCELED``; a transfer on a regular file that already runs finishes
normally. The buffer lives until the CQE either way.

Fork: a context used in a forked child never touches the parent's ring (its
mappings and descriptor are dropped unread). At first use in the child it
sets up a fresh ring and eventfd at the same descriptor number; operations
the parent had in flight complete in the child with ``-ECANCELED``.
"""

import errno as _errno
import os
import warnings

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_Check
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject, PyTypeObject, inquiry, visitproc
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from libc.errno cimport EAGAIN, EBUSY, EINTR, EINVAL, ENOMEM, ENOSYS, EPERM
from libc.stdint cimport int64_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memset
from posix.fcntl cimport F_GETFL, O_CLOEXEC, O_NONBLOCK, fcntl
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport close as c_close

cdef extern from "<errno.h>":
    enum:
        ECANCELED

cdef extern from "<unistd.h>" nogil:
    int dup3(int oldfd, int newfd, int flags)

from kaio cimport LXA_MAX_RW_COUNT, LXA_ROUTE_KERNEL, RWF_NOWAIT, lxa_fd_route, lxa_iov_advance
from lxa_eventfd cimport lxa_eventfd_drain, lxa_eventfd_open, lxa_eventfd_signal
from lxa_wguard cimport (
    LXA_WGUARD_MAX_BYTES,
    lxa_pwrite_all,
    lxa_wguard,
    lxa_wguard_allow,
    lxa_wguard_done,
    lxa_wguard_fd_ok,
    lxa_wguard_init,
    lxa_wguard_now_ns,
    lxa_wguard_set_test_threshold,
)
from lxa_pool cimport (
    LXA_OP_FDSYNC,
    LXA_OP_FSYNC,
    LXA_OP_PREAD,
    LXA_OP_PREADV,
    LXA_OP_PWRITE,
    LXA_OP_PWRITEV,
    lxa_pool_create,
    lxa_pool_destroy,
    lxa_pool_pending,
    lxa_pool_shutdown,
    lxa_pool_submit,
    lxa_pool_take_done,
)
from lxu_ring cimport (
    IORING_FEAT_NODROP,
    IORING_FSYNC_DATASYNC,
    IORING_SETUP_COOP_TASKRUN,
    IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_SINGLE_ISSUER,
    IORING_SETUP_SQPOLL,
    IORING_SETUP_SUBMIT_ALL,
    LXU_OP_ASYNC_CANCEL,
    LXU_OP_CLOSE,
    LXU_OP_FADVISE,
    LXU_OP_FALLOCATE,
    LXU_OP_FSYNC,
    LXU_OP_FTRUNCATE,
    LXU_OP_LINKAT,
    LXU_OP_MKDIRAT,
    LXU_OP_OPENAT,
    LXU_OP_RENAMEAT,
    LXU_OP_STATX,
    LXU_OP_SYMLINKAT,
    LXU_OP_UNLINKAT,
    LXU_OP_MAX,
    LXU_OP_NOP,
    LXU_OP_READ,
    LXU_OP_READV,
    LXU_OP_WRITE,
    LXU_OP_WRITEV,
    io_uring_sqe,
    lxu_cq_ready,
    lxu_eventfd_mute,
    lxu_get_events,
    lxu_get_sqe,
    lxu_needs_enter,
    lxu_prep_rw,
    lxu_prep_syscall,
    lxu_reap,
    lxu_register_eventfd,
    lxu_ring_exit,
    lxu_ring_forget,
    lxu_ring_init,
    lxu_ring_probe,
    lxu_sq_pending,
    lxu_submit,
    lxu_syscall_opcode,
)

from . import _args

cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject **bytes, Py_ssize_t newsize) except -1
    unsigned long PyThread_get_thread_ident()
    Py_ssize_t PY_SSIZE_T_MAX

from lxa_forkgen cimport lxa_fork_gen, lxa_fork_gen_init

__all__ = ["Context", "Operation", "OpCode", "probe"]

BACKEND = "uring"
#: Default ``max_requests`` of a raw Context (caio's default).
DEFAULT_MAX_REQUESTS = 32
MAX_MAX_REQUESTS = _args.MAX_REQUESTS_LIMIT
#: The SQ ring has at most this many entries (the CQ ring twice as many).
RING_ENTRIES_MAX = 1024
#: Threads of the pool serving operations whose opcode the kernel lacks.
DEFAULT_POOL_SIZE = 16
MAX_POOL_SIZE = 1024
#: SQPOLL thread idle time before it sleeps (ms).
SQPOLL_IDLE_MS = 1000

#: io_uring_setup flags of every new ring (besides SQPOLL). Module level so
#: that benchmarks can compare choices; see the module docstring.
SETUP_FLAGS = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN
SETUP_SUBMIT_ALL = IORING_SETUP_SUBMIT_ALL
SETUP_COOP_TASKRUN = IORING_SETUP_COOP_TASKRUN
SETUP_SINGLE_ISSUER = IORING_SETUP_SINGLE_ISSUER
SETUP_DEFER_TASKRUN = IORING_SETUP_DEFER_TASKRUN

#: Operation names accepted by ``Context._force_missing`` (test hook), with their opcode.
_OPCODE_OF = {
    "read": LXU_OP_READ,
    "write": LXU_OP_WRITE,
    "readv": LXU_OP_READV,
    "writev": LXU_OP_WRITEV,
    "fsync": LXU_OP_FSYNC,
    "openat": LXU_OP_OPENAT,
    "close_fd": LXU_OP_CLOSE,
    "statx": LXU_OP_STATX,
    "renameat": LXU_OP_RENAMEAT,
    "unlinkat": LXU_OP_UNLINKAT,
    "mkdirat": LXU_OP_MKDIRAT,
    "linkat": LXU_OP_LINKAT,
    "symlinkat": LXU_OP_SYMLINKAT,
    "fallocate": LXU_OP_FALLOCATE,
    "ftruncate": LXU_OP_FTRUNCATE,
    "fadvise": LXU_OP_FADVISE,
}

#: Opcodes every ring must support (else probe() refuses io_uring here).
_REQUIRED = (LXU_OP_READ, LXU_OP_WRITE, LXU_OP_FSYNC, LXU_OP_ASYNC_CANCEL)

cdef enum:
    INLINE_IN_FLIGHT = 0
    INLINE_DONE = 1
    FD_TABLE_MAX = 65536
    INLINE_UNKNOWN = 0
    INLINE_YES = 1
    INLINE_NO = 2
    INLINE_MASK = 3
    KIND_FILE = 4     # a regular file or block device (cached per descriptor)
    KIND_STREAM = 8   # anything else: pipe, socket, tty, procfs...
    KIND_MASK = 12
    CANCEL_TAG = 1  # user_data of our IORING_OP_ASYNC_CANCEL SQEs (operations are aligned pointers)

if lxa_fork_gen_init() != 0:  # pthread_atfork: a library call, no system call
    raise ImportError("linux_uring: pthread_atfork failed")


cdef inline _raise_errno(long long rc, str what):
    code = <int>-rc
    raise OSError(code, f"{what}: {os.strerror(code)}")


include "_argcheck.pxi"
include "_operation_defs.pxi"


cdef object _probe_error = None
cdef bint _probed = False


def _describe_setup_error(int rc):
    if rc == -ENOSYS:
        return OSError(ENOSYS, "io_uring_setup: io_uring is not available (ENOSYS: not built, seccomp or emulation)")
    if rc == -EPERM:
        return OSError(EPERM, "io_uring_setup: refused (EPERM: kernel.io_uring_disabled or seccomp)")
    if rc == -ENOMEM:
        return OSError(ENOMEM, "io_uring_setup: no memory for the rings (ENOMEM: RLIMIT_MEMLOCK on older kernels)")
    if rc == -EINVAL:
        return OSError(EINVAL, "io_uring_setup: refused by this kernel (EINVAL: too old for our setup flags)")
    return OSError(-rc, f"io_uring_setup: {os.strerror(-rc)}")


def probe() -> None:
    """Raise ``OSError`` with the reason if io_uring cannot work here.

    Sets up one small ring with the flags contexts use, probes the opcodes
    this backend needs and checks ``IORING_FEAT_NODROP``; done at the first
    call only (the answer is cached). Importing this module makes no system
    call.
    """
    global _probe_error, _probed
    cdef lxu_ring ring
    cdef unsigned char supported[256]
    cdef int rc, op
    if not _probed:
        _probed = True
        rc = lxu_ring_init(&ring, 2, 0, SETUP_FLAGS, 0)
        if rc < 0:
            _probe_error = _describe_setup_error(rc)
        else:
            try:
                if not ring.features & IORING_FEAT_NODROP:
                    _probe_error = OSError(EINVAL, "io_uring: the kernel lacks IORING_FEAT_NODROP (Linux < 5.5)")
                else:
                    rc = lxu_ring_probe(ring.fd, supported)
                    if rc < 0:
                        _probe_error = OSError(-rc, f"io_uring_register(PROBE): {os.strerror(-rc)}")
                    else:
                        for op in _REQUIRED:
                            if not supported[op]:
                                _probe_error = OSError(EINVAL, f"io_uring: the kernel lacks opcode {op}")
                                break
            finally:
                lxu_ring_exit(&ring)
    if _probe_error is not None:
        raise _probe_error


# -- operations -------------------------------------------------------------------------

include "_operation.pxi"


include "_adapter.pxi"


cdef inline int64_t _combine(int64_t done, int64_t res) noexcept:
    """The result of an operation that moved ``done`` bytes before a step that returned ``res``."""
    if res >= 0:
        return done + res
    return done if done > 0 else res


cdef inline int _ring_opcode(int opcode) noexcept:
    if opcode == OP_READ or opcode == OP_READINTO:
        return LXU_OP_READ
    if opcode == OP_WRITE:
        return LXU_OP_WRITE
    if opcode == OP_READV:
        return LXU_OP_READV
    if opcode == OP_WRITEV:
        return LXU_OP_WRITEV
    return LXU_OP_FSYNC


cdef inline int _uring_op(Operation op) noexcept:
    """The io_uring opcode that performs ``op``, or -1 if it has no ring form (the pool runs it)."""
    if _is_fs(op._opcode):
        return lxu_syscall_opcode(op._job.sysno, op._job.args)
    return _ring_opcode(op._opcode)


cdef unsigned _ring_entries(Py_ssize_t max_requests) noexcept:
    cdef unsigned n = 1
    while n < <unsigned>max_requests and n < RING_ENTRIES_MAX:
        n <<= 1
    return n


include "_wguard.pxi"


include "_context.pxi"


cdef class Context(_ContextCore):
    """linux_uring context: one io_uring per context.

    Args:
        max_requests: operations that may be in flight at once; ``submit``
            accepts no more (it returns how many it took).
        pool_size: threads (started lazily) for operations whose opcode
            this kernel's io_uring lacks.
        sqpoll: caio's keyword: a kernel thread polls the SQ ring
            (``IORING_SETUP_SQPOLL``), so submissions need no system call
            while it is awake. Off by default.
        deferred: caio's keyword, accepted for compatibility; it changes
            nothing here (operations always start at ``submit``).
        ring_entries: SQ ring size (a power of two; default the next one
            >= ``max_requests``, at most 1024); the CQ ring is twice as big.

    ``fileno()`` is the ring's registered eventfd; ``process_events()``
    runs the completion callbacks on the calling thread. ``close()`` waits
    (without the GIL) for in-flight operations on files, cancels those on a
    pipe, FIFO, socket or tty (they complete with ``-ECANCELED``), runs the
    callbacks and releases the ring, the threads and the eventfd. A context
    dropped unclosed warns ``ResourceWarning``; operations still in flight
    are cancelled and finished by a background thread, their callbacks never
    run. See the module docstring for cancellation and fork behaviour.
    """

    def __cinit__(self):
        self._efd = -1
        self._ring.fd = -1

    def __init__(
        self,
        max_requests=DEFAULT_MAX_REQUESTS,
        pool_size=DEFAULT_POOL_SIZE,
        deferred=False,
        sqpoll=False,
        *,
        ring_entries=None,
    ):
        max_requests = _args.check_max_requests(max_requests)
        pool_size = _args.check_pool_size(pool_size, MAX_POOL_SIZE)
        cdef int rc
        if self._efd >= 0:
            raise RuntimeError("Context.__init__ called twice")
        self._max_requests = max_requests
        self._pool_size = <unsigned>pool_size
        if ring_entries is None:
            self._entries = _ring_entries(max_requests)
        else:
            if type(ring_entries) is not int or not 1 <= ring_entries <= 32768:
                raise ValueError(f"ring_entries must be an int in [1, 32768], not {ring_entries!r}")
            self._entries = <unsigned>ring_entries
        self._sqpoll = bool(sqpoll)
        self._deferred = bool(deferred)
        self._ready = []
        self._backlog = []
        self._fork_gen = lxa_fork_gen()
        rc = lxa_eventfd_open()
        if rc < 0:
            _raise_errno(rc, "eventfd")
        self._efd = rc
        try:
            self._setup()
        except BaseException:
            c_close(self._efd)
            self._efd = -1
            self._closed = True
            raise

    cdef int _setup(self) except -1:
        """A fresh ring with our eventfd registered and its opcodes probed."""
        cdef unsigned flags = SETUP_FLAGS
        cdef int rc
        if self._sqpoll:
            # The SQ thread runs the task work: COOP/DEFER_TASKRUN do not apply (EINVAL).
            flags = (flags & ~(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER)) | IORING_SETUP_SQPOLL
        rc = lxu_ring_init(&self._ring, self._entries, 2 * self._entries, flags, SQPOLL_IDLE_MS)
        if rc < 0:
            raise _describe_setup_error(rc)
        rc = lxu_ring_probe(self._ring.fd, self._supported)
        if rc < 0:
            memset(self._supported, 0, sizeof(self._supported))
        rc = lxu_register_eventfd(self._ring.fd, self._efd)
        if rc < 0:
            lxu_ring_exit(&self._ring)
            _raise_errno(rc, "io_uring_register(EVENTFD)")
        self._has_ring = True
        if self._cqes == NULL:
            self._cqes_cap = self._ring.cq_entries
            self._cqes = <lxu_cqe *>PyMem_Malloc(self._cqes_cap * sizeof(lxu_cqe))
            if self._cqes == NULL:
                raise MemoryError()
        return 0

    def __del__(self):
        try:
            if not self._closed and self._efd >= 0:
                warnings.warn(f"unclosed context {self!r}", ResourceWarning, source=self, stacklevel=2)
        finally:
            if self._in_flight:
                self._abandon()

    cdef int _abandon(self) except -1:
        """A dropped context with operations in flight: a reaper cancels and finishes them, then frees all."""
        cdef _Reaper reaper = _Reaper.__new__(_Reaper)
        cdef PyObject *p = self._head
        cdef Operation op
        self._closed = True
        if self._fork_gen == lxa_fork_gen() and self._has_ring:
            reaper.ring = self._ring
            reaper.has_ring = True
            reaper.kernel_in_flight = self._kernel_in_flight
            reaper.pool, self._pool = self._pool, NULL
        elif self._has_ring:
            lxu_ring_forget(&self._ring)
        self._has_ring = False
        self._ring.fd = -1
        reaper.cqes, self._cqes = self._cqes, NULL
        reaper.cqes_cap = self._cqes_cap
        reaper.efd, self._efd = self._efd, -1
        self._kernel_in_flight = 0
        ops = []
        while p != NULL:
            op = <Operation>p
            p = op._next
            op._prev = op._next = NULL
            op._context = NULL
            op._callback = op._adapter = op._future = None
            ops.append(op)
            Py_DECREF(op)
        self._head = NULL
        self._in_flight = 0
        self._ready = []
        self._backlog = []
        reaper.ops = ops
        if reaper.kernel_in_flight == 0 and (reaper.pool == NULL or lxa_pool_pending(reaper.pool) == 0):
            reaper.run()
            return 0
        try:
            _run_reaper(reaper.run, "linux_uring-reaper")  # streams are cancelled first (IORING_ASYNC_CANCEL_ANY)
        except BaseException:
            reaper.has_ring = False  # cannot wait: leak rather than free memory the kernel uses
            reaper.pool = NULL
            reaper.cqes = NULL
            reaper.ops = None
            for item in ops:
                Py_INCREF(item)
            raise
        return 0

    def __dealloc__(self):
        if self._pool != NULL:
            if self._fork_gen == lxa_fork_gen():
                with nogil:
                    lxa_pool_shutdown(self._pool)
                lxa_pool_destroy(self._pool)
            self._pool = NULL
        if self._has_ring:
            if self._fork_gen == lxa_fork_gen():
                lxu_ring_exit(&self._ring)
            else:
                lxu_ring_forget(&self._ring)
            self._has_ring = False
        if self._efd >= 0:
            c_close(self._efd)
            self._efd = -1
        PyMem_Free(self._cqes)
        self._cqes = NULL
        PyMem_Free(self._inline_fds)
        self._inline_fds = NULL

    # -- introspection -------------------------------------------------------------------

    @property
    def ring_fd(self):
        """The io_uring descriptor (``-1`` once closed)."""
        return self._ring.fd if self._has_ring else -1

    @property
    def setup_flags(self):
        """The ``IORING_SETUP_*`` flags the ring was created with."""
        return self._ring.setup_flags if self._has_ring else 0

    @property
    def ring_entries(self):
        """``(sq_entries, cq_entries)`` of the ring."""
        if not self._has_ring:
            return (0, 0)
        return (self._ring.sq_entries, self._ring.cq_entries)

    @property
    def kernel_in_flight(self):
        """Operations whose CQE has not been reaped yet."""
        return self._kernel_in_flight

    def supports(self, name):
        """True if this ring runs operation ``name`` (``"read"``, ``"write"``, ...) itself, not the pool."""
        return bool(self._supported[_OPCODE_OF[name]])

    def _force_missing(self, name):
        """Tests: act as if the kernel lacked the opcode of ``name``: such operations go to the pool."""
        self._supported[_OPCODE_OF[name]] = 0

    @property
    def sqpoll(self):
        """True if the ring has a kernel SQ polling thread (caio 0.12's ``sqpoll=``)."""
        return self._sqpoll

    def pending(self):
        """True if ``process_events()`` has completions to deliver right now (no system call)."""
        if self._closed:
            return False
        if self._fork_gen != lxa_fork_gen():
            return True
        if self._ready:
            return True
        return self._kernel_in_flight > 0 and (lxu_cq_ready(&self._ring) > 0 or lxu_needs_enter(&self._ring))

    # -- bookkeeping ---------------------------------------------------------------------

    cdef int _check_live(self) except -1:
        if self._closed:
            raise ContextClosedError("I/O operation on closed context.")
        if self._fork_gen != lxa_fork_gen():
            self._after_fork()
        if not self._has_ring and self._setup_errno:
            code = self._setup_errno
            raise OSError(code, f"linux_uring: no ring in this forked child (io_uring_setup: {os.strerror(code)})")
        return 0

    cdef int _link(self, Operation op) except -1:
        """The context owns ``op`` (a strong reference) until its callback ran."""
        Py_INCREF(op)
        op._context = <PyObject *>self
        op._prev = NULL
        op._next = self._head
        if self._head != NULL:
            (<Operation>self._head)._prev = <PyObject *>op
        self._head = <PyObject *>op
        self._in_flight += 1
        return 0

    cdef int _unlink(self, Operation op) except -1:
        if op._prev != NULL:
            (<Operation>op._prev)._next = op._next
        else:
            self._head = op._next
        if op._next != NULL:
            (<Operation>op._next)._prev = op._prev
        op._prev = op._next = NULL
        op._context = NULL
        self._in_flight -= 1
        Py_DECREF(op)
        return 0

    cdef int _complete(self, Operation op, int64_t result) except -1:
        op._result = _combine(op._done, result)
        op._state = ST_READY
        self._ready.append(op)
        return 0

    cdef int _after_fork(self) except -1:
        """In a forked child: drop the parent's ring, pool and eventfd; set up fresh ones."""
        cdef PyObject *p = self._head
        cdef Operation op
        self._fork_gen = lxa_fork_gen()
        while p != NULL:
            op = <Operation>p
            p = op._next
            if op._state != ST_READY:
                op._result = -ECANCELED
                op._state = ST_READY
                self._ready.append(op)
        self._kernel_in_flight = 0
        self._backlog = []
        if self._pool != NULL:
            lxa_pool_destroy(self._pool)  # allowed in a forked child (lxa_pool.h)
            self._pool = NULL
        if self._has_ring:
            lxu_ring_forget(&self._ring)  # never writes to the parent's ring memory
            self._has_ring = False
        try:
            _replace_eventfd(self._efd)
        except OSError:
            self._closed = True
            raise
        try:
            self._setup()
        except OSError as exc:
            self._setup_errno = exc.errno or EINVAL
            if self._ready:
                lxa_eventfd_signal(self._efd)
            raise
        if self._ready:
            lxa_eventfd_signal(self._efd)
        return 0

    cdef unsigned char *_fd_slot(self, int fd) noexcept:
        """The per-descriptor byte (inline state | kind), or NULL (fd out of the table's range, no memory)."""
        cdef int n
        cdef unsigned char *grown
        if fd < 0 or fd >= FD_TABLE_MAX:
            return NULL
        if fd >= self._ninline_fds:
            n = max(64, self._ninline_fds * 2, fd + 1)
            if n > FD_TABLE_MAX:
                n = FD_TABLE_MAX
            grown = <unsigned char *>PyMem_Realloc(self._inline_fds, n)
            if grown == NULL:
                return NULL
            memset(&grown[self._ninline_fds], 0, n - self._ninline_fds)
            self._inline_fds = grown
            self._ninline_fds = n
        return &self._inline_fds[fd]

    cdef int _note_inline(self, int fd, bint inline) except -1:
        cdef unsigned char *slot = self._fd_slot(fd)
        if slot != NULL:
            slot[0] = (slot[0] & ~INLINE_MASK) | (INLINE_YES if inline else INLINE_NO)
        return 0

    cdef bint _nowait_stream(self, int fd) noexcept:
        """Is ``fd`` a pipe, socket or other stream opened O_NONBLOCK? (Then its transfers must not wait.)

        A descriptor's kind is classified once (fstat) and cached; a stream's
        O_NONBLOCK flag is read per operation (it can change at any time).
        io_uring itself would arm poll and wait on such a descriptor; with
        RWF_NOWAIT it answers EAGAIN as read(2)/write(2) do.
        """
        cdef unsigned char *slot = self._fd_slot(fd)
        cdef unsigned char kind
        cdef uint64_t dev = 0, ino = 0
        cdef int flags
        kind = slot[0] & KIND_MASK if slot != NULL else 0
        if kind == 0:
            kind = KIND_FILE if lxa_fd_route(fd, &dev, &ino) == LXA_ROUTE_KERNEL else KIND_STREAM
            if slot != NULL:
                slot[0] = (slot[0] & ~KIND_MASK) | kind
        if kind == KIND_FILE:
            return False
        flags = fcntl(fd, F_GETFL)
        return flags >= 0 and (flags & O_NONBLOCK) != 0

    # -- starting operations -------------------------------------------------------------

    cdef int _to_pool(self, Operation op) except -1:
        """Run ``op`` on the C pool (its opcode is missing here); it signals our eventfd when done."""
        cdef int rc
        if self._pool == NULL:
            rc = lxa_pool_create(&self._pool, self._pool_size, self._efd)
            if rc < 0:
                self._pool = NULL
                return self._complete(op, rc)
        op._fill_job()
        op._job.user = <void *>op
        rc = lxa_pool_submit(self._pool, &op._job)
        if rc < 0:
            return self._complete(op, rc)
        op._state = ST_THREAD
        return 0

    cdef int _prep(self, Operation op) except -1:
        """Put ``op`` in an SQE; 0 if the SQ ring is full (nothing done)."""
        cdef io_uring_sqe *sqe = lxu_get_sqe(&self._ring)
        cdef int opcode = op._opcode
        cdef int64_t done = op._done
        cdef int64_t left
        cdef uint64_t ud = <uint64_t><uintptr_t><void *>op
        if sqe == NULL:
            return 0
        if _is_fs(opcode):
            # The call the pool would make, as a ring request (paths and buffers live in op).
            lxu_prep_syscall(sqe, op._job.sysno, op._job.args, ud)
        elif opcode == OP_READV or opcode == OP_WRITEV:
            lxu_prep_rw(sqe, _ring_opcode(opcode), op._fd, op._iov_cur, <uint32_t>op._iovcnt_cur,
                        <uint64_t>(op._offset + done), ud)
        elif opcode == OP_FSYNC or opcode == OP_FDSYNC:
            lxu_prep_rw(sqe, LXU_OP_FSYNC, op._fd, NULL, 0, 0, ud)
            if opcode == OP_FDSYNC:
                sqe.fsync_flags = IORING_FSYNC_DATASYNC
        else:
            left = op._nbytes - done
            if left > LXA_MAX_RW_COUNT:
                left = LXA_MAX_RW_COUNT
            lxu_prep_rw(sqe, _ring_opcode(opcode), op._fd, op._base + done, <uint32_t>left,
                        <uint64_t>(op._offset + done), ud)
        if not _is_fs(opcode) and not _is_sync(opcode) and self._nowait_stream(op._fd):
            sqe.rw_flags = RWF_NOWAIT
        op._ext.cancel_sent = False
        op._state = ST_KERNEL
        self._kernel_in_flight += 1
        return 1

    cdef int _queue(self, Operation op) except -1:
        """Start an accepted operation: an SQE (submitted at the next enter), the backlog, or the pool."""
        cdef int rc
        cdef int uop = _uring_op(op)
        if op._opcode == OP_READ and op._rbuf == NULL and op._nbytes > 0:
            rc = op._alloc_read()
            if rc < 0:
                return self._complete(op, rc)
        if uop < 0 or not self._supported[uop]:  # no ring form, or this kernel lacks the opcode
            return self._to_pool(op)
        if not self._has_ring:
            return self._complete(op, -EINVAL)
        if self._backlog or not self._prep(op):
            self._enter(0)  # make room: the kernel consumes the SQ ring
            if self._backlog or not self._prep(op):
                op._state = ST_QUEUED
                self._backlog.append(op)
        return 0

    cdef int _enter(self, unsigned wait_nr) except -1:
        """Submit every prepared SQE (and what the backlog can now fit) in one io_uring_enter."""
        cdef int rc
        cdef Py_ssize_t i, n
        cdef Operation op
        if not self._has_ring:
            return 0
        while True:
            if lxu_sq_pending(&self._ring) == 0 and wait_nr == 0 and not lxu_needs_enter(&self._ring):
                if not (self._ring.setup_flags & IORING_SETUP_DEFER_TASKRUN) and not self._backlog:
                    return 0
            if wait_nr:
                with nogil:
                    rc = lxu_submit(&self._ring, wait_nr)
            else:
                rc = lxu_submit(&self._ring, 0)
            if rc == -EAGAIN or rc == -EBUSY or rc == -EINTR:
                return 0  # the SQEs stay queued; reaping makes room
            if rc < 0:
                _raise_errno(rc, "io_uring_enter")
            if not self._backlog:
                return 0
            n = len(self._backlog)
            i = 0
            while i < n:
                op = <Operation>self._backlog[i]
                if not self._prep(op):
                    break
                i += 1
            del self._backlog[:i]
            if i == 0:
                return 0  # SQPOLL: its thread has not consumed the ring yet; the next reap comes back
            wait_nr = 0

    # -- completions ---------------------------------------------------------------------

    cdef int _on_cqe(self, Operation op, int64_t res) except -1:
        cdef int64_t target
        self._kernel_in_flight -= 1
        if res > 0 and _is_write(op._opcode) and not op._ext.cancel_sent:
            # A short write (a full disk stops it at 0 or an error): continue from there.
            target = op._nbytes if op._nbytes < LXA_MAX_RW_COUNT else LXA_MAX_RW_COUNT
            if op._done + res < target:
                op._done += res
                if op._opcode == OP_WRITEV:
                    lxa_iov_advance(&op._iov_cur, &op._iovcnt_cur, <uint64_t>res)
                op._state = ST_CLAIMED
                return self._queue(op)
        return self._complete(op, res)

    cdef Py_ssize_t _reap(self, long limit) except -1:
        """Consume CQEs from the ring (no system call unless the kernel holds an overflow); at most ``limit``."""
        cdef unsigned n, i, cap
        cdef Py_ssize_t total = 0
        cdef uint64_t ud
        if not self._has_ring:
            return 0
        if self._ring.setup_flags & IORING_SETUP_DEFER_TASKRUN and self._kernel_in_flight:
            lxu_get_events(&self._ring, 0)
        while True:
            cap = self._cqes_cap
            if limit > 0:
                if total >= limit:
                    break
                if cap > <unsigned>(limit - total):
                    cap = <unsigned>(limit - total)
            n = lxu_reap(&self._ring, self._cqes, cap)
            if n == 0:
                if lxu_needs_enter(&self._ring):  # CQ overflow backlog (or task work): flush it
                    lxu_get_events(&self._ring, 0)
                    if lxu_cq_ready(&self._ring):
                        continue
                break
            for i in range(n):
                ud = self._cqes[i].user_data
                if ud == CANCEL_TAG:
                    self._cancels_pending -= 1
                    if self._cqes[i].res == 0:  # found and stopped: it completes with -ECANCELED
                        self._cancels_ok += 1
                    continue
                if ud == 0:
                    continue
                self._on_cqe(<Operation><PyObject *><uintptr_t>ud, self._cqes[i].res)
                total += 1
        return total

    cdef int _take_pool_done(self) except -1:
        cdef lxa_job *job
        cdef lxa_job *nxt
        if self._pool == NULL:
            return 0
        job = lxa_pool_take_done(self._pool)
        while job != NULL:
            nxt = job.next
            self._complete(<Operation>job.user, job.result)
            job = nxt
        return 0

    cdef int _run_callbacks(self, list done) except -1:
        cdef Operation op
        first_error = None
        for item in done:
            op = <Operation>item
            op._finish()
            op._state = ST_DONE
            callback = op._callback
            op._callback = None
            self._unlink(op)
            try:
                if callback is not None:
                    callback(op._result)
                elif op._adapter is not None:
                    _resolve(op)
            except BaseException as exc:
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error
        return 0

    cdef int _cancel_op(self, Operation op) except -1:
        """IORING_OP_ASYNC_CANCEL for an operation the kernel holds (its CQE still comes)."""
        cdef io_uring_sqe *sqe
        if op._ext.cancel_sent or not self._has_ring:
            return 0
        sqe = lxu_get_sqe(&self._ring)
        if sqe == NULL:
            self._enter(0)
            sqe = lxu_get_sqe(&self._ring)
            if sqe == NULL:
                return 0
        lxu_prep_rw(sqe, LXU_OP_ASYNC_CANCEL, -1, NULL, 0, 0, CANCEL_TAG)
        sqe.addr = <uint64_t><uintptr_t><void *>op
        op._ext.cancel_sent = True
        self._cancels_pending += 1
        return 1

    # -- the protocol --------------------------------------------------------------------

    def submit(self, *ops):
        """Start ``ops`` in order; return how many were accepted.

        Raises ``TypeError`` for a foreign object before any operation starts.
        An operation already submitted (in flight or completed, here or on
        another context, or earlier in this call) is skipped and not counted,
        as caio 0.12 does. When the context is full the rest are left
        untouched and, once the accepted ones are on their way,
        ``ContextFullError`` is raised (the ``OverflowError`` caio raised for
        a full ring; its ``accepted`` says how many went). The accepted
        operations reach the kernel in one ``io_uring_enter``; one the
        kernel refuses fails alone (its callback gets ``-errno``).
        """
        cdef Py_ssize_t n = len(ops), i, accepted = 0, room
        cdef Operation op
        cdef bint full = False
        self._check_live()
        for i in range(n):
            item = ops[i]
            if type(item) is not Operation:
                raise ArgumentTypeError(f"expected a linux_uring.Operation, not {type(item).__name__}")
        room = self._max_requests - self._in_flight
        if room <= 0 or n == 0:
            for i in range(n):
                if (<Operation>ops[i])._state == ST_NEW:
                    _raise_full(0, self._max_requests)
            return 0
        had_ready = bool(self._ready)
        for i in range(n):
            op = <Operation>ops[i]
            if op._state != ST_NEW:
                continue  # already submitted: skipped, not counted
            if accepted == room:
                full = True
                break
            op._state = ST_CLAIMED
            self._link(op)
            accepted += 1
            try:
                self._queue(op)
            except MemoryError:
                if op._state == ST_CLAIMED:
                    self._complete(op, -ENOMEM)
                else:
                    raise
        self._enter(0)
        if self._ready and not had_ready:
            lxa_eventfd_signal(self._efd)  # completions made here: wake the reader
        if full:
            _raise_full(accepted, self._max_requests)
        return accepted

    def cancel(self, *ops):
        """Cancel operations of this context; return how many cancellations were made.

        One waiting for room in the SQ ring is withdrawn (it completes with
        ``-ECANCELED``); for one the kernel holds, ``IORING_OP_ASYNC_CANCEL``
        is sent: it completes with ``-ECANCELED`` if the kernel could stop it
        (a transfer waiting on a pipe or socket), else with its own result.
        Its buffer lives until then.
        """
        cdef Operation op
        cdef int count = 0
        self._check_live()
        for item in ops:
            if type(item) is not Operation:
                continue
            op = <Operation>item
            if op._context != <PyObject *>self:
                continue
            if op._state == ST_QUEUED and op in self._backlog:
                self._backlog.remove(op)
                self._complete(op, -ECANCELED)
                lxa_eventfd_signal(self._efd)
                count += 1
            elif op._state == ST_KERNEL:
                self._cancel_op(op)
        # The kernel answers a cancel at once (found, running, or gone):
        # wait for those answers so the count is what will complete with
        # -ECANCELED. Completions reaped meanwhile wait in the ready list.
        self._cancels_ok = 0
        self._enter(0)
        while self._cancels_pending > 0 and self._has_ring:
            if self._reap(0) == 0 and self._cancels_pending > 0:
                self._enter(1)
        count += self._cancels_ok
        self._cancels_ok = 0
        if self._ready:
            lxa_eventfd_signal(self._efd)
        return count

    cdef Py_ssize_t _deliver_ready(self, Py_ssize_t limit) except -1:
        """``process_events`` without waiting: at most ``limit`` callbacks (0: all there are).

        Completions left over by the limit keep the eventfd readable (it is
        signalled again for them).
        """
        cdef list done
        if self._closed:
            return 0
        if self._fork_gen != lxa_fork_gen():
            self._after_fork()
        lxa_eventfd_drain(self._efd)  # a completion published after this re-signals
        if self._backlog or lxu_sq_pending(&self._ring):
            self._enter(0)
        if limit <= 0:
            self._reap(0)
        elif len(self._ready) < limit:
            self._reap(limit - len(self._ready))
        self._take_pool_done()
        if self._backlog:
            self._enter(0)
        done = self._ready
        if not done:
            return 0
        if 0 < limit < len(done):
            self._ready = done[limit:]
            done = done[:limit]
        else:
            self._ready = []
        if limit > 0 and (self._ready or lxu_cq_ready(&self._ring)):
            lxa_eventfd_signal(self._efd)
        self._run_callbacks(done)
        return len(done)

    def submit_inline(self, Operation op not None):
        """Submit one operation and deliver what the kernel finished inside ``io_uring_enter``.

        Returns True if ``op`` itself has completed (its callback, if any, has
        run); False if it is in flight (see ``Operation.attach_callback``).
        Raises as ``submit``, and ``BlockingIOError`` (nothing submitted) if
        the context is full.
        """
        self._check_live()
        if op._state != ST_NEW:
            raise ValueError(f"operation already submitted: {op!r}")
        if self._in_flight >= self._max_requests:
            raise BlockingIOError(_errno.EAGAIN, "context full")
        return self._inline(op) == INLINE_DONE

    cdef bint _completes_inline(self, Operation op) noexcept:
        """Will the kernel most likely finish ``op`` inside ``io_uring_enter``?

        True for a read or write of a descriptor whose last inline attempt
        completed inside the call (a cached file). A wrong guess costs only
        the batching.
        """
        cdef int opcode = op._opcode
        if opcode == OP_WRITE and not _wguard.unusable and op._nbytes - op._done <= LXA_WGUARD_MAX_BYTES:
            return True  # the write guard may let it run on this thread (see _inline)
        if op._fd < 0 or op._fd >= self._ninline_fds or (self._inline_fds[op._fd] & INLINE_MASK) != INLINE_YES:
            return False
        return opcode == OP_READ or opcode == OP_READINTO or opcode == OP_WRITE

    cdef int _inline(self, Operation op) except -1:
        """``submit_inline`` after its checks: INLINE_DONE, or INLINE_IN_FLIGHT.

        A small buffered write to a regular file on a local file system runs
        here when the write guard allows it (``_wguard.pxi``): the kernel would
        hand it to an io-wq worker, and that hop costs more than the write.
        """
        cdef int64_t result
        if (
            op._opcode == OP_WRITE
            and not _wguard.unusable
            and op._nbytes - op._done <= LXA_WGUARD_MAX_BYTES
            and lxa_wguard_fd_ok(op._fd) == 1
        ):
            result = _guarded_write(op)
            if result != NOT_WRITTEN:
                op._state = ST_CLAIMED
                self._link(op)
                self._complete(op, result)
                self._reap_inline()
                return INLINE_DONE if op._state == ST_DONE else INLINE_IN_FLIGHT
        op._state = ST_CLAIMED
        self._link(op)
        try:
            self._queue(op)
        except MemoryError:
            if op._state == ST_CLAIMED:
                self._complete(op, -ENOMEM)
            else:
                raise
        if self._has_ring and lxu_sq_pending(&self._ring):
            # What completes inside the call is reaped below: no eventfd wake-up for it.
            lxu_eventfd_mute(&self._ring, 1)
            try:
                self._enter(0)
            finally:
                lxu_eventfd_mute(&self._ring, 0)
        self._reap_inline()
        if _is_fs(op._opcode):
            return INLINE_DONE if op._state == ST_DONE else INLINE_IN_FLIGHT
        if op._state == ST_DONE:
            self._note_inline(op._fd, True)
            return INLINE_DONE
        if op._state == ST_KERNEL:
            self._note_inline(op._fd, False)
        return INLINE_IN_FLIGHT

    def reap(self):
        """Deliver completions already in the CQ ring, without touching the eventfd.

        Returns how many callbacks ran.
        """
        if self._closed or self._fork_gen != lxa_fork_gen():
            return self._deliver_ready(0)
        return self._reap_inline()

    cdef Py_ssize_t _reap_inline(self) except -1:
        cdef list done
        if self._kernel_in_flight:
            self._reap(0)
            if self._backlog:
                self._enter(0)
        done = self._ready
        if not done:
            return 0
        self._ready = []
        self._run_callbacks(done)
        return len(done)

    def close(self):
        """Stop accepting, finish in-flight operations, run their callbacks, release everything.

        Idempotent. Blocks the calling thread (without the GIL) until the
        kernel is done with every operation on a file; a transfer on a pipe,
        FIFO, socket or tty is cancelled (``IORING_OP_ASYNC_CANCEL``) and
        completes with ``-ECANCELED`` (or the count it already moved).
        """
        cdef PyObject *p
        cdef Operation op
        cdef uint64_t dev = 0, ino = 0
        if self._closed:
            return
        if self._fork_gen != lxa_fork_gen():
            try:
                self._after_fork()
            except OSError:
                pass
        self._closed = True
        try:
            lxa_eventfd_drain(self._efd)
            for item in self._backlog:
                self._complete(<Operation>item, -ECANCELED)
            self._backlog = []
            if self._kernel_in_flight:
                p = self._head
                while p != NULL:
                    op = <Operation>p
                    p = op._next
                    if op._state == ST_KERNEL and lxa_fd_route(op._fd, &dev, &ino) != LXA_ROUTE_KERNEL:
                        self._cancel_op(op)  # a stream may never complete: do not wait for it
                self._enter(0)
            while self._kernel_in_flight and self._has_ring:
                if self._reap(0) == 0:
                    self._enter(1)
            if self._pool != NULL:
                with nogil:
                    lxa_pool_shutdown(self._pool)
                self._take_pool_done()
            done, self._ready = self._ready, []
            self._run_callbacks(done)
        finally:
            self._release()

    cdef int _release(self) except -1:
        if self._pool != NULL:
            with nogil:
                lxa_pool_shutdown(self._pool)
            lxa_pool_destroy(self._pool)
            self._pool = NULL
        if self._has_ring and self._kernel_in_flight == 0:
            lxu_ring_exit(&self._ring)
            self._has_ring = False
        if self._efd >= 0 and self._in_flight == 0:
            c_close(self._efd)
            self._efd = -1
        return 0


include "_adapter_inline.pxi"


@cython.final
cdef class _Reaper:
    """Finishes a dropped context: cancels what its ring holds, waits for the CQEs, frees everything."""

    cdef lxu_ring ring
    cdef bint has_ring
    cdef Py_ssize_t kernel_in_flight
    cdef lxa_pool *pool
    cdef lxu_cqe *cqes
    cdef unsigned cqes_cap
    cdef int efd
    cdef list ops

    def __cinit__(self):
        self.efd = -1
        self.ring.fd = -1

    def run(self):
        cdef lxa_pool *pool = self.pool
        cdef Py_ssize_t pending = self.kernel_in_flight
        cdef unsigned n, i
        cdef io_uring_sqe *sqe
        cdef Operation op
        self.pool = NULL
        if self.has_ring:
            with nogil:
                if pending > 0:
                    sqe = lxu_get_sqe(&self.ring)
                    if sqe == NULL:
                        lxu_submit(&self.ring, 0)
                        sqe = lxu_get_sqe(&self.ring)
                    if sqe != NULL:  # cancel everything this ring holds (IORING_ASYNC_CANCEL_ANY)
                        lxu_prep_rw(sqe, LXU_OP_ASYNC_CANCEL, -1, NULL, 0, 0, 0)
                        sqe.cancel_flags = 1 << 2
                lxu_submit(&self.ring, 0)
                while pending > 0:
                    n = lxu_reap(&self.ring, self.cqes, self.cqes_cap)
                    for i in range(n):
                        if self.cqes[i].user_data != 0:
                            pending -= 1
                    if n == 0 and lxu_get_events(&self.ring, 1) < 0:
                        break
            if pending == 0:
                lxu_ring_exit(&self.ring)
            else:  # cannot tell the kernel is done: leak the ring and the buffers it may still use
                for item in self.ops or ():
                    Py_INCREF(item)
                self.ops = None
            self.has_ring = False
        if pool != NULL:
            with nogil:
                lxa_pool_shutdown(pool)
            lxa_pool_take_done(pool)
            lxa_pool_destroy(pool)
        PyMem_Free(self.cqes)
        self.cqes = NULL
        if self.efd >= 0:
            c_close(self.efd)
            self.efd = -1
        ops, self.ops = self.ops, None
        if ops:
            for item in ops:
                op = <Operation>item
                if op._state == ST_READY:
                    op._finish()
                else:
                    op._release_buffers()
                    Py_XDECREF(op._rbuf)
                    op._rbuf = NULL
                    op._result = -ECANCELED
                op._state = ST_DONE
