"""Publishing a run's model into the registry atomically: written to
``runs/<name>/publish.partial`` (workbench.json last), then renamed into ``models/trained/<name>``,
so the registry never lists a half-written folder."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from core.errors import BadInput
from core.finetune.config import FinetuneConfig
from core.finetune.runs import RUN_FILE, _RunFile, _write_json
from core.models.adapters import ADAPTER_CONFIG
from core.paths import AppHome, atomic_write_json, fsync_tree


def publish(config: FinetuneConfig, model, tokenizer, entry, base_folder: Path,
            labels: list[str], metrics: dict, home: AppHome, run: _RunFile, *,
            merge: bool = False, warnings: tuple[str, ...] = ()) -> Path:
    """Write the final model to a temp folder (workbench.json last), then rename it into
    home.trained/<name>. Nothing appears in the registry until the rename. A LoRA model is
    saved merged into full weights when the config or ``merge`` asks for it."""
    from core.models.registry import META_FILE, Format

    target = home.trained / config.output
    partial = run.path.parent / "publish.partial"
    shutil.rmtree(partial, ignore_errors=True)
    method = config.method
    if target.exists():
        raise BadInput(f"A fine-tuned model called '{config.output}' already exists.",
                       hint="Choose another output name.")
    try:
        partial.mkdir(parents=True)
        to_save = model
        if config.method == "lora" and (config.merge_lora or merge):
            to_save = model.merge_and_unload()
            method = "lora-merged"
        to_save.save_pretrained(partial, safe_serialization=True)
        if method == "lora" and config.task == "classification":
            # the adapter's classifier needs the label names and count: keep the model config
            model.base_model.model.config.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        if method == "lora":
            _point_adapter_at(partial, base_folder)
        figures = ", ".join(f"{k} {metrics[k]:.3g}" for k in ("perplexity", "accuracy")
                            if isinstance(metrics.get(k), (int, float)))
        what = {"lora": f"LoRA r={config.lora_r}", "lora-merged": "LoRA (merged)",
                "full": "full fine-tune"}[method]
        meta = {"name": config.output, "task": config.model_task, "format": Format.HF.value,
                "base": entry.id, "base_path": str(base_folder), "method": method,
                "note": f"{what} of {entry.name}" + (f"; {figures}" if figures else ""),
                "metrics": metrics, "run": str(run.path.parent), "created": time.time()}
        if config.task == "classification":
            meta["labels"] = labels
        _write_json(partial / RUN_FILE, {**run.data, "status": "done", "finished": time.time(),
                                         "metrics": metrics, "model_path": str(target),
                                         "warnings": list(warnings)})
        atomic_write_json(partial / META_FILE, meta)  # last
        fsync_tree(partial)  # every file on disk before the folder is published
        os.replace(partial, target)  # atomic: the registry sees all of it or nothing
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _point_adapter_at(folder: Path, base_folder: Path) -> None:
    cfg_path = folder / ADAPTER_CONFIG
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = str(base_folder.resolve())
    atomic_write_json(cfg_path, cfg)

