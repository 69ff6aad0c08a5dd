"""What machine produced the figures: CPU, kernel, filesystem, memory, Python, library versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def filesystem(path: str) -> str:
    """The filesystem type and device of the mount holding ``path`` (from /proc/self/mounts)."""
    target = os.path.realpath(path)
    best = ("", "unknown", "unknown")
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best[0]):
                best = (mount, fstype, device)
    except OSError:
        pass
    return f"{best[1]} ({best[2]} on {best[0] or '?'})"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _fio() -> str:
    exe = shutil.which("fio")
    if not exe:
        return "not installed"
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe(data_dir: str) -> dict[str, Any]:
    """The machine info block of the report."""
    return {
        "cpu": f"{_cpu_model()} x {os.cpu_count()}",
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()}",
        "filesystem (data)": filesystem(data_dir),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "aiofile (this project)": _version("aiofile"),
        "caio": _version("caio"),
        "aiofiles": _version("aiofiles"),
        "fio": _fio(),
    }
