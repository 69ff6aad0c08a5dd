"""Fork scenarios, run as a script by ``test_fork_matrix.py`` (in a subprocess under a watchdog).

``python _fork_scenarios.py BACKEND HOW DIR [REPEAT]`` runs, for each moment of
the fork (``before-use``: the context was never used; ``idle``: bound and
used, forked outside the running loop; ``in-flight``: forked inside the
running loop while a read waits in the backend) and each thing the child
does with the inherited ``AsyncioContext`` (``use`` it from a new loop,
``close`` it, ``ignore`` it and leave with ``os._exit``, or ``exit``
through interpreter finalisation), one scenario, and prints one line per
scenario: ``ok <name> <child result>`` once the parent's own I/O on the same
context completed afterwards. ``HOW`` is ``fork`` (``os.fork``),
``mp-fork`` (``multiprocessing``, fork start method) or ``mp-forkserver``
(the child inherits nothing: it uses a context of its own).

A hang (the parent's I/O never completing, the child never exiting) is
the watchdog's to report: nothing here waits with a timeout of its own
except the parent's I/O, which fails the scenario after 20 s.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import sys
from typing import Any

CHILD_OFFSET = 64  # where a child writes; the parent's data is before it


def _module(backend: str) -> Any:
    return importlib.import_module(f"_linuxaio.{backend}_aio_asyncio")


def _child_use(ctx: Any, fd: int) -> str:
    """From a new loop in the child: a write through the inherited context."""

    async def write() -> int:
        return int(await ctx.write(b"CHILD", fd, CHILD_OFFSET))

    loop = asyncio.new_event_loop()
    try:
        return f"wrote:{loop.run_until_complete(write())}"
    except RuntimeError as exc:
        return "RuntimeError" if "forked child" in str(exc) else f"unexpected:{exc!r}"
    finally:
        loop.close()


def _child(action: str, ctx: Any, fd: int, report: int) -> None:
    """What a forked child does with the inherited context; reports on the ``report`` pipe."""
    result = "-"
    if action == "use":
        result = _child_use(ctx, fd)
    elif action == "close":
        ctx.close()
        result = "closed"
    os.write(report, result.encode() + b"\n")


def _mp_child(action: str, ctx: Any, fd: int, report: int) -> None:
    """``multiprocessing`` target (fork start method: it inherits the context and the fds)."""
    _child(action, ctx, fd, report)


def _forkserver_child(backend: str, path: str) -> None:
    """``multiprocessing`` target (forkserver: nothing inherited): a context of its own must work."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    ctx = _module(backend).AsyncioContext()
    loop = asyncio.new_event_loop()
    try:
        written = loop.run_until_complete(ctx.write(b"OWN", fd, CHILD_OFFSET + 16))
    finally:
        loop.close()  # closes ctx through its loop-close hook
        os.close(fd)
    if written != 3:
        raise SystemExit(f"forkserver child wrote {written}")


def _fork_child(how: str, backend: str, action: str, ctx: Any, fd: int) -> tuple[int, str]:
    """Fork as ``how`` says, let the child act, wait for it; its exit status and report."""
    if how == "mp-forkserver":
        process = multiprocessing.get_context("forkserver").Process(
            target=_forkserver_child, args=(backend, os.readlink(f"/proc/self/fd/{fd}"))
        )
        process.start()
        process.join()
        return process.exitcode or 0, "own:" + os.pread(fd, 3, CHILD_OFFSET + 16).decode()
    read_end, write_end = os.pipe()
    if how == "fork":
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                _child(action, ctx, fd, write_end)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                os.write(write_end, f"child-raised:{exc!r}\n".encode())
            if action == "exit":
                sys.exit(0)  # interpreter finalisation in the child
            os._exit(0)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    else:
        process = multiprocessing.get_context("fork").Process(target=_mp_child, args=(action, ctx, fd, write_end))
        process.start()
        os.close(write_end)
        process.join()
        code = process.exitcode or 0
    with os.fdopen(read_end, "rb") as report:
        return code, report.read().decode().strip()


def scenario(backend: str, how: str, when: str, action: str, directory: str) -> str:
    """One scenario; returns what the child reported, raises if the parent's I/O went wrong."""
    parent = os.getpid()
    path = os.path.join(directory, f"{backend}-{how}-{when}-{action}.bin")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    loop = asyncio.new_event_loop()
    ctx = _module(backend).AsyncioContext(max_requests=8)
    try:
        if when == "before-use":
            code, child = _fork_child(how, backend, action, ctx, fd)
            loop.run_until_complete(ctx.write(b"parent", fd, 0))
        elif when == "idle":
            loop.run_until_complete(ctx.write(b"parent", fd, 0))
            code, child = _fork_child(how, backend, action, ctx, fd)
        else:
            code, child = loop.run_until_complete(_fork_in_flight(ctx, how, backend, action, fd))
        if code != 0:
            raise AssertionError(f"child exit status {code}, reported {child!r}")

        async def parent_io() -> list[Any]:
            # Completions that arrive through the eventfd (not inline): fsync, several at once.
            ops = [ctx.fsync(fd), ctx.read(6, fd, 0), ctx.write(b"!", fd, 6), ctx.read(6, fd, 0)]
            return list(await asyncio.wait_for(asyncio.gather(*ops), 20))

        results = loop.run_until_complete(parent_io())
        if results != [None, b"parent", 1, b"parent"]:
            raise AssertionError(f"parent I/O after the child: {results!r}")
        landed = os.pread(fd, 5, CHILD_OFFSET).rstrip(b"\0")
        expected = b"CHILD" if child.startswith("wrote:") else b""
        if landed != expected:
            raise AssertionError(f"child reported {child!r} but the file holds {landed!r} at its offset")
        return child
    finally:
        if os.getpid() == parent:  # a child leaving through sys.exit() must not close the parent's loop
            ctx.close()
            loop.close()
            os.close(fd)


async def _fork_in_flight(ctx: Any, how: str, backend: str, action: str, fd: int) -> tuple[int, str]:
    """Fork inside the running loop while a read on a pipe waits in the backend."""
    parent = os.getpid()
    await ctx.write(b"parent", fd, 0)
    pipe_r, pipe_w = os.pipe()
    try:
        pending = asyncio.ensure_future(ctx.read(5, pipe_r, 0))
        while ctx.in_flight == 0:  # until the read is handed to the backend
            await asyncio.sleep(0)
        result = _fork_child(how, backend, action, ctx, fd)
        os.write(pipe_w, b"pipe!")
        data = await asyncio.wait_for(pending, 20)
        if data != b"pipe!":
            raise AssertionError(f"in-flight read completed with {data!r}")
        return result
    finally:
        if os.getpid() == parent:
            os.close(pipe_r)
            os.close(pipe_w)


WHEN = ("before-use", "idle", "in-flight")
ACTIONS = ("use", "close", "ignore", "exit")


def main(argv: list[str]) -> int:
    backend, how, directory = argv[:3]
    repeat = int(argv[3]) if len(argv) > 3 else 1
    actions = ACTIONS if how != "mp-forkserver" else ("own",)
    whens = WHEN if how != "mp-forkserver" else ("idle",)
    for _ in range(repeat):
        for when in whens:
            for action in actions:
                if how.startswith("mp-") and action == "exit":
                    continue  # multiprocessing children always leave through os._exit
                child = scenario(backend, how, when, action, directory)
                print(f"ok {when}/{action} {child}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
