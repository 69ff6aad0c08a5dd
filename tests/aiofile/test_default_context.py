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


def test_file_object_made_outside_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("made outside\n")
    f = async_open(path)

    async def main() -> str:
        async with f:
            return await f.read()

    assert asyncio.run(main()) == "made outside\n"


def test_pipe_and_fifo_with_the_default_context(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    read_fd, write_fd = os.pipe()

    def produce() -> None:
        with open(write_fd, "wb") as w:
            w.write(b"through a pipe\n" * 1000)
        with open(fifo, "wb") as w:
            w.write(b"through a fifo\n" * 1000)

    thread = threading.Thread(target=produce)
    thread.start()

    async def main() -> tuple[bytes, list[str]]:
        async with async_open(read_fd, "rb") as pipe:
            data = await pipe.read()
        async with async_open(fifo) as f:
            lines = [line async for line in f]
        return data, lines

    try:
        data, lines = asyncio.run(main())
    finally:
        thread.join()
    assert data == b"through a pipe\n" * 1000
    assert lines == ["through a fifo\n"] * 1000
