# The compiled part of the asyncio adapter that every compiled backend shares
# (the shared core): the state AsyncioContext keeps in C fields
# (_AdapterCore), the inline time slice, and the completion of an operation
# the adapter owns (_resolve: AsyncioContextBase._on_done, compiled).
#
# Included at module level by a backend's .pyx after its Operation class.
# The backend's AsyncioContext derives from its module's _AdapterCore and
# from AsyncioContextBase. The including module provides: Operation (with
# the fields of _operation_decl.pxi), clock_gettime/CLOCK_MONOTONIC/timespec,
# int64_t.

#: Inline completions may hold the event loop this long per loop iteration
#: (ns), per AsyncioContext (its ``_inline_slice_ns``).
INLINE_SLICE_NS = 200_000
#: Coroutines woken per loop iteration from the turn queue (slice_wait); the
#: coroutines woken together share the next slice equally.
TURNS_PER_SLICE = 4

cdef object _get_running_loop = None
cdef object _base_submit_future = None
cdef object _OPEN = None
cdef object _yield_once = None
cdef object _current_task = None
cdef object _await_turn = None
cdef object deque = None


cdef int _init_fast_path() except -1:
    global _get_running_loop, _base_submit_future, _OPEN, _yield_once, _await_turn, _current_task, deque
    from asyncio import current_task
    from asyncio.events import _get_running_loop as get_running_loop
    from collections import deque as deque_class
    from .asyncio_base import AsyncioContextBase, _State, await_turn, yield_to_loop
    deque = deque_class
    _current_task = current_task
    _yield_once = yield_to_loop
    _await_turn = await_turn
    _get_running_loop = get_running_loop
    _base_submit_future = AsyncioContextBase.submit_future
    _OPEN = _State.OPEN
    return 0


