/* Serve a read from the page cache on the calling thread, or say it cannot.
 * Plain C, no Python.h; returns a count or -errno.
 *
 * preadv2(2) with RWF_NOWAIT copies what the page cache holds and fails with
 * EAGAIN instead of waiting for the device to read it. It may still start
 * readahead (measured on Linux 6.18: a read that meets the readahead mark of
 * a cached page submits the next window), and submitting it can wait for a
 * free request on a saturated device; callers back off after a miss.
 * O_DIRECT fds are refused (-EOPNOTSUPP): a direct read "without waiting"
 * still waits for the device to complete it. */
#ifndef LXA_CACHED_H
#define LXA_CACHED_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* preadv2, syscall */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Read len bytes at offset into buf only if all of them (up to end of file)
 * are cached. Returns the count (short only at end of file), -EAGAIN if any
 * part is not cached (buf may hold a prefix: redo the whole read elsewhere),
 * -ENOSYS where preadv2/RWF_NOWAIT does not exist, or another -errno
 * (-ESPIPE for a pipe, -EOPNOTSUPP for a file system without it, ...). */
static inline int64_t lxa_read_cached(int fd, void *buf, size_t len, int64_t offset)
{
#ifdef RWF_NOWAIT
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    if (flags & O_DIRECT)
        return -EOPNOTSUPP;
    size_t done = 0;
    while (done < len) {
        struct iovec part = {(char *)buf + done, len - done};
        ssize_t n = preadv2(fd, &part, 1, (off_t)(offset + (int64_t)done), RWF_NOWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break; /* end of file */
        done += (size_t)n;
    }
    return (int64_t)done;
#else
    (void)fd, (void)buf, (void)len, (void)offset;
    return -ENOSYS;
#endif
}

/* cachestat(2) (Linux 6.5): how much of a file range is in the page cache,
 * without reading it and without starting readahead. */
#ifndef SYS_cachestat
#define SYS_cachestat 451 /* the same number on every architecture */
#endif

struct lxa_cachestat_range {
    uint64_t off;
    uint64_t len;
};

struct lxa_cachestat {
    uint64_t nr_cache;
    uint64_t nr_dirty;
    uint64_t nr_writeback;
    uint64_t nr_evicted;
    uint64_t nr_recently_evicted;
};

/* 1 if every page of [offset, offset + len) that lies before end of file is
 * in the page cache, 0 if some is not, or -errno (-ENOSYS before Linux 6.5;
 * -EPERM for a file the caller can neither write nor owns, and under a
 * seccomp filter that does not know the call).
 * *size_hint is a file size seen earlier (0 if none): a range below it needs
 * no fstat(2) to tell a missing page from end of file. If the file shrank
 * since, a range past its new end is reported as not cached: a caller that
 * then reads it elsewhere is still correct. */
static inline int lxa_range_cached(int fd, int64_t offset, uint64_t len, int64_t *size_hint)
{
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    struct lxa_cachestat_range range = {(uint64_t)offset, len};
    struct lxa_cachestat cs;
    if (offset < 0 || len > (uint64_t)INT64_MAX - (uint64_t)offset)
        return -EINVAL;
    if (len == 0)
        return 1;
    if (syscall(SYS_cachestat, fd, &range, &cs, 0) < 0)
        return -errno;
    const uint64_t first = (uint64_t)offset / page;
    uint64_t end = (uint64_t)offset + len;
    if (cs.nr_cache >= (end + page - 1) / page - first)
        return 1;
    if (end > (uint64_t)*size_hint) {
        /* Pages past end of file are never cached: count only those before it.
         * Only a regular file has its size in st_size (a block device reports
         * 0: stat(2)), so any other range not fully cached is cold. */
        struct stat st;
        if (fstat(fd, &st) < 0)
            return -errno;
        if (!S_ISREG(st.st_mode))
            return 0;
        *size_hint = st.st_size;
        if ((uint64_t)st.st_size < end)
            end = (uint64_t)st.st_size;
        if (end <= (uint64_t)offset)
            return 1; /* at or past end of file: the read returns 0 without I/O */
    }
    return cs.nr_cache >= (end + page - 1) / page - first;
}

#endif /* LXA_CACHED_H */
