# The inline fast path of the asyncio adapter (the shared core), for a
# backend whose kernel interface can complete an operation inside the
# submitting call (linux_aio's io_submit of cached data; an io_uring
# submission completed inline). Included at module level after _adapter.pxi.
#
# The including module provides: Context (a cdef class) with the C fields
# _in_flight and _max_requests and the C methods
#   _check_live(self) except -1             ValueError after close, fork adoption
#   _completes_inline(self, Operation op)   will op most likely complete in the submitting call?
#   _inline(self, Operation op) except -1   submit op alone now: INLINE_DONE or INLINE_IN_FLIGHT
# the enum values INLINE_DONE/INLINE_IN_FLIGHT, and PyThread_get_thread_ident.
#
# linux_aio_asyncio.AsyncioContext starts its read/write/readinto with
# _adapter_start and uses _adapter_submit_future as its submit_future. They
# keep AsyncioContextBase's semantics (asyncio_base.py): the same checks and
# errors (anything unusual goes to the base implementation), the same slot
# accounting (_in_flight goes down only when the operation really
# completes), the same back-pressure queue (_waiting), futures resolved on
# the loop thread. What they add:
#
# * Inline completion. An operation the kernel will most likely finish inside
#   io_submit (Context._completes_inline: a cached buffered read), or any
#   operation when nothing else is ready to run, is submitted at once, alone.
#   If it did complete, _adapter_start returns the operation itself and the
#   awaiting coroutine goes on without suspending, as asyncio's sock_recv
#   does when data is already there.
# * A time slice. Inline completions hold the loop: after INLINE_SLICE_NS of
#   them in one loop iteration, operations take the batched path until the
#   next iteration, and their tasks yield. Other tasks, timers and I/O
#   callbacks therefore wait at most about that long.
# * Everything else joins the iteration's batch (AsyncioContext._hand_over),
#   and completes through _resolve: no functools.partial and no Python frame
#   per operation.

cdef bint _running_here(object loop) except -1:
    """Is ``loop`` running on this thread? (asyncio's own check calls getpid(2) on 3.11.)"""
    thread_id = getattr(loop, "_thread_id", None)  # set by BaseEventLoop.run_forever
    if thread_id is None:
        return _get_running_loop() is loop
    return thread_id == PyThread_get_thread_ident()


#: What _start returns to a coroutine that should yield to the loop first (its
#: time slice is used up) and then call it again: the operation is not submitted.
_YIELD_FIRST = object()


cdef object _start(_AdapterCore adapter, object op, bint may_yield):
    """Start ``op``: ``op`` itself if it completed already, else a future of its result.

    With ``may_yield``, an operation that would go inline but for the used-up
    time slice is not submitted: ``_YIELD_FIRST`` tells the caller to yield
    once and call again (no future, nothing in flight meanwhile).
    """
    cdef Context ctx
    cdef Operation o
    cdef int state
    if _OPEN is None:
        _init_fast_path()
    loop = adapter._loop
    if (
        loop is None
        or type(op) is not Operation
        or type(adapter._context) is not Context
        or (<Operation>op)._state != ST_NEW
        or (<Operation>op)._callback is not None  # the base replaces it (set_callback); _resolve would never run
        or adapter._state is not _OPEN
        or adapter._waiting
        or adapter._in_flight >= adapter._max_requests
        or not _running_here(loop)
    ):
        future = _base_submit_future(adapter, op)  # binding, errors, back-pressure
        if type(op) is Operation:
            _guard_waiting(adapter, <Operation>op, future)
        return future
    ctx = <Context>adapter._context
    o = <Operation>op
    ready = adapter._loop_ready
    if (
        not adapter._driving
        and not adapter._batch
        and ctx._in_flight < ctx._max_requests
        and (
            # Nothing else to run in this iteration (but the slice's own end)?
            (ready is not None and (not ready or (len(ready) == 1 and ready[0] is adapter._slice_handle)))
            or ctx._completes_inline(o)
        )
    ):
        if not adapter._within_slice(loop):
            if may_yield:
                return _YIELD_FIRST
            return _hand_over(adapter, o, loop, ready)
        ctx._check_live()
        adapter._driving = True
        try:
            state = ctx._inline(o)
        except BaseException:
            # A callback of another operation raised; what callbacks handed
            # over meanwhile still goes to the kernel.
            if adapter._batch and adapter._flush_handle is None:
                adapter._flush_handle = loop.call_soon(adapter._flush)
            raise
        finally:
            adapter._driving = False
        if state == INLINE_DONE:
            if adapter._batch:  # completions of other operations handed some over
                adapter._flush()
            return op
        future = loop.create_future()
        o._adapter = adapter
        o._future = future
        adapter._in_flight += 1
        if adapter._batch:
            adapter._flush()
        return future
    return _hand_over(adapter, o, loop, ready)


