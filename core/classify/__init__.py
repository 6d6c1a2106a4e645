"""Classify: sequence classification and fill-mask, input files and exports.

What the panels, the CLI and other packages use; the modules inside may move."""
from __future__ import annotations

from core.classify.calibration import Calibration, calibrate_trained
from core.classify.engine import (
    BATCH_SIZE,
    DEFAULT_CLASSIFY_MODEL,
    FILL_TOP_K,
    BatchResult,
    Classifier,
    FillMasker,
    Prediction,
    load_classifier,
    open_classifier,
)
from core.classify.export import export_csv, result_columns
from core.classify.files import MAX_TEXT_CHARS, InputTable, read_table, short_text
from core.classify.training import LabelledTable, labelled_rows, write_labelled_csv

__all__ = [
    'BATCH_SIZE', 'BatchResult', 'Calibration', 'Classifier', 'DEFAULT_CLASSIFY_MODEL', 'FILL_TOP_K',
    'FillMasker',
    'InputTable', 'Prediction', 'export_csv', 'load_classifier', 'open_classifier', 'read_table',
    'calibrate_trained', 'result_columns', 'short_text', 'MAX_TEXT_CHARS',
    'LabelledTable', 'labelled_rows', 'write_labelled_csv',
]
