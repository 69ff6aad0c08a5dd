# The Operation class of every compiled backend (the shared core): buffer
# ownership, the constructors with their argument checks, the value of a
# completed operation and the Python surface. Included at module level by a
# backend's .pyx; its fields are declared by _operation_decl.pxi in the
# backend's .pxd, which also declares `op_ext` (the backend's own fields).
#
# The including module provides (module level, before the include): the
# OP_*/ST_* enums (_operation_defs.pxi), _argcheck.pxi, _args, ENOMEM, ECANCELED,
# PY_SSIZE_T_MAX, _PyBytes_Resize, PyMem_Calloc/PyMem_Free,
# PyBuffer_Release, PyBytes_FromStringAndSize/PyBytes_AS_STRING,
# Py_INCREF/Py_DECREF/Py_XDECREF, PyTypeObject/inquiry/visitproc (cpython.object),
# PyByteArray_Check, PyBytes_Check, memset, O_CLOEXEC,
# the LXA_OP_* pool opcodes, os, cython.

# -- file-system operations: argument checks and values ----------------------------------

from cpython.number cimport PyNumber_Index
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

from lxa_fsops cimport (
    SYS_close,
    SYS_copy_file_range,
    SYS_fadvise64,
    SYS_fallocate,
    SYS_ftruncate,
    SYS_getdents64,
    SYS_linkat,
    SYS_mkdirat,
    SYS_openat,
    SYS_renameat2,
    SYS_statx,
    SYS_symlinkat,
    SYS_unlinkat,
    SYS_readlinkat,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_fchmodat,
    SYS_fchmodat2,
    SYS_fchmod,
    SYS_utimensat,
    SYS_statfs,
    SYS_fstatfs,
    SYS_sendfile,
    SYS_getcwd,
    statfs,
    statx,
)
from lxa_pool cimport (
    LXA_COPY_CHMOD,
    LXA_COPY_DATA,
    LXA_COPY_MODE,
    LXA_COPY_STAT_FIRST,
    LXA_COPY_TIMES,
    LXA_COPY_UNSUITABLE,
    LXA_OP_COPY_FILE,
    LXA_OP_LIST_DIR,
    LXA_OP_SYSCALL,
    LXA_OP_UNLINKAT_MANY,
)

from struct import Struct as _Struct, error as _StructError

from .abstract import ArgumentTypeError, ContextClosedError, OperationInFlightError


cdef bytes _fs_path(object path):
    """``path`` (str, bytes, os.PathLike) as the NUL-terminated bytes the kernel reads."""
    cdef bytes encoded = os.fsencode(path)  # TypeError for anything else, as os.stat
    if b"\0" in encoded:
        raise ValueError("embedded null byte")
    return encoded


cdef int _fs_int(object value) except? -1:
    """An int argument (flags, mode, dir_fd, advice): ``operator.index`` semantics, C int range."""
    return PyNumber_Index(value)


cdef int _fs_fd(object fd) except -1:
    return _fd_arg(PyNumber_Index(fd))


cdef int64_t _fs_length(object value, str name) except -1:
    return _size_arg(PyNumber_Index(value), name)


cdef inline long _addr(const void *p) noexcept:
    return <long>p


cdef object _stat_result(const statx *st):
    """The ``os.stat_result`` that ``os.stat`` builds from the same fields (floats and ns included)."""
    cdef int64_t a = st.stx_atime.tv_sec, m = st.stx_mtime.tv_sec, c = st.stx_ctime.tv_sec
    cdef uint32_t an = st.stx_atime.tv_nsec, mn = st.stx_mtime.tv_nsec, cn = st.stx_ctime.tv_nsec
    return os.stat_result((
        st.stx_mode, st.stx_ino, os.makedev(st.stx_dev_major, st.stx_dev_minor), st.stx_nlink,
        st.stx_uid, st.stx_gid, st.stx_size,
        a, m, c,
        <double>a + <double>an * 1e-9, <double>m + <double>mn * 1e-9, <double>c + <double>cn * 1e-9,
        <object>a * 1000000000 + an, <object>m * 1000000000 + mn, <object>c * 1000000000 + cn,
        st.stx_blksize, st.stx_blocks, os.makedev(st.stx_rdev_major, st.stx_rdev_minor),
    ))


cdef object _statvfs_result(const statfs *st):
    """The ``os.statvfs_result`` ``os.statvfs`` gives: glibc's statvfs(3) conversion of statfs(2)."""
    cdef uint64_t fsid = 0
    memcpy(&fsid, &st.f_fsid, sizeof(fsid))  # both 8 bytes: glibc copies it so
    cdef long flags = st.f_flags ^ _ST_VALID if st.f_flags & _ST_VALID else 0
    return os.statvfs_result((
        st.f_bsize, st.f_frsize if st.f_frsize else st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail,
        st.f_files, st.f_ffree, st.f_ffree, flags, st.f_namelen, fsid,
    ))


cdef enum:
    _ST_VALID = 0x20          # statfs(2): f_flags is filled in
    _AT_SYMLINK_NOFOLLOW = 0x100
    _AT_EMPTY_PATH = 0x1000
    _PATH_BUF = 4096          # PATH_MAX: readlink/getcwd buffers (os.readlink reads at most this much too)
    _EOPNOTSUPP = 95

#: struct timespec[2] of utimensat(2) (time_t and long: 64-bit on the machines we build for).
_TIMESPECS = _Struct("@qqqq")


