/* C-level test of csrc/lxa_pool.c, compiled and run by test_lxa_pool_c.py.
 * Exits 0 on success; on failure prints the failed check and exits 1. */
#define _GNU_SOURCE
#include "lxa_pool.h"
#include "lxa_eventfd.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

/* Wait for the eventfd, then take completions until `want` arrived. */
static int collect(lxa_pool *pool, int efd, lxa_job **order, int want)
{
    int got = 0;
    while (got < want) {
        struct pollfd p = {.fd = efd, .events = POLLIN};
        CHECK(poll(&p, 1, 10000) == 1);
        lxa_eventfd_drain(efd);
        for (lxa_job *j = lxa_pool_take_done(pool); j != NULL;) {
            lxa_job *next = j->next;
            if (order != NULL)
                order[got] = j;
            got++;
            j = next;
        }
    }
    return got;
}

static void test_reads(void)
{
    char path[] = "/tmp/lxa_pool_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    char data[8192];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7);
    CHECK(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));

    int efd = lxa_eventfd_open();
    CHECK(efd >= 0);
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 4, efd) == 0);

    enum { N = 256 };
    static lxa_job jobs[N];
    static char bufs[N][64];
    for (int i = 0; i < N; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].opcode = LXA_OP_PREAD;
        jobs[i].fd = fd;
        jobs[i].offset = i * 17;
        jobs[i].buf = bufs[i];
        jobs[i].len = 64;
        CHECK(lxa_pool_submit(pool, &jobs[i]) == 0);
    }
    CHECK(collect(pool, efd, NULL, N) == N);
    CHECK(lxa_pool_pending(pool) == 0);
    for (int i = 0; i < N; i++) {
        CHECK(jobs[i].result == 64);
        CHECK(memcmp(bufs[i], data + i * 17, 64) == 0);
    }

    /* Errors come back as -errno. */
    lxa_job bad = {.opcode = LXA_OP_PREAD, .fd = 1000, .buf = bufs[0], .len = 1};
    CHECK(lxa_pool_submit(pool, &bad) == 0);
    collect(pool, efd, NULL, 1);
    CHECK(bad.result == -EBADF);

    lxa_pool_shutdown(pool);
    lxa_pool_shutdown(pool); /* idempotent */
    lxa_job late = {.opcode = LXA_OP_FSYNC, .fd = fd};
    CHECK(lxa_pool_submit(pool, &late) == -ESHUTDOWN);
    lxa_pool_destroy(pool);
    close(efd);
    close(fd);
}

static void test_pipe_order(void)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int efd = lxa_eventfd_open();
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 8, efd) == 0);

    /* Reads queued before the writes: each read gets one 4-byte message, in order. */
    enum { N = 64 };
    static lxa_job reads[N], writes[N];
    static char in[N][4], out[N][4];
    for (int i = 0; i < N; i++) {
        memset(&reads[i], 0, sizeof(reads[i]));
        reads[i].opcode = LXA_OP_PREAD;
        reads[i].fd = p[0];
        reads[i].buf = in[i];
        reads[i].len = 4;
        CHECK(lxa_pool_submit(pool, &reads[i]) == 0);
    }
    for (int i = 0; i < N; i++) {
        snprintf(out[i], 4, "%03d", i);
        memset(&writes[i], 0, sizeof(writes[i]));
        writes[i].opcode = LXA_OP_PWRITE;
        writes[i].fd = p[1];
        writes[i].buf = out[i];
        writes[i].len = 4;
        CHECK(lxa_pool_submit(pool, &writes[i]) == 0);
    }
    CHECK(collect(pool, efd, NULL, 2 * N) == 2 * N);
    for (int i = 0; i < N; i++) {
        CHECK(reads[i].result == 4);
        CHECK(writes[i].result == 4);
        CHECK(memcmp(in[i], out[i], 4) == 0);
    }
    lxa_pool_shutdown(pool);
    lxa_pool_destroy(pool);
    close(efd);
    close(p[0]);
    close(p[1]);
}

