"""Which device runs the models, and a one-line reason the UI can show.

``choose_device`` asks torch (a second or more to import: off the GUI thread, or in a child);
``quick_device`` answers the same question in milliseconds without torch (the CUDA driver through
ctypes, and the installed torch's build read from its ``version.py``), for the window to show at
start-up until the full check confirms it."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import Enum

from core.errors import DeviceUnavailable


class DevicePreference(str, Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


# What a user may choose (the CLI's --device choices, the settings' list) and the default.
DEVICE_CHOICES: tuple[str, ...] = tuple(p.value for p in DevicePreference)
DEFAULT_DEVICE: str = DevicePreference.AUTO.value


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cpu" or "cuda"
    label: str  # short, for the status bar: "CPU · 2 threads"
    reason: str  # one line: "CPU: no CUDA device found"

    @property
    def torch_device(self) -> str:
        return "cuda:0" if self.kind == "cuda" else "cpu"


def _cpu_label() -> str:
    import torch

    threads = torch.get_num_threads() or os.cpu_count() or 1
    return f"CPU · {threads} thread{'s' if threads != 1 else ''}"


def _cuda_label() -> str:
    import torch

    props = torch.cuda.get_device_properties(0)
    gib = props.total_memory / 2**30
    return f"{props.name} · {gib:.0f} GiB"


def _cpu_threads_guess() -> int:
    """What ``torch.get_num_threads()`` will most likely say, without torch."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _quick_cpu_label() -> str:
    threads = _cpu_threads_guess()
    return f"CPU · {threads} thread{'s' if threads != 1 else ''}"


def torch_cuda_build() -> bool | None:
    """Whether the installed torch was built with CUDA, read from its ``version.py`` without
    importing it; None when torch is not installed or the file says nothing readable."""
    import importlib.util
    import re
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(
            encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r"^cuda\s*(?::[^=]*)?=\s*(.+)$", text, re.M)
    if m is None:
        return None
    return m.group(1).strip() not in ("None", "")


def cuda_driver_device() -> tuple[str, int] | None:
    """The first CUDA device's name and memory (bytes) through the driver library (ctypes, no
    torch), or None when there is no driver or no device. ctypes lets go of the interpreter
    during each call, so a slow driver start never holds other threads."""
    if sys.platform == "darwin":
        return None
    import ctypes

    names = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")
    lib = None
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return None
    try:
        if lib.cuInit(0) != 0:
            return None
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
            return None
        dev = ctypes.c_int(0)
        if lib.cuDeviceGet(ctypes.byref(dev), 0) != 0:
            return None
        buf = ctypes.create_string_buffer(256)
        name = "CUDA device"
        if lib.cuDeviceGetName(buf, 256, dev) == 0:
            name = buf.value.decode("utf-8", "replace") or name
        total = ctypes.c_size_t(0)
        get_mem = getattr(lib, "cuDeviceTotalMem_v2", None) or lib.cuDeviceTotalMem
        if get_mem(ctypes.byref(total), dev) != 0:
            total.value = 0
        return name, int(total.value)
    except (AttributeError, OSError):
        return None


def _preference(preference: DevicePreference | str) -> DevicePreference:
    try:
        return DevicePreference(preference)
    except ValueError:
        raise DeviceUnavailable(
            f"Unknown device '{preference}'.", hint=f"Choose {', '.join(DEVICE_CHOICES)}."
        ) from None


def quick_device(preference: DevicePreference | str = DevicePreference.AUTO,
                 cuda: tuple[str, int] | None | bool = True,
                 cuda_build: bool | None | str = "read") -> DeviceInfo:
    """``choose_device``'s most likely answer, in milliseconds and without torch (the window shows
    it until the full check confirms it). ``cuda`` and ``cuda_build`` stand in for the driver and
    the torch build (tests); by default they are looked up. Raises DeviceUnavailable as
    ``choose_device`` does when CUDA is chosen but cannot be there."""
    pref = _preference(preference)
    if pref is DevicePreference.CPU:
        return DeviceInfo("cpu", _quick_cpu_label(), "CPU: chosen in settings")
    build = torch_cuda_build() if cuda_build == "read" else cuda_build
    found = None
    if build is not False:
        found = cuda_driver_device() if cuda is True else (cuda or None)
    if found is not None:
        name, total = found
        label = f"{name} · {total / 2**30:.0f} GiB"
        why = "chosen in settings" if pref is DevicePreference.CUDA else f"{name} found"
        return DeviceInfo("cuda", label, f"CUDA: {why}")
    if pref is DevicePreference.CUDA:
        raise DeviceUnavailable(
            "CUDA was chosen but no CUDA device is available.",
            hint="Choose auto or cpu in the settings.",
        )
    reason = "CPU: no CUDA device found"
    if build is False:
        reason = "CPU: no CUDA device found (this PyTorch build is CPU-only)"
    return DeviceInfo("cpu", _quick_cpu_label(), reason)


def choose_device(preference: DevicePreference | str = DevicePreference.AUTO) -> DeviceInfo:
    """Resolve a preference to a device. Imports torch: call it off the GUI thread."""
    pref = _preference(preference)
    from core.imports import import_heavy

    import_heavy("torch")
    import torch

    has_cuda = torch.cuda.is_available()
    if pref is DevicePreference.CPU:
        return DeviceInfo("cpu", _cpu_label(), "CPU: chosen in settings")
    if pref is DevicePreference.CUDA:
        if not has_cuda:
            raise DeviceUnavailable(
                "CUDA was chosen but no CUDA device is available.",
                hint="Choose auto or cpu in the settings.",
            )
        return DeviceInfo("cuda", _cuda_label(), "CUDA: chosen in settings")
    if has_cuda:
        label = _cuda_label()
        return DeviceInfo("cuda", label, f"CUDA: {label.split(' · ')[0]} found")
    reason = "CPU: no CUDA device found"
    if torch.version.cuda is None:
        reason = "CPU: no CUDA device found (this PyTorch build is CPU-only)"
    return DeviceInfo("cpu", _cpu_label(), reason)
