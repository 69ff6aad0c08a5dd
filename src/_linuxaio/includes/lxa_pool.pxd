# Extern declarations for csrc/lxa_pool.h: the pthread pool shared by
# thread_aio and linux_aio (functions return >= 0 or -errno; see the header).
from libc.stdint cimport int64_t
from posix.uio cimport iovec

cdef extern from "lxa_pool.h" nogil:
    enum lxa_opcode:
        LXA_OP_PREAD
        LXA_OP_PWRITE
        LXA_OP_PREADV
        LXA_OP_PWRITEV
        LXA_OP_FSYNC
        LXA_OP_FDSYNC
        LXA_OP_SYSCALL
        LXA_OP_UNLINKAT_MANY
        LXA_OP_COPY_FILE
        LXA_OP_LIST_DIR

    enum:
        LXA_COPY_MODE
        LXA_COPY_TIMES
        LXA_COPY_STAT_FIRST
        LXA_COPY_UNSUITABLE
        LXA_COPY_DATA
        LXA_COPY_UTIME
        LXA_COPY_CHMOD
        LXA_COPY_CLOSE

    ctypedef struct lxa_job:
        lxa_job *next
        int opcode
        int fd
        int64_t offset
        void *buf
        size_t len
        const iovec *iov
        int iovcnt
        int64_t result
        void *user
        long sysno
        long args[6]

    ctypedef struct lxa_pool:
        pass

    int lxa_pool_create(lxa_pool **out, unsigned max_threads, int eventfd)
    int lxa_pool_submit(lxa_pool *pool, lxa_job *job)
    int lxa_pool_cancel(lxa_pool *pool, lxa_job *job)
    lxa_job *lxa_pool_take_done(lxa_pool *pool)
    void lxa_pool_shutdown(lxa_pool *pool)
    void lxa_pool_destroy(lxa_pool *pool)
    void lxa_pool_after_fork_child(lxa_pool *pool)
    int lxa_pool_inherited(const lxa_pool *pool)
    size_t lxa_pool_pending(lxa_pool *pool)