static void test_cancel(void)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int efd = lxa_eventfd_open();
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 1, efd) == 0);
    char a[1], b[1], c[1];
    /* First read blocks the lane; the second waits in the lane; the third too. */
    lxa_job r1 = {.opcode = LXA_OP_PREAD, .fd = p[0], .buf = a, .len = 1};
    lxa_job r2 = {.opcode = LXA_OP_PREAD, .fd = p[0], .buf = b, .len = 1};
    lxa_job r3 = {.opcode = LXA_OP_PREAD, .fd = p[0], .buf = c, .len = 1};
    CHECK(lxa_pool_submit(pool, &r1) == 0);
    CHECK(lxa_pool_submit(pool, &r2) == 0);
    CHECK(lxa_pool_submit(pool, &r3) == 0);
    CHECK(lxa_pool_cancel(pool, &r2) == 0);
    CHECK(lxa_pool_cancel(pool, &r2) == -EBUSY);
    lxa_job *done[3];
    CHECK(collect(pool, efd, done, 1) == 1);
    CHECK(done[0] == &r2 && r2.result == -ECANCELED);
    CHECK(write(p[1], "xy", 2) == 2);
    CHECK(collect(pool, efd, done, 2) == 2);
    CHECK(r1.result == 1 && r3.result == 1 && a[0] == 'x' && c[0] == 'y');
    lxa_pool_shutdown(pool);
    lxa_pool_destroy(pool);
    close(efd);
    close(p[0]);
    close(p[1]);
}

static void test_fork(void)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int efd = lxa_eventfd_open();
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 2, efd) == 0);
    char a[1];
    lxa_job blocked = {.opcode = LXA_OP_PREAD, .fd = p[0], .buf = a, .len = 1};
    CHECK(lxa_pool_submit(pool, &blocked) == 0);
    usleep(20000); /* let a worker start the read */

    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        CHECK(lxa_pool_inherited(pool) == 1);
        int fresh = lxa_eventfd_open();
        CHECK(fresh >= 0 && dup2(fresh, efd) == efd);
        close(fresh);
        lxa_pool_after_fork_child(pool);
        CHECK(lxa_pool_inherited(pool) == 0);
        lxa_job *j = lxa_pool_take_done(pool);
        CHECK(j == &blocked && j->result == -ECANCELED && j->next == NULL);
        lxa_job sync = {.opcode = LXA_OP_FSYNC, .fd = efd};
        CHECK(lxa_pool_submit(pool, &sync) == 0);
        CHECK(collect(pool, efd, NULL, 1) == 1);
        CHECK(sync.result == -EINVAL);
        lxa_pool_shutdown(pool);
        lxa_pool_destroy(pool);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(lxa_pool_inherited(pool) == 0);
    CHECK(write(p[1], "z", 1) == 1);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(blocked.result == 1 && a[0] == 'z');
    lxa_pool_shutdown(pool);
    lxa_pool_destroy(pool);
    close(efd);
    close(p[0]);
    close(p[1]);
}

/* Take every completed job (after shutdown: no waiting needed). */
static int take_all(lxa_pool *pool)
{
    int got = 0;
    for (lxa_job *j = lxa_pool_take_done(pool); j != NULL; j = j->next)
        got++;
    return got;
}

/* Fill a pipe until write(2) would block; return the bytes written. */
static size_t fill_pipe(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    CHECK(fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
    static char junk[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, junk, sizeof(junk));
        if (n < 0) {
            CHECK(errno == EAGAIN);
            break;
        }
        total += (size_t)n;
    }
    CHECK(fcntl(fd, F_SETFL, flags) == 0);
    return total;
}

