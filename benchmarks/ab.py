"""In-process A/B measurements, for a noisy host: the variants alternate in one process.

A full ``python -m benchmarks`` run puts each participant in its own
subprocess; on a shared or throttled host its repeats can spread several-fold.
These measurements alternate the variants round by round in one process,
so slow phases of the host hit every variant alike, and report medians:

``python -m benchmarks.ab turns [--backend linux]``
    64 tasks reading 4 KiB of cached data at random offsets through the
    engine, with ``AsyncioContext._turns_per_slice`` at 16, 8 and 4 (how many
    waiting tasks one loop iteration wakes). Reads per second.

``python -m benchmarks.ab write-lines``
    100,000 80-byte lines through ``async_open(path, "w")`` (open, one
    ``await f.write(line)`` per line, close) on ``linux``, ``thread`` and
    ``uring``, beside the same with the builtin ``open()``. Ratios to it.

``python -m benchmarks.ab cold-reads``
    64 tasks reading 4 KiB at random offsets of a 1 GiB file (``--size-mib``) evicted from the
    page cache before each variant, beside a 1 ms ticker: ``uring`` with a
    cold file's reads on the C pool (its default) and on io-wq workers
    (``IOSQE_ASYNC``, the A/B hook ``_set_cold_reads_to_pool(False)``),
    ``linux``, and caio's ``linux_uring`` when caio is installed. Reads per
    second and the loop's lag. ``--pool-size 16`` adds ``uring`` and
    ``linux`` with a C pool of that many threads (the default is 32).

``python -m benchmarks.ab write-trust [--tasks 64]``
    Tasks writing 4 KiB at random offsets of a 64 MiB cached file through the
    engine (W4's buffered writes), on ``linux``, ``uring`` and ``thread``
    with the write guard trusting a checked descriptor for 250 µs (the
    default) and checking it before every write (``_set_write_guard_trust_ns(0)``),
    beside caio's ``linux_aio`` with ``deferred=True`` when caio is installed.
    Writes per second.

Data lives in the temporary directory and is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

ENGINES = {"linux": "linux_aio_asyncio", "uring": "linux_uring_asyncio", "thread": "thread_aio_asyncio"}
LINE = "x" * 79 + "\n"
T = TypeVar("T")


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
    return await _op_rate(lambda offset: ctx.read(4096, fd, offset), offsets, seconds, 64)


async def _op_rate(op: Callable[[int], Awaitable[Any]], offsets: list[int], seconds: float, tasks: int) -> float:
    """Operations per second of ``tasks`` coroutines, each awaiting ``op(offset)`` over ``offsets`` in a loop."""
    count = 0
    stop = False

    async def worker(k: int) -> None:
        nonlocal count
        i = k * 997
        while not stop:
            await op(offsets[i % len(offsets)])
            i += 1
            count += 1

    workers = [asyncio.ensure_future(worker(k)) for k in range(tasks)]
    try:
        await asyncio.sleep(0.05)  # warm-up
        count, started = 0, time.perf_counter()
        await asyncio.sleep(seconds)
        return count / (time.perf_counter() - started)
    finally:
        stop = True
        await asyncio.gather(*workers)


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


COLD_VARIANTS = ("uring", "uring io-wq", "linux", "caio uring")


def _cold_context(variant: str) -> Any:
    """The context of a variant: ``uring``, ``uring io-wq``, ``linux``, ``caio uring`` or ``<backend> pool=N``."""
    from _linuxaio import linux_uring

    linux_uring._set_cold_reads_to_pool(variant != "uring io-wq")
    if variant == "caio uring":
        from caio import linux_uring_asyncio

        return linux_uring_asyncio.AsyncioContext(64)
    backend, _, rest = variant.partition(" ")
    if rest.startswith("pool="):
        module = importlib.import_module(f"_linuxaio.{ENGINES[backend]}")
        return module.AsyncioContext(pool_size=int(rest[len("pool=") :]))
    return _context(backend)


async def _cold_run(variant: str, fd: int, offsets: list[int], seconds: float) -> tuple[float, float, float]:
    """64 readers of evicted data for ``seconds``: reads per second, loop lag p50 and p99 (ms)."""
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    ctx = _cold_context(variant)
    count = 0
    stop = False
    lags: list[float] = []

    async def reader(k: int) -> None:
        nonlocal count
        i = k * 997
        while not stop:
            await ctx.read(4096, fd, offsets[i % len(offsets)])
            i += 1
            count += 1

    async def ticker() -> None:
        while not stop:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    tasks = [asyncio.ensure_future(reader(k)) for k in range(64)] + [asyncio.ensure_future(ticker())]
    try:
        await asyncio.sleep(0.05)
        count = 0
        lags.clear()
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        stop = True
        rate = count / (time.perf_counter() - started)
        await asyncio.gather(*tasks)
    finally:
        stop = True
        await asyncio.gather(*tasks, return_exceptions=True)
        if hasattr(ctx, "aclose"):
            await ctx.aclose()
        else:
            ctx.close()
        from _linuxaio import linux_uring

        linux_uring._set_cold_reads_to_pool(True)
    lags.sort()
    return rate, lags[len(lags) // 2] * 1e3, lags[int(len(lags) * 0.99)] * 1e3


async def _cold_reads(rounds: int, seconds: float, size_mib: int, pool_size: int | None = None) -> None:
    variants = list(COLD_VARIANTS)
    if importlib.util.find_spec("caio") is None:
        variants.remove("caio uring")
    if pool_size is not None:
        variants[2:2] = [f"uring pool={pool_size}", f"linux pool={pool_size}"]
    with tempfile.TemporaryDirectory(dir="/var/tmp" if os.path.isdir("/var/tmp") else None) as tmp:
        path = os.path.join(tmp, "cold.bin")
        size = size_mib << 20
        chunk = os.urandom(min(size, 16 << 20))
        with open(path, "wb") as f:
            for _ in range(size // len(chunk)):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        offsets = [random.randrange(size // 4096) * 4096 for _ in range(1 << 18)]
        try:
            results = await _alternate(rounds, variants, lambda variant: _cold_run(variant, fd, offsets, seconds))
        finally:
            os.close(fd)
    for variant in variants:
        rows = results[variant]
        rate, p50, p99 = (statistics.median(row[i] for row in rows) for i in range(3))
        print(f"{variant}: median {rate:,.0f} reads/s, loop lag p50 {p50:.2f} ms, p99 {p99:.2f} ms")


async def _alternate(rounds: int, variants: list[str], run: Callable[[str], Awaitable[T]]) -> dict[str, list[T]]:
    """``run(variant)`` for every variant in turn, ``rounds`` times: each variant's results."""
    results: dict[str, list[T]] = {variant: [] for variant in variants}
    for _ in range(rounds):
        for variant in variants:
            results[variant].append(await run(variant))
    return results


