# Extern declarations for csrc/lxa_cached.h (returns a count or -errno).
from libc.stdint cimport int64_t, uint64_t

cdef extern from "lxa_cached.h" nogil:
    int64_t lxa_read_cached(int fd, void *buf, size_t len, int64_t offset)
    int lxa_range_cached(int fd, int64_t offset, uint64_t len, int64_t *size_hint)