cdef object _hand_over(_AdapterCore adapter, Operation o, object loop, object ready):
    """Put ``o`` in this loop iteration's batch (AsyncioContext._hand_over, compiled); its future."""
    future = loop.create_future()
    o._adapter = adapter
    o._future = future
    adapter._in_flight += 1
    adapter._batch.append((o, future))
    if adapter._driving:  # the running drive loop submits it
        return future
    handle = adapter._flush_handle
    if ready is not None and (not ready or (handle is not None and len(ready) == 1 and ready[0] is handle)):
        adapter._flush()
    elif handle is None:
        adapter._flush_handle = loop.call_soon(adapter._flush)
    return future


def _adapter_detach(op):
    """Forget the adapter and future of an operation that was never submitted (its batch failed)."""
    if type(op) is Operation:
        (<Operation>op)._adapter = (<Operation>op)._future = None


def _adapter_start(_AdapterCore adapter, op):
    """Start ``op`` for ``adapter`` (an ``AsyncioContext``).

    Returns ``op`` if it completed inline, ``_YIELD_FIRST`` if the caller
    should yield to the loop once and call again, else a future.
    """
    return _start(adapter, op, True)


def _adapter_start_operation(_AdapterCore adapter, op):
    """``AsyncioContextBase.start_operation`` (compiled fast path): ``op`` if it completed, a future, or None.

    ``None``: this loop iteration's inline time is used up and ``op`` was
    not submitted (yield to the loop once and call again, or use
    ``submit_future``).
    """
    started = _start(adapter, op, True)
    return None if started is _YIELD_FIRST else started


def _adapter_submit_future(_AdapterCore adapter, op):
    """``AsyncioContextBase.submit_future`` for linux_aio operations (compiled fast path)."""
    started = _start(adapter, op, False)
    if started is not op:
        return started
    future = adapter._loop.create_future()
    value = (<Operation>op)._value()
    if (<Operation>op)._result < 0:
        future.set_exception(value)
    else:
        future.set_result(value)
    return future


def _inline_submit(Context ctx, Operation op):
    """Submit ``op`` alone now, completed inside the call where the backend can: True if it completed.

    The entry point of adapters that do not batch (the trio adapter): what
    ``Context._inline`` does for the asyncio adapter's inline path, without
    its time slice (a trio operation ends with a checkpoint that lets the
    other tasks run). True: ``op`` completed (no callback ran; its value is
    ready). False: it is in flight; give it a callback with
    ``Operation.attach_callback``. Raises as ``Context.submit`` does (after
    close, an operation already submitted) and ``BlockingIOError`` (nothing
    submitted) when the context is full.
    """
    ctx._check_live()
    if op._state != ST_NEW:
        raise ValueError(f"operation already submitted: {op!r}")
    if ctx._in_flight >= ctx._max_requests:
        raise BlockingIOError(_errno.EAGAIN, "context full")
    return ctx._inline(op) == INLINE_DONE
