/* Unit test of csrc/lxu_ring.c (driven by tests/_linuxaio/test_lxu_ring_c.py).
 * Prints "ok" and exits 0 on success; "skip: <reason>" and exits 0 where the
 * kernel refuses io_uring; otherwise a failure message and exit 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lxu_ring.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

static const unsigned FLAG_SETS[] = {
    0,
    IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
};

/* Wait for `n` completions, with io_uring_enter when the ring needs it. */
static unsigned reap_n(struct lxu_ring *ring, struct lxu_cqe *out, unsigned n)
{
    unsigned got = 0;
    while (got < n) {
        got += lxu_reap(ring, out + got, n - got);
        if (got < n)
            CHECK(lxu_get_events(ring, 1) >= 0);
    }
    return got;
}

static void test_read_write(unsigned flags, const char *dir)
{
    struct lxu_ring ring;
    struct lxu_cqe cqe[64];
    struct io_uring_sqe *sqe;
    char path[4096], buf[64][16], out[16];
    int fd, efd, i, rc;
    uint64_t counter;

    CHECK(lxu_ring_init(&ring, 16, 0, flags, 0) == 0);
    CHECK(ring.cq_entries == 2 * ring.sq_entries);
    CHECK(lxu_fd_flags(ring.fd) & FD_CLOEXEC);
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(efd >= 0);
    CHECK(lxu_register_eventfd(ring.fd, efd) == 0);

    snprintf(path, sizeof(path), "%s/lxu_rw_%u", dir, flags);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    /* One write, then 16 reads in one io_uring_enter. */
    sqe = lxu_get_sqe(&ring);
    CHECK(sqe != NULL);
    lxu_prep_rw(sqe, LXU_OP_WRITE, fd, "0123456789abcdef", 16, 0, 7);
    CHECK(lxu_sq_pending(&ring) == 1);
    CHECK(lxu_submit(&ring, 1) == 1);
    CHECK(reap_n(&ring, cqe, 1) == 1);
    CHECK(cqe[0].user_data == 7 && cqe[0].res == 16);
    for (i = 0; i < 16; i++) {
        sqe = lxu_get_sqe(&ring);
        CHECK(sqe != NULL);
        lxu_prep_rw(sqe, LXU_OP_READ, fd, buf[i], 16 - i, (uint64_t)i, 100 + (uint64_t)i);
    }
    CHECK(lxu_get_sqe(&ring) == NULL); /* SQ full */
    rc = lxu_submit(&ring, 0);
    CHECK(rc == 16);
    CHECK(lxu_sq_pending(&ring) == 0);
    CHECK(reap_n(&ring, cqe, 16) == 16);
    for (i = 0; i < 16; i++) {
        unsigned k = (unsigned)(cqe[i].user_data - 100);
        CHECK(k < 16);
        CHECK(cqe[i].res == (int32_t)(16 - k));
        CHECK(memcmp(buf[k], "0123456789abcdef" + k, 16 - k) == 0);
    }
    CHECK(lxu_cq_ready(&ring) == 0);
    /* The eventfd was signalled (with DEFER_TASKRUN too). */
    CHECK(read(efd, &counter, sizeof(counter)) == sizeof(counter) && counter >= 1);

    /* fsync, fdatasync, and a failing read (bad descriptor). */
    sqe = lxu_get_sqe(&ring);
    lxu_prep_rw(sqe, LXU_OP_FSYNC, fd, NULL, 0, 0, 1);
    sqe = lxu_get_sqe(&ring);
    lxu_prep_rw(sqe, LXU_OP_FSYNC, fd, NULL, 0, 0, 2);
    sqe->fsync_flags = IORING_FSYNC_DATASYNC;
    sqe = lxu_get_sqe(&ring);
    lxu_prep_rw(sqe, LXU_OP_READ, 1 << 20, out, 16, 0, 3);
    CHECK(lxu_submit(&ring, 3) == 3);
    CHECK(reap_n(&ring, cqe, 3) == 3);
    for (i = 0; i < 3; i++)
        CHECK(cqe[i].user_data == 3 ? cqe[i].res == -EBADF : cqe[i].res == 0);
    close(fd);
    unlink(path);
    lxu_ring_exit(&ring);
    lxu_ring_exit(&ring); /* idempotent */
    CHECK(ring.fd == -1);
    close(efd);
}

/* More completions than CQ entries: NODROP keeps them in the kernel's
 * backlog, IORING_SQ_CQ_OVERFLOW says so, and an enter flushes them. */
