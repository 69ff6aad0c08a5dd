"""Write and read a file through ``AsyncioContext`` (the README's quick start)."""

import asyncio
import os
import tempfile

import _linuxaio
from _linuxaio import AsyncioContext


async def main() -> None:
    path = os.path.join(tempfile.gettempdir(), "aiofile-quickstart.bin")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        async with AsyncioContext(max_requests=64) as ctx:
            await ctx.write(b"hello, world", fd, 0)
            await ctx.fdsync(fd)
            print(await ctx.read(5, fd, 7))
            chunks = await asyncio.gather(*(ctx.read(4, fd, o) for o in range(0, 12, 4)))
            print(chunks)
    finally:
        os.close(fd)
        os.unlink(path)
    print("backend:", _linuxaio.selected_backend())


if __name__ == "__main__":
    asyncio.run(main())
