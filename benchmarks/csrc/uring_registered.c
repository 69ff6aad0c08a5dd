/* Do io_uring's registered files and buffers pay for the workloads linux_uring serves?
 *
 * A ceiling measurement in C on the backend's own ring layer (csrc/lxu_ring.c,
 * same setup flags as linux_uring: SUBMIT_ALL | COOP_TASKRUN), so that what
 * Python adds per operation is absent: if registering saves little here, it
 * saves less behind a coroutine. Built and run by `python -m benchmarks.registered`.
 *
 *   uring_registered cached PATH N [FLAGS]
 *                                    4 KiB random reads of the first 64 MiB of a
 *                                    cached file, 1 in flight (W1's shape), N reads
 *   uring_registered direct PATH N [FLAGS]
 *                                    4 KiB random O_DIRECT reads over the whole
 *                                    file, 64 in flight (W5's shape), N reads
 *
 * FLAGS: IORING_SETUP_* for io_uring_setup (default 0x180, linux_uring's
 * SUBMIT_ALL | COOP_TASKRUN; e.g. 0x3080 adds SINGLE_ISSUER | DEFER_TASKRUN).
 *
 * Each mode runs four variants in turn, three rounds, and prints one line per
 * variant and round: plain descriptor and buffer; IOSQE_FIXED_FILE (the file
 * registered with IORING_REGISTER_FILES, io_uring_register(2)); READ_FIXED
 * from a buffer registered with IORING_REGISTER_BUFFERS; both. Figures:
 * operations per second of wall time and microseconds of this process's CPU
 * (user + system, getrusage(2)) per operation.
 *
 * Exit status: 0; 2 for bad arguments; UNSUPPORTED (77) when this machine
 * refuses the set-up (io_uring, a registration, O_DIRECT on the file's file
 * system, memory); 1 when a read fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lxu_ring.h"

#define BLOCK 4096
#define DEPTH 64
#define CACHED_SPAN (64u << 20)

enum { FIXED_FILE = 1, FIXED_BUFFER = 2 };

/* The exit status for "this machine refuses the set-up" (automake's skip code). */
#define UNSUPPORTED 77

static const char *const VARIANT_NAMES[] = {"plain", "fixed file", "fixed buffer", "fixed file + buffer"};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static uint64_t next_random(uint64_t *state)
{
    /* xorshift64: enough to spread offsets, the same sequence for every variant. */
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "%s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    return 1;
}

static int unsupported(const char *what, int rc)
{
    fail(what, rc);
    return UNSUPPORTED;
}

static void prep_read(struct io_uring_sqe *sqe, int variant, int fd, char *buf, unsigned slot, uint64_t offset)
{
    if (variant & FIXED_BUFFER) {
        lxu_prep_rw(sqe, IORING_OP_READ_FIXED, (variant & FIXED_FILE) ? 0 : fd, buf, BLOCK, offset, slot);
        sqe->buf_index = (uint16_t)slot;
    } else {
        lxu_prep_rw(sqe, LXU_OP_READ, (variant & FIXED_FILE) ? 0 : fd, buf, BLOCK, offset, slot);
    }
    if (variant & FIXED_FILE)
        sqe->flags |= IOSQE_FIXED_FILE;
}

