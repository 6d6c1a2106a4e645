"""Merging a LoRA model into full weights, published as a new trained model."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from core.errors import BadInput
from core.finetune.config import check_output_name
from core.finetune.failures import _translate
from core.finetune.runs import RUN_FILE, _read_run, runs_dir
from core.models.adapters import ADAPTER_CONFIG
from core.models.loading import load_trained
from core.paths import AppHome, atomic_write_json, fsync_tree


def _model_folder(path: str | Path, home: AppHome) -> Path:
    """The trained model folder ``path`` names: the folder itself, a run folder (whose run.json
    names its model), or a trained model's name."""
    src = Path(path)
    if not src.is_dir() and (home.trained / str(path)).is_dir():
        src = home.trained / str(path)
    if src.is_dir() and not (src / ADAPTER_CONFIG).is_file() and (src / RUN_FILE).is_file():
        run = _read_run(src) or {}
        model_path = run.get("model_path")
        if model_path and Path(model_path).is_dir():
            return Path(model_path)
        if run.get("status") != "done" or not model_path:
            raise BadInput(f"The run '{run.get('name', src.name)}' has not published a model "
                           "yet; there is nothing to merge.")
        raise BadInput(f"The model of run '{run.get('name', src.name)}' is gone: {model_path}")
    return src


def merge_adapter(path: str | Path, output_name: str | None = None,
                  home: AppHome | None = None) -> str:
    """Merge a LoRA model (a trained folder, its name, or the run folder that made it) into full
    weights, published as a new trained model; returns its folder."""
    from core.models.registry import META_FILE, Format, Registry

    home = (home or AppHome.default()).ensure()
    src = _model_folder(path, home)
    if not src.is_dir():
        raise BadInput(f"'{path}' is not a trained model folder.")
    if not (src / ADAPTER_CONFIG).is_file():
        raise BadInput(f"'{src.name}' is not a LoRA adapter; there is nothing to merge.")
    name = check_output_name(output_name or f"{src.name}-merged")
    target = home.trained / name
    if target.exists():
        raise BadInput(f"A fine-tuned model called '{name}' already exists.",
                       hint="Choose another name for the merged model.")
    meta = {}
    if (src / META_FILE).is_file():
        meta = json.loads((src / META_FILE).read_text(encoding="utf-8"))
    model, tokenizer = load_trained(src, "cpu", registry=Registry(home, scan_hf_cache=False))
    partial = runs_dir(home) / f".merge-{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        model.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        task = meta.get("task") or ("text-classification" if "ForSequenceClassification" in
                                    (model.config.architectures or [""])[0] else "text-generation")
        new_meta = {**{k: v for k, v in meta.items() if k in ("base", "base_path", "labels",
                                                               "metrics", "run")},
                    "name": name, "task": task, "format": Format.HF.value, "method": "lora-merged",
                    "note": f"merged from {meta.get('name', src.name)}", "created": time.time()}
        atomic_write_json(partial / META_FILE, new_meta)
        fsync_tree(partial)  # every file on disk before the folder is listed
        os.replace(partial, target)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        err = _translate(exc, partial)
        if err is not exc:
            raise err from exc
        raise
    return str(target)
