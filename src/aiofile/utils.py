"""aiofile 3.x's ``aiofile.utils`` names: the sequential helpers and the file objects."""

from ._binary import BinaryFileWrapper, FileIOWrapperBase
from ._open import FileIOCloner, async_open, clone
from ._streams import ENCODING_MAP, LineReader, Reader, Writer, unicode_reader
from ._text import TextFileWrapper

__all__ = [
    "ENCODING_MAP",
    "BinaryFileWrapper",
    "FileIOCloner",
    "FileIOWrapperBase",
    "LineReader",
    "Reader",
    "TextFileWrapper",
    "Writer",
    "async_open",
    "clone",
    "unicode_reader",
]
