/* A process-wide fork generation: incremented in the child after fork(2)
 * (pthread_atfork(3)), so objects can tell without a system call that they
 * were created in another process. Plain C, no Python.h. */
#ifndef LXA_FORKGEN_H
#define LXA_FORKGEN_H

#include <pthread.h>

static volatile unsigned long lxa_fork_gen_value = 0;

static void lxa_fork_gen_bump(void) { lxa_fork_gen_value++; }

/* Register the child handler once; 0 or -errno (pthread_atfork returns it). */
static inline int lxa_fork_gen_init(void)
{
    int rc = pthread_atfork(NULL, NULL, lxa_fork_gen_bump);
    return rc ? -rc : 0;
}

static inline unsigned long lxa_fork_gen(void) { return lxa_fork_gen_value; }

#endif /* LXA_FORKGEN_H */
