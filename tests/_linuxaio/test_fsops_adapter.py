"""The engine's file-system operations, through every backend's ``AsyncioContext``.

Each coroutine is held against the ``os`` call it stands for on the same
files: values, ``errno``, ``filename``/``filename2`` and the state on disk.
Operation-level tests (the backend's own constructors) skip on a compiled
backend built without them; the adapter-level tests run everywhere (a backend
without an op runs it on the companion ``python_aio`` pool, see ``fsops``).
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

import _linuxaio
from _linuxaio.fsops import parse_dirents

from .test_conformance import run_raw

AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000

TABLE = (
    "openat",
    "close_fd",
    "statx",
    "renameat",
    "unlinkat",
    "mkdirat",
    "linkat",
    "symlinkat",
    "fallocate",
    "ftruncate",
    "fadvise",
    "copy_file_range",
    "getdents",
)


def needs_fs_ops(backend: Any) -> None:
    if not hasattr(backend.Operation, "openat"):
        pytest.skip("file-system operations not built into this backend yet")


def stat_fields(st: os.stat_result) -> tuple[Any, ...]:
    return (*tuple(st), st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns, st.st_blocks, st.st_blksize, st.st_rdev)


def test_at_fdcwd_exported() -> None:
    assert _linuxaio.AT_FDCWD == -100
    assert _linuxaio.STATX_BASIC_STATS == 0x7FF


def test_which_path_each_call_takes(backend: Any) -> None:
    """Per backend: each table op runs on the backend's own engine or on the companion pool."""
    ctx = backend.AsyncioContext()
    paths = {name: ctx.fs_path_of(name) for name in TABLE}
    own = {name for name in TABLE if hasattr(backend.Operation, name)}
    assert {n for n, p in paths.items() if p == "backend"} == own
    if backend.name == "python":
        assert own == set(TABLE)
    ctx.close()


# -- Operation constructors of the backend itself ------------------------------------------


def test_operation_statx_raw_context(backend: Any, tmp_path: Path) -> None:
    needs_fs_ops(backend)
    (tmp_path / "f").write_bytes(b"abc")
    with backend.Context() as ctx:
        op = backend.Operation.statx(str(tmp_path / "f"))
        assert run_raw(ctx, op) == [0]
        assert stat_fields(op.get_value()) == stat_fields(os.stat(tmp_path / "f"))


@pytest.mark.parametrize("bad", [None, 3, 1.5, object()])
def test_operation_bad_path_is_type_error(backend: Any, bad: Any) -> None:
    needs_fs_ops(backend)
    with pytest.raises(TypeError):
        backend.Operation.statx(bad)
    with pytest.raises(TypeError):
        backend.Operation.openat(bad, os.O_RDONLY)


def test_operation_bad_ints(backend: Any) -> None:
    needs_fs_ops(backend)
    with pytest.raises(TypeError):
        backend.Operation.openat("x", "r")
    with pytest.raises(TypeError):
        backend.Operation.close_fd("3")
    with pytest.raises(ValueError):
        backend.Operation.ftruncate(0, -1)


# -- the adapter's coroutines, against os on the same files ---------------------------------


async def test_openat_read_close(actx: Any, tmp_path: Path, fd_watch: Any) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"hello")
    fd = fd_watch.remember(await actx.openat(p, os.O_RDONLY))
    try:
        assert os.get_inheritable(fd) is False  # O_CLOEXEC added
        assert os.pread(fd, 5, 0) == b"hello"
    finally:
        await actx.close_fd(fd)
    assert fd_watch.closed(fd)


