/* Linux native AIO through raw system calls (no libaio). Plain C, no Python.h.
 *
 * Every function returns >= 0 on success or -errno on failure.
 *
 * References: io_setup(2), io_submit(2), io_getevents(2), io_cancel(2),
 * io_destroy(2), <linux/aio_abi.h>, and fs/aio.c for the completion ring.
 *
 * The completion ring. io_setup() maps a `struct aio_ring` into the caller's
 * address space and returns its address as the context id. The kernel
 * appends io_events at `tail` and user space may consume them by advancing
 * `head` (fs/aio.c reads `head` back from that page when it refills its
 * request accounting). This is only valid while the header's `magic` is
 * LXA_AIO_RING_MAGIC and `incompat_features` is 0; otherwise callers use
 * io_getevents(). Ordering: the kernel writes the event, then publishes
 * `tail` (smp_wmb in aio_complete), then signals the eventfd. So user space
 * loads `tail` with acquire semantics before reading events, and stores
 * `head` with release semantics after it has copied them.
 *
 * Only one thread may consume from a ring at a time (the caller serialises).
 */
#ifndef LXA_KAIO_H
#define LXA_KAIO_H

#define _GNU_SOURCE 1
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

/* fs/aio.c: AIO_RING_MAGIC, AIO_RING_INCOMPAT_FEATURES. */
#define LXA_AIO_RING_MAGIC 0xa10a10a1u
#define LXA_AIO_RING_INCOMPAT 0u

/* The kernel caps one transfer at INT_MAX rounded down to a page
 * (MAX_RW_COUNT in include/linux/fs.h); a longer request is shortened. */
#define LXA_MAX_RW_COUNT 0x7ffff000LL

struct lxa_aio_ring {
    unsigned id;
    unsigned nr;               /* number of io_events slots */
    unsigned head;             /* written by user space (consumer) */
    unsigned tail;             /* written by the kernel (producer) */
    unsigned magic;
    unsigned compat_features;
    unsigned incompat_features;
    unsigned header_length;
    struct io_event io_events[];
};

static inline int lxa_io_setup(unsigned nr_events, aio_context_t *ctx)
{
    *ctx = 0;
    long rc = syscall(SYS_io_setup, nr_events, ctx);
    return rc < 0 ? -errno : 0;
}

static inline int lxa_io_destroy(aio_context_t ctx)
{
    long rc = syscall(SYS_io_destroy, ctx);
    return rc < 0 ? -errno : 0;
}

/* The number of iocbs the kernel accepted (a prefix), or -errno when it
 * accepted none: the error then belongs to iocbs[0]. */
static inline long lxa_io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
    for (;;) {
        long rc = syscall(SYS_io_submit, ctx, nr, iocbs);
        if (rc >= 0)
            return rc;
        if (errno != EINTR)
            return -errno;
    }
}

/* timeout_ns < 0 waits for min_nr events; 0 polls. EINTR is returned to the
 * caller (it decides whether to retry). */
static inline long lxa_io_getevents(aio_context_t ctx, long min_nr, long nr,
                                    struct io_event *events, int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
        ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
        tsp = &ts;
    }
    long rc = syscall(SYS_io_getevents, ctx, min_nr, nr, events, tsp);
    return rc < 0 ? -errno : rc;
}

static inline int lxa_io_cancel(aio_context_t ctx, struct iocb *iocb, struct io_event *result)
{
    long rc = syscall(SYS_io_cancel, ctx, iocb, result);
    return rc < 0 ? -errno : 0;
}

/* The ring of `ctx` if user space may consume it, else NULL. */
static inline struct lxa_aio_ring *lxa_ring_of(aio_context_t ctx)
{
    struct lxa_aio_ring *ring = (struct lxa_aio_ring *)(uintptr_t)ctx;
    if (ring == NULL || ring->magic != LXA_AIO_RING_MAGIC
        || ring->incompat_features != LXA_AIO_RING_INCOMPAT
        || ring->nr == 0
        || ring->header_length != sizeof(struct lxa_aio_ring))
        return NULL;
    return ring;
}

/* True when the kernel has published events not consumed yet. */
static inline int lxa_ring_pending(const struct lxa_aio_ring *ring)
{
    unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
    return tail != __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
}

/* Copy up to `max` events out of the ring and consume them. Never blocks,
 * no system call. */
static inline long lxa_ring_reap(struct lxa_aio_ring *ring, struct io_event *out, long max)
{
    unsigned nr = ring->nr;
    unsigned head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
    unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
    long n = 0;
    if (head >= nr || tail >= nr)  /* corrupted header: let io_getevents decide */
        return -EIO;
    while (head != tail && n < max) {
        out[n++] = ring->io_events[head];
        head = head + 1 == nr ? 0 : head + 1;
    }
    __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    return n;
}

/* Consume `done` bytes from the front of an iovec array in place: fully
 * consumed entries are skipped, the first partial one is trimmed. */
static inline void lxa_iov_advance(struct iovec **iov, int *iovcnt, uint64_t done)
{
    while (*iovcnt > 0 && done >= (*iov)->iov_len) {
        done -= (*iov)->iov_len;
        ++*iov;
        --*iovcnt;
    }
    if (*iovcnt > 0 && done) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + done;
        (*iov)->iov_len -= done;
    }
}

/* Fill an iocb for one operation. rw_flags carries RWF_* (e.g. RWF_NOWAIT);
 * every iocb signals `resfd` (IOCB_FLAG_RESFD) on completion. A nonzero
 * `ioprio` (IOPRIO_PRIO_VALUE(class, data), as ioprio_set(2) takes it) goes
 * in aio_reqprio with IOCB_FLAG_IOPRIO, so the kernel checks and applies it
 * (io_submit fails the iocb with EINVAL/EPERM if it refuses it); 0 sets
 * neither: the request runs at the submitting thread's own priority. */
static inline void lxa_iocb_prep(struct iocb *cb, uint16_t opcode, int fd, void *buf,
                                 uint64_t nbytes, int64_t offset, int rw_flags,
                                 int resfd, uint64_t data, uint16_t ioprio)
{
    memset(cb, 0, sizeof(*cb));
    cb->aio_data = data;
    cb->aio_lio_opcode = opcode;
    cb->aio_fildes = (uint32_t)fd;
    cb->aio_buf = (uint64_t)(uintptr_t)buf;
    cb->aio_nbytes = nbytes;
    cb->aio_offset = offset;
    cb->aio_rw_flags = rw_flags;
    cb->aio_flags = IOCB_FLAG_RESFD;
    cb->aio_resfd = (uint32_t)resfd;
    if (ioprio) {
        cb->aio_flags |= IOCB_FLAG_IOPRIO;
        cb->aio_reqprio = (int16_t)ioprio; /* the ABI field is __s16; the kernel masks class and data */
    }
}

#endif /* LXA_KAIO_H */
