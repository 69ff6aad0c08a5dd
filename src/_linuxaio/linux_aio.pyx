"""Kernel AIO backend: ``io_submit``/``io_getevents`` through raw system calls, eventfd completions.

This module keeps the Context protocol of ``abstract.py`` (``python_aio`` is
the reference behaviour). How an operation travels:

* Every kernel request carries ``IOCB_FLAG_RESFD`` with the context's eventfd
  (``EFD_NONBLOCK | EFD_CLOEXEC``), so one reader learns of every completion.
* Reads and writes go to the kernel with ``RWF_NOWAIT`` (``aio_rw_flags``):
  data in the page cache is served inside ``io_submit`` and shows up in the
  completion ring at once; an operation that would block (``-EAGAIN``), or
  that the file refuses to run without blocking (``EOPNOTSUPP``, or
  ``EINVAL`` at submit time) is handed to the C thread pool, which signals
  the same eventfd. So ``io_submit`` never waits for a disk on the caller's
  thread. One caveat and its remedy: an ``RWF_NOWAIT`` read still starts
  readahead (for a missing page, or at the readahead mark of a cached one),
  and submitting that I/O waits for a free request when the device is busy,
  which can hold ``io_submit`` for milliseconds. So after an ``EAGAIN`` the
  reads of that descriptor go to the pool until it looks cached again:
  until 256 reads in a row found their pages cached (``cachestat(2)``,
  Linux 6.5), or, without ``cachestat``, with a single probe of the kernel
  every so many reads (doubling while the file stays cold, up to 65536). A
  new descriptor's first read is checked the same way (see
  ``Context._route_read``). ``O_DIRECT`` reads and writes take the same path; their
  ``RWF_NOWAIT`` only refuses to wait for a request slot or an allocation.
  A transfer that ``RWF_NOWAIT`` cut short (part of the range was not
  cached) continues where it stopped, so the count a caller sees is what one
  blocking ``pread``/``pwrite`` would return: short only at end of file or
  at the kernel's 0x7ffff000-byte cap.
* ``fsync``/``fdsync`` use ``IOCB_CMD_FSYNC``/``IOCB_CMD_FDSYNC``, which the
  kernel always runs on a worker (it never blocks ``io_submit``).
* ``priority=`` of ``read``, ``write``, ``readinto``, ``readv`` and ``writev``
  (an ioprio value, ``IOPRIO_PRIO_VALUE(class, data)``) rides with the
  request: ``aio_reqprio`` with ``IOCB_FLAG_IOPRIO``, so the kernel checks and
  applies it; an unknown class or level fails the operation with
  ``OSError(EINVAL)``, the real-time class without ``CAP_SYS_ADMIN``/
  ``CAP_SYS_NICE`` with ``EPERM``. 0 sets neither (the thread's own
  priority). A write with a priority never takes the inline write guard;
  what the pool runs (the reads of uncached pages of a buffered file, the
  writes a file system refuses ``RWF_NOWAIT`` for) goes without it.
* File-system operations (``openat``, ``close_fd``, ``statx``, ``renameat``,
  ``unlinkat``, ``mkdirat``, ``linkat``, ``symlinkat``, ``fallocate``,
  ``ftruncate``, ``fadvise``, ``copy_file_range``, ``getdents``) have no
  kernel AIO command: each is one system call on the thread pool, completed
  through the same eventfd.
* Files that are not regular files or block devices (pipes, FIFOs, sockets,
  character devices, directories) and files of pseudo file systems (procfs,
  sysfs, ...) go straight to the thread pool. The decision is made once per
  file descriptor (``fstat``/``fstatfs``) and cached; see ``Context._route``
  for why a reused descriptor number is safe.
* Completions are consumed from the ``struct aio_ring`` the kernel maps at
  the context address when its header says user space may do so (magic and
  incompatible-features checks), otherwise with ``io_getevents``. After
  ``io_submit`` the ring is looked at at once, so an operation that finished
  inside the call costs no extra wake-up.

Kernel contexts count against the system-wide ``fs.aio-max-nr`` and
``io_destroy`` waits for an RCU grace period (tens of milliseconds), so a
closed context's kernel object, once idle, is kept for reuse by the next
``Context`` of the same process (at most ``IDLE_KERNEL_CONTEXTS``);
``release_idle_contexts()`` destroys them.

Cancellation: ``cancel()`` withdraws operations that are still waiting for a
kernel slot or a pool thread; they complete with ``-ECANCELED`` and, for a
write, leave the file untouched. Kernel requests on files cannot be
cancelled (``io_cancel`` supports them only for some drivers): a write
handed to the kernel lands.

Fork: a context used in a forked child never touches the parent's kernel
context, ring or threads. At first use in the child it gets a fresh kernel
context, a fresh eventfd at the same descriptor number and a fresh pool;
operations the parent had in flight complete in the child with
``-ECANCELED``. If the kernel refuses a new context, the call raises
``OSError`` with the reason.
"""

import errno as _errno
import os
import warnings

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject, PyTypeObject, inquiry, visitproc
from cpython.bytearray cimport PyByteArray_Check
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from libc.errno cimport EAGAIN, EINTR, EINVAL, ENOMEM, ENOSYS, EPERM

cdef extern from "<errno.h>":
    enum:
        ECANCELED
        EOPNOTSUPP
