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
import select
import shutil
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
#: Beyond the table: no ring opcode exists for these.
EXTRA = ("readlinkat", "faccessat", "fchmodat", "utimensat", "statvfs", "sendfile", "getcwd")
#: Several calls in one pool job (bulk tree work).
BULK = ("unlinkat_many", "copyfileat", "listdirat")
#: The table's calls linux_uring submits as ring requests.
RING = set(TABLE) - {"copy_file_range", "getdents"}


def needs_fs_ops(backend: Any) -> None:
    if not hasattr(backend.Operation, "openat"):
        pytest.skip("file-system operations not built into this backend yet")


def stat_fields(st: os.stat_result) -> tuple[Any, ...]:
    return (*tuple(st), st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns, st.st_blocks, st.st_blksize, st.st_rdev)


def test_at_fdcwd_exported() -> None:
    assert _linuxaio.AT_FDCWD == -100
    assert _linuxaio.STATX_BASIC_STATS == 0x7FF


def test_which_path_each_call_takes(backend: Any) -> None:
    """Per backend, where each fs call runs: ring requests on linux_uring (the opcodes its kernel
    has), the backend's own pool for everything else; never the companion python_aio adapter."""
    ctx = backend.AsyncioContext()
    names = TABLE + EXTRA + BULK
    paths = {name: ctx.fs_path_of(name) for name in names}
    if backend.name == "uring":
        raw = ctx.context
        expected = {name: "ring" if name in RING and raw.supports(name) else "pool" for name in names}
    else:
        expected = dict.fromkeys(names, "pool")
    assert paths == expected
    ctx.close()


def test_extra_ops_run_on_the_pool(backend: Any, tmp_path: Path) -> None:
    """The calls beyond the table, as raw operations of each backend: values equal to os's, and on
    linux_uring none of them is a ring request (kernel_in_flight stays 0: the pool has them)."""
    (tmp_path / "f").write_bytes(b"abc")
    os.symlink("f", tmp_path / "s")
    (tmp_path / "g").write_bytes(b"abc")
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    src = os.open(tmp_path / "g", os.O_RDONLY)  # not f: reading it would move f's atime
    op_class = backend.Operation
    try:
        ops = [
            op_class.readlinkat(tmp_path / "s"),
            op_class.faccessat(tmp_path / "f", os.W_OK),
            op_class.faccessat(tmp_path / "missing", os.F_OK),
            op_class.fchmodat(tmp_path / "f", 0o640),
            op_class.utimensat(tmp_path / "f", (1_500_000_000_111_222_333, 1_600_000_000_444_555_666)),
            op_class.statvfs(tmp_path),
            op_class.statvfs(src),
            op_class.sendfile(out, src, 1, 10),
            op_class.getcwd(),
            op_class.getcwd(True),
        ]
        with backend.Context() as raw:
            results: dict[int, int] = {}
            for i, op in enumerate(ops):
                op.set_callback(lambda res, i=i: results.__setitem__(i, res))
            assert raw.submit(*ops) == len(ops)
            if backend.name == "uring":
                assert raw.kernel_in_flight == 0
            while len(results) < len(ops):
                select.select([raw.fileno()], [], [], 5.0)
                raw.process_events()
        values = [op.get_value() for op in ops]
    finally:
        os.close(out)
        os.close(src)
    st = os.stat(tmp_path / "f")
    assert values[:5] == ["f", True, False, None, None]
    assert values[7:] == [2, os.getcwd(), os.getcwdb()]
    for ours in values[5:7]:  # the free counts move on a shared disk: the others are fixed
        theirs = os.statvfs(tmp_path)
        for field in ("f_bsize", "f_frsize", "f_blocks", "f_files", "f_flag", "f_namemax", "f_fsid"):
            assert getattr(ours, field) == getattr(theirs, field), field
        assert ours.f_favail == ours.f_ffree  # as glibc's statvfs fills it
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_500_000_000_111_222_333, 1_600_000_000_444_555_666)
    assert (tmp_path / "out").read_bytes() == b"bc"
    assert results[2] == 0 and results[1] == 1  # faccessat's callback result: the bool as an int


