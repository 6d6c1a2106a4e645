"""Heavy imports that do not freeze the window: ``import_heavy("torch", "transformers")``.

Importing torch, transformers or peft from a job's thread used to hold the interpreter, and so the
window's thread, for 150-250 ms at a time on a 2-core machine. Two causes, measured one by one:
- the dynamic loader relocating libtorch_cpu (hundreds of MB) inside ``import torch``, with the
  interpreter held: here the libraries are opened first through ``ctypes``, which lets go of the
  interpreter during the call, so the later import finds them loaded;
- full garbage collections set off by the millions of objects an import makes (one walks every
  live object: ~170 ms with torch and transformers in): here the collector is paused while the
  modules import, and what they made is then frozen out of its sight (``gc.freeze``), so later
  collections only walk what jobs make.
One heavy import at a time (two threads importing transformers at once raise ImportError).
"""
from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path

log = logging.getLogger("workbench")

# the shared libraries, in each package's folder, worth opening before its import: only those
# that do not link Python (libtorch_python's initialisers could touch Python objects while the
# interpreter is let go; it is small, the time goes to libtorch_cpu)
NATIVE = {"torch": ("lib/libc10.so", "lib/libc10_cuda.so", "lib/libtorch_cpu.so",
                    "lib/libtorch_cuda.so", "lib/libtorch.so")}

# what a package imports lazily on first use, asked for inside the pause (transformers' model
# classes pull in most of the library only when first named)
FIRST_USE = {"transformers": ("AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForCausalLM",
                              "AutoModelForSequenceClassification", "PreTrainedModel")}

_lock = threading.RLock()  # the interpreter's import state is process-wide, so is this lock


def import_heavy(*names: str) -> None:
    """Import ``names`` (modules, dotted or not) unless they are in; ImportError as ``import``
    would. Only top-level packages listed in NATIVE have libraries opened ahead."""
    if all(name in sys.modules for name in names):
        return
    with _lock:
        todo = [name for name in names if name not in sys.modules]
        if not todo:
            return
        for name in todo:
            preload_native(name)
        collecting = gc.isenabled()
        gc.disable()
        try:
            for name in todo:
                module = importlib.import_module(name)
                for attribute in FIRST_USE.get(name, ()):
                    getattr(module, attribute, None)
        finally:
            gc.freeze()  # what the imports made lives as long as the process
            if collecting:
                gc.enable()


def native_libraries(name: str) -> list[Path]:
    """The shared libraries of package ``name`` that ``preload_native`` opens (those present)."""
    try:
        spec = importlib.util.find_spec(name)  # finds the package without importing it
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(list(spec.submodule_search_locations)[0])
    return [folder / rel for rel in NATIVE.get(name, ()) if (folder / rel).is_file()]


def preload_native(name: str) -> int:
    """Open ``name``'s big shared libraries with the interpreter let go; how many opened."""
    if sys.platform != "linux" or name in sys.modules:
        return 0
    libraries = native_libraries(name)
    if not libraries:
        return 0
    import ctypes

    try:
        dlopen = ctypes.CDLL(None).dlopen  # a foreign call: ctypes releases the interpreter
    except (OSError, AttributeError):
        return 0
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    opened = 0
    for library in libraries:
        if dlopen(os.fsencode(library), os.RTLD_NOW | os.RTLD_LOCAL):
            opened += 1
        else:  # the import itself will say what is wrong
            log.info("preloading %s failed", library)
    return opened
