"""aiofiles' ``aiofiles.ospath`` name for ``aiofile.os.path`` (the same coroutines)."""

from .os.path import *  # noqa: F403
from .os.path import __all__ as __all__
