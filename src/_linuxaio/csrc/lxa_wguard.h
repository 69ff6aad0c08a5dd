/* May a buffered write run on the event loop's thread without sleeping?
 * Plain C, no Python.h; functions return 0/1 or -errno.
 *
 * Why: ext4 refuses RWF_NOWAIT for buffered writes (EOPNOTSUPP), so a write
 * that must not block the loop goes to a worker thread, and the hop costs more
 * than the write (a 4 KiB pwrite into the page cache takes a few microseconds).
 * A buffered write sleeps mainly in balance_dirty_pages(): the kernel throttles
 * a writer only once the dirty + writeback pages pass the "freerun" point,
 * halfway between vm.dirty_background_ratio's and vm.dirty_ratio's page counts
 * (mm/page-writeback.c). Below the background threshold it never throttles.
 *
 * The guard lets a write of at most LXA_WGUARD_MAX_BYTES run inline while:
 *  - the last sample of /proc/vmstat (taken at most every
 *    LXA_WGUARD_SAMPLE_NS) showed nr_dirty + nr_writeback below
 *    nr_dirty_background_threshold, less what inline writes have dirtied
 *    since (each one is charged its pages at once);
 *  - no inline write took longer than LXA_WGUARD_SLOW_NS in the last
 *    cooldown (a write that slept for another reason: the journal, reclaim,
 *    a page under writeback, a lock). The first slow write, or one that
 *    comes LXA_WGUARD_TRIP_MEMORY_NS or more after the last cooldown ended,
 *    is met with LXA_WGUARD_COOLDOWN_MIN_NS; one that comes sooner doubles
 *    the last cooldown, up to LXA_WGUARD_COOLDOWN_NS. A write the host preempted once (a virtual
 *    machine's stolen time looks the same from here) costs a few
 *    milliseconds of thread hops, not 100, and a file system that keeps
 *    sleeping reaches the full cooldown after five slow writes.
 * Everything else goes to the pool at once. The caller bounds the loop time
 * spent inline per iteration (the adapter's time slice).
 *
 * One guard per process: the dirty-page state is system-wide. Not
 * thread-safe; the compiled backends use it with the GIL held. */
#ifndef LXA_WGUARD_H
#define LXA_WGUARD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* statx */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define LXA_WGUARD_MAX_BYTES (256 * 1024)
#define LXA_WGUARD_SAMPLE_NS (10 * 1000 * 1000LL)    /* 10 ms between /proc/vmstat reads */
#define LXA_WGUARD_SLOW_NS (250 * 1000LL)            /* an inline write slower than this ... */
#define LXA_WGUARD_COOLDOWN_MIN_NS (6250 * 1000LL)       /* ... sends writes to the pool for this long, */
#define LXA_WGUARD_COOLDOWN_NS (100 * 1000 * 1000LL)     /* doubling per slow write up to this */
#define LXA_WGUARD_TRIP_MEMORY_NS (1000 * 1000 * 1000LL) /* while each follows a cooldown's end by less */
#define LXA_WGUARD_PAGE 4096
#define LXA_WGUARD_FD_MAX 65536 /* descriptors above this are classified anew each time */
#define LXA_WGUARD_TRUST_NS (250 * 1000LL) /* a descriptor found writable inline stays so this long */

/* What lxa_wguard_fd_inline learned of a descriptor's file: the file's
 * identity and whether its file system takes inline writes. */
typedef struct lxa_wguard_file {
    uint64_t dev;
    uint64_t ino;
    uint64_t mnt_id; /* the mount: an anonymous device number (tmpfs, NFS, FUSE) is reused after umount */
    int verdict;     /* 0: not classified, 1: local (inline allowed), 2: not local */
    int64_t trusted_until_ns; /* verdict 1 holds without a system call until then (LXA_WGUARD_TRUST_NS) */
} lxa_wguard_file;