static void test_overflow(unsigned flags)
{
    struct lxu_ring ring;
    struct lxu_cqe cqe[64];
    struct io_uring_sqe *sqe;
    unsigned got = 0, round, i, total = 0;

    CHECK(lxu_ring_init(&ring, 8, 8, flags, 0) == 0);
    CHECK(ring.cq_entries == 8);
    if (!(ring.features & IORING_FEAT_NODROP)) {
        lxu_ring_exit(&ring);
        return;
    }
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 8; i++) {
            sqe = lxu_get_sqe(&ring);
            CHECK(sqe != NULL);
            lxu_prep_rw(sqe, LXU_OP_NOP, -1, NULL, 0, 0, 1000 + total++);
        }
        CHECK(lxu_submit(&ring, 0) == 8);
    }
    if (flags & IORING_SETUP_DEFER_TASKRUN)
        CHECK(lxu_get_events(&ring, 0) >= 0);
    CHECK(lxu_cq_ready(&ring) == 8);
    CHECK(lxu_needs_enter(&ring));
    while (got < total) {
        unsigned n = lxu_reap(&ring, cqe, 64);
        for (i = 0; i < n; i++)
            CHECK(cqe[i].user_data >= 1000 && cqe[i].user_data < 1000 + total && cqe[i].res == 0);
        got += n;
        if (got < total) {
            CHECK(lxu_needs_enter(&ring));
            CHECK(lxu_get_events(&ring, 0) >= 0);
        }
    }
    CHECK(got == 24);
    CHECK(!lxu_needs_enter(&ring));
    lxu_ring_exit(&ring);
}

/* A read blocked on a pipe is withdrawn by IORING_OP_ASYNC_CANCEL. */
static void test_cancel_pipe(unsigned flags)
{
    struct lxu_ring ring;
    struct lxu_cqe cqe[4];
    struct io_uring_sqe *sqe;
    int p[2], i, seen_read = 0, seen_cancel = 0;
    char buf[8];

    CHECK(lxu_ring_init(&ring, 4, 0, flags, 0) == 0);
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    sqe = lxu_get_sqe(&ring);
    lxu_prep_rw(sqe, LXU_OP_READ, p[0], buf, sizeof(buf), (uint64_t)-1, 42);
    CHECK(lxu_submit(&ring, 0) == 1);
    if (flags & IORING_SETUP_DEFER_TASKRUN)
        CHECK(lxu_get_events(&ring, 0) >= 0);
    CHECK(lxu_cq_ready(&ring) == 0);
    sqe = lxu_get_sqe(&ring);
    lxu_prep_rw(sqe, LXU_OP_ASYNC_CANCEL, -1, NULL, 0, 0, 43);
    sqe->addr = 42;
    CHECK(lxu_submit(&ring, 2) == 1);
    CHECK(reap_n(&ring, cqe, 2) == 2);
    for (i = 0; i < 2; i++) {
        if (cqe[i].user_data == 42) {
            CHECK(cqe[i].res == -ECANCELED || cqe[i].res == -EINTR);
            seen_read = 1;
        } else {
            CHECK(cqe[i].user_data == 43);
            CHECK(cqe[i].res == 0);
            seen_cancel = 1;
        }
    }
    CHECK(seen_read && seen_cancel);
    close(p[0]);
    close(p[1]);
    lxu_ring_exit(&ring);
}

static void test_probe(void)
{
    struct lxu_ring ring;
    unsigned char supported[LXU_OP_MAX];
    int n;

    CHECK(lxu_ring_init(&ring, 2, 0, 0, 0) == 0);
    n = lxu_ring_probe(ring.fd, supported);
    CHECK(n > LXU_OP_WRITE);
    CHECK(supported[LXU_OP_NOP] && supported[LXU_OP_READ] && supported[LXU_OP_WRITE]);
    CHECK(supported[LXU_OP_FSYNC] && supported[LXU_OP_ASYNC_CANCEL]);
    CHECK(!supported[LXU_OP_MAX - 1]);
    CHECK(lxu_ring_probe(-1, supported) < 0);
    lxu_ring_exit(&ring);
}

int main(int argc, char **argv)
{
    struct lxu_ring ring;
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    size_t i;
    int rc = lxu_ring_init(&ring, 2, 0, 0, 0);

    if (rc == -ENOSYS || rc == -EPERM) {
        printf("skip: io_uring_setup: %s\n", strerror(-rc));
        return 0;
    }
    CHECK(rc == 0);
    lxu_ring_exit(&ring);
    CHECK(lxu_ring_init(&ring, 0, 0, 0, 0) == -EINVAL);
    CHECK(ring.fd == -1);
    CHECK(lxu_submit(&ring, 0) == -EBADF);
    CHECK(lxu_get_sqe(&ring) == NULL);
    test_probe();
    for (i = 0; i < sizeof(FLAG_SETS) / sizeof(FLAG_SETS[0]); i++) {
        rc = lxu_ring_init(&ring, 2, 0, FLAG_SETS[i], 0);
        if (rc == -EINVAL)
            continue; /* an older kernel without these flags */
        CHECK(rc == 0);
        lxu_ring_exit(&ring);
        test_read_write(FLAG_SETS[i], dir);
        test_overflow(FLAG_SETS[i]);
        test_cancel_pipe(FLAG_SETS[i]);
    }
    printf("ok\n");
    return 0;
}