/* Drain what a pipe holds now; return the count. */
static size_t drain_pipe(int fd, char *into, size_t cap)
{
    int flags = fcntl(fd, F_GETFL);
    CHECK(fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
    size_t total = 0;
    char scratch[4096];
    for (;;) {
        char *to = into != NULL ? into + total : scratch;
        size_t want = into != NULL ? cap - total : sizeof(scratch);
        if (want == 0)
            break;
        ssize_t n = read(fd, to, want);
        if (n <= 0) {
            CHECK(n == 0 || errno == EAGAIN);
            break;
        }
        total += (size_t)n;
    }
    CHECK(fcntl(fd, F_SETFL, flags) == 0);
    return total;
}

/* Shutdown does not wait for transfers that cannot finish: a read of an
 * empty pipe, a write to a full one, and the jobs queued behind them on the
 * same fds complete with -ECANCELED, having transferred nothing. */
static void test_shutdown_stops_blocked_streams(void)
{
    int p[2], q[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(pipe2(q, O_CLOEXEC) == 0);
    size_t filled = fill_pipe(q[1]);
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
    int efd = lxa_eventfd_open();
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 6, efd) == 0);
    char a[8], b[8], c[8];
    static char big[100000];
    struct iovec iov[2] = {{.iov_base = big, .iov_len = 10}, {.iov_base = big + 10, .iov_len = 20}};
    lxa_job r1 = {.opcode = LXA_OP_PREAD, .fd = p[0], .buf = a, .len = sizeof(a)};
    lxa_job r2 = {.opcode = LXA_OP_PREADV, .fd = p[0], .iov = iov, .iovcnt = 2};
    lxa_job w1 = {.opcode = LXA_OP_PWRITE, .fd = q[1], .buf = b, .len = sizeof(b)};
    lxa_job w2 = {.opcode = LXA_OP_PWRITE, .fd = q[1], .buf = big, .len = sizeof(big)};
    CHECK(lxa_pool_submit(pool, &r1) == 0);
    CHECK(lxa_pool_submit(pool, &r2) == 0);
    CHECK(lxa_pool_submit(pool, &w1) == 0);
    CHECK(lxa_pool_submit(pool, &w2) == 0);
    lxa_job rs = {.opcode = LXA_OP_PREAD, .fd = s[0], .buf = c, .len = sizeof(c)};
    CHECK(lxa_pool_submit(pool, &rs) == 0);
    usleep(20000); /* let workers block on r1, w1 and rs */
    lxa_pool_shutdown(pool);
    CHECK(take_all(pool) == 5);
    CHECK(rs.result == -ECANCELED);
    CHECK(r1.result == -ECANCELED && r2.result == -ECANCELED);
    CHECK(w1.result == -ECANCELED && w2.result == -ECANCELED);
    CHECK(lxa_pool_submit(pool, &r1) == -ESHUTDOWN);
    CHECK(drain_pipe(q[0], NULL, 0) == filled); /* nothing was written */
    lxa_pool_destroy(pool);
    close(efd);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    close(s[0]);
    close(s[1]);
}

/* An O_NONBLOCK pipe keeps its meaning: EAGAIN instead of a wait. */
static void test_nonblocking_pipe_reports_eagain(void)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    int efd = lxa_eventfd_open();
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 1, efd) == 0);
    char a[4];
    lxa_job r = {.opcode = LXA_OP_PREAD, .fd = p[0], .buf = a, .len = sizeof(a)};
    CHECK(lxa_pool_submit(pool, &r) == 0);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(r.result == -EAGAIN);
    CHECK(write(p[1], "abcd", 4) == 4);
    CHECK(lxa_pool_submit(pool, &r) == 0);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(r.result == 4 && memcmp(a, "abcd", 4) == 0);
    lxa_pool_shutdown(pool);
    lxa_pool_destroy(pool);
    close(efd);
    close(p[0]);
    close(p[1]);
}

struct reader {
    int fd;
    char *into;
    size_t want;
};

static void *read_exactly(void *arg)
{
    struct reader *r = arg;
    size_t got = 0;
    while (got < r->want) {
        ssize_t n = read(r->fd, r->into + got, r->want - got);
        CHECK(n > 0);
        got += (size_t)n;
    }
    return NULL;
}

