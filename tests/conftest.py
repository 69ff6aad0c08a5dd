"""Shared fixtures: one parametrised ``backend`` fixture runs every backend test on every backend.

``--require-compiled`` (set in CI) turns a compiled backend that did not build
or cannot run here into a failure instead of a skip.

``--loop uvloop`` runs the whole suite on uvloop: it installs uvloop's event
loop policy for the session, so the loops pytest-asyncio creates for async
tests and fixtures, and those tests create themselves (``asyncio.run``,
``asyncio.new_event_loop``), are uvloop loops. ``--loop asyncio`` (the
default) leaves asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import os
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

import _linuxaio


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-compiled",
        action="store_true",
        default=False,
        help="fail, instead of skipping, when a compiled backend is unavailable",
    )
    parser.addoption(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop every asyncio test runs on (default: asyncio's own)",
    )
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the reliability suite (tests/reliability) at full length, not its bounded version"
        " (also AIOFILE_LONG_TESTS=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--loop") == "uvloop":
        import uvloop

        with warnings.catch_warnings():  # the policy API is deprecated from Python 3.14
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.getoption("--loop") == "uvloop":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(None)


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {config.getoption('--loop')}"


@dataclass(frozen=True)
class Backend:
    """One backend: its name, its Context/Operation module and its asyncio adapter."""

    name: str
    module: ModuleType
    asyncio_module: ModuleType

    @property
    def Context(self) -> Any:
        return self.module.Context

    @property
    def Operation(self) -> Any:
        return self.module.Operation

    @property
    def AsyncioContext(self) -> Any:
        return self.asyncio_module.AsyncioContext

    def __str__(self) -> str:
        return self.name


def load_backend(request: pytest.FixtureRequest, name: str) -> Backend:
    reason = _linuxaio.backend_status()[name]
    if reason is not None:
        if _linuxaio.is_compiled(name) and request.config.getoption("--require-compiled"):
            pytest.fail(f"compiled backend {name!r} is required but unavailable: {reason}")
        pytest.skip(f"backend {name!r} unavailable: {reason}")
    module_name = _linuxaio._MODULES[name]
    return Backend(
        name,
        importlib.import_module(f"_linuxaio.{module_name}"),
        importlib.import_module(f"_linuxaio.{module_name}_asyncio"),
    )


@pytest.fixture(params=_linuxaio.BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn (skipped, or failed under --require-compiled, when unavailable)."""
    return load_backend(request, request.param)


class FdWatch:
    """Tells whether a descriptor was really closed, in a process where other threads open files.

    After a close, the number may be reused at once by any thread of the
    process (a pool worker finishing another test's ``openat``, a kernel
    worker of a ring), so ``os.fstat(fd)`` raising is not the test: the
    number must no longer name the file it named while open.
    """

    def __init__(self) -> None:
        self._files: dict[int, tuple[int, int]] = {}

    def remember(self, fd: int) -> int:
        """Note which file ``fd`` names now (it must be open); returns ``fd``."""
        st = os.fstat(fd)
        self._files[fd] = (st.st_dev, st.st_ino)
        return fd

    def closed(self, fd: int) -> bool:
        """True if ``fd`` is closed or now names another file than when remembered."""
        try:
            st = os.fstat(fd)
        except OSError as exc:
            assert exc.errno == errno.EBADF, exc
            return True
        return (st.st_dev, st.st_ino) != self._files[fd]


@pytest.fixture
def fd_watch() -> FdWatch:
    """An ``FdWatch``: ``remember(fd)`` while open, ``assert fd_watch.closed(fd)`` after."""
    return FdWatch()
