"""Differential tests: the same random operations on our file objects and on the builtin ``open()``.

Every result, every ``tell()`` and the final bytes on disk must be equal. One
deliberate difference is neutralised: a text write after a read goes to the
read position with us, after the read-ahead with ``open()``, so the reference
seeks to our ``tell()`` before each write (what we do internally).

Text cookies: ``open()``'s depend on its chunk size in corner cases (a jump
that lands after bytes decoding to nothing), so unequal cookies must at least
denote the same place: same remaining text when read from there.
"""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiofile import async_open

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    # The same examples every run: CI is reproducible; run with HYPOTHESIS_RANDOM=1 to explore
    # anew (the @example cases are what earlier exploration found).
    derandomize=not os.environ.get("HYPOTHESIS_RANDOM"),
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ENCODINGS = ["utf-8", "utf-16", "latin-1", "utf-8-sig"]
NEWLINES = [None, "", "\n", "\r\n"]
WIDE = "aZ\n\r\r\n é€😀"
NARROW = "aZ\n\r\r\n é"

sizes = st.integers(min_value=1, max_value=70)


def _text_for(encoding: str) -> st.SearchStrategy[str]:
    alphabet = NARROW if encoding == "latin-1" else WIDE
    pieces = st.sampled_from(list(alphabet) + ["\r\n", "line\n", "x\r"])
    return st.lists(pieces, max_size=40).map("".join)


