/* The write guard (csrc/lxa_wguard.h) on its own: sampling, charging, the test
 * threshold, tripping on a slow write, and lxa_pwrite_all's results. */
#define _GNU_SOURCE /* O_DIRECT, as the extensions get it from Python.h */
#include "lxa_wguard.h"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* A clock one trust period later at each call: no verdict is trusted from one call to the next. */
static int64_t fake_clock_ns;
#define LATER() (fake_clock_ns += LXA_WGUARD_TRUST_NS)

int main(void)
{
    lxa_wguard g;
    lxa_wguard_init(&g);
    int64_t now = lxa_wguard_now_ns();

    /* Fields are matched whole: nr_dirty is not nr_dirty_threshold. */
    const char *text = "nr_dirty_threshold 99\nnr_dirty 7\nnr_writeback 3\nnr_dirty_background_threshold 50\n";
    CHECK(lxa_wguard_field(text, "nr_dirty") == 7);
    CHECK(lxa_wguard_field(text, "nr_writeback") == 3);
    CHECK(lxa_wguard_field(text, "nr_dirty_background_threshold") == 50);
    CHECK(lxa_wguard_field(text, "nr_missing") == -1);

    /* Too big for inline: the pool, without sampling. */
    CHECK(lxa_wguard_allow(&g, LXA_WGUARD_MAX_BYTES + 1, now) == 0);
    CHECK(g.samples == 0);

    /* A threshold of 0 pages: nothing is allowed inline. */
    lxa_wguard_set_test_threshold(&g, 0);
    CHECK(lxa_wguard_allow(&g, 4096, now) == 0);
    CHECK(g.samples == 1);

    /* A sample's headroom is its threshold less the dirty and writeback pages. */
    lxa_wguard_set_test_threshold(&g, 0);
    CHECK(lxa_wguard_sample(&g, now) == 0);
    CHECK(g.headroom_pages <= 0);
    lxa_wguard_set_test_threshold(&g, 1LL << 40);
    CHECK(lxa_wguard_sample(&g, now) == 0);
    CHECK(g.headroom_pages > (1LL << 39));
    /* Room for exactly three 4 KiB writes (each is charged 2 pages) in this
     * sample: the fourth goes to the pool. The headroom is set here, not from
     * the machine's dirty count, which other processes' writes move between
     * two samples (a loaded CI run saw it). */
    g.headroom_pages = 6;
    CHECK(lxa_wguard_allow(&g, 4096, now) == 1);
    CHECK(lxa_wguard_allow(&g, 4096, now) == 1);
    CHECK(lxa_wguard_allow(&g, 4096, now) == 1);
    CHECK(lxa_wguard_allow(&g, 4096, now) == 0);
    /* No new sample before LXA_WGUARD_SAMPLE_NS: still charged. */
    CHECK(lxa_wguard_allow(&g, 4096, now + 1000) == 0);
    /* A write let through but refused before writing (ESPIPE) gives its pages
     * back and counts as a pool write: room for one more inline write. */
    uint64_t inline_before = g.inline_writes, pool_before = g.pool_writes;
    lxa_wguard_not_written(&g, 4096);
    CHECK(g.headroom_pages == 2 && g.inline_writes == inline_before - 1 && g.pool_writes == pool_before + 1);
    CHECK(lxa_wguard_allow(&g, 4096, now + 1000) == 1);
    CHECK(lxa_wguard_allow(&g, 4096, now + 1000) == 0);

    /* The real threshold again (nr_dirty_background_threshold): a write goes
     * inline if that sample leaves it room. (Whether it does depends on the
     * machine's writes at that moment: the test asserts the agreement.) */
    lxa_wguard_set_test_threshold(&g, -1);
    CHECK(lxa_wguard_sample(&g, now) == 0);
    int room = g.headroom_pages >= 2;
    CHECK(lxa_wguard_allow(&g, 4096, now) == room);

    /* A slow inline write trips the guard for the shortest cooldown, then it
     * recovers (with room no machine fills: the recovery takes a new sample). */
    lxa_wguard_set_test_threshold(&g, 1LL << 40);
    int64_t t = now + LXA_WGUARD_SLOW_NS + 1;
    lxa_wguard_done(&g, now, t);
    CHECK(g.trips == 1);
    CHECK(lxa_wguard_allow(&g, 4096, t + 1) == 0);
    CHECK(lxa_wguard_allow(&g, 4096, t + LXA_WGUARD_COOLDOWN_MIN_NS - 1) == 0);
    CHECK(lxa_wguard_allow(&g, 4096, t + LXA_WGUARD_COOLDOWN_MIN_NS) == 1);
    /* A fast one does not trip it. */
    lxa_wguard_done(&g, t, t + 1000);
    CHECK(g.trips == 1);
    /* Slow writes that follow a cooldown's end within the trip memory double
     * the cooldown each time, up to LXA_WGUARD_COOLDOWN_NS. */
    int64_t expected = LXA_WGUARD_COOLDOWN_MIN_NS;
    for (int i = 0; i < 8; i++) {
        t = g.tripped_until_ns + LXA_WGUARD_TRIP_MEMORY_NS / 2;
        CHECK(lxa_wguard_allow(&g, 4096, t) == 1);
        lxa_wguard_done(&g, t, t + LXA_WGUARD_SLOW_NS + 1);
        expected = expected * 2 < LXA_WGUARD_COOLDOWN_NS ? expected * 2 : LXA_WGUARD_COOLDOWN_NS;
        CHECK(g.tripped_until_ns - (t + LXA_WGUARD_SLOW_NS + 1) == expected);
        CHECK(lxa_wguard_allow(&g, 4096, g.tripped_until_ns - 1) == 0);
    }
    CHECK(expected == LXA_WGUARD_COOLDOWN_NS);
    CHECK(g.trips == 9);
    /* One after a longer calm starts again from the shortest. */
    t = g.tripped_until_ns + LXA_WGUARD_TRIP_MEMORY_NS;
    lxa_wguard_done(&g, t, t + LXA_WGUARD_SLOW_NS + 1);
    CHECK(g.tripped_until_ns - (t + LXA_WGUARD_SLOW_NS + 1) == LXA_WGUARD_COOLDOWN_MIN_NS);
    CHECK(g.trips == 10);
    /* The test hook moves the limit: a 1 ms write is slow only under the default. */
    lxa_wguard_set_test_slow_ns(&g, 1000000000LL);
    lxa_wguard_done(&g, now, now + 1000000);
    CHECK(g.trips == 10);
    lxa_wguard_set_test_slow_ns(&g, -1);
    lxa_wguard_done(&g, now, now + 1000000);
    CHECK(g.trips == 11);

    /* lxa_pwrite_all: everything lands; errors are -errno. */
    char path[] = "/tmp/lxa_wguard_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    char data[10000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)i;
    CHECK(lxa_pwrite_all(fd, data, sizeof(data), 100) == (int64_t)sizeof(data));
    char back[10000];
    CHECK(pread(fd, back, sizeof(back), 100) == (ssize_t)sizeof(back));
    CHECK(memcmp(data, back, sizeof(data)) == 0);
    CHECK(lxa_pwrite_all(-1, data, 1, 0) == -EBADF);
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (full >= 0) {
        CHECK(lxa_pwrite_all(full, data, 1, 0) == -ENOSPC);
        close(full);
    }
    /* Which descriptors may be written inline: a buffered regular file on a
     * local file system, not a device, a pipe or an O_DIRECT descriptor. Each
     * call comes a trust period after the last (LATER), so each checks. */
    int fd_ok = lxa_wguard_fd_inline(&g, fd, LATER());
    CHECK(fd_ok == 1 || fd_ok == 0); /* 0 where /tmp is on a network or FUSE file system */
    CHECK(lxa_wguard_fd_inline(&g, fd, LATER()) == fd_ok); /* the second answer comes from the table */
    CHECK(g.nfiles > fd && g.files[fd].verdict == (fd_ok ? 1 : 2));
    if (fd_ok == 1) {
        /* Within its trust a descriptor found writable is not checked again (a
         * number reused meanwhile answers as before); lxa_wguard_forget, the
         * close_fd operation's, ends the trust at once. */
        int64_t t = LATER();
        CHECK(lxa_wguard_fd_inline(&g, fd, t) == 1);
        int saved = dup(fd);
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        CHECK(saved >= 0 && devnull >= 0 && dup2(devnull, fd) == fd);
        CHECK(lxa_wguard_fd_inline(&g, fd, t + LXA_WGUARD_TRUST_NS - 1) == 1); /* trusted: no check */
        lxa_wguard_forget(&g, fd);
        CHECK(lxa_wguard_fd_inline(&g, fd, t + 1) == 0); /* checked: /dev/null */
        CHECK(dup2(saved, fd) == fd);
        close(saved);
        close(devnull);
        lxa_wguard_set_test_trust_ns(&g, 0); /* no trust: every call checks */
        CHECK(lxa_wguard_fd_inline(&g, fd, t) == 1 && g.files[fd].trusted_until_ns == 0);
        lxa_wguard_set_test_trust_ns(&g, -1);
        CHECK(g.trust_ns == LXA_WGUARD_TRUST_NS);
    }
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(null >= 0 && lxa_wguard_fd_inline(&g, null, LATER()) == 0);
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    CHECK(lxa_wguard_fd_inline(&g, pipefd[1], LATER()) == 0);
    close(pipefd[0]);
    close(pipefd[1]);
    /* The table is keyed by descriptor number, which close(2) frees for the
     * next file: a number that now names another file is classified anew.
     * A procfs file is a regular file on a file system that is not local. */
    int proc = open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
    CHECK(proc >= 0 && lxa_wguard_fd_inline(&g, proc, LATER()) == 0);
    CHECK(g.files[proc].verdict == 2);
    if (fd_ok == 1) {
        CHECK(dup2(fd, proc) == proc); /* the local file takes the procfs file's number */
        CHECK(lxa_wguard_fd_inline(&g, proc, LATER()) == 1);
        int proc2 = open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
        CHECK(proc2 >= 0 && dup2(proc2, proc) == proc); /* and back */
        CHECK(lxa_wguard_fd_inline(&g, proc, LATER()) == 0);
        close(proc2);
        /* /dev/null takes a local file's number: not a regular file. */
        CHECK(dup2(null, proc) == proc && dup2(fd, null) == null);
        CHECK(lxa_wguard_fd_inline(&g, null, LATER()) == 1);
        CHECK(dup2(proc, null) == null);
        CHECK(lxa_wguard_fd_inline(&g, null, LATER()) == 0);
    }
    close(proc);
    close(null);
    /* O_DIRECT can be set on a classified descriptor at any time. */
    CHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) == 0 || errno == EINVAL);
    if (fcntl(fd, F_GETFL) & O_DIRECT)
        CHECK(lxa_wguard_fd_inline(&g, fd, LATER()) == 0);
    CHECK(lxa_wguard_fd_inline(&g, -1, LATER()) == -EBADF);
    CHECK(lxa_wguard_fd_inline(&g, LXA_WGUARD_FD_MAX + 5, LATER()) == -EBADF);
    free(g.files);
    close(fd);
    if (g.vmstat_fd >= 0)
        close(g.vmstat_fd);
    puts("ok");
    return 0;
}
