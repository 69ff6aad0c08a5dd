"""Cancellation storm: thousands of operations cancelled at random points, then the accounting.

Each repeat starts reads and writes on every backend's ``AsyncioContext``
(more than its slots, so some wait for one), cancels a random half of them
after a random number of loop iterations (before submission, while waiting
for a slot, in flight, or already done) and gathers them all. Then:

* every outcome is a value or ``CancelledError``, nothing else;
* every write owns its slot of the file: a write that returned landed, and
  every byte of every slot is either the old data or the new data of the
  write issued there (a cancelled write may or may not land, never half
  of another's); every read returned old or new bytes of its slot;
* ``in_flight`` is back to 0 once the context is closed;
* no repeat adds descriptors or threads to what the first one left (the
  process's shared resources are created once); sets of fd numbers and
  thread ids, never global counts other tests move;
* RSS does not grow with the repeats.

Seeded; ``--long`` runs 50 times the work.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

SLOT = 512
SLOTS = 1024
OPS = 10000  # per repeat, bounded version: 40,000 operations per backend
REPEATS = 4


def fds() -> set[str]:
    """Open descriptor numbers, without the write guard's ``/proc/vmstat``.

    The guard opens that file once per process, at the first write it lets
    run inline, which may come in any repeat: it is the process's, not a
    context's.
    """
    numbers = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "/proc/vmstat":
                continue
        except FileNotFoundError:  # listdir's own descriptor, closed by now
            pass
        numbers.add(name)
    return numbers


def threads() -> set[str]:
    """Thread ids of the process, without io_uring's kernel workers.

    ``iou-wrk-*``/``iou-sqp-*`` tasks are the kernel's: they serve a ring's
    blocking requests and leave on their own, after the ring is gone (its
    teardown is asynchronous, io_uring_setup(2)), so they may be seen just
    after a context closed. The ring itself is a descriptor: ``fds()`` checks it.
    """
    ids = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as comm:
                if comm.read().startswith("iou-"):
                    continue
        except FileNotFoundError:  # it has just exited
            continue
        ids.add(tid)
    return ids


def threads_left(before: set[str]) -> set[str]:
    """``threads() - before``, once joined threads are gone from ``/proc`` (bounded: 10 s).

    ``pthread_join`` returns when the kernel clears the thread's tid, before
    the task is released, so a joined worker can stay listed for a moment
    under load; a thread never joined stays listed and is returned.
    """
    deadline = time.monotonic() + 10
    while (left := threads() - before) and time.monotonic() < deadline:
        time.sleep(0.001)
    return left


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def thread_name(tid: str) -> str:
    try:
        with open(f"/proc/self/task/{tid}/comm") as comm:
            return comm.read().strip()
    except FileNotFoundError:
        return f"{tid} (exited)"


def old_data(slot: int) -> bytes:
    return bytes([slot % 251]) * SLOT


def new_data(slot: int, generation: int) -> bytes:
    return bytes([(slot * 7 + generation) % 256 | 1]) * SLOT  # odd: never the old byte pattern's twin


def mixes_only(got: bytes, offset: int, allowed: dict[int, list[bytes]]) -> bool:
    """Every byte of ``got`` (read at ``offset``) is one the slot's old or new data has there.

    Each slot's data is one byte repeated, so a chunk is sound when its bytes are a subset.
    """
    position = 0
    while position < len(got):
        slot, at = divmod(offset + position, SLOT)
        chunk = got[position : position + SLOT - at]
        if not set(chunk) <= {candidate[0] for candidate in allowed[slot]}:
            return False
        position += len(chunk)
    return True


def describe(got: bytes, offset: int, allowed: dict[int, list[bytes]]) -> str:
    """Per slot the read touched: the byte values seen, and the ones its old and new data have."""
    parts = []
    position = 0
    while position < len(got):
        slot, at = divmod(offset + position, SLOT)
        chunk = got[position : position + SLOT - at]
        parts.append(f"slot {slot}: saw {sorted(set(chunk))}, allowed {[c[0] for c in allowed[slot]]}")
        position += len(chunk)
    return "; ".join(parts)


async def storm(
    actx: Any, fd: int, rng: random.Random, generation: int, ops: int, buffers: list[bytearray]
) -> tuple[int, int]:
    """One repeat; returns (completed, cancelled); ``buffers`` gets every readinto buffer."""
    allowed = {slot: [old_data(slot)] for slot in range(SLOTS)}
    writes: dict[int, asyncio.Task[Any]] = {}
    tasks: list[tuple[str, int, int, asyncio.Task[Any]]] = []

    async def readinto(buffer: bytearray, offset: int) -> bytes:
        return bytes(buffer[: await actx.readinto(buffer, fd, offset)])

    issued = 0
    while issued < ops:
        # A batch (some beyond the context's slots: they wait for one), a random number of
        # loop iterations (0: cancelled before they ran; then inline, batched, waiting for
        # a slot, in flight or done), then half of what has not finished is cancelled.
        batch = []
        for _ in range(min(rng.randint(1, 300), ops - issued)):
            slot = rng.randrange(SLOTS)
            if rng.random() < 0.5 and slot not in writes:  # one write per slot: its bytes are old or new
                data = new_data(slot, generation)
                allowed[slot].append(data)
                task = asyncio.ensure_future(actx.write(data, fd, slot * SLOT))
                writes[slot] = task
                batch.append(("write", slot * SLOT, SLOT, task))
            else:
                offset = slot * SLOT + rng.randrange(SLOT)
                size = rng.randint(1, 3 * SLOT)
                if rng.random() < 0.5:
                    batch.append(("read", offset, size, asyncio.ensure_future(actx.read(size, fd, offset))))
                else:
                    buffer = bytearray(size)
                    buffers.append(buffer)
                    read = asyncio.ensure_future(readinto(buffer, offset))
                    batch.append(("read", offset, size, read))
        issued += len(batch)
        tasks.extend(batch)
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            await asyncio.sleep(0)
        for *_, task in batch:
            if not task.done() and rng.random() < 0.5:
                task.cancel()
    outcomes = await asyncio.gather(*(t for *_, t in tasks), return_exceptions=True)
    completed = cancelled = 0
    for (kind, offset, size, _task), outcome in zip(tasks, outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            cancelled += 1
            continue
        assert not isinstance(outcome, BaseException), f"{kind} at {offset}: {outcome!r}"
        completed += 1
        if kind == "write":
            assert outcome == SLOT
        else:
            assert len(outcome) == min(size, SLOTS * SLOT - offset)
            assert mixes_only(outcome, offset, allowed), (
                f"read of {size} at {offset} saw bytes never written there: {describe(outcome, offset, allowed)}"
            )
    await actx.aclose()  # waits for the cancelled operations still in flight
    assert actx.in_flight == 0
    content = os.pread(fd, SLOTS * SLOT + 1, 0)
    assert len(content) == SLOTS * SLOT
    for slot in range(SLOTS):
        got = content[slot * SLOT : (slot + 1) * SLOT]
        task = writes.get(slot)
        if task is not None and not task.cancelled():
            assert got == new_data(slot, generation), f"slot {slot}: a write that returned did not land"
        else:
            assert mixes_only(got, slot * SLOT, allowed), f"slot {slot}: bytes no write put there"
    return completed, cancelled


@pytest.mark.parametrize("reap_per_iteration", ["default", 1])
async def test_cancellation_storm_leaves_data_slots_fds_threads_and_memory_sound(
    backend: Any,
    tmp_path: Path,
    scale: int,
    pytestconfig: pytest.Config,
    monkeypatch: pytest.MonkeyPatch,
    reap_per_iteration: str | int,
) -> None:
    """The storm; with ``reap_per_iteration=1`` the eventfd reader delivers one completion per loop iteration.

    Then a batch of operations taken from the slot queue by a completion
    waits several iterations for its submission while their tasks are
    cancelled: the case that once discarded operations of a pending batch
    (the batch's ``submit`` then skipped them and the adapter miscounted its
    slots: "operation already submitted", or a queue stalled at 0 in flight).
    """
    if reap_per_iteration != "default":
        from _linuxaio import inline_asyncio

        monkeypatch.setattr(inline_asyncio, "REAP_PER_ITERATION", reap_per_iteration)
    rng = random.Random(5150)
    path = tmp_path / "storm.bin"
    path.write_bytes(b"".join(old_data(slot) for slot in range(SLOTS)))
    gc.collect()
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    fds_before, threads_before = fds(), threads()  # listdir's own fd is the same number each time
    sizes = []
    totals = [0, 0]
    try:
        for generation in range(REPEATS * scale):
            os.pwrite(fd, b"".join(old_data(slot) for slot in range(SLOTS)), 0)
            actx = backend.AsyncioContext(max_requests=64)
            buffers: list[bytearray] = []
            completed, cancelled = await storm(actx, fd, rng, generation, OPS, buffers)
            totals[0] += completed
            totals[1] += cancelled
            del actx
            # The loop's handle that woke this task from gather() holds the gathered results
            # (CancelledErrors, their tracebacks, the frames and so the operations) while it
            # runs: resume from another handle. Then every operation is gone and gave its
            # buffer back (a bytearray with an export cannot grow).
            await asyncio.sleep(0)
            gc.collect()
            if pytestconfig.getoption("--loop") != "uvloop":  # uvloop keeps that callback alive longer
                for buffer in buffers:
                    buffer.append(0)
            if generation == 0:
                # What the first repeat left is the process's own, created once at first use
                # (e.g. a shared pool's descriptor): later repeats must add nothing to it.
                fds_before |= fds()
                threads_before |= threads()
            left = fds() - fds_before
            assert not left, f"a descriptor outlived its context: {[os.readlink(f'/proc/self/fd/{n}') for n in left]}"
            left = threads_left(threads_before)
            assert not left, f"a thread outlived its context: {[thread_name(t) for t in left]}"
            sizes.append(rss())
    finally:
        os.close(fd)
    assert totals[0] > 0
    assert totals[1] > 0
    # Every repeat frees what it took: the last repeats do not need more memory than the
    # second one did (the first warms allocator arenas up); 16 MiB is noise, not a leak of
    # ~20,000 operations' buffers per repeat.
    # Not under AddressSanitizer: its allocator keeps freed memory in quarantine (256 MiB by
    # default), so RSS grows there whatever the code does; its own checks catch real misuse.
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        assert max(sizes[1:]) - sizes[1] < 16 << 20, f"RSS grew over the repeats: {sizes}"
