"""Backend selection: CAIO_IMPL, the default_implementation file, fallbacks, introspection.

Selection happens once per process, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import _linuxaio

AVAILABLE = [name for name, reason in _linuxaio.backend_status().items() if reason is None]
UNAVAILABLE = [name for name, reason in _linuxaio.backend_status().items() if reason is not None]

REPORT = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import _linuxaio
        exec({setup!r})
        sel = _linuxaio.selected_backend()
        ctx_module = _linuxaio.Context.__module__
        actx_module = _linuxaio.AsyncioContext.__module__
    print(json.dumps({{
        "name": sel.name, "source": sel.source, "skipped": dict(sel.skipped),
        "context": ctx_module, "asyncio": actx_module, "text": str(sel),
        "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
    }}))
    """
)


def select_in_subprocess(
    env_value: str | None = None, file_text: str | None = None, tmp: Path | None = None, setup: str = "pass"
) -> dict:
    if file_text is not None:
        assert tmp is not None
        config = tmp / "default_implementation"
        config.write_text(file_text)
        setup = f"import _linuxaio; _linuxaio.DEFAULT_IMPLEMENTATION_FILE = __import__('pathlib').Path({str(config)!r})"
    env = {k: v for k, v in os.environ.items() if k != "CAIO_IMPL"}
    if env_value is not None:
        env["CAIO_IMPL"] = env_value
    out = subprocess.run(
        [sys.executable, "-c", REPORT.format(setup=setup)], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", AVAILABLE)
def test_caio_impl_picks_an_available_backend(name: str) -> None:
    report = select_in_subprocess(name)
    module = {"linux": "linux_aio", "uring": "linux_uring", "thread": "thread_aio", "python": "python_aio"}[name]
    assert (report["name"], report["source"]) == (name, "CAIO_IMPL")
    assert report["context"] == f"_linuxaio.{module}"
    assert report["asyncio"] == f"_linuxaio.{module}_asyncio"
    assert report["warnings"] == []


def test_unknown_caio_impl_warns_and_falls_back() -> None:
    report = select_in_subprocess("bogus")
    assert report["name"] == AVAILABLE[0]
    assert report["source"] == "preference"
    assert len(report["warnings"]) == 1
    assert "CAIO_IMPL='bogus'" in report["warnings"][0]
    assert "unknown backend name" in report["warnings"][0]


@pytest.mark.parametrize(
    "name",
    UNAVAILABLE
    or [
        pytest.param(
            None,
            marks=pytest.mark.skip(
                reason="every backend works on this machine: there is no unavailable one to request"
            ),
            id="none-unavailable",
        )
    ],
)
def test_unavailable_caio_impl_warns_with_the_reason(name: str) -> None:
    report = select_in_subprocess(name)
    assert report["name"] == AVAILABLE[0]
    assert len(report["warnings"]) == 1
    assert _linuxaio.backend_status()[name] in report["warnings"][0]


FAIL_KERNEL_PROBE = (
    "import errno, _linuxaio.linux_aio as k, _linuxaio.linux_uring as u\n"
    "def probe():\n"
    "    raise OSError(errno.ENOSYS, 'io_setup: Function not implemented (simulated seccomp)')\n"
    "k.probe = probe\n"
    "u.probe = probe"
)

FAIL_URING_PROBE = (
    "import errno, _linuxaio.linux_uring as u\n"
    "def probe():\n"
    "    raise OSError(errno.EPERM, 'io_uring_setup: refused (EPERM: kernel.io_uring_disabled or seccomp)')\n"
    "u.probe = probe"
)


@pytest.mark.skipif("linux" not in AVAILABLE or "uring" not in AVAILABLE, reason="needs linux and uring")
def test_caio_impl_uring_refused_falls_back_to_linux_with_the_reason() -> None:
    report = select_in_subprocess("uring", setup=FAIL_URING_PROBE)
    assert report["name"] == "linux"
    assert "kernel.io_uring_disabled" in report["skipped"]["uring"]
    assert len(report["warnings"]) == 1
    assert "CAIO_IMPL='uring'" in report["warnings"][0]


@pytest.mark.skipif("uring" not in AVAILABLE, reason="io_uring unavailable here")
def test_default_implementation_file_selects_uring(tmp_path: Path) -> None:
    report = select_in_subprocess(None, "uring\n", tmp_path)
    assert (report["name"], report["source"]) == ("uring", "default_implementation")
    assert report["context"] == "_linuxaio.linux_uring"
    assert report["asyncio"] == "_linuxaio.linux_uring_asyncio"


def test_import_of_linux_uring_makes_no_ring() -> None:
    code = textwrap.dedent(
        """
        import os, _linuxaio.linux_uring
        links = []
        for n in os.listdir("/proc/self/fd"):
            try:
                links.append(os.readlink(f"/proc/self/fd/{n}"))
            except OSError:
                pass
        print(sum("io_uring" in link for link in links))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["0"], out.stderr


@pytest.mark.skipif("linux" not in AVAILABLE or "thread" not in AVAILABLE, reason="needs linux and thread")
def test_kernel_probe_failure_falls_back_to_thread_with_the_reason() -> None:
    report = select_in_subprocess(setup=FAIL_KERNEL_PROBE)
    assert (report["name"], report["source"]) == ("thread", "preference")
    assert "simulated seccomp" in report["skipped"]["linux"]
    assert report["warnings"] == []
    requested = select_in_subprocess("linux", setup=FAIL_KERNEL_PROBE)
    assert requested["name"] == "thread"
    assert len(requested["warnings"]) == 1
    assert "simulated seccomp" in requested["warnings"][0]


def test_empty_caio_impl_means_unset(tmp_path: Path) -> None:
    report = select_in_subprocess("", "python\n", tmp_path)
    assert (report["name"], report["source"]) == ("python", "default_implementation")


@pytest.mark.parametrize(
    "text",
    [
        "python\n",
        "# a comment\n\n   python   \nlinux\n",
        "bogus\npython\n",
        "python  # trailing comment\n",
    ],
    ids=["plain", "comments-and-blanks", "invalid-line-skipped", "inline-comment"],
)
def test_default_implementation_file_first_valid_line_wins(tmp_path: Path, text: str) -> None:
    report = select_in_subprocess(None, text, tmp_path)
    assert (report["name"], report["source"]) == ("python", "default_implementation")


def test_default_implementation_is_ignored_when_caio_impl_is_set(tmp_path: Path) -> None:
    report = select_in_subprocess("python", f"{AVAILABLE[0]}\n", tmp_path)
    assert report["source"] == "CAIO_IMPL"


def test_comment_only_file_uses_preference(tmp_path: Path) -> None:
    report = select_in_subprocess(None, "# nothing here\n#python\n", tmp_path)
    assert (report["name"], report["source"]) == (AVAILABLE[0], "preference")


def test_selection_explains_skipped_backends() -> None:
    report = select_in_subprocess("python")
    better = [n for n in _linuxaio.BACKENDS if n != "python"]
    assert list(report["skipped"]) == better
    for name in better:
        expected = _linuxaio.backend_status()[name] or "not requested"
        assert report["skipped"][name] == expected
        assert f"{name} skipped: {expected}" in report["text"]


def test_import_probes_nothing() -> None:
    code = (
        "import _linuxaio; from _linuxaio import linux_aio, thread_aio_asyncio, python_aio; "
        "print(len(_linuxaio._status), _linuxaio._selection)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["0", "None"]


def test_caio_shaped_surface() -> None:
    import _linuxaio as caio

    assert caio.python_aio.Context.__name__ == "Context"
    assert caio.python_aio_asyncio.AsyncioContext.CONTEXT_CLASS is caio.python_aio.Context
    assert caio.python_aio in caio.variants
    assert caio.python_aio_asyncio in caio.variants_asyncio
    assert len(caio.variants) == len(AVAILABLE)
    assert issubclass(caio.python_aio.Operation, caio.AbstractOperation)
    assert caio.__version__
    for name in UNAVAILABLE:
        module = {"linux": "linux_aio", "uring": "linux_uring", "thread": "thread_aio"}[name]
        if "not built" in (_linuxaio.backend_status()[name] or ""):
            assert getattr(caio, module) is None


def test_every_backend_context_keeps_the_protocol() -> None:
    import importlib

    for name in AVAILABLE:
        module = importlib.import_module(
            "_linuxaio."
            + {"linux": "linux_aio", "uring": "linux_uring", "thread": "thread_aio", "python": "python_aio"}[name]
        )
        ctx = module.Context(max_requests=1)
        try:
            assert isinstance(ctx, _linuxaio.ContextProtocol)
            assert isinstance(module.Operation.read(1, 0, 0), _linuxaio.OperationProtocol)
        finally:
            ctx.close()


def test_selection_is_logged_once() -> None:
    code = textwrap.dedent(
        """
        import logging, _linuxaio
        logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
        _linuxaio.selected_backend(); _linuxaio.selected_backend(); _linuxaio.Context
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stderr.count("_linuxaio backend:") == 1, out.stderr
