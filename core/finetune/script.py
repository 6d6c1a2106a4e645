"""Exporting a run as a standalone script: ``export_script`` writes train.py (transformers + peft,
the run's settings), an accelerate config for one machine with several GPUs, and a launcher. The
templates are in core.finetune.script_template."""
from __future__ import annotations

import pprint
from pathlib import Path

from core.errors import BadInput, WorkbenchError
from core.finetune.config import FinetuneConfig
from core.finetune.script_template import ACCELERATE_CONFIG, LAUNCH_SH, TRAIN_PY
from core.paths import AppHome, atomic_write


def export_script(config: FinetuneConfig, folder: str | Path, *, home: AppHome | None = None
                  ) -> list[Path]:
    """Write train.py (standalone transformers + peft Trainer script with the same settings),
    accelerate_config.yaml (one machine, every GPU) and launch.sh; return their paths."""
    config._check_data_fields()
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    base = config.base
    from core.models.registry import Format, Registry

    try:  # a local folder where the registry knows one; else the id as given (a Hub id)
        entry = Registry(home, scan_hf_cache=False).get(config.base)
    except WorkbenchError:
        entry = None
    if entry is not None:
        if entry.format is Format.GGUF and not entry.converted_path:
            raise BadInput(f"'{entry.name}' is a GGUF file, which the script cannot train.",
                           hint="Convert it once on the Models page, then export again.")
        if entry.load_path and Path(entry.load_path).is_dir():
            base = entry.load_path
        elif entry.hub_id:
            base = entry.hub_id
    settings = config.to_dict()
    settings["data"] = [str(Path(f).expanduser().resolve()) for f in config.data]
    settings["base"] = base
    train_py = folder / "train.py"
    literal = pprint.pformat(settings, indent=4, width=96, sort_dicts=False)  # a Python literal
    atomic_write(train_py, TRAIN_PY.replace("__CONFIG__", literal))
    accel = folder / "accelerate_config.yaml"
    atomic_write(accel, ACCELERATE_CONFIG)
    launch = folder / "launch.sh"
    atomic_write(launch, LAUNCH_SH)
    launch.chmod(0o755)
    return [train_py, accel, launch]
