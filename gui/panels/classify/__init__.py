"""The Classify page: panel.py (the page and its jobs), text_tab.py and file_tab.py (the two tabs),
results.py (the File tab's table model)."""
from gui.panels.classify.panel import ClassifyPanel, default_loader

__all__ = ["ClassifyPanel", "default_loader"]
