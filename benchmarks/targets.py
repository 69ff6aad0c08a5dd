"""The performance targets the issues set, checked against this run (informational only).

Issue 3 item 9 (``linux_aio``), issue 4 item 7 (``thread_aio``) and issue 7
item 9 (``aiofile``, checked on every backend that ran it). Each is a ratio of
two medians from the same run, sometimes with a latency or lag bound. A target
whose participant or reference did not run is ``n/a`` with the reason; a
missed target never changes the exit status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .participants import Participant
from .report import Records, Summary, _row, fmt


@dataclass(frozen=True)
class Target:
    """``subject`` in ``cell`` must reach ``ratio`` x ``reference`` (and ``bound`` if set).

    ``reference`` is a participant id or ``caio-best`` (caio's fastest
    variant in that cell). ``bound`` is ``(field, limit)``: the subject's
    median ``field`` must be at most ``limit``.
    """

    issue: str
    subject: str
    cell: str
    reference: str
    ratio: float
    bound: tuple[str, float] | None = None

    def text(self) -> str:
        """What the issue asks, in one line."""
        ref = "caio's fastest backend" if self.reference == "caio-best" else self.reference
        extra = ""
        if self.bound:
            name, limit = self.bound
            extra = f", {name.replace('_', ' ')} <= {limit:g}"
        return f"{self.subject} {self.cell} >= {self.ratio:g}x {ref}{extra}"


def targets(participants: list[Participant]) -> list[Target]:
    """Every target, with issue 7's repeated for each ``aiofile`` participant."""
    out = [
        Target("#3 item 9", "linux", "W1/4k-x1", "caio-best", 1.2, ("p50_us", 3.0)),
        Target("#3 item 9", "linux", "W2/4k-x64", "caio-best", 1.2),
        Target("#3 item 9", "linux", "W3/1m-x1", "sync", 0.8),
        Target("#3 item 9", "linux", "W4/4k-x64", "caio:linux-deferred", 1.3),
        Target("#3 item 9", "linux", "W5/4k-x64-direct", "fio", 0.8),
        Target("#3 item 9", "linux", "W2c/4k-x64-cold", "caio:linux", 3.0, ("lag_p99_ms", 1.0)),
        Target("#4 item 7", "thread", "W2/4k-x64", "caio:thread", 3.0),
        Target("#4 item 7", "thread", "W2/4k-x64", "to_thread", 1.5),
        Target("#4 item 7", "thread", "W1/4k-x1", "caio:thread", 2.0),
        Target("#4 item 7", "thread", "W2c/4k-x64-cold", "caio:thread", 2.0),
    ]
    aiofiles = [p.id for p in participants if p.family == "aiofile"] or ["aiofile:linux"]
    for subject in aiofiles:
        out += [
            Target("#7 item 9", subject, "W6/lines", "sync", 0.35),
            Target("#7 item 9", subject, "W6/copy", "sync", 0.75),
            Target("#7 item 9", subject, "W6/lines", "aiofiles", 100.0),
            Target("#7 item 9", subject, "W6/copy", "aiofiles", 5.0),
        ]
    return out


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
            "issue": t.issue,
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
        if t.reference == "caio-best":
            caio = {pid: s.median for pid, s in per.items() if pid.startswith("caio:") and s.median is not None}
            ref_id = max(caio, key=lambda k: caio[k]) if caio else None
            reference = caio[ref_id] if ref_id else None
            row["reference"] = ref_id or "caio (none ran)"
        else:
            ref_id = t.reference
            reference = per.get(ref_id, Summary(None)).median
        if subject.median is None:
            row["status"] = "n/a: " + _why_missing(t.subject, t.cell, records)
        elif reference is None:
            row["status"] = "n/a: " + (_why_missing(ref_id, t.cell, records) if ref_id else "no caio backend ran")
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
            row["measured"] = measured
            row["status"] = "met" if ok else "not met"
        results.append(row)
    return results


def targets_table(rows: list[dict[str, Any]]) -> str:
    """The targets as Markdown."""
    lines = [_row(["issue", "target", "reference", "measured", "status"]), _row(["---"] * 5)]
    for r in rows:
        lines.append(_row([r["issue"], r["target"], r["reference"], r.get("measured", "—"), r["status"]]))
    return "\n".join(lines) + "\n"
