"""The asyncio adapter shared by backends that can complete an operation inside its submission.

A backend that includes ``_adapter_inline.pxi`` (its ``Context`` implements
``_completes_inline``/``_inline``) binds ``InlineAsyncioContext`` to its
compiled ``_AdapterCore``; see ``linux_aio_asyncio`` and ``thread_aio_asyncio``.

How an operation reaches the backend (the hot path is compiled:
``<backend>._adapter_start``, ``_adapter_submit_future`` and ``_resolve``):

* **Inline.** An operation the backend will most likely complete inside the
  submitting call (a read of a descriptor known to be cached; a guarded small
  buffered write), or any operation while nothing else is ready to run, is
  submitted at once, alone. If it completed inside the call, the awaiting
  coroutine goes on without suspending, as asyncio's own ``sock_recv`` does
  when data is already there.
* **Time slice.** Inline completions hold the loop, so they are bounded:
  after ``INLINE_SLICE_NS`` (200 µs) of them in one loop iteration, a
  coroutine that would go inline waits for the next slice first
  (``slice_wait``: the first one yields once, the others take turns,
  ``TURNS_PER_SLICE`` per iteration, each for its share of the slice;
  ``submit_future`` callers get the batched path instead); other tasks,
  timers and callbacks of the loop wait at most about that long per adapter.
* **Batched.** Everything else handed over while the loop runs one
  iteration's callbacks reaches the backend in one ``submit`` when the last
  of those callbacks has run: the batch is flushed at once when no other
  callback is ready (``loop._ready`` is empty, or holds only the flush
  itself), else by a ``call_soon`` handle. Loops without ``_ready`` (e.g.
  uvloop) always flush from ``call_soon``.
* **Completions.** The eventfd reader delivers at most
  ``REAP_PER_ITERATION`` completions per call and schedules itself again
  for the rest, so the tasks woken first resubmit (keeping a device busy)
  while the others are still being delivered, and one iteration stays short.
  What those tasks handed over is submitted by the reader's next call,
  before it delivers more: the flush handle runs after that call, and with
  64 O_DIRECT reads completing in a burst the batch waited for three reader
  calls. W5's reads (an in-process A/B, 6 rounds) went from 60.6k to 61.6k
  reads/s on ``uring`` and from 60.9k to 64.4k on ``linux`` while the disk
  kept up (fio: 84k/s); no difference while it was the bottleneck (63 of 64
  reads in the device either way, 10 rounds).
"""

from __future__ import annotations

import asyncio
import errno
import os
from threading import get_ident
from typing import Any, ClassVar

from .abstract import ContextFullError
from .asyncio_base import AsyncioContextBase, _State

__all__ = ["REAP_PER_ITERATION", "InlineAsyncioContext"]


#: Completions one reader callback delivers; the rest wait for the next loop
#: iteration. A virtio disk completes a batch of O_DIRECT requests at once;
#: taking them 16 at a time let W5 (benchmarks) go from 0.66x to 0.8x fio.
REAP_PER_ITERATION = 16


