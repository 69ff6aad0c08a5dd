"""The asyncio adapter's life cycle on every backend: binding, the backend's ``fileno``, reprs, exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
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


def test_unclosed_context_warning_states_the_state_it_was_in(backend: Any) -> None:
    """Issue 11 f: the ResourceWarning's repr is the context's state when it warns (open), not 'closed'."""
    held = [backend.Context(max_requests=8)]
    held[0].fileno()
    with pytest.warns(ResourceWarning) as caught:
        held.clear()  # the only reference: finalized here
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1, messages
    assert messages[0].startswith("unclosed context <_linuxaio."), messages
    assert messages[0].endswith(" in_flight=0>"), messages


#: caio's README pattern: get_event_loop(), run_until_complete(), and never loop.close().
CAIO_README = """
import asyncio, os, sys, tempfile
from _linuxaio import {module} as backend

async def main():
    ctx = backend.AsyncioContext(max_requests=128)
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    assert await ctx.write(b"Hello world", fd, 0) == 11
    assert await ctx.read(11, fd, 0) == b"Hello world"

loop = asyncio.get_event_loop()
loop.run_until_complete(main())
"""

NOISE = ("Error in sys.excepthook", "Original exception was", "Exception ignored", "Traceback")


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["-X", "dev"], {}), (["-W", "default"], {}), ([], {"PYTHONASYNCIODEBUG": "1"})],
    ids=["X-dev", "W-default", "PYTHONASYNCIODEBUG"],
)
def test_caio_readme_pattern_exits_quietly(backend: Any, flags: list[str], env: dict[str, str], tmp_path: Path) -> None:
    """Issue 11 e: an adapter left bound to an unclosed loop must not make interpreter exit print errors.

    The loop and its adapter refer to each other; left to the last garbage
    collection of interpreter teardown (module globals gone), their
    finalizers failed and printed ``Error in sys.excepthook``.
    """
    module = backend.asyncio_module.__name__.rpartition(".")[2]
    run = subprocess.run(
        [sys.executable, *flags, "-c", CAIO_README.format(module=module), str(tmp_path / "f")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert not [noise for noise in NOISE if noise in run.stderr], run.stderr
    assert (tmp_path / "f").read_bytes() == b"Hello world"
