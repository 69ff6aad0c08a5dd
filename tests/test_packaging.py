"""What the sdist and the wheel hold: sources to build from, and only the built package.

CI builds both once and points ``AIOFILE_DIST_DIR`` at them; without it the test
builds them itself (slow: it compiles the extensions).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("AIOFILE_DIST_DIR")
    if given:
        return Path(given)
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not run from a source checkout and AIOFILE_DIST_DIR is unset")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True, capture_output=True)
    return out


def _one(dist_dir: Path, pattern: str) -> Path:
    found = sorted(dist_dir.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {dist_dir}, found {found}"
    return found[0]


def test_wheel_holds_compiled_modules_stubs_and_markers_only(dist_dir: Path) -> None:
    names = zipfile.ZipFile(_one(dist_dir, "*.whl")).namelist()
    package_files = [n for n in names if not n.split("/")[0].endswith(".dist-info")]
    assert {n.split("/")[0] for n in package_files} == {"_linuxaio", "aiofile"}
    for forbidden in (".c", ".h", ".pyx", ".pxd", ".o"):
        assert not [n for n in package_files if n.endswith(forbidden)], forbidden
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    compiled = {n.split("/")[-1].split(".")[0] for n in package_files if n.endswith(".so")}
    assert set(_pyx_modules()) <= compiled
    for module in compiled:
        assert f"_linuxaio/{module}.pyi" in names, f"no stub for {module}"
    for required in ("_linuxaio/py.typed", "aiofile/py.typed", "_linuxaio/default_implementation"):
        assert required in names
    license_files = [n for n in names if ".dist-info/" in n and "LICENSE" in n]
    assert license_files, "licence file missing from the wheel"
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(_one(dist_dir, "*.whl")).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text


def test_sdist_holds_everything_needed_to_build_and_nothing_generated(dist_dir: Path) -> None:
    with tarfile.open(_one(dist_dir, "*.tar.gz")) as sdist:
        names = [n.split("/", 1)[1] for n in sdist.getnames() if "/" in n]
    required = ["setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "tests/conftest.py"]
    required += _source_files()
    missing = [n for n in required if n not in names]
    assert missing == []
    generated = [n for n in names if n.startswith("src/_linuxaio/") and n.count("/") == 2 and n.endswith(".c")]
    assert generated == []
    assert not [n for n in names if n.endswith((".so", ".o", ".pyc"))]


def _pyx_modules() -> list[str]:
    return [p.stem for p in (ROOT / "src" / "_linuxaio").glob("*.pyx")]


def _source_files() -> list[str]:
    """Hand-written sources in the checkout (generated .c files sit beside their .pyx)."""
    src = ROOT / "src"
    generated = {src / "_linuxaio" / f"{m}.c" for m in _pyx_modules()}
    keep = {".py", ".pyx", ".pxd", ".pxi", ".pyi", ".h", ".c", ".typed"}
    return sorted(
        p.relative_to(ROOT).as_posix()
        for p in src.rglob("*")
        if p.is_file() and (p.suffix in keep or p.name == "default_implementation") and p not in generated
    )
