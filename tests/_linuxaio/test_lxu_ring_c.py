"""The plain-C io_uring layer (csrc/lxu_ring.c) on its own: compile csrc/test_lxu_ring.c and run it.

Covers every setup flag set the backend may choose (SUBMIT_ALL, COOP_TASKRUN,
SINGLE_ISSUER, DEFER_TASKRUN): one write then 16 reads in one
``io_uring_enter`` (values and bytes checked), fsync/fdatasync, a failing
read (``-EBADF`` in its CQE), the registered eventfd, CQ overflow (24
completions through an 8-entry CQ with ``IORING_FEAT_NODROP``), cancel of a
read blocked on a pipe (``IORING_OP_ASYNC_CANCEL``), the opcode probe, and
close-on-exec of the ring descriptor. Also built with AddressSanitizer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "src" / "_linuxaio" / "csrc"
TEST_SOURCE = Path(__file__).with_name("csrc") / "test_lxu_ring.c"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="default"),
        pytest.param(["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"], id="asan"),
    ],
)
def test_ring_in_c(tmp_path: Path, extra: list[str]) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    binary = tmp_path / "test_lxu_ring"
    subprocess.run(
        [
            compiler,
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=gnu11",
            "-O1",
            "-g",
            *extra,
            f"-I{CSRC}",
            str(TEST_SOURCE),
            str(CSRC / "lxu_ring.c"),
            "-o",
            str(binary),
        ],
        check=True,
    )
    result = subprocess.run([str(binary), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout.strip()
    if out.startswith("skip:"):
        pytest.skip(f"io_uring refused here ({out})")
    assert out == "ok"