async def _write_trust(rounds: int, seconds: float, tasks: int) -> None:
    variants = [f"{backend} {trust}" for backend in ENGINES for trust in ("trust", "check")]
    if importlib.util.find_spec("caio") is not None:
        variants.append("caio linux-deferred")
    with tempfile.TemporaryDirectory(dir="/var/tmp" if os.path.isdir("/var/tmp") else None) as tmp:
        path = os.path.join(tmp, "written.bin")
        size = 64 << 20
        block = os.urandom(4096)
        with open(path, "wb", buffering=0) as f:  # 4 KiB at a time, as W4 lays its file out
            for _ in range(size // len(block)):
                f.write(block)
            os.fsync(f.fileno())
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        offsets = [random.randrange(size // 4096) * 4096 for _ in range(1 << 16)]
        try:
            rates = await _alternate(rounds, variants, lambda variant: _write_run(variant, fd, offsets, seconds, tasks))
        finally:
            os.close(fd)
            for backend in ENGINES:
                importlib.import_module(
                    f"_linuxaio.{ENGINES[backend].removesuffix('_asyncio')}"
                )._set_write_guard_trust_ns(None)
    for variant in variants:
        print(f"{variant}, {tasks} in flight: median {statistics.median(rates[variant]):,.0f} writes/s")


async def _write_run(variant: str, fd: int, offsets: list[int], seconds: float, tasks: int) -> float:
    if variant == "caio linux-deferred":
        from caio import linux_aio_asyncio

        ctx: Any = linux_aio_asyncio.AsyncioContext(deferred=True)
    else:
        backend, trust = variant.split()
        module = importlib.import_module(f"_linuxaio.{ENGINES[backend].removesuffix('_asyncio')}")
        module._set_write_guard_trust_ns(None if trust == "trust" else 0)
        ctx = _context(backend)
    data = os.urandom(4096)
    try:
        return await _op_rate(lambda offset: ctx.write(data, fd, offset), offsets, seconds, tasks)
    finally:
        if hasattr(ctx, "aclose"):
            await ctx.aclose()
        else:
            ctx.close()


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
    cold = sub.add_parser("cold-reads", help="cold 4 KiB reads at 64 in flight: uring on the C pool vs io-wq")
    cold.add_argument("--rounds", type=int, default=8)
    cold.add_argument("--seconds", type=float, default=0.6)
    cold.add_argument("--size-mib", type=int, default=1024, help="the file's size (default 1024)")
    cold.add_argument("--pool-size", type=int, help="also run uring and linux with a C pool of this many threads")
    trust = sub.add_parser("write-trust", help="4 KiB cached writes: the guard's 250 µs trust vs a check per write")
    trust.add_argument("--rounds", type=int, default=8)
    trust.add_argument("--seconds", type=float, default=0.5)
    trust.add_argument("--tasks", type=int, default=64, help="writes in flight (default 64)")
    args = parser.parse_args()
    if args.what == "turns":
        asyncio.run(_turns(args.backend, args.rounds, args.seconds))
    elif args.what == "write-trust":
        asyncio.run(_write_trust(args.rounds, args.seconds, args.tasks))
    elif args.what == "cold-reads":
        asyncio.run(_cold_reads(args.rounds, args.seconds, args.size_mib, args.pool_size))
    else:
        asyncio.run(_write_lines(args.rounds, args.lines))


if __name__ == "__main__":
    main()
