"""The few event-loop primitives aiofile uses, for asyncio (and uvloop) and for trio.

Everything in aiofile that waits, spawns or locks goes through here, so the
same file objects work under ``asyncio.run``, ``trio.run`` and
``anyio.run(..., backend="asyncio" | "trio")`` (anyio on asyncio *is*
asyncio here). The running library is told apart at the call: a running
asyncio loop first (one C call: asyncio users pay nothing more and never
import trio or sniffio); else ``sniffio.current_async_library()``, imported
only then.

Under trio the futures are ``_linuxaio.trio_context.TrioFuture`` (the part of
``asyncio.Future``'s interface aiofile uses); a "task" started by
``ensure_future`` is a trio system task whose outcome lands in such a future
(it is not cancelled by the caller's cancel scopes, as an asyncio task is not
cancelled by its creator's cancellation).
"""

from __future__ import annotations

import asyncio
import sys
from asyncio.events import _get_running_loop
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeGuard

__all__ = [
    "Lock",
    "cancelled_errors",
    "create_future",
    "ensure_future",
    "finish_uncancellable",
    "gather",
    "is_future",
    "run_in_executor",
    "running_trio",
    "semaphore",
    "shield",
    "wait",
]


def running_trio() -> bool:
    """True inside a trio run (including anyio on trio), False in an asyncio loop or outside any."""
    if _get_running_loop() is not None:
        return False
    if "trio" not in sys.modules:  # nothing can be running trio: no need to ask sniffio
        return False
    import sniffio

    try:
        return sniffio.current_async_library() == "trio"
    except sniffio.AsyncLibraryNotFoundError:
        return False


def _trio_future_class() -> Any:
    from _linuxaio.trio_context import TrioFuture

    return TrioFuture


def is_future(obj: object) -> TypeGuard[Any]:
    """An ``asyncio.Future`` or a ``TrioFuture``."""
    if isinstance(obj, asyncio.Future):
        return True
    module = sys.modules.get("_linuxaio.trio_context")
    return module is not None and isinstance(obj, module.TrioFuture)


def _is_trio_future(obj: object) -> bool:
    module = sys.modules.get("_linuxaio.trio_context")
    return module is not None and isinstance(obj, module.TrioFuture)


def create_future(like: Any = None) -> Any:
    """A new pending future of the running library (of ``like``'s kind when given)."""
    if like is not None:
        if isinstance(like, asyncio.Future):
            return like.get_loop().create_future()
        if _is_trio_future(like):
            return _trio_future_class()()
    loop = _get_running_loop()
    if loop is not None:
        return loop.create_future()
    if running_trio():
        return _trio_future_class()()
    return asyncio.get_running_loop().create_future()  # raises RuntimeError: no running loop


def ensure_future(awaitable: Awaitable[Any]) -> Any:
    """``asyncio.ensure_future``; under trio a future that a system task running ``awaitable`` resolves."""
    if _get_running_loop() is not None or isinstance(awaitable, asyncio.Future):
        return asyncio.ensure_future(awaitable)
    if _is_trio_future(awaitable):
        return awaitable
    if not running_trio():
        return asyncio.ensure_future(awaitable)  # raises as asyncio does
    import trio

    future = _task_future_class()()
    scope = future._scope = trio.CancelScope()

    async def run() -> None:
        try:
            with scope:
                result = await awaitable
        except BaseException as exc:  # noqa: BLE001 - the future carries it, as an asyncio task would
            if not future.done():
                future.set_exception(exc)
        else:
            if scope.cancelled_caught:
                future._cancelled()
            elif not future.done():
                future.set_result(result)

    trio.lowlevel.spawn_system_task(run, name=getattr(awaitable, "__qualname__", "aiofile task"))
    return future


_TASK_FUTURE: Any = None


def _task_future_class() -> Any:
    """``TrioFuture`` of a system task: ``cancel()`` cancels the task (as ``asyncio.Task.cancel``)."""
    global _TASK_FUTURE
    if _TASK_FUTURE is None:
        base = _trio_future_class()

        class TaskFuture(base):  # type: ignore[misc, valid-type]
            __slots__ = ("_scope",)

            def cancel(self, msg: object = None) -> bool:
                if self.done():
                    return False
                self._scope.cancel()  # the future resolves as cancelled when the task has stopped
                return True

            def _cancelled(self) -> None:
                base.cancel(self)

        _TASK_FUTURE = TaskFuture
    return _TASK_FUTURE


