"""The plain-C pool (csrc/lxa_pool.c) tested on its own: compile tests/_linuxaio/csrc/test_lxa_pool.c and run it.

Covers what is awkward to reach from Python: completion results and order,
per-fd ordering on a pipe, cancellation of a job waiting behind another on
the same pipe, and a fork while a worker is blocked in a read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "src" / "_linuxaio" / "csrc"
TEST_SOURCE = Path(__file__).with_name("csrc") / "test_lxa_pool.c"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def test_pool_in_c(tmp_path: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    binary = tmp_path / "test_lxa_pool"
    subprocess.run(
        [
            compiler,
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=gnu11",
            "-O1",
            "-g",
            f"-I{CSRC}",
            str(TEST_SOURCE),
            str(CSRC / "lxa_pool.c"),
            "-o",
            str(binary),
            "-lpthread",
        ],
        check=True,
    )
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
