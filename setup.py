"""Build the compiled modules of ``_linuxaio``; metadata lives in pyproject.toml.

Every ``src/_linuxaio/<name>.pyx`` becomes the extension ``_linuxaio.<name>``;
``C_SOURCES`` lists the plain C files from ``csrc/`` it links.

Switches (environment variables):

* ``AIOFILE_DEBUG=1``: ``-O0 -g3``, asserts on, Cython line tracing.
* ``AIOFILE_SANITIZE=1``: AddressSanitizer + UndefinedBehaviorSanitizer.
  Python itself is not instrumented, so run it with the ASan runtime
  preloaded (see README, "Build switches").
* ``AIOFILE_NO_EXTENSIONS=1``: build nothing compiled (pure-Python backend only).
"""

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

#: Compile jobs: one per CPU this process may use (``-j`` on the command line wins).
JOBS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

HERE = Path(__file__).parent
PACKAGE_DIR = Path("src") / "_linuxaio"

# Plain C each extension links, relative to src/_linuxaio/.
C_SOURCES: dict[str, list[str]] = {
    "_eventfd": [],
    "thread_aio": ["csrc/lxa_pool.c"],
    "linux_aio": ["csrc/lxa_pool.c"],
    "linux_uring": ["csrc/lxa_pool.c", "csrc/lxu_ring.c"],
}


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _extensions() -> list[Extension]:
    if _flag("AIOFILE_NO_EXTENSIONS") or not sys.platform.startswith("linux"):
        return []
    from Cython.Build import cythonize

    debug = _flag("AIOFILE_DEBUG")
    sanitize = _flag("AIOFILE_SANITIZE")

    compile_args = ["-Wall", "-Werror", "-std=gnu11"]
    link_args: list[str] = []
    macros: list[tuple[str, str | None]] = []
    directives = {
        "language_level": 3,
        "embedsignature": True,
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
    }
    if debug:
        compile_args += ["-O0", "-g3", "-UNDEBUG"]
        directives["linetrace"] = True
        macros += [("CYTHON_TRACE_NOGIL", "1")]
    else:
        compile_args += ["-O2"]
    if sanitize:
        sanitizers = "-fsanitize=address,undefined"
        compile_args += [sanitizers, "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-g"]
        link_args += [sanitizers]

    extensions = []
    for pyx in sorted((HERE / PACKAGE_DIR).glob("*.pyx")):
        name = pyx.stem
        sources = [str(PACKAGE_DIR / pyx.name)]
        sources += [str(PACKAGE_DIR / c) for c in C_SOURCES.get(name, [])]
        extensions.append(
            Extension(
                f"_linuxaio.{name}",
                sources=sources,
                include_dirs=[str(PACKAGE_DIR / "csrc"), str(PACKAGE_DIR / "includes")],
                extra_compile_args=compile_args,
                extra_link_args=link_args,
                define_macros=macros,
            )
        )
    return cythonize(
        extensions,
        compiler_directives=directives,
        include_path=[str(PACKAGE_DIR), str(PACKAGE_DIR / "includes"), "src"],
        annotate=debug,
        quiet=True,
        nthreads=JOBS,
    )


class ParallelBuildExt(build_ext):
    """``build_ext`` compiling the extensions in parallel unless ``-j`` says otherwise
    (pip runs it without ``-j``, and the compile is most of an install's time)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = JOBS


setup(ext_modules=_extensions(), cmdclass={"build_ext": ParallelBuildExt})