def shield(future: Any) -> Any:
    """``asyncio.shield``: wait for ``future`` without cancelling it when the caller is cancelled."""
    if _is_trio_future(future):
        return future.shielded()
    return asyncio.shield(future)


def cancelled_errors() -> tuple[type[BaseException], ...]:
    """The cancellation exceptions of the libraries loaded (for ``except``)."""
    module = sys.modules.get("trio")
    if module is None:
        return (asyncio.CancelledError,)
    return (asyncio.CancelledError, module.Cancelled)


async def finish_uncancellable(task: Any) -> None:
    """Await ``task`` (a future) to the end; a cancellation of the caller is delivered afterwards."""
    if _is_trio_future(task):
        import trio

        with trio.CancelScope(shield=True):
            await task.shielded()
        await trio.lowlevel.checkpoint_if_cancelled()
        return
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def gather(*futures: Any, return_exceptions: bool = False) -> list[Any]:
    """``asyncio.gather`` of futures (or awaitables, started with ``ensure_future``)."""
    if not futures:
        return []
    started = [ensure_future(f) for f in futures]
    if not any(_is_trio_future(f) for f in started):
        return await asyncio.gather(*started, return_exceptions=return_exceptions)
    results = []
    for future in started:
        try:
            results.append(await future)
        except (Exception, asyncio.CancelledError) as exc:  # a cancelled future: CancelledError, as asyncio's
            if not return_exceptions:
                raise
            results.append(exc)
    return results


async def wait(futures: Iterable[Any], *, first_exception: bool = False) -> None:
    """Wait until every future is done (``first_exception``: or one of them failed)."""
    futures = list(futures)
    if not futures:
        return
    if not any(_is_trio_future(f) for f in futures):
        await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION if first_exception else asyncio.ALL_COMPLETED)
        return
    import trio

    event = trio.Event()

    def check(_: Any = None) -> None:
        pending = [f for f in futures if not f.done()]
        failed = first_exception and any(f.done() and not f.cancelled() and f.exception() for f in futures)
        if not pending or failed:
            event.set()

    for future in futures:
        future.add_done_callback(check)
    try:
        check()
        await event.wait()
    finally:
        for future in futures:
            future.remove_done_callback(check)


def semaphore(value: int) -> Any:
    """An ``asyncio.Semaphore`` or a ``trio.Semaphore`` for the running library."""
    if running_trio():
        import trio

        return trio.Semaphore(value)
    return asyncio.Semaphore(value)


def run_in_executor(executor: Any, function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function(*args)`` in ``executor`` (``None``: the library's default threads); a future of its result."""
    loop = _get_running_loop()
    if loop is not None or not running_trio():
        return (loop or asyncio.get_running_loop()).run_in_executor(executor, function, *args)
    import trio

    if executor is None:
        return ensure_future(trio.to_thread.run_sync(function, *args))
    return ensure_future(trio.to_thread.run_sync(lambda: executor.submit(function, *args).result()))


class Lock:
    """An ``asyncio.Lock`` or a ``trio.Lock``, chosen at first use (objects may be built outside any loop).

    ``_locked`` and ``_waiters`` are plain attributes, as ``asyncio.Lock``'s, for fast paths
    that only peek: held, and how many tasks are waiting to take it.
    """

    __slots__ = ("_lock", "_locked", "_waiters")

    def __init__(self) -> None:
        self._lock: Any = None
        self._locked = False
        self._waiters = 0

    def _get(self) -> Any:
        lock = self._lock
        if lock is None:
            if running_trio():
                import trio

                lock = trio.Lock()
            else:
                lock = asyncio.Lock()
            self._lock = lock
        return lock

    def locked(self) -> bool:
        """True while held."""
        return self._locked

    async def acquire(self) -> None:
        """Wait for the lock and take it."""
        self._waiters += 1
        try:
            await (self._lock or self._get()).acquire()
        finally:
            self._waiters -= 1
        self._locked = True

    def release(self) -> None:
        """Give the lock back."""
        self._locked = False
        self._lock.release()

    async def __aenter__(self) -> None:
        self._waiters += 1
        try:
            await (self._lock or self._get()).acquire()
        finally:
            self._waiters -= 1
        self._locked = True

    async def __aexit__(self, *exc: object) -> None:
        self._locked = False
        self._lock.release()
