"""Conformance of the engine's file-system operations (HELPERS.md table) at the Context/Operation level.

Every constructor on every backend that has them: values equal to what the
``os`` function gives, errors equal to what it raises (type, errno,
``filename``/``filename2`` as the caller gave them), argument errors before
anything is submitted, completion through the context's eventfd.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
RENAME_NOREPLACE = 1

FS_CONSTRUCTORS = (
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


@pytest.fixture
def ops(backend: Any) -> Any:
    """The backend's Operation class; skips a backend that has no file-system operations."""
    missing = [name for name in FS_CONSTRUCTORS if not hasattr(backend.Operation, name)]
    if missing:
        what = "file-system operations" if len(missing) == len(FS_CONSTRUCTORS) else ", ".join(missing)
        pytest.skip(f"the {backend} backend's Operation does not have {what} in this build")
    return backend.Operation


@pytest.fixture
def ctx(backend: Any) -> Iterator[Any]:
    with backend.Context() as context:
        yield context


def _fileno(ctx: Any) -> int:
    fileno = ctx.fileno
    return fileno if isinstance(fileno, int) else fileno()  # caio 0.12: an int attribute


def run(ctx: Any, op: Any) -> Any:
    """Submit ``op``, wait on the context's eventfd until its callback ran, return ``get_value()``."""
    results: list[int] = []
    op.set_callback(results.append)
    assert ctx.submit(op) == 1
    while not results:
        select.select([_fileno(ctx)], [], [], 5.0)
        ctx.process_events()
    return op.get_value()


def run_error(ctx: Any, op: Any) -> OSError:
    with pytest.raises(OSError) as info:
        run(ctx, op)
    return info.value


def _stat_fields(st: os.stat_result) -> dict[str, Any]:
    fields = {name: getattr(st, name) for name in dir(st) if name.startswith("st_")}
    fields["sequence"] = tuple(st)
    return fields


# -- openat / close_fd ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["str", "bytes", "path"])
def test_openat_creates_and_returns_a_cloexec_fd(ctx: Any, ops: Any, tmp_path: Path, kind: str) -> None:
    target = tmp_path / "new.bin"
    arg: Any = {"str": str(target), "bytes": os.fsencode(target), "path": target}[kind]
    fd = run(ctx, ops.openat(arg, os.O_CREAT | os.O_RDWR, 0o640))
    try:
        assert isinstance(fd, int)
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        os.write(fd, b"abc")
        assert target.read_bytes() == b"abc"
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o640 & ~_umask()
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("kind", ["str", "bytes", "path"])
def test_openat_missing_file_raises_like_os_open(ctx: Any, ops: Any, tmp_path: Path, kind: str) -> None:
    target = tmp_path / "missing"
    arg: Any = {"str": str(target), "bytes": os.fsencode(target), "path": target}[kind]
    with pytest.raises(FileNotFoundError) as expected:
        os.open(arg, os.O_RDONLY)
    err = run_error(ctx, ops.openat(arg, os.O_RDONLY))
    assert type(err) is FileNotFoundError
    assert (err.errno, err.strerror, err.filename, err.filename2) == (
        expected.value.errno,
        expected.value.strerror,
        expected.value.filename,
        expected.value.filename2,
    )


def test_openat_relative_to_dir_fd(ctx: Any, ops: Any, tmp_path: Path) -> None:
    (tmp_path / "inside").write_bytes(b"xyz")
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = run(ctx, ops.openat("inside", os.O_RDONLY, dir_fd=dfd))
        assert os.read(fd, 10) == b"xyz"
        os.close(fd)
    finally:
        os.close(dfd)


def test_openat_value_stays_available_when_nobody_awaited_it(ctx: Any, ops: Any, tmp_path: Path, fd_watch: Any) -> None:
    """What the fs mixin needs to close the fd of an openat whose awaiting task was cancelled."""
    op = ops.openat(str(tmp_path / "orphan"), os.O_CREAT | os.O_WRONLY)
    run(ctx, op)
    fd = fd_watch.remember(op.get_value())
    assert op.get_value() == fd  # readable again by whoever cleans up
    os.fstat(fd)
    run(ctx, ops.close_fd(fd))
    assert fd_watch.closed(fd)


def test_close_fd_of_a_closed_fd_raises_ebadf_without_filename(ctx: Any, ops: Any) -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    err = run_error(ctx, ops.close_fd(r))
    assert err.errno == errno.EBADF
    assert err.filename is None


