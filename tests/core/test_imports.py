"""core.imports: heavy imports run with the garbage collector paused, what they made is frozen out
of its sight, and torch's big libraries are opened before its import (with the interpreter let
go). Stall figures are in bench/stalls.py; these tests check the mechanism."""
from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest

from core.imports import import_heavy, native_libraries


def _module(tmp_path, monkeypatch, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_heavy_import_runs_without_collections_and_its_objects_are_frozen(tmp_path,
                                                                           monkeypatch):
    _module(tmp_path, monkeypatch, "wb_heavy_a", """
        import gc
        COLLECTING = gc.isenabled()
        class Node:
            def __init__(self):
                self.me = self  # a cycle: only the collector could free it
        NODES = [Node() for _ in range(20000)]
    """)
    assert gc.isenabled()
    try:
        import_heavy("wb_heavy_a")
        module = sys.modules["wb_heavy_a"]
        assert module.COLLECTING is False  # no collection could start inside the import
        assert gc.isenabled()  # and collections are back afterwards
        seen = {id(o) for o in gc.get_objects()}  # the collector's generations, not the frozen
        assert id(module.NODES[0]) not in seen and id(module.NODES[-1]) not in seen
    finally:
        gc.unfreeze()


def test_a_failing_import_raises_and_leaves_the_collector_running(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "wb_heavy_b", "raise ImportError('broken package')\n")
    with pytest.raises(ImportError, match="broken package"):
        import_heavy("wb_heavy_b")
    assert gc.isenabled()
    gc.unfreeze()
    with pytest.raises(ModuleNotFoundError):
        import_heavy("wb_no_such_module")
    assert gc.isenabled()


def test_an_imported_module_is_not_imported_again(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "wb_heavy_c", "import builtins\nbuiltins.wb_count = "
                                                 "getattr(builtins, 'wb_count', 0) + 1\n")
    import builtins

    try:
        import_heavy("wb_heavy_c")
        import_heavy("wb_heavy_c", "wb_heavy_c")
        assert builtins.wb_count == 1
    finally:
        del builtins.wb_count
        gc.unfreeze()


@pytest.mark.skipif(sys.platform != "linux", reason="the libraries are opened ahead on Linux only")
def test_torch_libraries_are_open_before_torch_is_imported():
    """In a fresh interpreter: after preload_native, libtorch_cpu is mapped while torch is not yet
    imported; then the import works and uses it."""
    assert any(p.name == "libtorch_cpu.so" for p in native_libraries("torch"))
    code = textwrap.dedent("""
        import sys
        from core.imports import preload_native
        def mapped():
            return any("libtorch_cpu.so" in line for line in open("/proc/self/maps"))
        assert not mapped() and "torch" not in sys.modules
        opened = preload_native("torch")
        assert opened >= 3, opened
        assert mapped() and "torch" not in sys.modules
        import torch
        print(torch.ones(2).sum().item())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.0"


def test_a_package_without_native_libraries_listed_opens_nothing():
    assert native_libraries("json") == []
    assert native_libraries("wb_no_such_module") == []