@cython.freelist(64)
@cython.final
cdef class Operation:
    """One I/O request. Build it with a class method, submit it once.

    ``payload`` is the memory the operation uses: the caller's buffer for
    writes and ``readinto``, the list of buffers for vectored operations, and
    the bytes read (``None`` until completion) for ``read``. The operation
    holds the caller's buffers (``Py_buffer``) until it completes.
    """

    def __cinit__(self):
        self._fd = -1
        self._state = ST_NEW

    def __init__(self, *args, **kwargs):
        raise TypeError("use Operation.read/write/readinto/readv/writev/fsync/fdsync")

    def __dealloc__(self):
        self._release_buffers()
        Py_XDECREF(self._rbuf)
        self._rbuf = NULL

    cdef int _release_buffers(self) except -1:
        """Give the caller's buffers back (called at completion, or when the operation dies)."""
        cdef int i
        if self._has_view:
            self._has_view = False
            PyBuffer_Release(&self._view)
        if self._views != NULL:
            for i in range(self._nviews):
                PyBuffer_Release(&self._views[i])
            PyMem_Free(self._views)
            self._views = NULL
            self._nviews = 0
        if self._iov != NULL:
            PyMem_Free(self._iov)
            self._iov = NULL
            self._iov_cur = NULL
        return 0

    cdef int _alloc_read(self) except -1:
        """``read``: the bytes object the transfer fills (not zero-filled); ``-ENOMEM`` if none can be had."""
        if self._nbytes > PY_SSIZE_T_MAX - 4096:
            return -ENOMEM
        try:
            data = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>self._nbytes)
        except MemoryError:
            return -ENOMEM
        Py_INCREF(data)
        self._rbuf = <PyObject *>data
        self._base = PyBytes_AS_STRING(data)
        return 0

    cdef int _finish(self) except -1:
        """At completion (``_result`` set): publish the bytes read, release the caller's buffers."""
        cdef PyObject *rbuf
        if self._opcode == OP_STATX:
            rbuf, self._rbuf = self._rbuf, NULL
            if self._result == 0 and rbuf != NULL:
                self._payload = _stat_result(<const statx *>PyBytes_AS_STRING(<object>rbuf))
            Py_XDECREF(rbuf)
        elif self._opcode == OP_STATVFS:
            rbuf, self._rbuf = self._rbuf, NULL
            if self._result == 0 and rbuf != NULL:
                self._payload = _statvfs_result(<const statfs *>PyBytes_AS_STRING(<object>rbuf))
            Py_XDECREF(rbuf)
        elif self._opcode == OP_READLINKAT or self._opcode == OP_GETCWD:
            rbuf, self._rbuf = self._rbuf, NULL
            if self._result >= 0 and rbuf != NULL:
                # getcwd(2) counts the NUL; readlinkat(2) does not write one.
                raw = PyBytes_AS_STRING(<object>rbuf)[:self._result - 1 if self._opcode == OP_GETCWD else self._result]
                self._payload = raw if self._offs[0] else os.fsdecode(raw)
            Py_XDECREF(rbuf)
        elif self._opcode == OP_UNLINKAT_MANY:
            rbuf, self._rbuf = self._rbuf, NULL
            if self._result >= 0 and rbuf != NULL:
                self._payload = memoryview(<object>rbuf).cast("i").tolist()
            Py_XDECREF(rbuf)
        elif self._opcode == OP_LISTDIRAT:
            rbuf, self._rbuf = self._rbuf, NULL
            if self._result >= 0 and rbuf != NULL:
                if self._result < self._nbytes:
                    _PyBytes_Resize(&rbuf, <Py_ssize_t>self._result)  # we hold the only reference
                self._payload = (self._offs[0], <object>rbuf, bool(self._offs[1]))
                Py_DECREF(<object>rbuf)
            else:
                Py_XDECREF(rbuf)
        elif self._opcode == OP_CLOSE_FD:
            _forget_closed_fd(self._fd)  # the write guard's trust in the number (_wguard.pxi)
        elif self._opcode == OP_COPYFILEAT:
            if self._result < 0 and self._result != -ECANCELED and _copy_step(self) == LXA_COPY_UNSUITABLE:
                self._result = 0  # nothing was done: the value None says "copy it another way"
                self._payload = None
            elif self._result >= 0:
                self._payload = self._result
        elif self._opcode == OP_FACCESSAT:
            if self._result != -ECANCELED:
                self._result = 1 if self._result == 0 else 0  # os.access: any failure is False
        elif self._opcode == OP_READ or self._opcode == OP_GETDENTS:
            rbuf, self._rbuf = self._rbuf, NULL
            if self._result > 0 and rbuf != NULL:
                if self._result < self._nbytes:
                    _PyBytes_Resize(&rbuf, <Py_ssize_t>self._result)  # we hold the only reference
                self._payload = <object>rbuf
                Py_DECREF(<object>rbuf)
            else:
                Py_XDECREF(rbuf)
                self._payload = b"" if self._result == 0 else None
        self._keep = None
        self._release_buffers()
        return 0

    cdef void _fill_job(self) noexcept:
        """Describe what is left of the operation (after ``_done`` bytes) as a pool job; ``user`` is the caller's."""
        cdef int opcode = self._opcode
        cdef int64_t done = self._done
        if _is_fs(opcode):
            return  # the constructor prepared the LXA_OP_SYSCALL job
        memset(&self._job, 0, sizeof(self._job))
        self._job.fd = self._fd
        self._job.offset = self._offset + done
        if opcode == OP_READ or opcode == OP_READINTO:
            self._job.opcode = LXA_OP_PREAD
            self._job.buf = self._base + done
            self._job.len = <size_t>(self._nbytes - done)
        elif opcode == OP_WRITE:
            self._job.opcode = LXA_OP_PWRITE
            self._job.buf = self._base + done
            self._job.len = <size_t>(self._nbytes - done)
        elif opcode == OP_READV or opcode == OP_WRITEV:
            self._job.opcode = LXA_OP_PREADV if opcode == OP_READV else LXA_OP_PWRITEV
            self._job.iov = self._iov_cur
            self._job.iovcnt = self._iovcnt_cur
        elif opcode == OP_FSYNC:
            self._job.opcode = LXA_OP_FSYNC
        else:
            self._job.opcode = LXA_OP_FDSYNC

    cdef int _discard(self) except -1:
        """An operation that will never be submitted (its awaiting task was cancelled while it
        waited for a slot): give the caller's buffers back now, complete it with ``-ECANCELED``."""
        if self._state != ST_NEW:
            return 0
        self._release_buffers()
        Py_XDECREF(self._rbuf)
        self._rbuf = NULL
        self._callback = self._adapter = self._future = None
        self._result = -ECANCELED
        self._state = ST_DONE
        return 0

    cdef object _value(self):
        """``get_value()`` of a completed operation: the result, or the ``OSError`` to raise."""
        cdef int code
        cdef int opcode = self._opcode
        if self._result < 0:
            code = <int>-self._result
            if opcode == OP_FCHMODAT and code == _EOPNOTSUPP and self._offs[0]:
                # What os.chmod(..., follow_symlinks=False) raises where the kernel cannot do it.
                if self._offs[1]:
                    return NotImplementedError("chmod: cannot use dir_fd and follow_symlinks together on this platform")
                return NotImplementedError("chmod: follow_symlinks unavailable on this platform")
            if opcode == OP_COPYFILEAT and self._names is not None:
                return _copy_error(code, _copy_step(self), self._names)
            if self._names is not None:  # as os.stat/os.rename raise it: filename[, None, filename2]
                return OSError(code, os.strerror(code), *self._names)
            return OSError(code, os.strerror(code))
        if (opcode == OP_READ or opcode == OP_STATX or opcode == OP_GETDENTS or opcode == OP_STATVFS
                or opcode == OP_READLINKAT or opcode == OP_GETCWD):
            return self._payload
        if opcode == OP_FACCESSAT:
            return self._result == 1
        if opcode == OP_UNLINKAT_MANY or opcode == OP_COPYFILEAT or opcode == OP_LISTDIRAT:
            return self._payload
        if opcode == OP_FSYNC or opcode == OP_FDSYNC:
            return None
        if _is_fs(opcode) and opcode != OP_OPENAT and opcode != OP_COPY_FILE_RANGE and opcode != OP_SENDFILE:
            return None
        return self._result

    @staticmethod
    cdef Operation _new(int opcode, int fd, int64_t offset, int64_t nbytes):
        cdef Operation op = Operation.__new__(Operation)
        op._opcode = opcode
        op._fd = fd
        op._offset = offset
        op._nbytes = nbytes
        return op

    @classmethod
    def read(cls, nbytes, fd, offset=0, priority=0):
        """Read up to ``nbytes`` at ``offset``; ``get_value()`` returns the bytes read.

        The kernel or a worker fills the memory of the returned ``bytes`` object
        (no zero-fill, no copy); it is shrunk in place on a short read.
        """
        cdef int64_t size = _size_arg(nbytes, "nbytes")
        cdef int cfd = _fd_arg(fd)
        cdef int64_t off = _size_arg(offset, "offset")
        cdef int prio = _priority_arg(priority)
        cdef Operation op = Operation._new(OP_READ, cfd, off, size)
        op._ioprio = prio
        return op

    @classmethod
    def write(cls, payload, fd, offset=0, priority=0):
        """Write ``payload`` (any buffer, not copied) at ``offset``; value: bytes written."""
        cdef Operation op = Operation.__new__(Operation)
        _get_buffer(payload, &op._view, False, "payload")
        op._has_view = True
        op._opcode = OP_WRITE
        op._fd = _fd_arg(fd)
        op._offset = _size_arg(offset, "offset")
        op._ioprio = _priority_arg(priority)
        op._nbytes = op._view.len
        op._base = <char *>op._view.buf
        op._payload = payload
        return op

    @classmethod
    def readinto(cls, buffer, fd, offset=0, priority=0):
        """Read into the caller's writable ``buffer``; value: bytes read.

        With a page-aligned buffer (e.g. an ``mmap``) this works on an
        ``O_DIRECT`` file descriptor.
        """
        cdef Operation op = Operation.__new__(Operation)
        _get_buffer(buffer, &op._view, True, "buffer")
        op._has_view = True
        op._opcode = OP_READINTO
        op._fd = _fd_arg(fd)
        op._offset = _size_arg(offset, "offset")
        op._ioprio = _priority_arg(priority)
        op._nbytes = op._view.len
        op._base = <char *>op._view.buf
        op._payload = buffer
        return op

    @staticmethod
    cdef Operation _vectored(int opcode, object buffers, object fd, object offset, object priority):
        cdef bint writable = opcode == OP_READV
        items, views = _args.writable_views(buffers) if writable else _args.readable_views(buffers)
        cdef int cfd = _fd_arg(fd)
        cdef int64_t off = _size_arg(offset, "offset")
        cdef int prio = _priority_arg(priority)
        cdef Py_ssize_t n = len(views), i
        if n > 0x7fffffff:
            raise ValueError(f"too many buffers ({n})")
        cdef Operation op = Operation._new(opcode, cfd, off, 0)
        op._ioprio = prio
        cdef int64_t total = 0
        op._payload = items
        # Calloc(1, ...) so that zero buffers still give valid pointers.
        op._views = <Py_buffer *>PyMem_Calloc(n if n else 1, sizeof(Py_buffer))
        op._iov = <iovec *>PyMem_Calloc(n if n else 1, sizeof(iovec))
        if op._views == NULL or op._iov == NULL:
            raise MemoryError()
        for i in range(n):
            _get_buffer(views[i], &op._views[i], writable, "buffers item")
            op._nviews = <int>(i + 1)
            op._iov[i].iov_base = op._views[i].buf
            op._iov[i].iov_len = <size_t>op._views[i].len
            total += op._views[i].len
        op._iov_cur = op._iov
        op._iovcnt_cur = <int>n
        op._nbytes = total
        return op

    @classmethod
    def readv(cls, buffers, fd, offset=0, priority=0):
        """Scatter-read into ``buffers`` in order (``preadv(2)``); value: bytes read."""
        return Operation._vectored(OP_READV, buffers, fd, offset, priority)

    @classmethod
    def writev(cls, buffers, fd, offset=0, priority=0):
        """Gather-write ``buffers`` in order (``pwritev(2)``); value: bytes written."""
        return Operation._vectored(OP_WRITEV, buffers, fd, offset, priority)

    @classmethod
    def fsync(cls, fd, priority=0):
        """Flush data and metadata of ``fd`` to storage (``fsync(2)``)."""
        cdef int cfd = _fd_arg(fd)
        _priority_arg(priority)
        return Operation._new(OP_FSYNC, cfd, 0, 0)

    @classmethod
    def fdsync(cls, fd, priority=0):
        """Flush the data of ``fd`` to storage (``fdatasync(2)``)."""
        cdef int cfd = _fd_arg(fd)
        _priority_arg(priority)
        return Operation._new(OP_FDSYNC, cfd, 0, 0)

    # -- file-system operations (the engine's fs-op table) ----------------------------------
    #
    # Each is one system call on the C pool (LXA_OP_SYSCALL), whatever the
    # backend's data path is; completion comes through the same eventfd.
    # Paths are encoded with os.fsencode and kept alive until completion; a
    # failure raises from get_value() the OSError os.* raises, with the paths
    # as the caller gave them (str or bytes; os.fspath of a path object, as os does).

    @staticmethod
    cdef Operation _fs_new(int opcode, long sysno):
        cdef Operation op = Operation.__new__(Operation)
        op._opcode = opcode
        op._job.opcode = LXA_OP_SYSCALL
        op._job.sysno = sysno
        op._job.fd = -1
        return op

    @classmethod
    def openat(cls, path, flags, mode=0o777, dir_fd=AT_FDCWD):
        """openat(2) with ``O_CLOEXEC`` always added; value: the new file descriptor.

        If nobody takes the value (e.g. its awaiting task was cancelled), the
        descriptor is still open: ``get_value()`` keeps returning it, so the
        owner can close it.
        """
        cdef bytes p = _fs_path(path)
        cdef int cflags = _fs_int(flags) | O_CLOEXEC
        cdef int cmode = _fs_int(mode)
        cdef int cdir = _fs_int(dir_fd)
        cdef Operation op = Operation._fs_new(OP_OPENAT, SYS_openat)
        op._keep = p
        op._names = (os.fspath(path),)
        op._job.args[0] = cdir
        op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = cflags
        op._job.args[3] = cmode
        return op

    @classmethod
    def close_fd(cls, fd):
        """close(2) of ``fd``; value: ``None`` (the descriptor is gone even if it fails)."""
        cdef int cfd = _fs_fd(fd)
        cdef Operation op = Operation._fs_new(OP_CLOSE_FD, SYS_close)
        op._fd = cfd
        op._job.args[0] = cfd
        return op

    @classmethod
    def statx(cls, path, flags=0, mask=STATX_BASIC_STATS, dir_fd=AT_FDCWD):
        """statx(2); value: the ``os.stat_result`` ``os.stat`` gives, field for field (ns times too).

        ``path=b""`` with ``AT_EMPTY_PATH`` (0x1000) in ``flags`` stats ``dir_fd``;
        ``AT_SYMLINK_NOFOLLOW`` (0x100) stats a symlink itself. The basic fields
        are always requested, whatever ``mask`` adds.
        """
        cdef bytes p = _fs_path(path)
        cdef int cflags = _fs_int(flags)
        cdef unsigned cmask = <unsigned>_fs_int(mask) | STATX_BASIC_STATS
        cdef int cdir = _fs_int(dir_fd)
        cdef Operation op = Operation._fs_new(OP_STATX, SYS_statx)
        data = PyBytes_FromStringAndSize(NULL, sizeof(statx))
        Py_INCREF(data)
        op._rbuf = <PyObject *>data
        op._base = PyBytes_AS_STRING(data)
        op._keep = p
        op._names = (os.fspath(path),) if p else None  # an empty path stats dir_fd: os.stat(fd) names nothing
        op._job.args[0] = cdir
        op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = cflags
        op._job.args[3] = <long>cmask
        op._job.args[4] = _addr(op._base)
        return op

    @classmethod
    def renameat(cls, old, new, flags=0, old_dir_fd=AT_FDCWD, new_dir_fd=AT_FDCWD):
        """renameat2(2) (``flags``: 0, ``RENAME_NOREPLACE`` 1, ``RENAME_EXCHANGE`` 2); value: ``None``."""
        cdef bytes a = _fs_path(old)
        cdef bytes b = _fs_path(new)
        cdef int cflags = _fs_int(flags)
        cdef int adir = _fs_int(old_dir_fd)
        cdef int bdir = _fs_int(new_dir_fd)
        cdef Operation op = Operation._fs_new(OP_RENAMEAT, SYS_renameat2)
        op._keep = (a, b)
        op._names = (os.fspath(old), None, os.fspath(new))
        op._job.args[0] = adir
        op._job.args[1] = _addr(<char *>a)
        op._job.args[2] = bdir
        op._job.args[3] = _addr(<char *>b)
        op._job.args[4] = cflags
        return op

    @classmethod
    def unlinkat(cls, path, flags=0, dir_fd=AT_FDCWD):
        """unlinkat(2) (``AT_REMOVEDIR`` 0x200 in ``flags``: rmdir); value: ``None``."""
        cdef bytes p = _fs_path(path)
        cdef int cflags = _fs_int(flags)
        cdef int cdir = _fs_int(dir_fd)
        cdef Operation op = Operation._fs_new(OP_UNLINKAT, SYS_unlinkat)
        op._keep = p
        op._names = (os.fspath(path),)
        op._job.args[0] = cdir
        op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = cflags
        return op

    @classmethod
    def mkdirat(cls, path, mode=0o777, dir_fd=AT_FDCWD):
        """mkdirat(2); value: ``None``."""
        cdef bytes p = _fs_path(path)
        cdef int cmode = _fs_int(mode)
        cdef int cdir = _fs_int(dir_fd)
        cdef Operation op = Operation._fs_new(OP_MKDIRAT, SYS_mkdirat)
        op._keep = p
        op._names = (os.fspath(path),)
        op._job.args[0] = cdir
        op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = cmode
        return op

    @classmethod
    def linkat(cls, src, dst, flags=0, src_dir_fd=AT_FDCWD, dst_dir_fd=AT_FDCWD):
        """linkat(2) (``AT_SYMLINK_FOLLOW`` 0x400 in ``flags`` follows ``src``); value: ``None``."""
        cdef bytes a = _fs_path(src)
        cdef bytes b = _fs_path(dst)
        cdef int cflags = _fs_int(flags)
        cdef int adir = _fs_int(src_dir_fd)
        cdef int bdir = _fs_int(dst_dir_fd)
        cdef Operation op = Operation._fs_new(OP_LINKAT, SYS_linkat)
        op._keep = (a, b)
        op._names = (os.fspath(src), None, os.fspath(dst))
        op._job.args[0] = adir
        op._job.args[1] = _addr(<char *>a)
        op._job.args[2] = bdir
        op._job.args[3] = _addr(<char *>b)
        op._job.args[4] = cflags
        return op

    @classmethod
    def symlinkat(cls, target, linkpath, dir_fd=AT_FDCWD):
        """symlinkat(2): ``linkpath`` pointing at ``target``; value: ``None``."""
        cdef bytes a = _fs_path(target)
        cdef bytes b = _fs_path(linkpath)
        cdef int cdir = _fs_int(dir_fd)
        cdef Operation op = Operation._fs_new(OP_SYMLINKAT, SYS_symlinkat)
        op._keep = (a, b)
        op._names = (os.fspath(target), None, os.fspath(linkpath))
        op._job.args[0] = _addr(<char *>a)
        op._job.args[1] = cdir
        op._job.args[2] = _addr(<char *>b)
        return op

    @classmethod
    def fallocate(cls, fd, mode, offset, length):
        """fallocate(2); value: ``None``."""
        cdef int cfd = _fs_fd(fd)
        cdef int cmode = _fs_int(mode)
        cdef int64_t off = _fs_length(offset, "offset")
        cdef int64_t n = _fs_length(length, "length")
        cdef Operation op = Operation._fs_new(OP_FALLOCATE, SYS_fallocate)
        op._fd = cfd
        op._offset = off
        op._nbytes = n
        op._job.args[0] = cfd
        op._job.args[1] = cmode
        op._job.args[2] = <long>off
        op._job.args[3] = <long>n
        return op

    @classmethod
    def ftruncate(cls, fd, length):
        """ftruncate(2); value: ``None``."""
        cdef int cfd = _fs_fd(fd)
        cdef int64_t n = _fs_length(length, "length")
        cdef Operation op = Operation._fs_new(OP_FTRUNCATE, SYS_ftruncate)
        op._fd = cfd
        op._nbytes = n
        op._job.args[0] = cfd
        op._job.args[1] = <long>n
        return op

    @classmethod
    def fadvise(cls, fd, offset, length, advice):
        """posix_fadvise(2) (``os.POSIX_FADV_*``); value: ``None``."""
        cdef int cfd = _fs_fd(fd)
        cdef int64_t off = _fs_length(offset, "offset")
        cdef int64_t n = _fs_length(length, "length")
        cdef int cadvice = _fs_int(advice)
        cdef Operation op = Operation._fs_new(OP_FADVISE, SYS_fadvise64)
        op._fd = cfd
        op._offset = off
        op._nbytes = n
        op._job.args[0] = cfd
        op._job.args[1] = <long>off
        op._job.args[2] = <long>n
        op._job.args[3] = cadvice
        return op

    @classmethod
    def copy_file_range(cls, fd_in, off_in, fd_out, off_out, length):
        """copy_file_range(2); an offset of -1 uses and advances that fd's file position; value: bytes copied."""
        cdef int cin = _fs_fd(fd_in)
        cdef int cout = _fs_fd(fd_out)
        cdef int64_t offs[2]
        cdef int i
        for i, off in enumerate((off_in, off_out)):
            off = PyNumber_Index(off)
            if off == -1:
                offs[i] = -1
            else:
                offs[i] = _size_arg(off, "offset")
        cdef int64_t n = _fs_length(length, "length")
        cdef Operation op = Operation._fs_new(OP_COPY_FILE_RANGE, SYS_copy_file_range)
        op._fd = cin
        op._nbytes = n
        op._offs[0] = offs[0]
        op._offs[1] = offs[1]
        op._offset = offs[0] if offs[0] >= 0 else 0
        op._job.args[0] = cin
        op._job.args[1] = _addr(&op._offs[0]) if offs[0] >= 0 else 0
        op._job.args[2] = cout
        op._job.args[3] = _addr(&op._offs[1]) if offs[1] >= 0 else 0
        op._job.args[4] = <long>n
        op._job.args[5] = 0
        return op

    @classmethod
    def getdents(cls, fd, nbytes=65536):
        """getdents64(2) on a directory fd; value: raw ``linux_dirent64`` records (``b""`` at the end)."""
        cdef int cfd = _fs_fd(fd)
        cdef int64_t n = _fs_length(nbytes, "nbytes")
        if n > 0x7FFFFFFF:
            raise ValueError(f"nbytes is too large ({n})")
        cdef Operation op = Operation._fs_new(OP_GETDENTS, SYS_getdents64)
        data = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>n)
        Py_INCREF(data)
        op._rbuf = <PyObject *>data
        op._base = PyBytes_AS_STRING(data)
        op._fd = cfd
        op._nbytes = n
        op._job.args[0] = cfd
        op._job.args[1] = _addr(op._base)
        op._job.args[2] = <long>n
        return op

    # -- beyond the table: what aiofile.os needs that has no ring opcode (the pool runs these on
    # every compiled backend, linux_uring included; values and errors as the os function's)

    @classmethod
    def readlinkat(cls, path, dir_fd=AT_FDCWD):
        """readlinkat(2); value: the target, ``bytes`` for a ``bytes`` path else ``str`` (as ``os.readlink``)."""
        cdef bytes p = _fs_path(path)
        cdef int cdir = _fs_int(dir_fd)
        name = os.fspath(path)
        cdef Operation op = _fs_buffer(OP_READLINKAT, SYS_readlinkat, _PATH_BUF)
        op._keep = p
        op._names = (name,)
        op._offs[0] = isinstance(name, bytes)
        op._job.args[0] = cdir
        op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = _addr(op._base)
        op._job.args[3] = _PATH_BUF
        return op

    @classmethod
    def faccessat(cls, path, mode, flags=0, dir_fd=AT_FDCWD):
        """faccessat(2), faccessat2(2) with ``flags`` (``AT_EACCESS`` 0x200, ``AT_SYMLINK_NOFOLLOW``);
        value: ``bool``, as ``os.access`` (never raises: a failure is ``False``)."""
        cdef bytes p = _fs_path(path)
        cdef int cmode = _fs_int(mode)
        cdef int cflags = _fs_int(flags)
        cdef int cdir = _fs_int(dir_fd)
        # faccessat(2) has no flags argument; faccessat2(2) (Linux >= 5.8) only where they are needed.
        cdef Operation op = Operation._fs_new(OP_FACCESSAT, SYS_faccessat2 if cflags else SYS_faccessat)
        op._keep = p
        op._job.args[0] = cdir
        op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = cmode
        op._job.args[3] = cflags
        return op

    @classmethod
    def fchmodat(cls, path, mode, flags=0, dir_fd=AT_FDCWD):
        """fchmodat(2); ``b""`` with ``AT_EMPTY_PATH`` (0x1000): fchmod(2) of ``dir_fd``;
        ``AT_SYMLINK_NOFOLLOW``: fchmodat2(2) (Linux >= 6.6), ``NotImplementedError`` for a
        symlink as ``os.chmod(..., follow_symlinks=False)``. Value: ``None``."""
        cdef bytes p = _fs_path(path)
        cdef int cmode = _fs_int(mode)
        cdef int cflags = _fs_int(flags)
        cdef int cdir = _fs_int(dir_fd)
        cdef Operation op
        if not p and cflags & _AT_EMPTY_PATH:
            op = Operation._fs_new(OP_FCHMODAT, SYS_fchmod)
            op._names = (cdir,)  # os.chmod(fd) names the fd
            op._fd = cdir
            op._job.args[0] = cdir
            op._job.args[1] = cmode
            return op
        if cflags & _AT_SYMLINK_NOFOLLOW:
            op = Operation._fs_new(OP_FCHMODAT, SYS_fchmodat2)
            op._offs[0] = 1
            op._offs[1] = cdir != AT_FDCWD
            op._job.args[3] = cflags
        else:
            op = Operation._fs_new(OP_FCHMODAT, SYS_fchmodat)
        op._keep = p
        op._names = (os.fspath(path),)
        op._job.args[0] = cdir
        op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = cmode
        return op

    @classmethod
    def utimensat(cls, path, times_ns=None, flags=0, dir_fd=AT_FDCWD):
        """utimensat(2): ``times_ns`` ``(atime_ns, mtime_ns)`` or ``None`` (now); ``b""`` with
        ``AT_EMPTY_PATH``: ``dir_fd`` itself. Value: ``None``; errors name no file, as ``os.utime``'s."""
        cdef bytes p = _fs_path(path)
        cdef int cflags = _fs_int(flags)
        cdef int cdir = _fs_int(dir_fd)
        cdef object times = None
        if times_ns is not None:
            atime, mtime = times_ns
            atime = PyNumber_Index(atime)
            mtime = PyNumber_Index(mtime)
            a_s, a_ns = divmod(atime, 1000000000)
            m_s, m_ns = divmod(mtime, 1000000000)
            try:
                times = _TIMESPECS.pack(a_s, a_ns, m_s, m_ns)
            except _StructError:
                raise OverflowError("timestamp out of range for platform time_t") from None
        cdef Operation op = Operation._fs_new(OP_UTIMENSAT, SYS_utimensat)
        op._keep = (p, times)
        op._job.args[0] = cdir
        if not p and cflags & _AT_EMPTY_PATH:
            op._job.args[1] = 0  # NULL path: the fd itself (futimens(3))
            cflags &= ~_AT_EMPTY_PATH
        else:
            op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = _addr(<char *>times) if times is not None else 0
        op._job.args[3] = cflags
        return op

    @classmethod
    def statvfs(cls, path):
        """statvfs(3) of a path or an fd; value: the ``os.statvfs_result`` ``os.statvfs`` gives."""
        cdef Operation op
        cdef bytes p
        if isinstance(path, int) and not isinstance(path, bool):
            op = _fs_buffer(OP_STATVFS, SYS_fstatfs, sizeof(statfs))
            op._fd = _fs_fd(path)
            op._names = (path,)
            op._job.args[0] = op._fd
        else:
            p = _fs_path(path)
            op = _fs_buffer(OP_STATVFS, SYS_statfs, sizeof(statfs))
            op._keep = p
            op._names = (os.fspath(path),)
            op._job.args[0] = _addr(<char *>p)
        op._job.args[1] = _addr(op._base)
        return op

    @classmethod
    def sendfile(cls, out_fd, in_fd, offset, count):
        """sendfile(2) (``offset=None``: from ``in_fd``'s position, advanced); value: bytes sent."""
        cdef int cout = _fs_fd(out_fd)
        cdef int cin = _fs_fd(in_fd)
        cdef int64_t off = -1 if offset is None else _fs_length(offset, "offset")
        cdef int64_t n = _fs_length(count, "count")
        cdef Operation op = Operation._fs_new(OP_SENDFILE, SYS_sendfile)
        op._fd = cin
        op._nbytes = n
        op._offs[0] = off
        op._offset = off if off >= 0 else 0
        op._job.args[0] = cout
        op._job.args[1] = cin
        op._job.args[2] = _addr(&op._offs[0]) if off >= 0 else 0
        op._job.args[3] = <long>n
        return op

    @classmethod
    def getcwd(cls, as_bytes=False):
        """getcwd(2); value: ``str`` (``bytes`` with ``as_bytes``), as ``os.getcwd``/``os.getcwdb``."""
        cdef Operation op = _fs_buffer(OP_GETCWD, SYS_getcwd, _PATH_BUF)
        op._offs[0] = bool(as_bytes)
        op._job.args[0] = _addr(op._base)
        op._job.args[1] = _PATH_BUF
        return op

    # -- several calls in one pool job: bulk tree work (aiofile.shutil's rmtree, copytree) -----

    @classmethod
    def unlinkat_many(cls, names, flags=0, dir_fd=AT_FDCWD):
        """unlinkat(2) of each of ``names`` (paths relative to ``dir_fd``), in order, in one pool job.

        Value: a list of one errno per name (0: removed); the operation itself
        fails only if it never ran. The callback's result is how many failed.
        """
        cdef list encoded = [_fs_path(name) for name in names]
        cdef int cflags = _fs_int(flags)
        cdef int cdir = _fs_int(dir_fd)
        cdef Py_ssize_t n = len(encoded), i
        cdef Operation op = _fs_buffer(OP_UNLINKAT_MANY, -1, n * sizeof(int))
        pointers = PyBytes_FromStringAndSize(NULL, (n if n else 1) * sizeof(char *))
        cdef char **table = <char **>PyBytes_AS_STRING(pointers)
        for i in range(n):
            table[i] = <char *>(<bytes>encoded[i])
        op._keep = (encoded, pointers)
        op._fd = cdir
        op._nbytes = n
        op._job.opcode = LXA_OP_UNLINKAT_MANY
        op._job.fd = cdir
        op._job.buf = table
        op._job.len = <size_t>n
        op._job.args[0] = cflags
        op._job.args[1] = _addr(op._base)
        return op

    @classmethod
    def copyfileat(cls, src, dst, flags=0, src_dir_fd=AT_FDCWD, dst_dir_fd=AT_FDCWD):
        """``shutil.copyfile`` of one regular file in one pool job (open both, ``copy_file_range``
        or read/write, then with ``flags`` 1 the permission bits as ``copymode``, 2 the times as
        ``copystat``, then close). The metadata is ``src``'s after the copy, or with ``flags`` 4
        before it (what ``shutil.copytree``'s ``copy2`` of a ``DirEntry`` copies).

        Value: the bytes copied; ``None`` if ``src`` is not a regular file, or
        ``dst`` cannot be opened or is not a regular file other than ``src``
        (nothing was changed: copy it another way, which reports the stdlib's
        error). A failure while copying raises ``OSError`` naming ``src`` and
        ``dst`` and removes ``dst`` if this job created it (an existing ``dst``
        is left truncated or partly written, as ``shutil`` leaves it); a failure of the metadata keeps ``dst`` and
        raises what ``os.utime``/``os.chmod`` raise.
        """
        cdef bytes a = _fs_path(src)
        cdef bytes b = _fs_path(dst)
        cdef int cflags = _fs_int(flags)
        cdef int adir = _fs_int(src_dir_fd)
        cdef int bdir = _fs_int(dst_dir_fd)
        cdef Operation op = Operation._fs_new(OP_COPYFILEAT, -1)
        op._keep = (a, b)
        op._names = (os.fspath(src), None, os.fspath(dst))
        op._job.opcode = LXA_OP_COPY_FILE
        op._job.args[0] = adir
        op._job.args[1] = _addr(<char *>a)
        op._job.args[2] = bdir
        op._job.args[3] = _addr(<char *>b)
        op._job.args[4] = cflags & (LXA_COPY_MODE | LXA_COPY_TIMES | LXA_COPY_STAT_FIRST)
        op._job.args[5] = _addr(&op._offs[0])
        return op

    @classmethod
    def listdirat(cls, path, flags=0, dir_fd=AT_FDCWD, nbytes=65536, keep_open=False):
        """Open directory ``path`` (``O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags``, e.g. ``O_NOFOLLOW``)
        and read its raw ``linux_dirent64`` records, up to ``nbytes``, in one pool job.

        Value: ``(fd, records, at_end)``. ``at_end``: the whole directory is in
        ``records``; then ``fd`` is -1 (closed by the job) unless ``keep_open``.
        Otherwise ``fd`` is the open directory, positioned after ``records``:
        the caller goes on with ``getdents`` and closes it. A failure (of the
        open or of a read: the fd is closed then) raises the ``OSError`` that
        ``os.scandir`` raises.
        """
        cdef bytes p = _fs_path(path)
        cdef int cflags = _fs_int(flags)
        cdef int cdir = _fs_int(dir_fd)
        cdef int64_t n = _fs_length(nbytes, "nbytes")
        if n > 0x7FFFFFFF or n < 4096:
            raise ValueError(f"nbytes must be in [4096, 2**31) ({n})")
        cdef Operation op = _fs_buffer(OP_LISTDIRAT, -1, <Py_ssize_t>n)
        op._keep = p
        op._names = (os.fspath(path),)
        op._nbytes = n
        op._job.opcode = LXA_OP_LIST_DIR
        op._job.buf = op._base
        op._job.len = <size_t>n
        op._job.args[0] = cdir
        op._job.args[1] = _addr(<char *>p)
        op._job.args[2] = cflags
        op._job.args[3] = _addr(&op._offs[0])
        op._job.args[4] = 1 if keep_open else 0
        return op

    @property
    def opcode(self):
        """What the operation does (an ``OpCode`` value)."""
        return self._opcode

    @property
    def fileno(self):
        """The file descriptor the operation works on."""
        return self._fd

    @property
    def offset(self):
        """The file offset of the transfer (0 for syncs)."""
        return self._offset

    @property
    def nbytes(self):
        """The number of bytes requested (0 for syncs)."""
        return self._nbytes

    @property
    def payload(self):
        """The memory the operation reads into or writes from (``None`` for a read until done).

        Raises ``OperationInFlightError`` while the operation is in flight.
        """
        if self._state != ST_NEW and self._state != ST_DONE:
            raise OperationInFlightError(f"payload of an operation in flight: {self!r}")
        return self._payload

    @property
    def done(self):
        """True once the operation has completed and its callback ran."""
        return self._state == ST_DONE

    def set_callback(self, callback):
        """Call ``callback(result)`` once on completion; ``result`` is a count or ``-errno``."""
        if not callable(callback):
            raise ArgumentTypeError(f"callback must be callable, not {type(callback).__name__}")
        if self._state != ST_NEW:
            raise ValueError(f"operation already submitted: {self!r}")
        self._callback = callback
        return True

    def attach_callback(self, callback):
        """Adapter hook: set the callback of a submitted operation that has not completed yet.

        ``Context.submit_inline`` (where a backend has it) submits without a
        callback; if the operation did not complete inside the call, the adapter
        attaches one here. Callbacks only run on the thread that calls
        ``process_events``/``reap``/``close``, so nothing is missed between
        the two calls. Raises ``ValueError`` once the operation completed or
        if it already has a callback.
        """
        if not callable(callback):
            raise ArgumentTypeError(f"callback must be callable, not {type(callback).__name__}")
        if self._state == ST_NEW or self._state == ST_DONE or self._callback is not None:
            raise ValueError(f"cannot attach a callback to {self!r}")
        self._callback = callback
        return True

    def get_value(self):
        """The result; raises ``OSError`` for a failed operation.

        Before submission: ``ValueError``; in flight: ``OperationInFlightError``
        (a ``RuntimeError``, as caio 0.12 raises, and a ``ValueError``).
        """
        if self._state != ST_DONE:
            if self._state == ST_NEW:
                raise ValueError("operation has not completed")
            raise OperationInFlightError(f"operation in flight: {self!r}")
        value = self._value()
        if self._result < 0:
            raise value
        return value

    def __repr__(self):
        return (
            f"<{type(self).__module__}.{type(self).__qualname__} {_OP_NAMES[self._opcode]} fd={self._fd} "
            f"offset={self._offset} nbytes={self._nbytes} state={_STATE_NAMES[self._state]}>"
        )


