"""The workloads (W1-W6) and their cells.

A *cell* is one measurement: one kind of I/O, one block size, one number of
operations in flight. A *workload* groups the cells that share a data file and
a table; each participant runs one workload's cells in one subprocess per
repeat.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
#: Lines the W6 ``write-lines`` cell writes (then closes the file).
WRITE_LINES = 100_000
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class Cell:
    """One measured cell.

    Attributes:
        id: stable key used in the JSON (e.g. ``"W4/64k-x64"``).
        workload: the workload it belongs to (``"W4"``).
        label: what the table shows (``"64 KiB, 64 in flight"``).
        kind: ``randread``, ``seqread``, ``write``, ``direct``, ``lines``, ``write-lines`` or ``copy``.
        block: bytes per operation (per line for ``lines``/``write-lines``, per chunk for ``copy``).
        depth: operations in flight.
        unit: the reported figure: ``ops/s``, ``GiB/s`` or ``MB/s``.
        file: key of the data file it reads (see ``data.py``).
        cold: the file is evicted from the page cache before each repeat.
        latency: p50/p99 per-operation latency is reported.
        lag: the event loop's lag (1 ms ticker) is reported.
        sustained: one pass over the whole file, sequentially (no calibration): enough
            dirty data to cross the kernel's dirty-page thresholds (see ``data.py``).
    """

    id: str
    workload: str
    label: str
    kind: str
    block: int
    depth: int
    unit: str
    file: str
    cold: bool = False
    latency: bool = False
    lag: bool = False
    sustained: bool = False

    @property
    def file_object(self) -> bool:
        """True for the W6 cells, which go through file objects, not positional calls."""
        return self.kind in ("lines", "linereader", "write-lines", "copy")

    def value(self, units: float, seconds: float) -> float:
        """The figure this cell reports for ``units`` done in ``seconds``."""
        rate = units / seconds
        if self.unit == "ops/s":
            return rate
        if self.unit == "GiB/s":
            return rate * self.block / GIB
        return rate * self.block / 1e6  # MB/s


@dataclass(frozen=True)
class Workload:
    """A named group of cells with one table."""

    id: str
    title: str
    cells: tuple[Cell, ...]
    chart: str  # chart group (one PNG per group)


def _cells() -> tuple[Workload, ...]:
    def c(cid: str, wl: str, label: str, kind: str, block: int, depth: int, unit: str, file: str, **kw: bool) -> Cell:
        return Cell(f"{wl}/{cid}", wl, label, kind, block, depth, unit, file, **kw)

    return (
        Workload(
            "W1",
            "4 KiB cached random pread, 1 in flight",
            (c("4k-x1", "W1", "4 KiB, 1 in flight", "randread", 4 * KIB, 1, "ops/s", "big", latency=True),),
            "random-reads",
        ),
        Workload(
            "W2",
            "4 KiB cached random pread, 64 in flight",
            (c("4k-x64", "W2", "4 KiB, 64 in flight", "randread", 4 * KIB, 64, "ops/s", "big", latency=True),),
            "random-reads",
        ),
        Workload(
            "W2c",
            "4 KiB cold random pread, 64 in flight, with event-loop lag",
            (
                c(
                    "4k-x64-cold",
                    "W2c",
                    "4 KiB cold, 64 in flight",
                    "randread",
                    4 * KIB,
                    64,
                    "ops/s",
                    "cold",
                    cold=True,
                    latency=True,
                    lag=True,
                ),
            ),
            "random-reads",
        ),
        Workload(
            "W3",
            "1 MiB sequential cached reads",
            (
                c("1m-x1", "W3", "1 MiB, 1 in flight", "seqread", MIB, 1, "GiB/s", "big"),
                c("1m-x8", "W3", "1 MiB, 8 in flight", "seqread", MIB, 8, "GiB/s", "big"),
            ),
            "sequential-reads",
        ),
        Workload(
            "W4",
            "buffered writes with event-loop lag (then one fdatasync, reported apart)",
            (
                c("4k-x1", "W4", "4 KiB, 1 in flight", "write", 4 * KIB, 1, "ops/s", "scratch", latency=True, lag=True),
                c(
                    "4k-x64",
                    "W4",
                    "4 KiB, 64 in flight",
                    "write",
                    4 * KIB,
                    64,
                    "ops/s",
                    "scratch",
                    latency=True,
                    lag=True,
                ),
                c(
                    "64k-x1",
                    "W4",
                    "64 KiB, 1 in flight",
                    "write",
                    64 * KIB,
                    1,
                    "ops/s",
                    "scratch",
                    latency=True,
                    lag=True,
                ),
                c(
                    "64k-x64",
                    "W4",
                    "64 KiB, 64 in flight",
                    "write",
                    64 * KIB,
                    64,
                    "ops/s",
                    "scratch",
                    latency=True,
                    lag=True,
                ),
                c(
                    "64k-x1-sustained",
                    "W4",
                    "64 KiB, 1 in flight, one pass over 3 GiB",
                    "write",
                    64 * KIB,
                    1,
                    "MB/s",
                    "sustained",
                    lag=True,
                    sustained=True,
                ),
            ),
            "writes",
        ),
        Workload(
            "W5",
            "O_DIRECT 4 KiB random reads, 64 in flight, page-aligned buffers",
            (
                c(
                    "4k-x64-direct",
                    "W5",
                    "4 KiB O_DIRECT, 64 in flight",
                    "direct",
                    4 * KIB,
                    64,
                    "ops/s",
                    "big",
                    latency=True,
                ),
            ),
            "direct",
        ),
        Workload(
            "W6",
            "file objects: line iteration, line writes and a 64 KiB-chunk copy",
            (
                c("lines", "W6", "async for line (80-byte lines)", "lines", 80, 1, "MB/s", "lines"),
                # aiofile's LineReader over an AIOFile; the sync row runs its ``for line in open()`` loop.
                c("linereader", "W6", "LineReader (80-byte lines)", "linereader", 80, 1, "MB/s", "lines"),
                # Writes a new file beside the lines file (its ``file`` only says where).
                c(
                    "write-lines",
                    "W6",
                    "write 100,000 80-byte lines (text mode), then close",
                    "write-lines",
                    80,
                    1,
                    "MB/s",
                    "lines",
                ),
                c("copy", "W6", "copy in 64 KiB chunks", "copy", 64 * KIB, 1, "MB/s", "big"),
            ),
            "file-objects",
        ),
    )


WORKLOADS: tuple[Workload, ...] = _cells()
BY_ID: dict[str, Workload] = {w.id: w for w in WORKLOADS}
CELLS: dict[str, Cell] = {c.id: c for w in WORKLOADS for c in w.cells}


def select(names: str | None) -> tuple[Workload, ...]:
    """The workloads named in a comma-separated list (case-insensitive), all when ``None``.

    Raises ``ValueError`` naming the unknown entries.
    """
    if not names:
        return WORKLOADS
    wanted = [n.strip().upper() for n in names.split(",") if n.strip()]
    known = {w.id.upper(): w for w in WORKLOADS}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(w.id for w in WORKLOADS)}")
    return tuple(w for w in WORKLOADS if w.id.upper() in wanted)
