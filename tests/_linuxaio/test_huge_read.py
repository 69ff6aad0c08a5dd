"""A read larger than any bytes object: the same outcome on every backend.

``Operation.read(2**63 - 1, fd)`` is a valid request (sizes are 64-bit), but
no bytes object can hold it: every backend accepts it and completes it with
``OSError(ENOMEM)``, like any allocation failure, never OverflowError.
"""

from __future__ import annotations

import errno
import os
import select
from pathlib import Path
from typing import Any

import pytest


def test_read_of_2_63_minus_1_bytes_fails_with_enomem(backend: Any, tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        op = backend.Operation.read(2**63 - 1, fd, 0)
        results: list[int] = []
        op.set_callback(results.append)
        with backend.Context(max_requests=2) as ctx:
            assert ctx.submit(op) == 1
            while not results:
                select.select([ctx.fileno()], [], [], 5.0)
                ctx.process_events()
        assert results == [-errno.ENOMEM]
        with pytest.raises(OSError) as info:
            op.get_value()
        assert info.value.errno == errno.ENOMEM
    finally:
        os.close(fd)
