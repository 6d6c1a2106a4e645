"""The Chat page: panel.py (the page), reply.py (one streaming reply), settings_box.py (sampling
settings), sidebar.py (the list of conversations), loaded.py (the loader and the loaded line)."""
from gui.panels.chat.panel import ChatPanel, default_loader
from gui.widgets.message_view import MessageView

__all__ = ["ChatPanel", "MessageView", "default_loader"]
