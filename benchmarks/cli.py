"""Command line: ``python -m benchmarks [--quick] [--backend ...] ...`` (see ``--help``).

Exit status: 0 when the run completed (whatever the figures and targets),
2 for bad options or a requested backend that is not available here.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import chart, data, machine, report, runner
from .measure import idle_lag
from .participants import OUR_BACKENDS, Participant, discover, our_status, parse_peers
from .targets import evaluate, noise_note, targets_table
from .workloads import Workload, select

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(tempfile.gettempdir()) / "aiofile-bench-data"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark aiofile's backends side by side with caio, aiofiles, asyncio.to_thread and the stdlib.",
    )
    ap.add_argument(
        "--backend",
        help="our backends to run: linux, uring, thread, python, all, or a comma list "
        "(default: every backend; those not built here are listed as such). "
        "An explicitly requested backend that is unavailable is an error.",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="short pass: 3 repeats of ~0.1 s per cell, one subprocess per participant and repeat (about 3 minutes)",
    )
    ap.add_argument("--workloads", help="comma list of W1,W2,W2c,W3,W4,W5,W6 (default: all)")
    ap.add_argument("--repeats", type=int, help="repeats per cell (default 5, --quick 3)")
    ap.add_argument(
        "--duration", type=float, help="seconds one measured run of a cell should last (default 0.5, --quick 0.1)"
    )
    ap.add_argument(
        "--peers",
        help="peers to include: all (default), none, or a comma list of caio, caio:linux, "
        "caio:linux-deferred, caio:uring, caio:thread, caio:python, aiofiles, to_thread, sync, "
        "fio (both engines), fio:uring, trio.open_file, anyio.open_file",
    )
    ap.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"directory for the data files (default {DEFAULT_DATA})"
    )
    ap.add_argument(
        "--remove-data",
        action="store_true",
        help="delete the data directory when the run ends (by default the files stay for the next run, "
        "and the run says where they are and how big)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"directory for results (default {DEFAULT_OUT})")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="data size factor (tests use 0.001; figures are only comparable at 1)"
    )
    return ap


def _backends(text: str | None) -> list[str]:
    """The backends to run; raises ``ValueError`` for unknown or (when requested) unavailable ones."""
    if text is None:
        return list(OUR_BACKENDS)
    names = list(OUR_BACKENDS) if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in OUR_BACKENDS]
    if unknown or not names:
        choices = "linux, uring, thread, python, all"
        raise ValueError(f"unknown backend {', '.join(unknown) or '(none)'}; choose from {choices}")
    status = our_status()
    missing = [f"{n}: {status[n]}" for n in names if status[n] is not None]
    if missing:
        raise ValueError("requested backend not available here (no fallback): " + "; ".join(missing))
    return names


def _document(
    meta: dict[str, Any],
    machine_info: dict[str, Any],
    workloads: tuple[Workload, ...],
    participants: list[Participant],
    records: report.Records,
    summaries: dict[str, dict[str, report.Summary]],
    target_rows: list[dict[str, Any]],
    charts: list[Path],
) -> str:
    parts = [
        "# aiofile benchmarks",
        "",
        f"Command: `{meta['command']}`  ",
        f"Started {meta['started']} UTC, wall time {meta['wall_s']:.0f} s, {meta['repeats']} repeats, "
        f"~{meta['duration']} s per measured run, scale {meta['scale']}.",
        "",
        "## Machine",
        "",
        report.machine_table(machine_info),
        "## Summary (medians)",
        "",
        report.summary_table(workloads, participants, summaries),
        "## Targets (informational)",
        "",
        noise_note(meta["repeats"]),
        targets_table(target_rows),
        "## Workloads",
        "",
        "Medians of the repeats; `x best` is the median over the best participant's in the same cell, "
        "`x sync` over the synchronous floor's. A row without figures says why.",
        "",
    ]
    for wl in workloads:
        parts.append(report.workload_table(wl, participants, records, summaries))
    if charts:
        parts += ["## Charts", ""] + [f"![{c.stem}]({c.name})" for c in charts] + [""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; 0 on completion, 2 on bad options or an unavailable requested backend."""
    ap = build_parser()
    args = ap.parse_args(argv)
    started = time.perf_counter()
    try:
        backends = _backends(args.backend)
        peers = parse_peers(args.peers)
        workloads = select(args.workloads)
    except ValueError as exc:
        print(f"python -m benchmarks: error: {exc}", file=sys.stderr)
        return 2
    repeats = args.repeats or (3 if args.quick else 5)
    duration = args.duration or (0.1 if args.quick else 0.5)
    if repeats < 1 or duration <= 0 or args.scale <= 0:
        print("python -m benchmarks: error: --repeats, --duration and --scale must be positive", file=sys.stderr)
        return 2

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    participants = discover(backends, peers)
    for p in participants:
        if p.unavailable:
            say(f"{p.label}: {p.unavailable}")
    layout = data.layout(args.scale)
    keys = {c.file for wl in workloads for c in wl.cells}
    paths = data.ensure(args.data, layout, keys, say)
    sizes = {k: layout[k].size for k in keys}
    machine_info = machine.describe(str(args.data))
    if machine_info["filesystem (data)"].split()[0] in ("tmpfs", "ramfs", "overlay"):
        say(
            f"warning: --data {args.data} is on {machine_info['filesystem (data)']}: cold reads (W2c) "
            "cannot be cold and O_DIRECT (W5) may fail; use a directory on a disk filesystem"
        )
    if any(c.lag for wl in workloads for c in wl.cells):
        idle = asyncio.run(idle_lag(0.3))
        machine_info["idle-loop lag (1 ms ticker, 0.3 s)"] = (
            f"p50 {report.fmt(idle['lag_p50_ms'])} ms, p99 {report.fmt(idle['lag_p99_ms'])} ms, "
            f"max {report.fmt(idle['lag_max_ms'])} ms"
        )
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    # W6 reads/copies the whole file when it takes at most 5 s (3 runs' worth under --quick).
    whole_file_s = 3 * duration if args.quick else max(5.0, 3 * duration)
    plan = runner.Plan(workloads, participants, repeats, duration, paths, sizes, whole_file_s, coarse=args.quick)
    records = runner.run(plan, say)

    summaries = report.summarize(records)
    target_rows = evaluate(participants, records, summaries)
    args.out.mkdir(parents=True, exist_ok=True)
    charts = chart.render(workloads, participants, summaries, args.out)
    meta = {
        "command": "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv),
        "started": stamp,
        "wall_s": time.perf_counter() - started,
        "quick": args.quick,
        "repeats": repeats,
        "duration": duration,
        "whole_file_s": whole_file_s,
        "scale": args.scale,
        "backends": backends,
        "machine": machine_info,
    }
    report.write_json(args.out / "results.json", meta, participants, records, summaries, target_rows)
    doc = _document(meta, machine_info, workloads, participants, records, summaries, target_rows, charts)
    (args.out / "results.md").write_text(doc)
    print(report.summary_table(workloads, participants, summaries))
    print(noise_note(repeats))
    print(targets_table(target_rows))
    say(data.disposal(args.data, args.remove_data))
    print(
        f"wall time {meta['wall_s']:.1f} s; results in {args.out}/ (results.md, results.json"
        + (", " + ", ".join(c.name for c in charts) if charts else ", no charts: matplotlib not installed")
        + ")"
    )
    return 0
