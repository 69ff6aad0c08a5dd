"""One PNG per workload group (random reads, sequential reads, writes, O_DIRECT, file objects).

Each cell is a panel of horizontal bars: the median per participant, a
whisker from the repeats' min to max, ours in one colour and peers in
another. Needs matplotlib; without it, ``render`` returns no files.
"""

from __future__ import annotations

from pathlib import Path

from .participants import Participant
from .report import Summary
from .workloads import Workload

OURS = "#1f6fb4"
PEER = "#9a9a9a"
FLOOR = "#d9822b"


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

    groups: dict[str, list] = {}
    for wl in workloads:
        groups.setdefault(wl.chart, []).extend(wl.cells)
    by_id = {p.id: p for p in participants}
    written = []
    for group, cells in groups.items():
        panels = []
        for cell in cells:
            rows = [(by_id[pid], s) for pid, s in summaries[cell.id].items() if s.median is not None]
            rows.sort(key=lambda r: r[1].median)
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
            medians = [s.median for _, s in rows]
            errors = [[s.median - s.low for _, s in rows], [s.high - s.median for _, s in rows]]
            colours = [OURS if p.ours else FLOOR if p.family == "sync" else PEER for p, _ in rows]
            ax.barh(names, medians, xerr=errors, color=colours, capsize=2)
            for y, (_p, s) in enumerate(rows):
                ax.text(s.median, y, f" {s.median:,.3g}", va="center", fontsize=7)
            ax.set_title(f"{cell.workload}: {cell.label} ({cell.unit}, median, min-max)", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.margins(x=0.15)
        fig.tight_layout()
        path = out / f"{group}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
