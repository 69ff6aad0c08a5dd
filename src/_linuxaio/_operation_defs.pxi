# Operation codes and states of the compiled backends (the shared core).
# Included at module level by each backend's .pyx, before _operation.pxi.

cdef enum:
    # The numbering of python_aio.OpCode.
    OP_READ = 0
    OP_WRITE = 1
    OP_FSYNC = 2
    OP_FDSYNC = 3
    OP_READINTO = 4
    OP_READV = 5
    OP_WRITEV = 6
    # File-system operations (the numbering of python_aio's FsOpCode); each
    # runs on the C pool as one system call (LXA_OP_SYSCALL).
    OP_OPENAT = 16
    OP_CLOSE_FD = 17
    OP_STATX = 18
    OP_RENAMEAT = 19
    OP_UNLINKAT = 20
    OP_MKDIRAT = 21
    OP_LINKAT = 22
    OP_SYMLINKAT = 23
    OP_FALLOCATE = 24
    OP_FTRUNCATE = 25
    OP_FADVISE = 26
    OP_COPY_FILE_RANGE = 27
    OP_GETDENTS = 28
    # Beyond the shared table: calls aiofile.os needs that have no ring opcode
    # (the pool runs them on every compiled backend, linux_uring included).
    OP_READLINKAT = 29
    OP_FACCESSAT = 30
    OP_FCHMODAT = 31
    OP_UTIMENSAT = 32
    OP_STATVFS = 33
    OP_SENDFILE = 34
    OP_GETCWD = 35
    # Several calls in one pool job, for bulk tree work (rmtree, copytree).
    OP_UNLINKAT_MANY = 36
    OP_COPYFILEAT = 37
    OP_LISTDIRAT = 38

#: os.AT_FDCWD (Python has no such constant) and statx(2)'s basic fields.
AT_FDCWD = -100
STATX_BASIC_STATS = 0x7FF

cdef enum:
    ST_NEW = 0
    ST_CLAIMED = 1   # inside submit(): validated, not yet started
    ST_QUEUED = 2    # waiting for room (backlog), for io_submit, or in the pool's queue
    ST_KERNEL = 3    # owned by the kernel
    ST_THREAD = 4    # owned by the thread pool (a backend whose main path is elsewhere)
    ST_READY = 5     # completed; callback not run yet
    ST_DONE = 6

_STATE_NAMES = ("new", "claimed", "queued", "kernel", "thread", "ready", "done")
_OP_NAMES = {
    OP_READ: "read", OP_WRITE: "write", OP_FSYNC: "fsync", OP_FDSYNC: "fdsync", OP_READINTO: "readinto",
    OP_READV: "readv", OP_WRITEV: "writev", OP_OPENAT: "openat", OP_CLOSE_FD: "close_fd", OP_STATX: "statx",
    OP_RENAMEAT: "renameat", OP_UNLINKAT: "unlinkat", OP_MKDIRAT: "mkdirat", OP_LINKAT: "linkat",
    OP_SYMLINKAT: "symlinkat", OP_FALLOCATE: "fallocate", OP_FTRUNCATE: "ftruncate", OP_FADVISE: "fadvise",
    OP_COPY_FILE_RANGE: "copy_file_range", OP_GETDENTS: "getdents", OP_READLINKAT: "readlinkat",
    OP_FACCESSAT: "faccessat", OP_FCHMODAT: "fchmodat", OP_UTIMENSAT: "utimensat", OP_STATVFS: "statvfs",
    OP_SENDFILE: "sendfile", OP_GETCWD: "getcwd", OP_UNLINKAT_MANY: "unlinkat_many", OP_COPYFILEAT: "copyfileat",
    OP_LISTDIRAT: "listdirat",
}


class OpCode(int):
    """Operation codes (same values as ``python_aio.OpCode``)."""

    READ = OP_READ
    WRITE = OP_WRITE
    FSYNC = OP_FSYNC
    FDSYNC = OP_FDSYNC
    READINTO = OP_READINTO
    READV = OP_READV
    WRITEV = OP_WRITEV
    OPENAT = OP_OPENAT
    CLOSE_FD = OP_CLOSE_FD
    STATX = OP_STATX
    RENAMEAT = OP_RENAMEAT
    UNLINKAT = OP_UNLINKAT
    MKDIRAT = OP_MKDIRAT
    LINKAT = OP_LINKAT
    SYMLINKAT = OP_SYMLINKAT
    FALLOCATE = OP_FALLOCATE
    FTRUNCATE = OP_FTRUNCATE
    FADVISE = OP_FADVISE
    COPY_FILE_RANGE = OP_COPY_FILE_RANGE
    GETDENTS = OP_GETDENTS
    READLINKAT = OP_READLINKAT
    FACCESSAT = OP_FACCESSAT
    FCHMODAT = OP_FCHMODAT
    UTIMENSAT = OP_UTIMENSAT
    STATVFS = OP_STATVFS
    SENDFILE = OP_SENDFILE
    GETCWD = OP_GETCWD
    UNLINKAT_MANY = OP_UNLINKAT_MANY
    COPYFILEAT = OP_COPYFILEAT
    LISTDIRAT = OP_LISTDIRAT


cdef inline bint _is_read(int opcode) noexcept:
    return opcode == OP_READ or opcode == OP_READINTO or opcode == OP_READV


cdef inline bint _is_write(int opcode) noexcept:
    return opcode == OP_WRITE or opcode == OP_WRITEV


cdef inline bint _is_sync(int opcode) noexcept:
    return opcode == OP_FSYNC or opcode == OP_FDSYNC


cdef inline bint _is_fs(int opcode) noexcept:
    """A file-system operation: always one system call on the C pool."""
    return opcode >= OP_OPENAT