from libc.stdint cimport int64_t, uint16_t, uint64_t, uintptr_t
from libc.string cimport memset
from posix.fcntl cimport O_CLOEXEC
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport close as c_close

cdef extern from "<unistd.h>" nogil:
    int dup3(int oldfd, int newfd, int flags)  # Linux; _GNU_SOURCE comes with Python.h

from kaio cimport (
    IOCB_CMD_FDSYNC,
    IOCB_CMD_FSYNC,
    IOCB_CMD_PREAD,
    IOCB_CMD_PREADV,
    IOCB_CMD_PWRITE,
    IOCB_CMD_PWRITEV,
    LXA_MAX_RW_COUNT,
    LXA_ROUTE_KERNEL,
    LXA_ROUTE_THREAD,
    LXA_ROUTE_UNKNOWN,
    RWF_NOWAIT,
    lxa_fd_identity,
    lxa_fd_is_direct,
    lxa_fd_route,
    lxa_io_destroy,
    lxa_io_getevents,
    lxa_io_setup,
    lxa_io_submit,
    lxa_iocb_prep,
    lxa_iov_advance,
    lxa_ring_of,
    lxa_ring_pending,
    lxa_ring_reap,
)
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

from . import _args

cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject **bytes, Py_ssize_t newsize) except -1
    unsigned long PyThread_get_thread_ident()
    Py_ssize_t PY_SSIZE_T_MAX

from lxa_forkgen cimport lxa_fork_gen, lxa_fork_gen_init

__all__ = ["Context", "Operation", "OpCode", "probe", "release_idle_contexts"]

BACKEND = "linux"
#: Default ``max_requests`` of a raw Context (caio's default).
DEFAULT_MAX_REQUESTS = 32
#: Largest ``max_requests`` accepted.
MAX_MAX_REQUESTS = _args.MAX_REQUESTS_LIMIT
#: The kernel queue (``io_setup`` nr_events) is at most this deep: kernel
#: contexts are a system-wide resource; operations past it wait in the
#: context's backlog, not in the kernel.
KERNEL_QUEUE_MAX = 128
#: Threads of the pool serving special files and operations that would block.
#: 32, not 16: a cold file's reads run here, one disk request per thread, and
#: at 64 cold 4 KiB reads in flight 32 threads read 14-15% more than 16 at the
#: same loop lag (benchmarks.ab cold-reads with pool_size set, 8 rounds); 64
#: read less again on 2 vCPUs. Threads start only when work waits.
DEFAULT_POOL_SIZE = 32
MAX_POOL_SIZE = 1024
#: Idle kernel contexts kept for reuse by later Contexts of this process.
IDLE_KERNEL_CONTEXTS = 4
#: Reads of a cold file sent straight to the pool before the kernel is probed
#: again (doubling up to the maximum while it stays cold).

cdef enum:
    INLINE_IN_FLIGHT = 0
    INLINE_DONE = 1

#: cachestat(2) exists (cleared at the first ENOSYS; EPERM is per file: fd_entry.no_cachestat).
cdef bint _cachestat_usable = True

cdef enum:
    # With cachestat(2): reads of a descriptor found cold are checked against
    # the page cache until this many in a row were cached.
    VERIFY_RUN = 256
    # After a read found not cached (or an EAGAIN), this many reads go to the
    # pool unchecked: while a file stays cold, one read in eight pays for
    # cachestat(2) on the loop's thread.
    UNCHECKED_AFTER_COLD = 7
    FD_TABLE_MAX = 65536  # descriptors >= this are classified per operation, not cached
    COLD_CREDIT_MIN = 64
    COLD_CREDIT_MAX = 65536

if lxa_fork_gen_init() != 0:  # pthread_atfork: a library call, no system call
    raise ImportError("linux_aio: pthread_atfork failed")


cdef inline _raise_errno(long long rc, str what):
    code = <int>-rc
    raise OSError(code, f"{what}: {os.strerror(code)}")


include "_argcheck.pxi"
include "_operation_defs.pxi"


# -- the idle kernel contexts of this process ------------------------------------------

cdef aio_context_t _idle_ctx[8]
cdef unsigned _idle_nr[8]
cdef int _n_idle = 0
cdef unsigned long _idle_gen = 0


cdef int _acquire_kernel(unsigned nr, aio_context_t *out):
    """A kernel context of ``nr`` events: an idle one of this process, else io_setup(2)."""
    global _n_idle, _idle_gen
    cdef int i, rc
    if _idle_gen != lxa_fork_gen():  # a forked child: the parent's contexts are not ours
        _n_idle = 0
        _idle_gen = lxa_fork_gen()
    for i in range(_n_idle - 1, -1, -1):
        if _idle_nr[i] == nr:
            out[0] = _idle_ctx[i]
            _n_idle -= 1
            _idle_ctx[i] = _idle_ctx[_n_idle]
            _idle_nr[i] = _idle_nr[_n_idle]
            return 0
    with nogil:
        rc = lxa_io_setup(nr, out)
    return rc


cdef void _release_kernel(aio_context_t ctx, unsigned nr) noexcept:
    """Keep an idle kernel context (no request in flight) for reuse, or destroy it."""
    global _n_idle
    if ctx == 0:
        return
    if _idle_gen == lxa_fork_gen() and _n_idle < IDLE_KERNEL_CONTEXTS:
        _idle_ctx[_n_idle] = ctx
        _idle_nr[_n_idle] = nr
        _n_idle += 1
        return
    with nogil:
        lxa_io_destroy(ctx)


