"""``aiofile.shutil`` against ``shutil`` on twin trees: results, errors and what is left on disk, every backend."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from aiofile import shutil as ash


def make_tree(root: Path, files: int = 5) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty").mkdir()
    for i in range(files):
        (root / f"f{i}.txt").write_bytes(os.urandom(100 + 997 * i))
    (root / "a" / "big.bin").write_bytes(os.urandom(3 << 20))
    (root / "a" / "b" / "ro.txt").write_bytes(b"read only")
    os.chmod(root / "a" / "b" / "ro.txt", 0o444)
    os.utime(root / "a" / "big.bin", ns=(1_000_000_123, 2_000_000_456))
    os.symlink("a", root / "link_dir")
    os.symlink("f0.txt", root / "link_file")
    return root


def snapshot(base: Path) -> list[tuple[Any, ...]]:
    """Everything on disk under ``base``: kind, mode, mtime, content, link target."""
    if not os.path.lexists(base):
        return []
    result = []
    for dirpath, dirnames, filenames in os.walk(base):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            content = Path(p).read_bytes() if stat.S_ISREG(st.st_mode) else None
            mtime = st.st_mtime_ns if stat.S_ISREG(st.st_mode) and st.st_mtime_ns < 10**10 else 0
            result.append(
                (os.path.relpath(p, base), kind, 0 if link else stat.S_IMODE(st.st_mode), mtime, content, link)
            )
    return sorted(result)


async def outcome(coro: Any) -> Any:
    try:
        return ("ok", await coro)
    except shutil.Error as exc:
        return ("shutil.Error", type(exc), exc.args)
    except OSError as exc:
        return ("err", type(exc), exc.errno, exc.filename)


def sync_outcome(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return ("ok", fn(*args, **kwargs))
    except shutil.Error as exc:
        return ("shutil.Error", type(exc), exc.args)
    except OSError as exc:
        return ("err", type(exc), exc.errno, exc.filename)


def swap(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, (tuple, list)):
        return type(value)(swap(v, old, new) for v in value)
    return value


@pytest.fixture
def twins(tmp_path: Path) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    make_tree(ours / "src")
    shutil.copytree(ours, theirs, symlinks=True)  # the same bytes, modes and times
    return ours, theirs


async def check(twins: tuple[Path, Path], name: str, args: tuple[str, ...], ctx: Any, **kwargs: Any) -> Any:
    ours, theirs = twins
    got = await outcome(getattr(ash, name)(*(str(ours / a) for a in args), context=ctx, **kwargs))
    expected = swap(
        sync_outcome(getattr(shutil, name), *(str(theirs / a) for a in args), **kwargs), str(theirs), str(ours)
    )
    assert got == expected, (name, args)
    assert snapshot(ours) == snapshot(theirs), (name, args)
    return got


async def test_copyfile_copy_copy2(twins: tuple[Path, Path], ctx: Any) -> None:
    await check(twins, "copyfile", ("src/a/big.bin", "c1"), ctx)
    await check(twins, "copyfile", ("src/link_file", "c2"), ctx)
    await check(twins, "copyfile", ("src/link_file", "c3"), ctx, follow_symlinks=False)
    await check(twins, "copyfile", ("src/f1.txt", "src/f1.txt"), ctx)  # SameFileError
    await check(twins, "copyfile", ("src/missing", "c4"), ctx)
    await check(twins, "copyfile", ("src/a", "c5"), ctx)
    await check(twins, "copyfile", ("src/f1.txt", "src/a"), ctx)
    await check(twins, "copyfile", ("src/f1.txt", "nodir/x"), ctx)
    await check(twins, "copy", ("src/a/b/ro.txt", "c6"), ctx)
    await check(twins, "copy", ("src/f2.txt", "src/empty"), ctx)
    await check(twins, "copy2", ("src/a/big.bin", "c7"), ctx)
    await check(twins, "copy2", ("src/link_file", "c8"), ctx, follow_symlinks=False)
    await check(twins, "copymode", ("src/a/b/ro.txt", "c1"), ctx)
    await check(twins, "copystat", ("src/a/big.bin", "c2"), ctx)


async def test_copyfile_fifo_is_special(twins: tuple[Path, Path], ctx: Any) -> None:
    for base in twins:
        os.mkfifo(base / "fifo")
    got = await outcome(ash.copyfile(str(twins[0] / "fifo"), str(twins[0] / "x"), context=ctx))
    with pytest.raises(shutil.SpecialFileError):
        shutil.copyfile(twins[1] / "fifo", twins[1] / "x")
    assert got[0] == "err" and got[1] is shutil.SpecialFileError


async def test_copyfile_falls_back_for_proc_files(tmp_path: Path, ctx: Any) -> None:
    await ash.copyfile("/proc/self/status", tmp_path / "status", context=ctx)
    assert (tmp_path / "status").read_bytes().startswith(b"Name:")


@pytest.mark.parametrize("symlinks", [False, True])
async def test_copytree(twins: tuple[Path, Path], ctx: Any, symlinks: bool) -> None:
    await check(twins, "copytree", ("src", "dst"), ctx, symlinks=symlinks)
    await check(twins, "copytree", ("src", "dst"), ctx, symlinks=symlinks)  # exists
    await check(twins, "copytree", ("src", "dst"), ctx, symlinks=symlinks, dirs_exist_ok=True)
    await check(twins, "copytree", ("src", "dst2"), ctx, ignore=shutil.ignore_patterns("*.bin", "b"))
    await check(twins, "copytree", ("missing", "dst3"), ctx)


async def test_copytree_dangling_symlinks(twins: tuple[Path, Path], ctx: Any) -> None:
    for base in twins:
        os.symlink("nowhere", base / "src" / "dangling")
    await check(twins, "copytree", ("src", "d1"), ctx)  # shutil.Error listing it
    await check(twins, "copytree", ("src", "d2"), ctx, ignore_dangling_symlinks=True)
    await check(twins, "copytree", ("src", "d3"), ctx, symlinks=True)


async def test_copytree_with_sync_copy_function(twins: tuple[Path, Path], ctx: Any) -> None:
    await check(twins, "copytree", ("src", "d1"), ctx, copy_function=shutil.copy)


async def test_copytree_progress_and_limit(tmp_path: Path, ctx: Any) -> None:
    make_tree(tmp_path / "src", files=40)
    seen: list[tuple[Any, int]] = []
    await ash.copytree(
        tmp_path / "src", tmp_path / "dst", limit=3, progress=lambda p, n: seen.append((p, n)), context=ctx
    )
    shutil.copytree(tmp_path / "src", tmp_path / "std")
    assert snapshot(tmp_path / "std") == snapshot(tmp_path / "dst")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp_path / "std") for f in fs)
    assert sum(n for _, n in seen) == total
    with pytest.raises(ValueError):
        await ash.copytree(tmp_path / "src", tmp_path / "x", limit=0, context=ctx)


async def test_rmtree(twins: tuple[Path, Path], ctx: Any) -> None:
    for base in twins:
        shutil.copytree(base / "src", base / "other", symlinks=True)
    await check(twins, "rmtree", ("src/link_dir",), ctx)  # a symlink: OSError, nothing removed
    await check(twins, "rmtree", ("missing",), ctx)
    await check(twins, "rmtree", ("missing",), ctx, ignore_errors=True)
    await check(twins, "rmtree", ("src/f1.txt",), ctx)  # not a directory
    await check(twins, "rmtree", ("src",), ctx)
    assert os.path.isdir(twins[0] / "other" / "a")  # link_dir was not followed


@pytest.mark.parametrize("limit", [1, 3])
async def test_rmtree_many_directories_small_limit(tmp_path: Path, ctx: Any, limit: int) -> None:
    """Removals of several directories queued in turn behind a small ``limit``: all done, each reported once."""
    root = tmp_path / "t"
    expected = {str(root)}
    for d in range(4):
        sub = root / f"d{d}" / "deeper"
        sub.mkdir(parents=True)
        expected |= {str(root / f"d{d}"), str(sub)}
        for f in range(7):
            for where in (sub, sub.parent):
                (where / f"f{f}").write_bytes(b"x")
                expected.add(str(where / f"f{f}"))
    seen: list[Any] = []
    await ash.rmtree(str(root), limit=limit, progress=lambda p, n: seen.append(p), context=ctx)
    assert not root.exists()
    assert sorted(seen) == sorted(expected)


async def test_copy2_modes_match_whatever_the_umask_gave(tmp_path: Path, ctx: Any) -> None:
    """copystat's chmod is skipped only when dst already has src's mode: every mode ends up equal."""
    for mode in (0o600, 0o644, 0o666, 0o755, 0o400, 0o4755):
        src = tmp_path / f"m{mode:o}"
        src.write_bytes(b"data")
        os.chmod(src, mode)
        dst = await ash.copy2(str(src), str(tmp_path / f"c{mode:o}"), context=ctx)
        assert stat.S_IMODE(os.stat(dst).st_mode) == mode
        assert os.stat(dst).st_mtime_ns == os.stat(src).st_mtime_ns


async def test_rmtree_onerror_and_onexc(tmp_path: Path, ctx: Any) -> None:
    calls: list[Any] = []
    await ash.rmtree(tmp_path / "missing", onerror=lambda f, p, e: calls.append((f, p, e[0])), context=ctx)
    assert calls == [(os.lstat, tmp_path / "missing", FileNotFoundError)]
    std: list[Any] = []
    shutil.rmtree(tmp_path / "missing", onerror=lambda f, p, e: std.append((f, p, e[0])))
    assert calls == std
    got: list[Any] = []
    await ash.rmtree(tmp_path / "missing", onexc=lambda f, p, e: got.append((f, type(e))), context=ctx)
    assert got == [(os.lstat, FileNotFoundError)]


async def test_rmtree_dir_fd(tmp_path: Path, ctx: Any) -> None:
    make_tree(tmp_path / "t")
    dfd = os.open(tmp_path, os.O_RDONLY)
    try:
        await ash.rmtree("t", dir_fd=dfd, context=ctx)
    finally:
        os.close(dfd)
    assert os.listdir(tmp_path) == []


async def test_move(twins: tuple[Path, Path], ctx: Any) -> None:
    await check(twins, "move", ("src/f1.txt", "moved.txt"), ctx)
    await check(twins, "move", ("src/f2.txt", "src/empty"), ctx)
    await check(twins, "move", ("src/f3.txt", "src/empty"), ctx)
    await check(twins, "move", ("src/empty", "src/empty/inside"), ctx)  # into itself
    await check(twins, "move", ("src", "tree"), ctx)
    await check(twins, "move", ("missing", "x"), ctx)


async def test_move_across_devices(tmp_path: Path, ctx: Any) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system (/dev/shm) here")
    make_tree(tmp_path / "src")
    expected = snapshot(tmp_path / "src")
    target = shm / f"aiofile-test-{os.getpid()}-{id(ctx)}"
    try:
        assert await ash.move(tmp_path / "src", target, context=ctx) == target
        assert snapshot(target) == expected
        assert not os.path.exists(tmp_path / "src")
        src = tmp_path / "file"
        src.write_bytes(b"data")
        os.utime(src, ns=(5, 6))
        await ash.move(src, target / "moved", context=ctx)
        assert (target / "moved").read_bytes() == b"data" and os.stat(target / "moved").st_mtime_ns == 6
    finally:
        shutil.rmtree(target, ignore_errors=True)


async def test_disk_usage(tmp_path: Path, ctx: Any) -> None:
    ours = await ash.disk_usage(tmp_path, context=ctx)
    theirs = shutil.disk_usage(tmp_path)
    assert ours.total == theirs.total and ours._fields == theirs._fields
    with pytest.raises(FileNotFoundError):
        await ash.disk_usage(tmp_path / "missing", context=ctx)


@pytest.mark.asyncio_only  # asyncio's own API
async def test_cancelled_copytree_leaves_no_partial_file(tmp_path: Path, ctx: Any) -> None:
    src = tmp_path / "src"
    src.mkdir()
    payloads = {f"f{i}": os.urandom(256 << 10) for i in range(30)}
    for name, data in payloads.items():
        (src / name).write_bytes(data)
    started = asyncio.Event()
    task = asyncio.ensure_future(
        ash.copytree(src, tmp_path / "dst", limit=4, progress=lambda p, n: started.set(), context=ctx)
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for name in os.listdir(tmp_path / "dst"):
        assert (tmp_path / "dst" / name).read_bytes() == payloads[name], name  # whole files only


@pytest.mark.asyncio_only  # asyncio's own API
async def test_cancelled_rmtree_leaves_a_consistent_tree(tmp_path: Path, ctx: Any) -> None:
    root = tmp_path / "t"
    for d in range(10):
        (root / f"d{d}").mkdir(parents=True)
        for f in range(30):
            (root / f"d{d}" / f"f{f}").write_bytes(b"x")
    started = asyncio.Event()
    task = asyncio.ensure_future(ash.rmtree(root, limit=2, progress=lambda p, n: started.set(), context=ctx))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    left = sum(len(fs) for _, _, fs in os.walk(root))
    assert left < 300
    await ash.rmtree(root, context=ctx)  # what is left is still removable
    assert not os.path.exists(root)


async def test_rmtree_of_a_file_reports_like_shutil(tmp_path: Path, ctx: Any) -> None:
    (tmp_path / "f").write_bytes(b"")
    ours: list[Any] = []
    theirs: list[Any] = []
    await ash.rmtree(tmp_path / "f", onerror=lambda f, p, e: ours.append((f, p, e[0], e[1].errno)), context=ctx)
    shutil.rmtree(tmp_path / "f", onerror=lambda f, p, e: theirs.append((f, p, e[0], e[1].errno)))
    assert ours == theirs
    assert ours[0][0] is os.scandir and ours[0][3] == errno.ENOTDIR


def times(base: Path) -> dict[str, tuple[int, int, int]]:
    """Mode, atime and mtime (ns) of every regular file under ``base``."""
    found = {}
    for dirpath, _, filenames in os.walk(base):
        for n in filenames:
            st = os.lstat(os.path.join(dirpath, n))
            if stat.S_ISREG(st.st_mode):
                found[os.path.relpath(os.path.join(dirpath, n), base)] = (st.st_mode, st.st_atime_ns, st.st_mtime_ns)
    return found


@pytest.mark.parametrize("copy_function", ["copy2", "copy", "copyfile"])
async def test_copytree_metadata_equals_shutil(tmp_path: Path, ctx: Any, copy_function: str) -> None:
    """Each regular file is one copyfileat job: modes and both times as shutil.copytree leaves them
    (atime older than mtime: reading the source moves its atime, so which stat is copied shows)."""
    for base in ("ours", "theirs"):
        root = tmp_path / base / "src"
        (root / "d").mkdir(parents=True)
        for i, mode in enumerate((0o600, 0o640, 0o755, 0o444)):
            for where in (root, root / "d"):
                (where / f"f{i}").write_bytes(bytes(range(256)) * (4 * i))
                os.chmod(where / f"f{i}", mode)
                os.utime(where / f"f{i}", ns=(1_000_000_000 + i, 2_000_000_000 + i))
    sources = [times(tmp_path / base / "src") for base in ("ours", "theirs")]
    assert sources[0] == sources[1]
    await ash.copytree(
        tmp_path / "ours" / "src", tmp_path / "ours" / "dst", copy_function=getattr(ash, copy_function), context=ctx
    )
    shutil.copytree(
        tmp_path / "theirs" / "src", tmp_path / "theirs" / "dst", copy_function=getattr(shutil, copy_function)
    )
    ours, theirs = times(tmp_path / "ours" / "dst"), times(tmp_path / "theirs" / "dst")
    if copy_function != "copy2":  # times are "now": only the modes can be compared
        ours = {k: v[0] for k, v in ours.items()}
        theirs = {k: v[0] for k, v in theirs.items()}
    assert ours == theirs
    assert snapshot(tmp_path / "ours") == snapshot(tmp_path / "theirs")


async def test_copytree_into_special_and_same_files_reports_like_shutil(twins: tuple[Path, Path], ctx: Any) -> None:
    """dirs_exist_ok over a tree whose files are a FIFO, a hard link to the source and a directory:
    the copy job declines them (nothing touched) and the slow path reports what shutil reports."""
    for base in twins:
        dst = base / "dst"
        dst.mkdir()
        os.mkfifo(dst / "f0.txt")
        os.link(base / "src" / "f1.txt", dst / "f1.txt")
        (dst / "f2.txt").mkdir()
    ours, theirs = twins
    with pytest.raises(shutil.Error) as got:
        await ash.copytree(str(ours / "src"), str(ours / "dst"), dirs_exist_ok=True, context=ctx)
    with pytest.raises(shutil.Error) as expected:
        shutil.copytree(str(theirs / "src"), str(theirs / "dst"), dirs_exist_ok=True)
    # The same errors; their order is each directory's listing order, which differs between
    # twins. shutil's own quirk is kept: a SameFileError's message is added as characters.

    def errors(items: list[Any], old: str = "", new: str = "") -> tuple[str, list[Any]]:
        chars = "".join(x for x in items if isinstance(x, str))
        return chars.replace(old, new), sorted(swap([x for x in items if not isinstance(x, str)], old, new))

    assert errors(got.value.args[0]) == errors(expected.value.args[0], str(theirs), str(ours))
    assert snapshot(ours) == snapshot(theirs)


async def test_copytree_progress_reports_each_file_with_its_size(tmp_path: Path, ctx: Any) -> None:
    make_tree(tmp_path / "src")
    seen: dict[str, int] = {}
    await ash.copytree(
        tmp_path / "src", tmp_path / "dst", progress=lambda p, n: seen.__setitem__(p, seen.get(p, 0) + n), context=ctx
    )
    expected = {}
    for dirpath, _, filenames in os.walk(tmp_path / "src"):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p):
                expected[p.replace(str(tmp_path / "src"), str(tmp_path / "dst"))] = os.path.getsize(p)
    assert {p: n for p, n in seen.items() if p in expected} == expected


async def test_big_copyfile_goes_as_parallel_ranges_with_progress(
    tmp_path: Path, ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From two RANGE_CHUNKs up, copyfile copies ranges at explicit offsets several at once: every
    byte lands, progress adds up to the size in steps of at most a chunk, and a source that grew
    meanwhile is not cut (the rest follows in order)."""
    monkeypatch.setattr(ash, "RANGE_CHUNK", 64 << 10)
    src = tmp_path / "src"
    data = os.urandom((1 << 20) + 123)
    src.write_bytes(data)
    steps: list[int] = []
    await ash.copyfile(src, tmp_path / "dst", progress=lambda p, n: steps.append(n), context=ctx)
    assert (tmp_path / "dst").read_bytes() == data
    assert sum(steps) == len(data) and max(steps) <= 64 << 10 and len(steps) >= 17
    size = len(data)
    real_stat = ash._stat_or_none

    async def stale_stat(path: Any, context: Any) -> Any:
        st = await real_stat(path, context)
        if st is not None and os.fspath(path) == str(src):
            with open(src, "ab") as f:  # grows after copyfile looked at its size
                f.write(b"tail")
        return st

    monkeypatch.setattr(ash, "_stat_or_none", stale_stat)
    steps.clear()
    await ash.copyfile(src, tmp_path / "dst2", progress=lambda p, n: steps.append(n), context=ctx)
    assert (tmp_path / "dst2").read_bytes() == data + b"tail"
    assert sum(steps) == size + 4


