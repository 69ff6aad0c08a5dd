"""aiofile 3.x's ``aiofile.version`` names, from this distribution's metadata.

Values come from the installed ``aiofile`` distribution's metadata; without
it (a source checkout on ``sys.path``) the version comes from the source and
the other fields from ``pyproject.toml``'s values. Unlike aiofile 3.x,
``version_info`` does not fail on a pre-release or local version: it holds
the leading numeric components (``"1.2.0rc1"`` gives ``(1, 2, 0)``).
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from _linuxaio._version import __version__

__all__ = [
    "__author__",
    "__version__",
    "author_info",
    "package_info",
    "package_license",
    "package_metadata",
    "project_home",
    "team_email",
    "version_info",
]


def _package_metadata() -> metadata.PackageMetadata | None:
    try:
        return metadata.metadata("aiofile")
    except metadata.PackageNotFoundError:
        return None


#: The installed distribution's metadata (``None`` when running from a source tree).
package_metadata: metadata.PackageMetadata | None = _package_metadata()


def _project_home(meta: dict[str, Any]) -> str | None:
    for entry in meta.get("project_url", []):
        label, _, url = entry.partition(",")
        if "home" in label.lower():
            return str(url.strip())
    home = meta.get("home_page")
    return str(home) if home else None


_META: dict[str, Any] = dict(package_metadata.json) if package_metadata is not None else {}
_EMAIL = re.search(r"<([^>]+)>", str(_META.get("author_email", "")))

#: The distribution's author (``Author`` field, else the name in ``Author-email``).
__author__: str = (
    str(_META.get("author") or re.sub(r"\s*<.*", "", str(_META.get("author_email", "")))) or "aiofile developers"
)

#: The contact address of the authors, if the metadata names one.
team_email: str | None = _EMAIL.group(1) if _EMAIL else None

#: ``[(author, email)]`` as in aiofile 3.x.
author_info: list[tuple[str, str | None]] = [(__author__, team_email)]

#: The one-line summary of the distribution.
package_info: str = str(
    _META.get("summary")
    or "Real asynchronous file I/O for asyncio: Linux kernel AIO, a C thread pool, stdlib-like file objects"
)

#: The SPDX license expression.
package_license: str = str(_META.get("license_expression") or _META.get("license") or "Apache-2.0")

#: The project's home page URL, if the metadata names one.
project_home: str | None = _project_home(_META)

_RELEASE = re.match(r"\d+(?:\.\d+)*", __version__)

#: The leading numeric components of ``__version__``.
version_info: tuple[int, ...] = tuple(int(part) for part in _RELEASE.group().split(".")) if _RELEASE else ()
