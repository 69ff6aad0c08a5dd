"""``python -m benchmarks`` runs end to end on tiny data and writes well-formed results.

Nothing here asserts a timing: only that every cell has runs or a reason,
that the JSON and Markdown are complete, and that option errors exit with 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import _linuxaio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.workloads import CELLS, WORKLOADS, WRITE_LINES  # noqa: E402

REPEATS = 2


def bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "out"
    proc = bench(
        "--quick",
        "--backend",
        "python",
        "--peers",
        "sync,trio.open_file,anyio.open_file",
        "--scale",
        "0.001",
        "--duration",
        "0.005",
        "--repeats",
        str(REPEATS),
        "--data",
        tmp / "data",
        "--out",
        out,
    )
    return proc, out


def test_quick_run_completes(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, out = quick_run
    assert proc.returncode == 0, proc.stderr
    assert (out / "results.json").is_file()
    assert (out / "results.md").is_file()


def test_json_has_every_cell_with_runs_or_a_reason(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = quick_run
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["cells"]) == set(CELLS)
    ids = {p["id"] for p in doc["participants"]}
    assert {"python", "aiofile:python", "sync"} <= ids
    assert not any(i.startswith("caio") or i in ("aiofiles", "fio", "to_thread") for i in ids)
    for cell_id, cell in doc["cells"].items():
        assert set(cell["participants"]) == ids, cell_id
        for pid, entry in cell["participants"].items():
            if entry["runs"]:
                assert len(entry["runs"]) == REPEATS, (cell_id, pid)
                for run in entry["runs"]:
                    assert run["units"] > 0
                    assert run["seconds"] > 0
                    assert run["value"] > 0
                assert entry["summary"]["median"] is not None
            else:
                assert entry["reason"], (cell_id, pid)
    # The python engine runs every positional cell; the floor runs everything.
    # (O_DIRECT may be refused by the filesystem under tmp_path: W5 then has a reason.)
    for cell_id, cell in CELLS.items():
        if cell.kind == "direct":
            continue
        if not cell.file_object:
            assert doc["cells"][cell_id]["participants"]["python"]["runs"], cell_id
        if cell.sustained:  # the sustained write is for the asynchronous participants (and their lag)
            assert "sustained write" in doc["cells"][cell_id]["participants"]["sync"]["reason"]
            continue
        assert doc["cells"][cell_id]["participants"]["sync"]["runs"], cell_id
    # Once the aiofile API is built, aiofile on python_aio runs every cell too.
    aiofile_built = hasattr(importlib.import_module("aiofile"), "async_open")
    for cell_id, cell in CELLS.items():
        entry = doc["cells"][cell_id]["participants"]["aiofile:python"]
        if aiofile_built and cell.kind != "direct":
            assert entry["runs"], (cell_id, entry["reason"])
        elif not aiofile_built:
            assert "aiofile API not built" in entry["reason"]
    # The trio rows (ours on a TrioContext, trio.open_file, anyio.open_file) run W1, W2 and W6 only.
    for pid in ("trio-aiofile:python", "trio.open_file", "anyio.open_file"):
        for cell_id, cell in CELLS.items():
            entry = doc["cells"][cell_id]["participants"][pid]
            if cell.workload in ("W1", "W2", "W6"):
                assert entry["runs"], (cell_id, pid, entry["reason"])
            else:
                assert "trio row" in entry["reason"], (cell_id, pid)
    w2c = doc["cells"]["W2c/4k-x64-cold"]["participants"]["python"]["runs"][0]
    assert {"p50_us", "p99_us", "lag_p50_ms", "lag_p99_ms", "lag_max_ms"} <= set(w2c)
    assert "sync_ms" in doc["cells"]["W4/4k-x64"]["participants"]["python"]["runs"][0]
    assert doc["meta"]["repeats"] == REPEATS
    assert doc["meta"]["machine"]["kernel"]
    assert doc["targets"]
    assert all(t["status"] for t in doc["targets"])


def test_markdown_tables_are_well_formed(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = quick_run
    md = (out / "results.md").read_text()
    for wl in WORKLOADS:
        assert f"### {wl.id}:" in md
    for heading in ("## Machine", "## Summary", "## Targets"):
        assert heading in md
    # Every table row has as many columns as its header.
    width = None
    for line in md.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cols = len(line.replace("\\|", "").split("|"))
        if width is None:
            width = cols
        assert cols == width, line


def test_progress_line_per_cell_run(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, out = quick_run
    doc = json.loads((out / "results.json").read_text())
    runs = sum(len(e["runs"]) for c in doc["cells"].values() for e in c["participants"].values())
    progress = [ln for ln in proc.stderr.splitlines() if ln.startswith("[") and "repeat" in ln]
    assert runs > 0
    assert len(progress) >= runs


@pytest.mark.parametrize(
    "name", [n for n, why in _linuxaio.backend_status().items() if why is not None] or ["none-missing"]
)
def test_unavailable_backend_is_an_error(name: str, tmp_path: Path) -> None:
    if name == "none-missing":
        pytest.skip("every backend works on this machine: there is no unavailable one to request")
    proc = bench("--backend", name, "--data", tmp_path, "--out", tmp_path)
    assert proc.returncode == 2
    assert "not available" in proc.stderr
    assert name in proc.stderr
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("args", [["--backend", "bogus"], ["--workloads", "W9"], ["--peers", "nobody"]])
def test_bad_options_exit_2(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import cli

    assert cli.main([*args, "--data", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_targets_and_ratios_from_synthetic_records() -> None:
    from benchmarks.participants import Participant
    from benchmarks.report import summarize
    from benchmarks.runner import CellRecord
    from benchmarks.targets import evaluate

    def runs(*values: float, **extra: float) -> CellRecord:
        return CellRecord(runs=[{"value": v, "units": 1, "seconds": 1.0, **extra} for v in values])

    people = [
        Participant("linux", "linux_aio (engine)", "ours", "linux"),
        Participant("caio:linux", "caio linux", "caio", "linux"),
        Participant("caio:uring", "caio uring", "caio", "uring"),
        Participant("sync", "sync", "sync"),
        Participant("aiofile:python", "aiofile", "aiofile", "python", "not built"),
    ]
    records = {
        "W1/4k-x1": {
            "linux": runs(130.0, 120.0, 10.0, p50_us=2.5),  # median 120
            "caio:linux": runs(100.0, 90.0, 95.0),  # median 95
            "caio:uring": runs(99.0, 101.0, 100.0),  # median 100: caio's best
            "sync": runs(240.0),
            "aiofile:python": CellRecord(reason="not built"),
        },
        "W2/4k-x64": {
            "linux": runs(100.0),
            "caio:linux": runs(100.0),
            "caio:uring": CellRecord(reason="boom"),
            "sync": runs(50.0),
            "aiofile:python": CellRecord(reason="not built"),
        },
    }
    summaries = summarize(records)
    w1 = summaries["W1/4k-x1"]
    assert w1["linux"].median == 120.0
    assert (w1["linux"].low, w1["linux"].high) == (10.0, 130.0)
    assert w1["linux"].vs_best == pytest.approx(0.5)  # sync's 240 is the best
    assert w1["linux"].vs_sync == pytest.approx(0.5)
    assert w1["aiofile:python"].median is None
    rows = {(r["target"].split(":")[0], r["reference"]): r for r in evaluate(people, records, summaries)}
    w1_row = rows[("linux engine vs caio's best backend, 4 KiB cached random pread, 1 in flight", "caio:uring")]
    assert w1_row["ratio"] == pytest.approx(1.2)
    assert w1_row["status"] == "met"  # 1.2x and p50 2.5 <= 3
    assert "(subject's repeats 0.10-1.30x)" in w1_row["measured"]  # the spread of linux's repeats over caio's median
    w2_row = rows[("linux engine vs caio's best backend, 4 KiB cached random pread, 64 in flight", "caio:linux")]
    assert w2_row["status"] == "not met"  # 1.0x < 1.2x
    w3_row = rows[("linux engine vs synchronous stdlib, 1 MiB, 1 in flight (1 MiB sequential cached reads)", "sync")]
    assert w3_row["status"].startswith("n/a")
    lines_row = rows[("aiofile on python vs synchronous stdlib, async for line (80-byte lines) (file objects)", "sync")]
    assert lines_row["status"].startswith("n/a")
    writes = "write 100,000 80-byte lines (text mode), then close (file objects)"
    assert rows[(f"aiofile on python vs synchronous stdlib, {writes}", "sync")]["status"].startswith("n/a")
    assert rows[(f"aiofile on python vs aiofiles, {writes}", "aiofiles")]["status"].startswith("n/a")
    # No row is labelled by an issue number: each says what it compares.
    assert not any("#" in r["target"] or "item" in r["target"] for r in evaluate(people, records, summaries))


def test_noise_note_names_repeats_and_spread() -> None:
    from benchmarks.targets import noise_note

    note = noise_note(5)
    assert "5 repeat(s)" in note
    assert "Ratios, not absolute figures, carry across machines" in note


def test_data_disposal_says_where_and_how_big_or_removes(tmp_path: Path) -> None:
    from benchmarks import data

    directory = tmp_path / "bench-data"
    directory.mkdir()
    (directory / "big.dat").write_bytes(b"x" * (3 * 1024 * 1024))
    kept = data.disposal(directory, remove=False)
    assert str(directory) in kept
    assert "3 MiB in 1 files" in kept
    assert "--remove-data" in kept
    assert directory.is_dir()
    removed = data.disposal(directory, remove=True)
    assert "removed" in removed
    assert not directory.exists()


def test_caio_o_direct_einval_is_reported_as_a_limit_not_an_error() -> None:
    from benchmarks.child import _failure
    from benchmarks.participants import Participant
    from benchmarks.runner import format_result
    from benchmarks.workloads import CELLS

    caio = Participant("caio:linux", "caio linux", "caio", "linux")
    result = _failure(caio, CELLS["W5/4k-x64-direct"], SystemError("Invalid argument"))
    line = format_result(CELLS["W5/4k-x64-direct"], result)
    assert line.startswith("not supported: caio cannot do O_DIRECT with its own buffers")
    other = _failure(caio, CELLS["W1/4k-x1"], OSError(5, "Input/output error"))
    assert format_result(CELLS["W1/4k-x1"], other).startswith("error: OSError")


@pytest.mark.parametrize("request_text", ["linux", "all", "python,linux"])
def test_requested_backend_that_is_not_built_exits_2(
    request_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import cli

    monkeypatch.setattr(
        cli, "our_status", lambda: {"linux": "not built (test)", "uring": None, "thread": None, "python": None}
    )
    assert cli.main(["--backend", request_text, "--data", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not available here (no fallback)" in err
    assert "linux: not built (test)" in err
    assert not (tmp_path / "results.json").exists()


def test_full_mode_subset_one_subprocess_per_group(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = bench(
        "--backend", "python", "--peers", "sync", "--workloads", "W1,W2c,W6", "--scale", "0.001",
        "--duration", "0.005", "--repeats", "1", "--data", tmp_path / "data", "--out", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "results.json").read_text())
    cells = {"W1/4k-x1", "W2c/4k-x64-cold", "W6/lines", "W6/linereader", "W6/write-lines", "W6/copy"}
    assert set(doc["cells"]) == cells
    assert doc["meta"]["quick"] is False
    assert len(doc["cells"]["W1/4k-x1"]["participants"]["python"]["runs"]) == 1
    assert len(doc["cells"]["W6/copy"]["participants"]["sync"]["runs"]) == 1
    lines = doc["cells"]["W6/linereader"]["participants"]
    assert lines["sync"]["runs"][0]["units"] > 0
    assert lines["aiofile:python"]["runs"][0]["units"] > 0  # LineReader over AIOFile
    written = doc["cells"]["W6/write-lines"]["participants"]["sync"]["runs"][0]
    assert 0 < written["units"] <= WRITE_LINES
    assert not list((tmp_path / "data").glob("copy-*.out"))  # the written file is deleted
    assert "### W6:" in (out / "results.md").read_text()


def test_a_crashing_cell_is_rerun_alone_and_spares_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import runner

    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        cells = json.loads(cmd[-1])["cells"]
        calls.append(cells)
        if "W5/4k-x64-direct" in cells:  # this cell kills its process (as a segfault would)
            return subprocess.CompletedProcess(cmd, -11, "", "Fatal Python error: Segmentation fault\n")
        out = {"cells": {c: {"units": 1, "seconds": 1.0, "value": 1.0} for c in cells}}
        return subprocess.CompletedProcess(cmd, 0, json.dumps(out) + "\n", "")

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    results = runner.run_child({"cells": ["W1/4k-x1", "W5/4k-x64-direct", "W6/lines"]}, timeout=5)
    assert calls == [["W1/4k-x1", "W5/4k-x64-direct", "W6/lines"], ["W1/4k-x1"], ["W5/4k-x64-direct"], ["W6/lines"]]
    assert results["W1/4k-x1"]["value"] == 1.0
    assert results["W6/lines"]["value"] == 1.0
    assert results["W5/4k-x64-direct"]["error"] == "child exited with -11: Fatal Python error: Segmentation fault"


def test_fio_peer_means_both_fio_engines() -> None:
    from benchmarks.participants import parse_peers

    assert parse_peers("fio") == {"fio", "fio:uring"}
    assert parse_peers("fio:uring") == {"fio:uring"}


@pytest.mark.parametrize("pid", ["sync", "aiofile:python", "aiofile:thread", "aiofiles"])
def test_write_lines_leaves_exactly_the_lines_on_disk(pid: str, tmp_path: Path) -> None:
    import asyncio

    from benchmarks import adapters, data
    from benchmarks.participants import Participant

    if pid == "aiofiles":
        pytest.importorskip("aiofiles")
    family, _, backend = pid.partition(":")
    p = Participant(pid, pid, family, backend or None)
    lines = data.text_lines(2500)
    assert {len(line) for line in lines} == {data.LINE_BYTES} and all(line.endswith("\n") for line in lines)
    assert len(set(lines)) == len(lines)
    path = tmp_path / "out.txt"
    path.write_bytes(b"stale content, truncated by 'w'" * 10_000)

    async def main() -> int:
        fo = adapters.file_objects(p)
        try:
            return await fo.write_lines(str(path), lines)
        finally:
            await fo.close()

    assert asyncio.run(main()) == len(lines)
    assert path.read_bytes() == "".join(lines).encode("utf-8")


def test_whole_file_line_writes_are_timed_over_files_that_fill_the_duration(tmp_path: Path) -> None:
    """W6 line writes: one file of WRITE_LINES lines takes 10-50 ms, so a measured run writes
    whole files (each opened "w" and closed) until it lasts ``duration``."""
    import asyncio

    from benchmarks import child
    from benchmarks.participants import Participant

    source = tmp_path / "lines.txt"
    source.write_bytes(b"")
    sync = Participant("sync", "sync", "sync", None)
    duration = 0.3
    result = asyncio.run(
        child.file_object_cell(
            sync, CELLS["W6/write-lines"], {"lines": str(source)}, {"lines": 0}, None, duration, 60.0
        )
    )
    assert result["whole_file"] is True
    assert result["files"] >= 1
    assert result["units"] == result["files"] * WRITE_LINES
    assert result["seconds"] >= duration
    assert result["value"] == CELLS["W6/write-lines"].value(result["units"], result["seconds"])
    assert list(tmp_path.iterdir()) == [source]  # the destination is removed


def test_every_group_rotates_its_own_participants_and_syncs_before_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """W6's participants are a subset of all: rotating the whole list kept the same one first after
    W4's sustained write (it met the disk still writing back). Each group rotates its own."""
    from benchmarks import runner
    from benchmarks.participants import discover

    participants = discover(["python"], {"sync", "to_thread"})
    w6_ids = [p.id for p in participants if p.reason(CELLS["W6/copy"]) is None]
    assert "to_thread" not in w6_ids and len(w6_ids) >= 2  # a group whose members are a strict subset
    order: list[tuple[str, str]] = []
    syncs: list[int] = []
    monkeypatch.setattr(runner.os, "sync", lambda: syncs.append(len(order)))

    def fake_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        order.append((spec["group"], spec["participant"]["id"]))
        return {c: {"units": 1, "seconds": 1.0, "value": 1.0} for c in spec["cells"]}

    monkeypatch.setattr(runner, "run_child", fake_child)
    w4 = next(w for w in WORKLOADS if w.id == "W4")
    w6 = next(w for w in WORKLOADS if w.id == "W6")
    plan = runner.Plan((w4, w6), participants, len(w6_ids), 0.01, {}, {}, 1.0)
    runner.run(plan, lambda line: None)
    firsts = []
    for repeat in range(plan.repeats):
        per_repeat = order[repeat * len(order) // plan.repeats : (repeat + 1) * len(order) // plan.repeats]
        firsts.append(next(pid for group, pid in per_repeat if group == w6.chart))
    assert sorted(firsts) == sorted(w6_ids)  # each W6 participant is first once
    assert syncs == list(range(len(order)))  # one sync(2) before every child


@pytest.mark.parametrize("mode", ["cached", "direct"])
def test_registered_resources_probe_builds_and_reads_every_variant(mode: str, tmp_path: Path) -> None:
    """``python -m benchmarks.registered``'s C program: built with -Werror, every variant reads."""
    from benchmarks import registered

    if registered.compiler() is None:
        pytest.skip("no C compiler on PATH")
    program = registered.build(tmp_path, werror=True)
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    out = subprocess.run([str(program), mode, str(data_file), "3000"], capture_output=True, text=True, check=False)
    if out.returncode == registered.UNSUPPORTED:
        pytest.skip(f"this machine refuses the set-up: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 12  # four variants, three rounds
    names = ["plain", "fixed file", "fixed buffer", "fixed file + buffer"]
    for index, line in enumerate(lines):
        name, figures = line[:20].strip(), line[20:].split()
        assert name == names[index % 4]
        assert float(figures[0]) > 0 and figures[1] == "ops/s" and float(figures[2]) > 0


@pytest.mark.parametrize("slow", ["take", "latency_us"])
def test_the_lag_ticker_measures_the_run_not_the_harness(
    slow: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Drawing 235,000 offsets after the ticker started blocked the loop for ~25 ms: every fast
    row's lag max was the harness's own work. Drawing offsets and sorting latencies stay outside."""
    import asyncio
    import time

    from benchmarks import child
    from benchmarks.participants import discover

    if slow == "take":
        take = child.Offsets.take

        def slow_take(self: Any, k: int) -> list[int]:
            time.sleep(0.2)
            return take(self, k)

        monkeypatch.setattr(child.Offsets, "take", slow_take)
    else:

        def slow_latencies(samples: list[int]) -> dict[str, float | None]:
            time.sleep(0.2)
            return {"p50_us": 1.0, "p99_us": 1.0}

        monkeypatch.setattr(child, "latency_us", slow_latencies)
    engine = next(p for p in discover(["python"], set()) if p.id == "python")
    path = tmp_path / "scratch.dat"
    path.write_bytes(bytes(1 << 20))
    result = asyncio.run(child.positional_cell(engine, CELLS["W4/4k-x1"], str(path), 1 << 20, 200, 0.01, 7))
    assert result["units"] == 200 and result["ticks"] >= 1
    assert result["lag_max_ms"] < 100, result


_HAS_CAIO = importlib.util.find_spec("caio") is not None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["turns", "--backend", "thread", "--rounds", "1", "--seconds", "0.05"], 3),
        (["write-lines", "--rounds", "1", "--lines", "2000"], 4),
        (["cold-reads", "--rounds", "1", "--seconds", "0.05", "--size-mib", "16"], 3 + _HAS_CAIO),
        (["cold-reads", "--rounds", "1", "--seconds", "0.05", "--size-mib", "16", "--pool-size", "4"], 5 + _HAS_CAIO),
        (["write-trust", "--rounds", "1", "--seconds", "0.05", "--tasks", "4"], 6 + _HAS_CAIO),
    ],
    ids=["turns", "write-lines", "cold-reads", "cold-reads-pool-size", "write-trust"],
)
def test_in_process_ab_reports_a_positive_median_per_variant(args: list[str], expected: int) -> None:
    """``python -m benchmarks.ab``: one line per variant, each with a median above zero."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.ab", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == expected, lines
    for line in lines:
        median = line.split("median ", 1)[1].split()[0].replace(",", "")
        assert float(median) > 0, line