async def test_openat_create_mode_and_dir_fd(actx: Any, tmp_path: Path) -> None:
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = await actx.openat("new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640, dfd)
        await actx.close_fd(fd)
    finally:
        os.close(dfd)
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o640 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


async def test_openat_missing_is_file_not_found_with_filename(actx: Any, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as ours:
        await actx.openat(missing, os.O_RDONLY)
    with pytest.raises(FileNotFoundError) as theirs:
        os.open(missing, os.O_RDONLY)
    assert (ours.value.errno, ours.value.filename, ours.value.strerror) == (
        theirs.value.errno,
        theirs.value.filename,
        theirs.value.strerror,
    )


async def test_openat_exists_and_is_a_directory(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(FileExistsError):
        await actx.openat(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with pytest.raises(IsADirectoryError):
        await actx.openat(tmp_path, os.O_WRONLY)


async def test_close_fd_bad_fd(actx: Any) -> None:
    # Not a closed pipe's number: the companion pool's eventfd may take it.
    with pytest.raises(OSError) as info:
        await actx.close_fd(999_999)
    assert info.value.errno == errno.EBADF


async def test_statx_equals_os_stat(actx: Any, tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x" * 5000)
    os.symlink(p, tmp_path / "link")
    for target in (p, tmp_path, tmp_path / "link", "/dev/null"):
        assert stat_fields(await actx.statx(target)) == stat_fields(os.stat(target))
    ours = await actx.statx(tmp_path / "link", AT_SYMLINK_NOFOLLOW)
    assert stat_fields(ours) == stat_fields(os.lstat(tmp_path / "link"))
    assert isinstance(ours, os.stat_result)


async def test_statx_empty_path_stats_dir_fd(actx: Any, tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    fd = os.open(p, os.O_RDONLY)
    try:
        assert stat_fields(await actx.statx(b"", AT_EMPTY_PATH, dir_fd=fd)) == stat_fields(os.fstat(fd))
    finally:
        os.close(fd)


async def test_statx_errors_as_os(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    for bad in (tmp_path / "missing", str(tmp_path / "f" / "under"), os.fsencode(tmp_path / "missing")):
        with pytest.raises(OSError) as ours:
            await actx.statx(bad)
        with pytest.raises(OSError) as theirs:
            os.stat(bad)
        assert type(ours.value) is type(theirs.value)
        assert (ours.value.errno, ours.value.filename) == (theirs.value.errno, theirs.value.filename)


async def test_renameat_and_errors(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"A")
    await actx.renameat(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"A" and not (tmp_path / "a").exists()
    with pytest.raises(FileNotFoundError) as ours:
        await actx.renameat(str(tmp_path / "a"), str(tmp_path / "c"))
    assert (ours.value.filename, ours.value.filename2) == (str(tmp_path / "a"), str(tmp_path / "c"))
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError) as into_itself:
        await actx.renameat(tmp_path / "d", tmp_path / "d" / "e")
    assert into_itself.value.errno == errno.EINVAL


async def test_renameat_noreplace(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"A")
    (tmp_path / "b").write_bytes(b"B")
    with pytest.raises(FileExistsError):
        await actx.renameat(tmp_path / "a", tmp_path / "b", 1)
    assert (tmp_path / "b").read_bytes() == b"B"


async def test_unlinkat_mkdirat(actx: Any, tmp_path: Path) -> None:
    await actx.mkdirat(tmp_path / "d", 0o750)
    assert stat.S_IMODE(os.stat(tmp_path / "d").st_mode) == 0o750 & ~_umask()
    with pytest.raises(FileExistsError):
        await actx.mkdirat(tmp_path / "d")
    (tmp_path / "d" / "f").write_bytes(b"")
    with pytest.raises(OSError) as not_empty:
        await actx.unlinkat(tmp_path / "d", AT_REMOVEDIR)
    assert not_empty.value.errno == errno.ENOTEMPTY
    with pytest.raises(IsADirectoryError):
        await actx.unlinkat(tmp_path / "d")
    await actx.unlinkat(tmp_path / "d" / "f")
    await actx.unlinkat(tmp_path / "d", AT_REMOVEDIR)
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError) as info:
        await actx.unlinkat(tmp_path / "d")
    assert info.value.filename == str(tmp_path / "d")


async def test_linkat_symlinkat(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    await actx.symlinkat("f", tmp_path / "s")
    assert os.readlink(tmp_path / "s") == "f"
    await actx.linkat(tmp_path / "f", tmp_path / "h")
    assert os.stat(tmp_path / "h").st_ino == os.stat(tmp_path / "f").st_ino
    await actx.linkat(tmp_path / "s", tmp_path / "hs")  # no AT_SYMLINK_FOLLOW: links the symlink
    assert os.path.islink(tmp_path / "hs")
    await actx.linkat(tmp_path / "s", tmp_path / "hf", AT_SYMLINK_FOLLOW)
    assert os.stat(tmp_path / "hf").st_ino == os.stat(tmp_path / "f").st_ino
    with pytest.raises(FileExistsError) as info:
        await actx.symlinkat("f", tmp_path / "s")
    assert info.value.filename == "f"


async def test_fallocate_ftruncate_fadvise(actx: Any, tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"")
    fd = os.open(p, os.O_RDWR)
    try:
        await actx.fallocate(fd, 0, 0, 1 << 20)
        assert os.fstat(fd).st_size == 1 << 20
        await actx.ftruncate(fd, 10)
        assert os.fstat(fd).st_size == 10
        await actx.fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    finally:
        os.close(fd)
    ro = os.open(p, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as info:
            await actx.ftruncate(ro, 0)  # root cannot write through an O_RDONLY fd either
        assert info.value.errno == errno.EINVAL
        with pytest.raises(OSError) as alloc:
            await actx.fallocate(ro, 0, 0, 10)
        assert alloc.value.errno == errno.EBADF
    finally:
        os.close(ro)


async def test_copy_file_range(actx: Any, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    (tmp_path / "src").write_bytes(data)
    src = os.open(tmp_path / "src", os.O_RDONLY)
    dst = os.open(tmp_path / "dst", os.O_WRONLY | os.O_CREAT)
    try:
        assert await actx.copy_file_range(src, 10, dst, 0, 1000) == 1000
        assert os.lseek(src, 0, os.SEEK_CUR) == 0  # explicit offsets leave the positions
        copied = await actx.copy_file_range(src, -1, dst, -1, 500)
        assert copied == 500
        assert os.lseek(src, 0, os.SEEK_CUR) == 500
        assert os.lseek(dst, 0, os.SEEK_CUR) == 500
    finally:
        os.close(src)
        os.close(dst)
    out = (tmp_path / "dst").read_bytes()
    assert out[:500] == data[:500] and out[500:1000] == data[510:1010]


async def test_getdents_lists_what_listdir_lists(actx: Any, tmp_path: Path) -> None:
    names = {f"n{i:04d}-{'x' * (i % 40)}" for i in range(300)}
    for name in names:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    seen: dict[bytes, tuple[int, int]] = {}
    try:
        while chunk := await actx.getdents(fd, 4096):
            for ino, dtype, name in parse_dirents(chunk):
                seen[name] = (ino, dtype)
    finally:
        os.close(fd)
    assert set(seen) == {os.fsencode(n) for n in names} | {b"sub", b".", b".."}
    assert seen[b"sub"] == (os.stat(tmp_path / "sub").st_ino, 4)  # DT_DIR
    some = next(iter(names))
    assert seen[os.fsencode(some)] == (os.stat(tmp_path / some).st_ino, 8)  # DT_REG


async def test_getdents_not_a_directory(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        with pytest.raises(NotADirectoryError):
            await actx.getdents(fd)
    finally:
        os.close(fd)


async def test_extra_ops_equal_os(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    os.symlink("f", tmp_path / "s")
    assert await actx.readlinkat(tmp_path / "s") == "f"
    assert await actx.readlinkat(os.fsencode(tmp_path / "s")) == b"f"
    assert await actx.faccessat(tmp_path / "f", os.R_OK) is True
    assert await actx.faccessat(tmp_path / "missing", os.F_OK) is False
    await actx.fchmodat(tmp_path / "f", 0o600)
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == 0o600
    await actx.utimensat(tmp_path / "f", (1_000_000_000, 2_000_000_000))
    st = os.stat(tmp_path / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_000, 2_000_000_000)
    assert (await actx.statvfs(tmp_path)).f_bsize == os.statvfs(tmp_path).f_bsize
    assert await actx.getcwd() == os.getcwd()
    with pytest.raises(OSError) as info:
        await actx.readlinkat(tmp_path / "f")
    assert (info.value.errno, info.value.filename) == (errno.EINVAL, str(tmp_path / "f"))


async def test_cancelled_openat_closes_its_fd(actx: Any, tmp_path: Path) -> None:
    """A FIFO's open blocks in the worker until a writer comes: cancel while it does."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    task = asyncio.ensure_future(actx.openat(fifo, os.O_RDONLY))
    await asyncio.sleep(0)  # the task submits the openat and waits
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    writer = os.open(fifo, os.O_WRONLY)  # unblocks the worker's open(2)
    try:
        # Wait for the outcome itself (no reader left: EPIPE), not for the fd count:
        # our open(2) returns once the reader opened, maybe before the worker's fd is
        # in the table, so a count of 1 could be seen before the orphan appears.
        deadline = time.monotonic() + 60  # a hang guard, generous for a loaded machine
        while True:
            try:
                os.write(writer, b"x")
            except BrokenPipeError:
                break
            assert time.monotonic() < deadline, "the cancelled openat's fd was never closed"
            await asyncio.sleep(0.005)
        assert _fds_on(fifo) == 1  # our writer only
    finally:
        os.close(writer)


def _fds_on(path: Path) -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                count += 1
        except OSError:
            pass
    return count


async def test_ops_after_close_raise_value_error(backend: Any, tmp_path: Path) -> None:
    ctx = backend.AsyncioContext()
    await ctx.statx(tmp_path)
    await ctx.aclose()
    with pytest.raises(ValueError):
        await ctx.statx(tmp_path)


async def test_adapters_of_one_loop_share_one_companion(backend: Any, tmp_path: Path) -> None:
    """Many adapters on one loop do not each leave a pool behind (one companion per loop at most)."""
    first = backend.AsyncioContext()
    await first.statx(tmp_path)
    await first.aclose()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        ctx = backend.AsyncioContext()
        assert stat_fields(await ctx.statx(tmp_path)) == stat_fields(os.stat(tmp_path))
        await ctx.aclose()
    assert len(os.listdir("/proc/self/fd")) <= before
