"""Fine-tune: config, data, Trainer glue, runs on disk, publishing, merging, script export.

What the panels, the CLI and other packages use; the modules inside may move:
config (FinetuneConfig, defaults), data / examples / preview (reading and checking the data),
model (the base model), baseline (the base measured before training, the result in words),
trainer (Trainer glue), run (``train``), runs (run folders), publish, merge, script (export),
child (``train_in_child``: a run in a child process), compare / compare_measure
(``compare_with_base``: a finished run against its base on its eval split)."""
from __future__ import annotations

from core.finetune.baseline import base_of, result_line, result_text
from core.finetune.child import TrainingCrashed, train_in_child
from core.finetune.compare import BaseComparison, ModelScore, compare_with_base
from core.finetune.config import (
    DEFAULT_LEARNING_RATES,
    METHODS,
    TASKS,
    FinetuneConfig,
    check_output_name,
    default_learning_rate,
)
from core.finetune.events import LossPoint, RunResult, TrainProgress
from core.finetune.merge import merge_adapter
from core.finetune.preview import DataPreview, base_tokenizer, preview_data
from core.finetune.run import train
from core.finetune.runs import RunInfo, last_checkpoint, list_runs, saved_config
from core.finetune.script import export_script
from core.models.loading import load_trained

__all__ = [
    'BaseComparison', 'DEFAULT_LEARNING_RATES', 'METHODS', 'ModelScore', 'compare_with_base',
    'TASKS', 'DataPreview', 'FinetuneConfig', 'LossPoint',
    'RunInfo', 'RunResult', 'TrainProgress', 'base_of', 'base_tokenizer', 'check_output_name',
    'default_learning_rate',
    'export_script', 'last_checkpoint', 'list_runs', 'load_trained', 'merge_adapter',
    'preview_data', 'result_line', 'result_text', 'saved_config', 'train', 'train_in_child',
    'TrainingCrashed',
]