# Cyclic GC. An operation holds an export on the caller's buffer (Py_buffer)
# besides a reference to it. Two rules keep the exporter's memory valid for
# as long as the operation may use it:
#
# * tp_clear gives the exports back before it drops any reference: Cython's
#   generated one drops `_view.obj` without releasing the view, so an
#   exporter whose other references were all in the cycle (op -> callback
#   -> op) was freed while exported ("SystemError: deallocated bytearray
#   object has exported buffers", then a use after free).
# * tp_traverse does not report the object an export is held on unless it
#   is a bytes/bytearray (whose clearing never frees the exported memory):
#   to the collector such an exporter is then referenced from outside, so
#   it is never cleared while exported. A memoryview's tp_clear drops its
#   managed buffer even while exported; it must not run first. (The cost: a
#   cycle through such an exporter of an operation that never completes is
#   kept; it is collected once the operation completed or was discarded.)
#
# An operation in flight is never cleared: its context (or the pool) holds
# a reference the collector cannot see, so it is never garbage; the state
# check keeps that true even for a context that is itself being collected.

cdef inline int64_t _copy_step(Operation op) noexcept:
    """copyfileat: which part failed (LXA_COPY_*), written by the pool job into ``_offs[0]``."""
    return op._offs[0]


cdef object _copy_error(int code, int64_t step, tuple names):
    """copyfileat's failure as the stdlib's copy raises it: the data copy names src and dst
    (shutil's sendfile copy sets both), chmod names dst, utime and close name nothing."""
    if step == LXA_COPY_DATA:
        return OSError(code, os.strerror(code), *names)
    if step == LXA_COPY_CHMOD:
        return OSError(code, os.strerror(code), names[2])
    return OSError(code, os.strerror(code))


