/* io_uring ring layer (see lxu_ring.h). Plain C, raw system calls. */
#define _GNU_SOURCE
#include "lxu_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

#define LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)

static int sys_setup(unsigned entries, struct io_uring_params *p)
{
    long rc = syscall(__NR_io_uring_setup, entries, p);
    return rc < 0 ? -errno : (int)rc;
}

static int sys_enter(struct lxu_ring *ring, unsigned to_submit, unsigned min_complete, unsigned flags)
{
    long rc;

    ring->enters++;
    rc = syscall(__NR_io_uring_enter, ring->fd, to_submit, min_complete, flags, NULL, (size_t)0);
    return rc < 0 ? -errno : (int)rc;
}

static int sys_register(int fd, unsigned opcode, void *arg, unsigned nr_args)
{
    long rc = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
    return rc < 0 ? -errno : (int)rc;
}

static void unmap_all(struct lxu_ring *ring)
{
    if (ring->sqe_map != NULL)
        munmap(ring->sqe_map, ring->sqe_map_len);
    if (ring->cq_map != NULL && ring->cq_map != ring->sq_map)
        munmap(ring->cq_map, ring->cq_map_len);
    if (ring->sq_map != NULL)
        munmap(ring->sq_map, ring->sq_map_len);
    ring->sqe_map = ring->cq_map = ring->sq_map = NULL;
}

int lxu_ring_init(struct lxu_ring *ring, unsigned entries, unsigned cq_entries, unsigned flags,
                  unsigned sq_thread_idle_ms)
{
    struct io_uring_params p;
    int fd, rc;
    char *sq, *cq;

    memset(ring, 0, sizeof(*ring));
    ring->fd = -1;
    memset(&p, 0, sizeof(p));
    p.flags = flags;
    if (cq_entries) {
        p.flags |= IORING_SETUP_CQSIZE;
        p.cq_entries = cq_entries;
    }
    if (flags & IORING_SETUP_SQPOLL)
        p.sq_thread_idle = sq_thread_idle_ms;
    fd = sys_setup(entries, &p);
    if (fd < 0)
        return fd;
    /* The kernel creates the descriptor O_CLOEXEC; make sure of it. */
    rc = fcntl(fd, F_GETFD);
    if (rc >= 0 && !(rc & FD_CLOEXEC))
        rc = fcntl(fd, F_SETFD, rc | FD_CLOEXEC);
    if (rc < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    ring->fd = fd;
    ring->setup_flags = p.flags;
    ring->features = p.features;
    ring->sq_entries = p.sq_entries;
    ring->cq_entries = p.cq_entries;

    ring->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    ring->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (ring->cq_map_len > ring->sq_map_len)
            ring->sq_map_len = ring->cq_map_len;
        ring->cq_map_len = ring->sq_map_len;
    }
    ring->sq_map = mmap(NULL, ring->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                        IORING_OFF_SQ_RING);
    if (ring->sq_map == MAP_FAILED) {
        ring->sq_map = NULL;
        goto fail;
    }
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        ring->cq_map = ring->sq_map;
    } else {
        ring->cq_map = mmap(NULL, ring->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                            IORING_OFF_CQ_RING);
        if (ring->cq_map == MAP_FAILED) {
            ring->cq_map = NULL;
            goto fail;
        }
    }
    ring->sqe_map_len = p.sq_entries * sizeof(struct io_uring_sqe);
    ring->sqe_map = mmap(NULL, ring->sqe_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                         IORING_OFF_SQES);
    if (ring->sqe_map == MAP_FAILED) {
        ring->sqe_map = NULL;
        goto fail;
    }
    sq = ring->sq_map;
    cq = ring->cq_map;
    ring->sq_khead = (unsigned *)(sq + p.sq_off.head);
    ring->sq_ktail = (unsigned *)(sq + p.sq_off.tail);
    ring->sq_kflags = (unsigned *)(sq + p.sq_off.flags);
    ring->sq_kdropped = (unsigned *)(sq + p.sq_off.dropped);
    ring->sq_array = (unsigned *)(sq + p.sq_off.array);
    ring->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    ring->sqes = ring->sqe_map;
    ring->cq_khead = (unsigned *)(cq + p.cq_off.head);
    ring->cq_ktail = (unsigned *)(cq + p.cq_off.tail);
    ring->cq_koverflow = (unsigned *)(cq + p.cq_off.overflow);
    ring->cq_kflags = p.cq_off.flags ? (unsigned *)(cq + p.cq_off.flags) : NULL;
    ring->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    ring->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
    ring->sqe_head = ring->sqe_tail = LOAD_RELAXED(ring->sq_ktail);
    return 0;

