/* io_uring through raw system calls: setup, the mmap'd SQ/CQ rings, probe,
 * registered eventfd. Plain C, no Python.h, no liburing.
 *
 * Every function that can fail returns >= 0 on success or -errno.
 *
 * Memory ordering (io_uring(7)): the kernel reads the SQ tail and writes the
 * SQ head; we write the SQ tail with release semantics after filling the
 * SQEs, and read the CQ tail with acquire semantics before reading CQEs,
 * then publish the CQ head with release semantics once they are consumed.
 *
 * One ring is used from one thread at a time (the owner serialises calls).
 * After fork() the child must not touch the parent's ring: lxu_ring_forget()
 * unmaps the child's copies and closes its copy of the descriptor without
 * writing to the shared memory. */
#ifndef LXU_RING_H
#define LXU_RING_H

#include <stddef.h>
#include <stdint.h>
#include <linux/io_uring.h>

/* ABI numbers newer than some build machines' <linux/io_uring.h>. They are
 * probed at run time (lxu_ring_probe), never assumed. */
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#ifndef IORING_SQ_CQ_OVERFLOW
#define IORING_SQ_CQ_OVERFLOW (1U << 1)
#endif
#ifndef IORING_SQ_TASKRUN
#define IORING_SQ_TASKRUN (1U << 2)
#endif
#ifndef IORING_CQ_EVENTFD_DISABLED
#define IORING_CQ_EVENTFD_DISABLED (1U << 0)
#endif
#ifndef IORING_FEAT_NODROP
#define IORING_FEAT_NODROP (1U << 1)
#endif
#ifndef IORING_FEAT_SINGLE_MMAP
#define IORING_FEAT_SINGLE_MMAP (1U << 0)
#endif

/* Opcodes (enum io_uring_op) by their ABI number. */
enum {
    LXU_OP_NOP = 0,
    LXU_OP_READV = 1,
    LXU_OP_WRITEV = 2,
    LXU_OP_FSYNC = 3,
    LXU_OP_ASYNC_CANCEL = 14,
    LXU_OP_FALLOCATE = 17,
    LXU_OP_OPENAT = 18,
    LXU_OP_CLOSE = 19,
    LXU_OP_STATX = 21,
    LXU_OP_READ = 22,
    LXU_OP_WRITE = 23,
    LXU_OP_FADVISE = 24,
    LXU_OP_SPLICE = 30,
    LXU_OP_RENAMEAT = 35,
    LXU_OP_UNLINKAT = 36,
    LXU_OP_MKDIRAT = 37,
    LXU_OP_SYMLINKAT = 38,
    LXU_OP_LINKAT = 39,
    LXU_OP_FTRUNCATE = 55,
    LXU_OP_MAX = 256, /* size of a probe table */
};

#ifndef IORING_FSYNC_DATASYNC
#define IORING_FSYNC_DATASYNC (1U << 0)
#endif
#ifndef IORING_ASYNC_CANCEL_ALL
#define IORING_ASYNC_CANCEL_ALL (1U << 0)
#endif

/* One consumed completion. */
struct lxu_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

struct lxu_ring {
    int fd;
    unsigned setup_flags; /* what io_uring_setup accepted */
    unsigned features;    /* IORING_FEAT_* the kernel reported */
    unsigned sq_entries;
    unsigned cq_entries;

    /* SQ ring (shared with the kernel). */
    unsigned *sq_khead;
    unsigned *sq_ktail;
    unsigned *sq_kflags;
    unsigned *sq_kdropped;
    unsigned *sq_array;
    unsigned sq_mask;
    struct io_uring_sqe *sqes;
    unsigned sqe_head; /* first SQE not yet published to the kernel */
    unsigned sqe_tail; /* next SQE to hand out */

    /* CQ ring (shared with the kernel). */
    unsigned *cq_khead;
    unsigned *cq_ktail;
    unsigned *cq_koverflow;
    unsigned *cq_kflags; /* IORING_CQ_EVENTFD_DISABLED lives here */
    struct io_uring_cqe *cqes;
    unsigned cq_mask;

    void *sq_map;
    size_t sq_map_len;
    void *cq_map; /* == sq_map with IORING_FEAT_SINGLE_MMAP */
    size_t cq_map_len;
    void *sqe_map;
    size_t sqe_map_len;

    unsigned long enters; /* io_uring_enter system calls made since lxu_ring_init (tests) */
};

/* Create a ring of `entries` SQEs (rounded up by the kernel to a power of
 * two) and `cq_entries` CQEs (0: twice `entries`). `flags` are
 * IORING_SETUP_*; IORING_SETUP_CQSIZE is added when cq_entries is given.
 * The descriptor is close-on-exec (the kernel creates it so; checked). On
 * failure the ring is left zeroed with fd -1. */
int lxu_ring_init(struct lxu_ring *ring, unsigned entries, unsigned cq_entries, unsigned flags,
                  unsigned sq_thread_idle_ms);

