"""Timing loops, calibration, offsets and the event-loop lag ticker (child side).

Operation counts are fixed per participant and cell: the first repeat
calibrates the count from its warm-up (so one run takes about ``--duration``
seconds), and every later repeat does exactly that count. Latency is taken
around every operation with ``time.perf_counter_ns`` (submission to result, as
the awaiting task sees it).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .adapters import PositionalIO

#: The lag ticker's period (s): it sleeps this long and records how late it wakes.
TICK = 0.001


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) of already sorted values, nearest rank; ``None`` when empty."""
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def latency_us(samples_ns: list[int]) -> dict[str, float | None]:
    """p50 and p99 of per-operation latencies, in microseconds."""
    ordered = sorted(samples_ns)
    return {"p50_us": _scaled(percentile(ordered, 0.50), 1e-3), "p99_us": _scaled(percentile(ordered, 0.99), 1e-3)}


class Offsets:
    """Where each operation of a cell goes, deterministic per seed.

    ``random``: block-aligned offsets drawn uniformly (with replacement) from
    the first ``span`` bytes. ``distinct``: a random permutation of the
    blocks, never reused (cold reads must not hit pages an earlier read
    brought in). ``sequential``: consecutive blocks, wrapping at ``span``.
    """

    def __init__(self, pattern: str, block: int, span: int, seed: int) -> None:
        self.pattern = pattern
        self.block = block
        self.blocks = max(1, span // block)
        self.rng = random.Random(seed)
        self.position = 0
        if pattern == "distinct":
            self.order = list(range(self.blocks))
            self.rng.shuffle(self.order)

    @property
    def remaining(self) -> int | None:
        """How many offsets are left (``distinct`` only; else ``None`` = unlimited)."""
        return self.blocks - self.position if self.pattern == "distinct" else None

    def take(self, count: int) -> list[int]:
        """The next ``count`` offsets."""
        block = self.block
        if self.pattern == "random":
            return [b * block for b in self.rng.choices(range(self.blocks), k=count)]
        if self.pattern == "distinct":
            chosen = self.order[self.position : self.position + count]
            self.position += len(chosen)
            return [b * block for b in chosen]
        start, blocks = self.position, self.blocks
        self.position = (start + count) % blocks
        return [((start + i) % blocks) * block for i in range(count)]


async def run_positional(
    io: PositionalIO, offsets: list[int], depth: int, check: Callable[[Any], None] | None = None
) -> tuple[float, list[int]]:
    """Run one operation per offset with ``depth`` in flight; (seconds, per-op latencies in ns).

    ``depth`` coroutines share one iterator over the offsets, so exactly
    ``depth`` operations are outstanding until the last ones drain. ``check``
    (warm-up only) validates each result.
    """
    count = len(offsets)
    lat = [0] * count
    clock = time.perf_counter_ns
    indices = iter(range(count))

    if io.synchronous:
        op = io.op(0)
        start = time.perf_counter()
        for i in indices:
            t0 = clock()
            result = op(offsets[i])
            lat[i] = clock() - t0
            if check is not None:
                check(result)
        return time.perf_counter() - start, lat

    async def worker(op: Callable[[int], Awaitable[Any]]) -> None:
        for i in indices:
            t0 = clock()
            await op(offsets[i])
            lat[i] = clock() - t0

    def make_checked(verify: Callable[[Any], None]) -> Callable[[Callable[[int], Awaitable[Any]]], Awaitable[None]]:
        async def checked_worker(op: Callable[[int], Awaitable[Any]]) -> None:
            for i in indices:
                t0 = clock()
                result = await op(offsets[i])
                lat[i] = clock() - t0
                verify(result)

        return checked_worker

    body = worker if check is None else make_checked(check)
    ops = [io.op(w) for w in range(depth)]
    start = time.perf_counter()
    if depth == 1:
        await body(ops[0])
    elif asyncio.events._get_running_loop() is None:  # under trio: one task per slot in a nursery
        import trio

        async with trio.open_nursery() as nursery:
            for op in ops:
                nursery.start_soon(body, op)
    else:
        await asyncio.gather(*(body(op) for op in ops))
    return time.perf_counter() - start, lat


async def calibrate(
    batch: Callable[[int], Awaitable[float]],
    start: int,
    target: float,
    limit: int | None = None,
    cap: int | None = None,
) -> float:
    """Warm up with growing batches until one lasts ``target`` seconds; the steady rate (units/s).

    ``batch(k)`` does ``k`` units and returns the seconds taken. ``limit``
    caps the total units the warm-up may use, ``cap`` the units of one batch
    (``None``: no cap); it stops at either even if ``target`` is not reached.
    The rate is the best of the batches that lasted at least a quarter of
    ``target`` (early batches pay for thread start-up and first touches,
    which would make the count, and so the measured run, too short).
    """
    k, used, best = max(1, start), 0, 0.0
    while True:
        if limit is not None:
            k = min(k, max(1, limit - used))
        if cap is not None:
            k = min(k, cap)
        seconds = await batch(k)
        used += k
        rate = k / max(seconds, 1e-9)
        if seconds >= target / 4:
            best = max(best, rate)
        if seconds >= target or (limit is not None and used >= limit) or (cap is not None and k >= cap):
            return best or rate
        growth = target / max(seconds, 1e-9) * 1.2
        k = int(k * min(8.0, max(2.0, growth)))


class LagTicker:
    """A task that sleeps ``TICK`` seconds in a loop and records how late each wake-up is.

    With an idle loop the lag is the timer's resolution; a blocked loop
    shows up as lag as long as the block.
    """

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.task: asyncio.Task[None] | None = None
        self._tick_start: float | None = None  # the tick in progress

    async def _run(self) -> None:
        clock = time.perf_counter
        while True:
            self._tick_start = t0 = clock()
            await asyncio.sleep(TICK)
            self._tick_start = None
            self.samples.append(clock() - t0 - TICK)

    def start(self) -> None:
        """Start ticking on the running loop."""
        self.task = asyncio.ensure_future(self._run())

    async def stop(self) -> dict[str, float | None]:
        """Stop; the lag's p50/p99/max in milliseconds and the number of ticks."""
        assert self.task is not None
        # The tick in progress is cancelled, not completed: if it is already
        # late (the loop was blocked just before this call), record it.
        if self._tick_start is not None:
            late = time.perf_counter() - self._tick_start - TICK
            if late > 0:
                self.samples.append(late)
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        ordered = sorted(max(0.0, s) for s in self.samples)
        return {
            "lag_p50_ms": _scaled(percentile(ordered, 0.50), 1e3),
            "lag_p99_ms": _scaled(percentile(ordered, 0.99), 1e3),
            "lag_max_ms": _scaled(percentile(ordered, 1.0), 1e3),
            "ticks": len(ordered),
        }


async def idle_lag(seconds: float) -> dict[str, float | None]:
    """The ticker's lag on an otherwise idle loop: the floor W2c's lag figures sit on."""
    ticker = LagTicker()
    ticker.start()
    await asyncio.sleep(seconds)
    return await ticker.stop()
