/* A pthread pool running blocking file I/O; see lxa_pool.h for the contract.
 *
 * Design (all state below is guarded by pool->lock, one mutex per pool):
 *
 * - queue: jobs waiting for a worker, FIFO, linked through job->next.
 * - lanes: ordering for non-seekable fds (pipes, FIFOs, sockets, ttys).
 *   lseek(2) fails with ESPIPE on those; lxa_pool_submit() checks once per
 *   transfer. For each such fd at most one job is "active" (in the queue or
 *   running); later jobs on the same fd wait in that fd's lane and enter the
 *   queue one at a time, when their predecessor completes. So operations on
 *   one non-seekable fd run one after the other, in submission order, while
 *   different fds (e.g. both ends of a pipe) never wait for each other.
 * - done: completed jobs, in completion order, until lxa_pool_take_done().
 * - While a job is queued, job->result holds its route (LXA_ROUTE_*); the
 *   worker overwrites it with the outcome.
 * - Streams: a transfer on a non-seekable fd may wait for ever (an empty
 *   pipe). So that lxa_pool_shutdown() never waits for one, the worker
 *   never blocks in the transfer (RWF_NOWAIT calls, or plain calls of at
 *   most PIPE_BUF bytes after POLLOUT) and waits in poll(2) on the fd
 *   together with the pool's stop eventfd (created at the first such
 *   submission, CLOEXEC), which shutdown makes readable for good. A fd not
 *   ready at shutdown completes its job with -ECANCELED (or the count
 *   already written); so do the jobs queued behind it, one by one. The
 *   worker touches a job and its buffers only until it pushes it to done,
 *   which is before lxa_pool_shutdown() can return.
 * - Workers: started lazily, up to max_threads; an idle worker waits on its
 *   own condition variable in a LIFO stack (the most recently active worker,
 *   whose cache is warm, is woken first; a wake-up is never lost or doubled).
 * - Wake-ups: a worker that finds the queue empty polls it for LXA_SPIN_NS
 *   before sleeping, so a steady stream of short jobs (cached reads) costs no
 *   futex wake-up per job. `searching` counts workers that will look at the
 *   queue soon (starting, woken, or polling); a submission wakes or starts a
 *   worker only when that count is 0, and a worker that takes a job while
 *   more wait does the same before running it (so slow, cold reads spread
 *   over the workers, one hand-off at a time).
 *
 * Every submitted job is in exactly one place: the queue, a lane, a worker's
 * `current`, or done. That invariant is what fork handling relies on: a
 * pthread_atfork() handler holds every pool's lock across fork(2), so the
 * child inherits consistent lists; in the child the pool is "inherited"
 * and the first call on it cancels what was queued or running (no thread
 * exists there to run it) and starts fresh workers on demand.
 */
#define _GNU_SOURCE
#include "lxa_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

#include "lxa_eventfd.h"
#include "lxa_fsjob.h"

/* One read(2)/write(2)-family call moves at most MAX_RW_COUNT bytes
 * (INT_MAX rounded down to a page: 0x7ffff000 with 4 KiB pages). A seekable
 * transfer that moved at least this much was cut by the kernel, not by EOF,
 * and continues; this bound holds for pages up to 64 KiB. */
#define LXA_KERNEL_CHUNK ((ssize_t)0x7fff0000)

#define LXA_MAX_THREADS 4096u

/* How long an idle worker polls the queue before it sleeps (see spin_for_work). */
#define LXA_SPIN_NS 20000L

enum { LXA_ROUTE_ANY = 0, LXA_ROUTE_LANE = 1 };

typedef struct lxa_worker {
    pthread_t thread;
    pthread_cond_t wake;
    struct lxa_worker *next_idle;
    lxa_job *current;      /* the job being run, NULL between jobs */
    int waiting;           /* on the idle stack; cleared by whoever wakes it */
    lxa_pool *pool;
} lxa_worker;

typedef struct lxa_lane {
    int fd;
    lxa_job *head, *tail;  /* jobs waiting behind the active one */
    struct lxa_lane *next;
} lxa_lane;