# -- statx ---------------------------------------------------------------------------------


def test_statx_equals_os_stat_field_for_field(ctx: Any, ops: Any, tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"x" * 12345)
    os.utime(target, ns=(1_600_000_000_123_456_789, 1_700_000_000_987_654_321))
    st = run(ctx, ops.statx(str(target)))
    assert isinstance(st, os.stat_result)
    assert _stat_fields(st) == _stat_fields(os.stat(target))
    assert st.st_mtime_ns == 1_700_000_000_987_654_321


def test_statx_of_a_directory_and_a_device(ctx: Any, ops: Any, tmp_path: Path) -> None:
    for path in (str(tmp_path), "/dev/null"):
        assert _stat_fields(run(ctx, ops.statx(path))) == _stat_fields(os.stat(path))


def test_statx_symlink_nofollow_equals_lstat(ctx: Any, ops: Any, tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"t")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target")
    assert _stat_fields(run(ctx, ops.statx(str(link), AT_SYMLINK_NOFOLLOW))) == _stat_fields(os.lstat(link))
    assert _stat_fields(run(ctx, ops.statx(str(link)))) == _stat_fields(os.stat(link))


def test_statx_empty_path_stats_dir_fd(ctx: Any, ops: Any, tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"abc")
    fd = os.open(target, os.O_RDONLY)
    try:
        assert _stat_fields(run(ctx, ops.statx(b"", AT_EMPTY_PATH, dir_fd=fd))) == _stat_fields(os.fstat(fd))
    finally:
        os.close(fd)


def test_statx_missing_raises_like_os_stat(ctx: Any, ops: Any, tmp_path: Path) -> None:
    target = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as expected:
        os.stat(target)
    err = run_error(ctx, ops.statx(target))
    assert type(err) is FileNotFoundError
    assert (err.errno, err.filename) == (expected.value.errno, expected.value.filename)
    assert str(err) == str(expected.value)


# -- renameat / unlinkat / mkdirat / linkat / symlinkat ------------------------------------


def test_renameat_moves_and_reports_both_names(ctx: Any, ops: Any, tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"data")
    assert run(ctx, ops.renameat(str(src), str(dst))) is None
    assert not src.exists() and dst.read_bytes() == b"data"
    with pytest.raises(FileNotFoundError) as expected:
        os.rename(src, dst)
    err = run_error(ctx, ops.renameat(src, dst))
    assert type(err) is FileNotFoundError
    assert (err.filename, err.filename2) == (expected.value.filename, expected.value.filename2)
    assert str(err) == str(expected.value)


def test_renameat_noreplace_refuses_an_existing_target(ctx: Any, ops: Any, tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"1")
    dst.write_bytes(b"2")
    err = run_error(ctx, ops.renameat(str(src), str(dst), RENAME_NOREPLACE))
    assert type(err) is FileExistsError
    assert src.read_bytes() == b"1" and dst.read_bytes() == b"2"


def test_renameat_between_dir_fds(ctx: Any, ops: Any, tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "f").write_bytes(b"moved")
    d1 = os.open(tmp_path / "one", os.O_RDONLY | os.O_DIRECTORY)
    d2 = os.open(tmp_path / "two", os.O_RDONLY | os.O_DIRECTORY)
    try:
        run(ctx, ops.renameat("f", "g", 0, d1, d2))
    finally:
        os.close(d1)
        os.close(d2)
    assert (tmp_path / "two" / "g").read_bytes() == b"moved"


