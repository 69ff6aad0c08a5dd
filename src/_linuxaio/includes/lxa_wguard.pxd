# Extern declarations for csrc/lxa_wguard.h (the inline buffered-write guard).
from libc.stdint cimport int64_t, uint64_t

cdef extern from "lxa_wguard.h" nogil:
    ctypedef struct lxa_wguard:
        int unusable
        int64_t headroom_pages
        int64_t tripped_until_ns
        int64_t cooldown_ns
        int64_t test_threshold
        uint64_t inline_writes
        uint64_t pool_writes
        uint64_t samples
        uint64_t trips
    enum:
        LXA_WGUARD_MAX_BYTES
    int64_t lxa_wguard_now_ns()
    void lxa_wguard_init(lxa_wguard *g)
    int lxa_wguard_allow(lxa_wguard *g, uint64_t nbytes, int64_t now)
    void lxa_wguard_done(lxa_wguard *g, int64_t started, int64_t now)
    void lxa_wguard_set_test_threshold(lxa_wguard *g, int64_t pages)
    void lxa_wguard_set_test_slow_ns(lxa_wguard *g, int64_t ns)
    void lxa_wguard_set_test_trust_ns(lxa_wguard *g, int64_t ns)
    int lxa_wguard_fd_inline(lxa_wguard *g, int fd, int64_t now)
    void lxa_wguard_forget(lxa_wguard *g, int fd)
    void lxa_wguard_not_written(lxa_wguard *g, uint64_t nbytes)
    int64_t lxa_pwrite_all(int fd, const void *buf, size_t len, int64_t offset)