_COPYFILE_FAILS_SCRIPT = """
from aiofile import AIOFile, shutil as ash

async def main():
    ctx = module.AsyncioContext()
    for dst in (new, old):
        try:
            await ash.copyfile(src, dst, context=ctx)
        except OSError as exc:
            print(dst == new and "new" or "old", errno.errorcode[exc.errno])
    ash.RANGE_CHUNK = 1 << 19  # copyfile's parallel ranges (from two chunks up)
    try:
        await ash.copyfile(src, new + "2", context=ctx)
    except OSError as exc:
        print("ranges", errno.errorcode[exc.errno])
    with open(other, "wb") as f:
        f.write(b"o" * 10)
    try:
        async with AIOFile(src, "rb", context=ctx) as afp:
            await afp.copy_to(other, chunk_size=1 << 19)  # ranges in parallel, blocks reserved first
    except OSError as exc:
        print("copy_to", errno.errorcode[exc.errno])
    ctx.close()

asyncio.run(main())
kept = os.stat(old)  # no blocks reserved for the copy stay past its end
other_kept = os.stat(other)
print(os.path.exists(new), os.path.exists(new + "2"), os.path.samefile(old, link),
      kept.st_blocks * 512 <= (1 << 20) + (64 << 10))
print(other_kept.st_size <= 1 << 20, other_kept.st_blocks * 512 <= (1 << 20) + (64 << 10))
"""


def test_failed_copyfile_removes_only_a_dst_it_created(backend: Any, tmp_path: Path) -> None:
    """EFBIG mid-copy (RLIMIT_FSIZE, in a child): a new dst is removed, an existing one stays (same
    inode, other links intact), as shutil.copyfile leaves it."""
    lines = backend.run_copy_failure_script(_COPYFILE_FAILS_SCRIPT, tmp_path)
    assert lines == ["new EFBIG", "old EFBIG", "ranges EFBIG", "copy_to EFBIG", "False False True True", "True True"]
