"""Writing classification results: the input table with the predicted label, its score and one
probability column per label added, as a CSV written atomically."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from core.classify.engine import Prediction
from core.classify.files import InputTable
from core.paths import atomic_write


def result_columns(labels: list[str], taken: list[str] = ()) -> list[str]:
    """The columns an export adds; a name the input already has gets a suffix."""
    out = []
    for name in ["predicted_label", "score"] + [f"p_{lab}" for lab in labels]:
        unique, n = name, 2
        while unique in taken or unique in out:
            unique, n = f"{name}_{n}", n + 1
        out.append(unique)
    return out


def _result_cells(pred: Prediction | None, labels: list[str]) -> list[str]:
    if pred is None:
        return [""] * (2 + len(labels))
    return [pred.label, f"{pred.score:.6f}"] + [f"{pred.scores.get(lab, 0.0):.6f}" for lab in labels]


def export_csv(table: InputTable | list[str], predictions: list[Prediction | None],
               path: str | Path, labels: list[str]) -> Path:
    """A CSV of the input (every original column, or a ``text`` column) with the predicted label,
    its score and one probability column per label added. Rows not classified (cancelled) get
    empty cells. Written atomically (core.paths.atomic_write): a failed export leaves no half file
    and the earlier one whole; BadInput naming the folder (and the space needed)."""
    path = Path(path)
    if isinstance(table, InputTable) and table.kind == "table":
        columns = list(table.columns)
        body = [(row + [""] * len(columns))[:len(columns)] for row in table.rows]
    else:
        columns = ["text"]
        body = [[t] for t in (table.texts if isinstance(table, InputTable) else table)]
    header = columns + result_columns(labels, columns)
    preds = list(predictions) + [None] * (len(body) - len(predictions))
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(header)
    for cells, pred in zip(body, preds):
        w.writerow(cells + _result_cells(pred, labels))
    atomic_write(path, buf.getvalue())
    return path