/* Unmap and close (the kernel cancels what is left). Idempotent. */
void lxu_ring_exit(struct lxu_ring *ring);

/* In a forked child: drop the inherited mappings and descriptor without
 * touching the shared ring memory. Idempotent. */
void lxu_ring_forget(struct lxu_ring *ring);

/* A zeroed SQE to fill, or NULL when the SQ ring is full (submit first). */
struct io_uring_sqe *lxu_get_sqe(struct lxu_ring *ring);

/* SQEs handed out and not yet submitted. */
unsigned lxu_sq_pending(const struct lxu_ring *ring);

/* Publish the SQEs handed out and enter the kernel once: submit them and,
 * with `wait_nr` > 0, wait until that many completions are available.
 * Returns how many SQEs the kernel consumed, or -errno (EINTR is retried
 * only while nothing was submitted; EAGAIN/EBUSY leave the SQEs queued). */
int lxu_submit(struct lxu_ring *ring, unsigned wait_nr);

/* io_uring_enter(GETEVENTS) without submitting: flushes an overflowed CQ
 * backlog into the ring and runs deferred task work; `wait_nr` > 0 blocks. */
int lxu_get_events(struct lxu_ring *ring, unsigned wait_nr);

/* Completions ready in the CQ ring (no system call). */
unsigned lxu_cq_ready(const struct lxu_ring *ring);

/* Does the kernel want an io_uring_enter to make progress (CQ overflow
 * backlog, or task work with IORING_SETUP_TASKRUN_FLAG)? */
int lxu_needs_enter(const struct lxu_ring *ring);

/* Copy up to `max` completions out of the CQ ring and consume them.
 * Returns how many (no system call). */
unsigned lxu_reap(struct lxu_ring *ring, struct lxu_cqe *out, unsigned max);

/* IORING_REGISTER_PROBE: supported[op] = 1 for each opcode the kernel
 * supports (table of LXU_OP_MAX bytes). Returns the last opcode + 1. */
int lxu_ring_probe(int ring_fd, unsigned char *supported);

/* IORING_REGISTER_EVENTFD: the kernel signals `efd` when it posts CQEs. */
int lxu_register_eventfd(int ring_fd, int efd);

/* IORING_REGISTER_IOWQ_MAX_WORKERS (Linux 5.15): at most `bounded` io-wq
 * workers for regular-file and block-device work (the kernel's default is
 * min(SQ entries, 4 x CPUs)); unbounded work (pipes, sockets) unchanged.
 * 0 or -errno (EINVAL on older kernels). */
int lxu_register_iowq_max_workers(int ring_fd, unsigned bounded);

/* sqe->flags bit IOSQE_ASYNC (Linux 5.6): the kernel does not try the
 * request inline; an io-wq worker runs it from the start (io_uring_enter(2)). */
#define LXU_IOSQE_ASYNC (1U << 4)

/* Stop (on != 0) or resume the registered eventfd's signals for CQEs the
 * kernel posts meanwhile (IORING_CQ_EVENTFD_DISABLED): a caller that reaps
 * right after its own submission mutes it around the call, then resumes it
 * and reaps what is ready, so completions it consumes inline wake nobody.
 * A completion posted on another CPU meanwhile is not signalled and need not
 * be visible to that reap yet (the kernel reads cq_flags after storing the
 * CQ tail, with no full barrier between): while requests remain in flight,
 * the caller signals the eventfd itself (linux_uring.pyx, Context._inline). */
void lxu_eventfd_mute(struct lxu_ring *ring, int on);

/* Descriptor flags of `fd` (FD_CLOEXEC check), or -errno. */
int lxu_fd_flags(int fd);

/* File-system system calls as ring requests. `sysno` and `args` are the
 * call as the C pool would make it (lxa_pool.h LXA_OP_SYSCALL: SYS_openat,
 * SYS_close, SYS_statx, SYS_renameat2, SYS_unlinkat, SYS_mkdirat,
 * SYS_linkat, SYS_symlinkat, SYS_fallocate, SYS_ftruncate, SYS_fadvise64).
 * lxu_syscall_opcode: the io_uring opcode that performs it, or -1 when it
 * has no ring form (the caller runs it on the pool). */
int lxu_syscall_opcode(long sysno, const long *args);
void lxu_prep_syscall(struct io_uring_sqe *sqe, long sysno, const long *args, uint64_t user_data);

/* Fill an SQE (zeroed by lxu_get_sqe) for the common shapes. */
static inline void lxu_prep_rw(struct io_uring_sqe *sqe, uint8_t opcode, int fd, const void *addr,
                               uint32_t len, uint64_t offset, uint64_t user_data)
{
    sqe->opcode = opcode;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)addr;
    sqe->len = len;
    sqe->off = offset;
    sqe->user_data = user_data;
}

#endif /* LXU_RING_H */
