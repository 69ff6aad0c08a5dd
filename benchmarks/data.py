"""Data files: created once under ``--data`` with large writes, reused while their size matches.

| key       | size (scale 1) | used by                                           |
|-----------|----------------|---------------------------------------------------|
| `big`     | 512 MiB        | W1/W2 (first 64 MiB), W3, W5 (O_DIRECT), W6 copy  |
| `cold`    | 256 MiB        | W2c (evicted before each run)                     |
| `lines`   | 200 MB         | W6 line iteration (80-byte lines)                 |
| `scratch` | 64 MiB         | W4 writes                                         |
| `sustained` | 3 GiB, sparse  | W4's sustained write (see below)                  |

The sustained write dirties more than the kernel's background dirty threshold
(10% of available memory: about 2.3 GiB on a 24 GiB machine), so writers meet
writeback and, past the "freerun" point, throttling.

W4's 4 KiB and 64 KiB writes go to `scratch`, whose page cache is laid out
in 4 KiB pages (``lay_out_pages``) when a run starts and whenever a cell
finds it evicted. What a write costs the kernel depends on the size of the
page-cache folio it lands in: on Linux 6.18's ext4 a file written by large
writes, or read back with readahead, is cached in large folios, and a 4 KiB
``pwrite`` into one walks the whole folio's buffer heads. A synchronous loop
of random 4 KiB ``pwrite``s on this project's VM did 153k/s on such a file,
210k/s after it was evicted and read back in 1 MiB reads, and 404k/s after
it was read back page by page. Left to chance (how the file last entered the
cache), that moved every W4 figure by 2-3x between runs; in large folios the
kernel's share compresses every ratio towards 1.

W6's copy writes a 512 MiB destination beside them and deletes it at once,
so the peak is about 1.5 GiB at scale 1; W6's line writes write an 8 MB file
(100,000 lines from ``text_lines``) there and delete it too.
"""

from __future__ import annotations

import mmap
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .workloads import MIB

CHUNK = 4 * MIB
LINE_BYTES = 80
#: W1/W2 read 4 KiB pages at random within this many leading bytes of ``big``.
CACHED_REGION = 64 * MIB


@dataclass(frozen=True)
class DataFile:
    """One data file: its key, file name and exact size in bytes."""

    key: str
    name: str
    size: int

    def path(self, directory: Path) -> Path:
        """Where the file lives under ``directory``."""
        return directory / self.name


def layout(scale: float) -> dict[str, DataFile]:
    """The data files for a size ``scale`` (1.0 = the documented sizes), with small floors."""

    def mib(full: int, floor: int) -> int:
        return max(floor, round(full * scale)) * MIB

    lines = max(12_500, round(2_500_000 * scale)) * LINE_BYTES  # 200 MB at scale 1
    return {
        "big": DataFile("big", "big.dat", mib(512, 16)),
        "cold": DataFile("cold", "cold.dat", mib(256, 4)),
        "lines": DataFile("lines", "lines.txt", lines),
        "scratch": DataFile("scratch", "scratch.dat", mib(64, 4)),
        "sustained": DataFile("sustained", "sustained.dat", mib(3072, 4)),
    }


def _binary_chunks(size: int) -> bytes:
    rng = random.Random(1)
    return rng.randbytes(min(size, CHUNK))


def text_lines(count: int) -> list[str]:
    """``count`` distinct 80-byte lines (79 printable characters and ``\\n``) for W6's line writes."""
    body = _line_chunk(LINE_BYTES * 1000).decode("ascii").splitlines(keepends=True)
    return [f"{i:08d}{body[i % len(body)][8:]}" for i in range(count)]


def _line_chunk(size: int) -> bytes:
    """About 4 MiB of distinct 80-byte printable lines ending in ``\\n``."""
    rng = random.Random(2)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-"
    count = min(size, CHUNK) // LINE_BYTES
    body = "".join(rng.choices(alphabet, k=LINE_BYTES - 10))
    lines = [f"{i:08d} {body[i % 60 :]}{body[: i % 60]}\n" for i in range(count)]
    return "".join(lines).encode("ascii")


