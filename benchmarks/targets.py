"""Performance targets, checked against this run (informational only).

Each target compares two participants in one cell of the same run (a ratio of
their medians), sometimes with a latency or lag bound, and is labelled by what
it compares. Ratios, not absolute figures, carry across machines; on a shared
or noisy machine read them with the spread (min-max of the repeats) the table
shows. A target whose participant or reference did not run is ``n/a`` with the
reason; a missed target never changes the exit status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .participants import Participant
from .report import Records, Summary, _row, fmt
from .workloads import WORKLOADS


@dataclass(frozen=True)
class Target:
    """``subject`` in ``cell`` must reach ``ratio`` x ``reference`` (and ``bound`` if set).

    ``reference`` is a participant id, ``caio-best`` (caio's fastest
    variant in that cell) or ``public-best`` (the public aiofile's fastest).
    ``bound`` is ``(field, limit)``: the subject's median ``field`` must be at
    most ``limit``.
    """

    subject: str
    cell: str
    reference: str
    ratio: float
    bound: tuple[str, float] | None = None

    def text(self) -> str:
        """What is compared and the bar, in words: "linux engine vs caio's best, 4 KiB cached ... >= 1.2x"."""
        extra = ""
        if self.bound:
            name, limit = self.bound
            extra = f", {_FIELD_WORDS.get(name, name)} <= {limit:g}"
        return f"{_who(self.subject)} vs {_who(self.reference)}, {_cell_words(self.cell)}: >= {self.ratio:g}x{extra}"


_FIELD_WORDS = {"p50_us": "p50 latency (µs)", "lag_p99_ms": "event-loop lag p99 (ms)"}
_PEOPLE = {
    "caio-best": "caio's best backend",
    "public-best": "public aiofile on caio's best backend",
    "sync": "synchronous stdlib",
    "fio": "fio (libaio)",
    "fio:uring": "fio (io_uring)",
    "to_thread": "asyncio.to_thread",
    "aiofiles": "aiofiles",
    "trio.open_file": "trio.open_file",
    "anyio.open_file": "anyio.open_file (trio backend)",
}


def _cell_words(cell_id: str) -> str:
    """A cell in words: its workload's title, plus the cell's own label when the workload has several."""
    for wl in WORKLOADS:
        for cell in wl.cells:
            if cell.id == cell_id:
                return wl.title if len(wl.cells) == 1 else f"{cell.label} ({wl.title.split(':')[0].split(' (')[0]})"
    return cell_id


def _who(pid: str) -> str:
    """A participant id in words: ``linux`` -> ``linux engine``, ``aiofile:thread`` -> ``aiofile on thread``."""
    if pid in _PEOPLE:
        return _PEOPLE[pid]
    family, _, backend = pid.partition(":")
    if not backend:
        return f"{pid} engine"
    if family == "caio":
        return f"caio {backend}"
    if family == "aiofile-open":
        return f"async_open seek+read on {backend}"
    if family == "trio-aiofile":
        return f"aiofile on {backend} under trio"
    if family.startswith("aiofile-"):
        return f"public aiofile on caio {backend}"
    return f"{family} on {backend}"


def targets(participants: list[Participant]) -> list[Target]:
    """Every target, with the file-object ones repeated for each ``aiofile`` participant."""
    out = [
        Target("linux", "W1/4k-x1", "caio-best", 1.2, ("p50_us", 3.0)),
        Target("linux", "W2/4k-x64", "caio-best", 1.2),
        Target("linux", "W3/1m-x1", "sync", 0.8),
        Target("linux", "W4/4k-x64", "caio:linux-deferred", 1.3),
        Target("linux", "W5/4k-x64-direct", "fio", 0.8),
        Target("uring", "W5/4k-x64-direct", "fio:uring", 0.8),
        Target("linux", "W5/4k-x64-direct", "fio:uring", 0.8),
        Target("linux", "W2c/4k-x64-cold", "caio:linux", 3.0, ("lag_p99_ms", 1.0)),
        Target("thread", "W2/4k-x64", "caio:thread", 3.0),
        Target("thread", "W2/4k-x64", "to_thread", 1.5),
        Target("thread", "W1/4k-x1", "caio:thread", 2.0),
        Target("thread", "W2c/4k-x64-cold", "caio:thread", 2.0),
    ]
    helpers = [p for p in participants if p.family == "aiofile"] or [
        Participant("aiofile:linux", "aiofile on linux_aio", "aiofile", "linux")
    ]
    for helper in helpers:
        engine = str(helper.backend)
        out += [
            Target(helper.id, "W1/4k-x1", engine, 0.7),
            Target(helper.id, "W1/4k-x1", "public-best", 3.0),
            Target(helper.id, "W2/4k-x64", engine, 0.8),
            Target(helper.id, "W4/4k-x64", engine, 0.8),
            Target(f"aiofile-open:{engine}", "W1/4k-x1", engine, 0.6),
        ]
    for subject in [h.id for h in helpers]:
        out += [
            Target(subject, "W6/lines", "sync", 0.5),
            Target(subject, "W6/linereader", "sync", 0.5),
            Target(subject, "W6/copy", "sync", 0.8),
            Target(subject, "W6/lines", "aiofiles", 100.0),
            Target(subject, "W6/copy", "aiofiles", 5.0),
            Target(subject, "W6/write-lines", "sync", 0.5),
            Target(subject, "W6/write-lines", "aiofiles", 5.0),
        ]
    trio_rows = [p.id for p in participants if p.family == "trio-aiofile"] or ["trio-aiofile:linux"]
    for subject in trio_rows:
        for peer in ("trio.open_file", "anyio.open_file"):
            out += [Target(subject, "W1/4k-x1", peer, 5.0), Target(subject, "W2/4k-x64", peer, 5.0)]
        out.append(Target(subject, "W6/lines", "trio.open_file", 20.0))
    return out


#: Best-of references: the fastest participant whose id starts with the prefix.
_BEST_OF = {"caio-best": "caio:", "public-best": "aiofile-3."}


def _why_missing(pid: str, cell: str, records: Records) -> str:
    rec = records.get(cell, {}).get(pid)
    if rec is None:
        return f"{pid} not in this run"
    return f"{pid}: {rec.reason or 'no result'}"


def evaluate(
    participants: list[Participant], records: Records, summaries: dict[str, dict[str, Summary]]
) -> list[dict[str, Any]]:
    """Each target with the measured ratio and ``met``, ``not met`` or ``n/a: why``."""
    results = []
    for t in targets(participants):
        row: dict[str, Any] = {
            "target": t.text(),
            "ratio": None,
            "reference": t.reference,
            "status": "",
        }
        per = summaries.get(t.cell)
        if per is None:
            row["status"] = f"n/a: {t.cell.split('/')[0]} not in this run"
            results.append(row)
            continue
        subject = per.get(t.subject, Summary(None))
        if t.reference in _BEST_OF:
            prefix = _BEST_OF[t.reference]
            peers = {pid: s.median for pid, s in per.items() if pid.startswith(prefix) and s.median is not None}
            ref_id = max(peers, key=lambda k: peers[k]) if peers else None
            reference = peers[ref_id] if ref_id else None
            row["reference"] = ref_id or f"{_who(t.reference)} (none ran)"
        else:
            ref_id = t.reference
            reference = per.get(ref_id, Summary(None)).median
        if subject.median is None:
            row["status"] = "n/a: " + _why_missing(t.subject, t.cell, records)
        elif reference is None:
            row["status"] = "n/a: " + (_why_missing(ref_id, t.cell, records) if ref_id else "no such peer ran")
        else:
            ratio = subject.median / reference
            row["ratio"] = ratio
            ok = ratio >= t.ratio
            measured = f"{ratio:.2f}x"
            if t.bound:
                name, limit = t.bound
                value = (subject.extras or {}).get(name)
                row[name] = value
                ok = ok and value is not None and value <= limit
                measured += f", {name.replace('_', ' ')} {fmt(value)}"
            if subject.low is not None and subject.high is not None and reference:
                measured += f" (subject's repeats {subject.low / reference:.2f}-{subject.high / reference:.2f}x)"
            row["measured"] = measured
            row["status"] = "met" if ok else "not met"
        results.append(row)
    return results


def noise_note(repeats: int) -> str:
    """How to read the targets: repeats, spread, and what carries across machines."""
    return (
        f"Each ratio is of two medians over {repeats} repeat(s) in this run; the bracket gives the subject's "
        "fastest and slowest repeat over the reference's median, so a wide bracket means a noisy machine. "
        "Ratios, not absolute figures, carry across machines; on a shared or loaded machine a 'not met' "
        "within the bracket is noise, not a verdict.\n"
    )


def targets_table(rows: list[dict[str, Any]]) -> str:
    """The targets as Markdown."""
    lines = [_row(["comparison and bar", "reference ran as", "measured", "status"]), _row(["---"] * 4)]
    for r in rows:
        lines.append(_row([r["target"], r["reference"], r.get("measured", "—"), r["status"]]))
    return "\n".join(lines) + "\n"
