"""The parent loop: every participant in its own subprocess, interleaved per repeat.

Order: for each repeat, for each group of workloads (those sharing a chart:
W1+W2+W2c, W3, W4, W5, W6), each participant of that group in turn (the
group's own order rotates by one every repeat, so no participant is always
first: the first one after W4's sustained write used to meet the disk still
busy with it). Before every participant, ``sync(2)`` writes back what the
previous one left dirty, so nobody pays for another's writeback. The first
repeat calibrates each participant's operation count per cell; later
repeats reuse it. A cell a participant failed is not retried; the error
becomes its reason in the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .participants import Participant
from .workloads import Cell, Workload

T = TypeVar("T")

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CellRecord:
    """What one participant produced for one cell over the repeats."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    note: str = ""


@dataclass
class Plan:
    """Everything a run needs: what to run, how long, on which files."""

    workloads: tuple[Workload, ...]
    participants: list[Participant]
    repeats: int
    duration: float
    paths: dict[str, str]
    sizes: dict[str, int]
    #: W6 processes a whole file when that should take at most this long.
    whole_file_s: float
    #: One subprocess per participant and repeat for all its cells (``--quick``),
    #: instead of one per workload group.
    coarse: bool = False


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    return env


def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one child; its per-cell results, or an ``error`` for every cell if it failed.

    When a child running several cells dies (a crash, not a time-out), each
    cell is run again in a child of its own, so one crashing cell does not
    take the participant's other cells with it.
    """
    cmd = [sys.executable, "-m", "benchmarks.child", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(), cwd=PACKAGE_ROOT)
    except subprocess.TimeoutExpired:
        return {c: {"error": f"timed out after {timeout:.0f} s"} for c in spec["cells"]}
    if proc.returncode != 0:
        if len(spec["cells"]) > 1:
            alone: dict[str, Any] = {}
            for cell_id in spec["cells"]:
                alone.update(run_child({**spec, "cells": [cell_id]}, timeout))
            return alone
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {c: {"error": f"child exited with {proc.returncode}: {tail}"} for c in spec["cells"]}
    cells: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])["cells"]
    return cells


def format_result(cell: Cell, result: dict[str, Any]) -> str:
    """One cell result as the progress line shows it."""
    if "error" in result:
        return ("not supported: " if result.get("unsupported") else "error: ") + str(result["error"])
    value = float(result["value"])
    text = f"{value:,.3g} {cell.unit}" if cell.unit != "ops/s" else f"{value:,.0f} ops/s"
    if result.get("p50_us") is not None:
        text += f"  p50 {result['p50_us']:.1f} µs"
    if result.get("lag_p99_ms") is not None:
        text += f"  lag p99 {result['lag_p99_ms']:.2f} ms"
    if result.get("sync_ms") is not None:
        text += f"  fdatasync {result['sync_ms']:.1f} ms"
    return text


def rotated(items: list[T], shift: int) -> list[T]:
    """``items`` rotated left by ``shift`` (modulo their number): repeat ``shift``'s order."""
    if not items:
        return []
    shift %= len(items)
    return items[shift:] + items[:shift]


def run(plan: Plan, say: Callable[[str], None]) -> dict[str, dict[str, CellRecord]]:
    """Run the plan; ``records[cell_id][participant_id]``. ``say`` gets one progress line per cell."""
    records: dict[str, dict[str, CellRecord]] = {}
    # One subprocess per (repeat, group, participant): a group is the
    # workloads sharing a chart (W1, W2 and W2c share one), which saves
    # interpreter start-ups without mixing unrelated I/O in one process.
    # ``coarse`` (--quick) puts all of a participant's cells in one group.
    groups: dict[str, list[Cell]] = {}
    for wl in plan.workloads:
        groups.setdefault("all" if plan.coarse else wl.chart, []).extend(wl.cells)
    runnable: dict[str, dict[str, list[Cell]]] = {}
    for group, group_cells in groups.items():
        runnable[group] = {}
        for p in plan.participants:
            cells = []
            for cell in group_cells:
                reason = p.reason(cell)
                records.setdefault(cell.id, {})[p.id] = CellRecord(reason=reason, note=p.note(cell))
                if reason is None:
                    cells.append(cell)
            if cells:
                runnable[group][p.id] = cells
    total = plan.repeats * sum(len(c) for per in runnable.values() for c in per.values())
    ops: dict[tuple[str, str], int] = {}
    done = 0
    for repeat in range(plan.repeats):
        for group in groups:
            for p in rotated([p for p in plan.participants if p.id in runnable[group]], repeat):
                planned = runnable[group].get(p.id, [])
                cells = [c for c in planned if records[c.id][p.id].reason is None]
                done += len(planned) - len(cells)  # failed earlier: not retried
                if not cells:
                    continue
                spec = {
                    "participant": asdict(p),
                    "group": group,
                    "cells": [c.id for c in cells],
                    "ops": {c.id: ops.get((p.id, c.id)) for c in cells},
                    "paths": plan.paths,
                    "sizes": plan.sizes,
                    "duration": plan.duration,
                    "whole_file_s": plan.whole_file_s,
                    "seed": 1000 * repeat + 7,
                }
                timeout = 120 + 40 * plan.duration * len(cells)
                os.sync()  # the previous participant's dirty pages are not this one's to write back
                results = run_child(spec, timeout)
                for cell in cells:
                    done += 1
                    result = results.get(cell.id, {"error": "no result"})
                    record = records[cell.id][p.id]
                    if "error" in result:
                        record.reason = result["error"]
                    else:
                        record.runs.append(result)
                        ops.setdefault((p.id, cell.id), int(result["units"]))
                    where = f"[{done:>4}/{total}] {cell.id:<16} {p.label:<28} repeat {repeat + 1}/{plan.repeats}"
                    say(f"{where}: {format_result(cell, result)}")
    return records