fail:
    rc = -errno;
    unmap_all(ring);
    close(fd);
    ring->fd = -1;
    return rc ? rc : -ENOMEM;
}

void lxu_ring_exit(struct lxu_ring *ring)
{
    unmap_all(ring);
    if (ring->fd >= 0)
        close(ring->fd);
    ring->fd = -1;
}

void lxu_ring_forget(struct lxu_ring *ring)
{
    /* Our copies of the shared mappings and of the descriptor: unmapping
     * and closing them changes nothing for the parent. */
    lxu_ring_exit(ring);
    ring->sqe_head = ring->sqe_tail = 0;
}

struct io_uring_sqe *lxu_get_sqe(struct lxu_ring *ring)
{
    struct io_uring_sqe *sqe;
    unsigned head;

    if (ring->fd < 0)
        return NULL;
    head = (ring->setup_flags & IORING_SETUP_SQPOLL) ? LOAD_ACQUIRE(ring->sq_khead) : LOAD_RELAXED(ring->sq_khead);
    if (ring->sqe_tail - head >= ring->sq_entries)
        return NULL;
    sqe = &ring->sqes[ring->sqe_tail & ring->sq_mask];
    ring->sqe_tail++;
    memset(sqe, 0, sizeof(*sqe));
    return sqe;
}

unsigned lxu_sq_pending(const struct lxu_ring *ring)
{
    return ring->sqe_tail - ring->sqe_head;
}

/* Publish handed-out SQEs to the kernel's SQ tail; returns how many the
 * kernel has not consumed yet (published and pending). */
static unsigned flush_sq(struct lxu_ring *ring)
{
    unsigned tail = LOAD_RELAXED(ring->sq_ktail);
    unsigned to_publish = ring->sqe_tail - ring->sqe_head;

    while (to_publish--) {
        ring->sq_array[tail & ring->sq_mask] = ring->sqe_head & ring->sq_mask;
        tail++;
        ring->sqe_head++;
    }
    /* The SQE contents and array slots must be visible before the tail. */
    STORE_RELEASE(ring->sq_ktail, tail);
    return tail - LOAD_ACQUIRE(ring->sq_khead);
}

