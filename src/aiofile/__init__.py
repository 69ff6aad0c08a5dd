"""aiofile: asynchronous file objects for asyncio, trio and anyio over the ``_linuxaio`` engine.

* ``async_open(path, mode, ...)``: file objects that behave like ``open()``'s,
  with ``await`` (``BinaryFileWrapper``, ``TextFileWrapper``).
* ``AIOFile``: positional I/O (``read(size, offset)``, ``write(data, offset)``)
  on one fd, with no file pointer; ``Reader``, ``Writer``, ``LineReader``
  walk it sequentially.
* Every object runs on any ``_linuxaio`` backend; without ``context=`` the
  running loop's default context is used (created at first I/O, released
  when the loop closes); under trio (or anyio on trio), the run's default
  ``TrioContext`` (released when the run ends).
"""

from typing import Any

from . import os, shutil, tempfile
from ._aiofiles_open import AsyncBufferedFile, AsyncTextFile, open, std_stream, wrap
from ._binary import DEFAULT_BUFFER_SIZE, BinaryFileWrapper, FileIOWrapperBase
from ._defaults import get_default_context
from ._file import AIOFile, NotOpenedError
from ._mode import FileMode, parse_mode
from ._open import FileIOCloner, async_open, clone
from ._streams import LineReader, Reader, Writer
from ._text import TextFileWrapper
from .shutil import copyfile
from .version import (
    __author__,
    __version__,
    author_info,
    package_info,
    package_license,
    project_home,
    team_email,
    version_info,
)

__all__ = [
    "DEFAULT_BUFFER_SIZE",
    "AIOFile",
    "AsyncBufferedFile",
    "AsyncTextFile",
    "BinaryFileWrapper",
    "FileIOCloner",
    "FileIOWrapperBase",
    "FileMode",
    "LineReader",
    "NotOpenedError",
    "Reader",
    "TextFileWrapper",
    "Writer",
    "__author__",
    "__version__",
    "async_open",
    "author_info",
    "clone",
    "copyfile",
    "get_default_context",
    "open",
    "os",
    "package_info",
    "package_license",
    "parse_mode",
    "project_home",
    "shutil",
    "team_email",
    "tempfile",
    "version_info",
    "wrap",
]

_STREAMS: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    # aiofiles' std streams (stdin, stdout, stderr and their _bytes forms), made at first use.
    if name in ("stdin", "stdout", "stderr", "stdin_bytes", "stdout_bytes", "stderr_bytes"):
        stream = _STREAMS.get(name)
        if stream is None or stream.closed:
            stream = _STREAMS[name] = std_stream(name)
        return stream
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
