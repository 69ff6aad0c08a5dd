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

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

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

#endif /* LXA_CACHED_H */
