"""``aiofile.os`` and ``aiofile.os.path`` against ``os``/``os.path`` on the same trees, on every backend."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import warnings
from pathlib import Path
from typing import Any

import pytest

import aiofile
import aiofile as aiofiles
from aiofile import os as aos


def make_tree(root: Path) -> Path:
    """A small tree: files, nested dirs, a symlink to a dir, a dangling symlink, an empty dir."""
    (root / "d" / "e" / "f").mkdir(parents=True)
    (root / "d" / "one.txt").write_bytes(b"1")
    (root / "d" / "e" / "two.bin").write_bytes(b"22" * 1000)
    (root / "d" / "e" / "f" / "three").write_bytes(b"")
    (root / "empty").mkdir()
    (root / "top.txt").write_text("top")
    os.symlink("d", root / "to_d")
    os.symlink("missing", root / "dangling")
    os.symlink("top.txt", root / "to_file")
    return root


async def outcome(coro: Any) -> Any:
    try:
        return ("ok", await coro)
    except OSError as exc:
        return ("err", type(exc), exc.errno, exc.filename, exc.filename2)


def sync_outcome(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return ("ok", fn(*args, **kwargs))
    except OSError as exc:
        return ("err", type(exc), exc.errno, exc.filename, exc.filename2)


def test_aiofiles_names() -> None:
    assert aiofiles.os.stat is aos.stat
    assert aiofiles.os.path.exists is aos.path.exists
    import aiofile.os.path

    assert aiofile.os.path is aos.path
    for name in aos.__all__:
        assert getattr(aos, name).__doc__, name
    for name in aos.path.__all__:
        assert getattr(aos.path, name).__doc__, name


#: aiofiles 25.1's ``aiofiles.os.__all__`` and ``aiofiles.ospath.__all__``.
_AIOFILES_OS = (
    "access getcwd link listdir makedirs mkdir path readlink remove removedirs rename "
    "renames replace rmdir scandir sendfile stat statvfs symlink unlink wrap"
)
_AIOFILES_OSPATH = "abspath exists getatime getctime getmtime getsize isdir isfile islink ismount samefile sameopenfile"
AIOFILES_OS_NAMES = _AIOFILES_OS.split()
AIOFILES_OSPATH_NAMES = _AIOFILES_OSPATH.split()


def test_every_aiofiles_os_name_exists_here() -> None:
    assert set(AIOFILES_OS_NAMES) <= set(aos.__all__)
    assert set(AIOFILES_OSPATH_NAMES) <= set(aos.path.__all__)
    for name in AIOFILES_OS_NAMES:
        assert hasattr(aiofile.os, name), name


def test_aiofiles_names_have_not_grown() -> None:
    """When the installed aiofiles gains a name, the lists above (and this package) must follow."""
    # (this module's ``aiofiles`` is ``aiofile`` under aiofiles' name: import the peer's modules by name)
    peer_os = pytest.importorskip("aiofiles.os", reason="aiofiles (the peer) is not installed")
    peer_ospath = pytest.importorskip("aiofiles.ospath", reason="aiofiles (the peer) is not installed")
    assert set(peer_os.__all__) <= set(AIOFILES_OS_NAMES)
    assert set(peer_ospath.__all__) <= set(AIOFILES_OSPATH_NAMES)


async def test_wrap_runs_a_function_in_an_executor_as_aiofiles_does() -> None:
    import concurrent.futures
    import threading

    def where(a: int, *, b: int) -> tuple[int, str]:
        return a + b, threading.current_thread().name

    wrapped = aos.wrap(where)
    assert wrapped.__name__ == "where"
    total, thread = await wrapped(1, b=2)
    assert total == 3 and thread != threading.current_thread().name
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as pool:
        assert (await wrapped(2, b=3, executor=pool))[1].startswith("mine")

    def fails() -> None:
        raise FileNotFoundError(errno.ENOENT, "gone", "x")

    with pytest.raises(FileNotFoundError) as info:
        await aos.wrap(fails)()
    assert info.value.filename == "x"


def test_wrap_runs_under_trio_too() -> None:
    trio = pytest.importorskip("trio", reason="trio is not installed")
    import threading

    async def main() -> tuple[int, str]:
        return await aos.wrap(lambda a: (a * 2, threading.current_thread().name))(21)  # type: ignore[no-any-return]

    total, thread = trio.run(main)
    assert total == 42 and thread != threading.current_thread().name


async def test_a_descriptor_with_dir_fd_or_without_following_symlinks_is_refused_as_os_does(
    tmp_path: Path, ctx: Any
) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for ours, theirs, args in (
            (aos.stat, os.stat, (fd,)),
            (aos.utime, os.utime, (fd,)),
            (aos.chmod, os.chmod, (fd, 0o755)),  # os.chmod takes both with an fd
        ):
            for kwargs in ({"dir_fd": fd}, {"follow_symlinks": False}):
                try:
                    expected: Any = ("ok", theirs(*args, **kwargs) is None)
                except ValueError as exc:
                    expected = ("ValueError", str(exc))
                try:
                    got: Any = ("ok", await ours(*args, **kwargs, context=ctx) is None)
                except ValueError as exc:
                    got = ("ValueError", str(exc))
                assert got[0] == expected[0] and (got[0] == "ok" or got == expected), (ours, kwargs)
    finally:
        os.close(fd)


async def test_stat_and_fstat_of_a_bad_descriptor_fail_as_os_does(ctx: Any) -> None:
    for bad in (1_000_000, -100, -5):  # no such descriptor; AT_FDCWD's number; negative
        assert await outcome(aos.stat(bad, context=ctx)) == sync_outcome(os.stat, bad), bad
        assert await outcome(aos.fstat(bad, context=ctx)) == sync_outcome(os.fstat, bad), bad
        assert await outcome(aos.path.sameopenfile(bad, 0, context=ctx)) == sync_outcome(os.path.sameopenfile, bad, 0)
    with pytest.raises(TypeError):
        os.lstat(0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await aos.lstat(0, context=ctx)


async def test_odd_descriptors_fail_or_work_as_os_does(
    tmp_path: Path, ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative descriptors (-1 is CPython's "no descriptor", -100 the kernel's AT_FDCWD), bools, beyond a C int.

    Each call is compared with ``os``'s outcome at run time: the exception's
    type, errno and filename, or the result (``listdir(-1)`` lists the
    current directory in both; ``listdir`` of a file's descriptor names it). ``True``/``False`` are descriptors 1 and 0:
    here a file we own is put on them (the test's own stdin/stdout are not
    touched), and a directory for the listings.
    """
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").write_bytes(b"abc")
    (tmp_path / "sub").mkdir()
    saved = [os.dup(0), os.dup(1)]
    target = os.open(tmp_path / "a", os.O_RDWR)

    def fn_pairs() -> list[tuple[str, Any, Any]]:
        return [
            ("stat", os.stat, aos.stat),
            ("utime", lambda p: os.utime(p, ns=(1, 2)), lambda p, **k: aos.utime(p, ns=(1, 2), **k)),
            ("chmod", lambda p: os.chmod(p, 0o640), lambda p, **k: aos.chmod(p, 0o640, **k)),
            ("truncate", lambda p: os.truncate(p, 2), lambda p, **k: aos.truncate(p, 2, **k)),
            ("statvfs", os.statvfs, aos.statvfs),
            ("fstat", os.fstat, aos.fstat),
            ("getsize", os.path.getsize, aos.path.getsize),
            ("exists", os.path.exists, aos.path.exists),
            ("islink", os.path.islink, aos.path.islink),
            ("lexists", os.path.lexists, aos.path.lexists),
            ("ismount", os.path.ismount, aos.path.ismount),
            ("fsync", os.fsync, aos.fsync),
            ("truncate to -1", lambda p: os.truncate(p, -1), lambda p, **k: aos.truncate(p, -1, **k)),
            ("stat with dir_fd", lambda p: os.stat(p, dir_fd=3), lambda p, **k: aos.stat(p, dir_fd=3, **k)),
            ("listdir of a file", os.listdir, aos.listdir),
        ]

    def sync_any(fn: Any, arg: Any) -> Any:
        try:
            return ("ok", fn(arg))
        except (OSError, TypeError, ValueError, OverflowError) as exc:
            return ("err", type(exc), getattr(exc, "errno", None), getattr(exc, "filename", None))

    async def any_outcome(coro: Any) -> Any:
        try:
            return ("ok", await coro)
        except (OSError, TypeError, ValueError, OverflowError) as exc:
            return ("err", type(exc), getattr(exc, "errno", None), getattr(exc, "filename", None))

    def norm(value: Any) -> Any:
        if isinstance(value, os.stat_result):
            return ("stat", value.st_ino, value.st_size, value.st_mode)
        if isinstance(value, os.statvfs_result):
            return ("statvfs", value.f_bsize)
        return value

    try:
        os.dup2(target, 0)
        os.dup2(target, 1)
        for name, theirs, ours in fn_pairs():
            for arg in (-1, -2, -100, True, False, 2**31, -(2**31) - 1):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # 3.13: "bool is used as a file descriptor"
                    expected = sync_any(theirs, arg)
                    got = await any_outcome(ours(arg, context=ctx))
                assert (got[0], norm(got[1]), *got[2:]) == (expected[0], norm(expected[1]), *expected[2:]), (name, arg)
        dir_fd = os.open(tmp_path / "sub", os.O_RDONLY | os.O_DIRECTORY)
        os.dup2(dir_fd, 0)
        os.close(dir_fd)
        for arg in (-1, -2, -100, False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = sync_outcome(os.listdir, arg)
                got = await outcome(aos.listdir(arg, context=ctx))
                assert got == expected, ("listdir", arg)
                expected = sync_outcome(lambda p: sorted((e.name, e.path) for e in os.scandir(p)), arg)
                got = await outcome(_scandir_names(arg, ctx))
                assert got == expected, ("scandir", arg)
    finally:
        os.dup2(saved[0], 0)
        os.dup2(saved[1], 1)
        for fd in (*saved, target):
            os.close(fd)
    assert os.path.getsize(tmp_path / "a") == 2  # truncate(True/False) reached the file on fd 1/0


async def _scandir_names(path: Any, ctx: Any) -> list[tuple[str, str]]:
    return sorted([(e.name, e.path) async for e in aos.scandir(path, context=ctx)])


async def test_a_bool_descriptor_warns_when_os_warns(ctx: Any) -> None:
    """CPython 3.13 warns for a bool descriptor in path functions and ``fsync`` (not ``fstat``); earlier ones never."""
    for theirs, ours in ((os.stat, aos.stat), (os.fstat, aos.fstat), (os.fsync, aos.fsync)):
        with warnings.catch_warnings(record=True) as expected:
            warnings.simplefilter("always")
            with contextlib.suppress(OSError):  # fsync(0) of a pipe or terminal: EINVAL, after the warning
                theirs(False)
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            with contextlib.suppress(OSError):
                await ours(False, context=ctx)
        assert [(w.category, str(w.message)) for w in got] == [(w.category, str(w.message)) for w in expected], theirs


async def test_a_descriptor_beyond_a_c_int_raises_overflow_error_on_every_backend(ctx: Any) -> None:
    """os.fstat's OverflowError; the python backend's worker met it and its future never completed."""
    with pytest.raises(OverflowError):
        os.fstat(2**40)
    for call in (aos.fstat, aos.stat):
        with pytest.raises(OverflowError):
            await _aio_wait_for(call(2**40, context=ctx), 10)


async def _aio_wait_for(awaitable: Any, seconds: float) -> Any:
    """``awaitable`` with a time limit under asyncio or trio (a hang fails instead of stalling the suite)."""
    if aiofile._aio.running_trio():
        import trio

        with trio.fail_after(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


async def test_fstat_equals_os_fstat(tmp_path: Path, ctx: Any) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        ours, theirs = await aos.fstat(fd, context=ctx), os.fstat(fd)
    finally:
        os.close(fd)
    assert (ours.st_ino, ours.st_size, ours.st_mode, ours.st_mtime_ns) == (
        theirs.st_ino,
        theirs.st_size,
        theirs.st_mode,
        theirs.st_mtime_ns,
    )


async def test_stat_family_equals_os(tmp_path: Path, ctx: Any) -> None:
    root = make_tree(tmp_path)
    names = ["d", "d/one.txt", "to_d", "dangling", "to_file", "missing", "top.txt/under", "empty"]
    for name in names:
        p = str(root / name)
        for follow in (True, False):
            ours = await outcome(aos.stat(p, follow_symlinks=follow, context=ctx))
            theirs = sync_outcome(os.stat, p, follow_symlinks=follow)
            assert ours == theirs, (name, follow)
        assert await outcome(aos.lstat(p, context=ctx)) == sync_outcome(os.lstat, p)
    assert await outcome(aos.stat(root / "d", context=ctx)) == sync_outcome(os.stat, root / "d")
    assert await outcome(aos.stat(os.fsencode(root / "nope"), context=ctx)) == sync_outcome(
        os.stat, os.fsencode(root / "nope")
    )
    dfd = os.open(root / "d", os.O_RDONLY)
    try:
        assert await aos.stat("one.txt", dir_fd=dfd, context=ctx) == os.stat("one.txt", dir_fd=dfd)
        assert await aos.stat(dfd, context=ctx) == os.stat(dfd)
    finally:
        os.close(dfd)


async def test_path_predicates_equal_os_path(tmp_path: Path, ctx: Any) -> None:
    root = make_tree(tmp_path)
    names = ["d", "d/one.txt", "to_d", "dangling", "to_file", "missing", "top.txt/under", "empty", ".", "/", "/proc"]
    for name in names:
        p = name if name.startswith("/") else str(root / name)
        for fn in ("exists", "lexists", "isfile", "isdir", "islink", "ismount"):
            assert await getattr(aos.path, fn)(p, context=ctx) == getattr(os.path, fn)(p), (fn, name)
        for fn in ("getsize", "getmtime", "getatime", "getctime"):
            assert await outcome(getattr(aos.path, fn)(p, context=ctx)) == sync_outcome(getattr(os.path, fn), p), (
                fn,
                name,
            )
    assert await aos.path.samefile(root / "to_d", root / "d", context=ctx) is True
    assert await aos.path.samefile(root / "d", root / "empty", context=ctx) is False
    assert await outcome(aos.path.samefile(root / "missing", root / "d", context=ctx)) == sync_outcome(
        os.path.samefile, root / "missing", root / "d"
    )
    for p in ("x", "a/../b", "/abs/./p", b"rel", ""):
        assert await aos.path.abspath(p, context=ctx) == os.path.abspath(p)
    fd1 = os.open(root / "top.txt", os.O_RDONLY)
    fd2 = os.open(root / "to_file", os.O_RDONLY)
    fd3 = os.open(root / "d" / "one.txt", os.O_RDONLY)
    try:
        assert await aos.path.sameopenfile(fd1, fd2, context=ctx) is True
        assert await aos.path.sameopenfile(fd1, fd3, context=ctx) is False
    finally:
        for fd in (fd1, fd2, fd3):
            os.close(fd)
    unused = 1_000_000  # no such descriptor
    assert await outcome(aos.path.sameopenfile(unused, unused, context=ctx)) == sync_outcome(
        os.path.sameopenfile, unused, unused
    )


async def test_changes_and_their_errors(tmp_path: Path, ctx: Any) -> None:
    root = make_tree(tmp_path)
    # Each pair runs on twin trees: ours on a/, the stdlib's on b/.
    a, b = root / "a", root / "b"
    for base in (a, b):
        (base / "sub").mkdir(parents=True)
        (base / "file").write_bytes(b"x")
        (base / "sub" / "inner").write_bytes(b"y")
    cases: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
        ("mkdir", ("new",), {}),
        ("mkdir", ("new",), {}),  # exists now
        ("mkdir", ("missing/new",), {}),
        ("rmdir", ("sub",), {}),  # not empty
        ("rmdir", ("file",), {}),  # not a directory
        ("rmdir", ("new",), {}),
        ("remove", ("sub",), {}),  # a directory
        ("unlink", ("nothing",), {}),
        ("rename", ("file", "renamed"), {}),
        ("rename", ("file", "again"), {}),  # gone
        ("rename", ("sub", "sub/inside"), {}),  # a directory into itself: root cannot either
        ("replace", ("renamed", "sub/inner"), {}),
        ("link", ("sub/inner", "hard"), {}),
        ("link", ("sub/inner", "hard"), {}),
        ("symlink", ("sub", "sym"), {}),
        ("symlink", ("sub", "sym"), {}),
        ("readlink", ("sym",), {}),
        ("readlink", ("hard",), {}),
        ("chmod", ("hard", 0o640), {}),
        ("chmod", ("nothing", 0o640), {}),
        ("truncate", ("hard", 1), {}),
        ("truncate", ("nothing", 1), {}),
        ("truncate", ("sub", 1), {}),
        ("utime", ("hard", (1, 2)), {}),
        ("utime", ("hard",), {"ns": (1_500_000_000, 2_500_000_001)}),
        ("utime", ("hard", (1.25, 3.999999999)), {}),
        ("utime", ("nothing", (1, 2)), {}),
        ("access", ("hard", os.R_OK), {}),
        ("access", ("nothing", os.F_OK), {}),
        ("listdir", ("sub",), {}),
        ("listdir", ("hard",), {}),
        ("listdir", ("nothing",), {}),
        ("makedirs", ("x/y/z",), {}),
        ("makedirs", ("x/y/z",), {}),
        ("makedirs", ("x/y/z",), {"exist_ok": True}),
        ("makedirs", ("hard/y",), {"exist_ok": True}),
        ("removedirs", ("x/y/z",), {}),
        ("renames", ("sym", "p/q/sym2"), {}),
    ]
    for name, args, kwargs in cases:
        literal = 1 if name == "symlink" else 0  # a symlink's target is kept as written (relative)
        ours_args = args[:literal] + tuple(str(a / x) if isinstance(x, str) else x for x in args[literal:])
        std_args = args[:literal] + tuple(str(b / x) if isinstance(x, str) else x for x in args[literal:])
        ours = await outcome(getattr(aos, name)(*ours_args, context=ctx, **kwargs))
        theirs = sync_outcome(getattr(os, name), *std_args, **kwargs)
        theirs = tuple(v.replace(str(b), str(a)) if isinstance(v, str) else v for v in theirs)
        if name == "listdir" and ours[0] == "ok":
            ours, theirs = ("ok", sorted(ours[1])), ("ok", sorted(theirs[1]))
        assert ours == theirs, (name, args)
        assert _snapshot(a) == _snapshot(b), (name, args)


def _snapshot(base: Path) -> list[tuple[Any, ...]]:
    result = []
    for dirpath, dirnames, filenames in os.walk(base):
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            content = Path(p).read_bytes() if stat.S_ISREG(st.st_mode) else None
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            result.append(
                (
                    os.path.relpath(p, base),
                    stat.S_IFMT(st.st_mode),
                    stat.S_IMODE(st.st_mode) if not link else 0,
                    st.st_mtime_ns if st.st_mtime_ns < 10**12 else 0,
                    content,
                    link,
                )
            )
    return sorted(result)


def describe(e: Any) -> tuple[Any, ...]:
    """What a scandir entry answers without being asked to stat."""
    flags = (e.is_dir(), e.is_file(), e.is_symlink(), e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
    return (e.name, e.path, e.inode(), *flags)


async def test_listdir_and_scandir_equal_os(tmp_path: Path, ctx: Any) -> None:
    root = make_tree(tmp_path)
    for i in range(500):
        (root / "d" / f"many-{i}").write_bytes(b"")
    for p in (root, root / "d", os.fsencode(root), root / "empty"):
        assert await aos.listdir(p, context=ctx) == os.listdir(p)  # same getdents order
        ours = [describe(e) async for e in aos.scandir(p, context=ctx)]
        with os.scandir(p) as it:
            theirs = [describe(e) for e in it]
        assert ours == theirs
    entries = {e.name: e for e in await aos.scandir(root, context=ctx)}
    assert entries["to_file"].stat() == os.stat(root / "to_file")
    assert await entries["d"].astat(context=ctx) == os.stat(root / "d")
    assert os.fspath(entries["d"]) == str(root / "d")
    assert repr(entries["d"]) == "<DirEntry 'd'>"
    dfd = os.open(root, os.O_RDONLY)
    try:
        assert sorted(await aos.listdir(dfd, context=ctx)) == sorted(os.listdir(dfd))
    finally:
        os.close(dfd)
    with pytest.raises(FileNotFoundError) as info:
        async with aos.scandir(root / "nope", context=ctx) as it:
            async for _ in it:
                pass
    assert info.value.filename == str(root / "nope")


async def test_scandir_closes_its_fd_when_left_early(tmp_path: Path, ctx: Any) -> None:
    make_tree(tmp_path)
    before = len(os.listdir("/proc/self/fd"))
    async with aos.scandir(tmp_path, context=ctx) as it:
        async for _ in it:
            break
    await aos.stat(tmp_path, context=ctx)  # any companion pool is up by now
    async with aos.scandir(tmp_path, context=ctx) as it:
        async for _ in it:
            break
    assert len(os.listdir("/proc/self/fd")) <= before + 2  # eventfd of a companion pool at most


@pytest.mark.parametrize("topdown", [True, False])
@pytest.mark.parametrize("followlinks", [False, True])
async def test_walk_equals_os_walk(tmp_path: Path, ctx: Any, topdown: bool, followlinks: bool) -> None:
    root = make_tree(tmp_path)
    ours = [t async for t in aos.walk(root, topdown=topdown, followlinks=followlinks, context=ctx)]
    assert ours == list(os.walk(root, topdown=topdown, followlinks=followlinks))
    errors: list[OSError] = []
    assert [t async for t in aos.walk(root / "nope", onerror=errors.append, context=ctx)] == []
    assert errors[0].errno == errno.ENOENT


async def test_walk_prunes_in_place(tmp_path: Path, ctx: Any) -> None:
    root = make_tree(tmp_path)
    seen = []
    async for dirpath, dirnames, _ in aos.walk(root, context=ctx):
        seen.append(dirpath)
        dirnames[:] = [d for d in dirnames if d != "d"]
    assert str(root / "d") not in seen and str(root / "empty") in seen


async def test_misc_calls(tmp_path: Path, ctx: Any) -> None:
    assert await aos.getcwd(context=ctx) == os.getcwd()
    assert (await aos.statvfs(tmp_path, context=ctx)).f_blocks == os.statvfs(tmp_path).f_blocks
    p = tmp_path / "f"
    p.write_bytes(b"hello")
    with open(p, "rb+") as f:
        await aos.fsync(f, context=ctx)
        await aos.fsync(f.fileno(), context=ctx)
        await aos.truncate(f.fileno(), 2, context=ctx)
    assert p.read_bytes() == b"he"
    with open(p, "rb") as f:
        # root cannot truncate through an O_RDONLY fd either
        assert await outcome(aos.truncate(f.fileno(), 0, context=ctx)) == sync_outcome(os.truncate, f.fileno(), 0)
    src = os.open(p, os.O_RDONLY)
    r, w = os.pipe()
    try:
        assert await aos.sendfile(w, src, 0, 2, context=ctx) == 2
        assert os.read(r, 2) == b"he"
    finally:
        for fd in (src, r, w):
            os.close(fd)
    with pytest.raises(ValueError):
        await aos.utime(p, (1, 2), ns=(1, 2), context=ctx)


async def test_default_context_is_used(tmp_path: Path) -> None:
    assert await aos.path.isdir(tmp_path) is True
    assert aiofile.get_default_context().in_flight == 0


@pytest.mark.asyncio_only  # asyncio's own API
async def test_cancelled_listing_leaks_no_fd(tmp_path: Path, ctx: Any) -> None:
    make_tree(tmp_path)
    await aos.listdir(tmp_path, context=ctx)  # start any companion pool first
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(20):
        task = asyncio.ensure_future(aos.listdir(tmp_path, context=ctx))
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    await aos.listdir(tmp_path, context=ctx)
    deadline = asyncio.get_running_loop().time() + 10
    while sorted(os.listdir("/proc/self/fd")) != before:
        assert asyncio.get_running_loop().time() < deadline, "a directory fd leaked"
        await asyncio.sleep(0.005)


async def test_bytes_paths_and_defaults(tmp_path: Path, ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_tree(tmp_path)
    top = os.fsencode(root)
    assert [t async for t in aos.walk(top, context=ctx)] == list(os.walk(top))
    monkeypatch.chdir(root / "d")
    assert await aos.listdir(context=ctx) == os.listdir()
    assert [e.path async for e in aos.scandir(context=ctx)] == [e.path for e in os.scandir()]
    assert await aos.path.abspath("x", context=ctx) == os.path.abspath("x")


def test_ospath_alias() -> None:
    import aiofile.ospath

    assert aiofile.ospath.exists is aos.path.exists
    assert set(aiofile.ospath.__all__) == set(aos.path.__all__)
