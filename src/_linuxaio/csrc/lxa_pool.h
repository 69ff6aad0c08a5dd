/* A pthread pool running blocking file I/O. Plain C: no Python.h, no GIL.
 *
 * Used by thread_aio (every operation) and by linux_aio (operations that
 * would block the event loop: RWF_NOWAIT -> EAGAIN, special files). Both
 * link csrc/lxa_pool.c into their own extension.
 *
 * Contract:
 * - Every function returns >= 0 on success or -errno on failure.
 * - A job is caller-owned memory. From lxa_pool_submit() until the caller
 *   takes it back from lxa_pool_take_done(), the pool owns it: the caller
 *   must keep the job and every buffer it points to alive and untouched.
 * - Workers run the system call without any lock held, store the count or
 *   -errno in job->result, append the job to the completed list, and write
 *   the eventfd given at creation only when that list goes from empty to
 *   non-empty (one wake-up per burst, not one per job).
 * - The owner drains its eventfd, then calls lxa_pool_take_done() until it
 *   returns NULL (the eventfd is only a hint; see eventfd(2)).
 * - The pool does not bound its queue: the owner bounds what it submits.
 * - Transfers on a non-seekable fd (lseek(2) fails with ESPIPE: pipes, FIFOs,
 *   sockets, ttys) use read/write/readv/writev and run one at a time per fd,
 *   in submission order. Transfers on other fds may run concurrently.
 * - A worker never blocks in such a transfer: each read/write call either
 *   cannot block (RWF_NOWAIT, where the fd and kernel support it: pipes on
 *   Linux >= ~5.10, sockets) or follows a poll(2) that reported the fd
 *   ready, and then a write call moves at most PIPE_BUF bytes. Between
 *   calls the worker waits in poll(2) for the fd or lxa_pool_shutdown(). A
 *   read is one call that moves something (or EOF / an error); a write
 *   continues until all is written. A write of at most PIPE_BUF bytes is
 *   always one call (atomic on a pipe, pipe(7)); a longer one may
 *   interleave with other writers (as a blocking write(2) may). An
 *   O_NONBLOCK fd still gets -EAGAIN instead of a wait. Without RWF_NOWAIT,
 *   if another reader/writer of the same fd consumes the readiness between
 *   poll(2) and the call, the worker blocks in the call (and shutdown waits).
 * - The pool creates one CLOEXEC eventfd of its own at the first transfer
 *   on a non-seekable fd (submission then fails with its -errno, e.g.
 *   -EMFILE); lxa_pool_destroy() closes it.
 * - A seekable transfer the kernel cuts at its per-call limit (MAX_RW_COUNT,
 *   just under 2 GiB) continues until done, EOF or an error: sizes are
 *   64-bit. Any other short count is reported as it is (one system call).
 * - While a job is submitted, job->result and job->next are the pool's.
 * - Idle workers poll the queue for ~20 us before sleeping (cheap hand-off
 *   of short jobs); the environment variable LXA_POOL_SPIN_NS, read when a
 *   pool is created, changes that time (0 disables polling).
 */
#ifndef LXA_POOL_H
#define LXA_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum lxa_opcode {
    LXA_OP_PREAD = 0,   /* pread(2) into buf/len; read(2) on a non-seekable fd */
    LXA_OP_PWRITE = 1,  /* pwrite(2) from buf/len; write(2) on a non-seekable fd */
    LXA_OP_PREADV = 2,  /* preadv(2) into iov/iovcnt; readv(2) on a non-seekable fd */
    LXA_OP_PWRITEV = 3, /* pwritev(2) from iov/iovcnt; writev(2) on a non-seekable fd */
    LXA_OP_FSYNC = 4,   /* fsync(2) */
    LXA_OP_FDSYNC = 5,  /* fdatasync(2) */
    LXA_OP_SYSCALL = 6, /* syscall(sysno, args[0..5]): file-system operations (openat, statx, ...);
                         * the result is the call's return value or -errno (EINTR is not retried:
                         * close(2) must not be). fd and offset are not used. */
    LXA_OP_UNLINKAT_MANY = 7, /* unlinkat(fd, names[i], (int)args[0]) for each of the len names in buf
                               * (const char *const *); ((int32_t *)args[1])[i] = 0 or its errno;
                               * result: how many failed. sysno is not used. */
    LXA_OP_COPY_FILE = 8, /* one regular file copied in one job (open, copy_file_range, metadata,
                           * close): see lxa_copy_file() in lxa_fsjob.h for args and result. */
    LXA_OP_LIST_DIR = 9,  /* open a directory and read its records into buf/len in one job:
                           * see lxa_list_dir() in lxa_fsjob.h. */
};

