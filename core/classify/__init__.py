"""Classify: sequence classification and fill-mask, input files and exports.

What the panels, the CLI and other packages use; the modules inside may move."""
from __future__ import annotations

from core.classify.engine import (
    DEFAULT_CLASSIFY_MODEL,
    BatchResult,
    Classifier,
    FillMasker,
    InputTable,
    Prediction,
    export_csv,
    load_classifier,
    open_classifier,
    read_table,
    result_columns,
)

__all__ = [
    'BatchResult', 'Classifier', 'DEFAULT_CLASSIFY_MODEL', 'FillMasker', 'InputTable', 'Prediction',
    'export_csv', 'load_classifier', 'open_classifier', 'read_table', 'result_columns',
]
