"""``os.path``'s questions that touch the file system, as coroutines (aiofiles' ``aiofiles.os.path``).

Each is one ``statx`` (two for ``ismount``, ``samefile`` and ``sameopenfile``) through the
running loop's default context or ``context=``; the answers, and the errors
that are not swallowed, are ``os.path``'s. Cancellation: harmless (read-only).
"""

from __future__ import annotations

import os as _os
import stat as _stat
from typing import Any

__all__ = [
    "abspath",
    "exists",
    "getatime",
    "getctime",
    "getmtime",
    "getsize",
    "isdir",
    "isfile",
    "islink",
    "ismount",
    "lexists",
    "samefile",
    "sameopenfile",
]


async def _stat_or_none(path: Any, follow_symlinks: bool, context: Any) -> _os.stat_result | None:
    """``stat`` (``lstat``) of ``path``, or ``None`` where ``os.path`` answers False (``TypeError`` passes)."""
    from . import lstat, stat

    try:
        if follow_symlinks:
            return await stat(path, context=context)
        return await lstat(path, context=context)
    except (OSError, ValueError):
        return None


async def exists(path: Any, *, context: Any = None) -> bool:
    """``os.path.exists``: False for a dangling symlink and for any error."""
    return await _stat_or_none(path, True, context) is not None


async def lexists(path: Any, *, context: Any = None) -> bool:
    """``os.path.lexists``: True for a symlink, dangling or not."""
    return await _stat_or_none(path, False, context) is not None


async def isfile(path: Any, *, context: Any = None) -> bool:
    """``os.path.isfile`` (follows symlinks)."""
    st = await _stat_or_none(path, True, context)
    return st is not None and _stat.S_ISREG(st.st_mode)


async def isdir(path: Any, *, context: Any = None) -> bool:
    """``os.path.isdir`` (follows symlinks)."""
    st = await _stat_or_none(path, True, context)
    return st is not None and _stat.S_ISDIR(st.st_mode)


async def islink(path: Any, *, context: Any = None) -> bool:
    """``os.path.islink``."""
    st = await _stat_or_none(path, False, context)
    return st is not None and _stat.S_ISLNK(st.st_mode)


async def ismount(path: Any, *, context: Any = None) -> bool:
    """``os.path.ismount``: a different device or the same inode as its parent."""
    st = await _stat_or_none(path, False, context)
    if st is None or _stat.S_ISLNK(st.st_mode):
        return False
    path = _os.fspath(path)
    parent = _os.path.join(path, b".." if isinstance(path, bytes) else "..")
    up = await _stat_or_none(parent, False, context)
    if up is None:
        return False
    return st.st_dev != up.st_dev or st.st_ino == up.st_ino


async def _required(path: Any, context: Any) -> _os.stat_result:
    from . import stat

    return await stat(path, context=context)


async def getsize(path: Any, *, context: Any = None) -> int:
    """``os.path.getsize``: raises ``OSError`` as ``os.path`` does."""
    return (await _required(path, context)).st_size


async def getmtime(path: Any, *, context: Any = None) -> float:
    """``os.path.getmtime``."""
    return (await _required(path, context)).st_mtime


async def getatime(path: Any, *, context: Any = None) -> float:
    """``os.path.getatime``."""
    return (await _required(path, context)).st_atime


async def getctime(path: Any, *, context: Any = None) -> float:
    """``os.path.getctime``."""
    return (await _required(path, context)).st_ctime


async def samefile(f1: Any, f2: Any, *, context: Any = None) -> bool:
    """``os.path.samefile``: raises ``OSError`` for a missing file, as ``os.path`` does."""
    return _os.path.samestat(await _required(f1, context), await _required(f2, context))


async def sameopenfile(fp1: int, fp2: int, *, context: Any = None) -> bool:
    """``os.path.sameopenfile``: are descriptors ``fp1`` and ``fp2`` open on the same file?

    Raises ``OSError`` as ``os.fstat`` does.
    """
    from . import fstat

    return _os.path.samestat(await fstat(fp1, context=context), await fstat(fp2, context=context))


async def abspath(path: Any, *, context: Any = None) -> Any:
    """``os.path.abspath``: the current directory comes from a ``getcwd`` operation."""
    path = _os.fspath(path)
    if _os.path.isabs(path):
        return _os.path.normpath(path)
    from . import context_of

    cwd = await context_of(context).getcwd(isinstance(path, bytes))
    return _os.path.normpath(_os.path.join(cwd, path))