/* LXA_OP_LIST_DIR stops reading when fewer bytes than this are left in buf (a
 * linux_dirent64 record is at most 280 bytes: getdents64 would fail with EINVAL). */
#define LXA_LIST_DIR_SLACK 1024u

/* LXA_OP_COPY_FILE: flags (args[4]) and the part that failed (*(int64_t *)args[5]). */
enum { LXA_COPY_MODE = 1, LXA_COPY_TIMES = 2, LXA_COPY_STAT_FIRST = 4 };
enum {
    LXA_COPY_UNSUITABLE = 1, /* nothing changed on disk: copy it another way */
    LXA_COPY_DATA = 2,       /* data copy failed; dst removed */
    LXA_COPY_UTIME = 3,      /* futimens(3) of dst failed; dst kept */
    LXA_COPY_CHMOD = 4,      /* fchmod(2) of dst failed; dst kept */
    LXA_COPY_CLOSE = 5,      /* close(2) of dst failed; dst kept */
};

typedef struct lxa_job {
    struct lxa_job *next;     /* intrusive link, owned by the pool while submitted */
    int opcode;               /* enum lxa_opcode */
    int fd;
    int64_t offset;           /* >= 0; ignored for syncs and non-seekable fds */
    void *buf;                /* LXA_OP_PREAD / LXA_OP_PWRITE */
    size_t len;
    const struct iovec *iov;  /* LXA_OP_PREADV / LXA_OP_PWRITEV */
    int iovcnt;
    int64_t result;           /* set by the pool: byte count (>= 0) or -errno */
    void *user;               /* the owner's; never touched by the pool */
    long sysno;               /* LXA_OP_SYSCALL: the system call number (SYS_*) */
    long args[6];             /* LXA_OP_SYSCALL: its arguments; pointers the caller keeps alive */
} lxa_job;

typedef struct lxa_pool lxa_pool;

/* Create a pool of at most max_threads workers (started lazily) that signals
 * completions on eventfd (not owned: the caller closes it after destroy). */
int lxa_pool_create(lxa_pool **out, unsigned max_threads, int eventfd);

/* Queue a job (FIFO). -ESHUTDOWN after lxa_pool_shutdown(); -EAGAIN when no
 * worker exists and none could be started. */
int lxa_pool_submit(lxa_pool *pool, lxa_job *job);

/* Withdraw a job no worker has started: it moves to the completed list with
 * result -ECANCELED and 0 is returned. -EBUSY if it is running or done. */
int lxa_pool_cancel(lxa_pool *pool, lxa_job *job);

/* Detach and return the completed jobs in completion order (linked through
 * ->next), or NULL when there are none. Never blocks on I/O. */
lxa_job *lxa_pool_take_done(lxa_pool *pool);

/* Stop accepting, let queued and running jobs finish, join the workers.
 * Never waits for a non-seekable fd: a transfer on one (running, or queued
 * behind another on the same fd) whose fd is not ready completes with
 * -ECANCELED, or with the count already written by a long write; one whose
 * fd is ready still transfers. Every job is completed (in the done list)
 * when this returns; no worker touches a job or its buffers afterwards.
 * Blocks the caller while regular-file I/O finishes (call it without the
 * GIL). Idempotent. Completed jobs stay available to lxa_pool_take_done(). */
void lxa_pool_shutdown(lxa_pool *pool);

/* Free the pool. Only after lxa_pool_shutdown(), or in a forked child. */
void lxa_pool_destroy(lxa_pool *pool);

/* In a forked child: no worker exists. Reinitialise the locks and thread
 * bookkeeping; queued jobs inherited from the parent complete with
 * -ECANCELED; later submissions start fresh workers. The pool does this by
 * itself (pthread_atfork(3) handlers) at the first call on it in the child,
 * so calling this is optional and idempotent. It does not write the eventfd:
 * the eventfd is shared with the parent, so the owner gives the child a fresh
 * one (e.g. dup2(2) a new eventfd onto the same number) before submitting,
 * then takes the cancelled jobs back with lxa_pool_take_done(). */
void lxa_pool_after_fork_child(lxa_pool *pool);

/* 1 in a forked child until the pool has been adopted there (by any call
 * below or by lxa_pool_after_fork_child()), else 0. No lock, no system call:
 * cheap enough for the owner to check on every entry point. */
int lxa_pool_inherited(const lxa_pool *pool);

/* Jobs submitted and not yet taken back with lxa_pool_take_done(). */
size_t lxa_pool_pending(lxa_pool *pool);

#endif /* LXA_POOL_H */
