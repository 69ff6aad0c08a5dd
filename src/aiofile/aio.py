"""aiofile 3.x's ``aiofile.aio`` names: ``AIOFile``, mode parsing and the default context."""

from ._defaults import get_default_context
from ._file import AIOFile
from ._mode import FileMode, parse_mode

__all__ = ["AIOFile", "FileMode", "get_default_context", "parse_mode"]