def _create(path: Path, size: int, chunk: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(chunk)
        written = 0
        while written < size:
            written += os.write(fd, view[: size - written])
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def ensure(directory: Path, files: dict[str, DataFile], keys: set[str], say: Callable[[str], None]) -> dict[str, str]:
    """Create the files named by ``keys`` unless they exist with the right size; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("copy-*.out"):  # W6 destinations of an interrupted run
        stale.unlink(missing_ok=True)
    paths = {}
    for key in sorted(keys):
        spec = files[key]
        path = spec.path(directory)
        if key == "sustained":  # written by the cell itself: a sparse file of the right size will do
            with open(path, "ab") as f:
                f.truncate(spec.size)
            paths[key] = str(path)
            continue
        if not (path.is_file() and path.stat().st_size == spec.size):
            say(f"creating {path} ({spec.size / MIB:.0f} MiB)")
            chunk = _line_chunk(spec.size) if key == "lines" else _binary_chunks(spec.size)
            _create(path, spec.size, chunk)
        if key == "scratch":
            lay_out_pages(str(path))
        paths[key] = str(path)
    return paths


def disposal(directory: Path, remove: bool) -> str:
    """Remove ``directory`` (``--remove-data``) or say where the data stays and how big it is."""
    files = [f for f in directory.glob("*") if f.is_file()] if directory.is_dir() else []
    total = sum(f.stat().st_size for f in files)
    if remove:
        shutil.rmtree(directory, ignore_errors=True)
        return f"removed the benchmark data in {directory} ({total / MIB:,.0f} MiB)"
    return (
        f"benchmark data kept for the next run: {directory} ({total / MIB:,.0f} MiB in {len(files)} files); "
        "delete it with --remove-data or rm -r"
    )


#: Memory touched before a timed run that writes new pages, beyond what it writes.
BACKING_MARGIN = 256 * MIB


def _available_memory() -> int:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (0 when it cannot be read)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def back_free_memory(nbytes: int) -> None:
    """Touch ``nbytes`` (+ ``BACKING_MARGIN``) of fresh anonymous memory page by page, then free it.

    On a VM whose balloon reports free pages to the host (virtio-balloon
    ``VIRTIO_BALLOON_F_REPORTING``; this benchmark's reference machine has
    it), memory the guest freed is handed back to the host about 2 s later,
    and the next touch of each such page costs a host page fault: a 512 MiB
    copy into new page-cache pages ran at 360-940 MB/s after a 4 s pause and
    at 3-4.7 GB/s right after another copy, for every participant alike
    (``shutil.copyfileobj`` included). Called just before a timed run that
    allocates page cache (a copy's or a line write's destination), it makes
    the pages that run will get already backed, so the figure measures the
    participant, not which one happened to follow an idle pause. Not huge
    pages (``MADV_NOHUGEPAGE``): freed 4 KiB pages merge back into the
    blocks the page cache's folios are then cut from. At most half of
    ``MemAvailable`` is touched, so a small machine does not evict the
    data the run reads. Costs about 0.4 ms per MiB, outside the timed part.
    """
    size = -(-(nbytes + BACKING_MARGIN) // MIB) * MIB  # whole MiB
    size = min(size, _available_memory() // 2 // MIB * MIB)
    if size <= 0:
        return
    area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        if hasattr(mmap, "MADV_NOHUGEPAGE"):
            area.madvise(mmap.MADV_NOHUGEPAGE)
        ones = b"\1" * MIB
        for offset in range(0, size, MIB):
            area[offset : offset + MIB] = ones
    finally:
        area.close()


def evict(path: str) -> None:
    """Drop ``path`` from the page cache: fsync(2), then posix_fadvise(POSIX_FADV_DONTNEED)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cached(fd: int, end: int, samples: int = 256) -> bool:
    """Whether ``samples`` pages spread over ``[0, end)`` are all in the page cache.

    Probes with ``preadv(..., RWF_NOWAIT)``, which fails with EAGAIN instead
    of reading from the device (preadv2(2)).
    """
    page = bytearray(4096)
    rng = random.Random(end)
    pages = max(1, end // 4096)
    for index in {0, pages - 1, *(rng.randrange(pages) for _ in range(samples))}:
        try:
            if os.preadv(fd, [page], index * 4096, os.RWF_NOWAIT) <= 0:
                return False
        except (BlockingIOError, OSError):
            return False
    return True


def lay_out_pages(path: str) -> None:
    """Evict ``path`` and read it back one 4 KiB page at a time, without readahead.

    ``POSIX_FADV_RANDOM`` turns readahead off for the descriptor, so each read
    brings in one single-page folio; see the module docstring for why W4's
    file is laid out so.
    """
    evict(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        page = bytearray(4096)
        for offset in range(0, os.fstat(fd).st_size, len(page)):
            os.preadv(fd, [page], offset)
    finally:
        os.close(fd)


def warm(path: str, length: int | None = None) -> None:
    """Make the first ``length`` bytes (all by default) sit in the page cache.

    Reads them through unless a sample of pages shows they already are.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        end = os.fstat(fd).st_size if length is None else min(length, os.fstat(fd).st_size)
        if cached(fd, end):
            return
        buf = bytearray(CHUNK)
        offset = 0
        while offset < end:
            got = os.preadv(fd, [buf], offset)
            if got <= 0:
                break
            offset += got
    finally:
        os.close(fd)
