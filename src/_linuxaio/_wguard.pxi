# The inline buffered-write guard (csrc/lxa_wguard.h), shared by the compiled
# backends: one guard per module, used with the GIL held. Included at module
# level; the module sets _inline_call around the submissions that may write on
# the caller's thread (its Context._inline).

from libc.errno cimport ESPIPE
from lxa_wguard cimport (
    LXA_WGUARD_MAX_BYTES,
    lxa_pwrite_all,
    lxa_wguard,
    lxa_wguard_allow,
    lxa_wguard_done,
    lxa_wguard_fd_inline,
    lxa_wguard_forget,
    lxa_wguard_not_written,
    lxa_wguard_init,
    lxa_wguard_now_ns,
    lxa_wguard_set_test_slow_ns,
    lxa_wguard_set_test_trust_ns,
    lxa_wguard_set_test_threshold,
)

cdef lxa_wguard _wguard
lxa_wguard_init(&_wguard)
# True while Context._inline runs: the only place a write may run on the caller's thread.
cdef bint _inline_call = False
#: What _guarded_write returns when the guard sent the write elsewhere.
cdef int64_t NOT_WRITTEN = -(1 << 62)


cdef inline int64_t _clock(int64_t *now) noexcept:
    """``*now`` = the guard's clock (CLOCK_MONOTONIC ns), returned too: for a condition's chain of calls."""
    now[0] = lxa_wguard_now_ns()
    return now[0]


cdef int64_t _guarded_write(Operation op, int64_t started) except? -1:
    """Write what is left of ``op`` (an OP_WRITE) here if the guard allows: the result, else NOT_WRITTEN.

    The caller has established, at ``started`` (lxa_wguard_now_ns), that
    ``op._fd`` is a buffered regular file on a local file system
    (lxa_wguard_fd_inline) and that this is its inline path. A descriptor the
    guard trusted from an earlier check whose number now names a pipe or
    socket (closed and reused meanwhile) refuses pwrite(2) with ESPIPE before
    anything is written: NOT_WRITTEN, and it is checked again next time.
    """
    cdef int64_t result
    if not lxa_wguard_allow(&_wguard, <uint64_t>(op._nbytes - op._done), started):
        return NOT_WRITTEN
    result = lxa_pwrite_all(op._fd, op._base + op._done, <size_t>(op._nbytes - op._done), op._offset + op._done)
    if result == -ESPIPE:
        lxa_wguard_forget(&_wguard, op._fd)
        lxa_wguard_not_written(&_wguard, <uint64_t>(op._nbytes - op._done))
        return NOT_WRITTEN
    lxa_wguard_done(&_wguard, started, lxa_wguard_now_ns())
    return result


cdef inline void _forget_closed_fd(int fd) noexcept:
    """``fd`` was closed by a close_fd operation: its number may come back naming another file."""
    lxa_wguard_forget(&_wguard, fd)


def _write_guard_stats():
    """The write guard's counters (diagnostics, tests).

    ``inline_writes``, ``pool_writes``, ``samples`` (of /proc/vmstat),
    ``trips`` (slow inline writes), ``cooldown_ns`` (the last trip's pool-only
    period: 6.25 ms after a calm second, doubled per trip that follows, up to
    100 ms; 0 before any) and ``usable``.
    """
    return {
        "inline_writes": _wguard.inline_writes,
        "pool_writes": _wguard.pool_writes,
        "samples": _wguard.samples,
        "trips": _wguard.trips,
        "cooldown_ns": _wguard.cooldown_ns,
        "usable": not _wguard.unusable,
    }


def _set_write_guard_threshold(pages):
    """Test hook: pretend the kernel's dirty background threshold is ``pages`` (``None``: the real one).

    The machine's ``vm.dirty_*`` settings are not touched: the guard compares
    /proc/vmstat's dirty + writeback pages with this number instead.
    """
    lxa_wguard_set_test_threshold(&_wguard, -1 if pages is None else int(pages))




def _set_write_guard_slow_write_ns(ns):
    """Test hook: an inline write slower than ``ns`` trips the guard (``None``: the built-in 250 µs).

    On a loaded machine any write may be preempted past 250 µs; a test of the
    threshold raises this so that the threshold alone decides where writes go.
    """
    lxa_wguard_set_test_slow_ns(&_wguard, -1 if ns is None else int(ns))


def _set_write_guard_trust_ns(ns):
    """Test hook: how long a descriptor found writable inline is trusted without a check (``None``: 250 µs).

    Within that time a write to the same number runs inline without the
    guard's fcntl(2) and statx(2); ``close_fd`` and a write refused with
    ESPIPE end it at once.
    """
    lxa_wguard_set_test_trust_ns(&_wguard, -1 if ns is None else int(ns))
