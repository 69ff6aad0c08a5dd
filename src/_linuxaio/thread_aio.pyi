"""Type stub for the compiled ``_linuxaio.thread_aio`` module (C thread-pool backend)."""

import asyncio
import os
from collections.abc import Callable, Iterable
from typing import Any, Final

from _linuxaio.abstract import Fileno

_StrOrBytesPath = str | bytes | os.PathLike[str] | os.PathLike[bytes]

__all__ = [
    "BACKEND",
    "DEFAULT_MAX_REQUESTS",
    "DEFAULT_POOL_SIZE",
    "INLINE_READ_MAX",
    "MAX_POOL_SIZE",
    "Context",
    "OpCode",
    "Operation",
    "probe",
]

BACKEND: Final[str]
DEFAULT_MAX_REQUESTS: Final[int]
DEFAULT_POOL_SIZE: Final[int]
MAX_POOL_SIZE: Final[int]
INLINE_READ_MAX: Final[int]

class OpCode(int):
    READ: Final[int]
    WRITE: Final[int]
    FSYNC: Final[int]
    FDSYNC: Final[int]
    READINTO: Final[int]
    READV: Final[int]
    WRITEV: Final[int]
    OPENAT: Final[int]
    CLOSE_FD: Final[int]
    STATX: Final[int]
    RENAMEAT: Final[int]
    UNLINKAT: Final[int]
    MKDIRAT: Final[int]
    LINKAT: Final[int]
    SYMLINKAT: Final[int]
    FALLOCATE: Final[int]
    FTRUNCATE: Final[int]
    FADVISE: Final[int]
    COPY_FILE_RANGE: Final[int]
    GETDENTS: Final[int]

def probe() -> None: ...

class Operation:
    @classmethod
    def read(cls, nbytes: int, fd: int, offset: int = 0, priority: int = 0) -> Operation: ...
    @classmethod
    def write(cls, payload: Any, fd: int, offset: int = 0, priority: int = 0) -> Operation: ...
    @classmethod
    def readinto(cls, buffer: Any, fd: int, offset: int = 0, priority: int = 0) -> Operation: ...
    @classmethod
    def readv(cls, buffers: Iterable[Any], fd: int, offset: int = 0, priority: int = 0) -> Operation: ...
    @classmethod
    def writev(cls, buffers: Iterable[Any], fd: int, offset: int = 0, priority: int = 0) -> Operation: ...
    @classmethod
    def fsync(cls, fd: int, priority: int = 0) -> Operation: ...
    @classmethod
    def fdsync(cls, fd: int, priority: int = 0) -> Operation: ...
    @classmethod
    def openat(cls, path: _StrOrBytesPath, flags: int, mode: int = 0o777, dir_fd: int = -100) -> Operation: ...
    @classmethod
    def close_fd(cls, fd: int) -> Operation: ...
    @classmethod
    def statx(cls, path: _StrOrBytesPath, flags: int = 0, mask: int = 0x7FF, dir_fd: int = -100) -> Operation: ...
    @classmethod
    def renameat(
        cls, old: _StrOrBytesPath, new: _StrOrBytesPath, flags: int = 0, old_dir_fd: int = -100, new_dir_fd: int = -100
    ) -> Operation: ...
    @classmethod
    def unlinkat(cls, path: _StrOrBytesPath, flags: int = 0, dir_fd: int = -100) -> Operation: ...
    @classmethod
    def mkdirat(cls, path: _StrOrBytesPath, mode: int = 0o777, dir_fd: int = -100) -> Operation: ...
    @classmethod
    def linkat(
        cls, src: _StrOrBytesPath, dst: _StrOrBytesPath, flags: int = 0, src_dir_fd: int = -100, dst_dir_fd: int = -100
    ) -> Operation: ...
    @classmethod
    def symlinkat(cls, target: _StrOrBytesPath, linkpath: _StrOrBytesPath, dir_fd: int = -100) -> Operation: ...
    @classmethod
    def fallocate(cls, fd: int, mode: int, offset: int, length: int) -> Operation: ...
    @classmethod
    def ftruncate(cls, fd: int, length: int) -> Operation: ...
    @classmethod
    def fadvise(cls, fd: int, offset: int, length: int, advice: int) -> Operation: ...
    @classmethod
    def copy_file_range(cls, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int) -> Operation: ...
    @classmethod
    def getdents(cls, fd: int, nbytes: int = 65536) -> Operation: ...
    @property
    def opcode(self) -> int: ...
    @property
    def fileno(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def payload(self) -> Any: ...
    @property
    def done(self) -> bool: ...
    def set_callback(self, callback: Callable[[int], Any]) -> bool: ...
    def attach_callback(self, callback: Callable[[int], Any]) -> bool: ...
    def get_value(self) -> Any: ...

class Context:
    def __init__(
        self,
        max_requests: int = 512,
        pool_size: int = 32,
        deferred: bool = False,
        sqpoll: bool = False,
        inline_reads: bool = True,
    ) -> None: ...
    @property
    def max_requests(self) -> int: ...
    @property
    def pool_size(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def fileno(self) -> Fileno: ...
    @property
    def deferred(self) -> bool: ...
    @property
    def sqpoll(self) -> bool: ...
    def submit(self, *ops: Operation) -> int: ...
    def cancel(self, *ops: Operation) -> int: ...
    def process_events(self, max_requests: int = 0, min_requests: int = 0, timeout: float = 0) -> int: ...
    def poll(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Context: ...
    def __exit__(self, *exc: object) -> None: ...

# The asyncio fast path (thread_aio_asyncio.AsyncioContext); not public API.
class _AdapterCore:
    _loop: asyncio.AbstractEventLoop | None
    _loop_ready: Any
    _context: Any
    _state: Any
    _waiting: Any
    _in_flight: int
    _max_requests: int
    _driving: bool
    _batch: list[Any]
    _flush_handle: Any
    _reap_handle: Any
    _inline_slice_ns: int
    def _end_slice(self) -> None: ...

def _adapter_submit_future(adapter: _AdapterCore, op: Any) -> Any: ...
