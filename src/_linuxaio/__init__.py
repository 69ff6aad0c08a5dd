"""Asynchronous file I/O engine for asyncio, shaped like caio so ``import _linuxaio as caio`` works.

General layout:

* ``abstract``: the Context protocol every backend keeps.
* ``linux_aio``, ``linux_uring``, ``thread_aio``, ``python_aio``: the
  backends (kernel AIO, io_uring, C thread pool, pure-Python thread pool),
  each with ``Context`` and ``Operation``.
* ``*_asyncio``: ``AsyncioContext`` bound to each backend (``asyncio_base``).
* ``trio_context``: ``TrioContext``, the same over a trio run (any backend);
  ``adapter_base``: what the two adapters share (slots, back-pressure, lifecycle).
* this module: backend selection. ``Context``, ``Operation``,
  ``AsyncioContext``, ``variants`` and ``variants_asyncio`` are resolved at
  first access, not at import: importing makes no system call, and the
  kernel backends are probed (``io_setup``, ``io_uring_setup``) only when first needed.

Selection order: ``CAIO_IMPL`` (``linux``, ``uring``, ``thread`` or ``python``); else the
first line of the ``default_implementation`` file beside this module that
names an available backend; else the best available backend. A requested
backend that is unavailable warns with the reason and falls back to the best
available one (``uring`` falls to ``linux``); the reason is in
``selected_backend().skipped``.
``selected_backend()`` tells what was chosen and why.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ._version import __version__
from .abstract import AbstractContext, AbstractOperation, ContextProtocol, OperationProtocol

__all__ = [
    "AT_FDCWD",
    "STATX_BASIC_STATS",
    "AbstractContext",
    "AbstractOperation",
    "AsyncioContext",
    "Context",
    "ContextProtocol",
    "Operation",
    "OperationProtocol",
    "Selection",
    "__version__",
    "backend_status",
    "selected_backend",
    "variants",
    "variants_asyncio",
]

log = logging.getLogger(__name__)

#: ``dir_fd`` meaning "the current directory" for the fs operations (``os`` has no such name).
AT_FDCWD = -100
#: ``statx`` mask of every field ``os.stat_result`` has.
STATX_BASIC_STATS = 0x7FF

#: Backend names in preference order, and their modules.
BACKENDS: tuple[str, ...] = ("linux", "uring", "thread", "python")
_MODULES = {"linux": "linux_aio", "uring": "linux_uring", "thread": "thread_aio", "python": "python_aio"}
_COMPILED = frozenset({"linux", "uring", "thread"})
DEFAULT_IMPLEMENTATION_FILE = Path(__file__).with_name("default_implementation")


@dataclass(frozen=True)
class Selection:
    """Which backend ``_linuxaio`` uses and why.

    Attributes:
        name: the chosen backend (``"linux"``, ``"thread"`` or ``"python"``).
        source: ``"CAIO_IMPL"``, ``"default_implementation"`` or ``"preference"``.
        skipped: each better backend that was not chosen, with the reason.
        requested: the value asked for (environment or file), if any.
    """

    name: str
    source: str
    skipped: Mapping[str, str] = field(default_factory=dict)
    requested: str | None = None

    def __str__(self) -> str:
        text = f"{self.name} (from {self.source})"
        for name, reason in self.skipped.items():
            text += f"; {name} skipped: {reason}"
        return text


_lock = threading.RLock()
_status: dict[str, str | None] = {}  # backend name -> None if usable, else why not
_selection: Selection | None = None


def _load(name: str) -> str | None:
    """Import and probe one backend; None if usable, else the reason it is not."""
    if name in _status:
        return _status[name]
    reason: str | None = None
    try:
        module = importlib.import_module(f".{_MODULES[name]}", __name__)
        importlib.import_module(f".{_MODULES[name]}_asyncio", __name__)
    except ImportError as exc:
        reason = f"not built or not importable ({exc})"
    else:
        try:
            module.probe()
        except (OSError, ImportError, RuntimeError) as exc:
            reason = str(exc) or type(exc).__name__
    _status[name] = reason
    return reason


def backend_status() -> dict[str, str | None]:
    """Every backend's availability: ``None`` if usable here, else the reason it is not."""
    with _lock:
        return {name: _load(name) for name in BACKENDS}


