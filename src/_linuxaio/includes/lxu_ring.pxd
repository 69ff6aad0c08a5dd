# Extern declarations for csrc/lxu_ring.h: io_uring through raw system calls
# (functions return >= 0 or -errno; see the header).
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "lxu_ring.h" nogil:
    cdef unsigned IORING_SETUP_SQPOLL
    cdef unsigned IORING_SETUP_SUBMIT_ALL
    cdef unsigned IORING_SETUP_COOP_TASKRUN
    cdef unsigned IORING_SETUP_SINGLE_ISSUER
    cdef unsigned IORING_SETUP_DEFER_TASKRUN
    cdef unsigned IORING_FEAT_NODROP
    cdef unsigned IORING_FSYNC_DATASYNC

    enum:
        LXU_OP_NOP
        LXU_OP_READV
        LXU_OP_WRITEV
        LXU_OP_FSYNC
        LXU_OP_ASYNC_CANCEL
        LXU_OP_READ
        LXU_OP_WRITE
        LXU_OP_FALLOCATE
        LXU_OP_OPENAT
        LXU_OP_CLOSE
        LXU_OP_STATX
        LXU_OP_FADVISE
        LXU_OP_RENAMEAT
        LXU_OP_UNLINKAT
        LXU_OP_MKDIRAT
        LXU_OP_SYMLINKAT
        LXU_OP_LINKAT
        LXU_OP_FTRUNCATE
        LXU_OP_MAX

    struct io_uring_sqe:
        uint8_t opcode
        uint8_t flags
        uint16_t ioprio
        int32_t fd
        uint64_t off
        uint64_t addr
        uint32_t len
        uint32_t rw_flags
        uint32_t fsync_flags
        uint32_t cancel_flags
        uint64_t user_data

    struct lxu_cqe:
        uint64_t user_data
        int32_t res
        uint32_t flags

    struct lxu_ring:
        int fd
        unsigned setup_flags
        unsigned features
        unsigned sq_entries
        unsigned cq_entries
        unsigned long enters

    int lxu_ring_init(lxu_ring *ring, unsigned entries, unsigned cq_entries, unsigned flags, unsigned sq_thread_idle_ms)
    void lxu_ring_exit(lxu_ring *ring)
    void lxu_ring_forget(lxu_ring *ring)
    io_uring_sqe *lxu_get_sqe(lxu_ring *ring)
    unsigned lxu_sq_pending(const lxu_ring *ring)
    int lxu_submit(lxu_ring *ring, unsigned wait_nr)
    int lxu_get_events(lxu_ring *ring, unsigned wait_nr)
    unsigned lxu_cq_ready(const lxu_ring *ring)
    int lxu_needs_enter(const lxu_ring *ring)
    unsigned lxu_reap(lxu_ring *ring, lxu_cqe *out, unsigned max)
    int lxu_ring_probe(int ring_fd, unsigned char *supported)
    int lxu_register_eventfd(int ring_fd, int efd)
    int lxu_register_iowq_max_workers(int ring_fd, unsigned bounded)
    cdef unsigned LXU_IOSQE_ASYNC
    void lxu_eventfd_mute(lxu_ring *ring, int on)
    int lxu_fd_flags(int fd)
    int lxu_syscall_opcode(long sysno, const long *args)
    void lxu_prep_syscall(io_uring_sqe *sqe, long sysno, const long *args, uint64_t user_data)
    void lxu_prep_rw(io_uring_sqe *sqe, uint8_t opcode, int fd, const void *addr, uint32_t len, uint64_t offset, uint64_t user_data)
