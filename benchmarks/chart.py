"""One PNG per workload group (random reads, sequential reads, writes, O_DIRECT, file objects).

Each cell is a panel of horizontal bars: the median per participant, a
whisker from the repeats' min to max, ours in one colour and peers in
another. Needs matplotlib; without it, ``render`` returns no files.
"""

from __future__ import annotations

from pathlib import Path

from .participants import Participant
from .report import Summary
from .workloads import Cell, Workload

OURS = "#1f6fb4"
PEER = "#9a9a9a"
FLOOR = "#d9822b"


def compact(value: float | None) -> str:
    """``216697`` -> ``217k``: three significant digits with an SI suffix."""
    if value is None:
        return ""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def render(
    workloads: tuple[Workload, ...],
    participants: list[Participant],
    summaries: dict[str, dict[str, Summary]],
    out: Path,
) -> list[Path]:
    """Write one chart per group into ``out``; the files written."""
    if not available():
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    groups: dict[str, list[Cell]] = {}
    for wl in workloads:
        groups.setdefault(wl.chart, []).extend(wl.cells)
    by_id = {p.id: p for p in participants}
    written = []
    for group, cells in groups.items():
        panels = []
        for cell in cells:
            rows = [(by_id[pid], s) for pid, s in summaries[cell.id].items() if s.median is not None]
            rows.sort(key=lambda r: r[1].median or 0.0)
            if rows:
                panels.append((cell, rows))
        if not panels:
            continue
        heights = [0.6 + 0.3 * len(rows) for _, rows in panels]
        fig, axes = plt.subplots(
            len(panels), 1, figsize=(8, sum(heights) + 0.4), gridspec_kw={"height_ratios": heights}, squeeze=False
        )
        for ax, (cell, rows) in zip(axes[:, 0], panels, strict=True):
            names = [p.label for p, _ in rows]
            medians = [s.median or 0.0 for _, s in rows]
            lows = [s.low or 0.0 for _, s in rows]
            highs = [s.high or 0.0 for _, s in rows]
            errors = [
                [m - lo for m, lo in zip(medians, lows, strict=True)],
                [h - m for m, h in zip(medians, highs, strict=True)],
            ]
            colours = [OURS if p.ours else FLOOR if p.family == "sync" else PEER for p, _ in rows]
            ax.barh(names, medians, xerr=errors, color=colours, capsize=2)
            for y, (_p, s) in enumerate(rows):
                ax.text(s.high or s.median, y, " " + compact(s.median), va="center", fontsize=7)
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            ax.set_title(f"{cell.workload}: {cell.label} ({cell.unit}, median, min-max)", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.margins(x=0.15)
        fig.tight_layout()
        path = out / f"{group}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
