"""Differential tests of the error cases: every method, bad arguments and wrong modes, beside ``open()``.

Each case runs on a fresh file with the builtin ``open()`` and with
``async_open`` (on every backend), and must give the same result or raise the
same exception type with the same message, and leave the same bytes on disk.

The deliberate differences, and nothing else, are allowed here:

* ``io.UnsupportedOperation`` says ``"not readable"``/``"not writable"`` (the
  builtin text files' wording) where the builtin binary ones name the method.
* ``peek`` exists on every binary file object: on one opened for writing only
  it raises ``io.UnsupportedOperation``, where ``BufferedWriter`` has no ``peek``.
* A text ``seek`` takes integers only: the builtin accepts a ``float`` cookie
  and fails on a ``str`` with a comparison error; ours raises the usual
  ``TypeError`` ("... cannot be interpreted as an integer").
* On a closed file every method that needs it open raises
  ``ValueError("I/O operation on closed file.")``: the builtin's messages vary
  ("read of closed file", ...), it checks some argument types before it sees
  the file is closed (ours may too, with the builtin's error), and a closed
  binary file's ``readable()``/``writable()`` answer ``False`` for the
  direction it was not opened for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiofile import async_open

CONTENT = b"hello\nworld\n"

CASES: list[tuple[str, tuple[Any, ...]]] = [
    ("read", ()),
    ("read", (3,)),
    ("read", (-1,)),
    ("read", (-5,)),
    ("read", (None,)),
    ("read", ("x",)),
    ("read", (1.5,)),
    ("readline", ()),
    ("readline", (-5,)),
    ("readline", ("x",)),
    ("readline", (1.5,)),
    ("readlines", ()),
    ("readlines", ("x",)),
    ("readlines", (-5,)),
    ("write", (5,)),
    ("write", ("s",)),
    ("write", (b"s",)),
    ("write", (None,)),
    ("write", (bytearray(b"b"),)),
    ("write", ([1],)),
    ("writelines", ([5],)),
    ("writelines", (5,)),
    ("writelines", (["s"],)),
    ("writelines", ([b"s"],)),
    ("readinto", (b"imm",)),
    ("readinto", (5,)),
    ("readinto", (bytearray(2),)),
    ("read1", ()),
    ("read1", (-5,)),
    ("read1", ("x",)),
    ("read1", (2,)),
    ("peek", ("x",)),
    ("seek", (-1,)),
    ("seek", (0, 7)),
    ("seek", ("x",)),
    ("seek", (5, 1)),
    ("seek", (-1, 2)),
    ("seek", (0, 2)),
    ("seek", (1.5,)),
    ("truncate", (-1,)),
    ("truncate", ("x",)),
    ("truncate", (None,)),
    ("truncate", (3,)),
    ("readable", ()),
    ("writable", ()),
    ("seekable", ()),
    ("isatty", ()),
    ("flush", ()),
    ("tell", ()),
]

MODES = ["rb", "wb", "r+b", "w+b", "ab", "a+b", "r", "w", "r+", "a"]


def _outcome_of(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return type(exc).__name__, str(exc)


async def _our_outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        result = call()
        if inspect.isawaitable(result):
            result = await result
        return "ok", result
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return type(exc).__name__, str(exc)


def _allowed(mode: str, method: str, args: tuple[Any, ...], ref: tuple[str, Any], ours: tuple[str, Any]) -> bool:
    """The deliberate differences listed in the module docstring (open files)."""
    if ref[0] == ours[0] == "UnsupportedOperation":
        return ours[1] in ("not readable", "not writable")
    if method == "peek" and ref[0] == "AttributeError":
        return ours[0] == "UnsupportedOperation"
    if method == "seek" and "b" not in mode and args and not isinstance(args[0], int):
        return ours[0] == "TypeError" and ours[1].endswith("cannot be interpreted as an integer")
    return False


def _fresh(path: Path) -> None:
    path.write_bytes(CONTENT)


@pytest.mark.parametrize("mode", MODES)
async def test_every_method_fails_as_open_does(tmp_path: Path, ctx: Any, mode: str) -> None:
    theirs, mine = tmp_path / "builtin", tmp_path / "ours"
    differences = []
    for method, args in CASES:
        _fresh(theirs)
        _fresh(mine)
        with open(theirs, mode) as ref_file:
            if not hasattr(ref_file, method) and method != "peek":
                continue  # not a method of this kind of file (readinto/read1 in text mode)
            if method == "peek" and "b" not in mode:
                continue
            if hasattr(ref_file, method):
                ref = _outcome_of(lambda: getattr(ref_file, method)(*args))
            else:
                ref = ("AttributeError", "")
        async with async_open(mine, mode, context=ctx) as our_file:
            ours = await _our_outcome(lambda: getattr(our_file, method)(*args))
        if ref != ours and not _allowed(mode, method, args, ref, ours):
            differences.append(f"{method}{args!r}: open() {ref!r}, ours {ours!r}")
        elif theirs.read_bytes() != mine.read_bytes():
            differences.append(f"{method}{args!r}: open() left {theirs.read_bytes()!r}, ours {mine.read_bytes()!r}")
    assert differences == []


@pytest.mark.parametrize("mode", ["rb", "wb", "r+b", "r", "w"])
async def test_every_method_of_a_closed_file_is_value_error(tmp_path: Path, ctx: Any, mode: str) -> None:
    path = tmp_path / "f"
    _fresh(path)
    with open(path, mode) as ref_file:
        pass
    _fresh(path)
    our_file = await async_open(path, mode, context=ctx)
    await our_file.close()
    for method, args in CASES:
        if not hasattr(ref_file, method):
            continue
        ref = _outcome_of(lambda: getattr(ref_file, method)(*args))
        ours = await _our_outcome(lambda: getattr(our_file, method)(*args))
        # Ours says it is closed, unless it rejects an argument exactly as the builtin does.
        assert ours in (("ValueError", "I/O operation on closed file."), ref), (method, args, ref, ours)
    assert path.read_bytes() == (b"" if "w" in mode else CONTENT)  # nothing written after close
    await our_file.close()  # idempotent


@pytest.mark.parametrize(
    ("mode", "reported"),
    [
        ("rb", "rb"),
        ("br", "rb"),
        ("wb", "wb"),
        ("wb+", "rb+"),
        ("w+b", "rb+"),
        ("r+b", "rb+"),
        ("ab", "ab"),
        ("ab+", "ab+"),
        ("xb", "xb"),
        ("xb+", "xb+"),
        ("r", "r"),
        ("rt", "rt"),
        ("w+", "w+"),
        ("tr+", "tr+"),
        ("a", "a"),
    ],
)
async def test_mode_is_reported_as_open_does(tmp_path: Path, ctx: Any, mode: str, reported: str) -> None:
    theirs, mine = tmp_path / "builtin", tmp_path / "ours"
    if "x" not in mode:
        _fresh(theirs)
        _fresh(mine)
    with open(theirs, mode) as ref_file:
        assert ref_file.mode == reported
    async with async_open(mine, mode, context=ctx) as our_file:
        assert our_file.mode == reported
    async with async_open(mine, mode if "x" not in mode else mode.replace("x", "r"), context=ctx) as again:
        assert again.closed is False


async def test_binary_read_of_a_negative_size_other_than_minus_one(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    _fresh(path)
    async with async_open(path, "rb", context=ctx) as f:
        with pytest.raises(ValueError, match=r"^read length must be non-negative or -1$"):
            await f.read(-5)
        assert f.tell() == 0
        assert await f.read(-1) == CONTENT
    async with async_open(path, "r", context=ctx) as t:
        assert await t.read(-5) == CONTENT.decode()  # text files read everything, as open()


async def test_binary_write_of_an_int_is_opens_type_error(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    async with async_open(path, "wb", context=ctx) as f:
        with pytest.raises(TypeError, match=r"^a bytes-like object is required, not 'int'$"):
            await f.write(5)
        assert f.tell() == 0
    assert path.read_bytes() == b""
