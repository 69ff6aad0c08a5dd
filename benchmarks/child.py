"""One participant, one group of workloads, one repeat: ``python -m benchmarks.child SPEC_JSON``.

The runner starts this in a fresh interpreter for every (repeat, group,
participant), so no participant inherits another's threads, contexts or heap.
It prints one JSON object on stdout: ``{"cells": {cell_id: result}}`` where a
result has ``units``, ``seconds``, ``value`` and the optional latency, lag and
fdatasync figures, or ``error`` when the participant failed the cell.

Before the cells, the page cache is put in the state the workload needs: the
cold file is evicted (fsync + ``POSIX_FADV_DONTNEED``), the others are made
cached (``data.warm``: read through unless a sample of pages is already
there). O_DIRECT reads bypass the cache either way.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from functools import partial
from typing import Any

from . import adapters, data
from .measure import LagTicker, Offsets, calibrate, latency_us, run_positional
from .participants import Participant
from .workloads import CELLS, WRITE_LINES, Cell

#: Warm-up (and calibration) lasts about this fraction of ``--duration``.
WARMUP_FRACTION = 0.2


def prepare_cache(cells: list[Cell], paths: dict[str, str]) -> None:
    """Evict or warm the files the cells use."""
    for cell in cells:
        path = paths[cell.file]
        if cell.cold:
            data.evict(path)
        elif cell.kind == "randread":
            data.warm(path, data.CACHED_REGION)
        elif cell.kind == "write" and not cell.sustained:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                laid_out = data.cached(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            if not laid_out:  # evicted since the run began (see data.lay_out_pages)
                data.lay_out_pages(path)
        elif cell.kind in ("seqread", "write", "lines", "copy"):
            data.warm(path)


def _span(cell: Cell, size: int) -> int:
    if cell.kind == "randread" and not cell.cold:
        return min(size, data.CACHED_REGION)
    return size


async def positional_cell(
    p: Participant, cell: Cell, path: str, size: int, n: int | None, duration: float, seed: int
) -> dict[str, Any]:
    """Warm up (calibrating ``n`` when it is ``None``), then time ``n`` operations."""
    pattern = "distinct" if cell.cold else "sequential" if cell.kind == "seqread" or cell.sustained else "random"
    offsets = Offsets(pattern, cell.block, _span(cell, size), seed)
    io = adapters.positional(p)
    await io.open(cell, path)
    try:
        check = partial(adapters.check_result, cell)
        floor = max(32, 4 * cell.depth)
        if cell.sustained:
            n = offsets.blocks  # one pass over the whole file, whatever it takes
        elif n is None:

            async def batch(k: int) -> float:
                return (await run_positional(io, offsets.take(k), cell.depth, check))[0]

            # Cold reads never revisit a block: the warm-up may use an eighth of them.
            warm_limit = offsets.blocks // 8 if offsets.remaining is not None else None
            rate = await calibrate(batch, floor, WARMUP_FRACTION * duration, warm_limit)
            n = max(floor, math.ceil(rate * duration))
        else:
            warm = max(floor, n // 10)
            if offsets.remaining is not None:
                warm = min(warm, offsets.blocks // 8)
            await run_positional(io, offsets.take(warm), cell.depth, check)
        if offsets.remaining is not None:
            # At most half the file's blocks, so neighbours brought in with a
            # read (large folios) rarely serve a later one from the cache.
            n = min(n, offsets.remaining, offsets.blocks // 2)
        # The offsets are drawn before the ticker starts, and the latencies are
        # sorted after it stops: drawing 235,000 offsets blocked the loop for
        # ~25 ms, which the first tick reported as the run's maximum lag.
        batch = offsets.take(n)
        ticker = LagTicker() if cell.lag and not io.synchronous and not p.trio else None
        if ticker:
            ticker.start()
            await asyncio.sleep(0)
        seconds, lat = await run_positional(io, batch, cell.depth)
        lag = await ticker.stop() if ticker else {}
        result: dict[str, Any] = {"units": n, "seconds": seconds, "value": cell.value(n, seconds)}
        result.update(latency_us(lat))
        result.update(lag)
        if cell.kind == "write":
            t0 = time.perf_counter()
            await io.datasync()
            result["sync_ms"] = (time.perf_counter() - t0) * 1e3
        return result
    finally:
        await io.close()


async def file_object_cell(
    p: Participant,
    cell: Cell,
    paths: dict[str, str],
    sizes: dict[str, int],
    n: int | None,
    duration: float,
    whole_file_s: float,
) -> dict[str, Any]:
    """W6: lines, line writes or copy; the whole file (``WRITE_LINES`` lines for line writes) when
    it should take at most ``whole_file_s``, else a prefix calibrated to last ``duration``.

    Line writes of the whole file are timed over as many files (each written
    from its ``open`` to its ``close``) as it takes to last ``duration``;
    ``files`` in the result says how many.
    """
    fo = adapters.file_objects(p)
    source = paths[cell.file]
    dst = os.path.join(os.path.dirname(source), f"copy-{os.getpid()}.out")
    text: list[str] = []
    if cell.kind in ("lines", "linereader"):
        total = sizes[cell.file] // data.LINE_BYTES
        start = 256
    elif cell.kind == "write-lines":
        text = data.text_lines(WRITE_LINES)
        total = WRITE_LINES
        start = 256
    else:
        total = math.ceil(sizes[cell.file] / adapters.COPY_CHUNK)
        start = 16

    async def run(k: int) -> float:
        k = min(k, total)
        batch = text[:k]
        if cell.kind == "write-lines":
            data.back_free_memory(k * data.LINE_BYTES)
        elif cell.kind == "copy":
            data.back_free_memory(k * adapters.COPY_CHUNK)
        t0 = time.perf_counter()
        whole = k >= total
        if cell.kind in ("lines", "linereader"):
            reader = fo.lines if cell.kind == "lines" else fo.line_reader
            got = await reader(source, None if whole else k)
            expected = k
        elif cell.kind == "write-lines":
            await fo.write_lines(dst, batch)
            seconds = time.perf_counter() - t0
            got, expected = os.path.getsize(dst), k * data.LINE_BYTES  # every byte reached the file
            if got != expected:
                raise RuntimeError(f"{cell.kind} left {got} bytes (expected {expected})")
            return seconds
        else:
            got = await fo.copy(source, dst, None if whole else k)
            expected = sizes[cell.file] if whole else k * adapters.COPY_CHUNK
        seconds = time.perf_counter() - t0
        if got != expected:
            raise RuntimeError(f"{cell.kind} processed {got} (expected {expected})")
        return seconds

    try:
        if n is None:
            rate = await calibrate(run, start, WARMUP_FRACTION * duration, cap=total)
            n = total if total <= rate * whole_file_s else max(start, math.ceil(rate * duration))
        else:
            await run(max(start, n // 10))
        n = min(n, total)
        seconds = await run(n)
        files = 1
        if cell.kind == "write-lines" and n >= total:
            # One file of WRITE_LINES lines takes 10-50 ms: a single preemption of the
            # VM moved such a run 2-4x. Write the whole file again (opened "w") until
            # the timed part lasts ``duration``, as the other cells' runs do.
            while seconds < duration:
                seconds += await run(n)
                files += 1
        units = n * files
        result = {"units": units, "seconds": seconds, "value": cell.value(units, seconds), "whole_file": n >= total}
        if cell.kind == "write-lines":
            result["files"] = files
        return result
    finally:
        await fo.close()
        if os.path.exists(dst):
            os.unlink(dst)


def fio_cell(
    cell: Cell, path: str, size: int, n: int | None, duration: float, engine: str = "libaio"
) -> dict[str, Any]:
    """W5 by fio (``engine``: libaio or io_uring; O_DIRECT).

    A timed warm-up run calibrates ``n``, then ``--number_ios=n``.
    """
    base = [
        "fio",
        "--name=w5",
        f"--filename={path}",
        "--readonly",
        f"--ioengine={engine}",
        f"--iodepth={cell.depth}",
        "--direct=1",
        "--rw=randread",
        f"--bs={cell.block}",
        f"--size={size}",
        "--norandommap",
        "--randrepeat=0",
        "--lat_percentiles=1",
        "--output-format=json",
    ]

    def fio(*extra: str) -> dict[str, Any]:
        out = subprocess.run([*base, *extra], capture_output=True, text=True, check=True).stdout
        read: dict[str, Any] = json.loads(out[out.index("{") :])["jobs"][0]["read"]
        return read

    warm_ms = max(20, round(duration * (1000 if n is None else 100)))
    first = fio("--time_based", f"--runtime={warm_ms}ms")
    if n is None:
        n = max(64, math.ceil(first["iops"] * duration))
    read = fio(f"--number_ios={n}")
    iops = read["iops"]
    pct = read["lat_ns"].get("percentile", {})
    return {
        "units": read["total_ios"],
        "seconds": read["total_ios"] / iops,
        "value": iops,
        "p50_us": pct.get("50.000000", 0) / 1e3,
        "p99_us": pct.get("99.000000", 0) / 1e3,
    }


async def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Run every cell of ``spec``; one result (or ``error``) per cell."""
    p = Participant(**spec["participant"])
    cells = [CELLS[c] for c in spec["cells"]]
    paths, sizes = spec["paths"], spec["sizes"]
    prepare_cache(cells, paths)
    results: dict[str, Any] = {}
    for cell in cells:
        n = spec["ops"].get(cell.id)
        try:
            if p.family == "fio":
                result = await asyncio.to_thread(
                    fio_cell, cell, paths[cell.file], sizes[cell.file], n, spec["duration"], p.backend or "libaio"
                )
            elif cell.file_object:
                result = await file_object_cell(p, cell, paths, sizes, n, spec["duration"], spec["whole_file_s"])
            else:
                result = await positional_cell(
                    p, cell, paths[cell.file], sizes[cell.file], n, spec["duration"], spec["seed"]
                )
        except Exception as exc:  # noqa: BLE001 - reported in the table, never a silent gap
            result = _failure(p, cell, exc)
        results[cell.id] = result
    return {"cells": results}


def _failure(p: Participant, cell: Cell, exc: BaseException) -> dict[str, Any]:
    """A failed cell: ``error`` (with ``unsupported`` set when the failure is a known limit of the API)."""
    text = f"{type(exc).__name__}: {exc}"
    if cell.kind == "direct" and (getattr(exc, "errno", None) == 22 or "Invalid argument" in str(exc)):
        # EINVAL from an O_DIRECT read: the API allocated the buffer itself and it is not page-aligned.
        who = "caio" if p.family == "caio" else p.label
        return {
            "error": f"{who} cannot do O_DIRECT with its own buffers (the kernel said: {text})",
            "unsupported": True,
        }
    return {"error": text}


def main(argv: list[str]) -> int:
    """Entry point: run the spec given as JSON in ``argv[0]``, print the results as JSON."""
    spec = json.loads(argv[0])
    if Participant(**spec["participant"]).trio:
        import trio

        results = trio.run(run_spec, spec)
    else:
        results = asyncio.run(run_spec(spec))
    sys.stdout.write(json.dumps(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