cdef Operation _fs_buffer(int opcode, long sysno, Py_ssize_t size):
    """An fs operation whose result the kernel writes into a fresh bytes object (``_rbuf``)."""
    cdef Operation op = Operation._fs_new(opcode, sysno)
    data = PyBytes_FromStringAndSize(NULL, size)
    Py_INCREF(data)
    op._rbuf = <PyObject *>data
    op._base = PyBytes_AS_STRING(data)
    return op


cdef inquiry _generated_operation_clear = NULL


cdef int _operation_clear(object o) except -1:
    cdef Operation op = <Operation>o
    if op._state != ST_NEW and op._state != ST_DONE:
        return 0  # in flight: owned by its context until it completes
    op._release_buffers()
    Py_XDECREF(op._rbuf)
    op._rbuf = NULL
    if _generated_operation_clear != NULL:
        return _generated_operation_clear(o)
    return 0


_generated_operation_clear = (<PyTypeObject *>Operation).tp_clear
(<PyTypeObject *>Operation).tp_clear = _operation_clear


cdef extern from *:
    """
    static inline PyObject *lxa_view_exporter(const Py_buffer *view) { return view->obj; }
    """
    PyObject *lxa_view_exporter(const Py_buffer *view) noexcept


cdef int _operation_traverse(PyObject *o, visitproc visit, void *arg) except -1:
    cdef Operation op = <Operation>o
    cdef PyObject *exporter = lxa_view_exporter(&op._view) if op._has_view else NULL
    cdef int rc = 0
    if op._payload is not None:
        rc = visit(<PyObject *>op._payload, arg)
    if rc == 0 and op._callback is not None:
        rc = visit(<PyObject *>op._callback, arg)
    if rc == 0 and op._adapter is not None:
        rc = visit(<PyObject *>op._adapter, arg)
    if rc == 0 and op._future is not None:
        rc = visit(<PyObject *>op._future, arg)
    if rc == 0 and op._names is not None:
        rc = visit(<PyObject *>op._names, arg)
    if rc == 0 and exporter != NULL and (PyByteArray_Check(<object>exporter) or PyBytes_Check(<object>exporter)):
        rc = visit(exporter, arg)
    return rc


(<PyTypeObject *>Operation).tp_traverse = _operation_traverse
