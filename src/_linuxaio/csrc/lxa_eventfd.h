/* eventfd helpers shared by the compiled backends. Plain C, no Python.h.
 *
 * Every function returns >= 0 on success or -errno on failure.
 * The eventfd is a completion hint (eventfd(2)): writers add 1 when a queue
 * goes from empty to non-empty; the reader drains the counter, then drains
 * its queue until empty. A counter read of EAGAIN is not an error. */
#ifndef LXA_EVENTFD_H
#define LXA_EVENTFD_H

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* A non-blocking, close-on-exec eventfd. */
static inline int lxa_eventfd_open(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Add 1 to the counter. EAGAIN (counter at its maximum) means a wake-up is
 * already pending, so it counts as success. */
static inline int lxa_eventfd_signal(int fd)
{
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof(one));
        if (n == (ssize_t)sizeof(one))
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        return n < 0 ? -errno : -EIO;
    }
}

/* Read and reset the counter. Returns the count read, 0 when nothing was
 * pending (EAGAIN on a non-blocking eventfd), or -errno. */
static inline int64_t lxa_eventfd_drain(int fd)
{
    uint64_t value = 0;
    for (;;) {
        ssize_t n = read(fd, &value, sizeof(value));
        if (n == (ssize_t)sizeof(value))
            return (int64_t)(value > INT64_MAX ? INT64_MAX : value);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        return n < 0 ? -errno : -EIO;
    }
}

#endif /* LXA_EVENTFD_H */
