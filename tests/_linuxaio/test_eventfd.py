"""The compiled eventfd helper: proves the Cython/C build pipeline and the -errno convention."""

from __future__ import annotations

import fcntl
import os
import select

import pytest


@pytest.fixture
def eventfd_module(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    try:
        from _linuxaio import _eventfd
    except ImportError as exc:
        if request.config.getoption("--require-compiled"):
            pytest.fail(f"compiled module _linuxaio._eventfd is missing: {exc}")
        pytest.skip(f"compiled module not built: {exc}")
    return _eventfd


def test_counter_signal_and_drain(eventfd_module) -> None:  # type: ignore[no-untyped-def]
    efd = eventfd_module.EventFD()
    try:
        assert efd.drain() == 0  # nothing pending: EAGAIN is not an error
        efd.signal()
        efd.signal()
        assert select.select([efd.fileno()], [], [], 0)[0] == [efd.fileno()]
        assert efd.drain() == 2
        assert select.select([efd.fileno()], [], [], 0)[0] == []
    finally:
        efd.close()


def test_flags_are_nonblocking_and_cloexec(eventfd_module) -> None:  # type: ignore[no-untyped-def]
    efd = eventfd_module.EventFD()
    try:
        assert not os.get_blocking(efd.fileno())
        assert fcntl.fcntl(efd.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        efd.close()


def test_use_after_close(eventfd_module) -> None:  # type: ignore[no-untyped-def]
    efd = eventfd_module.EventFD()
    fd = efd.fileno()
    efd.close()
    efd.close()
    assert efd.closed
    with pytest.raises(ValueError, match="closed"):
        efd.signal()
    with pytest.raises(OSError):
        os.fstat(fd)  # really closed (nothing else opened it meanwhile)


def test_saturated_counter_is_clamped_not_an_error(eventfd_module) -> None:  # type: ignore[no-untyped-def]
    efd = eventfd_module.EventFD()
    try:
        # Saturate the counter through os: the helper treats EAGAIN on write as "already signalled".
        os.eventfd_write(efd.fileno(), 0xFFFFFFFFFFFFFFFE)
        efd.signal()
        assert efd.drain() == 2**63 - 1  # clamped to int64
    finally:
        efd.close()
