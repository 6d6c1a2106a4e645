"""Fine-tune page: a new-run dialog, a live run view (progress, ETA, loss curve), run history.

form: the run's settings; dialog: the New-run dialog with its data preview and check (and the
settings it remembers per task); queries: reads in jobs where the newest wins; state: the page's
one state (phases, header, buttons, rows), plain Python; plot: the loss curve; runs: the run list;
actions: merge, export, try; panel: the page itself."""
from __future__ import annotations

from gui.panels.finetune.dialog import NewRunDialog
from gui.panels.finetune.panel import FinetunePanel, fmt_eta
from gui.panels.finetune.plot import LossPlot

__all__ = ["FinetunePanel", "LossPlot", "NewRunDialog", "fmt_eta"]
