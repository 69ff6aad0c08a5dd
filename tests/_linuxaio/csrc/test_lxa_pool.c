/* C-level test of csrc/lxa_pool.c, compiled and run by test_lxa_pool_c.py.
 * Exits 0 on success; on failure prints the failed check and exits 1. */
#define _GNU_SOURCE
#include "lxa_pool.h"
#include "lxa_eventfd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
    test_reads();
    test_pipe_order();
    test_cancel();
    test_fork();
    puts("ok");
    return 0;
}