class InlineAsyncioContext(AsyncioContextBase):
    """``AsyncioContextBase`` with inline completion, a time slice and one submission per batch.

    A backend binds it as ``class AsyncioContext(<backend>._AdapterCore,
    InlineAsyncioContext)`` and sets ``CONTEXT_CLASS``, ``OPERATION_CLASS``,
    ``_adapter_start``, ``_YIELD_FIRST``, ``_adapter_detach`` and
    ``submit_future`` from its compiled module. Its ``Context`` offers
    ``submit``, ``process_events(limit)``, ``pending()`` and ``reap()``.
    """

    #: The backend's compiled entry points (see the class docstring).
    _adapter_start: ClassVar[Any]
    _adapter_detach: ClassVar[Any]
    _YIELD_FIRST: ClassVar[object]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch: list[tuple[Any, asyncio.Future[Any]]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._reap_handle: asyncio.Handle | None = None
        self._driving = False

    # read/write/readinto repeat the same few lines on purpose: a shared helper
    # coroutine would add a coroutine object per operation to the inline path.

    async def read(self, nbytes: int, fd: int, offset: int = 0, priority: int = 0) -> bytes:
        """Read up to ``nbytes`` at ``offset``; returns the bytes read (short at EOF)."""
        op = self.OPERATION_CLASS.read(nbytes, fd, offset, priority)
        started = self._adapter_start(op)
        while started is self._YIELD_FIRST:  # this loop iteration's inline time is used up
            await self.slice_wait()
            started = self._adapter_start(op)
        if started is op:
            return op.get_value()  # type: ignore[no-any-return]
        return await started  # type: ignore[no-any-return]

    async def write(self, payload: Any, fd: int, offset: int = 0, priority: int = 0) -> int:
        """Write ``payload`` (any buffer, not copied) at ``offset``; returns the bytes written."""
        op = self.OPERATION_CLASS.write(payload, fd, offset, priority)
        started = self._adapter_start(op)
        while started is self._YIELD_FIRST:  # this loop iteration's inline time is used up
            await self.slice_wait()
            started = self._adapter_start(op)
        if started is op:
            return op.get_value()  # type: ignore[no-any-return]
        return await started  # type: ignore[no-any-return]

    async def readinto(self, buffer: Any, fd: int, offset: int = 0) -> int:
        """Read into the caller's writable ``buffer``; returns the bytes read.

        With a page-aligned buffer (e.g. an ``mmap``) this works on an
        ``O_DIRECT`` fd. The buffer belongs to the operation until it
        completes, even if the awaiting task is cancelled.
        """
        op = self.OPERATION_CLASS.readinto(buffer, fd, offset)
        started = self._adapter_start(op)
        while started is self._YIELD_FIRST:  # this loop iteration's inline time is used up
            await self.slice_wait()
            started = self._adapter_start(op)
        if started is op:
            return op.get_value()  # type: ignore[no-any-return]
        return await started  # type: ignore[no-any-return]

    def _bound_loop(self) -> asyncio.AbstractEventLoop:
        # The bound loop running on this thread is the running loop: no need
        # for asyncio.get_running_loop() (a getpid(2) per call on 3.11).
        loop = self._loop
        if loop is not None and getattr(loop, "_thread_id", None) == get_ident():
            return loop
        loop = super()._bound_loop()
        self._loop_ready = getattr(loop, "_ready", None)
        return loop

    def _release_turns(self) -> None:
        """Wake the coroutines waiting for a turn at the slice (the backend's ``_AdapterCore`` has them)."""

    def _forget_parent_loop(self) -> None:
        # The batch and the handles are the parent's: the parent submits the
        # batch; submitting it here too would do its writes twice.
        self._in_flight -= len(self._batch)
        self._batch = []
        self._flush_handle = self._reap_handle = None
        self._loop_ready = None
        self._release_turns()
        super()._forget_parent_loop()

    def _hand_over(self, op: Any, future: asyncio.Future[Any]) -> None:
        # The slot is taken now; the operation reaches the kernel with the
        # rest of this iteration's batch.
        self._in_flight += 1
        self._batch.append((op, future))
        if self._driving:  # the running drive loop submits it
            return
        loop = self._loop
        ready = self._loop_ready
        handle = self._flush_handle
        if ready is not None and (not ready or (handle is not None and len(ready) == 1 and ready[0] is handle)):
            self._flush()
        elif handle is None and loop is not None:
            self._flush_handle = loop.call_soon(self._flush)

    def _flush(self) -> None:
        handle, self._flush_handle = self._flush_handle, None
        if handle is not None:
            handle.cancel()
        if self._driving or self._context is None:
            return
        self._driving = True
        try:
            self._drive()
        except BaseException:
            # A completion callback raised; the rest of the batch still goes.
            loop = self._loop
            if self._batch and self._flush_handle is None and loop is not None:
                self._flush_handle = loop.call_soon(self._flush)
            raise
        finally:
            self._driving = False

    def _on_readable(self) -> None:
        # From the eventfd reader, or from the handle that takes the
        # completions a previous call left (REAP_PER_ITERATION). At most one
        # such handle is pending: the reader takes over a pending one.
        if self._driving:
            return  # re-entered: the running drive loop delivers; a pending handle stays as it is
        handle, self._reap_handle = self._reap_handle, None
        if handle is not None:
            handle.cancel()  # harmless when it is the one running
        self._driving = True
        try:
            context = self._context
            loop = self._loop
            if self._batch:
                # Handed over by the tasks the last call woke: to the kernel before
                # more completions are delivered (its flush handle would run after them).
                flush, self._flush_handle = self._flush_handle, None
                if flush is not None:
                    flush.cancel()
                batch, self._batch = self._batch, []
                self._submit_batch(batch)
            try:
                context.process_events(REAP_PER_ITERATION)
            except BaseException:
                # A callback raised after the others ran. The eventfd is
                # drained: come back for what the limit left (and the batch).
                if loop is not None and self._reap_handle is None:
                    self._reap_handle = loop.call_soon(self._on_readable)
                raise
            if context.pending():
                if loop is not None and self._reap_handle is None:
                    self._reap_handle = loop.call_soon(self._on_readable)
            else:
                self._drive()
        finally:
            self._driving = False

    def _drive(self) -> None:
        """Submit batches and deliver completions until neither is left."""
        context = self._context
        while True:
            if self._batch:
                batch, self._batch = self._batch, []
                self._submit_batch(batch)
            if context.pending():
                context.reap()  # callbacks may add to the batch
            elif not self._batch:
                return

    def _submit_batch(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            accepted = self._context.submit(*[op for op, _ in batch])
        except ContextFullError as exc:  # the rest wait their turn (below)
            accepted = exc.accepted
        except Exception as exc:  # noqa: BLE001 - nothing in the batch started: each awaiting task gets it
            self._in_flight -= len(batch)
            for op, future in batch:
                self._adapter_detach(op)
                if not future.done():
                    future.set_exception(exc)
            if not self._in_flight and not self._waiting:
                self._wake_aclose()
            return
        if accepted < len(batch):  # a context smaller than max_requests: the rest wait their turn
            rest = batch[accepted:]
            self._in_flight -= len(rest)
            if self._in_flight == 0:
                message = "the backend context accepted no operation: " + os.strerror(errno.EAGAIN)
                refused = OSError(errno.EAGAIN, message)
                for _, future in rest:
                    if not future.done():
                        future.set_exception(refused)
                return
            self._waiting.extendleft(reversed(rest))

    def close(self) -> None:
        """As ``AsyncioContextBase.close``; operations of the unsubmitted batch are submitted first."""
        if self._state is _State.CLOSED:
            return
        self._check_process()  # a forked child must not submit the parent's batch
        for handle in (self._flush_handle, self._reap_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._reap_handle = None
        if self._batch and self._context is not None and not self._context.closed:
            batch, self._batch = self._batch, []
            self._submit_batch(batch)
        self._release_turns()  # before the loop is forgotten: the woken retry and raise
        super().close()
        self._loop_ready = None
