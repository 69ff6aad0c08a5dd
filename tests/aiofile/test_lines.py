"""``LineBatch``/``AsyncLines``, compiled (``_linuxaio._lines``) and pure Python (``aiofile._lines``)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiofile import AIOFile, LineReader, _lines, _streams, _text, async_open

IMPLS = [pytest.param((_lines._LineBatch, _lines._AsyncLines), id="python")]
try:
    from _linuxaio import _lines as _compiled
except ImportError:  # pragma: no cover - not built
    pass
else:
    IMPLS.append(pytest.param((_compiled.LineBatch, _compiled.AsyncLines), id="compiled"))


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("chars", "sep"),
    [("ab\ncd\n\nxy", "\n"), (b"ab\ncd\n\nxy", b"\n"), ("a--b----c--d", "--"), (b"a\r\nb\r\n\r\nz", b"\r\n")],
)
def test_batch_hands_out_the_complete_lines(impl: tuple[Any, Any], chars: Any, sep: Any) -> None:
    batch_class, _ = impl
    end = chars.rfind(sep) + len(sep)
    for start in range(end + 1):
        batch = batch_class(chars, start, end, sep)
        got = []
        while len(batch):
            line = batch.take()
            got.append(line)
            assert batch.position() == start + len(chars[0:0].join(got))
        assert chars[0:0].join(got) == chars[start:end]
        assert all(line.endswith(sep) for line in got[:-1])
        assert batch.take() == chars[0:0]


def test_batch_stop_and_errors(impl: tuple[Any, Any]) -> None:
    batch_class, _ = impl
    batch = batch_class("a\nb\n", 0, 4, "\n")
    assert batch.take() == "a\n"
    batch.stop()
    assert len(batch) == 0 and batch.take() == ""
    with pytest.raises(TypeError):
        batch_class("a\n", 0, 2, b"\n")
    with pytest.raises(TypeError):
        batch_class(bytearray(b"a\n"), 0, 2, b"\n")
    with pytest.raises(ValueError):
        batch_class("a\n", 0, 3, "\n")
    with pytest.raises(ValueError):
        batch_class("a\n", 0, 2, "")


def _chunks() -> Iterator[str]:
    yield "one\ntwo\nthr"
    yield "ee\n"
    yield "\n\nlast"


async def _collect(async_lines: Any, batch_class: Any) -> list[str]:
    chunks = _chunks()
    rest = ""

    async def refill(it: Any) -> str:
        nonlocal rest
        await asyncio.sleep(0)  # a real suspension, as a read may do
        for chunk in chunks:
            text = rest + chunk
            end = text.rfind("\n") + 1
            rest = text[end:]
            if end:
                it.batch = batch_class(text, 0, end, "\n")
                return it.batch.take()  # type: ignore[no-any-return]
        if rest:
            line, rest = rest, ""
            return line
        raise StopAsyncIteration

    return [line async for line in async_lines(refill)]


async def test_async_lines_iterates_batches_and_refills(impl: tuple[Any, Any]) -> None:
    batch_class, async_lines = impl
    assert await _collect(async_lines, batch_class) == ["one\n", "two\n", "three\n", "\n", "\n", "last"]


async def test_async_lines_under_a_tracer(impl: tuple[Any, Any]) -> None:
    """With a tracer set the interpreter takes ``__next__`` instead of ``am_send``: same lines."""
    batch_class, async_lines = impl

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        got = await _collect(async_lines, batch_class)
    finally:
        sys.settrace(previous)
    assert got == ["one\n", "two\n", "three\n", "\n", "\n", "last"]


@pytest.fixture
def python_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file objects and LineReader on the pure-Python classes."""
    for module in (_text, _streams):
        monkeypatch.setattr(module, "LineBatch", _lines._LineBatch)
        monkeypatch.setattr(module, "AsyncLines", _lines._AsyncLines)


@pytest.mark.parametrize("newline", [None, "\n", "", "\r\n"])
async def test_text_iteration_on_the_python_fallback(tmp_path: Path, python_lines: None, newline: Any) -> None:
    path = tmp_path / "f"
    text = "".join(f"line {i} é\n" if i % 7 else f"cr {i}\r\n" for i in range(5000)) + "tail"
    path.write_bytes(text.encode())
    with open(path, newline=newline, encoding="utf-8") as f:
        expected = list(f)
    async with async_open(path, "r", newline=newline, buffering=1000) as af:
        got = []
        async for line in af:
            got.append(line)
            if len(got) == 100:
                cookie = af.tell()
                assert await af.readline() == expected[100]
                af.seek(cookie)
        assert got == expected


async def test_line_reader_on_the_python_fallback(tmp_path: Path, python_lines: None) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"".join(b"%d,\n" % i for i in range(3000)))
    async with AIOFile(path, "r") as afp:
        got = [line async for line in LineReader(afp, chunk_size=100, line_sep=",\n")]
        assert "".join(got) == path.read_text() and got[5] == "5,\n"
        reader = LineReader(afp, chunk_size=100)
        lines = []
        async for line in reader:
            lines.append(line)
            if len(lines) % 10 == 3:
                lines.append(await reader.readline())  # folds the batch's position in
        assert lines == path.read_text().splitlines(True)
