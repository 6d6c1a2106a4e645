"""Fine-tune: config, data, Trainer glue, runs on disk, publishing, script export.

What the panels, the CLI and other packages use; the modules inside may move."""
from __future__ import annotations

from core.finetune.trainer import (
    DEFAULT_LEARNING_RATES,
    DataPreview,
    FinetuneConfig,
    LossPoint,
    RunInfo,
    RunResult,
    TrainProgress,
    base_tokenizer,
    check_output_name,
    default_learning_rate,
    export_script,
    last_checkpoint,
    list_runs,
    load_trained,
    merge_adapter,
    preview_data,
    train,
)

__all__ = [
    'DEFAULT_LEARNING_RATES', 'DataPreview', 'FinetuneConfig', 'LossPoint', 'RunInfo', 'RunResult',
    'TrainProgress', 'base_tokenizer', 'check_output_name', 'default_learning_rate',
    'export_script', 'last_checkpoint', 'list_runs', 'load_trained', 'merge_adapter',
    'preview_data', 'train',
]