def test_extra_ops_errors_equal_os(backend: Any, tmp_path: Path) -> None:
    """Each extra op's failure is the exception the os function raises (type, errno, filename)."""
    (tmp_path / "f").write_bytes(b"abc")
    os.symlink("f", tmp_path / "s")
    missing = str(tmp_path / "missing")
    op_class = backend.Operation
    cases = [
        (op_class.readlinkat(tmp_path / "f"), lambda: os.readlink(tmp_path / "f")),
        (op_class.readlinkat(missing), lambda: os.readlink(missing)),
        (op_class.fchmodat(missing, 0o600), lambda: os.chmod(missing, 0o600)),
        (op_class.fchmodat(b"", 0o600, AT_EMPTY_PATH, 999), lambda: os.chmod(999, 0o600)),
        (
            op_class.fchmodat(tmp_path / "s", 0o600, AT_SYMLINK_NOFOLLOW),
            lambda: os.chmod(tmp_path / "s", 0o600, follow_symlinks=False),
        ),
        (op_class.utimensat(missing, (1, 2)), lambda: os.utime(missing, ns=(1, 2))),
        (op_class.utimensat(b"", None, AT_EMPTY_PATH, 999), lambda: os.utime(999)),
        (op_class.statvfs(missing), lambda: os.statvfs(missing)),
        (op_class.statvfs(999), lambda: os.statvfs(999)),
        (op_class.sendfile(999, 998, 0, 1), lambda: os.sendfile(999, 998, 0, 1)),
    ]
    with backend.Context() as raw:
        run_raw(raw, *(op for op, _ in cases))
    for op, call in cases:
        with pytest.raises(Exception) as theirs:
            call()
        with pytest.raises(Exception) as ours:
            op.get_value()
        assert type(ours.value) is type(theirs.value)
        assert ours.value.args == theirs.value.args
        if isinstance(theirs.value, OSError):
            assert (ours.value.filename, ours.value.filename2) == (theirs.value.filename, theirs.value.filename2)


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


@pytest.mark.asyncio_only  # asyncio's own API (TrioContext: tests/_linuxaio/test_trio_context.py)
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


# -- several calls in one pool job (rmtree/copytree's bulk work), every backend -----------------


async def test_unlinkat_many_one_errno_per_name(actx: Any, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "d").mkdir()
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        codes = await actx._fs_future("unlinkat_many", ["a", b"b", "missing", "d", Path("c")], 0, dfd)
        assert codes == [0, 0, errno.ENOENT, errno.EISDIR, 0]
        assert await actx._fs_future("unlinkat_many", ["d", "d"], AT_REMOVEDIR, dfd) == [0, errno.ENOENT]
        assert await actx._fs_future("unlinkat_many", [], 0, dfd) == []
    finally:
        os.close(dfd)
    assert os.listdir(tmp_path) == []


def test_unlinkat_many_checks_arguments_first(backend: Any) -> None:
    with pytest.raises(TypeError):
        backend.Operation.unlinkat_many(["a", 3])
    with pytest.raises(ValueError):
        backend.Operation.unlinkat_many(["a", "b\0"])
    with pytest.raises(TypeError):
        backend.Operation.unlinkat_many(["a"], "0")


