"""``python -m benchmarks.fsops``: file-system rows (issue 16 item 8), each participant in its own subprocess.

Rows (fixed counts, median of ``--repeats`` runs, one run of this command):

* ``stat``: ``os.stat`` of 10,000 cached files, 64 in flight;
* ``walk+stat``: walk a 20,000-entry tree and stat every file;
* ``copytree`` and ``rmtree`` of a 5,000-file tree (4 KiB files);
* ``copyfile`` and ``copy_to``: one 512 MiB cached file copied (``aiofile.shutil.copyfile``,
  ``AIOFile.copy_to``; the other participants run ``shutil.copyfile``).

Participants: ``aiofile.os``/``aiofile.shutil`` on each of our backends,
``aiofiles`` (its ``os.stat``/``os.scandir``; it has no ``shutil``), ``asyncio.to_thread``
of the stdlib call, and the synchronous stdlib (the floor). Prints a Markdown table
with each time and the ratio to ``to_thread``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .data import back_free_memory

STAT_FILES = 10_000
WALK_DIRS, WALK_FILES_PER_DIR = 200, 99  # 200 dirs + 19,800 files = 20,000 entries
TREE_DIRS, TREE_FILES_PER_DIR = 50, 100  # 5,000 files
IN_FLIGHT = 64

BIG_FILE = 512 << 20
PARTICIPANTS = [
    "aiofile:linux",
    "aiofile:uring",
    "aiofile:thread",
    "aiofile:python",
    "aiofiles",
    "to_thread",
    "sync",
]
MODULES = {"linux": "linux_aio", "uring": "linux_uring", "thread": "thread_aio", "python": "python_aio"}
ROWS = ["copyfile", "copy_to", "stat", "walk+stat", "copytree", "rmtree"]


def make_data(root: Path) -> None:
    flat = root / "flat"
    if not flat.is_dir() or len(os.listdir(flat)) != STAT_FILES:
        shutil.rmtree(flat, ignore_errors=True)
        flat.mkdir(parents=True)
        for i in range(STAT_FILES):
            (flat / f"f{i:05d}").write_bytes(b"x")
    walk = root / "walk"
    if not walk.is_dir():
        for d in range(WALK_DIRS):
            sub = walk / f"d{d // 20:02d}" / f"d{d:03d}"
            sub.mkdir(parents=True)
            for f in range(WALK_FILES_PER_DIR):
                (sub / f"f{f:02d}").write_bytes(b"")
    big = root / "big.bin"
    if not big.is_file() or big.stat().st_size != BIG_FILE:
        with open(big, "wb") as f:
            for _ in range(BIG_FILE >> 20):
                f.write(os.urandom(1 << 20))
            os.fsync(f.fileno())  # no writeback of it under the copies
    with open(big, "rb") as f:  # cached: the copies measure the copy, not the disk
        while f.read(8 << 20):
            pass
    tree = root / "tree"
    if not tree.is_dir():
        payload = os.urandom(4096)
        for d in range(TREE_DIRS):
            sub = tree / f"d{d:02d}"
            sub.mkdir(parents=True)
            for f in range(TREE_FILES_PER_DIR):
                (sub / f"f{f:03d}").write_bytes(payload)


async def _bounded(paths: list[str], call: Any) -> None:
    it = iter(paths)

    async def worker() -> None:
        for p in it:
            await call(p)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def run_row(participant: str, row: str, root: Path) -> float:
    """Seconds for one run of ``row`` by ``participant`` (setup excluded)."""
    if participant == "aiofiles" and row in ("copytree", "rmtree", "copyfile", "copy_to"):
        raise NotImplementedError(f"aiofiles has no {row}")  # before the setup copy, which would stay
    flat = [str(root / "flat" / n) for n in sorted(os.listdir(root / "flat"))]
    ctx: Any = None
    if participant.startswith("aiofile:"):
        import importlib

        import aiofile

        module = importlib.import_module(f"_linuxaio.{MODULES[participant.split(':')[1]]}_asyncio")
        ctx = module.AsyncioContext()
        aos, ash = aiofile.os, aiofile.shutil
    dst = root / f"copy-{os.getpid()}"
    shutil.rmtree(dst, ignore_errors=True)
    if row == "rmtree":
        shutil.copytree(root / "tree", dst)
    if row in ("copyfile", "copy_to"):
        back_free_memory(BIG_FILE)  # the destination's pages: see back_free_memory
    start = time.perf_counter()
    if row == "stat":
        if ctx is not None:
            await _bounded(flat, lambda p: aos.stat(p, context=ctx))
        elif participant == "aiofiles":
            import aiofiles.os

            await _bounded(flat, aiofiles.os.stat)
        elif participant == "to_thread":
            await _bounded(flat, lambda p: asyncio.to_thread(os.stat, p))
        else:
            for p in flat:
                os.stat(p)
    elif row == "walk+stat":
        top = str(root / "walk")
        if ctx is not None:
            async for dirpath, _, files in aos.walk(top, context=ctx):
                await asyncio.gather(*(aos.stat(os.path.join(dirpath, f), context=ctx) for f in files))
        elif participant == "aiofiles":
            import aiofiles.os

            stack = [top]
            while stack:
                d = stack.pop()
                entries = list(await aiofiles.os.scandir(d))
                stack.extend(e.path for e in entries if e.is_dir())
                await asyncio.gather(*(aiofiles.os.stat(e.path) for e in entries if not e.is_dir()))
        elif participant == "to_thread":

            async def walk_stat() -> None:
                for dirpath, _, files in await asyncio.to_thread(lambda: list(os.walk(top))):
                    await asyncio.gather(*(asyncio.to_thread(os.stat, os.path.join(dirpath, f)) for f in files))

            await walk_stat()
        else:
            for dirpath, _, files in os.walk(top):
                for f in files:
                    os.stat(os.path.join(dirpath, f))
    elif row == "copytree":
        if ctx is not None:
            await ash.copytree(root / "tree", dst, limit=IN_FLIGHT, context=ctx)
        elif participant == "to_thread":
            await asyncio.to_thread(shutil.copytree, root / "tree", dst)
        elif participant == "sync":
            shutil.copytree(root / "tree", dst)
    elif row in ("copyfile", "copy_to"):
        big, target = root / "big.bin", str(dst) + ".bin"
        if ctx is not None and row == "copyfile":
            await ash.copyfile(big, target, context=ctx)
        elif ctx is not None:
            async with aiofile.AIOFile(big, "rb", context=ctx) as afp:
                await afp.copy_to(target)
        elif participant == "to_thread":
            await asyncio.to_thread(shutil.copyfile, big, target)
        else:
            shutil.copyfile(big, target)
        elapsed = time.perf_counter() - start
        if os.path.getsize(target) != BIG_FILE:
            raise RuntimeError(f"{row} of {participant} left {os.path.getsize(target)} bytes")
        os.unlink(target)  # its dirty pages go with it: no writeback load for the next run
        if ctx is not None:
            await ctx.aclose()
        return elapsed
    elif row == "rmtree":
        if ctx is not None:
            await ash.rmtree(dst, limit=IN_FLIGHT, context=ctx)
        elif participant == "to_thread":
            await asyncio.to_thread(shutil.rmtree, dst)
        elif participant == "sync":
            shutil.rmtree(dst)
    elapsed = time.perf_counter() - start
    if row == "copytree":
        # Kept until every copytree of the run is measured (see main): a deletion here would
        # slow the next participant's copytree (ext4 skips inodes freed in the last minute).
        dst.rename(root / "trash" / f"{dst.name}-{time.time_ns()}")
    shutil.rmtree(dst, ignore_errors=True)
    if ctx is not None:
        await ctx.aclose()
    return elapsed


def child(participant: str, rows: list[str], root: Path) -> None:
    (root / "trash").mkdir(exist_ok=True)
    out: dict[str, Any] = {}
    for row in rows:
        try:
            out[row] = asyncio.run(run_row(participant, row, root))
        except NotImplementedError as exc:
            out[row] = str(exc)
    print(json.dumps(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fsops", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "aiofile-bench-fs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.rows.split(",") if args.rows else ROWS, args.data)
        return 0
    make_data(args.data)
    shutil.rmtree(args.data / "trash", ignore_errors=True)
    results: dict[str, dict[str, list[float] | str]] = {p: {} for p in PARTICIPANTS}
    # Two phases: every row that deletes nothing first (copytree's copies are kept in
    # <data>/trash), then rmtree. On ext4 the inode allocator skips inodes freed in the last
    # minute, so a copytree right after a deletion costs 2-5x more CPU in the kernel: with the
    # deletions after the last copytree, every participant's copytree runs under the same
    # conditions (other processes on the machine excepted). Orders are shuffled per repeat.
    phases = [["copyfile", "copy_to"], ["stat", "walk+stat", "copytree"], ["rmtree"]]
    runs = [(rows, repeat) for rows in phases for repeat in range(args.repeats)]
    for rows, repeat in runs:
        order = PARTICIPANTS[:]
        random.Random(repeat).shuffle(order)
        for participant in order:
            command = [sys.executable, "-m", "benchmarks.fsops", "--child", participant, "--data", str(args.data)]
            done = subprocess.run(
                [*command, "--rows", ",".join(rows)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(f"{participant}: failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            for row, value in json.loads(done.stdout).items():
                if isinstance(value, str):
                    results[participant][row] = value
                else:
                    cell = results[participant].setdefault(row, [])
                    assert isinstance(cell, list)
                    cell.append(value)
            print(f"repeat {repeat + 1} ({', '.join(rows)}): {participant} done", file=sys.stderr)
    print(
        f"`python -m benchmarks.fsops --repeats {args.repeats}`, median seconds "
        "(x = to_thread time / this time; then the lowest and highest ratio within one repeat)\n"
    )
    print("| participant | " + " | ".join(ROWS) + " |")
    print("|---|" + "---|" * len(ROWS))
    base = {r: results["to_thread"].get(r) for r in ROWS}
    for participant in PARTICIPANTS:
        cells = []
        for row in ROWS:
            value = results[participant].get(row)
            if isinstance(value, list) and value:
                median = statistics.median(value)
                ref = base[row]
                ratio = ""
                if isinstance(ref, list) and ref:
                    # And the range of the ratios within each repeat (same machine state for both).
                    each = [r / v for r, v in zip(ref, value, strict=False)]
                    ratio = f" ({statistics.median(ref) / median:.2f}x; {min(each):.2f}-{max(each):.2f})"
                cells.append(f"{median:.3f}{ratio}")
            else:
                cells.append(str(value or "n/a"))
        print(f"| {participant} | " + " | ".join(cells) + " |")
    sys.stdout.flush()
    shutil.rmtree(args.data / "trash", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