/* One variant: `total` reads, `depth` in flight, offsets in [0, span). */
static int run(int variant, unsigned setup_flags, int fd, char *buffers, unsigned depth, uint64_t span,
               unsigned long total)
{
    struct lxu_ring ring;
    struct lxu_cqe done[DEPTH];
    struct iovec iov[DEPTH];
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    unsigned long submitted = 0, completed = 0;
    unsigned i, n;
    double t0, c0, seconds, cpu;
    int rc;

    rc = lxu_ring_init(&ring, 2 * DEPTH, 0, setup_flags, 0);
    if (rc < 0)
        return unsupported("io_uring_setup", rc);
    if (variant & FIXED_FILE) {
        rc = (int)syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_FILES, &fd, 1);
        if (rc < 0) {
            rc = -errno;
            lxu_ring_exit(&ring);
            return unsupported("IORING_REGISTER_FILES", rc);
        }
    }
    if (variant & FIXED_BUFFER) {
        for (i = 0; i < depth; i++) {
            iov[i].iov_base = buffers + (size_t)i * BLOCK;
            iov[i].iov_len = BLOCK;
        }
        rc = (int)syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_BUFFERS, iov, depth);
        if (rc < 0) {
            rc = -errno;
            lxu_ring_exit(&ring);
            return unsupported("IORING_REGISTER_BUFFERS", rc);
        }
    }
    t0 = now();
    c0 = cpu_seconds();
    for (i = 0; i < depth && submitted < total; i++, submitted++) {
        prep_read(lxu_get_sqe(&ring), variant, fd, buffers + (size_t)i * BLOCK, i, next_random(&state) % (span / BLOCK) * BLOCK);
    }
    while (completed < total) {
        rc = lxu_submit(&ring, 1);
        if (rc < 0) {
            lxu_ring_exit(&ring);
            return fail("io_uring_enter", rc);
        }
        n = lxu_reap(&ring, done, DEPTH);
        for (i = 0; i < n; i++) {
            unsigned slot = (unsigned)done[i].user_data;
            if (done[i].res != BLOCK) {
                lxu_ring_exit(&ring); /* the kernel cancels the other reads */
                if (done[i].res == -EINVAL || done[i].res == -EOPNOTSUPP)
                    return unsupported("read", done[i].res); /* e.g. O_DIRECT refused at I/O time */
                return fail("read", done[i].res < 0 ? done[i].res : EIO);
            }
            completed++;
            if (submitted < total) {
                prep_read(lxu_get_sqe(&ring), variant, fd, buffers + (size_t)slot * BLOCK, slot,
                          next_random(&state) % (span / BLOCK) * BLOCK);
                submitted++;
            }
        }
    }
    seconds = now() - t0;
    cpu = cpu_seconds() - c0;
    lxu_ring_exit(&ring);
    printf("%-20s %10.0f ops/s %7.2f us CPU/op\n", VARIANT_NAMES[variant], (double)total / seconds, cpu * 1e6 / (double)total);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int direct, fd, rc, round, variant;
    unsigned setup_flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    unsigned depth;
    unsigned long total;
    uint64_t span;
    char *buffers;
    off_t size;

    if ((argc != 4 && argc != 5) || (strcmp(argv[1], "cached") != 0 && strcmp(argv[1], "direct") != 0)) {
        fprintf(stderr, "usage: %s cached|direct PATH N [FLAGS]\n", argv[0]);
        return 2;
    }
    direct = strcmp(argv[1], "direct") == 0;
    total = strtoul(argv[3], NULL, 10);
    if (total == 0) {
        fprintf(stderr, "N must be a positive number of reads\n");
        return 2;
    }
    if (argc == 5)
        setup_flags = (unsigned)strtoul(argv[4], NULL, 0);
    fd = open(argv[2], O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    if (fd < 0)
        return (direct && errno == EINVAL) ? unsupported(argv[2], errno) : fail(argv[2], errno);
    size = lseek(fd, 0, SEEK_END);
    if (size < 0)
        return fail("lseek", errno);
    span = direct ? (uint64_t)size : ((uint64_t)size < CACHED_SPAN ? (uint64_t)size : CACHED_SPAN);
    depth = direct ? DEPTH : 1;
    if (span < BLOCK) {
        fprintf(stderr, "%s: smaller than one %d-byte block\n", argv[2], BLOCK);
        return 2;
    }
    if (posix_memalign((void **)&buffers, BLOCK, (size_t)DEPTH * BLOCK) != 0)
        return unsupported("posix_memalign", ENOMEM);
    memset(buffers, 0, (size_t)DEPTH * BLOCK);
    for (round = 0; round < 3; round++)
        for (variant = 0; variant < 4; variant++)
            if ((rc = run(variant, setup_flags, fd, buffers, depth, span, total)) != 0)
                return rc;
    free(buffers);
    close(fd);
    return 0;
}
