"""The plain-C write guard (csrc/lxa_wguard.h) on its own: compile and run tests/_linuxaio/csrc/test_lxa_wguard.c.

Covers the /proc/vmstat parsing, the per-write charge against the sampled
headroom, the test threshold, the cooldown after a slow write, and
``lxa_pwrite_all``'s counts and errnos (EBADF, ENOSPC on /dev/full).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "src" / "_linuxaio" / "csrc"
TEST_SOURCE = Path(__file__).with_name("csrc") / "test_lxa_wguard.c"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.mark.parametrize(
    "sanitize", [pytest.param([], id="plain"), pytest.param(["-fsanitize=address,undefined"], id="asan")]
)
def test_write_guard_in_c(tmp_path: Path, sanitize: list[str]) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler on this machine: the guard is compiled into the extensions only")
    binary = tmp_path / "test_lxa_wguard"
    flags = ["-Wall", "-Wextra", "-Werror", "-std=gnu11", "-O1", "-g", *sanitize, f"-I{CSRC}"]
    subprocess.run([compiler, *flags, str(TEST_SOURCE), "-o", str(binary)], check=True)
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
