"""Turning the records into medians, ratios, Markdown tables and the JSON file.

Per cell and participant: the median of the repeats, their min and max, and
two ratios computed within this run: to the best participant's median in the
same cell (1.00 = the best) and to the synchronous floor's median (>1 = faster
than a plain blocking loop). Latency, loop lag and fdatasync figures are the
medians of the repeats' values.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .participants import Participant
from .runner import CellRecord
from .workloads import CELLS, Workload

Records = dict[str, dict[str, CellRecord]]
EXTRA_FIELDS = ("p50_us", "p99_us", "lag_p50_ms", "lag_p99_ms", "lag_max_ms", "sync_ms")


@dataclass(frozen=True)
class Summary:
    """One participant's figures for one cell (``median`` is ``None`` when it did not run)."""

    median: float | None
    low: float | None = None
    high: float | None = None
    runs: int = 0
    units: int = 0
    vs_best: float | None = None
    vs_sync: float | None = None
    extras: dict[str, float] | None = None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(records: Records) -> dict[str, dict[str, Summary]]:
    """``summaries[cell_id][participant_id]`` with the ratios filled in."""
    out: dict[str, dict[str, Summary]] = {}
    for cell_id, per in records.items():
        base: dict[str, Summary] = {}
        for pid, rec in per.items():
            values = [r["value"] for r in rec.runs]
            if not values:
                base[pid] = Summary(None)
                continue
            extras = {k: m for k in EXTRA_FIELDS if (m := _median([r.get(k) for r in rec.runs])) is not None}
            base[pid] = Summary(
                statistics.median(values),
                min(values),
                max(values),
                len(values),
                int(rec.runs[0]["units"]),
                extras=extras,
            )
        medians = [s.median for s in base.values() if s.median is not None]
        best = max(medians) if medians else None
        floor = base.get("sync", Summary(None)).median
        out[cell_id] = {
            pid: Summary(
                s.median,
                s.low,
                s.high,
                s.runs,
                s.units,
                None if s.median is None or not best else s.median / best,
                None if s.median is None or not floor else s.median / floor,
                s.extras,
            )
            for pid, s in base.items()
        }
    return out


def fmt(value: float | None, unit: str = "") -> str:
    """A figure with a sensible number of digits (``—`` for none)."""
    if value is None:
        return "—"
    if unit == "ops/s":
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def workload_table(
    wl: Workload, participants: list[Participant], records: Records, summaries: dict[str, dict[str, Summary]]
) -> str:
    """The Markdown table of one workload: one row per (cell, participant) with figures.

    A participant that ran none of the workload's cells, for one and the same
    reason, gets a single row (cell ``all``) giving that reason; otherwise
    each cell it missed has its own row with the reason.
    """
    lat = any(c.latency for c in wl.cells)
    lag = any(c.lag for c in wl.cells)
    sync = any(c.kind == "write" for c in wl.cells)
    units = sorted({c.unit for c in wl.cells})
    head = ["cell", "participant", f"median ({'/'.join(units)})", "min-max", "x best", "x sync"]
    if lat:
        head += ["p50 µs", "p99 µs"]
    if lag:
        head += ["lag p50 ms", "lag p99 ms", "lag max ms"]
    if sync:
        head += ["fdatasync ms"]
    head += ["runs", "notes"]
    blank = ["—"] * (len(head) - 4)  # the figure columns

    def reason(cell_id: str, pid: str) -> str:
        return records[cell_id][pid].reason or "no result"

    absent = {
        p.id
        for p in participants
        if all(summaries[c.id][p.id].median is None for c in wl.cells)
        and len({reason(c.id, p.id) for c in wl.cells}) == 1
    }
    lines = [f"### {wl.id}: {wl.title}", "", _row(head), _row(["---"] * len(head))]
    for cell in wl.cells:
        ranked = sorted(participants, key=lambda p: -(summaries[cell.id][p.id].median or -1.0))
        for p in ranked:
            s, rec = summaries[cell.id][p.id], records[cell.id][p.id]
            if s.median is None:
                if p.id not in absent:
                    lines.append(_row([cell.label, p.label, *blank, "0", reason(cell.id, p.id)]))
                continue
            ex = s.extras or {}
            row = [cell.label, p.label, fmt(s.median, cell.unit)]
            row.append(f"{fmt(s.low, cell.unit)}-{fmt(s.high, cell.unit)}")
            row += [fmt(s.vs_best), fmt(s.vs_sync)]
            if lat:
                row += [fmt(ex.get("p50_us")), fmt(ex.get("p99_us"))]
            if lag:
                row += [fmt(ex.get("lag_p50_ms")), fmt(ex.get("lag_p99_ms")), fmt(ex.get("lag_max_ms"))]
            if sync:
                row += [fmt(ex.get("sync_ms"))]
            note = rec.note
            if rec.reason:  # ran, then failed in a later repeat
                note = "; ".join(filter(None, [note, f"later repeat failed: {rec.reason}"]))
            lines.append(_row([*row, str(s.runs), note]))
    for p in participants:
        if p.id in absent:
            lines.append(_row(["all", p.label, *blank, "0", reason(wl.cells[0].id, p.id)]))
    return "\n".join(lines) + "\n"


def summary_table(
    workloads: tuple[Workload, ...], participants: list[Participant], summaries: dict[str, dict[str, Summary]]
) -> str:
    """One row per participant, one column per cell: the medians (``—`` = did not run)."""
    cells = [c for wl in workloads for c in wl.cells]
    head = ["participant"] + [f"{c.id} ({c.unit})" for c in cells]
    lines = [_row(head), _row(["---"] * len(head))]
    for p in participants:
        lines.append(_row([p.label] + [fmt(summaries[c.id][p.id].median, c.unit) for c in cells]))
    return "\n".join(lines) + "\n"


def machine_table(machine: dict[str, Any]) -> str:
    """The machine info as a two-column Markdown table."""
    lines = [_row(["item", "value"]), _row(["---", "---"])]
    lines += [_row([k, str(v)]) for k, v in machine.items()]
    return "\n".join(lines) + "\n"


def write_json(
    path: Path,
    meta: dict[str, Any],
    participants: list[Participant],
    records: Records,
    summaries: dict[str, dict[str, Summary]],
    targets: list[dict[str, Any]],
) -> None:
    """The raw results: every run of every cell, the summaries and the targets."""
    doc = {
        "meta": meta,
        "participants": [asdict(p) for p in participants],
        "cells": {
            cell_id: {
                "workload": CELLS[cell_id].workload,
                "label": CELLS[cell_id].label,
                "unit": CELLS[cell_id].unit,
                "participants": {
                    pid: {
                        "reason": rec.reason,
                        "note": rec.note,
                        "runs": rec.runs,
                        "summary": asdict(summaries[cell_id][pid]),
                    }
                    for pid, rec in per.items()
                },
            }
            for cell_id, per in records.items()
        },
        "targets": targets,
    }
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