def release_idle_contexts() -> int:
    """Destroy the idle kernel contexts kept for reuse; return how many.

    Blocks the calling thread (``io_destroy`` waits for an RCU grace period,
    tens of milliseconds each). ``/proc/sys/fs/aio-nr`` drops accordingly.
    """
    global _n_idle
    cdef int count = 0
    cdef aio_context_t ctx
    if _idle_gen != lxa_fork_gen():
        _n_idle = 0
        return 0
    while _n_idle:
        _n_idle -= 1
        ctx = _idle_ctx[_n_idle]
        with nogil:
            lxa_io_destroy(ctx)
        count += 1
    return count


cdef object _probe_error = None
cdef bint _probed = False


def probe() -> None:
    """Raise ``OSError`` with the reason if kernel AIO cannot work here.

    One ``io_setup``, done at the first call only (the answer is cached); the
    kernel context it creates is kept for the first ``Context``. Importing
    this module makes no system call.
    """
    global _probe_error, _probed
    cdef aio_context_t ctx = 0
    cdef unsigned nr = KERNEL_QUEUE_MAX
    cdef int rc
    if not _probed:
        _probed = True
        rc = _acquire_kernel(nr, &ctx)
        if rc == -_errno.ENOSYS:
            _probe_error = OSError(_errno.ENOSYS, "io_setup: kernel AIO is not available (ENOSYS: disabled, seccomp or emulation)")
        elif rc == -_errno.EAGAIN:
            _probe_error = OSError(_errno.EAGAIN, "io_setup: fs.aio-max-nr is used up (EAGAIN)")
        elif rc == -_errno.EINVAL:
            _probe_error = OSError(_errno.EINVAL, "io_setup: refused by this kernel (EINVAL)")
        elif rc < 0:
            _probe_error = OSError(-rc, f"io_setup: {os.strerror(-rc)}")
        else:
            _release_kernel(ctx, nr)
    if _probe_error is not None:
        raise _probe_error


# -- operations -------------------------------------------------------------------------

include "_operation.pxi"


include "_adapter.pxi"
include "_adapter_inline.pxi"


cdef void _prep_iocb(Operation op, int resfd) noexcept:
    """(Re)build the kernel request for what is left of ``op``."""
    cdef int opcode = op._opcode
    cdef int64_t done = op._done
    if opcode == OP_FSYNC:
        lxa_iocb_prep(&op._ext.iocb, IOCB_CMD_FSYNC, op._fd, NULL, 0, 0, 0, resfd, <uint64_t><uintptr_t><void *>op, 0)
        op._ext.nowait = False
    elif opcode == OP_FDSYNC:
        lxa_iocb_prep(&op._ext.iocb, IOCB_CMD_FDSYNC, op._fd, NULL, 0, 0, 0, resfd, <uint64_t><uintptr_t><void *>op, 0)
        op._ext.nowait = False
    elif opcode == OP_READV or opcode == OP_WRITEV:
        lxa_iocb_prep(&op._ext.iocb, IOCB_CMD_PREADV if opcode == OP_READV else IOCB_CMD_PWRITEV, op._fd,
                      op._iov_cur, <uint64_t>op._iovcnt_cur, op._offset + done, RWF_NOWAIT, resfd,
                      <uint64_t><uintptr_t><void *>op, <uint16_t>op._ioprio)
        op._ext.nowait = True
    else:
        lxa_iocb_prep(&op._ext.iocb, IOCB_CMD_PWRITE if opcode == OP_WRITE else IOCB_CMD_PREAD, op._fd,
                      op._base + done, <uint64_t>(op._nbytes - done), op._offset + done, RWF_NOWAIT, resfd,
                      <uint64_t><uintptr_t><void *>op, <uint16_t>op._ioprio)
        op._ext.nowait = True


include "_wguard.pxi"
cdef enum:
    # fd_entry.writes_thread once _write_here has looked at the descriptor.
    WRITES_INLINE_OK = 2
    WRITES_INLINE_NO = 3


include "_context.pxi"


_MODULE = "linux_aio"
_KERNEL_WHAT = "kernel context"
_SETUP_CALL = "io_setup"
# caio's linux_aio returns io_submit's count when the context is full (raises when none went).
cdef bint _COUNT_WHEN_FULL = True
include "_list_context.pxi"