typedef struct lxa_wguard {
    int vmstat_fd;               /* /proc/vmstat (O_CLOEXEC), -1 before the first sample */
    int unusable;                /* /proc/vmstat cannot be read here: never inline */
    int64_t next_sample_ns;      /* no new sample before this time (CLOCK_MONOTONIC) */
    int64_t headroom_pages;      /* background threshold - (dirty + writeback), less inline charges */
    int64_t tripped_until_ns;    /* a slow inline write: pool only until then */
    int64_t cooldown_ns;         /* the last trip's cooldown (0: none yet) */
    int64_t test_threshold;      /* >= 0: replaces nr_dirty_background_threshold (tests) */
    int64_t slow_ns;             /* LXA_WGUARD_SLOW_NS, or what a test set */
    int64_t trust_ns;            /* LXA_WGUARD_TRUST_NS, or what a test set */
    uint64_t inline_writes;      /* counters, for tests and diagnostics */
    uint64_t pool_writes;
    uint64_t samples;
    uint64_t trips;
    lxa_wguard_file *files;      /* indexed by descriptor number, nfiles entries (or NULL) */
    int nfiles;
} lxa_wguard;

static inline int64_t lxa_wguard_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void lxa_wguard_init(lxa_wguard *g)
{
    memset(g, 0, sizeof(*g));
    g->vmstat_fd = -1;
    g->test_threshold = -1;
    g->slow_ns = LXA_WGUARD_SLOW_NS;
    g->trust_ns = LXA_WGUARD_TRUST_NS;
}

/* In a forked child: the descriptor is inherited (and CLOEXEC); reading it is
 * safe, only the statistics restart. */
static inline void lxa_wguard_after_fork(lxa_wguard *g)
{
    g->next_sample_ns = 0;
    g->tripped_until_ns = 0;
    g->cooldown_ns = 0;
}

/* The value of "name value\n" in a /proc/vmstat text, or -1 if absent. */
static inline int64_t lxa_wguard_field(const char *text, const char *name)
{
    size_t len = strlen(name);
    const char *p = text;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[len] == ' ')
            return strtoll(p + len + 1, NULL, 10);
        p += len;
    }
    return -1;
}