def _requested_from_file(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError:
        return []
    names = []
    for line in text.splitlines():
        value = line.split("#", 1)[0].strip()
        if value:
            names.append(value)
    return names


def _select() -> Selection:
    skipped: dict[str, str] = {}
    requested = os.environ.get("CAIO_IMPL", "").strip()
    if requested:
        reason = "unknown backend name" if requested not in _MODULES else _load(requested)
        if reason is None:
            return Selection(requested, "CAIO_IMPL", _skipped_before(requested), requested)
        if requested in _MODULES:
            skipped[requested] = reason  # selected_backend() names why it was not used
        choice = _best(skipped)
        warnings.warn(
            f"CAIO_IMPL={requested!r} is not available here ({reason}); "
            f"using {choice!r}. Valid values: {', '.join(BACKENDS)}",
            RuntimeWarning,
            stacklevel=3,
        )
        return Selection(choice, "preference", skipped, requested)
    for name in _requested_from_file(DEFAULT_IMPLEMENTATION_FILE):
        if name in _MODULES and _load(name) is None:
            return Selection(name, "default_implementation", _skipped_before(name), name)
    return Selection(_best(skipped), "preference", skipped)


def _skipped_before(name: str) -> dict[str, str]:
    """Backends better than ``name``, with why each was not used."""
    skipped = {}
    for better in BACKENDS[: BACKENDS.index(name)]:
        reason = _load(better)
        skipped[better] = reason if reason is not None else "not requested"
    return skipped


def _best(skipped: dict[str, str]) -> str:
    for name in BACKENDS:
        reason = _load(name)
        if reason is None:
            return name
        skipped[name] = reason
    raise ImportError("no _linuxaio backend is usable: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))


def selected_backend() -> Selection:
    """Which backend ``Context``/``AsyncioContext`` use, and why each better one was skipped.

    The first call selects (probing backends as needed) and logs the result
    once at INFO level; later calls return the same answer.
    """
    global _selection
    with _lock:
        if _selection is None:
            _selection = _select()
            log.info("_linuxaio backend: %s", _selection)
        return _selection


def _backend_module(name: str, asyncio: bool = False) -> ModuleType:
    suffix = "_asyncio" if asyncio else ""
    return importlib.import_module(f".{_MODULES[name]}{suffix}", __name__)


def __getattr__(attr: str) -> Any:
    # PEP 562: resolve the selection-dependent names lazily.
    if attr in ("Context", "Operation"):
        return getattr(_backend_module(selected_backend().name), attr)
    if attr == "AsyncioContext":
        return _backend_module(selected_backend().name, asyncio=True).AsyncioContext
    if attr == "TrioContext":  # imports trio: only when asked for
        from .trio_context import TrioContext

        return TrioContext
    if attr == "variants":
        return tuple(_backend_module(n) for n, reason in backend_status().items() if reason is None)
    if attr == "variants_asyncio":
        return tuple(_backend_module(n, True) for n, reason in backend_status().items() if reason is None)
    if attr == "preferred":
        return _backend_module(selected_backend().name)
    if attr == "preferred_asyncio":
        return _backend_module(selected_backend().name, asyncio=True)
    for name, module in _MODULES.items():
        if attr in (module, module + "_asyncio"):
            # caio exposes a backend that is not built as None. No probe here:
            # `from _linuxaio import linux_aio` is an import and makes no system
            # call; backend_status() says whether a built backend works here.
            try:
                return _backend_module(name, attr.endswith("_asyncio"))
            except ImportError:
                return None
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def is_compiled(name: str) -> bool:
    """True for the backends implemented in compiled code."""
    return name in _COMPILED