cdef class Context(_ListContext):
    """linux aio context: kernel AIO (``io_submit``) with a thread pool for what would block.

    Args:
        max_requests: operations that may be in flight at once; ``submit``
            accepts no more (it returns how many it took). The kernel queue
            is ``min(max_requests, KERNEL_QUEUE_MAX)`` deep; accepted
            operations past it wait in this context until the kernel has room.
        pool_size: threads (started lazily) for special files and for
            operations the kernel would have to block on.
        deferred, sqpoll: caio 0.12's keywords, accepted so caio code runs
            unchanged; no effect here (``io_submit`` batching is the
            adapter's; there is no io_uring polling thread). ``deferred``
            and ``sqpoll`` (always ``False``) read back as attributes.

    ``fileno`` (an int, callable too) is an eventfd signalled by the kernel and by the pool;
    ``process_events()`` runs the completion callbacks on the calling thread.
    ``close()`` waits (without the GIL) for in-flight operations on files,
    completes those blocked on a pipe, FIFO, socket or tty with
    ``-ECANCELED`` instead of waiting for them, runs the callbacks and
    releases the kernel context, the threads and the eventfd. A context
    dropped unclosed warns ``ResourceWarning``; its operations still in
    flight are finished and freed by a background thread, their callbacks
    never run. See the module docstring for cancellation and fork behaviour.
    """

    def __cinit__(self):
        self._ctx = 0

    def __init__(self, max_requests=DEFAULT_MAX_REQUESTS, pool_size=DEFAULT_POOL_SIZE, deferred=False, sqpoll=False):
        self._init_list(max_requests, pool_size, deferred, MAX_POOL_SIZE)
        self._kernel_nr = <unsigned>min(self._max_requests, KERNEL_QUEUE_MAX)
        self._one = []
        self._iocbs = <iocb **>PyMem_Malloc(self._max_requests * sizeof(iocb *))
        self._events_cap = self._kernel_nr
        self._events = <io_event *>PyMem_Malloc(self._events_cap * sizeof(io_event))
        if self._iocbs == NULL or self._events == NULL:
            raise MemoryError()
        self._open_kernel()

    def __dealloc__(self):
        # In-flight operations were handed to a reaper by __del__ (_abandon);
        # the pool and the eventfd are _ListContext.__dealloc__'s.
        if self._ctx != 0:
            if self._fork_gen == lxa_fork_gen():
                if self._kernel_in_flight:  # never reuse a context with requests of ours in it
                    with nogil:
                        lxa_io_destroy(self._ctx)
                else:
                    _release_kernel(self._ctx, self._kernel_nr)
            self._ctx = 0
        PyMem_Free(self._iocbs)
        self._iocbs = NULL
        PyMem_Free(self._events)
        self._events = NULL
        PyMem_Free(self._fds)
        self._fds = NULL

    # -- the kernel context (hooks of _ListContext) ---------------------------------------

    cdef int _new_kernel(self) except -1:
        cdef int rc = _acquire_kernel(self._kernel_nr, &self._ctx)
        if rc < 0:
            self._ctx = 0
            _raise_errno(rc, "io_setup")
        self._ring = lxa_ring_of(self._ctx)
        return 0

    cdef int _drop_kernel(self) noexcept:
        self._ctx = 0  # a forked child: the parent's context is not ours
        self._ring = NULL
        return 0

    cdef int _kernel_release(self) noexcept:
        if self._ctx != 0:
            _release_kernel(self._ctx, self._kernel_nr)
            self._ctx = 0
            self._ring = NULL
        return 0

    cdef bint _kernel_has_more(self) noexcept:
        return self._kernel_in_flight > 0 and self._ring != NULL and lxa_ring_pending(self._ring) != 0

    cdef object _new_reaper(self):
        """The kernel context and the event scratch go to a reaper (``_abandon``)."""
        cdef _Reaper reaper = _Reaper.__new__(_Reaper)
        if self._fork_gen == lxa_fork_gen():
            reaper.ctx, self._ctx = self._ctx, 0
            reaper.kernel_nr = self._kernel_nr
            reaper.kernel_in_flight = self._kernel_in_flight
        # else: a forked child; the parent's kernel context is not ours
        reaper.events, self._events = self._events, NULL
        reaper.events_cap = self._events_cap
        self._ring = NULL
        return reaper

    cdef int _finish_kernel(self) except -1:
        """``close()``: wait (without the GIL) for every kernel request, the backlog included."""
        cdef list resubmit
        while self._kernel_in_flight or self._backlog:
            resubmit = []
            if self._backlog:
                self._kernel_submit([])
            if self._kernel_in_flight:
                self._reap_kernel(resubmit, True, 0)
            if resubmit:
                self._kernel_submit(resubmit)
        return 0

    # -- introspection -------------------------------------------------------------------

    @property
    def kernel_queue_size(self):
        """The ``nr_events`` given to ``io_setup``."""
        return self._kernel_nr

    @property
    def uses_ring(self):
        """True when completions are consumed from the kernel's ring in user space."""
        return self._ring != NULL

    def _without_ring(self):
        """Tests: reap with io_getevents(2) from now on, as where the ring cannot be used."""
        self._ring = NULL

    def _fd_route_state(self, int fd):
        """Tests: what this context has noted of ``fd``'s cold-file routing (``fd_entry``), as a dict;
        ``None`` if nothing is noted (no entry yet, or a number above the table)."""
        if fd < 0 or fd >= self._nfds:
            return None
        cdef fd_entry *entry = &self._fds[fd]
        return {
            "verify": entry.verify,
            "unchecked": entry.unchecked,
            "cold": entry.cold,
            "backoff": entry.backoff,
            "no_cachestat": bool(entry.no_cachestat),
        }

    # -- descriptors ---------------------------------------------------------------------

    cdef fd_entry *_fd_entry(self, int fd) noexcept:
        """The cached route of ``fd``, or NULL: not cached (fd >= FD_TABLE_MAX, or no memory).

        The table grows with the descriptor numbers seen, up to FD_TABLE_MAX
        entries: a bogus huge number must not make it allocate gigabytes.
        """
        cdef int n
        cdef fd_entry *grown
        if fd < 0 or fd >= FD_TABLE_MAX:
            return NULL
        if fd >= self._nfds:
            n = max(64, self._nfds * 2, fd + 1)
            if n > FD_TABLE_MAX:
                n = FD_TABLE_MAX
            grown = <fd_entry *>PyMem_Realloc(self._fds, n * sizeof(fd_entry))
            if grown == NULL:
                return NULL
            memset(&grown[self._nfds], 0, (n - self._nfds) * sizeof(fd_entry))
            self._fds = grown
            self._nfds = n
        return &self._fds[fd]

    cdef int _route(self, Operation op) except -1:
        """Kernel or thread for ``op``, decided once per descriptor.

        Why a stale entry (the descriptor was closed and its number reused for
        another file) is safe without a system call per operation:

        * A KERNEL entry is never validated. Every read and write it sends
          carries RWF_NOWAIT, and whatever the kernel cannot do without
          blocking comes back as EAGAIN/EOPNOTSUPP (or EINVAL at submit) and
          is handed to the pool. A pipe, a procfs file or a socket that
          inherits the number is therefore still read correctly and never
          blocks io_submit; it only costs one refused kernel request, after
          which the entry learns THREAD.
        * The same holds for a KERNEL entry whose writes go to the pool
          (the file system refused RWF_NOWAIT writes): the pool is correct
          for any file, a stale entry only costs speed.
        * A THREAD entry (special file) costs a thread hop per operation
          anyway, so it is validated with one fstat(2): if (st_dev, st_ino)
          changed, the descriptor is classified again, and a regular file
          that inherited the number gets the kernel path back.
        """
        cdef fd_entry *entry
        cdef uint64_t dev = 0, ino = 0
        cdef int rc
        entry = self._fd_entry(op._fd)
        if entry == NULL:  # not cached: classify this operation alone
            rc = lxa_fd_route(op._fd, &dev, &ino)
            return LXA_ROUTE_KERNEL if rc < 0 else rc
        if entry.route == LXA_ROUTE_KERNEL:
            if _is_write(op._opcode):
                return LXA_ROUTE_THREAD if entry.writes_thread else LXA_ROUTE_KERNEL
            if _is_sync(op._opcode):
                return LXA_ROUTE_KERNEL
            return self._route_read(entry, op)
        if entry.route != LXA_ROUTE_UNKNOWN:
            rc = lxa_fd_identity(op._fd, &dev, &ino)
            if rc < 0 or dev != entry.dev or ino != entry.ino:
                entry.route = LXA_ROUTE_UNKNOWN
        if entry.route == LXA_ROUTE_UNKNOWN:
            rc = lxa_fd_route(op._fd, &dev, &ino)
            if rc < 0:  # e.g. EBADF: the kernel reports it for this operation
                return LXA_ROUTE_KERNEL
            entry.route = rc
            entry.writes_thread = 0
            entry.cold = entry.backoff = entry.unchecked = 0
            entry.dev = dev
            entry.ino = ino
            entry.direct = rc == LXA_ROUTE_KERNEL and lxa_fd_is_direct(op._fd) == 1
            entry.verify = entry.no_cachestat = 0
            entry.size_hint = 0
            if rc == LXA_ROUTE_KERNEL and not entry.direct and not _is_write(op._opcode) and not _is_sync(op._opcode):
                entry.verify = 1  # a new file: is it cached?
                return self._route_read(entry, op)
        if entry.route == LXA_ROUTE_KERNEL and entry.writes_thread and _is_write(op._opcode):
            return LXA_ROUTE_THREAD
        return entry.route

    cdef int _route_read(self, fd_entry *entry, Operation op) except -1:
        """Kernel or thread for a read of a regular, buffered file (``entry.route`` is KERNEL).

        Even with RWF_NOWAIT, io_submit starts readahead (for the missing
        page, or at the readahead mark of a cached one), and submitting it
        waits for a free request when the device is busy: milliseconds on
        the caller's thread. So a descriptor is trusted (its reads go
        straight to the kernel) until the kernel answers EAGAIN; then its
        reads go to the pool until it looks cached again:

        * with cachestat(2) (Linux 6.5): until VERIFY_RUN checked reads in a
          row found their pages cached (``entry.verify`` counts them down); a
          read found not cached, or an EAGAIN, lets the next
          UNCHECKED_AFTER_COLD go to the pool unchecked (``entry.unchecked``);
        * without it: the next ``entry.cold`` reads go to the pool, then one
          read probes the kernel; the credit (``entry.backoff``) doubles
          while probes find the file cold.

        A new descriptor's first read is verified the same way.
        """
        global _cachestat_usable
        cdef int rc
        if entry.verify == 0 and entry.cold == 0 and entry.backoff == 0 or entry.direct:
            return LXA_ROUTE_KERNEL
        if _cachestat_usable and not entry.no_cachestat:
            if entry.unchecked > 0:
                entry.unchecked -= 1
                return LXA_ROUTE_THREAD
            rc = lxa_range_cached(op._fd, op._offset + op._done, <uint64_t>(op._nbytes - op._done), &entry.size_hint)
            if rc == 1:
                entry.verify -= 1
                if entry.verify > 0:
                    return LXA_ROUTE_THREAD
                entry.verify = entry.cold = entry.backoff = 0
                return LXA_ROUTE_KERNEL
            if rc == 0:
                entry.verify = VERIFY_RUN
                entry.unchecked = UNCHECKED_AFTER_COLD
                return LXA_ROUTE_THREAD
            if rc == -EPERM:
                # Per file, not per process: cachestat(2) refuses a file the
                # caller can neither write nor owns (as mincore(2) does).
                entry.no_cachestat = 1
            elif rc == -ENOSYS:
                _cachestat_usable = False
            else:
                return LXA_ROUTE_KERNEL  # e.g. EBADF: the kernel reports it for this operation
        if entry.verify:  # no cachestat: this read probes the kernel
            entry.verify = 0
            entry.cold = -1
            return LXA_ROUTE_KERNEL
        if entry.cold > 0:
            entry.cold -= 1
            return LXA_ROUTE_THREAD
        if entry.cold == -1:  # a probe is in flight
            return LXA_ROUTE_THREAD
        entry.cold = -1
        return LXA_ROUTE_KERNEL

    cdef int _learn_refusal(self, Operation op) except -1:
        """The file refused RWF_NOWAIT (EOPNOTSUPP): send such operations to the pool from now on."""
        cdef fd_entry *entry
        entry = self._fd_entry(op._fd)
        if entry == NULL or entry.route != LXA_ROUTE_KERNEL:
            return 0
        if _is_write(op._opcode):
            entry.writes_thread = 1
        else:
            entry.route = LXA_ROUTE_THREAD
        return 0

    cdef bint _still_positional(self, Operation op) except -1:
        """Before continuing a short transfer: is ``op._fd`` still a regular file or block device?

        A short count from a pipe or socket (a stale KERNEL entry after the
        descriptor number was reused) is the answer, not a reason to go on.
        Re-classifies the descriptor as a side effect.
        """
        cdef fd_entry *entry
        cdef uint64_t dev = 0, ino = 0
        cdef int rc = lxa_fd_route(op._fd, &dev, &ino)
        if rc < 0:
            return False
        entry = self._fd_entry(op._fd)
        if entry != NULL:
            if entry.dev != dev or entry.ino != ino or entry.route != rc:
                entry.route = rc
                entry.writes_thread = 0
                entry.cold = entry.backoff = entry.verify = entry.no_cachestat = entry.unchecked = 0
                entry.size_hint = 0
                entry.direct = rc == LXA_ROUTE_KERNEL and lxa_fd_is_direct(op._fd) == 1
                entry.dev = dev
                entry.ino = ino
        return rc == LXA_ROUTE_KERNEL

    cdef int _note_read(self, Operation op, bint would_block) except -1:
        """Feed the cold-file backoff of ``op._fd`` with the kernel's answer to a NOWAIT read."""
        cdef fd_entry *entry
        if op._fd < 0 or op._fd >= self._nfds:
            return 0
        entry = &self._fds[op._fd]
        if entry.route != LXA_ROUTE_KERNEL or entry.direct:
            return 0  # O_DIRECT: an EAGAIN is a full device queue, not a cold page cache
        if would_block and _cachestat_usable and not entry.no_cachestat:
            entry.verify = VERIFY_RUN
            entry.unchecked = UNCHECKED_AFTER_COLD
        elif would_block:
            if entry.cold <= 0:
                entry.backoff = min(max(entry.backoff * 2, COLD_CREDIT_MIN), COLD_CREDIT_MAX)
                entry.cold = entry.backoff
        elif entry.cold == -1 or (entry.cold == 0 and entry.backoff):
            entry.cold = 0
            entry.backoff = 0
        return 0

    # -- starting operations -------------------------------------------------------------

    cdef int _start(self, Operation op, list kernel) except -1:
        """Hand an accepted operation to the kernel batch or to the pool."""
        cdef int rc
        if _is_fs(op._opcode):
            return self._to_pool(op)  # one system call on the pool: kernel AIO has no such command
        if op._opcode == OP_READ and op._rbuf == NULL and op._nbytes > 0:
            rc = op._alloc_read()
            if rc < 0:
                return self._complete(op, rc)
        if self._route(op) == LXA_ROUTE_THREAD:
            if _inline_call and op._opcode == OP_WRITE and self._write_here(op):
                return 0
            return self._to_pool(op)
        _prep_iocb(op, self._efd)
        op._state = ST_QUEUED
        kernel.append(op)
        return 0

    cdef bint _write_here(self, Operation op) except -1:
        """Write ``op`` on this thread if the write guard allows it (csrc/lxa_wguard.h); True if done.

        Only a buffered regular file whose file system refused RWF_NOWAIT
        writes (``writes_thread``) qualifies: the pool is the alternative, and
        for a small write into the page cache the hop costs more than the
        write. Called from ``submit_inline`` only (the adapter's inline path,
        whose time slice bounds the loop time spent here), never for a batch.
        """
        cdef fd_entry *entry = self._fd_entry(op._fd)
        cdef int64_t result, now
        if entry == NULL or entry.route != LXA_ROUTE_KERNEL or not entry.writes_thread or entry.direct:
            return False
        if op._ioprio != 0:  # a priority is the kernel's to apply (and check): never written here
            return False
        # Asked of the guard, not cached with the entry: the descriptor's number
        # may name another file by now (one opened O_DIRECT, or on NFS), and
        # this write would then wait for a device or a server on the loop's thread.
        # The guard checks it again at least every LXA_WGUARD_TRUST_NS.
        now = lxa_wguard_now_ns()
        if lxa_wguard_fd_inline(&_wguard, op._fd, now) != 1:
            entry.writes_thread = WRITES_INLINE_NO  # a hint for _completes_inline
            return False
        entry.writes_thread = WRITES_INLINE_OK
        result = _guarded_write(op, now)
        if result == NOT_WRITTEN:
            return False
        self._complete(op, result)
        return True

    cdef int _start_or_fail(self, Operation op, list kernel) except -1:
        """``_start``; an internal failure (MemoryError) fails ``op`` alone with ``-ENOMEM``.

        Once an operation is linked it must reach the kernel batch, the pool
        or the ready list: ``submit`` never raises after it started anything.
        """
        try:
            return self._start(op, kernel)
        except MemoryError:
            if op._state == ST_CLAIMED or (op._state == ST_QUEUED and op not in kernel):
                return self._complete(op, -ENOMEM)
            raise

    cdef int _kernel_submit(self, list ops) except -1:
        """io_submit the backlog then ``ops``, in order, in as few calls as the kernel allows.

        The kernel accepts a prefix; the first refused request gets the error
        (io_submit(2)), so it is completed alone (or handed to the pool when
        it was refused only because of RWF_NOWAIT) and the rest go again.
        An EINVAL for a request with a priority is the priority's: the kernel
        checks it (``aio_prep_rw``) before the RWF_* flags, so it fails the
        operation rather than sending it to the pool.
        EAGAIN means the kernel queue is full: the rest wait in the backlog.
        """
        cdef Py_ssize_t n, k, j, base
        cdef long r
        cdef Operation op
        if self._backlog:
            self._backlog.extend(ops)
            ops, self._backlog = self._backlog, []
        n = len(ops)
        if n == 0:
            return 0
        if self._ctx == 0:
            for j in range(n):
                self._complete(<Operation>ops[j], -EINVAL)
            return 0
        k = 0
        while k < n:
            base = k
            for j in range(k, n):
                self._iocbs[j - base] = &(<Operation>ops[j])._ext.iocb
            r = lxa_io_submit(self._ctx, n - k, self._iocbs)
            if r > 0:
                for j in range(k, k + r):
                    (<Operation>ops[j])._state = ST_KERNEL
                self._kernel_in_flight += r
                k += r
                continue
            if r == 0 or r == -EAGAIN:
                if self._kernel_in_flight == 0:
                    # Nothing of ours will free a slot: the pool serves these.
                    for j in range(k, n):
                        self._to_pool(<Operation>ops[j])
                else:
                    self._backlog = ops[k:]
                return 0
            op = <Operation>ops[k]
            k += 1
            if op._ext.nowait and not _is_write(op._opcode):
                self._note_read(op, False)  # a refused probe must not leave the fd waiting for it
            if op._ext.nowait and (r == -EOPNOTSUPP or (r == -EINVAL and op._ioprio == 0)):
                if r == -EOPNOTSUPP:
                    self._learn_refusal(op)
                self._to_pool(op)
            else:
                self._complete(op, r)
        return 0

    # -- completions ---------------------------------------------------------------------

    cdef int _on_kernel_event(self, Operation op, int64_t res, list resubmit) except -1:
        cdef int64_t target
        if op._ext.nowait:
            if res == -EAGAIN:
                if not _is_write(op._opcode):
                    self._note_read(op, True)
                return self._to_pool(op)
            if op._opcode == OP_READ or op._opcode == OP_READINTO or op._opcode == OP_READV:
                self._note_read(op, False)
            if res == -EOPNOTSUPP:
                self._learn_refusal(op)
                return self._to_pool(op)
            if res > 0:
                # A short RWF_NOWAIT transfer stopped at the first page that
                # was not cached (or at end of file): continue from there.
                target = op._nbytes if op._nbytes < LXA_MAX_RW_COUNT else LXA_MAX_RW_COUNT
                if op._done + res < target and self._still_positional(op):
                    op._done += res
                    if op._opcode == OP_READV or op._opcode == OP_WRITEV:
                        lxa_iov_advance(&op._iov_cur, &op._iovcnt_cur, <uint64_t>res)
                    _prep_iocb(op, self._efd)
                    op._state = ST_QUEUED
                    resubmit.append(op)
                    return 0
        return self._complete(op, res)

    cdef Py_ssize_t _reap_kernel(self, list resubmit, bint wait, long limit) except -1:
        """Consume kernel completions: from the ring, else io_getevents; ``wait`` blocks for one.

        At most ``limit`` events (all there are when ``limit`` <= 0).
        """
        cdef long n, i
        cdef Py_ssize_t total = 0
        cdef io_event *events = self._events
        cdef long cap = <long>self._events_cap
        while self._kernel_in_flight > 0:
            if limit > 0:
                if total >= limit:
                    break
                if cap > limit - total:
                    cap = <long>(limit - total)
            n = -1
            if self._ring != NULL and not wait:
                n = lxa_ring_reap(self._ring, events, cap)
            if n < 0:
                if wait:
                    with nogil:
                        n = lxa_io_getevents(self._ctx, 1, cap, events, -1)
                else:
                    n = lxa_io_getevents(self._ctx, 0, cap, events, 0)
                if n == -EINTR:
                    continue
                if n < 0:
                    _raise_errno(n, "io_getevents")
            if n == 0:
                break
            self._kernel_in_flight -= n
            for i in range(n):
                self._on_kernel_event(<Operation><PyObject *><uintptr_t>events[i].data, events[i].res, resubmit)
            total += n
            if wait:
                break
        return total

    # -- the protocol (_ListContext.submit/cancel) -----------------------------------------

    cdef int _begin(self, Operation op) except -1:
        return self._start_or_fail(op, self._one)

    cdef int _submit_batch(self) except -1:
        """The batch ``_begin`` made (after the backlog) in as few ``io_submit`` calls as the kernel allows."""
        cdef list kernel = self._one  # kept empty between calls
        try:
            if kernel or self._backlog:
                self._kernel_submit(kernel)
        finally:
            del kernel[:]
        return 0


    cdef Py_ssize_t _deliver_ready(self, Py_ssize_t limit) except -1:
        """``process_events`` without waiting: at most ``limit`` callbacks (0: all there are).

        Completions left over by the limit (ready, or still in the kernel's
        ring) keep the eventfd readable: it is signalled again for them.
        """
        cdef list resubmit
        cdef int rounds
        if self._closed:
            return 0
        if self._fork_gen != lxa_fork_gen():
            self._after_fork()
        # Drain the hint first: a completion published after this re-signals.
        lxa_eventfd_drain(self._efd)
        for rounds in range(4):
            resubmit = []
            if limit <= 0:
                self._reap_kernel(resubmit, False, 0)
            elif self._ring == NULL:  # kernel events left unreaped would have no eventfd signal
                self._reap_kernel(resubmit, False, 0)
            elif len(self._ready) < limit:
                self._reap_kernel(resubmit, False, limit - len(self._ready))
            self._take_pool_done()
            if resubmit or self._backlog:
                self._kernel_submit(resubmit)
            if limit > 0 or not self._kernel_has_more():
                break
        return self._run_ready(limit)

    cdef bint _completes_inline(self, Operation op) noexcept:
        """Will the kernel most likely finish ``op`` inside ``io_submit``?

        True for a read (or a write the file system takes with RWF_NOWAIT) of
        a descriptor already known as a cached, buffered regular file: not
        O_DIRECT, not in the cold-file backoff. A wrong guess costs nothing
        but the batching: the operation is then in flight like any other.
        """
        cdef fd_entry *entry
        cdef int opcode = op._opcode
        if op._fd < 0 or op._fd >= self._nfds:
            return False
        entry = &self._fds[op._fd]
        if entry.route != LXA_ROUTE_KERNEL or entry.direct:
            return False
        if opcode == OP_READ or opcode == OP_READINTO or opcode == OP_READV:
            return entry.verify == 0 and entry.cold == 0 and entry.backoff == 0
        if opcode == OP_WRITE and entry.writes_thread:  # the write guard may let it run here
            return (
                entry.writes_thread != WRITES_INLINE_NO
                and not _wguard.unusable
                and op._nbytes - op._done <= LXA_WGUARD_MAX_BYTES
                and op._ioprio == 0
            )
        return _is_write(opcode) and not entry.writes_thread

    cdef int _inline(self, Operation op) except -1:
        """``submit_inline`` after its checks: INLINE_DONE, or INLINE_IN_FLIGHT."""
        global _inline_call
        cdef list kernel = self._one  # kept empty between calls; nothing here runs Python code
        op._state = ST_CLAIMED
        self._link(op)
        _inline_call = True
        try:
            self._start_or_fail(op, kernel)
            if kernel or self._backlog:
                self._kernel_submit(kernel)
        finally:
            _inline_call = False
            del kernel[:]
        if self._ready or (self._kernel_in_flight and self._ring != NULL and lxa_ring_pending(self._ring)):
            self._reap_inline()
        return INLINE_DONE if op._state == ST_DONE else INLINE_IN_FLIGHT

    cdef Py_ssize_t _reap_inline(self) except -1:
        if self._kernel_in_flight:
            # Continuations of short transfers join the backlog, submitted first.
            self._reap_kernel(self._backlog, False, 0)
            if self._backlog:
                self._kernel_submit(self._one)
        return self._run_ready(0)


@cython.final
cdef class _Reaper(_ListReaper):
    """A dropped context's kernel context: waits for its requests, then reuses or destroys it."""

    cdef aio_context_t ctx
    cdef unsigned kernel_nr
    cdef io_event *events
    cdef Py_ssize_t events_cap

    cdef int _finish_kernel(self) except -1:
        cdef aio_context_t ctx = self.ctx
        cdef io_event *events = self.events
        cdef long cap = <long>self.events_cap
        cdef Py_ssize_t pending = self.kernel_in_flight
        cdef long n
        self.ctx = 0
        self.events = NULL
        with nogil:
            while ctx != 0 and pending > 0 and events != NULL:
                n = lxa_io_getevents(ctx, 1, cap, events, -1)
                if n > 0:
                    pending -= n
                elif n != -EINTR:
                    break
        if ctx != 0:
            if pending > 0:
                with nogil:
                    lxa_io_destroy(ctx)  # waits for what is left (io_destroy(2))
            else:
                _release_kernel(ctx, self.kernel_nr)
        PyMem_Free(events)
        return 0

    cdef int _leak_kernel(self) noexcept:
        self.ctx = 0
        self.events = NULL
        return 0
