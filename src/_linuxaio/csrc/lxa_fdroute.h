/* Which path serves a file descriptor in linux_aio. Plain C, no Python.h.
 *
 * Kernel AIO (with RWF_NOWAIT) only helps for regular files and block
 * devices on real file systems. Everything else is served by the thread
 * pool: pipes, FIFOs, sockets, character devices, directories (fstat(2)
 * S_IFMT), and regular-looking files of pseudo file systems whose contents
 * are generated on read (procfs, sysfs, ...; fstatfs(2) f_type, magic
 * numbers from <linux/magic.h>).
 */
#ifndef LXA_FDROUTE_H
#define LXA_FDROUTE_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

enum lxa_route {
    LXA_ROUTE_UNKNOWN = 0,
    LXA_ROUTE_KERNEL = 1,   /* io_submit with RWF_NOWAIT, thread pool when it would block */
    LXA_ROUTE_THREAD = 2,   /* always the thread pool */
};

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static inline int lxa_is_pseudo_fs(int64_t f_type)
{
    switch ((uint32_t)f_type) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case SECURITYFS_MAGIC:
    case BPF_FS_MAGIC:
        return 1;
    default:
        return 0;
    }
}

/* Classify fd; on success also report its identity (st_dev, st_ino). */
static inline int lxa_fd_route(int fd, uint64_t *dev, uint64_t *ino)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return LXA_ROUTE_THREAD;
    struct statfs sfs;
    if (fstatfs(fd, &sfs) < 0)
        return -errno;
    return lxa_is_pseudo_fs((int64_t)sfs.f_type) ? LXA_ROUTE_THREAD : LXA_ROUTE_KERNEL;
}

/* The identity of fd now, to validate a cached route. */
static inline int lxa_fd_identity(int fd, uint64_t *dev, uint64_t *ino)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

/* 1 if fd was opened with O_DIRECT (fcntl(2) F_GETFL), 0 if not, or -errno. */
static inline int lxa_fd_is_direct(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    return (flags & O_DIRECT) != 0;
}

#endif /* LXA_FDROUTE_H */
