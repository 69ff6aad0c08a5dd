"""The default context: created at first I/O inside a loop, one per loop, released with the loop."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from aiofile import AIOFile, _defaults, async_open


def test_default_context_per_loop_bound_at_first_io(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    afp = AIOFile(path, "rb")  # constructed outside any loop
    contexts = []

    async def main() -> bytes:
        async with afp:
            contexts.append(_defaults.get_default_context())
            data = await afp.read()
            assert _defaults.get_default_context() is contexts[0]
            return bytes(data)

    assert asyncio.run(main()) == b"data"
    context = contexts[0]
    assert context.closed, "the default context must be released when its loop closes"
    assert len(_defaults._STORE) == 0
    second = AIOFile(path, "rb")

    async def again() -> bytes:
        async with second:
            assert _defaults.get_default_context() is not context
            return bytes(await second.read())

    assert asyncio.run(again()) == b"data"
    gc.collect()
    assert len(_defaults._STORE) == 0



def test_special_files_with_the_default_context(tmp_path: Path) -> None:
    async def main() -> tuple[str, str]:
        async with async_open("/proc/self/status") as status, async_open("/proc/cpuinfo", "rb") as cpuinfo:
            return await status.read(), (await cpuinfo.read()).decode()

    status, cpuinfo = asyncio.run(main())
    assert status.startswith("Name:") and status.endswith("\n")
    assert "processor" in cpuinfo and cpuinfo.endswith("\n")
