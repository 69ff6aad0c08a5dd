"""A typed usage example: ``mypy --strict`` checks it against the stubs and inline types.

Not a test module (pytest does not collect it); run it with ``python tests/typed_usage.py``.
"""

from __future__ import annotations

import asyncio
import os
import select
import tempfile

import _linuxaio
from _linuxaio import python_aio
from _linuxaio.python_aio_asyncio import AsyncioContext


async def engine_round_trip(path: str) -> bytes:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        async with AsyncioContext(max_requests=8) as ctx:
            written: int = await ctx.write(b"typed", fd, 0)
            assert written == 5
            buffer = bytearray(5)
            count: int = await ctx.readinto(buffer, fd, 0)
            assert count == 5
            await ctx.fdsync(fd)
            data: bytes = await ctx.read(5, fd, 0)
            return data
    finally:
        os.close(fd)


def raw_protocol(fd: int) -> _linuxaio.ContextProtocol:
    ctx: _linuxaio.ContextProtocol = python_aio.Context(max_requests=4)
    op = python_aio.Operation.read(1, fd, 0)
    op.set_callback(lambda result: None)
    ctx.submit(op)
    return ctx


def caio_raw_loop(fd: int) -> int:
    """caio 0.12's raw loop: select on ``ctx.fileno`` (an int), then ``process_events``."""
    ctx = python_aio.Context(max_requests=4, pool_size=2, deferred=False, sqpoll=False)
    try:
        op = python_aio.Operation.write(b"raw", fd, 0)
        assert ctx.submit(op) == 1
        select.select([ctx.fileno], [], [], 5.0)
        processed: int = ctx.process_events(max_requests=8, min_requests=1, timeout=5)
        return processed
    finally:
        ctx.close()


async def aiofile3_default_context() -> bool:
    """aiofile 3.x's default-context names."""
    from aiofile.aio import DEFAULT_CONTEXT_STORE, create_context

    context = create_context(64)
    return DEFAULT_CONTEXT_STORE.get(id(asyncio.get_running_loop())) is context


def describe() -> str:
    selection: _linuxaio.Selection = _linuxaio.selected_backend()
    status: dict[str, str | None] = _linuxaio.backend_status()
    return f"{selection.name} {sorted(status)}"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(asyncio.run(engine_round_trip(os.path.join(tmp, "typed.bin"))), describe())
        raw_fd = os.open(os.path.join(tmp, "raw.bin"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            print(caio_raw_loop(raw_fd), asyncio.run(aiofile3_default_context()))
        finally:
            os.close(raw_fd)
