"""Fixtures for the aiofile tests: an ``AsyncioContext`` of each backend, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio


@pytest_asyncio.fixture
async def ctx(backend: Any) -> AsyncIterator[Any]:
    """``backend.AsyncioContext()`` bound to the test's loop, closed after the test."""
    context = backend.AsyncioContext()
    try:
        yield context
    finally:
        await context.aclose()
