# Declaration of the base every compiled backend's Context derives from (the
# shared core). Included at module level by a backend's .pxd, which then
# declares `cdef class Context(_ContextCore)` with its own fields. The
# including .pxd cimports lxa_pool. Methods: _context.pxi. A backend overrides
# _check_live (use after close, fork adoption) and _deliver_ready (process_events'
# work: run at most `limit` callbacks, 0 = all, without waiting; re-signal the
# eventfd if completions are left).

cdef class _ContextCore:
    cdef int _efd                    # the eventfd completions are signalled on; -1 once closed
    cdef Py_ssize_t _max_requests
    cdef Py_ssize_t _in_flight       # accepted, callback not run yet
    cdef unsigned _pool_size
    cdef lxa_pool *_pool             # the C thread pool (created lazily by some backends)
    cdef bint _closed
    cdef bint _deferred              # caio 0.12's keyword: accepted, recorded, no effect here
    cdef Py_ssize_t _delivered       # callbacks run by process_events()/flush(), on any thread
    cdef int _waiters                # threads waiting in process_events(min_requests > 0)
    cdef object __weakref__

    cdef int _check_live(self) except -1
    cdef Py_ssize_t _deliver_ready(self, Py_ssize_t limit) except -1
    cdef Py_ssize_t _deliver_counted(self, Py_ssize_t limit, bint waiting) except -1
