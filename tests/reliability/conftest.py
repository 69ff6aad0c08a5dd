"""The standing reliability suite: bounded in every run, long with ``--long``.

Every test here runs a seeded, bounded version in the normal suite (a few
seconds per backend). ``--long`` (or ``AIOFILE_LONG_TESTS=1``) scales the
same tests up, see ``scale``; README's Development section has the command.
"""

from __future__ import annotations

import os

import pytest


def long_tests_enabled(config: pytest.Config) -> bool:
    """True under ``--long`` or ``AIOFILE_LONG_TESTS=1``."""
    return bool(config.getoption("--long")) or os.environ.get("AIOFILE_LONG_TESTS", "") not in ("", "0")


@pytest.fixture
def scale(pytestconfig: pytest.Config) -> int:
    """How many times the bounded amount of work a reliability test does: 1, or 50 when long."""
    return 50 if long_tests_enabled(pytestconfig) else 1
