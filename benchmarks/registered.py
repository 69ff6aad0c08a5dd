"""``python -m benchmarks.registered``: do io_uring's registered files and buffers pay?

Builds ``benchmarks/csrc/uring_registered.c`` with the backend's own ring layer
(``src/_linuxaio/csrc/lxu_ring.c``) and runs it on the benchmark's 512 MiB file:
4 KiB cached random reads at 1 in flight (W1's shape) and 4 KiB ``O_DIRECT``
random reads at 64 in flight (W5's shape), each with a plain descriptor and
buffer, a registered file (``IOSQE_FIXED_FILE``), a registered buffer
(``IORING_OP_READ_FIXED``) and both. C, not Python: the ceiling of what
registering could save per operation. ``linux_uring`` registers neither; the
README's Benchmarks section gives the figures and why.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import data
from .cli import DEFAULT_DATA

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "benchmarks" / "csrc" / "uring_registered.c"
RING = ROOT / "src" / "_linuxaio" / "csrc"


#: The program's exit status when this machine refuses the set-up (io_uring, a
#: registration, O_DIRECT on the data's file system).
UNSUPPORTED = 77


def compiler() -> str | None:
    """The C compiler ``build`` uses, or None."""
    return shutil.which("cc") or shutil.which("gcc")


def build(directory: Path, *, werror: bool = False) -> Path:
    """Compile the measurement program into ``directory``; its path (``werror``: warnings fail)."""
    cc = compiler()
    if cc is None:
        raise SystemExit("no C compiler (cc or gcc) on PATH")
    program = directory / "uring_registered"
    flags = ["-O2", "-Wall", "-Wextra", *(["-Werror"] if werror else []), f"-I{RING}"]
    subprocess.run([cc, *flags, str(SOURCE), str(RING / "lxu_ring.c"), "-o", str(program)], check=True)
    return program


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.registered", description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"benchmark data directory (default {DEFAULT_DATA})"
    )
    parser.add_argument("--cached-reads", type=int, default=2_000_000, help="reads per cached run (default 2,000,000)")
    parser.add_argument("--direct-reads", type=int, default=300_000, help="reads per O_DIRECT run (default 300,000)")
    args = parser.parse_args(argv)
    big = data.ensure(args.data, data.layout(1.0), {"big"}, lambda line: print(line, file=sys.stderr))["big"]
    data.warm(big, data.CACHED_REGION)
    with tempfile.TemporaryDirectory() as tmp:
        program = build(Path(tmp))
        for mode, count in (("cached", args.cached_reads), ("direct", args.direct_reads)):
            print(f"## {mode}: {count:,} reads per run, three rounds", flush=True)
            status = subprocess.run([str(program), mode, big, str(count)], check=False).returncode
            if status == UNSUPPORTED:
                print(f"{mode}: this machine refuses the set-up (see the message above)", flush=True)
            elif status != 0:
                return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
