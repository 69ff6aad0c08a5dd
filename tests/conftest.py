"""Shared fixtures: one parametrised ``backend`` fixture runs every backend test on every backend.

``--require-compiled`` (set in CI) turns a compiled backend that did not build
or cannot run here into a failure instead of a skip.
"""

from __future__ import annotations

import importlib
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
