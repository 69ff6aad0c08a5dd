/* File-system jobs of several system calls each, run by a pool worker
 * (lxa_pool.c includes this file; see LXA_OP_UNLINKAT_MANY and
 * LXA_OP_COPY_FILE in lxa_pool.h for the job fields). Plain C, no Python.h.
 *
 * They exist for bulk tree work (rmtree, copytree): one hand-off to a
 * worker and one completion per directory of files (unlink) or per file
 * (copy) instead of one per system call. Every call is made without any
 * lock held; EINTR is retried where the call may be (workers block every
 * signal, so it does not happen in practice), never for close(2).
 */
#ifndef LXA_FSJOB_H
#define LXA_FSJOB_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lxa_pool.h"

/* LXA_OP_UNLINKAT_MANY: unlinkat(fd, names[i], flags) for each name, in
 * order; errs[i] = 0 or the errno of that call. Result: how many failed. */
static int64_t lxa_unlinkat_many(const lxa_job *job)
{
    const char *const *names = (const char *const *)job->buf;
    int32_t *errs = (int32_t *)job->args[1];
    const int flags = (int)job->args[0];
    int64_t failed = 0;
    for (size_t i = 0; i < job->len; i++) {
        int rc = unlinkat(job->fd, names[i], flags);
        errs[i] = rc == 0 ? 0 : errno;
        failed += rc != 0;
    }
    return failed;
}

/* copy_file_range(2) errors after which a read/write copy may still work. */
static int lxa_copy_fallback_errno(int err)
{
    return err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == EBADF || err == EPERM;
}

/* Read/write copy from the current positions to EOF; bytes copied or -errno. */
static int64_t lxa_copy_rw(int in, int out, int64_t total)
{
    enum { CHUNK = 1 << 16 };
    char *buf = malloc(CHUNK);
    if (buf == NULL)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(in, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return n < 0 ? -errno : total;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                int err = errno;
                free(buf);
                return -err;
            }
            off += w;
        }
        total += n;
    }
}

/* lxa_copy_data's copy itself (see there). */
static int64_t lxa_copy_data_now(int in, int out, int64_t size, int64_t total)
{
    while (size > 0 && total < size) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)(size - total), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (total == 0 && lxa_copy_fallback_errno(errno))
                break;
            return -errno;
        }
        if (n == 0)
            return total; /* shrank meanwhile (or reports no data: read it below) */
        total += n;
    }
    if (total > 0)
        return total;
    return lxa_copy_rw(in, out, 0);
}

/* From this size up, a copy first reserves the destination's blocks. */
#define LXA_COPY_PREALLOCATE_MIN (1 << 20)

/* The data of in (a regular file of `size` bytes when opened) into out, both
 * at offset 0: copy_file_range(2) until `size` bytes moved or EOF, else (the
 * kernel refuses it, or the file reports no data, as /proc files do) a
 * read/write copy to EOF. Bytes copied or -errno.
 *
 * A big copy first reserves out's blocks: fallocate(2) with
 * FALLOC_FL_KEEP_SIZE (the size grows only as data lands, so a failed copy
 * leaves what shutil's would). ext4 then writes into allocated extents
 * instead of reserving delayed-allocation blocks page by page: ~1.4x faster
 * for 512 MiB. A file system that refuses it is copied without; a copy that
 * failed or a source that shrank meanwhile leaves no reserved blocks past
 * the end of out. */
static int64_t lxa_copy_data(int in, int out, int64_t size)
{
    const int reserved = size >= LXA_COPY_PREALLOCATE_MIN && fallocate(out, FALLOC_FL_KEEP_SIZE, 0, size) == 0;
    const int64_t rc = lxa_copy_data_now(in, out, size, 0);
    struct stat st;
    if (reserved && rc != size && fstat(out, &st) == 0 && ftruncate(out, st.st_size) != 0) {
        /* Releasing the reserved blocks past the data failed: they stay
         * reserved (as after fallocate(1) --keep-size); the copy's result stands. */
    }
    return rc;
}

/* LXA_OP_COPY_FILE: what shutil.copyfile (+ copymode or copystat without
 * extended attributes) does for one regular file, in one job. Job fields:
 *   args[0] src dir fd, args[1] src path, args[2] dst dir fd, args[3] dst path,
 *   args[4] LXA_COPY_* flags, args[5] int64_t *step (out).
 * Result: bytes copied, or -errno with *step saying which part failed:
 *   LXA_COPY_UNSUITABLE: nothing was changed on disk; the caller copies the
 *     slow way (which reports the stdlib's exact error): src cannot be opened
 *     or is not a regular file, dst cannot be opened, is not a regular file,
 *     or is src itself;
 *   LXA_COPY_DATA: copying failed; dst was removed if this job created it
 *     (an existing dst is left truncated or partly written, as shutil leaves
 *     it);
 *   LXA_COPY_UTIME / LXA_COPY_CHMOD / LXA_COPY_CLOSE: the data is in dst (kept).
 * src opens with O_NONBLOCK (a FIFO put there meanwhile must not block the
 * worker) and dst with O_NONBLOCK and without O_TRUNC: it is truncated only
 * once known to be another regular file. The metadata copied is that of src
 * after the data was read (as copystat stats src after copyfile), or with
 * LXA_COPY_STAT_FIRST the one taken before (as shutil.copytree's copy2 of a
 * DirEntry uses the entry's stat, cached before the copy). */
