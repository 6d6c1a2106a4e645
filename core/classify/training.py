"""A classified file as fine-tuning data: a ``text,label`` CSV (the table core.finetune reads),
where a label the user corrected wins over the predicted one. Either every labelled row or only
the corrected ones; rows never classified (a cancelled run) and not corrected are left out."""
from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.classify.engine import Prediction
from core.errors import BadInput
from core.paths import atomic_write


@dataclass(frozen=True)
class LabelledTable:
    path: Path
    rows: int  # rows written
    corrected: int  # of them, rows whose label the user corrected
    labels: dict[str, int]  # rows per label

    def line(self) -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in self.labels.items())
        return (f"Wrote {self.rows:,} labelled rows ({self.corrected:,} corrected; {counts}) "
                f"to {self.path.name}.")


def labelled_rows(texts: Sequence[str], predictions: Sequence[Prediction | None],
                  corrected: Mapping[int, str], only_corrected: bool = False
                  ) -> list[tuple[str, str, bool]]:
    """(text, label, corrected?) per row that has a label: the corrected one when there is one,
    else the predicted one. ``only_corrected``: the corrected rows alone. Blank texts are left
    out."""
    out = []
    for i, text in enumerate(texts):
        fixed = corrected.get(i)
        pred = predictions[i] if i < len(predictions) else None
        if fixed is None and (only_corrected or pred is None):
            continue
        if not text.strip():
            continue
        out.append((text, fixed if fixed is not None else pred.label, fixed is not None))
    return out


def write_labelled_csv(texts: Sequence[str], predictions: Sequence[Prediction | None],
                       corrected: Mapping[int, str], folder: str | Path, stem: str = "labels",
                       only_corrected: bool = False, now: float | None = None) -> LabelledTable:
    """Write ``folder/<stem>-<time>.csv`` (columns ``text,label``) atomically. BadInput when no
    row has a label, or every row has the same one (a classifier needs two)."""
    rows = labelled_rows(texts, predictions, corrected, only_corrected)
    if not rows:
        raise BadInput("No corrected rows to write." if only_corrected else
                       "No labelled rows to write: classify the file first.",
                       hint="Double-click a label in the table to correct it."
                       if only_corrected else None)
    counts = Counter(label for _t, label, _c in rows)
    if len(counts) < 2:
        only = next(iter(counts))
        raise BadInput(f"Every row written would have the label '{only}': a classifier needs "
                       "at least two labels.",
                       hint="Correct rows of another label too, or write all rows.")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["text", "label"])
    for text, label, _c in rows:
        w.writerow([text, label])
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "labels"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    folder = Path(folder)
    path, n = folder / f"{safe}-labels-{stamp}.csv", 2
    while path.exists():
        path, n = folder / f"{safe}-labels-{stamp}-{n}.csv", n + 1
    atomic_write(path, buf.getvalue())
    return LabelledTable(path, len(rows), sum(c for _t, _l, c in rows),
                         dict(sorted(counts.items())))
