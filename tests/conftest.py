"""Shared fixtures: one parametrised ``backend`` fixture runs every backend test on every backend.

``--backends linux,thread,uring`` deselects the other backends' parametrisations
(CI's sanitizer step: the pure-Python backend has no C to check).

``--require-compiled`` (set in CI) turns a compiled backend that did not build
or cannot run here into a failure instead of a skip.

``--loop uvloop`` runs the whole suite on uvloop: it installs uvloop's event
loop policy for the session, so the loops pytest-asyncio creates for async
tests and fixtures, and those tests create themselves (``asyncio.run``,
``asyncio.new_event_loop``), are uvloop loops. ``--loop asyncio`` (the
default) leaves asyncio's own loop.

The ``aio`` fixture runs a test under each async library: ``asyncio`` (the
``--loop`` loop: asyncio's or uvloop, driven by pytest-asyncio) and ``trio``
(the test coroutine runs in its own ``trio.run``). A test takes part by
requesting it, directly or through an adapter fixture (``actx``, ``ctx``:
``backend.adapter(aio)``); one marked ``asyncio_only`` (it uses asyncio's own
API) runs under asyncio only. ``--aio asyncio`` or ``--aio trio`` keeps one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import gc
import importlib
import inspect
import os
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
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
        "--aio",
        choices=("all", "asyncio", "trio"),
        default="all",
        help="async libraries the aio-parametrised tests run under (default: the --loop loop and trio)",
    )
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the reliability suite (tests/reliability) at full length, not its bounded version"
        " (also AIOFILE_LONG_TESTS=1)",
    )
    parser.addoption(
        "--backends",
        default="",
        help="comma-separated backends the backend-parametrised tests run on, the others deselected"
        f" (default: all of {','.join(_linuxaio.BACKENDS)}); CI's sanitizer step keeps the compiled ones",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--backends``: deselect the ``backend``-parametrised tests of the backends not named."""
    wanted = {name for name in config.getoption("--backends").split(",") if name}
    if not wanted:
        return
    unknown = wanted - set(_linuxaio.BACKENDS)
    if unknown:
        raise pytest.UsageError(f"--backends: unknown backend(s) {sorted(unknown)}; known: {_linuxaio.BACKENDS}")
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("backend") if callspec is not None else None
        (dropped if name is not None and name not in wanted else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# -- a report on stderr when one test runs for too long -------------------------------
#
# pytest's ``faulthandler_timeout`` dumps every thread's Python stack, which for a hung
# asyncio test shows only the loop in ``select``. One daemon thread for the session
# (``aiofile-hang-watchdog``, started before the first test, so that tests counting
# threads see it before and after alike) prints, once per test that runs past
# ``AIOFILE_HANG_REPORT_S`` seconds (default 90): every open event loop's tasks with
# their coroutine stacks, and the repr of every live ``_linuxaio`` context and adapter
# (in flight, waiting). It only reads; the test goes on.

#: Seconds a test may run before its report (AIOFILE_HANG_REPORT_S overrides).
HANG_REPORT_S = float(os.environ.get("AIOFILE_HANG_REPORT_S", "90"))


class HangWatchdog:
    """Tracks the running test (``started``/``finished``) and reports one that runs too long."""

    def __init__(self, limit: float = HANG_REPORT_S) -> None:
        self.limit = limit
        self._current: tuple[str, float] | None = None
        self._reported: tuple[str, float] | None = None
        self._config: pytest.Config | None = None

    def start(self, config: pytest.Config) -> None:
        self._config = config
        threading.Thread(target=self._watch, name="aiofile-hang-watchdog", daemon=True).start()

    def started(self, nodeid: str) -> None:
        self._current = (nodeid, time.monotonic())

    def finished(self) -> None:
        self._current = None

    def _watch(self) -> None:
        while True:
            time.sleep(min(5.0, self.limit / 4))
            current = self._current
            if current is not None and current is not self._reported and time.monotonic() - current[1] > self.limit:
                self._reported = current
                text = _hang_report(current[0], self.limit)
                # Past pytest's output capture (as its faulthandler dump), or the report
                # would wait in the hung test's captured output.
                capman = self._config.pluginmanager.getplugin("capturemanager") if self._config else None
                with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
                    sys.stderr.write(text)
                    sys.stderr.flush()


def _await_chain(awaitable: Any) -> list[str]:
    """A suspended coroutine's frames down its ``await`` chain, then what the innermost awaits.

    ``Task.get_stack()`` shows only the task's own coroutine: a hung test's task names the
    line of its top-level ``await``, not the file-object method and engine call below it.
    """
    lines: list[str] = []
    for _depth in range(64):
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            lines.append(f"    awaiting {awaitable!r}")
            break
        lines.append(f"    {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        inner = getattr(awaitable, "cr_await", None)
        if inner is None:
            inner = getattr(awaitable, "gi_yieldfrom", None)
        if inner is None:
            break
        awaitable = inner
    return lines


def _hang_report(nodeid: str, limit: float) -> str:
    """The tasks of every open loop and the live contexts, as text."""
    lines = [f"\n=== {nodeid} has run for more than {limit:.0f} s: open loops' tasks and live contexts ==="]
    for obj in gc.get_objects():
        try:
            if isinstance(obj, asyncio.AbstractEventLoop) and not obj.is_closed():
                lines.append(f"loop {obj!r}")
                for task in asyncio.all_tasks(obj):
                    lines.append(f"  {task!r}")
                    lines.extend(_await_chain(task.get_coro()))
            elif str(getattr(type(obj), "__module__", "")).startswith("_linuxaio") and type(obj).__name__.endswith(
                "Context"
            ):
                lines.append(f"context {obj!r}")
        except Exception as exc:  # noqa: BLE001 - a report must not fail on one odd object
            lines.append(f"  ({type(exc).__name__} while describing {type(obj).__name__}: {exc})")
    return "\n".join(lines) + "\n"


_WATCHDOG = HangWatchdog()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Tell the hang watchdog (``HangWatchdog``, above) which test runs."""
    _WATCHDOG.started(item.nodeid)
    yield
    _WATCHDOG.finished()


def pytest_configure(config: pytest.Config) -> None:
    _WATCHDOG.start(config)
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

    @property
    def TrioContext(self) -> Any:
        from _linuxaio.trio_context import TrioContext

        return functools.partial(TrioContext, backend=self.name)

    def adapter(self, aio: str, **kwargs: Any) -> Any:
        """A new adapter of this backend for the async library ``aio`` (``"asyncio"`` or ``"trio"``)."""
        return (self.TrioContext if aio == "trio" else self.AsyncioContext)(**kwargs)

    def run_script(self, script: str, *args: str) -> list[str]:
        """Run ``script`` in a new interpreter (``sys.argv[1]``: this backend's asyncio module name,
        then ``args``); its stdout lines. Fails the test if it exits non-zero."""
        proc = subprocess.run(
            [sys.executable, "-c", script, self.asyncio_module.__name__, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    def run_copy_failure_script(self, body: str, root: Path) -> list[str]:
        """``run_script`` of ``body`` after a set-up in ``root``: ``src`` (3 MiB), ``old`` (10 bytes,
        hard-linked as ``link``), names ``new`` and ``other``, and a 1 MiB RLIMIT_FSIZE (a write
        past it fails with EFBIG, SIGXFSZ ignored); ``module`` is the backend's asyncio module."""
        return self.run_script(_COPY_FAILURE_SETUP + body, str(root))

    def __str__(self) -> str:
        return self.name


_COPY_FAILURE_SETUP = """
import asyncio, errno, os, resource, signal, sys
module = __import__(sys.argv[1], fromlist=["AsyncioContext"])
src, new, old, link, other = (os.path.join(sys.argv[2], n) for n in ("src", "new", "old", "link", "other"))
with open(src, "wb") as f:
    f.write(os.urandom(3 << 20))
with open(old, "wb") as f:
    f.write(b"o" * 10)
os.link(old, link)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
"""


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "aio" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--aio")
    libraries = ["asyncio", "trio"] if chosen == "all" else [chosen]
    if metafunc.definition.get_closest_marker("asyncio_only") is not None:
        libraries = [lib for lib in libraries if lib != "trio"] or ["asyncio"]
    loop = metafunc.config.getoption("--loop")
    metafunc.parametrize("aio", libraries, indirect=True, ids=[loop if lib == "asyncio" else lib for lib in libraries])


@pytest.fixture
def aio(request: pytest.FixtureRequest) -> str:
    """The async library the test runs under: ``"asyncio"`` (the ``--loop`` loop) or ``"trio"``."""
    return str(request.param)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a coroutine test parametrised with ``aio="trio"`` in its own ``trio.run``."""
    callspec = getattr(pyfuncitem, "callspec", None)
    if callspec is None or callspec.params.get("aio") != "trio":
        return None
    function = inspect.unwrap(pyfuncitem.obj)  # pytest-asyncio wraps it for its own loop
    if not inspect.iscoroutinefunction(function):
        return None
    import trio

    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    trio.run(functools.partial(function, **kwargs))
    return True


class AsyncLib:
    """The few library calls an ``aio``-parametrised test makes, for asyncio and for trio."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def sleep(self, seconds: float = 0) -> None:
        """``asyncio.sleep``/``trio.sleep``."""
        if self.name == "trio":
            import trio

            await trio.sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    def spawn(self, coro: Any) -> Any:
        """Start ``coro`` as a task: an ``asyncio.Task``, or under trio a future whose ``cancel()`` cancels it.

        Awaiting a cancelled one raises ``asyncio.CancelledError`` under both.
        """
        from aiofile import _aio

        return _aio.ensure_future(coro)

    async def gather(self, *awaitables: Any, return_exceptions: bool = False) -> list[Any]:
        """``asyncio.gather`` (coroutines are started as tasks)."""
        from aiofile import _aio

        return await _aio.gather(*awaitables, return_exceptions=return_exceptions)


@pytest.fixture
def lib(aio: str) -> AsyncLib:
    """The test's async library (``aio``): ``sleep``, ``spawn``, ``gather``."""
    return AsyncLib(aio)


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
