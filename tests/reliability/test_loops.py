"""Forgotten and many event loops (issue 11 item 2): nothing outlives its loop.

A loop dropped without ``close()`` and garbage-collected must release its
default context: the kernel AIO context (``fs.aio-max-nr`` is system-wide:
one leaked per loop made ``io_setup`` fail for every process after ~500
loops), the pool's threads and the eventfd. Each case runs in a fresh
process (``_loop_scenarios.py``) so the baseline is its own.

The kernel contexts are counted per process (``[aio]`` mappings, one per
context of 128 events in ``fs.aio-nr``), exactly: at most one more than
the warm-up left (the idle one kept for reuse), i.e. this process's share of
``/proc/sys/fs/aio-nr`` is back within one queue's size. The system-wide
``aio-nr`` itself moves with every other process on the machine (other test
runs), so asserting on it fails under load; the scenario reports it anyway.

Bounded: 200 forgotten loops, 500 ``asyncio.run()`` calls, 8 threads x 25
``asyncio.run()``. Long (``--long`` or ``AIOFILE_LONG_TESTS=1``): 2,000
forgotten loops, 2,000 ``asyncio.run()`` calls x 5, 16 threads x 250.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).with_name("_loop_scenarios.py")


def _long(config: pytest.Config) -> bool:
    return bool(config.getoption("--long", False)) or os.environ.get("AIOFILE_LONG_TESTS", "") not in ("", "0")


def _run(backend: Any, *args: object) -> tuple[dict[str, int], dict[str, int]]:
    env = {**os.environ, "CAIO_IMPL": str(backend)}
    try:
        run = subprocess.run(
            [sys.executable, str(SCRIPT), *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hang: {args} did not finish in {exc.timeout} s")
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    return result["before"], result["after"]


def _assert_back_to_baseline(before: dict[str, int], after: dict[str, int]) -> None:
    assert after["aio_contexts"] <= before["aio_contexts"] + 1, (before, after)
    assert after["fds"] <= before["fds"], (before, after)
    assert after["threads"] <= before["threads"], (before, after)


def test_forgotten_loops_release_their_default_context(backend: Any, pytestconfig: pytest.Config) -> None:
    loops = 2000 if _long(pytestconfig) else 200
    before, after = _run(backend, "forgotten", loops)
    _assert_back_to_baseline(before, after)


def test_many_asyncio_run_calls(backend: Any, pytestconfig: pytest.Config) -> None:
    runs = 2000 if _long(pytestconfig) else 500
    for _ in range(5 if _long(pytestconfig) else 1):
        before, after = _run(backend, "run", runs)
        _assert_back_to_baseline(before, after)


def test_many_loops_in_many_threads(backend: Any, pytestconfig: pytest.Config) -> None:
    threads, runs = (16, 4000) if _long(pytestconfig) else (8, 200)
    before, after = _run(backend, "threads", runs, threads)
    _assert_back_to_baseline(before, after)