cdef inline int64_t _now_ns() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef class _AdapterCore:
    """The state a backend's ``AsyncioContext`` shares with the compiled fast path.

    ``AsyncioContext`` derives from this class and from ``AsyncioContextBase``:
    Python code sees these fields as ordinary attributes, ``_start`` and
    ``_resolve`` read them as C fields. The meaning of each is
    ``AsyncioContextBase``'s; ``_loop_ready`` is the bound loop's queue of
    ready callbacks (``loop._ready``), ``None`` for a loop without one.
    """

    cdef public object _loop
    cdef public object _loop_ready
    cdef public object _context
    cdef public object _state
    cdef public object _waiting
    cdef public Py_ssize_t _in_flight
    cdef public Py_ssize_t _max_requests
    cdef public bint _driving
    cdef public list _batch
    cdef public object _flush_handle
    cdef public object _reap_handle
    #: How long inline completions may hold the loop per iteration (ns).
    cdef public int64_t _inline_slice_ns
    #: Coroutines woken per loop iteration from the turn queue (the
    #: ``_turns_per_slice`` property; TURNS_PER_SLICE by default).
    cdef int _turns_each
    #: When this loop iteration's inline work began (ns), 0 if none; the
    #: handle that ends the slice in the next iteration.
    cdef int64_t _slice_start
    cdef object _slice_handle
    #: Coroutines waiting for a turn at a fresh slice (futures, oldest first;
    #: see slice_wait), the handle that wakes the next ones, and whether a
    #: coroutine was already told to yield in this iteration's slice.
    cdef object _turns
    cdef object _turn_handle
    cdef bint _yielded
    #: Waiters put back at the front since the last _next_turn (woken, then refused before any work).
    cdef int _refused
    #: Each waiting future's task, and the ids of the tasks the last
    #: _next_turn woke (ids, not the tasks: a finished task is not kept
    #: alive; a new task that reuses an id at most keeps a place it did not
    #: earn once).
    cdef object _parked
    cdef set _woken
    #: How many coroutines the last _next_turn woke: while others wait or more
    #: than one was woken, each coroutine's turn is its share of the slice.
    cdef int _shared
    #: When the running turn's first inline operation began (ns), 0 before it. A
    #: turn ends when its coroutine waits again (slice_wait) or the iteration ends.
    cdef int64_t _turn_start

    def __cinit__(self, *args, **kwargs):
        self._inline_slice_ns = INLINE_SLICE_NS
        self._turns_each = TURNS_PER_SLICE

    def _drop_waiter(self, op):
        """``AsyncioContextBase._drop_waiter``: a waiter skipped for its cancelled task gives its buffers back now."""
        if type(op) is Operation:
            (<Operation>op)._discard()

    def _end_slice(self):
        """The loop iteration ended: the next one gets a fresh inline slice."""
        self._slice_start = 0
        self._slice_handle = None
        self._yielded = False
        self._turn_start = 0

    def slice_wait(self):
        """What a coroutine awaits when this iteration's inline time is used up, before it tries again.

        (``start_operation`` returned ``None``: nothing was submitted.) The
        first coroutine told so in an iteration, when nobody waits for a
        turn or shares the iteration, yields to the loop once and gets the
        next iteration's slice. Any other waits for a turn: waiting
        coroutines are woken up to ``TURNS_PER_SLICE`` per loop iteration,
        oldest first, and while more than one shares an iteration each gets
        an equal share of the slice (a turn runs from its first inline
        operation until its coroutine waits again). A coroutine woken for a
        turn and refused before it did any inline work (the slice was spent
        before its turn came) keeps its place at the front; any other (a new
        task, one back from another await) joins the end. A coroutine that
        is not waiting may still use what is left of a slice, so new tasks
        that bring more inline work per iteration than a slice holds delay
        the waiting ones for as long as they keep coming (measured: 20 new
        one-read tasks per iteration beside 4 readers, waits of about 1 ms;
        80 per iteration, more than the loop serves, up to ~1 s).

        Yielding them all instead made each of N tasks reading cached data
        resume in every iteration to find the slice used up by the one that
        yielded first, which ran first again and kept it: N resumes per
        slice's worth of reads (64 tasks: a quarter of the throughput), and
        the others starved while it had inline work. With turns, 64 tasks
        each wait about 64 / TURNS_PER_SLICE iterations between turns.

        Cancellation: a cancelled waiter loses its turn; nothing was
        submitted for it. Closing the adapter wakes every waiter (its retry
        raises the closed context's error).
        """
        loop = self._loop
        if loop is None:  # closed (or forgotten after fork): the retry raises the clear error
            return _yield_once()
        task = _current_task(loop)
        worked = self._turn_start != 0
        self._turn_start = 0  # the next inline operation starts the next coroutine's turn
        woken = False
        if self._woken:
            task_id = id(task)
            woken = task_id in self._woken
            if woken:
                self._woken.discard(task_id)
        if not self._yielded and not self._turns and self._shared <= 1:
            self._yielded = True
            self._shared = 0  # nobody waits or shares: the next turn may use the whole slice
            self._woken = None
            return _yield_once()
        if self._turns is None:
            self._turns = deque()
            self._parked = {}
        waiter = loop.create_future()
        self._parked[waiter] = task
        if woken and not worked:
            # Its turn came after the slice was spent: it keeps its place. (Only a
            # coroutine woken for a turn: any other joins the end of the queue.)
            self._turns.insert(self._refused, waiter)
            self._refused += 1
        else:
            self._turns.append(waiter)
        if self._turn_handle is None:
            self._turn_handle = loop.call_soon(self._next_turn)
        # Awaited, it calls _new_turn as the task resumes: the turn starts at the
        # task's own first inline operation, not at that of whoever ran inline last.
        return _await_turn(self, waiter)

    def _new_turn(self):
        """A waiting coroutine's turn came: its next inline operation starts its turn."""
        self._turn_start = 0

    @property
    def _turns_per_slice(self):
        """How many coroutines waiting for a turn are woken per loop iteration (at least 1).

        They share the iteration's slice: fewer, longer turns spend less of it
        on waking tasks; more, shorter ones make each wait fewer iterations.
        """
        return self._turns_each

    @_turns_per_slice.setter
    def _turns_per_slice(self, int turns):
        if turns < 1:
            raise ValueError(f"_turns_per_slice must be at least 1, got {turns}")
        self._turns_each = turns

    @property
    def _turn_running(self):
        """Tests: whether the running turn has begun (an inline operation ran since it was handed over)."""
        return self._turn_start != 0

    def _next_turn(self):
        """Wake the oldest coroutines still waiting for a turn; come back in the next iteration for the rest."""
        cdef int woken = 0
        self._turn_handle = None
        self._refused = 0
        self._woken = set()
        turns = self._turns
        while turns and woken < self._turns_each:
            waiter = turns.popleft()
            task = self._parked.pop(waiter, None)
            if not waiter.done():  # a cancelled task's waiter is skipped
                waiter.set_result(None)
                woken += 1
                if task is not None:
                    self._woken.add(id(task))
        self._shared = woken
        if turns and self._loop is not None:
            self._turn_handle = self._loop.call_soon(self._next_turn)

    def _release_turns(self):
        """At close (or in a forked child): wake every coroutine waiting for a turn and drop the handle.

        A woken coroutine tries again and meets the closed (or forked)
        context's error instead of waiting for ever.
        """
        handle, self._turn_handle = self._turn_handle, None
        if handle is not None:
            handle.cancel()
        turns, self._turns = self._turns, None
        self._parked = self._woken = None
        self._refused = self._shared = 0
        self._turn_start = 0
        for waiter in turns or ():
            if not waiter.done():
                try:
                    waiter.set_result(None)
                except RuntimeError:  # its loop is closed: no task can wait on it any more
                    pass

    cdef bint _within_slice(self, object loop) except -1:
        """May inline work go on in this loop iteration? Starts the iteration's slice if none is running."""
        cdef int64_t now = _now_ns()
        if self._slice_start == 0:
            self._slice_start = now
            self._slice_handle = loop.call_soon(self._end_slice)  # runs in the next iteration
        elif now - self._slice_start >= self._inline_slice_ns:
            return False
        if self._shared > 1 or self._turns:  # others share this slice: each coroutine has its share
            if self._turn_start == 0:
                self._turn_start = now
            elif now - self._turn_start >= self._inline_slice_ns // (self._shared if self._shared > 1 else self._turns_each):
                return False
        return True


