"""``AIOFile.copy_to`` and ``aiofile.copyfile``: the kernel copies (copy_file_range), read/write where it refuses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import aiofile
from aiofile import AIOFile

pytestmark = pytest.mark.asyncio


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3 * 1024 * 1024 + 123)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    return path, data


async def test_copy_to_a_path_creates_or_truncates_it(ctx: Any, source: tuple[Path, bytes], tmp_path: Path) -> None:
    path, data = source
    dst = tmp_path / "dst.bin"
    dst.write_bytes(b"x" * (len(data) + 999))  # longer: truncated, as open(dst, "wb")
    async with AIOFile(path, "rb", context=ctx) as afp:
        assert await afp.copy_to(dst, chunk_size=1024 * 1024) == len(data)
    assert dst.read_bytes() == data


async def test_copy_to_an_open_file_with_offset_and_count(ctx: Any, source: tuple[Path, bytes], tmp_path: Path) -> None:
    path, data = source
    dst = tmp_path / "dst.bin"
    dst.write_bytes(b"")
    async with AIOFile(path, "rb", context=ctx) as afp, AIOFile(dst, "r+b", context=ctx) as out:
        assert await afp.copy_to(out, offset=1000, count=5000) == 5000
        assert await afp.copy_to(out, offset=len(data) - 10, count=100) == 10  # EOF first
    assert dst.read_bytes() == data[-10:] + data[1010:6000]


async def test_copy_to_reads_what_copy_file_range_cannot(ctx: Any, tmp_path: Path) -> None:
    """/proc files report size 0 to copy_file_range: the copy reads them instead."""
    expected = Path("/proc/version").read_bytes()
    dst = tmp_path / "version"
    async with AIOFile("/proc/version", "rb", context=ctx) as afp:
        assert await afp.copy_to(dst) == len(expected)
    assert dst.read_bytes() == expected


async def test_copy_to_across_file_systems(ctx: Any, source: tuple[Path, bytes]) -> None:
    path, data = source
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(path).st_dev:
        pytest.skip("no second file system here (/dev/shm missing or on the same one)")
    dst = shm / f"aiofile-copy-test-{os.getpid()}"
    try:
        async with AIOFile(path, "rb", context=ctx) as afp:
            assert await afp.copy_to(dst) == len(data)
        assert dst.read_bytes() == data
    finally:
        dst.unlink(missing_ok=True)


async def test_copy_to_errors(ctx: Any, source: tuple[Path, bytes], tmp_path: Path) -> None:
    path, _ = source
    async with AIOFile(path, "rb", context=ctx) as afp:
        with pytest.raises(FileNotFoundError):
            await afp.copy_to(tmp_path / "missing-dir" / "dst")
        with pytest.raises(ValueError):
            await afp.copy_to(tmp_path / "dst", offset=-1)
        with pytest.raises(TypeError):
            await afp.copy_to(tmp_path / "dst", count=1.5)  # type: ignore[arg-type]


async def test_copyfile_is_shutils(ctx: Any, source: tuple[Path, bytes], tmp_path: Path) -> None:
    path, data = source
    dst = tmp_path / "copy.bin"
    assert aiofile.copyfile is aiofile.shutil.copyfile
    assert await aiofile.copyfile(path, dst, context=ctx) == dst
    assert dst.read_bytes() == data


async def test_write_after_a_close_whose_flush_failed_is_refused(ctx: Any) -> None:
    """A close whose flush failed still closes: later writes are refused as on a closed open() file."""
    f = await aiofile.async_open("/dev/full", "wb", context=ctx)
    await f.write(b"x")  # buffered
    with pytest.raises(OSError) as failed:
        await f.close()  # the flush meets ENOSPC
    assert failed.value.errno == 28
    with pytest.raises(ValueError, match="closed file"):
        await f.write(b"y")
