"""Text-mode positions: the opaque ``tell()`` cookies of ``io.TextIOWrapper``.

A text position is not a byte offset: the decoder may hold state (a UTF-16
byte order, a pending ``"\\r"`` of universal newlines, a stateful codec's
shift state) and one byte sequence may produce several characters. CPython
packs a position into one integer with five fields (low bits first; the
widths are those of the C implementation behind ``open()``)::

    start   64 bits  byte offset where decoding restarts (decoder buffer empty)
    flags   32 bits  the decoder's state flags at ``start`` (``getstate()[1]``)
    feed    32 bits  bytes to feed the decoder after ``start``
    skip    32 bits  characters to drop from what those bytes decode to
    eof      8 bits  whether to feed with ``final=True``

We use the same layout, so a cookie means the same thing to us and to a
builtin text file over the same bytes, and positions compare equal.

Finding the cookie for "``chars`` characters into the text decoded from
``data``, which starts at byte ``base`` with decoder flags ``flags``" walks
forward to the last point where the decoder's byte buffer is empty and no
more than ``chars`` characters have come out: that is ``start``; the bytes
and characters after it become ``feed`` and ``skip``.
"""

from __future__ import annotations

import codecs
from typing import Any, NamedTuple

__all__ = ["Cookie", "locate", "pack", "unpack"]

_START_BITS = 64
_FIELD_BITS = 32
_START_MASK = (1 << _START_BITS) - 1
_FIELD_MASK = (1 << _FIELD_BITS) - 1
_FLAGS_SHIFT = _START_BITS
_FEED_SHIFT = _FLAGS_SHIFT + _FIELD_BITS
_SKIP_SHIFT = _FEED_SHIFT + _FIELD_BITS
_EOF_SHIFT = _SKIP_SHIFT + _FIELD_BITS


class Cookie(NamedTuple):
    """The five fields of a text position (see the module docstring)."""

    start: int
    flags: int = 0
    feed: int = 0
    eof: bool = False
    skip: int = 0


def pack(cookie: Cookie) -> int:
    """One integer for ``cookie``; a plain byte offset when only ``start`` is set."""
    return (
        cookie.start
        | ((cookie.flags & _FIELD_MASK) << _FLAGS_SHIFT)
        | (cookie.feed << _FEED_SHIFT)
        | (cookie.skip << _SKIP_SHIFT)
        | (int(bool(cookie.eof)) << _EOF_SHIFT)
    )


def unpack(value: int) -> Cookie:
    """The fields of a cookie made by ``pack`` (or by ``io.TextIOWrapper.tell``)."""
    return Cookie(
        value & _START_MASK,
        (value >> _FLAGS_SHIFT) & _FIELD_MASK,
        (value >> _FEED_SHIFT) & _FIELD_MASK,
        bool(value >> _EOF_SHIFT),
        (value >> _SKIP_SHIFT) & _FIELD_MASK,
    )


def locate(decoder: Any, base: int, flags: int, data: bytes | memoryview, chars: int) -> Cookie:
    """The cookie ``chars`` characters into ``decoder``'s output for ``data``.

    ``decoder`` is an incremental decoder (possibly an
    ``io.IncrementalNewlineDecoder``) whose state is put back on return.
    ``data`` are the bytes decoded since ``base``, where the state flags were
    ``flags`` and the byte buffer empty. Raises ``OSError`` if ``data`` cannot
    produce ``chars`` characters.
    """
    if chars == 0:
        return Cookie(base, flags)
    saved = decoder.getstate()
    try:
        start, start_flags = base, flags
        decoder.setstate((b"", flags))
        # Feed one byte at a time; every point where the decoder holds no
        # bytes and has not produced more than ``chars`` becomes the new start.
        fed = produced = 0
        remaining = chars
        eof = False
        view = memoryview(data)
        for index in range(len(data)):
            fed += 1
            produced += len(decoder.decode(view[index : index + 1]))
            pending, state_flags = decoder.getstate()
            if not pending and produced <= remaining:
                start += fed
                remaining -= produced
                start_flags = state_flags
                fed = produced = 0
            if produced >= remaining:
                break
        else:
            produced += len(decoder.decode(b"", True))
            eof = True
            if produced < remaining:
                raise OSError("can't reconstruct logical file position")
        return Cookie(start, start_flags, fed, eof, remaining)
    finally:
        decoder.setstate(saved)


def fast_locate(decoder: Any, base: int, flags: int, data: bytes | memoryview, chars: int, ratio: float) -> Cookie:
    """``locate`` that first jumps close to the answer (``ratio``: bytes per character).

    It decodes prefixes of ``data`` to find a point where the decoder's
    buffer is empty and fewer than ``chars`` characters came out, then walks
    byte by byte from there. The decoder's state there is fully described by
    its flags, so the walk ends where a walk from ``base`` would: the same
    result as ``locate`` (the first point that reaches ``chars``), for far
    less work in a large chunk. (CPython accepts a jump that already reaches
    ``chars``, which may land after bytes that decode to nothing, such as a
    pending ``"\r"``; both cookies mean the same place for reading.)
    """
    if chars == 0:
        return Cookie(base, flags)
    saved = decoder.getstate()
    try:
        guess = min(int(ratio * chars), len(data))
        step = 1
        while guess > 0:
            decoder.setstate((b"", flags))
            produced = len(decoder.decode(data[:guess]))
            if produced < chars:
                pending, state_flags = decoder.getstate()
                if not pending:
                    return locate(decoder, base + guess, state_flags, data[guess:], chars - produced)
                guess -= len(pending)
                step = 1
            else:
                guess -= step
                step *= 2
    finally:
        decoder.setstate(saved)
    return locate(decoder, base, flags, data, chars)


def text_encoding(encoding: str | None) -> str:
    """The encoding to use: ``encoding``, or UTF-8 (aiofile's default) for ``None``."""
    if encoding is None:
        return "utf-8"
    codecs.lookup(encoding)  # LookupError for an unknown encoding, as open()
    return encoding