async def test_copyfileat_copies_like_shutil(actx: Any, tmp_path: Path) -> None:
    """Data, then copymode (flag 1) and copystat's times (flag 2) as shutil.copy2 leaves them."""
    src = tmp_path / "src"
    src.write_bytes(os.urandom(200_000))
    os.chmod(src, 0o640)
    os.utime(src, ns=(1_000_000_005, 3_000_000_007))
    assert await actx._fs_future("copyfileat", src, tmp_path / "ours", 3) == 200_000
    shutil.copy2(src, tmp_path / "theirs")  # copystat stats src after the copy, as flag 4 unset does
    ours, theirs = os.stat(tmp_path / "ours"), os.stat(tmp_path / "theirs")
    assert (tmp_path / "ours").read_bytes() == src.read_bytes()
    assert (ours.st_mode, ours.st_mtime_ns, ours.st_atime_ns) == (
        theirs.st_mode,
        theirs.st_mtime_ns,
        theirs.st_atime_ns,
    )
    # Flag 4: the times src had before this copy read it (shutil.copytree's copy2 of a DirEntry).
    os.utime(src, ns=(1_000_000_005, 3_000_000_007))
    assert await actx._fs_future("copyfileat", src, tmp_path / "first", 7) == 200_000
    assert os.stat(tmp_path / "first").st_atime_ns == 1_000_000_005
    # No flags: data only, into an existing longer file (truncated), mode of a new file.
    (tmp_path / "old").write_bytes(b"z" * 300_000)
    assert await actx._fs_future("copyfileat", src, tmp_path / "old", 0) == 200_000
    assert (tmp_path / "old").read_bytes() == src.read_bytes()
    (tmp_path / "empty").write_bytes(b"")
    assert await actx._fs_future("copyfileat", tmp_path / "empty", tmp_path / "e2", 0) == 0
    assert (tmp_path / "e2").read_bytes() == b""


async def test_copyfileat_reads_proc_files(actx: Any, tmp_path: Path) -> None:
    """A file that reports size 0 but has data (procfs) is read to its end."""
    copied = await actx._fs_future("copyfileat", "/proc/self/mounts", tmp_path / "m", 0)
    assert copied > 0 and copied == len((tmp_path / "m").read_bytes())


async def test_copyfileat_declines_what_it_does_not_copy(actx: Any, tmp_path: Path) -> None:
    """None, and nothing changed on disk, where the stdlib would fail or do something else."""
    (tmp_path / "f").write_bytes(b"data")
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "fifo")
    os.link(tmp_path / "f", tmp_path / "hard")
    os.symlink("f", tmp_path / "soft")
    before = sorted(os.listdir(tmp_path))
    cases = [
        ("missing", "x"),  # no source
        ("d", "x"),  # a directory
        ("fifo", "x"),  # a FIFO: never opened for blocking I/O
        ("f", "d"),  # target is a directory
        ("f", "fifo"),  # target is a FIFO
        ("f", "hard"),  # the same file (a hard link)
        ("f", "soft"),  # the same file (through a symlink)
        ("f", "f"),
        ("f", "nodir/x"),
    ]
    for src, dst in cases:
        assert await actx._fs_future("copyfileat", tmp_path / src, tmp_path / dst, 3) is None, (src, dst)
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "f").read_bytes() == b"data"