/* A write longer than PIPE_BUF goes in pieces: all bytes arrive in order
 * (empty iovecs included); at shutdown a write stuck on a full pipe returns
 * the count it wrote, and exactly that many bytes are in the pipe. */
static void test_long_stream_writes(void)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int efd = lxa_eventfd_open();
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 2, efd) == 0);
    enum { SIZE = 300001 };
    static char out[SIZE], in[SIZE];
    for (size_t i = 0; i < SIZE; i++)
        out[i] = (char)(i * 31 + 7);

    struct reader whole = {.fd = p[0], .into = in, .want = SIZE};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_exactly, &whole) == 0);
    struct iovec iov[4] = {
        {.iov_base = out, .iov_len = 100000},
        {.iov_base = out + 100000, .iov_len = 0},
        {.iov_base = out + 100000, .iov_len = 3},
        {.iov_base = out + 100003, .iov_len = SIZE - 100003},
    };
    lxa_job wv = {.opcode = LXA_OP_PWRITEV, .fd = p[1], .iov = iov, .iovcnt = 4};
    CHECK(lxa_pool_submit(pool, &wv) == 0);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(wv.result == SIZE);
    CHECK(memcmp(in, out, SIZE) == 0);

    /* The reader takes 70000 bytes and stops: the write fills the pipe and waits. */
    struct reader part = {.fd = p[0], .into = in, .want = 70000};
    CHECK(pthread_create(&t, NULL, read_exactly, &part) == 0);
    lxa_job w = {.opcode = LXA_OP_PWRITE, .fd = p[1], .buf = out, .len = SIZE};
    CHECK(lxa_pool_submit(pool, &w) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    usleep(20000); /* let the worker fill the pipe */
    lxa_pool_shutdown(pool);
    CHECK(take_all(pool) == 1);
    CHECK(w.result > 70000 && w.result < SIZE);
    size_t rest = drain_pipe(p[0], in + 70000, SIZE - 70000);
    CHECK(70000 + rest == (size_t)w.result);
    CHECK(memcmp(in, out, (size_t)w.result) == 0);
    lxa_pool_destroy(pool);
    close(efd);
    close(p[0]);
    close(p[1]);
}

/* LXA_OP_SYSCALL: file-system calls by number; results and -errno as the call gives them. */
static void test_syscall_jobs(void)
{
    char dir[] = "/tmp/lxa_pool_syscall_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof(path), "%s/f", dir);
    int efd = lxa_eventfd_open();
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 2, efd) == 0);

    lxa_job open_job = {.opcode = LXA_OP_SYSCALL, .fd = -1, .sysno = SYS_openat,
                        .args = {AT_FDCWD, (long)path, O_CREAT | O_RDWR | O_CLOEXEC, 0600}};
    CHECK(lxa_pool_submit(pool, &open_job) == 0);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(open_job.result >= 0);
    int fd = (int)open_job.result;
    CHECK(write(fd, "hello", 5) == 5);

    struct statx stx;
    lxa_job stat_job = {.opcode = LXA_OP_SYSCALL, .fd = -1, .sysno = SYS_statx,
                        .args = {AT_FDCWD, (long)path, 0, STATX_BASIC_STATS, (long)&stx}};
    lxa_job missing = {.opcode = LXA_OP_SYSCALL, .fd = -1, .sysno = SYS_unlinkat,
                       .args = {AT_FDCWD, (long)"/nonexistent/lxa", 0}};
    CHECK(lxa_pool_submit(pool, &stat_job) == 0);
    CHECK(lxa_pool_submit(pool, &missing) == 0);
    CHECK(collect(pool, efd, NULL, 2) == 2);
    CHECK(stat_job.result == 0 && stx.stx_size == 5);
    CHECK(missing.result == -ENOENT);

    lxa_job close_job = {.opcode = LXA_OP_SYSCALL, .fd = -1, .sysno = SYS_close, .args = {fd}};
    CHECK(lxa_pool_submit(pool, &close_job) == 0);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(close_job.result == 0 && fcntl(fd, F_GETFD) < 0 && errno == EBADF);

    lxa_pool_shutdown(pool);
    lxa_pool_destroy(pool);
    close(efd);
    CHECK(unlink(path) == 0 && rmdir(dir) == 0);
}