struct lxa_pool {
    pthread_mutex_t lock;
    lxa_job *queue_head, *queue_tail;
    size_t queued;          /* jobs in the queue; read without the lock by spinners */
    lxa_job *done_head, *done_tail;
    lxa_lane *lanes;
    lxa_worker *idle;       /* LIFO stack of waiting workers */
    lxa_worker *workers;    /* max_threads slots; the first nthreads started */
    unsigned max_threads;
    unsigned nthreads;
    unsigned joined;        /* workers joined by lxa_pool_shutdown() */
    unsigned searching;     /* workers awake without a job: starting, woken or spinning */
    long spin_ns;           /* how long a worker polls the queue before sleeping */
    size_t pending;
    int eventfd;
    int stop_efd;           /* readable once shutting down; -1 until a stream job */
    int accepting;
    volatile int inherited; /* set in a forked child, cleared by adopt_locked() */
    struct lxa_pool *reg_prev, *reg_next;
};

static void dispatch_locked(lxa_pool *pool);
static int spawn_locked(lxa_pool *pool);

/* ---- registry of live pools, for pthread_atfork() ----------------------- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static lxa_pool *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_error;

/* Hold every pool's lock across fork(2) so the child's copy of the lists is
 * consistent (pthread_atfork(3)). Lock order: registry_lock, then pools. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (lxa_pool *p = registry; p != NULL; p = p->reg_next)
        pthread_mutex_lock(&p->lock);
}

static void atfork_parent(void)
{
    for (lxa_pool *p = registry; p != NULL; p = p->reg_next)
        pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&registry_lock);
}

/* The child has one thread, the one that forked and holds the locks. The
 * workers do not exist here: mark the pools; adopt_locked() does the rest. */
static void atfork_child(void)
{
    for (lxa_pool *p = registry; p != NULL; p = p->reg_next) {
        p->inherited = 1;
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&registry_lock);
}

static void atfork_register(void)
{
    atfork_error = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- lists (callers hold pool->lock) ------------------------------------ */

static void queue_push_locked(lxa_pool *pool, lxa_job *job)
{
    job->next = NULL;
    if (pool->queue_tail != NULL)
        pool->queue_tail->next = job;
    else
        pool->queue_head = job;
    pool->queue_tail = job;
    __atomic_store_n(&pool->queued, pool->queued + 1, __ATOMIC_RELAXED);
}

static lxa_job *queue_pop_locked(lxa_pool *pool)
{
    lxa_job *job = pool->queue_head;
    if (job != NULL) {
        pool->queue_head = job->next;
        if (pool->queue_head == NULL)
            pool->queue_tail = NULL;
        job->next = NULL;
        __atomic_store_n(&pool->queued, pool->queued - 1, __ATOMIC_RELAXED);
    }
    return job;
}

/* Append to the completed list; true if it was empty (the caller signals). */
static int done_push_locked(lxa_pool *pool, lxa_job *job)
{
    int was_empty = pool->done_head == NULL;
    job->next = NULL;
    if (pool->done_tail != NULL)
        pool->done_tail->next = job;
    else
        pool->done_head = job;
    pool->done_tail = job;
    return was_empty;
}

static void wake_one_locked(lxa_pool *pool)
{
    lxa_worker *w = pool->idle;
    if (w != NULL) {
        pool->idle = w->next_idle;
        w->next_idle = NULL;
        w->waiting = 0;
        pool->searching++; /* until it looks at the queue */
        pthread_cond_signal(&w->wake);
    }
}

static lxa_lane *lane_find_locked(lxa_pool *pool, int fd, lxa_lane ***link_out)
{
    lxa_lane **link = &pool->lanes;
    for (lxa_lane *lane = *link; lane != NULL; link = &lane->next, lane = *link) {
        if (lane->fd == fd) {
            if (link_out != NULL)
                *link_out = link;
            return lane;
        }
    }
    return NULL;
}

/* The active job of fd's lane has left the queue for good (completed or
 * cancelled): queue the next one, or drop the lane when none waits. */
static void lane_advance_locked(lxa_pool *pool, int fd, int wake)
{
    lxa_lane **link;
    lxa_lane *lane = lane_find_locked(pool, fd, &link);
    if (lane == NULL)
        return;
    lxa_job *next = lane->head;
    if (next == NULL) {
        *link = lane->next;
        free(lane);
        return;
    }
    lane->head = next->next;
    if (lane->head == NULL)
        lane->tail = NULL;
    queue_push_locked(pool, next);
    if (wake)
        dispatch_locked(pool);
}

/* ---- running one job (no lock held) -------------------------------------- */

static int lxa_is_unseekable(int fd)
{
    return lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE;
}

/* ---- streams: non-seekable fds (no lock held) ---------------------------- */

/* At most this many iovecs per call when a stream transfer is split. */
#define LXA_STREAM_IOV 64

/* RWF_NOWAIT on read/write at the current position (preadv2(2) with offset
 * -1): pipes (Linux >= 5.10 or so) and sockets support it; elsewhere (ttys,
 * older kernels) it fails with EOPNOTSUPP/EINVAL/ENOSYS and the transfer
 * falls back to plain calls after poll(2). LXA_POOL_NO_NOWAIT (a test build)
 * forces the fallback. */
#if defined(RWF_NOWAIT) && !defined(LXA_POOL_NO_NOWAIT)
#define LXA_TRY_NOWAIT 1
#else
#define LXA_TRY_NOWAIT 0
#endif

enum { LXA_STOPPING = 0, LXA_READY = 1, LXA_HUNG_UP = 2 };

/* Wait until fd is ready for `events` (LXA_READY), or is hung up, in error
 * or closed (LXA_HUNG_UP: a plain call reports that without blocking), or
 * the pool is shutting down (LXA_STOPPING); or -errno. A negative stop_efd is
 * ignored by poll(2). */
static int stream_wait(int fd, short events, int stop_efd)
{
    if (fd < 0)
        return LXA_HUNG_UP; /* the call reports EBADF; poll(2) would ignore fd */
    struct pollfd p[2] = {
        {.fd = fd, .events = events},
        {.fd = stop_efd, .events = POLLIN},
    };
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (p[0].revents & events)
            return LXA_READY;
        if (p[0].revents != 0)
            return LXA_HUNG_UP;
        if (p[1].revents != 0)
            return LXA_STOPPING;
    }
}

