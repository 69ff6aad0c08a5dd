"""aiofile 3.x's public API: every name of its modules, with its behaviour.

``create_context``/``DEFAULT_CONTEXT_STORE``, clones starting at 0, ``open()``
after ``close()``, duck-typed ``context=`` objects, the package metadata names.
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest

import _linuxaio
import aiofile
import aiofile.aio
import aiofile.utils
import aiofile.version
from aiofile import AIOFile, async_open, clone
from aiofile.aio import DEFAULT_CONTEXT_STORE, create_context, get_default_context

# The public names of aiofile 3.12.3's modules (read from its sdist).
AIOFILE3_NAMES = {
    aiofile: [
        "AIOFile",
        "BinaryFileWrapper",
        "FileIOCloner",
        "FileIOWrapperBase",
        "LineReader",
        "Reader",
        "TextFileWrapper",
        "Writer",
        "__author__",
        "__version__",
        "async_open",
        "author_info",
        "clone",
        "package_info",
        "package_license",
        "project_home",
        "team_email",
        "version_info",
    ],
    aiofile.aio: [
        "AIOFile",
        "AIO_FILE_CLOSED",
        "AIO_FILE_NOT_OPENED",
        "ContextStoreType",
        "DEFAULT_CONTEXT_STORE",
        "FileIOType",
        "FileMode",
        "create_context",
        "get_default_context",
        "parse_mode",
    ],
    aiofile.utils: [
        "AIOFile",
        "BinaryFileWrapper",
        "ENCODING_MAP",
        "FileIOCloner",
        "FileIOType",
        "FileIOWrapperBase",
        "LineReader",
        "Reader",
        "TextFileWrapper",
        "Writer",
        "async_open",
        "clone",
        "unicode_reader",
    ],
    aiofile.version: [
        "__author__",
        "__version__",
        "author_info",
        "package_info",
        "package_license",
        "package_metadata",
        "project_home",
        "team_email",
        "version_info",
    ],
}


@pytest.mark.parametrize("module", list(AIOFILE3_NAMES), ids=lambda m: m.__name__)
def test_every_public_name_of_aiofile3(module: Any) -> None:
    missing = [name for name in AIOFILE3_NAMES[module] if not hasattr(module, name)]
    assert missing == []
    exported = getattr(module, "__all__", None)
    if exported is not None:
        assert set(AIOFILE3_NAMES[module]) - {"package_metadata"} <= set(exported)


def test_package_metadata_names() -> None:
    assert aiofile.__version__ == _linuxaio.__version__
    assert aiofile.version_info == tuple(int(p) for p in aiofile.__version__.split("."))
    assert aiofile.author_info == [(aiofile.__author__, aiofile.team_email)]
    assert isinstance(aiofile.__author__, str) and aiofile.__author__
    assert aiofile.package_license == "Apache-2.0"
    assert isinstance(aiofile.package_info, str) and aiofile.package_info
    assert aiofile.project_home is None or aiofile.project_home.startswith("http")
    assert aiofile.aio.AIO_FILE_NOT_OPENED == -1 and aiofile.aio.AIO_FILE_CLOSED == -2


# -- the default context store -------------------------------------------------------


def test_create_context_is_the_loops_default_and_closes_with_it() -> None:
    loop = asyncio.new_event_loop()
    try:

        async def main() -> Any:
            context = create_context(64)
            assert context.max_requests == 64
            assert DEFAULT_CONTEXT_STORE[id(loop)] is context
            assert get_default_context() is context
            assert id(loop) in DEFAULT_CONTEXT_STORE and len(DEFAULT_CONTEXT_STORE) >= 1
            assert DEFAULT_CONTEXT_STORE.get(id(loop)) is context
            return context

        context = loop.run_until_complete(main())
    finally:
        loop.close()
    assert context.closed
    assert id(loop) not in DEFAULT_CONTEXT_STORE
    with pytest.raises(KeyError):
        DEFAULT_CONTEXT_STORE[id(loop)]


def test_create_context_binds_to_the_current_loop_outside_a_coroutine(monkeypatch: Any) -> None:
    # aiofile 3.x's own check: a context of any kind is closed once with its loop.
    loop = asyncio.new_event_loop()
    context = Mock()
    monkeypatch.setattr(asyncio, "get_event_loop", lambda: loop)
    monkeypatch.setattr(_linuxaio, "AsyncioContext", Mock(return_value=context))
    assert create_context() is context
    assert DEFAULT_CONTEXT_STORE[id(loop)] is context
    loop.close()
    context.close.assert_called_once_with()
    assert id(loop) not in DEFAULT_CONTEXT_STORE


async def test_default_context_used_by_files_and_store_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    async with AIOFile(path, "rb") as afp:
        assert await afp.read() == b"abc"
    loop = asyncio.get_running_loop()
    assert DEFAULT_CONTEXT_STORE[id(loop)] is get_default_context()
    with pytest.raises(TypeError):
        DEFAULT_CONTEXT_STORE[id(loop)] = None  # type: ignore[index]


# -- clone and reopening ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["r", "rb"])
async def test_clone_starts_at_zero(tmp_path: Path, ctx: Any, mode: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"1000\n1001\n1002\n")
    async with async_open(path, mode, context=ctx) as afp:
        first = await afp.read(5)
        async with clone(afp) as cloned:
            assert cloned.tell() == 0
            assert await cloned.read(5) == first
            assert await cloned.read(5) == await afp.read(5)
            assert type(cloned) is type(afp)
            assert cloned.fileno() == afp.fileno()
        assert not afp.closed
        assert await afp.read() == ("1002\n" if mode == "r" else b"1002\n")


async def test_clone_in_append_mode_starts_at_the_end(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    async with async_open(path, "ab+", context=ctx) as afp:
        await afp.write(b"de")
        await afp.flush()
        async with clone(afp) as cloned:
            assert cloned.tell() == 5
    assert path.read_bytes() == b"abcde"


async def test_open_after_close_is_invalid_state(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    afp = AIOFile(path, "r", context=ctx)
    assert isinstance(await afp.open(), int)
    assert await afp.open() is None
    await afp.close()
    with pytest.raises(asyncio.InvalidStateError) as info:
        await afp.open()
    assert isinstance(info.value, ValueError)  # any use of a closed file is a ValueError too


# -- duck-typed contexts ----------------------------------------------------------------


class _CoroutineMock(Mock):
    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **kwargs)


async def test_duck_typed_context_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "f"
    context = Mock(_linuxaio.AbstractContext)  # aiofile 3.x's tests: only some methods set
    context.write = _CoroutineMock(side_effect=[3, 4])
    async with AIOFile(path, "w", context=context) as afp:
        assert await afp.write("aiofile", offset=2) == 7
        fd = afp.fileno()
    assert [c.args for c in context.write.call_args_list] == [(b"aiofile", fd, 2), (b"file", fd, 5)]


async def test_duck_typed_context_reporting_minus_errno_is_oserror(tmp_path: Path) -> None:
    path = tmp_path / "f"
    context = Mock(_linuxaio.AbstractContext)
    context.write = _CoroutineMock(return_value=-28)
    async with AIOFile(path, "w", context=context) as afp:
        with pytest.raises(OSError) as info:
            await afp.write("x")
    assert info.value.errno == 28 and info.value.filename == str(path)


@pytest.mark.parametrize("bad", [object(), 5, "context", b"x"])
def test_context_without_the_methods_is_a_clear_type_error(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(TypeError, match=r"^context must be an AsyncioContext, a Context or an object with"):
        AIOFile(tmp_path / "f", "w", context=bad)
    with pytest.raises(TypeError, match=r"not " + re.escape(type(bad).__name__) + "$"):
        async_open(tmp_path / "f", "w", context=bad)


async def test_raw_context_of_every_backend_is_accepted(tmp_path: Path, backend: Any) -> None:
    path = tmp_path / "f"
    raw = backend.Context()
    try:
        async with AIOFile(path, "w+b", context=raw) as afp:
            await afp.write(b"raw")
            assert await afp.read() == b"raw"
    finally:
        raw.close()


# -- errors decided before submission -------------------------------------------------


@pytest.mark.parametrize("payload", ["text", 5, None, 1.5, [1, 2], {"a": 1}])
async def test_binary_write_of_a_non_buffer_is_type_error(tmp_path: Path, ctx: Any, payload: Any) -> None:
    path = tmp_path / "f"
    async with AIOFile(path, "wb", context=ctx) as afp:
        with pytest.raises(TypeError, match=f"^a bytes-like object is required, not '{type(payload).__name__}'$"):
            await afp.write(payload)
        with pytest.raises(TypeError, match=f"^a bytes-like object is required, not '{type(payload).__name__}'$"):
            await afp.write_bytes(payload)
    assert path.read_bytes() == b""


async def test_write_on_a_read_only_file_is_unsupported_operation(tmp_path: Path, ctx: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"keep")
    with open(path, "rb") as builtin, pytest.raises(io.UnsupportedOperation):
        builtin.write(b"x")
    for mode in ("r", "rb"):
        async with AIOFile(path, mode, context=ctx) as afp:
            with pytest.raises(io.UnsupportedOperation, match=r"^not writable$"):
                await afp.write("x" if mode == "r" else b"x")
            with pytest.raises(io.UnsupportedOperation, match=r"^not writable$"):
                await afp.write_bytes(b"x")
    assert path.read_bytes() == b"keep"
