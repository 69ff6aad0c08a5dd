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

cdef enum:
    ST_NEW = 0
    ST_CLAIMED = 1   # inside submit(): validated, not yet started
    ST_QUEUED = 2    # waiting for room (backlog), for io_submit, or in the pool's queue
    ST_KERNEL = 3    # owned by the kernel
    ST_THREAD = 4    # owned by the thread pool (a backend whose main path is elsewhere)
    ST_READY = 5     # completed; callback not run yet
    ST_DONE = 6

_STATE_NAMES = ("new", "claimed", "queued", "kernel", "thread", "ready", "done")
_OP_NAMES = ("read", "write", "fsync", "fdsync", "readinto", "readv", "writev")


class OpCode(int):
    """Operation codes (same values as ``python_aio.OpCode``)."""

    READ = OP_READ
    WRITE = OP_WRITE
    FSYNC = OP_FSYNC
    FDSYNC = OP_FDSYNC
    READINTO = OP_READINTO
    READV = OP_READV
    WRITEV = OP_WRITEV


cdef inline bint _is_write(int opcode) noexcept:
    return opcode == OP_WRITE or opcode == OP_WRITEV


cdef inline bint _is_sync(int opcode) noexcept:
    return opcode == OP_FSYNC or opcode == OP_FDSYNC