int lxu_submit(struct lxu_ring *ring, unsigned wait_nr)
{
    unsigned pending, flags = 0;
    int rc;

    if (ring->fd < 0)
        return -EBADF;
    pending = flush_sq(ring);
    if (ring->setup_flags & IORING_SETUP_SQPOLL) {
        /* The poller consumes the SQ; wake it if it went to sleep. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (LOAD_RELAXED(ring->sq_kflags) & IORING_SQ_NEED_WAKEUP)
            flags |= IORING_ENTER_SQ_WAKEUP;
        if (wait_nr)
            flags |= IORING_ENTER_GETEVENTS;
        if (flags == 0 && !lxu_needs_enter(ring))
            return (int)pending;
        if (lxu_needs_enter(ring))
            flags |= IORING_ENTER_GETEVENTS;
        for (;;) {
            rc = sys_enter(ring, pending, wait_nr, flags);
            if (rc != -EINTR)
                break;
        }
        return rc < 0 ? rc : (int)pending;
    }
    if (wait_nr || lxu_needs_enter(ring))
        flags |= IORING_ENTER_GETEVENTS;
    if (pending == 0 && flags == 0)
        return 0;
    for (;;) {
        rc = sys_enter(ring, pending, wait_nr, flags);
        if (rc != -EINTR)
            return rc;
    }
}

int lxu_get_events(struct lxu_ring *ring, unsigned wait_nr)
{
    int rc;

    if (ring->fd < 0)
        return -EBADF;
    for (;;) {
        rc = sys_enter(ring, 0, wait_nr, IORING_ENTER_GETEVENTS);
        if (rc != -EINTR)
            return rc;
        if (wait_nr == 0)
            return 0;
    }
}

unsigned lxu_cq_ready(const struct lxu_ring *ring)
{
    if (ring->fd < 0)
        return 0;
    return LOAD_ACQUIRE(ring->cq_ktail) - LOAD_RELAXED(ring->cq_khead);
}

int lxu_needs_enter(const struct lxu_ring *ring)
{
    if (ring->fd < 0)
        return 0;
    return (LOAD_RELAXED(ring->sq_kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
}

unsigned lxu_reap(struct lxu_ring *ring, struct lxu_cqe *out, unsigned max)
{
    unsigned head, tail, n = 0;
    const struct io_uring_cqe *cqe;

    if (ring->fd < 0)
        return 0;
    head = LOAD_RELAXED(ring->cq_khead);
    tail = LOAD_ACQUIRE(ring->cq_ktail); /* CQE contents are visible after this */
    while (head != tail && n < max) {
        cqe = &ring->cqes[head & ring->cq_mask];
        out[n].user_data = cqe->user_data;
        out[n].res = cqe->res;
        out[n].flags = cqe->flags;
        n++;
        head++;
    }
    if (n)
        STORE_RELEASE(ring->cq_khead, head); /* our reads are done before the kernel reuses the slots */
    return n;
}

int lxu_ring_probe(int ring_fd, unsigned char *supported)
{
    size_t len = sizeof(struct io_uring_probe) + LXU_OP_MAX * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = calloc(1, len);
    int rc, i, last;

    if (probe == NULL)
        return -ENOMEM;
    memset(supported, 0, LXU_OP_MAX);
    rc = sys_register(ring_fd, IORING_REGISTER_PROBE, probe, LXU_OP_MAX);
    if (rc < 0) {
        free(probe);
        return rc;
    }
    last = probe->ops_len;
    if (last > LXU_OP_MAX)
        last = LXU_OP_MAX;
    for (i = 0; i < last; i++) {
        if (probe->ops[i].flags & IO_URING_OP_SUPPORTED)
            supported[probe->ops[i].op] = 1;
    }
    free(probe);
    return last;
}

int lxu_register_eventfd(int ring_fd, int efd)
{
    return sys_register(ring_fd, IORING_REGISTER_EVENTFD, &efd, 1);
}

/* ABI number: newer than some build machines' <linux/io_uring.h>. */
#define LXU_REGISTER_IOWQ_MAX_WORKERS 19

int lxu_register_iowq_max_workers(int ring_fd, unsigned bounded)
{
    unsigned counts[2] = {bounded, 0}; /* 0: leave that kind as it is */
    return sys_register(ring_fd, LXU_REGISTER_IOWQ_MAX_WORKERS, counts, 2);
}

void lxu_eventfd_mute(struct lxu_ring *ring, int on)
{
    unsigned flags;

    if (ring->fd < 0 || ring->cq_kflags == NULL)
        return;
    flags = LOAD_RELAXED(ring->cq_kflags);
    flags = on ? (flags | IORING_CQ_EVENTFD_DISABLED) : (flags & ~IORING_CQ_EVENTFD_DISABLED);
    /* Seq-cst: the store is ordered before the caller's next look at the CQ tail. */
    __atomic_store_n(ring->cq_kflags, flags, __ATOMIC_SEQ_CST);
}

int lxu_syscall_opcode(long sysno, const long *args)
{
    switch (sysno) {
    case SYS_openat:
        return LXU_OP_OPENAT;
    case SYS_close:
        return LXU_OP_CLOSE;
    case SYS_statx:
        return LXU_OP_STATX;
    case SYS_renameat2:
        return LXU_OP_RENAMEAT;
    case SYS_unlinkat:
        return LXU_OP_UNLINKAT;
    case SYS_mkdirat:
        return LXU_OP_MKDIRAT;
    case SYS_linkat:
        return LXU_OP_LINKAT;
    case SYS_symlinkat:
        return LXU_OP_SYMLINKAT;
    case SYS_fallocate:
        return LXU_OP_FALLOCATE;
    case SYS_ftruncate:
        return LXU_OP_FTRUNCATE;
    case SYS_fadvise64:
        /* The SQE's length field is 32 bits wide. */
        return (args[2] >= 0 && args[2] <= (long)UINT32_MAX) ? LXU_OP_FADVISE : -1;
    default:
        return -1;
    }
}

void lxu_prep_syscall(struct io_uring_sqe *sqe, long sysno, const long *args, uint64_t user_data)
{
    sqe->user_data = user_data;
    sqe->opcode = (uint8_t)lxu_syscall_opcode(sysno, args);
    switch (sysno) {
    case SYS_openat: /* dirfd, path, flags, mode */
        sqe->fd = (int32_t)args[0];
        sqe->addr = (uint64_t)args[1];
        sqe->open_flags = (uint32_t)args[2];
        sqe->len = (uint32_t)args[3];
        break;
    case SYS_close: /* fd */
        sqe->fd = (int32_t)args[0];
        break;
    case SYS_statx: /* dirfd, path, flags, mask, buffer */
        sqe->fd = (int32_t)args[0];
        sqe->addr = (uint64_t)args[1];
        sqe->statx_flags = (uint32_t)args[2];
        sqe->len = (uint32_t)args[3];
        sqe->off = (uint64_t)args[4];
        break;
    case SYS_renameat2: /* olddirfd, old, newdirfd, new, flags */
        sqe->fd = (int32_t)args[0];
        sqe->addr = (uint64_t)args[1];
        sqe->len = (uint32_t)args[2];
        sqe->off = (uint64_t)args[3];
        sqe->rename_flags = (uint32_t)args[4];
        break;
    case SYS_unlinkat: /* dirfd, path, flags */
        sqe->fd = (int32_t)args[0];
        sqe->addr = (uint64_t)args[1];
        sqe->unlink_flags = (uint32_t)args[2];
        break;
    case SYS_mkdirat: /* dirfd, path, mode */
        sqe->fd = (int32_t)args[0];
        sqe->addr = (uint64_t)args[1];
        sqe->len = (uint32_t)args[2];
        break;
    case SYS_linkat: /* olddirfd, old, newdirfd, new, flags */
        sqe->fd = (int32_t)args[0];
        sqe->addr = (uint64_t)args[1];
        sqe->len = (uint32_t)args[2];
        sqe->off = (uint64_t)args[3];
        sqe->hardlink_flags = (uint32_t)args[4];
        break;
    case SYS_symlinkat: /* target, newdirfd, linkpath */
        sqe->fd = (int32_t)args[1];
        sqe->addr = (uint64_t)args[0];
        sqe->off = (uint64_t)args[2];
        break;
    case SYS_fallocate: /* fd, mode, offset, length */
        sqe->fd = (int32_t)args[0];
        sqe->len = (uint32_t)args[1];
        sqe->off = (uint64_t)args[2];
        sqe->addr = (uint64_t)args[3];
        break;
    case SYS_ftruncate: /* fd, length */
        sqe->fd = (int32_t)args[0];
        sqe->off = (uint64_t)args[1];
        break;
    case SYS_fadvise64: /* fd, offset, length, advice */
        sqe->fd = (int32_t)args[0];
        sqe->off = (uint64_t)args[1];
        sqe->len = (uint32_t)args[2];
        sqe->fadvise_advice = (uint32_t)args[3];
        break;
    default:
        break;
    }
}

int lxu_fd_flags(int fd)
{
    int rc = fcntl(fd, F_GETFD);
    return rc < 0 ? -errno : rc;
}