static int64_t lxa_copy_file(const lxa_job *job)
{
    const int flags = (int)job->args[4];
    int64_t *step = (int64_t *)job->args[5];
    struct stat sst, dst;
    int64_t rc;
    *step = LXA_COPY_UNSUITABLE;
    int in = openat((int)job->args[0], (const char *)job->args[1], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (in < 0)
        return -errno;
    if (fstat(in, &sst) != 0 || !S_ISREG(sst.st_mode)) {
        close(in);
        return -EINVAL;
    }
    const int dst_dir = (int)job->args[2];
    const char *dst_path = (const char *)job->args[3];
    /* O_EXCL first: a dst this job created is removed if the copy fails; an
     * existing one (other links, its owner and mode) never is, as shutil
     * leaves it. */
    int created = 1;
    int out = openat(dst_dir, dst_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NONBLOCK, 0666);
    if (out < 0 && errno == EEXIST) {
        created = 0;
        out = openat(dst_dir, dst_path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
    }
    if (out < 0) {
        rc = -errno;
        close(in);
        return rc;
    }
    if (fstat(out, &dst) != 0 || !S_ISREG(dst.st_mode) || (dst.st_dev == sst.st_dev && dst.st_ino == sst.st_ino)) {
        close(out);
        close(in);
        return -EINVAL;
    }
    *step = LXA_COPY_DATA;
    rc = dst.st_size > 0 && ftruncate(out, 0) != 0 ? -errno : lxa_copy_data(in, out, (int64_t)sst.st_size);
    if (rc < 0) {
        close(out);
        close(in);
        if (created)
            unlinkat(dst_dir, dst_path, 0);
        return rc;
    }
    if ((flags & (LXA_COPY_TIMES | LXA_COPY_MODE)) && !(flags & LXA_COPY_STAT_FIRST)) {
        struct stat after;
        if (fstat(in, &after) == 0)
            sst = after;
    }
    close(in);
    if (flags & LXA_COPY_TIMES) {
        struct timespec times[2] = {sst.st_atim, sst.st_mtim};
        if (futimens(out, times) != 0) {
            *step = LXA_COPY_UTIME;
            int64_t err = -errno;
            close(out);
            return err;
        }
    }
    if ((flags & LXA_COPY_MODE) && (sst.st_mode & 07777) != (dst.st_mode & 07777)) {
        if (fchmod(out, sst.st_mode & 07777) != 0) {
            *step = LXA_COPY_CHMOD;
            int64_t err = -errno;
            close(out);
            return err;
        }
    }
    if (close(out) != 0) {
        *step = LXA_COPY_CLOSE;
        return -errno;
    }
    *step = 0;
    return rc;
}

/* LXA_OP_LIST_DIR: openat(args[0], args[1], O_RDONLY | O_DIRECTORY |
 * O_CLOEXEC | (int)args[2]), then getdents64(2) into buf (len bytes) until
 * end of directory or less than LXA_LIST_DIR_SLACK bytes are left. Result:
 * the bytes of records in buf, or -errno (the fd is closed then). The fd is
 * closed at the end of the directory unless args[4] is non-zero; otherwise it
 * is left open (the caller continues with getdents and closes it):
 * *(int64_t *)args[3] = the open fd or -1, and (int64_t *)args[3])[1] = 1 if
 * the end of the directory was reached, else 0. */
static int64_t lxa_list_dir(const lxa_job *job)
{
    int64_t *out = (int64_t *)job->args[3];
    out[0] = -1;
    out[1] = 0;
    int fd = openat((int)job->args[0], (const char *)job->args[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC | (int)job->args[2]);
    if (fd < 0)
        return -errno;
    size_t used = 0;
    while (job->len - used >= LXA_LIST_DIR_SLACK) {
        long n = syscall(SYS_getdents64, fd, (char *)job->buf + used, job->len - used);
        if (n < 0) {
            int err = errno;
            close(fd);
            return -err;
        }
        if (n == 0) {
            out[1] = 1;
            break;
        }
        used += (size_t)n;
    }
    if (out[1] && !job->args[4])
        close(fd);
    else
        out[0] = fd;
    return (int64_t)used;
}

#endif /* LXA_FSJOB_H */