/* Read /proc/vmstat and set headroom_pages. 0, or -errno (then unusable). */
static inline int lxa_wguard_sample(lxa_wguard *g, int64_t now)
{
    char text[16384];
    ssize_t n;
    if (g->vmstat_fd < 0) {
        g->vmstat_fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
        if (g->vmstat_fd < 0) {
            g->unusable = 1;
            return -errno;
        }
    }
    do {
        n = pread(g->vmstat_fd, text, sizeof(text) - 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        g->unusable = 1;
        return n < 0 ? -errno : -EIO;
    }
    text[n] = '\0';
    int64_t dirty = lxa_wguard_field(text, "nr_dirty");
    int64_t writeback = lxa_wguard_field(text, "nr_writeback");
    int64_t threshold = g->test_threshold >= 0 ? g->test_threshold
                                               : lxa_wguard_field(text, "nr_dirty_background_threshold");
    if (dirty < 0 || writeback < 0 || threshold < 0) {
        g->unusable = 1;
        return -ENOENT;
    }
    g->headroom_pages = threshold - dirty - writeback;
    g->next_sample_ns = now + LXA_WGUARD_SAMPLE_NS;
    g->samples++;
    return 0;
}

/* The pages an inline write of nbytes is charged: those it may dirty, plus one
 * for a write that straddles a page boundary. */
static inline int64_t lxa_wguard_pages(uint64_t nbytes)
{
    return (int64_t)((nbytes + LXA_WGUARD_PAGE - 1) / LXA_WGUARD_PAGE) + 1;
}

/* 1: write nbytes inline now (its pages are charged); 0: use the pool. */
static inline int lxa_wguard_allow(lxa_wguard *g, uint64_t nbytes, int64_t now)
{
    if (g->unusable || nbytes > LXA_WGUARD_MAX_BYTES || now < g->tripped_until_ns)
        goto pool;
    if (now >= g->next_sample_ns && lxa_wguard_sample(g, now) < 0)
        goto pool;
    int64_t pages = lxa_wguard_pages(nbytes);
    if (g->headroom_pages < pages)
        goto pool;
    g->headroom_pages -= pages;
    g->inline_writes++;
    return 1;
pool:
    g->pool_writes++;
    return 0;
}

/* A write lxa_wguard_allow let through was refused before anything was written
 * (ESPIPE: the descriptor is a stream now) and goes to the pool: its charge is
 * returned and it counts as a pool write. */
static inline void lxa_wguard_not_written(lxa_wguard *g, uint64_t nbytes)
{
    g->headroom_pages += lxa_wguard_pages(nbytes);
    g->inline_writes--;
    g->pool_writes++;
}

/* After an inline write that started at `started`: trip the guard if it was slow. */
static inline void lxa_wguard_done(lxa_wguard *g, int64_t started, int64_t now)
{
    if (now - started > g->slow_ns) {
        if (g->cooldown_ns && now - g->tripped_until_ns < LXA_WGUARD_TRIP_MEMORY_NS)
            g->cooldown_ns = g->cooldown_ns * 2 < LXA_WGUARD_COOLDOWN_NS ? g->cooldown_ns * 2 : LXA_WGUARD_COOLDOWN_NS;
        else
            g->cooldown_ns = LXA_WGUARD_COOLDOWN_MIN_NS;
        g->tripped_until_ns = now + g->cooldown_ns;
        g->trips++;
    }
}

/* Test hook: pretend nr_dirty_background_threshold is `pages` (< 0: the real
 * one again), effective at once (the next call samples again). */
static inline void lxa_wguard_set_test_threshold(lxa_wguard *g, int64_t pages)
{
    g->test_threshold = pages;
    g->next_sample_ns = 0;
    g->tripped_until_ns = 0;
    g->cooldown_ns = 0;
}

/* Test hook: an inline write trips the guard when slower than `ns` (< 0:
 * LXA_WGUARD_SLOW_NS again). On a loaded machine a preempted write is
 * "slow"; tests of the threshold raise this so that only the threshold decides. */
static inline void lxa_wguard_set_test_slow_ns(lxa_wguard *g, int64_t ns)
{
    g->slow_ns = ns < 0 ? LXA_WGUARD_SLOW_NS : ns;
    g->tripped_until_ns = 0;
    g->cooldown_ns = 0;
}

/* Test hook: trust a descriptor's verdict for `ns` (< 0: LXA_WGUARD_TRUST_NS
 * again; 0: check before every write), from its next check on. */
static inline void lxa_wguard_set_test_trust_ns(lxa_wguard *g, int64_t ns)
{
    g->trust_ns = ns < 0 ? LXA_WGUARD_TRUST_NS : ns;
    for (int fd = 0; fd < g->nfiles; fd++)
        g->files[fd].trusted_until_ns = 0;
}

/* 1 for a file system whose buffered writes go to the page cache (statfs(2) f_type). */
static inline int lxa_wguard_local_fs(unsigned long f_type)
{
    switch (f_type) {
    case 0xEF53UL:     /* EXT2/3/4_SUPER_MAGIC */
    case 0x58465342UL: /* XFS_SUPER_MAGIC */
    case 0x9123683EUL: /* BTRFS_SUPER_MAGIC */
    case 0xF2F52010UL: /* F2FS_SUPER_MAGIC */
    case 0x01021994UL: /* TMPFS_MAGIC */
        return 1;
    default:
        return 0;
    }
}

/* 1 if fd is a buffered (not O_DIRECT) regular file on a local disk or memory
 * file system whose buffered writes go to the page cache (ext4, xfs, btrfs,
 * f2fs, tmpfs), else 0 (or -errno). Network and FUSE file systems are left
 * out: their writes may wait for a server or a user-space daemon.
 *
 * A descriptor found writable inline is trusted for LXA_WGUARD_TRUST_NS
 * without a system call (lxa_wguard_forget ends that at once). At 64 writes in
 * flight the two calls below cost 17% of the process's time (perf, ext4, Linux
 * 6.18: statx 11%, fcntl 6%), so they are made once per 250 us of writes to a
 * descriptor, not per write. What the trust risks: a number closed and reused
 * within it by a file that must not be written inline. A pipe, socket or other
 * stream refuses pwrite(2) with ESPIPE before writing anything (the caller
 * then forgets the number and sends the write the normal way: _guarded_write
 * in _wguard.pxi); an O_DIRECT or network file's writes run inline until the
 * trust ends, a stall bounded by that and by the slow-write trip.
 *
 * A check costs two light system calls: fcntl(F_GETFL) (O_DIRECT may be set at any time) and
 * statx(STATX_TYPE | STATX_INO | STATX_MNT_ID), whose (device, inode, mount)
 * tells whether the descriptor still names the file whose file system was
 * checked (the number is reused after close(2)); fstatfs(2) runs only for a
 * file not seen there.
 *
 * Why not fstat(2): a stat that asks for the mtime or ctime marks them as
 * seen, and with multigrain timestamps (Linux 6.13+) the next write then takes
 * a fine-grained time and dirties the inode. Measured on ext4 (Linux 6.18), a
 * 4 KiB pwrite(2) into the page cache after each statx(2) cost 1.0-1.3 us more
 * when the statx asked for STATX_MTIME than when it asked for the type and
 * inode only (about as much as the write itself).
 */
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U /* Linux 5.8 */
#endif

/* struct statx's stx_mnt_id (Linux 5.8+, STATX_MNT_ID) sits at byte 144 of the
 * kernel's ABI; older C libraries name that word padding. */
#define LXA_STX_MNT_ID_OFFSET 144
_Static_assert(sizeof(struct statx) >= LXA_STX_MNT_ID_OFFSET + sizeof(uint64_t), "struct statx too small");

static inline int lxa_wguard_fd_inline(lxa_wguard *g, int fd, int64_t now)
{
    struct statx sx;
    struct stat st;
    struct statfs sfs;
    lxa_wguard_file *file = NULL;
    uint64_t dev, ino, mnt_id = 0;
    int verdict;
    if (fd >= 0 && fd < g->nfiles && g->files[fd].verdict == 1 && now < g->files[fd].trusted_until_ns)
        return 1;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    if (flags & O_DIRECT)
        return 0;
    if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx) == 0) {
        if (!S_ISREG(sx.stx_mode))
            return 0;
        dev = ((uint64_t)sx.stx_dev_major << 32) | sx.stx_dev_minor;
        ino = sx.stx_ino;
        if (sx.stx_mask & STATX_MNT_ID)
            memcpy(&mnt_id, (const char *)&sx + LXA_STX_MNT_ID_OFFSET, sizeof(mnt_id));
    } else if (errno == ENOSYS || errno == EPERM) {
        /* statx refused (an old seccomp filter): fstat, which reads the timestamps. */
        if (fstat(fd, &st) < 0)
            return -errno;
        if (!S_ISREG(st.st_mode))
            return 0;
        dev = (uint64_t)st.st_dev;
        ino = (uint64_t)st.st_ino;
    } else {
        return -errno;
    }
    if (fd < LXA_WGUARD_FD_MAX) {
        if (fd >= g->nfiles) {
            int n = g->nfiles ? g->nfiles : 64;
            while (n <= fd)
                n *= 2;
            if (n > LXA_WGUARD_FD_MAX)
                n = LXA_WGUARD_FD_MAX;
            lxa_wguard_file *grown = realloc(g->files, (size_t)n * sizeof(*grown));
            if (grown != NULL) {
                memset(grown + g->nfiles, 0, (size_t)(n - g->nfiles) * sizeof(*grown));
                g->files = grown;
                g->nfiles = n;
            }
        }
        if (fd < g->nfiles)
            file = &g->files[fd];
    }
    if (file != NULL && file->verdict && file->dev == dev && file->ino == ino && file->mnt_id == mnt_id) {
        verdict = file->verdict == 1;
    } else {
        if (fstatfs(fd, &sfs) < 0)
            return -errno;
        verdict = lxa_wguard_local_fs((unsigned long)sfs.f_type);
        if (file != NULL) {
            file->dev = dev;
            file->ino = ino;
            file->mnt_id = mnt_id;
            file->verdict = verdict ? 1 : 2;
        }
    }
    if (file != NULL)
        file->trusted_until_ns = verdict && g->trust_ns > 0 ? now + g->trust_ns : 0;
    return verdict;
}

/* fd was closed (or refused a write as a stream): check it again before its next inline write. */
static inline void lxa_wguard_forget(lxa_wguard *g, int fd)
{
    if (fd >= 0 && fd < g->nfiles)
        g->files[fd].trusted_until_ns = 0;
}

/* Write all of [buf, buf + len) at offset with pwrite(2) on this thread.
 * Returns the count (short only if a call wrote 0) or -errno. */
static inline int64_t lxa_pwrite_all(int fd, const void *buf, size_t len, int64_t offset)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(offset + (int64_t)done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return done ? (int64_t)done : -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (int64_t)done;
}

#endif /* LXA_WGUARD_H */