/* LXA_OP_UNLINKAT_MANY and LXA_OP_COPY_FILE: several calls in one job. */
static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    CHECK(close(fd) == 0);
}

static void test_fs_jobs(void)
{
    char dir[] = "/tmp/lxa_pool_fsjob_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    static char big[300000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 13);
    CHECK(fchdir(dfd) == 0);
    write_file("a", big, sizeof(big), 0640);
    write_file("empty", "", 0, 0600);
    write_file("old", "previous, longer content", 24, 0600);
    CHECK(mkdir("sub", 0700) == 0);
    struct timespec times[2] = {{.tv_sec = 1000, .tv_nsec = 5}, {.tv_sec = 2000, .tv_nsec = 7}};
    CHECK(utimensat(dfd, "a", times, 0) == 0);

    int efd = lxa_eventfd_open();
    lxa_pool *pool;
    CHECK(lxa_pool_create(&pool, 2, efd) == 0);

    int64_t steps[6] = {-1, -1, -1, -1, -1, -1};
    lxa_job copies[6] = {
        /* data, mode and times (as they were before the copy read "a") into a new file */
        {.opcode = LXA_OP_COPY_FILE,
         .args = {dfd, (long)"a", dfd, (long)"b", LXA_COPY_MODE | LXA_COPY_TIMES | LXA_COPY_STAT_FIRST, (long)&steps[0]}},
        /* into an existing longer file: truncated first */
        {.opcode = LXA_OP_COPY_FILE, .args = {dfd, (long)"empty", dfd, (long)"old", 0, (long)&steps[1]}},
        /* not done: a directory, a missing source, the file itself, a missing target directory */
        {.opcode = LXA_OP_COPY_FILE, .args = {dfd, (long)"sub", dfd, (long)"x", 0, (long)&steps[2]}},
        {.opcode = LXA_OP_COPY_FILE, .args = {dfd, (long)"missing", dfd, (long)"x", 0, (long)&steps[3]}},
        {.opcode = LXA_OP_COPY_FILE, .args = {dfd, (long)"a", AT_FDCWD, (long)"a", 0, (long)&steps[4]}},
        {.opcode = LXA_OP_COPY_FILE, .args = {dfd, (long)"a", dfd, (long)"nodir/x", 0, (long)&steps[5]}},
    };
    for (int i = 0; i < 6; i++)
        CHECK(lxa_pool_submit(pool, &copies[i]) == 0);
    CHECK(collect(pool, efd, NULL, 6) == 6);
    CHECK(copies[0].result == (int64_t)sizeof(big) && steps[0] == 0);
    CHECK(copies[1].result == 0 && steps[1] == 0);
    for (int i = 2; i < 6; i++)
        CHECK(copies[i].result < 0 && steps[i] == LXA_COPY_UNSUITABLE);
    struct stat st;
    CHECK(stat("b", &st) == 0 && st.st_size == (off_t)sizeof(big) && (st.st_mode & 07777) == 0640);
    CHECK(st.st_mtim.tv_sec == 2000 && st.st_mtim.tv_nsec == 7);
    CHECK(st.st_atim.tv_sec == 1000 && st.st_atim.tv_nsec == 5);
    CHECK(stat("old", &st) == 0 && st.st_size == 0);
    CHECK(stat("a", &st) == 0 && st.st_size == (off_t)sizeof(big)); /* untouched by "a" -> "a" */
    static char back[sizeof(big)];
    int fd = open("b", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && read(fd, back, sizeof(back)) == (ssize_t)sizeof(back) && close(fd) == 0);
    CHECK(memcmp(back, big, sizeof(big)) == 0);
    CHECK(access("x", F_OK) != 0);

    const char *names[] = {"a", "missing", "sub", "b", "old", "empty"};
    int32_t errs[6] = {-1, -1, -1, -1, -1, -1};
    lxa_job unlink_job = {.opcode = LXA_OP_UNLINKAT_MANY, .fd = dfd, .buf = (void *)names, .len = 6,
                          .args = {0, (long)errs}};
    int32_t dir_err = -1;
    const char *dirs[] = {"sub"};
    lxa_job rmdir_job = {.opcode = LXA_OP_UNLINKAT_MANY, .fd = dfd, .buf = (void *)dirs, .len = 1,
                         .args = {AT_REMOVEDIR, (long)&dir_err}};
    lxa_job none = {.opcode = LXA_OP_UNLINKAT_MANY, .fd = dfd, .buf = NULL, .len = 0, .args = {0, 0}};
    CHECK(lxa_pool_submit(pool, &unlink_job) == 0);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(lxa_pool_submit(pool, &rmdir_job) == 0);
    CHECK(lxa_pool_submit(pool, &none) == 0);
    CHECK(collect(pool, efd, NULL, 2) == 2);
    CHECK(unlink_job.result == 2 && rmdir_job.result == 0 && none.result == 0);
    CHECK(errs[0] == 0 && errs[1] == ENOENT && errs[2] == EISDIR && errs[3] == 0 && errs[4] == 0 && errs[5] == 0);
    CHECK(dir_err == 0);

    /* LXA_OP_LIST_DIR: the (now empty) directory in one job, closed; kept open on request;
     * a buffer too small to hold anything: the fd stays open, nothing read. */
    static char records[8192];
    int64_t out[3][2];
    lxa_job lists[4] = {
        {.opcode = LXA_OP_LIST_DIR, .buf = records, .len = sizeof(records), .args = {dfd, (long)".", 0, (long)out[0], 0}},
        {.opcode = LXA_OP_LIST_DIR, .buf = records, .len = sizeof(records), .args = {AT_FDCWD, (long)dir, 0, (long)out[1], 1}},
        {.opcode = LXA_OP_LIST_DIR, .buf = records, .len = 100, .args = {AT_FDCWD, (long)dir, 0, (long)out[2], 0}},
        {.opcode = LXA_OP_LIST_DIR, .buf = records, .len = sizeof(records), .args = {AT_FDCWD, (long)"/nonexistent/x", 0, (long)out[0], 0}},
    };
    CHECK(lxa_pool_submit(pool, &lists[0]) == 0);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(lists[0].result > 0 && out[0][0] == -1 && out[0][1] == 1); /* "." and ".." */
    CHECK(lxa_pool_submit(pool, &lists[1]) == 0);
    CHECK(lxa_pool_submit(pool, &lists[2]) == 0);
    CHECK(collect(pool, efd, NULL, 2) == 2);
    CHECK(lists[1].result > 0 && out[1][0] >= 0 && out[1][1] == 1);
    CHECK(lists[2].result == 0 && out[2][0] >= 0 && out[2][1] == 0);
    CHECK(close((int)out[1][0]) == 0 && close((int)out[2][0]) == 0);
    CHECK(lxa_pool_submit(pool, &lists[3]) == 0);
    CHECK(collect(pool, efd, NULL, 1) == 1);
    CHECK(lists[3].result == -ENOENT && out[0][0] == -1);

    lxa_pool_shutdown(pool);
    lxa_pool_destroy(pool);
    close(efd);
    CHECK(chdir("/") == 0);
    close(dfd);
    CHECK(rmdir(dir) == 0);
}

int main(void)
{
    test_reads();
    test_pipe_order();
    test_cancel();
    test_fork();
    test_shutdown_stops_blocked_streams();
    test_long_stream_writes();
    test_nonblocking_pipe_reports_eagain();
    test_syscall_jobs();
    test_fs_jobs();
    puts("ok");
    return 0;
}
