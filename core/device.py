"""Which device runs the models, and a one-line reason the UI can show."""
from __future__ import annotations

import os
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


def choose_device(preference: DevicePreference | str = DevicePreference.AUTO) -> DeviceInfo:
    """Resolve a preference to a device. Imports torch: call it off the GUI thread."""
    try:
        pref = DevicePreference(preference)
    except ValueError:
        raise DeviceUnavailable(
            f"Unknown device '{preference}'.", hint=f"Choose {', '.join(DEVICE_CHOICES)}."
        ) from None
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
