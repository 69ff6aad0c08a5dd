# The base of the Contexts that keep their accepted operations on an
# intrusive list and deliver completions through a ready list (linux_aio,
# linux_uring); declared by _list_context_decl.pxi. Included at module level
# after _context.pxi and _adapter.pxi, before the backend's Context. What is
# here is the life of an operation once accepted, whatever kernel interface
# runs it: the context owns it (a strong reference) from submit until its
# callback ran; it completes into the ready list; the C pool runs what the
# kernel interface does not; after fork() everything the parent had in
# flight completes with -ECANCELED and the kernel object is set up afresh;
# close() waits for it all; a context dropped unclosed hands its operations
# and kernel object to a reaper. The backend overrides the hooks that talk to
# its kernel interface (see the declaration). The including module provides:
# Operation and its ST_* states, _resolve, lxa_fork_gen, lxa_eventfd_*,
# ECANCELED, EINVAL, Py_INCREF/Py_DECREF/Py_XDECREF, warnings,
# the strings _MODULE ("linux_aio"), _KERNEL_WHAT ("kernel context") and
# _SETUP_CALL ("io_setup") for its messages, and the flag _COUNT_WHEN_FULL
# (submit on a full context: return the count, or raise ContextFullError).

from lxa_pool cimport (
    lxa_job,
    lxa_pool,
    lxa_pool_cancel,
    lxa_pool_create,
    lxa_pool_destroy,
    lxa_pool_pending,
    lxa_pool_shutdown,
    lxa_pool_submit,
    lxa_pool_take_done,
)


cdef inline int64_t _combine(int64_t done, int64_t res) noexcept:
    """The result of an operation that moved ``done`` bytes before a step that returned ``res``."""
    if res >= 0:
        return done + res
    return done if done > 0 else res


cdef class _ListReaper:
    """Finishes a dropped context: waits for what its kernel object and pool hold, then frees everything.

    The backend's ``_Reaper`` derives from this and holds the kernel object;
    ``run`` (on a daemon thread, see ``_run_reaper``) calls its
    ``_finish_kernel`` without the GIL held where it waits. Callbacks never run.
    """

    cdef lxa_pool *pool
    cdef int efd
    cdef Py_ssize_t kernel_in_flight
    cdef list ops                       # the operations the context owned (one reference each)

    def __cinit__(self):
        self.efd = -1

    cdef int _finish_kernel(self) except -1:
        """Wait for (or cancel) the kernel's requests, then release the kernel object and its scratch."""
        return 0

    cdef int _leak_kernel(self) noexcept:
        """The reaper cannot run: forget the kernel object and its scratch (the kernel may still use them)."""
        return 0

    def run(self):
        cdef lxa_pool *pool = self.pool
        cdef Operation op
        self.pool = NULL
        self._finish_kernel()
        if pool != NULL:
            with nogil:
                lxa_pool_shutdown(pool)  # never waits for a transfer on a pipe or socket (lxa_pool.h)
            lxa_pool_take_done(pool)  # the jobs belong to the operations released below
            lxa_pool_destroy(pool)
        if self.efd >= 0:
            c_close(self.efd)
            self.efd = -1
        ops, self.ops = self.ops, None
        if ops:
            for item in ops:
                op = <Operation>item
                if op._state == ST_READY:  # completed before the context was dropped
                    op._finish()
                else:
                    op._release_buffers()
                    Py_XDECREF(op._rbuf)
                    op._rbuf = NULL
                    op._result = -ECANCELED
                op._state = ST_DONE


