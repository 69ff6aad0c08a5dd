# Extern declarations for the file-system operations the C pool runs as
# LXA_OP_SYSCALL jobs (system call numbers and the statx(2) result).
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t

cdef extern from "<sys/syscall.h>":
    long SYS_openat
    long SYS_close
    long SYS_statx
    long SYS_renameat2
    long SYS_unlinkat
    long SYS_mkdirat
    long SYS_linkat
    long SYS_symlinkat
    long SYS_fallocate
    long SYS_ftruncate
    long SYS_fadvise64
    long SYS_copy_file_range
    long SYS_getdents64
    long SYS_readlinkat
    long SYS_faccessat
    long SYS_fchmodat
    long SYS_fchmod
    long SYS_utimensat
    long SYS_statfs
    long SYS_fstatfs
    long SYS_sendfile
    long SYS_getcwd

cdef extern from *:
    # Newer than some C libraries' headers: the same number on every architecture.
    """
    #include <sys/syscall.h>
    #ifndef SYS_faccessat2
    #define SYS_faccessat2 439
    #endif
    #ifndef SYS_fchmodat2
    #define SYS_fchmodat2 452
    #endif
    """
    long SYS_faccessat2
    long SYS_fchmodat2

cdef extern from "<sys/statfs.h>":
    # statfs(2); statvfs(3) is glibc's conversion of it (done in _operation.pxi).
    ctypedef struct fsid_t:
        int __val[2]

    struct statfs:
        long f_bsize
        unsigned long f_blocks
        unsigned long f_bfree
        unsigned long f_bavail
        unsigned long f_files
        unsigned long f_ffree
        fsid_t f_fsid
        long f_namelen
        long f_frsize
        long f_flags

cdef extern from "<sys/stat.h>":
    # glibc >= 2.28 (with _GNU_SOURCE, which Python.h sets); the fields used here.
    struct statx_timestamp:
        int64_t tv_sec
        uint32_t tv_nsec

    struct statx:
        uint32_t stx_mask
        uint32_t stx_blksize
        uint32_t stx_nlink
        uint32_t stx_uid
        uint32_t stx_gid
        uint16_t stx_mode
        uint64_t stx_ino
        uint64_t stx_size
        uint64_t stx_blocks
        statx_timestamp stx_atime
        statx_timestamp stx_ctime
        statx_timestamp stx_mtime
        uint32_t stx_rdev_major
        uint32_t stx_rdev_minor
        uint32_t stx_dev_major
        uint32_t stx_dev_minor
