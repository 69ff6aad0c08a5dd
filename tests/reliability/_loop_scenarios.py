"""Many event loops, run as a script by ``test_loops.py`` in a fresh process (a clean baseline).

``python _loop_scenarios.py MODE COUNT [THREADS]`` with the backend chosen by
``CAIO_IMPL``; prints one JSON object: this process's kernel AIO contexts
(``[aio]`` mappings in ``/proc/self/maps``), open fds and threads before and
after, and the system-wide ``fs.aio-nr`` before and after. Modes:

* ``forgotten``: COUNT loops, each ``new_event_loop()``, one ``async_open``
  read on the default context, ``del loop``, ``gc.collect()`` (no close).
* ``run``: COUNT ``asyncio.run()`` calls, each with one read and one write.
* ``threads``: THREADS threads at once, each running COUNT/THREADS
  ``asyncio.run()`` calls and one forgotten loop of its own.

The baseline is taken after one warm-up round of the same work, so what
the process keeps for reuse (an idle kernel context, a started pool) is in
it. Forgotten loops open and close their file through an inline executor
(``async_open(executor=)``):
asyncio's default executor of a forgotten loop is collected with the loop,
but its worker thread exits on its own time and, until it has dropped its
last work item, keeps that loop reachable, which would blur the counts with
asyncio's own behaviour.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import os
import sys
import tempfile
import threading
import warnings
from typing import Any

import aiofile

DATA = bytes(range(256)) * 16


def aio_contexts() -> int:
    with open("/proc/self/maps") as maps:
        return sum("/[aio]" in line for line in maps)


def measure() -> dict[str, int]:
    gc.collect()
    with open("/proc/sys/fs/aio-nr") as aio_nr:
        return {
            "aio_contexts": aio_contexts(),
            "fds": len(os.listdir("/proc/self/fd")),
            "threads": threading.active_count(),
            "aio_nr": int(aio_nr.read()),
        }


async def read_once(path: str, executor: Any = None) -> None:
    async with aiofile.async_open(path, "rb", executor=executor) as f:
        if await f.read() != DATA:
            raise AssertionError("read back something else")


async def read_write(path: str) -> None:
    async with aiofile.async_open(path, "r+b") as f:
        await f.write(DATA)
        f.seek(0)
        if await f.read() != DATA:
            raise AssertionError("read back something else")


class InlineExecutor(concurrent.futures.Executor):
    """Runs what it is given at once, on the calling thread (the blocking open/close of a small file)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            future.set_exception(exc)
        return future


def forgotten(path: str) -> None:
    loop = asyncio.new_event_loop()
    loop.run_until_complete(read_once(path, InlineExecutor()))
    del loop  # never closed
    gc.collect()


def run(path: str) -> None:
    asyncio.run(read_write(path))


def threads(paths: list[str], count: int) -> None:
    errors: list[BaseException] = []

    def work(path: str) -> None:
        try:
            for _ in range(count):
                run(path)
            forgotten(path)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(path,)) for path in paths]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


def main(argv: list[str]) -> int:
    mode, count = argv[0], int(argv[1])
    n_threads = int(argv[2]) if len(argv) > 2 else 1
    warnings.simplefilter("ignore", ResourceWarning)  # asyncio's own "unclosed event loop"
    with tempfile.TemporaryDirectory() as directory:
        paths = [os.path.join(directory, f"{i}.bin") for i in range(n_threads)]
        for path in paths:
            with open(path, "wb") as f:
                f.write(DATA)
        if mode == "forgotten":
            forgotten(paths[0])
            before = measure()
            baseline_threads = set(threading.enumerate())
            for _ in range(count):
                forgotten(paths[0])
        elif mode == "run":
            run(paths[0])
            before = measure()
            baseline_threads = set(threading.enumerate())
            for _ in range(count):
                run(paths[0])
        else:
            threads(paths, 1)
            before = measure()
            baseline_threads = set(threading.enumerate())
            threads(paths, max(1, count // n_threads))
        # A forgotten loop's context is released when the collector frees the loop. A
        # worker thread's gc.collect() in forgotten() does nothing while another thread's
        # collection runs (CPython collects in one thread at a time, and python_aio's
        # finalizer waits for its workers with the GIL released), so a loop that one
        # skipped waits for the next collection: run it here, as a program's next
        # allocations would (without it python_aio kept a context, and its idle worker,
        # open in about half the runs on a loaded 2-vCPU host).
        gc.collect()
        # Threads a closed context let go may still be on their way out (python_aio's
        # workers exit on their own after close): wait for them, boundedly, so the
        # count does not depend on the machine's load; one that never exits is a leak
        # and still counted.
        for thread in set(threading.enumerate()) - baseline_threads:
            thread.join(60)
        after = measure()
    print(json.dumps({"before": before, "after": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
