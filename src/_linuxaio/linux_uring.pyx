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
  call and hands what would block to its own workers or to poll, and the
  caller never waits for a disk. The exception is a cold file's reads
  (next point), which go to the C pool.
* Buffered reads of regular files, per descriptor: a read of a descriptor
  not known as cold is sent with ``RWF_NOWAIT``, a probe: cached data
  completes inside ``io_uring_enter``; data not cached (``EAGAIN``), or
  only its start (a short count before the end of the file), notes the
  descriptor cold and sends the rest to a worker. A probe is not
  free: on the ring, ``RWF_NOWAIT`` does not stop readahead (Linux 6.18
  submits the missing page's readahead, or the next window at a cached
  page's mark, from the submitting thread). So the cold descriptor's reads
  all go to workers until ``VERIFY_RUN`` checked reads in a row found their
  range cached by ``cachestat(2)`` (which starts nothing); then it is
  trusted again. After a read found not cached the next seven go
  unchecked, so a file that stays cold pays for one cachestat in eight
  reads. Without ``cachestat`` (before Linux 6.5, or ``EPERM`` for the
  file) one read in eight is probed instead.
  The workers are the C pool's (``csrc/lxa_pool.c``, as ``linux_aio``'s),
  not io-wq's: a cold read tried inline starts readahead and later
  finishes as task work, both on the submitting (the loop's) thread,
  milliseconds per batch; sent to io-wq (``IOSQE_ASYNC``), its workers
  block on the disk, and whenever all of them are blocked with work queued
  io-wq asks the submitting thread to start or wake another one
  (``create_worker_cb`` as task work, announced by a reschedule IPI):
  measured with ``perf`` on this 2-vCPU VM, 27% of the loop thread's time
  at 64 cold 4 KiB reads in flight. Through the C pool the same reads
  ran at 75k/s against 58k/s, loop lag p99 0.49 ms against 1.57 ms
  (``_set_cold_reads_to_pool(False)`` restores io-wq for such an A/B).
  ``O_DIRECT`` reads are never
  probed nor sent to a worker: the device queue is their asynchrony. What a
  descriptor is (file, O_DIRECT file, stream) is cached by its number and
  checked again whenever a request leaves that fast path (``_kind_now``):
  a number the kernel reused after close(2) gets what it names now.
* The ring has a registered eventfd (``IORING_REGISTER_EVENTFD``,
  ``EFD_NONBLOCK | EFD_CLOEXEC``): the event loop watches it, and
  ``process_events()`` consumes CQEs from the mapped CQ ring without a
  system call. While a submission of our own is being made and reaped
  inline, the eventfd is muted (``IORING_CQ_EVENTFD_DISABLED``), so a
  read served from the page cache wakes nobody. If a request is still in
  the kernel after that call, the eventfd is signalled once: its completion
  may have been posted on another CPU while the eventfd was muted, and not
  be visible yet to the reap that followed.
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

Priority: ``priority=`` of ``read``, ``write``, ``readinto``, ``readv`` and
``writev`` is the request's ``ioprio`` (``IOPRIO_PRIO_VALUE(class, data)``,
as ``ioprio_set(2)`` takes it; 0 is the thread's own). The kernel checks it:
an unknown class or level fails the operation with ``OSError(EINVAL)``, the
real-time class without ``CAP_SYS_ADMIN``/``CAP_SYS_NICE`` with ``EPERM``. A
write with a priority never takes the inline write-guard path; an operation
the pool runs (its opcode missing) goes without it.

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
from libc.errno cimport EAGAIN, EBUSY, EINTR, EINVAL, ENOMEM, ENOSYS, EOPNOTSUPP, EPERM
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memset
from posix.fcntl cimport F_GETFL, O_CLOEXEC, O_NONBLOCK, fcntl
from posix.stat cimport S_ISBLK, S_ISREG, fstat, struct_stat
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport close as c_close

cdef extern from "<errno.h>":
    enum:
        ECANCELED

cdef extern from "<unistd.h>" nogil:
    int dup3(int oldfd, int newfd, int flags)

from kaio cimport LXA_MAX_RW_COUNT, LXA_ROUTE_KERNEL, RWF_NOWAIT, lxa_fd_is_direct, lxa_fd_route, lxa_iov_advance
from lxa_cached cimport lxa_range_cached
from lxa_eventfd cimport lxa_eventfd_drain, lxa_eventfd_open, lxa_eventfd_signal
from lxa_pool cimport (
    LXA_OP_FDSYNC,
    LXA_OP_FSYNC,
    LXA_OP_PREAD,
    LXA_OP_PREADV,
    LXA_OP_PWRITE,
    LXA_OP_PWRITEV,
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
    LXU_IOSQE_ASYNC,
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
    lxu_register_iowq_max_workers,
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
#: 32, not 16: a cold file's reads run here, one disk request per thread, and
#: at 64 cold 4 KiB reads in flight 32 threads read 14-15% more than 16 at the
#: same loop lag (benchmarks.ab cold-reads with pool_size set, 8 rounds); 64
#: read less again on 2 vCPUs. Threads start only when work waits.
DEFAULT_POOL_SIZE = 32
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
    RETRY_UNIT = 16   # bits 4-6: reads of an INLINE_NO descriptor left before it is checked (cachestat) or probed again
    RETRY_MASK = 0x70
    KIND_DIRECT = 0x80  # a KIND_FILE opened O_DIRECT (noted with the kind)
    CLASS_BITS = 0x8C   # KIND_MASK | KIND_DIRECT: what classification (fstat...) says
    NO_NOWAIT = 0x100   # a KIND_FILE whose file system refuses RWF_NOWAIT reads (EOPNOTSUPP): never probed
    NO_CACHESTAT = 0x200  # cachestat(2) refuses this file (EPERM): cold reads fall back to periodic probes
    SLOT_FLAGS = 0xFFFF   # bits 0-15: the flags above
    VERIFY_UNIT = 0x10000  # bits 16-24: a cold descriptor's reads in a row that cachestat(2) found cached
    VERIFY_MASK = 0x1FF0000
    VERIFY_RUN = 256    # ... that many, and it is trusted as cached again (as linux_aio's VERIFY_RUN)
    DEV_SHIFT = 32      # bits 32-63: the low 32 bits of the classified file's st_dev
    IOWQ_BOUNDED_WORKERS = 64  # io-wq workers for cold reads sent IOSQE_ASYNC (the C pool's scale)
    CANCEL_TAG = 1  # user_data of our IORING_OP_ASYNC_CANCEL SQEs (operations are aligned pointers)

if lxa_fork_gen_init() != 0:  # pthread_atfork: a library call, no system call
    raise ImportError("linux_uring: pthread_atfork failed")


cdef unsigned char _fd_kind(int fd, fd_slot *slot) noexcept:
    """KIND_FILE (regular file, block device) or KIND_STREAM: classified once (fstat), cached in ``slot``
    with KIND_DIRECT for a file opened O_DIRECT."""
    cdef unsigned char kind = slot[0] & KIND_MASK if slot != NULL else 0
    cdef uint64_t dev = 0, ino = 0
    if kind == 0:
        kind = KIND_FILE if lxa_fd_route(fd, &dev, &ino) == LXA_ROUTE_KERNEL else KIND_STREAM
        if slot != NULL:
            slot[0] = (slot[0] & SLOT_FLAGS & ~CLASS_BITS) | kind | ((dev & 0xFFFFFFFF) << DEV_SHIFT)
            if kind == KIND_FILE and lxa_fd_is_direct(fd) == 1:
                slot[0] |= KIND_DIRECT
    return kind


cdef unsigned char _kind_now(int fd, fd_slot *slot) noexcept:
    """``_fd_kind`` checked again: for requests leaving the fast path.

    A slot is keyed by the descriptor's number, which the kernel reuses after
    close(2): a pipe opened after a file was closed can inherit its slot. The
    fast path (a read answered in the call, RWF_NOWAIT, see
    ``_transfer_flags``) trusts the slot, since a wrong answer comes back at
    once as EAGAIN or a short count; every other request (a read sent to a
    worker, a write or vector transfer on the ring, a probe that found no
    data) checks it first. A slot that says file costs fstat(2) and
    fcntl(2) while the descriptor is still a regular file or block device on
    the same device with the same O_DIRECT flag; anything else is classified
    anew (fstat, fstatfs, fcntl), and what the slot learned (cached or cold,
    NO_NOWAIT) is dropped if the class or the device changed.
    """
    cdef struct_stat st
    cdef fd_slot before
    cdef int direct
    if slot == NULL:
        return _fd_kind(fd, NULL)
    if (slot[0] & KIND_MASK) == KIND_FILE and fstat(fd, &st) == 0:
        direct = lxa_fd_is_direct(fd)
        if (
            (S_ISREG(st.st_mode) or S_ISBLK(st.st_mode))
            and (<uint64_t>st.st_dev & 0xFFFFFFFF) == slot[0] >> DEV_SHIFT
            and direct >= 0
            and (direct == 1) == ((slot[0] & KIND_DIRECT) != 0)
        ):
            return KIND_FILE
    before = slot[0] & ~(<fd_slot>SLOT_FLAGS & ~CLASS_BITS)  # class and device
    slot[0] &= SLOT_FLAGS & ~CLASS_BITS
    _fd_kind(fd, slot)
    if (slot[0] & ~(<fd_slot>SLOT_FLAGS & ~CLASS_BITS)) != before:
        slot[0] &= ~(<fd_slot>SLOT_FLAGS & ~CLASS_BITS)  # another descriptor: nothing known of its cache
    return slot[0] & KIND_MASK


cdef bint _is_nonblocking(int fd) noexcept:
    """Was ``fd`` opened (or set) O_NONBLOCK? Read per operation: the flag can change at any time."""
    cdef int flags = fcntl(fd, F_GETFL)
    return flags >= 0 and (flags & O_NONBLOCK) != 0


cdef inline bint _is_buffered_file(int fd, fd_slot *slot) noexcept:
    """A regular file (or block device) read through the page cache (not O_DIRECT)?"""
    return slot != NULL and _fd_kind(fd, slot) == KIND_FILE and not (slot[0] & KIND_DIRECT)


cdef inline bint _probe_first(int fd, fd_slot *slot) noexcept:
    """Is a read of ``fd`` sent as an RWF_NOWAIT probe? A buffered file whose file system takes
    the flag, not known as cold."""
    return _is_buffered_file(fd, slot) and not (slot[0] & NO_NOWAIT) and (slot[0] & INLINE_MASK) != INLINE_NO


cdef extern from "<sys/ioctl.h>" nogil:
    int ioctl(int fd, unsigned long request, ...)

cdef extern from "<linux/fs.h>" nogil:
    unsigned long BLKGETSIZE64  # ioctl: a block device's size in bytes (u64)


cdef bint _ends_at_eof(int fd, int64_t end) noexcept:
    """Does a read that stopped at ``end`` stop at the end of ``fd``'s regular file or block device?

    preadv2(2) with RWF_NOWAIT returns a short count both at the end of the
    file and where the cached part ends; only the second one is "not cached".
    """
    cdef struct_stat st
    cdef uint64_t size = 0
    if fstat(fd, &st) != 0:
        return False
    if S_ISREG(st.st_mode):
        return end >= st.st_size
    return S_ISBLK(st.st_mode) and ioctl(fd, BLKGETSIZE64, &size) == 0 and <uint64_t>end >= size


cdef inline _raise_errno(long long rc, str what):
    code = <int>-rc
    raise OSError(code, f"{what}: {os.strerror(code)}")


include "_argcheck.pxi"
include "_operation_defs.pxi"


#: ``Context._fd_state``'s words: (mask, value under the mask, word).
_FD_STATE_WORDS = (
    (KIND_MASK, KIND_FILE, "file"),
    (KIND_MASK, KIND_STREAM, "stream"),
    (KIND_DIRECT, KIND_DIRECT, "direct"),
    (INLINE_MASK, INLINE_YES, "cached"),
    (INLINE_MASK, INLINE_NO, "cold"),
    (NO_NOWAIT, NO_NOWAIT, "no-nowait"),
    (NO_CACHESTAT, NO_CACHESTAT, "no-cachestat"),
)

#: cachestat(2) exists here (cleared at the first ENOSYS; EPERM is per file: NO_CACHESTAT).
cdef bint _cachestat_usable = True


cdef object _probe_error = None
cdef bint _probed = False


#: io-wq's bounded worker cap for rings made from now on (IOWQ_BOUNDED_WORKERS unless a
#: measurement changed it through _set_iowq_max_workers).
cdef unsigned _iowq_bounded_workers = IOWQ_BOUNDED_WORKERS


def _set_cachestat_usable(usable):
    """Test hook: act as if cachestat(2) exists (``True``, retried at the next cold read) or not (``False``)."""
    global _cachestat_usable
    _cachestat_usable = bool(usable)


#: Reads of a descriptor noted cold go to the C pool (True) or to io-wq workers with
#: IOSQE_ASYNC (False, the A/B's other arm: _set_cold_reads_to_pool).
cdef bint _cold_reads_to_pool = True


def _set_cold_reads_to_pool(on):
    """Diagnostic hook (A/B): a cold descriptor's reads to the C pool (``True``, the default) or to
    io-wq workers (``False``); see the module docstring for why the pool."""
    global _cold_reads_to_pool
    _cold_reads_to_pool = bool(on)


def _set_iowq_max_workers(workers):
    """Diagnostic hook: the io-wq bounded worker cap of rings set up from now on (``None``: the built-in one)."""
    global _iowq_bounded_workers
    _iowq_bounded_workers = IOWQ_BOUNDED_WORKERS if workers is None else int(workers)


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


_MODULE = "linux_uring"
_KERNEL_WHAT = "ring"
_SETUP_CALL = "io_uring_setup"
# caio's linux_uring raises when the ring is full (after the operations before it went).
cdef bint _COUNT_WHEN_FULL = False
include "_list_context.pxi"


cdef class Context(_ListContext):
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
        self._init_list(max_requests, pool_size, deferred, MAX_POOL_SIZE)
        if ring_entries is None:
            self._entries = _ring_entries(self._max_requests)
        else:
            if type(ring_entries) is not int or not 1 <= ring_entries <= 32768:
                raise ValueError(f"ring_entries must be an int in [1, 32768], not {ring_entries!r}")
            self._entries = <unsigned>ring_entries
        self._sqpoll = bool(sqpoll)
        self._open_kernel()

    cdef int _new_kernel(self) except -1:
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
        lxu_register_iowq_max_workers(self._ring.fd, _iowq_bounded_workers)  # older kernels: their default
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

    def __dealloc__(self):
        # The pool and the eventfd are _ListContext.__dealloc__'s.
        if self._has_ring:
            if self._fork_gen == lxa_fork_gen():
                lxu_ring_exit(&self._ring)
            else:
                lxu_ring_forget(&self._ring)
            self._has_ring = False
        PyMem_Free(self._cqes)
        self._cqes = NULL
        PyMem_Free(self._inline_fds)
        self._inline_fds = NULL

    # -- the ring (hooks of _ListContext) --------------------------------------------------

    cdef int _drop_kernel(self) noexcept:
        if self._has_ring:
            lxu_ring_forget(&self._ring)  # never writes to the parent's ring memory
            self._has_ring = False
        return 0

    cdef int _kernel_release(self) noexcept:
        if self._has_ring:
            lxu_ring_exit(&self._ring)
            self._has_ring = False
        return 0

    cdef bint _kernel_has_more(self) noexcept:
        return self._kernel_in_flight > 0 and (lxu_cq_ready(&self._ring) > 0 or lxu_needs_enter(&self._ring))

    cdef object _new_reaper(self):
        """The ring and the CQE scratch go to a reaper (``_abandon``); it cancels what the ring holds."""
        cdef _Reaper reaper = _Reaper.__new__(_Reaper)
        if self._fork_gen == lxa_fork_gen() and self._has_ring:
            reaper.ring = self._ring
            reaper.has_ring = True
            reaper.kernel_in_flight = self._kernel_in_flight
        elif self._has_ring:
            lxu_ring_forget(&self._ring)
        self._has_ring = False
        self._ring.fd = -1
        reaper.cqes, self._cqes = self._cqes, NULL
        reaper.cqes_cap = self._cqes_cap
        return reaper

    cdef int _finish_kernel(self) except -1:
        """``close()``: the backlog is cancelled, transfers on streams too; wait for the rest."""
        cdef PyObject *p
        cdef Operation op
        cdef uint64_t dev = 0, ino = 0
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
        # A request may be requeued while we wait (the rest of a probe or of a short write,
        # _on_cqe): it is in flight for the caller, so it is submitted and waited for too.
        while self._has_ring and (self._kernel_in_flight or self._backlog):
            if self._reap(0) == 0:
                self._enter(1 if self._kernel_in_flight else 0)
        return 0

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

    @property
    def _enters(self):
        """Tests: the ``io_uring_enter`` system calls made on this context's ring since it was set up."""
        return self._ring.enters if self._has_ring else 0

    def _force_missing(self, name):
        """Tests: act as if the kernel lacked the opcode of ``name``: such operations go to the pool."""
        self._supported[_OPCODE_OF[name]] = 0

    def _note_cold(self, int fd):
        """Tests: note ``fd`` cold, as a probe that met uncached data (EAGAIN) does in ``_on_cqe``.

        Whether the kernel answers a probe of just-evicted pages with EAGAIN races
        the readahead the probe itself starts, so a test whose subject is what
        follows a cold note starts from this instead.
        """
        cdef fd_slot *slot = self._fd_slot(fd)
        if slot != NULL:
            _fd_kind(fd, slot)  # classified first, as the probe's read had it
        self._note_inline(fd, False)

    def _fd_state(self, int fd):
        """Tests: what this context has noted of ``fd``: a set of words.

        ``file``/``stream`` (its class), ``direct`` (O_DIRECT), ``cached``/``cold``
        (the last probe's answer), ``no-nowait`` (its file system refuses
        RWF_NOWAIT), ``no-cachestat`` (cachestat(2) refuses it); empty if
        nothing is noted.
        """
        cdef fd_slot value = self._inline_fds[fd] if 0 <= fd < self._ninline_fds else 0
        return frozenset(word for mask, bits, word in _FD_STATE_WORDS if value & mask == bits)

    @property
    def sqpoll(self):
        """True if the ring has a kernel SQ polling thread (caio 0.12's ``sqpoll=``)."""
        return self._sqpoll

    # -- descriptors ---------------------------------------------------------------------

    cdef fd_slot *_fd_slot(self, int fd) noexcept:
        """The per-descriptor slot (inline state | kind | retries | flags), or NULL (fd out of range, no memory)."""
        cdef int n
        cdef fd_slot *grown
        if fd < 0 or fd >= FD_TABLE_MAX:
            return NULL
        if fd >= self._ninline_fds:
            n = max(64, self._ninline_fds * 2, fd + 1)
            if n > FD_TABLE_MAX:
                n = FD_TABLE_MAX
            grown = <fd_slot *>PyMem_Realloc(self._inline_fds, n * sizeof(fd_slot))
            if grown == NULL:
                return NULL
            memset(&grown[self._ninline_fds], 0, (n - self._ninline_fds) * sizeof(fd_slot))
            self._inline_fds = grown
            self._ninline_fds = n
        return &self._inline_fds[fd]

    cdef int _note_inline(self, int fd, bint inline) except -1:
        cdef fd_slot *slot = self._fd_slot(fd)
        if slot != NULL:
            if not inline and (slot[0] & INLINE_MASK) != INLINE_NO:
                # Newly cold: the number may name another file than when cachestat
                # refused one (EPERM is per file): ask it again.
                slot[0] &= ~(<fd_slot>NO_CACHESTAT)
            slot[0] = (slot[0] & ~(<fd_slot>(INLINE_MASK | RETRY_MASK | VERIFY_MASK))) | (
                INLINE_YES if inline else INLINE_NO | RETRY_MASK
            )
        return 0

    cdef int _note_cached(self, int fd) except -1:
        """A probe of ``fd`` was answered from the cache: trusted as cached, unless it is cold and
        cachestat(2) decides when it is cached again (``_cold_range_cached``)."""
        cdef fd_slot *slot = self._fd_slot(fd)
        if slot != NULL and (
            (slot[0] & INLINE_MASK) != INLINE_NO or not _cachestat_usable or slot[0] & NO_CACHESTAT
        ):
            self._note_inline(fd, True)
        return 0

    cdef int _cold_range_cached(self, Operation op, fd_slot *slot) except -2:
        """For a read of a cold descriptor: is its range in the page cache (cachestat(2))? 1, 0, or -1 if
        cachestat cannot tell.

        A probe is no test: RWF_NOWAIT on the ring still starts readahead for a
        missing page (measured on Linux 6.18: block I/O submitted from the
        loop's thread), so a cold descriptor is not probed: cachestat, which
        starts nothing, is asked instead (the read itself goes to a worker
        either way). VERIFY_RUN cached answers in a row and the descriptor is
        trusted as cached again; an answer "not cached" starts the run over.
        """
        global _cachestat_usable
        cdef int64_t size_hint = 0
        cdef int rc
        if not _cachestat_usable or slot[0] & NO_CACHESTAT:
            return -1
        rc = lxa_range_cached(op._fd, op._offset + op._done, <uint64_t>(op._nbytes - op._done), &size_hint)
        if rc == 1:
            if (slot[0] & VERIFY_MASK) >= <fd_slot>(VERIFY_RUN - 1) * VERIFY_UNIT:
                self._note_inline(op._fd, True)
            else:
                slot[0] += VERIFY_UNIT
            return 1
        if rc == 0:
            slot[0] &= ~(<fd_slot>VERIFY_MASK)
            return 0
        if rc == -ENOSYS:
            _cachestat_usable = False
        elif rc == -EPERM:  # a file the caller can neither write nor owns (as mincore(2)), or a filter
            slot[0] |= NO_CACHESTAT
        return -1  # (any other error: cannot tell for this read)

    # -- starting operations -------------------------------------------------------------

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
        if not _is_fs(opcode) and not _is_sync(opcode):
            sqe.ioprio = <uint16_t>op._ioprio  # priority=: the kernel checks it (ioprio_check_cap)
            self._transfer_flags(op, sqe)
        op._ext.cancel_sent = False
        op._state = ST_KERNEL
        self._kernel_in_flight += 1
        return 1

    cdef int _transfer_flags(self, Operation op, io_uring_sqe *sqe) except -1:
        """RWF_NOWAIT / IOSQE_ASYNC for a read or write, from what the descriptor's slot knows.

        * A read of a buffered regular file not known as cold is a probe
          (RWF_NOWAIT): cached data completes in the call, anything else
          comes back at once as EAGAIN or a short count (``_on_cqe``).
        * Everything else first re-checks the descriptor's class
          (``_kind_now``). A pipe, socket or other stream opened O_NONBLOCK
          gets RWF_NOWAIT: io_uring would arm poll and wait on it, read(2)
          answers EAGAIN. A read of a file whose data was not cached when last
          probed goes to the C pool (``_queue``), or with ``_cold_reads_to_pool``
          off to an io-wq worker from the start (IOSQE_ASYNC): tried inline, it
          would start readahead and, on completion, run the rest as task work,
          both on this (the loop's) thread, milliseconds of stall per batch
          (``_cold_read_to_worker`` decides, and when a probe is due instead).
        """
        cdef int opcode = op._opcode
        cdef bint plain_read = opcode == OP_READ or opcode == OP_READINTO
        cdef fd_slot *slot
        if op._ext.probe:
            sqe.rw_flags = RWF_NOWAIT  # cached: done in the call; else EAGAIN at once (readahead may start)
            return 0
        slot = self._fd_slot(op._fd)
        if plain_read and _probe_first(op._fd, slot):
            op._ext.probe = True
            sqe.rw_flags = RWF_NOWAIT
        elif _kind_now(op._fd, slot) != KIND_FILE:
            if _is_nonblocking(op._fd):
                sqe.rw_flags = RWF_NOWAIT
        elif plain_read and _probe_first(op._fd, slot):  # a stale slot said stream
            op._ext.probe = True
            sqe.rw_flags = RWF_NOWAIT
        elif _is_read(opcode) and self._cold_file(op._fd):  # (only with _cold_reads_to_pool off)
            if self._cold_read_to_worker(op, slot):
                sqe.flags |= LXU_IOSQE_ASYNC
            else:
                sqe.rw_flags = RWF_NOWAIT
        return 0

    cdef bint _cold_read_to_worker(self, Operation op, fd_slot *slot) except -1:
        """A read of a cold descriptor: to a worker (True), or a probe (False; ``op._ext.probe`` set)?

        To a worker, cached or not, until VERIFY_RUN checked reads in a row were
        cached (``_cold_range_cached``): even a cached page can start readahead
        on the ring (at its mark). A read found not cached (or the descriptor
        just noted cold) lets the next seven go unchecked (RETRY bits): while
        a file stays cold, one read in eight pays for cachestat(2) on the
        loop's thread (every read paid: 9% of that thread at 64 cold reads in
        flight, in perf). Where cachestat cannot tell, one plain read in eight
        is a probe instead (RWF_NOWAIT: has the file warmed up?) and the next
        seven go to workers whatever it finds. The worker is the C pool's
        (``_queue``), or io-wq's with ``_cold_reads_to_pool`` off
        (``_transfer_flags``).
        """
        cdef int cached
        if _cachestat_usable and not (slot[0] & NO_CACHESTAT):
            if slot[0] & RETRY_MASK:
                slot[0] -= RETRY_UNIT
                return True
            cached = self._cold_range_cached(op, slot)
            if cached == 0:
                slot[0] |= RETRY_MASK
            if cached >= 0:
                return True
        if (op._opcode == OP_READ or op._opcode == OP_READINTO) and not (slot[0] & (RETRY_MASK | NO_NOWAIT)):
            op._ext.probe = True
            slot[0] |= RETRY_MASK
            return False
        if slot[0] & RETRY_MASK:
            slot[0] -= RETRY_UNIT
        return True

    cdef int _queue(self, Operation op) except -1:
        """Start an accepted operation: an SQE (submitted at the next enter), the backlog, or the pool."""
        cdef int rc
        cdef fd_slot *slot
        cdef int uop = _uring_op(op)
        if op._opcode == OP_READ and op._rbuf == NULL and op._nbytes > 0:
            rc = op._alloc_read()
            if rc < 0:
                return self._complete(op, rc)
        if uop < 0 or not self._supported[uop]:  # no ring form, or this kernel lacks the opcode
            return self._to_pool(op)
        if _cold_reads_to_pool and _is_read(op._opcode) and not op._ext.probe and self._cold_file(op._fd):
            # A cold file's read goes to the C pool (module docstring: why not io-wq). The
            # slot is keyed by the number, which a pipe may have inherited: checked first
            # (_kind_now forgets what the slot learned if the number names another file).
            slot = self._fd_slot(op._fd)
            if _kind_now(op._fd, slot) == KIND_FILE and self._cold_file(op._fd) and self._cold_read_to_worker(op, slot):
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
        cdef fd_slot *slot
        self._kernel_in_flight -= 1
        if op._ext.probe:
            op._ext.probe = False
            target = op._nbytes - op._done
            if target > LXA_MAX_RW_COUNT:
                target = LXA_MAX_RW_COUNT
            if res == -EAGAIN or res == -EOPNOTSUPP or 0 < res < target:
                # A probe never waits, so a cancel sent meanwhile found nothing to stop (the
                # kernel answered -ENOENT and cancel() did not count it): the read goes on.
                slot = self._fd_slot(op._fd)
                if _kind_now(op._fd, slot) != KIND_FILE:
                    # The number names a stream now (the file was closed, its number reused):
                    # what it had is the answer; an empty one waits unless O_NONBLOCK, or
                    # stops here if it was cancelled (counted: it completes -ECANCELED).
                    if res > 0 or (res == -EAGAIN and _is_nonblocking(op._fd)):
                        return self._complete(op, res)
                    if op._ext.cancel_sent or self._closed:
                        self._cancels_ok += 1  # (counted by cancel(); close() counts nothing)
                        return self._complete(op, -ECANCELED)
                    op._state = ST_CLAIMED
                    return self._queue(op)
                if res == -EOPNOTSUPP:
                    # This file system refuses RWF_NOWAIT reads (tmpfs does): read it plainly.
                    if slot != NULL:
                        slot[0] |= NO_NOWAIT
                    op._state = ST_CLAIMED
                    return self._queue(op)
                if res < 0 or not _ends_at_eof(op._fd, op._offset + op._done + res):
                    # Not (all) cached: the rest goes to an io-wq worker (see _transfer_flags),
                    # submitted by whoever reaped this (_reap_inline, _deliver_ready).
                    if res > 0:
                        op._done += res
                    self._note_inline(op._fd, False)
                    op._state = ST_CLAIMED
                    return self._queue(op)
            if res >= 0:
                self._note_cached(op._fd)  # answered from the cache (or at the end of the file)
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

    # -- the protocol (_ListContext.submit/cancel) -----------------------------------------

    cdef int _begin(self, Operation op) except -1:
        """``_queue``; an internal failure (MemoryError) fails ``op`` alone with ``-ENOMEM``."""
        try:
            return self._queue(op)
        except MemoryError:
            if op._state == ST_CLAIMED:
                return self._complete(op, -ENOMEM)
            raise

    cdef int _submit_batch(self) except -1:
        return self._enter(0)

    cdef int _cancel_kernel(self, Operation op) except -1:
        self._cancel_op(op)
        return 0  # counted by _cancel_wait, from the kernel's answer

    cdef Py_ssize_t _cancel_wait(self) except -1:
        """The kernel answers a cancel at once (found, running, or gone): wait for those answers.

        So the count is what will complete with ``-ECANCELED``. Completions
        reaped meanwhile wait in the ready list.
        """
        cdef Py_ssize_t found
        self._cancels_ok = 0
        self._enter(0)
        while self._cancels_pending > 0 and self._has_ring:
            if self._reap(0) == 0 and self._cancels_pending > 0:
                self._enter(1)
        found = self._cancels_ok
        self._cancels_ok = 0
        return found

    cdef Py_ssize_t _deliver_ready(self, Py_ssize_t limit) except -1:
        """``process_events`` without waiting: at most ``limit`` callbacks (0: all there are).

        Completions left over by the limit keep the eventfd readable (it is
        signalled again for them).
        """
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
        if self._backlog or lxu_sq_pending(&self._ring):
            self._enter(0)  # the backlog, and probes requeued for a worker (_on_cqe)
        return self._run_ready(limit)

    cdef bint _completes_inline(self, Operation op) noexcept:
        """Will the kernel most likely finish ``op`` inside ``io_uring_enter``?

        True for a read or write of a descriptor whose last inline attempt
        completed inside the call (a cached file), and for a read of a regular
        file not tried yet: that attempt (an RWF_NOWAIT probe, see ``_inline``)
        tells. A wrong guess costs only the batching (the request is then in
        flight like any other). A descriptor whose probe found cold data has
        its reads batched, to io-wq workers, until cachestat(2) found a run of
        them cached (``_transfer_flags``); without cachestat, once seven went,
        the next is tried here again, a probe: the cache may have warmed up.
        """
        cdef int opcode = op._opcode
        cdef fd_slot *slot
        if (
            opcode == OP_WRITE
            and not _wguard.unusable
            and op._nbytes - op._done <= LXA_WGUARD_MAX_BYTES
            and op._ioprio == 0
        ):
            return True  # the write guard may let it run on this thread (see _inline)
        if opcode != OP_READ and opcode != OP_READINTO and opcode != OP_WRITE:
            return False
        slot = self._fd_slot(op._fd)
        if slot == NULL:
            return False
        if (slot[0] & INLINE_MASK) == INLINE_YES:
            return True
        if opcode == OP_WRITE or _fd_kind(op._fd, slot) != KIND_FILE:
            return False  # a pipe or socket would wait in the kernel: batched
        if (slot[0] & INLINE_MASK) == INLINE_NO and slot[0] & RETRY_MASK:
            return False  # batched, to a worker (_transfer_flags counts it down)
        return True

    cdef int _inline(self, Operation op) except -1:
        """``submit_inline`` after its checks: INLINE_DONE, or INLINE_IN_FLIGHT.

        A small buffered write to a regular file on a local file system runs
        here when the write guard allows it (``_wguard.pxi``): the kernel would
        hand it to an io-wq worker, and that hop costs more than the write.
        """
        cdef int64_t result
        cdef int64_t now = 0
        cdef fd_slot *slot
        cdef bint was_cold
        if (
            op._opcode == OP_WRITE
            and not _wguard.unusable
            and op._nbytes - op._done <= LXA_WGUARD_MAX_BYTES
            and op._ioprio == 0  # a priority is the kernel's to apply (and check)
            and lxa_wguard_fd_inline(&_wguard, op._fd, _clock(&now)) == 1
        ):
            result = _guarded_write(op, now)
            if result != NOT_WRITTEN:
                op._state = ST_CLAIMED
                self._link(op)
                self._complete(op, result)
                self._reap_inline()
                return INLINE_DONE if op._state == ST_DONE else INLINE_IN_FLIGHT
        op._state = ST_CLAIMED
        self._link(op)
        slot = self._fd_slot(op._fd)
        was_cold = slot != NULL and (slot[0] & INLINE_MASK) == INLINE_NO
        if (
            (op._opcode == OP_READ or op._opcode == OP_READINTO)
            and _is_buffered_file(op._fd, slot)
            and not (slot[0] & NO_NOWAIT)
            and not ((slot[0] & INLINE_MASK) == INLINE_NO and _cachestat_usable and not (slot[0] & NO_CACHESTAT))
        ):
            # Learn with RWF_NOWAIT, never stall here. A cold descriptor is asked
            # with cachestat(2) instead, where it works (_transfer_flags).
            op._ext.probe = True
        self._begin(op)
        if self._has_ring and lxu_sq_pending(&self._ring):
            # What completes inside the call is reaped below: no eventfd wake-up for it.
            lxu_eventfd_mute(&self._ring, 1)
            try:
                self._enter(0)
            finally:
                lxu_eventfd_mute(&self._ring, 0)
            self._reap_inline()
            if self._kernel_in_flight:
                # A request still in the kernel (this one went to io-wq, or an older one)
                # may have completed on another CPU while the eventfd was muted: its
                # wake-up was dropped, and its CQE need not be visible to the reap above
                # (the kernel stores the CQ tail, then reads cq_flags with no full barrier
                # between: x86 may order that read first). Wake the reader: it reaps
                # later, when the CQE is visible. Nothing in flight: nothing was hidden.
                lxa_eventfd_signal(self._efd)
        else:
            self._reap_inline()
        if _is_fs(op._opcode):
            return INLINE_DONE if op._state == ST_DONE else INLINE_IN_FLIGHT
        if op._state == ST_DONE:
            self._note_cached(op._fd)
            return INLINE_DONE
        if op._state == ST_KERNEL and not was_cold:
            # (A cold descriptor's read is in flight by design; its cachestat run
            # decides when it is cached again: _cold_range_cached.)
            self._note_inline(op._fd, False)
        return INLINE_IN_FLIGHT

    cdef Py_ssize_t _reap_inline(self) except -1:
        if self._kernel_in_flight:
            self._reap(0)
            if self._backlog or (self._has_ring and lxu_sq_pending(&self._ring)):
                self._enter(0)  # the backlog, and probes requeued for a worker (_on_cqe)
        return self._run_ready(0)

    cdef bint _inline_known(self, int fd) noexcept:
        """Did ``fd``'s last inline attempt complete in the call (INLINE_YES)?"""
        return 0 <= fd < self._ninline_fds and (self._inline_fds[fd] & INLINE_MASK) == INLINE_YES

    cdef bint _cold_file(self, int fd) noexcept:
        """A buffered regular file whose last probe found its data not cached (INLINE_NO)?"""
        if fd < 0 or fd >= self._ninline_fds or (self._inline_fds[fd] & INLINE_MASK) != INLINE_NO:
            return False
        return _is_buffered_file(fd, &self._inline_fds[fd])


include "_adapter_inline.pxi"


@cython.final
cdef class _Reaper(_ListReaper):
    """A dropped context's ring: cancels what it holds, waits for the CQEs, then exits it."""

    cdef lxu_ring ring
    cdef bint has_ring
    cdef lxu_cqe *cqes
    cdef unsigned cqes_cap

    def __cinit__(self):
        self.ring.fd = -1

    cdef int _finish_kernel(self) except -1:
        cdef Py_ssize_t pending = self.kernel_in_flight
        cdef unsigned n, i
        cdef io_uring_sqe *sqe
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
        PyMem_Free(self.cqes)
        self.cqes = NULL
        return 0

    cdef int _leak_kernel(self) noexcept:
        self.has_ring = False
        self.cqes = NULL
        return 0
