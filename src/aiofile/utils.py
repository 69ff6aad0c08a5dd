"""aiofile 3.x's ``aiofile.utils`` names: the sequential helpers and the file objects."""

from ._binary import BinaryFileWrapper, FileIOWrapperBase
from ._open import FileIOCloner, async_open, clone
from ._streams import LineReader, Reader, Writer
from ._text import TextFileWrapper

__all__ = [
    "BinaryFileWrapper",
    "FileIOCloner",
    "FileIOWrapperBase",
    "LineReader",
    "Reader",
    "TextFileWrapper",
    "Writer",
    "async_open",
    "clone",
]