cdef class _ListContext(_ContextCore):
    """Operation lifecycle shared by ``linux_aio.Context`` and ``linux_uring.Context``."""

    cdef int _init_list(self, object max_requests, object pool_size, object deferred, Py_ssize_t max_pool) except -1:
        """``__init__``'s common part: checked arguments and empty lists (then ``_open_kernel``)."""
        # Range checks on the Python ints: a huge value is a ValueError, not an OverflowError.
        max_requests = _args.check_max_requests(max_requests)
        pool_size = _args.check_pool_size(pool_size, max_pool)
        if self._efd >= 0:
            raise RuntimeError("Context.__init__ called twice")
        self._max_requests = max_requests
        self._pool_size = <unsigned>pool_size
        self._deferred = bool(deferred)
        self._ready = []
        self._backlog = []
        self._fork_gen = lxa_fork_gen()
        return 0

    cdef int _open_kernel(self) except -1:
        """The eventfd, then the kernel object (``_new_kernel``); on failure the context is closed."""
        cdef int rc = lxa_eventfd_open()
        if rc < 0:
            raise OSError(-rc, f"eventfd: {os.strerror(-rc)}")
        self._efd = rc
        try:
            self._new_kernel()
        except BaseException:
            c_close(self._efd)
            self._efd = -1
            self._closed = True
            raise
        return 0

    def __del__(self):
        try:
            if not self._closed and self._efd >= 0:
                warnings.warn(f"unclosed context {self!r}", ResourceWarning, source=self, stacklevel=2)
        finally:
            if self._in_flight:
                self._abandon()

    def __dealloc__(self):
        # Runs after the backend's __dealloc__ (its kernel object). In-flight
        # operations were handed to a reaper by __del__ (_abandon).
        if self._pool != NULL:
            if self._fork_gen == lxa_fork_gen():
                with nogil:
                    lxa_pool_shutdown(self._pool)
                lxa_pool_destroy(self._pool)
            self._pool = NULL
        if self._efd >= 0:
            c_close(self._efd)
            self._efd = -1

    # -- hooks of the kernel interface (overridden) --------------------------------------

    cdef int _begin(self, Operation op) except -1:
        raise NotImplementedError

    cdef int _submit_batch(self) except -1:
        return 0

    cdef int _cancel_kernel(self, Operation op) except -1:
        return 0

    cdef Py_ssize_t _cancel_wait(self) except -1:
        return 0

    cdef bint _kernel_has_more(self) noexcept:
        return False

    cdef int _drop_kernel(self) noexcept:
        return 0

    cdef int _new_kernel(self) except -1:
        return 0

    cdef int _finish_kernel(self) except -1:
        return 0

    cdef int _kernel_release(self) noexcept:
        return 0

    cdef object _new_reaper(self):
        return _ListReaper.__new__(_ListReaper)

    cdef bint _completes_inline(self, Operation op) noexcept:
        return False

    cdef int _inline(self, Operation op) except -1:
        raise NotImplementedError

    cdef Py_ssize_t _reap_inline(self) except -1:
        return self._run_ready(0)

    # -- bookkeeping ---------------------------------------------------------------------

    cdef int _check_live(self) except -1:
        if self._closed:
            raise ContextClosedError("I/O operation on closed context.")
        if self._fork_gen != lxa_fork_gen():
            self._after_fork()
        if self._setup_errno:  # the kernel object could not be set up in this forked child
            code = self._setup_errno
            raise OSError(code, f"{_MODULE}: no {_KERNEL_WHAT} in this forked child ({_SETUP_CALL}: {os.strerror(code)})")
        return 0

    cdef int _link(self, Operation op) except -1:
        """The context owns ``op`` (a strong reference) until its callback ran."""
        Py_INCREF(op)
        op._context = <PyObject *>self
        op._prev = NULL
        op._next = self._head
        if self._head != NULL:
            (<Operation>self._head)._prev = <PyObject *>op
        self._head = <PyObject *>op
        self._in_flight += 1
        return 0

    cdef int _unlink(self, Operation op) except -1:
        if op._prev != NULL:
            (<Operation>op._prev)._next = op._next
        else:
            self._head = op._next
        if op._next != NULL:
            (<Operation>op._next)._prev = op._prev
        op._prev = op._next = NULL
        op._context = NULL
        self._in_flight -= 1
        Py_DECREF(op)
        return 0

    cdef int _complete(self, Operation op, int64_t result) except -1:
        op._result = _combine(op._done, result)
        op._state = ST_READY
        self._ready.append(op)
        return 0

    cdef int _run_callbacks(self, list done) except -1:
        cdef Operation op
        first_error = None
        for item in done:
            op = <Operation>item
            op._finish()
            op._state = ST_DONE
            callback = op._callback
            op._callback = None
            self._unlink(op)  # `done` still holds op
            try:
                if callback is not None:
                    callback(op._result)
                elif op._adapter is not None:
                    _resolve(op)
            except BaseException as exc:  # re-raised below, after every callback ran
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error
        return 0

    cdef Py_ssize_t _run_ready(self, Py_ssize_t limit) except -1:
        """Run the callbacks of at most ``limit`` ready operations (0: all); how many ran.

        Those left over by the limit (ready, or visible in the kernel's
        completion ring) keep the eventfd readable: it is signalled again.
        """
        cdef list done = self._ready
        if not done:
            return 0
        if 0 < limit < len(done):  # the rest stay first in line
            self._ready = done[limit:]
            done = done[:limit]
        else:
            self._ready = []
        if limit > 0 and (self._ready or self._kernel_has_more()):
            lxa_eventfd_signal(self._efd)  # drained by the caller: the rest must still wake a reader
        self._run_callbacks(done)
        return len(done)

    cdef int _to_pool(self, Operation op) except -1:
        """Hand what is left of ``op`` to the C pool; it signals our eventfd when done."""
        cdef int rc
        if self._pool == NULL:
            rc = lxa_pool_create(&self._pool, self._pool_size, self._efd)
            if rc < 0:
                self._pool = NULL
                return self._complete(op, rc)
        op._fill_job()
        op._job.user = <void *>op
        rc = lxa_pool_submit(self._pool, &op._job)
        if rc < 0:
            return self._complete(op, rc)
        op._state = ST_THREAD
        self._thread_in_flight += 1
        return 0

    cdef int _take_pool_done(self) except -1:
        cdef lxa_job *job
        cdef lxa_job *nxt
        if self._thread_in_flight == 0 or self._pool == NULL:
            return 0
        job = lxa_pool_take_done(self._pool)
        while job != NULL:
            nxt = job.next
            self._thread_in_flight -= 1
            self._complete(<Operation>job.user, job.result)
            job = nxt
        return 0

    cdef int _after_fork(self) except -1:
        """In a forked child: drop the parent's kernel object, pool and eventfd; set up fresh ones.

        The parent's kernel requests and threads do not exist here; their
        buffers in this process are copies nobody fills: the operations
        complete with ``-ECANCELED``. If the kernel refuses a new object, the
        call raises ``OSError`` and ``_check_live`` keeps raising it.
        """
        cdef PyObject *p = self._head
        cdef Operation op
        self._fork_gen = lxa_fork_gen()
        while p != NULL:
            op = <Operation>p
            p = op._next
            if op._state != ST_READY:
                op._result = -ECANCELED
                op._state = ST_READY
                self._ready.append(op)
        self._kernel_in_flight = 0
        self._thread_in_flight = 0
        self._backlog = []
        if self._pool != NULL:  # its threads are gone; the jobs it held were failed above
            lxa_pool_destroy(self._pool)  # allowed in a forked child (lxa_pool.h)
            self._pool = NULL
        self._drop_kernel()  # never touches the parent's kernel object
        try:
            _replace_eventfd(self._efd)
        except OSError:
            self._closed = True
            raise
        self._setup_errno = 0
        try:
            self._new_kernel()
        except OSError as exc:
            self._setup_errno = exc.errno or EINVAL
            if self._ready:
                lxa_eventfd_signal(self._efd)
            raise
        if self._ready:
            lxa_eventfd_signal(self._efd)
        return 0

    cdef int _abandon(self) except -1:
        """A dropped context with operations in flight: a reaper finishes them, then frees everything.

        Operations do not keep their context alive (``_context`` is
        borrowed), so this runs when the owner forgets an unclosed context.
        The kernel object (``_new_reaper``), the pool, the eventfd and the
        linked operations (with their buffers) go to a ``_ListReaper``, which
        waits for the kernel and the pool without the GIL (on a daemon thread)
        and then releases them. Callbacks never run.
        """
        cdef _ListReaper reaper
        cdef PyObject *p = self._head
        cdef Operation op
        self._closed = True
        reaper = <_ListReaper>self._new_reaper()
        if self._fork_gen == lxa_fork_gen():
            reaper.pool, self._pool = self._pool, NULL
        # else: a forked child; the parent's threads are not ours
        reaper.efd, self._efd = self._efd, -1
        self._kernel_in_flight = self._thread_in_flight = 0
        ops = []
        while p != NULL:  # the link references move to the reaper's list
            op = <Operation>p
            p = op._next
            op._prev = op._next = NULL
            op._context = NULL
            op._callback = op._adapter = op._future = None
            ops.append(op)
            Py_DECREF(op)
        self._head = NULL
        self._in_flight = 0
        self._ready = []
        self._backlog = []
        reaper.ops = ops
        if reaper.kernel_in_flight == 0 and (reaper.pool == NULL or lxa_pool_pending(reaper.pool) == 0):
            reaper.run()  # nothing to wait for: quick
            return 0
        try:
            _run_reaper(reaper.run, f"{_MODULE}-reaper")
        except BaseException:
            reaper.pool = NULL  # cannot wait: leak rather than free memory the kernel or a worker uses
            reaper._leak_kernel()
            reaper.ops = None
            for item in ops:
                Py_INCREF(item)
            raise
        return 0

    def close(self):
        """Stop accepting, finish in-flight operations, run their callbacks, release everything.

        Idempotent. Blocks the calling thread (without the GIL) until the
        kernel and the pool are done with every operation on a file. A
        transfer on a pipe, FIFO, socket or tty may block for ever, so it is
        not waited for: it completes with ``-ECANCELED`` (or the count it
        already moved); the pool abandons it, the ring cancels it
        (``IORING_OP_ASYNC_CANCEL``).
        """
        cdef lxa_pool *pool
        if self._closed:
            return
        if self._fork_gen != lxa_fork_gen():
            try:
                self._after_fork()
            except OSError:
                pass
        self._closed = True
        try:
            lxa_eventfd_drain(self._efd)
            self._finish_kernel()
            pool = self._pool
            if pool != NULL:
                # Never waits for a transfer on a pipe or socket: the pool
                # completes those with -ECANCELED (lxa_pool.h).
                with nogil:
                    lxa_pool_shutdown(pool)
                self._take_pool_done()
            done, self._ready = self._ready, []
            self._run_callbacks(done)
        finally:
            self._release()

    cdef int _release(self) except -1:
        if self._pool != NULL and self._thread_in_flight == 0:
            with nogil:
                lxa_pool_shutdown(self._pool)  # idempotent; destroy is only allowed after it
            lxa_pool_destroy(self._pool)
            self._pool = NULL
        if self._kernel_in_flight == 0:
            self._kernel_release()
        if self._efd >= 0 and self._in_flight == 0:
            c_close(self._efd)
            self._efd = -1
        return 0

    # -- the protocol --------------------------------------------------------------------

    def submit(self, *ops):
        """Start ``ops`` in order; return how many were accepted.

        Raises ``TypeError`` for a foreign object before any operation starts.
        An operation already submitted (in flight or completed, here or on
        another context, or earlier in this call) is skipped and not counted,
        as caio 0.12 does. When the context is full the rest are left
        untouched and, as caio does, ``linux_uring`` raises
        ``ContextFullError`` once the accepted ones are on their way (the
        ``OverflowError`` caio raised for a full ring; its ``accepted`` says
        how many went), while ``linux_aio`` returns the count as caio's
        ``io_submit`` does and raises only when none went. The accepted
        operations reach the kernel in one system call (``io_submit``,
        ``io_uring_enter``); one the kernel refuses fails alone (its callback
        gets ``-errno``), the others proceed.
        """
        cdef Py_ssize_t n = len(ops), i, accepted = 0, room
        cdef Operation op
        cdef bint full = False
        self._check_live()
        for i in range(n):
            item = ops[i]
            if type(item) is not Operation:
                raise ArgumentTypeError(f"expected a {_MODULE}.Operation, not {type(item).__name__}")
        room = self._max_requests - self._in_flight
        if room <= 0 or n == 0:
            for i in range(n):
                if (<Operation>ops[i])._state == ST_NEW:
                    _raise_full(0, self._max_requests)
            return 0
        had_ready = bool(self._ready)
        try:
            for i in range(n):
                op = <Operation>ops[i]
                if op._state != ST_NEW:
                    continue  # already submitted: skipped, not counted
                if accepted == room:
                    full = not _COUNT_WHEN_FULL
                    break
                op._state = ST_CLAIMED
                self._link(op)
                accepted += 1
                self._begin(op)
        finally:
            self._submit_batch()
        if self._ready and not had_ready:
            lxa_eventfd_signal(self._efd)  # completions made here: wake the reader
        if full:
            _raise_full(accepted, self._max_requests)
        return accepted

    def cancel(self, *ops):
        """Cancel operations of this context; return how many will complete with ``-ECANCELED``.

        One not started yet (waiting for room in the kernel's queue, or in
        the pool's queue) is withdrawn: it completes with ``-ECANCELED`` and,
        for a write, leaves the file untouched. One the kernel holds:
        ``linux_aio`` cannot cancel a request on a file (it finishes
        normally); ``linux_uring`` sends ``IORING_OP_ASYNC_CANCEL``, which
        stops a transfer waiting on a pipe or socket (``-ECANCELED``) while
        one already running on a regular file finishes normally. The buffer
        lives until the operation completes either way.

        The count is of those certainly stopped. On ``linux_uring`` a request
        a kernel worker was already running when the cancel arrived (the
        kernel answers ``-EALREADY``, io_uring_prep_cancel(3)) is not
        counted, yet may still complete with ``-ECANCELED`` if the worker
        had not begun its transfer.
        """
        cdef Operation op
        cdef Py_ssize_t count = 0
        self._check_live()
        for item in ops:
            if type(item) is not Operation:
                continue
            op = <Operation>item
            if op._context != <PyObject *>self:
                continue
            if op._state == ST_QUEUED and op in self._backlog:
                self._backlog.remove(op)
                self._complete(op, -ECANCELED)
                count += 1
            elif op._state == ST_THREAD and self._pool != NULL:
                if lxa_pool_cancel(self._pool, &op._job) == 0:
                    count += 1  # delivered by the pool with -ECANCELED
            elif op._state == ST_KERNEL:
                count += self._cancel_kernel(op)
        count += self._cancel_wait()
        if count or self._ready:
            lxa_eventfd_signal(self._efd)
        return count

    def pending(self):
        """True if ``process_events()`` has completions to deliver right now (no system call).

        ``linux_aio`` without a user-space ring (``uses_ring`` False): kernel
        completions are not visible until reaped; only the eventfd tells of them.
        """
        if self._closed:
            return False
        if self._fork_gen != lxa_fork_gen():
            return True
        if self._ready:
            return True
        return self._kernel_has_more()

    def submit_inline(self, Operation op not None):
        """Submit one operation and deliver what the kernel finished inside the submitting call.

        Returns True if ``op`` itself has completed (its callback, if any, has
        run); False if it is in flight (see ``Operation.attach_callback``).
        Raises as ``submit``, and ``BlockingIOError`` (nothing submitted) if
        the context is full.
        """
        self._check_live()
        if op._state != ST_NEW:
            raise ValueError(f"operation already submitted: {op!r}")
        if self._in_flight >= self._max_requests:
            raise BlockingIOError(_errno.EAGAIN, "context full")
        return self._inline(op) == INLINE_DONE

    def reap(self):
        """Deliver kernel completions already visible in user space, without touching the eventfd.

        For a caller that has just submitted (see ``pending()``): it saves the
        eventfd read; the eventfd stays readable and the next
        ``process_events()`` (from the reader) drains it, finding nothing or
        what arrived since. Returns how many callbacks ran.
        """
        if self._closed or self._fork_gen != lxa_fork_gen():
            return self._deliver_ready(0)
        return self._reap_inline()
