"""Fixtures for engine tests: files, fds and an adapter per backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
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
