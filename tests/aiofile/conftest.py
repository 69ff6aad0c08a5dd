"""Fixtures for the aiofile tests: an adapter of each backend, per test, for each async library (``aio``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def ctx(backend: Any, aio: str) -> Iterator[Any]:
    """``backend.adapter(aio)``: an ``AsyncioContext`` or a ``TrioContext`` bound at first use, closed after."""
    context = backend.adapter(aio)
    try:
        yield context
    finally:
        context.close()
