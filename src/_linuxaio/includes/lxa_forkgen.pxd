# Extern declarations for csrc/lxa_forkgen.h: the process-wide fork generation
# (bumped in the child by pthread_atfork). A backend that compares it calls
# lxa_fork_gen_init() once at import (0 or -errno).

cdef extern from "lxa_forkgen.h" nogil:
    int lxa_fork_gen_init()
    unsigned long lxa_fork_gen()
