"""aiofile 3.x's ``aiofile.utils`` names: the sequential helpers and the file objects."""

from ._binary import BinaryFileWrapper, FileIOWrapperBase
from ._file import AIOFile
from ._open import FileIOCloner, async_open, clone
from ._streams import ENCODING_MAP, LineReader, Reader, Writer, unicode_reader
from ._text import TextFileWrapper
from .aio import FileIOType

__all__ = [
    "ENCODING_MAP",
    "AIOFile",
    "BinaryFileWrapper",
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
]
