"""The completion signal of the pure-Python backend: an eventfd, or a self-pipe where none exists.

The signal is only a hint (eventfd(2)): a worker signals when the completion
queue goes from empty to non-empty; the reader drains the signal *before* it
takes the queue, so a completion queued after the take re-signals.
"""

from __future__ import annotations

import os


class EventFDNotifier:
    """``os.eventfd`` opened non-blocking and close-on-exec."""

    def __init__(self) -> None:
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def fileno(self) -> int:
        return self._fd

    def signal(self) -> None:
        try:
            os.eventfd_write(self._fd, 1)
        except BlockingIOError:  # counter saturated: a wake-up is already pending
            pass

    def drain(self) -> None:
        try:
            os.eventfd_read(self._fd)
        except BlockingIOError:  # nothing pending: a spurious or repeated wake-up
            pass

    def reopen(self) -> None:
        """Replace the file behind the same fd number (used in a forked child)."""
        fresh = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        os.dup2(fresh, self._fd, inheritable=False)
        os.close(fresh)

    def close(self) -> None:
        os.close(self._fd)


class PipeNotifier:
    """A non-blocking, close-on-exec self-pipe, for platforms without eventfd."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = _nonblocking_pipe()

    def fileno(self) -> int:
        return self._read_fd

    def signal(self) -> None:
        try:
            os.write(self._write_fd, b"\0")
        except BlockingIOError:  # pipe full: the reader is already due to wake
            pass

    def drain(self) -> None:
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def reopen(self) -> None:
        read_fd, write_fd = _nonblocking_pipe()
        os.dup2(read_fd, self._read_fd, inheritable=False)
        os.dup2(write_fd, self._write_fd, inheritable=False)
        os.close(read_fd)
        os.close(write_fd)

    def close(self) -> None:
        os.close(self._read_fd)
        os.close(self._write_fd)


def _nonblocking_pipe() -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    for fd in (read_fd, write_fd):
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)
    return read_fd, write_fd


def make_notifier() -> EventFDNotifier | PipeNotifier:
    """An eventfd where the platform has one, else a self-pipe."""
    if hasattr(os, "eventfd"):
        return EventFDNotifier()
    return PipeNotifier()
