"""Fixtures for engine tests: files, fds and an adapter per backend."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import _linuxaio


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """An empty regular file."""
    p = tmp_path / "data.bin"
    p.write_bytes(b"")
    return p


@pytest.fixture
def fd(path: Path) -> Iterator[int]:
    """A read-write fd on ``path``, closed after the test."""
    descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    yield descriptor
    os.close(descriptor)


@pytest.fixture
def actx(backend: Any, aio: str) -> Iterator[Any]:
    """An adapter of the backend under test for the test's library (``aio``), closed (and checked idle) after it.

    It binds at first use inside the test's loop or trio run; when that ends
    the adapter is closed (by the loop's close or the run's end) and, closed
    here anyway, must have no operation left in flight.
    """
    ctx = backend.adapter(aio, max_requests=16)
    yield ctx
    ctx.close()
    assert ctx.in_flight == 0


@pytest.fixture
def L(request: pytest.FixtureRequest) -> Any:
    """The ``linux_aio`` module; skips (fails under ``--require-compiled``) where it is unavailable."""
    reason = _linuxaio.backend_status()["linux"]
    if reason is not None:
        if request.config.getoption("--require-compiled"):
            pytest.fail(f"linux_aio is required but unavailable: {reason}")
        pytest.skip(f"linux_aio unavailable: {reason}")
    from _linuxaio import linux_aio

    return linux_aio


@pytest.fixture
def LA(L: Any) -> Any:
    """The ``linux_aio_asyncio`` module (see ``L``)."""
    from _linuxaio import linux_aio_asyncio

    return linux_aio_asyncio


def _cached_pages(fd: int, offset: int = 0, length: int = 0) -> int | None:
    """Pages of ``fd``'s file in the page cache from ``offset`` (``length`` 0: to the end), by
    cachestat(2) (Linux 6.5); None where it does not answer."""
    libc = ctypes.CDLL(None, use_errno=True)
    cstat_range = (ctypes.c_uint64 * 2)(offset, length)  # struct cachestat_range {off, len}
    cstat = (ctypes.c_uint64 * 5)()  # struct cachestat: nr_cache first
    if libc.syscall(451, fd, ctypes.byref(cstat_range), ctypes.byref(cstat), 0) != 0:  # SYS_cachestat
        return None
    return int(cstat[0])


def _evict(fd: int) -> None:
    """Drop ``fd``'s clean pages from the page cache (a cold read follows).

    POSIX_FADV_DONTNEED skips a page that someone else holds at that moment (a
    folio batch of another CPU, this VM's DAMON scanning physical pages), so a
    single call may leave pages cached on a busy machine: it is repeated until
    cachestat(2) finds none (where cachestat answers), a bounded number of times.
    """
    os.fsync(fd)
    cached: int | None = None
    for _attempt in range(200):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        cached = _cached_pages(fd)
        if not cached:
            return
        time.sleep(0.005)  # let whoever holds the page let go of it
    raise AssertionError(f"{cached} pages of fd {fd} stayed cached after 200 POSIX_FADV_DONTNEED")


@pytest.fixture
def page_cache() -> SimpleNamespace:
    """The page cache as tests see it: ``cached_pages(fd, offset=0, length=0)`` (cachestat(2); None
    where it does not answer) and ``evict(fd)`` (until cachestat finds no page of the file)."""
    return SimpleNamespace(cached_pages=_cached_pages, evict=_evict)
