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
    (pip runs it without ``-j``, and the compile is most of an install's time).

    The plain C that several extensions link (``csrc/lxa_pool.c``) is compiled once,
    before the parallel part, and linked as an extra object. Compiled per extension, the
    jobs would write the same object file in ``build_temp`` at once, and one extension
    could link another's half-written object (a wheel whose ``linux_aio`` lacked
    ``lxa_pool_create``).
    """

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = JOBS

    def build_extensions(self) -> None:
        shared = sorted({source for ext in self.extensions for source in ext.sources if _is_plain_c(source)})
        if shared:
            first = next(ext for ext in self.extensions if set(shared) & set(ext.sources))
            # Every extension compiles with the same flags (see _extensions), so one
            # object per C file serves them all.
            objects = self.compiler.compile(
                shared,
                output_dir=self.build_temp,
                macros=list(first.define_macros),
                include_dirs=first.include_dirs,
                debug=self.debug,
                extra_postargs=first.extra_compile_args,
                depends=[str(header) for header in sorted((HERE / PACKAGE_DIR / "csrc").glob("*.h"))],
            )
            object_of = dict(zip(shared, objects, strict=True))
            for ext in self.extensions:
                linked = [object_of[source] for source in ext.sources if source in object_of]
                ext.sources = [source for source in ext.sources if source not in object_of]
                ext.extra_objects = [*ext.extra_objects, *linked]
                ext.depends = [*ext.depends, *linked]  # relink when a shared object changed
        super().build_extensions()


def _is_plain_c(source: str) -> bool:
    return Path(source).parent.name == "csrc" and source.endswith(".c")


setup(ext_modules=_extensions(), cmdclass={"build_ext": ParallelBuildExt})
