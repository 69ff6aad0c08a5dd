"""``--loop``: every asyncio test runs on the loop the option names."""

from __future__ import annotations

import asyncio

import pytest


def expected_loop_module(config: pytest.Config) -> str:
    return "uvloop" if config.getoption("--loop") == "uvloop" else "asyncio"


async def test_async_tests_run_on_the_selected_loop(pytestconfig: pytest.Config) -> None:
    loop = asyncio.get_running_loop()
    assert type(loop).__module__.split(".")[0] == expected_loop_module(pytestconfig)


def test_loops_a_test_creates_are_of_the_selected_kind(pytestconfig: pytest.Config) -> None:
    async def running_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    loop = asyncio.new_event_loop()
    try:
        assert type(loop).__module__.split(".")[0] == expected_loop_module(pytestconfig)
    finally:
        loop.close()
    assert type(asyncio.run(running_loop())).__module__.split(".")[0] == expected_loop_module(pytestconfig)
