"""The asyncio adapter's life cycle on every backend: binding, the backend's ``fileno``, reprs, exit."""

from __future__ import annotations

import os
from typing import Any

import pytest

from _linuxaio.asyncio_base import AsyncioContextBase


def _int_fileno_context(backend: Any) -> Any:
    """A backend Context whose ``fileno`` is an int attribute (as caio 0.12's), not a method."""
    inner = backend.Context(max_requests=8)

    class IntFilenoContext:
        __module__ = backend.module.__name__  # the adapter finds the Operation class through it

        def __init__(self) -> None:
            self.fileno: int = inner.fileno()
            self.max_requests = inner.max_requests

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    return IntFilenoContext()


@pytest.mark.parametrize("adapter", ["base", "backend"])
async def test_adapter_accepts_fileno_as_an_int_attribute(backend: Any, adapter: str, fd: int) -> None:
    context = _int_fileno_context(backend)
    factory = AsyncioContextBase if adapter == "base" else backend.AsyncioContext
    ctx = factory(context=context)
    try:
        assert await ctx.write(b"abcdef", fd, 0) == 6
        assert await ctx.read(6, fd, 0) == b"abcdef"
    finally:
        await ctx.aclose()
        context.close()
    assert os.pread(fd, 6, 0) == b"abcdef"
