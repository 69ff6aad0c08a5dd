"""A typed usage example: ``mypy --strict`` checks it against the stubs and inline types.

Not a test module (pytest does not collect it); run it with ``python tests/typed_usage.py``.
"""

from __future__ import annotations

import asyncio
import os
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


def describe() -> str:
    selection: _linuxaio.Selection = _linuxaio.selected_backend()
    status: dict[str, str | None] = _linuxaio.backend_status()
    return f"{selection.name} {sorted(status)}"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(asyncio.run(engine_round_trip(os.path.join(tmp, "typed.bin"))), describe())
