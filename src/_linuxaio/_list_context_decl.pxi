# Declaration of the base of the Contexts that keep their accepted operations
# on an intrusive list and deliver completions through a ready list
# (linux_aio, linux_uring): the operation lifecycle (link, complete, run the
# callbacks, unlink), the C pool for what the kernel interface does not run,
# fork adoption, close, and the reaper of a dropped context. Included at
# module level by a backend's .pxd after _context_decl.pxi; the backend
# declares `cdef class Context(_ListContext)` with the fields of its kernel
# interface and overrides the hooks below. Methods: _list_context.pxi.

cdef class _ListContext(_ContextCore):
    cdef unsigned long _fork_gen
    cdef int _setup_errno               # the kernel object could not be set up again in a forked child
    cdef Py_ssize_t _kernel_in_flight   # owned by the kernel (completion not reaped yet)
    cdef Py_ssize_t _thread_in_flight   # owned by the C pool
    cdef list _ready                    # completed, callbacks pending
    cdef list _backlog                  # accepted, waiting for room in the kernel's queue
    cdef PyObject *_head                # intrusive list of the operations this context owns

    cdef int _init_list(self, object max_requests, object pool_size, object deferred, Py_ssize_t max_pool) except -1
    cdef int _check_live(self) except -1
    cdef int _link(self, Operation op) except -1
    cdef int _unlink(self, Operation op) except -1
    cdef int _complete(self, Operation op, int64_t result) except -1
    cdef int _run_callbacks(self, list done) except -1
    cdef Py_ssize_t _run_ready(self, Py_ssize_t limit) except -1
    cdef int _to_pool(self, Operation op) except -1
    cdef int _take_pool_done(self) except -1
    cdef int _after_fork(self) except -1
    cdef int _abandon(self) except -1
    cdef int _open_kernel(self) except -1
    cdef int _release(self) except -1

    # The kernel interface: each backend overrides these.
    cdef int _begin(self, Operation op) except -1        # start an accepted, linked operation (batch, pool or ready)
    cdef int _submit_batch(self) except -1               # hand what _begin batched to the kernel
    cdef int _cancel_kernel(self, Operation op) except -1  # cancel one the kernel holds; how many withdrawn now
    cdef Py_ssize_t _cancel_wait(self) except -1         # after _cancel_kernel calls: how many more were withdrawn
    cdef bint _kernel_has_more(self) noexcept            # kernel completions visible without a system call
    cdef int _drop_kernel(self) noexcept                 # in a forked child: forget the parent's kernel object
    cdef int _new_kernel(self) except -1                 # a fresh kernel object (OSError if refused)
    cdef int _finish_kernel(self) except -1              # close(): complete everything the kernel holds
    cdef int _kernel_release(self) noexcept              # release the idle kernel object (after close)
    cdef object _new_reaper(self)                        # a _ListReaper holding the kernel object and its scratch
    cdef bint _completes_inline(self, Operation op) noexcept
    cdef int _inline(self, Operation op) except -1
    cdef Py_ssize_t _reap_inline(self) except -1