async def test_copyfileat_relative_to_dir_fds(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"hello")
    sfd = os.open(tmp_path / "a", os.O_RDONLY | os.O_DIRECTORY)
    dfd = os.open(tmp_path / "b", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert await actx._fs_future("copyfileat", "f", "g", 0, sfd, dfd) == 5
    finally:
        os.close(sfd)
        os.close(dfd)
    assert (tmp_path / "b" / "g").read_bytes() == b"hello"


def _names(data: bytes) -> list[bytes]:
    return [name for _, _, name in parse_dirents(data) if name not in (b".", b"..")]


async def test_listdirat_reads_a_directory_in_one_job(actx: Any, tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"f{i}").write_bytes(b"")
    fd, data, at_end = await actx.listdirat(tmp_path)
    assert (fd, at_end) == (-1, True)  # read whole: the job closed it
    assert sorted(_names(data)) == sorted(os.fsencode(n) for n in os.listdir(tmp_path))
    fd, data, at_end = await actx.listdirat(str(tmp_path), keep_open=True)
    try:
        assert at_end and fd >= 0 and os.path.samestat(os.fstat(fd), os.stat(tmp_path))
        assert await actx.getdents(fd) == b""
    finally:
        await actx.close_fd(fd)


async def test_listdirat_leaves_a_long_directory_open_to_continue(actx: Any, tmp_path: Path) -> None:
    names = {f"a-rather-long-file-name-{i:04d}" for i in range(300)}  # > 4096 bytes of records
    for name in names:
        (tmp_path / name).write_bytes(b"")
    dfd = os.open(tmp_path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd, data, at_end = await actx.listdirat(tmp_path.name, 0, dfd, 4096)
    finally:
        os.close(dfd)
    assert not at_end and fd >= 0 and 0 < len(data) <= 4096
    got = _names(data)
    try:
        while chunk := await actx.getdents(fd):
            got += _names(chunk)
    finally:
        await actx.close_fd(fd)
    assert sorted(got) == sorted(os.fsencode(n) for n in names)


async def test_listdirat_errors_equal_os(actx: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    os.symlink(".", tmp_path / "link")
    for path, flags, expected in (
        (tmp_path / "missing", 0, errno.ENOENT),
        (tmp_path / "f", 0, errno.ENOTDIR),
        (tmp_path / "link", os.O_NOFOLLOW, errno.ENOTDIR),  # O_DIRECTORY|O_NOFOLLOW on a symlink
    ):
        with pytest.raises(OSError) as info:
            await actx.listdirat(path, flags)
        assert (info.value.errno, info.value.filename) == (expected, str(path))
    with pytest.raises(ValueError):
        await actx.listdirat(tmp_path, nbytes=100)


async def test_faccessat_with_and_without_flags_equals_os_access(actx: Any, tmp_path: Path) -> None:
    """No flags: faccessat(2); AT_EACCESS / AT_SYMLINK_NOFOLLOW: faccessat2(2). Answers as os.access."""
    (tmp_path / "f").write_bytes(b"")
    os.symlink("missing", tmp_path / "dangling")
    for path, mode, flags in (
        (tmp_path / "f", os.R_OK | os.W_OK, 0),
        (tmp_path / "f", os.X_OK | os.R_OK, 0),
        (tmp_path / "f", os.R_OK, 0x200),
        (tmp_path / "dangling", os.F_OK, 0),
        (tmp_path / "dangling", os.F_OK, AT_SYMLINK_NOFOLLOW),
    ):
        expected = os.access(path, mode, effective_ids=bool(flags & 0x200), follow_symlinks=not flags & 0x100)
        assert await actx.faccessat(path, mode, flags) is expected, (path, mode, flags)


_COPY_FAILS_SCRIPT = """
os.chmod(old, 0o600)

async def main():
    ctx = module.AsyncioContext()
    for dst in (new, old):
        try:
            await ctx._fs_future("copyfileat", src, dst, 0)
        except OSError as exc:
            print(dst == new and "new" or "old", errno.errorcode[exc.errno], exc.filename == src, exc.filename2 == dst)
    ctx.close()

asyncio.run(main())
kept = os.stat(old)
small = kept.st_size <= 1 << 20 and kept.st_blocks * 512 <= (1 << 20) + (64 << 10)  # nothing reserved stays
print(os.path.exists(new), os.path.samefile(old, link), oct(kept.st_mode & 0o777), small)
"""


def test_copyfileat_failing_removes_only_a_dst_it_created(backend: Any, tmp_path: Path) -> None:
    """EFBIG mid-copy (RLIMIT_FSIZE, in a child): a new dst is removed; an existing one is kept as
    shutil keeps it (truncated or partly written: same inode, its other links and mode)."""
    needs_fs_ops(backend)
    lines = backend.run_copy_failure_script(_COPY_FAILS_SCRIPT, tmp_path)
    assert lines == ["new EFBIG True True", "old EFBIG True True", "False True 0o600 True"]
