# Extern declarations for csrc/lxa_eventfd.h (functions return -errno on failure).
from libc.stdint cimport int64_t

cdef extern from "lxa_eventfd.h" nogil:
    int lxa_eventfd_open()
    int lxa_eventfd_signal(int fd)
    int64_t lxa_eventfd_drain(int fd)
