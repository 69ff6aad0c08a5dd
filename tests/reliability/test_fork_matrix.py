"""The fork matrix (issue 11 items 1 and c): a forked child never touches its parent's loop or context.

After ``fork()`` parent and child share the epoll instance of the parent's
loop: a ``loop.remove_reader`` in the child is an ``EPOLL_CTL_DEL`` on the
parent's registration, after which the parent's I/O never completes. Each
scenario (see ``_fork_scenarios.py``) runs in a subprocess under a watchdog
(``subprocess`` timeout): a hang fails the test instead of the suite. The
parent's I/O after the child is done goes through the eventfd (an fsync and
several operations at once), not only the inline path.

Bounded: each scenario once per backend. Long (``--long`` or
``AIOFILE_LONG_TESTS=1``): each scenario 20 times.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("_fork_scenarios.py")
WATCHDOG = 120  # seconds for one backend's whole matrix; a hang is far past it

#: What the child reports for each scenario: a context bound in the parent
#: refuses I/O in the child before submitting anything; one never used
#: there binds to the child's own loop and works.
EXPECTED = {
    "fork": {
        **{f"{when}/use": "RuntimeError" for when in ("idle", "in-flight")},
        "before-use/use": "wrote:5",
        **{f"{when}/close": "closed" for when in ("before-use", "idle", "in-flight")},
        **{f"{when}/{action}": "-" for when in ("before-use", "idle", "in-flight") for action in ("ignore", "exit")},
    },
}
EXPECTED["mp-fork"] = {name: result for name, result in EXPECTED["fork"].items() if not name.endswith("/exit")}
EXPECTED["mp-forkserver"] = {"idle/own": "own:OWN"}


def _long(config: pytest.Config) -> bool:
    return bool(config.getoption("--long", False)) or os.environ.get("AIOFILE_LONG_TESTS", "") not in ("", "0")


@pytest.mark.parametrize("how", ["fork", "mp-fork", "mp-forkserver"])
def test_fork_matrix(backend: object, how: str, tmp_path: Path, pytestconfig: pytest.Config) -> None:
    repeat = 20 if _long(pytestconfig) else 1
    try:
        run = subprocess.run(
            [sys.executable, str(SCRIPT), str(backend), how, str(tmp_path), str(repeat)],
            capture_output=True,
            text=True,
            timeout=WATCHDOG * repeat,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hang: the fork matrix did not finish in {exc.timeout} s; done so far:\n{exc.stdout}")
    assert run.returncode == 0, run.stdout + run.stderr
    seen: dict[str, str] = {}
    for line in run.stdout.splitlines():
        status, name, child = line.split(" ", 2)
        assert status == "ok"
        assert seen.setdefault(name, child) == child, (name, child)
    assert seen == EXPECTED[how]
