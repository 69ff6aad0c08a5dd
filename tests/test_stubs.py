"""Each compiled module's ``.pyi`` stub names exactly the module's public names."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import _linuxaio

COMPILED = ["_eventfd", "_lines", "_textsink", "thread_aio", "linux_aio", "linux_uring"]


def _stub_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_") or n == "__all__"} - {"__all__"}


def _class_stub_members(path: Path, cls: str) -> set[str]:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return {
                item.name
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_")
            }
    raise AssertionError(f"class {cls} not in {path}")


@pytest.mark.parametrize("name", COMPILED)
def test_stub_matches_runtime(name: str, request: pytest.FixtureRequest) -> None:
    try:
        module = importlib.import_module(f"_linuxaio.{name}")
    except ImportError as exc:
        if request.config.getoption("--require-compiled"):
            pytest.fail(f"compiled module {name} missing: {exc}")
        pytest.skip(f"{name} not built: {exc}")
    stub = Path(_linuxaio.__file__).with_name(f"{name}.pyi")
    assert stub.exists(), f"no stub {stub}"
    runtime = {n for n in dir(module) if not n.startswith("_")}
    if hasattr(module, "__all__"):
        runtime = set(module.__all__)
    assert _stub_names(stub) == runtime
    for cls in ("Context", "Operation", "EventFD"):
        if hasattr(module, cls):
            members = {n for n in dir(getattr(module, cls)) if not n.startswith("_")}
            assert _class_stub_members(stub, cls) == members