/* 1 if fd's open file description is O_NONBLOCK: its owner wants EAGAIN
 * rather than a wait, as a plain read(2)/write(2) would give. */
static int stream_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

/* One readv(2)/writev(2) at the current position; with `nowait`, one that
 * fails with EAGAIN instead of blocking. Returns the count or -errno. */
static ssize_t stream_call(int writing, int nowait, int fd, const struct iovec *iov, int cnt)
{
    for (;;) {
        ssize_t n;
#if LXA_TRY_NOWAIT
        if (nowait)
            n = writing ? pwritev2(fd, iov, cnt, -1, RWF_NOWAIT) : preadv2(fd, iov, cnt, -1, RWF_NOWAIT);
        else
#endif
            n = writing ? writev(fd, iov, cnt) : readv(fd, iov, cnt);
        (void)nowait;
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total = iov[i].iov_len > SIZE_MAX - total ? SIZE_MAX : total + iov[i].iov_len;
    return total;
}

/* Fill chunk[] with at most `limit` bytes of iov[idx..cnt), starting `skip`
 * bytes into iov[idx]; return the iovec count. */
static int stream_chunk(struct iovec *chunk, const struct iovec *iov, int cnt, int idx, size_t skip, size_t limit)
{
    int k = 0;
    for (int i = idx; i < cnt && limit > 0 && k < LXA_STREAM_IOV; i++) {
        size_t from = i == idx ? skip : 0;
        size_t len = iov[i].iov_len - from;
        if (len == 0)
            continue;
        if (len > limit)
            len = limit;
        chunk[k].iov_base = (char *)iov[i].iov_base + from;
        chunk[k].iov_len = len;
        limit -= len;
        k++;
    }
    return k;
}

/* read(2)/write(2) on a pipe, FIFO, socket, tty: see "Streams" at the top.
 * A read is one call that moves something (or reports EOF or an error). A
 * write continues until all is written. Each call either cannot block
 * (RWF_NOWAIT) or follows a poll(2) that reported the fd ready; then a write
 * call moves at most PIPE_BUF bytes, which cannot block after POLLOUT.
 * Writes of at most PIPE_BUF bytes are always one call (atomic on a pipe,
 * pipe(7)); longer ones may interleave with other writers (as a blocking
 * write(2) of that size may). An O_NONBLOCK fd gets EAGAIN as before. */
static int64_t stream_transfer(const lxa_job *job, int stop_efd)
{
    const int writing = job->opcode == LXA_OP_PWRITE || job->opcode == LXA_OP_PWRITEV;
    const short events = writing ? POLLOUT : POLLIN;
    const int fd = job->fd;
    struct iovec one;
    const struct iovec *iov = job->iov;
    int cnt = job->iovcnt;
    if (job->opcode == LXA_OP_PREAD || job->opcode == LXA_OP_PWRITE) {
        one.iov_base = job->buf;
        one.iov_len = job->len;
        iov = &one;
        cnt = 1;
    }
    const size_t total = iov_total(iov, cnt);

    struct iovec chunk[LXA_STREAM_IOV];
    int nowait = LXA_TRY_NOWAIT;
    int nonblocking = -1; /* not asked yet */
    int hung_up = 0;      /* poll(2) saw POLLHUP/POLLERR/POLLNVAL: a plain call returns */
    int64_t done = 0;
    int idx = 0;
    size_t skip = 0; /* bytes of iov[idx] already written */
    for (;;) {
        const int plain = !nowait || hung_up;
        const size_t limit = writing && plain ? PIPE_BUF : SIZE_MAX;
        const struct iovec *part = iov;
        int k = cnt;
        if (done > 0 || total > limit) {
            k = stream_chunk(chunk, iov, cnt, idx, skip, limit);
            part = chunk;
        }
        ssize_t n;
        if (plain) {
            /* A call that moves nothing never blocks; nor does one on an O_NONBLOCK fd. */
            if (!hung_up && total > (size_t)done) {
                if (nonblocking < 0)
                    nonblocking = stream_nonblocking(fd);
                if (!nonblocking) {
                    int ready = stream_wait(fd, events, stop_efd);
                    if (ready <= 0)
                        return done > 0 ? done : (ready == LXA_STOPPING ? -ECANCELED : ready);
                    hung_up = ready == LXA_HUNG_UP;
                }
            }
            n = stream_call(writing, 0, fd, part, k);
            hung_up = 0;
        } else {
            n = stream_call(writing, 1, fd, part, k);
            if (n == -EOPNOTSUPP || n == -EINVAL || n == -ENOSYS) {
                nowait = 0; /* not for this fd or kernel; a plain call reports a real error */
                continue;
            }
            if (n == -EAGAIN) {
                if (nonblocking < 0)
                    nonblocking = stream_nonblocking(fd);
                if (nonblocking)
                    return done > 0 ? done : -EAGAIN;
                int ready = stream_wait(fd, events, stop_efd);
                if (ready <= 0)
                    return done > 0 ? done : (ready == LXA_STOPPING ? -ECANCELED : ready);
                hung_up = ready == LXA_HUNG_UP;
                continue;
            }
        }
        if (n < 0)
            return done > 0 ? done : n;
        done += n;
        if (!writing || n == 0 || (size_t)done >= total)
            return done;
        for (size_t left = (size_t)n; left > 0;) { /* step past what was written */
            size_t here = iov[idx].iov_len - skip;
            if (left < here) {
                skip += left;
                break;
            }
            left -= here;
            idx++;
            skip = 0;
        }
    }
}

/* ---- positional transfers (no lock held) --------------------------------- */

static int64_t transfer_buf(const lxa_job *job, int stop_efd)
{
    const int writing = job->opcode == LXA_OP_PWRITE;
    char *buf = job->buf;
    const size_t len = job->len;
    int64_t done = 0;

    for (;;) {
        size_t want = len - (size_t)done;
        off_t at = (off_t)(job->offset + done);
        ssize_t n = writing ? pwrite(job->fd, buf + done, want, at) : pread(job->fd, buf + done, want, at);
        if (n < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            if (err == ESPIPE && done == 0) /* the fd changed since submission */
                return stream_transfer(job, stop_efd);
            return done > 0 ? done : -err;
        }
        done += n;
        if (n < LXA_KERNEL_CHUNK || (size_t)done >= len)
            return done;
    }
}

/* Skip `skip` bytes of iov[0..cnt) into rest (which may alias iov); return
 * the count of iovecs left. */
static int iov_advance(struct iovec *rest, const struct iovec *iov, int cnt, size_t skip)
{
    int i = 0;
    while (i < cnt && skip >= iov[i].iov_len) {
        skip -= iov[i].iov_len;
        i++;
    }
    int left = 0;
    for (; i < cnt; i++, left++) {
        rest[left] = iov[i];
        if (left == 0) {
            rest[0].iov_base = (char *)rest[0].iov_base + skip;
            rest[0].iov_len -= skip;
        }
    }
    return left;
}

static int64_t transfer_iov(const lxa_job *job, int stop_efd)
{
    const int writing = job->opcode == LXA_OP_PWRITEV;
    const struct iovec *iov = job->iov;
    int cnt = job->iovcnt;
    struct iovec *rest = NULL;
    int64_t done = 0;

    for (;;) {
        off_t at = (off_t)(job->offset + done);
        ssize_t n = writing ? pwritev(job->fd, iov, cnt, at) : preadv(job->fd, iov, cnt, at);
        if (n < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            free(rest);
            if (err == ESPIPE && done == 0) /* the fd changed since submission */
                return stream_transfer(job, stop_efd);
            return done > 0 ? done : -err;
        }
        done += n;
        if (n < LXA_KERNEL_CHUNK)
            break;
        /* The kernel cut a long transfer: continue after what it moved. */
        if (rest == NULL) {
            rest = malloc(sizeof(*rest) * (size_t)cnt);
            if (rest == NULL)
                break;
        }
        cnt = iov_advance(rest, iov, cnt, (size_t)n);
        iov = rest;
        if (cnt == 0)
            break;
    }
    free(rest);
    return done;
}

static int64_t sync_fd(const lxa_job *job)
{
    for (;;) {
        int rc = job->opcode == LXA_OP_FSYNC ? fsync(job->fd) : fdatasync(job->fd);
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

static int64_t run_syscall(const lxa_job *job)
{
    long rc = syscall(job->sysno, job->args[0], job->args[1], job->args[2], job->args[3], job->args[4],
                      job->args[5]);
    return rc < 0 ? -(int64_t)errno : (int64_t)rc;
}

static int64_t run_job(const lxa_job *job, int unseekable, int stop_efd)
{
    switch (job->opcode) {
    case LXA_OP_PREAD:
    case LXA_OP_PWRITE:
        return unseekable ? stream_transfer(job, stop_efd) : transfer_buf(job, stop_efd);
    case LXA_OP_PREADV:
    case LXA_OP_PWRITEV:
        return unseekable ? stream_transfer(job, stop_efd) : transfer_iov(job, stop_efd);
    case LXA_OP_FSYNC:
    case LXA_OP_FDSYNC:
        return sync_fd(job);
    case LXA_OP_SYSCALL:
        return run_syscall(job);
    case LXA_OP_UNLINKAT_MANY:
        return lxa_unlinkat_many(job);
    case LXA_OP_COPY_FILE:
        return lxa_copy_file(job);
    case LXA_OP_LIST_DIR:
        return lxa_list_dir(job);
    default:
        return -EINVAL;
    }
}

/* ---- workers ------------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - since->tv_sec) * 1000000000 + (now.tv_nsec - since->tv_nsec);
}

/* Without the lock: poll for queued work for up to pool->spin_ns. A job
 * submitted meanwhile is taken without a futex wake-up or a context switch,
 * which is most of the cost of a cached 4 KiB read. Returns when work (or
 * shutdown) shows, or when the time is up. */
static void spin_for_work(lxa_pool *pool)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned i = 1;; i++) {
        if (__atomic_load_n(&pool->queued, __ATOMIC_RELAXED) != 0 ||
            !__atomic_load_n(&pool->accepting, __ATOMIC_RELAXED))
            return;
        cpu_relax();
        if ((i & 31) == 0) {
            if (elapsed_ns(&start) >= pool->spin_ns)
                return;
            sched_yield(); /* let the submitting thread run if it shares our CPU */
        }
    }
}

/* A job was queued: make sure some worker will look at the queue soon.
 * A searching worker (starting, just woken, or spinning) will; otherwise
 * wake the most recently idle worker, or start one. If starting fails the
 * running workers still drain the queue. */
static void dispatch_locked(lxa_pool *pool)
{
    if (pool->searching > 0)
        return;
    if (pool->idle != NULL)
        wake_one_locked(pool);
    else if (pool->nthreads < pool->max_threads && pool->accepting)
        spawn_locked(pool);
}

static void *worker_main(void *arg)
{
    lxa_worker *self = arg;
    lxa_pool *pool = self->pool;

    pthread_mutex_lock(&pool->lock);
    pool->searching--; /* counted by spawn_locked() until now */
    for (;;) {
        lxa_job *job = queue_pop_locked(pool);
        if (job == NULL && pool->accepting && pool->spin_ns > 0) {
            pool->searching++;
            pthread_mutex_unlock(&pool->lock);
            spin_for_work(pool);
            pthread_mutex_lock(&pool->lock);
            pool->searching--;
            job = queue_pop_locked(pool);
        }
        if (job == NULL) {
            if (!pool->accepting)
                break;
            self->waiting = 1;
            self->next_idle = pool->idle;
            pool->idle = self;
            while (self->waiting)
                pthread_cond_wait(&self->wake, &pool->lock);
            pool->searching--; /* counted by wake_one_locked() */
            continue;
        }
        /* More work waits and nobody is looking for it: hand it to another
         * worker before this job (maybe a slow one) starts. */
        if (pool->queued > 0)
            dispatch_locked(pool);
        self->current = job;
        const int laned = job->result == LXA_ROUTE_LANE;
        const int stop_efd = pool->stop_efd; /* set before any laned job was queued */
        pthread_mutex_unlock(&pool->lock);

        int64_t result = run_job(job, laned, stop_efd);

        pthread_mutex_lock(&pool->lock);
        self->current = NULL;
        job->result = result;
        if (laned)
            lane_advance_locked(pool, job->fd, 0); /* this worker takes it next */
        if (done_push_locked(pool, job)) {
            /* Empty -> non-empty: one wake-up per burst. The eventfd is
             * written without the lock so the owner never waits on it. */
            pthread_mutex_unlock(&pool->lock);
            lxa_eventfd_signal(pool->eventfd);
            pthread_mutex_lock(&pool->lock);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static int spawn_locked(lxa_pool *pool)
{
    lxa_worker *w = &pool->workers[pool->nthreads];
    memset(w, 0, sizeof(*w));
    w->pool = pool;
    int rc = pthread_cond_init(&w->wake, NULL);
    if (rc != 0)
        return -rc;

    /* Workers block every signal, so signals go to the application's threads
     * and system calls here are not interrupted (pthread_sigmask(3)). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&w->wake);
        return -rc;
    }
    pool->nthreads++;
    pool->searching++; /* until it looks at the queue */
    return 0;
}

/* ---- fork ---------------------------------------------------------------- */

/* In a forked child: what the parent's workers were running or had queued
 * cannot run here; it completes with -ECANCELED. No worker exists. */
static void adopt_locked(lxa_pool *pool)
{
    if (!pool->inherited)
        return;
    pool->inherited = 0;
    for (unsigned i = 0; i < pool->nthreads; i++) {
        lxa_job *job = pool->workers[i].current;
        if (job != NULL) {
            job->result = -ECANCELED;
            done_push_locked(pool, job);
        }
    }
    lxa_job *job;
    while ((job = queue_pop_locked(pool)) != NULL) {
        job->result = -ECANCELED;
        done_push_locked(pool, job);
    }
    while (pool->lanes != NULL) {
        lxa_lane *lane = pool->lanes;
        pool->lanes = lane->next;
        while ((job = lane->head) != NULL) {
            lane->head = job->next;
            job->result = -ECANCELED;
            done_push_locked(pool, job);
        }
        free(lane);
    }
    /* The stop eventfd is shared with the parent, whose shutdown would make
     * it readable: this pool gets its own at the next stream submission. */
    if (pool->stop_efd >= 0) {
        close(pool->stop_efd);
        pool->stop_efd = -1;
    }
    /* The parent's pthread_t and condition variables mean nothing here;
     * they are re-initialised when a worker slot is reused, never destroyed. */
    pool->nthreads = 0;
    pool->joined = 0;
    pool->searching = 0;
    pool->idle = NULL;
}

static void lock_pool(lxa_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->inherited)
        adopt_locked(pool);
}

/* ---- public API ---------------------------------------------------------- */

int lxa_pool_create(lxa_pool **out, unsigned max_threads, int eventfd)
{
    *out = NULL;
    if (max_threads == 0 || max_threads > LXA_MAX_THREADS || eventfd < 0)
        return -EINVAL;
    pthread_once(&atfork_once, atfork_register);
    if (atfork_error != 0)
        return -atfork_error;

    lxa_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return -ENOMEM;
    pool->workers = calloc(max_threads, sizeof(*pool->workers));
    if (pool->workers == NULL) {
        free(pool);
        return -ENOMEM;
    }
    /* Critical sections are a few pointer updates: spin briefly on
     * contention instead of sleeping in the kernel at once. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    int rc = pthread_mutex_init(&pool->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        free(pool->workers);
        free(pool);
        return -rc;
    }
    pool->max_threads = max_threads;
    pool->spin_ns = LXA_SPIN_NS;
    const char *spin = getenv("LXA_POOL_SPIN_NS"); /* tuning; see lxa_pool.h */
    if (spin != NULL && *spin != '\0')
        pool->spin_ns = atol(spin) < 0 ? 0 : atol(spin);
    pool->eventfd = eventfd;
    pool->stop_efd = -1;
    pool->accepting = 1;

    pthread_mutex_lock(&registry_lock);
    pool->reg_next = registry;
    if (registry != NULL)
        registry->reg_prev = pool;
    registry = pool;
    pthread_mutex_unlock(&registry_lock);

    *out = pool;
    return 0;
}

int lxa_pool_submit(lxa_pool *pool, lxa_job *job)
{
    if (job->opcode < LXA_OP_PREAD || job->opcode > LXA_OP_LIST_DIR || job->offset < 0 ||
        ((job->opcode == LXA_OP_PREADV || job->opcode == LXA_OP_PWRITEV) && job->iovcnt < 0))
        return -EINVAL;
    /* Transfers on a non-seekable fd keep their order (see the top). */
    const int laned = job->opcode <= LXA_OP_PWRITEV && lxa_is_unseekable(job->fd);

    lock_pool(pool);
    if (!pool->accepting) {
        pthread_mutex_unlock(&pool->lock);
        return -ESHUTDOWN;
    }
    if (laned && pool->stop_efd < 0) {
        int efd = lxa_eventfd_open(); /* see "Streams" at the top */
        if (efd < 0) {
            pthread_mutex_unlock(&pool->lock);
            return efd;
        }
        pool->stop_efd = efd;
    }
    if (pool->nthreads == 0) {
        int rc = spawn_locked(pool);
        if (rc < 0) {
            pthread_mutex_unlock(&pool->lock);
            return rc == -ENOMEM ? -ENOMEM : -EAGAIN;
        }
    }
    job->result = laned ? LXA_ROUTE_LANE : LXA_ROUTE_ANY;
    pool->pending++;
    if (laned) {
        lxa_lane *lane = lane_find_locked(pool, job->fd, NULL);
        if (lane != NULL) {
            /* Waits for its predecessor on this fd; no worker to wake. */
            job->next = NULL;
            if (lane->tail != NULL)
                lane->tail->next = job;
            else
                lane->head = job;
            lane->tail = job;
            pthread_mutex_unlock(&pool->lock);
            return 0;
        }
        lane = calloc(1, sizeof(*lane));
        if (lane == NULL) {
            pool->pending--;
            pthread_mutex_unlock(&pool->lock);
            return -ENOMEM;
        }
        lane->fd = job->fd;
        lane->next = pool->lanes;
        pool->lanes = lane;
    }
    queue_push_locked(pool, job);
    dispatch_locked(pool);
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

int lxa_pool_cancel(lxa_pool *pool, lxa_job *job)
{
    int found = 0;
    lock_pool(pool);
    /* In the queue? */
    for (lxa_job **link = &pool->queue_head; *link != NULL; link = &(*link)->next) {
        if (*link == job) {
            *link = job->next;
            if (pool->queue_tail == job) {
                lxa_job *last = pool->queue_head;
                while (last != NULL && last->next != NULL)
                    last = last->next;
                pool->queue_tail = last;
            }
            found = 1;
            __atomic_store_n(&pool->queued, pool->queued - 1, __ATOMIC_RELAXED);
            if (job->result == LXA_ROUTE_LANE)
                lane_advance_locked(pool, job->fd, 1);
            break;
        }
    }
    /* Waiting in a lane? */
    for (lxa_lane *lane = pool->lanes; !found && lane != NULL; lane = lane->next) {
        if (lane->fd != job->fd)
            continue;
        lxa_job *prev = NULL;
        for (lxa_job *it = lane->head; it != NULL; prev = it, it = it->next) {
            if (it == job) {
                if (prev != NULL)
                    prev->next = it->next;
                else
                    lane->head = it->next;
                if (lane->tail == it)
                    lane->tail = prev;
                found = 1;
                break;
            }
        }
    }
    if (!found) {
        pthread_mutex_unlock(&pool->lock);
        return -EBUSY;
    }
    job->result = -ECANCELED;
    int signal = done_push_locked(pool, job);
    pthread_mutex_unlock(&pool->lock);
    if (signal)
        lxa_eventfd_signal(pool->eventfd);
    return 0;
}

lxa_job *lxa_pool_take_done(lxa_pool *pool)
{
    lock_pool(pool);
    lxa_job *head = pool->done_head;
    size_t count = 0;
    for (lxa_job *it = head; it != NULL; it = it->next)
        count++;
    pool->done_head = pool->done_tail = NULL;
    pool->pending -= count;
    pthread_mutex_unlock(&pool->lock);
    return head;
}

void lxa_pool_shutdown(lxa_pool *pool)
{
    lock_pool(pool);
    __atomic_store_n(&pool->accepting, 0, __ATOMIC_RELAXED); /* spinners read it unlocked */
    while (pool->idle != NULL)
        wake_one_locked(pool);
    /* No worker starts once accepting is 0, so nthreads is final. */
    unsigned from = pool->joined, to = pool->nthreads;
    pool->joined = to;
    /* Fixed now: submissions, which create it, are refused. */
    const int stop_efd = pool->stop_efd;
    pthread_mutex_unlock(&pool->lock);
    /* Stays readable: every stream job, running or still queued behind one,
     * stops waiting for its fd (see "Streams" at the top). */
    if (stop_efd >= 0)
        lxa_eventfd_signal(stop_efd);
    for (unsigned i = from; i < to; i++) {
        pthread_join(pool->workers[i].thread, NULL);
        pthread_cond_destroy(&pool->workers[i].wake);
    }
}

void lxa_pool_destroy(lxa_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (pool->reg_prev != NULL)
        pool->reg_prev->reg_next = pool->reg_next;
    else
        registry = pool->reg_next;
    if (pool->reg_next != NULL)
        pool->reg_next->reg_prev = pool->reg_prev;
    pthread_mutex_unlock(&registry_lock);

    while (pool->lanes != NULL) {
        lxa_lane *lane = pool->lanes;
        pool->lanes = lane->next;
        free(lane);
    }
    if (pool->stop_efd >= 0)
        close(pool->stop_efd);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}

void lxa_pool_after_fork_child(lxa_pool *pool)
{
    lock_pool(pool); /* adopts the pool if it was inherited */
    pthread_mutex_unlock(&pool->lock);
}

int lxa_pool_inherited(const lxa_pool *pool)
{
    return pool->inherited;
}

size_t lxa_pool_pending(lxa_pool *pool)
{
    lock_pool(pool);
    size_t pending = pool->pending;
    pthread_mutex_unlock(&pool->lock);
    return pending;
}
