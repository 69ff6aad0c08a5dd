# Extern declarations for csrc/lxa_kaio.h and csrc/lxa_fdroute.h
# (raw Linux AIO system calls; functions return -errno on failure).
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t

from posix.uio cimport iovec

cdef extern from "lxa_kaio.h" nogil:
    ctypedef unsigned long aio_context_t

    struct iocb:
        uint64_t aio_data
        uint16_t aio_lio_opcode
        uint32_t aio_fildes
        uint64_t aio_buf
        uint64_t aio_nbytes
        int64_t aio_offset
        int aio_rw_flags
        uint32_t aio_flags
        uint32_t aio_resfd

    struct io_event:
        uint64_t data
        uint64_t obj
        int64_t res
        int64_t res2

    struct lxa_aio_ring:
        unsigned nr
        unsigned head
        unsigned tail

    enum:
        IOCB_CMD_PREAD
        IOCB_CMD_PWRITE
        IOCB_CMD_FSYNC
        IOCB_CMD_FDSYNC
        IOCB_CMD_PREADV
        IOCB_CMD_PWRITEV
        RWF_NOWAIT

    int64_t LXA_MAX_RW_COUNT

    int lxa_io_setup(unsigned nr_events, aio_context_t *ctx)
    int lxa_io_destroy(aio_context_t ctx)
    long lxa_io_submit(aio_context_t ctx, long nr, iocb **iocbs)
    long lxa_io_getevents(aio_context_t ctx, long min_nr, long nr, io_event *events, int64_t timeout_ns)
    lxa_aio_ring *lxa_ring_of(aio_context_t ctx)
    int lxa_ring_pending(const lxa_aio_ring *ring)
    long lxa_ring_reap(lxa_aio_ring *ring, io_event *out, long max)
    void lxa_iov_advance(iovec **iov, int *iovcnt, uint64_t done)
    void lxa_iocb_prep(iocb *cb, uint16_t opcode, int fd, void *buf, uint64_t nbytes,
                       int64_t offset, int rw_flags, int resfd, uint64_t data, uint16_t ioprio)

cdef extern from "lxa_fdroute.h" nogil:
    enum:
        LXA_ROUTE_UNKNOWN
        LXA_ROUTE_KERNEL
        LXA_ROUTE_THREAD
    int lxa_fd_route(int fd, uint64_t *dev, uint64_t *ino)
    int lxa_fd_identity(int fd, uint64_t *dev, uint64_t *ino)
    int lxa_fd_is_direct(int fd)