def test_unlinkat_file_and_directory(ctx: Any, ops: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    (tmp_path / "d").mkdir()
    assert run(ctx, ops.unlinkat(str(tmp_path / "f"))) is None
    assert run(ctx, ops.unlinkat(str(tmp_path / "d"), AT_REMOVEDIR)) is None
    assert os.listdir(tmp_path) == []
    err = run_error(ctx, ops.unlinkat(str(tmp_path / "f")))
    assert type(err) is FileNotFoundError and err.filename == str(tmp_path / "f")


def test_unlinkat_of_a_directory_without_removedir(ctx: Any, ops: Any, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError) as expected:
        os.unlink(tmp_path / "d")
    err = run_error(ctx, ops.unlinkat(str(tmp_path / "d")))
    assert type(err) is type(expected.value) and err.errno == expected.value.errno


def test_mkdirat_creates_with_mode_and_refuses_an_existing_one(ctx: Any, ops: Any, tmp_path: Path) -> None:
    target = tmp_path / "d"
    assert run(ctx, ops.mkdirat(str(target), 0o750)) is None
    assert target.is_dir()
    assert stat.S_IMODE(target.stat().st_mode) == 0o750 & ~_umask()
    err = run_error(ctx, ops.mkdirat(str(target)))
    assert type(err) is FileExistsError and err.filename == str(target)


def test_linkat_makes_a_hard_link(ctx: Any, ops: Any, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"same")
    assert run(ctx, ops.linkat(str(tmp_path / "a"), str(tmp_path / "b"))) is None
    assert os.stat(tmp_path / "a").st_nlink == 2
    assert os.stat(tmp_path / "a").st_ino == os.stat(tmp_path / "b").st_ino
    with pytest.raises(FileExistsError) as expected:
        os.link(tmp_path / "a", tmp_path / "b")
    err = run_error(ctx, ops.linkat(tmp_path / "a", tmp_path / "b"))
    assert type(err) is FileExistsError
    assert (err.filename, err.filename2) == (expected.value.filename, expected.value.filename2)


def test_linkat_follow_links_through_a_symlink(ctx: Any, ops: Any, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "s").symlink_to(tmp_path / "a")
    run(ctx, ops.linkat(str(tmp_path / "s"), str(tmp_path / "h"), AT_SYMLINK_FOLLOW))
    assert os.stat(tmp_path / "h").st_ino == os.stat(tmp_path / "a").st_ino
    assert not os.path.islink(tmp_path / "h")


def test_symlinkat_points_at_the_target(ctx: Any, ops: Any, tmp_path: Path) -> None:
    assert run(ctx, ops.symlinkat("somewhere/else", str(tmp_path / "l"))) is None
    assert os.readlink(tmp_path / "l") == "somewhere/else"
    with pytest.raises(FileExistsError) as expected:
        os.symlink("x", tmp_path / "l")
    err = run_error(ctx, ops.symlinkat("x", tmp_path / "l"))
    assert type(err) is FileExistsError
    assert (err.filename, err.filename2) == (expected.value.filename, expected.value.filename2)


# -- fd operations -------------------------------------------------------------------------


def test_fallocate_ftruncate_fadvise(ctx: Any, ops: Any, tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR)
    try:
        assert run(ctx, ops.fallocate(fd, 0, 0, 65536)) is None
        assert os.fstat(fd).st_size == 65536
        assert run(ctx, ops.ftruncate(fd, 100)) is None
        assert os.fstat(fd).st_size == 100
        assert run(ctx, ops.fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)) is None
        err = run_error(ctx, ops.fadvise(fd, 0, 0, 12345))
        assert err.errno == errno.EINVAL
    finally:
        os.close(fd)
    err = run_error(ctx, ops.ftruncate(fd, 0))
    assert err.errno == errno.EBADF and err.filename is None


