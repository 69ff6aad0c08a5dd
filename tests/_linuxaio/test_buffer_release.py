"""Caller buffers go back when an operation is done with them (issue 11 items a and b), on every backend.

* A cancelled operation that never reached the kernel or a worker releases
  its buffer export at once (``mmap.close()`` works right after).
* A reference cycle through an ``Operation`` (its callback names it) is
  collected without freeing the buffer's owner while the operation still
  holds an export on it (``SystemError: deallocated bytearray object has
  exported buffers`` before the fix).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import mmap
import os
import subprocess
import sys
from typing import Any

import pytest

PAGE = mmap.PAGESIZE


async def _cancel_three_waiters(backend: Any, fd: int, buffers: list[mmap.mmap]) -> Any:
    """Issue 11 a: max_requests=1, four readinto tasks, the three waiting for the slot cancelled."""
    os.pwrite(fd, b"x" * PAGE, 0)
    ctx = backend.AsyncioContext(max_requests=1)
    tasks = [asyncio.ensure_future(ctx.readinto(buf, fd, 0)) for buf in buffers]
    await asyncio.sleep(0)  # every task started: one in flight, three waiting for the slot
    for task in tasks[1:]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == PAGE
    assert all(isinstance(r, asyncio.CancelledError) for r in results[1:])
    assert ctx.in_flight == 0
    return ctx


async def test_cancelled_waiters_release_their_buffers(backend: Any, fd: int) -> None:
    buffers = [mmap.mmap(-1, PAGE) for _ in range(4)]
    ctx = await _cancel_three_waiters(backend, fd, buffers)
    ctx.close()
    gc.collect()
    for buf in buffers[1:]:
        buf.close()  # BufferError("cannot close exported pointers exist") for ever on linux before the fix


async def test_cancelled_waiters_release_their_buffers_at_once(backend: Any, fd: int) -> None:
    if backend.name == "python":
        pytest.skip(
            "python_aio keeps a memoryview on its Operation until the operation is collected, "
            "so its buffers come back at the next gc.collect(), not at once"
        )
    buffers = [mmap.mmap(-1, PAGE) for _ in range(4)]
    ctx = await _cancel_three_waiters(backend, fd, buffers)
    try:
        # No gc.collect() and the context still open: the exports are gone
        # already, though the cancelled coroutines' frames may name their operations.
        for buf in buffers[1:]:
            buf.close()
    finally:
        ctx.close()


async def test_cancelled_waiter_does_not_stop_the_others(backend: Any, fd: int) -> None:
    os.pwrite(fd, bytes(range(256)) * (PAGE // 256), 0)
    ctx = backend.AsyncioContext(max_requests=1)
    try:
        buffers = [bytearray(PAGE) for _ in range(6)]
        tasks = [asyncio.ensure_future(ctx.readinto(buf, fd, 0)) for buf in buffers]
        await asyncio.sleep(0)
        tasks[2].cancel()
        tasks[4].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for i, result in enumerate(results):
            if i in (2, 4):
                assert isinstance(result, asyncio.CancelledError)
                assert buffers[i] == bytearray(PAGE)  # never read into
            else:
                assert result == PAGE
                assert buffers[i] == bytes(range(256)) * (PAGE // 256)
        assert ctx.in_flight == 0
        assert await ctx.read(4, fd, 0) == bytes(range(4))  # still usable
    finally:
        await ctx.aclose()


# -- item b: reference cycles through an Operation ------------------------------------------
#
# Each case runs in a child interpreter: a buffer owner freed while exported
# is reported by CPython on stderr ("SystemError: deallocated bytearray object
# has exported buffers") and corrupts memory after that, so the test checks
# the child's exit status and stderr. Under the ASan build (README, "Build
# switches") the child inherits the preloaded runtime and a use after free
# fails it.

_NAMES_OP = "\nop.set_callback(functools.partial(print, op))"
_CYCLE_CASES = {
    # the reproducer: the callback names the operation
    "write-partial": "op = Operation.write(bytearray(b'payload!'), fd, 0)" + _NAMES_OP,
    "readinto-partial": "op = Operation.readinto(bytearray(64), fd, 0)" + _NAMES_OP,
    "readinto-memoryview": ("op = Operation.readinto(memoryview(bytearray(64))[8:], fd, 0)" + _NAMES_OP),
    "readv-partial": ("op = Operation.readv([bytearray(16), bytearray(32)], fd, 0)" + _NAMES_OP),
    "writev-partial": ("op = Operation.writev([bytearray(b'ab'), bytearray(b'cd')], fd, 0)" + _NAMES_OP),
    # a bound method of the operation itself (a method object has no tp_clear)
    "write-bound-method": "op = Operation.write(bytearray(b'payload!'), fd, 0)\nop.set_callback(op.get_value)",
    # the cycle goes through the buffer's owner
    "payload-owner-cycle": (
        "class Buf(bytearray):\n    pass\n"
        "buf = Buf(b'payload!')\nop = Operation.write(buf, fd, 0)\nbuf.op = op\ndel buf"
    ),
}

_CYCLE_SCRIPT = """
import functools, gc, importlib, os, sys, tempfile
module = importlib.import_module("_linuxaio." + sys.argv[1])
Operation = module.Operation
fd, path = tempfile.mkstemp()
os.unlink(path)
gc.disable()
{case}
del op
for _ in range(3):
    gc.collect()
# a completed operation in a cycle, too
ctx = module.Context()
op = Operation.write(bytearray(b"done"), fd, 0)
op.set_callback(functools.partial(lambda op, res: None, op))
assert ctx.submit(op) == 1
while not op.done:
    ctx.process_events()
del op
gc.collect()
ctx.close()
os.close(fd)
print("ok")
"""

_MODULES = {"linux": "linux_aio", "thread": "thread_aio", "python": "python_aio"}


@pytest.mark.parametrize("case", sorted(_CYCLE_CASES))
def test_reference_cycle_through_an_operation_is_collected_safely(backend: Any, case: str) -> None:
    script = _CYCLE_SCRIPT.format(case=_CYCLE_CASES[case])
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script, _MODULES.get(backend.name, backend.name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    assert "exported buffers" not in proc.stderr
    assert "Error" not in proc.stderr, proc.stderr


def test_operation_in_a_collected_cycle_while_in_flight_is_not_cleared(backend: Any, fd: int) -> None:
    """The context owns an in-flight operation: a cycle through it is not garbage until it completes."""
    os.pwrite(fd, b"z" * 64, 0)
    results: list[Any] = []
    with backend.Context() as ctx:
        buf = bytearray(64)
        op = backend.Operation.readinto(buf, fd, 0)
        op.set_callback(functools.partial(lambda op, res: results.append((res, op.payload is buf)), op))
        assert ctx.submit(op) == 1
        del op
        gc.collect()
        while not results:
            ctx.process_events()
    assert results == [(64, True)]
    assert buf == b"z" * 64
