"""``Reader``, ``Writer``, ``LineReader``: aiofile 3.x semantics, any separator, split characters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiofile import AIOFile, LineReader, Reader, Writer, async_open

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "shift_jis"])
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 11, 4096])
async def test_reader_text_heals_split_characters(tmp_path: Path, ctx: Any, encoding: str, chunk_size: int) -> None:
    text = "日本語 text ｱ\n" * 5
    path = tmp_path / "f"
    path.write_text(text, encoding=encoding)
    async with AIOFile(path, "r", encoding=encoding, context=ctx) as afp:
        reader = Reader(afp, chunk_size=chunk_size)
        chunks = [chunk async for chunk in reader]
        assert "".join(chunks) == text
        assert await reader.read_chunk() == ""  # stays at EOF
        assert reader.offset == path.stat().st_size


async def test_reader_binary_from_offset(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    async with AIOFile(path, "rb", context=ctx) as afp:
        chunks = [c async for c in Reader(afp, offset=10, chunk_size=30)]
    assert [len(c) for c in chunks] == [30, 30, 30]
    assert b"".join(chunks) == bytes(range(10, 100))


@pytest.mark.asyncio_only  # the calls must reach the lock in creation order: trio schedules in no fixed order
async def test_writer_is_sequential(lib: Any, tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    async with AIOFile(path, "wb", context=ctx) as afp:
        write = Writer(afp)
        await lib.gather(*(write(b"%03d," % i) for i in range(50)))
        await write("é")  # str is encoded with the file's encoding, even in binary mode
        assert write.offset == 50 * 4 + 2
    assert path.read_bytes() == b"".join(b"%03d," % i for i in range(50)) + "é".encode()


@pytest.mark.parametrize("sep", ["\n", "\r\n", ";", "\r", "<END>", "ab"])
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 4, 7, 4192])
async def test_line_reader_any_separator(
    tmp_path: Path, ctx: Any, sep: str, chunk_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LineReader, "MIN_READ", 1)  # chunk borders inside this small file
    pieces = ["first", "", "sé€cond", "x" * 20, "last"]
    text = sep.join(pieces)
    path = tmp_path / "f"
    path.write_text(text, encoding="utf-8", newline="")
    expected = [piece + sep for piece in pieces[:-1]] + [pieces[-1]]
    async with AIOFile(path, "r", context=ctx) as afp:
        reader = LineReader(afp, chunk_size=chunk_size, line_sep=sep)
        assert [line async for line in reader] == expected
        assert await reader.readline() == ""
        assert await reader.readline() == ""  # never dead after EOF
    async with AIOFile(path, "rb", context=ctx) as afp:
        lines = [line async for line in LineReader(afp, chunk_size=chunk_size, line_sep=sep)]
        assert lines == [line.encode() for line in expected]


async def test_line_reader_reads_at_least_min_read_per_refill(tmp_path: Path, ctx: Any) -> None:
    """aiofile 3.x's default chunk (4192) halves the speed of a line loop: each refill reads 64 KiB."""
    path = tmp_path / "f"
    path.write_bytes(b"".join(b"%07d\n" % i for i in range(100_000)))  # 800,000 bytes
    async with AIOFile(path, "rb", context=ctx) as afp:
        sizes: list[int] = []
        read_bytes = afp.read_bytes

        async def counting(size: int = -1, offset: int = 0) -> bytes:
            sizes.append(size)
            return await read_bytes(size, offset)

        afp.read_bytes = counting  # type: ignore[method-assign]
        lines = [line async for line in LineReader(afp)]
        assert lines == [b"%07d\n" % i for i in range(100_000)]
        assert set(sizes) == {LineReader.MIN_READ} and len(sizes) == 800_000 // LineReader.MIN_READ + 2
        sizes.clear()
        assert await LineReader(afp, chunk_size=200_000).readline() == b"0000000\n"
        assert sizes == [200_000]


async def test_line_reader_offset_and_wrapper(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_text("a\nbb\nccc\n")
    async with async_open(path, context=ctx) as f:
        lines = [line async for line in LineReader(f, offset=2)]  # a file object is accepted too
    assert lines == ["bb\n", "ccc\n"]


async def test_line_reader_sees_appended_data(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_text("one\n")
    async with AIOFile(path, "a+", context=ctx) as afp:
        reader = LineReader(afp)
        assert await reader.readline() == "one\n"
        assert await reader.readline() == ""
        await afp.write("two\n")
        assert await reader.readline() == "two\n"


async def test_bad_arguments(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    async with AIOFile(path, "r", context=ctx) as afp:
        with pytest.raises(ValueError):
            Reader(afp, chunk_size=0)
        with pytest.raises(ValueError):
            LineReader(afp, line_sep="")
        with pytest.raises(TypeError):
            LineReader(afp, line_sep=b"\n")
        with pytest.raises(TypeError):
            Reader(object())


async def test_unicode_reader(tmp_path: Path, ctx: Any) -> None:
    from aiofile.utils import ENCODING_MAP, unicode_reader

    assert ENCODING_MAP["utf-8"] == 4
    path = tmp_path / "f"
    path.write_text("aé€😀", encoding="utf-8")
    async with AIOFile(path, "r", context=ctx) as afp:
        assert await unicode_reader(afp, 2, 0) == (3, "aé")  # "é" completed with one more byte
        assert await unicode_reader(afp, 1, 3) == (3, "€")
        assert await unicode_reader(afp, -1, 6) == (4, "😀")
        assert await unicode_reader(afp, 10, 10) == (0, "")
