import json
import pkgutil
import subprocess
import sys

from tests.conftest import ROOT


def _core_modules() -> list[str]:
    """Every module and package under core/, sub-packages included."""
    return ["core"] + [m.name for m in pkgutil.walk_packages([str(ROOT / "core")], prefix="core.")]


def test_core_imports_no_qt():
    """Every core module imports without loading any PySide6 module."""
    names = _core_modules()
    assert "core.models.registry" in names and "core.cli" in names
    code = (
        "import importlib, json, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_core_imports_no_torch_at_import_time():
    """Heavy libraries load lazily, inside engines: importing core stays light."""
    names = _core_modules()
    code = (
        "import importlib, json, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(json.dumps([m for m in ('torch', 'transformers', 'huggingface_hub') "
        "if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
