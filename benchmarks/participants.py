"""Who takes part: our backends (engine level and through ``aiofile``) and the peers.

This module runs in the parent process: it decides which participants exist
here and, for each cell, whether a participant runs it or why not. The code
that actually does the I/O is in ``adapters.py`` (child processes).

A backend is always forced by importing its module directly
(``_linuxaio.<name>_asyncio``, ``caio.<name>_asyncio``), never through
``CAIO_IMPL``, so nothing falls back silently.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .workloads import Cell

#: Our backends: ``--backend`` names and their module stems.
OUR_BACKENDS = {"linux": "linux_aio", "uring": "linux_uring", "thread": "thread_aio", "python": "python_aio"}
#: caio participants: id suffix -> (module stem, AsyncioContext keyword arguments).
CAIO_VARIANTS = {
    "linux": ("linux_aio", {}),
    "linux-deferred": ("linux_aio", {"deferred": True}),
    "uring": ("linux_uring", {}),
    "thread": ("thread_aio", {}),
    "python": ("python_aio", {}),
}
#: The public aiofile (the package ours replaces) over these caio variants: its ``AIOFile``.
PUBLIC_AIOFILE_VERSION = "3.12.3"
PUBLIC_AIOFILE_VARIANTS = ("linux", "uring")
#: Where the public aiofile is installed (``pip install --target``), apart from ours:
#: a child process of that participant puts it first on ``sys.path``.
PUBLIC_AIOFILE_DIR = Path(tempfile.gettempdir()) / "aiofile-bench-peers" / f"aiofile-{PUBLIC_AIOFILE_VERSION}"
PEER_IDS = (
    *(f"caio:{v}" for v in CAIO_VARIANTS),
    *(f"aiofile-{PUBLIC_AIOFILE_VERSION}:{v}" for v in PUBLIC_AIOFILE_VARIANTS),
    "aiofiles",
    "to_thread",
    "sync",
    "fio",
    "fio:uring",
    "trio.open_file",
    "anyio.open_file",
)
#: Participants that run under ``trio.run`` (the child picks the library from this).
TRIO_FAMILIES = ("trio-aiofile", "trio-open_file", "anyio-open_file")
#: The workloads the trio rows run: cached reads 1 and 64 in flight, and the file objects.
TRIO_WORKLOADS = ("W1", "W2", "W6")
TRIO_ONLY = "trio row: W1, W2 and W6 only"
#: The helper-level rows (``AIOFile`` of either package, ``async_open`` seek + read) run these workloads.
HELPER_WORKLOADS = ("W1", "W2", "W4")
HELPER_ONLY = "helper-level row: W1, W2 and W4 only (the engine rows show the rest)"
SUSTAINED_ONLY = (
    "the 3 GiB sustained write runs our engines, AIOFile and caio linux/uring only (it takes seconds a repeat)"
)

FILE_OBJECT_ONLY = "file-object workload: runs through aiofile.async_open, aiofiles and open() only"
LINEREADER_ONLY = "LineReader is aiofile's API: our aiofile and open()'s line loop (the reference) run it"


@dataclass(frozen=True)
class Participant:
    """One participant.

    Attributes:
        id: stable key (``linux``, ``aiofile:linux``, ``caio:thread``, ``aiofiles``, ``to_thread``,
            ``sync``, ``fio``, ``fio:uring``).
        label: the name the tables show.
        family: ``ours``, ``aiofile`` (our ``AIOFile`` and file objects), ``aiofile-open`` (our
            ``async_open``: seek, then read/write, one file object per in-flight slot),
            ``aiofile-public`` (the public aiofile's ``AIOFile`` over caio), ``caio``, ``aiofiles``,
            ``to_thread``, ``sync``, ``fio``; under trio: ``trio-aiofile`` (our ``AIOFile`` and
            ``async_open`` on a ``TrioContext``), ``trio-open_file`` and ``anyio-open_file``
            (seek, then the call, one file per in-flight slot; ``async for line``).
        backend: the backend or variant for ``ours``/``aiofile``/``caio``, fio's ``--ioengine`` when not
            libaio (else ``None``).
        unavailable: why it cannot run at all here, or ``None``.
    """

    id: str
    label: str
    family: str
    backend: str | None = None
    unavailable: str | None = None

    @property
    def ours(self) -> bool:
        """True for our engine and our ``aiofile``."""
        return self.family in ("ours", "aiofile", "aiofile-open", "trio-aiofile")

    @property
    def trio(self) -> bool:
        """True for the participants that run under ``trio.run``."""
        return self.family in TRIO_FAMILIES

    def reason(self, cell: Cell) -> str | None:
        """Why this participant does not run ``cell``, or ``None`` when it does."""
        if self.unavailable:
            return self.unavailable
        if self.family == "fio":
            return None if cell.kind == "direct" else "fio takes part in W5 only (the O_DIRECT reference)"
        if self.family in TRIO_FAMILIES:
            return None if cell.workload in TRIO_WORKLOADS else TRIO_ONLY
        if cell.file_object and self.family in ("ours", "caio", "to_thread", "aiofile-open", "aiofile-public"):
            return FILE_OBJECT_ONLY
        if cell.kind == "linereader" and self.family not in ("aiofile", "trio-aiofile", "sync"):
            return LINEREADER_ONLY
        if self.family in ("aiofile-open", "aiofile-public") and cell.workload not in HELPER_WORKLOADS:
            return HELPER_ONLY
        if cell.sustained and self.family not in ("ours", "aiofile", "caio"):
            return SUSTAINED_ONLY
        if cell.sustained and self.family == "caio" and self.backend not in ("linux", "uring"):
            return SUSTAINED_ONLY
        return None

    def note(self, cell: Cell) -> str:
        """A remark the table shows beside a figure (how this participant ran the cell)."""
        if self.family == "sync" and cell.lag:
            return "synchronous: 1 at a time, blocking its thread throughout (no loop to lag)"
        if self.family == "sync" and cell.depth > 1:
            return "synchronous: 1 at a time"
        if self.family == "aiofiles" and not cell.file_object:
            return "no positional API: seek, then the call, one handle per in-flight slot"
        if self.family == "aiofiles" and cell.kind == "write":
            return "fdatasync via asyncio.to_thread"
        if self.family == "aiofile-open":
            return "seek, then the call, one async_open file object per in-flight slot"
        if self.family in ("trio-open_file", "anyio-open_file") and not cell.file_object:
            return "under trio: seek, then the call, one file per in-flight slot"
        return ""


def _our_status() -> dict[str, str | None]:
    try:
        import _linuxaio
    except ImportError as exc:  # pragma: no cover - the project is not installed
        return dict.fromkeys(OUR_BACKENDS, f"_linuxaio not importable ({exc})")
    return {
        name: (None if why is None else f"not built / unusable: {why}")
        for name, why in _linuxaio.backend_status().items()
    }


def _aiofile_status() -> str | None:
    try:
        aiofile = importlib.import_module("aiofile")
    except ImportError as exc:
        return f"aiofile not importable ({exc})"
    missing = [name for name in ("async_open", "AIOFile") if not hasattr(aiofile, name)]
    if missing:
        return f"aiofile API not built yet (aiofile.{', aiofile.'.join(missing)} missing)"
    return None


def _caio_status() -> tuple[str | None, dict[str, str | None]]:
    """caio's version (or None) and, per variant, why it is unavailable (or None)."""
    if importlib.util.find_spec("caio") is None:
        return None, dict.fromkeys(CAIO_VARIANTS, "caio not installed (pip install -e '.[bench]')")
    from importlib.metadata import version

    status: dict[str, str | None] = {}
    for variant, (stem, _) in CAIO_VARIANTS.items():
        try:
            importlib.import_module(f"caio.{stem}")
            importlib.import_module(f"caio.{stem}_asyncio")
            status[variant] = None
        except ImportError as exc:
            status[variant] = f"caio.{stem} unavailable here ({exc})"
    return version("caio"), status


def _public_aiofile_status() -> str | None:
    """Install the public aiofile apart from ours (once, with pip --target); why it is unavailable, or None."""
    if (PUBLIC_AIOFILE_DIR / "aiofile" / "__init__.py").is_file():
        return None
    PUBLIC_AIOFILE_DIR.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    cmd += ["--target", str(PUBLIC_AIOFILE_DIR), f"aiofile=={PUBLIC_AIOFILE_VERSION}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"public aiofile {PUBLIC_AIOFILE_VERSION} not installable here ({exc})"
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        return f"public aiofile {PUBLIC_AIOFILE_VERSION} not installable here ({tail})"
    return None


def discover(backends: list[str], peers: set[str]) -> list[Participant]:
    """Every participant for the selected ``backends`` and ``peers``, with availability.

    Unavailable participants are kept (their reason fills their table rows).
    """
    out: list[Participant] = []
    ours = _our_status()
    aiofile_why = _aiofile_status()
    for name in backends:
        stem = OUR_BACKENDS[name]
        out.append(Participant(name, f"{stem} (engine)", "ours", name, ours[name]))
    for name in backends:
        stem = OUR_BACKENDS[name]
        out.append(Participant(f"aiofile:{name}", f"aiofile on {stem}", "aiofile", name, ours[name] or aiofile_why))
    for name in backends:
        stem = OUR_BACKENDS[name]
        why = ours[name] or aiofile_why
        out.append(Participant(f"aiofile-open:{name}", f"async_open seek+io on {stem}", "aiofile-open", name, why))
    trio_why = None if importlib.util.find_spec("trio") else "trio not installed (pip install -e '.[bench]')"
    for name in backends:
        stem = OUR_BACKENDS[name]
        why = ours[name] or aiofile_why or trio_why
        out.append(Participant(f"trio-aiofile:{name}", f"aiofile on {stem} under trio", "trio-aiofile", name, why))
    _, caio = _caio_status()
    public = [v for v in PUBLIC_AIOFILE_VARIANTS if f"aiofile-{PUBLIC_AIOFILE_VERSION}:{v}" in peers]
    public_why = _public_aiofile_status() if public else None
    for variant in public:
        pid = f"aiofile-{PUBLIC_AIOFILE_VERSION}:{variant}"
        why = caio[variant] or public_why
        out.append(
            Participant(
                pid, f"public aiofile {PUBLIC_AIOFILE_VERSION} on caio {variant}", "aiofile-public", variant, why
            )
        )
    for variant in CAIO_VARIANTS:
        pid = f"caio:{variant}"
        if pid in peers:
            out.append(Participant(pid, f"caio {variant}", "caio", variant, caio[variant]))
    if "aiofiles" in peers:
        why = None if importlib.util.find_spec("aiofiles") else "aiofiles not installed (pip install -e '.[bench]')"
        out.append(Participant("aiofiles", "aiofiles", "aiofiles", None, why))
    if "to_thread" in peers:
        out.append(Participant("to_thread", "asyncio.to_thread(os.p*)", "to_thread"))
    if "sync" in peers:
        out.append(Participant("sync", "sync stdlib (floor)", "sync"))
    if "fio" in peers:
        why = None if shutil.which("fio") else "fio not installed (optional: apt-get install fio)"
        out.append(Participant("fio", "fio libaio iodepth=64", "fio", None, why))
    if "fio:uring" in peers:
        why = None if shutil.which("fio") else "fio not installed (optional: apt-get install fio)"
        out.append(Participant("fio:uring", "fio io_uring iodepth=64", "fio", "io_uring", why))
    if "trio.open_file" in peers:
        out.append(Participant("trio.open_file", "trio.open_file (trio)", "trio-open_file", None, trio_why))
    if "anyio.open_file" in peers:
        why = trio_why or (None if importlib.util.find_spec("anyio") else "anyio not installed")
        out.append(Participant("anyio.open_file", "anyio.open_file (trio backend)", "anyio-open_file", None, why))
    return out


def parse_peers(text: str | None) -> set[str]:
    """``--peers``: ``all`` (default), ``none``, or a comma list of peer ids.

    ``caio`` means every caio variant, ``aiofile-3.12.3`` every variant of the public aiofile,
    ``fio`` both fio engines (``fio`` is libaio, ``fio:uring`` io_uring).
    """
    if text is None or text.strip() == "all":
        return set(PEER_IDS)
    if text.strip() == "none":
        return set()
    chosen: set[str] = set()
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item in ("caio", f"aiofile-{PUBLIC_AIOFILE_VERSION}", "fio"):
            chosen.update(p for p in PEER_IDS if p.startswith(item + ":") or p == item)
        elif item in PEER_IDS:
            chosen.add(item)
        else:
            raise ValueError(
                f"unknown peer {item!r}; known: caio, aiofile-{PUBLIC_AIOFILE_VERSION}, {', '.join(PEER_IDS)}"
            )
    return chosen


def our_status() -> dict[str, str | None]:
    """Our backends' availability (``None`` = usable), as ``--backend`` checks it."""
    return _our_status()


def caio_version() -> str | None:
    """The installed caio version, or ``None``."""
    return _caio_status()[0]