def _text_ops(encoding: str) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    text = _text_for(encoding)
    op = st.one_of(
        st.tuples(st.just("read"), st.integers(min_value=-1, max_value=12)),
        st.tuples(st.just("readline"), st.integers(min_value=-1, max_value=12)),
        st.tuples(st.just("readlines")),
        st.tuples(st.just("iterate"), st.integers(min_value=1, max_value=5)),
        st.tuples(st.just("tell")),
        st.tuples(st.just("seek_saved"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("seek0")),
        st.tuples(st.just("seek_end")),
        st.tuples(st.just("write"), text),
        st.tuples(st.just("flush")),
    )
    return st.lists(op, max_size=14)


def _same_position(ref: io.TextIOWrapper, mine: int, theirs: int) -> bool:
    """Equal cookies, or two cookies for the same place (``open()``'s depend on its chunking).

    Both are tried on a fresh builtin reader of the reference's current bytes:
    they must lead to the same remaining text and report the same ``tell()``
    once that text is read.
    """
    if mine == theirs:
        return True
    ref.flush()
    rests = []
    for cookie in (mine, theirs):
        with open(ref.name, encoding=ref.encoding, newline=_NEWLINE_OF[id(ref)]) as probe:
            probe.seek(cookie)
            try:
                rests.append(probe.read())
            except UnicodeError as exc:
                if cookie == theirs and rests:
                    # open()'s write resets its decoder, which then expects a BOM again: its
                    # tell() after a write and a read can name a place its own reader cannot
                    # decode from (README, "Deliberate differences"; pinned in test_text_mode).
                    raise _RefFailed("the reference's cookie does not decode") from exc
                raise
    return rests[0] == rests[1]


_NEWLINE_OF: dict[int, str | None] = {}


async def _iterate(ours: Any, count: int) -> list[Any]:
    """Up to ``count`` lines from ``async for`` (then break out of the loop)."""
    lines: list[Any] = []
    if count:
        async for line in ours:
            lines.append(line)
            if len(lines) == count:
                break
    return lines


def _ref_lines(ref: Any, count: int) -> list[Any]:
    """What ``open()`` gives for the same: ``readline()`` until ``count`` lines or EOF."""
    lines = []
    while len(lines) < count:
        line = ref.readline()
        if not line:
            break
        lines.append(line)
    return lines


class _RefFailed(Exception):
    """The reference raised: ours must raise the same type; the sequence stops there."""


async def _same_outcome(ours_call: Any, ref_call: Any, where: str) -> Any:
    """(ours, ref) results; if the reference raises, ours must raise the same type."""
    try:
        expected = ref_call()
    except UnicodeError as exc:
        # Decoding errors surface when the chunk holding the bad bytes is
        # decoded, which depends on each side's chunk size: stop here.
        raise _RefFailed(where) from exc
    except Exception as exc:
        with pytest.raises(type(exc)):
            result = ours_call()
            if asyncio.iscoroutine(result):
                await result
        raise _RefFailed(where) from exc
    try:
        result = ours_call()
        if asyncio.iscoroutine(result):
            result = await result
    except UnicodeError as exc:
        raise _RefFailed(where) from exc  # as above
    return result, expected


async def _apply_text(ours: Any, ref: io.TextIOWrapper, ops: list[tuple[Any, ...]]) -> None:
    try:
        await _apply_text_ops(ours, ref, ops)
    except _RefFailed:
        pass


async def _apply_text_ops(ours: Any, ref: io.TextIOWrapper, ops: list[tuple[Any, ...]]) -> None:
    saved = [(0, 0)]
    for step, op in enumerate(ops):
        name = op[0]
        where = f"step {step}: {op!r}"
        if name in ("read", "readline", "readlines"):
            mine, theirs = await _same_outcome(
                lambda: getattr(ours, name)(*op[1:]), lambda: getattr(ref, name)(*op[1:]), where
            )
            assert mine == theirs, where
        elif name == "iterate":
            mine, theirs = await _same_outcome(lambda: _iterate(ours, op[1]), lambda: _ref_lines(ref, op[1]), where)
            assert mine == theirs, where
        elif name == "tell":
            mine, theirs = ours.tell(), ref.tell()
            assert _same_position(ref, mine, theirs), where
            saved.append((mine, theirs))
        elif name == "seek_saved":
            mine, theirs = saved[op[1] % len(saved)]
            assert ours.seek(mine) == mine and ref.seek(theirs) == theirs, where
        elif name == "seek0":
            assert ours.seek(0) == ref.seek(0), where
        elif name == "seek_end":
            assert ours.seek(0, os.SEEK_END) == ref.seek(0, os.SEEK_END), where
        elif name == "write":
            cookie = ours.tell()
            if cookie >> 96:
                # A position inside one decoding step ("\r" then the next
                # character): open() writes after the bytes it re-fed, we at
                # the byte after "\r". A documented difference: stop here.
                raise _RefFailed(where)
            if cookie & ((1 << 64) - 1) == 0:
                # Byte 0 (whatever the decoder flags): we write a BOM there;
                # open() does only after seek(0) itself.
                cookie = 0
            ref.seek(cookie)  # our cookies are open()'s: the reference accepts them
            mine, theirs = await _same_outcome(lambda: ours.write(op[1]), lambda: ref.write(op[1]), where)
            assert mine == theirs, where
            # Two cookies for one place ("\r" pending in open()'s, before it in ours) name
            # different places once the bytes there change: from now on both sides use ours.
            saved = [(mine_cookie, mine_cookie) for mine_cookie, _ in saved]
        elif name == "flush":
            await ours.flush()
            ref.flush()
        assert _same_position(ref, ours.tell(), ref.tell()), where


@SETTINGS
@given(
    data=st.data(),
    encoding=st.sampled_from(ENCODINGS),
    newline=st.sampled_from(NEWLINES),
    buffer_size=sizes,
    ref_chunk=sizes,
)
def test_text_matches_open(
    backend: Any, tmp_path: Any, data: Any, encoding: str, newline: str | None, buffer_size: int, ref_chunk: int
) -> None:
    content = data.draw(_text_for(encoding), label="content")
    ops = data.draw(_text_ops(encoding), label="ops")
    _check_text_case(backend, tmp_path, TextCase(encoding, newline, buffer_size, ref_chunk, content, ops))


class TextCase(NamedTuple):
    """One differential text case: ``open()`` arguments, the file's text, the operations."""

    encoding: str
    newline: str | None
    buffer_size: int
    ref_chunk: int
    content: str
    ops: list[tuple[Any, ...]]


@pytest.mark.parametrize(
    "case",
    [
        # open()'s write resets its decoder's BOM state: its tell() after a read at EOF names
        # a place that open() cannot decode from once text follows (ours can).
        pytest.param(
            TextCase(
                "utf-16",
                None,
                1,
                1,
                "",
                [
                    ("readlines",),
                    ("write", ""),
                    ("read", 1),
                    ("tell",),
                    ("write", "a"),
                    ("seek_saved", 1),
                    ("read", -1),
                ],
            ),
            id="utf16-bom-state-after-write",
        ),
        # open() stops before "\n" with "\r" pending, we before "\r": the same place until a
        # write changes those bytes.
        pytest.param(
            TextCase(
                "utf-8",
                None,
                64,
                3,
                "aa\r\n",
                [("read", 2), ("tell",), ("write", "a"), ("seek_saved", 1), ("read", -1)],
            ),
            id="pending-cr-cookie-after-write",
        ),
    ],
)
def test_text_cases_exploration_found(backend: Any, tmp_path: Any, case: TextCase) -> None:
    _check_text_case(backend, tmp_path, case)


def _check_text_case(backend: Any, tmp_path: Any, case: TextCase) -> None:
    encoding, newline, buffer_size, ref_chunk, content, ops = case
    raw = content.encode(encoding)
    ours_path, ref_path = tmp_path / "ours", tmp_path / "ref"
    ours_path.write_bytes(raw)
    ref_path.write_bytes(raw)

    async def main() -> None:
        context = backend.AsyncioContext()
        try:
            with open(ref_path, "r+", encoding=encoding, newline=newline) as ref:
                ref._CHUNK_SIZE = ref_chunk  # type: ignore[attr-defined]
                _NEWLINE_OF[id(ref)] = newline
                async with async_open(
                    ours_path, "r+", encoding=encoding, newline=newline, buffering=buffer_size, context=context
                ) as ours:
                    try:
                        await _apply_text(ours, ref, ops)
                    except _RefFailed:
                        return
        finally:
            await context.aclose()

    asyncio.run(main())
    assert ours_path.read_bytes() == ref_path.read_bytes()


def _binary_ops() -> st.SearchStrategy[list[tuple[Any, ...]]]:
    payload = st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\n"))
    op = st.one_of(
        st.tuples(st.just("read"), st.integers(min_value=-1, max_value=40)),
        st.tuples(st.just("readline"), st.integers(min_value=-1, max_value=20)),
        st.tuples(st.just("readinto"), st.integers(min_value=0, max_value=30)),
        st.tuples(st.just("readlines")),
        st.tuples(st.just("iterate"), st.integers(min_value=1, max_value=5)),
        st.tuples(st.just("seek"), st.integers(min_value=-30, max_value=60), st.sampled_from([0, 1, 2])),
        st.tuples(st.just("write"), payload),
        st.tuples(st.just("truncate"), st.one_of(st.none(), st.integers(min_value=0, max_value=60))),
        st.tuples(st.just("flush")),
    )
    return st.lists(op, max_size=16)


async def _apply_binary(ours: Any, ref: Any, ops: list[tuple[Any, ...]]) -> None:
    for step, op in enumerate(ops):
        name = op[0]
        where = f"step {step}: {op!r}"
        if name == "read":
            assert await ours.read(op[1]) == ref.read(op[1]), where
        elif name == "readline":
            assert await ours.readline(op[1]) == ref.readline(op[1]), where
        elif name == "readlines":
            assert await ours.readlines() == ref.readlines(), where
        elif name == "iterate":
            assert await _iterate(ours, op[1]) == _ref_lines(ref, op[1]), where
        elif name == "readinto":
            mine, theirs = bytearray(op[1]), bytearray(op[1])
            assert await ours.readinto(mine) == ref.readinto(theirs), where
            assert mine == theirs, where
        elif name == "seek":
            try:
                expected = ref.seek(op[1], op[2])
            except OSError as exc:
                with pytest.raises(OSError) as info:
                    ours.seek(op[1], op[2])
                assert info.value.errno == exc.errno, where
            else:
                assert ours.seek(op[1], op[2]) == expected, where
        elif name == "write":
            assert await ours.write(op[1]) == ref.write(op[1]), where
        elif name == "truncate":
            assert await ours.truncate(op[1]) == ref.truncate(op[1]), where
        elif name == "flush":
            await ours.flush()
            ref.flush()
        assert _same_position(ref, ours.tell(), ref.tell()), where


@SETTINGS
@given(
    content=st.binary(max_size=200).map(lambda b: b.replace(b"\x00", b"\n")),
    ops=_binary_ops(),
    buffer_size=st.integers(min_value=0, max_value=70).filter(lambda n: n != 1),
    ref_buffer=st.integers(min_value=2, max_value=70),
)
def test_binary_matches_open(
    backend: Any, tmp_path: Any, content: bytes, ops: list[tuple[Any, ...]], buffer_size: int, ref_buffer: int
) -> None:
    ours_path, ref_path = tmp_path / "ours", tmp_path / "ref"
    ours_path.write_bytes(content)
    ref_path.write_bytes(content)

    async def main() -> None:
        context = backend.AsyncioContext()
        try:
            with open(ref_path, "r+b", buffering=ref_buffer) as ref:
                async with async_open(ours_path, "r+b", buffering=buffer_size, context=context) as ours:
                    await _apply_binary(ours, ref, ops)
        finally:
            await context.aclose()

    asyncio.run(main())
    assert ours_path.read_bytes() == ref_path.read_bytes()
