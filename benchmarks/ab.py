"""In-process A/B measurements, for a noisy host: the variants alternate in one process.

A full ``python -m benchmarks`` run puts each participant in its own
subprocess; on a shared or throttled host its repeats can spread several-fold.
These two measurements alternate the variants round by round in one process,
so slow phases of the host hit every variant alike, and report medians:

``python -m benchmarks.ab turns [--backend linux]``
    64 tasks reading 4 KiB of cached data at random offsets through the
    engine, with ``AsyncioContext._turns_per_slice`` at 16, 8 and 4 (how many
    waiting tasks one loop iteration wakes). Reads per second.

``python -m benchmarks.ab write-lines``
    100,000 80-byte lines through ``async_open(path, "w")`` (open, one
    ``await f.write(line)`` per line, close) on ``linux``, ``thread`` and
    ``uring``, beside the same with the builtin ``open()``. Ratios to it.

Data lives in the temporary directory and is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import random
import statistics
import tempfile
import time
from typing import Any

ENGINES = {"linux": "linux_aio_asyncio", "uring": "linux_uring_asyncio", "thread": "thread_aio_asyncio"}
LINE = "x" * 79 + "\n"


def _context(backend: str) -> Any:
    return importlib.import_module(f"_linuxaio.{ENGINES[backend]}").AsyncioContext()


async def _turns(backend: str, rounds: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cached.bin")
        size = 64 << 20
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        offsets = [random.randrange(size // 4096) * 4096 for _ in range(1 << 16)]
        ctx = _context(backend)
        rates: dict[int, list[float]] = {}
        try:
            for _ in range(rounds):
                for turns in (16, 8, 4):
                    ctx._turns_per_slice = turns
                    rates.setdefault(turns, []).append(await _read_rate(ctx, fd, offsets, seconds))
        finally:
            await ctx.aclose()
            os.close(fd)
    for turns, values in rates.items():
        print(f"{backend}: {turns:2d} turns per iteration: median {statistics.median(values):,.0f} reads/s")


async def _read_rate(ctx: Any, fd: int, offsets: list[int], seconds: float) -> float:
    count = 0
    stop = False

    async def reader(k: int) -> None:
        nonlocal count
        i = k * 997
        while not stop:
            await ctx.read(4096, fd, offsets[i & 0xFFFF])
            i += 1
            count += 1

    tasks = [asyncio.ensure_future(reader(k)) for k in range(64)]
    await asyncio.sleep(0.05)
    count, started = 0, time.perf_counter()
    await asyncio.sleep(seconds)
    rate = count / (time.perf_counter() - started)
    stop = True
    await asyncio.gather(*tasks)
    return rate


async def _write_lines(rounds: int, lines: int) -> None:
    from aiofile import async_open

    contexts = {backend: _context(backend) for backend in ENGINES}
    seconds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lines.txt")
        try:
            for _ in range(rounds):
                os.sync()  # every variant truncates a file whose pages are clean
                started = time.perf_counter()
                with open(path, "w", encoding="utf-8") as f:
                    for _ in range(lines):
                        f.write(LINE)
                seconds.setdefault("sync", []).append(time.perf_counter() - started)
                for backend, ctx in contexts.items():
                    os.sync()
                    started = time.perf_counter()
                    afp = await async_open(path, "w", encoding="utf-8", context=ctx)
                    for _ in range(lines):
                        await afp.write(LINE)
                    await afp.close()
                    seconds.setdefault(backend, []).append(time.perf_counter() - started)
        finally:
            for ctx in contexts.values():
                await ctx.aclose()
    floor = statistics.median(seconds["sync"])
    print(f"sync open(): median {floor * 1e3:.1f} ms")
    for backend in ENGINES:
        median = statistics.median(seconds[backend])
        print(f"async_open on {backend}: median {median * 1e3:.1f} ms, {floor / median:.2f}x sync")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    turns = sub.add_parser("turns", help="64 cached readers at 16, 8 and 4 turns per loop iteration")
    turns.add_argument("--backend", choices=sorted(ENGINES), default="linux")
    turns.add_argument("--rounds", type=int, default=8)
    turns.add_argument("--seconds", type=float, default=0.4)
    write = sub.add_parser("write-lines", help="line writes through async_open beside open()")
    write.add_argument("--rounds", type=int, default=8)
    write.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    if args.what == "turns":
        asyncio.run(_turns(args.backend, args.rounds, args.seconds))
    else:
        asyncio.run(_write_lines(args.rounds, args.lines))


if __name__ == "__main__":
    main()