cdef int _resolve(Operation op) except -1:
    """AsyncioContextBase._on_done, compiled: resolve the future, free the slot."""
    cdef _AdapterCore adapter = <_AdapterCore>op._adapter
    future = op._future
    op._adapter = op._future = None
    adapter._in_flight -= 1
    if not future.done():  # a cancelled task leaves its future cancelled
        if op._result < 0:
            future.set_exception(op._value())
        else:
            future.set_result(op._value())
    if adapter._waiting:
        adapter._after_completion()
    elif adapter._in_flight == 0:
        adapter._wake_aclose()
    return 0


@cython.final
cdef class _DiscardIfCancelled:
    """Done callback of a future whose operation waits in the adapter's ``_waiting`` queue."""

    cdef object waiting
    cdef Operation op

    def __call__(self, future):
        waiting, self.waiting = self.waiting, None
        op, self.op = self.op, None
        if op is None or not future.cancelled() or op._state != ST_NEW:
            return
        # Only an operation this callback takes out of the queue itself is
        # certain never to be submitted. One that is no longer there was
        # either skipped by AsyncioContextBase._submit_waiting (its future was
        # done: _drop_waiter discarded it there) or handed over
        # before the cancellation, into a batch that may still be waiting for
        # its flush (e.g. while the reader delivers REAP_PER_ITERATION
        # completions per loop iteration): discarding that one would make
        # the batch's submit skip it and miscount the slots of the others.
        try:
            waiting.remove((op, future))
        except ValueError:
            return
        op._discard()  # never submitted: its buffers go back now


cdef int _guard_waiting(_AdapterCore adapter, Operation op, object future) except -1:
    """``op`` waits for a slot: if its awaiting task is cancelled, drop it and release its buffers at once.

    A cancelled waiter is never submitted (``AsyncioContextBase._submit_waiting``
    skips it), but the queue entry, the operation and the caller's buffers
    would otherwise live until a slot frees up or the adapter closes, and
    longer if a frame of the cancelled coroutine still names the operation.
    """
    cdef _DiscardIfCancelled guard
    if op._state == ST_NEW and not future.done() and adapter._waiting:
        guard = _DiscardIfCancelled.__new__(_DiscardIfCancelled)
        guard.waiting = adapter._waiting
        guard.op = op
        future.add_done_callback(guard)
    return 0