def test_copy_file_range_at_offsets_leaves_positions(ctx: Any, ops: Any, tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    (tmp_path / "src").write_bytes(data)
    fd_in = os.open(tmp_path / "src", os.O_RDONLY)
    fd_out = os.open(tmp_path / "dst", os.O_CREAT | os.O_RDWR)
    try:
        assert run(ctx, ops.copy_file_range(fd_in, 100, fd_out, 10, 1000)) == 1000
        assert os.lseek(fd_in, 0, os.SEEK_CUR) == 0 and os.lseek(fd_out, 0, os.SEEK_CUR) == 0
        assert os.pread(fd_out, 2000, 0) == bytes(10) + data[100:1100]
        assert run(ctx, ops.copy_file_range(fd_in, len(data), fd_out, 0, 10)) == 0  # at EOF
    finally:
        os.close(fd_in)
        os.close(fd_out)


def test_copy_file_range_minus_one_uses_and_advances_the_positions(ctx: Any, ops: Any, tmp_path: Path) -> None:
    data = b"0123456789" * 10
    (tmp_path / "src").write_bytes(data)
    fd_in = os.open(tmp_path / "src", os.O_RDONLY)
    fd_out = os.open(tmp_path / "dst", os.O_CREAT | os.O_RDWR)
    try:
        os.lseek(fd_in, 5, os.SEEK_SET)
        assert run(ctx, ops.copy_file_range(fd_in, -1, fd_out, -1, 20)) == 20
        assert os.lseek(fd_in, 0, os.SEEK_CUR) == 25
        assert os.lseek(fd_out, 0, os.SEEK_CUR) == 20
        assert os.pread(fd_out, 100, 0) == data[5:25]
    finally:
        os.close(fd_in)
        os.close(fd_out)


def _dirents(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    pos = 0
    while pos < len(data):
        ino, _off, reclen, dtype = struct.unpack_from("=QqHB", data, pos)
        name = data[pos + 19 : pos + reclen].split(b"\0", 1)[0]
        yield ino, dtype, name
        pos += reclen


def test_getdents_lists_the_directory_then_ends(ctx: Any, ops: Any, tmp_path: Path) -> None:
    names = {f"f{i}".encode() for i in range(50)}
    for name in names:
        (tmp_path / name.decode()).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        seen: dict[bytes, tuple[int, int]] = {}
        while True:
            chunk = run(ctx, ops.getdents(dfd, 512))  # small: several calls
            assert isinstance(chunk, bytes)
            if not chunk:
                break
            seen.update({name: (ino, dtype) for ino, dtype, name in _dirents(chunk)})
        assert set(seen) == names | {b"sub", b".", b".."}
        assert seen[b"sub"] == (os.stat(tmp_path / "sub").st_ino, 4)  # DT_DIR
        assert seen[b"f7"] == (os.stat(tmp_path / "f7").st_ino, 8)  # DT_REG
    finally:
        os.close(dfd)
    err = run_error(ctx, ops.getdents(dfd))
    assert err.errno == errno.EBADF


def test_getdents_of_a_regular_file_raises_enotdir(ctx: Any, ops: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        assert run_error(ctx, ops.getdents(fd)).errno == errno.ENOTDIR
    finally:
        os.close(fd)


# -- argument checks (before anything is submitted) ----------------------------------------


@pytest.mark.parametrize(
    ("build", "exc"),
    [
        (lambda o: o.openat(3.5, os.O_RDONLY), TypeError),
        (lambda o: o.openat(None, os.O_RDONLY), TypeError),
        (lambda o: o.openat("a\0b", os.O_RDONLY), ValueError),
        (lambda o: o.openat("a", 1.5), TypeError),
        (lambda o: o.openat("a", os.O_RDONLY, "0o644"), TypeError),
        (lambda o: o.statx(b"a\0"), ValueError),
        (lambda o: o.statx("a", dir_fd="3"), TypeError),
        (lambda o: o.renameat("a", 7), TypeError),
        (lambda o: o.close_fd(-1), ValueError),
        (lambda o: o.close_fd("3"), TypeError),
        (lambda o: o.ftruncate(0, -1), ValueError),
        (lambda o: o.fallocate(0, 0, -1, 10), ValueError),
        (lambda o: o.fadvise(0, 0, -5, 0), ValueError),
        (lambda o: o.copy_file_range(0, -2, 1, 0, 10), ValueError),
        (lambda o: o.copy_file_range(0, 0, 1, 0, -1), ValueError),
        (lambda o: o.getdents(0, -1), ValueError),
        (lambda o: o.getdents(0, 1.0), TypeError),
    ],
)
def test_bad_arguments_raise_before_submission(ops: Any, build: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        build(ops)


def test_fs_ops_through_the_asyncio_adapter(backend: Any, ops: Any, tmp_path: Path) -> None:
    import asyncio

    async def main() -> None:
        async with backend.AsyncioContext(max_requests=4) as actx:
            fd = await actx.submit(ops.openat(str(tmp_path / "a"), os.O_CREAT | os.O_RDWR, 0o600))
            assert await actx.write(b"hello", fd, 0) == 5
            st = await actx.submit(ops.statx(str(tmp_path / "a")))
            assert st.st_size == 5
            results = await asyncio.gather(*(actx.submit(ops.statx(str(tmp_path / "a"))) for _ in range(20)))
            assert {r.st_ino for r in results} == {st.st_ino}
            await actx.submit(ops.close_fd(fd))
            await actx.submit(ops.renameat(str(tmp_path / "a"), str(tmp_path / "b")))
            with pytest.raises(FileNotFoundError):
                await actx.submit(ops.statx(str(tmp_path / "a")))

    asyncio.run(main())
    assert (tmp_path / "b").read_bytes() == b"hello"
