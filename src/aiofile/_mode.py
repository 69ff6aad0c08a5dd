"""Mode strings, parsed and validated exactly as the builtin ``open()`` does.

``parse_mode`` raises the same ``ValueError``/``TypeError`` messages as
``open()``; the result carries the ``os.open`` flags the mode implies
(always with ``O_CLOEXEC``). aiofile 3.x ignored unknown characters and
raised a bare ``Exception("Bad mode")``; we follow ``open()``.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

__all__ = ["FileMode", "check_text_args", "parse_mode", "reported_mode"]

_MODE_CHARS = frozenset("rwaxb+t")
_NEWLINES = (None, "", "\n", "\r", "\r\n")


class FileMode(NamedTuple):
    """A parsed mode string (aiofile 3.x field names, plus ``text`` and ``mode``)."""

    readable: bool
    writable: bool
    plus: bool
    appending: bool
    created: bool
    flags: int
    binary: bool
    mode: str = "r"

    @property
    def text(self) -> bool:
        """True unless ``b`` was given."""
        return not self.binary

    @property
    def truncating(self) -> bool:
        """True for ``w`` modes: the file is emptied at open."""
        return bool(self.flags & os.O_TRUNC)


def parse_mode(mode: Any) -> FileMode:
    """Parse ``mode`` like ``open()``: same accepted strings, same error messages.

    Raises:
        TypeError: ``mode`` is not a ``str``.
        ValueError: unknown or repeated characters, no or several of
            ``r``/``w``/``a``/``x``, or both ``t`` and ``b``.
    """
    if not isinstance(mode, str):
        raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
    if len(set(mode)) != len(mode) or not _MODE_CHARS.issuperset(mode):
        raise ValueError(f"invalid mode: {mode!r}")
    creating, reading, writing, appending = ("x" in mode), ("r" in mode), ("w" in mode), ("a" in mode)
    plus, binary = ("+" in mode), ("b" in mode)
    if "t" in mode and binary:
        raise ValueError("can't have text and binary mode at once")
    kinds = creating + reading + writing + appending
    if kinds > 1:
        raise ValueError("must have exactly one of create/read/write/append mode")
    if kinds == 0:
        raise ValueError("Must have exactly one of create/read/write/append mode and at most one plus")
    readable = reading or plus
    writable = not reading or plus
    flags = os.O_CLOEXEC
    if creating:
        flags |= os.O_CREAT | os.O_EXCL
    elif writing:
        flags |= os.O_CREAT | os.O_TRUNC
    elif appending:
        flags |= os.O_CREAT | os.O_APPEND
    flags |= os.O_RDWR if readable and writable else (os.O_RDONLY if readable else os.O_WRONLY)
    return FileMode(readable, writable, plus, appending, creating, flags, binary, mode)


def reported_mode(mode: FileMode) -> str:
    """The mode string ``open()`` reports for ``mode``.

    Binary file objects report their raw file's normalised mode (``"wb+"``
    and ``"r+b"`` are ``"rb+"``, ``"br"`` is ``"rb"``); text ones the string given.
    """
    if not mode.binary:
        return mode.mode
    plus = "+" if mode.readable and mode.writable else ""
    if mode.created:
        return "xb" + plus
    if mode.appending:
        return "ab" + plus
    if mode.readable:
        return "rb" + plus
    return "wb"


def check_text_args(mode: FileMode, encoding: Any, errors: Any, newline: Any, buffering: int = -1) -> None:
    """Reject the argument combinations ``open()`` rejects, with its messages."""
    if mode.binary:
        if encoding is not None:
            raise ValueError("binary mode doesn't take an encoding argument")
        if errors is not None:
            raise ValueError("binary mode doesn't take an errors argument")
        if newline is not None:
            raise ValueError("binary mode doesn't take a newline argument")
        return
    if buffering == 0:
        raise ValueError("can't have unbuffered text I/O")
    if encoding is not None and not isinstance(encoding, str):
        raise TypeError(f"open() argument 'encoding' must be str or None, not {type(encoding).__name__}")
    if errors is not None and not isinstance(errors, str):
        raise TypeError(f"open() argument 'errors' must be str or None, not {type(errors).__name__}")
    if newline is not None and not isinstance(newline, str):
        raise TypeError(f"open() argument 'newline' must be str or None, not {type(newline).__name__}")
    if newline not in _NEWLINES:
        raise ValueError(f"illegal newline value: {newline}")
